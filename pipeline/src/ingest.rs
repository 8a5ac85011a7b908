//! The ingest stage: pull -> parse -> map -> protect -> staging, per file.
//!
//! For each partner feed, list the source, and for every new or changed file:
//! hash its content, decompress and parse it, map and validate its rows,
//! protect them, and write three staging files (records, identities,
//! quarantine). The ledger entry that makes the file version active is
//! written last, in one transaction that also supersedes the previous
//! version. A file that fails as a whole is recorded as rejected; it never
//! stops the other files or partners.
//!
//! Invariant, checked for every file: rows read = rows loaded + rows
//! quarantined.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, BooleanBuilder, Int64Builder, StringBuilder};
use datafusion::arrow::record_batch::RecordBatch;
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::ledger::{FileRecord, Ledger};
use crate::map::{Mapper, Rejection, Rules};
use crate::model::QUARANTINE;
use crate::parse::{FileError, Limits, Parsed, RawRow};
use crate::protect::{Protector, variants::NameVariants};
use crate::pull::{FeedConfig, PartnerConfig, Source, SourceFile};
use crate::secret::{Keys, Purpose};
use crate::warehouse::{AtomicParquet, Warehouse, write_parquet_atomic};

/// Limits and plausibility rules for ingestion (`[ingest]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IngestConfig {
    /// Largest file accepted, in bytes (default 1 GiB).
    #[serde(default = "d_max_file")]
    pub max_file_bytes: u64,
    /// Largest decompressed size of a .gz or .zip file (default 2 GiB).
    #[serde(default = "d_max_decompressed")]
    pub max_decompressed_bytes: u64,
    /// Longest line (default 1 MiB).
    #[serde(default = "d_max_line")]
    pub max_line_bytes: usize,
    /// Longest field (default 64 KiB).
    #[serde(default = "d_max_field")]
    pub max_field_bytes: usize,
    /// Most rows per file (default 20 million).
    #[serde(default = "d_max_rows")]
    pub max_rows: u64,
    /// Youngest plausible age at a record's date (default 14).
    #[serde(default = "d_min_age")]
    pub min_age: i32,
    /// Oldest plausible age (default 100).
    #[serde(default = "d_max_age")]
    pub max_age: i32,
}

fn d_max_file() -> u64 {
    1 << 30
}
fn d_max_decompressed() -> u64 {
    2 << 30
}
fn d_max_line() -> usize {
    1 << 20
}
fn d_max_field() -> usize {
    64 << 10
}
fn d_max_rows() -> u64 {
    20_000_000
}
fn d_min_age() -> i32 {
    14
}
fn d_max_age() -> i32 {
    100
}

impl Default for IngestConfig {
    fn default() -> Self {
        toml::from_str("").expect("defaults")
    }
}

impl IngestConfig {
    pub fn limits(&self) -> Limits {
        Limits {
            max_file_bytes: self.max_file_bytes,
            max_decompressed_bytes: self.max_decompressed_bytes,
            max_line_bytes: self.max_line_bytes,
            max_field_bytes: self.max_field_bytes,
            max_rows: self.max_rows,
        }
    }
}

/// What happened to one file in this run.
#[derive(Debug, Clone, Serialize)]
pub struct FileOutcome {
    pub partner: String,
    pub feed: String,
    pub url: String,
    /// loaded, unchanged, duplicate (same content as a loaded file at
    /// another URL), rejected, still_rejected, vanished
    pub status: String,
    pub rows_read: u64,
    pub rows_loaded: u64,
    pub rows_quarantined: u64,
    pub message: Option<String>,
    pub warnings: Vec<String>,
}

/// The result of the ingest stage.
#[derive(Debug, Clone, Default, Serialize)]
pub struct IngestSummary {
    pub files: Vec<FileOutcome>,
    /// Partners whose source could not be listed at all.
    pub source_errors: Vec<(String, String)>,
}

impl IngestSummary {
    pub fn rejected(&self) -> usize {
        self.files.iter().filter(|f| f.status == "rejected" || f.status == "still_rejected").count()
            + self.source_errors.len()
    }
    pub fn loaded(&self) -> usize {
        self.files.iter().filter(|f| f.status == "loaded").count()
    }
}

/// Data-quality report of one file, stored in the ledger and published to
/// the partner. Counts and codes only, never values of identifiers.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct FileReport {
    pub encoding: Option<String>,
    pub rejects_by_reason: BTreeMap<String, u64>,
    pub rejects_by_column: BTreeMap<String, u64>,
    /// "column: reason" -> values set aside in rows that were loaded
    /// (birth dates that are not dates or not plausible).
    #[serde(default)]
    pub set_aside: BTreeMap<String, u64>,
    pub missing_share: BTreeMap<String, f64>,
    /// The unmapped codes that may be named (see [`unmapped_codes`]).
    pub unmapped_codes: Vec<NamedCode>,
    /// Per field, the unmapped values that are not named.
    #[serde(default)]
    pub unmapped_hidden: Vec<HiddenCodes>,
    pub ambiguous_dates: BTreeMap<String, u64>,
    pub absent_columns: Vec<String>,
    /// Columns added and gone since the last file that the configuration
    /// names, and how many others (names from the file are not kept: see
    /// [`column_digest`]).
    pub columns_added: Vec<String>,
    pub columns_removed: Vec<String>,
    #[serde(default)]
    pub columns_added_other: usize,
    #[serde(default)]
    pub columns_removed_other: usize,
    pub no_consent: u64,
}

/// Everything the stage needs, shared across partners.
pub struct Ingest<'a> {
    pub cfg: &'a Config,
    pub keys: &'a Keys,
    pub warehouse: &'a Warehouse,
    pub variants: Arc<NameVariants>,
    pub run_id: String,
    pub today: chrono::NaiveDate,
    /// Set by `braid rotate`: the secret being rotated away from.
    pub rotation: Option<&'a Rotation>,
}

/// A rotation of the secret (`braid rotate`). Every file whose staging was
/// protected with the old secret is read again; each row's record key is
/// computed under both secrets, so that a withdrawal made with the old one
/// is found and entered again under the new one, and the old record key
/// can be followed to the person key it had ([`Warehouse::rekey`]).
pub struct Rotation {
    pub previous: Keys,
    /// Withdrawal-list entries made with the old secret.
    pub previous_forget: HashSet<String>,
}

/// What a rotation learned from one file: old record key to new, and the
/// new entries of withdrawals made with the old secret.
#[derive(Default)]
pub(crate) struct Rekeyed {
    pub(crate) keys: std::collections::BTreeMap<String, String>,
    pub(crate) withdrawals: std::collections::BTreeSet<String>,
    /// The old secret's entries those withdrawals replace.
    pub(crate) replaced: std::collections::BTreeSet<String>,
}

