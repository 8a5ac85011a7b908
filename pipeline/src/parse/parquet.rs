//! Parquet files from a partner's data warehouse. Every column is cast to
//! text (dates as ISO) so that `map` treats all formats alike.
//!
//! Timestamps become the date and time on the clock of their own time zone,
//! to the second (`2024-01-15T00:00:00`), which the date formats of every
//! feed read; a time zone suffix or a fraction of a second would not match
//! them. Nested values (structs, lists, maps) become text as Arrow displays
//! them, so a column nobody maps never rejects the file.

use std::sync::Arc;

use chrono::{Offset, TimeZone};
use datafusion::arrow::array::timezone::Tz;
use datafusion::arrow::array::{Array, ArrayRef, AsArray, StringArray, StringBuilder, TimestampSecondArray};
use datafusion::arrow::datatypes::Int64Type;
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::{BATCH_ROWS, FileError, FormatType, Limits, Parsed, RawRow, RowIssue, Spare, guarded};

pub fn parse(
    bytes: &[u8],
    limits: &Limits,
    on_start: &mut dyn FnMut(&Parsed) -> Result<(), FileError>,
    on_batch: &mut dyn FnMut(Vec<RawRow>) -> Result<Spare, FileError>,
) -> Result<u64, FileError> {
    let data = bytes::Bytes::copy_from_slice(bytes);
    let builder = guarded("bad_parquet", "not a readable Parquet file", || {
        ParquetRecordBatchReaderBuilder::try_new(data)
            .map_err(|e| FileError::new("bad_parquet", format!("not a readable Parquet file ({})", footer_problem(&e))))
    })?;
    let headers: Vec<String> = builder.schema().fields().iter().map(|f| f.name().clone()).collect();
    super::check_headers(&headers)?;
    let mut reader = guarded("bad_parquet", "cannot read Parquet file", || {
        builder
            .with_batch_size(BATCH_ROWS)
            .build()
            .map_err(|e| FileError::new("bad_parquet", format!("cannot read Parquet file ({e})")))
    })?;
    on_start(&Parsed { headers: headers.clone(), format: FormatType::Parquet, encoding: None })?;
    let mut rows = 0u64;
    loop {
        // The next batch, as text columns (the reader runs guarded).
        let next = guarded("bad_parquet", &format!("Parquet data is corrupt after row {rows}"), || {
            let Some(batch) = reader.next() else { return Ok(None) };
            let batch = batch.map_err(|e| {
                FileError::new("bad_parquet", format!("Parquet data is corrupt after row {rows} ({e})"))
            })?;
            let cols: Vec<StringArray> =
                batch.columns().iter().enumerate().map(|(j, c)| as_text(c, j)).collect::<Result<_, FileError>>()?;
            Ok(Some((batch.num_rows(), cols)))
        })?;
        let Some((num_rows, cols)) = next else { break };
        let mut out = Vec::with_capacity(num_rows);
        for i in 0..num_rows {
            rows += 1;
            let mut cells = csv::StringRecord::with_capacity(64, cols.len());
            let mut issue = None;
            for (j, c) in cols.iter().enumerate() {
                let v = if c.is_null(i) { "" } else { c.value(i) };
                if v.len() > limits.max_field_bytes && issue.is_none() {
                    issue = Some(RowIssue::FieldTooLong { column: j });
                }
                cells.push_field(v);
            }
            // Row numbers count a virtual header row, as for the text formats.
            out.push(RawRow { line: rows + 1, cells, issue });
        }
        on_batch(out)?;
        if rows > limits.max_rows {
            return Err(FileError::new("too_many_rows", format!("file has more than ingest.max_rows = {} rows", limits.max_rows)));
        }
    }
    if rows == 0 {
        return Err(FileError::new("header_only", "Parquet file has a schema but no rows"));
    }
    Ok(rows)
}

/// What is wrong with a file's footer, in words of braid's own: the
/// reader's message can quote numbers it read from the file's bytes.
fn footer_problem(e: &datafusion::parquet::errors::ParquetError) -> &'static str {
    use datafusion::parquet::errors::ParquetError;
    match e {
        ParquetError::EOF(_) | ParquetError::NeedMoreData(_) => "it ends early: cut short, or not Parquet at all",
        _ => "its footer or metadata is corrupt",
    }
}

