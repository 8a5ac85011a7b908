//! `braid forget`: a person withdraws consent.
//!
//! The record named on the command line identifies the person; every record
//! linked to that person, at every partner, is removed: those the last
//! commit linked, and, when partners sent records since, those that linking
//! staging as it is now puts with the person (in memory, before anything is
//! written):
//!
//! 1. each record key goes on the withdrawal list (as a keyed hash of the
//!    key, not the key itself), all in one transaction and marked pending, so
//!    the rows are quarantined as `consent_withdrawn` if a partner sends them
//!    again. This is the durable intent: everything after it is redone until
//!    it is complete;
//! 2. the staging files (records, tokens and encodings, quarantine) that hold
//!    a withdrawn key are rewritten without it;
//! 3. the warehouse is re-linked and committed, and every table is vacuumed
//!    at once, so no older version keeps a copy (time travel to versions
//!    before the forget ends here, by design); then the entries are marked
//!    applied.
//!
//! Steps 2 and 3 are idempotent and belong to every commit
//! ([`crate::run::Pipeline::link_and_load`]): while an entry is pending, a
//! `braid run`, `braid link` or another `braid forget` rewrites staging,
//! re-commits and vacuums before it marks the entry applied, so a forget
//! interrupted at any point is completed by the next command that commits
//! (`braid pull` rewrites staging too). Linking also drops any record on the
//! withdrawal list, whatever staging holds.
//!
//! Releases already published are noisy aggregates and stay as they are.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use datafusion::arrow::array::{Array, BinaryArray, BooleanArray, RecordBatch, StringArray};
use datafusion::arrow::compute::filter_record_batch;

use crate::error::{Error, Result};
use crate::run::Pipeline;
use crate::secret::Purpose;
use crate::warehouse::{read_parquet, write_parquet_atomic};

pub async fn forget(p: &mut Pipeline, partner: &str, record_id: &str, dry_run: bool) -> Result<String> {
    let key_id = p.keys.key_id().to_string();
    let rotating = p.ledger.rotation_in_progress()?;
    match &rotating {
        // During a rotation of the secret a withdrawal is entered under the
        // new secret (below), and the rotation applies it.
        Some((_, new)) if *new != key_id => {
            return Err(Error::Secret(format!(
                "a rotation of the secret to key id {new} is in progress: enter withdrawals with the new secret; nothing was written"
            )));
        }
        Some(_) => {}
        // Staging and the withdrawal list must both be of this secret: under
        // another, the id would match no one and the person would stay.
        None => p.check_key()?,
    }
    // A partner removed from the configuration whose files are still
    // loaded can be named too: its people must be forgettable.
    let loaded_partner = p.ledger.active_files()?.iter().any(|f| f.partner == partner);
    if p.cfg.partner(partner).is_none() && !loaded_partner {
        // What was typed is not repeated: it may be an id in the wrong place.
        return Err(Error::Usage(format!("--partner is not one in the configuration (partners: {})", p.cfg.partner_ids().join(", "))));
    }
    if record_id.trim().is_empty() {
        return Err(Error::Usage("--record-id is empty: name the partner's record id of the person".into()));
    }
    let key = crate::protect::record_key(&p.keys, partner, record_id);
    if rotating.is_some() && !dry_run {
        let forget_key = p.keys.key(Purpose::Forget);
        p.ledger.add_forgets(&[crate::protect::encode::forget_entry(&forget_key, &key)], &key_id)?;
        return Ok(
            "entered under the new secret; the rotation in progress refuses the record's rows when it reads the partner's files. \
             Only this record is entered now: once the rotation is finished, run this forget again to remove the person's records \
             at other partners"
                .into(),
        );
    }
    let previous = p.previous_keys().await?;
    let mut keys: HashSet<String> = HashSet::new();
    keys.insert(key.clone());
    if let Some(person) = previous.get(&key) {
        for (rk, pk) in &previous {
            if pk == person {
                keys.insert(rk.clone());
            }
        }
    }
    // Whether partners sent files since the last commit (asked before this
    // forget's entries change the inputs). During a rotation staging holds
    // both secrets' encodings: the committed link table alone answers.
    let sent_since = rotating.is_none() && !p.inputs_committed()?;
    if dry_run {
        let pulled = if sent_since { cluster_now(p, &keys, &previous)? } else { HashMap::new() };
        keys.extend(pulled.keys().cloned());
        return dry_run_report(p, &keys, &pulled).await;
    }
    let forget_key = p.keys.key(Purpose::Forget);
    let entry = |k: &String| crate::protect::encode::forget_entry(&forget_key, k);
    // Withdrawals an earlier, interrupted forget left pending.
    let earlier = p.ledger.pending_forgets()?.len();
    // The records the committed link table knows go on the list first: the
    // durable intent, completed by the next command if this one stops.
    let mut entries: Vec<String> = keys.iter().map(entry).collect();
    p.ledger.add_forgets(&entries, &key_id)?;
    // Records pulled since the last link are not in that table: the
    // person's clusters in staging as it is now (of the named record and of
    // every committed one) count too.
    let pulled = if sent_since { cluster_now(p, &keys, &previous)? } else { HashMap::new() };
    let since_link = pulled.keys().filter(|rk| !previous.contains_key(*rk)).count();
    let more: Vec<String> = pulled.keys().filter(|k| !keys.contains(*k)).map(entry).collect();
    if !more.is_empty() {
        p.ledger.add_forgets(&more, &key_id)?;
        entries.extend(more);
        keys.extend(pulled.into_keys());
    }
    let rows_removed = scrub_staging(p)?;
    let committed = previous.contains_key(&key);
    if !committed && rows_removed == 0 && earlier == 0 {
        // Nothing of the record in the current tables or staging: nothing to
        // re-commit. Older table versions may still hold it (a file that
        // dropped the person since), so they go. The entry stays on the
        // list, so a file that brings the id later is refused.
        p.hygiene(true).await?;
        p.ledger.mark_forgets_applied(&entries)?;
        return Ok(format!(
            "no record matched: partner `{partner}` has no staged or linked record with that id, so nothing was removed; \
             the id is on the withdrawal list, and rows with it that the partner sends later are quarantined as consent_withdrawn"
        ));
    }
    // Re-link and commit without the person, then drop every old version
    // (link_and_load does both while a withdrawal is pending, and marks it
    // applied).
    let run_id = crate::run::new_run_id();
    p.ledger.start_run(&run_id)?;
    let mut t = crate::run::Timings::default();
    let stats = p.link_and_load(&run_id, None, None, &mut t).await;
    let code = stats.as_ref().map(|_| 0).unwrap_or_else(|e| e.exit_code());
    p.ledger.finish_run(&run_id, code, &serde_json::json!({ "forget": keys.len() }).to_string())?;
    stats?;
    let mut msg = if committed || rows_removed > 0 {
        format!(
            "forgot {} record(s) of one person{} ({rows_removed} staged row(s) removed); warehouse re-committed and vacuumed",
            keys.len(),
            since(since_link)
        )
    } else {
        format!("no record matched: partner `{partner}` has no staged or linked record with that id, so nothing of it was removed; the id is on the withdrawal list")
    };
    if earlier > 0 {
        msg.push_str(&format!("; {earlier} withdrawal(s) left pending by an interrupted forget were completed too"));
    }
    Ok(msg)
}