impl Ingest<'_> {
    /// Pull and stage every partner. Never stops at a bad file or source.
    pub async fn run(&self, ledger: &mut Ledger, partner: Option<&str>) -> Result<IngestSummary> {
        // Freed memory is kept for the next file and batch, not handed back
        // to the kernel, until the stage ends.
        let _keep = crate::memory::KeepFreed::start();
        let mut summary = IngestSummary::default();
        let forget = ledger.forget_entries()?;
        for p in &self.cfg.partners {
            if partner.is_some_and(|id| id != p.id) {
                continue;
            }
            let source = match Source::open(p, &self.cfg.partners) {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!(partner = %p.id, "{e}");
                    summary.source_errors.push((p.id.clone(), e.to_string()));
                    continue;
                }
            };
            for feed in &p.feeds {
                let files = match source.list(&feed.glob).await {
                    Ok(f) => f,
                    Err(e) => {
                        tracing::error!(partner = %p.id, feed = %feed.name, "{e}");
                        summary.source_errors.push((p.id.clone(), e.to_string()));
                        continue;
                    }
                };
                let urls: Vec<String> = files.iter().map(|f| f.url.clone()).collect();
                let mut copies = Vec::new();
                let mut any_loaded = false;
                for f in &files {
                    let outcome = self.file(ledger, &source, p, feed, f, &forget).await?;
                    match outcome.status.as_str() {
                        "duplicate" => copies.push((f, summary.files.len())),
                        "loaded" => any_loaded = true,
                        _ => {}
                    }
                    summary.files.push(outcome);
                }
                // A copy whose original was replaced later in this run (a
                // new version at the original's URL) holds rows no active
                // file has: look at the copies again. Only a file loaded in
                // this run can have replaced one, so on other nights the
                // copies are not fetched twice.
                if any_loaded {
                    for (f, i) in copies {
                        summary.files[i] = self.file(ledger, &source, p, feed, f, &forget).await?;
                    }
                }
                for v in ledger.mark_vanished(&p.id, &feed.name, &urls)? {
                    tracing::warn!(partner = %p.id, url = %v.url, "file vanished from the source; its rows are kept");
                    summary.files.push(FileOutcome {
                        partner: p.id.clone(),
                        feed: feed.name.clone(),
                        url: v.url,
                        status: "vanished".into(),
                        rows_read: 0,
                        rows_loaded: v.rows_loaded as u64,
                        rows_quarantined: 0,
                        message: Some("file is no longer at the source; its rows stay loaded until a new version or `braid forget`".into()),
                        warnings: vec![],
                    });
                }
            }
        }
        // Files of a partner or feed no longer in the configuration (removed,
        // or renamed) stay loaded: said every run, never dropped unasked.
        if partner.is_none() {
            for f in ledger.active_files()? {
                if self.cfg.has_feed(&f.partner, &f.feed) {
                    continue;
                }
                tracing::warn!(partner = %f.partner, feed = %f.feed, url = %f.url, "loaded file of a partner or feed not in the configuration");
                summary.files.push(FileOutcome {
                    partner: f.partner.clone(),
                    feed: f.feed.clone(),
                    url: f.url.clone(),
                    status: "not_configured".into(),
                    rows_read: 0,
                    rows_loaded: f.rows_loaded as u64,
                    rows_quarantined: 0,
                    message: Some(format!(
                        "partner `{}` with feed `{}` is not in the configuration; this file's rows stay loaded until it is back (a renamed feed reads its files again under the new name, so their rows count twice: keep a feed's name)",
                        f.partner, f.feed
                    )),
                    warnings: vec![],
                });
            }
        }
        Ok(summary)
    }

    async fn file(
        &self,
        ledger: &mut Ledger,
        source: &Source,
        p: &PartnerConfig,
        feed: &FeedConfig,
        f: &SourceFile,
        forget: &std::collections::HashSet<String>,
    ) -> Result<FileOutcome> {
        let outcome = |status: &str, message: Option<String>| FileOutcome {
            partner: p.id.clone(),
            feed: feed.name.clone(),
            url: f.url.clone(),
            status: status.into(),
            rows_read: 0,
            rows_loaded: 0,
            rows_quarantined: 0,
            message,
            warnings: vec![],
        };
        let limits = self.cfg.ingest.limits();
        if f.size > limits.max_file_bytes {
            let msg = format!("file is {} bytes, over ingest.max_file_bytes = {}", f.size, limits.max_file_bytes);
            // Not downloaded, so no content hash: key the rejection by size and time.
            let hash = blake3::hash(format!("{}|{}", f.size, f.modified).as_bytes()).to_hex().to_string();
            let id = file_id(p, feed, &f.url, &hash);
            return self.reject(ledger, p, feed, f, &id, &hash, None, FileError::new("file_too_large", msg)).map(|_| {
                outcome("rejected", Some("file_too_large: over ingest.max_file_bytes".to_string()))
            });
        }
        let bytes = match source.fetch(f).await {
            Ok(b) => b,
            Err(e) => return Ok(outcome("rejected", Some(e.to_string()))),
        };
        let content_hash = blake3::hash(&bytes).to_hex().to_string();
        let prev = ledger.file_by_hash(&p.id, &feed.name, &f.url, &content_hash)?;
        let known_copy = prev.as_ref().is_some_and(|prev| prev.status == "duplicate");
        // A rotation reads again every loaded file not yet protected with the
        // new secret (the rotation's record of it is its rekey file).
        let rotate_this = self.rotation.is_some()
            && prev.as_ref().is_some_and(|prev| {
                matches!(prev.status.as_str(), "loaded" | "vanished") && !self.warehouse.rekey(self.keys.key_id(), &prev.file_id).exists()
            });
        let superseded_before = prev.as_ref().is_some_and(|prev| prev.status == "superseded");
        if let Some(prev) = prev.filter(|_| !rotate_this) {
            let status = match prev.status.as_str() {
                // Tried again once the feed's configuration changed (the fix
                // a schema-drift or missing-column message asks for).
                "rejected" if rejected_under(&prev).as_deref() == Some(self.config_digest(p, feed).as_str()) => "still_rejected",
                "rejected" => "",
                // A copy is looked at again below: is its original still there?
                "superseded" | "duplicate" => "",
                _ => "unchanged",
            };
            if !status.is_empty() {
                let mut o = outcome(status, prev.message.clone());
                o.rows_read = prev.rows_read as u64;
                o.rows_loaded = prev.rows_loaded as u64;
                o.rows_quarantined = prev.rows_quarantined as u64;
                return Ok(o);
            }
        }
        // A version read before at this location and since superseded (A,
        // then B, then A again) is a new version: it gets an id of its own,
        // so that the ledger keeps the earlier one's history.
        let file_id = if superseded_before {
            file_id(p, feed, &f.url, &format!("{content_hash}#{}", ledger.versions_at(&p.id, &feed.name, &f.url)?))
        } else {
            file_id(p, feed, &f.url, &content_hash)
        };
        // The same content at another URL of the feed (a file re-sent under
        // a new name, or copied) is already loaded: its rows are not loaded
        // twice. It is loaded once no active file holds that content.
        if let Some(copy) = ledger.active_copy(&p.id, &feed.name, &f.url, &content_hash)? {
            let message = format!("same content as {}, which is loaded; its rows are not loaded twice", copy.url);
            if known_copy {
                // Recorded before; the location may have held other content
                // since (A, then this copy, then A, then this copy again):
                // that version's rows go all the same.
                ledger.supersede_others(&p.id, &feed.name, &f.url, &file_id)?;
                return Ok(outcome("duplicate", Some(message)));
            }
            ledger.record_file(&self.file_record(&file_id, p, feed, f, bytes.len(), &content_hash, "duplicate", Some(message.clone())))?;
            return Ok(outcome("duplicate", Some(message)));
        }
        tracing::info!(partner = %p.id, feed = %feed.name, url = %f.url, "ingesting");
        // Column digests made with the old secret compare with nothing
        // during a rotation: drift is checked again from the next file.
        let previous_headers = if self.rotation.is_some() { None } else { ledger.last_headers(&p.id, &feed.name)? };
        // A bug that panics on one file (in braid or a reader it uses) must
        // not stop the other files and partners. Such a file is not recorded
        // as rejected, so the next run tries it again.
        let staged = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            self.stage_file(p, feed, f, &file_id, &bytes, previous_headers, forget)
        }));
        let Ok(staged) = staged else {
            tracing::error!(partner = %p.id, url = %f.url, "internal error while reading this file; it is skipped and tried again next run");
            return Ok(outcome(
                "rejected",
                Some("internal_error: braid failed on this file (a bug, reported on stderr); it is skipped and tried again next run".into()),
            ));
        };
        // Rows read = loaded + quarantined, always: a file for which it does
        // not hold (a bug) is not loaded, in release builds too.
        let staged = staged.and_then(|s| {
            if s.rows_read == s.rows_loaded + s.rows_quarantined {
                return Ok(s);
            }
            tracing::error!(partner = %p.id, url = %f.url, "rows read, loaded and quarantined do not add up; the file is not loaded");
            Err(Staging::File(
                FileError::new(
                    "internal_error",
                    format!(
                        "braid read {} rows but accounted for {} loaded and {} quarantined (a bug); the file is not loaded",
                        s.rows_read, s.rows_loaded, s.rows_quarantined
                    ),
                ),
                Some(s.headers),
            ))
        });
        match staged {
            Ok(staged) => {
                let rec = FileRecord {
                    rows_read: staged.rows_read as i64,
                    rows_loaded: staged.rows_loaded as i64,
                    rows_quarantined: staged.rows_quarantined as i64,
                    headers: Some(serde_json::to_string(&staged.headers).expect("json")),
                    report: Some(serde_json::to_string(&staged.report).expect("json")),
                    ..self.file_record(&file_id, p, feed, f, bytes.len(), &content_hash, "loaded", None)
                };
                // A rotation carries the withdrawals first and marks the file
                // done (its key map) last, so a rotation stopped in between
                // reads the file again.
                if self.rotation.is_some() {
                    let new: Vec<String> = staged.rekeyed.withdrawals.iter().cloned().collect();
                    let old: Vec<String> = staged.rekeyed.replaced.iter().cloned().collect();
                    ledger.carry_forgets(&new, self.keys.key_id(), &old)?;
                }
                ledger.record_file(&rec)?;
                if self.rotation.is_some() {
                    write_rekey(self.warehouse, self.keys.key_id(), &file_id, &staged.rekeyed.keys)?;
                }
                let mut o = outcome("loaded", None);
                o.rows_read = staged.rows_read;
                o.rows_loaded = staged.rows_loaded;
                o.rows_quarantined = staged.rows_quarantined;
                o.warnings = staged.warnings;
                Ok(o)
            }
            Err(Staging::File(fe, _)) if rotate_this => {
                // The loaded version stays as it is (it cannot be protected
                // with the new secret now): the rotation stops before it
                // commits, and says which file.
                tracing::warn!(partner = %p.id, url = %f.url, code = fe.code, "file rejected when read again for the rotation: {}", fe.message);
                Ok(outcome("rejected", Some(format!("{}: {} (read again for the rotation; the version loaded before stays)", fe.code, fe.message))))
            }
            Err(Staging::File(fe, headers)) => {
                tracing::warn!(partner = %p.id, url = %f.url, code = fe.code, "file rejected: {}", fe.message);
                self.reject(ledger, p, feed, f, &file_id, &content_hash, headers, fe.clone())?;
                Ok(outcome("rejected", Some(format!("{}: {}", fe.code, fe.message))))
            }
            Err(Staging::Fatal(e)) => Err(e),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn reject(
        &self,
        ledger: &mut Ledger,
        p: &PartnerConfig,
        feed: &FeedConfig,
        f: &SourceFile,
        file_id: &str,
        content_hash: &str,
        headers: Option<Vec<String>>,
        fe: FileError,
    ) -> Result<()> {
        let message = Some(format!("{}: {}", fe.code, fe.message));
        ledger.record_file(&FileRecord {
            headers: headers.map(|h| serde_json::to_string(&h).expect("json")),
            report: Some(serde_json::json!({ "rejected_under": self.config_digest(p, feed) }).to_string()),
            ..self.file_record(file_id, p, feed, f, f.size as usize, content_hash, "rejected", message)
        })
    }

    /// A digest of everything that decides whether a file of this feed is
    /// read: its format and mapping, the partner's consent policy, the
    /// ingest limits and braid's version. A rejected file is tried again when
    /// it changes.
    fn config_digest(&self, p: &PartnerConfig, feed: &FeedConfig) -> String {
        let text = format!("{:?}|{:?}|{:?}|{:?}|{}", feed.format, feed.map, p.consent, self.cfg.ingest, env!("CARGO_PKG_VERSION"));
        blake3::hash(text.as_bytes()).to_hex()[..32].to_string()
    }

    /// The ledger entry of a version of `f`, with no rows counted.
    #[allow(clippy::too_many_arguments)]
    fn file_record(
        &self,
        file_id: &str,
        p: &PartnerConfig,
        feed: &FeedConfig,
        f: &SourceFile,
        size: usize,
        content_hash: &str,
        status: &str,
        message: Option<String>,
    ) -> FileRecord {
        FileRecord {
            file_id: file_id.to_string(),
            partner: p.id.clone(),
            feed: feed.name.clone(),
            url: f.url.clone(),
            size_bytes: size as i64,
            content_hash: content_hash.to_string(),
            modified: Some(f.modified.clone()),
            ingested_at: crate::ledger::now(),
            run_id: self.run_id.clone(),
            rows_read: 0,
            rows_loaded: 0,
            rows_quarantined: 0,
            status: status.into(),
            message,
            headers: None,
            report: None,
        }
    }

    /// Parse, map, protect and write the staging files of one file version.
    ///
    /// The parser runs on this thread and checks duplicates in file order;
    /// batches of rows are mapped and protected on worker threads; their
    /// results are written here, in file order.
    #[allow(clippy::too_many_arguments)]
    fn stage_file(
        &self,
        p: &PartnerConfig,
        feed: &FeedConfig,
        f: &SourceFile,
        file_id: &str,
        bytes: &[u8],
        previous_headers: Option<String>,
        forget: &std::collections::HashSet<String>,
    ) -> std::result::Result<StagedFile, Staging> {
        let limits = self.cfg.ingest.limits();
        let data = crate::parse::decompress(bytes, &f.url, &feed.format.compression, limits.max_decompressed_bytes)
            .map_err(|e| Staging::File(e, None))?;
        let name = crate::parse::uncompressed_name(&f.url);
        let rules = Rules { min_age: self.cfg.ingest.min_age, max_age: self.cfg.ingest.max_age, today: self.today };
        let forget_key = self.keys.key(Purpose::Forget);
        let key_id = self.keys.key_id().to_string();
        let records_path = self.warehouse.staged_records(file_id);
        let identity_path = self.warehouse.identity(file_id);
        let null_markers = feed.format.null_markers();
        let workers = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).clamp(1, 8);
        // Batches sent to the workers and not yet written: enough to keep
        // every worker busy while the writer catches up.
        let in_flight = 3 * workers;

        // Channels live outside the scope so the workers can borrow them.
        let (work_tx, work_rx) = std::sync::mpsc::sync_channel::<Work>(workers * 2);
        let work_rx = std::sync::Mutex::new(work_rx);
        // A worker's result, or the panic that stopped it (a bug).
        let (out_tx, out_rx) = std::sync::mpsc::channel::<std::thread::Result<Result<Done>>>();
        // Test hook (debug builds only): the workers fail, as a bug would,
        // on this partner's rows, once the parser has handed out as many
        // batches as it may (it is then waiting on the full queue) or all
        // of them.
        let fault = cfg!(debug_assertions) && std::env::var("BRAID_FAULT_WORKER_PANIC").is_ok_and(|v| v == p.id);
        // (What the hook waits for: batches handed out, and the end.)
        let handed_out = std::sync::atomic::AtomicUsize::new(0);
        let parse_done = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|scope| {
            let state = std::cell::RefCell::new(FileState {
                headers: vec![],
                records: None,
                identities: None,
                rejections: vec![],
                rows_read: 0,
                rows_loaded: 0,
                report: FileReport::default(),
                warnings: crate::map::Warnings::default(),
                absent_columns: vec![],
                fatal: None,
                duplicates: crate::map::Duplicates::default(),
                mapper: None,
                next: 0,
                sent: 0,
                pending: std::collections::BTreeMap::new(),
                rekeyed: Rekeyed::default(),
                spare: Vec::new(),
            });
            // Storage failures are fatal for the run, not a rejection of the
            // partner's file: remember them.
            let fatal = |st: &mut FileState, e: Error| -> FileError {
                let fe = FileError::new("storage", e.to_string());
                st.fatal = Some(e);
                fe
            };
            // A finished batch waits in `pending` to be written; its rows'
            // records go back to the parser (a batch's worth at most: the
            // rest are freed).
            let received = |st: &mut FileState, mut done: Done| {
                let room = crate::parse::BATCH_ROWS.saturating_sub(st.spare.len());
                st.spare.extend(done.rows.drain(..).take(room).map(|r| r.cells));
                st.pending.insert(done.index, done);
            };
            // Write finished batches in file order: every one that is ready,
            // then wait until at most `keep` batches are still out. Batches
            // done but not yet written hold their staged rows in memory, so
            // the parser waits here for the writer instead of running ahead.
            let drain = |st: &mut FileState, keep: usize| -> std::result::Result<(), FileError> {
                loop {
                    while let Ok(done) = out_rx.try_recv() {
                        let done = done.unwrap_or_else(|bug| std::panic::resume_unwind(bug)).map_err(|e| fatal(st, e))?;
                        received(st, done);
                    }
                    while let Some(done) = st.pending.remove(&st.next) {
                        st.next += 1;
                        st.rows_loaded += done.loaded;
                        st.report.no_consent += done.no_consent;
                        st.rejections.extend(done.rejections);
                        st.warnings.merge(done.warnings);
                        st.rekeyed.keys.extend(done.rekeyed.keys);
                        st.rekeyed.withdrawals.extend(done.rekeyed.withdrawals);
                        st.rekeyed.replaced.extend(done.rekeyed.replaced);
                        if let Err(e) = st.records.as_mut().expect("open").write(&done.staged) {
                            return Err(fatal(st, e));
                        }
                        for b in &done.identity {
                            if let Err(e) = st.identities.as_mut().expect("open").write(b) {
                                return Err(fatal(st, e));
                            }
                        }
                    }
                    if st.sent - st.next <= keep {
                        return Ok(());
                    }
                    let done = out_rx.recv().map_err(|_| FileError::new("storage", "a worker stopped"))?;
                    let done = done.unwrap_or_else(|bug| std::panic::resume_unwind(bug)).map_err(|e| fatal(st, e))?;
                    received(st, done);
                }
            };

            let mut on_start = |parsed: &Parsed| -> std::result::Result<(), FileError> {
                let mut st = state.borrow_mut();
                st.report.encoding = parsed.encoding.map(String::from);
                if matches!(parsed.format, crate::parse::FormatType::Csv | crate::parse::FormatType::Excel) && feed.format.header.unwrap_or(true) {
                    crate::map::check_header_row(&feed.map, &parsed.headers)?;
                }
                let mapper = Mapper::new(&feed.map, &parsed.headers, null_markers.clone(), rules)?;
                // Kept (and recorded in the ledger) only once the mapping
                // found its columns: a first row that is a person's values
                // is never stored as column names.
                // The ledger keeps digests of the column names, not the
                // names: they come from the file (see [`column_digest`]).
                let column_key = self.keys.field_key(Purpose::Token, "column name");
                st.headers = parsed.headers.iter().map(|h| column_digest(&column_key, h)).collect();
                if let Some(prev) = previous_headers.as_deref().and_then(|h| serde_json::from_str::<Vec<String>>(h).ok()) {
                    // Names from a ledger older than the digests are digested
                    // here. Columns are matched whatever their case, so a
                    // header that only changed case has not drifted.
                    let now: HashSet<String> = st.headers.iter().cloned().collect();
                    let before: HashSet<String> = prev.iter().map(|h| column_digest(&column_key, h)).collect();
                    // Only the configuration's column names are named.
                    let configured = configured_columns(feed);
                    let named = |set: &HashSet<String>, not: &HashSet<String>| -> (Vec<String>, usize) {
                        let changed: HashSet<&String> = set.difference(not).collect();
                        let names: Vec<String> =
                            configured.iter().filter(|c| changed.contains(&column_digest(&column_key, c))).cloned().collect();
                        let others = changed.len().saturating_sub(names.len());
                        (names, others)
                    };
                    let (added, added_other) = named(&now, &before);
                    let (removed, removed_other) = named(&before, &now);
                    if !removed.is_empty() {
                        let mut also = added.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>();
                        if added_other > 0 {
                            also.push(format!("{added_other} other(s)"));
                        }
                        return Err(FileError::new(
                            "schema_drift",
                            format!(
                                "schema drift: mapped column(s) {} disappeared since the last file{}; update [partner.feed.map.columns] if they were renamed",
                                removed.iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", "),
                                if also.is_empty() {
                                    String::new()
                                } else {
                                    format!(" and {} new column(s) appeared ({}; names from the file are not repeated)", added.len() + added_other, also.join(", "))
                                }
                            ),
                        ));
                    }
                    st.report.columns_added = added;
                    st.report.columns_removed = removed;
                    st.report.columns_added_other = added_other;
                    st.report.columns_removed_other = removed_other;
                }
                st.absent_columns = mapper.absent_columns.clone();
                let records = AtomicParquet::create(&records_path, &crate::model::staged_schema()).map_err(|e| fatal(&mut st, e))?;
                st.records = Some(records);
                let ids = AtomicParquet::create(&identity_path, &crate::protect::identity_schema()).map_err(|e| fatal(&mut st, e))?;
                st.identities = Some(ids);
                // Workers, each with its own mapper and protector.
                for _ in 0..workers {
                    let mut mapper = mapper.clone();
                    let mut protector = Protector::new(self.keys, &p.id, p.consent, self.variants.clone(), self.cfg.linkage.hardening.clone());
                    if let Some(r) = self.rotation {
                        protector = protector.with_previous(&r.previous, self.variants.clone(), self.cfg.linkage.hardening.clone());
                    }
                    let previous_forget = self.rotation.map(|r| (r.previous.key(Purpose::Forget), &r.previous_forget));
                    let (work_rx, out_tx) = (&work_rx, out_tx.clone());
                    let (key_id, forget_key, handed_out, parse_done) = (&key_id, &forget_key, &handed_out, &parse_done);
                    scope.spawn(move || {
                        // A panic (a bug) is sent to the file's thread,
                        // which unwinds with it to `file`'s catch_unwind: the
                        // file is skipped and the other files and partners
                        // go on.
                        // The worker then takes and drops the batches still
                        // coming, so that the parser is never left waiting
                        // on a full queue that nobody empties.
                        let mut failed = false;
                        loop {
                            let job = match work_rx.lock().expect("work queue").recv() {
                                Ok(j) => j,
                                Err(_) => return,
                            };
                            if failed {
                                continue;
                            }
                            let previous_forget = previous_forget.as_ref().map(|(k, l)| (k, *l));
                            let done = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                                if fault {
                                    let waited = std::time::Instant::now();
                                    while handed_out.load(std::sync::atomic::Ordering::SeqCst) < in_flight
                                        && !parse_done.load(std::sync::atomic::Ordering::SeqCst)
                                        && waited.elapsed() < std::time::Duration::from_secs(30)
                                    {
                                        std::thread::sleep(std::time::Duration::from_millis(10));
                                    }
                                    std::thread::sleep(std::time::Duration::from_millis(200));
                                    panic!("BRAID_FAULT_WORKER_PANIC: a worker fails on partner {}", p.id);
                                }
                                process(job, &mut mapper, &mut protector, forget, forget_key, p, feed, file_id, key_id, previous_forget)
                            }));
                            failed = done.is_err();
                            if out_tx.send(done).is_err() {
                                return;
                            }
                        }
                    });
                }
                st.mapper = Some(mapper);
                Ok(())
            };
            let mut on_batch = |rows: Vec<RawRow>| -> std::result::Result<crate::parse::Spare, FileError> {
                let work = {
                    let mut st = state.borrow_mut();
                    let st = &mut *st;
                    if st.rows_read == 0 {
                        st.duplicates.expect(data.len(), &rows);
                    }
                    st.rows_read += rows.len() as u64;
                    // Duplicates in file order, here; the rest in the workers.
                    let (rows, dups) = split_duplicates(rows, &mut st.duplicates, st.mapper.as_ref().expect("started"));
                    let index = st.sent;
                    st.sent += 1;
                    Work { index, rows, rejections: dups }
                };
                work_tx.send(work).map_err(|_| FileError::new("storage", "the workers stopped"))?;
                handed_out.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let mut st = state.borrow_mut();
                drain(&mut st, in_flight)?;
                Ok(std::mem::take(&mut st.spare))
            };
            let result = crate::parse::parse(&data, name, &feed.format, &limits, &mut on_start, &mut on_batch);
            parse_done.store(true, std::sync::atomic::Ordering::SeqCst);
            drop(work_tx);
            // Only the workers can send now: should one end without a word,
            // the wait below ends with an error instead of lasting forever.
            drop(out_tx);
            let result = result.and_then(|_| drain(&mut state.borrow_mut(), 0));
            let mut state = state.into_inner();
            if let Err(fe) = result {
                let headers = (!state.headers.is_empty()).then(|| state.headers.clone());
                return Err(match state.fatal.take() {
                    Some(e) => Staging::Fatal(e),
                    None => Staging::File(fe, headers),
                });
            }
            state.rejections.sort_by_key(|r| r.line);
            let quarantined = state.rejections.iter().filter(|r| !r.row_loaded).count() as u64;
            for r in &state.rejections {
                if r.row_loaded {
                    let column = r.column.as_deref().unwrap_or("");
                    *state.report.set_aside.entry(format!("{column}: {}", r.reason)).or_default() += 1;
                    continue;
                }
                *state.report.rejects_by_reason.entry(r.reason.to_string()).or_default() += 1;
                if let Some(c) = &r.column {
                    *state.report.rejects_by_column.entry(c.clone()).or_default() += 1;
                }
            }
            let read = state.rows_read.max(1) as f64;
            state.report.missing_share = state.warnings.missing.iter().map(|(k, v)| (k.clone(), *v as f64 / read)).collect();
            (state.report.unmapped_codes, state.report.unmapped_hidden) = unmapped_codes(&state.warnings);
            state.report.ambiguous_dates = state.warnings.ambiguous_dates.clone();
            state.report.absent_columns = state.absent_columns.clone();
            let withdrawn = |rk: &str| !forget.is_empty() && forget.contains(&crate::protect::encode::forget_entry(&forget_key, rk));
            let q = quarantine_batch(&state.rejections, self.keys, &p.id, &feed.name, file_id, &f.url, &withdrawn).map_err(Staging::Fatal)?;
            write_parquet_atomic(&self.warehouse.staged_quarantine(file_id), &QUARANTINE.schema(), &[q]).map_err(Staging::Fatal)?;
            state.records.take().expect("open").commit().map_err(Staging::Fatal)?;
            state.identities.take().expect("open").commit().map_err(Staging::Fatal)?;
            let mut warnings = Vec::new();
            for (field, code, n) in &state.report.unmapped_codes {
                warnings.push(format!("{n} row(s) with unmapped {field} code `{code}`"));
            }
            for (field, values, n) in &state.report.unmapped_hidden {
                warnings.push(format!("{n} row(s) with {values} other unmapped {field} value(s), not shown"));
            }
            for (what, n) in &state.report.set_aside {
                warnings.push(format!("{n} row(s) loaded with their value set aside ({what})"));
            }
            for (field, n) in &state.report.ambiguous_dates {
                warnings.push(format!("{n} row(s) with a day/month-ambiguous {field}"));
            }
            let r = &state.report;
            if !r.columns_added.is_empty() || r.columns_added_other > 0 {
                warnings.push(columns_changed("new column(s) since the last file", &r.columns_added, r.columns_added_other));
            }
            if !r.columns_removed.is_empty() || r.columns_removed_other > 0 {
                warnings.push(columns_changed("column(s) gone since the last file", &r.columns_removed, r.columns_removed_other));
            }
            if !state.report.absent_columns.is_empty() {
                warnings.push(format!("mapped column(s) not in the file: {}", state.report.absent_columns.join(", ")));
            }
            Ok(StagedFile {
                rekeyed: state.rekeyed,
                rows_read: state.rows_read,
                rows_loaded: state.rows_loaded,
                rows_quarantined: quarantined,
                headers: state.headers,
                report: state.report,
                warnings,
            })
        })
    }
}

