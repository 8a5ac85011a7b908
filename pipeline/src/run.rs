//! One nightly run: the stages in order, with the state they share.
//!
//! `braid run` = pull (ingest) -> link -> load -> publish. A run whose inputs
//! (active file versions, configuration, SQL models, code version) are the
//! same as the last committed run's changes nothing: no new table versions,
//! and the release of the period is re-served without spending budget.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use chrono::NaiveDate;
use datafusion::arrow::array::{Array, BinaryArray, BooleanArray, StringArray};
use serde::Serialize;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::ingest::{Ingest, IngestSummary};
use crate::ledger::{FileRecord, Ledger};
use crate::link::{LinkInput, LinkStats, RecordRef};
use crate::protect::encode::Identity;
use crate::protect::variants::NameVariants;
use crate::publish::{PublishOptions, ReleaseSummary};
use crate::reference::NrsTable;
use crate::secret::Keys;
use crate::warehouse::Warehouse;

/// The state a run works on.
pub struct Pipeline {
    pub cfg: Config,
    pub keys: Keys,
    pub wh: Warehouse,
    pub ledger: Ledger,
    pub variants: Arc<NameVariants>,
    pub nrs: NrsTable,
}

/// Timing of each stage, for `make bench`.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Timings {
    pub stages: Vec<(String, f64)>,
}

impl Timings {
    fn add(&mut self, name: &str, t: Instant) {
        self.stages.push((name.to_string(), t.elapsed().as_secs_f64()));
    }
}

/// What a run did, printed at the end and stored in the run log.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub run_id: String,
    pub ingest: IngestSummary,
    pub linkage: Option<LinkStats>,
    pub loaded: bool,
    pub release: Option<ReleaseSummary>,
    pub timings: Timings,
}

/// Options of `braid run`.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    pub as_of: Option<NaiveDate>,
    pub revise: bool,
    pub publish: bool,
    /// Test hook: fail the load after this many tables (as a crash would).
    pub fault_after_tables: Option<usize>,
}

pub fn new_run_id() -> String {
    use rand::RngCore;
    format!("{}-{:04x}", chrono::Utc::now().format("%Y%m%dT%H%M%SZ"), rand::rng().next_u32() & 0xffff)
}

impl Pipeline {
    pub fn open(cfg: Config) -> Result<Pipeline> {
        let keys = Keys::load(&cfg.secret)?;
        if keys.is_demo() {
            tracing::warn!("using the DEMO hashing key: fine for the demo, never for real data");
        }
        let wh = Warehouse::new(cfg.warehouse.root());
        let ledger = Ledger::open(&cfg.state_dir())?;
        let variants = Arc::new(NameVariants::load(cfg.reference.name_variants.as_deref())?);
        let nrs = NrsTable::load(cfg.reference.nrs_levels.as_deref())?;
        Ok(Pipeline { cfg, keys, wh, ledger, variants, nrs })
    }

    pub fn today(as_of: Option<NaiveDate>) -> NaiveDate {
        as_of.unwrap_or_else(|| chrono::Local::now().date_naive())
    }

    /// Refuses a secret other than the one the linkage zone was protected
    /// with, before anything is written: files protected with a wrong key
    /// would be recorded as loaded and never protected again.
    pub fn check_key(&mut self) -> Result<()> {
        let key_id = self.keys.key_id().to_string();
        // The withdrawal list too; entries from before key ids were
        // recorded get this one once staging shows it is the warehouse's.
        if self.check_staging_key()? {
            self.ledger.stamp_forget_key(&key_id)?;
        }
        self.ledger.check_forget_key(&key_id)
    }

    /// Whether staging holds encodings, checked (on the first file that
    /// has them) to be of this key.
    fn check_staging_key(&self) -> Result<bool> {
        for f in self.ledger.active_files()? {
            let Some(was) = self.staged_key_id(&f.file_id)? else { continue };
            if was != self.keys.key_id() {
                return Err(Error::Secret(format!(
                    "the warehouse was protected with key {was} but the secret given now has key id {}: check BRAID_SECRET, \
                     BRAID_SECRET_FILE or the key file; nothing was read or written. To change the secret on purpose, \
                     run `braid rotate` (README: Rotating the secret)",
                    self.keys.key_id()
                )));
            }
            return Ok(true);
        }
        Ok(false)
    }

