//! The stable twin of the `parse_map` fuzz target (fuzz/): the same harness,
//! `braid::fuzz::one_file`, on the malformed corpus under every format and
//! option it can choose, and on seeded mutations of well-formed files of
//! each format. The harness panics when a promise breaks (a panic, rows
//! read != loaded + quarantined, a quarantine detail quoting a cell, a file
//! error quoting the file), so a
//! regression fails here without a nightly toolchain. `cargo fuzz` searches
//! far more inputs (README, "Fuzzing").

use std::io::Write;
use std::sync::Arc;

use braid::fuzz::{COLUMNS, Choice, Outcome, one_file, one_file_as};
use datafusion::arrow::array::{ArrayRef, StringArray};
use datafusion::arrow::record_batch::RecordBatch;
use rand::{Rng, SeedableRng};

const CSV: &str = "ID,First,Last,Name,DOB,SSN,Phone,Email,Street,Zip,Sex,Start,End,Wages,ELL,Consent
A1,Maria,Garcia Lopez,,03/04/1990,123-45-6780,(510) 555-0100,m.garcia@example.org,12 Main St,94601,F,01/05/2025,,1200.50,Y,Y
A2,Nguyen,Van An,,1985-13-01,,,,,,M,02/05/2025,01/05/2025,,N,
A3,,,\"Ahmadzai, Najib\",20010101,,,,,,X,03/05/2025,,abc,maybe,N
A1,Maria,Garcia Lopez,,03/04/1990,123-45-6780,(510) 555-0100,m.garcia@example.org,12 Main St,94601,F,01/05/2025,,1200.50,Y,Y
A4,Zx9Canary,Qq7Canary,,04/04/2030,,,,,,F,04/05/2025,,,,
A5,short
";

fn corpus_files() -> Vec<(String, Vec<u8>)> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/corpus/files");
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .expect("corpus folder")
        .map(|e| e.expect("entry").path())
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).expect("corpus file")))
        .collect();
    files.sort();
    assert!(files.len() >= 15, "the corpus is there");
    files
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

fn zip(b: &[u8]) -> Vec<u8> {
    let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    z.start_file("rows", zip::write::SimpleFileOptions::default()).unwrap();
    z.write_all(b).unwrap();
    z.finish().unwrap().into_inner()
}

fn ndjson() -> Vec<u8> {
    let mut out = String::new();
    for line in CSV.lines().skip(1) {
        let obj: serde_json::Map<String, serde_json::Value> =
            COLUMNS.iter().zip(line.split(',')).map(|(k, v)| (k.to_string(), serde_json::Value::String(v.into()))).collect();
        out.push_str(&serde_json::Value::Object(obj).to_string());
        out.push('\n');
    }
    out.into_bytes()
}

fn xlsx() -> Vec<u8> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    for (r, line) in CSV.lines().enumerate() {
        for (c, v) in line.split(',').enumerate() {
            sheet.write_string(r as u32, c as u16, v).unwrap();
        }
    }
    book.save_to_buffer().unwrap()
}

fn parquet() -> Vec<u8> {
    let rows: Vec<Vec<&str>> = CSV.lines().skip(1).map(|l| l.split(',').collect()).collect();
    let cols: Vec<(&str, ArrayRef)> = COLUMNS
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let values: Vec<Option<&str>> = rows.iter().map(|r| r.get(i).copied()).collect();
            (*name, Arc::new(StringArray::from(values)) as ArrayRef)
        })
        .collect();
    let batch = RecordBatch::try_from_iter(cols).unwrap();
    let mut buf = Vec::new();
    let mut w = datafusion::parquet::arrow::ArrowWriter::try_new(&mut buf, batch.schema(), None).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
    buf
}

/// Choices of the format and compression bytes (see `braid::fuzz::Choice`).
fn choice(format: u8, compression: u8) -> Choice {
    Choice(format, compression)
}