/// A file version's record keys under the old secret beside the new ones
/// (a rotation; see [`Rotation`]).
fn write_rekey(wh: &Warehouse, key_id: &str, file_id: &str, keys: &std::collections::BTreeMap<String, String>) -> Result<()> {
    let schema = rekey_schema();
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(datafusion::arrow::array::StringArray::from_iter_values(keys.keys())) as ArrayRef,
            Arc::new(datafusion::arrow::array::StringArray::from_iter_values(keys.values())) as ArrayRef,
        ],
    )?;
    write_parquet_atomic(&wh.rekey(key_id, file_id), &schema, &[batch])
}

fn rekey_schema() -> datafusion::arrow::datatypes::SchemaRef {
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    Arc::new(Schema::new(vec![Field::new("previous_record_key", DataType::Utf8, false), Field::new("record_key", DataType::Utf8, false)]))
}

/// A column name as the ledger keeps it: a keyed digest of the name,
/// trimmed and in lower case (an entry that already is one is returned as it
/// is). Column names come from the file, and a file exported without its
/// header row, or an NDJSON object keyed by values (a phone number, a
/// relative's name), makes column names of a person's values; digests still
/// show which columns were added or are gone.
pub fn column_digest(key: &[u8; 32], name: &str) -> String {
    if name.len() == 34 && name.starts_with("c:") && name[2..].bytes().all(|b| b.is_ascii_hexdigit()) {
        return name.to_string();
    }
    format!("c:{}", &blake3::keyed_hash(key, name.trim().to_lowercase().as_bytes()).to_hex()[..32])
}

