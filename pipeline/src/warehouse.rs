//! The warehouse on disk.
//!
//! ```text
//! <warehouse>/
//!   analytics/<table>/          Delta Lake tables analysts query (model::TABLES)
//!   linkage/identity/<file>.parquet   tokens and encodings (linkage zone)
//!   staging/records/<file>.parquet    staged records, one file per partner file version
//!   staging/quarantine/<file>.parquet rejected rows, one file per partner file version
//!   _state/braid.sqlite          ledger, runs, budget (see ledger.rs)
//! ```
//!
//! Staging files are written to a temporary name and renamed into place; a
//! file version is only active once the ledger says so. Analytics tables are
//! Delta tables: each nightly load is one overwrite commit per table, and the
//! run commits when the ledger records the versions of all of them. Readers
//! inside braid always read those versions, so they never see half a run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::datasource::listing::{ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl};
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::MemTable;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::{EnabledStatistics, WriterProperties};
use datafusion::prelude::SessionContext;
use deltalake::DeltaTable;
use deltalake::kernel::transaction::CommitBuilder;
use deltalake::protocol::{DeltaOperation, SaveMode};
use deltalake::writer::{DeltaWriter, RecordBatchWriter};

use crate::error::{Error, Result};

/// Columns that never get min/max statistics (in Parquet footers or the
/// Delta log): keys whose extremes would name a person or a record.
pub const NO_STATS: &[&str] = &["person_key", "record_key", "employer_key", "related_key", "file_id", "content_hash", "url"];

/// Layout of one warehouse.
#[derive(Debug, Clone)]
pub struct Warehouse {
    pub root: PathBuf,
}

impl Warehouse {
    pub fn new(root: impl Into<PathBuf>) -> Warehouse {
        Warehouse { root: root.into() }
    }

    pub fn analytics(&self, table: &str) -> PathBuf {
        self.root.join("analytics").join(table)
    }
    pub fn staged_records(&self, file_id: &str) -> PathBuf {
        self.root.join("staging/records").join(format!("{file_id}.parquet"))
    }
    pub fn staged_quarantine(&self, file_id: &str) -> PathBuf {
        self.root.join("staging/quarantine").join(format!("{file_id}.parquet"))
    }
    pub fn identity(&self, file_id: &str) -> PathBuf {
        self.root.join("linkage/identity").join(format!("{file_id}.parquet"))
    }
    /// During a rotation of the secret to `key_id`: the record keys of a
    /// file version under the old secret beside the new ones (`braid
    /// rotate`), so that people keep their person keys; also the mark that
    /// the version is protected with the new secret. Removed once the
    /// rotation commits.
    pub fn rekey(&self, key_id: &str, file_id: &str) -> PathBuf {
        self.rekey_dir().join(key_id).join(format!("{file_id}.parquet"))
    }
    pub fn rekey_dir(&self) -> PathBuf {
        self.root.join("linkage/rekey")
    }
    /// A file version's three staged files: records, identities, quarantine.
    pub fn staged_files(&self, file_id: &str) -> [PathBuf; 3] {
        [self.staged_records(file_id), self.identity(file_id), self.staged_quarantine(file_id)]
    }
    /// The folders of those files.
    pub fn staging_dirs(&self) -> [PathBuf; 3] {
        ["staging/records", "linkage/identity", "staging/quarantine"].map(|d| self.root.join(d))
    }

    fn table_url(&self, table: &str) -> Result<url::Url> {
        let dir = self.analytics(table);
        std::fs::create_dir_all(&dir).map_err(|e| Error::storage(dir.display(), e))?;
        let abs = dir.canonicalize().map_err(|e| Error::storage(dir.display(), e))?;
        url::Url::from_directory_path(&abs).map_err(|_| Error::storage(abs.display(), "not a directory path"))
    }

