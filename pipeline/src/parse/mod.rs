//! parse: partner files (CSV/TSV/pipe/semicolon, Excel, NDJSON, Parquet) to
//! rows of text, in batches.
//!
//! A file-level problem (empty, header only, unknown encoding, binary
//! garbage, unterminated quote, truncated, sheet not found, over a limit) is a
//! [`FileError`]: the file is rejected whole with a message that names the
//! position. A row-level problem (wrong number of fields, a field too long) is
//! passed on as a [`RawRow`] with an issue, so that `map` quarantines the row
//! and the row count still adds up.
//!
//! Nothing here logs or returns a cell value.

mod csv;
mod decode;
mod excel;
mod ndjson;
mod parquet;

use serde::Deserialize;

pub use decode::{decode_text, decompress, uncompressed_name};

/// Rows handed to the caller at a time.
pub const BATCH_ROWS: usize = 8192;

/// The file formats braid reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FormatType {
    /// Delimited text: CSV, TSV, pipe- or semicolon-separated.
    Csv,
    /// Excel workbooks: .xlsx, .xlsm, .xls, .ods.
    Excel,
    /// Newline-delimited JSON objects.
    Ndjson,
    Parquet,
}

/// How to read a partner's files. Options that do not apply to the format
/// are refused by `validate`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FormatConfig {
    /// csv, excel, ndjson or parquet. Default: from the file extension.
    #[serde(rename = "type")]
    pub kind: Option<FormatType>,
    /// Text encoding: `auto` (BOM, else UTF-8), `utf-8`, `windows-1252`,
    /// `latin-1`, `utf-16` (needs a BOM), or any WHATWG label.
    #[serde(default = "default_encoding")]
    pub encoding: String,
    /// Field delimiter, one character; `\t` for TSV. Default `,`.
    pub delimiter: Option<String>,
    /// Quote character. Default `"`.
    pub quote: Option<String>,
    /// Escape character inside quotes (default: doubled quotes).
    pub escape: Option<String>,
    /// Whether the first (non-skipped) row is a header. Default true.
    pub header: Option<bool>,
    /// Column names when the file has no header row.
    pub columns: Option<Vec<String>>,
    /// Rows to skip before the header (titles, export banners).
    #[serde(default)]
    pub skip_rows: usize,
    /// Trim whitespace around fields (also after separators: `a, b`).
    /// Default true.
    pub trim: Option<bool>,
    /// Cell values that mean "missing". Default: empty, NULL, N/A, NA, #N/A.
    pub null_markers: Option<Vec<String>>,
    /// Excel: sheet name, or 0-based index as a number. Default: first sheet.
    pub sheet: Option<SheetRef>,
    /// Compression: `auto` (by extension), `none`, `gzip`, `zip`.
    #[serde(default = "default_compression")]
    pub compression: String,
}

impl Default for FormatConfig {
    fn default() -> Self {
        FormatConfig {
            kind: None,
            encoding: default_encoding(),
            delimiter: None,
            quote: None,
            escape: None,
            header: None,
            columns: None,
            skip_rows: 0,
            trim: None,
            null_markers: None,
            sheet: None,
            compression: default_compression(),
        }
    }
}

fn default_encoding() -> String {
    "auto".into()
}
fn default_compression() -> String {
    "auto".into()
}

/// An Excel sheet, by name or 0-based position.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum SheetRef {
    Index(usize),
    Name(String),
}