/// The configuration digest a rejected file version was rejected under
/// ([`Ingest::config_digest`]); None for one recorded before digests.
fn rejected_under(f: &FileRecord) -> Option<String> {
    let r: serde_json::Value = serde_json::from_str(f.report.as_deref()?).ok()?;
    r.get("rejected_under")?.as_str().map(String::from)
}

/// Every column name the feed's configuration names.
fn configured_columns(feed: &FeedConfig) -> Vec<String> {
    // One name per column as the digests see it (trimmed, lower case).
    let mut names: Vec<String> = feed.map.columns.values().flat_map(|spec| spec.names()).map(|n| n.trim().to_string()).collect();
    names.sort_by_key(|n| n.to_lowercase());
    names.dedup_by_key(|n| n.to_lowercase());
    names
}

/// "what: `A`, `B`, 2 other(s), not named: names from the file are not repeated".
pub fn columns_changed(what: &str, named: &[String], others: usize) -> String {
    let mut parts: Vec<String> = named.iter().map(|n| format!("`{n}`")).collect();
    if others > 0 {
        parts.push(format!("{others} other(s), not named: names from the file are not repeated"));
    }
    format!("{what}: {}", parts.join(", "))
}

/// Unmapped values named in reports: at least this many rows share one.
pub const UNMAPPED_SHOWN_MIN_ROWS: u64 = 5;
/// A field with more distinct unmapped values than this names none.
pub const UNMAPPED_SHOWN_MAX_VALUES: usize = 20;

