//! load: build the analytics tables from the staged records and the linkage,
//! and commit them as one run.
//!
//! Each table is computed by a SQL model in `sql/model/<table>.sql` (read it
//! to see exactly how a column is derived), cast to the schema defined in
//! `model.rs`, and written as one Delta overwrite commit. When every table is
//! written, the run commits in the state database with the versions of all
//! tables; braid's readers only ever read committed versions.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray, TimestampMicrosecondArray,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field as ArrowField, Schema};
use datafusion::datasource::MemTable;
use datafusion::prelude::SessionContext;
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::ledger::Ledger;
use crate::link::LinkOutput;
use crate::model::{self, TABLES};
use crate::warehouse::{Warehouse, file_uri, register_parquet};

/// The warehouse (`[warehouse]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WarehouseConfig {
    /// Folder of the warehouse.
    pub path: String,
    /// Folder of the state database; default `<path>/_state`.
    pub state: Option<String>,
    /// Hours an old table version stays readable (time travel) before the
    /// nightly vacuum removes its files. Default 168 (one week).
    #[serde(default = "d_retention")]
    pub retention_hours: u64,
}

fn d_retention() -> u64 {
    168
}

impl WarehouseConfig {
    pub fn root(&self) -> PathBuf {
        crate::config::resolve(&self.path)
    }
    pub fn state_dir(&self) -> PathBuf {
        match &self.state {
            Some(s) => crate::config::resolve(s),
            None => self.root().join("_state"),
        }
    }
}

/// A session with every input of the SQL models registered.
pub struct ModelInputs {
    pub ctx: SessionContext,
}

