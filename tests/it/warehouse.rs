//! The warehouse: crash safety of the nightly commit, and consent
//! withdrawal leaving no copy behind.

use std::collections::HashSet;
use std::io::Write;

use datafusion::arrow::array::{Array, BinaryArray, StringArray};

use crate::common::{Workspace, files_under};

fn count(ws: &Workspace, table: &str) -> i64 {
    ws.sql(&format!("SELECT count(*) AS n FROM {table}"))[0]["n"].as_i64().unwrap()
}

#[test]
fn a_load_interrupted_mid_commit_leaves_the_last_commit_readable_and_the_next_run_completes() {
    let ws = Workspace::demo(300);
    ws.ok(&["run", "--no-publish"], 0);
    let before: Vec<i64> = ["person", "participation", "link", "ingest_ledger"].iter().map(|t| count(&ws, t)).collect();
    // New data arrives, and the load dies after writing three tables.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(ws.path().join("var/demo/inputs/adult_school/enrollments_2026-06-30.csv"))
        .unwrap();
    f.write_all(b"AS100001,ABE,01/05/2026,,12.0\r\nAS100002,ABE,01/06/2026,,14.0\r\n").unwrap();
    let crashed = ws.braid_env(&["run", "--no-publish"], &[("BRAID_FAULT_AFTER_TABLES", "3")]);
    assert!(!crashed.status.success(), "the injected fault fails the run");
    assert!(String::from_utf8_lossy(&crashed.stderr).contains("fault injected"));
    // Readers still see the previous commit, table for table, including the
    // tables the broken run had already rewritten.
    let during: Vec<i64> = ["person", "participation", "link", "ingest_ledger"].iter().map(|t| count(&ws, t)).collect();
    assert_eq!(before, during);
    // The next run finishes the job.
    ws.ok(&["run", "--no-publish"], 0);
    assert!(count(&ws, "participation") > before[1], "the new enrollments are in");
}

/// Every string and binary value in the Parquet files under `dir`.
fn parquet_values(dir: &std::path::Path) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for f in files_under(dir) {
        if f.extension().is_none_or(|e| e != "parquet") {
            continue;
        }
        for b in braid::warehouse::read_parquet(&f).unwrap() {
            for c in b.columns() {
                if let Some(s) = c.as_any().downcast_ref::<StringArray>() {
                    out.extend((0..s.len()).filter(|i| !s.is_null(*i)).map(|i| s.value(i).as_bytes().to_vec()));
                } else if let Some(s) = c.as_any().downcast_ref::<BinaryArray>() {
                    out.extend((0..s.len()).map(|i| s.value(i).to_vec()));
                }
            }
        }
    }
    out
}

#[test]
fn forget_leaves_no_token_or_key_of_the_person_in_the_warehouse() {
    let ws = Workspace::demo(300);
    ws.ok(&["run", "--no-publish"], 0);
    // A person with records at two or more partners.
    let multi = ws.sql(
        "SELECT l.partner, l.record_key, l.person_key FROM link l JOIN person p ON p.person_key = l.person_key \
         WHERE p.partner_count >= 2 ORDER BY l.person_key, l.partner LIMIT 1",
    );
    let person = multi[0]["person_key"].as_str().unwrap().to_string();
    let keys: HashSet<String> =
        ws.sql(&format!("SELECT record_key FROM link WHERE person_key = '{person}'")).iter().map(|r| r["record_key"].as_str().unwrap().to_string()).collect();
    assert!(keys.len() >= 2);
    // Find the partner record id behind one of the keys (the truth file has ids).
    let k = ws.keys();
    let truth = std::fs::read_to_string(ws.path().join("var/demo/truth.csv")).unwrap();
    let (partner, id) = truth
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect::<Vec<_>>())
        .find(|f| keys.contains(&braid::protect::record_key(&k, f[0], f[1])))
        .map(|f| (f[0].to_string(), f[1].to_string()))
        .unwrap();
    // The person's encodings (tokens and Bloom filters), from the linkage
    // zone, before.
    let wh = ws.path().join("var/warehouse");
    let mut encodings: HashSet<Vec<u8>> = HashSet::new();
    for f in files_under(&wh.join("linkage")) {
        for b in braid::warehouse::read_parquet(&f).unwrap() {
            let rk = b.column(0).as_any().downcast_ref::<StringArray>().unwrap();
            let enc = b.column(4).as_any().downcast_ref::<BinaryArray>().unwrap();
            for i in 0..b.num_rows() {
                if keys.contains(rk.value(i)) {
                    encodings.insert(enc.value(i).to_vec());
                }
            }
        }
    }
    assert!(!encodings.is_empty(), "the person has encodings before");

    ws.ok(&["forget", "--partner", &partner, "--record-id", &id], 0);

    // No record key of the person in any file of the warehouse (Parquet
    // decoded; logs, checkpoints and the state database as bytes).
    let values = parquet_values(&wh);
    for key in &keys {
        assert!(!values.iter().any(|v| v == key.as_bytes()), "record key still in a Parquet file");
        for f in files_under(&wh) {
            let bytes = std::fs::read(&f).unwrap();
            assert!(!bytes.windows(key.len()).any(|w| w == key.as_bytes()), "record key in {}", f.display());
        }
    }
    // No encoding of the person left in the warehouse.
    assert!(!values.iter().any(|v| encodings.contains(v)), "an encoding of the person survived");
    assert!(ws.sql(&format!("SELECT * FROM person WHERE person_key = '{person}'")).is_empty());
    // If the partner sends the rows again, they are quarantined, not loaded.
    let resent = files_under(&ws.path().join(format!("var/demo/inputs/{partner}")))
        .into_iter()
        .find(|f| std::fs::read(f).unwrap().windows(id.len()).any(|w| w == id.as_bytes()));
    if let Some(file) = resent {
        let mut text = std::fs::read(&file).unwrap();
        text.extend_from_slice(b"\n");
        std::fs::write(&file, text).unwrap();
        ws.ok(&["run", "--no-publish"], 0);
        let q = ws.sql("SELECT count(*) AS n FROM quarantine WHERE reason = 'consent_withdrawn'");
        assert!(q[0]["n"].as_i64().unwrap() >= 1, "re-sent rows are quarantined as consent_withdrawn");
    }
    assert!(ws.sql(&format!("SELECT * FROM link WHERE record_key IN ({})", keys.iter().map(|k| format!("'{k}'")).collect::<Vec<_>>().join(","))).is_empty());
}