/// Column `j` of a batch as text (see the module).
fn as_text(c: &ArrayRef, j: usize) -> Result<StringArray, FileError> {
    let failed = |e: &dyn std::fmt::Display| FileError::new("bad_parquet", format!("column {} cannot be read as text ({e})", j + 1));
    let c = match c.data_type() {
        // To the wall clock of the column's zone, then to whole seconds.
        DataType::Timestamp(unit, tz) => {
            // Whole seconds since the epoch, in UTC, rounded down: Arrow's
            // cast to seconds rounds toward zero, which before 1970 moves a
            // time with a fraction of a second to the next second (and
            // 23:59:59.5 to the next day).
            let per_second: i64 = match unit {
                TimeUnit::Second => 1,
                TimeUnit::Millisecond => 1_000,
                TimeUnit::Microsecond => 1_000_000,
                TimeUnit::Nanosecond => 1_000_000_000,
            };
            let ticks = cast(c, &DataType::Int64).map_err(|e| failed(&e))?;
            let utc: TimestampSecondArray = ticks.as_primitive::<Int64Type>().unary(|t| t.div_euclid(per_second));
            match tz {
                None => Arc::new(utc) as ArrayRef,
                Some(tz) => {
                    let tz: Tz = tz.parse().map_err(|e| failed(&e))?;
                    let local: TimestampSecondArray = utc.unary(|s| {
                        let at = chrono::DateTime::from_timestamp(s, 0).map(|d| d.naive_utc()).unwrap_or_default();
                        s + i64::from(tz.offset_from_utc_datetime(&at).fix().local_minus_utc())
                    });
                    Arc::new(local) as ArrayRef
                }
            }
        }
        _ => c.clone(),
    };
    if let Ok(s) = cast(&c, &DataType::Utf8) {
        return Ok(s.as_any().downcast_ref::<StringArray>().cloned().expect("cast to Utf8"));
    }
    let f = ArrayFormatter::try_new(c.as_ref(), &FormatOptions::default()).map_err(|e| failed(&e))?;
    let mut b = StringBuilder::with_capacity(c.len(), c.len() * 16);
    for i in 0..c.len() {
        if c.is_null(i) {
            b.append_null();
        } else {
            b.append_value(f.value(i).to_string());
        }
    }
    Ok(b.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int32Array, StructArray, TimestampMicrosecondArray, TimestampMillisecondArray};
    use datafusion::arrow::datatypes::{Field, Schema};
    use datafusion::arrow::record_batch::RecordBatch;

    fn text(c: ArrayRef) -> Vec<String> {
        let s = as_text(&c, 0).unwrap();
        (0..s.len()).map(|i| s.value(i).to_string()).collect()
    }

    #[test]
    fn timestamps_read_as_seconds_on_their_own_clock() {
        // 2024-01-15 08:00 UTC is midnight in Los Angeles.
        let us = 1_705_305_600_000_000i64;
        let utc = TimestampMicrosecondArray::from(vec![us]).with_timezone("UTC");
        assert_eq!(text(Arc::new(utc)), ["2024-01-15T08:00:00"]);
        let la = TimestampMicrosecondArray::from(vec![us]).with_timezone("America/Los_Angeles");
        assert_eq!(text(Arc::new(la)), ["2024-01-15T00:00:00"]);
        let ms = TimestampMillisecondArray::from(vec![1_705_305_600_123i64]);
        assert_eq!(text(Arc::new(ms)), ["2024-01-15T08:00:00"]);
        // Before 1970 the fraction rounds down too, not toward zero:
        // half a second before midnight stays on its own day.
        let before = TimestampMillisecondArray::from(vec![Some(-500), Some(-86_400_000), None]);
        let t = as_text(&(Arc::new(before) as ArrayRef), 0).unwrap();
        assert_eq!((t.value(0), t.value(1), t.is_null(2)), ("1969-12-31T23:59:59", "1969-12-31T00:00:00", true));
    }

    #[test]
    fn a_struct_column_is_text_and_the_file_loads() {
        let zip = Arc::new(StringArray::from(vec![Some("94110"), None]));
        let st = StructArray::from(vec![(Arc::new(Field::new("zip", DataType::Utf8, true)), zip as ArrayRef)]);
        let schema = Schema::new(vec![Field::new("ID", DataType::Int32, false), Field::new("Addr", st.data_type().clone(), false)]);
        let batch = RecordBatch::try_new(Arc::new(schema), vec![Arc::new(Int32Array::from(vec![1, 2])), Arc::new(st)]).unwrap();
        let mut buf = Vec::new();
        let mut w = datafusion::parquet::arrow::ArrowWriter::try_new(&mut buf, batch.schema(), None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        let (p, rows) = crate::parse::parse_all(&buf, "a.parquet", &Default::default()).unwrap();
        assert_eq!(p.headers, ["ID", "Addr"]);
        assert_eq!(rows.len(), 2);
        assert_eq!(&rows[0].cells[0], "1");
        assert!(rows[0].cells[1].contains("94110"), "{:?}", rows[0].cells);
    }
}
