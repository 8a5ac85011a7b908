//! `braid schedule`: run the nightly job on the configured cron schedule.
//!
//! Each run is a child process (`braid run`), so a failure or a crash in one
//! night never takes the scheduler down, and the next night starts clean.
//! A run that is still going when its time is up (`max_minutes`; by default
//! a minute before the next run is due, and at least six hours) is stopped,
//! so that one stuck night (a source that never answers, a bug) cannot
//! silently take every later night with it. Stopping is safe at any point:
//! staging files and warehouse commits are written whole or not at all, and
//! the lock is released with the process (docs/decisions.md, decision 40).

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
    /// Longest a run may take, in minutes, before it is stopped. Default:
    /// until a minute before the next run is due, and at least six hours.
    #[serde(default)]
    pub max_minutes: Option<u64>,
}

fn d_cron() -> String {
    "0 2 * * *".into()
}

impl Default for ScheduleConfig {
    fn default() -> Self {
        ScheduleConfig { cron: d_cron(), max_minutes: None }
    }
}

impl ScheduleConfig {
    pub fn validate(&self) -> std::result::Result<(), String> {
        if self.max_minutes == Some(0) {
            return Err("schedule.max_minutes must be at least 1".into());
        }
        croner::Cron::from_str(&self.cron).map(|_| ()).map_err(|e| format!("schedule.cron `{}`: {e}", self.cron))
    }

    /// The first run time after `t`.
    pub fn after(&self, t: chrono::DateTime<chrono::Local>) -> Result<chrono::DateTime<chrono::Local>> {
        let cron = croner::Cron::from_str(&self.cron).map_err(|e| Error::config("schedule.cron", e.to_string()))?;
        cron.find_next_occurrence(&t, false).map_err(|e| Error::config("schedule.cron", e.to_string()))
    }

    /// How long the run due at `due`, started at `start`, may take:
    /// `max_minutes`, or until a minute before the run after it is due (so
    /// that one starts on time), but at least six hours (so that a schedule
    /// of every hour or so still lets a long first run finish; the runs
    /// due meanwhile are skipped, as they always were).
    pub fn limit(&self, due: chrono::DateTime<chrono::Local>, start: chrono::DateTime<chrono::Local>) -> Result<std::time::Duration> {
        if let Some(m) = self.max_minutes {
            return Ok(std::time::Duration::from_secs(m * 60));
        }
        let following = self.after(due)?;
        let until = (following - start).to_std().unwrap_or_default().saturating_sub(BEFORE_NEXT);
        Ok(until.max(MIN_DEFAULT_LIMIT))
    }

    /// The next `n` run times after now.
    pub fn next(&self, n: usize) -> Result<Vec<chrono::DateTime<chrono::Local>>> {
        let mut out = Vec::with_capacity(n);
        let mut t = chrono::Local::now();
        for _ in 0..n {
            t = self.after(t)?;
            out.push(t);
        }
        Ok(out)
    }
}

/// A run stopped at its default limit ends this long before the next run
/// is due.
const BEFORE_NEXT: std::time::Duration = std::time::Duration::from_secs(60);
/// The shortest default limit.
const MIN_DEFAULT_LIMIT: std::time::Duration = std::time::Duration::from_secs(6 * 3600);

/// How a supervised run ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// It exited with this code (`None`: ended by a signal).
    Exited(Option<i32>),
    /// It ran past its limit and was stopped.
    Stopped,
}

/// Run `cmd` and wait for it, for at most `limit`; past it, kill it.
pub fn supervise(cmd: &mut std::process::Command, limit: std::time::Duration) -> std::io::Result<Ended> {
    let mut child = cmd.spawn().map_err(|e| std::io::Error::other(format!("could not start it: {e}")))?;
    let deadline = std::time::Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Ended::Exited(status.code()));
        }
        let now = std::time::Instant::now();
        if now >= deadline {
            // (Ok also when it has just ended by itself.)
            child.kill().map_err(|e| std::io::Error::other(format!("its time was up but it could not be stopped: {e}")))?;
            child.wait()?;
            return Ok(Ended::Stopped);
        }
        // Checked once a second: a run takes minutes.
        std::thread::sleep((deadline - now).min(std::time::Duration::from_secs(1)));
    }
}

