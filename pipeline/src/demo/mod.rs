//! `braid demo`: a synthetic consortium with a fixed seed.
//!
//! About 20,000 invented people in households, served by five partners that
//! each export in their own way:
//!
//! | partner | format | quirks |
//! |---|---|---|
//! | adult school | CSV, Windows-1252, `MM/DD/YYYY` | three feeds: students, enrollments, CASAS/BEST tests |
//! | community college | CSV with `;`, UTF-8 BOM, ISO dates | names as `LAST,FIRST MIDDLE`; awards feed |
//! | workforce board | Excel workbook, date cells | participants, services and referrals sheets; some SSNs |
//! | refugee agency | NDJSON, nested, `DD/MM/YYYY` | placeholder 01/01 birth dates, consent flag, milestones |
//! | wage records | pipe-delimited, `YYYYMMDD` | one file per quarter, worker ids, SSN or none |
//!
//! The same person appears with the variation real records have: typos and
//! OCR errors, nicknames, transliterations, compound and reordered surnames,
//! given/family swaps, day/month swaps, placeholder dates, missing fields,
//! missing, shared or fake SSNs, married/maiden/adopted names, a father's
//! name used as the surname, FNU for mononyms, and households sharing an
//! address, phone, e-mail and surname, twins included.
//!
//! The truth file (`truth.csv`: partner, record_id, entity) is written beside
//! the inputs, never inside them.

pub mod names;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use chrono::{Datelike, NaiveDate};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::{Error, Result};
use names::Origin;

type R = ChaCha8Rng;

fn pick<'a, T>(r: &mut R, s: &'a [T]) -> &'a T {
    &s[r.random_range(0..s.len())]
}

/// Pick with Zipf-like weights (the first names of a list are the most
/// common, with a long tail).
fn zipf<'a, T>(r: &mut R, s: &'a [T]) -> &'a T {
    let n = s.len();
    let h: f64 = (1..=n).map(|k| 1.0 / (k as f64).powf(0.8)).sum();
    let mut x = r.random::<f64>() * h;
    for (k, item) in s.iter().enumerate() {
        x -= 1.0 / ((k + 1) as f64).powf(0.8);
        if x <= 0.0 {
            return item;
        }
    }
    &s[n - 1]
}

/// A given name of the origin.
fn given_name(r: &mut R, o: Origin, female: bool) -> String {
    match o {
        Origin::Vietnamese => zipf(r, names::VIET_SYLLABLES).to_string(),
        Origin::Chinese => {
            let a = *zipf(r, names::CHINESE_SYLLABLES);
            if r.random_bool(0.6) {
                format!("{a}{}", zipf(r, names::CHINESE_SYLLABLES).to_lowercase())
            } else {
                a.to_string()
            }
        }
        Origin::Burmese => {
            let a = *zipf(r, names::BURMESE_SYLLABLES);
            if r.random_bool(0.5) { format!("{a} {}", zipf(r, names::BURMESE_SYLLABLES)) } else { a.to_string() }
        }
        _ => {
            let base = o.given(female);
            let extra = names::extra_given(o, female);
            let all: Vec<&str> = base.iter().chain(extra.iter()).copied().collect();
            zipf(r, &all).to_string()
        }
    }
}

/// A family name of the origin.
fn family_name(r: &mut R, o: Origin) -> String {
    match o {
        Origin::Ukrainian => {
            if r.random_bool(0.3) {
                zipf(r, o.family()).to_string()
            } else {
                format!("{}{}", pick(r, names::UKRAINIAN_ROOTS), pick(r, names::UKRAINIAN_SUFFIXES))
            }
        }
        Origin::Burmese => zipf(r, names::BURMESE_SYLLABLES).to_string(),
        _ => {
            let all: Vec<&str> = o.family().iter().chain(names::extra_family(o).iter()).copied().collect();
            zipf(r, &all).to_string()
        }
    }
}

fn d(y: i32, m: u32, dd: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, dd).expect("valid demo date")
}

fn rand_date(r: &mut R, from: NaiveDate, to: NaiveDate) -> NaiveDate {
    let days = (to - from).num_days().max(1);
    from + chrono::Duration::days(r.random_range(0..days))
}