/// The person's records as staging links now, record key to partner: every
/// cluster that holds one of `keys` (the named record and those the
/// committed link table puts with it) when every staged record is linked
/// afresh, in memory (nothing is written; records already on the
/// withdrawal list take part, so that this forget's own entries still lead
/// to their clusters). Called only when partners sent files since the last
/// commit; otherwise the committed link table already says.
///
/// Without this, a record of the person that a partner sent after the last
/// link (under its own id) would not be found through the link table, and
/// would become a person of its own at the next link. The re-fit model may
/// cluster a little differently from the last commit, so every committed
/// record's cluster is taken, not only the named one's.
fn cluster_now(p: &Pipeline, keys: &HashSet<String>, previous: &HashMap<String, String>) -> Result<HashMap<String, String>> {
    let input = p.link_input_with(false)?;
    let out = crate::link::link(&input, previous, &HashMap::new(), &p.cfg.linkage);
    let persons: HashSet<&str> =
        out.assignments.iter().filter(|a| keys.contains(&a.record_key)).filter_map(|a| a.person_key.as_deref()).collect();
    Ok(out
        .assignments
        .iter()
        .filter(|a| a.person_key.as_deref().is_some_and(|pk| persons.contains(pk)))
        .map(|a| (a.record_key.clone(), a.partner.clone()))
        .collect())
}

/// ", N of them pulled since the last link", when N > 0.
fn since(n: usize) -> String {
    if n == 0 { String::new() } else { format!(", {n} of them pulled since the last link") }
}

