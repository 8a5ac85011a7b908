//! Keyed match tokens and Bloom-filter encodings.
//!
//! * A **token** is the first 64 bits of `BLAKE3-keyed(field key, value)`.
//!   Equal tokens mean equal normalized values; without the secret a token
//!   cannot be recomputed from a guess.
//! * A **Bloom filter** (256 bits per name part) sets, for every padded
//!   bigram of the part, `k` positions derived from the keyed hash of the
//!   bigram. The Dice coefficient of two filters approximates the bigram
//!   similarity of the names, so typos and transliteration noise still
//!   compare as close, while the names themselves are never stored.
//!
//! * The street line gets a Bloom filter of its own (same construction,
//!   its own key), so "54 weipa place" and "54 weipap lace" compare as the
//!   near-same address they are.
//!
//! A bigram's positions depend only on the key and the bigram, so each
//! encoder remembers them per bigram (a table of 65,536 entries per key)
//! instead of hashing every bigram of every value again.
//!
//! Hardening (see `docs/linkage.md`): XOR-folding, balancing and salting are
//! optional and off by default.

use std::sync::Arc;

use chrono::{Datelike, NaiveDate};
use rphonetic::DoubleMetaphone;
use serde::Deserialize;

use super::normalize::{self, NameOrder, Role, TaxIdKind};
use super::variants::NameVariants;
use crate::secret::{Keys, Purpose};

/// Bits per name-part Bloom filter.
pub const BLOOM_BITS: usize = 256;
pub const BLOOM_WORDS: usize = BLOOM_BITS / 64;
/// Positions set per bigram.
pub const BLOOM_K: u64 = 6;

pub type Bloom = [u64; BLOOM_WORDS];

/// Optional hardening of the Bloom filters against frequency and pattern
/// attacks. Each costs some linkage quality; see `docs/linkage.md`.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Hardening {
    /// XOR the two halves of each filter (256 -> 128 informative bits).
    #[serde(default)]
    pub xor_fold: bool,
    /// Balanced filters: 128 bits plus their complement, permuted by a keyed
    /// permutation, so every filter has exactly half its bits set.
    #[serde(default)]
    pub balance: bool,
    /// Salt every filter with the birth year, so filters of people born in
    /// different years cannot be compared (or attacked) across years.
    #[serde(default)]
    pub salt_birth_year: bool,
}

/// A name part, encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartEnc {
    pub role: Role,
    n_variants: u8,
    n_nicknames: u8,
    /// Token of the exact folded part.
    pub exact: u64,
    /// Tokens of the Double Metaphone codes (primary, alternate; 0 if none).
    pub phonetic: [u64; 2],
    pub bloom: Bloom,
    /// The tokens of the part's variant groups (same name, other spelling),
    /// then of its nickname and cognate groups, then its one-edit
    /// neighbourhood (see [`PartEnc::edits`]). One allocation: the compare
    /// loop reads one more cache line for a part, not three (a million
    /// records' parts are far bigger than the caches, so every line it
    /// reads of the other identity of a pair is a wait for memory).
    tokens: Box<[u64]>,
}

impl PartEnc {
    pub fn new(role: Role, exact: u64, variants: &[u64], nicknames: &[u64], phonetic: [u64; 2], bloom: Bloom, edits: &[u64]) -> PartEnc {
        let tokens: Box<[u64]> = variants.iter().chain(nicknames).chain(edits).copied().collect();
        let count = |n: usize| u8::try_from(n).expect("at most 255 tokens of a kind");
        PartEnc { role, n_variants: count(variants.len()), n_nicknames: count(nicknames.len()), exact, phonetic, bloom, tokens }
    }

    /// Tokens of the variant groups (same name, other spelling).
    #[inline]
    pub fn variants(&self) -> &[u64] {
        &self.tokens[..self.n_variants as usize]
    }

    /// Tokens of the nickname and cognate groups.
    #[inline]
    pub fn nicknames(&self) -> &[u64] {
        let v = self.n_variants as usize;
        &self.tokens[v..v + self.n_nicknames as usize]
    }

    /// One-edit neighbourhood: the 32-bit token of the part, then those of
    /// the strings made by deleting its first, second, ... letter (each in
    /// a word of its own). Two parts one typo apart (a letter changed,
    /// added, dropped, or two neighbours swapped) share a token at known
    /// places (see [`one_edit`]). Only parts of [`ONE_EDIT_MIN`] to
    /// [`ONE_EDIT_MAX`] letters have one: shorter ones meet too many other
    /// names, and in longer ones a typo keeps the Bloom filters' Dice at or
    /// above 0.7 anyway.
    #[inline]
    pub fn edits(&self) -> &[u64] {
        &self.tokens[self.n_variants as usize + self.n_nicknames as usize..]
    }

    /// Where the tokens lie (None: it has none), for the compare loop to
    /// fetch them ahead.
    #[inline]
    pub fn tokens_ptr(&self) -> Option<*const u64> {
        (!self.tokens.is_empty()).then_some(self.tokens.as_ptr())
    }

    /// The part's bytes in layout `version`, after its role.
    fn write_body(&self, version: u8, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.exact.to_le_bytes());
        out.push(self.variants().len() as u8);
        for v in self.variants() {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.push(self.nicknames().len() as u8);
        for v in self.nicknames() {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for v in self.phonetic {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for w in self.bloom {
            out.extend_from_slice(&w.to_le_bytes());
        }
        if version >= 6 {
            out.push(self.edits().len() as u8);
            for v in self.edits() {
                out.extend_from_slice(&(*v as u32).to_le_bytes());
            }
        }
    }
}

// A part and a line of tokens: the compare loop reads every part of both
// identities of a pair.
#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<PartEnc>() == 80);

/// Name fields whose cleaned words an encoder keeps (a partner's people
/// have some thousands of distinct given and family names). A file of
/// unique texts fills it at a few megabytes; it is then emptied and fills
/// again.
const WORDS_CACHED: usize = 100_000;

/// Bytes of cleaned words at which that cache is emptied too (a partner
/// with very long name fields).
const WORD_TEXT_BYTES: usize = 16 << 20;

/// Name parts whose encodings an encoder keeps, emptied when full like
/// [`WORDS_CACHED`] (some tens of megabytes: a part's encoding, bytes and
/// table entry take a few hundred bytes).
const PARTS_CACHED: usize = 200_000;

/// Name parts an identity holds at most (counted in one byte).
const MAX_PARTS: usize = u8::MAX as usize;

/// Shortest and longest name part with a one-edit neighbourhood.
pub const ONE_EDIT_MIN: usize = 3;
pub const ONE_EDIT_MAX: usize = 12;
/// Dice of the name filters below which two parts cannot be one typo apart
/// (unhardened filters). One typo leaves at least one of the padded bigrams
/// of a part of three letters or more, so at least a quarter of them, and
/// every shared bigram sets the same bits in both filters: Dice stays at or
/// above about 0.25. Unrelated names mostly fall below, so the compare loop
/// reads their neighbourhoods only when this bound is met. Balanced filters
/// always meet it; XOR-folded ones can miss it for a pair one typo apart,
/// which then compares as it did before neighbourhoods existed.
pub const ONE_EDIT_MIN_DICE: f64 = 0.2;

/// A date of birth, encoded for exact and partial comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DobEnc {
    pub full: u64,
    /// The day/month-swapped date, when it is a valid other date.
    pub swapped: u64,
    pub year_month: u64,
    pub month_day: u64,
    pub year: u64,
    /// Same day and month with the year one lower or higher (typos).
    pub near_years: [u64; 2],
    /// January 1st: only the year is evidence.
    pub placeholder: bool,
}

/// Everything the link step knows about one record: tokens and encodings,
/// never values.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Identity {
    pub parts: Vec<PartEnc>,
    pub dob: Option<DobEnc>,
    /// 1 female, 2 male, 3 nonbinary, 0 unknown.
    pub sex: u8,
    pub tax_id: u64,
    /// 1 SSN, 2 ITIN, 0 none.
    pub tax_id_kind: u8,
    pub phone: u64,
    pub email: u64,
    pub address: u64,
    pub zip5: u64,
    /// Bloom filter of the street line (all zero: none).
    pub street_bloom: Bloom,
    /// Token of the city (0: none).
    pub city: u64,
    /// Token of the house number and ZIP code (0: none), for blocking.
    pub house_zip: u64,
    /// Token of the street's name word ("mcintyre" in "92 McIntyre St")
    /// and the house number (0: none), for blocking: survives a mistyped
    /// street type and ZIP code.
    pub street_house: u64,
    /// Token of the street's name word and the initials of the given and
    /// family name, in either order (0: none), for blocking: survives a
    /// changed house number, ZIP code and city along with typos in both
    /// names.
    pub street_initials: u64,
}

impl Identity {
    /// Whether the record has a street-line filter.
    pub fn has_street(&self) -> bool {
        self.street_bloom != [0; BLOOM_WORDS]
    }

    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
            && self.dob.is_none()
            && self.tax_id == 0
            && self.phone == 0
            && self.email == 0
            && self.address == 0
    }
}

