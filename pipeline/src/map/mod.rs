//! map: partner columns and codes to the common schema, with validation.
//!
//! A [`Mapper`] is compiled once per file from the feed's
//! [`MappingConfig`] and the file's header, then turns each
//! [`RawRow`] into a [`MappedRow`] or a [`Rejection`]
//! (quarantine). Rejections name the partner's column and the reason, never
//! the value.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use chrono::{Datelike, NaiveDate, NaiveDateTime};
use serde::Deserialize;

use crate::model::{Field, FieldRole, FieldType};
use crate::parse::{FileError, RawRow};
use crate::protect::normalize::NameOrder;

/// How one feed's columns map to the common schema.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappingConfig {
    /// Common field -> partner column, or a list of columns joined with a
    /// space (`street = ["HouseNo", "StreetName"]`).
    pub columns: BTreeMap<Field, ColumnSpec>,
    /// Fields with the same value for every row of the feed
    /// (`program = "esl"`).
    #[serde(default)]
    pub constants: BTreeMap<Field, String>,
    /// Date formats (chrono `strftime` syntax, or `excel` for serial day
    /// numbers), tried in order. ISO `%Y-%m-%d` is always tried last.
    #[serde(default)]
    pub date_formats: Vec<String>,
    /// Partner code -> common vocabulary, per field. For boolean fields the
    /// targets are `true`/`false`.
    #[serde(default)]
    pub codes: BTreeMap<Field, BTreeMap<String, String>>,
    /// Fields a row must have; a row without one is quarantined.
    #[serde(default)]
    pub required: Vec<Field>,
    /// Order of the words in `full_name` when it has no comma.
    #[serde(default)]
    pub name_order: NameOrder,
}

/// One partner column, or several joined with a space.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ColumnSpec {
    One(String),
    Many(Vec<String>),
}

impl ColumnSpec {
    pub fn names(&self) -> Vec<&str> {
        match self {
            ColumnSpec::One(s) => vec![s.as_str()],
            ColumnSpec::Many(v) => v.iter().map(String::as_str).collect(),
        }
    }
    pub fn display(&self) -> String {
        self.names().join("+")
    }
}

impl MappingConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.columns.is_empty() {
            return Err("map.columns is empty".into());
        }
        for f in &self.required {
            if !self.columns.contains_key(f) && !self.constants.contains_key(f) {
                return Err(format!("map.required names `{}`, which is not mapped in map.columns", f.name()));
            }
        }
        for f in self.codes.keys() {
            if !matches!(f.field_type(), FieldType::Code | FieldType::Bool) {
                return Err(format!("map.codes.{}: only code and boolean fields take a code table", f.name()));
            }
        }
        for fmt in &self.date_formats {
            if fmt != "excel" && !fmt.contains('%') {
                return Err(format!("map.date_formats: `{fmt}` is not a strftime format (e.g. %m/%d/%Y)"));
            }
        }
        if self.columns.contains_key(&Field::WagePeriod)
            && (self.columns.contains_key(&Field::WageYear) || self.columns.contains_key(&Field::WageQuarter))
        {
            return Err("map: use wage_period, or wage_year with wage_quarter, not both".into());
        }
        Ok(())
    }
}

/// A typed value of the common schema. Identifier values live only in memory
/// between `map` and `protect`.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Text(String),
    Date(NaiveDate),
    Bool(bool),
    Number(f64),
    /// Integer cents.
    Cents(i64),
}

impl Value {
    pub fn text(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }
    pub fn date(&self) -> Option<NaiveDate> {
        match self {
            Value::Date(d) => Some(*d),
            _ => None,
        }
    }
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
}

/// An accepted row: typed values indexed by `Field` position.
#[derive(Debug, Clone)]
pub struct MappedRow {
    pub line: u64,
    pub values: Vec<Value>,
    /// Birth-date problems that did not reject the row (see
    /// [`Mapper::map`]); they go to the quarantine with `row_loaded`.
    pub set_aside: Vec<Rejection>,
    /// The birth date is a real date but an implausible one: linkage
    /// evidence only, never the analytics' birth year.
    pub dob_for_linkage_only: bool,
}

impl MappedRow {
    pub fn get(&self, f: Field) -> &Value {
        &self.values[field_index(f)]
    }
}

/// The buffers of rows already written, for the next rows to reuse: a
/// worker would otherwise allocate and free a string for every text cell
/// of every row, and a value row and an identity buffer for every row.
#[derive(Debug, Clone, Default)]
pub struct Recycled {
    strings: Vec<String>,
    rows: Vec<Vec<Value>>,
    bytes: Vec<Vec<u8>>,
}

impl Recycled {
    /// How many of each kind are kept (a row's worth, and then some).
    const KEEP: usize = 64;

    /// A text value holding `s`, in a reused buffer when there is one.
    pub fn text(&mut self, s: &str) -> Value {
        let mut t = self.strings.pop().unwrap_or_default();
        t.clear();
        t.push_str(s);
        Value::Text(t)
    }

    /// Keep the buffer of a value that is no longer needed.
    pub fn keep(&mut self, v: Value) {
        if let Value::Text(s) = v
            && self.strings.len() < Self::KEEP
        {
            self.strings.push(s);
        }
    }

    /// Keep a row's values (their buffers, and the row itself).
    pub fn keep_row(&mut self, mut values: Vec<Value>) {
        for v in values.iter_mut() {
            self.keep(std::mem::replace(v, Value::Null));
        }
        if self.rows.len() < Self::KEEP {
            self.rows.push(values);
        }
    }

    /// An empty byte buffer, reused when there is one.
    pub fn bytes(&mut self, capacity: usize) -> Vec<u8> {
        let mut b = self.bytes.pop().unwrap_or_default();
        b.clear();
        b.reserve(capacity);
        b
    }

    pub fn keep_bytes(&mut self, b: Vec<u8>) {
        if self.bytes.len() < Self::KEEP {
            self.bytes.push(b);
        }
    }

    /// A row of `Field::ALL.len()` nulls.
    fn row(&mut self) -> Vec<Value> {
        match self.rows.pop() {
            Some(r) if r.len() == Field::ALL.len() => r,
            _ => vec![Value::Null; Field::ALL.len()],
        }
    }
}

/// A quarantined row, or a value of a loaded row that was set aside.
#[derive(Debug, Clone)]
pub struct Rejection {
    pub line: u64,
    /// The partner column at fault, if one is.
    pub column: Option<String>,
    pub reason: &'static str,
    /// What to fix; never contains a value from the row.
    pub detail: String,
    /// The row's record id, to be hashed into the quarantine's record key.
    pub record_id: Option<String>,
    /// False: the row was not loaded. True: the row was loaded and only the
    /// value in `column` was set aside.
    pub row_loaded: bool,
}

