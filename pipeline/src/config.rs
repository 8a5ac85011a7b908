//! The consortium configuration (TOML).
//!
//! Each stage owns the part of the configuration it reads, next to its code:
//! [`crate::pull::PartnerConfig`], [`crate::parse::FormatConfig`],
//! [`crate::map::MappingConfig`], [`crate::link::LinkConfig`],
//! [`crate::load::WarehouseConfig`], [`crate::publish::PublishConfig`] and
//! [`crate::publish::PrivacyConfig`]. This module only composes them, loads
//! the file and validates the whole.
//!
//! Every struct denies unknown keys, so a typo is an error that names the key
//! and the file. The hashing secret is never part of the configuration.
//!
//! Relative paths in the configuration are resolved against the directory
//! braid runs in (the project root for `make run`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};

/// The configuration shipped with braid and used when `--config` is not given.
pub const DEMO_CONFIG: &str = include_str!("../../config/demo.toml");
/// Name under which the embedded demo configuration reports itself.
pub const DEMO_CONFIG_NAME: &str = "config/demo.toml (embedded)";

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Consortium name, shown on the published report.
    pub consortium: String,
    /// Where the key file lives (the key itself never does).
    #[serde(default)]
    pub secret: crate::secret::SecretConfig,
    /// Size limits that protect the nightly job from runaway input.
    #[serde(default)]
    pub ingest: crate::ingest::IngestConfig,
    /// Record linkage thresholds and blocking.
    #[serde(default)]
    pub linkage: crate::link::LinkConfig,
    /// The Parquet warehouse and the state database.
    pub warehouse: crate::load::WarehouseConfig,
    /// Reference tables (NRS cut scores, name variants).
    #[serde(default)]
    pub reference: crate::model::ReferenceConfig,
    /// Which SQL files compute the metrics.
    #[serde(default)]
    pub metrics: crate::metrics::MetricsConfig,
    /// Where releases are written and how cells are suppressed.
    pub publish: crate::publish::PublishConfig,
    /// Differential-privacy budget and mechanism.
    pub privacy: crate::publish::PrivacyConfig,
    /// Public lists of group keys (counties, programs, quarters, ...).
    #[serde(default)]
    pub dimensions: BTreeMap<String, crate::publish::DimensionValues>,
    /// When `braid schedule` runs the nightly job.
    #[serde(default)]
    pub schedule: crate::schedule::ScheduleConfig,
    /// The partners and their extracts.
    #[serde(rename = "partner", default)]
    pub partners: Vec<crate::pull::PartnerConfig>,

    /// Where this configuration came from (a path, or the embedded demo).
    #[serde(skip)]
    pub origin: String,
}

impl Config {
    /// Load the configuration at `path`, or the embedded demo if `None`.
    pub fn load(path: Option<&Path>) -> Result<Config> {
        let (text, origin) = match path {
            Some(p) => {
                let text = std::fs::read_to_string(p).map_err(|e| {
                    Error::config(p.display().to_string(), format!("cannot read: {e}"))
                })?;
                (text, p.display().to_string())
            }
            None => (DEMO_CONFIG.to_string(), DEMO_CONFIG_NAME.to_string()),
        };
        Self::parse(&text, &origin)
    }