impl FormatConfig {
    /// Check the options of a feed whose files match `glob` (a `.tsv` or
    /// `.psv` name implies its delimiter).
    pub fn validate(&self, glob: &str) -> Result<(), String> {
        for (name, v) in [("delimiter", &self.delimiter), ("quote", &self.quote), ("escape", &self.escape)] {
            if let Some(v) = v
                && single_byte(v).is_none()
            {
                return Err(format!("format.{name} must be one ASCII character (got {} characters)", v.chars().count()));
            }
            if let Some(b'\n' | b'\r') = v.as_deref().and_then(single_byte) {
                return Err(format!("format.{name} cannot be a line ending"));
            }
        }
        // A quote that is also the delimiter (or an escape that is) makes
        // every row ambiguous: the reader would split fields at random.
        let delimiter = self.delimiter_byte(glob);
        if self.quote_byte() == delimiter {
            return Err("format.quote and format.delimiter must be different characters".into());
        }
        if self.escape_byte() == Some(delimiter) {
            return Err("format.escape and format.delimiter must be different characters".into());
        }
        if self.encoding != "auto" && decode::encoding_for_label(&self.encoding).is_none() {
            return Err(format!("format.encoding `{}` is not a known encoding", self.encoding));
        }
        if !["auto", "none", "gzip", "zip"].contains(&self.compression.as_str()) {
            return Err(format!("format.compression `{}` must be auto, none, gzip or zip", self.compression));
        }
        if self.header == Some(false) && self.columns.is_none() {
            return Err("format.header = false needs format.columns".into());
        }
        match self.kind {
            Some(FormatType::Csv) | None => {}
            Some(other) => {
                let csv_only = [
                    ("delimiter", self.delimiter.is_some()),
                    ("quote", self.quote.is_some()),
                    ("escape", self.escape.is_some()),
                ];
                if let Some((name, _)) = csv_only.iter().find(|(_, set)| *set) {
                    return Err(format!("format.{name} applies to csv, not {other:?}"));
                }
            }
        }
        if self.sheet.is_some() && !matches!(self.kind, Some(FormatType::Excel) | None) {
            return Err("format.sheet applies to excel only".into());
        }
        Ok(())
    }

    /// The format for a file: configured, else from its extension.
    pub fn resolve_type(&self, path: &str) -> Option<FormatType> {
        if let Some(k) = self.kind {
            return Some(k);
        }
        let stem = uncompressed_name(path).to_ascii_lowercase();
        let ext = stem.rsplit('.').next().unwrap_or("");
        match ext {
            "csv" | "tsv" | "txt" | "psv" | "dat" => Some(FormatType::Csv),
            "xlsx" | "xlsm" | "xls" | "xlsb" | "ods" => Some(FormatType::Excel),
            "ndjson" | "jsonl" | "json" => Some(FormatType::Ndjson),
            "parquet" | "pq" => Some(FormatType::Parquet),
            _ => None,
        }
    }

    pub fn null_markers(&self) -> Vec<String> {
        self.null_markers.clone().unwrap_or_else(|| {
            ["", "NULL", "null", "N/A", "n/a", "NA", "#N/A"].iter().map(|s| s.to_string()).collect()
        })
    }

    /// The quote character, `"` by default.
    pub fn quote_byte(&self) -> u8 {
        self.quote.as_deref().and_then(single_byte).unwrap_or(b'"')
    }

    /// The escape character inside quotes, if one is set (else doubled
    /// quotes).
    pub fn escape_byte(&self) -> Option<u8> {
        self.escape.as_deref().and_then(single_byte)
    }

    pub fn delimiter_byte(&self, path: &str) -> u8 {
        match &self.delimiter {
            Some(d) => single_byte(d).unwrap_or(b','),
            None if path.to_ascii_lowercase().contains(".tsv") => b'\t',
            None if path.to_ascii_lowercase().contains(".psv") => b'|',
            None => b',',
        }
    }
}

fn single_byte(s: &str) -> Option<u8> {
    let s = if s == "\\t" { "\t" } else { s };
    let b = s.as_bytes();
    (b.len() == 1 && b[0].is_ascii()).then_some(b[0])
}

/// Limits that protect the job from runaway input. Set in `[ingest]`.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_file_bytes: u64,
    pub max_decompressed_bytes: u64,
    pub max_line_bytes: usize,
    pub max_field_bytes: usize,
    pub max_rows: u64,
}

/// Cells of rows that [`parse`]'s consumer has finished with, handed back
/// from `on_batch` for the parser to read later rows into: their buffers
/// are reused instead of allocated anew for every row. May be empty (only
/// the CSV parser reuses them).
pub type Spare = Vec<::csv::StringRecord>;