/// Exact duplicate rows within one file (checked in file order, before
/// rows are mapped in parallel).
#[derive(Debug, Default)]
pub struct Duplicates {
    /// 96 bits of the row's digest -> its first line: 16 bytes an entry
    /// (a u128 key's 16-byte alignment would pad it to 32). A million rows
    /// fill a table of 2^21 entries; every byte less is less memory for the
    /// kernel to zero as the first rows are checked, while the workers
    /// wait, and fewer cache misses for every row after. A line past
    /// u32::MAX (a file of over 4 GiB) is kept as u32::MAX.
    seen: foldhash::HashMap<[u32; 3], u32>,
    /// The row's cells and their lengths, reused from row to row.
    buf: Vec<u8>,
}

impl Duplicates {
    /// Size the table for a file of `file_bytes` from its first rows, so
    /// that it is not rebuilt again and again as it grows (a file of a
    /// million rows would rebuild it about twenty times).
    pub fn expect(&mut self, file_bytes: usize, first: &[RawRow]) {
        let bytes: usize = first.iter().map(|r| r.cells.as_byte_record().as_slice().len() + r.cells.len()).sum();
        if bytes > 0 {
            // Capped (2^23 entries, about 140 MiB), since a file can hold
            // more bytes per row than its first rows suggest (NDJSON
            // repeats the keys); past the cap the table grows as it fills.
            self.seen.reserve((file_bytes / bytes.div_ceil(first.len())).min(1 << 22));
        }
    }

    /// The line of an earlier identical row, if there is one.
    pub fn check(&mut self, row: &RawRow) -> Option<u64> {
        // The cells as the parser holds them, one after another, then the
        // length of each: ("ab", "c") and ("a", "bc") differ.
        self.buf.clear();
        self.buf.extend_from_slice(row.cells.as_byte_record().as_slice());
        for c in row.cells.iter() {
            self.buf.extend_from_slice(&(c.len() as u32).to_le_bytes());
        }
        // 96 bits of a 128-bit hash: a million rows collide with odds of
        // about 1 in 10^17, twenty million (the default row limit) 1 in
        // 10^14. It never leaves memory, so it needs no key.
        let d = twox_hash::XxHash3_128::oneshot(&self.buf);
        let digest = [d as u32, (d >> 32) as u32, (d >> 64) as u32];
        match self.seen.entry(digest) {
            std::collections::hash_map::Entry::Occupied(e) => Some(u64::from(*e.get())),
            std::collections::hash_map::Entry::Vacant(e) => {
                e.insert(u32::try_from(row.line).unwrap_or(u32::MAX));
                None
            }
        }
    }
}

/// Whether `headers`, read from a file's header row (CSV, a sheet), can be
/// one, for a feed that requires no field: it has at least half of the
/// mapped fields' columns. A person's row, read as the header because the
/// file was exported without one, can hold a value that is also a column
/// name (`ESL`, `Y`), but not half of them; and its values would be kept as
/// column names. A feed with required fields needs their columns, which a
/// person's values do not spell, and may leave out many optional ones.
/// (NDJSON and Parquet name their columns in every record or in the schema.)
pub fn check_header_row(cfg: &MappingConfig, headers: &[String]) -> Result<(), FileError> {
    if !cfg.required.is_empty() {
        return Ok(());
    }
    let present: std::collections::HashSet<String> = headers.iter().map(|h| h.trim().to_lowercase()).collect();
    let found: Vec<&str> = cfg.columns.values().flat_map(|spec| spec.names()).filter(|n| present.contains(&n.trim().to_lowercase())).collect();
    let fields_found = cfg.columns.values().filter(|spec| spec.names().iter().any(|n| present.contains(&n.trim().to_lowercase()))).count();
    if !found.is_empty() && fields_found * 2 < cfg.columns.len() {
        return Err(FileError::new(
            "no_header_row",
            format!(
                "the header row has only {fields_found} of the {} mapped fields' columns ({}); if the file has no header row, set format.header = false and format.columns",
                cfg.columns.len(),
                found.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", "),
            ),
        ));
    }
    Ok(())
}

/// Distinct unmapped values kept per field (per worker) to report; a column
/// with more holds something other than codes.
pub const UNMAPPED_KEPT: usize = 64;

/// Things worth telling the partner that do not reject a row.
#[derive(Debug, Clone, Default)]
pub struct Warnings {
    /// (field, partner code) -> rows with a code not in `map.codes`: at
    /// most [`UNMAPPED_KEPT`] values per field.
    pub unmapped_codes: BTreeMap<(String, String), u64>,
    /// field -> rows with an unmapped value beyond those kept.
    pub unmapped_more: BTreeMap<String, u64>,
    /// field -> rows whose date reads differently under two configured
    /// formats (day/month ambiguity); the first format was used.
    pub ambiguous_dates: BTreeMap<String, u64>,
    /// field -> rows where the field was empty.
    pub missing: BTreeMap<String, u64>,
}

impl Warnings {
    /// Counts a row whose `field` holds `code`, which `map.codes` lacks.
    fn unmapped(&mut self, field: &str, code: &str) {
        let key = (field.to_string(), code.to_string());
        if let Some(n) = self.unmapped_codes.get_mut(&key) {
            *n += 1;
        } else if self.unmapped_codes.range((field.to_string(), String::new())..).take_while(|((f, _), _)| f == field).count() < UNMAPPED_KEPT {
            self.unmapped_codes.insert(key, 1);
        } else {
            *self.unmapped_more.entry(field.to_string()).or_default() += 1;
        }
    }

    pub fn merge(&mut self, other: Warnings) {
        for (k, v) in other.unmapped_codes {
            *self.unmapped_codes.entry(k).or_default() += v;
        }
        for (k, v) in other.unmapped_more {
            *self.unmapped_more.entry(k).or_default() += v;
        }
        for (k, v) in other.ambiguous_dates {
            *self.ambiguous_dates.entry(k).or_default() += v;
        }
        for (k, v) in other.missing {
            *self.missing.entry(k).or_default() += v;
        }
    }
}

/// Plausibility rules, from `[ingest]`.
#[derive(Debug, Clone, Copy)]
pub struct Rules {
    pub min_age: i32,
    pub max_age: i32,
    pub today: NaiveDate,
}

/// Position of `f` in [`Field::ALL`] (declaration order; see the test).
#[inline]
pub fn field_index(f: Field) -> usize {
    f as usize
}

/// A mapping compiled against one file's header. Clone it for each worker.
#[derive(Clone)]
pub struct Mapper {
    cols: Vec<(Field, Vec<usize>, String)>,
    constants: Vec<(Field, Value)>,
    formats: Vec<String>,
    /// `formats`, compiled once (None for "excel" serial numbers).
    compiled: Vec<Option<Vec<chrono::format::Item<'static>>>>,
    codes: HashMap<Field, HashMap<String, String>>,
    required: Vec<Field>,
    null_markers: Vec<String>,
    /// Bit n set when a null marker is n bytes long (n < 64).
    null_lengths: u64,
    rules: Rules,
    pub name_order: NameOrder,
    pub warnings: Warnings,
    /// Rows where each field was empty, by field index (folded into
    /// `warnings.missing` by [`Mapper::take_warnings`]).
    missing: Vec<u64>,
    /// Mapped columns absent from the file (optional fields only).
    pub absent_columns: Vec<String>,
    /// Buffers handed back by the rows' consumer (see [`Recycled`]).
    pub recycled: Recycled,
    /// The file's column names (real ones: the mapped columns were found
    /// among them), for quarantine rows about a column the parser flagged.
    headers: Vec<String>,
}

