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
    ArrayRef, BinaryBuilder, BooleanBuilder, Date32Builder, Float64Builder, Int32Builder, Int64Builder,
    StringBuilder, UInt64Builder,
};
use datafusion::arrow::datatypes::{DataType, Field as ArrowField, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;

pub use encode::{Encoder, Hardening, Identity, RawIdentity, employer_key, record_key};

use crate::map::{MappedRow, Value};
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
    pub zip3: Option<String>,
    pub arrival_year: Option<i32>,
    pub employer_key: Option<String>,
    /// Non-identifier values, indexed like `Field::ALL` (identifiers Null).
    pub values: Vec<Value>,
    /// Tokens and encodings; None without consent or without identifiers.
    pub identity: Option<Identity>,
}

/// Protects the rows of one partner feed.
pub struct Protector {
    partner: String,
    consent: ConsentPolicy,
    encoder: Encoder,
    record_key: [u8; 32],
    employer_key: [u8; 32],
}

impl Protector {
    pub fn new(keys: &Keys, partner: &str, consent: ConsentPolicy, variants: Arc<variants::NameVariants>, hardening: Hardening) -> Self {
        Protector {
            partner: partner.to_string(),
            consent,
            encoder: Encoder::new(keys, variants, hardening),
            record_key: keys.key(crate::secret::Purpose::RecordKey),
            employer_key: keys.key(crate::secret::Purpose::EmployerKey),
        }
    }

    pub fn protect(&mut self, row: MappedRow, name_order: normalize::NameOrder) -> Protected {
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
        let identity = self.encoder.encode(&raw);
        let record_key = match text(Field::RecordId) {
            Some(id) => encode::record_key_with(&self.record_key, &self.partner, id),
            // No partner id: the same identity at the same partner is the
            // same record.
            None => encode::record_key_with(&self.record_key, &self.partner, &format!("identity:{}", hex(&identity.to_bytes()))),
        };
        let zip3 = text(Field::Zip).and_then(normalize::zip5).map(|z| z[..3].to_string());
        let employer_key = text(Field::EmployerId).and_then(|e| encode::employer_key_with(&self.employer_key, e));
        let mut values = row.values;
        for (i, f) in Field::ALL.iter().enumerate() {
            if f.is_identifier() {
                values[i] = Value::Null;
            }
        }
        Protected {
            line: row.line,
            record_key,
            consent,
            birth_year: dob.filter(|_| !dob_for_linkage_only).map(|d| d.year()),
            zip3,
            arrival_year: values[crate::map::field_index(Field::ArrivalDate)].date().map(|d| d.year()),
            employer_key,
            values,
            identity: (consent && !identity.is_empty()).then_some(identity),
        }
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

/// Build the staged-record and identity batches of one file.
pub fn to_batches(
    rows: &[Protected],
    partner: &str,
    feed: &str,
    file_id: &str,
    key_id: &str,
) -> crate::Result<(RecordBatch, RecordBatch)> {
    let schema = staged_schema();
    let n = rows.len();
    // One pass over the rows, each row's values read in order: a pass per
    // column read every row's values again, from all over the heap.
    enum Col {
        Text(StringBuilder),
        Date(Date32Builder),
        Bool(BooleanBuilder),
        Number(Float64Builder),
        Cents(Int64Builder),
    }
    // The columns after the fixed ones: the wage period, then the
    // non-identifier fields in schema order.
    const FIXED: usize = 10;
    let mut value_cols: Vec<(usize, Col)> = Vec::with_capacity(schema.fields().len() - FIXED);
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
        value_cols.push((crate::map::field_index(f), col));
    }
    let mut record_key = StringBuilder::with_capacity(n, n * 32);
    let mut line = UInt64Builder::with_capacity(n);
    let mut consent = BooleanBuilder::with_capacity(n);
    let mut birth = Int32Builder::with_capacity(n);
    let mut zip3 = StringBuilder::with_capacity(n, n * 3);
    let mut arrival = Int32Builder::with_capacity(n);
    let mut employer = StringBuilder::with_capacity(n, n * 8);
    for r in rows {
        record_key.append_value(&r.record_key);
        line.append_value(r.line);
        consent.append_value(r.consent);
        birth.append_option(r.birth_year);
        zip3.append_option(r.zip3.as_deref());
        arrival.append_option(r.arrival_year);
        employer.append_option(r.employer_key.as_deref());
        for (i, col) in value_cols.iter_mut() {
            let v = &r.values[*i];
            match col {
                Col::Text(b) => b.append_option(v.text()),
                Col::Date(b) => b.append_option(v.date().map(date32)),
                Col::Bool(b) => b.append_option(match v {
                    Value::Bool(x) => Some(*x),
                    _ => None,
                }),
                Col::Number(b) => b.append_option(match v {
                    Value::Number(x) => Some(*x),
                    _ => None,
                }),
                Col::Cents(b) => b.append_option(match v {
                    Value::Cents(x) => Some(*x),
                    _ => None,
                }),
            }
        }
    }
    let constant = |s: &str| -> ArrayRef { Arc::new(datafusion::arrow::array::StringArray::from(vec![s; n])) };
    let mut cols: Vec<ArrayRef> = vec![
        Arc::new(record_key.finish()),
        constant(partner),
        constant(feed),
        constant(file_id),
        Arc::new(line.finish()),
        Arc::new(consent.finish()),
        Arc::new(birth.finish()),
        Arc::new(zip3.finish()),
        Arc::new(arrival.finish()),
        Arc::new(employer.finish()),
    ];
    debug_assert_eq!(cols.len(), FIXED);
    for (_, col) in value_cols {
        cols.push(match col {
            Col::Text(mut b) => Arc::new(b.finish()),
            Col::Date(mut b) => Arc::new(b.finish()),
            Col::Bool(mut b) => Arc::new(b.finish()),
            Col::Number(mut b) => Arc::new(b.finish()),
            Col::Cents(mut b) => Arc::new(b.finish()),
        });
    }
    let staged = RecordBatch::try_new(schema, cols)?;

    // Every encoding into one buffer, then (record key, byte range) each.
    let mut bytes_all: Vec<u8> = Vec::with_capacity(rows.len() * 400);
    let mut spans: Vec<(&str, usize, usize)> = Vec::with_capacity(rows.len());
    for r in rows {
        if let Some(id) = &r.identity {
            let start = bytes_all.len();
            id.write_bytes(&mut bytes_all);
            spans.push((r.record_key.as_str(), start, bytes_all.len()));
        }
    }
    let mut rk = StringBuilder::with_capacity(spans.len(), spans.len() * 32);
    let mut enc = BinaryBuilder::with_capacity(spans.len(), bytes_all.len());
    // One row per distinct identity observation of a record.
    let mut seen: foldhash::HashSet<(&str, &[u8])> = foldhash::HashSet::with_capacity_and_hasher(spans.len(), Default::default());
    let mut count = 0;
    for &(key, start, end) in &spans {
        let bytes = &bytes_all[start..end];
        if seen.insert((key, bytes)) {
            rk.append_value(key);
            enc.append_value(bytes);
            count += 1;
        }
    }
    let rep = |s: &str| -> ArrayRef { Arc::new(datafusion::arrow::array::StringArray::from(vec![s; count])) };
    let identity = RecordBatch::try_new(
        identity_schema(),
        vec![Arc::new(rk.finish()), rep(partner), rep(file_id), rep(key_id), Arc::new(enc.finish())],
    )?;
    Ok((staged, identity))
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
            identity: Some(Identity { phone, ..Default::default() }),
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
}