/// Run forever: sleep until the next occurrence, run `braid run` as a child
/// process with the same configuration (stopped when its time is up, see
/// the module), log the outcome.
pub fn serve(cfg: &ScheduleConfig, config_path: Option<&std::path::Path>) -> Result<()> {
    let exe = std::env::current_exe()?;
    loop {
        let next = cfg.next(1)?[0];
        tracing::info!(next = %next.to_rfc3339(), "next nightly run");
        let wait = (next - chrono::Local::now()).to_std().unwrap_or_default();
        std::thread::sleep(wait);
        let limit = cfg.limit(next, chrono::Local::now())?;
        let mut cmd = std::process::Command::new(&exe);
        if let Some(p) = config_path {
            cmd.arg("--config").arg(p);
        }
        cmd.arg("run");
        match supervise(&mut cmd, limit) {
            Ok(Ended::Exited(code)) => tracing::info!(code = code.unwrap_or(-1), "nightly run finished"),
            Ok(Ended::Stopped) => tracing::error!(
                minutes = limit.as_secs() / 60,
                "nightly run stopped: still running when its time was up (schedule.max_minutes, or a minute before \
                 the next run is due); the warehouse keeps its last commit and the next run starts clean"
            ),
            Err(e) => tracing::error!("nightly run: {e}"),
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
        assert!(ScheduleConfig { cron: "61 * * * *".into(), max_minutes: None }.validate().is_err());
        assert!(ScheduleConfig { max_minutes: Some(0), ..c.clone() }.validate().is_err());
    }

    #[test]
    fn a_run_may_last_until_just_before_the_next_one_is_due_or_max_minutes() {
        use chrono::TimeZone;
        let due = chrono::Local.with_ymd_and_hms(2026, 12, 7, 2, 0, 0).single().expect("a local time");
        let nightly = ScheduleConfig::default();
        let limit = nightly.limit(due, due).unwrap();
        let minutes = limit.as_secs() / 60;
        assert!((23 * 60 - 1..=25 * 60 - 1).contains(&minutes), "{minutes}");
        // Stopped at its limit, the next night is still ahead: it runs.
        let stopped = due + chrono::Duration::from_std(limit).unwrap() + chrono::Duration::seconds(5);
        assert_eq!(nightly.after(stopped).unwrap(), nightly.after(due).unwrap());
        // Started late, it still stops before the next night.
        let late = due + chrono::Duration::hours(3);
        let limit = nightly.limit(due, late).unwrap();
        assert!(late + chrono::Duration::from_std(limit).unwrap() < nightly.after(due).unwrap());
        // Every hour: six hours at least (the runs due meanwhile are skipped).
        let hourly = ScheduleConfig { cron: "0 * * * *".into(), max_minutes: None };
        assert_eq!(hourly.limit(due, due).unwrap().as_secs(), 6 * 3600);
        let capped = ScheduleConfig { max_minutes: Some(90), ..nightly };
        assert_eq!(capped.limit(due, due).unwrap().as_secs(), 90 * 60);
    }

    #[cfg(unix)]
    #[test]
    fn a_run_past_its_limit_is_stopped_and_one_within_it_reports_its_code() {
        let t = std::time::Instant::now();
        let mut hung = std::process::Command::new("sleep");
        hung.arg("60");
        assert_eq!(supervise(&mut hung, std::time::Duration::from_millis(500)).unwrap(), Ended::Stopped);
        assert!(t.elapsed() < std::time::Duration::from_secs(30), "{:?}", t.elapsed());
        let mut quick = std::process::Command::new("sh");
        quick.args(["-c", "exit 5"]);
        assert_eq!(supervise(&mut quick, std::time::Duration::from_secs(60)).unwrap(), Ended::Exited(Some(5)));
    }
}