/// Whether an unmapped value may be named: at most 32 characters, no `@`,
/// fewer than 5 digits in all (a phone, an SSN or a date written with
/// separators has more), no digit group followed by `-`, `/` or `.` and more
/// digits.
pub fn looks_like_code(c: &str) -> bool {
    let digits = c.bytes().filter(u8::is_ascii_digit).count();
    let separated = c.as_bytes().windows(3).any(|w| w[0].is_ascii_digit() && matches!(w[1], b'-' | b'/' | b'.') && w[2].is_ascii_digit());
    c.chars().count() <= 32 && !c.contains('@') && digits < 5 && !separated
}

/// (field, code, rows): an unmapped code a report may name.
pub type NamedCode = (String, String, u64);
/// (field, distinct values, rows): a field's unmapped values a report does
/// not name.
pub type HiddenCodes = (String, u64, u64);

/// Splits a file's unmapped codes into those a report may name and, per
/// field, a count of those it may not. A coded column holds codes, but a
/// shifted column or free text can put a person's name or e-mail there, so
/// a value is named only when it looks like a code ([`looks_like_code`]), at least
/// [`UNMAPPED_SHOWN_MIN_ROWS`] rows share it, and its field has at most
/// [`UNMAPPED_SHOWN_MAX_VALUES`] distinct unmapped values (a column of
/// identifiers has many).
pub fn unmapped_codes(w: &crate::map::Warnings) -> (Vec<NamedCode>, Vec<HiddenCodes>) {
    let looks_like_code = |c: &str| looks_like_code(c);
    let mut fields: BTreeMap<&str, Vec<(&str, u64)>> = BTreeMap::new();
    for ((f, c), n) in &w.unmapped_codes {
        fields.entry(f).or_default().push((c, *n));
    }
    for f in w.unmapped_more.keys() {
        fields.entry(f).or_default();
    }
    let (mut shown, mut hidden) = (vec![], vec![]);
    for (f, codes) in fields {
        let more = w.unmapped_more.get(f).copied().unwrap_or(0);
        let few = more == 0 && codes.len() <= UNMAPPED_SHOWN_MAX_VALUES;
        let (mut values, mut rows) = (u64::from(more > 0), more);
        for (c, n) in codes {
            if few && n >= UNMAPPED_SHOWN_MIN_ROWS && looks_like_code(c) {
                shown.push((f.to_string(), c.to_string(), n));
            } else {
                values += 1;
                rows += n;
            }
        }
        if rows > 0 {
            hidden.push((f.to_string(), values, rows));
        }
    }
    (shown, hidden)
}