/// Raw identifiers of one row, borrowed for the time it takes to encode them.
#[derive(Debug, Default, Clone, Copy)]
pub struct RawIdentity<'a> {
    pub given: Option<&'a str>,
    pub middle: Option<&'a str>,
    pub family: Option<&'a str>,
    pub full: Option<&'a str>,
    pub name_order: NameOrder,
    pub dob: Option<NaiveDate>,
    pub sex: Option<u8>,
    pub tax_id: Option<&'a str>,
    pub phone: Option<&'a str>,
    pub email: Option<&'a str>,
    pub street: Option<&'a str>,
    pub zip: Option<&'a str>,
    pub city: Option<&'a str>,
}

/// Field keys, derived once.
#[derive(Clone)]
struct FieldKeys {
    name: [u8; 32],
    variant: [u8; 32],
    nickname: [u8; 32],
    phonetic: [u8; 32],
    bloom: [u8; 32],
    perm: [u8; 32],
    dob: [u8; 32],
    tax_id: [u8; 32],
    phone: [u8; 32],
    email: [u8; 32],
    address: [u8; 32],
    zip: [u8; 32],
    street_bloom: [u8; 32],
    city: [u8; 32],
    house_zip: [u8; 32],
    street_house: [u8; 32],
    street_initials: [u8; 32],
    one_edit: [u8; 32],
}

/// A text (a name part, a name field) and a salt as a key of the
/// encoder's caches: 128 bits of an unkeyed hash. The caches hold a few
/// hundred thousand texts at most, so two of them share a key with odds of
/// about 1 in 10^28; and the lookup needs no second read, of the text
/// itself, from wherever it lies in memory (on the ingest benchmark a good
/// part of each lookup's time was that read missing the cache). The keys
/// never leave memory, so the hash needs no secret. XXH3 is not made to
/// resist a collision crafted on purpose, but one would gain its author
/// nothing: an encoder serves one partner's file, so a crafted name could
/// only give that partner's own rows another of their own names' encoding,
/// which writing that name does as well (docs/decisions.md, decision 42).
type TextKey = [u64; 2];

fn text_key(text: &str, salt: i32) -> TextKey {
    let h = twox_hash::XxHash3_128::oneshot_with_seed(salt as u32 as u64, text.as_bytes());
    [h as u64, (h >> 64) as u64]
}

/// Encodes identities. Holds a per-instance cache of name parts (names
/// repeat a lot), so use one per worker thread.
pub struct Encoder {
    keys: Arc<FieldKeys>,
    variants: Arc<NameVariants>,
    hardening: Hardening,
    metaphone: DoubleMetaphone,
    /// Name part and salt ([`text_key`]) -> its index in `parts`.
    cache: foldhash::HashMap<TextKey, u32>,
    /// The cached parts ([`CachedPart`]); their bytes lie together in
    /// `part_bytes`.
    parts: Vec<CachedPart>,
    part_bytes: Vec<u8>,
    /// Each cached part's reference in the part dictionary ([`part_ref`])
    /// and whether its entry was written ([`Encoder::enter_parts`]): read
    /// for every part of every row, so kept apart from the rest, in
    /// memory that stays in the processor's caches.
    refs: Vec<PartRef>,
    entered: Vec<bool>,
    /// Name fields and name parts at which those caches are emptied
    /// ([`WORDS_CACHED`], [`PARTS_CACHED`]; smaller in tests).
    caps: (usize, usize),
    /// Date-of-birth encodings by (date, placeholder).
    dobs: foldhash::HashMap<(chrono::NaiveDate, bool), DobEnc>,
    /// ZIP codes (5 digits, token) and city tokens by the partner's text:
    /// a partner's people live in a few hundred of each.
    zips: foldhash::HashMap<String, Option<([u8; 5], u64)>>,
    cities: foldhash::HashMap<String, u64>,
    /// The name parts of the last row encoded by [`Encoder::encode_bytes`],
    /// as indexes in `parts`: what [`Encoder::enter_parts`] enters.
    last: Vec<(Role, u32)>,
    /// The cleaned words of name fields ([`normalize::clean_words`]), each
    /// field's joined by spaces, one after another; `words` maps the
    /// partner's text of a field ([`text_key`]) to its span here.
    word_text: String,
    words: foldhash::HashMap<TextKey, (u32, u32)>,
    /// The name parts of the row at hand (reused from row to row).
    names: normalize::NameParts,
    /// The row's normalized e-mail address (reused from row to row).
    email: Vec<u8>,
    /// Bigram positions of the name and street filters (unsalted).
    name_grams: GramTable,
    street_grams: GramTable,
}

/// A name part in the encoder's cache.
struct CachedPart {
    /// Its encoding (the role set where it is used: it depends on where
    /// the part stands in a name).
    enc: PartEnc,
    /// Span in `part_bytes` of its body in the inline layout (all but the
    /// role).
    start: u32,
    end: u32,
}

/// The two numbers a bigram's Bloom positions derive from, per bigram: the
/// keyed hash of a bigram never changes, so it is computed once.
struct GramTable {
    slots: Vec<(u64, u64)>,
}

impl GramTable {
    fn new() -> GramTable {
        GramTable { slots: Vec::new() }
    }

    /// (start, step) of a bigram under `key`, salted or not.
    fn get(&mut self, key: &[u8; 32], gram: [u8; 2], salt: i32) -> (u64, u64) {
        if salt != 0 {
            return gram_hash(key, gram, salt);
        }
        if self.slots.is_empty() {
            self.slots = vec![(0, 0); 1 << 16];
        }
        let i = (gram[0] as usize) << 8 | gram[1] as usize;
        if self.slots[i].1 == 0 {
            self.slots[i] = gram_hash(key, gram, 0);
        }
        self.slots[i]
    }
}

/// Keyed hash of some pieces of bytes, one after another, then of the salt
/// unless it is 0 (the salted Bloom filters and one-edit neighbourhoods).
fn salted_hash(key: &[u8; 32], pieces: &[&[u8]], salt: i32) -> blake3::Hash {
    let mut hasher = blake3::Hasher::new_keyed(key);
    for p in pieces {
        hasher.update(p);
    }
    if salt != 0 {
        hasher.update(&salt.to_le_bytes());
    }
    hasher.finalize()
}

/// Keyed hash of one bigram (and salt): start and odd step of its positions.
fn gram_hash(key: &[u8; 32], gram: [u8; 2], salt: i32) -> (u64, u64) {
    let hash = salted_hash(key, &[&gram], salt);
    let bytes = hash.as_bytes();
    let a = u64::from_le_bytes(bytes[..8].try_into().expect("8"));
    let c = u64::from_le_bytes(bytes[8..16].try_into().expect("8")) | 1;
    (a, c)
}

/// First 64 bits of the keyed hash, never 0 (0 means "absent").
pub fn token(key: &[u8; 32], value: &[u8]) -> u64 {
    let h = blake3::keyed_hash(key, value);
    let v = u64::from_le_bytes(h.as_bytes()[..8].try_into().expect("8 bytes"));
    if v == 0 { 1 } else { v }
}

/// [`token`] of `a|b`.
fn token_joined(key: &[u8; 32], a: &[u8], b: &[u8]) -> u64 {
    with_joined(a, b'|', b, |v| token(key, v))
}

/// `f` of `a`, `sep` and `b` one after another, joined on the stack when
/// short (the hot path allocates nothing).
fn with_joined<R>(a: &[u8], sep: u8, b: &[u8], f: impl FnOnce(&[u8]) -> R) -> R {
    let mut buf = [0u8; 128];
    let len = a.len() + 1 + b.len();
    if len > buf.len() {
        return f(&[a, &[sep], b].concat());
    }
    buf[..a.len()].copy_from_slice(a);
    buf[a.len()] = sep;
    buf[a.len() + 1..len].copy_from_slice(b);
    f(&buf[..len])
}

/// 128-bit keyed hash as 32 hex digits: record keys and employer keys.
pub fn hex_key(key: &[u8; 32], value: &[u8]) -> String {
    hex128(&blake3::keyed_hash(key, value))
}

/// The first 128 bits of a hash as 32 lowercase hex digits.
fn hex128(h: &blake3::Hash) -> String {
    h.to_hex()[..32].to_string()
}

/// The record key of a partner record: keyed hash of partner and record id.
pub fn record_key(keys: &Keys, partner: &str, record_id: &str) -> String {
    record_key_with(&keys.key(Purpose::RecordKey), partner, record_id)
}

/// [`record_key`] with the purpose key already derived (hot path).
pub fn record_key_with(key: &[u8; 32], partner: &str, record_id: &str) -> String {
    // Partner, a unit separator, the id: one keyed hash of the three, as
    // hashing them one after another would give.
    hex128(&with_joined(partner.as_bytes(), 0x1f, record_id.trim().as_bytes(), |v| blake3::keyed_hash(key, v)))
}

/// A record key's entry on the withdrawal list (`braid forget`): its keyed
/// hash under the secret's forget key, so the list holds no record key.
pub fn forget_entry(forget_key: &[u8; 32], record_key: &str) -> String {
    hex_key(forget_key, record_key.as_bytes())
}

/// Employer key: keyed hash of the employer id, with punctuation removed.
pub fn employer_key(keys: &Keys, employer_id: &str) -> Option<String> {
    employer_key_with(&keys.key(Purpose::EmployerKey), employer_id)
}

