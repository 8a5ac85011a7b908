//! protect: identifiers in, keyed tokens and encodings out.
//!
//! This is the door. [`Protector::protect`] takes a [`MappedRow`] that still
//! holds raw names, dates of birth, SSNs, phones, e-mails, addresses and
//! partner ids, and returns a [`Protected`] row in which all of them are gone:
//!
//! * the partner id becomes a keyed `record_key`;
//! * the other identifiers become an [`Identity`] of tokens and Bloom
//!   filters (linkage zone only);
//! * the date of birth survives as the birth year, the ZIP as its first three
//!   digits and the arrival date as the arrival year (analytics zone).
//!
//! Records without consent to link get no identity at all, so they can never
//! be linked.

pub mod encode;
pub mod normalize;
pub mod variants;

use std::sync::Arc;

use chrono::Datelike;
use datafusion::arrow::array::{
    Array, ArrayRef, BinaryArray, BooleanArray, BooleanBuilder, Date32Builder, Float64Builder, Int32Builder,
    Int64Builder, StringBuilder, UInt32Array, UInt64Builder,
};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::compute::{filter, take};
use datafusion::arrow::datatypes::{DataType, Field as ArrowField, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;

pub use encode::{Encoder, Hardening, Identity, RawIdentity, employer_key, record_key};

use crate::map::{MappedRow, Recycled, Value};
use crate::model::{Field, staged_schema};
use crate::secret::Keys;

/// How a partner's consent flag is read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentPolicy {
    /// The data-sharing agreement covers every record; a consent column, if
    /// mapped, can still withdraw a record.
    #[default]
    Agreement,
    /// Only records whose consent column says yes are linked.
    Required,
}

/// A row after `protect`: no raw identifier left.
#[derive(Debug, Clone)]
pub struct Protected {
    pub line: u64,
    pub record_key: String,
    pub consent: bool,
    pub birth_year: Option<i32>,
    /// First three digits of the ZIP code (ASCII digits).
    pub zip3: Option<[u8; 3]>,
    pub arrival_year: Option<i32>,
    pub employer_key: Option<String>,
    /// Non-identifier values, indexed like `Field::ALL` (identifiers Null).
    pub values: Vec<Value>,
    /// Tokens and encodings in the stored layout ([`Encoder::encode_bytes`]:
    /// name parts by reference); None without consent or without
    /// identifiers.
    pub identity: Option<Vec<u8>>,
    /// The record key under the secret being rotated away from (`braid
    /// rotate` only).
    pub previous_record_key: Option<String>,
}

/// Protects the rows of one partner feed.
pub struct Protector {
    partner: String,
    consent: ConsentPolicy,
    encoder: Encoder,
    record_key: [u8; 32],
    employer_key: [u8; 32],
    /// During a rotation: the encoder and record-key key of the old secret.
    previous: Option<(Encoder, [u8; 32])>,
}

impl Protector {
    pub fn new(keys: &Keys, partner: &str, consent: ConsentPolicy, variants: Arc<variants::NameVariants>, hardening: Hardening) -> Self {
        Protector {
            partner: partner.to_string(),
            consent,
            encoder: Encoder::new(keys, variants, hardening),
            record_key: keys.key(crate::secret::Purpose::RecordKey),
            employer_key: keys.key(crate::secret::Purpose::EmployerKey),
            previous: None,
        }
    }

    /// Also compute each row's record key under the secret being rotated
    /// away from ([`Protected::previous_record_key`]).
    pub fn with_previous(mut self, previous: &Keys, variants: Arc<variants::NameVariants>, hardening: Hardening) -> Self {
        self.previous = Some((Encoder::new(previous, variants, hardening), previous.key(crate::secret::Purpose::RecordKey)));
        self
    }

    /// Write the part dictionary entries of the identity the last
    /// [`Protector::protect`] made, for the parts not entered yet
    /// ([`Encoder::enter_parts`]): called when that identity is stored.
    pub fn enter_parts(&mut self, entries: &mut encode::PartEntries) {
        self.encoder.enter_parts(entries);
    }