impl Mapper {
    /// Compile `cfg` against `headers`. A missing column for a required field
    /// rejects the file; a missing optional column is reported.
    pub fn new(
        cfg: &MappingConfig,
        headers: &[String],
        null_markers: Vec<String>,
        rules: Rules,
    ) -> Result<Mapper, FileError> {
        // Columns are found whatever their case; where the header has two
        // names that differ only in case, the one spelled as configured.
        let mut index: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, h) in headers.iter().enumerate() {
            index.entry(h.trim().to_lowercase()).or_default().push(i);
        }
        let column_of = |name: &str| -> Result<Option<usize>, FileError> {
            let Some(at) = index.get(&name.trim().to_lowercase()) else { return Ok(None) };
            match (at.as_slice(), at.iter().copied().filter(|i| headers[*i].trim() == name.trim()).collect::<Vec<_>>().as_slice()) {
                ([i], _) | (_, [i]) => Ok(Some(*i)),
                _ => Err(FileError::new(
                    "duplicate_column",
                    format!(
                        "columns {} of the header row all match the mapped column `{name}` (their names differ only in case); names must be unique",
                        at.iter().map(|i| (i + 1).to_string()).collect::<Vec<_>>().join(", ")
                    ),
                )),
            }
        };
        // Messages name columns from the configuration only, never the
        // file's: in a file exported without its header row, the first row
        // is a person's names, birth date and ids.
        let mapped: Vec<&str> = cfg.columns.values().flat_map(|spec| spec.names()).collect();
        let found: Vec<&str> = mapped.iter().copied().filter(|n| index.contains_key(&n.trim().to_lowercase())).collect();
        if found.is_empty() && !mapped.is_empty() {
            return Err(FileError::new(
                "no_mapped_columns",
                format!(
                    "none of the {} mapped columns ({}) is in the header row, which has {} column(s); if the file has no header row, set format.header = false and format.columns",
                    mapped.len(),
                    mapped.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", "),
                    headers.len()
                ),
            ));
        }
        let mut cols = Vec::new();
        let mut absent = Vec::new();
        for (field, spec) in &cfg.columns {
            let mut idx = Vec::new();
            for name in spec.names() {
                match column_of(name)? {
                    Some(i) => idx.push(i),
                    None => {
                        if cfg.required.contains(field) {
                            return Err(FileError::new(
                                "missing_column",
                                format!(
                                    "required column `{name}` (mapped to {}) is not in the header; of the mapped columns it has: {}",
                                    field.name(),
                                    found.join(", ")
                                ),
                            ));
                        }
                        absent.push(name.to_string());
                    }
                }
            }
            if !idx.is_empty() {
                cols.push((*field, idx, spec.display()));
            }
        }
        let constants: Vec<(Field, String)> = cfg.constants.iter().map(|(f, v)| (*f, v.clone())).collect();
        let mut formats = cfg.date_formats.clone();
        for iso in ["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"] {
            if !formats.iter().any(|f| f == iso) {
                formats.push(iso.to_string());
            }
        }
        let codes = cfg
            .codes
            .iter()
            .map(|(f, m)| (*f, m.iter().map(|(k, v)| (k.trim().to_lowercase(), v.clone())).collect()))
            .collect();
        let compiled = formats
            .iter()
            .map(|f| (f != "excel").then(|| chrono::format::StrftimeItems::new(f).parse_to_owned().ok()).flatten())
            .collect();
        let mut m = Mapper {
            cols,
            constants: vec![],
            compiled,
            formats,
            codes,
            required: cfg.required.clone(),
            null_lengths: null_markers.iter().filter(|m| m.len() < 64).fold(0, |bits, m| bits | 1 << m.len()),
            null_markers,
            rules,
            name_order: cfg.name_order,
            warnings: Warnings::default(),
            missing: vec![0; Field::ALL.len()],
            absent_columns: absent,
            recycled: Recycled::default(),
            // Row issues name a column only where the configuration does:
            // other names come from the file, and an NDJSON object keyed by
            // values (a phone number, a relative's name) makes columns of
            // them.
            headers: headers
                .iter()
                .enumerate()
                .map(|(i, h)| match mapped.iter().find(|n| n.trim().to_lowercase() == h.trim().to_lowercase()) {
                    Some(n) => n.trim().to_string(),
                    None => format!("column {}", i + 1),
                })
                .collect(),
        };
        // Constants are typed like cell values, once.
        for (f, text) in constants {
            let v = m.typed(f, Cow::Owned(text)).map_err(|(_, detail)| {
                FileError::new("bad_constant", format!("map.constants.{}: {detail}", f.name()))
            })?;
            m.constants.push((f, v));
        }
        Ok(m)
    }

    /// The partner column(s) mapped to `f`, for messages.
    pub fn column_of(&self, f: Field) -> Option<&str> {
        self.cols.iter().find(|(x, _, _)| *x == f).map(|(_, _, n)| n.as_str())
    }

    /// The row's partner record id, if the feed maps one.
    pub fn record_id(&self, row: &RawRow) -> Option<String> {
        self.cols.iter().find(|(f, _, _)| *f == Field::RecordId).and_then(|(_, idx, _)| self.cell_text(row, idx).map(Cow::into_owned))
    }

    /// Map one row (duplicates are checked before, in file order: see
    /// [`Duplicates`]).
    /// The warnings gathered so far; the mapper starts afresh.
    pub fn take_warnings(&mut self) -> Warnings {
        let mut w = std::mem::take(&mut self.warnings);
        for (i, n) in self.missing.iter_mut().enumerate() {
            if *n > 0 {
                *w.missing.entry(Field::ALL[i].name().to_string()).or_default() += *n;
                *n = 0;
            }
        }
        w
    }

    fn reject(&self, row: &RawRow, column: Option<String>, reason: &'static str, detail: String) -> Rejection {
        Rejection { line: row.line, column, reason, detail, record_id: self.record_id(row), row_loaded: false }
    }

    pub fn map(&mut self, row: &RawRow) -> Result<MappedRow, Rejection> {
        if let Some(issue) = &row.issue {
            let (col, detail) = issue.detail(&self.headers);
            return Err(self.reject(row, col, issue.code(), detail));
        }
        let mut values = self.recycled.row();
        // A birth date that cannot be used as it is: (column, reason, detail).
        let mut dob_issue: Option<(Option<String>, &'static str, String)> = None;
        for (f, v) in &self.constants {
            values[field_index(*f)] = v.clone();
        }
        for i in 0..self.cols.len() {
            let field = self.cols[i].0;
            let Some(text) = self.cell_text(row, &self.cols[i].1) else {
                self.missing[field_index(field)] += 1;
                continue;
            };
            match self.typed(field, text) {
                Ok(v) => values[field_index(field)] = v,
                // A birth date that is not a date is no evidence, but the
                // person's other identifiers and facts still are.
                Err((reason, detail)) if field == Field::Dob => {
                    dob_issue = Some((Some(self.cols[i].2.clone()), reason, detail));
                }
                Err((reason, detail)) => {
                    let column = Some(self.cols[i].2.clone());
                    return Err(self.reject(row, column, reason, detail));
                }
            }
        }
        // Wage period from year + quarter.
        if values[field_index(Field::WagePeriod)].is_null()
            && let (Value::Number(y), Value::Number(q)) =
                (&values[field_index(Field::WageYear)], &values[field_index(Field::WageQuarter)])
        {
            if !(1.0..=4.0).contains(q) || q.fract() != 0.0 || y.fract() != 0.0 {
                return Err(self.reject(row, self.column_of(Field::WageQuarter).map(String::from), "bad_quarter", "wage quarter must be 1 to 4".into()));
            }
            values[field_index(Field::WagePeriod)] = Value::Text(format!("{}Q{}", *y as i32, *q as i32));
        }
        let mut dob_for_linkage_only = false;
        if let Some((reason, detail)) = values[field_index(Field::Dob)].date().and_then(|d| self.dob_problem(d, &values)) {
            // In the future, or a system's "unknown": no evidence at all.
            // Implausible age: still the same date in every file that holds
            // it, so linkage evidence, but never an age in the analytics.
            if reason == "dob_in_future" || reason == "dob_unknown" {
                values[field_index(Field::Dob)] = Value::Null;
            } else {
                dob_for_linkage_only = true;
            }
            dob_issue = Some((self.column_of(Field::Dob).map(String::from), reason, detail));
        }
        for f in &self.required {
            // A required birth date that cannot be used rejects the row for
            // that reason.
            if *f == Field::Dob
                && let Some((column, reason, detail)) = dob_issue
            {
                return Err(self.reject(row, column, reason, detail));
            }
            if values[field_index(*f)].is_null() {
                let col = self.column_of(*f).map(String::from);
                return Err(self.reject(row, 
                    col.clone(),
                    "missing_required",
                    format!("required field {} is empty", f.name()),
                ));
            }
        }
        let mut mapped = MappedRow { line: row.line, values, set_aside: vec![], dob_for_linkage_only };
        self.check_plausible(&mapped)
            .map_err(|(f, reason, detail)| self.reject(row, self.column_of(f).map(String::from), reason, detail))?;
        let has_identity = Field::ALL.iter().any(|f| f.role() == FieldRole::Identifier && !mapped.get(*f).is_null());
        if !has_identity {
            // The bad birth date was the only identifier: rejected for it.
            if let Some((column, reason, detail)) = dob_issue {
                return Err(self.reject(row, column, reason, detail));
            }
            return Err(self.reject(row, None, "no_identity", "row has neither a record id nor any identifier".into()));
        }
        if let Some((column, reason, detail)) = dob_issue {
            let note = if dob_for_linkage_only {
                "the row is loaded, and the date is used only to link it, not as an age"
            } else {
                "the row is loaded without it"
            };
            mapped.set_aside.push(Rejection { row_loaded: true, ..self.reject(row, column, reason, format!("{detail}; {note}")) });
        }
        Ok(mapped)
    }

    /// The cell(s) of a mapped column, trimmed; None when empty or a null
    /// marker. Borrowed from the row unless several columns are joined.
    fn cell_text<'r>(&self, row: &'r RawRow, idx: &[usize]) -> Option<Cow<'r, str>> {
        if let [i] = idx {
            let c = trim(row.cells.get(*i).unwrap_or(""));
            return (!c.is_empty() && !self.is_null_marker(c)).then_some(Cow::Borrowed(c));
        }
        let mut parts = Vec::with_capacity(idx.len());
        for i in idx {
            let c = trim(row.cells.get(*i).unwrap_or(""));
            if !self.is_null_marker(c) {
                parts.push(c);
            }
        }
        let s = parts.join(" ");
        (!s.is_empty()).then_some(Cow::Owned(s))
    }

    fn is_null_marker(&self, c: &str) -> bool {
        // Most cells are no marker's length.
        (c.len() >= 64 || self.null_lengths & (1 << c.len()) != 0) && self.null_markers.iter().any(|m| m == c)
    }

    fn typed(&mut self, field: Field, cell: Cow<'_, str>) -> Result<Value, (&'static str, String)> {
        if field.field_type() == FieldType::Text && !self.codes.contains_key(&field) {
            return Ok(match cell {
                Cow::Borrowed(s) => self.recycled.text(s),
                Cow::Owned(s) => Value::Text(s),
            });
        }
        let text: &str = &cell;
        // Code tables apply first (booleans too).
        let coded: Option<String> = match self.codes.get(&field) {
            Some(table) => match table.get(&text.to_lowercase()) {
                Some(v) => Some(v.clone()),
                None => {
                    if field.field_type() == FieldType::Code {
                        self.warnings.unmapped(field.name(), text);
                        return Ok(Value::Null);
                    }
                    None
                }
            },
            None => None,
        };
        let text = coded.as_deref().unwrap_or(text);
        match field.field_type() {
            FieldType::Text => Ok(self.recycled.text(text)),
            FieldType::Code => Ok(self.recycled.text(trim(text))),
            FieldType::Bool => parse_bool(text).map(Value::Bool).ok_or_else(|| {
                ("bad_boolean", format!("{} is not a yes/no value; map partner codes in map.codes.{}", field.name(), field.name()))
            }),
            FieldType::Number => {
                // A comma only as a thousands separator (1,234.5): a
                // decimal comma (7,5) is not read as 75.
                if !thousands_ok(text.trim().trim_start_matches('-')) {
                    return Err(("bad_number", format!("{} is not a number (a comma is read only between groups of three digits; write decimals with a point)", field.name())));
                }
                let t = text.replace(',', "");
                t.trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite())
                    .map(Value::Number)
                    .ok_or_else(|| ("bad_number", format!("{} is not a number", field.name())))
            }
            FieldType::Money => parse_cents(text)
                .map(Value::Cents)
                .ok_or_else(|| ("bad_money", format!("{} is not an amount in dollars (e.g. 1234.56)", field.name()))),
            FieldType::Quarter => parse_quarter(text)
                .map(Value::Text)
                .ok_or_else(|| ("bad_quarter", format!("{} is not a year and quarter (2024Q3, 20243, 2024-3)", field.name()))),
            FieldType::Date => {
                let (date, ambiguous) = self.parse_date(text, field == Field::Dob).ok_or_else(|| {
                    ("bad_date", format!("{} does not match any configured date format ({})", field.name(), self.formats.join(", ")))
                })?;
                if ambiguous {
                    *self.warnings.ambiguous_dates.entry(field.name().to_string()).or_default() += 1;
                }
                Ok(Value::Date(date))
            }
        }
    }

    /// Try the formats in order. Returns the date and whether another
    /// configured format reads it as a different date.
    fn parse_date(&self, text: &str, is_dob: bool) -> Option<(NaiveDate, bool)> {
        let mut first: Option<NaiveDate> = None;
        let mut ambiguous = false;
        for (fmt, items) in self.formats.iter().zip(&self.compiled) {
            let parsed = match items {
                Some(items) => parse_compiled_date(text, items),
                None => parse_one_date(text, fmt),
            };
            // `%Y` also reads "90" as the year 90: a four-digit-year format
            // leaves a two-digit year to a `%y` format after it.
            let parsed = parsed.filter(|d| !(d.year() < 1000 && fmt.contains("%Y")));
            let parsed = parsed.map(|d| {
                // A two-digit birth year that would make the person younger
                // than ingest.min_age today is in the century before.
                if is_dob && (d > self.rules.today || self.rules.today.year() - d.year() < self.rules.min_age) && fmt.contains("%y") {
                    d.with_year(d.year() - 100).unwrap_or(d)
                } else {
                    d
                }
            });
            if let Some(d) = parsed {
                match first {
                    None => first = Some(d),
                    Some(f) if f != d => ambiguous = true,
                    _ => {}
                }
            }
        }
        first.map(|d| (d, ambiguous))
    }

    /// Why a birth date cannot be used as it is: in the future, or an age
    /// outside `ingest.min_age..=max_age` at the row's first fact date
    /// (today when it has none).
    fn dob_problem(&self, dob: NaiveDate, values: &[Value]) -> Option<(&'static str, String)> {
        let today = self.rules.today;
        if dob > today {
            return Some(("dob_in_future", "date of birth is in the future".into()));
        }
        if crate::protect::normalize::is_unknown_dob(dob) {
            return Some(("dob_unknown", "date of birth is 1900-01-01 or earlier, a system's way of saying unknown".into()));
        }
        let get = |f: Field| &values[field_index(f)];
        let reference = [Field::EntryDate, Field::ServiceDate, Field::TestDate, Field::CredentialDate, Field::ReferralDate]
            .iter()
            .find_map(|f| get(*f).date())
            .or_else(|| get(Field::WagePeriod).text().and_then(quarter_start))
            .unwrap_or(today);
        let age = age_on(dob, reference);
        (age < self.rules.min_age || age > self.rules.max_age).then(|| {
            (
                "implausible_age",
                format!(
                    "age at the record's date is {age}, outside {}-{} (ingest.min_age/max_age)",
                    self.rules.min_age, self.rules.max_age
                ),
            )
        })
    }

    fn check_plausible(&self, row: &MappedRow) -> Result<(), (Field, &'static str, String)> {
        let today = self.rules.today;
        let horizon = today + chrono::Duration::days(366);
        for f in Field::ALL {
            if f.field_type() == FieldType::Date
                && *f != Field::Dob
                && let Some(d) = row.get(*f).date()
            {
                if d > horizon {
                    return Err((*f, "date_in_future", format!("{} is more than a year in the future", f.name())));
                }
                if d.year() < 1900 {
                    return Err((*f, "date_too_old", format!("{} is before 1900", f.name())));
                }
            }
        }
        if let (Some(entry), Some(exit)) = (row.get(Field::EntryDate).date(), row.get(Field::ExitDate).date())
            && exit < entry
        {
            return Err((Field::ExitDate, "exit_before_entry", "exit date is before entry date".into()));
        }
        if let Value::Cents(c) = row.get(Field::Wages)
            && *c < 0
        {
            return Err((Field::Wages, "negative_wages", "wages are negative".into()));
        }
        Ok(())
    }
}