    /// Open a Delta table, creating it with `schema` if it does not exist.
    pub async fn open_or_create(&self, table: &str, schema: &SchemaRef) -> Result<DeltaTable> {
        let url = self.table_url(table)?;
        let t = DeltaTable::try_from_url(url.clone()).await.map_err(|e| Error::storage(table, e))?;
        if t.version().is_some() {
            return Ok(t);
        }
        let st = kernel_schema(table, schema)?;
        let mut config = std::collections::HashMap::new();
        config.insert("delta.dataSkippingStatsColumns".to_string(), Some(stats_columns(schema)));
        let t = t
            .create()
            .with_table_name(table)
            .with_columns(st.fields().cloned())
            .with_configuration(config)
            .with_comment(format!("braid {} table", table))
            .await
            .map_err(|e| Error::storage(table, e))?;
        Ok(t)
    }

    /// Replace the content of a table with `batches` in one Delta commit.
    /// Returns the new version.
    pub async fn overwrite(&self, table: &str, schema: &SchemaRef, batches: Vec<RecordBatch>) -> Result<i64> {
        let mut t = self.open_or_create(table, schema).await?;
        // The data model is the authority on a table's columns: when it has
        // changed since the table was written (a column added in a new
        // release of braid), this overwrite also commits the new schema.
        use deltalake::kernel::MetadataExt as _;
        let wanted = kernel_schema(table, schema)?;
        let current = t.snapshot().map_err(|e| Error::storage(table, e))?.schema();
        let evolve = current.as_ref() != &wanted;
        let writer = if evolve {
            tracing::info!(table, "the data model changed: the table's schema is replaced with this write");
            RecordBatchWriter::try_new(self.table_url(table)?.as_str(), schema.clone(), None, None)
        } else {
            RecordBatchWriter::for_table(&t)
        };
        let mut writer = writer.map_err(|e| Error::storage(table, e))?.with_writer_properties(writer_properties(schema));
        for b in batches {
            if b.num_rows() > 0 {
                writer.write(b).await.map_err(|e| Error::storage(table, e))?;
            }
        }
        let adds = writer.flush().await.map_err(|e| Error::storage(table, e))?;
        let snapshot = t.snapshot().map_err(|e| Error::storage(table, e))?;
        let mut actions: Vec<deltalake::kernel::Action> =
            snapshot.log_data().into_iter().map(|f| deltalake::kernel::Action::Remove(f.remove_action(true))).collect();
        actions.extend(adds.into_iter().map(deltalake::kernel::Action::Add));
        if evolve {
            let metadata = snapshot
                .metadata()
                .clone()
                .with_schema(&wanted)
                .and_then(|m| m.add_config_key("delta.dataSkippingStatsColumns".into(), stats_columns(schema)))
                .map_err(|e| Error::storage(table, e))?;
            actions.push(deltalake::kernel::Action::Metadata(metadata));
        }
        let op = DeltaOperation::Write { mode: SaveMode::Overwrite, partition_by: None, predicate: None };
        let finalized = CommitBuilder::default()
            .with_actions(actions)
            .build(Some(snapshot), t.log_store(), op)
            .await
            .map_err(|e| Error::storage(table, e))?;
        let v = finalized.version();
        t.load_version(v).await.map_err(|e| Error::storage(table, e))?;
        Ok(v as i64)
    }

    /// URIs of the data files of `table` at `version`.
    pub async fn files_at(&self, table: &str, version: i64) -> Result<Vec<String>> {
        let url = self.table_url(table)?;
        let mut t = deltalake::DeltaTableBuilder::from_url(url)
            .map_err(|e| Error::storage(table, e))?
            .build()
            .map_err(|e| Error::storage(table, e))?;
        t.load_version(version as u64).await.map_err(|e| Error::storage(table, format!("version {version}: {e}")))?;
        let files: Vec<String> = t.get_file_uris().map_err(|e| Error::storage(table, e))?.collect();
        // A table listed by paths reads a missing file as no rows: every
        // data file of the version must be there, or the query would
        // answer (and a release publish) from part of the table.
        for f in &files {
            if let Some(path) = local_path(f)
                && !path.exists()
            {
                return Err(Error::storage(
                    table,
                    format!("version {version} names a data file that is missing ({}); restore it from a backup, or run `braid link` to write the tables again", path.display()),
                ));
            }
        }
        Ok(files)
    }