/// Register the inputs of the SQL models: `staged`, `quarantine_raw`,
/// `link_map`, `key_events`, `history_prev`, `ledger_files`,
/// `nrs_cut_scores` and `run_params`.
pub async fn inputs(
    wh: &Warehouse,
    ledger: &Ledger,
    link: &LinkOutput,
    nrs: &crate::reference::NrsTable,
    run_id: &str,
    as_of: chrono::NaiveDate,
    withdrawn: &std::collections::HashSet<String>,
) -> Result<ModelInputs> {
    let ctx = crate::sql::new_context();
    tracing::debug!(rss_mib = rss_mib(), "registering model inputs");
    let active = ledger.active_files()?;
    let staged: Vec<String> = active
        .iter()
        .map(|f| wh.staged_records(&f.file_id))
        .filter(|p| p.exists())
        .map(|p| file_uri(&p))
        .collect::<Result<_>>()?;
    register_parquet(&ctx, "staged", model::staged_schema(), &staged)?;
    let quarantine: Vec<String> = active
        .iter()
        .map(|f| wh.staged_quarantine(&f.file_id))
        .filter(|p| p.exists())
        .map(|p| file_uri(&p))
        .collect::<Result<_>>()?;
    register_parquet(&ctx, "quarantine_raw", model::QUARANTINE.schema(), &quarantine)?;

    // link_map
    let a = &link.assignments;
    let schema = Arc::new(Schema::new(vec![
        ArrowField::new("record_key", DataType::Utf8, false),
        ArrowField::new("partner", DataType::Utf8, false),
        ArrowField::new("person_key", DataType::Utf8, true),
        ArrowField::new("former_key", DataType::Utf8, true),
        ArrowField::new("match_probability", DataType::Float64, true),
        ArrowField::new("cluster_size", DataType::Int32, false),
        ArrowField::new("consent", DataType::Boolean, false),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from_iter_values(a.iter().map(|x| x.record_key.as_str()))),
            Arc::new(StringArray::from_iter_values(a.iter().map(|x| x.partner.as_str()))),
            Arc::new(StringArray::from(a.iter().map(|x| x.person_key.as_deref()).collect::<Vec<_>>())),
            Arc::new(StringArray::from(a.iter().map(|x| x.former_key.as_deref()).collect::<Vec<_>>())),
            Arc::new(Float64Array::from(a.iter().map(|x| x.probability).collect::<Vec<_>>())),
            Arc::new(Int32Array::from_iter_values(a.iter().map(|x| x.cluster_size))),
            Arc::new(BooleanArray::from(a.iter().map(|x| x.consent).collect::<Vec<_>>())),
        ],
    )?;
    ctx.register_table("link_map", Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))?;

    // key_events of this run. A person who withdrew consent (`withdrawn`:
    // their person keys and former keys) leaves the key history too: no
    // event of their key (the retirement this run records for it included),
    // and below, none carried over from earlier runs. Not a key someone
    // still in the warehouse holds now (a merge undone gave it back to
    // them): it keeps its history.
    let live: std::collections::HashSet<&str> =
        if withdrawn.is_empty() { Default::default() } else { link.assignments.iter().filter_map(|a| a.person_key.as_deref()).collect() };
    let withdrawn: std::collections::HashSet<String> = withdrawn.iter().filter(|k| !live.contains(k.as_str())).cloned().collect();
    let gone = |k: &str| withdrawn.contains(k);
    let now = chrono::Utc::now().timestamp_micros();
    let ev: Vec<_> = link.events.iter().filter(|e| !gone(&e.person_key) && !e.related_key.as_deref().is_some_and(gone)).collect();
    let hist = model::PERSON_KEY_HISTORY.schema();
    let batch = RecordBatch::try_new(
        hist.clone(),
        vec![
            Arc::new(StringArray::from_iter_values(ev.iter().map(|_| run_id))),
            Arc::new(StringArray::from_iter_values(ev.iter().map(|e| e.event))),
            Arc::new(StringArray::from_iter_values(ev.iter().map(|e| e.person_key.as_str()))),
            Arc::new(StringArray::from(ev.iter().map(|e| e.related_key.as_deref()).collect::<Vec<_>>())),
            Arc::new(Int32Array::from_iter_values(ev.iter().map(|e| e.records))),
            Arc::new(TimestampMicrosecondArray::from_iter_values(ev.iter().map(|_| now)).with_timezone("UTC")),
        ],
    )?;
    ctx.register_table("key_events", Arc::new(MemTable::try_new(hist.clone(), vec![vec![batch]])?))?;

    // history_prev: the committed person_key_history
    let versions = committed_versions(ledger)?;
    let prev_files = match versions.get("person_key_history") {
        Some(v) => wh.files_at("person_key_history", *v).await?,
        None => vec![],
    };
    register_parquet(&ctx, "history_prev", hist.clone(), &prev_files)?;
    if !withdrawn.is_empty() && !prev_files.is_empty() {
        use datafusion::arrow::array::Array;
        let text = |b: &RecordBatch, name: &str| -> Result<StringArray> {
            let col = b.column_by_name(name).ok_or_else(|| Error::internal(format!("person_key_history has no {name}")))?;
            let col = datafusion::arrow::compute::cast(col, &DataType::Utf8)?;
            Ok(col.as_any().downcast_ref::<StringArray>().expect("utf8").clone())
        };
        let batches = ctx.table("history_prev").await?.collect().await?;
        // A key merged into a withdrawn person's key was theirs too (or of
        // someone merged with them, who leaves with them): so, in turn, is
        // every key merged into that one, except live ones (above).
        let mut merged_into: Vec<(String, String)> = Vec::new();
        for b in &batches {
            let (ev, pk, rk) = (text(b, "event")?, text(b, "person_key")?, text(b, "related_key")?);
            for i in (0..b.num_rows()).filter(|i| ev.value(*i) == "merged" && !rk.is_null(*i) && !live.contains(pk.value(*i))) {
                merged_into.push((pk.value(i).to_string(), rk.value(i).to_string()));
            }
        }
        let mut all_gone = withdrawn.clone();
        loop {
            let more: Vec<String> =
                merged_into.iter().filter(|(k, into)| all_gone.contains(into) && !all_gone.contains(k)).map(|(k, _)| k.clone()).collect();
            if more.is_empty() {
                break;
            }
            all_gone.extend(more);
        }
        let gone = |k: &str| all_gone.contains(k);
        let mut kept = Vec::new();
        for b in &batches {
            let (pk, rk) = (text(b, "person_key")?, text(b, "related_key")?);
            let keep: BooleanArray = (0..b.num_rows()).map(|i| Some(!gone(pk.value(i)) && (rk.is_null(i) || !gone(rk.value(i))))).collect();
            kept.push(datafusion::arrow::compute::filter_record_batch(b, &keep)?);
        }
        ctx.deregister_table("history_prev")?;
        ctx.register_table("history_prev", Arc::new(MemTable::try_new(hist, vec![kept])?))?;
    }

    // ledger_files
    let files = ledger.all_files()?;
    let ls = model::INGEST_LEDGER.schema();
    let ts = |s: &str| chrono::DateTime::parse_from_rfc3339(s).map(|d| d.timestamp_micros()).unwrap_or(0);
    let batch = RecordBatch::try_new(
        ls.clone(),
        vec![
            Arc::new(StringArray::from_iter_values(files.iter().map(|f| f.file_id.as_str()))),
            Arc::new(StringArray::from_iter_values(files.iter().map(|f| f.partner.as_str()))),
            Arc::new(StringArray::from_iter_values(files.iter().map(|f| f.feed.as_str()))),
            Arc::new(StringArray::from_iter_values(files.iter().map(|f| f.url.as_str()))),
            Arc::new(Int64Array::from_iter_values(files.iter().map(|f| f.size_bytes))),
            Arc::new(StringArray::from_iter_values(files.iter().map(|f| f.content_hash.as_str()))),
            Arc::new(TimestampMicrosecondArray::from_iter_values(files.iter().map(|f| ts(&f.ingested_at))).with_timezone("UTC")),
            Arc::new(Int64Array::from_iter_values(files.iter().map(|f| f.rows_read))),
            Arc::new(Int64Array::from_iter_values(files.iter().map(|f| f.rows_loaded))),
            Arc::new(Int64Array::from_iter_values(files.iter().map(|f| f.rows_quarantined))),
            Arc::new(StringArray::from_iter_values(files.iter().map(|f| f.status.as_str()))),
            Arc::new(StringArray::from(files.iter().map(|f| f.message.as_deref()).collect::<Vec<_>>())),
        ],
    )?;
    ctx.register_table("ledger_files", Arc::new(MemTable::try_new(ls, vec![vec![batch]])?))?;

    ctx.register_table("nrs_cut_scores", Arc::new(nrs.to_table()?))?;

    let ps = Arc::new(Schema::new(vec![
        ArrowField::new("as_of", DataType::Date32, false),
        ArrowField::new("run_id", DataType::Utf8, false),
    ]));
    let batch = RecordBatch::try_new(
        ps.clone(),
        vec![
            Arc::new(datafusion::arrow::array::Date32Array::from(vec![crate::protect::date32(as_of)])),
            Arc::new(StringArray::from(vec![run_id])),
        ],
    )?;
    ctx.register_table("run_params", Arc::new(MemTable::try_new(ps, vec![vec![batch]])?))?;
    Ok(ModelInputs { ctx })
}

