//! Field-level comparison of two encoded identities.
//!
//! Every comparison works on tokens and Bloom filters only. The result is a
//! small vector of levels ([`Levels`]) that the Fellegi-Sunter model turns
//! into weights.
//!
//! Names are compared **without regard to order**: the given name of one
//! record may meet any part of the other (given/family swaps, family-first
//! writing, a father's name used as the surname), but one part of the other
//! record is never counted for both the given and the family name.

use crate::protect::encode::{BLOOM_K, Identity, ONE_EDIT_MIN_DICE, PartEnc, dice, one_edit, overlap};
use crate::protect::normalize::Role;

/// Name-part agreement levels, strongest first.
pub mod name {
    pub const EXACT: u8 = 0;
    pub const VARIANT: u8 = 1;
    pub const FUZZY_HIGH: u8 = 2;
    pub const NICK_OR_PHONETIC: u8 = 3;
    /// Dice at least 0.7, or one name a short form of the other (see
    /// CONTAINED_MIN).
    pub const FUZZY: u8 = 4;
    /// One typo apart (a letter changed, added, dropped, or two neighbours
    /// swapped) and nothing stronger: short names, whose Bloom filters a
    /// single typo pulls far apart ("Luis" / "Luls", "Juan" / "Ujan").
    pub const ONE_EDIT: u8 = 5;
    /// Only crossed: this record's given name is the other's family name
    /// (or the reverse) and nothing else agrees. A swap and a surname change
    /// at once, or a father and the son surnamed after him: the model
    /// learns which it usually is.
    pub const CROSSED: u8 = 6;
    /// Given names only: exact on one part while a given name of either
    /// record agrees with nothing in the other ("Marie" against
    /// "Marie-Claire", "Maria" against "Maria Guadalupe", "Eh" against
    /// "Kyaw" with the middle name "Eh"). The same person dropping a second
    /// given name or going by the middle name, or two people whose names
    /// share a part (a mother and her daughter): the model learns which it
    /// usually is. Not ordered against the levels above except EXACT, which
    /// it never outweighs.
    pub const COMPOUND_PART: u8 = 7;
    pub const NONE: u8 = 8;
    pub const MISSING: u8 = 9;
    pub const COUNT: usize = 10;
    pub const LABELS: [&str; COUNT] = [
        "exact",
        "variant",
        "fuzzy >= 0.85",
        "nickname or phonetic",
        "fuzzy >= 0.7 or short form",
        "one typo apart",
        "crossed only",
        "one part of a compound",
        "disagree",
        "missing",
    ];
}

/// Date-of-birth levels.
pub mod dob {
    pub const EXACT: u8 = 0;
    pub const SWAPPED: u8 = 1;
    pub const YEAR_MONTH: u8 = 2;
    pub const MONTH_DAY_NEAR_YEAR: u8 = 3;
    pub const MONTH_DAY: u8 = 4;
    pub const YEAR: u8 = 5;
    pub const DISAGREE: u8 = 6;
    /// A placeholder (01/01) on one side and another year on the other:
    /// years of placeholder dates are often estimated, so this level learns
    /// its own weight.
    pub const PLACEHOLDER_OTHER_YEAR: u8 = 7;
    /// A placeholder (01/01) on one side, the same year on the other: evidence
    /// of the year only, unlike a real date whose month and day disagree.
    pub const PLACEHOLDER_SAME_YEAR: u8 = 8;
    /// Missing on either side: no evidence either way.
    pub const MISSING: u8 = 9;
    pub const COUNT: usize = 10;
    pub const LABELS: [&str; COUNT] = [
        "exact",
        "day/month swapped",
        "year and month",
        "month and day, year +-1",
        "month and day",
        "year only",
        "disagree",
        "placeholder, other year",
        "placeholder, same year",
        "missing",
    ];
}

/// Levels for sex, tax id and household contact.
pub mod simple {
    pub const AGREE: u8 = 0;
    pub const DISAGREE: u8 = 1;
    pub const MISSING: u8 = 2;
    pub const COUNT: usize = 3;
    pub const LABELS: [&str; COUNT] = ["agree", "disagree", "missing"];
}

