//! Normalization rules for identifiers. Each function is pure and documented
//! in `docs/linkage.md` ("Normalization"). Nothing here hashes or stores.

use chrono::{Datelike, NaiveDate};
use unicode_normalization::UnicodeNormalization;

/// Fold text for comparison: Unicode NFKC, transliteration to ASCII
/// (`deunicode`), lower case, apostrophes removed, every other character that
/// is not a letter or digit turned into a space, spaces collapsed.
///
/// `"  José  GARCÍA-López "` becomes `"jose garcia lopez"`;
/// `"O'Brien"` becomes `"obrien"`; `"Nguyễn"` becomes `"nguyen"`.
pub fn fold(s: &str) -> String {
    // Plain ASCII (most rows) needs no Unicode normalization.
    let ascii: std::borrow::Cow<str> = if s.is_ascii() {
        std::borrow::Cow::Borrowed(s)
    } else {
        let nfkc: String = s.nfkc().collect();
        std::borrow::Cow::Owned(deunicode::deunicode_with_tofu(&nfkc, " "))
    };
    let mut out = String::with_capacity(ascii.len());
    let mut space = true;
    for c in ascii.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
            space = false;
        } else if c == '\'' || c == '`' {
            // O'Brien, D'Souza, Ma'an: one word.
        } else if !space {
            out.push(' ');
            space = true;
        }
    }
    while out.ends_with(' ') {
        out.pop();
    }
    out
}

/// Honorifics and titles dropped from the start of any name field.
const HONORIFICS: &[&str] = &[
    "mr", "mrs", "ms", "miss", "mx", "dr", "prof", "rev", "sra", "srta", "sr", "don", "dona", "sheikh",
    "shaikh", "haji", "hajji", "hajj", "sayyid", "sayed", "mme", "mlle", "herr", "frau",
];

/// Generational suffixes dropped from the end of any name field.
const SUFFIXES: &[&str] = &["jr", "sr", "ii", "iii", "iv", "junior", "senior", "2nd", "3rd"];

/// Placeholders that mean "no name": FNU/LNU for mononyms and similar.
const PLACEHOLDERS: &[&str] = &[
    "fnu", "lnu", "nfn", "nln", "unknown", "unk", "none", "na", "n a", "noname", "no name", "x", "xx",
    "xxx", "test", "baby", "infant", "null",
];

/// Name particles. Dropped as separate parts, but the glued form is kept as an
/// alternate (`de la cruz` -> parts `cruz`, alternate `delacruz`).
const PARTICLES: &[&str] = &[
    "de", "del", "della", "dela", "di", "da", "das", "do", "dos", "du", "la", "las", "los", "le", "van",
    "von", "der", "den", "ten", "ter", "al", "el", "bin", "bint", "binti", "ibn", "ben", "bat", "abu",
    "y", "e", "ould", "mac",
];

pub fn is_particle(p: &str) -> bool {
    PARTICLES.contains(&p)
}

/// Which name field a part came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum Role {
    Given = 1,
    Middle = 2,
    Family = 3,
    /// A glued alternate of given names (`abdulrahman`, `maryann`).
    GluedGiven = 4,
    /// A glued alternate of a family name (`delacruz`, `garcialopez`).
    GluedFamily = 5,
}

impl Role {
    pub fn is_glued(self) -> bool {
        matches!(self, Role::GluedGiven | Role::GluedFamily)
    }

    /// The glued role that may stand in for this role.
    pub fn glued(self) -> Option<Role> {
        match self {
            Role::Given => Some(Role::GluedGiven),
            Role::Family => Some(Role::GluedFamily),
            _ => None,
        }
    }

    pub fn from_u8(v: u8) -> Option<Role> {
        match v {
            1 => Some(Role::Given),
            2 => Some(Role::Middle),
            3 => Some(Role::Family),
            4 => Some(Role::GluedGiven),
            5 => Some(Role::GluedFamily),
            _ => None,
        }
    }
}

/// How a partner writes a whole name in one column.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NameOrder {
    /// `Maria Garcia Lopez` (given first; the last word is the family name,
    /// unless a comma says otherwise).
    #[default]
    GivenFamily,
    /// `Nguyen Van An` (family first).
    FamilyGiven,
}

/// A person's name split into normalized parts: every part's text one
/// after another in one buffer, so that a `NameParts` kept from row to row
/// ([`name_parts_with`]) allocates nothing once it has grown.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NameParts {
    text: String,
    /// (role, start, end) of each part in `text`, in order.
    spans: Vec<(Role, usize, usize)>,
}