    /// Register every analytics table at the given versions (the committed
    /// run's) in `ctx`.
    pub async fn register(&self, ctx: &SessionContext, versions: &BTreeMap<String, i64>) -> Result<()> {
        for t in crate::model::TABLES {
            let schema = t.schema();
            let files = match versions.get(t.name) {
                Some(v) => self.files_at(t.name, *v).await?,
                None => vec![],
            };
            register_parquet(ctx, t.name, schema, &files)?;
        }
        Ok(())
    }

    /// Remove files no longer referenced by versions younger than `retention`.
    pub async fn vacuum(&self, table: &str, retention: chrono::Duration) -> Result<usize> {
        let url = self.table_url(table)?;
        let t = DeltaTable::try_from_url(url).await.map_err(|e| Error::storage(table, e))?;
        if t.version().is_none() {
            return Ok(0);
        }
        let (_, metrics) = t
            .vacuum()
            .with_retention_period(retention)
            .with_enforce_retention_duration(false)
            .await
            .map_err(|e| Error::storage(table, e))?;
        Ok(metrics.files_deleted.len())
    }
}

/// The local path of a data file's URI (`file://...` or a plain path);
/// None for a remote one.
pub fn local_path(uri: &str) -> Option<PathBuf> {
    match url::Url::parse(uri) {
        Ok(u) if u.scheme() == "file" => u.to_file_path().ok(),
        Ok(_) => None,
        Err(_) => Some(PathBuf::from(uri)),
    }
}

/// Register Parquet files (or an empty table) under `name`.
pub fn register_parquet(ctx: &SessionContext, name: &str, schema: SchemaRef, files: &[String]) -> Result<()> {
    let _ = ctx.deregister_table(name);
    if files.is_empty() {
        let mem = MemTable::try_new(schema.clone(), vec![vec![]])?;
        ctx.register_table(name, Arc::new(mem))?;
        return Ok(());
    }
    let urls = files
        .iter()
        .map(|f| ListingTableUrl::parse(f).map_err(Error::from))
        .collect::<Result<Vec<_>>>()?;
    let options = ListingOptions::new(Arc::new(ParquetFormat::default())).with_file_extension(".parquet");
    let config = ListingTableConfig::new_with_multi_paths(urls).with_listing_options(options).with_schema(schema);
    let table = ListingTable::try_new(config)?;
    ctx.register_table(name, Arc::new(table))?;
    Ok(())
}

/// A table's Arrow schema as Delta's.
fn kernel_schema(table: &str, schema: &SchemaRef) -> Result<deltalake::kernel::StructType> {
    use deltalake::kernel::engine::arrow_conversion::TryIntoKernel as _;
    schema.as_ref().try_into_kernel().map_err(|e| Error::storage(table, format!("schema: {e}")))
}

/// The columns Delta keeps file statistics for (all but keys).
fn stats_columns(schema: &SchemaRef) -> String {
    let cols: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).filter(|n| !NO_STATS.contains(n)).collect();
    cols.join(",")
}

/// Parquet writer settings: zstd, page statistics except on key columns.
pub fn writer_properties(schema: &SchemaRef) -> WriterProperties {
    let mut b = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(3).expect("zstd level 3")))
        .set_max_row_group_row_count(Some(1 << 20))
        .set_statistics_enabled(EnabledStatistics::Page);
    for f in schema.fields() {
        if NO_STATS.contains(&f.name().as_str()) || f.name() == "encoding" {
            b = b.set_column_statistics_enabled(f.name().as_str().into(), EnabledStatistics::None);
        }
    }
    b.build()
}