/// [`employer_key`] with the purpose key already derived (hot path).
pub fn employer_key_with(key: &[u8; 32], employer_id: &str) -> Option<String> {
    let norm: String = employer_id.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_uppercase()).collect();
    (!norm.is_empty()).then(|| hex_key(key, norm.as_bytes()))
}

impl Encoder {
    pub fn new(keys: &Keys, variants: Arc<NameVariants>, hardening: Hardening) -> Encoder {
        let t = |f: &str| keys.field_key(Purpose::Token, f);
        let fk = FieldKeys {
            name: t("name part"),
            variant: t("name variant group"),
            nickname: t("name nickname group"),
            phonetic: t("name phonetic"),
            bloom: keys.field_key(Purpose::Bloom, "name part"),
            perm: keys.field_key(Purpose::Bloom, "balance permutation"),
            dob: t("dob"),
            tax_id: t("ssn or itin"),
            phone: t("phone"),
            email: t("email"),
            address: t("street address"),
            zip: t("zip5"),
            street_bloom: keys.field_key(Purpose::Bloom, "street address"),
            city: t("city"),
            house_zip: t("house number + zip5"),
            street_house: t("street name + house number"),
            street_initials: t("street name + name initials"),
            one_edit: t("name part one-edit neighbourhood"),
        };
        Encoder {
            keys: Arc::new(fk),
            variants,
            hardening,
            metaphone: DoubleMetaphone::default(),
            cache: Default::default(),
            parts: Vec::new(),
            refs: Vec::new(),
            entered: Vec::new(),
            part_bytes: Vec::new(),
            caps: (WORDS_CACHED, PARTS_CACHED),
            dobs: Default::default(),
            zips: Default::default(),
            cities: Default::default(),
            last: Vec::new(),
            word_text: String::new(),
            words: Default::default(),
            names: Default::default(),
            email: Vec::new(),
            name_grams: GramTable::new(),
            street_grams: GramTable::new(),
        }
    }

    /// Encode one row's identifiers. The raw values are only borrowed.
    pub fn encode(&mut self, raw: &RawIdentity<'_>) -> Identity {
        let mut parts = Vec::new();
        let mut id = self.encode_parts(raw, &mut parts);
        id.parts = parts.iter().map(|&(role, i)| PartEnc { role, ..self.parts[i as usize].enc.clone() }).collect();
        self.last.clear();
        id
    }

    /// [`Encoder::encode`], appended to `out` in the stored layout
    /// ([`LAYOUT_VERSION`]): each name part by its reference in the part
    /// dictionary, whose entries [`Encoder::enter_parts`] then writes for
    /// the parts not entered yet. Returns whether the identity is not empty
    /// ([`Identity::is_empty`]).
    pub fn encode_bytes(&mut self, raw: &RawIdentity<'_>, out: &mut Vec<u8>) -> bool {
        let mut parts = std::mem::take(&mut self.last);
        parts.clear();
        let id = self.encode_parts(raw, &mut parts);
        out.push(LAYOUT_VERSION);
        out.push(parts.len() as u8);
        for &(role, i) in &parts {
            out.push(role as u8);
            out.extend_from_slice(&self.refs[i as usize]);
        }
        id.write_rest(out);
        let not_empty = !(parts.is_empty() && id.is_empty());
        self.last = parts;
        not_empty
    }

    /// The identity [`Encoder::encode_bytes`] just wrote (`stored`, in the
    /// stored layout) in the inline layout ([`INLINE_LAYOUT`]), as
    /// [`Identity::to_bytes`] writes it: each part's bytes in place of its
    /// reference. (The record key of a row without a record id is made
    /// from these bytes, so it does not depend on the stored layout.)
    pub fn inline_bytes(&self, stored: &[u8]) -> Vec<u8> {
        let n = self.last.len();
        let rest = 2 + n * (1 + PART_REF_BYTES);
        assert!(stored.len() >= rest && stored[1] as usize == n, "the identity encode_bytes just wrote");
        let mut out = Vec::with_capacity(stored.len() + n * 100);
        out.push(INLINE_LAYOUT);
        out.push(n as u8);
        for &(role, i) in &self.last {
            let p = &self.parts[i as usize];
            out.push(role as u8);
            out.extend_from_slice(&self.part_bytes[p.start as usize..p.end as usize]);
        }
        out.extend_from_slice(&stored[rest..]);
        out
    }

    /// Write the dictionary entries ([`PART_ENTRY`]) of the name parts of
    /// the identity [`Encoder::encode_bytes`] just wrote that this encoder
    /// has not entered yet. Called for identities that are stored (a row
    /// without consent enters none of its parts): the entries go into the
    /// same file, before the identities that refer to them.
    pub fn enter_parts(&mut self, entries: &mut PartEntries) {
        for &(_, i) in &self.last {
            let i = i as usize;
            if !self.entered[i] {
                self.entered[i] = true;
                let p = &self.parts[i];
                entries.push(&self.refs[i], &self.part_bytes[p.start as usize..p.end as usize]);
            }
        }
    }

    /// The name parts (into `parts`, from the cache) and every other field.
    fn encode_parts(&mut self, raw: &RawIdentity<'_>, parts: &mut Vec<(Role, u32)>) -> Identity {
        let k = self.keys.clone();
        let mut id = Identity::default();
        // Full caches are emptied between rows, never within one: a row's
        // parts are indexes into them.
        if self.words.len() >= self.caps.0 || self.word_text.len() >= WORD_TEXT_BYTES {
            self.words.clear();
            self.word_text.clear();
        }
        if self.parts.len() >= self.caps.1 {
            // (A part seen again is computed and entered again: the reader
            // takes an entry it already has as it is.)
            self.cache.clear();
            self.parts.clear();
            self.part_bytes.clear();
            self.refs.clear();
            self.entered.clear();
        }
        let [given, middle, family] = [raw.given, raw.middle, raw.family].map(|t| t.map(|t| self.field_words(t)));
        let text = |span: Option<(u32, u32)>| span.map_or("", |(start, end)| &self.word_text[start as usize..end as usize]);
        let mut names = std::mem::take(&mut self.names);
        normalize::name_parts_with(text(given), text(middle), text(family), raw.full, raw.name_order, &mut names);
        let dob = raw.dob.and_then(normalize::dob);
        let salt = if self.hardening.salt_birth_year { dob.map(|d| d.date.year()).unwrap_or(0) } else { 0 };
        // An identity counts its parts in one byte: a name field of
        // hundreds of words (within the field length limit) keeps its first
        // 255, and still reads back.
        for (role, part) in names.iter().take(MAX_PARTS) {
            parts.push((role, self.part(part, salt)));
        }
        if let Some(d) = dob {
            id.dob = Some(self.dob(d));
        }
        id.sex = raw.sex.unwrap_or(0);
        if let Some((digits, kind)) = raw.tax_id.and_then(normalize::tax_id) {
            id.tax_id = token(&k.tax_id, digits.as_bytes());
            id.tax_id_kind = match kind {
                TaxIdKind::Ssn => 1,
                TaxIdKind::Itin => 2,
            };
        }
        if let Some(p) = raw.phone.and_then(normalize::phone_e164) {
            id.phone = token(&k.phone, p.as_bytes());
        }
        if let Some(e) = raw.email
            && normalize::email_into(e, &mut self.email)
        {
            id.email = token(&k.email, &self.email);
        }
        let zip_enc = raw.zip.and_then(|z| self.zip(z));
        id.zip5 = zip_enc.map_or(0, |(_, t)| t);
        let zip = zip_enc.as_ref().map(|(digits, _)| std::str::from_utf8(digits).expect("ASCII digits"));
        if let Some(s) = raw.street.and_then(normalize::street_words) {
            let street_word = normalize::street_name_word(&s);
            if normalize::is_address(&s) {
                // The same street line in another ZIP is another address.
                let z = zip.unwrap_or("");
                id.address = token_joined(&k.address, s.as_bytes(), z.as_bytes());
                // The house number in its ZIP code survives a mistyped street
                // name (blocking only).
                let number = s.split_ascii_whitespace().next().filter(|w| w.bytes().all(|b| b.is_ascii_digit()));
                if let (Some(n), Some(z)) = (number, zip) {
                    id.house_zip = token_joined(&k.house_zip, n.as_bytes(), z.as_bytes());
                }
                if let (Some(n), Some(w)) = (number, street_word) {
                    id.street_house = token_joined(&k.street_house, w.as_bytes(), n.as_bytes());
                }
            }
            // The street's name word with the name initials: survives a
            // changed house number, street type, ZIP code and city.
            if let (Some(w), Some(ini)) = (street_word, names.initials()) {
                id.street_initials = token_joined(&k.street_initials, w.as_bytes(), ini.as_bytes());
            }
            if normalize::names_a_street(&s) {
                // Without spaces: a space typed in the wrong place ("weipap
                // lace") changes no bigram but the ones around it.
                let letters = s.bytes().filter(|b| *b != b' ');
                id.street_bloom = bloom_of(&mut self.street_grams, &k.street_bloom, &k.perm, letters, salt, &self.hardening);
            }
        }
        if let Some(c) = raw.city {
            id.city = self.city(c);
        }
        self.names = names;
        id
    }