/// Household-shareable contact: phone, e-mail or street address; a street
/// line that nearly agrees, the ZIP code and the city are weaker levels.
pub mod contact {
    /// A phone or an e-mail address agrees (the street address may too).
    pub const AGREE: u8 = 0;
    /// The street address agrees; no phone or e-mail address is given by
    /// both records, so there is nothing personal to compare.
    pub const ADDRESS: u8 = 1;
    /// The street address agrees, but the phones or e-mail addresses both
    /// records give differ: what two members of one household look like
    /// (twins have their own phones), and what one person looks like less
    /// often.
    pub const ADDRESS_OTHER_CONTACTS: u8 = 2;
    /// The street lines' Bloom filters nearly agree (a typo, a space in the
    /// wrong place, another house number), and so does the ZIP code or the
    /// city.
    pub const NEAR_LOCAL: u8 = 3;
    /// The street lines nearly agree; neither ZIP code nor city does.
    pub const NEAR_ADDRESS: u8 = 4;
    /// The ZIP code and the city agree.
    pub const ZIP_CITY: u8 = 5;
    /// Only the 5-digit ZIP code agrees.
    pub const ZIP: u8 = 6;
    /// Only the city agrees (another ZIP code, or none).
    pub const CITY: u8 = 7;
    pub const DISAGREE: u8 = 8;
    pub const MISSING: u8 = 9;
    pub const COUNT: usize = 10;
    /// The levels at which a contact a household can share agrees: a phone
    /// or an e-mail address, or else the street address exactly.
    pub const SHARED: [u8; 3] = [AGREE, ADDRESS, ADDRESS_OTHER_CONTACTS];
    pub const LABELS: [&str; COUNT] = [
        "phone or e-mail agree",
        "address agrees",
        "address agrees, phones or e-mails differ",
        "street nearly agrees, ZIP or city too",
        "street nearly agrees",
        "only ZIP and city agree",
        "only ZIP agrees",
        "only city agrees",
        "disagree",
        "missing",
    ];
    /// Dice coefficient of the street filters for [`NEAR_LOCAL`] and
    /// [`NEAR_ADDRESS`].
    pub const NEAR_DICE: f64 = 0.75;
}

/// The comparison vector of one pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Levels {
    pub given: u8,
    pub family: u8,
    pub dob: u8,
    pub sex: u8,
    pub tax_id: u8,
    /// Phone, e-mail, street address, ZIP or city (household-shareable
    /// contact; see [`contact`]).
    pub contact: u8,
    /// Both records come from the same partner (set by the caller).
    pub same_partner: bool,
    /// The family names agree exactly on two parts or more: both surnames
    /// of a double surname ("Martínez Gómez" against "Martinez-Gomez"), not
    /// one of them. Only with `family` at EXACT.
    pub family_two_parts: bool,
    /// Exact name tokens that agreed (for term-frequency adjustment).
    pub given_token: u64,
    pub family_token: u64,
}

/// A name part whose Bloom filter has at least CONTAINED_MIN of its bits in
/// the other's is a short form of it (Najib / Najibullah, Rahmat / Rahmatullah:
/// Dice about 0.6, as the long name has many bigrams of its own) and
/// compares as FUZZY. A four-letter start has four of its five bigrams in
/// the long name. The shorter filter needs CONTAINED_MIN_BITS bits, about
/// four letters, so that three-letter names (Ali in Alice, Ana in Anastasia)
/// do not count.
const CONTAINED_MIN: f64 = 0.8;
const CONTAINED_MIN_BITS: u32 = 26;

/// Compare two part lists; level of the best pair.
#[inline]
fn part_level(a: &PartEnc, b: &PartEnc) -> u8 {
    if a.exact == b.exact {
        return name::EXACT;
    }
    if a.variants().iter().any(|v| b.variants().contains(v)) {
        return name::VARIANT;
    }
    let o = overlap(&a.bloom, &b.bloom);
    let d = o.dice;
    if d >= 0.85 {
        return name::FUZZY_HIGH;
    }
    let phon = (a.phonetic[0] != 0 && (a.phonetic[0] == b.phonetic[0] || a.phonetic[0] == b.phonetic[1]))
        || (a.phonetic[1] != 0 && (a.phonetic[1] == b.phonetic[0] || a.phonetic[1] == b.phonetic[1]));
    if phon || a.nicknames().iter().any(|v| b.nicknames().contains(v)) {
        return name::NICK_OR_PHONETIC;
    }
    if d >= 0.7 {
        return name::FUZZY;
    }
    if o.contained >= CONTAINED_MIN && o.smaller_bits >= CONTAINED_MIN_BITS {
        return name::FUZZY;
    }
    if d >= ONE_EDIT_MIN_DICE && one_edit(a.edits(), b.edits()) {
        return name::ONE_EDIT;
    }
    name::NONE
}

