//! One error type for braid. Every variant says what the user has to fix, and
//! none of them ever carries a raw identifier: messages name files, lines,
//! columns and reasons, never cell values of identifier fields.

use std::path::PathBuf;

/// Result alias used across the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Process exit codes. Documented in README.md ("Exit codes"); keep in sync.
pub mod exit {
    /// Everything worked.
    pub const OK: i32 = 0;
    /// An unexpected internal failure (a bug, or the disk went away).
    pub const INTERNAL: i32 = 1;
    /// Bad command-line usage (clap's own code); in `braid sql`, a statement
    /// that is refused or cannot run, or an `--output` braid keeps for itself.
    pub const USAGE: i32 = 2;
    /// The configuration or the secret is missing or invalid.
    pub const CONFIG: i32 = 3;
    /// Input could not be read at all (a source unreachable, a bad SQL file).
    pub const INPUT: i32 = 4;
    /// The run completed, but at least one file was rejected whole.
    pub const REJECTED_INPUT: i32 = 5;
    /// Publication refused: it would exceed a privacy-budget cap.
    pub const BUDGET_REFUSED: i32 = 6;
    /// The warehouse or state store could not be read or written.
    pub const STORAGE: i32 = 7;
    /// Another braid command that changes the warehouse is running; this
    /// one changed nothing.
    pub const BUSY: i32 = 8;
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("config {file}: {message}")]
    Config { file: String, message: String },

    #[error("secret: {0}")]
    Secret(String),

    #[error("source {url}: {message}")]
    Source { url: String, message: String },

    #[error("input {file}: {message}")]
    Input { file: String, message: String },

    #[error("SQL {file}: {message}")]
    Sql { file: String, message: String },

    #[error(
        "privacy budget refused: the {cap} cap would be exceeded by rho {over_by:.6} \
         (spent {spent:.6}, this release {requested:.6}, cap {limit:.6}); nothing new was published"
    )]
    Budget {
        cap: String,
        spent: f64,
        requested: f64,
        limit: f64,
        over_by: f64,
    },

    #[error("privacy: {0}")]
    Privacy(String),

    #[error("warehouse {path}: {message}")]
    Storage { path: String, message: String },

    #[error("state database {path}: {message}")]
    State { path: PathBuf, message: String },

    #[error("busy: {0}")]
    Busy(String),

    #[error("{0}")]
    Usage(String),

    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// The documented exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Config { .. } | Error::Secret(_) => exit::CONFIG,
            Error::Source { .. } | Error::Input { .. } | Error::Sql { .. } => exit::INPUT,
            Error::Budget { .. } => exit::BUDGET_REFUSED,
            Error::Storage { .. } | Error::State { .. } => exit::STORAGE,
            Error::Usage(_) => exit::USAGE,
            Error::Busy(_) => exit::BUSY,
            Error::Privacy(_) | Error::Internal(_) => exit::INTERNAL,
        }
    }

    pub fn config(file: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Config { file: file.into(), message: message.into() }
    }

    pub fn storage(path: impl std::fmt::Display, message: impl std::fmt::Display) -> Self {
        Error::Storage { path: path.to_string(), message: message.to_string() }
    }

    pub fn internal(message: impl std::fmt::Display) -> Self {
        Error::Internal(message.to_string())
    }
}

impl From<datafusion::error::DataFusionError> for Error {
    fn from(e: datafusion::error::DataFusionError) -> Self {
        Error::Internal(format!("query engine: {e}"))
    }
}

impl From<datafusion::arrow::error::ArrowError> for Error {
    fn from(e: datafusion::arrow::error::ArrowError) -> Self {
        Error::Internal(format!("arrow: {e}"))
    }
}

impl From<datafusion::parquet::errors::ParquetError> for Error {
    fn from(e: datafusion::parquet::errors::ParquetError) -> Self {
        Error::Internal(format!("parquet: {e}"))
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Internal(format!("I/O: {e}"))
    }
}