impl NameParts {
    fn clear(&mut self) {
        self.text.clear();
        self.spans.clear();
    }

    fn push(&mut self, role: Role, part: &str) {
        let start = self.text.len();
        self.text.push_str(part);
        self.spans.push((role, start, self.text.len()));
    }

    /// Every part with its role, in order: given, middle and family
    /// names, then the glued alternates.
    pub fn iter(&self) -> impl Iterator<Item = (Role, &str)> {
        self.spans.iter().map(|&(role, start, end)| (role, &self.text[start..end]))
    }

    pub fn is_empty(&self) -> bool {
        self.iter().all(|(r, _)| r.is_glued())
    }
    /// The initials of the first given and the first family name, sorted
    /// (so a given/family swap keeps them): "ar" for Ana Ruiz and for Ruiz
    /// Ana. One initial when only one of the two is known; None without
    /// either.
    pub fn initials(&self) -> Option<String> {
        let first = |role| self.of(role).next().and_then(|p| p.chars().next());
        let (a, b) = match (first(Role::Given), first(Role::Family)) {
            (Some(a), Some(b)) => (a.min(b), Some(a.max(b))),
            (Some(a), None) | (None, Some(a)) => (a, None),
            (None, None) => return None,
        };
        Some([Some(a), b].into_iter().flatten().collect())
    }

    pub fn of(&self, role: Role) -> impl Iterator<Item = &str> {
        self.iter().filter(move |(r, _)| *r == role).map(|(_, s)| s)
    }
}

/// Split and clean one name field into words: honorifics, suffixes and
/// placeholders removed. Particles are kept here; [`name_parts_with`] drops
/// them from family names.
pub(crate) fn clean_words(s: &str) -> Vec<String> {
    let folded = fold(s);
    if PLACEHOLDERS.contains(&folded.as_str()) {
        return vec![];
    }
    let mut words: Vec<String> = folded.split(' ').filter(|w| !w.is_empty()).map(String::from).collect();
    while words.len() > 1 && HONORIFICS.contains(&words[0].as_str()) {
        words.remove(0);
    }
    while words.len() > 1 && SUFFIXES.contains(&words[words.len() - 1].as_str()) {
        words.pop();
    }
    words.retain(|w| !PLACEHOLDERS.contains(&w.as_str()));
    words
}

/// Build name parts from the mapped name fields.
///
/// * Given, middle and family names are split on spaces and hyphens.
/// * Particles (de, del, van, al, bin, ...) are dropped from family names
///   only, so the Vietnamese middle name Van survives.
/// * A `full_name` is used when the split fields are all empty: `Family,
///   Given Middle` when it has a comma, else per `order`.
/// * Multi-word given names, multi-word family names (with and without
///   their particles) and the first given + first middle name are also kept
///   glued (`Role::GluedGiven`, `Role::GluedFamily`), so that `Abdul Rahman` meets `Abdulrahman`, `De
///   la Cruz` meets `Delacruz` and `Mary Ann` meets `Maryann`.
pub fn name_parts(
    given: Option<&str>,
    middle: Option<&str>,
    family: Option<&str>,
    full: Option<&str>,
    order: NameOrder,
) -> NameParts {
    let words = |field: Option<&str>| field.map(|t| clean_words(t).join(" ")).unwrap_or_default();
    let mut out = NameParts::default();
    name_parts_with(&words(given), &words(middle), &words(family), full, order, &mut out);
    out
}