    /// The key id a file version's identities were protected with (`None`
    /// when it has none).
    fn staged_key_id(&self, file_id: &str) -> Result<Option<String>> {
        let path = self.wh.identity(file_id);
        if !path.exists() {
            return Ok(None);
        }
        let first = read_columns(&path, &["key_id"])?.into_iter().find(|b| b.num_rows() > 0);
        Ok(first.map(|b| b.column(0).as_any().downcast_ref::<StringArray>().expect("utf8").value(0).to_string()))
    }

    /// Ingest every partner (or one).
    pub async fn pull(&mut self, run_id: &str, partner: Option<&str>, as_of: Option<NaiveDate>) -> Result<IngestSummary> {
        self.check_key()?;
        // A withdrawal left pending by an interrupted `braid forget` comes
        // out of staging first (the commit that completes it is link's).
        crate::forget::scrub_staging(self)?;
        self.tidy_staging()?;
        let ingest = Ingest {
            cfg: &self.cfg,
            keys: &self.keys,
            warehouse: &self.wh,
            variants: self.variants.clone(),
            run_id: run_id.to_string(),
            today: Self::today(as_of),
            rotation: None,
        };
        ingest.run(&mut self.ledger, partner).await
    }

    /// A digest of everything the warehouse tables depend on, the braid
    /// build included.
    pub fn inputs_digest(&self) -> Result<String> {
        let mut h = blake3::Hasher::new();
        h.update(crate::VERSION.as_bytes());
        h.update(build_identity().as_bytes());
        h.update(self.keys.key_id().as_bytes());
        h.update(format!("{:?}", self.cfg.linkage).as_bytes());
        h.update(self.variants.version.as_bytes());
        h.update(self.nrs.version.as_bytes());
        // Every file version and its status: a new rejection or a vanished
        // file changes the ingest_ledger table, so it is a change too.
        for f in self.ledger.all_files()? {
            h.update(f.file_id.as_bytes());
            h.update(f.status.as_bytes());
        }
        let model_dir = self.cfg.metrics.dir().join("model");
        let mut files: Vec<_> = std::fs::read_dir(&model_dir)
            .map(|rd| rd.filter_map(|e| e.ok()).map(|e| e.path()).collect())
            .unwrap_or_else(|_| vec![]);
        files.sort();
        for f in files {
            h.update(&std::fs::read(&f).unwrap_or_default());
        }
        h.update(&self.ledger.forget_entries()?.len().to_le_bytes());
        Ok(h.finalize().to_hex()[..24].to_string())
    }

    /// Whether the last committed run linked and loaded exactly these
    /// inputs ([`Pipeline::inputs_digest`]); false before the first commit,
    /// or when the digest cannot be computed.
    pub fn inputs_committed(&self) -> Result<bool> {
        Ok(self.ledger.last_committed_inputs()?.is_some_and(|d| self.inputs_digest().is_ok_and(|now| now == d)))
    }

    /// Read the linkage zone and staged record keys of all active files,
    /// each record's observations completed from one another
    /// ([`LinkInput::complete_records`]).
    pub fn link_input(&self) -> Result<LinkInput> {
        self.link_input_with(true)
    }

    /// [`Pipeline::link_input`]; with `skip_withdrawn` false, records on the
    /// withdrawal list are read too (`braid forget` finds a person's
    /// clusters through its own new entries).
    pub fn link_input_with(&self, skip_withdrawn: bool) -> Result<LinkInput> {
        let mut input = self.link_input_as_stored(skip_withdrawn)?;
        input.complete_records();
        Ok(input)
    }

