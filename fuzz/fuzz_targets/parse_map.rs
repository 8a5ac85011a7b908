//! Partner files through parse, map and protect: the first two bytes choose
//! the format and options, the rest is the file (see `braid::fuzz`). The
//! harness panics when a promise breaks: a panic in a reader, rows read !=
//! loaded + quarantined, or a quarantine detail that quotes a cell.
#![no_main]

libfuzzer_sys::fuzz_target!(|input: &[u8]| {
    braid::fuzz::one_file(input);
});