pub fn age_on(dob: NaiveDate, on: NaiveDate) -> i32 {
    let mut age = on.year() - dob.year();
    if (on.month(), on.day()) < (dob.month(), dob.day()) {
        age -= 1;
    }
    age
}

/// `str::trim`, quick for the usual cell, which neither starts nor ends
/// with whitespace (a byte that is not printable ASCII may start some, so
/// it takes the full check).
fn trim(s: &str) -> &str {
    match s.as_bytes() {
        [first, .., last] if first.is_ascii_graphic() && last.is_ascii_graphic() => s,
        [only] if only.is_ascii_graphic() => s,
        _ => s.trim(),
    }
}

/// Parse with a format compiled by `StrftimeItems::parse_to_owned`; same
/// result as [`parse_one_date`] with its text.
fn parse_compiled_date(text: &str, items: &[chrono::format::Item<'static>]) -> Option<NaiveDate> {
    let mut parsed = chrono::format::Parsed::new();
    chrono::format::parse(&mut parsed, trim(text), items.iter()).ok()?;
    parsed.to_naive_date().ok()
}

fn parse_one_date(text: &str, fmt: &str) -> Option<NaiveDate> {
    let t = trim(text);
    if fmt == "excel" {
        let serial: f64 = t.parse().ok()?;
        if !(1.0..=2_958_465.0).contains(&serial) {
            return None;
        }
        return NaiveDate::from_ymd_opt(1899, 12, 30)?.checked_add_signed(chrono::Duration::days(serial as i64));
    }
    NaiveDate::parse_from_str(t, fmt)
        .ok()
        .or_else(|| NaiveDateTime::parse_from_str(t, fmt).ok().map(|dt| dt.date()))
}

pub fn parse_bool(s: &str) -> Option<bool> {
    let s = s.trim();
    // Every ASCII spelling is short; lower-case it on the stack.
    let mut buf = [0u8; 8];
    let lower: Cow<'_, str> = if s.is_ascii() && s.len() <= buf.len() {
        buf[..s.len()].copy_from_slice(s.as_bytes());
        buf[..s.len()].make_ascii_lowercase();
        Cow::Borrowed(std::str::from_utf8(&buf[..s.len()]).expect("ASCII"))
    } else {
        Cow::Owned(s.to_lowercase())
    };
    match lower.as_ref() {
        "y" | "yes" | "true" | "t" | "1" | "si" | "sí" | "x" => Some(true),
        "n" | "no" | "false" | "f" | "0" => Some(false),
        _ => None,
    }
}