    /// The 5-digit ZIP code of a partner's ZIP text ([`normalize::zip5`]),
    /// from the same cache as its token.
    pub fn zip5(&mut self, text: &str) -> Option<[u8; 5]> {
        self.zip(text).map(|(digits, _)| digits)
    }

    /// The 5-digit ZIP code of a partner's ZIP text and its token (cached).
    fn zip(&mut self, text: &str) -> Option<([u8; 5], u64)> {
        if let Some(z) = self.zips.get(text) {
            return *z;
        }
        let z = normalize::zip5(text).map(|z| {
            let digits: [u8; 5] = z.as_bytes().try_into().expect("5 digits");
            (digits, token(&self.keys.zip, &digits))
        });
        if self.zips.len() < 100_000 {
            self.zips.insert(text.to_string(), z);
        }
        z
    }

    /// The token of a partner's city text, 0 for none (cached).
    fn city(&mut self, text: &str) -> u64 {
        if let Some(t) = self.cities.get(text) {
            return *t;
        }
        let c = normalize::fold(text);
        let t = if c.bytes().filter(u8::is_ascii_alphabetic).count() >= 2 { token(&self.keys.city, c.as_bytes()) } else { 0 };
        if self.cities.len() < 100_000 {
            self.cities.insert(text.to_string(), t);
        }
        t
    }

    /// Tokens of a date of birth (cached: birth dates repeat).
    fn dob(&mut self, d: normalize::Dob) -> DobEnc {
        if let Some(e) = self.dobs.get(&(d.date, d.placeholder)) {
            return *e;
        }
        let k = self.keys.clone();
        let date = d.date;
        let ymd = |y: i32, m: u32, dd: u32| token(&k.dob, format!("{y:04}-{m:02}-{dd:02}").as_bytes());
        let mut enc = DobEnc {
            full: if d.placeholder { 0 } else { ymd(date.year(), date.month(), date.day()) },
            swapped: 0,
            year_month: if d.placeholder { 0 } else { token(&k.dob, format!("ym {}-{}", date.year(), date.month()).as_bytes()) },
            month_day: if d.placeholder { 0 } else { token(&k.dob, format!("md {}-{}", date.month(), date.day()).as_bytes()) },
            year: token(&k.dob, format!("y {}", date.year()).as_bytes()),
            near_years: [0, 0],
            placeholder: d.placeholder,
        };
        if !d.placeholder {
            if let Some(s) = normalize::swapped(date) {
                enc.swapped = ymd(s.year(), s.month(), s.day());
            }
            enc.near_years = [
                ymd(date.year() - 1, date.month(), date.day()),
                ymd(date.year() + 1, date.month(), date.day()),
            ];
        }
        if self.dobs.len() < 100_000 {
            self.dobs.insert((d.date, d.placeholder), enc);
        }
        enc
    }

    /// The span in `word_text` of the cleaned words of a name field's text
    /// (cached: names repeat from row to row, and cleaning them is a good
    /// part of the work).
    fn field_words(&mut self, text: &str) -> (u32, u32) {
        let key = text_key(text, 0);
        if let Some(span) = self.words.get(&key) {
            return *span;
        }
        let start = self.word_text.len();
        for (i, w) in normalize::clean_words(text).iter().enumerate() {
            if i > 0 {
                self.word_text.push(' ');
            }
            self.word_text.push_str(w);
        }
        // Under 4 GiB: the buffer is emptied past WORD_TEXT_BYTES between
        // rows, and a row adds three fields of at most `max_field_bytes`.
        let at = |n: usize| u32::try_from(n).expect("name words under 4 GiB");
        let span = (at(start), at(self.word_text.len()));
        self.words.insert(key, span);
        span
    }

    /// The index in `parts` of a name part's encoding (computed the first
    /// time the part is seen with this salt).
    fn part(&mut self, part: &str, salt: i32) -> u32 {
        let key = text_key(part, salt);
        if let Some(i) = self.cache.get(&key) {
            return *i;
        }
        let k = &self.keys;
        let exact = token(&k.name, part.as_bytes());
        let variants: Vec<u64> =
            self.variants.variant_groups(part).iter().map(|g| token(&k.variant, g.as_bytes())).collect();
        let nicknames: Vec<u64> =
            self.variants.nickname_groups(part).iter().map(|g| token(&k.nickname, g.as_bytes())).collect();
        let dm = self.metaphone.double_metaphone(part);
        let (p, a) = (dm.primary(), dm.alternate());
        let phonetic = [
            if p.is_empty() { 0 } else { token(&k.phonetic, p.as_bytes()) },
            if a.is_empty() || a == p { 0 } else { token(&k.phonetic, a.as_bytes()) },
        ];
        let bloom = bloom(&mut self.name_grams, &k.bloom, &k.perm, part, salt, &self.hardening);
        let edits = one_edit_neighbourhood(&k.one_edit, part, salt);
        let enc = PartEnc::new(Role::Given, exact, &variants, &nicknames, phonetic, bloom, &edits);
        let start = self.part_bytes.len();
        enc.write_body(INLINE_LAYOUT, &mut self.part_bytes);
        let reference = part_ref(&self.part_bytes[start..]);
        let at = |n: usize| u32::try_from(n).expect("name parts under 4 GiB");
        let i = at(self.parts.len());
        self.parts.push(CachedPart { enc, start: at(start), end: at(self.part_bytes.len()) });
        self.refs.push(reference);
        self.entered.push(false);
        self.cache.insert(key, i);
        i
    }
}

/// The token of `part`, then the tokens of `part` without its letter 0, 1,
/// ... (salted like the Bloom filters); empty outside
/// [`ONE_EDIT_MIN`]..=[`ONE_EDIT_MAX`] letters.
fn one_edit_neighbourhood(key: &[u8; 32], part: &str, salt: i32) -> Box<[u64]> {
    let b = part.as_bytes();
    if !(ONE_EDIT_MIN..=ONE_EDIT_MAX).contains(&b.len()) {
        return Box::default();
    }
    let hash = |skip: Option<usize>| {
        let h = match skip {
            None => salted_hash(key, &[b], salt),
            Some(i) => salted_hash(key, &[&b[..i], &b[i + 1..]], salt),
        };
        u32::from_le_bytes(h.as_bytes()[..4].try_into().expect("4")) as u64
    };
    std::iter::once(None).chain((0..b.len()).map(Some)).map(hash).collect()
}

/// Whether two parts are one typo apart (or equal), from their
/// neighbourhoods (the part's token first, then its deletions in order):
///
/// * the same length: a letter changed at i leaves deletion i of both
///   equal; two neighbours swapped at i, i+1 make deletion i of each equal
///   to deletion i+1 of the other (one of the two alone would also admit
///   two typos: "baa" / "cba");
/// * one letter longer: one of its deletions is the shorter part itself;
/// * otherwise never.
///
/// Only the places where a typo can show are compared, and parts whose
/// lengths differ by two or more are turned away by the lengths alone, so
/// the check costs little in the compare loop. A 32-bit token collision
/// can give a spurious "one typo apart", about once in 4 x 10^9 token
/// comparisons; it never loses one.
#[inline]
pub fn one_edit(a: &[u64], b: &[u64]) -> bool {
    let (la, lb) = (a.len(), b.len());
    if la == 0 || lb == 0 {
        return false;
    }
    if la == lb {
        let (a, b) = (&a[1..], &b[1..]);
        a.iter().zip(b).any(|(x, y)| x == y) || a.windows(2).zip(b.windows(2)).any(|(x, y)| x[0] == y[1] && x[1] == y[0])
    } else if la == lb + 1 {
        a[1..].contains(&b[0])
    } else if lb == la + 1 {
        b[1..].contains(&a[0])
    } else {
        false
    }
}

/// Bloom filter of the padded bigrams of `s`.
fn bloom(grams: &mut GramTable, key: &[u8; 32], perm_key: &[u8; 32], s: &str, salt: i32, h: &Hardening) -> Bloom {
    bloom_of(grams, key, perm_key, s.bytes(), salt, h)
}

/// [`bloom`] of a text given as its bytes.
fn bloom_of(grams: &mut GramTable, key: &[u8; 32], perm_key: &[u8; 32], s: impl Iterator<Item = u8>, salt: i32, h: &Hardening) -> Bloom {
    // A power of two, so that a position is a mask, not a division.
    const _: () = assert!(BLOOM_BITS.is_power_of_two() && BLOOM_BITS >= 128);
    let bits: u64 = if h.balance { (BLOOM_BITS / 2) as u64 } else { BLOOM_BITS as u64 };
    let mut b: Bloom = [0; BLOOM_WORDS];
    let mut prev = b'_';
    for next in s.chain(std::iter::once(b'_')) {
        let (a, c) = grams.get(key, [prev, next], salt);
        prev = next;
        for i in 0..BLOOM_K {
            let pos = a.wrapping_add(i.wrapping_mul(c)) & (bits - 1);
            b[(pos / 64) as usize] |= 1 << (pos % 64);
        }
    }
    if h.balance {
        // Append the complement of the first half, then permute all bits with
        // a keyed permutation so the complement is not recognizable.
        let half = BLOOM_WORDS / 2;
        for w in 0..half {
            b[half + w] = !b[w];
        }
        b = permute(perm_key, &b);
    }
    if h.xor_fold {
        let half = BLOOM_WORDS / 2;
        for w in 0..half {
            b[w] ^= b[half + w];
            b[half + w] = 0;
        }
    }
    b
}

