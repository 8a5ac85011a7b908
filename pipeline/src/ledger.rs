//! The state database (SQLite): the ingest ledger, the run log, the privacy
//! budget ledger and the consent-withdrawal list.
//!
//! SQLite gives transactions across all of them: a file version becomes
//! active in the same transaction that supersedes its predecessor; a release
//! is charged to the budget in the same transaction that checks the caps.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

const SCHEMA: &[&str] = &[
    // version 1
    r#"
    CREATE TABLE files (
        file_id TEXT PRIMARY KEY,
        partner TEXT NOT NULL,
        feed TEXT NOT NULL,
        url TEXT NOT NULL,
        size_bytes INTEGER NOT NULL,
        content_hash TEXT NOT NULL,
        modified TEXT,
        ingested_at TEXT NOT NULL,
        run_id TEXT NOT NULL,
        rows_read INTEGER NOT NULL DEFAULT 0,
        rows_loaded INTEGER NOT NULL DEFAULT 0,
        rows_quarantined INTEGER NOT NULL DEFAULT 0,
        status TEXT NOT NULL,
        message TEXT,
        headers TEXT,
        report TEXT
    );
    CREATE INDEX files_by_url ON files(partner, feed, url);
    CREATE TABLE runs (
        run_id TEXT PRIMARY KEY,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        status TEXT NOT NULL,
        exit_code INTEGER,
        table_versions TEXT,
        inputs TEXT,
        summary TEXT
    );
    CREATE TABLE releases (
        release_id TEXT NOT NULL,
        metric TEXT NOT NULL,
        period TEXT NOT NULL,
        cells INTEGER NOT NULL,
        rho REAL NOT NULL,
        epsilon REAL NOT NULL,
        delta REAL NOT NULL,
        mechanism TEXT NOT NULL,
        created_at TEXT NOT NULL,
        code_version TEXT NOT NULL,
        run_id TEXT,
        table_versions TEXT,
        payload TEXT NOT NULL,
        PRIMARY KEY (release_id, metric)
    );
    CREATE TABLE forget (
        entry TEXT PRIMARY KEY,
        added_at TEXT NOT NULL
    );
    "#,
    // version 2: δ of threshold mechanisms (cells discovered outside the
    // public key lists), accounted per metric.
    r#"
    ALTER TABLE releases ADD COLUMN threshold_delta REAL NOT NULL DEFAULT 0
    "#,
    // version 3: whether each withdrawal has been fully applied (staging
    // rewritten, warehouse re-committed, old versions vacuumed). NULL is
    // pending; entries of an older database start pending, so a forget it
    // left unfinished is completed by the next run.
    r#"
    ALTER TABLE forget ADD COLUMN applied_at TEXT
    "#,
    // version 4: the key id of the secret each withdrawal was hashed with.
    // Under another secret an entry matches no one, so a run with another
    // key id is refused while the list holds entries of the old one
    // ([`Ledger::check_forget_key`]). NULL: recorded before key ids were;
    // taken to be the secret in use at the next check.
    r#"
    ALTER TABLE forget ADD COLUMN key_id TEXT
    "#,
    // version 5: rotations of the secret (`braid rotate`). One without
    // `finished_at` is in progress: only `braid rotate` (and `braid forget`
    // under the new secret) may run until it is finished.
    r#"
    CREATE TABLE rotation (
        old_key_id TEXT NOT NULL,
        new_key_id TEXT NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        withdrawals_carried INTEGER NOT NULL DEFAULT 0,
        withdrawals_dropped INTEGER NOT NULL DEFAULT 0
    )
    "#,
];

/// An ingested (or rejected) version of a partner file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FileRecord {
    pub file_id: String,
    pub partner: String,
    pub feed: String,
    pub url: String,
    pub size_bytes: i64,
    pub content_hash: String,
    pub modified: Option<String>,
    pub ingested_at: String,
    pub run_id: String,
    pub rows_read: i64,
    pub rows_loaded: i64,
    pub rows_quarantined: i64,
    /// loaded, rejected, superseded, vanished, or duplicate (the same
    /// content as a loaded file at another URL; no rows of its own).
    pub status: String,
    pub message: Option<String>,
    /// JSON list of the file's column names (for schema drift).
    pub headers: Option<String>,
    /// JSON data-quality report (rejects by reason, missing fields, codes).
    pub report: Option<String>,
}

/// A run as the `runs` table holds it: (run id, started at, status, exit
/// code, summary JSON).
pub type RunRow = (String, String, String, Option<i32>, Option<String>);