    /// The records and each one's distinct observations as the linkage
    /// zone holds them, before completion.
    pub fn link_input_as_stored(&self, skip_withdrawn: bool) -> Result<LinkInput> {
        let t = std::time::Instant::now();
        let files = self.ledger.active_files()?;
        // Files are read on a second thread, one ahead (`for_each_batch`).
        let staged: Vec<_> = files.iter().map(|f| self.wh.staged_records(&f.file_id)).filter(|p| p.exists()).collect();
        // Reserved, not touched: a record has one row or more.
        let mut records: Vec<RecordRef> = Vec::with_capacity(parquet_rows(&staged)?);
        // Record keys are keyed hashes already: a fast hasher is enough.
        let mut index: foldhash::HashMap<String, u32> = Default::default();
        // A record on the withdrawal list is never linked, whatever staging
        // still holds (staging is rewritten before a commit; this is the
        // second line).
        let forget = if skip_withdrawn { self.ledger.forget_entries()? } else { Default::default() };
        let forget_key = self.keys.key(crate::secret::Purpose::Forget);
        for_each_batch(&staged, &["record_key", "partner", "consent"], |b| {
            let rk = b.column(0).as_any().downcast_ref::<StringArray>().expect("utf8");
            let p = b.column(1).as_any().downcast_ref::<StringArray>().expect("utf8");
            let c = b.column(2).as_any().downcast_ref::<BooleanArray>().expect("bool");
            for i in 0..b.num_rows() {
                let key = rk.value(i);
                if !forget.is_empty() && !index.contains_key(key) && forget.contains(&crate::protect::encode::forget_entry(&forget_key, key)) {
                    continue;
                }
                match index.get(key) {
                    Some(r) => {
                        // Any row without consent withdraws the record.
                        let rec = &mut records[*r as usize];
                        rec.consent &= c.value(i);
                    }
                    None => {
                        index.insert(key.to_string(), records.len() as u32);
                        records.push(RecordRef { record_key: key.to_string(), partner: p.value(i).to_string(), consent: c.value(i) });
                    }
                }
            }
            Ok(())
        })?;
        tracing::debug!(secs = t.elapsed().as_secs_f32(), records = records.len(), "link: records read");
        // One file at a time, the next one read meanwhile (the encodings of
        // all files together are over a gigabyte at a million records). The
        // row count in the files' metadata sizes the list once: an identity
        // is a few hundred bytes, and growing the list by doubling would copy
        // them all again.
        let paths: Vec<_> = files.iter().map(|f| self.wh.identity(&f.file_id)).filter(|p| p.exists()).collect();
        let mut observations: Vec<(u32, Identity)> = Vec::with_capacity(parquet_rows(&paths)?);
        // A record's repeated observation (the same encoding on several rows
        // or files) is read once. Two fast hashes of the encoding with
        // different seeds make a 128-bit fingerprint; should the first ever
        // collide alone, the observation is kept (a repeat only costs time).
        // (Sized for about one observation per record: a hash table's
        // entries are spread over all of it, so oversizing touches memory.)
        let mut first: foldhash::HashMap<(u32, u64), u64> =
            foldhash::HashMap::with_capacity_and_hasher(records.len() + records.len() / 4, Default::default());
        let (h1, h2) = (foldhash::fast::FixedState::with_seed(0x0062_7261_6964), foldhash::fast::FixedState::with_seed(0x6964_656e_7469));
        let key_id_now = self.keys.key_id();
        // The name parts that identities in layout 7 refer to, from the
        // entries of every file read so far (a file's entries come before
        // the identities that refer to them; the same part in several files
        // is one entry here).
        let mut parts = crate::protect::encode::PartDictionary::default();
        for_each_batch(&paths, &["record_key", "key_id", "encoding"], |b| {
            let rk = b.column(0).as_any().downcast_ref::<StringArray>().expect("utf8");
            let key_id = b.column(1).as_any().downcast_ref::<StringArray>().expect("utf8");
            let enc = b.column(2).as_any().downcast_ref::<BinaryArray>().expect("binary");
            // Which rows to decode, in order (one thread: the first
            // occurrence decides)...
            let mut rows: Vec<(u32, &[u8])> = Vec::with_capacity(b.num_rows());
            for i in 0..b.num_rows() {
                if key_id.value(i) != key_id_now {
                    return Err(Error::Secret(format!(
                        "the linkage zone holds encodings made with key {} but the current key is {}; \
                         to change the secret, run `braid rotate` (README: Rotating the secret)",
                        key_id.value(i),
                        key_id_now
                    )));
                }
                let bytes = enc.value(i);
                if crate::protect::encode::PartDictionary::is_entry(bytes) {
                    parts.insert(bytes).map_err(|e| Error::internal(format!("an identity file of the linkage zone is damaged: {e}")))?;
                    continue;
                }
                let Some(r) = index.get(rk.value(i)) else { continue };
                if !records[*r as usize].consent {
                    continue;
                }
                let fingerprint = h2.hash_one(bytes);
                match first.entry((*r, h1.hash_one(bytes))) {
                    std::collections::hash_map::Entry::Occupied(o) if *o.get() == fingerprint => continue,
                    std::collections::hash_map::Entry::Occupied(_) => {}
                    std::collections::hash_map::Entry::Vacant(v) => {
                        v.insert(fingerprint);
                    }
                }
                rows.push((*r, bytes));
            }
            // ...then decoded on every core: decoding allocates the name
            // parts, and the pages behind them are zeroed as they are
            // first touched, which one core alone waits for.
            let parts = &parts;
            let decoded: Vec<Option<Vec<(u32, Identity)>>> = std::thread::scope(|s| {
                let handles: Vec<_> = rows
                    .chunks(rows.len().div_ceil(crate::link::threads()).max(1))
                    .map(|chunk| s.spawn(move || chunk.iter().map(|(r, bytes)| Some((*r, Identity::read(bytes, parts)?))).collect()))
                    .collect();
                handles.into_iter().map(|h| h.join().expect("decoding thread")).collect()
            });
            for part in decoded {
                observations.extend(part.ok_or_else(|| Error::internal("an identity encoding could not be read"))?);
            }
            Ok(())
        })?;
        tracing::debug!(secs = t.elapsed().as_secs_f32(), observations = observations.len(), "link: identities read");
        Ok(LinkInput { records, observations })
    }

