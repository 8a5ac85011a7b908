//! The `braid` command. All logic lives in the library; see `braid::cli`.

// Ingest and linkage allocate many small strings and vectors on several
// threads; mimalloc handles that pattern much better than the system
// allocator (see BENCHMARKS.md, "Ingest").
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    allocators::keep_freed_memory();
    std::process::exit(braid::cli::main());
}

/// A `braid` process is one run (the scheduler starts a new process each
/// night), so memory it frees is better kept for its next use than handed
/// back to the kernel: every page handed back and taken again is a page
/// fault, and the kernel zeroes the page (a whole 2 MiB page where
/// transparent huge pages are on). On the ingest benchmark these faults
/// were about a sixth of the CPU time (BENCHMARKS.md, "Ingest"). Peak
/// memory is unchanged; only what is freed stays with the process until
/// it exits.
mod allocators {
    use std::ffi::{c_int, c_long};

    /// `mi_option_purge_delay` in mimalloc.h (the same position in
    /// mimalloc 2 and 3): how long freed memory waits before it is returned
    /// to the kernel; -1 keeps it.
    pub(crate) const MI_OPTION_PURGE_DELAY: c_int = 15;

    unsafe extern "C" {
        #[cfg_attr(not(test), allow(dead_code))]
        pub(crate) fn mi_option_get(option: c_int) -> c_long;
        fn mi_option_set(option: c_int, value: c_long);
    }

    pub fn keep_freed_memory() {
        // SAFETY: mimalloc's option setters may be called at any time.
        unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
        // C libraries (zstd inside the Parquet writer, SQLite) use the C
        // allocator. glibc gives each allocation over its mmap threshold
        // fresh pages and trims the heap's top after frees; the Parquet
        // writer makes a zstd context of about a megabyte for every column
        // of every row group, so each was a new set of zeroed pages.
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        // SAFETY: mallopt only changes glibc's tuning parameters.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 64 << 20);
            libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::allocators::*;

    #[test]
    fn the_purge_delay_option_is_the_one_mimalloc_documents() {
        // mimalloc's default purge delay is 10 ms in version 2 and 1000 ms
        // in version 3 (src/options.c): reading one of them at our index says
        // the index names that option in the linked version.
        // SAFETY: reading an option has no preconditions.
        let before = unsafe { mi_option_get(MI_OPTION_PURGE_DELAY) };
        assert!(matches!(before, 10 | 1000), "mimalloc's option numbering changed ({before}); update MI_OPTION_PURGE_DELAY");
        keep_freed_memory();
        assert_eq!(unsafe { mi_option_get(MI_OPTION_PURGE_DELAY) }, -1);
    }
}