/// A published metric of a release, as charged to the budget.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReleaseRecord {
    pub release_id: String,
    pub metric: String,
    pub period: String,
    pub cells: i64,
    pub rho: f64,
    pub epsilon: f64,
    pub delta: f64,
    pub mechanism: String,
    pub created_at: String,
    pub code_version: String,
    pub run_id: Option<String>,
    pub table_versions: Option<String>,
    /// JSON of the noisy cells (re-served on nightly re-runs).
    pub payload: String,
    /// δ of the metric's threshold mechanism (0 without discovery).
    #[serde(default)]
    pub threshold_delta: f64,
}

/// An exclusive hold on the state folder for a command that changes the
/// warehouse (`run`, `pull`, `link`, `publish`, `forget`), released when it
/// is dropped or the process ends, however it ends (`flock` on
/// `<state>/braid.lock`). Two such commands at once (a scheduled run over a
/// manual one) would write the same tables and ledger concurrently.
pub struct StateLock {
    _file: std::fs::File,
}

impl StateLock {
    /// Takes the lock, or says which process holds it.
    pub fn take(dir: &Path) -> Result<StateLock> {
        std::fs::create_dir_all(dir).map_err(|e| Error::State { path: dir.to_path_buf(), message: e.to_string() })?;
        let path = dir.join("braid.lock");
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| Error::State { path: path.clone(), message: e.to_string() })?;
        #[cfg(unix)]
        {
            use std::io::{Read, Seek, Write};
            use std::os::fd::AsRawFd;
            // SAFETY: flock on a descriptor this function owns.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                return Err(Error::Busy(format!(
                    "another braid command that changes the warehouse is running ({}); nothing was done: try again when it ends",
                    if holder.trim().is_empty() { "process unknown".to_string() } else { holder.trim().to_string() }
                )));
            }
            let _ = file.set_len(0);
            let _ = file.seek(std::io::SeekFrom::Start(0));
            let _ = write!(file, "pid {}, since {}", std::process::id(), now());
        }
        Ok(StateLock { _file: file })
    }
}

pub struct Ledger {
    conn: Connection,
    path: PathBuf,
}

fn err(path: &Path, e: impl std::fmt::Display) -> Error {
    Error::State { path: path.to_path_buf(), message: e.to_string() }
}

pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

