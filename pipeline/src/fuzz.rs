//! The harness of the `parse_map` fuzz target (`fuzz/`, run with
//! `cargo fuzz`) and of its stable twin in the tests: one partner file
//! through decompress, parse, map and protect, with the code `braid pull`
//! runs ([`crate::ingest`]'s duplicate check and batch processing), and the
//! promises every file must keep, whatever its bytes:
//!
//! * no panic;
//! * rows read = rows loaded + rows quarantined, and a loaded row is one
//!   staged record;
//! * a quarantine detail never quotes a cell, and a file error never
//!   quotes the file (its header row included).
//!
//! The first two bytes of an input choose the format and its options (see
//! [`Choice`]); the rest is the file. A broken promise panics, which is
//! what the fuzzer looks for.

use std::cell::RefCell;
use std::sync::{Arc, OnceLock};

use chrono::NaiveDate;

use crate::ingest::{Work, process, split_duplicates};
use crate::map::{Duplicates, Mapper, Rules};
use crate::parse::{FileError, FormatType, Limits, decompress, parse, uncompressed_name};
use crate::protect::{ConsentPolicy, Protector, variants::NameVariants};
use crate::pull::PartnerConfig;
use crate::secret::{Keys, Purpose};

/// The partner every input is read as: the columns map to identifiers,
/// dates, codes, money and flags, so that each kind of check in `map` and
/// each identifier in `protect` is reached.
const PARTNER: &str = r#"
id = "fuzz"
name = "Fuzz partner"
kind = "community_org"
source = "fuzz"
[[feed]]
name = "rows"
glob = "*"
[feed.map]
date_formats = ["%m/%d/%Y", "%d/%m/%Y", "%Y%m%d", "excel"]
[feed.map.columns]
record_id = "ID"
given_name = "First"
family_name = "Last"
full_name = "Name"
dob = "DOB"
ssn = "SSN"
phone = "Phone"
email = "Email"
street = "Street"
zip = "Zip"
sex = "Sex"
entry_date = "Start"
exit_date = "End"
wages = "Wages"
english_learner = "ELL"
consent = "Consent"
[feed.map.codes.sex]
F = "female"
M = "male"
"#;

/// The column names of a file read without a header row.
pub const COLUMNS: [&str; 16] =
    ["ID", "First", "Last", "Name", "DOB", "SSN", "Phone", "Email", "Street", "Zip", "Sex", "Start", "End", "Wages", "ELL", "Consent"];

/// Small limits, so that the fuzzer reaches them.
pub const LIMITS: Limits =
    Limits { max_file_bytes: 1 << 20, max_decompressed_bytes: 1 << 20, max_line_bytes: 4096, max_field_bytes: 512, max_rows: 2000 };

struct Setup {
    partner: PartnerConfig,
    keys: Keys,
    variants: Arc<NameVariants>,
}

fn setup() -> &'static Setup {
    static S: OnceLock<Setup> = OnceLock::new();
    S.get_or_init(|| Setup {
        partner: toml::from_str(PARTNER).expect("the fuzz partner parses"),
        keys: Keys::for_tests(),
        variants: Arc::new(NameVariants::load(None).expect("the built-in name table loads")),
    })
}

/// What the two leading bytes of an input choose.
#[derive(Debug, Clone, Copy)]
pub struct Choice(pub u8, pub u8);