/// The id of a file version: its partner, feed, URL and content.
fn file_id(p: &PartnerConfig, feed: &FeedConfig, url: &str, content_hash: &str) -> String {
    blake3::hash(format!("{}|{}|{}|{}", p.id, feed.name, url, content_hash).as_bytes()).to_hex()[..20].to_string()
}

/// Rows to map, and rejections of the exact duplicates of earlier rows
/// (checked in file order; a row with a parse issue is quarantined for
/// that, not as a duplicate).
pub(crate) fn split_duplicates(rows: Vec<RawRow>, duplicates: &mut crate::map::Duplicates, mapper: &Mapper) -> (Vec<RawRow>, Vec<Rejection>) {
    let mut keep = Vec::with_capacity(rows.len());
    let mut dups = Vec::new();
    for row in rows {
        match (row.issue.is_none()).then(|| duplicates.check(&row)).flatten() {
            Some(first) => dups.push(Rejection {
                line: row.line,
                column: None,
                reason: "duplicate_row",
                detail: format!("row is an exact duplicate of line {first}"),
                record_id: mapper.record_id(&row),
                row_loaded: false,
            }),
            None => keep.push(row),
        }
    }
    (keep, dups)
}

/// A batch of rows for a worker.
pub(crate) struct Work {
    pub(crate) index: usize,
    pub(crate) rows: Vec<RawRow>,
    /// Duplicates already found, carried through so counts stay in order.
    pub(crate) rejections: Vec<Rejection>,
}