impl Ledger {
    /// Open (and create or migrate) the state database in `dir`.
    pub fn open(dir: &Path) -> Result<Ledger> {
        std::fs::create_dir_all(dir).map_err(|e| err(dir, e))?;
        let path = dir.join("braid.sqlite");
        let conn = Connection::open(&path).map_err(|e| err(&path, e))?;
        conn.busy_timeout(std::time::Duration::from_secs(30)).map_err(|e| err(&path, e))?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(|e| err(&path, e))?;
        conn.pragma_update(None, "synchronous", "FULL").map_err(|e| err(&path, e))?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(|e| err(&path, e))?;
        for (i, sql) in SCHEMA.iter().enumerate().skip(version as usize) {
            conn.execute_batch(&format!("BEGIN; {sql}; PRAGMA user_version = {}; COMMIT;", i + 1))
                .map_err(|e| err(&path, e))?;
        }
        Ok(Ledger { conn, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn e(&self, e: impl std::fmt::Display) -> Error {
        err(&self.path, e)
    }

    // -- files ---------------------------------------------------------------

    pub fn file_by_hash(&self, partner: &str, feed: &str, url: &str, content_hash: &str) -> Result<Option<FileRecord>> {
        self.query_files(
            "WHERE partner = ?1 AND feed = ?2 AND url = ?3 AND content_hash = ?4 ORDER BY ingested_at DESC, rowid DESC LIMIT 1",
            params![partner, feed, url, content_hash],
        )
        .map(|mut v| v.pop())
    }

    /// How many versions of the file at this location the ledger holds.
    pub fn versions_at(&self, partner: &str, feed: &str, url: &str) -> Result<i64> {
        self.conn
            .query_row("SELECT count(*) FROM files WHERE partner = ?1 AND feed = ?2 AND url = ?3", params![partner, feed, url], |r| r.get(0))
            .map_err(|e| self.e(e))
    }

    /// An active version (loaded, or vanished with its rows kept) of the
    /// feed's file at another URL with this content: the same rows, already
    /// in the warehouse.
    pub fn active_copy(&self, partner: &str, feed: &str, url: &str, content_hash: &str) -> Result<Option<FileRecord>> {
        self.query_files(
            "WHERE partner = ?1 AND feed = ?2 AND url <> ?3 AND content_hash = ?4 AND status IN ('loaded', 'vanished') \
             ORDER BY ingested_at LIMIT 1",
            params![partner, feed, url, content_hash],
        )
        .map(|mut v| v.pop())
    }

    /// The current (loaded) version of a file, if any.
    pub fn active_file(&self, partner: &str, feed: &str, url: &str) -> Result<Option<FileRecord>> {
        self.query_files(
            "WHERE partner = ?1 AND feed = ?2 AND url = ?3 AND status = 'loaded' LIMIT 1",
            params![partner, feed, url],
        )
        .map(|mut v| v.pop())
    }

    /// The most recent version of any file of a feed that was read
    /// successfully (for schema drift).
    pub fn last_headers(&self, partner: &str, feed: &str) -> Result<Option<String>> {
        self.conn
            .query_row(
                "SELECT headers FROM files WHERE partner = ?1 AND feed = ?2 AND status IN ('loaded','superseded','vanished') \
                 AND headers IS NOT NULL ORDER BY ingested_at DESC LIMIT 1",
                params![partner, feed],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.e(e))
    }

    /// All loaded file versions (the active staging set).
    pub fn active_files(&self) -> Result<Vec<FileRecord>> {
        self.query_files("WHERE status IN ('loaded', 'vanished') ORDER BY partner, feed, url", params![])
    }

    pub fn all_files(&self) -> Result<Vec<FileRecord>> {
        self.query_files("ORDER BY ingested_at, partner, feed, url", params![])
    }

    fn query_files(&self, clause: &str, p: impl rusqlite::Params) -> Result<Vec<FileRecord>> {
        let sql = format!(
            "SELECT file_id, partner, feed, url, size_bytes, content_hash, modified, ingested_at, run_id, \
             rows_read, rows_loaded, rows_quarantined, status, message, headers, report FROM files {clause}"
        );
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.e(e))?;
        let rows = stmt
            .query_map(p, |r| {
                Ok(FileRecord {
                    file_id: r.get(0)?,
                    partner: r.get(1)?,
                    feed: r.get(2)?,
                    url: r.get(3)?,
                    size_bytes: r.get(4)?,
                    content_hash: r.get(5)?,
                    modified: r.get(6)?,
                    ingested_at: r.get(7)?,
                    run_id: r.get(8)?,
                    rows_read: r.get(9)?,
                    rows_loaded: r.get(10)?,
                    rows_quarantined: r.get(11)?,
                    status: r.get(12)?,
                    message: r.get(13)?,
                    headers: r.get(14)?,
                    report: r.get(15)?,
                })
            })
            .map_err(|e| self.e(e))?;
        rows.collect::<std::result::Result<Vec<_>, _>>().map_err(|e| self.e(e))
    }

    /// Record a file version. When it is `loaded`, or a `duplicate` of a
    /// file loaded at another location (the content here changed to that
    /// file's), the previous loaded version at the same location becomes
    /// `superseded` in the same transaction: its rows are never counted
    /// twice, and never kept once the file no longer holds them.
    pub fn record_file(&mut self, f: &FileRecord) -> Result<()> {
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(|e| err(&self.path, e))?;
        if f.status == "loaded" || f.status == "duplicate" {
            supersede(&tx, &f.partner, &f.feed, &f.url, &f.file_id).map_err(|e| err(&self.path, e))?;
        }
        tx.execute(
            "INSERT OR REPLACE INTO files (file_id, partner, feed, url, size_bytes, content_hash, modified, ingested_at, \
             run_id, rows_read, rows_loaded, rows_quarantined, status, message, headers, report) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
            params![
                f.file_id, f.partner, f.feed, f.url, f.size_bytes, f.content_hash, f.modified, f.ingested_at,
                f.run_id, f.rows_read, f.rows_loaded, f.rows_quarantined, f.status, f.message, f.headers, f.report
            ],
        )
        .map_err(|e| err(&self.path, e))?;
        tx.commit().map_err(|e| err(&self.path, e))
    }

    /// The active versions at this location other than `keep` become
    /// `superseded` (see [`Ledger::record_file`]).
    pub fn supersede_others(&mut self, partner: &str, feed: &str, url: &str, keep: &str) -> Result<()> {
        supersede(&self.conn, partner, feed, url, keep).map(|_| ()).map_err(|e| err(&self.path, e))
    }

    /// Mark loaded files whose location is no longer listed as vanished (or
    /// back to loaded when they reappear). Returns the newly vanished.
    pub fn mark_vanished(&mut self, partner: &str, feed: &str, listed: &[String]) -> Result<Vec<FileRecord>> {
        let active = self.query_files(
            "WHERE partner = ?1 AND feed = ?2 AND status IN ('loaded','vanished')",
            params![partner, feed],
        )?;
        let mut vanished = Vec::new();
        for f in active {
            let present = listed.contains(&f.url);
            let status = if present { "loaded" } else { "vanished" };
            if status != f.status {
                self.conn
                    .execute("UPDATE files SET status = ?1 WHERE file_id = ?2", params![status, f.file_id])
                    .map_err(|e| self.e(e))?;
                if !present {
                    vanished.push(f);
                }
            }
        }
        Ok(vanished)
    }

    pub fn set_file_counts(&self, file_id: &str, loaded: i64, quarantined: i64) -> Result<()> {
        self.conn
            .execute(
                "UPDATE files SET rows_loaded = ?2, rows_quarantined = ?3 WHERE file_id = ?1",
                params![file_id, loaded, quarantined],
            )
            .map_err(|e| self.e(e))?;
        Ok(())
    }

    // -- runs ----------------------------------------------------------------

    pub fn start_run(&self, run_id: &str) -> Result<()> {
        // Runs still marked running were killed (a run holds the state lock
        // while it lives, and so does this one): say so.
        self.conn
            .execute("UPDATE runs SET status = 'interrupted' WHERE status = 'running'", [])
            .map_err(|e| self.e(e))?;
        self.conn
            .execute(
                "INSERT INTO runs (run_id, started_at, status) VALUES (?1, ?2, 'running')",
                params![run_id, now()],
            )
            .map_err(|e| self.e(e))?;
        Ok(())
    }

    /// Commit a run: the table versions it wrote become what readers see.
    pub fn commit_run(&self, run_id: &str, table_versions: &str, inputs: &str) -> Result<()> {
        self.conn
            .execute(
                "UPDATE runs SET status = 'committed', table_versions = ?2, inputs = ?3 WHERE run_id = ?1",
                params![run_id, table_versions, inputs],
            )
            .map_err(|e| self.e(e))?;
        Ok(())
    }

    /// A run that found its inputs unchanged since the last committed run
    /// (nothing linked or loaded): `unchanged`, not `failed`, once it ends.
    pub fn mark_run_unchanged(&self, run_id: &str) -> Result<()> {
        self.conn
            .execute("UPDATE runs SET status = 'unchanged' WHERE run_id = ?1 AND status = 'running'", params![run_id])
            .map_err(|e| self.e(e))?;
        Ok(())
    }

    pub fn set_run_inputs(&self, run_id: &str, digest: &str) -> Result<()> {
        self.conn
            .execute("UPDATE runs SET inputs = ?2 WHERE run_id = ?1", params![run_id, digest])
            .map_err(|e| self.e(e))?;
        Ok(())
    }

    /// The input digest of the last committed run.
    pub fn last_committed_inputs(&self) -> Result<Option<String>> {
        self.conn
            .query_row(
                "SELECT inputs FROM runs WHERE status = 'committed' ORDER BY started_at DESC LIMIT 1",
                [],
                |r| r.get::<_, Option<String>>(0),
            )
            .optional()
            .map(|o| o.flatten())
            .map_err(|e| self.e(e))
    }

    pub fn finish_run(&self, run_id: &str, exit_code: i32, summary: &str) -> Result<()> {
        self.conn
            .execute(
                "UPDATE runs SET finished_at = ?2, exit_code = ?3, summary = ?4, \
                 status = CASE WHEN status = 'running' THEN 'failed' ELSE status END WHERE run_id = ?1",
                params![run_id, now(), exit_code, summary],
            )
            .map_err(|e| self.e(e))?;
        Ok(())
    }

    /// The table versions of the last committed run.
    pub fn committed_versions(&self) -> Result<Option<(String, String)>> {
        self.conn
            .query_row(
                "SELECT run_id, table_versions FROM runs WHERE status = 'committed' ORDER BY started_at DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(|e| self.e(e))
    }

    pub fn last_runs(&self, n: usize) -> Result<Vec<RunRow>> {
        let mut stmt = self
            .conn
            .prepare("SELECT run_id, started_at, status, exit_code, summary FROM runs ORDER BY started_at DESC LIMIT ?1")
            .map_err(|e| self.e(e))?;
        let rows = stmt
            .query_map(params![n as i64], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
            .map_err(|e| self.e(e))?;
        rows.collect::<std::result::Result<Vec<_>, _>>().map_err(|e| self.e(e))
    }

    // -- privacy budget --------------------------------------------------------

    /// Releases already recorded for a release id.
    pub fn release(&self, release_id: &str) -> Result<Vec<ReleaseRecord>> {
        self.query_releases("WHERE release_id = ?1 ORDER BY metric", params![release_id])
    }

    pub fn all_releases(&self) -> Result<Vec<ReleaseRecord>> {
        self.query_releases("ORDER BY created_at, metric", params![])
    }

    fn query_releases(&self, clause: &str, p: impl rusqlite::Params) -> Result<Vec<ReleaseRecord>> {
        let sql = format!(
            "SELECT release_id, metric, period, cells, rho, epsilon, delta, mechanism, created_at, code_version, \
             run_id, table_versions, payload, threshold_delta FROM releases {clause}"
        );
        let mut stmt = self.conn.prepare(&sql).map_err(|e| self.e(e))?;
        let rows = stmt
            .query_map(p, |r| {
                Ok(ReleaseRecord {
                    release_id: r.get(0)?,
                    metric: r.get(1)?,
                    period: r.get(2)?,
                    cells: r.get(3)?,
                    rho: r.get(4)?,
                    epsilon: r.get(5)?,
                    delta: r.get(6)?,
                    mechanism: r.get(7)?,
                    created_at: r.get(8)?,
                    code_version: r.get(9)?,
                    run_id: r.get(10)?,
                    table_versions: r.get(11)?,
                    payload: r.get(12)?,
                    threshold_delta: r.get(13)?,
                })
            })
            .map_err(|e| self.e(e))?;
        rows.collect::<std::result::Result<Vec<_>, _>>().map_err(|e| self.e(e))
    }

    /// Charge a release to the budget, atomically: inside one IMMEDIATE
    /// transaction, `check` sees the spend so far (lifetime and in the
    /// release's year) and may refuse; only then are the records inserted.
    /// Two racing runs serialize here, so the caps hold. Returns false (and
    /// charges nothing) when another run charged this release first.
    pub fn charge(
        &mut self,
        records: &[ReleaseRecord],
        year: &str,
        check: impl FnOnce(Spent) -> Result<()>,
    ) -> Result<bool> {
        let path = self.path.clone();
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(|e| err(&path, e))?;
        if let Some(r) = records.first() {
            let exists: i64 = tx
                .query_row("SELECT COUNT(*) FROM releases WHERE release_id = ?1", params![r.release_id], |x| x.get(0))
                .map_err(|e| err(&path, e))?;
            if exists > 0 {
                return Ok(false);
            }
        }
        let spent = spent_in(&tx, year).map_err(|e| err(&path, e))?;
        check(spent)?;
        for r in records {
            tx.execute(
                "INSERT INTO releases (release_id, metric, period, cells, rho, epsilon, delta, mechanism, created_at, \
                 code_version, run_id, table_versions, payload, threshold_delta) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
                params![
                    r.release_id, r.metric, r.period, r.cells, r.rho, r.epsilon, r.delta, r.mechanism, r.created_at,
                    r.code_version, r.run_id, r.table_versions, r.payload, r.threshold_delta
                ],
            )
            .map_err(|e| err(&path, e))?;
        }
        tx.commit().map_err(|e| err(&path, e))?;
        Ok(true)
    }

    /// Budget spent so far, lifetime and in `year` (the release's year).
    pub fn spent(&self, year: &str) -> Result<Spent> {
        spent_in(&self.conn, year).map_err(|e| self.e(e))
    }

    // -- consent withdrawal ----------------------------------------------------

    /// Put one entry on the withdrawal list, pending until applied.
    pub fn add_forget(&mut self, entry: &str, key_id: &str) -> Result<()> {
        self.add_forgets(&[entry.to_string()], key_id)
    }

    /// Put entries on the withdrawal list in one transaction, pending (an
    /// entry already there becomes pending again), with the key id of the
    /// secret they were hashed with: the durable intent of a `braid forget`,
    /// completed by whichever command commits next.
    pub fn add_forgets(&mut self, entries: &[String], key_id: &str) -> Result<()> {
        self.carry_forgets(entries, key_id, &[])
    }

    /// Refuse a secret other than the one the withdrawal list was hashed
    /// with. Under another secret every entry matches no one, and the people
    /// who withdrew consent would be loaded and linked again from the
    /// partners' files: a rotation of the secret must not forget them
    /// (README, "Rotating the secret"). Entries recorded before key ids
    /// were are not checked until [`Ledger::stamp_forget_key`] gives them one.
    pub fn check_forget_key(&self, key_id: &str) -> Result<()> {
        if let Some((old, new)) = self.rotation_in_progress()? {
            return Err(Error::Secret(format!(
                "a rotation of the secret from key id {old} to {new} is in progress: finish it with `braid rotate` \
                 (README, \"Rotating the secret\"); nothing was read or written"
            )));
        }
        let mut stmt =
            self.conn.prepare("SELECT key_id, count(*) FROM forget WHERE key_id != ?1 GROUP BY key_id ORDER BY key_id").map_err(|e| self.e(e))?;
        let other: Vec<(String, i64)> = stmt
            .query_map(params![key_id], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(|e| self.e(e))?
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| self.e(e))?;
        if other.is_empty() {
            return Ok(());
        }
        let n: i64 = other.iter().map(|(_, n)| n).sum();
        let ids: Vec<&str> = other.iter().map(|(k, _)| k.as_str()).collect();
        Err(Error::Secret(format!(
            "the withdrawal list holds {n} entr{} hashed with key id {}, and the secret given now has key id {key_id}: \
             under it they match no one, and the people who withdrew consent would be loaded again. Nothing was read or \
             written. Use the secret with key id {}, or rotate to the new one with `braid rotate` \
             (README, \"Rotating the secret\")",
            if n == 1 { "y" } else { "ies" },
            ids.join(", "),
            ids.join(" or ")
        )))
    }

    /// Withdrawal-list entries made with one secret.
    pub fn forget_entries_of(&self, key_id: &str) -> Result<std::collections::HashSet<String>> {
        let mut stmt = self.conn.prepare("SELECT entry FROM forget WHERE key_id = ?1").map_err(|e| self.e(e))?;
        let rows = stmt.query_map(params![key_id], |r| r.get::<_, String>(0)).map_err(|e| self.e(e))?;
        rows.collect::<std::result::Result<_, _>>().map_err(|e| self.e(e))
    }

    /// Pending withdrawals made with one secret.
    pub fn pending_forgets_of(&self, key_id: &str) -> Result<usize> {
        self.conn
            .query_row("SELECT count(*) FROM forget WHERE key_id = ?1 AND applied_at IS NULL", params![key_id], |r| r.get::<_, i64>(0))
            .map(|n| n as usize)
            .map_err(|e| self.e(e))
    }

    /// The key ids of the withdrawal list's entries.
    pub fn forget_key_ids(&self) -> Result<Vec<String>> {
        let mut stmt = self.conn.prepare("SELECT DISTINCT key_id FROM forget WHERE key_id IS NOT NULL").map_err(|e| self.e(e))?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0)).map_err(|e| self.e(e))?;
        rows.collect::<std::result::Result<_, _>>().map_err(|e| self.e(e))
    }

    /// During a rotation: enter withdrawals under the new secret and drop
    /// the old secret's entries they replace, in one transaction (no old
    /// secret's hash is kept once it is carried over).
    pub fn carry_forgets(&mut self, new_entries: &[String], new_key_id: &str, old_entries: &[String]) -> Result<()> {
        let path = self.path.clone();
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(|e| err(&path, e))?;
        for entry in new_entries {
            tx.execute(
                "INSERT INTO forget (entry, added_at, applied_at, key_id) VALUES (?1, ?2, NULL, ?3) \
                 ON CONFLICT(entry) DO UPDATE SET applied_at = NULL, key_id = ?3",
                params![entry, now(), new_key_id],
            )
            .map_err(|e| err(&path, e))?;
        }
        for entry in old_entries {
            tx.execute("DELETE FROM forget WHERE entry = ?1", params![entry]).map_err(|e| err(&path, e))?;
        }
        tx.commit().map_err(|e| err(&path, e))
    }

    /// Drop every withdrawal made with one secret; returns how many.
    pub fn drop_forgets_of(&mut self, key_id: &str) -> Result<usize> {
        self.conn.execute("DELETE FROM forget WHERE key_id = ?1", params![key_id]).map_err(|e| self.e(e))
    }

    /// The rotation in progress, as (old key id, new key id).
    pub fn rotation_in_progress(&self) -> Result<Option<(String, String)>> {
        self.conn
            .query_row("SELECT old_key_id, new_key_id FROM rotation WHERE finished_at IS NULL", [], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()
            .map_err(|e| self.e(e))
    }

    pub fn start_rotation(&mut self, old: &str, new: &str) -> Result<()> {
        if self.rotation_in_progress()?.is_none() {
            self.conn
                .execute("INSERT INTO rotation (old_key_id, new_key_id, started_at) VALUES (?1, ?2, ?3)", params![old, new, now()])
                .map_err(|e| self.e(e))?;
        }
        Ok(())
    }

    pub fn finish_rotation(&mut self, carried: usize, dropped: usize) -> Result<()> {
        self.conn
            .execute(
                "UPDATE rotation SET finished_at = ?1, withdrawals_carried = ?2, withdrawals_dropped = ?3 WHERE finished_at IS NULL",
                params![now(), carried as i64, dropped as i64],
            )
            .map_err(|e| self.e(e))?;
        Ok(())
    }

    /// Set a file version's status and message (a rotation supersedes the
    /// versions it cannot read again).
    pub fn set_file_status(&mut self, file_id: &str, status: &str, message: &str) -> Result<()> {
        self.conn
            .execute("UPDATE files SET status = ?2, message = ?3 WHERE file_id = ?1", params![file_id, status, message])
            .map_err(|e| self.e(e))?;
        Ok(())
    }

    /// Give entries recorded before key ids were the key id of the secret
    /// in use, once it is known to be the warehouse's (`Pipeline::check_key`).
    pub fn stamp_forget_key(&mut self, key_id: &str) -> Result<()> {
        self.conn.execute("UPDATE forget SET key_id = ?1 WHERE key_id IS NULL", params![key_id]).map_err(|e| self.e(e))?;
        Ok(())
    }

    /// Entries of the withdrawal list not yet fully applied.
    pub fn pending_forgets(&self) -> Result<Vec<String>> {
        let mut stmt = self.conn.prepare("SELECT entry FROM forget WHERE applied_at IS NULL").map_err(|e| self.e(e))?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0)).map_err(|e| self.e(e))?;
        rows.collect::<std::result::Result<_, _>>().map_err(|e| self.e(e))
    }

    /// Mark entries applied: staging rewritten, warehouse re-committed and
    /// every table vacuumed, all after the entries were added.
    pub fn mark_forgets_applied(&mut self, entries: &[String]) -> Result<()> {
        let path = self.path.clone();
        let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(|e| err(&path, e))?;
        let at = now();
        for entry in entries {
            tx.execute("UPDATE forget SET applied_at = ?2 WHERE entry = ?1 AND applied_at IS NULL", params![entry, at])
                .map_err(|e| err(&path, e))?;
        }
        tx.commit().map_err(|e| err(&path, e))
    }

    pub fn forget_entries(&self) -> Result<std::collections::HashSet<String>> {
        let mut stmt = self.conn.prepare("SELECT entry FROM forget").map_err(|e| self.e(e))?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0)).map_err(|e| self.e(e))?;
        rows.collect::<std::result::Result<_, _>>().map_err(|e| self.e(e))
    }
}

