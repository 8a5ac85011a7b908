//! Newline-delimited JSON: one object per line. Nested objects are flattened
//! with dots (`client.dob`); arrays are kept as JSON text.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{BATCH_ROWS, FileError, FormatConfig, FormatType, Limits, Parsed, RawRow, RowIssue};

pub fn parse(
    bytes: &[u8],
    cfg: &FormatConfig,
    limits: &Limits,
    on_start: &mut dyn FnMut(&Parsed) -> Result<(), FileError>,
    on_batch: &mut dyn FnMut(Vec<RawRow>) -> Result<(), FileError>,
) -> Result<u64, FileError> {
    let (text, encoding) = super::decode_text(bytes, &cfg.encoding)?;
    let text = super::lone_cr_to_lf(text);
    let lines: Vec<(u64, &str)> = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i as u64 + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty())
        .collect();
    if lines.is_empty() {
        return Err(FileError::new("empty_file", "file has no JSON lines"));
    }

    // First pass: parse every line and collect the union of keys, in order of
    // first appearance, so that every row is aligned with one header.
    let mut parsed: Vec<(u64, Result<BTreeMap<String, String>, RowIssue>)> = Vec::with_capacity(lines.len());
    let mut headers: Vec<String> = Vec::new();
    let mut index: std::collections::HashMap<String, usize> = Default::default();
    let last_line = lines.last().map(|(n, _)| *n).unwrap_or(0);
    let ends_with_newline = text.ends_with('\n');
    for (n, line) in &lines {
        if line.len() > limits.max_line_bytes {
            parsed.push((*n, Err(RowIssue::LineTooLong)));
            continue;
        }
        match serde_json::from_str::<Value>(line) {
            Ok(Value::Object(map)) => {
                let mut flat = BTreeMap::new();
                flatten("", &Value::Object(map), &mut flat);
                for k in flat.keys() {
                    if !index.contains_key(k) {
                        index.insert(k.clone(), headers.len());
                        headers.push(k.clone());
                    }
                }
                parsed.push((*n, Ok(flat)));
            }
            Ok(_) => parsed.push((*n, Err(RowIssue::NotAnObject))),
            Err(e) => {
                if *n == last_line && !ends_with_newline && e.is_eof() {
                    return Err(FileError::new(
                        "truncated",
                        format!("file appears truncated: the last line ({n}) is an incomplete JSON object"),
                    ));
                }
                parsed.push((*n, Err(RowIssue::BadJson { column_in_line: e.column() })));
            }
        }
    }
    if headers.is_empty() {
        return Err(FileError::new("no_objects", "no line of the file is a JSON object"));
    }
    on_start(&Parsed { headers: headers.clone(), format: FormatType::Ndjson, encoding: Some(encoding) })?;

    let mut batch = Vec::with_capacity(BATCH_ROWS);
    let mut rows = 0u64;
    for (line, row) in parsed {
        rows += 1;
        let mut cells = csv::StringRecord::with_capacity(64, headers.len());
        let issue = match row {
            Ok(map) => {
                let mut issue = None;
                for (i, h) in headers.iter().enumerate() {
                    let v = map.get(h).map(String::as_str).unwrap_or("");
                    if v.len() > limits.max_field_bytes && issue.is_none() {
                        issue = Some(RowIssue::FieldTooLong { column: i });
                    }
                    if v == INEXACT {
                        issue = issue.or(Some(RowIssue::InexactNumber { column: i }));
                        cells.push_field("");
                        continue;
                    }
                    cells.push_field(v);
                }
                issue
            }
            Err(issue) => Some(issue),
        };
        batch.push(RawRow { line, cells, issue });
        if batch.len() == BATCH_ROWS {
            on_batch(std::mem::replace(&mut batch, Vec::with_capacity(BATCH_ROWS)))?;
        }
    }
    if !batch.is_empty() {
        on_batch(batch)?;
    }
    Ok(rows)
}

/// The cell text of a number whose digits were lost (see [`flatten`]).
const INEXACT: &str = "\u{0}inexact number";

fn flatten(prefix: &str, v: &Value, out: &mut BTreeMap<String, String>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                flatten(&key, v, out);
            }
        }
        Value::Null => {
            out.insert(prefix.to_string(), String::new());
        }
        Value::String(s) => {
            out.insert(prefix.to_string(), s.clone());
        }
        Value::Bool(b) => {
            out.insert(prefix.to_string(), b.to_string());
        }
        Value::Number(n) => {
            // Beyond 64-bit integers serde_json keeps a float, whose digits
            // are not the file's: two ids of 20 digits would become one.
            // The text is marked (an empty key cannot be a JSON path).
            let inexact = n.as_f64().is_some_and(|f| n.is_f64() && f.fract() == 0.0 && f.abs() >= 9_007_199_254_740_992.0);
            out.insert(prefix.to_string(), if inexact { INEXACT.to_string() } else { n.to_string() });
        }
        Value::Array(_) => {
            out.insert(prefix.to_string(), v.to_string());
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::parse::{FormatConfig, FormatType, parse_all};

    fn cfg() -> FormatConfig {
        FormatConfig { kind: Some(FormatType::Ndjson), ..Default::default() }
    }

    #[test]
    fn flattens_and_aligns_keys() {
        let (p, rows) =
            parse_all(b"{\"id\":1,\"c\":{\"dob\":\"2000-01-01\"}}\n{\"id\":2,\"x\":true}\n", "a.ndjson", &cfg()).unwrap();
        assert_eq!(p.headers, vec!["c.dob", "id", "x"]);
        assert_eq!(&rows[0].cells[0], "2000-01-01");
        assert_eq!(&rows[1].cells[2], "true");
        assert_eq!(&rows[1].cells[0], "");
    }

    #[test]
    fn bad_lines_are_row_issues() {
        let (_, rows) = parse_all(b"{\"id\":1}\n[1,2]\n{oops}\n{\"id\":3}\n", "a.ndjson", &cfg()).unwrap();
        assert_eq!(rows.len(), 4);
        assert!(rows[1].issue.is_some());
        assert!(rows[2].issue.is_some());
        assert_eq!(rows[3].line, 4);
    }

    #[test]
    fn numbers_beyond_64_bits_quarantine_their_row() {
        // Two 20-digit ids would both read as 9.876543210987655e19.
        let (_, rows) =
            parse_all(b"{\"id\":98765432109876543210}\n{\"id\":98765432109876543211}\n{\"id\":12345,\"h\":1.5}\n", "a.ndjson", &cfg()).unwrap();
        assert!(matches!(rows[0].issue, Some(crate::parse::RowIssue::InexactNumber { .. })));
        assert!(matches!(rows[1].issue, Some(crate::parse::RowIssue::InexactNumber { .. })));
        assert!(rows[2].issue.is_none());
        assert_eq!((&rows[2].cells[0], &rows[2].cells[1]), ("12345", "1.5"));
    }

    #[test]
    fn truncated_last_object_is_a_file_error() {
        let e = parse_all(b"{\"id\":1}\n{\"id\":2,\"na", "a.ndjson", &cfg()).unwrap_err();
        assert_eq!(e.code, "truncated");
    }
}