/// [`name_parts`] into `out` (cleared first), from the cleaned words
/// (`clean_words`) of the given, middle and family name fields, each
/// field's joined by single spaces ("" for none). The encoder keeps those
/// words by field (names repeat from row to row, and cleaning them is a
/// good part of the work).
pub fn name_parts_with(given: &str, middle: &str, family: &str, full: Option<&str>, order: NameOrder, out: &mut NameParts) {
    out.clear();
    let split;
    let (g, m, f) = match full {
        Some(full) if given.is_empty() && middle.is_empty() && family.is_empty() => {
            let (g, m, f) = split_full(full, order);
            split = [g.join(" "), m.join(" "), f.join(" ")];
            (split[0].as_str(), split[1].as_str(), split[2].as_str())
        }
        _ => (given, middle, family),
    };
    // Cleaned words hold letters and digits only, so splitting on ASCII
    // whitespace (by bytes, quicker than `split(' ')`) splits on spaces.
    fn words(field: &str) -> impl Iterator<Item = &str> {
        field.split_ascii_whitespace()
    }
    // Family names lose their particles (`de la Cruz` -> `cruz`), unless
    // the name is nothing but particles (`Do`, `Le`).
    let all_particles = words(f).all(is_particle);
    let dropped = || words(f).filter(move |w| all_particles || !is_particle(w));
    for p in words(g) {
        out.push(Role::Given, p);
    }
    for p in words(m) {
        out.push(Role::Middle, p);
    }
    for p in dropped() {
        out.push(Role::Family, p);
    }
    // Glued alternates stay within a name: the given names together, the
    // family name with its particles, and the first given with the first
    // middle name (Mary Ann / Maryann). Never middle with family: a shared
    // middle name (Van, Thi) must not make two family names look alike.
    let mut glued: Vec<(Role, String)> = Vec::new();
    if words(g).nth(1).is_some() {
        glued.push((Role::GluedGiven, words(g).collect()));
    }
    if let (Some(a), Some(b)) = (words(g).next(), words(m).next()) {
        glued.push((Role::GluedGiven, [a, b].concat()));
    }
    if words(f).nth(1).is_some() {
        glued.push((Role::GluedFamily, words(f).collect()));
    }
    if dropped().nth(1).is_some() {
        glued.push((Role::GluedFamily, dropped().collect()));
    }
    glued.sort();
    glued.dedup();
    for (role, gl) in glued {
        if !out.iter().any(|(_, p)| p == gl) {
            out.push(role, &gl);
        }
    }
}

/// (given, middle, family) words of a whole name.
fn split_full(full: &str, order: NameOrder) -> (Vec<String>, Vec<String>, Vec<String>) {
    if let Some((fam, rest)) = full.split_once(',') {
        let f = clean_words(fam);
        let mut g = clean_words(rest);
        let m = if g.len() > 1 { g.split_off(1) } else { vec![] };
        return (g, m, f);
    }
    let mut words = clean_words(full);
    if words.len() < 2 {
        return (words, vec![], vec![]);
    }
    match order {
        NameOrder::GivenFamily => {
            // The family name is the last word and any particles before it.
            let mut start = words.len() - 1;
            while start > 1 && is_particle(&words[start - 1]) {
                start -= 1;
            }
            let f = words.split_off(start);
            let m = words.split_off(1);
            (words, m, f)
        }
        NameOrder::FamilyGiven => {
            let rest = words.split_off(1);
            let (g, m) = match rest.split_last() {
                Some((last, mid)) => (vec![last.clone()], mid.to_vec()),
                None => (vec![], vec![]),
            };
            (g, m, words)
        }
    }
}

/// A date of birth, with what it can and cannot tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dob {
    pub date: NaiveDate,
    /// January 1st (or another configured placeholder): only the year is evidence.
    pub placeholder: bool,
    /// The date also reads with day and month swapped (both <= 12, unequal).
    pub swappable: bool,
}

/// Classify a parsed birth date. `1900-01-01` and anything earlier are
/// treated as missing: systems write them for "unknown" (see
/// [`is_unknown_dob`]). Any later date is evidence, even one that gives an
/// implausible age: the same date in two files is the same evidence.
pub fn dob(date: NaiveDate) -> Option<Dob> {
    if is_unknown_dob(date) {
        return None;
    }
    let placeholder = date.month() == 1 && date.day() == 1;
    let swappable = date.day() <= 12 && date.day() != date.month();
    Some(Dob { date, placeholder, swappable })
}

/// Whether a birth date is a system's "unknown": 1900-01-01, the spreadsheet
/// epochs just before it (1899-12-30 and -31), or anything earlier.
pub fn is_unknown_dob(date: NaiveDate) -> bool {
    date <= NaiveDate::from_ymd_opt(1900, 1, 1).expect("valid date")
}

/// The day/month-swapped reading of a date, if it is a valid date.
pub fn swapped(date: NaiveDate) -> Option<NaiveDate> {
    if date.day() > 12 || date.day() == date.month() {
        return None;
    }
    NaiveDate::from_ymd_opt(date.year(), date.day(), date.month())
}