/// What a forget of these record keys would remove, by partner: from the
/// committed link table, and records pulled since (`pulled`, from
/// [`cluster_now`]). Linkage is probabilistic, so the steward can see
/// whether the person's cluster holds more than the withdrawal is about.
async fn dry_run_report(p: &Pipeline, keys: &HashSet<String>, pulled: &HashMap<String, String>) -> Result<String> {
    let mut by_partner: std::collections::BTreeMap<String, usize> = Default::default();
    let mut counted: HashSet<String> = HashSet::new();
    for path in p.committed_link_files().await?.unwrap_or_default() {
        for b in crate::run::read_columns(&path, &["record_key", "partner"])? {
            let rk = b.column(0).as_any().downcast_ref::<StringArray>().ok_or_else(|| Error::internal("record_key is not text"))?;
            let pa = b.column(1).as_any().downcast_ref::<StringArray>().ok_or_else(|| Error::internal("partner is not text"))?;
            for i in 0..b.num_rows() {
                if keys.contains(rk.value(i)) {
                    *by_partner.entry(pa.value(i).to_string()).or_default() += 1;
                    counted.insert(rk.value(i).to_string());
                }
            }
        }
    }
    let mut new = 0;
    for (rk, partner) in pulled {
        if !counted.contains(rk) {
            *by_partner.entry(partner.clone()).or_default() += 1;
            new += 1;
        }
    }
    if by_partner.is_empty() {
        return Ok("dry run: no linked record has that id; a forget would put it on the withdrawal list only. Nothing was changed".into());
    }
    let n: usize = by_partner.values().sum();
    let list: Vec<String> = by_partner.iter().map(|(p, n)| format!("{p} ({n})")).collect();
    Ok(format!(
        "dry run: a forget would remove {n} linked record(s) of one person{}, at {}; nothing was changed. \
         If that is more than the person's records, the linkage joined someone else to them: check with `braid link explain`",
        since(new),
        list.join(", ")
    ))
}

/// An identity file's batches without the part dictionary entries
/// (decision 43) that no identity left in them refers to: a name part only
/// the withdrawn person had leaves with their identities. (Entries and the
/// identities that use them are always in the same file.)
fn drop_unused_parts(batches: Vec<RecordBatch>, enc: usize) -> Result<Vec<RecordBatch>> {
    use crate::protect::encode::{entry_ref, part_refs};
    let binary = |b: &RecordBatch| -> Result<BinaryArray> {
        b.column(enc).as_any().downcast_ref::<BinaryArray>().cloned().ok_or_else(|| Error::internal("encoding is not binary"))
    };
    let mut used = HashSet::new();
    for b in &batches {
        let e = binary(b)?;
        used.extend((0..b.num_rows()).flat_map(|i| part_refs(e.value(i))));
    }
    batches
        .iter()
        .map(|b| {
            let e = binary(b)?;
            let keep: BooleanArray = (0..b.num_rows()).map(|i| Some(entry_ref(e.value(i)).is_none_or(|r| used.contains(&r)))).collect();
            Ok(filter_record_batch(b, &keep)?)
        })
        .collect()
}

/// Rewrite every staging file (records, identities, quarantine) that holds a
/// record key on the withdrawal list, without those rows. Idempotent; a file
/// with no such key is read (its key column only) and left as it is. Returns
/// the rows removed. Does nothing while no withdrawal is pending.
pub fn scrub_staging(p: &Pipeline) -> Result<usize> {
    if p.ledger.pending_forgets()?.is_empty() {
        return Ok(0);
    }
    let list = p.ledger.forget_entries()?;
    let forget_key = p.keys.key(Purpose::Forget);
    let withdrawn = |rk: &str| list.contains(&crate::protect::encode::forget_entry(&forget_key, rk));
    let mut rows_removed = 0usize;
    for f in p.ledger.all_files()? {
        for path in p.wh.staged_files(&f.file_id) {
            if !path.exists() {
                continue;
            }
            // A first look at the keys alone: most files hold none.
            let mut hit = false;
            for b in crate::run::read_columns(&path, &["record_key"])? {
                let rk = b.column(0).as_any().downcast_ref::<StringArray>().ok_or_else(|| Error::internal("record_key is not text"))?;
                if (0..b.num_rows()).any(|i| !rk.is_null(i) && withdrawn(rk.value(i))) {
                    hit = true;
                    break;
                }
            }
            if !hit {
                continue;
            }
            let batches = read_parquet(&path)?;
            let Some(schema) = batches.first().map(|b| b.schema()) else { continue };
            let idx = schema.index_of("record_key").map_err(|_| Error::internal("staging file without record_key"))?;
            let mut out = Vec::with_capacity(batches.len());
            for b in batches {
                let rk = b.column(idx).as_any().downcast_ref::<StringArray>().expect("utf8");
                let keep: BooleanArray = (0..b.num_rows()).map(|i| Some(rk.is_null(i) || !withdrawn(rk.value(i)))).collect();
                let kept = filter_record_batch(&b, &keep)?;
                rows_removed += b.num_rows() - kept.num_rows();
                out.push(kept);
            }
            if let Ok(enc) = schema.index_of("encoding") {
                out = drop_unused_parts(out, enc)?;
            }
            write_parquet_atomic(&path, &Arc::clone(&schema), &out)?;
        }
    }
    Ok(rows_removed)
}