/// A fixed keyed permutation of the filter's bits (Fisher-Yates driven by
/// the keyed hash stream).
fn permute(key: &[u8; 32], b: &Bloom) -> Bloom {
    /// The permutation of each key seen, computed once.
    type Permutations = Vec<([u8; 32], Arc<Vec<usize>>)>;
    static PERMS: std::sync::Mutex<Permutations> = std::sync::Mutex::new(Vec::new());
    let perm = {
        let mut cache = PERMS.lock().expect("permutation cache");
        if let Some((_, p)) = cache.iter().find(|(k, _)| k == key) {
            p.clone()
        } else {
            let mut p: Vec<usize> = (0..BLOOM_BITS).collect();
            let mut xof = blake3::Hasher::new_keyed(key).finalize_xof();
            for i in (1..BLOOM_BITS).rev() {
                let mut buf = [0u8; 8];
                xof.fill(&mut buf);
                let j = (u64::from_le_bytes(buf) % (i as u64 + 1)) as usize;
                p.swap(i, j);
            }
            let p = Arc::new(p);
            cache.push((*key, p.clone()));
            p
        }
    };
    let mut out: Bloom = [0; BLOOM_WORDS];
    for (from, to) in perm.iter().enumerate() {
        if b[from / 64] >> (from % 64) & 1 == 1 {
            out[to / 64] |= 1 << (to % 64);
        }
    }
    out
}

/// Dice coefficient of two Bloom filters: 2|A∩B| / (|A|+|B|), by popcount.
#[inline]
pub fn dice(a: &Bloom, b: &Bloom) -> f64 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("popcnt") {
        // SAFETY: the CPU has the popcnt instruction (checked just above).
        return unsafe { dice_popcnt(a, b) };
    }
    dice_portable(a, b)
}

/// [`dice`] compiled with the popcnt instruction (the default x86-64 target
/// counts bits with a dozen shifts and masks instead).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt")]
unsafe fn dice_popcnt(a: &Bloom, b: &Bloom) -> f64 {
    dice_portable(a, b)
}

#[inline(always)]
fn dice_portable(a: &Bloom, b: &Bloom) -> f64 {
    let mut inter = 0u32;
    let mut total = 0u32;
    for i in 0..BLOOM_WORDS {
        inter += (a[i] & b[i]).count_ones();
        total += a[i].count_ones() + b[i].count_ones();
    }
    if total == 0 { 0.0 } else { 2.0 * inter as f64 / total as f64 }
}

/// Dice of two filters, with what a short form needs: the share of the
/// smaller filter's bits that the other also has, |A∩B| / min(|A|, |B|),
/// and the smaller filter's bit count. The share is near 1 when one name's
/// bigrams are nearly all in the other's: a short form written as the start
/// of the long one (Najib / Najibullah), which Dice scores low because the
/// long name has many bigrams of its own. One pass over the words, as
/// [`dice`]. Balanced filters all have the same bit count, so for them the
/// share is Dice.
#[derive(Debug, Clone, Copy)]
pub struct Overlap {
    pub dice: f64,
    pub contained: f64,
    pub smaller_bits: u32,
}

#[inline]
pub fn overlap(a: &Bloom, b: &Bloom) -> Overlap {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("popcnt") {
        // SAFETY: the CPU has the popcnt instruction (checked just above).
        return unsafe { overlap_popcnt(a, b) };
    }
    overlap_portable(a, b)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt")]
unsafe fn overlap_popcnt(a: &Bloom, b: &Bloom) -> Overlap {
    overlap_portable(a, b)
}

#[inline(always)]
fn overlap_portable(a: &Bloom, b: &Bloom) -> Overlap {
    let (mut inter, mut na, mut nb) = (0u32, 0u32, 0u32);
    for i in 0..BLOOM_WORDS {
        inter += (a[i] & b[i]).count_ones();
        na += a[i].count_ones();
        nb += b[i].count_ones();
    }
    let small = na.min(nb);
    Overlap {
        dice: if na + nb == 0 { 0.0 } else { 2.0 * inter as f64 / (na + nb) as f64 },
        contained: if small == 0 { 0.0 } else { inter as f64 / small as f64 },
        smaller_bits: small,
    }
}

// ---------------------------------------------------------------------------
// Compact binary layout, stored in the linkage zone (`encoding` column).
// ---------------------------------------------------------------------------

/// Layout version of the identities braid stores. Version 2 added the
/// street filter at the end, version 3 the city token after it, version 4
/// the house number + ZIP token, version 5 the street name + house number
/// and street name + initials tokens, version 6 each name part's one-edit
/// neighbourhood after its filter; older encodings still read, without
/// them. Version 7 is version 6 with each name part (but its role) given by
/// its reference ([`PartRef`]) in the file's part dictionary
/// ([`PART_ENTRY`]): a part's bytes are most of an identity's, and a
/// partner's people share a few thousand names.
pub const LAYOUT_VERSION: u8 = 7;

/// The last layout with each name part's bytes in place: what
/// [`Identity::to_bytes`] writes, and what the record key of a row without
/// a record id is made from.
pub const INLINE_LAYOUT: u8 = 6;

/// First byte of an entry of the part dictionary: a row of the identity
/// file (with an empty record key) whose encoding is this byte, the part's
/// reference and the part's bytes as the inline layout writes them after
/// its role. (Identities start with their layout version, 1 to 127.)
pub const PART_ENTRY: u8 = 0x80;

/// A name part's reference in the part dictionary: 128 bits of XXH3 over
/// its bytes, which are keyed tokens and filters already (so the reference
/// tells no more than they do), the same in every file and worker.
pub type PartRef = [u8; 16];
const PART_REF_BYTES: usize = 16;

fn part_ref(body: &[u8]) -> PartRef {
    twox_hash::XxHash3_128::oneshot(body).to_le_bytes()
}

/// The part references of an identity in layout 7 (none in an inline
/// layout).
pub fn part_refs(encoding: &[u8]) -> Vec<PartRef> {
    match encoding {
        [LAYOUT_VERSION, n, rest @ ..] => {
            rest.chunks_exact(1 + PART_REF_BYTES).take(*n as usize).map(|c| c[1..].try_into().expect("16 bytes")).collect()
        }
        _ => Vec::new(),
    }
}

/// The reference of a part dictionary entry ([`PART_ENTRY`]).
pub fn entry_ref(entry: &[u8]) -> Option<PartRef> {
    match entry {
        [PART_ENTRY, rest @ ..] => rest.get(..PART_REF_BYTES)?.try_into().ok(),
        _ => None,
    }
}

/// Part dictionary entries ([`PART_ENTRY`]), one after another.
#[derive(Debug, Default)]
pub struct PartEntries {
    pub(crate) bytes: Vec<u8>,
    /// Where each entry ends in `bytes`.
    ends: Vec<usize>,
}

impl PartEntries {
    fn push(&mut self, reference: &PartRef, body: &[u8]) {
        self.bytes.push(PART_ENTRY);
        self.bytes.extend_from_slice(reference);
        self.bytes.extend_from_slice(body);
        self.ends.push(self.bytes.len());
    }

    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Each entry's bytes, in order.
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        std::iter::once(0).chain(self.ends.iter().copied()).zip(&self.ends).map(|(start, &end)| &self.bytes[start..end])
    }

    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }
}

/// The name parts of identity files in layout 7, by reference: filled from
/// the files' entries ([`PART_ENTRY`]), read by [`Identity::read`].
#[derive(Debug, Default)]
pub struct PartDictionary {
    parts: foldhash::HashMap<PartRef, PartEnc>,
}

impl PartDictionary {
    /// Whether a value of the `encoding` column is a dictionary entry.
    pub fn is_entry(encoding: &[u8]) -> bool {
        encoding.first() == Some(&PART_ENTRY)
    }

    /// Take in an entry. An error (a damaged file) if it does not read, or
    /// its reference is not that of its bytes. An entry seen before (in
    /// another file, or from another worker) is taken as it is.
    pub fn insert(&mut self, entry: &[u8]) -> Result<(), &'static str> {
        let body = entry.get(1 + PART_REF_BYTES..).filter(|b| !b.is_empty());
        let (Some(reference), Some(body)) = (entry_ref(entry), body) else {
            return Err("a part dictionary entry is cut short");
        };
        if part_ref(body) != reference {
            return Err("a part dictionary entry does not match its reference");
        }
        if self.parts.contains_key(&reference) {
            return Ok(());
        }
        let mut r = Reader { b: body, i: 0 };
        let part = read_part_body(&mut r, Role::Given, INLINE_LAYOUT).filter(|_| r.i == body.len());
        self.parts.insert(reference, part.ok_or("a part dictionary entry does not read")?);
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.parts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }
}