/// An invented person.
#[derive(Debug, Clone)]
struct Person {
    id: u32,
    origin: Origin,
    female: bool,
    given: String,
    middle: Option<String>,
    family: String,
    /// Second (maternal) surname, Hispanic naming.
    family2: Option<String>,
    /// Father's given name, used as a surname by some partners.
    father: Option<String>,
    /// Another family name (maiden or married) some partners have.
    other_family: Option<String>,
    /// An English name the person sometimes uses.
    adopted: Option<String>,
    mononym: bool,
    dob: NaiveDate,
    /// Official documents carry 01/01 of the birth year.
    dob_placeholder: bool,
    ssn: Option<String>,
    /// An SSN the person sometimes gives that is not theirs.
    borrowed_ssn: Option<String>,
    phone: Option<String>,
    email: Option<String>,
    house_phone: Option<String>,
    house_email: Option<String>,
    street: (u32, &'static str, usize, Option<String>),
    place: usize,
    humanitarian: Option<&'static str>,
    arrival: Option<NaiveDate>,
    education: &'static str,
    english_learner: bool,
    country: &'static str,
}

fn household_size(r: &mut R) -> usize {
    let x: f64 = r.random();
    match x {
        x if x < 0.35 => 1,
        x if x < 0.55 => 2,
        x if x < 0.73 => 3,
        x if x < 0.88 => 4,
        x if x < 0.96 => 5,
        _ => 6,
    }
}

fn pick_origin(r: &mut R) -> Origin {
    let total: u32 = Origin::MIX.iter().map(|(_, w)| w).sum();
    let mut x = r.random_range(0..total);
    for (o, w) in Origin::MIX {
        if x < *w {
            return *o;
        }
        x -= w;
    }
    Origin::UsBorn
}

fn phone(r: &mut R) -> String {
    let area = *pick(r, &[510u32, 415, 408, 650, 925, 669]);
    format!("{area}{}{:04}", r.random_range(200..999), r.random_range(0..10_000))
}

fn email_for(r: &mut R, given: &str, family: &str) -> String {
    let g = crate::protect::normalize::fold(given).replace(' ', "");
    let f = crate::protect::normalize::fold(family).replace(' ', "");
    let domain = *pick(r, &["gmail.com", "yahoo.com", "hotmail.com", "outlook.com", "icloud.com"]);
    match r.random_range(0..4) {
        0 => format!("{g}.{f}{}@{domain}", r.random_range(1..99)),
        1 => format!("{}{f}{}@{domain}", &g[..1.min(g.len())], r.random_range(10..999)),
        2 => format!("{g}{}@{domain}", r.random_range(100..9999)),
        _ => format!("{f}.{g}@{domain}", ),
    }
}

fn ssn(r: &mut R, itin: bool) -> String {
    if itin {
        format!("9{:02}-{}-{:04}", r.random_range(0..100), *pick(r, &[70u32, 71, 72, 78, 80, 84, 88, 90, 92, 94]), r.random_range(1..10_000))
    } else {
        let mut area = r.random_range(1..900);
        if area == 666 {
            area = 667;
        }
        format!("{area:03}-{:02}-{:04}", r.random_range(1..100), r.random_range(1..10_000))
    }
}

/// Generate the people, in households.
fn people(r: &mut R, n: usize) -> Vec<Person> {
    let mut out: Vec<Person> = Vec::with_capacity(n + 8);
    let mut emails: std::collections::HashSet<String> = std::collections::HashSet::new();
    while out.len() < n {
        let origin = pick_origin(r);
        let size = household_size(r).min(n - out.len()).max(1);
        let family = family_name(r, origin);
        let place = r.random_range(0..names::PLACES.len());
        let street = (
            r.random_range(100..9999),
            *pick(r, names::STREETS),
            r.random_range(0..names::STREET_TYPES.len()),
            if r.random_bool(0.35) { Some(format!("{}", r.random_range(1..40))) } else { None },
        );
        let house_phone = r.random_bool(0.4).then(|| phone(r));
        let house_email_owner = r.random_bool(0.15);
        let humanitarian_p = origin.humanitarian();
        let household_humanitarian = r.random_bool(humanitarian_p);
        let status = *pick(r, &["refugee", "refugee", "asylee", "siv", "parolee"]);
        let arrival = (origin != Origin::UsBorn).then(|| rand_date(r, d(2008, 1, 1), d(2025, 6, 30)));
        let mut head_given: Option<String> = None;
        let twins = size >= 4 && r.random_bool(0.15);
        let mut twin_dob: Option<NaiveDate> = None;
        let mut house_email: Option<String> = None;
        for k in 0..size {
            let female = if k == 1 { true } else { r.random_bool(0.5) };
            let child = k >= 2;
            let dob = if child && twins && (2..=3).contains(&k) {
                *twin_dob.get_or_insert_with(|| rand_date(r, d(1998, 1, 1), d(2008, 6, 30)))
            } else if child {
                rand_date(r, d(1996, 1, 1), d(2008, 6, 30))
            } else {
                rand_date(r, d(1956, 1, 1), d(1998, 12, 31))
            };
            let mut given = given_name(r, origin, female);
            // Twins and siblings never share a given name.
            while out.iter().rev().take(k).any(|p| p.given == given) {
                given = given_name(r, origin, female);
            }
            let mononym = matches!(origin, Origin::Afghan | Origin::Burmese) && r.random_bool(0.35);
            let hispanic = matches!(origin, Origin::Mexican | Origin::CentralAmerican);
            let family2 = hispanic.then(|| family_name(r, origin)).filter(|f2| *f2 != family);
            let middle = match origin {
                Origin::Vietnamese => Some(if female { "Thi" } else { "Van" }.to_string()),
                Origin::UsBorn | Origin::Ukrainian => {
                    let other_sex = r.random_bool(0.5);
                    r.random_bool(0.5).then(|| given_name(r, origin, other_sex))
                }
                Origin::Mexican | Origin::CentralAmerican => r.random_bool(0.3).then(|| given_name(r, origin, female)),
                _ => None,
            };
            let father = match origin {
                Origin::Arab | Origin::Somali | Origin::Afghan => {
                    Some(if child { head_given.clone().unwrap_or_else(|| given_name(r, origin, false)) } else { given_name(r, origin, false) })
                }
                _ => None,
            };
            let other_family = (female && !child && r.random_bool(0.18)).then(|| {
                family_name(r, origin)
            });
            let mut adopted = (matches!(origin, Origin::Vietnamese | Origin::Chinese) && r.random_bool(0.3))
                .then(|| pick(r, if female { names::ADOPTED_FEMALE } else { names::ADOPTED_MALE }).to_string());
            // Siblings do not adopt the same English name.
            if adopted.as_ref().is_some_and(|a| out.iter().rev().take(k).any(|p| p.adopted.as_ref() == Some(a))) {
                adopted = None;
            }
            let humanitarian = (household_humanitarian && origin != Origin::UsBorn).then_some(status);
            let dob_placeholder = humanitarian.is_some() && r.random_bool(0.3);
            let ssn_kind: f64 = r.random();
            let has_ssn = if origin == Origin::UsBorn { ssn_kind < 0.97 } else { ssn_kind < 0.45 };
            let has_itin = !has_ssn && ssn_kind < 0.6;
            let id = out.len() as u32;
            let personal_phone = r.random_bool(0.75).then(|| phone(r));
            // An address is one account: a namesake who drew a taken one
            // gets the next free number (no further draws, so the rest of
            // the demo is what it was).
            let email = r.random_bool(0.6).then(|| {
                let e = email_for(r, &given, &family);
                let (local, domain) = e.split_once('@').expect("an e-mail address");
                let free = std::iter::once(e.clone())
                    .chain((2..).map(|n| format!("{local}{n}@{domain}")))
                    .find(|x| !emails.contains(x))
                    .expect("a free address");
                emails.insert(free.clone());
                free
            });
            if house_email.is_none() && house_email_owner && email.is_some() {
                house_email = email.clone();
            }
            if k == 0 {
                head_given = Some(given.clone());
            }
            let age_2024 = 2024 - dob.year();
            out.push(Person {
                id,
                origin,
                female,
                given,
                middle,
                family: if mononym { String::new() } else { family.clone() },
                family2,
                father,
                other_family,
                adopted,
                mononym,
                dob,
                dob_placeholder,
                ssn: (has_ssn || has_itin).then(|| ssn(r, has_itin)),
                borrowed_ssn: None,
                phone: personal_phone,
                email,
                house_phone: house_phone.clone(),
                house_email: house_email.clone(),
                street: street.clone(),
                place,
                humanitarian,
                arrival: if origin == Origin::UsBorn { None } else { arrival.map(|a| a.max(dob + chrono::Duration::days(30))) },
                education: pick::<&str>(r, if age_2024 < 20 { &["some_secondary", "secondary"] } else { &["none", "primary", "some_secondary", "secondary", "some_college", "degree_abroad"] }),
                english_learner: origin != Origin::UsBorn && r.random_bool(0.8),
                country: pick::<&str>(r, origin.country()),
            });
        }
    }
    // A few people give a household member's SSN, or a fake one.
    for i in 0..out.len() {
        if out[i].ssn.is_none() && r.random_bool(0.05) {
            let j = if i > 0 { i - 1 } else { i + 1 };
            out[i].borrowed_ssn = if r.random_bool(0.5) { out.get(j).and_then(|p| p.ssn.clone()) } else { Some(pick(r, &["123-45-6789", "999-99-9999", "000-00-0000"]).to_string()) };
        }
    }
    out
}

// ---------------------------------------------------------------------------
// How partners write identities
// ---------------------------------------------------------------------------

/// How much a partner's staff vary what they type.
struct Style {
    typo: f64,
    nickname: f64,
    variant: f64,
    swap_names: f64,
    adopted: f64,
    dob_swap: f64,
    dob_typo: f64,
    dob_missing: f64,
    phone: f64,
    email: f64,
    address: f64,
    ssn: f64,
    father_as_family: f64,
}

fn typo(r: &mut R, s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.len() < 3 {
        return s.to_string();
    }
    let i = r.random_range(1..chars.len() - 1);
    let mut c = chars.clone();
    match r.random_range(0..5) {
        0 => {
            c.swap(i, i - 1);
        }
        1 => {
            c.remove(i);
        }
        2 => {
            let x = c[i];
            c.insert(i, x);
        }
        3 => {
            // OCR-like confusions.
            c[i] = match c[i] {
                'm' => 'n',
                'n' => 'm',
                'i' => 'l',
                'l' => 'i',
                'e' => 'c',
                'a' => 'o',
                'o' => 'a',
                'u' => 'v',
                other => other,
            };
        }
        _ => {
            let letters = "aeiounrstlhm";
            c[i] = letters.chars().nth(r.random_range(0..letters.len())).expect("letter");
        }
    }
    c.into_iter().collect()
}

/// (given, middle, family) as a partner records them.
fn render_name(r: &mut R, p: &Person, st: &Style) -> (String, Option<String>, String) {
    let mut given = p.given.clone();
    let mut family = p.family.clone();
    let mut middle = p.middle.clone();
    if r.random_bool(st.variant) {
        let v = names::variants(&given);
        if !v.is_empty() {
            given = pick(r, v).to_string();
        }
    }
    if r.random_bool(st.variant) {
        let v = names::variants(&family);
        if !v.is_empty() {
            family = pick(r, v).to_string();
        }
    }
    if r.random_bool(st.nickname)
        && let Some(n) = names::nickname(&given)
    {
        given = n.to_string();
    }
    if let Some(a) = &p.adopted
        && r.random_bool(st.adopted)
    {
        given = a.clone();
    }
    // Compound (Hispanic) surnames: both, first only, hyphenated.
    if let Some(f2) = &p.family2 {
        match r.random_range(0..10) {
            0..=3 => family = format!("{family} {f2}"),
            4 => family = format!("{family}-{f2}"),
            _ => {}
        }
    }
    if let Some(f) = &p.father
        && r.random_bool(st.father_as_family)
    {
        family = f.clone();
    }
    if let Some(o) = &p.other_family
        && r.random_bool(0.5)
    {
        family = o.clone();
    }
    if p.mononym {
        // FNU/LNU, or the name in the other field.
        match r.random_range(0..3) {
            0 => {
                family = given.clone();
                given = "FNU".into();
            }
            1 => family = "LNU".into(),
            _ => {
                family = given.clone();
                given = String::new();
            }
        }
    }
    if r.random_bool(st.typo) {
        given = typo(r, &given);
    }
    if r.random_bool(st.typo) {
        family = typo(r, &family);
    }
    if r.random_bool(st.swap_names) {
        std::mem::swap(&mut given, &mut family);
    }
    if r.random_bool(0.3) {
        middle = None;
    }
    // Capitalization as the system does it.
    let case: u8 = r.random_range(0..10);
    let cap = |s: String| if case < 2 { s.to_uppercase() } else { s };
    (cap(given), middle.map(cap), cap(family))
}

fn render_dob(r: &mut R, p: &Person, st: &Style, placeholder_p: f64) -> Option<NaiveDate> {
    if r.random_bool(st.dob_missing) {
        return None;
    }
    if p.dob_placeholder && r.random_bool(placeholder_p) {
        return Some(d(p.dob.year(), 1, 1));
    }
    let mut dob = p.dob;
    if r.random_bool(st.dob_swap) && dob.day() <= 12 && dob.day() != dob.month() {
        dob = d(dob.year(), dob.day(), dob.month());
    }
    if r.random_bool(st.dob_typo) {
        dob = match r.random_range(0..3) {
            0 => dob.with_day((dob.day() % 28) + 1).unwrap_or(dob),
            1 => dob.with_year(dob.year() + if r.random_bool(0.5) { 1 } else { -1 }).unwrap_or(dob),
            _ => dob.with_month((dob.month() % 12) + 1).unwrap_or(dob),
        };
    }
    Some(dob)
}

fn render_phone(r: &mut R, p: &Person, st: &Style) -> Option<String> {
    if !r.random_bool(st.phone) {
        return None;
    }
    let raw = if p.house_phone.is_some() && (p.phone.is_none() || r.random_bool(0.4)) { p.house_phone.clone()? } else { p.phone.clone()? };
    Some(match r.random_range(0..4) {
        0 => format!("({}) {}-{}", &raw[..3], &raw[3..6], &raw[6..]),
        1 => format!("{}-{}-{}", &raw[..3], &raw[3..6], &raw[6..]),
        2 => format!("1{raw}"),
        _ => raw,
    })
}

fn render_email(r: &mut R, p: &Person, st: &Style) -> Option<String> {
    if !r.random_bool(st.email) {
        return None;
    }
    let e = if p.house_email.is_some() && (p.email.is_none() || r.random_bool(0.3)) { p.house_email.clone()? } else { p.email.clone()? };
    Some(if r.random_bool(0.2) { e.to_uppercase() } else { e })
}

fn render_street(r: &mut R, p: &Person, st: &Style) -> Option<String> {
    if !r.random_bool(st.address) {
        return None;
    }
    let (no, name, ty, apt) = &p.street;
    let (long, short) = names::STREET_TYPES[*ty];
    let t = if r.random_bool(0.5) { long } else { short };
    let apt = match apt {
        Some(a) => match r.random_range(0..3) {
            0 => format!(" Apt {a}"),
            1 => format!(" #{a}"),
            _ => format!(", Unit {a}"),
        },
        None => String::new(),
    };
    Some(format!("{no} {name} {t}{apt}"))
}

fn render_ssn(r: &mut R, p: &Person, st: &Style) -> Option<String> {
    if let Some(b) = &p.borrowed_ssn
        && r.random_bool(0.7)
    {
        return Some(b.clone());
    }
    let s = p.ssn.clone()?;
    if !r.random_bool(st.ssn) {
        return None;
    }
    Some(if r.random_bool(0.5) { s.replace('-', "") } else { s })
}

// ---------------------------------------------------------------------------
// Writers
// ---------------------------------------------------------------------------

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::storage(dir.display(), e))?;
    }
    std::fs::write(path, bytes).map_err(|e| Error::storage(path.display(), e))
}