/// Dollars (optionally with `$`, thousands separators and cents) to cents.
pub fn parse_cents(s: &str) -> Option<i64> {
    let t: String = s.trim().chars().filter(|c| *c != '$' && *c != ' ').collect();
    // A comma only as a thousands separator (1,234.50), never as the
    // decimal mark (1234,50 is not 123,450 dollars).
    if !thousands_ok(t.trim_start_matches('-')) {
        return None;
    }
    let t: String = t.chars().filter(|c| *c != ',').collect();
    let (neg, t) = match t.strip_prefix('-') {
        Some(r) => (true, r.to_string()),
        None => (false, t),
    };
    let (whole, frac) = t.split_once('.').unwrap_or((&t, ""));
    if whole.is_empty() && frac.is_empty() {
        return None;
    }
    if !whole.chars().all(|c| c.is_ascii_digit()) || !frac.chars().all(|c| c.is_ascii_digit()) || frac.len() > 2 {
        return None;
    }
    let w: i64 = if whole.is_empty() { 0 } else { whole.parse().ok()? };
    let f: i64 = match frac.len() {
        0 => 0,
        1 => frac.parse::<i64>().ok()? * 10,
        _ => frac.parse().ok()?,
    };
    let c = w.checked_mul(100)?.checked_add(f)?;
    Some(if neg { -c } else { c })
}