/// Best match of `a`'s parts with `role` (or its glued alternates) among
/// the parts of `b` whose role is in `targets`, skipping the part index
/// `skip`. Returns (level, index in b, exact token); MISSING when either side
/// has nothing to compare.
/// `lv(i, j)`: level of a's part i against b's part j.
#[inline]
fn best(
    a: &Identity,
    role: Role,
    b: &Identity,
    targets: &[Role],
    skip: Option<usize>,
    lv: impl Fn(usize, usize) -> u8,
) -> (u8, Option<usize>, u64) {
    let mut best = (name::MISSING, None, 0u64);
    if !a.parts.iter().any(|p| p.role == role) {
        return best;
    }
    let glued = role.glued();
    for (i, pa) in a.parts.iter().enumerate().filter(|(_, p)| p.role == role || Some(p.role) == glued) {
        // Glued alternates only stand in when the plain parts did not match.
        if Some(pa.role) == glued && best.0 == name::EXACT {
            break;
        }
        for (j, pb) in b.parts.iter().enumerate() {
            if Some(j) == skip || !targets.contains(&pb.role) {
                continue;
            }
            let l = lv(i, j);
            if best.1.is_none() || l < best.0 {
                best = (l, Some(j), if l == name::EXACT { pa.exact } else { 0 });
            }
        }
    }
    best
}

/// Given and family levels seen from `a`, in two readings:
///
/// * **straight**: a's given name meets b's given or middle names, a's family
///   name meets b's family or middle names (a father's name written as the
///   surname elsewhere is often a middle name here);
/// * **swapped**: a's given name meets b's family name and the other way
///   round. This reading counts only when every name present agrees at least
///   loosely: one name that happens to be the other's surname (a father named
///   Hassan, a son surnamed Hassan) is not a swap.
///
/// One part of `b` never counts for both names.
fn names_from(a: &Identity, b: &Identity, lv: impl Fn(usize, usize) -> u8 + Copy) -> (u8, u8, u64, u64) {
    use Role::*;
    let skip_of = |l: (u8, Option<usize>, u64)| if l.0 < name::NONE { l.1 } else { None };
    let g = best(a, Given, b, &[Given, Middle, GluedGiven], None, lv);
    let f = best(a, Family, b, &[Family, Middle, GluedFamily], skip_of(g), lv);
    let straight = (g.0, f.0, g.2, f.2);
    let g = best(a, Given, b, &[Family, GluedFamily], None, lv);
    let f = best(a, Family, b, &[Given, GluedGiven], skip_of(g), lv);
    let agrees = |l: u8| l < name::NONE;
    let swapped_valid =
        (agrees(g.0) || g.0 == name::MISSING) && (agrees(f.0) || f.0 == name::MISSING) && (agrees(g.0) || agrees(f.0));
    if swapped_valid && name_score(g.0) + name_score(f.0) > name_score(straight.0) + name_score(straight.1) {
        (g.0, f.0, g.2, f.2)
    } else if !agrees(straight.0) && !agrees(straight.1) && (agrees(g.0) || agrees(f.0)) {
        // One crossed name and nothing else: its own level.
        let family = if straight.1 == name::MISSING { name::MISSING } else { name::NONE };
        (name::CROSSED, family, 0, 0)
    } else {
        straight
    }
}

/// Whether one of `x`'s given-name parts agrees with no part of `y` at
/// all: `x` has a given name `y` lacks (the agreeing name was another of
/// x's given names, or its middle name). Not when x's given names written
/// together agree closely with a part of y ("Mary Ann" / "Maryann": "Ann"
/// alone is too short to be a short form of "Maryann"), and an initial
/// ("John A") is not a name.
/// `lv(i, j)`: level of x's part i against y's part j.
fn extra_given(x: &Identity, y: &Identity, lv: impl Fn(usize, usize) -> u8) -> bool {
    let agrees_with_y = |i: usize, level: u8| (0..y.parts.len()).any(|j| lv(i, j) <= level);
    let glued_agrees = x.parts.iter().enumerate().any(|(i, p)| p.role == Role::GluedGiven && agrees_with_y(i, name::FUZZY_HIGH));
    !glued_agrees
        && x.parts.iter().enumerate().any(|(i, p)| p.role == Role::Given && !is_initial(p) && !agrees_with_y(i, name::ONE_EDIT))
}

/// A one-letter part: its Bloom filter holds two padded bigrams at most.
/// (Balanced filters, an optional hardening, hold a fixed number of bits,
/// so there an initial counts as a name.)
fn is_initial(p: &PartEnc) -> bool {
    p.bloom.iter().map(|w| w.count_ones()).sum::<u32>() <= 2 * BLOOM_K as u32
}

