//! Newline-delimited JSON: one object per line. Nested objects are flattened
//! with dots (`client.dob`); arrays are kept as JSON text.

use std::collections::BTreeMap;

use serde_json::Value;

use super::{BATCH_ROWS, FileError, FormatConfig, FormatType, Limits, Parsed, RawRow, RowIssue, Spare};

pub fn parse(
    bytes: &[u8],
    cfg: &FormatConfig,
    limits: &Limits,
    on_start: &mut dyn FnMut(&Parsed) -> Result<(), FileError>,
    on_batch: &mut dyn FnMut(Vec<RawRow>) -> Result<Spare, FileError>,
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
    let mut parsed: Vec<(u64, Result<Flat, RowIssue>)> = Vec::with_capacity(lines.len());
    let mut headers: Vec<String> = Vec::new();
    let mut index: std::collections::HashMap<String, usize> = Default::default();
    let last_line = lines.last().map(|(n, _)| *n).unwrap_or(0);
    let ends_with_newline = text.ends_with('\n');
    for (n, line) in &lines {
        if line.len() > limits.max_line_bytes {
            parsed.push((*n, Err(RowIssue::LineTooLong)));
            continue;
        }
        match read_object(line) {
            Ok(Some(flat)) => {
                for k in flat.cells.keys() {
                    if !index.contains_key(k) {
                        index.insert(k.clone(), headers.len());
                        headers.push(k.clone());
                    }
                }
                parsed.push((*n, Ok(flat)));
            }
            Ok(None) => parsed.push((*n, Err(RowIssue::NotAnObject))),
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
            Ok(flat) => {
                // A key given twice: which value is meant is unclear.
                let mut issue = flat.twice.map(|k| RowIssue::DuplicateKey { column: index[&k] });
                for (i, h) in headers.iter().enumerate() {
                    let v = flat.cells.get(h).map(String::as_str).unwrap_or("");
                    if v.len() > limits.max_field_bytes && issue.is_none() {
                        issue = Some(RowIssue::FieldTooLong { column: i });
                    }
                    if flat.inexact.contains(h) {
                        issue = issue.or(Some(RowIssue::InexactNumber { column: i }));
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

/// One line's object, flattened with dots as it is read.
///
/// Read straight from the text rather than through `serde_json::Value`,
/// whose maps keep only the last of two equal keys: a key given twice in an
/// object, or a dotted key beside the nested one it names (`"a.b"` and
/// `{"a": {"b": ..}}`), is remembered in `twice`, and the row quarantined;
/// so is a number whose digits were lost (`inexact`, its cell left empty).
struct Flat {
    cells: BTreeMap<String, String>,
    twice: Option<String>,
    inexact: std::collections::BTreeSet<String>,
}

impl Flat {
    fn put(&mut self, key: &str, value: String) {
        if self.cells.insert(key.to_string(), value).is_some() && self.twice.is_none() {
            self.twice = Some(key.to_string());
        }
    }
}

/// The line's object flattened, or `None` when the line is JSON but not an
/// object.
fn read_object(line: &str) -> Result<Option<Flat>, serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(line);
    let mut flat = Flat { cells: BTreeMap::new(), twice: None, inexact: Default::default() };
    let object = serde::de::DeserializeSeed::deserialize(Top(&mut flat), &mut de)?;
    de.end()?;
    Ok(object.then_some(flat))
}

/// The line's top level: an object is flattened, anything else read past.
struct Top<'a>(&'a mut Flat);

impl<'de> serde::de::DeserializeSeed<'de> for Top<'_> {
    type Value = bool;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Top<'_> {
    type Value = bool;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<bool, A::Error> {
        Field { key: String::new(), out: self.0 }.visit_map(map).map(|_| true)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
        Ok(false)
    }
    fn visit_unit<E>(self) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_bool<E>(self, _: bool) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_i64<E>(self, _: i64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_u64<E>(self, _: u64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_f64<E>(self, _: f64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_str<E>(self, _: &str) -> Result<bool, E> {
        Ok(false)
    }
}

/// The value at one (dotted) key.
struct Field<'a> {
    key: String,
    out: &'a mut Flat,
}

impl<'de> serde::de::DeserializeSeed<'de> for Field<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Field<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(k) = map.next_key::<String>()? {
            let key = if self.key.is_empty() { k } else { format!("{}.{k}", self.key) };
            map.next_value_seed(Field { key, out: &mut *self.out })?;
        }
        Ok(())
    }
    /// Arrays are kept as JSON text.
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut items = Vec::new();
        while let Some(v) = seq.next_element::<Value>()? {
            items.push(v);
        }
        self.out.put(&self.key, Value::Array(items).to_string());
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        self.out.put(&self.key, String::new());
        Ok(())
    }
    fn visit_bool<E>(self, b: bool) -> Result<(), E> {
        self.out.put(&self.key, b.to_string());
        Ok(())
    }
    fn visit_i64<E>(self, n: i64) -> Result<(), E> {
        self.out.put(&self.key, n.to_string());
        Ok(())
    }
    fn visit_u64<E>(self, n: u64) -> Result<(), E> {
        self.out.put(&self.key, n.to_string());
        Ok(())
    }
    fn visit_f64<E>(self, f: f64) -> Result<(), E> {
        // Beyond 64-bit integers serde_json gives a float, whose digits are
        // not the file's: two ids of 20 digits would become one.
        if f.fract() == 0.0 && f.abs() >= 9_007_199_254_740_992.0 {
            self.out.inexact.insert(self.key.clone());
            self.out.put(&self.key, String::new());
        } else {
            self.out.put(&self.key, serde_json::Number::from_f64(f).map(|n| n.to_string()).unwrap_or_default());
        }
        Ok(())
    }
    fn visit_str<E>(self, s: &str) -> Result<(), E> {
        self.out.put(&self.key, s.to_string());
        Ok(())
    }
    fn visit_string<E>(self, s: String) -> Result<(), E> {
        self.out.put(&self.key, s);
        Ok(())
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
    fn a_field_given_twice_quarantines_its_row() {
        // The same key twice, and a dotted key beside the nested one: a JSON
        // map would keep one value of each without a word. Arrays stay text.
        let (p, rows) = parse_all(
            b"{\"id\":\"1\",\"dob\":\"1990-01-01\",\"dob\":\"1991-02-02\"}\n\
              {\"id\":\"2\",\"c.dob\":\"1990-01-01\",\"c\":{\"dob\":\"1991-02-02\"}}\n\
              {\"id\":\"3\",\"c\":{\"dob\":\"1990-01-01\"},\"a\":[1,{\"x\":null}],\"e\":{}}\n",
            "a.ndjson",
            &cfg(),
        )
        .unwrap();
        assert_eq!(p.headers, vec!["dob", "id", "c.dob", "a"]);
        let dup = |col: usize| Some(crate::parse::RowIssue::DuplicateKey { column: col });
        assert_eq!(rows[0].issue, dup(0));
        assert_eq!(rows[1].issue, dup(2));
        assert_eq!(rows[2].issue, None);
        assert_eq!((&rows[2].cells[2], &rows[2].cells[3]), ("1990-01-01", "[1,{\"x\":null}]"));
    }

    #[test]
    fn truncated_last_object_is_a_file_error() {
        let e = parse_all(b"{\"id\":1}\n{\"id\":2,\"na", "a.ndjson", &cfg()).unwrap_err();
        assert_eq!(e.code, "truncated");
    }
}
