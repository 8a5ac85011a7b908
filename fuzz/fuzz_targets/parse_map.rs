//! Partner files through parse, map and protect: the first two bytes choose
//! the format and options, the rest is the file (see `braid::fuzz`). The
//! harness panics when a promise breaks: a panic in braid, rows read !=
//! loaded + quarantined, or a quarantine detail that quotes a cell.
#![no_main]

libfuzzer_sys::fuzz_target!(
    init: {
        // libFuzzer's hook aborts on every panic, even one that is caught. A
        // reader library giving up on a corrupt file inside
        // `braid::parse::guarded` is caught and becomes the file's rejection,
        // as in `braid pull`: only other panics are crashes.
        let abort = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !braid::parse::in_guarded_reader() {
                abort(info);
            }
        }));
    },
    |input: &[u8]| {
        braid::fuzz::one_file(input);
    }
);