#[test]
fn well_formed_files_of_each_format_load_and_quarantine_as_documented() {
    // Six rows: A1 loads; A2 is quarantined (exit before entry; its birth
    // date is set aside as well); A3 (wages `abc`, ELL `maybe`); A1 again
    // (an exact duplicate); A4 loads with its future birth date set aside;
    // A5 has two fields of sixteen.
    let outcome = |read, loaded, quarantined| Outcome { rows_read: read, rows_loaded: loaded, rows_quarantined: quarantined, ..Outcome::default() };
    assert_eq!(one_file_as(choice(0, 0), CSV.as_bytes()), outcome(6, 2, 4));
    for (name, c, bytes, expected) in [
        ("gzip", choice(0, 1), gzip(CSV.as_bytes()), outcome(6, 2, 4)),
        ("zip", choice(0, 2), zip(CSV.as_bytes()), outcome(6, 2, 4)),
        ("gzip by configuration", choice(0, 3), gzip(CSV.as_bytes()), outcome(6, 2, 4)),
        // In NDJSON, Excel and Parquet a short row is a row with empty
        // cells, so A5 loads.
        ("ndjson", choice(1, 0), ndjson(), outcome(6, 3, 3)),
        ("xlsx", choice(2, 0), xlsx(), outcome(6, 3, 3)),
        ("parquet", choice(3, 0), parquet(), outcome(6, 3, 3)),
        // Without a header row the header line is a row of its own (with
        // text where dates and money belong).
        ("no header", choice(16, 0), CSV.as_bytes().to_vec(), outcome(7, 2, 5)),
        // Consent required: rows without it still load (and are counted
        // where the agreement allows), only never linked.
        ("consent required", choice(0, 128), CSV.as_bytes().to_vec(), outcome(6, 2, 4)),
    ] {
        assert_eq!(one_file_as(c, &bytes), expected, "{name}");
    }
    // A delimiter that is not the file's: one column, so no mapped column
    // is found and the file is rejected.
    assert_eq!(one_file_as(choice(8, 64), CSV.as_bytes()).file_error, Some("no_mapped_columns"));
    // A file without its header row: the first row is a person's, and the
    // rejection quotes none of it (the harness panics if it does).
    let line = |id: &str| CSV.lines().find(|l| l.starts_with(id)).expect("row").to_string();
    let headless = format!("{}\n{}\n", line("A4,"), line("A1,"));
    assert_eq!(one_file_as(choice(0, 0), headless.as_bytes()).file_error, Some("no_mapped_columns"));
    let twice = "Zx9Canary,Zx9Canary,03/04/1990\nA1,Ana,03/04/1990\n";
    assert_eq!(one_file_as(choice(0, 0), twice.as_bytes()).file_error, Some("duplicate_column"));
}

#[test]
fn the_corpus_keeps_the_promises_under_every_choice() {
    let mut outcomes = 0;
    for (name, bytes) in corpus_files() {
        // Every CSV option (the other formats have none of them).
        let formats = (0..=255u8).filter(|a| a & 3 == 0).chain([1, 2, 3]);
        for a in formats {
            for b in [0u8, 1, 2, 3, 4, 16, 32, 64, 128, 0xff] {
                let o: Outcome = std::panic::catch_unwind(|| one_file_as(Choice(a, b), &bytes))
                    .unwrap_or_else(|_| panic!("{name} with choice ({a}, {b})"));
                outcomes += u64::from(!o.invalid_options);
            }
        }
    }
    assert!(outcomes > 5_000, "most choices are valid options ({outcomes})");
}

#[test]
fn seeded_mutations_keep_the_promises() {
    let seeds: Vec<(Choice, Vec<u8>)> = vec![
        (choice(0, 0), CSV.as_bytes().to_vec()),
        (choice(4, 0), CSV.replace(',', ";").into_bytes()),
        (choice(0, 1), gzip(CSV.as_bytes())),
        (choice(0, 2), zip(CSV.as_bytes())),
        (choice(1, 0), ndjson()),
        (choice(2, 0), xlsx()),
        (choice(3, 0), parquet()),
    ];
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2026);
    let special = [b',', b';', b'"', b'\'', b'\\', b'\n', b'\r', b'{', b'}', b':', 0, 0xff, 0xc3, 0xef, 0xbb, 0xbf];
    for (choice, seed) in &seeds {
        for i in 0..1500 {
            let mut m = seed.clone();
            for _ in 0..rng.random_range(1..=4) {
                let at = rng.random_range(0..m.len().max(1));
                match rng.random_range(0..6) {
                    0 if !m.is_empty() => m[at] ^= 1 << rng.random_range(0..8),
                    1 => m.insert(at.min(m.len()), special[rng.random_range(0..special.len())]),
                    2 if !m.is_empty() => {
                        m.remove(at);
                    }
                    3 => m.truncate(at),
                    4 if !m.is_empty() => {
                        let end = (at + rng.random_range(1..40)).min(m.len());
                        let piece = m[at..end].to_vec();
                        let to = rng.random_range(0..=m.len());
                        m.splice(to..to, piece);
                    }
                    _ => {
                        if let Some(x) = m.get_mut(at) {
                            *x = special[rng.random_range(0..special.len())];
                        }
                    }
                }
            }
            let c = if i % 8 == 7 { Choice(rng.random(), rng.random()) } else { *choice };
            if std::panic::catch_unwind(|| one_file_as(c, &m)).is_err() {
                let mut input = vec![c.0, c.1];
                input.extend_from_slice(&m);
                let path = std::env::temp_dir().join(format!("braid-fuzz-failure-{}-{i}", c.0));
                std::fs::write(&path, &input).unwrap();
                panic!("a mutation broke a promise; the input (choice bytes first) is in {}", path.display());
            }
        }
    }
    // Inputs libFuzzer once stopped at (choice bytes first), replayed.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/corpus/fuzz");
    for e in std::fs::read_dir(&dir).expect("tests/corpus/fuzz") {
        let path = e.expect("entry").path();
        let input = std::fs::read(&path).expect("input");
        assert!(std::panic::catch_unwind(|| one_file(&input)).is_ok(), "{}", path.display());
    }
    // The raw input form the fuzz target receives: choice bytes, then file.
    let mut input = vec![0u8, 0];
    input.extend_from_slice(CSV.as_bytes());
    assert_eq!(one_file(&input), one_file_as(choice(0, 0), CSV.as_bytes()));
}