    /// record_key -> person_key of the last committed run.
    pub async fn previous_keys(&self) -> Result<HashMap<String, String>> {
        Ok(self.committed_link().await?.unwrap_or_default().into_iter().filter_map(|(r, p)| p.map(|p| (r, p))).collect())
    }

    /// Last run's person key of every linked record, and the former key
    /// (`link::keys`) of those that have one, from one read of the
    /// committed `link` table. Tables written before braid kept former keys
    /// have none.
    pub async fn previous_and_former_keys(&self) -> Result<(HashMap<String, String>, HashMap<String, String>)> {
        let (mut previous, mut former) = (HashMap::new(), HashMap::new());
        for (rk, pk, fk) in self.committed_link_rows(true).await?.unwrap_or_default() {
            if let Some(fk) = fk {
                former.insert(rk.clone(), fk);
            }
            if let Some(pk) = pk {
                previous.insert(rk, pk);
            }
        }
        Ok((previous, former))
    }

    /// Every record of the committed `link` table with its person key
    /// (none for a record without consent to link, decision 4); `None`
    /// before the first committed link.
    pub async fn committed_link(&self) -> Result<Option<Vec<(String, Option<String>)>>> {
        Ok(self.committed_link_rows(false).await?.map(|rows| rows.into_iter().map(|(r, p, _)| (r, p)).collect()))
    }

    /// The committed `link` table's record keys, person keys and, when
    /// asked for and present, former keys.
    async fn committed_link_rows(&self, former: bool) -> Result<Option<Vec<(String, Option<String>, Option<String>)>>> {
        let Some(files) = self.committed_link_files().await? else { return Ok(None) };
        let mut out = Vec::new();
        for path in files {
            let optional: &[&str] = if former { &["former_key"] } else { &[] };
            for b in read_columns_and(&path, &["record_key", "person_key"], optional)? {
                let s = |i: usize| b.column(i).as_any().downcast_ref::<StringArray>().expect("utf8");
                let (rk, pk, fk) = (s(0), s(1), (b.num_columns() > 2).then(|| s(2)));
                for i in 0..b.num_rows() {
                    let opt = |a: &StringArray| (!a.is_null(i)).then(|| a.value(i).to_string());
                    out.push((rk.value(i).to_string(), opt(pk), fk.and_then(opt)));
                }
            }
        }
        Ok(Some(out))
    }

    /// The files of the committed `link` table; `None` before the first
    /// committed link.
    pub async fn committed_link_files(&self) -> Result<Option<Vec<std::path::PathBuf>>> {
        let versions = crate::load::committed_versions(&self.ledger)?;
        let Some(v) = versions.get("link") else { return Ok(None) };
        let mut out = Vec::new();
        for f in self.wh.files_at("link", *v).await? {
            out.push(crate::warehouse::local_path(&f).ok_or_else(|| Error::storage(&f, "not a local file"))?);
        }
        Ok(Some(out))
    }