/// Settings for staging files, written once per partner file on the ingest
/// hot path and read whole by the next load: zstd level 1, no statistics
/// (nothing filters on them), and no compression or dictionary for the
/// identity encodings and the record keys. Those are keyed hashes and
/// sparse Bloom filters: a dictionary finds no repeats, and compression,
/// which does shrink them (LZ4 to about half the encodings, zstd to about
/// half the keys' hex digits), cost more time than the smaller file saved
/// (docs/decisions.md, decision 27).
pub fn staging_writer_properties(schema: &SchemaRef) -> WriterProperties {
    let mut b = writer_properties(schema)
        .into_builder()
        .set_compression(Compression::ZSTD(ZstdLevel::try_new(1).expect("zstd level 1")))
        .set_statistics_enabled(EnabledStatistics::None)
        // The writer holds a row group's pages in memory until it closes.
        .set_max_row_group_row_count(Some(64 * 1024));
    for f in schema.fields() {
        if matches!(f.name().as_str(), "encoding" | "record_key") {
            b = b
                .set_column_compression(f.name().as_str().into(), Compression::UNCOMPRESSED)
                .set_column_dictionary_enabled(f.name().as_str().into(), false);
        }
    }
    b.build()
}

/// Write batches to `path` atomically ([`AtomicParquet`], with the
/// warehouse's [`writer_properties`]).
pub fn write_parquet_atomic(path: &Path, schema: &SchemaRef, batches: &[RecordBatch]) -> Result<()> {
    let mut w = AtomicParquet::with_properties(path, schema, writer_properties(schema))?;
    for b in batches {
        w.write(b)?;
    }
    w.commit()
}

/// A streaming atomic Parquet writer: a temporary file in the target's
/// folder, fsynced and renamed over the target by [`AtomicParquet::commit`];
/// removed when the writer is dropped uncommitted or the commit fails.
pub struct AtomicParquet {
    tmp: PathBuf,
    path: PathBuf,
    writer: Option<ArrowWriter<EagerFile>>,
}

/// A file being written that asks the kernel to start writing its pages to
/// disk every 16 MiB, so that the fsync at commit waits for the last few
/// MiB rather than the whole file (a million rows' identities are about
/// 250 MB on the ingest benchmark).
struct EagerFile {
    file: std::fs::File,
    written: u64,
    started: u64,
}