/// A name part's bytes after its role, in layout `version` (1 to 6).
fn read_part_body(r: &mut Reader<'_>, role: Role, version: u8) -> Option<PartEnc> {
    let exact = r.u64()?;
    let nv = r.u8()? as usize;
    let variants = (0..nv).map(|_| r.u64()).collect::<Option<Vec<_>>>()?;
    let nn = r.u8()? as usize;
    let nicknames = (0..nn).map(|_| r.u64()).collect::<Option<Vec<_>>>()?;
    let phonetic = [r.u64()?, r.u64()?];
    let mut bloom = [0u64; BLOOM_WORDS];
    for w in bloom.iter_mut() {
        *w = r.u64()?;
    }
    let edits = if version >= 6 {
        let ne = r.u8()? as usize;
        (0..ne).map(|_| r.u32().map(u64::from)).collect::<Option<Vec<_>>>()?
    } else {
        Vec::new()
    };
    Some(PartEnc::new(role, exact, &variants, &nicknames, phonetic, bloom, &edits))
}

impl Identity {
    /// The identity in the inline layout ([`INLINE_LAYOUT`]).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_layout(INLINE_LAYOUT)
    }

    /// The bytes in layout `version` (5 or later; tests write version 5 to
    /// check that older encodings still read).
    fn to_layout(&self, version: u8) -> Vec<u8> {
        let mut out = Vec::with_capacity(32 + self.parts.len() * 100);
        self.write_layout(version, &mut out);
        out
    }

    fn write_layout(&self, version: u8, out: &mut Vec<u8>) {
        out.push(version);
        out.push(self.parts.len() as u8);
        for p in &self.parts {
            out.push(p.role as u8);
            p.write_body(version, out);
        }
        self.write_rest(out);
    }

    /// Everything after the name parts (the same in every layout version
    /// that writes).
    fn write_rest(&self, out: &mut Vec<u8>) {
        match &self.dob {
            None => out.push(0),
            Some(d) => {
                out.push(if d.placeholder { 2 } else { 1 });
                for v in [d.full, d.swapped, d.year_month, d.month_day, d.year, d.near_years[0], d.near_years[1]] {
                    out.extend_from_slice(&v.to_le_bytes());
                }
            }
        }
        out.push(self.sex);
        out.push(self.tax_id_kind);
        for v in [self.tax_id, self.phone, self.email, self.address, self.zip5] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for w in self.street_bloom {
            out.extend_from_slice(&w.to_le_bytes());
        }
        out.extend_from_slice(&self.city.to_le_bytes());
        out.extend_from_slice(&self.house_zip.to_le_bytes());
        out.extend_from_slice(&self.street_house.to_le_bytes());
        out.extend_from_slice(&self.street_initials.to_le_bytes());
    }

    /// An identity in an inline layout (1 to [`INLINE_LAYOUT`]); None if
    /// it does not read.
    pub fn from_bytes(b: &[u8]) -> Option<Identity> {
        Identity::read(b, &PartDictionary::default())
    }

    /// An identity in any layout, its name parts by reference (layout 7)
    /// from `parts`; None if it does not read or refers to a part that is
    /// not there.
    pub fn read(b: &[u8], parts: &PartDictionary) -> Option<Identity> {
        let mut r = Reader { b, i: 0 };
        let version = r.u8()?;
        if !(1..=LAYOUT_VERSION).contains(&version) {
            return None;
        }
        let n = r.u8()? as usize;
        let mut id = Identity::default();
        for _ in 0..n {
            let role = Role::from_u8(r.u8()?)?;
            if version <= INLINE_LAYOUT {
                id.parts.push(read_part_body(&mut r, role, version)?);
            } else {
                let reference: PartRef = r.b.get(r.i..r.i + PART_REF_BYTES)?.try_into().ok()?;
                r.i += PART_REF_BYTES;
                id.parts.push(PartEnc { role, ..parts.parts.get(&reference)?.clone() });
            }
        }
        let dob_flag = r.u8()?;
        if dob_flag != 0 {
            let v: Vec<u64> = (0..7).map(|_| r.u64()).collect::<Option<_>>()?;
            id.dob = Some(DobEnc {
                full: v[0],
                swapped: v[1],
                year_month: v[2],
                month_day: v[3],
                year: v[4],
                near_years: [v[5], v[6]],
                placeholder: dob_flag == 2,
            });
        }
        id.sex = r.u8()?;
        id.tax_id_kind = r.u8()?;
        id.tax_id = r.u64()?;
        id.phone = r.u64()?;
        id.email = r.u64()?;
        id.address = r.u64()?;
        id.zip5 = r.u64()?;
        if version >= 2 {
            for w in id.street_bloom.iter_mut() {
                *w = r.u64()?;
            }
        }
        if version >= 3 {
            id.city = r.u64()?;
        }
        if version >= 4 {
            id.house_zip = r.u64()?;
        }
        if version >= 5 {
            id.street_house = r.u64()?;
            id.street_initials = r.u64()?;
        }
        Some(id)
    }

    /// Every token this identity carries (used by `braid forget` checks).
    pub fn tokens(&self) -> Vec<u64> {
        let mut t = Vec::new();
        for p in &self.parts {
            t.push(p.exact);
        }
        if let Some(d) = &self.dob {
            t.extend([d.full, d.year_month, d.month_day]);
        }
        t.extend([self.tax_id, self.phone, self.email, self.address]);
        t.retain(|v| *v != 0);
        t
    }
}

struct Reader<'a> {
    b: &'a [u8],
    i: usize,
}