    /// Link and load: the warehouse commit of one run.
    ///
    /// While a withdrawal (`braid forget`) is pending, staging is rewritten
    /// without it first, and every table is vacuumed at once after the
    /// commit; only then is the withdrawal marked applied. A forget cut off
    /// at any point is thus completed by the next commit.
    pub async fn link_and_load(&mut self, run_id: &str, as_of: Option<NaiveDate>, fault_after: Option<usize>, timings: &mut Timings) -> Result<LinkStats> {
        // The withdrawal list must match under this secret (see
        // `Ledger::check_forget_key`).
        let key_id = self.keys.key_id().to_string();
        self.ledger.check_forget_key(&key_id)?;
        let pending = self.ledger.pending_forgets()?;
        crate::forget::scrub_staging(self)?;
        let t = Instant::now();
        let input = self.link_input()?;
        tracing::debug!(observations = input.observations.len(), secs = t.elapsed().as_secs_f32(), rss_mib = crate::load::rss_mib(), "link input read");
        let (mut previous, mut former) = self.previous_and_former_keys().await?;
        // After a rotation of the secret, the committed link table knows the
        // records by their old keys: follow them to the new ones.
        let rekeyed = self.rekeyed()?;
        for (old, new) in &rekeyed {
            if let Some(pk) = previous.get(old).cloned() {
                previous.entry(new.clone()).or_insert(pk);
            }
            if let Some(fk) = former.get(old).cloned() {
                former.entry(new.clone()).or_insert(fk);
            }
        }
        tracing::debug!(secs = t.elapsed().as_secs_f32(), "link: previous person keys read");
        let out = crate::link::link(&input, &previous, &former, &self.cfg.linkage);
        tracing::debug!(secs = t.elapsed().as_secs_f32(), "link: linked, input not yet freed");
        drop(input);
        let link_secs = t.elapsed().as_secs_f32();
        timings.add("link", t);
        tracing::info!(secs = link_secs, records = out.stats.records, persons = out.stats.persons, pairs = out.stats.candidate_pairs, rss_mib = crate::load::rss_mib(), peak_mib = crate::load::peak_mib(), "linked");
        let t = Instant::now();
        // The person keys of the records whose withdrawal this commit applies
        // (from the last committed link table), and the former keys they
        // remember: they leave the key history (with every key merged into
        // one of them, except keys someone holds now: `load::inputs`).
        let withdrawn: std::collections::HashSet<String> = if pending.is_empty() {
            Default::default()
        } else {
            let forget_key = self.keys.key(crate::secret::Purpose::Forget);
            let pending: std::collections::HashSet<&String> = pending.iter().collect();
            let is_pending = |rk: &String| pending.contains(&crate::protect::encode::forget_entry(&forget_key, rk));
            previous.iter().chain(former.iter()).filter(|(rk, _)| is_pending(rk)).map(|(_, k)| k.clone()).collect()
        };
        let inputs = crate::load::inputs(&self.wh, &self.ledger, &out, &self.nrs, run_id, Self::today(as_of), &withdrawn).await?;
        let versions = crate::load::write_tables(&self.wh, &inputs, &self.cfg.metrics.dir(), fault_after).await?;
        let digest = self.inputs_digest()?;
        self.ledger.commit_run(run_id, &serde_json::to_string(&versions).expect("json"), &digest)?;
        timings.add("load", t);
        let t = Instant::now();
        // Old table versions hold record keys of a secret rotated away from:
        // they go with the rotation's key maps.
        self.hygiene(!pending.is_empty() || !rekeyed.is_empty()).await?;
        let dir = self.wh.rekey_dir();
        if dir.exists() {
            std::fs::remove_dir_all(&dir).map_err(|e| Error::storage(dir.display(), e))?;
        }
        timings.add("vacuum", t);
        if !pending.is_empty() {
            self.ledger.mark_forgets_applied(&pending)?;
            tracing::info!(entries = pending.len(), "consent withdrawal applied: staging rewritten, warehouse re-committed, old versions vacuumed");
        }
        Ok(out.stats)
    }

    /// Old record key to new, from a rotation of the secret not yet
    /// committed ([`crate::ingest::Rotation`]); empty otherwise.
    fn rekeyed(&self) -> Result<HashMap<String, String>> {
        let mut out = HashMap::new();
        let dir = self.wh.rekey_dir().join(self.keys.key_id());
        let Ok(entries) = std::fs::read_dir(&dir) else { return Ok(out) };
        for e in entries {
            let path = e.map_err(|e| Error::storage(dir.display(), e))?.path();
            if path.extension().is_none_or(|x| x != "parquet") {
                continue;
            }
            for b in read_columns(&path, &["previous_record_key", "record_key"])? {
                let old = b.column(0).as_any().downcast_ref::<StringArray>().expect("utf8");
                let new = b.column(1).as_any().downcast_ref::<StringArray>().expect("utf8");
                for i in 0..b.num_rows() {
                    out.insert(old.value(i).to_string(), new.value(i).to_string());
                }
            }
        }
        Ok(out)
    }