fn csv_line(fields: &[String], delim: char) -> String {
    let mut s = String::new();
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            s.push(delim);
        }
        if f.contains(delim) || f.contains('"') || f.contains('\n') {
            let _ = write!(s, "\"{}\"", f.replace('"', "\"\""));
        } else {
            s.push_str(f);
        }
    }
    s.push_str("\r\n");
    s
}

/// Windows-1252 bytes; characters outside it are transliterated, as the
/// student information system does.
fn to_1252(text: &str) -> Vec<u8> {
    let mut fitted = String::with_capacity(text.len());
    for c in text.chars() {
        let mut buf = [0u8; 4];
        let s = c.encode_utf8(&mut buf);
        let (_, _, unmappable) = encoding_rs::WINDOWS_1252.encode(s);
        if unmappable {
            fitted.push_str(deunicode::deunicode_char(c).unwrap_or("?"));
        } else {
            fitted.push(c);
        }
    }
    encoding_rs::WINDOWS_1252.encode(&fitted).0.into_owned()
}

fn opt(s: &Option<String>) -> String {
    s.clone().unwrap_or_default()
}

fn quarter_dates(q: &str) -> (NaiveDate, NaiveDate) {
    let start = crate::map::quarter_start(q).expect("quarter");
    let end = start.checked_add_months(chrono::Months::new(3)).expect("date") - chrono::Duration::days(1);
    (start, end)
}

