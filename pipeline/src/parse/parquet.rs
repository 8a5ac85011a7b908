//! Parquet files from a partner's data warehouse. Every column is cast to
//! text (dates as ISO) so that `map` treats all formats alike.

use datafusion::arrow::array::{Array, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::{BATCH_ROWS, FileError, FormatType, Limits, Parsed, RawRow, RowIssue, guarded};

pub fn parse(
    bytes: &[u8],
    limits: &Limits,
    on_start: &mut dyn FnMut(&Parsed) -> Result<(), FileError>,
    on_batch: &mut dyn FnMut(Vec<RawRow>) -> Result<(), FileError>,
) -> Result<u64, FileError> {
    let data = bytes::Bytes::copy_from_slice(bytes);
    let builder = guarded("bad_parquet", "not a readable Parquet file", || {
        ParquetRecordBatchReaderBuilder::try_new(data)
            .map_err(|e| FileError::new("bad_parquet", format!("not a readable Parquet file ({e})")))
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
            let cols: Vec<StringArray> = batch
                .columns()
                .iter()
                .map(|c| {
                    let s = cast(c, &DataType::Utf8).map_err(|e| {
                        FileError::new("bad_parquet", format!("a column cannot be read as text ({e})"))
                    })?;
                    Ok(s.as_any().downcast_ref::<StringArray>().cloned().expect("cast to Utf8"))
                })
                .collect::<Result<_, FileError>>()?;
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