    /// Rotate to the secret in use from `previous` (`braid rotate`): read
    /// every partner file again, protect it with the new secret, enter the
    /// old secret's withdrawals again under the new one and carry person
    /// keys over, then link and commit. Resumable: a file already protected
    /// with the new secret is not read again. Withdrawals of the old secret
    /// that no row of the sources matched stop it, unless `drop_unmatched`.
    pub async fn rotate(
        &mut self,
        previous: Keys,
        run_id: &str,
        as_of: Option<NaiveDate>,
        drop_unmatched: bool,
        timings: &mut Timings,
    ) -> Result<(IngestSummary, LinkStats, Vec<String>)> {
        let (old, new) = (previous.key_id().to_string(), self.keys.key_id().to_string());
        if old == new {
            return Err(Error::Usage(format!("BRAID_PREVIOUS_SECRET is the secret in use (key id {new}): nothing to rotate")));
        }
        if let Some((o, n)) = self.ledger.rotation_in_progress()?
            && (o != old || n != new)
        {
            return Err(Error::Secret(format!(
                "a rotation from key id {o} to {n} is in progress; these secrets have key ids {old} and {new}: finish that one first; nothing was read or written"
            )));
        }
        // Staging may hold the old key or, resumed, the new one: no other.
        for f in self.ledger.active_files()? {
            if let Some(was) = self.staged_key_id(&f.file_id)?
                && was != old
                && was != new
            {
                return Err(Error::Secret(format!(
                    "the warehouse was protected with key {was}, not the previous secret's {old}: check BRAID_PREVIOUS_SECRET; nothing was read or written"
                )));
            }
        }
        if self.ledger.pending_forgets_of(&old)? > 0 {
            return Err(Error::Usage("a consent withdrawal is unfinished: complete it with the old secret (`braid run`) before rotating; nothing was read or written".into()));
        }
        self.ledger.stamp_forget_key(&old)?;
        if let Some(other) = self.ledger.forget_key_ids()?.into_iter().find(|k| *k != old && *k != new) {
            return Err(Error::Secret(format!(
                "the withdrawal list holds entries hashed with key id {other}, neither the previous secret's ({old}) nor this one's ({new}); nothing was read or written"
            )));
        }
        self.ledger.start_rotation(&old, &new)?;
        let carried_before = self.ledger.forget_entries_of(&new)?.len();
        let t = Instant::now();
        self.tidy_staging()?;
        let mut summary = IngestSummary::default();
        // A vanished file whose content is still at a copy's location is read
        // again there: a second pass once such copies are let go.
        for _pass in 0..2 {
            let rotation = crate::ingest::Rotation { previous_forget: self.ledger.forget_entries_of(&old)?, previous: previous.clone() };
            let ingest = Ingest {
                cfg: &self.cfg,
                keys: &self.keys,
                warehouse: &self.wh,
                variants: self.variants.clone(),
                run_id: run_id.to_string(),
                today: Self::today(as_of),
                rotation: Some(&rotation),
            };
            summary = ingest.run(&mut self.ledger, None).await?;
            // (Copies are `duplicate` versions: not among the active ones.)
            let files = self.ledger.all_files()?;
            let mut again = false;
            for f in files.iter().filter(|f| f.status == "vanished" && !self.wh.rekey(&new, &f.file_id).exists()) {
                let copies: Vec<&FileRecord> = files
                    .iter()
                    .filter(|c| c.status == "duplicate" && c.content_hash == f.content_hash && c.partner == f.partner && c.feed == f.feed)
                    .collect();
                if copies.is_empty() {
                    continue;
                }
                for copy in copies {
                    self.ledger.set_file_status(&copy.file_id, "superseded", "read again at the rotation of the secret, its original being gone")?;
                }
                self.ledger.set_file_status(&f.file_id, "superseded", "not at its source when the secret was rotated; a copy of it was read instead")?;
                again = true;
            }
            if !again {
                break;
            }
        }
        timings.add("ingest", t);
        // Every file with rows must now be protected with the new secret. A
        // file no longer at its source cannot be read again: its rows go
        // (said, by file). One that is there but could not be read, or was
        // rejected when read again, stops the rotation before anything is
        // committed; running it again goes on.
        let mut dropped = Vec::new();
        let mut unread = Vec::new();
        for f in self.ledger.active_files()? {
            if self.wh.rekey(&new, &f.file_id).exists() {
                continue;
            }
            if f.status == "vanished" || !self.cfg.has_feed(&f.partner, &f.feed) {
                dropped.push((f.file_id.clone(), format!("{} {}", f.partner, f.url)));
            } else {
                unread.push(format!("{} {}", f.partner, f.url));
            }
        }
        if !unread.is_empty() {
            return Err(Error::Usage(format!(
                "the rotation is not finished: {} file(s) could not be read again or were rejected when read again ({}); nothing was committed. \
                 Run `braid rotate` again once they can be read (the summary above says why)",
                unread.len(),
                unread.join(", ")
            )));
        }
        // Withdrawals of the old secret that no row matched cannot be carried
        // without the record id: they stop the rotation unless dropped on
        // purpose.
        let unmatched = self.ledger.forget_entries_of(&old)?.len();
        if unmatched > 0 && !drop_unmatched {
            return Err(Error::Usage(format!(
                "the rotation is not finished: {unmatched} withdrawal(s) made with the old secret matched no row of the partners' files \
                 (their rows are gone from the sources, or were quarantined), so they cannot be carried to the new secret. Enter each \
                 again under the new secret with `braid forget --partner P --record-id ID` (it works during a rotation), then run \
                 `braid rotate --drop-unmatched`; nothing was committed"
            )));
        }
        for (file_id, _) in &dropped {
            self.ledger.set_file_status(file_id, "superseded", "not at its source when the secret was rotated: its rows could not be protected with the new secret and were dropped")?;
        }
        let dropped: Vec<String> = dropped.into_iter().map(|(_, name)| name).collect();
        let dropped_withdrawals = self.ledger.drop_forgets_of(&old)?;
        let carried = self.ledger.forget_entries_of(&new)?.len().saturating_sub(carried_before);
        // Nothing of the old secret is needed any more: the rotation is
        // finished, and the commit below (or, if it fails, the next run's)
        // follows the key maps.
        self.ledger.finish_rotation(carried, dropped_withdrawals)?;
        self.tidy_staging()?;
        let stats = self.link_and_load(run_id, as_of, None, timings).await?;
        Ok((summary, stats, dropped))
    }

