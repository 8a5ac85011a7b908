//! Decompression and text decoding, with limits and position-naming errors.

use std::borrow::Cow;
use std::io::Read;

use encoding_rs::{Encoding, UTF_8, UTF_16BE, UTF_16LE, WINDOWS_1252};

use super::FileError;

/// The file's name without a `.gz` or `.zip` suffix (any case): what its
/// format is told by once [`decompress`] has opened it.
pub fn uncompressed_name(path: &str) -> &str {
    for suffix in [".gz", ".zip"] {
        let n = path.len();
        if n > suffix.len() && path.is_char_boundary(n - suffix.len()) && path[n - suffix.len()..].eq_ignore_ascii_case(suffix) {
            return &path[..n - suffix.len()];
        }
    }
    path
}

/// Decompress `bytes` per `compression` (`auto` looks at the name and the
/// magic bytes). Stops with an error once more than `limit` bytes come out.
pub fn decompress<'a>(
    bytes: &'a [u8],
    path: &str,
    compression: &str,
    limit: u64,
) -> Result<Cow<'a, [u8]>, FileError> {
    let lower = path.to_ascii_lowercase();
    let kind = match compression {
        "none" => "none",
        "gzip" => "gzip",
        "zip" => "zip",
        _ if lower.ends_with(".gz") || bytes.starts_with(&[0x1f, 0x8b]) => "gzip",
        // xlsx files are zip archives too: only unzip what is not a workbook.
        _ if lower.ends_with(".zip") => "zip",
        _ => "none",
    };
    match kind {
        "gzip" => {
            let mut out = Vec::new();
            let dec = flate2::read::MultiGzDecoder::new(bytes);
            read_limited(dec, &mut out, limit).map_err(|e| match e {
                Limited::Over => over_limit(limit),
                Limited::Io(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => FileError::new(
                    "truncated",
                    format!("gzip data ends early, after {} decompressed bytes: the file is cut off (was the copy complete?)", out.len()),
                ),
                Limited::Io(e) => FileError::new(
                    "bad_gzip",
                    format!("gzip data is corrupt after {} decompressed bytes: {e}", out.len()),
                ),
            })?;
            Ok(Cow::Owned(out))
        }
        "zip" => super::guarded("bad_zip", "not a readable zip archive", || {
            if let Some(e) = zip_cut_off(bytes, "zip archive") {
                return Err(e);
            }
            let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes))
                .map_err(|e| FileError::new("bad_zip", format!("not a readable zip archive: {e}")))?;
            let files: Vec<usize> =
                (0..archive.len()).filter(|i| archive.by_index(*i).map(|f| f.is_file()).unwrap_or(false)).collect();
            if files.len() != 1 {
                return Err(FileError::new(
                    "zip_members",
                    format!("zip archive must hold exactly one file; it holds {}", files.len()),
                ));
            }
            let member = archive
                .by_index(files[0])
                .map_err(|e| FileError::new("bad_zip", format!("cannot open zip member: {e}")))?;
            if member.size() > limit {
                return Err(over_limit(limit));
            }
            let mut out = Vec::new();
            read_limited(member, &mut out, limit).map_err(|e| match e {
                Limited::Over => over_limit(limit),
                Limited::Io(e) => FileError::new("bad_zip", format!("zip member is corrupt: {e}")),
            })?;
            Ok(Cow::Owned(out))
        }),
        _ => Ok(Cow::Borrowed(bytes)),
    }
}

/// A zip archive (an .xlsx or .ods workbook is one) whose end is missing:
/// it starts as a zip does, but the end-of-directory record that every
/// complete archive closes with (22 bytes, then a comment of at most
/// 65,535 whose length the record gives) is not whole in its last bytes.
/// `what` names the file's kind in the message.
pub fn zip_cut_off(bytes: &[u8], what: &str) -> Option<FileError> {
    if !bytes.starts_with(b"PK\x03\x04") {
        return None;
    }
    let start = bytes.len().saturating_sub(65_557);
    let whole = memchr::memmem::rfind_iter(&bytes[start..], b"PK\x05\x06").any(|at| {
        let record = &bytes[start + at..];
        record.len() >= 22 && record.len() >= 22 + u16::from_le_bytes([record[20], record[21]]) as usize
    });
    if whole {
        return None;
    }
    Some(FileError::new(
        "truncated",
        format!(
            "{what} is cut off: it ends after {} bytes without the directory that closes every complete one (was the copy complete?)",
            bytes.len()
        ),
    ))
}

