//! The `braid` command. All logic lives in the library; see `braid::cli`.

fn main() {
    std::process::exit(braid::cli::main());
}