    /// Vacuum old table versions (all of them but the current one when
    /// `all_old`, after a consent withdrawal), then [`Pipeline::tidy_staging`].
    pub async fn hygiene(&self, all_old: bool) -> Result<()> {
        let retention =
            if all_old { chrono::Duration::zero() } else { chrono::Duration::hours(self.cfg.warehouse.retention_hours as i64) };
        for t in crate::model::TABLES {
            self.wh.vacuum(t.name, retention).await?;
        }
        self.tidy_staging()
    }

    /// Clear the staging folders of what no active file version needs:
    /// the files of versions the ledger knows and no longer uses
    /// (superseded, rejected), and the temporary files of a pull that died
    /// part way (its process gone). Those hold people's encodings too,
    /// which `braid forget` rewrites only in active files. A staged file the
    /// ledger does not know at all is left: a ledger that is not this
    /// warehouse's (a misconfigured state folder) must not empty it.
    /// (Before each pull and after each link; one command at a time holds
    /// the state lock.)
    pub fn tidy_staging(&self) -> Result<()> {
        // (A file id names one ledger row, so an unused version's files are
        // never an active version's.)
        for f in self.ledger.all_files()?.iter().filter(|f| f.status != "loaded" && f.status != "vanished") {
            for p in self.wh.staged_files(&f.file_id) {
                if p.exists() {
                    std::fs::remove_file(&p).map_err(|e| Error::storage(p.display(), e))?;
                }
            }
        }
        for dir in self.wh.staging_dirs() {
            crate::warehouse::remove_stale_temporaries(&dir);
        }
        Ok(())
    }

    /// The whole nightly job.
    pub async fn run(&mut self, opts: &RunOptions) -> Result<RunSummary> {
        let run_id = new_run_id();
        self.ledger.start_run(&run_id)?;
        let result = self.run_inner(&run_id, opts).await;
        // A run ends `committed` (it loaded the warehouse), `unchanged`
        // (its inputs were the last committed run's) or `failed`.
        if let Ok(s) = &result
            && !s.loaded
        {
            self.ledger.mark_run_unchanged(&run_id)?;
        }
        let (code, summary) = match &result {
            Ok(s) => (if s.ingest.rejected() > 0 { crate::error::exit::REJECTED_INPUT } else { 0 }, serde_json::to_string(s).unwrap_or_default()),
            Err(e) => (e.exit_code(), serde_json::json!({ "error": e.to_string() }).to_string()),
        };
        self.ledger.finish_run(&run_id, code, &summary)?;
        result
    }