const QUARTERS: &[&str] =
    &["2023Q3", "2023Q4", "2024Q1", "2024Q2", "2024Q3", "2024Q4", "2025Q1", "2025Q2", "2025Q3", "2025Q4", "2026Q1", "2026Q2"];

/// Generate the demo into `out`. Returns a short summary.
pub fn generate(out: &Path, n: usize, seed: u64, force: bool) -> Result<String> {
    let inputs = out.join("inputs");
    if inputs.exists() && !force {
        return Ok(format!("demo already present at {} (use --force to regenerate)", out.display()));
    }
    if inputs.exists() {
        std::fs::remove_dir_all(&inputs).map_err(|e| Error::storage(inputs.display(), e))?;
    }
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    let people = people(&mut r, n);
    let mut truth: Vec<(String, String, u32)> = Vec::new();
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();

    // Who each partner serves.
    let mut served: Vec<[bool; 5]> = Vec::with_capacity(people.len());
    for p in &people {
        let age = 2024 - p.dob.year();
        let foreign = p.origin != Origin::UsBorn;
        let mut s = [
            r.random_bool(if foreign { 0.42 } else { 0.08 }),
            r.random_bool(if age < 35 { 0.32 } else { 0.15 }),
            r.random_bool(if age >= 18 { 0.2 } else { 0.08 }),
            p.humanitarian.is_some() && p.arrival.is_some_and(|a| a >= d(2016, 1, 1)) && r.random_bool(0.85),
            age >= 18 && r.random_bool(0.55),
        ];
        if !s.iter().any(|x| *x) {
            let k = r.random_range(0..5);
            s[k] = true;
        }
        served.push(s);
    }

    // --- adult school: Windows-1252 CSV, three feeds -----------------------
    let st = Style { typo: 0.06, nickname: 0.1, variant: 0.25, swap_names: 0.04, adopted: 0.15, dob_swap: 0.06, dob_typo: 0.03, dob_missing: 0.01, phone: 0.85, email: 0.5, address: 0.9, ssn: 0.05, father_as_family: 0.3 };
    let mut students = csv_line(
        &["StudentID", "LastName", "FirstName", "MiddleName", "BirthDate", "Gender", "Address", "City", "Zip", "Phone", "Email", "HomeLanguage", "CountryOfBirth", "ESL", "County", "HighestEd"]
            .map(String::from),
        ',',
    );
    let mut enroll = csv_line(&["StudentID", "ClassCode", "StartDate", "EndDate", "Hours"].map(String::from), ',');
    let mut tests = csv_line(&["StudentID", "TestDate", "Test", "Form", "ScaleScore", "TestType"].map(String::from), ',');
    let mut as_entries: BTreeMap<u32, Vec<NaiveDate>> = BTreeMap::new();
    for (i, p) in people.iter().enumerate() {
        if !served[i][0] {
            continue;
        }
        let id = format!("AS{:06}", 100_000 + p.id);
        truth.push(("adult_school".into(), id.clone(), p.id));
        let (g, m, f) = render_name(&mut r, p, &st);
        let dob = render_dob(&mut r, p, &st, 0.7);
        let (county, city, zip) = names::PLACES[p.place];
        students.push_str(&csv_line(
            &[
                id.clone(),
                f,
                g,
                opt(&m),
                dob.map(|x| x.format("%m/%d/%Y").to_string()).unwrap_or_default(),
                (if p.female { "F" } else { "M" }).to_string(),
                opt(&render_street(&mut r, p, &st)),
                city.to_string(),
                (zip + (p.street.0 % 7)).to_string(),
                opt(&render_phone(&mut r, p, &st)),
                opt(&render_email(&mut r, p, &st)),
                p.origin.language().to_uppercase(),
                p.country.to_string(),
                (if p.english_learner { "Y" } else { "N" }).to_string(),
                county.to_string(),
                p.education.to_string(),
            ],
            ',',
        ));
        *counts.entry("adult_school").or_default() += 1;
        let k = r.random_range(1..=3);
        for _ in 0..k {
            let start = rand_date(&mut r, d(2023, 7, 1), d(2026, 3, 31));
            as_entries.entry(p.id).or_default().push(start);
            let code = if p.english_learner { *pick(&mut r, &["ESL-BEG", "ESL-INT", "ESL-ADV", "ESL-CIT"]) } else { *pick(&mut r, &["ABE", "ASE", "CTE-CNA", "CTE-OFFICE"]) };
            let end = start + chrono::Duration::days(r.random_range(40..200));
            let ended = end < d(2026, 6, 30);
            enroll.push_str(&csv_line(
                &[
                    id.clone(),
                    code.to_string(),
                    start.format("%m/%d/%Y").to_string(),
                    if ended { end.format("%m/%d/%Y").to_string() } else { String::new() },
                    format!("{:.1}", r.random_range(8.0..180.0)),
                ],
                ',',
            ));
            *counts.entry("adult_school").or_default() += 1;
            if code.starts_with("ESL") && r.random_bool(0.8) {
                let test = *pick(&mut r, &["CASAS RDG", "CASAS LST", "BEST PLUS 2"]);
                let (lo, hi) = if test == "BEST PLUS 2" { (300.0, 560.0) } else { (165.0, 235.0) };
                let pre: f64 = r.random_range(lo..hi - 10.0);
                let pre_date = start + chrono::Duration::days(r.random_range(0..14));
                tests.push_str(&csv_line(
                    &[id.clone(), pre_date.format("%m/%d/%Y").to_string(), test.into(), format!("{}", r.random_range(11..40)), format!("{pre:.0}"), "PRE".into()],
                    ',',
                ));
                if ended && r.random_bool(0.7) {
                    let gain = r.random_range(-3.0..((hi - lo) / 8.0));
                    tests.push_str(&csv_line(
                        &[id.clone(), (end - chrono::Duration::days(3)).format("%m/%d/%Y").to_string(), test.into(), format!("{}", r.random_range(11..40)), format!("{:.0}", (pre + gain).min(hi)), "POST".into()],
                        ',',
                    ));
                    *counts.entry("adult_school").or_default() += 1;
                }
                *counts.entry("adult_school").or_default() += 1;
            }
        }
    }
    write(&inputs.join("adult_school/students_2026-06-30.csv"), &to_1252(&students))?;
    write(&inputs.join("adult_school/enrollments_2026-06-30.csv"), &to_1252(&enroll))?;
    write(&inputs.join("adult_school/assessments_2026-06-30.csv"), &to_1252(&tests))?;

    // --- community college: ; delimited, UTF-8 BOM ------------------------
    let st = Style { typo: 0.05, nickname: 0.12, variant: 0.2, swap_names: 0.06, adopted: 0.35, dob_swap: 0.03, dob_typo: 0.02, dob_missing: 0.02, phone: 0.8, email: 0.85, address: 0.85, ssn: 0.25, father_as_family: 0.2 };
    let mut cc = String::from("\u{feff}");
    cc.push_str(&csv_line(&["EMPLID", "NAME", "BIRTHDATE", "SEX", "ADDRESS1", "CITY", "POSTAL", "PHONE", "EMAIL_ADDR", "TERM", "PROGRAM", "START_DT", "END_DT", "HOURS"].map(String::from), ';'));
    let mut awards = String::from("\u{feff}");
    awards.push_str(&csv_line(&["EMPLID", "AWARD_TYPE", "AWARD_DT"].map(String::from), ';'));
    let mut cc_entries: BTreeMap<u32, NaiveDate> = BTreeMap::new();
    let terms = [("2023FA", d(2023, 8, 21), d(2023, 12, 15)), ("2024SP", d(2024, 1, 16), d(2024, 5, 24)), ("2024FA", d(2024, 8, 19), d(2024, 12, 13)), ("2025SP", d(2025, 1, 21), d(2025, 5, 23)), ("2025FA", d(2025, 8, 18), d(2025, 12, 12)), ("2026SP", d(2026, 1, 20), d(2026, 5, 22))];
    for (i, p) in people.iter().enumerate() {
        if !served[i][1] {
            continue;
        }
        let id = format!("{}", 2_000_000 + p.id * 7);
        truth.push(("community_college".into(), id.clone(), p.id));
        let program = *pick(&mut r, &["CNA", "WELD", "ESL-NC", "ACCT", "IT-SUP", "ECE", "HVAC", "CULIN"]);
        let first = r.random_range(0..terms.len());
        let nterms = r.random_range(1..=3).min(terms.len() - first);
        let (g, m, f) = render_name(&mut r, p, &st);
        for (t, (term, start, end)) in terms.iter().enumerate().skip(first).take(nterms) {
            // The name is re-keyed each term now and then.
            let (g, m, f) = if t > first && r.random_bool(0.15) { render_name(&mut r, p, &st) } else { (g.clone(), m.clone(), f.clone()) };
            let dob = render_dob(&mut r, p, &st, 0.6);
            let (_, city, zip) = names::PLACES[p.place];
            cc_entries.entry(p.id).or_insert(*start);
            let name = format!("{},{}{}", f.to_uppercase(), g.to_uppercase(), m.map(|x| format!(" {}", x.to_uppercase())).unwrap_or_default());
            cc.push_str(&csv_line(
                &[
                    id.clone(),
                    name,
                    dob.map(|x| x.format("%Y-%m-%d").to_string()).unwrap_or_default(),
                    (if p.female { "F" } else { "M" }).into(),
                    opt(&render_street(&mut r, p, &st)),
                    city.into(),
                    format!("{}-{:04}", zip + (p.street.0 % 7), r.random_range(1000..9999)),
                    opt(&render_phone(&mut r, p, &st)),
                    opt(&render_email(&mut r, p, &st)),
                    term.to_string(),
                    program.into(),
                    start.format("%Y-%m-%d").to_string(),
                    end.format("%Y-%m-%d").to_string(),
                    format!("{}", r.random_range(30..260)),
                ],
                ';',
            ));
            *counts.entry("community_college").or_default() += 1;
        }
        if r.random_bool(0.3) {
            let (_, _, end) = terms[(first + nterms - 1).min(terms.len() - 1)];
            awards.push_str(&csv_line(&[id.clone(), pick(&mut r, &["CERT", "CERT", "NONCREDIT", "AA", "AS"]).to_string(), end.format("%Y-%m-%d").to_string()], ';'));
            *counts.entry("community_college").or_default() += 1;
        }
    }
    write(&inputs.join("community_college/enrollment_2023-2026.csv"), cc.as_bytes())?;
    write(&inputs.join("community_college/awards_2023-2026.csv"), awards.as_bytes())?;

    // --- workforce board: Excel ------------------------------------------
    let st = Style { typo: 0.05, nickname: 0.1, variant: 0.3, swap_names: 0.05, adopted: 0.25, dob_swap: 0.04, dob_typo: 0.02, dob_missing: 0.01, phone: 0.9, email: 0.7, address: 0.95, ssn: 0.6, father_as_family: 0.4 };
    let mut wb = rust_xlsxwriter::Workbook::new();
    let date_fmt = rust_xlsxwriter::Format::new().set_num_format("mm/dd/yyyy");
    let xl = |e: rust_xlsxwriter::XlsxError| Error::internal(format!("xlsx: {e}"));
    let xdate = |x: NaiveDate| rust_xlsxwriter::ExcelDateTime::from_ymd(x.year() as u16, x.month() as u8, x.day() as u8);
    let mut part_rows: Vec<Vec<XCell>> = Vec::new();
    let mut serv_rows: Vec<Vec<XCell>> = Vec::new();
    let mut ref_rows: Vec<Vec<XCell>> = Vec::new();
    for (i, p) in people.iter().enumerate() {
        if !served[i][2] {
            continue;
        }
        let id = format!("{}", 500_000 + p.id);
        truth.push(("workforce_board".into(), id.clone(), p.id));
        let (g, _, f) = render_name(&mut r, p, &st);
        let dob = render_dob(&mut r, p, &st, 0.6);
        let entry = rand_date(&mut r, d(2023, 7, 1), d(2026, 2, 28));
        let exit = entry + chrono::Duration::days(r.random_range(60..330));
        let program = *pick(&mut r, &["ADULT", "ADULT", "DW", "YOUTH"]);
        let reason = if r.random_bool(0.04) { *pick(&mut r, &["INSTITUTIONALIZED", "HEALTH", "DECEASED"]) } else { "" };
        part_rows.push(vec![
            XCell::S(id.clone()),
            XCell::S(g),
            XCell::S(f),
            dob.map(XCell::D).unwrap_or(XCell::S(String::new())),
            XCell::S((if p.female { "Female" } else { "Male" }).into()),
            XCell::S(opt(&render_ssn(&mut r, p, &st))),
            XCell::S(opt(&render_phone(&mut r, p, &st))),
            XCell::S(opt(&render_email(&mut r, p, &st))),
            XCell::S(opt(&render_street(&mut r, p, &st))),
            XCell::S(format!("{}", names::PLACES[p.place].2 + (p.street.0 % 7))),
            XCell::S(program.into()),
            XCell::S("WIOA Title I".into()),
            XCell::D(entry),
            if exit < d(2026, 6, 30) && r.random_bool(0.8) { XCell::D(exit) } else { XCell::S(String::new()) },
            XCell::S(reason.into()),
        ]);
        *counts.entry("workforce_board").or_default() += 1;
        let mut last = entry;
        for _ in 0..r.random_range(1..=5) {
            let sd = (last + chrono::Duration::days(r.random_range(3..60))).min(exit);
            last = sd;
            serv_rows.push(vec![XCell::S(id.clone()), XCell::S(pick(&mut r, &["CAREER_COUNSELING", "JOB_SEARCH", "TRAINING_ITA", "SUPPORTIVE_SERVICES", "WORK_EXPERIENCE"]).to_string()), XCell::D(sd)]);
            *counts.entry("workforce_board").or_default() += 1;
        }
        // Referrals that match real enrollments elsewhere (warm handoffs),
        // and some that go nowhere.
        if served[i][1] && r.random_bool(0.5) {
            let target = cc_entries.get(&p.id).copied().unwrap_or(entry);
            let rd = target - chrono::Duration::days(r.random_range(7..90));
            ref_rows.push(vec![XCell::S(id.clone()), XCell::S("COLLEGE".into()), XCell::D(rd), XCell::S("ENROLLED".into())]);
            *counts.entry("workforce_board").or_default() += 1;
        } else if served[i][0] && r.random_bool(0.4) {
            let target = as_entries.get(&p.id).and_then(|v| v.first().copied()).unwrap_or(entry);
            let rd = target - chrono::Duration::days(r.random_range(7..60));
            ref_rows.push(vec![XCell::S(id.clone()), XCell::S("ADULTSCHOOL".into()), XCell::D(rd), XCell::S("ENROLLED".into())]);
            *counts.entry("workforce_board").or_default() += 1;
        } else if r.random_bool(0.15) {
            ref_rows.push(vec![XCell::S(id.clone()), XCell::S(pick(&mut r, &["COLLEGE", "ADULTSCHOOL"]).to_string()), XCell::D(entry + chrono::Duration::days(20)), XCell::S("PENDING".into())]);
            *counts.entry("workforce_board").or_default() += 1;
        }
    }
    for (name, header, rows) in [
        ("Participants", &["Participant ID", "First Name", "Last Name", "DOB", "Gender", "SSN", "Phone", "Email", "Address", "Zip", "Program", "Funding", "Enrollment Date", "Exit Date", "Exit Reason"][..], &part_rows),
        ("Services", &["Participant ID", "Service", "Service Date"][..], &serv_rows),
        ("Referrals", &["Participant ID", "Referred To", "Referral Date", "Outcome"][..], &ref_rows),
    ] {
        let ws = wb.add_worksheet();
        ws.set_name(name).map_err(xl)?;
        for (c, h) in header.iter().enumerate() {
            ws.write_string(0, c as u16, *h).map_err(xl)?;
        }
        for (i, row) in rows.iter().enumerate() {
            for (c, cell) in row.iter().enumerate() {
                match cell {
                    XCell::S(s) if s.is_empty() => {}
                    XCell::S(s) => {
                        ws.write_string(i as u32 + 1, c as u16, s).map_err(xl)?;
                    }
                    XCell::D(dt) => {
                        ws.write_datetime_with_format(i as u32 + 1, c as u16, &xdate(*dt).map_err(xl)?, &date_fmt).map_err(xl)?;
                    }
                }
            }
        }
    }
    let bytes = wb.save_to_buffer().map_err(xl)?;
    write(&inputs.join("workforce_board/caljobs_export_2026-06-30.xlsx"), &bytes)?;

    // --- refugee agency: NDJSON ---------------------------------------------
    let st = Style { typo: 0.07, nickname: 0.02, variant: 0.35, swap_names: 0.08, adopted: 0.05, dob_swap: 0.02, dob_typo: 0.02, dob_missing: 0.0, phone: 0.9, email: 0.3, address: 0.95, ssn: 0.1, father_as_family: 0.5 };
    let mut ndjson = String::new();
    for (i, p) in people.iter().enumerate() {
        if !served[i][3] {
            continue;
        }
        let id = format!("RA-{}-{:05}", 2016 + (p.id % 10), p.id);
        truth.push(("refugee_agency".into(), id.clone(), p.id));
        let (g, _, f) = render_name(&mut r, p, &st);
        let dob = render_dob(&mut r, p, &st, 0.95);
        let consent = if r.random_bool(0.95) { "yes" } else { "no" };
        let v = serde_json::json!({
            "case_id": id,
            "client": {
                "first_name": g,
                "last_name": f,
                "dob": dob.map(|x| x.format("%d/%m/%Y").to_string()),
                "sex": if p.female { "female" } else { "male" },
                "phone": render_phone(&mut r, p, &st),
                "email": render_email(&mut r, p, &st),
                "address": { "street": render_street(&mut r, p, &st), "zip": format!("{}", names::PLACES[p.place].2 + (p.street.0 % 7)) },
            },
            "arrival_date": p.arrival.map(|a| a.format("%d/%m/%Y").to_string()),
            "country_of_origin": p.country,
            "primary_language": p.origin.language(),
            "immigration_status": p.humanitarian,
            "consent_to_share": consent,
            "intake_date": p.arrival.map(|a| (a.max(d(2023, 7, 1)) + chrono::Duration::days(r.random_range(1..60))).format("%d/%m/%Y").to_string()),
            "milestones": {
                "bank_account": r.random_bool(0.7),
                "health_coverage": r.random_bool(0.8),
                "drivers_license": r.random_bool(0.3),
                "itin_taxes": r.random_bool(0.2),
                "citizenship": r.random_bool(0.05),
                "civic": r.random_bool(0.15),
                "child_care": r.random_bool(0.2),
                "recorded": rand_date(&mut r, d(2024, 1, 1), d(2026, 6, 30)).format("%d/%m/%Y").to_string(),
            },
        });
        ndjson.push_str(&v.to_string());
        ndjson.push('\n');
        *counts.entry("refugee_agency").or_default() += 1;
    }
    write(&inputs.join("refugee_agency/cases_2026-06-30.ndjson"), ndjson.as_bytes())?;

    // --- wage records: pipe-delimited, one file per quarter ----------------
    let st = Style { typo: 0.04, nickname: 0.05, variant: 0.15, swap_names: 0.03, adopted: 0.4, dob_swap: 0.03, dob_typo: 0.02, dob_missing: 0.05, phone: 0.5, email: 0.0, address: 0.0, ssn: 0.95, father_as_family: 0.3 };
    let mut wage_files: BTreeMap<&str, String> = BTreeMap::new();
    for q in QUARTERS {
        wage_files.insert(q, csv_line(&["WORKER_REF", "SSN", "LAST_NAME", "FIRST_NAME", "BIRTH_DATE", "PHONE", "ZIP", "EMPLOYER_FEIN", "YEAR", "QTR", "WAGES"].map(String::from), '|'));
    }
    for (i, p) in people.iter().enumerate() {
        if !served[i][4] {
            continue;
        }
        let id = format!("W{:08}", 10_000_000 + p.id * 3);
        // A worker with no quarter of wages is in no file: the truth row is
        // written after the quarters, only when one was (the draws stay the
        // same, so every file is as it was).
        let mut lines = 0;
        // Work begins after programs for many: a stronger labor market
        // attachment for those who finished training.
        let trained = served[i][1] || served[i][2];
        let first_q = r.random_range(0..QUARTERS.len());
        let employer = *pick(&mut r, names::EMPLOYERS);
        let base: f64 = r.random_range(2_500.0..14_000.0) * if trained { 1.25 } else { 1.0 };
        let (g, _, f) = render_name(&mut r, p, &st);
        let dob = render_dob(&mut r, p, &st, 0.5);
        let phone = render_phone(&mut r, p, &st);
        for (k, q) in QUARTERS.iter().enumerate().skip(first_q) {
            if !r.random_bool(if trained { 0.85 } else { 0.7 }) {
                continue;
            }
            let (g, f) = if r.random_bool(0.1) { let (a, _, b) = render_name(&mut r, p, &st); (a, b) } else { (g.clone(), f.clone()) };
            let wages = base * (1.0 + 0.02 * (k - first_q) as f64) * r.random_range(0.8..1.2);
            let (year, qn) = q.split_once('Q').expect("quarter");
            let line = csv_line(
                &[
                    id.clone(),
                    opt(&render_ssn(&mut r, p, &st)).replace('-', ""),
                    f.to_uppercase(),
                    g.to_uppercase(),
                    dob.map(|x| x.format("%Y%m%d").to_string()).unwrap_or_default(),
                    opt(&phone),
                    format!("{}", names::PLACES[p.place].2 + (p.street.0 % 7)),
                    employer.into(),
                    year.into(),
                    qn.into(),
                    format!("{wages:.2}"),
                ],
                '|',
            );
            wage_files.get_mut(q).expect("quarter").push_str(&line);
            *counts.entry("wage_records").or_default() += 1;
            lines += 1;
        }
        if lines > 0 {
            truth.push(("wage_records".into(), id, p.id));
        }
    }
    for (q, text) in &wage_files {
        let (_, end) = quarter_dates(q);
        let _ = end;
        write(&inputs.join(format!("wage_records/ui_wages_{q}.txt")), text.as_bytes())?;
    }

    // --- truth (outside the inputs) ---------------------------------------
    let mut t = String::from("partner,record_id,entity\n");
    for (partner, id, e) in &truth {
        let _ = writeln!(t, "{partner},{id},P{e:06}");
    }
    write(&out.join("truth.csv"), t.as_bytes())?;
    write(
        &out.join("README.txt"),
        b"Synthetic demo consortium generated by `braid demo` with a fixed seed. Every person is invented.\n\
          inputs/ is what the nightly job reads; truth.csv (partner, record_id, entity) is for `braid link evaluate` only.\n",
    )?;
    let total: usize = counts.values().sum();
    Ok(format!(
        "demo written to {}: {} people, {} partner records in {} rows ({}); truth file {}",
        out.display(),
        people.len(),
        truth.len(),
        total,
        counts.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", "),
        out.join("truth.csv").display()
    ))
}

