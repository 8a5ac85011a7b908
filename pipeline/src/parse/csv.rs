//! Delimited text: CSV, TSV, pipe- and semicolon-separated files.

use super::{BATCH_ROWS, FileError, FormatConfig, FormatType, Limits, Parsed, RawRow, RowIssue, Spare, check_headers};

pub fn parse(
    bytes: &[u8],
    path: &str,
    cfg: &FormatConfig,
    limits: &Limits,
    on_start: &mut dyn FnMut(&Parsed) -> Result<(), FileError>,
    on_batch: &mut dyn FnMut(Vec<RawRow>) -> Result<Spare, FileError>,
) -> Result<u64, FileError> {
    let (text, encoding) = super::decode_text(bytes, &cfg.encoding)?;
    // Lines that end in a lone CR (classic Mac exports) are lines: read as
    // if they ended in LF, so line numbers, quotes and limits work as usual.
    let text = super::lone_cr_to_lf(text);
    let text: &str = &text;

    // Skip banner lines before the header.
    let mut start = 0usize;
    for _ in 0..cfg.skip_rows {
        match text[start..].find('\n') {
            Some(i) => start += i + 1,
            None => start = text.len(),
        }
    }
    let line_offset = cfg.skip_rows as u64;
    let body = &text.as_bytes()[start..];
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(FileError::new(
            "empty_file",
            format!("file has no rows after skipping {} line(s)", cfg.skip_rows),
        ));
    }

    let delimiter = cfg.delimiter_byte(path);
    let quote = cfg.quote_byte();
    let mut builder = csv::ReaderBuilder::new();
    builder
        .delimiter(delimiter)
        .quote(quote)
        .has_headers(false)
        .flexible(true)
        // Trimmed below, only the records that need it: the reader's own
        // trim copies every record.
        .trim(csv::Trim::None);
    // An escape character that is the quote itself is the usual doubling.
    let escape = cfg.escape_byte().filter(|e| *e != quote);
    if let Some(e) = escape {
        builder.escape(Some(e)).double_quote(false);
    }
    let mut reader = builder.from_reader(body);
    let trim = cfg.trim.unwrap_or(true);
    let read_record = |reader: &mut csv::Reader<&[u8]>, record: &mut csv::StringRecord| -> csv::Result<bool> {
        let more = reader.read_record(record)?;
        if trim && record.iter().any(|f| f.starts_with(char::is_whitespace) || f.ends_with(char::is_whitespace)) {
            record.trim();
        }
        Ok(more)
    };

    let mut record = csv::StringRecord::new();
    let headers: Vec<String> = if cfg.header.unwrap_or(true) {
        match read_record(&mut reader, &mut record) {
            Ok(true) => record.iter().map(|h| h.trim_start_matches('\u{feff}').to_string()).collect(),
            Ok(false) => return Err(FileError::new("empty_file", "file has no header row")),
            Err(e) => return Err(csv_error(e, line_offset)),
        }
    } else {
        cfg.columns.clone().unwrap_or_default()
    };
    check_headers(&headers)?;
    if headers.len() == 1 && body.contains(&b';') && delimiter != b';' {
        // A one-column header that contains the other common separator is
        // almost always a delimiter mismatch.
        return Err(FileError::new(
            "wrong_delimiter",
            format!(
                "header has one column but contains `;`: the file looks semicolon-separated; set format.delimiter = \";\" (configured: `{}`)",
                delimiter as char
            ),
        ));
    }
    on_start(&Parsed { headers: headers.clone(), format: FormatType::Csv, encoding: Some(encoding) })?;

    let expected = headers.len();
    let mut rows = 0u64;
    let mut batch = Vec::with_capacity(BATCH_ROWS);
    // Cells handed back by the consumer, for the next rows to be read into.
    let mut spare = Spare::new();
    let mut last: Option<(u64, usize, usize)> = None; // (line, byte start, fields)
    // Newlines before the current record, counted incrementally.
    let (mut newlines, mut counted) = (0u64, 0usize);
    loop {
        let pos_before = reader.position().byte() as usize;
        match read_record(&mut reader, &mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => return Err(csv_error(e, line_offset)),
        }
        let start_byte = record.position().map(|p| p.byte() as usize).unwrap_or(pos_before);
        // Lines are counted here: csv's own counter lags by one on CRLF files.
        // A record that "starts" on the \n of a CRLF really starts after it.
        let mut start_line_byte = start_byte;
        while start_line_byte < body.len() && (body[start_line_byte] == b'\n' || body[start_line_byte] == b'\r') {
            start_line_byte += 1;
        }
        newlines += memchr_count(&body[counted..start_line_byte.max(counted)]);
        counted = counted.max(start_line_byte);
        let line = newlines + 1 + line_offset;
        let end_byte = reader.position().byte() as usize;
        // A blank line inside the file is not a row.
        if record.len() == 1 && record.get(0).is_some_and(|f| f.is_empty()) {
            continue;
        }
        rows += 1;
        if rows > limits.max_rows {
            return Err(FileError::new(
                "too_many_rows",
                format!("file has more than ingest.max_rows = {} rows", limits.max_rows),
            ));
        }
        // Only a quoted field can carry a row over several lines. One that
        // does is checked: a stray quote opens a "field" that swallows the
        // rows after it until some later quote, and those rows must not
        // vanish into one (docs/decisions.md, decision 28).
        let raw = &body[start_line_byte.min(end_byte)..end_byte];
        let inner = raw.strip_suffix(b"\n").unwrap_or(raw);
        let inner = inner.strip_suffix(b"\r").unwrap_or(inner);
        if memchr::memchr(b'\n', inner).is_some() {
            let last_line = line + memchr_count(inner);
            let (quoting, row_like) = quoting(inner, delimiter, quote, escape);
            match quoting {
                Quoting::Open => {
                    return Err(FileError::new(
                        "unterminated_quote",
                        format!("unterminated quote in the row starting at line {line}: it runs to the end of the file"),
                    ));
                }
                Quoting::TextAfterClose => {
                    return Err(FileError::new(
                        "stray_quote",
                        format!(
                            "a quoted field opened in the row at line {line} closes on line {last_line} and is followed by other text: probably a stray quote at line {line}"
                        ),
                    ));
                }
                Quoting::Clean if record.len() != expected => {
                    return Err(FileError::new(
                        "stray_quote",
                        format!(
                            "a quoted field makes the row at line {line} run to line {last_line}, with {} of {expected} fields: probably a stray quote at line {line}",
                            record.len()
                        ),
                    ));
                }
                // Quotes that pair up and the right number of fields, but a
                // line of the quoted text with a whole row's worth of
                // separators: rows swallowed between two stray quotes.
                // (Five separators at least: a note in a narrow file may
                // hold a list with commas.)
                Quoting::Clean if row_like.is_some_and(|(n, _)| n + 1 >= expected && n >= 5) => {
                    let k = row_like.map_or(0, |(_, k)| k);
                    return Err(FileError::new(
                        "stray_quote",
                        format!(
                            "a quoted field makes the row at line {line} run to line {last_line}, and line {} inside it looks like a row of its own: probably a stray quote at line {line}",
                            line + k
                        ),
                    ));
                }
                Quoting::Clean => {}
            }
        }
        let mut issue = None;
        // The row's own text: its line ending does not count.
        let mut end_text = end_byte.min(body.len());
        while end_text > start_line_byte && matches!(body[end_text - 1], b'\n' | b'\r') {
            end_text -= 1;
        }
        if end_text.saturating_sub(start_line_byte) > limits.max_line_bytes {
            issue = Some(RowIssue::LineTooLong);
        } else if record.len() != expected {
            issue = Some(RowIssue::FieldCount { expected, found: record.len() });
        } else if let Some(column) = record.iter().position(|f| f.len() > limits.max_field_bytes) {
            issue = Some(RowIssue::FieldTooLong { column });
        }
        last = Some((line, start_byte, record.len()));
        // The row keeps the record it was read into; the next row is read
        // into a spare one, or a new one as large as this row needs.
        let next = spare.pop().unwrap_or_else(|| csv::StringRecord::with_capacity(record.as_byte_record().as_slice().len(), record.len()));
        batch.push(RawRow { line, cells: std::mem::replace(&mut record, next), issue });
        if batch.len() == BATCH_ROWS {
            let mut back = on_batch(std::mem::replace(&mut batch, Vec::with_capacity(BATCH_ROWS)))?;
            back.truncate(BATCH_ROWS.saturating_sub(spare.len()));
            spare.append(&mut back);
        }
    }

    if rows == 0 {
        return Err(FileError::new("header_only", "file has a header row but no data rows"));
    }
    if let Some((line, start_byte, fields)) = last {
        // The last row, even on one line, may end inside a quoted field.
        if quoting(&body[start_byte..], delimiter, quote, escape).0 == Quoting::Open {
            return Err(FileError::new(
                "unterminated_quote",
                format!("unterminated quote in the row starting at line {line}: it runs to the end of the file"),
            ));
        }
        if !body.ends_with(b"\n") && !body.ends_with(b"\r") && fields < expected {
            return Err(FileError::new(
                "truncated",
                format!(
                    "file appears truncated: the last line, line {line}, has {fields} of {expected} fields and no line ending"
                ),
            ));
        }
    }
    if !batch.is_empty() {
        on_batch(batch)?;
    }
    Ok(rows)
}