    async fn run_inner(&mut self, run_id: &str, opts: &RunOptions) -> Result<RunSummary> {
        let mut timings = Timings::default();
        let t = Instant::now();
        let ingest = self.pull(run_id, None, opts.as_of).await?;
        timings.add("ingest", t);
        // A pending withdrawal always commits (and vacuums), even when the
        // inputs are those of the last commit: an interrupted forget may have
        // committed without vacuuming.
        // Key maps left by a rotation whose commit did not finish cleaning
        // up (old table versions, the maps themselves) are work to finish.
        let unchanged = self.ledger.pending_forgets()?.is_empty()
            && !self.wh.rekey_dir().exists()
            && self.inputs_committed()?;
        let (linkage, loaded) = if unchanged {
            tracing::info!("inputs unchanged since the last committed run: nothing to link or load");
            (None, false)
        } else {
            (Some(self.link_and_load(run_id, opts.as_of, opts.fault_after_tables, &mut timings).await?), true)
        };
        let release = if opts.publish {
            let t = Instant::now();
            let r = crate::publish::publish(
                &self.cfg,
                &self.keys,
                &mut self.ledger,
                &self.wh,
                &PublishOptions { as_of: Self::today(opts.as_of), revise: opts.revise },
            )
            .await?;
            crate::publish::write_partner_reports(&self.cfg, &self.ledger, None)?;
            timings.add("publish", t);
            Some(r)
        } else {
            None
        };
        Ok(RunSummary { run_id: run_id.to_string(), ingest, linkage, loaded, release, timings })
    }
}

/// Rows of some Parquet files together, from their footers.
pub fn parquet_rows(paths: &[std::path::PathBuf]) -> Result<usize> {
    let mut rows = 0;
    for path in paths {
        let file = std::fs::File::open(path).map_err(|e| Error::storage(path.display(), e))?;
        let builder = datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)?;
        rows += builder.metadata().file_metadata().num_rows().max(0) as usize;
    }
    Ok(rows)
}

/// Each batch of some columns of the files, in order, handed to `each`,
/// while a second thread reads (decompresses and decodes) the next file.
pub fn for_each_batch(
    paths: &[std::path::PathBuf],
    cols: &[&str],
    mut each: impl FnMut(&datafusion::arrow::record_batch::RecordBatch) -> Result<()>,
) -> Result<()> {
    std::thread::scope(|s| {
        // One file waits in the channel while the next is read: the
        // batches of three files at most are in memory at once.
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        s.spawn(move || {
            for p in paths {
                // A closed channel: the consumer stopped on an error.
                if tx.send(read_columns(p, cols)).is_err() {
                    return;
                }
            }
        });
        for batches in rx {
            for b in &batches? {
                each(b)?;
            }
        }
        Ok(())
    })
}

/// Read some columns of a Parquet file.
pub fn read_columns(path: &Path, cols: &[&str]) -> Result<Vec<datafusion::arrow::record_batch::RecordBatch>> {
    read_columns_and(path, cols, &[])
}

/// [`read_columns`], and after them those of `optional` that the file has
/// (a column added by a later braid is absent from older files).
pub fn read_columns_and(path: &Path, cols: &[&str], optional: &[&str]) -> Result<Vec<datafusion::arrow::record_batch::RecordBatch>> {
    use datafusion::parquet::arrow::ProjectionMask;
    use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let file = std::fs::File::open(path).map_err(|e| Error::storage(path.display(), e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)?;
    let schema = builder.parquet_schema();
    let present: Vec<&str> = optional.iter().copied().filter(|c| builder.schema().index_of(c).is_ok()).collect();
    let cols: Vec<&str> = cols.iter().copied().chain(present).collect();
    let idx: Vec<usize> = cols
        .iter()
        .map(|c| {
            builder
                .schema()
                .index_of(c)
                .map_err(|_| Error::storage(path.display(), format!("no column {c}")))
        })
        .collect::<Result<_>>()?;
    let mask = ProjectionMask::roots(schema, idx.clone());
    let reader = builder.with_projection(mask).with_batch_size(65536).build()?;
    let mut out = Vec::new();
    for b in reader {
        let b = b?;
        // Reorder to the requested order.
        let s = b.schema();
        let cols_sorted: Vec<_> = cols.iter().map(|c| b.column(s.index_of(c).expect("projected")).clone()).collect();
        let fields: Vec<_> = cols.iter().map(|c| s.field_with_name(c).expect("projected").clone()).collect();
        out.push(datafusion::arrow::record_batch::RecordBatch::try_new(Arc::new(datafusion::arrow::datatypes::Schema::new(fields)), cols_sorted)?);
    }
    Ok(out)
}

/// Which build of braid is running: the size and modification time of its
/// executable. Linkage and loading code change between builds without the
/// package version changing, so after an upgrade the next run links and
/// loads again instead of calling its inputs unchanged. (Reinstalling the
/// same build counts as a change too: one extra full run, never a stale one.)
fn build_identity() -> String {
    std::env::current_exe()
        .and_then(std::fs::metadata)
        .map(|m| {
            let modified = m.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map_or(0, |d| d.as_nanos());
            format!("{}:{modified}", m.len())
        })
        .unwrap_or_default()
}
