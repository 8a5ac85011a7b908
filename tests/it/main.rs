//! Integration tests: the `braid` binary on real files.
mod common;
mod e2e;
mod canary;
mod fuzz;
mod accounting;
mod privacy;
mod warehouse;