/// Whether the commas of a number are thousands separators: none, or
/// between groups of three digits before any decimal point (`1,234,567.5`).
fn thousands_ok(t: &str) -> bool {
    if !t.contains(',') {
        return true;
    }
    let whole = t.split('.').next().unwrap_or("");
    let mut groups = whole.split(',');
    let first = groups.next().unwrap_or("");
    (1..=3).contains(&first.len())
        && first.bytes().all(|b| b.is_ascii_digit())
        && groups.all(|g| g.len() == 3 && g.bytes().all(|b| b.is_ascii_digit()))
        && !t.split('.').nth(1).is_some_and(|f| f.contains(','))
}

/// `2024Q3`, `2024-Q3`, `2024 Q3`, `20243`, `2024-3`, `2024/3` -> `2024Q3`.
pub fn parse_quarter(s: &str) -> Option<String> {
    let t: String = s.trim().to_uppercase().chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    let t = t.replace('Q', "");
    if t.len() != 5 || !t.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let y: i32 = t[..4].parse().ok()?;
    let q: u32 = t[4..].parse().ok()?;
    ((1900..=2100).contains(&y) && (1..=4).contains(&q)).then(|| format!("{y}Q{q}"))
}

/// First day of a `2024Q3` quarter.
pub fn quarter_start(q: &str) -> Option<NaiveDate> {
    let (y, n) = q.split_once('Q')?;
    NaiveDate::from_ymd_opt(y.parse().ok()?, (n.parse::<u32>().ok()? - 1) * 3 + 1, 1)
}

/// `2024Q3` of a date.
pub fn quarter_of(d: NaiveDate) -> String {
    format!("{}Q{}", d.year(), (d.month() - 1) / 3 + 1)
}

