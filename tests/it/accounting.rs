//! Nothing is lost silently: the malformed-file corpus in tests/corpus gives,
//! for every file, the documented rejection or quarantine counts, and
//! rows read = rows loaded + rows quarantined for every loaded file.

use std::collections::BTreeMap;
use std::io::Write;

use serde::Deserialize;

use crate::common::{Workspace, repo};

#[derive(Debug, Deserialize)]
struct Expected {
    file: Vec<ExpectedFile>,
}

#[derive(Debug, Deserialize)]
struct ExpectedFile {
    name: String,
    status: String,
    code: Option<String>,
    read: Option<i64>,
    loaded: Option<i64>,
    quarantined: Option<i64>,
    #[serde(default)]
    reasons: BTreeMap<String, i64>,
    #[serde(default)]
    lines: BTreeMap<String, i64>,
    /// Values set aside in loaded rows, by reason.
    #[serde(default)]
    set_aside: BTreeMap<String, i64>,
}

/// A workspace whose only partner is the corpus (files copied, plus the
/// ones generated here).
fn corpus_workspace() -> Workspace {
    let dir = tempfile::Builder::new().prefix("braid-corpus-").tempdir().unwrap();
    let files = dir.path().join("corpus");
    std::fs::create_dir_all(&files).unwrap();
    for e in std::fs::read_dir(repo().join("tests/corpus/files")).unwrap() {
        let p = e.unwrap().path();
        std::fs::copy(&p, files.join(p.file_name().unwrap())).unwrap();
    }
    // An Excel workbook without the configured sheet.
    let mut wb = rust_xlsxwriter::Workbook::new();
    let ws = wb.add_worksheet();
    ws.set_name("Data").unwrap();
    ws.write_string(0, 0, "ID").unwrap();
    let xlsx = wb.save_to_buffer().unwrap();
    std::fs::write(files.join("wrong_sheet.xlsx"), &xlsx).unwrap();
    // The same workbook cut off two thirds of the way.
    std::fs::write(files.join("truncated.xlsx"), &xlsx[..xlsx.len() * 2 / 3]).unwrap();
    // A small gzip file that inflates past max_decompressed_bytes.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(b"ID,First,Last,DOB,Start,End\n").unwrap();
    for _ in 0..60_000 {
        writeln!(gz, "1,Ana,Ruiz,03/24/1990,09/01/2024,").unwrap();
    }
    std::fs::write(files.join("bomb.csv.gz"), gz.finish().unwrap()).unwrap();
    // A file over max_file_bytes.
    let mut big = String::from("ID,First,Last,DOB,Start,End\n");
    for i in 0..8000 {
        big.push_str(&format!("{i},Ana,Ruiz,03/24/1990,09/01/2024,\n"));
    }
    std::fs::write(files.join("oversize.csv"), big).unwrap();
    // ok_mixed.csv in a zip archive: read as CSV by the name inside the suffix.
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    z.start_file("ok_mixed.csv", zip::write::SimpleFileOptions::default()).unwrap();
    z.write_all(&std::fs::read(repo().join("tests/corpus/files/ok_mixed.csv")).unwrap()).unwrap();
    let zipped = z.finish().unwrap().into_inner();
    std::fs::write(files.join("zipped.csv.zip"), &zipped).unwrap();
    std::fs::write(files.join("truncated.csv.zip"), &zipped[..zipped.len() * 2 / 3]).unwrap();
    // ok_mixed.csv gzipped, cut off two thirds of the way.
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&std::fs::read(repo().join("tests/corpus/files/ok_mixed.csv")).unwrap()).unwrap();
    let gz = gz.finish().unwrap();
    std::fs::write(files.join("truncated.csv.gz"), &gz[..gz.len() * 2 / 3]).unwrap();
    // Text in an encoding that is neither UTF-8 nor marked by a BOM.
    let (sjis, _, _) = encoding_rs::SHIFT_JIS.encode("ID,First,Last,DOB,Start,End\n1,太郎,山田,03/24/1990,09/01/2024,\n");
    std::fs::write(files.join("klingon.csv"), sjis).unwrap();

    let text = std::fs::read_to_string(repo().join("tests/corpus/corpus.toml"))
        .unwrap()
        .replace("@CORPUS@", &files.display().to_string())
        .replace("@SQL@", &repo().join("sql").display().to_string());
    let ws = Workspace { config: dir.path().join("consortium.toml"), dir };
    ws.write_config(&text);
    ws
}

