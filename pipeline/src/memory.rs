//! Allocator settings for the ingest stage.
//!
//! Ingest allocates and frees a great deal on several threads. By default
//! freed memory goes back to the kernel soon, and every page handed back and
//! taken again is a page fault in which the kernel zeroes the page (a whole
//! 2 MiB page where transparent huge pages are on). On the ingest benchmark
//! that was about a sixth of the CPU time. While a [`KeepFreed`] lives,
//! freed memory stays with the process for its next allocation instead:
//! mimalloc's purge delay is -1, and glibc's mmap and trim thresholds are
//! raised for the C code in the process (zstd inside the Parquet writer
//! creates a context of about a megabyte for every column of every row
//! group). When it is dropped the defaults come back and the kept memory is
//! returned, so the later stages (linkage, with its own memory goal) run as
//! before (docs/decisions.md, decision 26).
//!
//! The mimalloc functions are called whichever allocator is the global one:
//! in the `braid` binary it is mimalloc; in tests they only tune an
//! allocator nobody uses.

use std::ffi::{c_int, c_long};

// Links mimalloc's C library into every program that uses this crate.
use mimalloc as _;

/// `mi_option_purge_delay` in mimalloc.h (the same position in mimalloc 2
/// and 3): how long freed memory waits before it is returned to the kernel,
/// in milliseconds; -1 keeps it.
const MI_OPTION_PURGE_DELAY: c_int = 15;

unsafe extern "C" {
    fn mi_option_get(option: c_int) -> c_long;
    fn mi_option_set(option: c_int, value: c_long);
    fn mi_collect(force: bool);
}

/// glibc's defaults for the two thresholds (malloc/malloc.c).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const GLIBC_DEFAULT_THRESHOLD: c_int = 128 * 1024;

/// Keeps freed memory in the process while it lives (see the module).
pub struct KeepFreed {
    purge_delay: c_long,
}

impl KeepFreed {
    pub fn start() -> KeepFreed {
        // SAFETY: mimalloc's options may be read and set at any time.
        let purge_delay = unsafe { mi_option_get(MI_OPTION_PURGE_DELAY) };
        unsafe { mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        // SAFETY: mallopt only changes glibc's tuning parameters.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, 64 << 20);
            libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
        }
        KeepFreed { purge_delay }
    }
}

impl Drop for KeepFreed {
    fn drop(&mut self) {
        // SAFETY: as above; mi_collect and malloc_trim only return free
        // memory to the kernel.
        unsafe {
            mi_option_set(MI_OPTION_PURGE_DELAY, self.purge_delay);
            mi_collect(true);
        }
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, GLIBC_DEFAULT_THRESHOLD);
            libc::mallopt(libc::M_TRIM_THRESHOLD, GLIBC_DEFAULT_THRESHOLD);
            libc::malloc_trim(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_purge_delay_is_kept_while_ingesting_and_restored_after() {
        // mimalloc's default purge delay is 10 ms in version 2 and 1000 ms in
        // version 3 (src/options.c): reading one of them at our index says
        // the index names that option in the linked version.
        // SAFETY: reading an option has no preconditions.
        let before = unsafe { mi_option_get(MI_OPTION_PURGE_DELAY) };
        assert!(matches!(before, 10 | 1000), "mimalloc's option numbering changed ({before}); update MI_OPTION_PURGE_DELAY");
        {
            let _keep = KeepFreed::start();
            assert_eq!(unsafe { mi_option_get(MI_OPTION_PURGE_DELAY) }, -1);
        }
        assert_eq!(unsafe { mi_option_get(MI_OPTION_PURGE_DELAY) }, before);
    }
}