    /// The identifiers' buffers go to `recycled` (see [`Recycled`]).
    pub fn protect(&mut self, row: MappedRow, name_order: normalize::NameOrder, recycled: &mut Recycled) -> Result<Protected, NoIdentity> {
        let text = |f: Field| row.get(f).text();
        let consent = match (self.consent, row.get(Field::Consent)) {
            (_, Value::Bool(b)) => *b,
            (ConsentPolicy::Agreement, _) => true,
            (ConsentPolicy::Required, _) => false,
        };
        let dob = row.get(Field::Dob).date();
        let dob_for_linkage_only = row.dob_for_linkage_only;
        let sex = text(Field::Sex).and_then(normalize::sex_code);
        let raw = RawIdentity {
            given: text(Field::GivenName),
            middle: text(Field::MiddleName),
            family: text(Field::FamilyName),
            full: text(Field::FullName),
            name_order,
            dob,
            sex,
            tax_id: text(Field::Ssn),
            phone: text(Field::Phone),
            email: text(Field::Email),
            street: text(Field::Street),
            zip: text(Field::Zip),
            city: text(Field::City),
        };
        let mut identity = recycled.bytes(512);
        let not_empty = self.encoder.encode_bytes(&raw, &mut identity);
        let record_id = text(Field::RecordId);
        // Without a partner id, nor any identifier that is evidence (only
        // placeholders such as 123-45-6789 or 555-555-5555), every such row
        // would be one record, and its people one person.
        if record_id.is_none() && !not_empty {
            return Err(NoIdentity { line: row.line });
        }
        let encoder = &self.encoder;
        let record_key = record_key_of(&self.record_key, &self.partner, record_id, || encoder.inline_bytes(&identity));
        let partner = &self.partner;
        let previous_record_key = self.previous.as_mut().map(|(encoder, key)| {
            // The identity under the old secret, needed only without an id.
            record_key_of(key, partner, record_id, || {
                let mut old = Vec::new();
                encoder.encode_bytes(&raw, &mut old);
                encoder.inline_bytes(&old)
            })
        });
        let zip3 = text(Field::Zip).and_then(|z| self.encoder.zip5(z)).map(|d| [d[0], d[1], d[2]]);
        let employer_key = text(Field::EmployerId).and_then(|e| encode::employer_key_with(&self.employer_key, e));
        let mut values = row.values;
        for (i, f) in Field::ALL.iter().enumerate() {
            if f.is_identifier() {
                recycled.keep(std::mem::replace(&mut values[i], Value::Null));
            }
        }
        Ok(Protected {
            line: row.line,
            record_key,
            consent,
            birth_year: dob.filter(|_| !dob_for_linkage_only).map(|d| d.year()),
            zip3,
            arrival_year: values[crate::map::field_index(Field::ArrivalDate)].date().map(|d| d.year()),
            employer_key,
            values,
            identity: (consent && not_empty).then_some(identity),
            previous_record_key,
        })
    }
}

/// A row without a record id whose identifiers all normalized to nothing
/// (placeholders, values that are not what their column says): nothing
/// tells its person from anyone else's. The row is quarantined.
#[derive(Debug)]
pub struct NoIdentity {
    pub line: u64,
}

/// A record's key: from the partner's record id, or without one from its
/// encoded identity (the same identity at the same partner is the same
/// record), in the inline layout (`identity`, called only then): so the
/// key does not depend on how identities are stored.
fn record_key_of(key: &[u8; 32], partner: &str, record_id: Option<&str>, identity: impl FnOnce() -> Vec<u8>) -> String {
    match record_id {
        Some(id) => encode::record_key_with(key, partner, id),
        None => encode::record_key_with(key, partner, &format!("identity:{}", hex(&identity()))),
    }
}

fn hex(b: &[u8]) -> String {
    blake3::hash(b).to_hex().to_string()
}

/// Schema of the linkage-zone identity table.
pub fn identity_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        ArrowField::new("record_key", DataType::Utf8, false),
        ArrowField::new("partner", DataType::Utf8, false),
        ArrowField::new("file_id", DataType::Utf8, false),
        ArrowField::new("key_id", DataType::Utf8, false),
        ArrowField::new("encoding", DataType::Binary, false),
    ]))
}