enum XCell {
    S(String),
    D(NaiveDate),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_deterministic() {
        let a = std::env::temp_dir().join(format!("braid-demo-a-{}", std::process::id()));
        let b = std::env::temp_dir().join(format!("braid-demo-b-{}", std::process::id()));
        generate(&a, 300, 7, true).unwrap();
        generate(&b, 300, 7, true).unwrap();
        for f in ["truth.csv", "inputs/adult_school/students_2026-06-30.csv", "inputs/refugee_agency/cases_2026-06-30.ndjson"] {
            assert_eq!(std::fs::read(a.join(f)).unwrap(), std::fs::read(b.join(f)).unwrap(), "{f}");
        }
        let students = std::fs::read(a.join("inputs/adult_school/students_2026-06-30.csv")).unwrap();
        assert!(std::str::from_utf8(&students).is_err() || students.is_ascii(), "Windows-1252, not UTF-8");
    }

    /// An e-mail address is one account: people share one only as a
    /// household's shared address, never because namesakes drew the same.
    #[test]
    fn namesakes_do_not_share_an_e_mail_address() {
        let mut r = ChaCha8Rng::seed_from_u64(2026);
        let people = people(&mut r, 20_000);
        let mut holders: std::collections::HashMap<&str, Vec<&Person>> = Default::default();
        for p in &people {
            if let Some(e) = &p.email {
                holders.entry(e).or_default().push(p);
            }
        }
        let mut names: std::collections::HashMap<(&str, &str), usize> = Default::default();
        for p in &people {
            *names.entry((&p.given, &p.family)).or_default() += 1;
        }
        let namesakes: usize = names.values().filter(|n| **n > 1).sum();
        assert!(namesakes > 100, "the test needs namesakes: {namesakes}");
        let shared: Vec<_> = holders.iter().filter(|(_, v)| v.len() > 1).collect();
        assert!(shared.is_empty(), "{} addresses drawn for two people", shared.len());
    }