fn name_score(l: u8) -> u8 {
    // Higher is better; missing counts as nothing. The readings are chosen
    // among the levels up to CROSSED (COMPOUND_PART is set afterwards).
    const TOP: u8 = name::CROSSED + 1;
    if l >= TOP { 0 } else { (TOP - l) * 2 }
}

/// Given and family levels and exact tokens of a pair: the reading with
/// more agreement (both avoid double counting), then the compound-part
/// level. `lv(i, j)`: level of a's part i against b's part j.
#[inline]
fn names(a: &Identity, b: &Identity, lv: impl Fn(usize, usize) -> u8 + Copy) -> (u8, u8, u64, u64) {
    let x = names_from(a, b, lv);
    let y = names_from(b, a, |i, j| lv(j, i));
    let (mut given, family, mut gt, ft) = if name_score(x.0) + name_score(x.1) >= name_score(y.0) + name_score(y.1) { x } else { y };
    // Exact on one part of a compound given name only: its own level.
    if given == name::EXACT && (extra_given(a, b, lv) || extra_given(b, a, |i, j| lv(j, i))) {
        (given, gt) = (name::COMPOUND_PART, 0);
    }
    (given, family, gt, ft)
}

/// Whether two family-name parts of `a` agree exactly with two different
/// family-name parts of `b` (glued forms and middle names do not count).
/// Household members share a double surname too; strangers seldom do.
/// `lv(i, j)`: level of a's part i against b's part j.
fn two_family_parts(a: &Identity, b: &Identity, lv: impl Fn(usize, usize) -> u8) -> bool {
    let mut used = 0u64;
    let mut agreeing = 0;
    for (i, _) in a.parts.iter().enumerate().filter(|(_, p)| p.role == Role::Family) {
        let found = b.parts.iter().enumerate().take(64).find(|(j, p)| p.role == Role::Family && used & (1 << j) == 0 && lv(i, *j) == name::EXACT);
        if let Some((j, _)) = found {
            used |= 1 << j;
            agreeing += 1;
            if agreeing == 2 {
                return true;
            }
        }
    }
    false
}