/// The table versions of the last committed run.
pub fn committed_versions(ledger: &Ledger) -> Result<BTreeMap<String, i64>> {
    match ledger.committed_versions()? {
        Some((_, json)) => serde_json::from_str(&json).map_err(|e| Error::internal(format!("run versions: {e}"))),
        None => Ok(BTreeMap::new()),
    }
}

/// Run every SQL model and write the tables. Returns the new versions.
/// `fail_after` is a fault-injection hook for tests: stop (as a crash
/// would) after that many tables.
pub async fn write_tables(
    wh: &Warehouse,
    inputs: &ModelInputs,
    sql_dir: &std::path::Path,
    fail_after: Option<usize>,
) -> Result<BTreeMap<String, i64>> {
    let mut versions = BTreeMap::new();
    for (i, t) in TABLES.iter().enumerate() {
        if fail_after == Some(i) {
            return Err(Error::internal(format!("fault injected after {i} tables (BRAID_FAULT_AFTER_TABLES)")));
        }
        let path = sql_dir.join("model").join(format!("{}.sql", t.name));
        let sql = std::fs::read_to_string(&path).map_err(|e| Error::Sql {
            file: path.display().to_string(),
            message: format!("cannot read the model for table {}: {e}", t.name),
        })?;
        let df = inputs.ctx.sql(&sql).await.map_err(|e| Error::Sql { file: path.display().to_string(), message: e.to_string() })?;
        let batches = df.collect().await.map_err(|e| Error::Sql { file: path.display().to_string(), message: e.to_string() })?;
        tracing::debug!(table = t.name, rss_mib = rss_mib(), "model computed");
        let schema = t.schema();
        let batches = batches
            .into_iter()
            .map(|b| conform(&b, &schema).map_err(|m| Error::Sql { file: path.display().to_string(), message: m }))
            .collect::<Result<Vec<_>>>()?;
        let v = wh.overwrite(t.name, &schema, batches).await?;
        tracing::debug!(table = t.name, version = v, rss_mib = rss_mib(), peak_mib = peak_mib(), "table written");
        versions.insert(t.name.to_string(), v);
    }
    Ok(versions)
}

