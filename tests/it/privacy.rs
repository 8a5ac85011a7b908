//! Publication: the budget holds (caps, races, re-runs) and no exact
//! aggregate reaches the publish folder.

use std::collections::HashMap;

use crate::common::{Workspace, demo_config};

fn status(ws: &Workspace) -> serde_json::Value {
    serde_json::from_str(&ws.ok(&["status", "--json"], 0)).unwrap()
}

#[test]
fn over_spend_is_refused_with_the_cap_named_and_nothing_published() {
    let ws = Workspace::demo(300);
    ws.write_config(&demo_config().replace("rho_annual_cap = 4.0", "rho_annual_cap = 1.5"));
    ws.ok(&["run", "--as-of", "2026-11-15"], 0);
    let before = status(&ws)["budget"]["rho_spent_lifetime"].as_f64().unwrap();
    assert!(before > 0.9 && before <= 1.0);
    let out = ws.braid(&["publish", "--as-of", "2026-11-15", "--revise"]);
    assert_eq!(out.status.code(), Some(6), "budget refused: {}", String::from_utf8_lossy(&out.stderr));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("annual cap") && err.contains("exceeded by"), "{err}");
    assert_eq!(status(&ws)["budget"]["rho_spent_lifetime"].as_f64().unwrap(), before, "nothing spent");
    assert!(!ws.path().join("var/publish/2026Q4-r2").exists(), "nothing published");
    // A new period is a new release, but the annual cap counts what is
    // spent in the calendar year of publication: still refused.
    let next = ws.braid(&["publish", "--as-of", "2027-01-15"]);
    assert_eq!(next.status.code(), Some(6));
    assert!(String::from_utf8_lossy(&next.stderr).contains("annual cap"));
}

#[test]
fn a_new_or_lost_budget_ledger_adopts_the_published_releases_instead_of_drawing_again() {
    let ws = Workspace::demo(300);
    ws.ok(&["run", "--as-of", "2026-11-15"], 0);
    let served = || std::fs::read(ws.path().join("var/publish/2026Q4/served.csv")).unwrap();
    let before = served();
    let spent = status(&ws)["budget"]["rho_spent_lifetime"].as_f64().unwrap();
    assert!(spent > 0.9);
    // The state database (ingest and budget ledger) is lost; the public
    // releases remain.
    for f in std::fs::read_dir(ws.path().join("var/warehouse/_state")).unwrap().flatten() {
        if f.file_name().to_string_lossy().starts_with("braid.sqlite") {
            std::fs::remove_file(f.path()).unwrap();
        }
    }
    ws.braid(&["run", "--as-of", "2026-11-15"]);
    assert_eq!(served(), before, "the published release is re-served, not drawn again");
    let st = status(&ws);
    assert!((st["budget"]["rho_spent_lifetime"].as_f64().unwrap() - spent).abs() < 1e-9, "its rho is spent again in the ledger: {st}");
    // A revision that was charged but never written is written by the next
    // try, not charged a second time.
    let publish = ws.path().join("var/publish");
    std::fs::rename(&publish, ws.path().join("publish.bak")).unwrap();
    std::fs::write(&publish, "not a folder").unwrap();
    let out = ws.braid(&["publish", "--as-of", "2026-11-15", "--revise"]);
    assert_eq!(out.status.code(), Some(7), "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::remove_file(&publish).unwrap();
    std::fs::rename(ws.path().join("publish.bak"), &publish).unwrap();
    let charged = status(&ws)["budget"]["rho_spent_lifetime"].as_f64().unwrap();
    assert!(charged > spent + 0.9, "the failed revision was charged: {charged}");
    ws.ok(&["publish", "--as-of", "2026-11-15", "--revise"], 0);
    assert!(publish.join("2026Q4-r2/release.json").exists());
    assert!(!publish.join("2026Q4-r3").exists());
    assert_eq!(status(&ws)["budget"]["rho_spent_lifetime"].as_f64().unwrap(), charged, "nothing charged twice");
    // Only the latest revision may be the unwritten one: with r3 out and
    // r2's folder gone, a revision is r4, not r2 again.
    ws.ok(&["publish", "--as-of", "2026-11-15", "--revise"], 0);
    std::fs::remove_dir_all(publish.join("2026Q4-r2")).unwrap();
    ws.ok(&["publish", "--as-of", "2026-11-15", "--revise"], 0);
    assert!(publish.join("2026Q4-r4/release.json").exists() && !publish.join("2026Q4-r2").exists());
    // No temporary folder of a dead run is left in the public folder.
    let hidden: Vec<String> =
        std::fs::read_dir(&publish).unwrap().flatten().map(|e| e.file_name().to_string_lossy().to_string()).filter(|n| n.starts_with('.')).collect();
    assert!(hidden.is_empty(), "{hidden:?}");
}

#[test]
fn caps_that_are_not_numbers_are_refused() {
    let ws = Workspace::demo(50);
    ws.write_config(&demo_config().replace("rho_annual_cap = 4.0", "rho_annual_cap = nan"));
    let out = ws.braid(&["run", "--as-of", "2026-11-15"]);
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("rho_annual_cap"));
}

