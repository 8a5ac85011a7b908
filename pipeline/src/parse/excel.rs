//! Excel workbooks (xlsx, xlsm, xls, xlsb, ods) through `calamine`.
//! Date cells become ISO dates (`2024-03-05`), which `map` always accepts.

use calamine::{Data, DataType, Reader};

use super::{BATCH_ROWS, FileError, FormatConfig, FormatType, Limits, Parsed, RawRow, RowIssue, Spare, SheetRef, check_headers, guarded};

pub fn parse(
    bytes: &[u8],
    cfg: &FormatConfig,
    limits: &Limits,
    on_start: &mut dyn FnMut(&Parsed) -> Result<(), FileError>,
    on_batch: &mut dyn FnMut(Vec<RawRow>) -> Result<Spare, FileError>,
) -> Result<u64, FileError> {
    if let Some(e) = super::decode::zip_cut_off(bytes, "workbook") {
        return Err(e);
    }
    let mut wb = guarded("bad_workbook", "not a readable Excel workbook", || {
        calamine::open_workbook_auto_from_rs(std::io::Cursor::new(bytes)).map_err(|e| {
            FileError::new("bad_workbook", format!("not a readable Excel workbook ({})", short(&e.to_string())))
        })
    })?;
    let names = wb.sheet_names().to_vec();
    let name = match &cfg.sheet {
        None => names.first().cloned(),
        Some(SheetRef::Name(n)) => names.iter().find(|s| *s == n).cloned(),
        Some(SheetRef::Index(i)) => names.get(*i).cloned(),
    }
    .ok_or_else(|| {
        let wanted = match &cfg.sheet {
            Some(SheetRef::Name(n)) => format!("sheet `{n}`"),
            Some(SheetRef::Index(i)) => format!("sheet index {i}"),
            None => "a first sheet".into(),
        };
        // Sheet names are not repeated: a workbook with one tab per client
        // names people.
        FileError::new(
            "sheet_not_found",
            format!("workbook has no {wanted}; it has {} sheet(s) (format.sheet may also be an index, 0 for the first)", names.len()),
        )
    })?;
    // The sheet as the configuration names it (never the workbook's own
    // name for it, for the same reason).
    let label = match &cfg.sheet {
        Some(SheetRef::Name(n)) => format!("sheet `{n}`"),
        Some(SheetRef::Index(i)) => format!("sheet {i}"),
        None => "the first sheet".into(),
    };
    let range = guarded("bad_sheet", &format!("cannot read {label}"), || {
        wb.worksheet_range(&name)
            .map_err(|e| FileError::new("bad_sheet", format!("cannot read {label} ({})", short(&e.to_string()))))
    })?;
    let first_row = range.start().map(|(r, _)| r as u64).unwrap_or(0);
    let mut rows_iter = range.rows().enumerate().skip(cfg.skip_rows);

    let headers: Vec<String> = if cfg.header.unwrap_or(true) {
        match rows_iter.next() {
            Some((_, r)) => r.iter().map(|c| cell_text(c).trim().to_string()).collect(),
            None => return Err(FileError::new("empty_file", format!("{label} is empty"))),
        }
    } else {
        cfg.columns.clone().unwrap_or_default()
    };
    // Trailing empty header cells are formatting, not columns.
    let width = headers.iter().rposition(|h| !h.is_empty()).map(|i| i + 1).unwrap_or(0);
    let headers: Vec<String> = headers[..width].to_vec();
    check_headers(&headers)?;
    on_start(&Parsed { headers: headers.clone(), format: FormatType::Excel, encoding: None })?;

    let trim = cfg.trim.unwrap_or(true);
    let mut rows = 0u64;
    let mut batch = Vec::with_capacity(BATCH_ROWS);
    for (i, r) in rows_iter {
        if r.iter().all(|c| matches!(c, Data::Empty)) {
            continue;
        }
        rows += 1;
        if rows > limits.max_rows {
            return Err(FileError::new("too_many_rows", format!("sheet has more than ingest.max_rows = {} rows", limits.max_rows)));
        }
        let mut cells = csv::StringRecord::with_capacity(64, width);
        let mut issue = None;
        for (j, c) in r.iter().take(width).enumerate() {
            let t = cell_text(c);
            let t = if trim { t.trim().to_string() } else { t };
            if t.len() > limits.max_field_bytes && issue.is_none() {
                issue = Some(RowIssue::FieldTooLong { column: j });
            }
            // An error cell is not an empty one: the row is quarantined.
            if matches!(c, Data::Error(_)) && issue.is_none() {
                issue = Some(RowIssue::CellError { column: j });
            }
            cells.push_field(&t);
        }
        let extra = r.iter().skip(width).filter(|c| !matches!(c, Data::Empty)).count();
        if extra > 0 && issue.is_none() {
            issue = Some(RowIssue::FieldCount { expected: width, found: width + extra });
        }
        batch.push(RawRow { line: first_row + i as u64 + 1, cells, issue });
        if batch.len() == BATCH_ROWS {
            on_batch(std::mem::replace(&mut batch, Vec::with_capacity(BATCH_ROWS)))?;
        }
    }
    if rows == 0 {
        return Err(FileError::new("header_only", format!("{label} has a header row but no data rows")));
    }
    if !batch.is_empty() {
        on_batch(batch)?;
    }
    Ok(rows)
}