    /// Every record of the truth file is in its partner's files: a wage
    /// worker with no quarter of wages once had a truth row all the same.
    #[test]
    fn every_truth_record_is_in_the_inputs() {
        let dir = std::env::temp_dir().join(format!("braid-demo-truth-{}", std::process::id()));
        generate(&dir, 600, 11, true).unwrap();
        let truth = std::fs::read_to_string(dir.join("truth.csv")).unwrap();
        let mut wage_ids = std::collections::BTreeSet::new();
        for e in std::fs::read_dir(dir.join("inputs/wage_records")).unwrap() {
            let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
            wage_ids.extend(text.lines().skip(1).map(|l| l.split('|').next().unwrap().to_string()));
        }
        let mut wage_truth = std::collections::BTreeSet::new();
        let mut checked = 0;
        for line in truth.lines().skip(1) {
            let mut f = line.split(',');
            let (partner, id) = (f.next().unwrap(), f.next().unwrap());
            if partner == "wage_records" {
                wage_truth.insert(id.to_string());
            } else if partner != "workforce_board" {
                // (The workforce board's workbook is compressed XML.)
                let found = std::fs::read_dir(dir.join("inputs").join(partner))
                    .unwrap()
                    .any(|e| String::from_utf8_lossy(&std::fs::read(e.unwrap().path()).unwrap()).contains(id));
                assert!(found, "{partner} {id} of the truth file is in no input file");
                checked += 1;
            }
        }
        assert!(checked > 100 && !wage_truth.is_empty());
        assert_eq!(wage_truth, wage_ids, "the wage records' truth rows are exactly the workers in the wage files");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
