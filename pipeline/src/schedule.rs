//! `braid schedule`: run the nightly job on the configured cron schedule.
//!
//! Each run is a child process (`braid run`), so a failure or a crash in one
//! night never takes the scheduler down, and the next night starts clean.

use std::str::FromStr;

use serde::Deserialize;

use crate::error::{Error, Result};

/// `[schedule]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    /// Cron expression in local time (minute hour day month weekday).
    /// Default `0 2 * * *`: 02:00 every night.
    #[serde(default = "d_cron")]
    pub cron: String,
}

fn d_cron() -> String {
    "0 2 * * *".into()
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        ScheduleConfig { cron: d_cron() }
    }
}

impl ScheduleConfig {
    pub fn validate(&self) -> std::result::Result<(), String> {
        croner::Cron::from_str(&self.cron).map(|_| ()).map_err(|e| format!("schedule.cron `{}`: {e}", self.cron))
    }

    /// The next `n` run times after now.
    pub fn next(&self, n: usize) -> Result<Vec<chrono::DateTime<chrono::Local>>> {
        let cron = croner::Cron::from_str(&self.cron).map_err(|e| Error::config("schedule.cron", e.to_string()))?;
        let mut out = Vec::with_capacity(n);
        let mut t = chrono::Local::now();
        for _ in 0..n {
            t = cron.find_next_occurrence(&t, false).map_err(|e| Error::config("schedule.cron", e.to_string()))?;
            out.push(t);
        }
        Ok(out)
    }
}

/// Run forever: sleep until the next occurrence, run `braid run` as a child
/// process with the same configuration, log the outcome.
pub fn serve(cfg: &ScheduleConfig, config_path: Option<&std::path::Path>) -> Result<()> {
    let exe = std::env::current_exe()?;
    loop {
        let next = cfg.next(1)?[0];
        tracing::info!(next = %next.to_rfc3339(), "next nightly run");
        let wait = (next - chrono::Local::now()).to_std().unwrap_or_default();
        std::thread::sleep(wait);
        let mut cmd = std::process::Command::new(&exe);
        if let Some(p) = config_path {
            cmd.arg("--config").arg(p);
        }
        cmd.arg("run");
        match cmd.status() {
            Ok(s) => tracing::info!(code = s.code().unwrap_or(-1), "nightly run finished"),
            Err(e) => tracing::error!("could not start the nightly run: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_nightly_and_bad_cron_is_refused() {
        let c = ScheduleConfig::default();
        c.validate().unwrap();
        let next = c.next(2).unwrap();
        assert!(next[1] > next[0]);
        assert!((23..=25).contains(&(next[1] - next[0]).num_hours()), "daily, DST aside");
        assert!(ScheduleConfig { cron: "61 * * * *".into() }.validate().is_err());
    }
}