/// Sex/gender as a small code: 1 female, 2 male, 3 nonbinary; None unknown.
pub fn sex_code(s: &str) -> Option<u8> {
    match fold(s).as_str() {
        "f" | "female" | "woman" | "w" | "femenino" | "mujer" | "feminin" => Some(1),
        "m" | "male" | "man" | "masculino" | "hombre" | "masculin" | "h" => Some(2),
        "x" | "nonbinary" | "non binary" | "nb" | "other" => Some(3),
        _ => None,
    }
}

/// Phone to E.164. US numbers (10 digits, or 11 starting with 1) get `+1`;
/// numbers written with `+` or `00` keep their country code. Obvious fakes
/// (all one digit, 555-01xx, too short) are None.
pub fn phone_e164(s: &str) -> Option<String> {
    let trimmed = s.trim();
    let intl = trimmed.starts_with('+') || trimmed.starts_with("00");
    // Drop an extension: "x123", "ext 12".
    let main = trimmed.split(['x', 'e', 'X', 'E']).next().unwrap_or("");
    // Digits on the stack: more than 17 can never make a valid number
    // (15 after an international "00").
    let mut buf = [0u8; 17];
    let mut n = 0;
    for b in main.bytes().filter(u8::is_ascii_digit) {
        if n == buf.len() {
            return None;
        }
        buf[n] = b;
        n += 1;
    }
    let mut digits = &buf[..n];
    if intl && digits.starts_with(b"00") {
        digits = &digits[2..];
    }
    let mut e164 = String::with_capacity(16);
    if intl && !digits.starts_with(b"1") {
        if !(8..=15).contains(&digits.len()) {
            return None;
        }
        e164.push('+');
    } else {
        let national = match digits.len() {
            10 => digits,
            11 if digits.starts_with(b"1") => &digits[1..],
            _ => return None,
        };
        // NANP: area code and exchange cannot start with 0 or 1.
        if national[0] < b'2' || national[3] < b'2' {
            return None;
        }
        if &national[3..6] == b"555" && national[6..].starts_with(b"01") {
            return None;
        }
        e164.push_str("+1");
        digits = national;
    }
    e164.push_str(std::str::from_utf8(digits).expect("ASCII digits"));
    let d = &e164.as_bytes()[1..];
    if d.iter().skip(1).all(|c| *c == d[1]) {
        return None;
    }
    Some(e164)
}

/// E-mail: lower case; `+tag` removed; for Gmail, dots in the local part
/// removed and googlemail.com folded to gmail.com. Placeholders are None.
pub fn email(s: &str) -> Option<String> {
    let mut out = Vec::new();
    email_into(s, &mut out).then(|| String::from_utf8(out).expect("the text's bytes, ASCII letters lowered and ASCII bytes dropped"))
}

/// Local parts and domains that stand for "no e-mail".
const NO_EMAIL_LOCAL: [&str; 9] = ["none", "noemail", "no", "na", "nomail", "unknown", "test", "no.email", "noreply"];
const NO_EMAIL_DOMAIN: [&str; 5] = ["none.com", "noemail.com", "example.com", "test.com", "email.com"];

/// [`email`]'s bytes written into `out` (emptied first; no allocation once
/// it has room): whether the text is an address. Only ASCII bytes are
/// lowered or dropped, so `out` is UTF-8 as the text is.
pub fn email_into(s: &str, out: &mut Vec<u8>) -> bool {
    out.clear();
    let b = s.trim().as_bytes();
    let Some(at) = b.iter().rposition(|&c| c == b'@') else { return false };
    let (local, domain) = (&b[..at], &b[at + 1..]);
    if local.is_empty() || !domain.contains(&b'.') || domain.starts_with(b".") {
        return false;
    }
    let gmail = domain.eq_ignore_ascii_case(b"gmail.com") || domain.eq_ignore_ascii_case(b"googlemail.com");
    let local = local.split(|&c| c == b'+').next().unwrap_or(local);
    out.extend(local.iter().filter(|&&c| !(gmail && c == b'.')).map(u8::to_ascii_lowercase));
    if out.is_empty() || NO_EMAIL_LOCAL.iter().any(|n| n.as_bytes() == out.as_slice()) {
        out.clear();
        return false;
    }
    let at = out.len() + 1;
    out.push(b'@');
    if gmail {
        out.extend_from_slice(b"gmail.com");
    } else {
        out.extend(domain.iter().map(u8::to_ascii_lowercase));
    }
    if NO_EMAIL_DOMAIN.iter().any(|d| d.as_bytes() == &out[at..]) {
        out.clear();
        return false;
    }
    true
}