/// A worker's result for one batch.
pub(crate) struct Done {
    pub(crate) index: usize,
    pub(crate) staged: RecordBatch,
    /// The identity file's batches, in order ([`crate::protect::BatchBuilder::finish`]).
    pub(crate) identity: Vec<RecordBatch>,
    pub(crate) rejections: Vec<Rejection>,
    pub(crate) loaded: u64,
    pub(crate) no_consent: u64,
    pub(crate) warnings: crate::map::Warnings,
    pub(crate) rekeyed: Rekeyed,
    /// The batch's rows, done with: their records go back to the parser
    /// to read later rows into ([`crate::parse::Spare`]).
    pub(crate) rows: Vec<RawRow>,
}

/// Map and protect one batch (on a worker thread).
#[allow(clippy::too_many_arguments)]
pub(crate) fn process(
    job: Work,
    mapper: &mut Mapper,
    protector: &mut Protector,
    forget: &std::collections::HashSet<String>,
    forget_key: &[u8; 32],
    p: &PartnerConfig,
    feed: &FeedConfig,
    file_id: &str,
    key_id: &str,
    previous_forget: Option<(&[u8; 32], &HashSet<String>)>,
) -> Result<Done> {
    let mut rekeyed = Rekeyed::default();
    let mut rejections = job.rejections;
    let mut batch = crate::protect::BatchBuilder::new(job.rows.len())?;
    let mut no_consent = 0;
    let mut loaded = 0;
    for row in &job.rows {
        match mapper.map(row) {
            Ok(mut m) => {
                let set_aside = std::mem::take(&mut m.set_aside);
                let pr = match protector.protect(m, mapper.name_order, &mut mapper.recycled) {
                    Ok(pr) => pr,
                    Err(crate::protect::NoIdentity { line }) => {
                        rejections.push(Rejection {
                            line,
                            column: None,
                            reason: "no_identity",
                            detail: "row has no record id, and none of its identifiers is usable (placeholders such as 123-45-6789 or 555-555-5555, or values that are not what their column says)".into(),
                            record_id: None,
                            row_loaded: false,
                        });
                        continue;
                    }
                };
                // During a rotation, a withdrawal made with the old secret
                // is entered again under the new one.
                let withdrawn_before = match (previous_forget, &pr.previous_record_key) {
                    (Some((key, list)), Some(old)) if !list.is_empty() => {
                        let entry = crate::protect::encode::forget_entry(key, old);
                        let hit = list.contains(&entry);
                        if hit {
                            rekeyed.replaced.insert(entry);
                        }
                        hit
                    }
                    _ => false,
                };
                if withdrawn_before {
                    rekeyed.withdrawals.insert(crate::protect::encode::forget_entry(forget_key, &pr.record_key));
                }
                if withdrawn_before || !forget.is_empty() && forget.contains(&crate::protect::encode::forget_entry(forget_key, &pr.record_key)) {
                    rejections.push(Rejection {
                        line: pr.line,
                        column: None,
                        reason: "consent_withdrawn",
                        detail: "the person withdrew consent (braid forget); the row is not loaded".into(),
                        record_id: None,
                        row_loaded: false,
                    });
                    continue;
                }
                rejections.extend(set_aside);
                if let Some(old) = &pr.previous_record_key {
                    rekeyed.keys.entry(old.clone()).or_insert_with(|| pr.record_key.clone());
                }
                if !pr.consent {
                    no_consent += 1;
                }
                batch.push(&pr);
                if pr.identity.is_some() {
                    // The dictionary entries of its name parts go with it.
                    protector.enter_parts(batch.part_entries());
                }
                loaded += 1;
                mapper.recycled.keep_row(pr.values);
                if let Some(id) = pr.identity {
                    mapper.recycled.keep_bytes(id);
                }
            }
            Err(r) => rejections.push(r),
        }
    }
    let (staged, identity) = batch.finish(&p.id, &feed.name, file_id, key_id)?;
    Ok(Done {
        index: job.index,
        staged,
        identity,
        rejections,
        loaded,
        no_consent,
        warnings: mapper.take_warnings(),
        rekeyed,
        rows: job.rows,
    })
}

struct FileState {
    headers: Vec<String>,
    records: Option<AtomicParquet>,
    identities: Option<AtomicParquet>,
    rejections: Vec<Rejection>,
    rows_read: u64,
    rows_loaded: u64,
    report: FileReport,
    warnings: crate::map::Warnings,
    absent_columns: Vec<String>,
    fatal: Option<Error>,
    duplicates: crate::map::Duplicates,
    /// The compiled mapping (the workers have clones).
    mapper: Option<Mapper>,
    /// Next batch to write, and batches handed out.
    next: usize,
    sent: usize,
    pending: std::collections::BTreeMap<usize, Done>,
    rekeyed: Rekeyed,
    /// Records of rows the workers are done with, for the parser.
    spare: crate::parse::Spare,
}

struct StagedFile {
    rekeyed: Rekeyed,
    rows_read: u64,
    rows_loaded: u64,
    rows_quarantined: u64,
    headers: Vec<String>,
    report: FileReport,
    warnings: Vec<String>,
}

enum Staging {
    /// The file is rejected; the run goes on.
    File(FileError, Option<Vec<String>>),
    /// Storage failed; the run stops.
    Fatal(Error),
}