/// One row of a partner file, as text.
#[derive(Debug, Clone)]
pub struct RawRow {
    /// 1-based line (text formats) or row (Excel, Parquet) number in the file,
    /// counting the header.
    pub line: u64,
    /// Cells, aligned with [`Parsed::headers`]. Missing trailing cells are
    /// absent; `map` treats them as empty.
    pub cells: ::csv::StringRecord,
    /// A row-level problem that makes `map` quarantine the row.
    pub issue: Option<RowIssue>,
}

/// A row-level problem found while parsing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowIssue {
    /// The row has a different number of fields from the header.
    FieldCount { expected: usize, found: usize },
    /// A field is longer than `max_field_bytes`.
    FieldTooLong { column: usize },
    /// The line is longer than `max_line_bytes`.
    LineTooLong,
    /// An NDJSON line that is not a JSON object.
    NotAnObject,
    /// An NDJSON line that is not valid JSON.
    BadJson { column_in_line: usize },
    /// A spreadsheet cell that holds an error (`#REF!`, `#N/A`, ...)
    /// instead of a value.
    CellError { column: usize },
    /// An NDJSON number with more digits than a 64-bit number keeps.
    InexactNumber { column: usize },
    /// An NDJSON object that gives a field twice: the same key twice, or a
    /// dotted key beside the nested one it names.
    DuplicateKey { column: usize },
}

impl RowIssue {
    pub fn code(&self) -> &'static str {
        match self {
            RowIssue::FieldCount { .. } => "field_count",
            RowIssue::FieldTooLong { .. } => "field_too_long",
            RowIssue::LineTooLong => "line_too_long",
            RowIssue::NotAnObject => "not_an_object",
            RowIssue::BadJson { .. } => "bad_json",
            RowIssue::CellError { .. } => "cell_error",
            RowIssue::InexactNumber { .. } => "inexact_number",
            RowIssue::DuplicateKey { .. } => "duplicate_key",
        }
    }

    pub fn detail(&self, headers: &[String]) -> (Option<String>, String) {
        match self {
            RowIssue::FieldCount { expected, found } => (
                None,
                format!(
                    "row has {found} fields, the header has {expected}; check for an unquoted \
                     delimiter or a stray quote"
                ),
            ),
            RowIssue::FieldTooLong { column } => (
                headers.get(*column).cloned(),
                "field is longer than ingest.max_field_bytes".into(),
            ),
            RowIssue::CellError { column } => (
                headers.get(*column).cloned(),
                "the cell holds a spreadsheet error (#REF!, #N/A, #VALUE!, ...) instead of a value".into(),
            ),
            RowIssue::InexactNumber { column } => (
                headers.get(*column).cloned(),
                "a JSON number with more digits than a 64-bit number keeps (an id or amount sent as a number, not a string): its digits would be lost".into(),
            ),
            RowIssue::DuplicateKey { column } => (
                headers.get(*column).cloned(),
                "the object gives this field twice (the same key twice, or a dotted key beside a nested one): which value is meant is unclear".into(),
            ),
            RowIssue::LineTooLong => (None, "line is longer than ingest.max_line_bytes".into()),
            RowIssue::NotAnObject => (None, "line is JSON but not an object".into()),
            RowIssue::BadJson { column_in_line } => {
                (None, format!("line is not valid JSON (error at character {column_in_line})"))
            }
        }
    }
}

/// Text whose lines end in a lone CR (no LF anywhere), with LF instead.
pub fn lone_cr_to_lf(text: std::borrow::Cow<'_, str>) -> std::borrow::Cow<'_, str> {
    // A line feed first: it is found in the first line of nearly every
    // file, where a search for a carriage return reads all of it.
    if !text.contains('\n') && text.contains('\r') { std::borrow::Cow::Owned(text.replace('\r', "\n")) } else { text }
}

/// What a parsed file looks like, handed over before the first batch.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub headers: Vec<String>,
    pub format: FormatType,
    /// The encoding actually used (text formats).
    pub encoding: Option<&'static str>,
}

/// A problem that rejects the whole file. The message names the position and
/// never quotes file content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FileError {
    pub code: &'static str,
    pub message: String,
}

impl FileError {
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        FileError { code, message: message.into() }
    }
}