/// Build the staged-record and identity batches of some rows.
#[cfg(test)]
pub fn to_batches(
    rows: &[Protected],
    partner: &str,
    feed: &str,
    file_id: &str,
    key_id: &str,
) -> crate::Result<(RecordBatch, RecordBatch)> {
    let mut b = BatchBuilder::new(rows.len())?;
    for r in rows {
        b.push(r);
    }
    // No part entered: the identities' batch only.
    let (staged, mut identity) = b.finish(partner, feed, file_id, key_id)?;
    assert_eq!(identity.len(), 1, "no part dictionary entries");
    Ok((staged, identity.remove(0)))
}

/// A staged-record column after the fixed ones.
enum Col {
    Text(StringBuilder),
    Date(Date32Builder),
    Bool(BooleanBuilder),
    Number(Float64Builder),
    Cents(Int64Builder),
}

/// A value column and the nulls not yet appended to it. A partner's file
/// fills only some of the staged columns, so a null is counted, not
/// appended, until the next value comes; a column with no value in the
/// batch is made all-null at once.
struct ValueCol {
    /// Index of the field in `Field::ALL`.
    field: usize,
    col: Col,
    data_type: DataType,
    nulls: usize,
    /// Whether any value (not a null) was appended.
    any: bool,
}

impl ValueCol {
    fn append_nulls(&mut self) {
        let n = std::mem::take(&mut self.nulls);
        if n == 0 {
            return;
        }
        match &mut self.col {
            Col::Text(b) => b.append_nulls(n),
            Col::Date(b) => b.append_nulls(n),
            Col::Bool(b) => b.append_nulls(n),
            Col::Number(b) => b.append_nulls(n),
            Col::Cents(b) => b.append_nulls(n),
        }
    }

    fn push(&mut self, v: &Value) {
        // A value of another type than the column's is a null, as one
        // that is Null.
        let fits = matches!(
            (&self.col, v),
            (Col::Text(_), Value::Text(_))
                | (Col::Date(_), Value::Date(_))
                | (Col::Bool(_), Value::Bool(_))
                | (Col::Number(_), Value::Number(_))
                | (Col::Cents(_), Value::Cents(_))
        );
        if !fits {
            self.nulls += 1;
            return;
        }
        self.append_nulls();
        self.any = true;
        match (&mut self.col, v) {
            (Col::Text(b), Value::Text(x)) => b.append_value(x),
            (Col::Date(b), Value::Date(x)) => b.append_value(date32(*x)),
            (Col::Bool(b), Value::Bool(x)) => b.append_value(*x),
            (Col::Number(b), Value::Number(x)) => b.append_value(*x),
            (Col::Cents(b), Value::Cents(x)) => b.append_value(*x),
            _ => unreachable!("checked above"),
        }
    }

    fn finish(mut self) -> ArrayRef {
        if !self.any {
            return datafusion::arrow::array::new_null_array(&self.data_type, self.nulls);
        }
        self.append_nulls();
        match self.col {
            Col::Text(mut b) => Arc::new(b.finish()),
            Col::Date(mut b) => Arc::new(b.finish()),
            Col::Bool(mut b) => Arc::new(b.finish()),
            Col::Number(mut b) => Arc::new(b.finish()),
            Col::Cents(mut b) => Arc::new(b.finish()),
        }
    }
}

/// The staged-record and identity batches of one batch of rows, built as
/// the rows are protected: each row goes into the column builders (and its
/// identity into one byte buffer) at once, so a batch never holds its
/// protected rows, and the next row reuses the memory of the last. (Nulls
/// of the value columns are counted and appended in bulk: `ValueCol`.)
pub struct BatchBuilder {
    /// The columns after the fixed ones: the wage period, then the
    /// non-identifier fields in schema order.
    value_cols: Vec<ValueCol>,
    record_key: StringBuilder,
    line: UInt64Builder,
    consent: BooleanBuilder,
    birth: Int32Builder,
    zip3: StringBuilder,
    arrival: Int32Builder,
    employer: StringBuilder,
    rows: usize,
    /// Every row's encoding, one after another, and (row, start, end).
    encodings: Vec<u8>,
    spans: Vec<(usize, usize, usize)>,
    /// Entries of the part dictionary for those encodings (written before
    /// them, with an empty record key).
    entries: encode::PartEntries,
}