fn over_limit(limit: u64) -> FileError {
    FileError::new(
        "decompressed_too_large",
        format!("decompressed size exceeds ingest.max_decompressed_bytes = {limit}"),
    )
}

enum Limited {
    Over,
    Io(std::io::Error),
}

fn read_limited(r: impl Read, out: &mut Vec<u8>, limit: u64) -> Result<(), Limited> {
    let mut take = r.take(limit + 1);
    take.read_to_end(out).map_err(Limited::Io)?;
    if out.len() as u64 > limit {
        return Err(Limited::Over);
    }
    Ok(())
}

/// The encoding a configured label names (`auto` aside): any WHATWG label
/// (`utf-8`, `windows-1252`, `latin1`, `utf-16le`, ...), and `latin-1`,
/// read as Windows-1252 like the WHATWG's `latin1` (a superset: the bytes
/// 0x80-0x9F are printable there, control codes in Latin-1). Configuration
/// checks and decoding both ask here, so a label one takes the other does.
pub fn encoding_for_label(label: &str) -> Option<&'static Encoding> {
    if label.trim().eq_ignore_ascii_case("latin-1") {
        return Some(WINDOWS_1252);
    }
    Encoding::for_label(label.as_bytes())
}

/// Decode text per the configured encoding label (`auto`: BOM, else UTF-8).
/// Returns the text (BOM removed) and the encoding's name.
pub fn decode_text<'a>(bytes: &'a [u8], label: &str) -> Result<(Cow<'a, str>, &'static str), FileError> {
    let (bom_enc, bom_len) = match Encoding::for_bom(bytes) {
        Some((e, n)) => (Some(e), n),
        None => (None, 0),
    };
    let encoding: &'static Encoding = match (label, bom_enc) {
        // A byte-order mark says what the file is, whatever the feed was
        // set to: no Windows-1252 or Latin-1 text starts with "ï»¿" or "ÿþ",
        // and reading a UTF-8 file as 1252 would garble every accented name
        // without an error.
        (_, Some(e)) => e,
        ("auto", None) => UTF_8,
        (l, _) if l.eq_ignore_ascii_case("utf-16") => {
            return Err(FileError::new(
                "utf16_without_bom",
                "encoding is utf-16 but the file has no byte-order mark; use utf-16le or utf-16be",
            ));
        }
        (l, _) => encoding_for_label(l).ok_or_else(|| {
            FileError::new("unknown_encoding", format!("encoding `{l}` is not known"))
        })?,
    };
    let body = &bytes[bom_len.min(bytes.len())..];
    if encoding != UTF_16LE && encoding != UTF_16BE {
        check_not_binary(body)?;
    }
    if encoding == UTF_8 {
        return match std::str::from_utf8(body) {
            Ok(s) => Ok((Cow::Borrowed(s), "UTF-8")),
            Err(e) => {
                let at = e.valid_up_to();
                let line = 1 + body[..at].iter().filter(|b| **b == b'\n').count();
                Err(FileError::new(
                    "bad_encoding",
                    format!(
                        "invalid UTF-8 at byte {at} (line {line}); if the partner exports \
                         Windows-1252, set format.encoding = \"windows-1252\""
                    ),
                ))
            }
        };
    }
    let (text, had_errors) = encoding.decode_without_bom_handling(body);
    if had_errors {
        let pos = text.find('\u{FFFD}').unwrap_or(0);
        let line = 1 + text[..pos].matches('\n').count();
        return Err(FileError::new(
            "bad_encoding",
            format!("bytes that are not valid {} near line {line}", encoding.name()),
        ));
    }
    if encoding == UTF_16LE || encoding == UTF_16BE {
        check_not_binary(text.as_bytes())?;
    }
    Ok((Cow::Owned(text.into_owned()), encoding.name()))
}