/// Compare two identities.
pub fn compare(a: &Identity, b: &Identity) -> Levels {
    // Every part of a against every part of b, once (the level is
    // symmetric); both readings below look levels up.
    const MAX: usize = 8;
    let (given, family, gt, ft, family_two_parts) = if a.parts.len() <= MAX && b.parts.len() <= MAX {
        let mut grid = [[0u8; MAX]; MAX];
        for (i, pa) in a.parts.iter().enumerate() {
            for (j, pb) in b.parts.iter().enumerate() {
                grid[i][j] = part_level(pa, pb);
            }
        }
        let (g, f, gt, ft) = names(a, b, |i, j| grid[i][j]);
        (g, f, gt, ft, f == name::EXACT && two_family_parts(a, b, |i, j| grid[i][j]))
    } else {
        let lv = |i: usize, j: usize| part_level(&a.parts[i], &b.parts[j]);
        let (g, f, gt, ft) = names(a, b, lv);
        (g, f, gt, ft, f == name::EXACT && two_family_parts(a, b, lv))
    };
    let dob = match (&a.dob, &b.dob) {
        (Some(p), Some(q)) if !p.placeholder && !q.placeholder => {
            if p.full == q.full {
                dob::EXACT
            } else if (p.swapped != 0 && p.swapped == q.full) || (q.swapped != 0 && q.swapped == p.full) {
                dob::SWAPPED
            } else if p.year_month == q.year_month {
                dob::YEAR_MONTH
            } else if p.near_years.contains(&q.full) {
                dob::MONTH_DAY_NEAR_YEAR
            } else if p.month_day == q.month_day {
                dob::MONTH_DAY
            } else if p.year == q.year {
                dob::YEAR
            } else {
                dob::DISAGREE
            }
        }
        // A placeholder (01/01) is no evidence of the day; its year, often
        // estimated, is compared on its own.
        (Some(p), Some(q)) if p.year == q.year => dob::PLACEHOLDER_SAME_YEAR,
        (Some(_), Some(_)) => dob::PLACEHOLDER_OTHER_YEAR,
        _ => dob::MISSING,
    };
    let sex = match (a.sex, b.sex) {
        (0, _) | (_, 0) => simple::MISSING,
        (x, y) if x == y => simple::AGREE,
        _ => simple::DISAGREE,
    };
    let tax_id = match (a.tax_id, b.tax_id) {
        (0, _) | (_, 0) => simple::MISSING,
        (x, y) if x == y => simple::AGREE,
        _ => simple::DISAGREE,
    };
    // Phone and e-mail (personal, though a household may share them) apart
    // from the street address (shared by the whole household).
    let (mut personal, mut personal_agree) = (false, false);
    for (x, y) in [(a.phone, b.phone), (a.email, b.email)] {
        if x != 0 && y != 0 {
            personal = true;
            personal_agree |= x == y;
        }
    }
    let addresses = a.address != 0 && b.address != 0;
    let comparable = personal || addresses;
    let address_agree = addresses && a.address == b.address;
    let zip_agree = a.zip5 != 0 && a.zip5 == b.zip5;
    let streets = a.has_street() && b.has_street();
    let city_agree = a.city != 0 && a.city == b.city;
    let contact = if personal_agree {
        contact::AGREE
    } else if address_agree {
        if personal { contact::ADDRESS_OTHER_CONTACTS } else { contact::ADDRESS }
    } else if streets && dice(&a.street_bloom, &b.street_bloom) >= contact::NEAR_DICE {
        if zip_agree || city_agree { contact::NEAR_LOCAL } else { contact::NEAR_ADDRESS }
    } else if zip_agree && city_agree {
        contact::ZIP_CITY
    } else if zip_agree {
        contact::ZIP
    } else if city_agree {
        contact::CITY
    } else if comparable || (a.zip5 != 0 && b.zip5 != 0) || (a.city != 0 && b.city != 0) {
        contact::DISAGREE
    } else {
        contact::MISSING
    };
    Levels { given, family, dob, sex, tax_id, contact, same_partner: false, family_two_parts, given_token: gt, family_token: ft }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protect::encode::{Encoder, Hardening, RawIdentity};
    use crate::protect::normalize::NameOrder;
    use crate::protect::variants::NameVariants;
    use chrono::NaiveDate;
    use std::sync::Arc;

    fn enc() -> Encoder {
        Encoder::new(&crate::secret::Keys::for_tests(), Arc::new(NameVariants::parse(crate::protect::variants::BUILTIN, "t").unwrap()), Hardening::default())
    }

    fn id(e: &mut Encoder, g: &str, f: &str, dob: (i32, u32, u32)) -> Identity {
        e.encode(&RawIdentity {
            given: Some(g),
            family: Some(f),
            dob: NaiveDate::from_ymd_opt(dob.0, dob.1, dob.2),
            name_order: NameOrder::GivenFamily,
            ..Default::default()
        })
    }

    /// Both surnames of a double surname agreeing is its own level, however
    /// the partner wrote them; one of them, or one surname against a
    /// different second one, is plain exact agreement.
    #[test]
    fn both_parts_of_a_double_surname_agreeing_is_told_apart() {
        let mut e = enc();
        let d = (1990, 3, 4);
        let both = id(&mut e, "Maria", "Martinez Gomez", d);
        let hyphen = id(&mut e, "MARIA", "MARTÍNEZ-GÓMEZ", d);
        let particle = id(&mut e, "Maria", "de Martinez y Gomez", d);
        let first = id(&mut e, "Maria", "Martinez", d);
        let other = id(&mut e, "Maria", "Martinez Lopez", d);
        let twice = id(&mut e, "Maria", "Martinez Martinez", d);
        for (x, y, two) in [
            (&both, &hyphen, true),
            (&both, &particle, true),
            (&both, &first, false),
            (&first, &both, false),
            (&both, &other, false),
            (&twice, &first, false),
            (&twice, &both, false),
        ] {
            let l = compare(x, y);
            assert_eq!(l.family, name::EXACT);
            assert_eq!(l.family_two_parts, two, "{l:?}");
            assert_eq!(compare(y, x).family_two_parts, two);
        }
        // Only with the family name exact: a second surname agreeing next to
        // a first that only nearly does is not the level.
        let typo = id(&mut e, "Maria", "Martines Gomez", d);
        assert!(!compare(&both, &typo).family_two_parts);
    }

    /// A shared street address is split by what the phones and e-mails
    /// say: two members of one household (twins included) have their own.
    #[test]
    fn a_shared_address_is_told_apart_by_phones_and_e_mails() {
        let mut e = enc();
        let mut at = |phone: Option<&'static str>, email: Option<&'static str>| {
            e.encode(&RawIdentity {
                given: Some("Ana"),
                family: Some("Ruiz"),
                street: Some("54 Weipa Place"),
                zip: Some("94601"),
                phone,
                email,
                name_order: NameOrder::GivenFamily,
                ..Default::default()
            })
        };
        let quiet = at(None, None);
        let a = at(Some("510-555-2368"), Some("ana.ruiz@example.org"));
        let same_phone = at(Some("(510) 555-2368"), None);
        let other_phone = at(Some("510-555-7731"), None);
        let other_email = at(None, Some("dolores.ruiz@example.org"));
        let both_other = at(Some("510-555-7731"), Some("dolores.ruiz@example.org"));
        assert_eq!(compare(&a, &same_phone).contact, contact::AGREE);
        assert_eq!(compare(&a, &quiet).contact, contact::ADDRESS, "nothing personal to compare");
        assert_eq!(compare(&a, &other_phone).contact, contact::ADDRESS_OTHER_CONTACTS);
        assert_eq!(compare(&a, &other_email).contact, contact::ADDRESS_OTHER_CONTACTS);
        assert_eq!(compare(&a, &both_other).contact, contact::ADDRESS_OTHER_CONTACTS);
        // One agreeing contact is enough, whatever the other says.
        let mixed = at(Some("510-555-2368"), Some("dolores.ruiz@example.org"));
        assert_eq!(compare(&a, &mixed).contact, contact::AGREE);
        // A phone that differs where the address does not agree changes
        // nothing: the ZIP code is what is shared.
        let elsewhere = e.encode(&RawIdentity {
            given: Some("Ana"),
            street: Some("1200 Fruitvale Ave"),
            zip: Some("94601"),
            phone: Some("510-555-7731"),
            name_order: NameOrder::GivenFamily,
            ..Default::default()
        });
        assert_eq!(compare(&a, &elsewhere).contact, contact::ZIP);
    }

    #[test]
    fn a_street_line_with_a_typo_is_a_near_address_in_any_zip() {
        let mut e = enc();
        let mut at = |street: &'static str, zip: &'static str| {
            e.encode(&RawIdentity {
                given: Some("Ana"),
                family: Some("Ruiz"),
                street: Some(street),
                zip: Some(zip),
                name_order: NameOrder::GivenFamily,
                ..Default::default()
            })
        };
        let a = at("54 Weipa Place", "94601");
        assert_eq!(compare(&a, &at("54 Weipa Pl", "94601")).contact, contact::ADDRESS);
        assert_eq!(compare(&a, &at("54 weipap lace", "94601")).contact, contact::NEAR_LOCAL);
        assert_eq!(compare(&a, &at("54 Weipa Place", "94061")).contact, contact::NEAR_ADDRESS);
        assert_eq!(compare(&a, &at("1200 Fruitvale Ave", "94601")).contact, contact::ZIP);
        assert_eq!(compare(&a, &at("1200 Fruitvale Ave", "94061")).contact, contact::DISAGREE);
        // The city alone, in another ZIP code: its own, weaker level.
        let mut in_city = |zip: &'static str| {
            e.encode(&RawIdentity {
                given: Some("Ana"),
                street: Some("1200 Fruitvale Ave"),
                zip: Some(zip),
                city: Some("Oakland"),
                name_order: NameOrder::GivenFamily,
                ..Default::default()
            })
        };
        let (x, y) = (in_city("94601"), in_city("94612"));
        let far = in_city("94601");
        assert_eq!(compare(&x, &y).contact, contact::NEAR_LOCAL, "same street line, other ZIP, same city");
        let z = e.encode(&RawIdentity { given: Some("Ana"), zip: Some("94612"), city: Some("OAKLAND "), ..Default::default() });
        assert_eq!(compare(&x, &z).contact, contact::CITY);
        assert_eq!(compare(&far, &x).contact, contact::ADDRESS);
        let w = e.encode(&RawIdentity { given: Some("Ana"), zip: Some("94601"), city: Some("Oakland"), ..Default::default() });
        assert_eq!(compare(&x, &w).contact, contact::ZIP_CITY);
    }

    #[test]
    fn a_short_form_at_the_start_of_a_long_name_is_fuzzy() {
        let mut e = enc();
        let given = |e: &mut Encoder, a: &str, b: &str| {
            let (x, y) = (id(e, a, "Ahmadzai", (1982, 3, 4)), id(e, b, "Ahmadzai", (1982, 3, 4)));
            compare(&x, &y).given
        };
        assert_eq!(given(&mut e, "Najib", "Najibullah"), name::FUZZY);
        assert_eq!(given(&mut e, "Rahmatullah", "Rahmat"), name::FUZZY);
        // Three letters are too few to tell a short form from chance.
        assert_eq!(given(&mut e, "Ali", "Alice"), name::NONE);
        assert_eq!(given(&mut e, "Najib", "Habibullah"), name::NONE);
    }

    /// "Marie" against "Marie-Claire" (a mother and her daughter, or one
    /// person who dropped a second name) is not exact agreement; a second
    /// given name the other record has anywhere (as a middle name, glued,
    /// or spelled apart) is.
    #[test]
    fn one_part_of_a_compound_given_name_is_its_own_level() {
        let mut e = enc();
        let given = |e: &mut Encoder, a: &str, b: &str| {
            let (x, y) = (id(e, a, "Joseph", (1982, 3, 4)), id(e, b, "Joseph", (1982, 3, 4)));
            let (l, r) = (compare(&x, &y), compare(&y, &x));
            assert_eq!(l, r, "{a} / {b}");
            (l.given, l.given_token != 0)
        };
        assert_eq!(given(&mut e, "Marie", "Marie-Claire"), (name::COMPOUND_PART, false));
        assert_eq!(given(&mut e, "Maria Guadalupe", "Maria"), (name::COMPOUND_PART, false));
        assert_eq!(given(&mut e, "Marie Ange", "Marie-Claire"), (name::COMPOUND_PART, false));
        assert_eq!(given(&mut e, "Marie-Claire", "Marie Claire"), (name::EXACT, true));
        assert_eq!(given(&mut e, "Marie-Claire", "Marieclaire"), (name::EXACT, true));
        // A short second name written together: "Ann" alone is no short
        // form of "Maryann", but "Mary Ann" together is the same name.
        assert_eq!(given(&mut e, "Mary Ann", "Maryann"), (name::EXACT, true));
        assert_eq!(given(&mut e, "Anna Mae", "Annamae"), (name::EXACT, true));
        // An initial is not a second given name.
        assert_eq!(given(&mut e, "John A", "John"), (name::EXACT, true));
        assert_eq!(given(&mut e, "Marie", "Marie"), (name::EXACT, true));
        // A second part that agrees loosely is not an extra name.
        assert_eq!(given(&mut e, "Maria Guadelupe", "Maria Guadalupe"), (name::EXACT, true));
        // The second name written as a middle name elsewhere.
        let x = id(&mut e, "Maria Guadalupe", "Ruiz", (1982, 3, 4));
        let y = e.encode(&RawIdentity {
            given: Some("Maria"),
            middle: Some("Guadalupe"),
            family: Some("Ruiz"),
            name_order: NameOrder::GivenFamily,
            ..Default::default()
        });
        assert_eq!(compare(&x, &y).given, name::EXACT);
        // A Burmese mother and daughter: the daughter's name written
        // "Family, Given Middle", the family field repeating a given name.
        let x = id(&mut e, "Eh", "Eh", (1973, 2, 1));
        let y = e.encode(&RawIdentity { full: Some("EH,KYAW EH"), name_order: NameOrder::GivenFamily, ..Default::default() });
        assert_eq!(compare(&x, &y).given, name::COMPOUND_PART, "{:?}", compare(&x, &y));
        // Known by the middle name elsewhere: the given name agrees with
        // nothing.
        let x = e.encode(&RawIdentity { given: Some("John"), middle: Some("Paul"), family: Some("Kim"), ..Default::default() });
        let y = id(&mut e, "Paul", "Kim", (1973, 2, 1));
        assert_eq!(compare(&x, &y).given, name::COMPOUND_PART);
    }

    #[test]
    fn swapped_names_agree_fully() {
        let mut e = enc();
        let a = id(&mut e, "An", "Nguyen", (1980, 4, 2));
        let b = id(&mut e, "Nguyen", "An", (1980, 4, 2));
        let l = compare(&a, &b);
        assert_eq!((l.given, l.family), (name::EXACT, name::EXACT));
    }

    #[test]
    fn one_part_is_not_counted_twice() {
        let mut e = enc();
        let a = id(&mut e, "Garcia", "Maria", (1980, 4, 2));
        let b = id(&mut e, "Maria", "Lopez", (1980, 4, 2));
        let l = compare(&a, &b);
        // Maria is A's surname and B's given name: one crossed name is not a
        // swap; it is its own, weaker level.
        assert_eq!((l.given, l.family), (name::CROSSED, name::NONE), "{l:?}");
    }

    #[test]
    fn transliterations_compound_names_and_dates() {
        let mut e = enc();
        let a = id(&mut e, "Mohammed", "Al-Hassan", (1975, 3, 9));
        let b = id(&mut e, "Muhammad", "Hassan", (1975, 9, 3));
        let l = compare(&a, &b);
        assert_eq!(l.given, name::VARIANT);
        assert_eq!(l.family, name::EXACT);
        assert_eq!(l.dob, dob::SWAPPED);
        let c = id(&mut e, "Maria", "Garcia Lopez", (1990, 1, 1));
        let d = id(&mut e, "Maria", "Lopez", (1990, 6, 17));
        let l = compare(&c, &d);
        assert_eq!(l.family, name::EXACT);
        assert_eq!(l.dob, dob::PLACEHOLDER_SAME_YEAR, "a placeholder is no evidence of the day, only of the year");
        let e2 = id(&mut e, "Maria", "Lopez", (1991, 6, 17));
        assert_eq!(compare(&c, &e2).dob, dob::PLACEHOLDER_OTHER_YEAR, "its year is compared on its own");
    }

    #[test]
    fn a_father_s_name_as_a_surname_is_not_a_swap() {
        let mut e = enc();
        // Father Hassan Ali; his son Omar, surnamed after him: Omar Hassan.
        let father = id(&mut e, "Hassan", "Ali", (1970, 1, 1));
        let son = id(&mut e, "Omar", "Hassan", (2001, 1, 1));
        let l = compare(&father, &son);
        assert_eq!((l.given, l.family), (name::CROSSED, name::NONE), "{l:?}");
        assert_eq!(l.dob, dob::PLACEHOLDER_OTHER_YEAR);
        // The same man recorded with his father's name as the surname.
        let full = e.encode(&RawIdentity {
            given: Some("Ahmed"),
            middle: Some("Hassan"),
            family: Some("Ali"),
            dob: NaiveDate::from_ymd_opt(1980, 4, 2),
            ..Default::default()
        });
        let short = id(&mut e, "Ahmed", "Hassan", (1980, 4, 2));
        let l = compare(&full, &short);
        assert_eq!((l.given, l.family), (name::EXACT, name::EXACT), "{l:?}");
    }

    #[test]
    fn mononyms_recorded_either_way_agree() {
        let mut e = enc();
        let a = id(&mut e, "FNU", "Farid", (1990, 4, 2));
        let b = id(&mut e, "Farid", "LNU", (1990, 4, 2));
        let l = compare(&a, &b);
        assert!(l.given == name::EXACT || l.family == name::EXACT, "{l:?}");
    }

    #[test]
    fn a_glued_family_name_never_stands_in_for_a_given_name() {
        let mut e = enc();
        let a = id(&mut e, "Ahmed", "Al-Najjar", (2000, 6, 3));
        let b = id(&mut e, "Mustafa", "Al-Najjar", (2007, 8, 26));
        let l = compare(&a, &b);
        assert_eq!(l.given, name::NONE, "{l:?}");
        assert_eq!(l.family, name::EXACT);
    }

    #[test]
    fn typos_are_fuzzy() {
        let mut e = enc();
        let a = id(&mut e, "Guadalupe", "Hernandez", (1975, 3, 19));
        let b = id(&mut e, "Guadalpue", "Hernandes", (1976, 3, 19));
        let l = compare(&a, &b);
        assert!(l.given <= name::FUZZY, "{l:?}");
        assert!(l.family <= name::NICK_OR_PHONETIC, "{l:?}");
        assert_eq!(l.dob, dob::MONTH_DAY_NEAR_YEAR);
    }

    #[test]
    fn one_typo_in_a_short_name_is_its_own_level() {
        let mut e = enc();
        let d = (1990, 6, 14);
        let level = |e: &mut Encoder, x: &str, y: &str| compare(&id(e, x, "Garcia", d), &id(e, y, "Garcia", d)).given;
        // Short names: one typo pulls the Bloom filters apart.
        assert_eq!(level(&mut e, "Luis", "Luls"), name::ONE_EDIT);
        assert_eq!(level(&mut e, "Juan", "Ujan"), name::ONE_EDIT);
        assert_eq!(level(&mut e, "Walid", "Waiid"), name::ONE_EDIT);
        // Two typos, or another name, still disagree.
        assert_eq!(level(&mut e, "Luis", "Lucas"), name::NONE);
        assert_eq!(level(&mut e, "Juan", "Jose"), name::NONE);
        // Stronger levels win where they apply.
        assert_eq!(level(&mut e, "Luis", "Luis"), name::EXACT);
        // In the family name too.
        let a = id(&mut e, "Ana", "Soto", d);
        let b = id(&mut e, "Ana", "Sotp", d);
        assert_eq!(compare(&a, &b).family, name::ONE_EDIT);
    }
}