/// Columns before the value columns in the staged schema.
const FIXED: usize = 10;

/// Bytes of encodings per row that a new batch's buffer is sized for: the
/// last batch's average and an eighth more. A buffer that turns out too
/// small is copied into one twice its size, on fresh pages, in every batch
/// (about 210 bytes a row on the ingest benchmark, more with many names).
static ENCODING_BYTES_PER_ROW: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(512);

impl BatchBuilder {
    pub fn new(capacity: usize) -> crate::Result<BatchBuilder> {
        let schema = staged_schema();
        let n = capacity;
        let mut value_cols = Vec::with_capacity(schema.fields().len() - FIXED);
        for af in schema.fields().iter().skip(FIXED) {
            let name = match af.name().as_str() {
                "gender" => "sex",
                "wage_year_quarter" => "wage_period",
                other => other,
            };
            let f = Field::from_name(name).ok_or_else(|| crate::Error::internal(format!("staged column {name} is no field")))?;
            let col = match af.data_type() {
                DataType::Utf8 => Col::Text(StringBuilder::with_capacity(n, n * 8)),
                DataType::Date32 => Col::Date(Date32Builder::with_capacity(n)),
                DataType::Boolean => Col::Bool(BooleanBuilder::with_capacity(n)),
                DataType::Float64 => Col::Number(Float64Builder::with_capacity(n)),
                DataType::Int64 => Col::Cents(Int64Builder::with_capacity(n)),
                other => return Err(crate::Error::internal(format!("staged type {other}"))),
            };
            value_cols.push(ValueCol { field: crate::map::field_index(f), col, data_type: af.data_type().clone(), nulls: 0, any: false });
        }
        Ok(BatchBuilder {
            value_cols,
            record_key: StringBuilder::with_capacity(n, n * 32),
            line: UInt64Builder::with_capacity(n),
            consent: BooleanBuilder::with_capacity(n),
            birth: Int32Builder::with_capacity(n),
            zip3: StringBuilder::with_capacity(n, n * 3),
            arrival: Int32Builder::with_capacity(n),
            employer: StringBuilder::with_capacity(n, n * 8),
            rows: 0,
            encodings: Vec::with_capacity(n * ENCODING_BYTES_PER_ROW.load(std::sync::atomic::Ordering::Relaxed)),
            spans: Vec::with_capacity(n),
            entries: Default::default(),
        })
    }

    /// Add one row. Its values are read in order, while they are in cache.
    pub fn push(&mut self, r: &Protected) {
        self.record_key.append_value(&r.record_key);
        self.line.append_value(r.line);
        self.consent.append_value(r.consent);
        self.birth.append_option(r.birth_year);
        self.zip3.append_option(r.zip3.as_ref().map(|z| std::str::from_utf8(z).expect("ASCII digits")));
        self.arrival.append_option(r.arrival_year);
        self.employer.append_option(r.employer_key.as_deref());
        for col in self.value_cols.iter_mut() {
            col.push(&r.values[col.field]);
        }
        if let Some(id) = &r.identity {
            let start = self.encodings.len();
            self.encodings.extend_from_slice(id);
            self.spans.push((self.rows, start, self.encodings.len()));
        }
        self.rows += 1;
    }

    /// Where the part dictionary entries of the identities pushed go
    /// ([`Protector::enter_parts`]).
    pub fn part_entries(&mut self) -> &mut encode::PartEntries {
        &mut self.entries
    }