fn memchr_count(b: &[u8]) -> u64 {
    memchr::memchr_iter(b'\n', b).count() as u64
}

/// How the quotes of one row's raw text pair up.
#[derive(Debug, PartialEq, Eq)]
enum Quoting {
    Clean,
    /// A quoted field is still open at the end of the text.
    Open,
    /// A quoted field closes and other text follows before the next
    /// separator (`"Smith" Jr`): the reader keeps it, but across lines it is
    /// the mark of a stray quote.
    TextAfterClose,
}

/// Reads a row's raw bytes the way the CSV reader does (a quote opens a
/// field only at its start; inside one, a doubled quote or the escape
/// character keeps a quote in the text) and says how its quotes pair up,
/// with the most separators on one line that quoted text carries after a
/// line break, and which line of the row that is (0 for the first).
fn quoting(raw: &[u8], delimiter: u8, quote: u8, escape: Option<u8>) -> (Quoting, Option<(usize, u64)>) {
    #[derive(PartialEq)]
    enum S {
        FieldStart,
        Unquoted,
        Quoted,
        Escaped,
        /// A quote inside a quoted field: its end, or the first of two.
        QuoteSeen,
    }
    let mut s = S::FieldStart;
    let mut after_close = false;
    let mut line = 0u64;
    // Separators on the current line of quoted text after a line break.
    let mut inner: Option<usize> = None;
    let mut widest: Option<(usize, u64)> = None;
    for &b in raw {
        if b == b'\n' {
            line += 1;
        }
        s = match s {
            S::FieldStart if b == quote => S::Quoted,
            S::FieldStart | S::Unquoted if b == delimiter || b == b'\n' || b == b'\r' => S::FieldStart,
            S::FieldStart | S::Unquoted => S::Unquoted,
            S::Quoted if Some(b) == escape && escape != Some(quote) => S::Escaped,
            S::Quoted if b == quote => S::QuoteSeen,
            S::Quoted => {
                if b == b'\n' {
                    inner = Some(0);
                } else if b == delimiter
                    && let Some(n) = inner.as_mut()
                {
                    *n += 1;
                    if widest.is_none_or(|(w, _)| *n > w) {
                        widest = Some((*n, line));
                    }
                }
                S::Quoted
            }
            S::Escaped => S::Quoted,
            S::QuoteSeen if b == quote && (escape.is_none() || escape == Some(quote)) => S::Quoted,
            S::QuoteSeen => {
                inner = None;
                if b == delimiter || b == b'\n' || b == b'\r' {
                    S::FieldStart
                } else {
                    after_close = true;
                    S::Unquoted
                }
            }
        };
    }
    let q = match s {
        S::Quoted | S::Escaped => Quoting::Open,
        _ if after_close => Quoting::TextAfterClose,
        _ => Quoting::Clean,
    };
    (q, widest)
}