/// Resident memory of this process in MiB (Linux), for debug logs.
pub fn rss_mib() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1).and_then(|p| p.parse::<u64>().ok()))
        .map(|pages| pages * 4096 / (1 << 20))
        .unwrap_or(0)
}

/// Peak resident memory of this process so far in MiB (Linux), for debug logs.
pub fn peak_mib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok()))
        .map(|kib| kib / 1024)
        .unwrap_or(0)
}

/// Cast a model's output to the table schema, by column name.
fn conform(b: &RecordBatch, schema: &Arc<Schema>) -> std::result::Result<RecordBatch, String> {
    let mut cols: Vec<ArrayRef> = Vec::with_capacity(schema.fields().len());
    for f in schema.fields() {
        let idx = b
            .schema()
            .index_of(f.name())
            .map_err(|_| format!("the model does not return column `{}`", f.name()))?;
        let col = b.column(idx);
        let col = if col.data_type() == f.data_type() {
            col.clone()
        } else {
            cast(col, f.data_type()).map_err(|e| format!("column `{}`: {e}", f.name()))?
        };
        if !f.is_nullable() && col.null_count() > 0 {
            return Err(format!("column `{}` has nulls but the data model says it never does", f.name()));
        }
        cols.push(col);
    }
    if b.num_columns() != schema.fields().len() {
        let extra: Vec<String> = b
            .schema()
            .fields()
            .iter()
            .filter(|f| schema.field_with_name(f.name()).is_err())
            .map(|f| f.name().clone())
            .collect();
        if !extra.is_empty() {
            return Err(format!("the model returns columns not in the data model: {}", extra.join(", ")));
        }
    }
    RecordBatch::try_new(schema.clone(), cols).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;
    use datafusion::arrow::array::{Array, AsArray, Date32Array, new_null_array};

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    /// A session with `staged` rows of one person (p_1) and its `link_map`:
    /// `keys` gives each row's record key and partner, `cols` the columns
    /// given by name; other nullable columns are null, the rest "1".
    fn one_person(keys: &[(&str, &str)], cols: Vec<(&str, ArrayRef)>) -> SessionContext {
        let schema = model::staged_schema();
        let n = keys.len();
        let arrays: Vec<ArrayRef> = schema
            .fields()
            .iter()
            .map(|f| -> ArrayRef {
                if let Some((_, a)) = cols.iter().find(|(c, _)| c == f.name()) {
                    return a.clone();
                }
                match f.name().as_str() {
                    "record_key" => Arc::new(StringArray::from_iter_values(keys.iter().map(|k| k.0))),
                    "partner" => Arc::new(StringArray::from_iter_values(keys.iter().map(|k| k.1))),
                    _ if f.is_nullable() => new_null_array(f.data_type(), n),
                    _ => cast(&(Arc::new(StringArray::from_iter_values(keys.iter().map(|_| "1"))) as ArrayRef), f.data_type()).unwrap(),
                }
            })
            .collect();
        let ctx = SessionContext::new();
        let staged = RecordBatch::try_new(schema.clone(), arrays).unwrap();
        ctx.register_table("staged", Arc::new(MemTable::try_new(schema, vec![vec![staged]]).unwrap())).unwrap();
        // Each record once, in the order of the rows.
        let mut records: Vec<(&str, &str)> = Vec::new();
        for k in keys {
            if !records.contains(k) {
                records.push(*k);
            }
        }
        let ls = Arc::new(Schema::new(vec![
            ArrowField::new("record_key", DataType::Utf8, false),
            ArrowField::new("partner", DataType::Utf8, false),
            ArrowField::new("person_key", DataType::Utf8, true),
        ]));
        let lm = RecordBatch::try_new(
            ls.clone(),
            vec![
                Arc::new(StringArray::from_iter_values(records.iter().map(|k| k.0))),
                Arc::new(StringArray::from_iter_values(records.iter().map(|k| k.1))),
                Arc::new(StringArray::from_iter_values(records.iter().map(|_| "p_1"))),
            ],
        )
        .unwrap();
        ctx.register_table("link_map", Arc::new(MemTable::try_new(ls, vec![vec![lm]]).unwrap())).unwrap();
        ctx
    }

    /// A staged row: record key, partner, entry, service and milestone date.
    type Row<'a> = (&'a str, &'a str, Option<&'a str>, Option<&'a str>, Option<&'a str>);

    /// The participation model on staged rows, every record one person's,
    /// run as of `as_of`: (entry date, last service date, WIOA exit date).
    async fn participation(rows: &[Row<'_>], as_of: &str) -> Vec<(NaiveDate, NaiveDate, Option<NaiveDate>)> {
        let d = |v: Option<&str>| v.map(|s| crate::protect::date32(date(s)));
        // Date column i of the rows: entry, service, milestone.
        let dates = |i: usize| -> ArrayRef { Arc::new(Date32Array::from(rows.iter().map(|r| d([r.2, r.3, r.4][i])).collect::<Vec<_>>())) };
        let keys: Vec<(&str, &str)> = rows.iter().map(|r| (r.0, r.1)).collect();
        let ctx = one_person(&keys, vec![("entry_date", dates(0)), ("service_date", dates(1)), ("milestone_date", dates(2))]);
        let rp = ctx.sql(&format!("SELECT CAST('{as_of}' AS DATE) AS as_of")).await.unwrap().collect().await.unwrap();
        ctx.register_table("run_params", Arc::new(MemTable::try_new(rp[0].schema(), vec![rp]).unwrap())).unwrap();
        let sql = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../sql/model/participation.sql")).unwrap();
        let sql = format!("SELECT entry_date, last_service_date, wioa_exit_date FROM ({}) ORDER BY entry_date", sql.trim().trim_end_matches(';'));
        let mut out = vec![];
        for b in ctx.sql(&sql).await.unwrap().collect().await.unwrap() {
            let col = |i: usize| b.column(i).as_primitive::<datafusion::arrow::datatypes::Date32Type>().clone();
            let (e, l, x) = (col(0), col(1), col(2));
            for i in 0..b.num_rows() {
                out.push((e.value_as_date(i).unwrap(), l.value_as_date(i).unwrap(), (!x.is_null(i)).then(|| x.value_as_date(i).unwrap())));
            }
        }
        out
    }

    #[tokio::test]
    async fn a_person_who_leaves_and_comes_back_has_an_exit_for_each_period() {
        // ESL from September to November 2023, thirteen months without
        // anything, then again from December 2024.
        let rows = [
            ("r1", "school", Some("2023-09-21"), None, None),
            ("r1", "school", None, Some("2023-11-09"), None),
            ("r2", "school", Some("2024-12-26"), None, None),
            ("r2", "school", None, Some("2025-02-20"), None),
            ("r2", "school", None, Some("2025-04-21"), None),
        ];
        let got = participation(&rows, "2026-01-01").await;
        assert_eq!(
            got,
            vec![
                (date("2023-09-21"), date("2023-11-09"), Some(date("2023-11-09"))),
                (date("2024-12-26"), date("2025-04-21"), Some(date("2025-04-21"))),
            ]
        );
        // Ninety days apart is one period; ninety-one is two.
        let rows = [("r1", "school", Some("2024-01-01"), None, None), ("r1", "school", None, Some("2024-03-31"), None), ("r1", "school", None, Some("2024-06-29"), None)];
        assert_eq!(participation(&rows, "2026-01-01").await[0].1, date("2024-06-29"));
        let rows = [("r1", "school", Some("2024-01-01"), None, None), ("r1", "school", None, Some("2024-04-01"), None)];
        assert_eq!(participation(&rows, "2026-01-01").await[0].1, date("2024-01-01"));
        // Still active: no exit yet.
        let rows = [("r1", "school", Some("2025-11-01"), None, None)];
        assert_eq!(participation(&rows, "2026-01-01").await[0].2, None);
    }

    /// A staged row: (record key, partner, entry date, education level,
    /// county).
    type StagedRow<'a> = (&'a str, &'a str, &'a str, Option<&'a str>, Option<&'a str>);

    /// The person model on staged rows, records r1.. of person p_1, in the
    /// order given: (education level, county, partner count, record count).
    async fn person(rows: &[StagedRow<'_>]) -> (Option<String>, Option<String>, i64, i64) {
        let keys: Vec<(&str, &str)> = rows.iter().map(|r| (r.0, r.1)).collect();
        let ctx = one_person(
            &keys,
            vec![
                ("entry_date", Arc::new(Date32Array::from_iter_values(rows.iter().map(|r| crate::protect::date32(date(r.2)))))),
                ("education_level", Arc::new(StringArray::from(rows.iter().map(|r| r.3).collect::<Vec<_>>()))),
                ("county", Arc::new(StringArray::from(rows.iter().map(|r| r.4).collect::<Vec<_>>()))),
            ],
        );
        let sql = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../sql/model/person.sql")).unwrap();
        let sql = format!("SELECT education_level, county, partner_count, record_count FROM ({})", sql.trim().trim_end_matches(';'));
        let b = ctx.sql(&sql).await.unwrap().collect().await.unwrap().remove(0);
        let text = |i: usize| {
            let c = cast(b.column(i), &DataType::Utf8).unwrap();
            let c = c.as_string::<i32>();
            (!c.is_null(0)).then(|| c.value(0).to_string())
        };
        let int = |i: usize| cast(b.column(i), &DataType::Int64).unwrap().as_primitive::<datafusion::arrow::datatypes::Int64Type>().value(0);
        (text(0), text(1), int(2), int(3))
    }

    /// A person's attributes come from the most recent record that has
    /// them; records of one date give the smallest value, whatever order
    /// the rows come in, so that a rerun gives the same person row.
    #[tokio::test]
    async fn a_person_takes_the_latest_value_and_ties_do_not_flip() {
        let rows = [
            ("r1", "school", "2024-01-10", Some("secondary"), Some("Alameda")),
            ("r2", "college", "2024-01-10", Some("primary"), None),
            ("r3", "college", "2023-05-01", Some("none"), Some("Marin")),
        ];
        let want = (Some("primary".to_string()), Some("Alameda".to_string()), 2, 3);
        assert_eq!(person(&rows).await, want);
        let mut reversed = rows;
        reversed.reverse();
        assert_eq!(person(&reversed).await, want);
        // A newer record without the value does not blank it.
        let rows = [("r1", "school", "2023-05-01", Some("none"), Some("Marin")), ("r2", "school", "2024-02-01", None, None)];
        assert_eq!(person(&rows).await, (Some("none".to_string()), Some("Marin".to_string()), 1, 2));
    }

    #[tokio::test]
    async fn milestones_recorded_later_are_participation() {
        // A refugee agency sends the intake date and, on the same record,
        // the date a case manager recorded milestones.
        let rows = [("r1", "agency", Some("2024-02-01"), None, Some("2024-04-15"))];
        let got = participation(&rows, "2026-01-01").await;
        assert_eq!(got, vec![(date("2024-02-01"), date("2024-04-15"), Some(date("2024-04-15")))]);
        // A milestone recorded long after (a follow-up call) is not the same
        // period of participation.
        let rows = [("r1", "agency", Some("2024-02-01"), None, Some("2025-06-15"))];
        assert_eq!(participation(&rows, "2026-01-01").await[0].1, date("2024-02-01"));
    }
}