#[test]
fn the_demo_banner_follows_the_key_not_the_configuration_file_name() {
    let ws = Workspace::demo(300);
    let demo_secret = "DEMO key for a test, 32 bytes or more, not a real key";
    let out = ws.braid_env(&["run", "--as-of", "2026-11-15"], &[("BRAID_SECRET", demo_secret)]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ws.path().join("var/publish/2026Q4/release.json")).unwrap()).unwrap();
    assert_eq!(manifest["demo_key"], true, "consortium.toml run with a DEMO key");
    assert!(std::fs::read_to_string(ws.path().join("var/publish/2026Q4/index.html")).unwrap().contains("DEMO DATA"));
}

#[test]
fn two_racing_publishes_charge_the_budget_once() {
    // (Also guarded inside the ledger's transaction, for state folders on
    // file systems where a lock does not hold.)
    let ws = Workspace::demo(300);
    ws.ok(&["run", "--no-publish"], 0);
    let bin = env!("CARGO_BIN_EXE_braid");
    let spawn = || {
        std::process::Command::new(bin)
            .args(["--config", ws.config.to_str().unwrap(), "publish", "--as-of", "2026-08-01"])
            .current_dir(ws.path())
            .env("BRAID_SECRET", crate::common::TEST_SECRET)
            .output()
    };
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(spawn);
        let b = s.spawn(spawn);
        (a.join().unwrap().unwrap(), b.join().unwrap().unwrap())
    });
    // The state lock lets one in; the other finds it busy (exit 8, nothing
    // done) or, if it starts after the first ended, re-serves its release.
    // Either way the budget is charged once.
    let codes = [a.status.code(), b.status.code()];
    assert!(codes.contains(&Some(0)) && codes.iter().all(|c| *c == Some(0) || *c == Some(8)), "{codes:?}");
    let st = status(&ws);
    let releases = st["budget"]["releases"].as_array().unwrap();
    assert_eq!(releases.len(), 1, "one release charged: {releases:?}");
    let spent = st["budget"]["rho_spent_lifetime"].as_f64().unwrap();
    assert!(spent <= 1.0 + 1e-9, "charged once: {spent}");
    let outs = [String::from_utf8_lossy(&a.stdout).to_string(), String::from_utf8_lossy(&b.stdout).to_string()];
    assert_eq!(outs.iter().filter(|o| o.contains("rho spent")).count(), 1, "{outs:?}");
    assert_eq!(outs.iter().filter(|o| o.contains("re-served")).count(), codes.iter().filter(|c| **c == Some(0)).count() - 1, "{outs:?}");
}

#[test]
fn no_published_value_is_the_exact_value() {
    let ws = Workspace::demo(600);
    ws.ok(&["run", "--as-of", "2026-11-15"], 0);
    // Exact (bounded, un-noised) counts of the `served` metric, per cell.
    let raw = ws.ok(&["metrics", "--raw", "--metric", "served"], 0);
    let mut exact: HashMap<(String, String), i64> = HashMap::new();
    for line in raw.lines().filter(|l| l.starts_with("  ") && !l.contains("EXACT") && !l.contains("service_partner")) {
        let f: Vec<&str> = line.trim().split('\t').collect();
        if f.len() >= 3 {
            exact.insert((f[0].to_string(), f[1].to_string()), f[2].parse().unwrap());
        }
    }
    assert!(exact.len() >= 8, "exact cells: {raw}");
    // People served by several partners over several years keep every cell:
    // a cap below the grid would count them out of their partner-year cells.
    assert!(!raw.contains("CAPPED"), "{raw}");
    let csv = std::fs::read_to_string(ws.path().join("var/publish/latest/served.csv")).unwrap();
    let mut compared = 0;
    let mut equal = 0;
    for line in csv.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        if f[7] != "ok" {
            assert!(f[2].is_empty(), "a suppressed cell shows no value, not 0: {line}");
            continue;
        }
        if let Some(x) = exact.get(&(f[0].to_string(), f[1].to_string())) {
            compared += 1;
            if f[2].parse::<i64>().unwrap() == *x {
                equal += 1;
            }
        }
    }
    assert!(compared >= 8, "compared {compared} cells");
    assert!(equal < compared, "every published count equals the exact count: no noise?");
    // Stated noise: counts carry a margin of error consistent with the release.
    let manifest: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(ws.path().join("var/publish/latest/release.json")).unwrap()).unwrap();
    assert!(manifest["rho_total"].as_f64().unwrap() <= 1.0 + 1e-9);
    assert!(manifest["epsilon_total"].as_f64().unwrap() > 0.0);
    assert_eq!(manifest["metrics"].as_array().unwrap().len(), 10);
}