    /// The staged-record batch (one row per row pushed) and the identity
    /// file's batches, to be written in order: the part dictionary entries
    /// (when there are any), then one row per distinct identity observation
    /// of a record. (Two batches rather than one: joining them would copy
    /// every encoding once more.)
    pub fn finish(mut self, partner: &str, feed: &str, file_id: &str, key_id: &str) -> crate::Result<(RecordBatch, Vec<RecordBatch>)> {
        let n = self.rows;
        if !self.spans.is_empty() {
            let per_row = self.encodings.len().div_ceil(self.spans.len());
            ENCODING_BYTES_PER_ROW.store(per_row + per_row / 8, std::sync::atomic::Ordering::Relaxed);
        }
        // A column of one value: its bytes repeated, at equal offsets.
        let constant = |s: &str, n: usize| -> ArrayRef {
            let values = datafusion::arrow::buffer::Buffer::from(s.repeat(n).into_bytes());
            Arc::new(datafusion::arrow::array::StringArray::new(OffsetBuffer::from_repeated_length(s.len(), n), values, None))
        };
        let record_key = self.record_key.finish();
        let mut cols: Vec<ArrayRef> = vec![
            Arc::new(record_key.clone()),
            constant(partner, n),
            constant(feed, n),
            constant(file_id, n),
            Arc::new(self.line.finish()),
            Arc::new(self.consent.finish()),
            Arc::new(self.birth.finish()),
            Arc::new(self.zip3.finish()),
            Arc::new(self.arrival.finish()),
            Arc::new(self.employer.finish()),
        ];
        debug_assert_eq!(cols.len(), FIXED);
        cols.extend(self.value_cols.into_iter().map(ValueCol::finish));
        let staged = RecordBatch::try_new(staged_schema(), cols)?;

        let spans = &self.spans;
        // One row per distinct identity observation of a record (a record
        // repeats an identity when, say, its quarters of wages are rows).
        let distinct: BooleanArray = {
            let mut seen: foldhash::HashSet<(&str, &[u8])> = foldhash::HashSet::with_capacity_and_hasher(spans.len(), Default::default());
            spans.iter().map(|&(row, start, end)| Some(seen.insert((record_key.value(row), &self.encodings[start..end])))).collect()
        };
        // The encodings as they lie one after another in the buffer, without
        // a copy, each beside its record's key.
        let offsets = OffsetBuffer::<i32>::from_lengths(spans.iter().map(|&(_, start, end)| end - start));
        let enc: ArrayRef = Arc::new(BinaryArray::new(offsets, self.encodings.into(), None));
        let keys: ArrayRef = if spans.len() == n {
            Arc::new(record_key)
        } else {
            take(&record_key, &UInt32Array::from_iter_values(spans.iter().map(|&(row, _, _)| row as u32)), None)?
        };
        let (keys, enc) =
            if distinct.true_count() == spans.len() { (keys, enc) } else { (filter(&keys, &distinct)?, filter(&enc, &distinct)?) };
        let identity_batch = |keys: ArrayRef, enc: ArrayRef| {
            let count = keys.len();
            RecordBatch::try_new(identity_schema(), vec![keys, constant(partner, count), constant(file_id, count), constant(key_id, count), enc])
        };
        let mut identity = Vec::with_capacity(2);
        if !self.entries.is_empty() {
            let offsets = OffsetBuffer::<i32>::from_lengths(self.entries.iter().map(<[u8]>::len));
            let entries: ArrayRef = Arc::new(BinaryArray::new(offsets, self.entries.bytes.into(), None));
            identity.push(identity_batch(constant("", entries.len()), entries)?);
        }
        identity.push(identity_batch(keys, enc)?);
        Ok((staged, identity))
    }
}