/// Parse `bytes` (already decompressed) as `format`. `on_start` receives the
/// headers; `on_batch` receives rows in batches of up to [`BATCH_ROWS`]
/// and may hand back the cells of earlier ones ([`Spare`]).
/// Returns the number of rows read.
pub fn parse(
    bytes: &[u8],
    path: &str,
    cfg: &FormatConfig,
    limits: &Limits,
    on_start: &mut dyn FnMut(&Parsed) -> Result<(), FileError>,
    on_batch: &mut dyn FnMut(Vec<RawRow>) -> Result<Spare, FileError>,
) -> Result<u64, FileError> {
    if bytes.is_empty() {
        return Err(FileError::new("empty_file", "file is empty (0 bytes)"));
    }
    let kind = cfg.resolve_type(path).ok_or_else(|| {
        FileError::new(
            "unknown_format",
            "cannot tell the format from the file name; set format.type",
        )
    })?;
    let rows = match kind {
        FormatType::Csv => csv::parse(bytes, path, cfg, limits, on_start, on_batch)?,
        FormatType::Ndjson => ndjson::parse(bytes, cfg, limits, on_start, on_batch)?,
        FormatType::Excel => excel::parse(bytes, cfg, limits, on_start, on_batch)?,
        FormatType::Parquet => parquet::parse(bytes, limits, on_start, on_batch)?,
    };
    if rows > limits.max_rows {
        return Err(FileError::new(
            "too_many_rows",
            format!("file has more than ingest.max_rows = {} rows", limits.max_rows),
        ));
    }
    Ok(rows)
}

thread_local! {
    static IN_READER: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Run a third-party reader (Parquet, Excel, zip) on a partner's bytes.
/// Such readers can panic on a corrupt file, a bug of theirs; the file is
/// then rejected with `code`, as any corrupt file is, and braid goes on.
/// Only the reader runs inside: braid's own code (the row callbacks) never
/// does, so a bug of braid's is never taken for a corrupt file.
pub(crate) fn guarded<T>(code: &'static str, what: &str, f: impl FnOnce() -> Result<T, FileError>) -> Result<T, FileError> {
    let outer = IN_READER.with(|g| g.replace(true));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    IN_READER.with(|g| g.set(outer));
    r.unwrap_or_else(|_| Err(FileError::new(code, format!("{what}: the file is corrupt (its reader could not make sense of it)"))))
}

/// Whether this thread is inside `guarded`: the panic hook of the
/// `braid` binary stays quiet there, as the panic is a rejected file.
pub fn in_guarded_reader() -> bool {
    IN_READER.with(|g| g.get())
}

/// Check headers: no empty file, no duplicate column names.
fn check_headers(headers: &[String]) -> Result<(), FileError> {
    if headers.iter().all(|h| h.trim().is_empty()) {
        return Err(FileError::new("no_header", "header row is empty"));
    }
    // Positions only: a file exported without its header row has a
    // person's values where the names would be.
    let mut seen = std::collections::HashMap::new();
    for (i, h) in headers.iter().enumerate() {
        if h.is_empty() {
            continue;
        }
        if let Some(first) = seen.insert(h.as_str(), i) {
            return Err(FileError::new(
                "duplicate_column",
                format!(
                    "columns {} and {} of the header row have the same name; names must be unique (if the file has no header row, set format.header = false and format.columns)",
                    first + 1,
                    i + 1
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
pub(crate) fn parse_all(
    bytes: &[u8],
    path: &str,
    cfg: &FormatConfig,
) -> Result<(Parsed, Vec<RawRow>), FileError> {
    let limits = Limits {
        max_file_bytes: 1 << 30,
        max_decompressed_bytes: 1 << 30,
        max_line_bytes: 1 << 20,
        max_field_bytes: 1 << 16,
        max_rows: 10_000_000,
    };
    let mut parsed = None;
    let mut rows = Vec::new();
    parse(
        bytes,
        path,
        cfg,
        &limits,
        &mut |p| {
            parsed = Some(p.clone());
            Ok(())
        },
        &mut |b| {
            rows.extend(b);
            Ok(Spare::new())
        },
    )?;
    Ok((parsed.expect("started"), rows))
}