/// A partner missing from the public list of `service_partner` is not
/// dropped: its people still count in the totals, and its cells are released
/// only through OpenDP's threshold mechanism, whose δ is accounted. With
/// discovery off, those cells are not released at all. (1,500 people: the
/// unlisted partner's total is about 240, above `served`'s threshold of 149
/// by more than four times its noise scale of about 22, so the test fails
/// by chance about once in 100,000 runs.)
#[test]
fn keys_outside_the_public_lists_are_released_only_through_the_threshold() {
    let ws = Workspace::demo(1500);
    let cfg = demo_config().replace(
        r#"service_partner = ["adult_school", "community_college", "workforce_board", "refugee_agency"]"#,
        r#"service_partner = ["adult_school", "community_college", "workforce_board"]"#,
    );
    assert_ne!(cfg, demo_config(), "the test must remove a partner from the public list");
    ws.write_config(&cfg);
    ws.ok(&["run", "--as-of", "2026-11-15"], 0);
    let csv = std::fs::read_to_string(ws.path().join("var/publish/latest/served.csv")).unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    assert_eq!(header.last(), Some(&"key_source"));
    let rows: Vec<Vec<&str>> = csv.lines().skip(1).map(|l| l.split(',').collect()).collect();
    let discovered: Vec<&Vec<&str>> = rows.iter().filter(|r| r[8] == "discovered").collect();
    assert!(
        discovered.iter().any(|r| r[0] == "refugee_agency" && r[7] == "ok"),
        "the unlisted partner's large cells clear the threshold: {csv}"
    );
    assert!(discovered.iter().all(|r| r[0] == "refugee_agency"), "only unlisted keys are discovered");
    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ws.path().join("var/publish/latest/release.json")).unwrap()).unwrap();
    let served = manifest["metrics"].as_array().unwrap().iter().find(|m| m["name"] == "served").unwrap().clone();
    let threshold = served["noise"]["discovered_count"]["threshold"].as_i64().unwrap();
    for r in &discovered {
        if r[7] == "ok" {
            assert!(r[6].parse::<i64>().unwrap() >= threshold, "a released discovered cell clears the threshold: {r:?}");
        }
    }
    let d = manifest["delta_threshold"].as_f64().unwrap();
    assert!(d > 0.0 && d <= 10.0 * 1e-10, "threshold delta accounted: {d}");
    assert!(manifest["rho_total"].as_f64().unwrap() <= 1.0 + 1e-9, "discovery stays inside the release budget");
    let st = status(&ws);
    assert!((st["budget"]["threshold_delta_lifetime"].as_f64().unwrap() - d).abs() < 1e-15);
    // The exact count of unlisted rows is never published.
    let json = std::fs::read_to_string(ws.path().join("var/publish/latest/served.json")).unwrap();
    assert!(!json.contains("rows_outside") && !json.contains("unlisted"), "no exact count of unlisted rows");

    // Discovery off: no discovered cells, and nothing unlisted appears.
    let ws = Workspace::demo(600);
    ws.write_config(&cfg.replace("max_cells_per_person = 12", "max_cells_per_person = 12\ndiscovery_share = 0.0"));
    ws.ok(&["run", "--as-of", "2026-11-15"], 0);
    let csv = std::fs::read_to_string(ws.path().join("var/publish/latest/served.csv")).unwrap();
    assert!(!csv.contains("refugee_agency") && !csv.contains(",discovered"), "{csv}");
}