/// ZIP code to its 5 digits (ZIP+4 cut), or None.
pub fn zip5(s: &str) -> Option<String> {
    let digits: String = s.chars().filter(|c| c.is_ascii_digit()).collect();
    let z = match digits.len() {
        5 | 9 => digits[..5].to_string(),
        4 | 8 => format!("0{}", &digits[..4]), // Excel ate the leading zero
        _ => return None,
    };
    (z != "00000" && z != "99999").then_some(z)
}

/// Street address: folded, common suffixes and unit words abbreviated, unit
/// numbers kept. `123 North Main Street, Apt. 4B` -> `123 n main st apt 4b`.
/// Only a line with a number is an address ([`is_address`]).
pub fn street(s: &str) -> Option<String> {
    street_words(s).filter(|l| is_address(l))
}

/// The street line for fuzzy comparison: normalized as in [`street`], with
/// or without a house number, but with a street name ([`names_a_street`]).
pub fn street_line(s: &str) -> Option<String> {
    street_words(s).filter(|l| names_a_street(l))
}

/// A normalized street line that can stand for an address: it has a number
/// and is at least four characters long.
pub fn is_address(line: &str) -> bool {
    line.chars().any(|c| c.is_ascii_digit()) && line.len() >= 4
}

/// A normalized street line with a street name: four letters or more.
pub fn names_a_street(line: &str) -> bool {
    line.bytes().filter(u8::is_ascii_alphabetic).count() >= 4
}

/// The street's name word in a normalized street line: the first word with
/// two letters or more that is not a direction or a unit ("mcintyre" in
/// "92 mcintyre st", "el" in "el camino real"). It survives a changed house
/// number and a mistyped street type. Lines that name no street (a PO box,
/// "homeless", "unknown") have none.
pub fn street_name_word(line: &str) -> Option<&str> {
    let w = line
        .split_ascii_whitespace()
        .filter(|w| !matches!(*w, "n" | "s" | "e" | "w" | "ne" | "nw" | "se" | "sw" | "apt"))
        .find(|w| w.bytes().filter(u8::is_ascii_alphabetic).count() >= 2)?;
    (!matches!(w, "po" | "pob" | "pobox" | "box" | "homeless" | "unknown" | "none" | "general" | "rr")).then_some(w)
}

/// The normalization behind [`street`] and [`street_line`], without their
/// checks.
pub fn street_words(s: &str) -> Option<String> {
    let f = if s.bytes().any(|b| b == b'#') { fold(&s.replace('#', " apt ")) } else { fold(s) };
    if f.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(f.len());
    let mut after_apt = false;
    // `fold` leaves letters and digits, and single spaces between words.
    for w in f.split_ascii_whitespace() {
        let w = match w {
            "street" => "st",
            "avenue" | "av" => "ave",
            "road" => "rd",
            "boulevard" => "blvd",
            "drive" => "dr",
            "lane" => "ln",
            "court" => "ct",
            "place" => "pl",
            "terrace" => "ter",
            "highway" => "hwy",
            "parkway" => "pkwy",
            "circle" => "cir",
            "north" => "n",
            "south" => "s",
            "east" => "e",
            "west" => "w",
            "apartment" | "unit" | "suite" | "ste" | "no" | "number" => "apt",
            w => w,
        };
        // "apt apt 4" from "Apt #4".
        if w == "apt" && after_apt {
            continue;
        }
        after_apt = w == "apt";
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(w);
    }
    Some(out)
}

/// Kind of taxpayer number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaxIdKind {
    Ssn,
    Itin,
}