/// Quarantine rows of one file. The record key is the keyed hash of the
/// partner's record id; no value from the row is kept. A person who
/// withdrew consent (`withdrawn` record keys) is not named either: their
/// rows there (a duplicate row, a bad date) keep line and reason, not the
/// record key.
#[allow(clippy::too_many_arguments)]
fn quarantine_batch(
    rejections: &[Rejection],
    keys: &Keys,
    partner: &str,
    feed: &str,
    file_id: &str,
    url: &str,
    withdrawn: &dyn Fn(&str) -> bool,
) -> Result<RecordBatch> {
    let n = rejections.len();
    let rep = |s: &str| -> ArrayRef { Arc::new(datafusion::arrow::array::StringArray::from(vec![s; n])) };
    let mut line = Int64Builder::with_capacity(n);
    let mut column = StringBuilder::new();
    let mut reason = StringBuilder::new();
    let mut detail = StringBuilder::new();
    let mut rk = StringBuilder::new();
    let mut loaded = BooleanBuilder::with_capacity(n);
    for r in rejections {
        loaded.append_value(r.row_loaded);
        line.append_value(r.line as i64);
        column.append_option(r.column.as_deref());
        reason.append_value(r.reason);
        detail.append_value(&r.detail);
        rk.append_option(r.record_id.as_deref().map(|id| crate::protect::record_key(keys, partner, id)).filter(|k| !withdrawn(k)));
    }
    Ok(RecordBatch::try_new(
        QUARANTINE.schema(),
        vec![
            rep(file_id),
            rep(partner),
            rep(feed),
            rep(url),
            Arc::new(line.finish()),
            Arc::new(column.finish()),
            Arc::new(reason.finish()),
            Arc::new(detail.finish()),
            Arc::new(rk.finish()),
            Arc::new(loaded.finish()),
        ],
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unmapped_values_are_named_only_when_they_look_like_shared_codes() {
        let mut w = crate::map::Warnings::default();
        let mut add = |f: &str, c: &str, n: u64| {
            w.unmapped_codes.insert((f.to_string(), c.to_string()), n);
        };
        add("sex", "X", 7);
        add("sex", "Zqxcanaryvv", 1);
        add("sex", "ana.ruiz@example.org", 9);
        add("sex", "4242 Canary Lane 94110", 6);
        add("sex", "415-555-1234", 6);
        add("sex", "03/24/1990", 6);
        add("country_of_origin", "MEX", 5);
        // A shifted column: many distinct values, none named.
        for i in 0..30 {
            add("program", &format!("Surname{i}"), 5);
        }
        w.unmapped_more.insert("race".into(), 40);
        let (shown, hidden) = unmapped_codes(&w);
        assert_eq!(shown, vec![("country_of_origin".into(), "MEX".into(), 5), ("sex".into(), "X".into(), 7)]);
        assert_eq!(hidden, vec![("program".into(), 30, 150), ("race".into(), 1, 40), ("sex".into(), 5, 28)]);
    }
}

#[cfg(test)]
mod rotation_tests {
    use std::sync::Arc;

    use crate::map::{Mapper, MappingConfig, Rules};
    use crate::parse::RawRow;
    use crate::protect::Protector;
    use crate::protect::variants::NameVariants;
    use crate::secret::{Keys, SecretSource};

    /// During a rotation each row also gets its record key under the old
    /// secret: the one the old secret alone gives, also for a record whose
    /// key is made from its identity (no partner id).
    #[test]
    fn a_rotation_finds_each_rows_old_record_key() {
        let variants = Arc::new(NameVariants::load(None).unwrap());
        let old = Keys::from_secret(b"the old secret, 32 bytes or more, for a test", SecretSource::Env).unwrap();
        let new = Keys::from_secret(b"the new secret, 32 bytes or more, for a test", SecretSource::Env).unwrap();
        let rules = Rules { min_age: 14, max_age: 100, today: chrono::NaiveDate::from_ymd_opt(2026, 11, 1).unwrap() };
        for with_id in [true, false] {
            let mut text = String::from("date_formats = [\"%Y-%m-%d\"]\n[columns]\ngiven_name = \"First\"\nfamily_name = \"Last\"\ndob = \"DOB\"\n");
            if with_id {
                text.push_str("record_id = \"ID\"\n");
            }
            let cfg: MappingConfig = toml::from_str(&text).unwrap();
            let headers: Vec<String> = ["ID", "First", "Last", "DOB"].map(String::from).to_vec();
            let mut mapper = Mapper::new(&cfg, &headers, vec![], rules).unwrap();
            let row = RawRow { line: 2, cells: csv::StringRecord::from(vec!["A7", "Ana", "Ruiz", "1990-03-24"]), issue: None };
            let mut protect = |p: &mut Protector| p.protect(mapper.map(&row).unwrap(), mapper.name_order, &mut mapper.recycled).unwrap();
            let under_old = protect(&mut Protector::new(&old, "school", Default::default(), variants.clone(), Default::default()));
            let mut rotating = Protector::new(&new, "school", Default::default(), variants.clone(), Default::default()).with_previous(&old, variants.clone(), Default::default());
            let under_new = protect(&mut rotating);
            assert_ne!(under_new.record_key, under_old.record_key);
            assert_eq!(under_new.previous_record_key.as_deref(), Some(under_old.record_key.as_str()), "with id: {with_id}");
            assert_eq!(under_old.previous_record_key, None);
        }
    }

    /// A record without a partner id is keyed by its identity in the inline
    /// layout (each name part's bytes in place), not by the stored bytes
    /// (parts by reference): its key stays the one braid gave it before
    /// identities were stored with a part dictionary.
    #[test]
    fn a_record_without_an_id_is_keyed_by_its_inline_identity() {
        use crate::protect::encode::{Encoder, Hardening, RawIdentity};
        let variants = Arc::new(NameVariants::load(None).unwrap());
        let keys = Keys::from_secret(b"a secret, 32 bytes or more, for a test only", SecretSource::Env).unwrap();
        let rules = Rules { min_age: 14, max_age: 100, today: chrono::NaiveDate::from_ymd_opt(2026, 11, 1).unwrap() };
        let cfg: MappingConfig = toml::from_str("date_formats = [\"%Y-%m-%d\"]\n[columns]\ngiven_name = \"First\"\nfamily_name = \"Last\"\ndob = \"DOB\"\n").unwrap();
        let headers: Vec<String> = ["First", "Last", "DOB"].map(String::from).to_vec();
        let mut mapper = Mapper::new(&cfg, &headers, vec![], rules).unwrap();
        let row = RawRow { line: 2, cells: csv::StringRecord::from(vec!["Ana", "Ruiz", "1990-03-24"]), issue: None };
        let mut protector = Protector::new(&keys, "school", Default::default(), variants.clone(), Default::default());
        let pr = protector.protect(mapper.map(&row).unwrap(), mapper.name_order, &mut mapper.recycled).unwrap();
        let inline = Encoder::new(&keys, variants, Hardening::default())
            .encode(&RawIdentity {
                given: Some("Ana"),
                family: Some("Ruiz"),
                dob: chrono::NaiveDate::from_ymd_opt(1990, 3, 24),
                ..Default::default()
            })
            .to_bytes();
        let id = format!("identity:{}", blake3::hash(&inline).to_hex());
        let key = crate::protect::encode::record_key_with(&keys.key(crate::secret::Purpose::RecordKey), "school", &id);
        assert_eq!(pr.record_key, key);
        assert_ne!(pr.identity.as_deref(), Some(&inline[..]), "stored in another layout");
    }
}