/// Refuse content that is not text: NUL bytes or many control characters in
/// the first 64 KiB.
fn check_not_binary(body: &[u8]) -> Result<(), FileError> {
    let head = &body[..body.len().min(64 * 1024)];
    if let Some(at) = head.iter().position(|b| *b == 0) {
        return Err(FileError::new(
            "binary_content",
            format!("file is not text: NUL byte at offset {at} (binary file, or UTF-16 without a byte-order mark)"),
        ));
    }
    let controls = head
        .iter()
        .filter(|b| **b < 0x20 && !matches!(**b, b'\n' | b'\r' | b'\t' | 0x0c))
        .count();
    if head.len() >= 64 && controls * 20 > head.len() {
        return Err(FileError::new(
            "binary_content",
            format!("file is not text: {controls} control bytes in the first {} bytes", head.len()),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_zipped_csv_is_opened_and_read_as_csv() {
        use std::io::Write;
        let mut archive = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        archive.start_file("students.csv", zip::write::SimpleFileOptions::default()).unwrap();
        archive.write_all(b"id,name\n1,Zoe\n").unwrap();
        let bytes = archive.finish().unwrap().into_inner();
        let data = decompress(&bytes, "s3://bucket/students.CSV.ZIP", "auto", 1 << 20).unwrap();
        assert_eq!(&data[..], b"id,name\n1,Zoe\n");
        assert_eq!(uncompressed_name("s3://bucket/students.CSV.ZIP"), "s3://bucket/students.CSV");
        assert_eq!(uncompressed_name("a.tsv.gz"), "a.tsv");
        assert_eq!(uncompressed_name("a.csv"), "a.csv");
        let cfg = super::super::FormatConfig::default();
        assert_eq!(cfg.resolve_type("s3://bucket/students.CSV.ZIP"), Some(super::super::FormatType::Csv));
        assert_eq!(cfg.resolve_type("wages.psv.gz"), Some(super::super::FormatType::Csv));
        assert_eq!(cfg.resolve_type("archive.zip"), None);
    }

    #[test]
    fn every_label_decoding_takes_passes_the_configuration_check_and_no_other() {
        // `latin-1` was documented and decoded, but the configuration check
        // asked encoding_rs alone, which does not know it: a feed set to it
        // was refused at load.
        let text = b"name\nJos\xe9\n";
        for label in ["latin-1", "Latin-1", "latin1", "iso-8859-1", "windows-1252", "cp1252", "utf-8", "UTF-8", "utf-16le"] {
            let cfg = crate::parse::FormatConfig { encoding: label.into(), ..Default::default() };
            assert_eq!(cfg.validate("*.csv"), Ok(()), "{label}");
            assert!(encoding_for_label(label).is_some(), "{label}");
        }
        for label in ["latin-1", "latin1", "iso-8859-1", "windows-1252"] {
            assert_eq!(decode_text(text, label).unwrap().0, "name\nJos\u{e9}\n", "{label}");
        }
        for label in ["klingon", "latin-2x", ""] {
            let cfg = crate::parse::FormatConfig { encoding: label.into(), ..Default::default() };
            let e = cfg.validate("*.csv").unwrap_err();
            assert!(e.contains("is not a known encoding"), "{label}: {e}");
            assert_eq!(decode_text(text, label).unwrap_err().code, "unknown_encoding", "{label}");
        }
    }

    #[test]
    fn latin_1_label_decodes() {
        let (t, _) = decode_text(b"name\nJos\xe9\n", "latin-1").unwrap();
        assert_eq!(t, "name\nJos\u{e9}\n");
    }

    #[test]
    fn windows_1252_decodes() {
        let bytes = b"name\nGarc\xeda\n";
        let (t, enc) = decode_text(bytes, "windows-1252").unwrap();
        assert_eq!(t, "name\nGarc\u{ed}a\n");
        assert_eq!(enc, "windows-1252");
    }

    #[test]
    fn utf8_error_names_the_line_and_suggests_1252() {
        let bytes = b"a\nb\nGarc\xeda\n";
        let e = decode_text(bytes, "auto").unwrap_err();
        assert_eq!(e.code, "bad_encoding");
        assert!(e.message.contains("line 3"), "{}", e.message);
        assert!(!e.message.contains("Garc"));
    }

    #[test]
    fn utf16_with_bom_decodes() {
        let s = "id,name\n1,Zoë\n";
        let mut bytes = vec![0xff, 0xfe];
        for u in s.encode_utf16() {
            bytes.extend_from_slice(&u.to_le_bytes());
        }
        let (t, _) = decode_text(&bytes, "auto").unwrap();
        assert_eq!(t, s);
    }

    #[test]
    fn utf8_bom_is_stripped() {
        let (t, _) = decode_text(b"\xef\xbb\xbfid\n1\n", "auto").unwrap();
        assert_eq!(t, "id\n1\n");
    }

    #[test]
    fn a_byte_order_mark_wins_over_the_configured_encoding() {
        let (t, name) = decode_text("\u{feff}id,name\n1,José Muñoz\n".as_bytes(), "windows-1252").unwrap();
        assert_eq!((t.as_ref(), name), ("id,name\n1,José Muñoz\n", "UTF-8"));
        let mut bytes = vec![0xff, 0xfe];
        for u in "id\n1,Zoë\n".encode_utf16() {
            bytes.extend_from_slice(&u.to_le_bytes());
        }
        assert_eq!(decode_text(&bytes, "latin-1").unwrap().0, "id\n1,Zoë\n");
        // Without a mark the configured encoding is used.
        assert_eq!(decode_text(b"id\n1,Jos\xe9\n", "windows-1252").unwrap().0, "id\n1,José\n");
    }

    #[test]
    fn binary_is_refused() {
        let bytes: Vec<u8> = (0..255u8).cycle().take(4096).collect();
        assert_eq!(decode_text(&bytes, "auto").unwrap_err().code, "binary_content");
    }

    #[test]
    fn unknown_label_is_refused() {
        assert_eq!(decode_text(b"a", "klingon-8").unwrap_err().code, "unknown_encoding");
    }

    #[test]
    fn gzip_over_limit_is_refused() {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(&vec![b'a'; 100_000]).unwrap();
        let gz = enc.finish().unwrap();
        let e = decompress(&gz, "x.csv.gz", "auto", 1000).unwrap_err();
        assert_eq!(e.code, "decompressed_too_large");
        assert_eq!(decompress(&gz, "x.csv.gz", "auto", 1_000_000).unwrap().len(), 100_000);
    }

    #[test]
    fn truncated_gzip_is_refused() {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(&vec![b'a'; 100_000]).unwrap();
        let gz = enc.finish().unwrap();
        let e = decompress(&gz[..gz.len() / 2], "x.csv.gz", "auto", 1_000_000).unwrap_err();
        assert_eq!(e.code, "truncated");
        // Data that is not gzip past its header is corrupt, not cut off.
        let mut bad = gz.clone();
        for b in &mut bad[10..] {
            *b = 0xff;
        }
        assert_eq!(decompress(&bad, "x.csv.gz", "auto", 1_000_000).unwrap_err().code, "bad_gzip");
    }

    #[test]
    fn a_zip_without_its_closing_directory_is_cut_off() {
        use std::io::Write;
        let mut z = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        z.start_file("a.csv", zip::write::SimpleFileOptions::default()).unwrap();
        z.write_all(b"a,b\n1,2\n").unwrap();
        let whole = z.finish().unwrap().into_inner();
        assert!(zip_cut_off(&whole, "zip archive").is_none());
        assert_eq!(decompress(&whole, "x.zip", "auto", 1000).unwrap().as_ref(), b"a,b\n1,2\n");
        for cut in [whole.len() - 1, whole.len() / 2, 10] {
            let e = decompress(&whole[..cut], "x.zip", "auto", 1000).unwrap_err();
            assert_eq!(e.code, "truncated", "cut at {cut}: {}", e.message);
            assert!(e.message.contains(&format!("after {cut} bytes")), "{}", e.message);
        }
        // Not a zip at all: not this function's business.
        assert!(zip_cut_off(b"ID,Name\n", "zip archive").is_none());
    }
}