fn cell_text(c: &Data) -> String {
    match c {
        Data::Empty => String::new(),
        Data::String(s) => s.clone(),
        Data::Int(i) => i.to_string(),
        Data::Float(f) => {
            if f.fract() == 0.0 && f.abs() < 1e15 { format!("{}", *f as i64) } else { f.to_string() }
        }
        Data::Bool(b) => b.to_string(),
        Data::DateTime(_) => match c.as_datetime() {
            Some(dt) if dt.time() == chrono::NaiveTime::MIN => dt.date().format("%Y-%m-%d").to_string(),
            Some(dt) => dt.format("%Y-%m-%dT%H:%M:%S").to_string(),
            None => String::new(),
        },
        Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Error(_) => String::new(),
    }
}

/// Library errors can quote cell content; keep only their first clause.
fn short(s: &str) -> String {
    s.split([':', '\n']).next().unwrap_or("").trim().to_string()
}

#[cfg(test)]
mod tests {
    use crate::parse::{FormatConfig, FormatType, SheetRef, parse_all};

    fn workbook() -> Vec<u8> {
        let mut wb = rust_xlsxwriter::Workbook::new();
        let cover = wb.add_worksheet();
        cover.set_name("Cover").unwrap();
        cover.write_string(0, 0, "Exported by the case-management system").unwrap();
        let data = wb.add_worksheet();
        data.set_name("Participants").unwrap();
        for (c, h) in ["ID", "First"].iter().enumerate() {
            data.write_string(0, c as u16, *h).unwrap();
        }
        data.write_number(1, 0, 17.0).unwrap();
        data.write_string(1, 1, "Ana").unwrap();
        wb.save_to_buffer().unwrap()
    }

    fn cfg(sheet: Option<SheetRef>) -> FormatConfig {
        FormatConfig { kind: Some(FormatType::Excel), sheet, ..FormatConfig::default() }
    }

    #[test]
    fn an_error_cell_quarantines_its_row() {
        let mut wb = rust_xlsxwriter::Workbook::new();
        let s = wb.add_worksheet();
        s.write_string(0, 0, "ID").unwrap();
        s.write_string(0, 1, "Hours").unwrap();
        s.write_number(1, 0, 1.0).unwrap();
        s.write_formula(1, 1, rust_xlsxwriter::Formula::new("=1/0").set_result("#DIV/0!")).unwrap();
        s.write_number(2, 0, 2.0).unwrap();
        s.write_number(2, 1, 3.0).unwrap();
        let (_, rows) = parse_all(&wb.save_to_buffer().unwrap(), "export.xlsx", &cfg(None)).unwrap();
        assert_eq!(rows.len(), 2);
        assert!(matches!(rows[0].issue, Some(crate::parse::RowIssue::CellError { column: 1 })), "{:?}", rows[0].issue);
        assert!(rows[1].issue.is_none());
    }

    #[test]
    fn a_sheet_is_chosen_by_name_or_index() {
        let book = workbook();
        for sheet in [SheetRef::Name("Participants".into()), SheetRef::Index(1)] {
            let (p, rows) = parse_all(&book, "export.xlsx", &cfg(Some(sheet))).unwrap();
            assert_eq!(p.headers, vec!["ID", "First"]);
            assert_eq!(&rows[0].cells[0], "17");
            assert_eq!(rows[0].line, 2);
        }
        // By default the first sheet: here a cover page with no data rows.
        assert_eq!(parse_all(&book, "export.xlsx", &cfg(None)).unwrap_err().code, "header_only");
        let e = parse_all(&book, "export.xlsx", &cfg(Some(SheetRef::Index(2)))).unwrap_err();
        assert_eq!(e.code, "sheet_not_found");
        // The count of sheets, not their names (a tab may be named after a client).
        assert!(e.message.contains("sheet index 2") && e.message.contains("2 sheet(s)") && !e.message.contains("Cover"), "{}", e.message);
    }
}
