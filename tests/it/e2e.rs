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

    // Records without consent to link are in `link` without a person key,
    // and their rows are in no fact table (docs/data-model.md).
    let null_keys = |t: &str| ws.sql(&format!("SELECT count(*) AS n FROM {t} WHERE person_key IS NULL"))[0]["n"].as_i64().unwrap();
    assert!(null_keys("link") > 0, "the demo has records without consent");
    for t in ["participation", "service", "referral", "assessment", "credential", "employment", "milestone"] {
        assert_eq!(null_keys(t), 0, "{t}");
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
    // Each common wrong decision says how many candidate pairs share its
    // levels and how many of those are one person: its own wrong pairs are
    // among them, on the side the truth puts them.
    let patterns = e["error_patterns"].as_array().unwrap();
    assert!(!patterns.is_empty(), "{e}");
    for x in patterns {
        let n = |k: &str| x[k].as_u64().unwrap();
        let wrong = n("pairs");
        match x["kind"].as_str().unwrap() {
            "false_positive" => assert!(n("pattern_pairs") - n("pattern_true_pairs") >= wrong, "{x}"),
            "false_negative" => assert!(n("pattern_true_pairs") >= wrong, "{x}"),
            k => panic!("kind {k}"),
        }
    }
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
    // Another build of braid (an upgrade: here a copy, a new executable)
    // links and loads again: its linkage may differ from the last one's.
    let upgraded = ws.path().join("braid-upgraded");
    std::fs::copy(env!("CARGO_BIN_EXE_braid"), &upgraded).unwrap();
    let out = ws.braid_at(&upgraded, &["run", "--as-of", "2026-11-20"], &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(!text.contains("Inputs unchanged"), "{text}");
    let status3: serde_json::Value = serde_json::from_str(&ws.ok(&["status", "--json"], 0)).unwrap();
    assert_eq!(status3["last_runs"][0]["status"], "committed", "{status3}");
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
    assert!(err.contains("line 2") && err.contains("not one in the configuration") && !err.contains("clinic"), "{err}");
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
    assert!(!text.contains("since the last `braid link`"), "{text}");
    assert_eq!(e["inputs_as_committed"], true);
    let status = ws.ok(&["status"], 0);
    assert!(status.contains("candidate observation pairs"), "{status}");
    // A partner sends a file, pulled but not linked: evaluate says which
    // figures are of the committed link and which of staging now.
    let wages = ws.path().join("var/demo/inputs/wage_records");
    let q = std::fs::read_to_string(wages.join("ui_wages_2026Q2.txt")).unwrap();
    std::fs::write(wages.join("ui_wages_2026Q3.txt"), q.replace("|2026|2|", "|2026|3|")).unwrap();
    ws.ok(&["pull"], 0);
    let e: serde_json::Value = serde_json::from_str(&ws.ok(&["link", "evaluate", "--truth", &file, "--json"], 0)).unwrap();
    assert_eq!(e["inputs_as_committed"], false);
    assert!(ws.ok(&["link", "evaluate", "--truth", &file], 0).contains("since the last `braid link`"));
    ws.ok(&["link"], 0);
    assert!(!ws.ok(&["link", "evaluate", "--truth", &file], 0).contains("since the last `braid link`"));
}

/// `braid link explain` says which argument failed and why, without the
/// id; and for two records shows each factor's levels and weights, which
/// add up as the text says to the score the link step uses.
#[test]
fn explain_names_the_failing_argument_and_shows_weights_that_add_up() {
    let ws = Workspace::demo(300);
    // A student row with an id and nothing else: a record without identifiers.
    let students = ws.path().join("var/demo/inputs/adult_school/students_2026-06-30.csv");
    let mut text = std::fs::read(&students).unwrap();
    text.extend_from_slice(b"NOIDENT77,,,,,,,,,,,,,,,\r\n");
    std::fs::write(&students, text).unwrap();
    let refused = |a: &str, b: &str, expect: &str| {
        let out = ws.braid(&["link", "explain", a, b]);
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(out.status.code(), Some(2), "{a} {b}: {err}");
        assert!(err.contains(expect), "{a} {b}: {err}");
        for id in [a, b] {
            let typed = id.split_once(':').map(|x| x.1).unwrap_or("");
            if typed.len() > 3 {
                assert!(!err.contains(typed), "the id is not echoed: {err}");
            }
        }
        assert!(out.stdout.is_empty());
    };
    refused("adult_school:AS100000", "adult_school:AS100003", "no linked warehouse yet");
    // An argument error of the command line does not repeat what was typed
    // either (a third record, a second id to forget, a bad date).
    for args in [
        &["link", "explain", "adult_school:AS100000", "adult_school:AS100003", "workforce_board:WB500088"][..],
        &["forget", "--partner", "adult_school", "--record-id", "AS100099", "AS100100"],
        &["run", "--as-of", "AS100101"],
    ] {
        let out = ws.braid(args);
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("is not repeated") && !err.contains("WB500088") && !err.contains("AS10010"), "{args:?}: {err}");
    }
    ws.ok(&["run", "--no-publish"], 0);

    // Pairs of truth records: two consenting records of one entity, and a
    // record without consent.
    let truth_text = std::fs::read_to_string(ws.path().join("var/demo/truth.csv")).unwrap();
    let no_consent: HashSet<String> =
        ws.sql("SELECT record_key FROM link WHERE person_key IS NULL").iter().map(|r| r["record_key"].as_str().unwrap().to_string()).collect();
    let keys = ws.keys();
    let mut by_entity: HashMap<String, Vec<String>> = HashMap::new();
    let mut without_consent = None;
    for line in truth_text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        let arg = format!("{}:{}", f[0], f[1]);
        if no_consent.contains(&braid::protect::record_key(&keys, f[0], f[1])) {
            without_consent = Some(arg);
        } else {
            by_entity.entry(f[2].to_string()).or_default().push(arg);
        }
    }
    let without_consent = without_consent.expect("the demo has a record without consent");
    let mut entities: Vec<_> = by_entity.into_iter().filter(|(_, v)| v.len() >= 2).collect();
    entities.sort();
    let (a, b) = (entities[0].1[0].clone(), entities[0].1[1].clone());

    refused("clinic:C1", &b, "record A: the partner before `:` is not one in the configuration");
    refused(&a, "adult_school:", "record B: the record id after `adult_school:` is empty");
    refused(":AS100000", &b, "record A: the partner before `:` is empty");
    refused(&a, "adult_school:AS100000:extra", "record B: must be PARTNER:RECORD_ID with one `:`");
    refused("adult_school", &b, "record A: must be PARTNER:RECORD_ID");
    refused(&a, &a, "records A and B are the same record");
    refused(&a, "wage_records:NOT-AN-ID-42", "record B: record not found");
    refused(&without_consent, &b, "record A: the record has no consent to link");
    refused(&a, "adult_school:NOIDENT77", "record B: the record has no identifiers to compare");

    let v: serde_json::Value = serde_json::from_str(&ws.ok(&["link", "explain", &a, &b, "--json"], 0)).unwrap();
    let e = &v["explanation"];
    let factors = e["factors"].as_array().unwrap();
    let names: Vec<&str> = factors.iter().map(|f| f["factor"].as_str().unwrap()).collect();
    assert_eq!(names, ["given x family name (joint)", "birth date x contact (joint)", "sex", "SSN/ITIN", "same partner"]);
    let num = |v: &serde_json::Value| v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"));
    for (col, prior, sum) in [("match_vs_unrelated", "prior_vs_unrelated", "vs_unrelated"), ("match_vs_household", "prior_vs_household", "vs_household")] {
        let total: f64 = num(&e[prior]) + factors.iter().map(|f| num(&f[col])).sum::<f64>();
        assert!((total - num(&e[sum])).abs() < 1e-6, "{col}: {total} against {}", e[sum]);
    }
    for f in factors {
        if f["missing"] == true {
            assert_eq!((num(&f["match_vs_unrelated"]), num(&f["match_vs_household"])), (0.0, 0.0), "{f}");
        }
    }
    let (given, family) = (num(&e["term_frequency_given"]), num(&e["term_frequency_family"]));
    let (u, h) = (num(&e["vs_unrelated"]) + given + family, num(&e["vs_household"]) + given);
    let combined = -((-u).exp2() + (-h).exp2()).log2();
    assert!((combined.clamp(-200.0, 200.0) - num(&e["combined"])).abs() < 1e-3, "{combined} against {}", e["combined"]);
    assert!((num(&e["combined"]) - num(&e["log_odds"])).abs() < 1e-3, "{e}");
    let p = num(&e["probability"]);
    assert!((p - 1.0 / (1.0 + (-num(&e["log_odds"])).exp2())).abs() < 1e-6);
    assert_eq!(v["above_threshold"], num(&e["log_odds"]) >= 0.0);
    assert_eq!(v["inputs_as_committed"], true);

    let text = ws.ok(&["link", "explain", &a, &b], 0);
    for s in ["match:unrelated", "match:household", "given x family name (joint)", "class shares (prior)", "term-frequency adjustment", "-log2(2^-("] {
        assert!(text.contains(s), "{s}: {text}");
    }
    for id in [&a, &b] {
        assert!(!text.contains(id.split_once(':').unwrap().1), "no id in the output: {text}");
    }
}