impl Reader<'_> {
    fn u8(&mut self) -> Option<u8> {
        let v = *self.b.get(self.i)?;
        self.i += 1;
        Some(v)
    }
    fn u32(&mut self) -> Option<u32> {
        let s = self.b.get(self.i..self.i + 4)?;
        self.i += 4;
        Some(u32::from_le_bytes(s.try_into().ok()?))
    }
    fn u64(&mut self) -> Option<u64> {
        let s = self.b.get(self.i..self.i + 8)?;
        self.i += 8;
        Some(u64::from_le_bytes(s.try_into().ok()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc() -> Encoder {
        Encoder::new(&Keys::for_tests(), Arc::new(NameVariants::parse(super::super::variants::BUILTIN, "t").unwrap()), Hardening::default())
    }

    fn raw<'a>(g: &'a str, f: &'a str) -> RawIdentity<'a> {
        RawIdentity {
            given: Some(g),
            family: Some(f),
            dob: NaiveDate::from_ymd_opt(1985, 3, 7),
            ..Default::default()
        }
    }

    #[test]
    fn encoded_bytes_are_the_identitys_bytes() {
        let full = RawIdentity {
            middle: Some("Maria"),
            tax_id: Some("123-45-6780"),
            phone: Some("(510) 555-0100"),
            email: Some("Ana.Ruiz+x@gmail.com"),
            street: Some("12 Main St Apt 4"),
            zip: Some("94601"),
            city: Some("Oakland"),
            sex: Some(1),
            ..raw("Ana Sofia", "de la Ruiz-Gomez")
        };
        let empty = RawIdentity::default();
        let salted = Hardening { salt_birth_year: true, ..Hardening::default() };
        let vars = || Arc::new(NameVariants::parse(super::super::variants::BUILTIN, "t").unwrap());
        for hardening in [Hardening::default(), salted] {
            let mut e = Encoder::new(&Keys::for_tests(), vars(), hardening.clone());
            let fresh = || Encoder::new(&Keys::for_tests(), vars(), hardening.clone());
            let (mut entries, mut dictionary) = (PartEntries::default(), PartDictionary::default());
            // Twice each: the second time the name fields' words and the
            // name parts come from the caches ("Maria" also as a given name).
            for r in [full, raw("Bo", "Li"), empty, full, raw("Bo", "Li"), empty, raw("Maria", "Li")] {
                let mut out = vec![0xAA];
                let not_empty = e.encode_bytes(&r, &mut out);
                let id = fresh().encode(&r);
                assert_eq!(out[..2], [0xAA, LAYOUT_VERSION], "appended after what was there");
                assert_eq!(not_empty, !id.is_empty());
                // In the inline layout, each part's bytes in place of its
                // reference: the identity's bytes.
                let inline = e.inline_bytes(&out[1..]);
                assert_eq!(inline, id.to_bytes());
                assert_eq!(Identity::from_bytes(&inline).as_ref(), Some(&id));
                // Stored, the parts read from the dictionary entries that
                // went before: each part's entry once.
                let read_before = Identity::read(&out[1..], &dictionary);
                let before = entries.len();
                e.enter_parts(&mut entries);
                assert_eq!(read_before.is_some(), entries.len() == before, "reads at once if and only if its parts were entered before");
                for entry in entries.iter().skip(before) {
                    dictionary.insert(entry).unwrap();
                }
                assert_eq!(dictionary.len(), entries.len(), "no part entered twice");
                assert_eq!(Identity::read(&out[1..], &dictionary).as_ref(), Some(&id));
                assert_eq!(Identity::from_bytes(&out[1..]).is_some(), id.parts.is_empty(), "layout 7 needs the dictionary");
            }
            assert_eq!(dictionary.len(), e.parts.len());
            // The references are the parts' own: another encoder's entries
            // (another worker's, another file's) read these identities too.
            let mut other = fresh();
            let mut out = vec![];
            e.encode_bytes(&full, &mut out);
            let (mut theirs, mut their_dictionary) = (PartEntries::default(), PartDictionary::default());
            other.encode_bytes(&full, &mut vec![]);
            other.enter_parts(&mut theirs);
            for entry in theirs.iter() {
                their_dictionary.insert(entry).unwrap();
            }
            assert_eq!(Identity::read(&out, &their_dictionary), Some(fresh().encode(&full)));
        }
    }

    #[test]
    fn a_name_of_hundreds_of_words_keeps_255_parts_and_reads_back() {
        let letter = |n: usize| (b'a' + (n % 26) as u8) as char;
        let many: Vec<String> = (0..400).map(|i| format!("{}{}z", letter(i), letter(i / 26))).collect();
        let many = many.join(" ");
        let r = RawIdentity { given: Some(&many), ..raw("Ana", "Ruiz") };
        let mut e = enc();
        let mut out = vec![];
        e.encode_bytes(&r, &mut out);
        let (mut entries, mut d) = (PartEntries::default(), PartDictionary::default());
        e.enter_parts(&mut entries);
        for entry in entries.iter() {
            d.insert(entry).unwrap();
        }
        let id = Identity::read(&out, &d).expect("reads back");
        assert_eq!(id.parts.len(), 255);
        assert_eq!(id, enc().encode(&r));
        assert_eq!(Identity::from_bytes(&e.inline_bytes(&out)), Some(id));
    }

    #[test]
    fn a_damaged_part_entry_is_an_error() {
        let mut e = enc();
        e.encode_bytes(&raw("Ana", "Ruiz"), &mut vec![]);
        let mut entries = PartEntries::default();
        e.enter_parts(&mut entries);
        let first = entries.iter().next().unwrap().to_vec();
        let mut d = PartDictionary::default();
        assert!(PartDictionary::is_entry(&first) && !PartDictionary::is_entry(&[LAYOUT_VERSION]));
        d.insert(&first).unwrap();
        d.insert(&first).unwrap();
        assert_eq!(d.len(), 1, "an entry seen again is taken as it is");
        let mut flipped = first.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert!(PartDictionary::default().insert(&flipped).is_err(), "bytes that are not the reference's");
        assert!(PartDictionary::default().insert(&first[..first.len() - 1]).is_err(), "cut short");
        assert!(PartDictionary::default().insert(&first[..17]).is_err(), "no body");
        // Bytes that match their reference but are not a part.
        let mut junk = vec![PART_ENTRY];
        junk.extend_from_slice(&part_ref(b"junk"));
        junk.extend_from_slice(b"junk");
        assert!(PartDictionary::default().insert(&junk).is_err());
    }

    #[test]
    fn caches_emptied_when_full_change_no_encoding() {
        // Caches of two name fields and three name parts are emptied again
        // and again (between rows, never within one); every row's bytes are
        // those of a fresh encoder, whose caches stay small.
        let mut small = enc();
        small.caps = (2, 3);
        let names = [("Ana", "Ruiz"), ("Juan", "de la Cruz"), ("Mary Ann", "Lee"), ("Ana", "Garcia Lopez"), ("Omar", "Ruiz")];
        for round in 0..3 {
            for (g, f) in names {
                let r = RawIdentity { middle: (round == 1).then_some("Thi"), street: Some("12 Main St"), ..raw(g, f) };
                let (mut a, mut b) = (Vec::new(), Vec::new());
                small.encode_bytes(&r, &mut a);
                enc().encode_bytes(&r, &mut b);
                assert_eq!(a, b, "{g} {f}, round {round}");
                assert_eq!(small.encode(&r), enc().encode(&r));
                assert!(small.words.len() <= 2 + 3 && small.parts.len() <= 3 + 8);
            }
        }
    }

    #[test]
    fn zip_and_city_tokens_read_the_same_from_the_cache() {
        let at = |zip: &'static str, city: &'static str| RawIdentity {
            zip: Some(zip),
            city: Some(city),
            street: Some("12 Main St"),
            ..raw("Ana", "Ruiz")
        };
        let mut e = enc();
        let first = e.encode(&at("02139", "Cambridge"));
        assert_ne!(first.zip5, 0);
        assert_ne!(first.city, 0);
        // Second time from the caches; a ZIP code that lost its leading zero
        // and a city in other case are the same ZIP code and city.
        assert_eq!(e.encode(&at("02139", "Cambridge")), first);
        assert_eq!(e.encode(&at("2139", "CAMBRIDGE")), first);
        // A fresh encoder (empty caches) agrees.
        assert_eq!(enc().encode(&at("2139", "CAMBRIDGE")), first);
        let other = e.encode(&at("02140", "X"));
        assert_ne!(other.zip5, first.zip5);
        assert_ne!(other.address, first.address, "the street line is joined with its ZIP code");
        assert_eq!(other.city, 0, "one letter is no city");
    }

    #[test]
    fn same_name_same_token_and_roundtrip() {
        let mut e = enc();
        let a = e.encode(&raw("María", "García"));
        let b = e.encode(&raw("MARIA", "garcia"));
        assert_eq!(a, b);
        assert_eq!(Identity::from_bytes(&a.to_bytes()).unwrap(), a);
    }

    #[test]
    fn street_lines_get_a_filter_and_old_layouts_still_read() {
        let mut e = enc();
        let with = |street: &'static str| RawIdentity { street: Some(street), zip: Some("94601"), ..raw("Ana", "Ruiz") };
        let a = e.encode(&with("54 Weipa Place"));
        let b = e.encode(&with("54 weipap lace"));
        let c = e.encode(&with("1200 Fruitvale Avenue"));
        assert_ne!(a.street_bloom, [0; BLOOM_WORDS]);
        assert_ne!(a.address, b.address, "the exact address differs");
        assert!(dice(&a.street_bloom, &b.street_bloom) >= 0.75, "{}", dice(&a.street_bloom, &b.street_bloom));
        assert!(dice(&a.street_bloom, &c.street_bloom) < 0.5);
        // The street filter has its own key: the same text as a name part
        // sets other bits.
        let n = e.encode(&raw("weipa", "x"));
        let s = e.encode(&RawIdentity { street: Some("weipa"), ..raw("Ana", "Ruiz") });
        assert_ne!(n.parts[0].bloom, s.street_bloom);
        // A version 1 encoding (before street filters and cities) reads
        // without them; so does a version 2 one without the city.
        assert_ne!(a.house_zip, 0);
        assert_eq!(a.house_zip, b.house_zip, "same number, same ZIP, street mistyped");
        // The street's name word with the house number, and with the
        // initials.
        let d = e.encode(&with("14 WEIPA PL, Apt 3"));
        assert_ne!(a.street_house, 0);
        assert_eq!(a.street_house, e.encode(&with("54 Weipa Plaec")).street_house, "street type mistyped");
        assert_ne!(a.street_house, d.street_house, "another house");
        assert_ne!(a.street_initials, 0);
        assert_eq!(a.street_initials, d.street_initials, "another house on the same street");
        assert_ne!(a.street_initials, c.street_initials);
        assert_eq!(e.encode(&with("Weipa Place")).street_initials, a.street_initials, "no house number");
        let swapped = RawIdentity { street: Some("54 Weipa Place"), ..raw("Ruzi", "Anna") };
        assert_eq!(e.encode(&swapped).street_initials, a.street_initials, "initials in either order");
        let other = RawIdentity { street: Some("54 Weipa Place"), ..raw("Bo", "Ruiz") };
        assert_ne!(e.encode(&other).street_initials, a.street_initials);
        let a = Identity { city: 7, ..a };
        // Version 5: no one-edit neighbourhoods; older versions are cut from it.
        let mut parts = a.parts.clone();
        parts.iter_mut().for_each(|p| *p = PartEnc::new(p.role, p.exact, p.variants(), p.nicknames(), p.phonetic, p.bloom, &[]));
        let v5 = a.to_layout(5);
        assert_eq!(Identity { parts: parts.clone(), ..a.clone() }, Identity::from_bytes(&v5).unwrap());
        assert!(a.parts.iter().all(|p| !p.edits().is_empty()), "Ana and Ruiz have neighbourhoods");
        let a = Identity { parts, ..a };
        let mut v1 = v5.clone();
        v1[0] = 1;
        v1.truncate(v1.len() - 8 * BLOOM_WORDS - 32);
        let old = Identity::from_bytes(&v1).unwrap();
        let none = Identity { street_bloom: [0; BLOOM_WORDS], city: 0, house_zip: 0, street_house: 0, street_initials: 0, ..a.clone() };
        assert_eq!(none, old);
        let mut v2 = v5.clone();
        v2[0] = 2;
        v2.truncate(v2.len() - 32);
        assert_eq!(Identity { street_bloom: a.street_bloom, ..none.clone() }, Identity::from_bytes(&v2).unwrap());
        let mut v3 = v5.clone();
        v3[0] = 3;
        v3.truncate(v3.len() - 24);
        assert_eq!(Identity { house_zip: 0, street_house: 0, street_initials: 0, ..a.clone() }, Identity::from_bytes(&v3).unwrap());
        let mut v4 = v5.clone();
        v4[0] = 4;
        v4.truncate(v4.len() - 16);
        assert_eq!(Identity { street_house: 0, street_initials: 0, ..a.clone() }, Identity::from_bytes(&v4).unwrap());
        assert_eq!(Identity::from_bytes(&a.to_bytes()).unwrap(), a);
    }

    #[test]
    fn bigram_table_gives_the_same_filters_as_hashing_each_bigram() {
        let keys = Keys::for_tests();
        let key = keys.field_key(Purpose::Bloom, "name part");
        let perm = keys.field_key(Purpose::Bloom, "balance permutation");
        let mut table = GramTable::new();
        let h = Hardening::default();
        let a = bloom(&mut table, &key, &perm, "nguyen", 0, &h);
        let again = bloom(&mut table, &key, &perm, "nguyen", 0, &h);
        let fresh = bloom(&mut GramTable::new(), &key, &perm, "nguyen", 0, &h);
        assert_eq!(a, again);
        assert_eq!(a, fresh);
        // By hand: the padded bigrams' positions.
        let mut want: Bloom = [0; BLOOM_WORDS];
        for g in b"_nguyen_".windows(2) {
            let (s, c) = gram_hash(&key, [g[0], g[1]], 0);
            for i in 0..BLOOM_K {
                let pos = s.wrapping_add(i.wrapping_mul(c)) % BLOOM_BITS as u64;
                want[(pos / 64) as usize] |= 1 << (pos % 64);
            }
        }
        assert_eq!(a, want);
        // Salted filters bypass the table and differ.
        assert_ne!(bloom(&mut table, &key, &perm, "nguyen", 1985, &h), a);
    }

    #[test]
    fn one_edit_neighbourhoods_meet_exactly_for_one_typo() {
        let keys = Keys::for_tests();
        let key = keys.field_key(Purpose::Token, "name part one-edit neighbourhood");
        let n = |s: &str| one_edit_neighbourhood(&key, s, 0);
        for (x, y) in [
            ("juan", "ujan"),       // neighbours swapped at the start
            ("leticia", "elticia"), // and further in
            ("maria", "mnria"),     // a letter changed
            ("roberto", "roberrto"),
            ("walid", "waid"), // a letter dropped
            ("mya", "mla"),
            ("hai", "ahi"),
            ("nguyen", "nguyen"),
        ] {
            assert!(one_edit(&n(x), &n(y)), "{x} / {y}");
            assert!(one_edit(&n(y), &n(x)), "{y} / {x}");
        }
        for (x, y) in [("juan", "jose"), ("luis", "lucas"), ("jose", "jeso"), ("maria", "mirta"), ("hai", "han van")] {
            assert!(!one_edit(&n(x), &n(y)), "{x} / {y}");
        }
        // Against the definition, on every pair of short strings over a small
        // alphabet (so that many pairs are one typo apart).
        let one_typo = |x: &[u8], y: &[u8]| -> bool {
            if x.len() == y.len() {
                let diff: Vec<usize> = (0..x.len()).filter(|&i| x[i] != y[i]).collect();
                diff.len() == 1 || (diff.len() == 2 && diff[1] == diff[0] + 1 && x[diff[0]] == y[diff[1]] && x[diff[1]] == y[diff[0]])
            } else {
                let (long, short) = if x.len() > y.len() { (x, y) } else { (y, x) };
                long.len() == short.len() + 1 && (0..long.len()).any(|i| [&long[..i], &long[i + 1..]].concat() == short)
            }
        };
        let mut words: Vec<Vec<u8>> = vec![];
        for len in 3..=5 {
            let mut w = vec![b'a'; len];
            loop {
                words.push(w.clone());
                let mut i = 0;
                while i < len && w[i] == b'c' {
                    w[i] = b'a';
                    i += 1;
                }
                if i == len {
                    break;
                }
                w[i] += 1;
            }
        }
        let hoods: Vec<Box<[u64]>> = words.iter().map(|w| n(std::str::from_utf8(w).unwrap())).collect();
        let bkey = keys.field_key(Purpose::Bloom, "name part");
        let perm = keys.field_key(Purpose::Bloom, "balance permutation");
        let mut table = GramTable::new();
        let blooms: Vec<Bloom> =
            words.iter().map(|w| bloom(&mut table, &bkey, &perm, std::str::from_utf8(w).unwrap(), 0, &Hardening::default())).collect();
        let mut pairs = 0;
        for (i, x) in words.iter().enumerate() {
            for (j, y) in words.iter().enumerate().filter(|(j, _)| *j != i) {
                let want = one_typo(x, y);
                pairs += want as usize;
                if want {
                    let d = dice(&blooms[i], &blooms[j]);
                    assert!(d >= ONE_EDIT_MIN_DICE, "{:?} / {:?}: Dice {d}", std::str::from_utf8(x), std::str::from_utf8(y));
                }
                assert_eq!(one_edit(&hoods[i], &hoods[j]), want, "{:?} / {:?}", std::str::from_utf8(x), std::str::from_utf8(y));
            }
        }
        assert!(pairs > 1000, "{pairs}");
        // The part, then one deletion per letter, in order.
        let r = n("roberrto");
        assert_eq!(r.len(), 9);
        assert_eq!(r[5], r[6], "either r of the doubled pair");
        assert_eq!(r[5], n("roberto")[0]);
        // Too short or too long: none.
        assert!(n("li").is_empty());
        assert!(n("abcdefghijklm").is_empty());
        assert_eq!(n("abcdefghijkl").len(), 13);
        // Salted by birth year: another year never meets.
        assert!(!one_edit(&one_edit_neighbourhood(&key, "maria", 1980), &one_edit_neighbourhood(&key, "mnria", 1981)));
        assert!(one_edit(&one_edit_neighbourhood(&key, "maria", 1980), &one_edit_neighbourhood(&key, "mnria", 1980)));
        // Through the encoder, with the part's own key.
        let mut e = enc();
        let a = e.encode(&raw("Juan", "Lopez"));
        let b = e.encode(&raw("Ujan", "Lopez"));
        assert!(one_edit(a.parts[0].edits(), b.parts[0].edits()));
    }

    #[test]
    fn typos_stay_close_in_dice() {
        let mut e = enc();
        let a = e.encode(&raw("Mohammed", "Haddad"));
        let b = e.encode(&raw("Mohamed", "Hadad"));
        let c = e.encode(&raw("Peter", "Smith"));
        let d_ab = dice(&a.parts[1].bloom, &b.parts[1].bloom);
        let d_ac = dice(&a.parts[1].bloom, &c.parts[1].bloom);
        assert!(d_ab > 0.7, "{d_ab}");
        assert!(d_ac < 0.3, "{d_ac}");
        // Variant groups agree.
        assert!(a.parts[0].variants().iter().any(|v| b.parts[0].variants().contains(v)));
    }

    #[test]
    fn different_keys_give_different_tokens() {
        let v = Arc::new(NameVariants::parse(super::super::variants::BUILTIN, "t").unwrap());
        let k2 = Keys::from_secret(&[9u8; 40], crate::secret::SecretSource::Env).unwrap();
        let a = Encoder::new(&Keys::for_tests(), v.clone(), Hardening::default()).encode(&raw("Ana", "Lopez"));
        let b = Encoder::new(&k2, v, Hardening::default()).encode(&raw("Ana", "Lopez"));
        assert_ne!(a.parts[0].exact, b.parts[0].exact);
        assert_ne!(a.parts[0].bloom, b.parts[0].bloom);
    }

    #[test]
    fn dob_swap_and_placeholder() {
        let mut e = enc();
        let mut r = raw("Ana", "Lopez");
        let a = e.encode(&r);
        r.dob = NaiveDate::from_ymd_opt(1985, 7, 3);
        let b = e.encode(&r);
        assert_eq!(a.dob.unwrap().swapped, b.dob.unwrap().full);
        r.dob = NaiveDate::from_ymd_opt(1985, 1, 1);
        let c = e.encode(&r);
        assert!(c.dob.unwrap().placeholder);
        assert_eq!(c.dob.unwrap().full, 0);
        assert_eq!(c.dob.unwrap().year, a.dob.unwrap().year);
    }

    #[test]
    fn balanced_filters_have_half_their_bits_set() {
        let v = Arc::new(NameVariants::parse(super::super::variants::BUILTIN, "t").unwrap());
        let h = Hardening { balance: true, ..Default::default() };
        let mut e = Encoder::new(&Keys::for_tests(), v, h);
        for n in ["al", "maria", "abdulrahman"] {
            let id = e.encode(&raw(n, "x"));
            let ones: u32 = id.parts[0].bloom.iter().map(|w| w.count_ones()).sum();
            assert_eq!(ones as usize, BLOOM_BITS / 2, "{n}");
        }
    }

    #[test]
    fn record_keys_are_the_keyed_hash_of_partner_separator_and_id() {
        // Keys already in warehouses must never change: the first 128 bits,
        // in hex, of the keyed hash of the partner, 0x1f and the trimmed id,
        // for an id joined on the stack and for one too long for it.
        let key = [7u8; 32];
        for id in ["17".to_string(), "x".repeat(300)] {
            let mut h = blake3::Hasher::new_keyed(&key);
            h.update(b"school");
            h.update(&[0x1f]);
            h.update(id.as_bytes());
            let hex: String = h.finalize().as_bytes()[..16].iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(record_key_with(&key, "school", &format!(" {id} ")), hex);
        }
    }

    #[test]
    fn record_keys_depend_on_partner_and_key() {
        let k = Keys::for_tests();
        assert_ne!(record_key(&k, "a", "17"), record_key(&k, "b", "17"));
        assert_eq!(record_key(&k, "a", " 17 "), record_key(&k, "a", "17"));
        assert_eq!(record_key(&k, "a", "17").len(), 32);
    }
}