/// Which exits the employment metrics count depends on public values only:
/// one person's wage record in a far-off quarter (a mistyped year) moves no
/// cell's count by more than that person's own contribution. When the cut-off
/// was the latest quarter found in the wage records, this one row brought
/// every exit of two more years into the counts (hundreds of people).
#[test]
fn one_wage_record_cannot_move_other_peoples_exits_into_a_metric() {
    let ws = Workspace::demo(600);
    ws.ok(&["run", "--as-of", "2026-11-15"], 0);
    let cells = |ws: &Workspace| -> HashMap<(String, String), i64> {
        let raw = ws.ok(&["metrics", "--raw", "--metric", "employment_q4", "--as-of", "2026-11-15"], 0);
        raw.lines()
            .filter(|l| l.starts_with("  ") && !l.contains("EXACT") && !l.contains("service_partner"))
            .filter_map(|l| {
                let f: Vec<&str> = l.trim().split('\t').collect();
                (f.len() >= 3).then(|| ((f[0].to_string(), f[1].to_string()), f[2].parse().unwrap()))
            })
            .collect()
    };
    let before = cells(&ws);
    assert!(before.get(&("all".to_string(), "all".to_string())).is_some_and(|n| *n > 50), "{before:?}");
    // A program year is published whole or not at all: on 2026-11-15 the
    // wage records count through 2026Q2, which follows PY2024's exits
    // (to 2025Q2) two quarters on, and only half of PY2025's.
    let q2 = ws.ok(&["metrics", "--raw", "--metric", "employment_q2", "--as-of", "2026-11-15"], 0);
    assert!(q2.contains("\tPY2024\t") && !q2.contains("\tPY2025\t"), "{q2}");
    let credential = ws.ok(&["metrics", "--raw", "--metric", "credential_attainment", "--as-of", "2026-11-15"], 0);
    assert!(credential.contains("PY2024\t") && !credential.contains("PY2025\t"), "{credential}");
    // One worker of the 2026Q2 file again, with wages in 2031Q1.
    let dir = ws.path().join("var/demo/inputs/wage_records");
    let q2 = std::fs::read_to_string(dir.join("ui_wages_2026Q2.txt")).unwrap();
    let mut lines = q2.lines();
    let header = lines.next().unwrap();
    let row = lines.next().unwrap().replace("|2026|2|", "|2031|1|");
    assert!(row.contains("|2031|1|"), "{row}");
    std::fs::write(dir.join("ui_wages_2031Q1.txt"), format!("{header}\n{row}\n")).unwrap();
    ws.ok(&["run", "--as-of", "2026-11-15"], 0);
    let after = cells(&ws);
    for (cell, n) in &before {
        let m = after.get(cell).copied().unwrap_or(0);
        assert!((m - n).abs() <= 1, "cell {cell:?}: {n} exits before, {m} after one person's wage record");
    }
}

/// A release drawn before the wage file of its cut-off quarter is loaded
/// warns the steward, and `[metrics] wages_through`, a public setting, holds
/// the cut-off back until it arrives.
#[test]
fn a_missing_wage_quarter_is_named_and_a_public_setting_holds_it_back() {
    let ws = Workspace::demo(200);
    ws.ok(&["run", "--no-publish", "--as-of", "2026-11-15"], 0);
    // 2027Q2 counts wages through 2026Q4; the demo's last file is 2026Q2.
    let out = ws.braid(&["publish", "--as-of", "2027-04-05"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("no wage record of 2026Q4 is loaded"), "{stderr}");
    let q2 = |ws: &Workspace| ws.ok(&["metrics", "--raw", "--metric", "employment_q2", "--as-of", "2027-04-05"], 0);
    assert!(q2(&ws).contains("\tPY2025\t"), "PY2025 follows its last exits into 2026Q4");
    let config = std::fs::read_to_string(&ws.config).unwrap();
    ws.write_config(&config.replace("[metrics]\n", "[metrics]\nwages_through = \"2026Q2\"\n"));
    assert!(!q2(&ws).contains("\tPY2025\t"), "held back to 2026Q2");
    ws.write_config(&config.replace("[metrics]\n", "[metrics]\nwages_through = \"2026-06\"\n"));
    let out = ws.braid(&["metrics"]);
    assert_eq!(out.status.code(), Some(3), "a setting that is not a quarter is refused");
    assert!(String::from_utf8_lossy(&out.stderr).contains("is not a quarter like 2026Q2"));
}

/// A period's release is its latest revision: the nightly run after a
/// revision re-serves the revision (and `latest` stays on it), and when a
/// revision was the period's first release, the plain publish does not draw
/// a second set of noisy values under the period's own label.
#[test]
fn a_period_with_a_revision_is_re_served_as_that_revision() {
    let ws = Workspace::demo(200);
    ws.ok(&["run", "--no-publish", "--as-of", "2026-06-15"], 0);
    ws.ok(&["publish", "--as-of", "2026-06-15", "--revise"], 0);
    let publish = ws.path().join("var/publish");
    assert!(publish.join("2026Q2-r2/release.json").exists());
    let spent = status(&ws)["budget"]["rho_spent_lifetime"].as_f64().unwrap();
    let served = std::fs::read(publish.join("2026Q2-r2/served.csv")).unwrap();
    ws.ok(&["publish", "--as-of", "2026-06-15"], 0);
    ws.ok(&["run", "--as-of", "2026-06-15"], 0);
    assert_eq!(status(&ws)["budget"]["rho_spent_lifetime"].as_f64().unwrap(), spent, "nothing drawn again");
    assert!(!publish.join("2026Q2").exists(), "no second draw under the plain label");
    assert_eq!(std::fs::read(publish.join("2026Q2-r2/served.csv")).unwrap(), served);
    let latest: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(publish.join("latest.json")).unwrap()).unwrap();
    assert_eq!(latest["release_id"], "2026Q2-r2");
}
