//! Privacy invariant 1: no raw identifier is ever written anywhere.
//!
//! Canary identifiers are planted in the partner extracts (accepted rows, a
//! quarantined row, a rejected file and files whose header row is missing), the whole job runs with debug
//! logging, and every byte braid wrote is scanned for them: warehouse
//! (Parquet decoded column by column), Delta logs, state database,
//! quarantine, partner reports, releases, logs and command output.

use std::io::Write;
use std::path::Path;

use datafusion::arrow::array::{Array, BinaryArray, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;

use crate::common::{Workspace, files_under};

/// The planted values and the forms braid could plausibly write them in.
fn canaries() -> Vec<String> {
    let raw = [
        "Jqxcanarygiv", "Qzvcanaryfam", "Wvkcanarymid", "CANARYREC7781", "CANARY-CASE-5521", "CANARYW0099", "CANARYBAD4410",
        "4417 Canaryvale", "canaryvale", "jqx.canary", "canarymail", "536-48-2917", "536482917", "555-7392", "5105557392",
        "02/27/1931", "27/02/1931", "19310227", "1931-02-27", "Zrtcanaryrej",
    ];
    let mut out: Vec<String> = Vec::new();
    for r in raw {
        for v in [r.to_string(), r.to_lowercase(), r.to_uppercase()] {
            if !out.contains(&v) {
                out.push(v);
            }
        }
    }
    out
}

fn append(path: &Path, text: &str) {
    let mut f = std::fs::OpenOptions::new().append(true).open(path).expect("open input");
    f.write_all(text.as_bytes()).expect("append");
}

/// Text of every value in a Parquet file.
fn parquet_text(path: &Path) -> String {
    let mut out = String::new();
    for b in braid::warehouse::read_parquet(path).expect("parquet") {
        for col in b.columns() {
            if let Some(bin) = col.as_any().downcast_ref::<BinaryArray>() {
                for i in 0..bin.len() {
                    out.push_str(&String::from_utf8_lossy(bin.value(i)));
                    out.push('\n');
                }
                continue;
            }
            let Ok(s) = cast(col, &DataType::Utf8) else { continue };
            let s = s.as_any().downcast_ref::<StringArray>().expect("utf8");
            for i in 0..s.len() {
                if !s.is_null(i) {
                    out.push_str(s.value(i));
                    out.push('\n');
                }
            }
        }
    }
    out
}

fn scan(label: &str, text: &str, found: &mut Vec<String>) {
    for c in canaries() {
        if text.contains(&c) {
            found.push(format!("{label}: {c}"));
        }
    }
}

#[test]
fn no_planted_identifier_reaches_any_output() {
    let ws = Workspace::demo(200);
    let inputs = ws.path().join("var/demo/inputs");
    // Accepted rows at three partners, one quarantined row, one rejected
    // file, and a surname typed into the coded sex column (an unmapped code).
    append(
        &inputs.join("adult_school/students_2026-06-30.csv"),
        "CANARYREC7781,Qzvcanaryfam,Jqxcanarygiv,Wvkcanarymid,02/27/1931,F,4417 Canaryvale Blvd,Oakland,94601,(510) 555-7392,jqx.canary+esl@canarymail.org,SPANISH,Mexico,Y,Alameda,primary\r\n\
         CANARYBAD4410,Qzvcanaryfam,Jqxcanarygiv,,31/31/1931,F,4417 Canaryvale Blvd,Oakland,94601,(510) 555-7392,jqx.canary@canarymail.org,SPANISH,Mexico,Y,Alameda,primary\r\n\
         AS199998,Ruiz,Ana,,03/24/1990,Qzvcanaryfam,12 Main St,Oakland,94601,(510) 555-0100,ana@example.org,SPANISH,Mexico,Y,Alameda,primary\r\n",
    );
    append(&inputs.join("adult_school/enrollments_2026-06-30.csv"), "CANARYREC7781,ESL-BEG,09/02/2024,12/15/2024,60.0\r\n");
    append(
        &inputs.join("refugee_agency/cases_2026-06-30.ndjson"),
        "{\"case_id\":\"CANARY-CASE-5521\",\"client\":{\"first_name\":\"Jqxcanarygiv\",\"last_name\":\"Qzvcanaryfam\",\"dob\":\"27/02/1931\",\"sex\":\"female\",\"phone\":\"510-555-7392\",\"email\":\"JQX.CANARY@canarymail.org\",\"address\":{\"street\":\"4417 Canaryvale Boulevard\",\"zip\":\"94601\"}},\"arrival_date\":\"01/03/2019\",\"country_of_origin\":\"Mexico\",\"primary_language\":\"spanish\",\"immigration_status\":\"asylee\",\"consent_to_share\":\"yes\",\"intake_date\":\"05/03/2024\",\"milestones\":{\"bank_account\":true}}\n",
    );
    append(
        &inputs.join("wage_records/ui_wages_2025Q1.txt"),
        "CANARYW0099|536-48-2917|QZVCANARYFAM|JQXCANARYGIV|19310227|5105557392|94601|94-1234567|2025|1|4321.00\r\n",
    );
    std::fs::write(
        inputs.join("adult_school/students_zz_broken.csv"),
        "StudentID,LastName,FirstName\r\nCANARYREC9,Zrtcanaryrej,\"Jqxcanarygiv\r\n",
    )
    .unwrap();
    // Exports without their header row: the first row is a person's, and
    // what would be column names are identifiers (one with a name twice).
    std::fs::write(
        inputs.join("adult_school/students_zz_noheader.csv"),
        "CANARYREC7781,Qzvcanaryfam,Jqxcanarygiv,Wvkcanarymid,02/27/1931,F,4417 Canaryvale Blvd,Oakland,94601,(510) 555-7392,jqx.canary@canarymail.org,SPANISH,Mexico,Y,Alameda,primary\r\n\
         AS100001,Ruiz,Ana,,03/24/1990,F,12 Main St,Oakland,94601,(510) 555-0100,ana@example.org,SPANISH,Mexico,Y,Alameda,primary\r\n",
    )
    .unwrap();
    std::fs::write(
        inputs.join("adult_school/students_zz_twice.csv"),
        "CANARYREC7781,Zrtcanaryrej,Zrtcanaryrej,02/27/1931\r\nAS100001,Ruiz,Ana,03/24/1990\r\n",
    )
    .unwrap();

    // The scanner works: it finds the canaries in the inputs.
    let mut control = Vec::new();
    for f in files_under(&inputs) {
        scan(&f.display().to_string(), &String::from_utf8_lossy(&std::fs::read(&f).unwrap()), &mut control);
    }
    assert!(control.len() >= 10, "the scanner must see the planted values: {control:?}");

    let run = ws.braid_env(&["-vv", "run", "--as-of", "2026-11-15"], &[("BRAID_LOG", "debug")]);
    assert_eq!(run.status.code(), Some(5), "a rejected file makes the run exit 5:\n{}", String::from_utf8_lossy(&run.stderr));
    let mut outputs = vec![
        ("run stdout".to_string(), String::from_utf8_lossy(&run.stdout).to_string()),
        ("run stderr".to_string(), String::from_utf8_lossy(&run.stderr).to_string()),
    ];
    for args in [
        vec!["status", "--partner", "adult_school"],
        vec!["status", "--json"],
        vec!["sql", "SELECT * FROM quarantine", "--format", "csv"],
        vec!["metrics", "--raw"],
        vec!["link", "explain", "adult_school:CANARYREC7781", "refugee_agency:CANARY-CASE-5521"],
        vec!["link", "explain", "adult_school:CANARYREC7781", "refugee_agency:CANARY-CASE-5521", "--json"],
    ] {
        let o = ws.braid_env(&args, &[("BRAID_LOG", "debug")]);
        if args[0] == "link" {
            // The canary records are compared, weights and all.
            let err = String::from_utf8_lossy(&o.stderr);
            let shown = String::from_utf8_lossy(&o.stdout);
            assert!(shown.contains("match:unrelated") || shown.contains("match_vs_unrelated"), "{}", err.lines().filter(|l| l.starts_with("error")).collect::<Vec<_>>().join("\n"));
        }
        outputs.push((format!("{args:?} stdout"), String::from_utf8_lossy(&o.stdout).to_string()));
        outputs.push((format!("{args:?} stderr"), String::from_utf8_lossy(&o.stderr).to_string()));
    }

    // The canary person was accepted, linked and quarantined as planned.
    let q = ws.sql("SELECT reason FROM quarantine WHERE reason = 'bad_date'");
    assert!(!q.is_empty(), "the malformed canary row is quarantined");
    let rejected = ws.sql("SELECT count(*) AS n FROM ingest_ledger WHERE status = 'rejected'");
    assert_eq!(rejected[0]["n"], 3);

    let (found, scanned) = scan_outputs(&ws, &outputs);
    assert!(scanned > 30, "scanned {scanned} files");
    assert!(found.is_empty(), "raw identifiers were written:\n{}", found.join("\n"));
}

/// Every command output and every file braid wrote under `var/` (not the
/// inputs), scanned for the canaries; and how many files were scanned.
fn scan_outputs(ws: &Workspace, outputs: &[(String, String)]) -> (Vec<String>, usize) {
    let inputs = ws.path().join("var/demo");
    let mut found = Vec::new();
    for (label, text) in outputs {
        scan(label, text, &mut found);
    }
    let mut scanned = 0;
    for f in files_under(&ws.path().join("var")) {
        if f.starts_with(&inputs) {
            continue;
        }
        scanned += 1;
        let bytes = std::fs::read(&f).unwrap();
        let label = f.display().to_string();
        if f.extension().is_some_and(|e| e == "parquet") {
            scan(&label, &parquet_text(&f), &mut found);
        }
        scan(&label, &String::from_utf8_lossy(&bytes), &mut found);
    }
    (found, scanned)
}

/// Column and sheet names come from the file too, and can be a person's
/// values: NDJSON objects keyed by values (a relative's name, a phone, an
/// e-mail) become columns that are added and removed from file to file; a
/// file exported without its header row has a code (`ESL`) among its first
/// row's values; a workbook has one tab, named after a client. None of these
/// names reaches the ledger, the summaries, the partner reports or the
/// warehouse.
#[test]
fn column_and_sheet_names_from_a_file_are_never_repeated() {
    let ws = Workspace::demo(200);
    let inputs = ws.path().join("var/demo/inputs");
    // The students feed requires nothing: the header-row check alone
    // stands between a person's row and the column names.
    let config = std::fs::read_to_string(&ws.config).unwrap().replacen("required = [\"record_id\"]", "required = []", 1);
    ws.write_config(&config);
    // A case of the demo's file, with more keys: every mapped key is there.
    let first = std::fs::read_to_string(inputs.join("refugee_agency/cases_2026-06-30.ndjson")).unwrap().lines().next().unwrap().to_string();
    let case = |id: &str, extra: &str| {
        let v: serde_json::Value = serde_json::from_str(&first).unwrap();
        let mut v = v.as_object().unwrap().clone();
        v.insert("case_id".into(), id.into());
        for (k, x) in serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(extra).unwrap() {
            v.insert(k, x);
        }
        format!("{}\n", serde_json::Value::Object(v))
    };
    std::fs::write(
        inputs.join("refugee_agency/cases_zz1.ndjson"),
        case("RA1", "{\"household\":{\"Jqxcanarygiv Qzvcanaryfam\":\"daughter\"},\"phones\":{\"510-555-7392\":\"mobile\"}}"),
    )
    .unwrap();
    std::fs::write(inputs.join("refugee_agency/cases_zz2.ndjson"), case("RA2", "{\"emails\":{\"jqx.canary@canarymail.org\":\"home\"}}")).unwrap();
    // Without the mapped birth date: schema drift, with a new key.
    std::fs::write(
        inputs.join("refugee_agency/cases_zz3.ndjson"),
        "{\"case_id\":\"RA3\",\"client\":{\"first_name\":\"Ana\"},\"notes\":{\"Called Zrtcanaryrej at 510-555-7392\":\"ok\"}}\n",
    )
    .unwrap();
    std::fs::write(
        inputs.join("adult_school/students_zz_esl.csv"),
        "CANARYREC7781,Qzvcanaryfam,Jqxcanarygiv,02/27/1931,ESL,Y\r\nAS100001,Ruiz,Ana,03/24/1990,ESL,N\r\n",
    )
    .unwrap();
    let mut wb = rust_xlsxwriter::Workbook::new();
    let sheet = wb.add_worksheet().set_name("Qzvcanaryfam Jqxcanarygiv").unwrap();
    sheet.write_string(0, 0, "CaseNumber").unwrap();
    wb.save(inputs.join("workforce_board/caljobs_export_zz.xlsx")).unwrap();

    let run = ws.braid_env(&["-vv", "run", "--as-of", "2026-11-15"], &[("BRAID_LOG", "debug")]);
    assert_eq!(run.status.code(), Some(5), "{}", String::from_utf8_lossy(&run.stderr));
    let stdout = String::from_utf8_lossy(&run.stdout).to_string();
    // What was found is still said, by count and by configured name.
    assert!(stdout.contains("other(s), not named"), "{stdout}");
    let mut outputs = vec![("run stdout".to_string(), stdout), ("run stderr".to_string(), String::from_utf8_lossy(&run.stderr).to_string())];
    for args in [vec!["status", "--partner", "refugee_agency"], vec!["status", "--partner", "adult_school"], vec!["status", "--json"]] {
        let o = ws.braid(&args);
        outputs.push((format!("{args:?}"), format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))));
    }
    let messages: Vec<String> =
        ws.sql("SELECT message FROM ingest_ledger WHERE status = 'rejected'").iter().map(|r| r["message"].as_str().unwrap_or("").to_string()).collect();
    for code in ["schema_drift", "no_header_row", "sheet_not_found"] {
        assert!(messages.iter().any(|m| m.starts_with(code)), "{code} in {messages:?}");
    }
    let (found, scanned) = scan_outputs(&ws, &outputs);
    assert!(scanned > 30, "scanned {scanned} files");
    assert!(found.is_empty(), "raw identifiers were written:\n{}", found.join("\n"));
}
