//! SQL for analysts: `braid sql` and `braid shell`, read-only, over the
//! committed warehouse and the staging views in `sql/staging/`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::error::DataFusionError;
use datafusion::execution::config::SessionConfig;
use datafusion::prelude::{SQLOptions, SessionContext};

use crate::error::{Error, Result};
use crate::warehouse::Warehouse;

/// Memory DataFusion may use before it spills sorts and aggregations to
/// disk (`BRAID_QUERY_MEMORY_MB`, default 1536: at 1M records this keeps a
/// whole `braid link` under 4 GiB; sorts and aggregations beyond it spill).
fn query_memory() -> usize {
    std::env::var("BRAID_QUERY_MEMORY_MB").ok().and_then(|v| v.parse::<usize>().ok()).unwrap_or(1536) << 20
}

/// A DataFusion session tuned for this machine, with a memory limit.
pub fn new_context() -> SessionContext {
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    let mut cfg = SessionConfig::new()
        .with_target_partitions(threads)
        .with_information_schema(true)
        .with_batch_size(8192);
    cfg.options_mut().execution.parquet.pushdown_filters = true;
    cfg.options_mut().execution.parquet.reorder_filters = true;
    match datafusion::execution::runtime_env::RuntimeEnvBuilder::new().with_memory_limit(query_memory(), 1.0).build_arc() {
        Ok(rt) => SessionContext::new_with_config_rt(cfg, rt),
        Err(_) => SessionContext::new_with_config(cfg),
    }
}

/// Options that refuse DDL, DML and other statements.
pub fn read_only() -> SQLOptions {
    SQLOptions::new().with_allow_ddl(false).with_allow_dml(false).with_allow_statements(false)
}

/// A session over the committed warehouse, with staging views.
pub async fn analyst_context(wh: &Warehouse, versions: &BTreeMap<String, i64>, sql_dir: &Path) -> Result<SessionContext> {
    let ctx = new_context();
    wh.register(&ctx, versions).await?;
    register_views(&ctx, &sql_dir.join("staging")).await?;
    Ok(ctx)
}

/// Register every `<name>.sql` in `dir` as a view `<name>`, in file-name
/// order (so a view may use views with earlier names).
pub async fn register_views(ctx: &SessionContext, dir: &Path) -> Result<Vec<String>> {
    let mut files: Vec<_> = match std::fs::read_dir(dir) {
        Ok(rd) => rd.filter_map(|e| e.ok()).map(|e| e.path()).filter(|p| p.extension().is_some_and(|x| x == "sql")).collect(),
        Err(_) => return Ok(vec![]),
    };
    files.sort();
    let mut names = Vec::new();
    for f in files {
        let name = f.file_stem().and_then(|s| s.to_str()).unwrap_or("").trim_start_matches(|c: char| c.is_ascii_digit() || c == '_').to_string();
        let sql = std::fs::read_to_string(&f).map_err(|e| Error::Sql { file: f.display().to_string(), message: e.to_string() })?;
        let df = ctx
            .sql_with_options(&sql, read_only())
            .await
            .map_err(|e| Error::Sql { file: f.display().to_string(), message: e.to_string() })?;
        let _ = ctx.deregister_table(&name);
        ctx.register_table(&name, df.into_view()).map_err(|e| Error::Sql { file: f.display().to_string(), message: e.to_string() })?;
        names.push(name);
    }
    Ok(names)
}

/// Output formats of `braid sql`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Csv,
    Json,
    Parquet,
}

/// Run one read-only query.
///
/// A statement that cannot run (bad syntax, an unknown table or column, a
/// refused DDL or DML statement, a value that does not cast) is a usage
/// error; a warehouse file that cannot be read (missing, corrupt) is a
/// storage error. README, "Exit codes".
pub async fn query(ctx: &SessionContext, sql: &str) -> Result<Vec<RecordBatch>> {
    let df = ctx.sql_with_options(sql, read_only()).await.map_err(refused_or)?;
    df.collect().await.map_err(query_error)
}

fn refused_or(e: DataFusionError) -> Error {
    let m = e.to_string();
    if m.contains("not supported") && (m.contains("DDL") || m.contains("DML") || m.contains("Statement")) {
        Error::Usage(format!("the warehouse is read-only from braid sql: {m}"))
    } else {
        query_error(e)
    }
}

fn query_error(e: DataFusionError) -> Error {
    if from_storage(&e) {
        Error::storage("query", e.strip_backtrace())
    } else {
        Error::Usage(format!("SQL query: {}", e.strip_backtrace()))
    }
}