    /// Parse and validate configuration text. `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Config> {
        let mut cfg: Config = toml::from_str(text).map_err(|e| {
            // toml's message already carries line, column and the offending key.
            Error::config(origin, e.to_string().trim_end().to_string())
        })?;
        cfg.origin = origin.to_string();
        cfg.validate()?;
        Ok(cfg)
    }

    /// Cross-field checks that serde cannot express.
    pub fn validate(&self) -> Result<()> {
        let err = |m: String| Error::config(&self.origin, m);
        if self.consortium.trim().is_empty() {
            return Err(err("`consortium` must not be empty".into()));
        }
        if self.partners.is_empty() {
            return Err(err("at least one [[partner]] is required".into()));
        }
        let mut seen = std::collections::BTreeSet::new();
        for p in &self.partners {
            p.validate().map_err(err)?;
            if !seen.insert(p.id.as_str()) {
                return Err(err(format!("partner id `{}` appears twice", p.id)));
            }
        }
        self.privacy.validate().map_err(err)?;
        self.metrics.validate().map_err(err)?;
        self.publish.validate().map_err(err)?;
        self.linkage.validate().map_err(err)?;
        self.schedule.validate().map_err(err)?;
        for (name, values) in &self.dimensions {
            values.expand().map_err(|m| err(format!("[dimensions] {name}: {m}")))?;
        }
        Ok(())
    }

    pub fn partner(&self, id: &str) -> Option<&crate::pull::PartnerConfig> {
        self.partners.iter().find(|p| p.id == id)
    }

    /// Whether the configuration has this feed of this partner.
    pub fn has_feed(&self, partner: &str, feed: &str) -> bool {
        self.partner(partner).is_some_and(|p| p.feeds.iter().any(|f| f.name == feed))
    }

    /// The partners' ids, in configuration order (what an error that
    /// refuses an unknown partner lists instead of repeating the text).
    pub fn partner_ids(&self) -> Vec<&str> {
        self.partners.iter().map(|p| p.id.as_str()).collect()
    }

    /// The public list of values for a dimension. `partner` is always the
    /// configured partner ids.
    pub fn dimension(&self, name: &str) -> Option<Vec<String>> {
        if name == "partner" {
            return Some(self.partners.iter().map(|p| p.id.clone()).collect());
        }
        self.dimensions.get(name).and_then(|v| v.expand().ok())
    }

    /// Directory of the state database (ingest ledger, runs, privacy budget).
    pub fn state_dir(&self) -> PathBuf {
        self.warehouse.state_dir()
    }

    /// Path of the key file named in the configuration, if any.
    pub fn is_demo(&self) -> bool {
        self.origin == DEMO_CONFIG_NAME || self.origin.ends_with("demo.toml")
    }
}

/// Resolve a configured path: absolute as is, relative against the current
/// directory.
pub fn resolve(path: &str) -> PathBuf {
    let p = PathBuf::from(path);
    if p.is_absolute() {
        p
    } else {
        std::env::current_dir().map(|d| d.join(&p)).unwrap_or(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_demo_config_is_valid() {
        let cfg = Config::load(None).expect("demo config parses");
        assert_eq!(cfg.partners.len(), 5);
        assert!(cfg.dimension("partner").unwrap().contains(&"adult_school".to_string()));
    }

    #[test]
    fn unknown_key_is_named_with_the_file() {
        let text = DEMO_CONFIG.replace("consortium =", "consortum_typo = \"x\"\nconsortium =");
        let e = Config::parse(&text, "consortium.toml").unwrap_err().to_string();
        assert!(e.contains("consortium.toml"), "{e}");
        assert!(e.contains("consortum_typo"), "{e}");
    }

    #[test]
    fn unknown_key_inside_a_partner_feed_is_named() {
        let text = DEMO_CONFIG.replacen("glob =", "globb = \"*\"\nglob =", 1);
        let e = Config::parse(&text, "x.toml").unwrap_err().to_string();
        assert!(e.contains("globb"), "{e}");
        assert!(e.contains("x.toml"), "{e}");
    }

    #[test]
    fn a_quote_that_is_the_delimiter_is_refused() {
        let with = |lines: &str| DEMO_CONFIG.replacen("type = \"csv\"\n", &format!("type = \"csv\"\n{lines}\n"), 1);
        let e = Config::parse(&with("delimiter = \"'\"\nquote = \"'\""), "x.toml").unwrap_err().to_string();
        assert!(e.contains("format.quote and format.delimiter must be different"), "{e}");
        let e = Config::parse(&with("delimiter = '\"'"), "x.toml").unwrap_err().to_string();
        assert!(e.contains("format.quote and format.delimiter must be different"), "{e}");
        let e = Config::parse(&with("delimiter = \"|\"\nescape = \"|\""), "x.toml").unwrap_err().to_string();
        assert!(e.contains("format.escape and format.delimiter must be different"), "{e}");
        Config::parse(&with("delimiter = \";\"\nquote = \"'\"\nescape = \"\\\\\""), "x.toml").expect("distinct characters are fine");
        // A .psv feed's delimiter is the pipe, configured or not.
        let psv = DEMO_CONFIG.replacen("glob = \"students_*.csv\"", "glob = \"students_*.psv\"", 1);
        let e = Config::parse(&psv.replacen("type = \"csv\"\n", "type = \"csv\"\nquote = \"|\"\n", 1), "x.toml").unwrap_err().to_string();
        assert!(e.contains("format.quote and format.delimiter must be different"), "{e}");
    }

    #[test]
    fn duplicate_partner_ids_are_refused() {
        let mut cfg = Config::load(None).unwrap();
        let p = cfg.partners[0].clone();
        cfg.partners.push(p);
        let e = cfg.validate().unwrap_err().to_string();
        assert!(e.contains("appears twice"), "{e}");
    }
}