impl std::io::Write for EagerFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(buf)?;
        self.written += n as u64;
        if self.written - self.started >= 16 << 20 {
            #[cfg(target_os = "linux")]
            {
                use std::os::fd::AsRawFd;
                // SAFETY: a valid open descriptor and a range of it; the
                // call only starts write-back (errors surface at fsync).
                unsafe {
                    libc::sync_file_range(
                        self.file.as_raw_fd(),
                        self.started as libc::off64_t,
                        (self.written - self.started) as libc::off64_t,
                        libc::SYNC_FILE_RANGE_WRITE,
                    );
                }
            }
            self.started = self.written;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

impl AtomicParquet {
    /// A staging file ([`staging_writer_properties`]).
    pub fn create(path: &Path, schema: &SchemaRef) -> Result<AtomicParquet> {
        AtomicParquet::with_properties(path, schema, staging_writer_properties(schema))
    }

    /// A file written with `props`; removed unless committed.
    pub fn with_properties(path: &Path, schema: &SchemaRef, props: WriterProperties) -> Result<AtomicParquet> {
        let dir = path.parent().expect("file has a directory");
        std::fs::create_dir_all(dir).map_err(|e| Error::storage(dir.display(), e))?;
        let tmp = dir.join(format!(
            ".{}.tmp-{}",
            path.file_name().and_then(|n| n.to_str()).unwrap_or("part"),
            std::process::id()
        ));
        let file = std::fs::File::create(&tmp).map_err(|e| Error::storage(tmp.display(), e))?;
        let file = EagerFile { file, written: 0, started: 0 };
        let writer = ArrowWriter::try_new(file, schema.clone(), Some(props))?;
        Ok(AtomicParquet { tmp, path: path.to_path_buf(), writer: Some(writer) })
    }

    pub fn write(&mut self, b: &RecordBatch) -> Result<()> {
        self.writer.as_mut().expect("open").write(b)?;
        Ok(())
    }

    /// Finish and move into place.
    pub fn commit(mut self) -> Result<()> {
        let w = self.writer.take().expect("open");
        let done = w.into_inner().map_err(Error::from).and_then(|f| {
            f.file.sync_all().map_err(|e| Error::storage(self.tmp.display(), e))?;
            std::fs::rename(&self.tmp, &self.path).map_err(|e| Error::storage(self.path.display(), e))
        });
        if done.is_err() {
            let _ = std::fs::remove_file(&self.tmp);
        }
        done
    }
}

impl Drop for AtomicParquet {
    fn drop(&mut self) {
        if self.writer.is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// Removes what writers that died part way left in `dir` (the publish
/// folder's `.<id>.tmp-<pid>`, `.<id>.old-<pid>`, `.latest.tmp-<pid>`,
/// partner reports' `.<file>.tmp-<n>-<pid>`, staging's
/// `.<file>.parquet.tmp-<pid>` from [`AtomicParquet`]): entries whose
/// process is gone. Where processes cannot be looked up (no /proc),
/// they are left.
pub fn remove_stale_temporaries(dir: &Path) {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().to_string();
        let Some(pid) = name.strip_prefix('.').and_then(|n| n.rsplit_once("-")).map(|(_, pid)| pid) else { continue };
        let temporary = name.contains(".tmp-") || name.contains(".old-");
        if !temporary || pid.parse::<u32>().is_err() || Path::new("/proc").join(pid).exists() {
            continue;
        }
        let p = e.path();
        let _ = if p.is_dir() { std::fs::remove_dir_all(&p) } else { std::fs::remove_file(&p) };
    }
}

/// Read every batch of a Parquet file.
pub fn read_parquet(path: &Path) -> Result<Vec<RecordBatch>> {
    let file = std::fs::File::open(path).map_err(|e| Error::storage(path.display(), e))?;
    let reader = datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file)?
        .with_batch_size(65536)
        .build()?;
    reader.map(|b| b.map_err(Error::from)).collect()
}

/// A `file://` URI for a local path.
pub fn file_uri(path: &Path) -> Result<String> {
    let abs = if path.is_absolute() { path.to_path_buf() } else { std::env::current_dir()?.join(path) };
    url::Url::from_file_path(&abs)
        .map(|u| u.to_string())
        .map_err(|_| Error::storage(abs.display(), "not an absolute path"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{BooleanArray, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};

    #[test]
    fn staging_leaves_keyed_hashes_uncompressed_and_compresses_the_rest() {
        use datafusion::parquet::schema::types::ColumnPath;
        for schema in [crate::model::staged_schema(), crate::protect::identity_schema()] {
            let props = staging_writer_properties(&schema);
            for f in schema.fields() {
                let path = ColumnPath::from(f.name().as_str());
                let hashed = matches!(f.name().as_str(), "record_key" | "encoding");
                assert_eq!(props.compression(&path) == Compression::UNCOMPRESSED, hashed, "{}", f.name());
                if hashed {
                    assert!(!props.dictionary_enabled(&path), "{}", f.name());
                }
            }
        }
    }

    #[test]
    fn a_failed_atomic_write_leaves_no_temporary_file() {
        // The target is a folder with a file in it: the rename fails, and
        // the temporary file is removed with it.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.parquet");
        std::fs::create_dir_all(path.join("x")).unwrap();
        let schema = Arc::new(Schema::new(vec![Field::new("ok", DataType::Boolean, false)]));
        let batch = RecordBatch::try_new(schema.clone(), vec![Arc::new(BooleanArray::from(vec![true]))]).unwrap();
        assert!(write_parquet_atomic(&path, &schema, &[batch]).is_err());
        let left: Vec<String> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        assert_eq!(left, vec!["out.parquet".to_string()]);
    }

    #[test]
    fn a_staging_file_larger_than_the_write_back_step_reads_back_whole() {
        // 40 MiB of incompressible binary: the writer starts write-back
        // twice on the way, and the file is committed and read back intact.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s/big.parquet");
        let schema = Arc::new(Schema::new(vec![Field::new("encoding", DataType::Binary, false)]));
        let rows: Vec<Vec<u8>> = (0..40u32)
            .map(|i| {
                let mut v = vec![0u8; 1 << 20];
                blake3::Hasher::new().update(&i.to_le_bytes()).finalize_xof().fill(&mut v);
                v
            })
            .collect();
        let mut w = AtomicParquet::create(&path, &schema).unwrap();
        for r in &rows {
            let b = RecordBatch::try_new(schema.clone(), vec![Arc::new(datafusion::arrow::array::BinaryArray::from_vec(vec![r.as_slice()]))]).unwrap();
            w.write(&b).unwrap();
        }
        w.commit().unwrap();
        assert!(std::fs::metadata(&path).unwrap().len() > 40 << 20);
        let back = read_parquet(&path).unwrap();
        let got: Vec<Vec<u8>> = back
            .iter()
            .flat_map(|b| {
                let a = b.column(0).as_any().downcast_ref::<datafusion::arrow::array::BinaryArray>().unwrap().clone();
                (0..datafusion::arrow::array::Array::len(&a)).map(move |i| a.value(i).to_vec())
            })
            .collect();
        assert_eq!(got, rows);
        assert_eq!(std::fs::read_dir(dir.path().join("s")).unwrap().count(), 1, "no temporary file left");
    }

    #[tokio::test]
    async fn a_table_written_under_an_older_data_model_takes_the_new_columns() {
        let dir = tempfile::tempdir().unwrap();
        let wh = Warehouse::new(dir.path());
        let old = Arc::new(Schema::new(vec![Field::new("reason", DataType::Utf8, false)]));
        let b = RecordBatch::try_new(old.clone(), vec![Arc::new(StringArray::from(vec!["bad_date"]))]).unwrap();
        let v1 = wh.overwrite("quarantine", &old, vec![b]).await.unwrap();
        let new = Arc::new(Schema::new(vec![
            Field::new("reason", DataType::Utf8, false),
            Field::new("row_loaded", DataType::Boolean, true),
        ]));
        let b = RecordBatch::try_new(
            new.clone(),
            vec![Arc::new(StringArray::from(vec!["implausible_age"])), Arc::new(BooleanArray::from(vec![Some(true)]))],
        )
        .unwrap();
        let v2 = wh.overwrite("quarantine", &new, vec![b.clone()]).await.unwrap();
        assert_eq!(v2, v1 + 1, "one commit: data and schema together");
        // The next night writes with the same model: no further schema change.
        let v3 = wh.overwrite("quarantine", &new, vec![b]).await.unwrap();
        assert_eq!(v3, v2 + 1);
        let ctx = SessionContext::new();
        let files = wh.files_at("quarantine", v3).await.unwrap();
        register_parquet(&ctx, "q", new.clone(), &files).unwrap();
        let got = ctx.sql("SELECT reason, row_loaded FROM q").await.unwrap().collect().await.unwrap();
        assert_eq!(got[0].num_rows(), 1);
        assert_eq!(got[0].schema().fields().len(), 2);
        let t = DeltaTable::try_from_url(wh.table_url("quarantine").unwrap()).await.unwrap();
        assert_eq!(t.snapshot().unwrap().schema().fields().count(), 2, "the Delta log carries the new schema");
    }
}