/// Whether an error of the query engine comes from reading the warehouse's
/// files (I/O, Parquet, the object store) rather than from the statement.
fn from_storage(e: &DataFusionError) -> bool {
    use datafusion::arrow::error::ArrowError;
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = next {
        if let Some(d) = err.downcast_ref::<DataFusionError>()
            && matches!(d, DataFusionError::ParquetError(_) | DataFusionError::ObjectStore(_) | DataFusionError::IoError(_))
        {
            return true;
        }
        if let Some(a) = err.downcast_ref::<ArrowError>()
            && matches!(a, ArrowError::ParquetError(_) | ArrowError::IoError(..))
        {
            return true;
        }
        if err.is::<datafusion::parquet::errors::ParquetError>() || err.is::<std::io::Error>() {
            return true;
        }
        next = err.source();
    }
    false
}

/// Folders and files of braid's own that `braid sql --output` never
/// writes to: (what it is, where). A query written over a Parquet file of
/// the warehouse, the state database or the key file would break the next
/// run or lose the data.
pub fn protected_paths(cfg: &crate::config::Config, keys: &crate::secret::Keys) -> Vec<(&'static str, PathBuf)> {
    let root = cfg.warehouse.root();
    // The most specific first: the first that holds the path names it.
    let mut out = vec![
        ("in the warehouse's linkage zone", root.join("linkage")),
        ("in the warehouse's staging zone", root.join("staging")),
        ("in the state folder", cfg.state_dir()),
        ("in the warehouse", root),
        ("in the publish folder", cfg.publish.dir()),
        ("in the partner reports folder", cfg.publish.partner_reports_dir()),
        ("in the SQL folder", cfg.metrics.dir()),
    ];
    for p in &cfg.partners {
        if !p.source.contains("://") || p.source.starts_with("file://") {
            let dir = p.source.strip_prefix("file://").map(PathBuf::from).unwrap_or_else(|| crate::config::resolve(&p.source));
            out.push(("in a partner's source folder", dir));
        }
    }
    if cfg.origin != crate::config::DEMO_CONFIG_NAME {
        out.push(("the configuration file", crate::config::resolve(&cfg.origin)));
    }
    for table in [&cfg.reference.nrs_levels, &cfg.reference.name_variants].into_iter().flatten() {
        out.push(("a reference table of the configuration", crate::config::resolve(table)));
    }
    match keys.source() {
        crate::secret::SecretSource::EnvFile(f) | crate::secret::SecretSource::ConfigFile(f) => out.push(("the key file", f.clone())),
        crate::secret::SecretSource::Env => {}
    }
    out
}