impl Choice {
    fn format(self) -> FormatType {
        [FormatType::Csv, FormatType::Ndjson, FormatType::Excel, FormatType::Parquet][(self.0 & 3) as usize]
    }
    fn delimiter(self) -> &'static str {
        [",", ";", "|", "\\t"][(self.0 >> 2 & 3) as usize]
    }
    fn header(self) -> bool {
        self.0 & 16 == 0
    }
    fn trim(self) -> bool {
        self.0 & 32 == 0
    }
    fn encoding(self) -> &'static str {
        ["auto", "windows-1252", "utf-16", "utf-8"][(self.0 >> 6) as usize]
    }
    /// The file name's suffix: none, `.gz`, `.zip`, or none with the
    /// compression told by the configuration (gzip).
    fn suffix(self) -> (&'static str, &'static str) {
        [("", "auto"), (".gz", "auto"), (".zip", "auto"), ("", "gzip")][(self.1 & 3) as usize]
    }
    fn skip_rows(self) -> usize {
        (self.1 >> 2 & 3) as usize
    }
    fn escape(self) -> Option<String> {
        (self.1 & 16 != 0).then(|| "\\".into())
    }
    fn quote(self) -> Option<String> {
        (self.1 & 32 != 0).then(|| "'".into())
    }
    fn required(self) -> bool {
        self.1 & 64 != 0
    }
    fn consent(self) -> ConsentPolicy {
        if self.1 & 128 != 0 { ConsentPolicy::Required } else { ConsentPolicy::Agreement }
    }
}

/// What became of one input.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// The options were refused as a configuration would be.
    pub invalid_options: bool,
    /// The file was rejected whole, with this code.
    pub file_error: Option<&'static str>,
    pub rows_read: u64,
    pub rows_loaded: u64,
    pub rows_quarantined: u64,
}

/// Read `input` (two choice bytes, then the file) as `braid pull` would,
/// and panic if a promise of the module doc is broken.
pub fn one_file(input: &[u8]) -> Outcome {
    let (choice, file) = match input {
        [a, b, rest @ ..] => (Choice(*a, *b), rest),
        _ => return Outcome::default(),
    };
    one_file_as(choice, file)
}