/// Validate an SSN or ITIN. Returns the 9 digits and the kind, or None for
/// anything that cannot be evidence: wrong length, area 000 or 666, group 00,
/// serial 0000, 9xx areas that are not valid ITINs, and known placeholders
/// (123-45-6789, all one digit, 078-05-1120, ...).
pub fn tax_id(s: &str) -> Option<(String, TaxIdKind)> {
    let d: String = s.chars().filter(|c| c.is_ascii_digit()).collect();
    if d.len() != 9 {
        return None;
    }
    const PLACEHOLDERS: &[&str] = &[
        "123456789", "987654321", "012345678", "078051120", "219099999", "111223333", "123121234",
    ];
    if PLACEHOLDERS.contains(&d.as_str()) || d.chars().all(|c| c == d.as_bytes()[0] as char) {
        return None;
    }
    let area: u32 = d[..3].parse().ok()?;
    let group: u32 = d[3..5].parse().ok()?;
    let serial: u32 = d[5..].parse().ok()?;
    if area == 0 || area == 666 || serial == 0 {
        return None;
    }
    if area >= 900 {
        // ITIN: 9xx with group 50-65, 70-88, 90-92 or 94-99.
        let itin = matches!(group, 50..=65 | 70..=88 | 90..=92 | 94..=99);
        return itin.then_some((d, TaxIdKind::Itin));
    }
    if group == 0 {
        return None;
    }
    Some((d, TaxIdKind::Ssn))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fold_transliterates_and_cleans() {
        assert_eq!(fold("  José  GARCÍA-López "), "jose garcia lopez");
        assert_eq!(fold("O'Brien"), "obrien");
        assert_eq!(fold("Nguyễn Văn An"), "nguyen van an");
        assert_eq!(fold("Zoë"), "zoe");
        assert_eq!(fold("Ｍａｒｉａ"), "maria"); // full-width, via NFKC
        assert_eq!(fold("Şükrü"), "sukru");
        assert_eq!(fold("Дмитрий"), "dmitrii");
    }

    fn parts(n: &NameParts, role: Role) -> Vec<String> {
        n.of(role).map(String::from).collect()
    }

    #[test]
    fn initials_are_sorted_and_survive_a_swap() {
        let ini = |g, f| name_parts(g, None, f, None, NameOrder::GivenFamily).initials();
        assert_eq!(ini(Some("Ana"), Some("Ruiz")).as_deref(), Some("ar"));
        assert_eq!(ini(Some("Ruiz"), Some("Ana")).as_deref(), Some("ar"));
        assert_eq!(ini(Some("Ana"), Some("Alba")).as_deref(), Some("aa"));
        assert_eq!(ini(None, Some("Ruiz")).as_deref(), Some("r"));
        assert_eq!(ini(Some("Zoë"), None).as_deref(), Some("z"));
        assert_eq!(ini(None, None), None);
    }

    #[test]
    fn compound_surnames_split_and_glue() {
        let n = name_parts(Some("María"), None, Some("García López"), None, NameOrder::GivenFamily);
        assert_eq!(parts(&n, Role::Given), vec!["maria"]);
        assert_eq!(parts(&n, Role::Family), vec!["garcia", "lopez"]);
        assert!(parts(&n, Role::GluedFamily).contains(&"garcialopez".to_string()));
    }

    #[test]
    fn particles_are_dropped_but_glued_form_kept() {
        let n = name_parts(Some("Juan"), None, Some("de la Cruz"), None, NameOrder::GivenFamily);
        assert_eq!(parts(&n, Role::Family), vec!["cruz"]);
        assert!(parts(&n, Role::GluedFamily).contains(&"delacruz".to_string()));
        let n = name_parts(Some("Omar"), None, Some("al-Hassan"), None, NameOrder::GivenFamily);
        assert_eq!(parts(&n, Role::Family), vec!["hassan"]);
        let n = name_parts(Some("Ahmed"), None, Some("bin Ali"), None, NameOrder::GivenFamily);
        assert_eq!(parts(&n, Role::Family), vec!["ali"]);
    }

    #[test]
    fn full_given_family_keeps_particles_with_the_family_name() {
        let n = name_parts(None, None, None, Some("Juan de la Cruz"), NameOrder::GivenFamily);
        assert_eq!(parts(&n, Role::Given), vec!["juan"]);
        assert!(parts(&n, Role::Middle).is_empty());
        assert_eq!(parts(&n, Role::Family), vec!["cruz"]);
        assert!(parts(&n, Role::GluedFamily).contains(&"delacruz".to_string()));
    }

    #[test]
    fn a_name_that_is_only_a_particle_is_kept() {
        let n = name_parts(Some("Anh"), None, Some("Do"), None, NameOrder::GivenFamily);
        assert_eq!(parts(&n, Role::Family), vec!["do"]);
    }

    #[test]
    fn honorifics_suffixes_and_placeholders() {
        let n = name_parts(Some("Dr. John"), None, Some("Smith Jr."), None, NameOrder::GivenFamily);
        assert_eq!(parts(&n, Role::Given), vec!["john"]);
        assert_eq!(parts(&n, Role::Family), vec!["smith"]);
        let n = name_parts(Some("FNU"), None, Some("Abdi"), None, NameOrder::GivenFamily);
        assert!(parts(&n, Role::Given).is_empty());
        assert_eq!(parts(&n, Role::Family), vec!["abdi"]);
    }

    #[test]
    fn full_names_with_comma_and_order() {
        let n = name_parts(None, None, None, Some("GARCIA LOPEZ,MARIA ELENA"), NameOrder::GivenFamily);
        assert_eq!(parts(&n, Role::Given), vec!["maria"]);
        assert_eq!(parts(&n, Role::Middle), vec!["elena"]);
        assert_eq!(parts(&n, Role::Family), vec!["garcia", "lopez"]);
        let n = name_parts(None, None, None, Some("Nguyen Van An"), NameOrder::FamilyGiven);
        assert_eq!(parts(&n, Role::Family), vec!["nguyen"]);
        assert_eq!(parts(&n, Role::Given), vec!["an"]);
        assert_eq!(parts(&n, Role::Middle), vec!["van"]);
        let n = name_parts(None, None, None, Some("An Nguyen"), NameOrder::GivenFamily);
        assert_eq!(parts(&n, Role::Given), vec!["an"]);
        assert_eq!(parts(&n, Role::Family), vec!["nguyen"]);
    }

    #[test]
    fn dob_placeholders_and_swaps() {
        let d = |y, m, dd| NaiveDate::from_ymd_opt(y, m, dd).unwrap();
        assert!(dob(d(1990, 1, 1)).unwrap().placeholder);
        assert!(dob(d(1900, 1, 1)).is_none());
        assert!(dob(d(1899, 12, 30)).is_none());
        // A real date in 1900 (or a typo for 1990) is evidence.
        assert_eq!(dob(d(1900, 6, 4)).unwrap().date, d(1900, 6, 4));
        assert!(dob(d(1990, 3, 5)).unwrap().swappable);
        assert!(!dob(d(1990, 3, 25)).unwrap().swappable);
        assert_eq!(swapped(d(1990, 3, 5)), Some(d(1990, 5, 3)));
        assert_eq!(swapped(d(1990, 3, 3)), None);
    }

    #[test]
    fn phones() {
        assert_eq!(phone_e164("(510) 555-2368").as_deref(), Some("+15105552368"));
        assert_eq!(phone_e164("1-510-555-2368 x12").as_deref(), Some("+15105552368"));
        assert_eq!(phone_e164("+52 55 1234 5678").as_deref(), Some("+525512345678"));
        assert_eq!(phone_e164("0044 20 7946 0958").as_deref(), Some("+442079460958"));
        assert_eq!(phone_e164("555-0100"), None);
        assert_eq!(phone_e164("(510) 555-0123"), None);
        assert_eq!(phone_e164("000-000-0000"), None);
        assert_eq!(phone_e164("999-999-9999"), None);
        assert_eq!(phone_e164("510 555 2368 EXT 12").as_deref(), Some("+15105552368"));
        assert_eq!(phone_e164("+1 (510) 555-2368").as_deref(), Some("+15105552368"));
        assert_eq!(phone_e164("00 1 510 555 2368").as_deref(), Some("+15105552368"));
        assert_eq!(phone_e164("+44 20 7946 0958 1234 5678 90"), None);
        assert_eq!(phone_e164("5105552368510555236851055523685105552368"), None);
    }

    #[test]
    fn emails() {
        assert_eq!(email("J.Doe+ESL@GoogleMail.com").as_deref(), Some("jdoe@gmail.com"));
        assert_eq!(email("j.doe+x@outlook.com").as_deref(), Some("j.doe@outlook.com"));
        assert_eq!(email("none@none.com"), None);
        assert_eq!(email(" No.Email@Gmail.COM "), None);
        assert_eq!(email("ana@EXAMPLE.com"), None);
        assert_eq!(email("Ana.Ruiz@Correo.Mx").as_deref(), Some("ana.ruiz@correo.mx"));
        assert_eq!(email("Ñandú@Correo.Mx").as_deref(), Some("Ñandú@correo.mx"));
        assert_eq!(email("a@b@Example.ORG").as_deref(), Some("a@b@example.org"));
        assert_eq!(email("not an email"), None);
        // The rules as first written (allocating at each step), against
        // the one-buffer version, over combinations of the cases above.
        fn reference(s: &str) -> Option<String> {
            let s = s.trim().to_ascii_lowercase();
            let (local, domain) = s.rsplit_once('@')?;
            if local.is_empty() || !domain.contains('.') || domain.starts_with('.') {
                return None;
            }
            let domain = if domain == "googlemail.com" { "gmail.com" } else { domain };
            let local = local.split('+').next().unwrap_or(local);
            let local = if domain == "gmail.com" { local.replace('.', "") } else { local.to_string() };
            if local.is_empty() || NO_EMAIL_LOCAL.contains(&local.as_str()) || NO_EMAIL_DOMAIN.contains(&domain) {
                return None;
            }
            Some(format!("{local}@{domain}"))
        }
        let locals = ["", "J.Doe", "j.doe+x", "+x", "No.Email", "NONE", "n.a", "Ñandú", "a@b", ".", " ana "];
        let domains = ["", "GoogleMail.com", "Gmail.COM", "gmail.co", "Correo.Mx", ".com", "nodot", "Example.ORG", "EXAMPLE.com", "email.com "];
        let mut buf = Vec::new();
        let text_of = |b: &Vec<u8>| String::from_utf8(b.clone()).unwrap();
        for l in locals {
            for d in domains {
                for text in [format!("{l}@{d}"), format!("{l}{d}"), format!(" {l}@@{d}")] {
                    assert_eq!(email_into(&text, &mut buf).then(|| text_of(&buf)), reference(&text), "{text:?}");
                }
            }
        }
        // Into a buffer that held another address: the same results.
        let mut buf = b"left.over@example.org".to_vec();
        for text in ["J.Doe+ESL@GoogleMail.com", "none@none.com", "Ñandú@Correo.Mx", "a@b@Example.ORG", "ana@EXAMPLE.com", "x@y.org", "+tag@y.org", "@y.org"] {
            assert_eq!(email_into(text, &mut buf).then(|| text_of(&buf)), email(text), "{text}");
        }
    }

    #[test]
    fn zips_and_streets() {
        assert_eq!(zip5("94601-1234").as_deref(), Some("94601"));
        assert_eq!(zip5("2134").as_deref(), Some("02134"));
        assert_eq!(zip5("00000"), None);
        assert_eq!(street("123 North Main Street, Apt. #4B").as_deref(), Some("123 n main st apt 4b"));
        assert_eq!(street("123 N Main St Unit 4B").as_deref(), Some("123 n main st apt 4b"));
        assert_eq!(street("homeless"), None);
        // Units run together once; words after them stay.
        assert_eq!(street_words("Unit #7, Apartment 3 North").as_deref(), Some("apt 7 apt 3 n"));
        assert_eq!(street_words(" # "), Some("apt".into()));
        assert_eq!(street_words(" ,. "), None);
        // The fuzzy street line keeps lines without a house number, not
        // numbers without a street.
        assert_eq!(street_line("123 North Main Street").as_deref(), Some("123 n main st"));
        assert_eq!(street_line("Streeter Place").as_deref(), Some("streeter pl"));
        assert_eq!(street_line("65"), None);
        assert_eq!(street_line("homeless").as_deref(), Some("homeless"));
        // The street's name word: past numbers, directions and units.
        let word = |s: &str| street_words(s).and_then(|l| street_name_word(&l).map(String::from));
        assert_eq!(word("92 McIntyre Street").as_deref(), Some("mcintyre"));
        assert_eq!(word("McIntyre Sreet").as_deref(), Some("mcintyre"));
        assert_eq!(word("#4 1200 N. Fruitvale Ave").as_deref(), Some("fruitvale"));
        assert_eq!(word("El Camino Real").as_deref(), Some("el"));
        assert_eq!(word("PO Box 12"), None);
        assert_eq!(word("homeless"), None);
        assert_eq!(word("65"), None);
    }

    #[test]
    fn tax_ids() {
        assert_eq!(tax_id("123-45-6789"), None);
        assert_eq!(tax_id("999-99-9999"), None);
        assert_eq!(tax_id("000-12-3456"), None);
        assert_eq!(tax_id("666-12-3456"), None);
        assert_eq!(tax_id("123-00-3456"), None);
        assert_eq!(tax_id("123-45-0000"), None);
        assert_eq!(tax_id("912-34-5678"), None); // 9xx with group 34: neither
        assert_eq!(tax_id("912-74-5678").map(|t| t.1), Some(TaxIdKind::Itin));
        assert_eq!(tax_id("234-56-7890").map(|t| t.1), Some(TaxIdKind::Ssn));
    }
}