/// WIOA program year of a date: PY2024 runs from 2024-07-01 to 2025-06-30.
pub fn program_year_of(d: NaiveDate) -> String {
    let y = if d.month() >= 7 { d.year() } else { d.year() - 1 };
    format!("PY{y}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::RawRow;

    #[test]
    fn field_index_is_the_position_in_all() {
        for (i, f) in Field::ALL.iter().enumerate() {
            assert_eq!(field_index(*f), i, "{}", f.name());
        }
    }

    #[test]
    fn compiled_formats_read_dates_like_chrono() {
        for (text, fmt) in [("03/04/1990", "%m/%d/%Y"), ("1990-04-03", "%Y-%m-%d"), ("1990-04-03T10:11:12", "%Y-%m-%dT%H:%M:%S"),
            ("3.4.90", "%d.%m.%y"), ("1990-02-30", "%Y-%m-%d"), ("x", "%Y-%m-%d"), (" 1990-04-03 ", "%Y-%m-%d")]
        {
            let items = chrono::format::StrftimeItems::new(fmt).parse_to_owned().unwrap();
            assert_eq!(parse_compiled_date(text, &items), parse_one_date(text, fmt), "{text} {fmt}");
        }
    }

    fn rules() -> Rules {
        Rules { min_age: 14, max_age: 100, today: NaiveDate::from_ymd_opt(2026, 11, 1).unwrap() }
    }

    fn cfg() -> MappingConfig {
        toml::from_str(
            r#"
            date_formats = ["%m/%d/%Y", "%d/%m/%Y"]
            required = ["record_id", "dob"]
            [columns]
            record_id = "ID"
            given_name = "First"
            family_name = "Last"
            dob = "DOB"
            entry_date = "Start"
            exit_date = "End"
            wages = "Wages"
            sex = "Sex"
            english_learner = "ELL"
            [codes.sex]
            M = "male"
            F = "female"
            "#,
        )
        .unwrap()
    }

    fn headers() -> Vec<String> {
        ["ID", "First", "Last", "DOB", "Start", "End", "Wages", "Sex", "ELL"].iter().map(|s| s.to_string()).collect()
    }

    fn row(line: u64, cells: &[&str]) -> RawRow {
        RawRow { line, cells: csv::StringRecord::from(cells.to_vec()), issue: None }
    }

    fn mapper() -> Mapper {
        Mapper::new(&cfg(), &headers(), vec!["".into()], rules()).unwrap()
    }

    #[test]
    fn maps_types_codes_and_flags_ambiguous_dates() {
        let mut m = mapper();
        let r = m
            .map(&row(2, &["7", "Ana", "Ruiz", "03/04/1990", "09/01/2024", "", "$1,234.5", "F", "Y"]))
            .unwrap();
        assert_eq!(r.get(Field::Dob).date(), NaiveDate::from_ymd_opt(1990, 3, 4));
        assert_eq!(r.get(Field::Wages), &Value::Cents(123450));
        assert_eq!(r.get(Field::Sex), &Value::Text("female".into()));
        assert_eq!(r.get(Field::EnglishLearner), &Value::Bool(true));
        assert_eq!(m.warnings.ambiguous_dates.get("dob"), Some(&1));
        assert_eq!(m.warnings.ambiguous_dates.get("entry_date"), Some(&1));
    }

    #[test]
    fn configured_null_markers_replace_the_defaults() {
        let mut m = Mapper::new(&cfg(), &headers(), vec!["".into(), "-".into(), "UNKNOWN".into()], rules()).unwrap();
        // `-` is a null marker here: the required birth date is missing.
        let e = m.map(&row(2, &["7", "Ana", "Ruiz", "-", "", "", "", "", ""])).unwrap_err();
        assert_eq!(e.reason, "missing_required");
        let r = m.map(&row(3, &["8", "UNKNOWN", "Ruiz", "03/04/1990", "", "", "", "", ""])).unwrap();
        assert!(r.get(Field::GivenName).is_null());
        // `NULL` is not one of this partner's markers: it is a name.
        let r = m.map(&row(4, &["9", "NULL", "Ruiz", "03/04/1990", "", "", "", "", ""])).unwrap();
        assert_eq!(r.get(Field::GivenName), &Value::Text("NULL".into()));
        // A marker longer than the quick check's 63 bytes still counts;
        // a cell of a marker's length that is no marker is a value.
        let long = "N".repeat(70);
        let mut m = Mapper::new(&cfg(), &headers(), vec![long.clone(), "?".into()], rules()).unwrap();
        let r = m.map(&row(5, &["9", &long, "?", "03/04/1990", "", "", "", "", ""])).unwrap();
        assert!(r.get(Field::GivenName).is_null() && r.get(Field::FamilyName).is_null());
        let r = m.map(&row(6, &["9", &"M".repeat(70), "!", "03/04/1990", "", "", "", "", ""])).unwrap();
        assert_eq!(r.get(Field::FamilyName), &Value::Text("!".into()));
    }

    #[test]
    fn trim_is_strs_trim() {
        for s in ["", " ", "a", " a", "a ", "\ta\n", "ab", "a b", "\u{a0}a", "a\u{3000}", "é", " é ", "\u{a0}", "é\u{a0}", "x\u{85}"] {
            assert_eq!(trim(s), s.trim(), "{s:?}");
        }
    }

    #[test]
    fn rejections_name_column_and_reason_never_the_value() {
        let mut m = mapper();
        // cfg() requires the birth date: a bad one rejects the row.
        let e = m.map(&row(3, &["7", "Ana", "Ruiz", "1990-13-45", "", "", "", "", ""])).unwrap_err();
        assert_eq!(e.reason, "bad_date");
        assert!(!e.row_loaded);
        assert_eq!(e.column.as_deref(), Some("DOB"));
        assert!(!e.detail.contains("1990-13-45"));
        assert!(!e.detail.contains("loaded"), "{}", e.detail);
        let e = m.map(&row(4, &["8", "Ana", "Ruiz", "", "", "", "", "", ""])).unwrap_err();
        assert_eq!(e.reason, "missing_required");
        let e = m.map(&row(5, &["9", "A", "B", "01/02/2030", "", "", "", "", ""])).unwrap_err();
        assert_eq!(e.reason, "dob_in_future");
        let e = m.map(&row(6, &["10", "A", "B", "01/02/2020", "", "", "", "", ""])).unwrap_err();
        assert_eq!(e.reason, "implausible_age");
        let e = m.map(&row(7, &["11", "A", "B", "01/02/1980", "05/01/2024", "04/01/2024", "", "", ""])).unwrap_err();
        assert_eq!(e.reason, "exit_before_entry");
        let e = m.map(&row(8, &["12", "A", "B", "01/02/1980", "", "", "", "", "maybe"])).unwrap_err();
        assert_eq!(e.reason, "bad_boolean");
    }

    #[test]
    fn a_bad_birth_date_that_is_not_required_is_set_aside_and_the_row_loaded() {
        let mut c = cfg();
        c.required.clear();
        let mut m = Mapper::new(&c, &headers(), vec!["".into()], rules()).unwrap();
        // Not a date: dropped.
        let r = m.map(&row(3, &["7", "Ana", "Ruiz", "1990-13-45", "", "", "", "", ""])).unwrap();
        assert!(r.get(Field::Dob).is_null());
        assert!(!r.dob_for_linkage_only);
        assert_eq!(r.set_aside.len(), 1);
        let s = &r.set_aside[0];
        assert!(s.row_loaded);
        assert_eq!((s.line, s.reason, s.column.as_deref()), (3, "bad_date", Some("DOB")));
        assert!(!s.detail.contains("1990-13-45"));
        assert_eq!(r.get(Field::GivenName).text(), Some("Ana"));
        // In the future: dropped.
        let r = m.map(&row(5, &["9", "A", "B", "01/02/2030", "", "", "", "", ""])).unwrap();
        assert!(r.get(Field::Dob).is_null());
        assert_eq!(r.set_aside[0].reason, "dob_in_future");
        // Implausible age: kept for linkage only.
        let r = m.map(&row(6, &["10", "A", "B", "01/02/2020", "09/01/2024", "", "", "", ""])).unwrap();
        assert_eq!(r.get(Field::Dob).date(), NaiveDate::from_ymd_opt(2020, 1, 2));
        assert!(r.dob_for_linkage_only);
        assert_eq!(r.set_aside[0].reason, "implausible_age");
        // Implausible in 1900 too (an age of 126 is no age).
        let r = m.map(&row(6, &["10", "A", "B", "06/04/1900", "09/01/2024", "", "", "", ""])).unwrap();
        assert!(r.dob_for_linkage_only);
        assert_eq!(r.set_aside[0].reason, "implausible_age");
        // 1900-01-01 and earlier stand for "unknown": dropped.
        for unknown in ["01/01/1900", "12/30/1899", "03/04/1850"] {
            let r = m.map(&row(6, &["10", "A", "B", unknown, "09/01/2024", "", "", "", ""])).unwrap();
            assert!(r.get(Field::Dob).is_null(), "{unknown}");
            assert_eq!(r.set_aside[0].reason, "dob_unknown");
        }
        // A good date sets nothing aside.
        let r = m.map(&row(7, &["11", "A", "B", "01/02/1980", "09/01/2024", "", "", "", ""])).unwrap();
        assert!(r.set_aside.is_empty() && !r.dob_for_linkage_only);
        // A row whose only identifier was the bad date is rejected for it.
        let e = m.map(&row(8, &["", "", "", "1990-13-45", "", "", "", "", ""])).unwrap_err();
        assert_eq!((e.reason, e.row_loaded), ("bad_date", false));
    }

    #[test]
    fn reused_buffers_hold_only_the_new_rows_values() {
        let (mut m, mut fresh) = (mapper(), mapper());
        let long = m.map(&row(2, &["7", "Anastasia-Maria", "Ruiz y Gonzalez", "03/24/1990", "", "", "", "", ""])).unwrap();
        m.recycled.keep_row(long.values);
        m.recycled.keep(Value::Text("a raw identifier".into()));
        for r in [
            row(3, &["8", "Li", "Wu", "01/02/1980", "", "", "", "", ""]),
            row(4, &["9", "", "Ng", "05/06/1970", "", "", "", "", ""]),
        ] {
            let (a, b) = (m.map(&r).unwrap(), fresh.map(&r).unwrap());
            assert_eq!(a.values, b.values);
            m.recycled.keep_row(a.values);
        }
    }

    #[test]
    fn duplicate_rows_are_found_with_the_first_line() {
        let mut d = Duplicates::default();
        let cells = ["7", "Ana", "Ruiz", "03/24/1990", "", "", "", "", ""];
        assert_eq!(d.check(&row(2, &cells)), None);
        assert_eq!(d.check(&row(9, &cells)), Some(2));
        assert_eq!(d.check(&row(10, &["8", "Ana", "Ruiz", "03/24/1990", "", "", "", "", ""])), None);
        // The same characters split into other cells are another row.
        assert_eq!(d.check(&row(11, &["8", "AnaR", "uiz", "03/24/1990", "", "", "", "", ""])), None);
        assert_eq!(d.check(&row(12, &["8", "Ana", "Ruiz", "03/24/1990", "", "", "", ""])), None);
        assert_eq!(d.check(&row(13, &["8", "AnaR", "uiz", "03/24/1990", "", "", "", "", ""])), Some(11));
    }

    #[test]
    fn unmapped_codes_are_reported_not_guessed() {
        let mut m = mapper();
        let r = m.map(&row(2, &["7", "Ana", "Ruiz", "03/24/1990", "", "", "", "W", ""])).unwrap();
        assert!(r.get(Field::Sex).is_null());
        assert_eq!(m.warnings.unmapped_codes.get(&("sex".into(), "W".into())), Some(&1));
    }

    #[test]
    fn a_column_differing_only_in_case_never_stands_in_for_the_mapped_one() {
        // `ID` is mapped; a later `id` column must not be read as the record id.
        let mut h = headers();
        h.push("id".into());
        let mut m = Mapper::new(&cfg(), &h, vec![], rules()).unwrap();
        let r = m.map(&row(2, &["7", "Ana", "Ruiz", "03/24/1990", "", "", "", "", "", "CID98765"])).unwrap();
        assert_eq!(r.get(Field::RecordId).text(), Some("7"));
        // Found whatever its case when it is the only one.
        let mut h = headers();
        h[0] = "id".into();
        assert!(Mapper::new(&cfg(), &h, vec![], rules()).is_ok());
        // Two spellings, neither the configured one: ambiguous.
        let mut h = headers();
        h[0] = "id".into();
        h.push("Id".into());
        let e = Mapper::new(&cfg(), &h, vec![], rules()).err().unwrap();
        assert_eq!(e.code, "duplicate_column");
        assert!(e.message.contains("1, 10"), "{}", e.message);
    }

    #[test]
    fn a_two_digit_year_is_left_to_a_two_digit_year_format() {
        let cfg: MappingConfig = toml::from_str(
            r#"
            date_formats = ["%m/%d/%Y", "%d/%m/%Y", "%m/%d/%y"]
            [columns]
            record_id = "ID"
            dob = "DOB"
            entry_date = "Start"
            "#,
        )
        .unwrap();
        let h: Vec<String> = ["ID", "DOB", "Start"].iter().map(|s| s.to_string()).collect();
        let mut m = Mapper::new(&cfg, &h, vec![], rules()).unwrap();
        let r = m.map(&row(2, &["1", "03/15/90", "01/15/24"])).unwrap();
        assert_eq!(r.get(Field::Dob).date(), NaiveDate::from_ymd_opt(1990, 3, 15));
        assert_eq!(r.get(Field::EntryDate).date(), NaiveDate::from_ymd_opt(2024, 1, 15));
        assert!(m.warnings.ambiguous_dates.is_empty(), "{:?}", m.warnings.ambiguous_dates);
        // Four-digit years still read as before.
        let r = m.map(&row(3, &["2", "03/15/1990", "01/15/2024"])).unwrap();
        assert_eq!(r.get(Field::Dob).date(), NaiveDate::from_ymd_opt(1990, 3, 15));
    }

    #[test]
    fn a_field_too_long_is_quarantined_with_its_column() {
        let mut m = mapper();
        let mut r = row(2, &["7", "Ana", "Ruiz", "03/24/1990", "", "", "", "", ""]);
        r.issue = Some(crate::parse::RowIssue::FieldTooLong { column: 2 });
        let e = m.map(&r).err().unwrap();
        assert_eq!((e.reason, e.column.as_deref()), ("field_too_long", Some("Last")));
    }

    #[test]
    fn unmapped_values_kept_per_field_are_capped() {
        let mut w = Warnings::default();
        for i in 0..UNMAPPED_KEPT + 10 {
            w.unmapped("sex", &format!("v{i}"));
        }
        w.unmapped("sex", "v0");
        w.unmapped("country_of_origin", "XX");
        assert_eq!(w.unmapped_codes.len(), UNMAPPED_KEPT + 1);
        assert_eq!(w.unmapped_codes[&("sex".to_string(), "v0".to_string())], 2);
        assert_eq!(w.unmapped_more["sex"], 10);
        assert!(!w.unmapped_more.contains_key("country_of_origin"));
    }

    #[test]
    fn missing_required_column_rejects_the_file() {
        let mut h = headers();
        h[3] = "BirthDate".into();
        let e = Mapper::new(&cfg(), &h, vec![], rules()).err().unwrap();
        assert_eq!(e.code, "missing_column");
        assert!(e.message.contains("`DOB`"));
        // Only names from the configuration: not the file's own column.
        assert!(!e.message.contains("BirthDate"), "{}", e.message);
    }

    #[test]
    fn a_first_row_of_values_is_never_quoted() {
        // An export without its header row: the first row is a person's.
        let first: Vec<String> =
            ["A17", "Ana", "Ruiz", "03/04/1990", "09/01/2024", "", "", "F", "Y"].iter().map(|s| s.to_string()).collect();
        let e = Mapper::new(&cfg(), &first, vec![], rules()).err().unwrap();
        assert_eq!(e.code, "no_mapped_columns");
        for v in ["A17", "Ana", "Ruiz", "03/04/1990"] {
            assert!(!e.message.contains(v), "{v}: {}", e.message);
        }
        assert!(e.message.contains("format.header = false"), "{}", e.message);
    }

    #[test]
    fn two_digit_birth_years_make_no_child_and_decimal_commas_no_number() {
        let c: MappingConfig = toml::from_str(
            r#"
            date_formats = ["%m/%d/%y"]
            required = ["record_id"]
            [columns]
            record_id = "ID"
            dob = "DOB"
            hours = "Hours"
            "#,
        )
        .unwrap();
        let h = vec!["ID".to_string(), "DOB".to_string(), "Hours".to_string()];
        let mut m = Mapper::new(&c, &h, vec!["".into()], rules()).unwrap();
        let row = |dob: &str, hours: &str| RawRow { line: 2, cells: csv::StringRecord::from(vec!["A1", dob, hours]), issue: None };
        // 03/15/26 before today (2026-11-01) would be a baby: 1926.
        let ok = m.map(&row("03/15/26", "7.5")).unwrap();
        assert_eq!(ok.values[field_index(Field::Dob)], Value::Date(NaiveDate::from_ymd_opt(1926, 3, 15).unwrap()));
        assert_eq!(ok.values[field_index(Field::Hours)], Value::Number(7.5));
        let ok = m.map(&row("03/15/90", "1,234.5")).unwrap();
        assert_eq!(ok.values[field_index(Field::Dob)], Value::Date(NaiveDate::from_ymd_opt(1990, 3, 15).unwrap()));
        assert_eq!(ok.values[field_index(Field::Hours)], Value::Number(1234.5));
        assert_eq!(m.map(&row("03/15/90", "7,5")).unwrap_err().reason, "bad_number");
    }

    #[test]
    fn money_quarters_and_program_years() {
        assert_eq!(parse_cents("1,234"), Some(123400));
        assert_eq!(parse_cents("$0.5"), Some(50));
        assert_eq!(parse_cents("12.345"), None);
        assert_eq!(parse_cents("abc"), None);
        // A decimal comma is not a thousands separator: 1234,50 is not
        // 123,450 dollars.
        assert_eq!(parse_cents("1,234,567.89"), Some(123456789));
        assert_eq!(parse_cents("1234,50"), None);
        assert_eq!(parse_cents("4 500,00"), None);
        assert!(thousands_ok("12,345.5") && thousands_ok("7.5") && !thousands_ok("7,5") && !thousands_ok("1.234,5") && !thousands_ok(",123"));
        assert_eq!(parse_quarter("20243").as_deref(), Some("2024Q3"));
        assert_eq!(parse_quarter("2024-Q1").as_deref(), Some("2024Q1"));
        assert_eq!(parse_quarter("2024Q5"), None);
        assert_eq!(program_year_of(NaiveDate::from_ymd_opt(2025, 6, 30).unwrap()), "PY2024");
        assert_eq!(program_year_of(NaiveDate::from_ymd_opt(2025, 7, 1).unwrap()), "PY2025");
        assert_eq!(quarter_of(NaiveDate::from_ymd_opt(2025, 7, 1).unwrap()), "2025Q3");
    }
}