/// Refuse an output path that is, or resolves to (through `..`, symbolic
/// links, or a folder that is a link), anything in `protected`. A file
/// that does not exist yet is placed by its folder.
pub fn check_output(path: &Path, protected: &[(&'static str, PathBuf)]) -> Result<()> {
    let target = resolve_output(path, 0)?;
    for (what, p) in protected {
        let p = p.canonicalize().unwrap_or_else(|_| p.clone());
        if target.starts_with(&p) {
            return Err(Error::Usage(format!(
                "--output {} is {what} ({}); braid sql never writes there: choose a file outside braid's warehouse, state, publish, \
                 partner-report, SQL and source folders and the files the configuration names",
                path.display(),
                p.display()
            )));
        }
    }
    Ok(())
}

/// Where writing to `path` would land: an existing file (or link) resolved
/// whole, a new one by its folder; a link to a file that does not exist
/// yet is followed to where it would create it.
fn resolve_output(path: &Path, depth: usize) -> Result<PathBuf> {
    let unusable = |why: String| Error::Usage(format!("cannot write --output {}: {why}", path.display()));
    if depth > 40 {
        return Err(unusable("too many levels of symbolic links".into()));
    }
    if let Ok(p) = path.canonicalize() {
        return Ok(p);
    }
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if let Ok(link) = std::fs::read_link(path) {
        return resolve_output(&parent.join(link), depth + 1);
    }
    let name = match path.file_name() {
        Some(n) => n,
        None => return Err(unusable("not a file name".into())),
    };
    let dir = parent.canonicalize().map_err(|e| unusable(format!("folder {}: {e}", parent.display())))?;
    Ok(dir.join(name))
}

/// Write batches in a format to a writer (or a file for parquet).
pub fn write(batches: &[RecordBatch], format: Format, out: &mut dyn Write, output: Option<&Path>) -> Result<()> {
    match format {
        Format::Table => {
            let s = datafusion::arrow::util::pretty::pretty_format_batches(batches)?;
            writeln!(out, "{s}")?;
        }
        Format::Csv => {
            let mut w = datafusion::arrow::csv::WriterBuilder::new().with_header(true).build(out);
            for b in batches {
                w.write(b)?;
            }
        }
        Format::Json => {
            let mut w = datafusion::arrow::json::ArrayWriter::new(&mut *out);
            for b in batches {
                w.write(b)?;
            }
            w.finish()?;
            drop(w);
            writeln!(out)?;
        }
        Format::Parquet => {
            let path = output.ok_or_else(|| Error::Usage("--format parquet needs --output FILE".into()))?;
            let schema = batches.first().map(|b| b.schema()).unwrap_or_else(|| Arc::new(datafusion::arrow::datatypes::Schema::empty()));
            crate::warehouse::write_parquet_atomic(path, &schema, batches)?;
        }
    }
    Ok(())
}

/// `braid shell`: an interactive read-only SQL prompt.
pub async fn shell(ctx: &SessionContext) -> Result<()> {
    let mut rl = rustyline::DefaultEditor::new().map_err(|e| Error::internal(format!("terminal: {e}")))?;
    let history = std::env::var_os("HOME").map(|h| Path::new(&h).join(".braid_sql_history"));
    if let Some(h) = &history {
        let _ = rl.load_history(h);
    }
    let _ = writeln!(std::io::stdout(), "braid shell: read-only SQL over the warehouse. `.tables`, `.schema TABLE`, `.quit`; end statements with `;`.");
    let mut buf = String::new();
    loop {
        let prompt = if buf.is_empty() { "braid> " } else { "   ...> " };
        let line = match rl.readline(prompt) {
            Ok(l) => l,
            Err(rustyline::error::ReadlineError::Interrupted) => {
                buf.clear();
                continue;
            }
            Err(_) => break,
        };
        let t = line.trim();
        if buf.is_empty() && t.starts_with('.') {
            let _ = rl.add_history_entry(t);
            let mut parts = t.split_whitespace();
            match parts.next() {
                Some(".quit") | Some(".exit") => break,
                Some(".tables") => {
                    let sql = "SELECT table_name, table_type FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name";
                    print_result(ctx, sql).await;
                }
                Some(".schema") => match parts.next() {
                    Some(tbl) => {
                        let sql = format!(
                            "SELECT column_name, data_type, is_nullable FROM information_schema.columns WHERE table_name = '{}' ORDER BY ordinal_position",
                            tbl.replace('\'', "")
                        );
                        print_result(ctx, &sql).await;
                    }
                    None => {
                        let _ = writeln!(std::io::stdout(), "usage: .schema TABLE");
                    }
                },
                _ => {
                    let _ = writeln!(std::io::stdout(), ".tables  .schema TABLE  .quit");
                }
            }
            continue;
        }
        buf.push_str(&line);
        buf.push('\n');
        if t.ends_with(';') {
            let sql = std::mem::take(&mut buf);
            let _ = rl.add_history_entry(sql.trim());
            print_result(ctx, sql.trim().trim_end_matches(';')).await;
        }
    }
    if let Some(h) = &history {
        let _ = rl.save_history(h);
    }
    Ok(())
}

async fn print_result(ctx: &SessionContext, sql: &str) {
    match query(ctx, sql).await {
        Ok(b) => {
            let _ = write(&b, Format::Table, &mut std::io::stdout(), None);
        }
        Err(e) => eprintln!("error: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference tables a configuration names (name variants, NRS cut
    /// scores) are read by every run: a query written over one would break
    /// the next.
    #[test]
    fn reference_tables_are_not_an_output() {
        let dir = tempfile::tempdir().unwrap();
        let variants = dir.path().join("variants.toml");
        std::fs::write(&variants, "").unwrap();
        // The demo's configuration (its folders are relative, elsewhere),
        // naming two reference tables in the temporary folder.
        let mut cfg = crate::config::Config::parse(crate::config::DEMO_CONFIG, "test").unwrap();
        cfg.reference.name_variants = Some(variants.display().to_string());
        cfg.reference.nrs_levels = Some(dir.path().join("tables/nrs.toml").display().to_string());
        // (The NRS table does not exist yet: its place is protected anyway.)
        std::fs::create_dir(dir.path().join("tables")).unwrap();
        let protected = protected_paths(&cfg, &crate::secret::Keys::for_tests());
        for path in [variants.clone(), dir.path().join("tables/nrs.toml")] {
            let e = check_output(&path, &protected).unwrap_err().to_string();
            assert!(e.contains("a reference table"), "{}: {e}", path.display());
        }
        assert!(check_output(&dir.path().join("out.csv"), &protected).is_ok());
    }
}
