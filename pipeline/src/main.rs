//! The `braid` command. All logic lives in the library; see `braid::cli`.

// Ingest and linkage allocate many small strings and vectors on several
// threads; mimalloc handles that pattern much better than the system
// allocator (see BENCHMARKS.md, "Ingest"). The ingest stage also tunes it
// (`braid::memory`).
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    std::process::exit(braid::cli::main());
}