#[test]
fn every_corpus_file_has_its_documented_outcome_and_nothing_is_lost() {
    let ws = corpus_workspace();
    let out = ws.braid(&["run", "--no-publish"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(5), "completed with rejected input\n{}\n{stderr}", String::from_utf8_lossy(&out.stdout));
    assert!(!stderr.contains("panicked"), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("Completed with rejected input"), "{stdout}");

    let expected: Expected = toml::from_str(&std::fs::read_to_string(repo().join("tests/corpus/expected.toml")).unwrap()).unwrap();
    let ledger = ws.sql("SELECT url, status, message, rows_read, rows_loaded, rows_quarantined FROM ingest_ledger");
    let all = ws.sql("SELECT url, line, \"column\", reason, detail, partner, record_key, row_loaded FROM quarantine");
    let (aside, quarantine): (Vec<_>, Vec<_>) = all.iter().cloned().partition(|q| q["row_loaded"] == true);
    let dir_files = std::fs::read_dir(ws.path().join("corpus")).unwrap().count();
    assert_eq!(ledger.len(), dir_files, "every file is in the ledger");
    assert_eq!(expected.file.len(), dir_files, "every file has an expected outcome");

    for e in &expected.file {
        let row = ledger
            .iter()
            .find(|r| r["url"].as_str().unwrap().ends_with(&format!("/{}", e.name)))
            .unwrap_or_else(|| panic!("{} not in the ledger", e.name));
        assert_eq!(row["status"], e.status.as_str(), "{}: {row}", e.name);
        if let Some(code) = &e.code {
            let msg = row["message"].as_str().unwrap_or("");
            assert!(msg.starts_with(&format!("{code}:")), "{}: expected {code}, got `{msg}`", e.name);
            assert!(msg.len() > code.len() + 5, "{}: the message explains", e.name);
        }
        if e.status == "loaded" {
            let (r, l, q) = (row["rows_read"].as_i64().unwrap(), row["rows_loaded"].as_i64().unwrap(), row["rows_quarantined"].as_i64().unwrap());
            assert_eq!(r, l + q, "{}: read = loaded + quarantined", e.name);
            assert_eq!(Some(r), e.read, "{} read", e.name);
            assert_eq!(Some(l), e.loaded, "{} loaded", e.name);
            assert_eq!(Some(q), e.quarantined, "{} quarantined", e.name);
            let mine: Vec<_> = quarantine.iter().filter(|q| q["url"] == row["url"]).collect();
            assert_eq!(mine.len() as i64, q, "{}: quarantine rows", e.name);
            let mut reasons: BTreeMap<String, i64> = BTreeMap::new();
            for qr in &mine {
                *reasons.entry(qr["reason"].as_str().unwrap().to_string()).or_default() += 1;
                assert_eq!(qr["partner"], "corpus");
                assert!(qr["line"].as_i64().unwrap() > 1, "lines count the header");
                assert!(!qr["detail"].as_str().unwrap().is_empty());
            }
            assert_eq!(reasons, e.reasons, "{}", e.name);
            let mut set_aside: BTreeMap<String, i64> = BTreeMap::new();
            let my_aside: Vec<_> = aside.iter().filter(|q| q["url"] == row["url"]).collect();
            for qr in &my_aside {
                *set_aside.entry(qr["reason"].as_str().unwrap().to_string()).or_default() += 1;
                assert_eq!(qr["column"], "DOB", "only birth dates are set aside");
                assert!(qr["detail"].as_str().unwrap().contains("loaded"), "{qr}");
            }
            assert_eq!(set_aside, e.set_aside, "{}: values set aside", e.name);
            for (reason, line) in &e.lines {
                assert!(
                    mine.iter().chain(&my_aside).any(|qr| qr["reason"] == reason.as_str() && qr["line"].as_i64() == Some(*line)),
                    "{}: {reason} at line {line}: {mine:?}",
                    e.name
                );
            }
        }
    }
    // Quarantine rows of a bad column name it.
    let bad_date = quarantine.iter().find(|q| q["reason"] == "bad_date").unwrap();
    assert_eq!(bad_date["column"], "DOB");
    assert!(bad_date["record_key"].as_str().is_some_and(|k| k.len() == 32), "hashed identity");
    // A birth date set aside never becomes a birth year: not the future one,
    // not the ones 123 and 124 years back (kept for linkage only), not the
    // 1900-01-01 that stands for "unknown".
    let years = ws.sql("SELECT count(*) AS n FROM person WHERE birth_year IN (1900, 1901, 2030)");
    assert_eq!(years[0]["n"], 0);

    // Unchanged files are skipped; nothing is counted twice.
    let again = ws.braid(&["run", "--no-publish"]);
    assert_eq!(again.status.code(), Some(5));
    let q2 = ws.sql("SELECT count(*) AS n FROM quarantine");
    assert_eq!(q2[0]["n"].as_u64().unwrap() as usize, all.len());
    let l2 = ws.sql("SELECT count(*) AS n FROM ingest_ledger");
    assert_eq!(l2[0]["n"].as_u64().unwrap() as usize, ledger.len());
}

#[test]
fn a_changed_file_supersedes_its_old_version_and_a_vanished_one_is_reported() {
    let ws = corpus_workspace();
    ws.braid(&["run", "--no-publish"]);
    let files = ws.path().join("corpus");
    let v1 = std::fs::read(files.join("ok_mixed.csv")).unwrap();
    // New version of ok_mixed.csv: two good rows only.
    std::fs::write(files.join("ok_mixed.csv"), "ID,First,Last,DOB,Start,End\n1,Ana,Ruiz,03/24/1990,09/01/2024,\n7,Gu,Po,03/24/1991,09/01/2024,\n").unwrap();
    std::fs::remove_file(files.join("utf16.csv")).unwrap();
    let out = ws.braid(&["run", "--no-publish"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("vanished"), "{stdout}");
    let rows = ws.sql("SELECT status, rows_loaded FROM ingest_ledger WHERE url LIKE '%/ok_mixed.csv' ORDER BY ingested_at");
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["status"], "superseded");
    assert_eq!(rows[1]["status"], "loaded");
    assert_eq!(rows[1]["rows_loaded"], 2);
    // The superseded version's rows are gone from the warehouse, not added twice.
    let n = ws.sql("SELECT count(*) AS n FROM participation WHERE partner = 'corpus'");
    // ok_mixed v2, utf16 (kept, vanished), spaced, plausibility, long_field,
    // json_lines, dob_set_aside, long_line, zipped (ok_mixed v1 in a zip)
    let expected_rows = 2 + 2 + 1 + 1 + 1 + 2 + 6 + 2 + 3;
    assert_eq!(n[0]["n"], expected_rows);
    let vanished = ws.sql("SELECT status FROM ingest_ledger WHERE url LIKE '%/utf16.csv'");
    assert_eq!(vanished[0]["status"], "vanished");

    // The partner sends the first version again (A, B, A): it is loaded
    // again in place of B, and the ledger keeps all three versions, the
    // first one's history included.
    std::fs::write(files.join("ok_mixed.csv"), &v1).unwrap();
    ws.braid(&["run", "--no-publish"]);
    let rows = ws.sql(
        "SELECT file_id, content_hash, status, rows_loaded, ingested_at FROM ingest_ledger WHERE url LIKE '%/ok_mixed.csv' ORDER BY ingested_at",
    );
    let statuses: Vec<&str> = rows.iter().map(|r| r["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["superseded", "superseded", "loaded"], "{rows:?}");
    assert_eq!(rows[0]["content_hash"], rows[2]["content_hash"]);
    assert_ne!(rows[0]["file_id"], rows[2]["file_id"]);
    assert_eq!((rows[0]["rows_loaded"].as_i64(), rows[2]["rows_loaded"].as_i64()), (Some(3), Some(3)));
    let n = ws.sql("SELECT count(*) AS n FROM participation WHERE partner = 'corpus'");
    assert_eq!(n[0]["n"], expected_rows - 2 + 3);
    // And a re-run finds it unchanged.
    let out = String::from_utf8_lossy(&ws.braid(&["run", "--no-publish"]).stdout).to_string();
    assert!(out.contains("unchanged"), "{out}");
    assert_eq!(ws.sql("SELECT count(*) AS n FROM ingest_ledger WHERE url LIKE '%/ok_mixed.csv'")[0]["n"], 3);
}

#[test]
fn schema_drift_is_named_and_the_partner_gets_a_report_it_can_act_on() {
    let ws = corpus_workspace();
    ws.braid(&["run", "--no-publish"]);
    let files = ws.path().join("corpus");
    // The partner renamed the optional `End` column and added another one.
    std::fs::write(
        files.join("spaced.csv"),
        "ID,First,Last,DOB,Start,EndDate,Notes\n9,Ana,Ruiz,03/24/1990,09/01/2024,,x\n",
    )
    .unwrap();
    let out = ws.braid(&["run", "--no-publish"]);
    assert_eq!(out.status.code(), Some(5));
    let row = ws.sql("SELECT status, message FROM ingest_ledger WHERE url LIKE '%/spaced.csv' ORDER BY ingested_at DESC LIMIT 1");
    assert_eq!(row[0]["status"], "rejected");
    let msg = row[0]["message"].as_str().unwrap();
    // The mapped column is named; the new ones, read from the file, are
    // counted (decision 31).
    assert!(msg.starts_with("schema_drift:") && msg.contains("`End`") && msg.contains("2 new column(s)") && !msg.contains("EndDate"), "{msg}");
    // The old version stays loaded: nothing is lost while the partner fixes it.
    let kept = ws.sql("SELECT count(*) AS n FROM ingest_ledger WHERE url LIKE '%/spaced.csv' AND status = 'loaded'");
    assert_eq!(kept[0]["n"], 1);

    // The partner's report: rows, rejects by reason and column, missing fields.
    let status = ws.ok(&["status", "--partner", "corpus"], 0);
    assert!(status.contains("quarantined"), "{status}");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(ws.path().join("var/partner-reports/corpus.json")).unwrap()).unwrap();
    let files = report["files"].as_array().unwrap();
    let ok = files.iter().find(|f| f["file"].as_str().unwrap().ends_with("/ok_mixed.csv")).unwrap();
    assert_eq!(ok["report"]["rejects_by_reason"]["bad_date"], 1);
    assert_eq!(ok["report"]["rejects_by_column"]["DOB"], 1);
    assert!(ok["report"]["missing_share"]["exit_date"].as_f64().unwrap() > 0.0);
    let html = std::fs::read_to_string(ws.path().join("var/partner-reports/corpus.html")).unwrap();
    assert!(html.contains("schema drift") || html.contains("schema_drift"), "the rejection is in the report");

    // Unchanged, it stays rejected; once the mapping follows the rename,
    // the same file is tried again and loads.
    ws.braid(&["run", "--no-publish"]);
    let row = ws.sql("SELECT status FROM ingest_ledger WHERE url LIKE '%/spaced.csv' ORDER BY ingested_at DESC LIMIT 1");
    assert_eq!(row[0]["status"], "rejected");
    let config = std::fs::read_to_string(&ws.config).unwrap();
    ws.write_config(&config.replace("exit_date = \"End\"", "exit_date = \"EndDate\""));
    ws.braid(&["run", "--no-publish"]);
    let row = ws.sql("SELECT status FROM ingest_ledger WHERE url LIKE '%/spaced.csv' ORDER BY ingested_at DESC LIMIT 1");
    assert_eq!(row[0]["status"], "loaded", "{row:?}");
    ws.write_config(&config);

    // A header that only changed case has not drifted: columns are matched
    // whatever their case.
    std::fs::write(ws.path().join("corpus/spaced.csv"), "id,first,last,dob,start,end\n9,Ana,Ruiz,03/24/1990,09/01/2024,\n").unwrap();
    ws.braid(&["run", "--no-publish"]);
    let row = ws.sql("SELECT status, message FROM ingest_ledger WHERE url LIKE '%/spaced.csv' ORDER BY ingested_at DESC LIMIT 1");
    assert_eq!(row[0]["status"], "loaded", "{row:?}");
}

#[test]
fn a_file_sent_again_under_another_name_is_not_loaded_twice() {
    let ws = corpus_workspace();
    let copies = ws.path().join("corpus/copies");
    std::fs::create_dir_all(&copies).unwrap();
    let v1 = "ID,First,Last,DOB,Start,End\n1,Ana,Ruiz,03/24/1990,09/01/2024,\n2,Gu,Po,03/24/1991,09/01/2024,\n";
    std::fs::write(copies.join("a.csv"), v1).unwrap();
    let mut config = std::fs::read_to_string(&ws.config).unwrap();
    config.push_str(
        "\n[[partner.feed]]\nname = \"copies\"\nglob = \"copies/*.csv\"\n[partner.feed.map]\ndate_formats = [\"%m/%d/%Y\"]\n\
         [partner.feed.map.columns]\nrecord_id = \"ID\"\ngiven_name = \"First\"\nfamily_name = \"Last\"\ndob = \"DOB\"\n\
         entry_date = \"Start\"\nexit_date = \"End\"\n",
    );
    ws.write_config(&config);
    let participation = || ws.sql("SELECT count(*) AS n FROM participation WHERE partner = 'corpus'")[0]["n"].as_i64().unwrap();
    let copy_status = || {
        ws.sql("SELECT url, status, message, rows_loaded FROM ingest_ledger WHERE feed = 'copies' ORDER BY url, ingested_at")
    };
    ws.braid(&["run", "--no-publish"]);
    let first = participation();

    // The same bytes under a new name (listed before the original):
    // reported, not loaded again.
    std::fs::write(copies.join("0.csv"), v1).unwrap();
    let out = ws.braid(&["run", "--no-publish"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("duplicate") && stdout.contains("same content as"), "{stdout}");
    let rows = copy_status();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[0]["status"], "duplicate", "{rows:?}");
    assert!(rows[0]["message"].as_str().unwrap().contains("/copies/a.csv"), "{rows:?}");
    assert_eq!(participation(), first, "nothing counted twice");
    // And again on a re-run.
    ws.braid(&["run", "--no-publish"]);
    assert_eq!(copy_status(), rows);
    assert_eq!(participation(), first);

    // The original changes: the copy, looked at before the original's new
    // version was loaded, now holds rows no active file has, so it is
    // loaded in the same run.
    std::fs::write(copies.join("a.csv"), format!("{v1}3,Li,Na,03/24/1992,09/01/2024,\n")).unwrap();
    ws.braid(&["run", "--no-publish"]);
    let rows = copy_status();
    let status = |name: &str| -> Vec<String> {
        rows.iter().filter(|r| r["url"].as_str().unwrap().ends_with(name)).map(|r| r["status"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(status("/a.csv"), ["superseded", "loaded"], "{rows:?}");
    assert_eq!(status("/0.csv"), ["loaded"], "{rows:?}");
    assert_eq!(participation(), first - 2 + 3 + 2);
}

/// A feed renamed in the configuration (or a partner removed) leaves its
/// loaded files behind: every pull says so, by partner and feed, instead of
/// keeping their rows silently.
#[test]
fn loaded_files_of_a_feed_no_longer_configured_are_named_every_run() {
    let ws = Workspace::demo(200);
    ws.ok(&["pull"], 0);
    let config = std::fs::read_to_string(&ws.config).unwrap();
    ws.write_config(&config.replacen("name = \"cases\"", "name = \"cases_v2\"", 1));
    for _ in 0..2 {
        let out = ws.ok(&["pull"], 0);
        assert!(out.contains("not_configured") && out.contains("feed `cases` is not in the configuration"), "{out}");
    }
}

/// A bug that panics while one partner's rows are mapped or protected (on
/// a worker thread) skips that partner's files, as one in the parser does:
/// the run does not hang, the other partners load, the summary and exit
/// code say a file was rejected, and the next run tries the file again.
#[cfg(debug_assertions)] // (the test hook is in debug builds only)
#[test]
fn a_worker_that_panics_skips_its_file_and_the_run_goes_on() {
    let ws = Workspace::demo(300);
    let faulty = "adult_school";
    // More batches than the workers' queue and the batches in flight hold
    // (5 per worker, a worker per core up to 8): the hook fails the workers
    // once the parser waits on the full queue, which must not last.
    let students = ws.path().join("var/demo/inputs/adult_school/students_2026-06-30.csv");
    // (Windows-1252, as the demo's student system writes it: bytes.)
    let text = std::fs::read(&students).unwrap();
    let mut lines = text.split(|b| *b == b'\n').filter(|l| !l.is_empty());
    let mut grown = lines.next().unwrap().to_vec();
    grown.push(b'\n');
    let rows: Vec<&[u8]> = lines.collect();
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get()).clamp(1, 8);
    let copies = ((5 * workers + 3) * braid::parse::BATCH_ROWS).div_ceil(rows.len());
    for copy in 0..copies {
        for row in &rows {
            let comma = row.iter().position(|b| *b == b',').unwrap();
            grown.extend_from_slice(&row[..comma]);
            grown.extend_from_slice(format!("-{copy}").as_bytes());
            grown.extend_from_slice(&row[comma..]);
            grown.push(b'\n');
        }
    }
    std::fs::write(&students, grown).unwrap();
    let out = ws.braid_within(300, &["pull"], &[("BRAID_FAULT_WORKER_PANIC", faulty)]);
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(5), "stdout:\n{stdout}\nstderr:\n{stderr}");
    // Reported, without the panic's message (it may quote input data).
    assert!(stderr.contains("internal error: braid panicked"), "{stderr}");
    assert!(!stderr.contains("BRAID_FAULT_WORKER_PANIC"), "{stderr}");
    // The summary's file lines: (partner, status) of each.
    let files = |stdout: &str| -> Vec<(String, String)> {
        let lines = stdout.lines().filter(|l| l.contains(" read ") && l.contains(" quarantined "));
        lines.map(|l| l.split_whitespace().collect::<Vec<_>>()).map(|w| (w[0].to_string(), w[3].to_string())).collect()
    };
    let (theirs, others): (Vec<_>, Vec<_>) = files(&stdout).into_iter().partition(|(partner, _)| partner == faulty);
    assert_eq!(theirs.len(), 3, "{stdout}");
    assert!(theirs.iter().all(|(_, status)| status == "rejected"), "{stdout}");
    assert_eq!(stdout.matches("internal_error").count(), 3, "{stdout}");
    assert!(others.len() >= 4, "{stdout}");
    assert!(others.iter().all(|(_, status)| status == "loaded"), "{stdout}");
    // Not recorded as rejected: without the bug the next run loads them.
    let out = ws.braid_within(300, &["pull"], &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    let again: Vec<(String, String)> = files(&stdout).into_iter().filter(|(partner, _)| partner == faulty).collect();
    assert_eq!(again.len(), 3, "{stdout}");
    assert!(again.iter().all(|(_, status)| status == "loaded"), "{stdout}");
}
