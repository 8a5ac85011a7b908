//! The walking skeleton: `braid run` on a small generated consortium, the
//! Parquet warehouse read back, and linkage checked against the truth file.

use std::collections::{HashMap, HashSet};

use datafusion::arrow::array::{Array, StringArray};

use crate::common::{Workspace, truth};

/// record_key -> person_key, read from the committed `link` table's Parquet
/// files.
fn link_table(ws: &Workspace) -> HashMap<String, String> {
    let wh = braid::warehouse::Warehouse::new(ws.path().join("var/warehouse"));
    let ledger = braid::ledger::Ledger::open(&ws.path().join("var/warehouse/_state")).expect("ledger");
    let versions = braid::load::committed_versions(&ledger).expect("versions");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let files = rt.block_on(wh.files_at("link", versions["link"])).expect("files");
    assert!(!files.is_empty());
    let mut out = HashMap::new();
    for f in files {
        let path = f.strip_prefix("file://").unwrap_or(&f).to_string();
        for b in braid::warehouse::read_parquet(std::path::Path::new(&path)).expect("parquet") {
            let rk = b.column_by_name("record_key").unwrap().as_any().downcast_ref::<StringArray>().unwrap().clone();
            let pk = b.column_by_name("person_key").unwrap().as_any().downcast_ref::<StringArray>().unwrap().clone();
            for i in 0..b.num_rows() {
                if !pk.is_null(i) {
                    out.insert(rk.value(i).to_string(), pk.value(i).to_string());
                }
            }
        }
    }
    out
}

fn pairs(groups: impl Iterator<Item = Vec<String>>) -> HashSet<(String, String)> {
    let mut out = HashSet::new();
    for mut g in groups {
        g.sort();
        for i in 0..g.len() {
            for j in i + 1..g.len() {
                out.insert((g[i].clone(), g[j].clone()));
            }
        }
    }
    out
}

#[test]
fn whole_job_on_a_small_consortium() {
    let ws = Workspace::demo(2000);
    let out = ws.ok(&["run", "--as-of", "2026-11-15"], 0);
    assert!(out.contains("Release 2026Q4: published"), "{out}");
    let report = ws.path().join("var/publish/2026Q4/index.html");
    assert!(report.exists());
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(html.contains("People served") && html.contains("<svg"), "report has charts");
    for ext in ["csv", "json", "parquet"] {
        assert!(ws.path().join(format!("var/publish/latest/served.{ext}")).exists(), "served.{ext}");
    }

    // Linkage against the truth file, from the Parquet warehouse.
    let link = link_table(&ws);
    let truth = truth(&ws, &ws.path().join("var/demo/truth.csv"));
    let mut by_person: HashMap<&str, Vec<String>> = HashMap::new();
    let mut by_entity: HashMap<&str, Vec<String>> = HashMap::new();
    for (rk, ent) in &truth {
        if let Some(pk) = link.get(rk) {
            by_person.entry(pk).or_default().push(rk.clone());
            by_entity.entry(ent).or_default().push(rk.clone());
        }
    }
    let predicted = pairs(by_person.into_values());
    let actual = pairs(by_entity.into_values());
    let tp = predicted.intersection(&actual).count() as f64;
    let precision = tp / predicted.len() as f64;
    let recall = tp / actual.len() as f64;
    assert!(precision >= 0.95, "precision {precision:.4} ({tp} of {})", predicted.len());
    assert!(recall >= 0.95, "recall {recall:.4} ({tp} of {})", actual.len());

    // `braid link evaluate` reports the same pairwise figures.
    let json = ws.ok(&["link", "evaluate", "--truth", "var/demo/truth.csv", "--json"], 0);
    let e: serde_json::Value = serde_json::from_str(&json).unwrap();
    let p = e["pairwise"]["precision"].as_f64().unwrap();
    let r = e["pairwise"]["recall"].as_f64().unwrap();
    assert!((p - precision).abs() < 1e-9 && (r - recall).abs() < 1e-9, "evaluate {p} {r} vs {precision} {recall}");
    assert!(e["blocking_recall"].as_f64().unwrap() > 0.97);
    assert!(e["clusters"].as_u64().unwrap() > 0);
}

#[test]
fn a_rerun_on_unchanged_inputs_changes_nothing_and_spends_nothing() {
    let ws = Workspace::demo(300);
    ws.ok(&["run", "--as-of", "2026-11-15"], 0);
    let versions_before = ws.sql("SELECT count(*) AS n FROM link");
    let status1: serde_json::Value = serde_json::from_str(&ws.ok(&["status", "--json"], 0)).unwrap();
    let served1 = std::fs::read(ws.path().join("var/publish/latest/served.csv")).unwrap();
    let second = ws.ok(&["run", "--as-of", "2026-11-20"], 0);
    assert!(second.contains("Inputs unchanged"), "{second}");
    assert!(second.contains("re-served"), "{second}");
    let status2: serde_json::Value = serde_json::from_str(&ws.ok(&["status", "--json"], 0)).unwrap();
    assert_eq!(status1["budget"]["rho_spent_lifetime"], status2["budget"]["rho_spent_lifetime"], "no new spend");
    // The second run is shown as unchanged, not as failed.
    let runs = status2["last_runs"].as_array().unwrap();
    assert_eq!((runs[0]["status"].as_str(), runs[0]["exit_code"].as_i64()), (Some("unchanged"), Some(0)), "{runs:?}");
    assert_eq!(runs[1]["status"], "committed", "{runs:?}");
    let text = ws.ok(&["status"], 0);
    assert!(text.contains("unchanged  exit 0") && !text.contains("failed"), "{text}");
    assert_eq!(served1, std::fs::read(ws.path().join("var/publish/latest/served.csv")).unwrap(), "same noisy values re-served");
    assert_eq!(versions_before, ws.sql("SELECT count(*) AS n FROM link"));
}