fn csv_error(e: csv::Error, line_offset: u64) -> FileError {
    let line = e.position().map(|p| p.line() + line_offset);
    let message = match e.kind() {
        csv::ErrorKind::Utf8 { .. } => "invalid UTF-8".to_string(),
        csv::ErrorKind::Io(io) => format!("read error: {io}"),
        _ => "malformed CSV".to_string(),
    };
    match line {
        Some(l) => FileError::new("malformed_csv", format!("{message} at line {l}")),
        None => FileError::new("malformed_csv", message),
    }
}

#[cfg(test)]
mod tests {
    use crate::parse::{BATCH_ROWS, FormatConfig, RowIssue, parse_all};

    fn csv_cfg() -> FormatConfig {
        FormatConfig::default()
    }

    #[test]
    fn reads_rows_with_line_numbers_and_trims_after_separators() {
        let (p, rows) = parse_all(b"id, name ,dob\n1, Ana ,2000-01-02\n2,Bo,1999-12-31\n", "a.csv", &csv_cfg()).unwrap();
        assert_eq!(p.headers, vec!["id", "name", "dob"]);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].line, 2);
        assert_eq!(&rows[0].cells[1], "Ana");
        assert_eq!(rows[1].line, 3);
    }

    #[test]
    fn trimming_is_per_field_unicode_and_can_be_turned_off() {
        // Only the last field, only a no-break space: still trimmed.
        let text = "id,name,city\n1,Ana,Oakland\u{a0}\n2,Bo,Fresno\n3,\t Cy , Davis\n".as_bytes();
        let (_, rows) = parse_all(text, "a.csv", &csv_cfg()).unwrap();
        let cells: Vec<Vec<&str>> = rows.iter().map(|r| r.cells.iter().collect()).collect();
        assert_eq!(cells, [["1", "Ana", "Oakland"], ["2", "Bo", "Fresno"], ["3", "Cy", "Davis"]]);
        let untrimmed = FormatConfig { trim: Some(false), ..csv_cfg() };
        let (_, rows) = parse_all(text, "a.csv", &untrimmed).unwrap();
        assert_eq!(&rows[0].cells[2], "Oakland\u{a0}");
        assert_eq!(&rows[2].cells[1], "\t Cy ");
    }

    #[test]
    fn crlf_line_numbers_are_right() {
        let (_, rows) = parse_all(b"a,b\r\n1,2\r\n3,4\r\n", "a.csv", &csv_cfg()).unwrap();
        assert_eq!(rows.iter().map(|r| r.line).collect::<Vec<_>>(), vec![2, 3]);
        let (_, rows) = parse_all(b"a,b\r\n1,\"x\r\ny\"\r\n3,4\r\n", "a.csv", &csv_cfg()).unwrap();
        assert_eq!(rows.iter().map(|r| r.line).collect::<Vec<_>>(), vec![2, 4]);
    }

    #[test]
    fn lone_cr_line_endings_are_lines() {
        // Classic Mac line endings: rows and line numbers as with LF, and a
        // stray quote is caught as it is there (no row swallowed).
        let (_, rows) = parse_all(b"a,b\r1,2\r3,4\r", "a.csv", &csv_cfg()).unwrap();
        assert_eq!(rows.iter().map(|r| (r.line, r.cells[0].to_string())).collect::<Vec<_>>(), vec![(2, "1".into()), (3, "3".into())]);
        let e = parse_all(b"a,b\r1,\"x\r2,y\r3,z\"w,4\r5,6\r", "a.csv", &csv_cfg()).unwrap_err();
        assert_eq!(e.code, "stray_quote", "{}", e.message);
    }

    #[test]
    fn quoted_newlines_keep_line_numbers_right() {
        let (_, rows) = parse_all(b"id,note\n1,\"a\nb\"\n2,c\n", "a.csv", &csv_cfg()).unwrap();
        assert_eq!(rows[1].line, 4);
    }

    #[test]
    fn semicolon_and_skip_rows() {
        let mut cfg = csv_cfg();
        cfg.delimiter = Some(";".into());
        cfg.skip_rows = 2;
        let (p, rows) = parse_all(b"Export of 2025\n\nid;name\n7;X\n", "a.csv", &cfg).unwrap();
        assert_eq!(p.headers, vec!["id", "name"]);
        assert_eq!(rows[0].line, 4);
    }

    #[test]
    fn field_count_mismatch_is_a_row_issue_not_a_file_error() {
        let (_, rows) = parse_all(b"a,b\n1,2\n1,2,3\n4,5\n", "a.csv", &csv_cfg()).unwrap();
        assert_eq!(rows.len(), 3);
        assert!(rows[1].issue.is_some());
        assert!(rows[2].issue.is_none());
    }

    #[test]
    fn header_only_and_empty_are_file_errors() {
        assert_eq!(parse_all(b"a,b\n", "a.csv", &csv_cfg()).unwrap_err().code, "header_only");
        assert_eq!(parse_all(b"", "a.csv", &csv_cfg()).unwrap_err().code, "empty_file");
        assert_eq!(parse_all(b"\n\n", "a.csv", &csv_cfg()).unwrap_err().code, "empty_file");
    }

    #[test]
    fn unterminated_quote_is_named() {
        let e = parse_all(b"a,b\n1,2\n3,\"oops\n4,5\n", "a.csv", &csv_cfg()).unwrap_err();
        assert_eq!(e.code, "unterminated_quote");
        assert!(e.message.contains("line 3"), "{}", e.message);
    }

    #[test]
    fn a_stray_quote_that_swallows_rows_rejects_the_file() {
        // Row 2's stray quote opens a field that row 6's quote closes: the
        // reader alone would return rows 3 to 5 inside one field of row 2.
        let text = b"ID,First,Last,City\n1,Ana,Ruiz,Oakland\n2,\"Bo,Lee,Oakland\n3,Cy,Diaz,Fresno\n4,Di,Li,Davis\n5,Ed,Ng,Napa\n6,Flo,\"Smith, Jr\",Oakland\n7,Gu,Wu,Yuba\n";
        let e = parse_all(text, "a.csv", &csv_cfg()).unwrap_err();
        assert_eq!(e.code, "stray_quote");
        assert!(e.message.contains("line 3") && e.message.contains("line 7"), "{}", e.message);
        assert!(!e.message.contains("Smith") && !e.message.contains("Bo"), "{}", e.message);
        // Closed cleanly by a later quote with the right number of fields,
        // but a line inside the quoted text is a whole row.
        let text = b"ID,First,Last,City,Zip,Phone\n1,\"Ana,Ruiz,Napa,94558,555\n2,Bo,Lee,Davis,95616,555\n3,Cy\",Diaz,Yuba,95901,555\n4,Di,Li,Napa,94558,555\n";
        let e = parse_all(text, "a.csv", &csv_cfg()).unwrap_err();
        assert_eq!(e.code, "stray_quote");
        assert!(e.message.contains("line 2") && e.message.contains("line 4"), "{}", e.message);
        // A note with a list in a narrow file is not taken for a row.
        let (_, rows) = parse_all(b"id,date,service,notes\n1,2024-01-02,ESL,\"Needs:\nESL, GED, childcare, transport\"\n", "a.csv", &csv_cfg()).unwrap();
        assert_eq!(rows.len(), 1);
    }

    #[test]
    fn quoted_fields_over_several_lines_still_load() {
        let text = b"id,note,city\n1,\"line one\nsaid \"\"hi\"\"\nline three\",Oakland\n2,plain,Davis\n";
        let (_, rows) = parse_all(text, "a.csv", &csv_cfg()).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(&rows[0].cells[1], "line one\nsaid \"hi\"\nline three");
        assert_eq!(rows[1].line, 5);
        // The quoted text ends early in the row: the row's own separators
        // after it do not make it look like a swallowed row.
        let (_, rows) = parse_all(b"note,a,b,c\n\"x, y\nz\",1,2,3\n", "a.csv", &csv_cfg()).unwrap();
        assert_eq!(rows.len(), 1);
        let mut cfg = csv_cfg();
        cfg.escape = Some("\\".into());
        let (_, rows) = parse_all(b"id,note\n1,\"a \\\" b\nc\"\n2,d\n", "a.csv", &cfg).unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(&rows[0].cells[1], "a \" b\nc");
    }

    #[test]
    fn a_quote_inside_a_field_of_the_last_row_is_text() {
        // Not a quoted field: the quote does not open one, wherever the row is.
        for text in [&b"id,name\n1,Ana\n2,O\"Brien\n"[..], &b"id,name\n2,O\"Brien\n1,Ana\n"[..]] {
            let (_, rows) = parse_all(text, "a.csv", &csv_cfg()).unwrap();
            assert_eq!(rows.len(), 2);
            assert!(rows.iter().any(|r| &r.cells[1] == "O\"Brien"));
        }
    }

    #[test]
    fn an_unterminated_quote_is_named_with_an_escape_character_too() {
        let mut cfg = csv_cfg();
        cfg.escape = Some("\\".into());
        let e = parse_all(b"a,b\n1,2\n3,\"oops\n4,5\n6,7\n", "a.csv", &cfg).unwrap_err();
        assert_eq!(e.code, "unterminated_quote");
        assert!(e.message.contains("line 3"), "{}", e.message);
    }

    #[test]
    fn a_line_at_the_limit_is_kept_whatever_its_line_ending() {
        let limits = crate::parse::Limits { max_file_bytes: 1 << 20, max_decompressed_bytes: 1 << 20, max_line_bytes: 5, max_field_bytes: 512, max_rows: 10 };
        for text in [&b"a,b\n12,45\n123,56\n"[..], b"a,b\r\n12,45\r\n123,56\r\n", b"a,b\n12,45\n123,56"] {
            let mut rows = vec![];
            crate::parse::parse(text, "a.csv", &csv_cfg(), &limits, &mut |_| Ok(()), &mut |b| {
                rows.extend(b);
                Ok(vec![])
            })
            .unwrap();
            let issues: Vec<_> = rows.iter().map(|r| r.issue.clone()).collect();
            assert_eq!(issues, [None, Some(RowIssue::LineTooLong)], "{}", String::from_utf8_lossy(text));
        }
    }

    #[test]
    fn rows_read_into_handed_back_records_hold_only_their_own_cells() {
        // Rows of different lengths and field counts, over several batches:
        // a reused record must not keep anything of the row it held before.
        let mut text = String::from("a,b,c\n");
        for i in 0..3 * BATCH_ROWS + 5 {
            match i % 4 {
                0 => text.push_str(&format!("{i},{},long\n", "x".repeat(i % 300))),
                1 => text.push_str(&format!("{i}\n")),
                2 => text.push_str(&format!("{i},\"q,{i}\",,extra\n")),
                _ => text.push_str(&format!("{i},,\n")),
            }
        }
        let limits = crate::parse::Limits { max_file_bytes: 1 << 30, max_decompressed_bytes: 1 << 30, max_line_bytes: 1 << 20, max_field_bytes: 1 << 16, max_rows: 1 << 20 };
        let read = |hand_back: bool| {
            let (mut rows, mut handed) = (vec![], 0);
            crate::parse::parse(text.as_bytes(), "a.csv", &csv_cfg(), &limits, &mut |_| Ok(()), &mut |b| {
                let cells: Vec<(u64, Vec<String>, Option<RowIssue>)> =
                    b.iter().map(|r| (r.line, r.cells.iter().map(String::from).collect(), r.issue.clone())).collect();
                rows.extend(cells);
                if !hand_back {
                    return Ok(vec![]);
                }
                handed += b.len();
                Ok(b.into_iter().map(|r| r.cells).collect())
            })
            .unwrap();
            (rows, handed)
        };
        let ((fresh, _), (reused, handed)) = (read(false), read(true));
        assert!(handed >= 2 * BATCH_ROWS, "records were handed back: {handed}");
        assert_eq!(fresh.len(), 3 * BATCH_ROWS + 5);
        assert_eq!(fresh, reused);
        assert_eq!(reused[1].1, ["1"]);
        assert_eq!(reused[2].1, ["2", "q,2", "", "extra"]);
    }

    #[test]
    fn blank_lines_do_not_count_against_max_rows() {
        let limits = crate::parse::Limits { max_file_bytes: 1 << 20, max_decompressed_bytes: 1 << 20, max_line_bytes: 4096, max_field_bytes: 512, max_rows: 2 };
        let mut rows = vec![];
        let n = crate::parse::parse(b"a,b\n1,2\n\n3,4\n   \n", "a.csv", &csv_cfg(), &limits, &mut |_| Ok(()), &mut |b| {
            rows.extend(b);
            Ok(vec![])
        })
        .unwrap();
        assert_eq!((n, rows.len()), (2, 2));
    }

    #[test]
    fn truncated_last_line_is_named() {
        let e = parse_all(b"a,b,c\n1,2,3\n4,5", "a.csv", &csv_cfg()).unwrap_err();
        assert_eq!(e.code, "truncated");
        assert!(e.message.contains("line 3"), "{}", e.message);
    }

    #[test]
    fn a_semicolon_file_read_as_comma_says_so() {
        let e = parse_all(b"a;b;c\n1;2;3\n", "a.csv", &csv_cfg()).unwrap_err();
        assert_eq!(e.code, "wrong_delimiter");
    }

    #[test]
    fn headerless_file_uses_configured_columns() {
        let mut cfg = csv_cfg();
        cfg.header = Some(false);
        cfg.columns = Some(vec!["x".into(), "y".into()]);
        let (p, rows) = parse_all(b"1|2\n3|4\n", "a.psv", &cfg).unwrap();
        assert_eq!(p.headers, vec!["x", "y"]);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].line, 1);
    }

    #[test]
    fn tab_separated_by_name_or_by_option() {
        let (p, rows) = parse_all(b"id\tname\n1\tGarcia, Ana\n", "students.tsv", &csv_cfg()).unwrap();
        assert_eq!(p.headers, vec!["id", "name"]);
        assert_eq!(&rows[0].cells[1], "Garcia, Ana");
        let mut cfg = csv_cfg();
        cfg.delimiter = Some("\\t".into());
        let (p, _) = parse_all(b"id\tname\n1\tAna\n", "students.txt", &cfg).unwrap();
        assert_eq!(p.headers, vec!["id", "name"]);
    }

    #[test]
    fn a_configured_quote_and_escape_are_used() {
        let mut cfg = csv_cfg();
        cfg.quote = Some("'".into());
        let (_, rows) = parse_all(b"id,name\n1,'Garcia, Ana'\n", "a.csv", &cfg).unwrap();
        assert_eq!(&rows[0].cells[1], "Garcia, Ana");
        assert!(rows[0].issue.is_none());
        let mut cfg = csv_cfg();
        cfg.escape = Some("\\".into());
        let (_, rows) = parse_all(b"id,name\n1,\"Ana \\\"Nena\\\" Ruiz\"\n2,Bo\n", "a.csv", &cfg).unwrap();
        assert_eq!(&rows[0].cells[1], "Ana \"Nena\" Ruiz");
        assert_eq!(rows.len(), 2);
    }
}