/// [`one_file`] with the choice given apart from the file.
pub fn one_file_as(choice: Choice, file: &[u8]) -> Outcome {
    let s = setup();
    let mut partner = s.partner.clone();
    partner.consent = choice.consent();
    let feed = &mut partner.feeds[0];
    let format = choice.format();
    feed.format.kind = Some(format);
    if format == FormatType::Csv {
        feed.format.delimiter = Some(choice.delimiter().into());
        feed.format.trim = Some(choice.trim());
        feed.format.encoding = choice.encoding().into();
        feed.format.skip_rows = choice.skip_rows();
        feed.format.escape = choice.escape();
        feed.format.quote = choice.quote();
        if !choice.header() {
            feed.format.header = Some(false);
            feed.format.columns = Some(COLUMNS.iter().map(|c| c.to_string()).collect());
        }
    }
    let (suffix, compression) = choice.suffix();
    feed.format.compression = compression.into();
    if choice.required() {
        feed.map.required = vec![crate::model::Field::RecordId, crate::model::Field::Dob];
    }
    let mut out = Outcome::default();
    if partner.validate().is_err() {
        out.invalid_options = true;
        return out;
    }
    let feed = &partner.feeds[0];
    let path = format!("fuzz/input.{}{suffix}", ["csv", "ndjson", "xlsx", "parquet"][choice.0 as usize & 3]);
    let data = match decompress(file, &path, &feed.format.compression, LIMITS.max_decompressed_bytes) {
        Ok(d) => d,
        Err(e) => {
            no_quote("file error", e.message.as_str(), file);
            out.file_error = Some(e.code);
            return out;
        }
    };
    let rules = Rules { min_age: 14, max_age: 100, today: NaiveDate::from_ymd_opt(2026, 11, 1).expect("date") };
    let mut protector = Protector::new(&s.keys, &partner.id, partner.consent, s.variants.clone(), Default::default());
    let forget_key = s.keys.key(Purpose::Forget);
    let forget = Default::default();
    // The header arrives in one callback and the rows in another.
    let started: RefCell<Option<(Mapper, Vec<String>)>> = RefCell::new(None);
    let mut duplicates = Duplicates::default();
    let (mut batch_rows, mut loaded, mut quarantined) = (0u64, 0u64, 0u64);
    let result = parse(
        &data,
        uncompressed_name(&path),
        &feed.format,
        &LIMITS,
        &mut |parsed| {
            let mapper = Mapper::new(&feed.map, &parsed.headers, feed.format.null_markers(), rules)?;
            *started.borrow_mut() = Some((mapper, parsed.headers.clone()));
            Ok(())
        },
        &mut |rows| -> Result<crate::parse::Spare, FileError> {
            batch_rows += rows.len() as u64;
            let mut started = started.borrow_mut();
            let (mapper, headers) = started.as_mut().expect("the header comes before the rows");
            let cells: Vec<String> = rows.iter().flat_map(|r| r.cells.iter().map(str::to_string)).collect();
            let (rows, rejections) = split_duplicates(rows, &mut duplicates, mapper);
            let work = Work { index: 0, rows, rejections };
            let done = process(work, mapper, &mut protector, &forget, &forget_key, &partner, feed, "fuzz", s.keys.key_id(), None)
                .expect("building record batches in memory cannot fail");
            assert_eq!(done.staged.num_rows() as u64, done.loaded, "one staged record per loaded row");
            // (Beside the part dictionary's entries, which belong to no row.)
            let encodings = done.identity.iter().map(|b| b.column(4).as_any().downcast_ref::<datafusion::arrow::array::BinaryArray>().expect("binary encodings"));
            let identities = encodings.flat_map(|e| e.iter().flatten()).filter(|e| !crate::protect::encode::PartDictionary::is_entry(e)).count() as u64;
            assert!(identities <= done.loaded, "at most one identity per loaded row");
            for r in &done.rejections {
                if let Some(cell) = cells.iter().find(|c| quotable(c, headers) && r.detail.contains(c.as_str())) {
                    panic!("quarantine detail `{}` ({}) quotes a cell of {} bytes", r.detail, r.reason, cell.len());
                }
            }
            loaded += done.loaded;
            quarantined += done.rejections.iter().filter(|r| !r.row_loaded).count() as u64;
            // Handed back as `braid pull` does: later rows are read into
            // these rows' records.
            Ok(done.rows.into_iter().map(|r| r.cells).collect())
        },
    );
    match result {
        Ok(read) => {
            assert_eq!(read, batch_rows, "rows read = rows handed over in batches");
            assert_eq!(read, loaded + quarantined, "rows read = rows loaded + rows quarantined");
            out.rows_read = read;
            out.rows_loaded = loaded;
            out.rows_quarantined = quarantined;
        }
        // A rejected file loads nothing: `braid pull` commits no staging
        // file and no ledger entry of rows for it.
        Err(e) => {
            no_quote("file error", e.message.as_str(), file);
            out.file_error = Some(e.code);
        }
    }
    out
}

/// Panic if `message` quotes a piece of the file's text (header row
/// included: a file exported without one has a person's values there).
fn no_quote(what: &str, message: &str, file: &[u8]) {
    let text = String::from_utf8_lossy(file);
    let pieces = text.split(|c: char| c.is_whitespace() || c.is_control() || ",;|\"'{}[]:`".contains(c));
    if let Some(piece) = pieces.into_iter().find(|p| quotable(p, &[]) && message.contains(p)) {
        panic!("{what} `{message}` quotes a piece of the file of {} bytes", piece.len());
    }
}

/// Words of braid's own messages that look like data: an example in the
/// wage-quarter detail, and the names of text encodings (`UTF-16BE`). The
/// fuzzer learns such strings from the code and puts them in files.
const MESSAGE_WORDS: [&str; 1] = ["2024Q3"];

/// A cell that no message could hold by chance: six bytes or more, with an
/// upper-case letter and a digit, not a column name (messages name
/// columns), and not one of braid's own message words.
fn quotable(cell: &str, headers: &[String]) -> bool {
    cell.len() >= 6
        && cell.bytes().any(|b| b.is_ascii_uppercase())
        && cell.bytes().any(|b| b.is_ascii_digit())
        && !headers.iter().any(|h| h.contains(cell))
        && !MESSAGE_WORDS.contains(&cell)
        && encoding_rs::Encoding::for_label(cell.as_bytes()).is_none()
}
