//! `braid forget`: a person withdraws consent.
//!
//! The record named on the command line identifies the person; every record
//! linked to that person, at every partner, is removed:
//!
//! 1. each record key goes on the withdrawal list (as a keyed hash of the
//!    key, not the key itself), so the rows are quarantined as
//!    `consent_withdrawn` if a partner sends them again;
//! 2. the staging files (records, tokens and encodings, quarantine) that hold
//!    them are rewritten without them;
//! 3. the warehouse is re-linked and committed, and every table is vacuumed
//!    at once, so no older version keeps a copy (time travel to versions
//!    before the forget ends here, by design).
//!
//! Releases already published are noisy aggregates and stay as they are.

use std::collections::HashSet;
use std::sync::Arc;

use datafusion::arrow::array::{Array, BooleanArray, StringArray};
use datafusion::arrow::compute::filter_record_batch;

use crate::error::{Error, Result};
use crate::run::Pipeline;
use crate::secret::Purpose;
use crate::warehouse::{read_parquet, write_parquet_atomic};

pub async fn forget(p: &mut Pipeline, partner: &str, record_id: &str) -> Result<String> {
    if p.cfg.partner(partner).is_none() {
        return Err(Error::Usage(format!("no partner `{partner}` in the configuration")));
    }
    let key = crate::protect::record_key(&p.keys, partner, record_id);
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
    let forget_key = p.keys.key(Purpose::Forget);
    for k in &keys {
        p.ledger.add_forget(&crate::protect::encode::hex_key(&forget_key, k.as_bytes()))?;
    }
    let mut rows_removed = 0usize;
    for f in p.ledger.all_files()? {
        for path in [p.wh.staged_records(&f.file_id), p.wh.identity(&f.file_id), p.wh.staged_quarantine(&f.file_id)] {
            if !path.exists() {
                continue;
            }
            let batches = read_parquet(&path)?;
            let Some(schema) = batches.first().map(|b| b.schema()) else { continue };
            let idx = schema.index_of("record_key").map_err(|_| Error::internal("staging file without record_key"))?;
            let mut changed = false;
            let mut out = Vec::with_capacity(batches.len());
            for b in batches {
                let rk = b.column(idx).as_any().downcast_ref::<StringArray>().expect("utf8");
                let keep: BooleanArray = (0..b.num_rows()).map(|i| Some(rk.is_null(i) || !keys.contains(rk.value(i)))).collect();
                let kept = filter_record_batch(&b, &keep)?;
                if kept.num_rows() != b.num_rows() {
                    changed = true;
                    rows_removed += b.num_rows() - kept.num_rows();
                }
                out.push(kept);
            }
            if changed {
                write_parquet_atomic(&path, &Arc::clone(&schema), &out)?;
            }
        }
    }
    // Re-link and commit without the person, then drop every old version.
    let run_id = crate::run::new_run_id();
    p.ledger.start_run(&run_id)?;
    let mut t = crate::run::Timings::default();
    let stats = p.link_and_load(&run_id, None, None, &mut t).await;
    let code = stats.as_ref().map(|_| 0).unwrap_or_else(|e| e.exit_code());
    p.ledger.finish_run(&run_id, code, &serde_json::json!({ "forget": keys.len() }).to_string())?;
    stats?;
    for t in crate::model::TABLES {
        p.wh.vacuum(t.name, chrono::Duration::zero()).await?;
    }
    Ok(format!(
        "forgot {} record(s) of one person ({rows_removed} staged row(s) removed); warehouse re-committed and vacuumed",
        keys.len()
    ))
}