/// Privacy budget spent (ρ), lifetime and in one year.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Spent {
    pub lifetime: f64,
    pub year: f64,
    /// δ of all threshold mechanisms ever run (discovered cells).
    pub threshold_delta_lifetime: f64,
}

fn spent_in(conn: &Connection, year: &str) -> rusqlite::Result<Spent> {
    let lifetime: f64 = conn.query_row("SELECT COALESCE(SUM(rho), 0) FROM releases", [], |r| r.get(0))?;
    let y: f64 = conn.query_row(
        "SELECT COALESCE(SUM(rho), 0) FROM releases WHERE substr(created_at, 1, 4) = ?1",
        params![year],
        |r| r.get(0),
    )?;
    let threshold_delta_lifetime: f64 =
        conn.query_row("SELECT COALESCE(SUM(threshold_delta), 0) FROM releases", [], |r| r.get(0))?;
    Ok(Spent { lifetime, year: y, threshold_delta_lifetime })
}

fn supersede(conn: &rusqlite::Connection, partner: &str, feed: &str, url: &str, keep: &str) -> rusqlite::Result<usize> {
    conn.execute(
        "UPDATE files SET status = 'superseded' WHERE partner = ?1 AND feed = ?2 AND url = ?3 \
         AND status IN ('loaded', 'vanished') AND file_id <> ?4",
        params![partner, feed, url, keep],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmp(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("braid-ledger-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        d
    }

    fn file(id: &str, hash: &str, status: &str) -> FileRecord {
        FileRecord {
            file_id: id.into(),
            partner: "p".into(),
            feed: "f".into(),
            url: "file:///x.csv".into(),
            size_bytes: 1,
            content_hash: hash.into(),
            modified: None,
            ingested_at: now(),
            run_id: "r".into(),
            rows_read: 1,
            rows_loaded: 1,
            rows_quarantined: 0,
            status: status.into(),
            message: None,
            headers: None,
            report: None,
        }
    }

    #[test]
    fn withdrawals_hashed_with_another_secret_refuse_the_run() {
        let dir = tempfile::tempdir().unwrap();
        let mut l = Ledger::open(dir.path()).unwrap();
        l.check_forget_key("bbbb2222").unwrap();
        l.add_forgets(&["e1".into(), "e2".into()], "aaaa1111").unwrap();
        l.check_forget_key("aaaa1111").unwrap();
        let e = l.check_forget_key("bbbb2222").unwrap_err().to_string();
        assert!(e.contains("2 entries hashed with key id aaaa1111") && e.contains("key id bbbb2222"), "{e}");
        // An entry from before key ids were recorded is checked once stamped.
        l.conn.execute("INSERT INTO forget (entry, added_at) VALUES ('e3', 'then')", []).unwrap();
        l.check_forget_key("aaaa1111").unwrap();
        l.stamp_forget_key("aaaa1111").unwrap();
        let e = l.check_forget_key("bbbb2222").unwrap_err().to_string();
        assert!(e.contains("3 entries"), "{e}");
    }

    #[test]
    fn a_file_changed_into_a_copy_of_another_loaded_file_drops_its_old_rows() {
        // x.csv held A and y.csv B; then x.csv is changed to B, which y.csv
        // holds: x.csv's version is a duplicate, and A's rows go.
        let mut l = Ledger::open(&tmp("copy")).unwrap();
        l.record_file(&file("a", "h1", "loaded")).unwrap();
        l.record_file(&FileRecord { url: "file:///y.csv".into(), ..file("b", "h2", "loaded") }).unwrap();
        l.record_file(&file("c", "h2", "duplicate")).unwrap();
        let active: Vec<String> = l.active_files().unwrap().into_iter().map(|f| f.file_id).collect();
        assert_eq!(active, vec!["b".to_string()]);
        // x.csv back to A, then to B again: the copy is known, and the
        // ingest supersedes A's version without recording the copy anew.
        l.record_file(&file("a", "h1", "loaded")).unwrap();
        l.supersede_others("p", "f", "file:///x.csv", "c").unwrap();
        let active: Vec<String> = l.active_files().unwrap().into_iter().map(|f| f.file_id).collect();
        assert_eq!(active, vec!["b".to_string()]);
    }

    #[test]
    fn a_new_version_supersedes_the_old_atomically() {
        let mut l = Ledger::open(&tmp("supersede")).unwrap();
        l.record_file(&file("a", "h1", "loaded")).unwrap();
        l.record_file(&file("b", "h2", "loaded")).unwrap();
        let active = l.active_files().unwrap();
        assert_eq!(active.len(), 1);
        assert_eq!(active[0].file_id, "b");
        assert!(l.file_by_hash("p", "f", "file:///x.csv", "h1").unwrap().is_some());
    }

    #[test]
    fn vanished_files_are_marked_and_come_back() {
        let mut l = Ledger::open(&tmp("vanish")).unwrap();
        l.record_file(&file("a", "h1", "loaded")).unwrap();
        let v = l.mark_vanished("p", "f", &[]).unwrap();
        assert_eq!(v.len(), 1);
        assert_eq!(l.active_files().unwrap()[0].status, "vanished");
        l.mark_vanished("p", "f", &["file:///x.csv".into()]).unwrap();
        assert_eq!(l.active_files().unwrap()[0].status, "loaded");
    }

    #[test]
    fn reopening_keeps_data_and_schema() {
        let dir = tmp("reopen");
        {
            let mut l = Ledger::open(&dir).unwrap();
            l.record_file(&file("a", "h1", "loaded")).unwrap();
        }
        let l = Ledger::open(&dir).unwrap();
        assert_eq!(l.all_files().unwrap().len(), 1);
    }
}