/// Days since the Unix epoch, as Arrow's Date32.
pub fn date32(d: chrono::NaiveDate) -> i32 {
    (d - chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch")).num_days() as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(line: u64, key: &str, phone: u64) -> Protected {
        Protected {
            line,
            record_key: key.into(),
            consent: true,
            birth_year: None,
            zip3: None,
            arrival_year: None,
            employer_key: None,
            values: vec![Value::Null; Field::ALL.len()],
            identity: Some(Identity { phone, ..Default::default() }.to_bytes()),
            previous_record_key: None,
        }
    }

    #[test]
    fn a_record_gets_one_identity_row_per_distinct_observation() {
        // Quarterly wage rows repeat the same person: one identity row. The
        // same record with another phone is a second observation.
        let rows = [row(2, "a", 7), row(3, "a", 7), row(4, "b", 7), row(5, "a", 8)];
        let (staged, identity) = to_batches(&rows, "p", "f", "file", "k1").unwrap();
        assert_eq!(staged.num_rows(), 4);
        let keys = identity.column(0).as_any().downcast_ref::<datafusion::arrow::array::StringArray>().unwrap();
        assert_eq!(keys.iter().map(Option::unwrap).collect::<Vec<_>>(), ["a", "b", "a"]);
    }

    #[test]
    fn rows_without_an_identity_have_no_identity_row() {
        // A row without consent has no identity; the others keep their
        // keys, in order, with repeats dropped.
        let none = Protected { identity: None, ..row(3, "n", 0) };
        let rows = [row(2, "a", 7), none, row(4, "b", 8), row(5, "a", 7), row(6, "c", 9)];
        let (staged, identity) = to_batches(&rows, "p", "f", "file", "k1").unwrap();
        assert_eq!((staged.num_rows(), identity.num_rows()), (5, 3));
        let keys = identity.column(0).as_any().downcast_ref::<datafusion::arrow::array::StringArray>().unwrap();
        assert_eq!(keys.iter().map(Option::unwrap).collect::<Vec<_>>(), ["a", "b", "c"]);
        let enc = identity.column(4).as_any().downcast_ref::<datafusion::arrow::array::BinaryArray>().unwrap();
        for (i, r) in [&rows[0], &rows[2], &rows[4]].iter().enumerate() {
            assert_eq!(enc.value(i), r.identity.as_deref().unwrap());
        }
    }

    #[test]
    fn value_columns_keep_each_rows_value_or_null() {
        // Nulls before, between and after values; a value of another type
        // than the column's is a null; a column without any value is all
        // null.
        use datafusion::arrow::array::{BooleanArray, Float64Array, StringArray};
        let with = |line, lang: Value, learner: Value| {
            let mut r = row(line, "a", line);
            r.values[crate::map::field_index(Field::HomeLanguage)] = lang;
            r.values[crate::map::field_index(Field::EnglishLearner)] = learner;
            r
        };
        let rows = [
            with(2, Value::Null, Value::Null),
            with(3, Value::Text("spanish".into()), Value::Null),
            with(4, Value::Null, Value::Text("yes".into())),
            with(5, Value::Text("dari".into()), Value::Bool(true)),
            with(6, Value::Null, Value::Null),
        ];
        let (staged, _) = to_batches(&rows, "p", "f", "file", "k1").unwrap();
        let col = |name: &str| staged.column(staged.schema().index_of(name).unwrap()).clone();
        let lang = col("home_language");
        let lang = lang.as_any().downcast_ref::<StringArray>().unwrap();
        assert_eq!(lang.iter().collect::<Vec<_>>(), [None, Some("spanish"), None, Some("dari"), None]);
        let learner = col("english_learner");
        let learner = learner.as_any().downcast_ref::<BooleanArray>().unwrap();
        assert_eq!(learner.iter().collect::<Vec<_>>(), [None, None, None, Some(true), None]);
        let hours = col("hours");
        assert_eq!((hours.len(), hours.null_count()), (5, 5));
        assert!(hours.as_any().downcast_ref::<Float64Array>().is_some());
    }

    #[test]
    fn distinct_identities_are_taken_as_they_are() {
        // No repeats: the identity batch is every row, in order, with its
        // own encoding (built without a copy).
        let rows = [row(2, "a", 7), row(3, "b", 7), row(4, "c", 9)];
        let (staged, identity) = to_batches(&rows, "p", "f", "file", "k1").unwrap();
        assert_eq!((staged.num_rows(), identity.num_rows()), (3, 3));
        let keys = identity.column(0).as_any().downcast_ref::<datafusion::arrow::array::StringArray>().unwrap();
        assert_eq!(keys.iter().map(Option::unwrap).collect::<Vec<_>>(), ["a", "b", "c"]);
        let enc = identity.column(4).as_any().downcast_ref::<datafusion::arrow::array::BinaryArray>().unwrap();
        for (i, r) in rows.iter().enumerate() {
            assert_eq!(enc.value(i), r.identity.as_deref().unwrap());
        }
        let key_id = identity.column(3).as_any().downcast_ref::<datafusion::arrow::array::StringArray>().unwrap();
        assert_eq!(key_id.value(2), "k1");
    }
}
