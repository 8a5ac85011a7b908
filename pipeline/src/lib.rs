//! braid: the nightly job of a regional consortium of immigrant-serving and
//! workforce organizations.
//!
//! The modules follow the data flow of one nightly run:
//!
//! ```text
//! pull -> parse -> map -> protect -> link -> load -> metrics -> publish
//! ```
//!
//! * [`pull`] lists partner sources (any `object_store` URL), fetches new or
//!   changed files and records them in the ingest [`ledger`].
//! * [`parse`] turns CSV/TSV, Excel, NDJSON and Parquet into rows of text.
//! * [`map`] renames partner columns to the common schema, parses dates and
//!   codes and validates rows; rejected rows go to quarantine.
//! * [`protect`] normalizes identifiers and replaces them by keyed BLAKE3
//!   tokens and Bloom-filter encodings. Raw identifiers end here.
//! * [`link`] blocks, scores and clusters records into pseudonymous persons.
//! * [`load`] writes the warehouse (Delta Lake tables) as one commit per run.
//! * [`metrics`] runs `sql/` through DataFusion.
//! * [`publish`] bounds each person's contribution, adds OpenDP noise under a
//!   persistent budget and writes the release.
//!
//! [`run`] wires the stages together; the `braid` binary is a thin layer over
//! [`cli`]. [`memory`] keeps freed memory in the process while ingest runs.

pub mod cli;
pub mod config;
pub mod demo;
pub mod error;
pub mod forget;
pub mod fuzz;
pub mod ingest;
pub mod ledger;
pub mod link;
pub mod load;
pub mod map;
pub mod memory;
pub mod metrics;
pub mod model;
pub mod parse;
pub mod protect;
pub mod publish;
pub mod reference;
pub mod pull;
pub mod run;
pub mod schedule;
pub mod secret;
pub mod sql;
pub mod status;
pub mod warehouse;

pub use config::Config;
pub use error::{Error, Result};

/// Version of this build, recorded with every release and ledger entry.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