/// `braid link evaluate` measures only what it can: no linked warehouse,
/// an empty truth file, rows it cannot use or no truth record among the
/// linked ones are errors, not a perfect score; truth records that are not
/// evaluated are counted by why.
#[test]
fn evaluate_refuses_what_it_cannot_measure_and_says_why_records_were_left_out() {
    let ws = Workspace::demo(300);
    let write = |name: &str, text: &str| {
        std::fs::write(ws.path().join(name), text).unwrap();
        name.to_string()
    };
    let evaluate = |file: &str, code: i32| -> String {
        let out = ws.braid(&["link", "evaluate", "--truth", file]);
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(out.status.code(), Some(code), "{file}: {err}");
        assert!(!String::from_utf8_lossy(&out.stdout).contains("F1"), "{file}: no figures");
        err
    };
    let err = evaluate("var/demo/truth.csv", 2);
    assert!(err.contains("no linked warehouse yet"), "{err}");
    ws.ok(&["run", "--no-publish"], 0);

    let err = evaluate(&write("header.csv", "partner,record_id,entity\n"), 4);
    assert!(err.contains("no records"), "{err}");
    let err = evaluate(&write("unknown.csv", "partner,record_id,entity\nclinic,X1,a\nclinic,X2,a\n"), 4);
    assert!(err.contains("line 2") && err.contains("`clinic` is not in the configuration"), "{err}");
    let err = evaluate(&write("empty_id.csv", "partner,record_id,entity\nadult_school,AS100000,a\nadult_school,,a\n"), 4);
    assert!(err.contains("line 3: the record_id is empty"), "{err}");
    let err = evaluate(&write("two.csv", "partner,record_id,entity\nadult_school,AS100000,a\nadult_school,AS100000,b\n"), 4);
    assert!(err.contains("lines 2 and 3") && !err.contains("AS100000"), "{err}");
    let err = evaluate(&write("absent.csv", "partner,record_id,entity\nadult_school,NOT-AN-ID-1,a\nwage_records,NOT-AN-ID-2,a\n"), 2);
    assert!(err.contains("nothing to evaluate") && err.contains("2 are not in the warehouse"), "{err}");

    // The demo's truth file and one id the warehouse does not hold.
    let mut text = std::fs::read_to_string(ws.path().join("var/demo/truth.csv")).unwrap();
    text.push_str("adult_school,NOT-AN-ID-3,P999999\n");
    let file = write("truth_plus.csv", &text);
    let truth = crate::common::truth(&ws, &ws.path().join("var/demo/truth.csv"));
    let no_consent: std::collections::HashSet<String> = ws
        .sql("SELECT record_key FROM link WHERE person_key IS NULL")
        .iter()
        .map(|r| r["record_key"].as_str().unwrap().to_string())
        .collect();
    let expected_no_consent = truth.keys().filter(|k| no_consent.contains(*k)).count();
    assert!(expected_no_consent > 0, "the demo has records without consent to link");
    let e: serde_json::Value = serde_json::from_str(&ws.ok(&["link", "evaluate", "--truth", &file, "--json"], 0)).unwrap();
    assert_eq!(e["records_not_found"], 1, "only the made-up id: every truth record of the demo is in its files");
    assert_eq!(e["records_without_consent"].as_u64().unwrap() as usize, expected_no_consent);
    assert_eq!(e["records_evaluated"].as_u64().unwrap() as usize, truth.len() - expected_no_consent);
    // The sweep gives its counts; at the configured threshold precision is
    // true over predicted.
    let sweep = e["thresholds"].as_array().unwrap();
    assert_eq!(sweep.len(), 12);
    for t in sweep {
        let (tp, pred) = (t["true_positive"].as_u64().unwrap(), t["predicted"].as_u64().unwrap());
        assert!(tp <= pred && pred > 0, "{t}");
        assert!((t["precision"].as_f64().unwrap() - tp as f64 / pred as f64).abs() < 1e-12, "{t}");
    }
    let text = ws.ok(&["link", "evaluate", "--truth", &file], 0);
    assert!(text.contains(&format!("({expected_no_consent} without consent to link, 1 not in the warehouse)")), "{text}");
    assert!(text.contains("distinct candidate record pairs") && text.contains("true pairs  predicted"), "{text}");
    let status = ws.ok(&["status"], 0);
    assert!(status.contains("candidate observation pairs"), "{status}");
}
