//! The `braid` command line: a thin layer over the library.

use std::path::PathBuf;

use chrono::NaiveDate;
use clap::{Parser, Subcommand};

use crate::config::Config;
use crate::error::{Error, Result, exit};
use crate::run::{Pipeline, RunOptions};

/// Set once a write to standard output found the pipe closed.
static STDOUT_CLOSED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Standard output that notes when its reader has gone away
/// (`braid sql ... | head -1`). braid then stops writing and ends quietly,
/// with the exit code it would have had (README, "Exit codes"); any other
/// failure to write (a full disk) is an error.
pub struct Stdout;

impl std::io::Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        closed_pipe(std::io::stdout().write(buf))
    }
    fn flush(&mut self) -> std::io::Result<()> {
        closed_pipe(std::io::stdout().flush())
    }
}

fn closed_pipe<T>(r: std::io::Result<T>) -> std::io::Result<T> {
    if let Err(e) = &r
        && e.kind() == std::io::ErrorKind::BrokenPipe
    {
        STDOUT_CLOSED.store(true, std::sync::atomic::Ordering::Relaxed);
    }
    r
}

/// Whether standard output's reader has gone away.
pub fn stdout_closed() -> bool {
    STDOUT_CLOSED.load(std::sync::atomic::Ordering::Relaxed)
}

/// The result of writing to standard output: nothing is wrong when its
/// reader has gone away (the rest of the output is simply not wanted).
pub fn shown<T>(r: std::result::Result<T, impl Into<Error>>) -> Result<()> {
    match r {
        Ok(_) => Ok(()),
        Err(_) if stdout_closed() => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// `println!` to [`Stdout`], in a function that returns [`Result`].
macro_rules! outln {
    () => {
        shown(std::io::Write::write_all(&mut Stdout, b"\n"))?
    };
    ($($arg:tt)*) => {
        shown(std::io::Write::write_fmt(&mut Stdout, format_args!("{}\n", format_args!($($arg)*))))?
    };
}

/// `print!` to [`Stdout`], in a function that returns [`Result`].
macro_rules! out {
    ($($arg:tt)*) => {
        shown(std::io::Write::write_fmt(&mut Stdout, format_args!($($arg)*)))?
    };
}

#[derive(Debug, Parser)]
#[command(
    name = "braid",
    version,
    about = "Nightly ETL for immigrant-serving consortia: link people across partners without SSNs and publish differentially private collective-impact metrics.",
    after_help = "Exit codes: 0 ok, 1 internal error, 2 usage, 3 configuration or secret, 4 input unreadable, \
                  5 completed with rejected input, 6 privacy budget refused, 7 storage, \
                  8 busy (another command is changing the warehouse; nothing was done)."
)]
pub struct Cli {
    /// Configuration file (default: the embedded demo, config/demo.toml).
    #[arg(long, global = true, env = "BRAID_CONFIG")]
    pub config: Option<PathBuf>,
    /// More log output (-v info, -vv debug). Logs never contain identifiers.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the whole nightly job: pull, link, load, metrics and publish.
    Run {
        /// Date the run is for (default today); sets the release period.
        #[arg(long)]
        as_of: Option<NaiveDate>,
        /// Publish a new revision of the period (spends budget again).
        #[arg(long)]
        revise: bool,
        /// Stop after loading the warehouse.
        #[arg(long)]
        no_publish: bool,
    },
    /// Pull new or changed partner files, validate and protect them into staging.
    Pull {
        /// Only this partner.
        #[arg(long)]
        partner: Option<String>,
        #[arg(long)]
        as_of: Option<NaiveDate>,
    },
    /// Link staged records into persons and commit the warehouse (or evaluate or explain linkage).
    Link {
        #[command(subcommand)]
        action: Option<LinkAction>,
        #[arg(long)]
        as_of: Option<NaiveDate>,
    },
    /// Compute the metrics; with --raw, print their exact values for the steward (never written anywhere).
    Metrics {
        /// Print exact (un-noised) cell values. For validation by the data steward only.
        #[arg(long)]
        raw: bool,
        /// Recompute with the table versions a past release used.
        #[arg(long)]
        release: Option<String>,
        /// Only this metric.
        #[arg(long)]
        metric: Option<String>,
        /// The release date the values are computed for (default today, or
        /// with --release the day that release was made).
        #[arg(long)]
        as_of: Option<NaiveDate>,
    },
    /// Add OpenDP noise under the privacy budget and write the release for the period.
    Publish {
        #[arg(long)]
        as_of: Option<NaiveDate>,
        /// Publish a new revision of the period (spends budget again).
        #[arg(long)]
        revise: bool,
    },
    /// Run one read-only SQL query over the warehouse.
    Sql {
        /// The query.
        query: String,
        #[arg(long, value_enum, default_value = "table")]
        format: crate::sql::Format,
        /// Write to this file instead of standard output (required for parquet).
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Open an interactive read-only SQL shell over the warehouse.
    Shell,
    /// Show files, quarantine, linkage quality and the privacy budget.
    Status {
        /// Only this partner (also writes its data-quality report).
        #[arg(long)]
        partner: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Generate the synthetic demo consortium (fixed seed).
    Demo {
        /// Output folder (default var/demo).
        #[arg(long, default_value = "var/demo")]
        out: PathBuf,
        /// Number of people.
        #[arg(long, default_value_t = 20_000)]
        people: usize,
        #[arg(long, default_value_t = 20261122)]
        seed: u64,
        /// Replace an existing demo.
        #[arg(long)]
        force: bool,
    },
    /// Remove a person (consent withdrawn) from staging and the warehouse.
    Forget {
        /// Partner of the record.
        #[arg(long)]
        partner: String,
        /// The partner's record id (hashed at once, never stored).
        #[arg(long)]
        record_id: String,
        /// Say how many linked records, at which partners, a forget would
        /// remove, and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Rotate the hashing secret: BRAID_SECRET (or BRAID_SECRET_FILE) is
    /// the new one, BRAID_PREVIOUS_SECRET (or BRAID_PREVIOUS_SECRET_FILE)
    /// the old. Reads every partner file again, carries withdrawals and
    /// person keys over, links and commits (README, "Rotating the secret").
    Rotate {
        /// Date to treat as today (default: today).
        #[arg(long)]
        as_of: Option<NaiveDate>,
        /// Finish although some withdrawals of the old secret matched no row
        /// of the sources (enter them again with `braid forget` first: a
        /// dropped one no longer refuses the person's rows).
        #[arg(long)]
        drop_unmatched: bool,
    },
    /// Run the nightly job on the cron schedule in the configuration.
    Schedule {
        /// Print the next N run times and exit.
        #[arg(long)]
        print: Option<usize>,
    },
    /// Print generated documentation (data-model).
    Docs {
        /// Which document: data-model.
        which: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum LinkAction {
    /// Pairwise precision, recall and F1, B-cubed and blocking recall against a truth file.
    Evaluate {
        /// CSV with partner,record_id,entity.
        #[arg(long)]
        truth: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// What each blocking recipe proposes (blocks, pairs, windowed blocks);
    /// with --truth, the true pairs each finds and those only it finds.
    Blocking {
        /// CSV with partner,record_id,entity.
        #[arg(long)]
        truth: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// Show how the model weighs two records: each factor's agreement levels
    /// and log2 likelihood ratios, and how the score is formed (never values).
    Explain {
        /// First record as PARTNER:RECORD_ID.
        a: String,
        /// Second record as PARTNER:RECORD_ID.
        b: String,
        #[arg(long)]
        json: bool,
    },
}

/// Entry point of the binary. Returns the process exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            use clap::error::{ContextKind, ErrorKind};
            // Most argument errors quote what was typed, which may be a
            // partner's record id (`link explain`, `forget`): braid names the
            // argument and the problem, never the value.
            let quotes_input = !matches!(
                e.kind(),
                ErrorKind::DisplayHelp
                    | ErrorKind::DisplayVersion
                    | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
                    | ErrorKind::MissingRequiredArgument
                    | ErrorKind::MissingSubcommand
            );
            if quotes_input && e.use_stderr() {
                let what = e.kind().as_str().unwrap_or("invalid arguments");
                // For a bad value the context names the argument's
                // definition (`--as-of <AS_OF>`); for other kinds it can be
                // what was typed.
                let arg = match (e.kind(), e.get(ContextKind::InvalidArg)) {
                    (ErrorKind::InvalidValue | ErrorKind::ValueValidation, Some(clap::error::ContextValue::String(a))) => format!(" for {a}"),
                    _ => String::new(),
                };
                eprintln!("error: {what}{arg}; what was typed is not repeated (it may be a record id). See `braid --help` or `braid <command> --help`.");
                return exit::USAGE;
            }
            let _ = e.print();
            return if e.use_stderr() { exit::USAGE } else { exit::OK };
        }
    };
    install_panic_hook();
    init_logging(cli.verbose);
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return exit::INTERNAL;
        }
    };
    match rt.block_on(dispatch(cli)) {
        Ok(code) => code,
        // Output cut short by its reader is no error (each command's
        // output goes through `shown`; this is for any that does not).
        Err(Error::Internal(_)) if stdout_closed() => exit::OK,
        Err(e) => {
            eprintln!("error: {e}");
            e.exit_code()
        }
    }
}

/// A panic's message can quote the data at hand (slicing a string out of
/// bounds prints the string), so braid says where it happened and never what
/// the message was. A reader library that gives up on a corrupt partner
/// file inside `parse::guarded` is a rejected file, not an internal error:
/// nothing is printed for it.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        if crate::parse::in_guarded_reader() {
            return;
        }
        let at = info.location().map(|l| format!("{}:{}", l.file(), l.line())).unwrap_or_else(|| "an unknown place".into());
        let thread = std::thread::current().name().unwrap_or("unnamed").to_string();
        if at.contains("/.cargo/registry/") || at.contains("\\.cargo\\registry\\") {
            // Inside a library, usually after an I/O error it did not expect
            // (a full disk, a folder made read-only): the error that follows
            // names the cause when there is one.
            eprintln!(
                "internal error: a library braid uses panicked in thread `{thread}` at {at} (the message is withheld, as it may quote input data); if the error below names a full disk or a permission problem, fix that and run again; otherwise please report it"
            );
            return;
        }
        eprintln!(
            "internal error: braid panicked in thread `{thread}` at {at} (the message is withheld, as it may quote input data); please report it"
        );
    }));
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "warn",
        1 => "info",
        _ => "debug",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("BRAID_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!("braid={default},deltalake_core=off,buoyant_kernel=off,warn"))
    });
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).try_init();
}

fn load_config(cli: &Cli) -> Result<Config> {
    Config::load(cli.config.as_deref())
}

async fn dispatch(cli: Cli) -> Result<i32> {
    match &cli.command {
        Command::Demo { out, people, seed, force } => {
            let summary = crate::demo::generate(out, *people, *seed, *force)?;
            outln!("{summary}");
            Ok(exit::OK)
        }
        Command::Docs { which } => match which.as_str() {
            "data-model" => {
                out!("{}", crate::model::data_model_markdown());
                Ok(exit::OK)
            }
            other => Err(Error::Usage(format!("unknown document `{other}` (data-model)"))),
        },
        Command::Schedule { print } => {
            let cfg = load_config(&cli)?;
            match print {
                Some(n) => {
                    for t in cfg.schedule.next(*n)? {
                        outln!("{}", t.to_rfc3339());
                    }
                    Ok(exit::OK)
                }
                None => {
                    crate::schedule::serve(&cfg.schedule, cli.config.as_deref())?;
                    Ok(exit::OK)
                }
            }
        }
        _ => {
            let cfg = load_config(&cli)?;
            let mut p = Pipeline::open(cfg)?;
            // Commands that change the warehouse run one at a time.
            let changes = matches!(
                cli.command,
                Command::Run { .. }
                    | Command::Pull { .. }
                    | Command::Link { action: None, .. }
                    | Command::Publish { .. }
                    | Command::Forget { .. }
                    | Command::Rotate { .. }
            );
            let _lock = if changes { Some(crate::ledger::StateLock::take(&p.cfg.state_dir())?) } else { None };
            run_command(&cli.command, &mut p).await
        }
    }
}

async fn run_command(cmd: &Command, p: &mut Pipeline) -> Result<i32> {
    match cmd {
        Command::Run { as_of, revise, no_publish } => {
            let opts = RunOptions {
                as_of: *as_of,
                revise: *revise,
                publish: !*no_publish,
                fault_after_tables: std::env::var("BRAID_FAULT_AFTER_TABLES").ok().and_then(|v| v.parse().ok()),
            };
            let s = p.run(&opts).await?;
            print_run_summary(&s)?;
            Ok(if s.ingest.rejected() > 0 { exit::REJECTED_INPUT } else { exit::OK })
        }
        Command::Pull { partner, as_of } => {
            let run_id = crate::run::new_run_id();
            let s = p.pull(&run_id, partner.as_deref(), *as_of).await?;
            print_ingest(&s)?;
            Ok(if s.rejected() > 0 { exit::REJECTED_INPUT } else { exit::OK })
        }
        Command::Link { action: None, as_of } => {
            let run_id = crate::run::new_run_id();
            p.ledger.start_run(&run_id)?;
            let mut t = crate::run::Timings::default();
            let res = p.link_and_load(&run_id, *as_of, None, &mut t).await;
            let code = res.as_ref().map(|_| 0).unwrap_or_else(|e| e.exit_code());
            p.ledger.finish_run(&run_id, code, &res.as_ref().map(|s| serde_json::json!({ "linkage": s }).to_string()).unwrap_or_default())?;
            let s = res?;
            outln!(
                "linked {} records into {} persons ({} served by 2+ partners); warehouse committed",
                s.records, s.persons, s.multi_partner_persons
            );
            Ok(exit::OK)
        }
        Command::Link { action: Some(LinkAction::Evaluate { truth, json }), .. } => {
            let link = committed_link_for(p, "evaluate").await?;
            let t = crate::link::evaluate::load_truth(truth, &p.keys, &p.cfg.partner_ids())?;
            // Nothing to evaluate is an error; found before the scoring.
            crate::link::evaluate::evaluate(&link, &t, None, p.cfg.linkage.threshold)?;
            let input = p.link_input()?;
            let scored = crate::link::score(&input, &p.cfg.linkage);
            let mut e = crate::link::evaluate::evaluate(&link, &t, Some((&scored, &input)), p.cfg.linkage.threshold)?;
            e.inputs_as_committed = p.inputs_committed()?;
            if *json {
                outln!("{}", serde_json::to_string_pretty(&e).expect("json"));
            } else {
                out!("{}", e.to_text());
            }
            Ok(exit::OK)
        }
        Command::Link { action: Some(LinkAction::Blocking { truth, json }), .. } => {
            let t = truth.as_ref().map(|t| crate::link::evaluate::load_truth(t, &p.keys, &p.cfg.partner_ids())).transpose()?;
            let input = p.link_input()?;
            let report = crate::link::blocking_report(&input, &p.cfg.linkage, t.as_ref());
            if *json {
                outln!("{}", serde_json::to_string_pretty(&report).expect("json"));
            } else {
                out!("{}", blocking_text(&report));
            }
            Ok(exit::OK)
        }
        Command::Link { action: Some(LinkAction::Explain { a, b, json }), .. } => {
            explain(p, a, b, *json).await?;
            Ok(exit::OK)
        }
        Command::Metrics { raw, release, metric, as_of } => {
            metrics(p, *raw, release.as_deref(), metric.as_deref(), *as_of).await?;
            Ok(exit::OK)
        }
        Command::Publish { as_of, revise } => {
            let r = crate::publish::publish(
                &p.cfg,
                &p.keys,
                &mut p.ledger,
                &p.wh,
                &crate::publish::PublishOptions { as_of: Pipeline::today(*as_of), revise: *revise },
            )
            .await?;
            crate::publish::write_partner_reports(&p.cfg, &p.ledger, None)?;
            print_release(&r)?;
            Ok(exit::OK)
        }
        Command::Sql { query, format, output } => {
            if let Some(path) = output {
                crate::sql::check_output(path, &crate::sql::protected_paths(&p.cfg, &p.keys))?;
            }
            let versions = crate::load::committed_versions(&p.ledger)?;
            let ctx = crate::sql::analyst_context(&p.wh, &versions, &p.cfg.metrics.dir()).await?;
            let batches = crate::sql::query(&ctx, query).await?;
            match (output, format) {
                (Some(path), crate::sql::Format::Parquet) => crate::sql::write(&batches, *format, &mut std::io::sink(), Some(path))?,
                (Some(path), _) => {
                    let mut f = std::fs::File::create(path).map_err(|e| Error::Usage(format!("cannot write {}: {e}", path.display())))?;
                    crate::sql::write(&batches, *format, &mut f, None)?
                }
                (None, _) => shown(crate::sql::write(&batches, *format, &mut Stdout, None))?,
            }
            Ok(exit::OK)
        }
        Command::Shell => {
            let versions = crate::load::committed_versions(&p.ledger)?;
            let ctx = crate::sql::analyst_context(&p.wh, &versions, &p.cfg.metrics.dir()).await?;
            crate::sql::shell(&ctx).await?;
            Ok(exit::OK)
        }
        Command::Status { partner, json } => {
            if let Some(id) = partner
                && p.cfg.partner(id).is_none()
            {
                return Err(Error::Usage(format!(
                    "--partner is not one in the configuration (partners: {})",
                    p.cfg.partner_ids().join(", ")
                )));
            }
            let s = crate::status::status(&p.cfg, &p.ledger, partner.as_deref())?;
            if partner.is_some() {
                let paths = crate::publish::write_partner_reports(&p.cfg, &p.ledger, partner.as_deref())?;
                for path in paths {
                    eprintln!("data-quality report: {}", path.display());
                }
            }
            if *json {
                outln!("{}", serde_json::to_string_pretty(&s).expect("json"));
            } else {
                out!("{}", s.to_text());
            }
            Ok(exit::OK)
        }
        Command::Forget { partner, record_id, dry_run } => {
            let n = crate::forget::forget(p, partner, record_id, *dry_run).await?;
            outln!("{n}");
            Ok(exit::OK)
        }
        Command::Rotate { as_of, drop_unmatched } => {
            let previous = crate::secret::Keys::load_previous()?
                .ok_or_else(|| Error::Usage("set BRAID_PREVIOUS_SECRET (or BRAID_PREVIOUS_SECRET_FILE) to the secret being rotated away from".into()))?;
            let run_id = crate::run::new_run_id();
            p.ledger.start_run(&run_id)?;
            let mut t = crate::run::Timings::default();
            let res = p.rotate(previous, &run_id, *as_of, *drop_unmatched, &mut t).await;
            let code = res.as_ref().map(|_| 0).unwrap_or_else(|e| e.exit_code());
            p.ledger.finish_run(&run_id, code, &res.as_ref().map(|(_, s, _)| serde_json::json!({ "rotation": s }).to_string()).unwrap_or_default())?;
            let (ingest, s, dropped) = res?;
            print_ingest(&ingest)?;
            for d in &dropped {
                outln!("dropped (not at its source, so not protected with the new secret): {d}");
            }
            outln!(
                "rotated to key id {}: every file protected with it, withdrawals and person keys carried over; linked {} records into {} persons; warehouse committed",
                p.keys.key_id(),
                s.records,
                s.persons
            );
            Ok(if ingest.rejected() > 0 { exit::REJECTED_INPUT } else { exit::OK })
        }
        Command::Demo { .. } | Command::Docs { .. } | Command::Schedule { .. } => unreachable!("handled before opening the pipeline"),
    }
}

/// The partner ids of the configuration.
/// One `PARTNER:RECORD_ID` argument of `braid link explain`, checked.
/// Messages name the argument (A or B) and the partner, never the id.
fn explain_arg(cfg: &Config, which: &str, arg: &str) -> Result<(String, String)> {
    let bad = |why: String| Error::Usage(format!("record {which}: {why}"));
    let Some((partner, id)) = arg.split_once(':') else {
        return Err(bad("must be PARTNER:RECORD_ID (no `:` found)".into()));
    };
    if id.contains(':') {
        return Err(bad("must be PARTNER:RECORD_ID with one `:` (found more; a record id with `:` in it cannot be explained)".into()));
    }
    if partner.is_empty() {
        return Err(bad("the partner before `:` is empty".into()));
    }
    if cfg.partner(partner).is_none() {
        // What was typed is not repeated: with the parts swapped it is an id.
        return Err(bad(format!("the partner before `:` is not one in the configuration (partners: {})", cfg.partner_ids().join(", "))));
    }
    if id.trim().is_empty() {
        return Err(bad(format!("the record id after `{partner}:` is empty")));
    }
    Ok((partner.to_string(), id.to_string()))
}

/// The committed link table for `braid link <command>`, or the usage
/// error that says what to run first.
async fn committed_link_for(p: &Pipeline, command: &str) -> Result<Vec<(String, Option<String>)>> {
    p.committed_link().await?.ok_or_else(|| {
        Error::Usage(format!("no linked warehouse yet: run `braid run` (or `braid pull`, then `braid link`) before `braid link {command}`"))
    })
}

/// `braid link explain`: how the model weighs two records, factor by
/// factor, from their best-matching observations (as the link step scores
/// two records). Levels and weights only, never a value or an id.
async fn explain(p: &Pipeline, a: &str, b: &str, json: bool) -> Result<()> {
    let (pa, ra) = explain_arg(&p.cfg, "A", a)?;
    let (pb, rb) = explain_arg(&p.cfg, "B", b)?;
    if pa == pb && ra == rb {
        return Err(Error::Usage("records A and B are the same record; explain compares two records".into()));
    }
    let link = committed_link_for(p, "explain").await?;
    let (ka, kb) = (crate::protect::record_key(&p.keys, &pa, &ra), crate::protect::record_key(&p.keys, &pb, &rb));
    let input = p.link_input()?;
    // Which observations each record has, or why it has none.
    let observations = |which: &str, partner: &str, key: &str| -> std::result::Result<Vec<usize>, String> {
        let Some(r) = input.records.iter().position(|r| r.record_key == key) else {
            return Err(format!("record {which}: record not found (partner `{partner}` has no record with this id in the warehouse's current files)"));
        };
        if !input.records[r].consent {
            return Err(format!("record {which}: the record has no consent to link, so it is never compared"));
        }
        let obs: Vec<usize> = input.observations.iter().enumerate().filter(|(_, (x, _))| *x as usize == r).map(|(i, _)| i).collect();
        if obs.is_empty() {
            return Err(format!("record {which}: the record has no identifiers to compare (no name, birth date or contact was usable)"));
        }
        Ok(obs)
    };
    let (oa, ob) = match (observations("A", &pa, &ka), observations("B", &pb, &kb)) {
        (Ok(oa), Ok(ob)) => (oa, ob),
        (x, y) => return Err(Error::Usage([x.err(), y.err()].into_iter().flatten().collect::<Vec<_>>().join("; "))),
    };
    let scored = crate::link::score(&input, &p.cfg.linkage);
    let tf = |t: u64| scored.tf.get(&t).copied().unwrap_or(0.0);
    // The best-matching pair of observations, as the link step takes it.
    let (_, l) = crate::link::best_pair(&input, &scored, &oa, &ob, pa == pb).expect("observations on both sides");
    let e = scored.model.explain(&l, &tf);
    let threshold = p.cfg.linkage.threshold;
    let person = |k: &str| link.iter().find(|(r, _)| r == k).and_then(|(_, pk)| pk.as_deref());
    let same_person = match (person(&ka), person(&kb)) {
        (Some(x), Some(y)) => Some(x == y),
        _ => None,
    };
    let current = p.inputs_committed()?;
    if json {
        let v = serde_json::json!({
            "a": { "partner": pa, "record_key_prefix": &ka[..8], "observations": oa.len() },
            "b": { "partner": pb, "record_key_prefix": &kb[..8], "observations": ob.len() },
            "observation_pairs": oa.len() * ob.len(),
            "explanation": e,
            "threshold": threshold,
            "above_threshold": e.log_odds >= p.cfg.linkage.threshold_log_odds() as f64,
            "same_person_in_warehouse": same_person,
            "inputs_as_committed": current,
        });
        outln!("{}", serde_json::to_string_pretty(&v).expect("json"));
        return Ok(());
    }
    outln!("record A: {pa}, record key {}…, {} observation(s)", &ka[..8], oa.len());
    outln!("record B: {pb}, record key {}…, {} observation(s)", &kb[..8], ob.len());
    if oa.len() * ob.len() > 1 {
        outln!("compared: the best-matching of {} observation pairs, as the link step scores two records", oa.len() * ob.len());
    }
    outln!();
    let w = e.factors.iter().map(|f| f.levels.len()).max().unwrap_or(0).max(46);
    outln!("{:<28} {:<w$} {:^33}", "", "", "log2 likelihood ratio");
    outln!("{:<28} {:<w$} {:>16} {:>16}", "factor", "levels", "match:unrelated", "match:household");
    for f in &e.factors {
        let note = if f.missing { "  (missing: no evidence)" } else { "" };
        outln!("{:<28} {:<w$} {:>+16.2} {:>+16.2}{note}", f.factor, f.levels, f.match_vs_unrelated, f.match_vs_household);
    }
    outln!("{:<28} {:<w$} {:>+16.2} {:>+16.2}", "class shares (prior)", "", e.prior_vs_unrelated, e.prior_vs_household);
    outln!("{:<28} {:<w$} {:>+16.2} {:>+16.2}", "sum", "log2 odds of a match against each class alone", e.vs_unrelated, e.vs_household);
    outln!();
    outln!(
        "term-frequency adjustment (exactly agreeing names; common names weigh less): given name {:+.2} (against both classes), family name {:+.2} (against unrelated only)",
        e.term_frequency_given, e.term_frequency_family
    );
    outln!(
        "log2 odds of a match against household or unrelated together: -log2(2^-({:.2}) + 2^-({:.2})) = {:+.2}",
        e.vs_unrelated + e.term_frequency_given + e.term_frequency_family,
        e.vs_household + e.term_frequency_given,
        e.combined
    );
    outln!(
        "score: log2 odds {:+.2}, match probability {:.4}; threshold {threshold} (log2 odds {:+.2}): {}",
        e.log_odds,
        e.probability,
        p.cfg.linkage.threshold_log_odds(),
        if e.log_odds >= p.cfg.linkage.threshold_log_odds() as f64 { "above" } else { "below" }
    );
    outln!(
        "in the committed warehouse: {}",
        match same_person {
            Some(true) => "one person",
            Some(false) => "two persons (clustering also weighs every other pair between their clusters)",
            None => "not both linked yet",
        }
    );
    if !current {
        outln!("note: the staged inputs changed since the last committed link; these weights are the ones the next `braid link` would use");
    }
    outln!();
    outln!("Each weight is log2 P(levels | match) / P(levels | other class). Given and family name form one factor,");
    outln!("and birth date and contact another: the model learns them jointly, so their weight is not split by field.");
    outln!("A missing field is no evidence (weight 0 in every class). Each column adds up, with the class shares, to the");
    outln!("odds of a match against that class alone; the score weighs a match against both other classes together.");
    Ok(())
}

async fn metrics(p: &Pipeline, raw: bool, release: Option<&str>, only: Option<&str>, as_of: Option<NaiveDate>) -> Result<()> {
    let mut as_of = as_of;
    let versions = match release {
        Some(id) => {
            let recs = p.ledger.release(id)?;
            let r = recs.first().ok_or_else(|| Error::Usage(format!("no release `{id}` in the ledger")))?;
            as_of = as_of.or_else(|| r.created_at.get(..10).and_then(|d| d.parse().ok()));
            serde_json::from_str(r.table_versions.as_deref().unwrap_or("{}")).map_err(|e| Error::internal(e.to_string()))?
        }
        None => crate::load::committed_versions(&p.ledger)?,
    };
    if versions.is_empty() {
        return Err(Error::Usage("the warehouse has no committed run yet; run `braid run` first".into()));
    }
    let ctx = crate::metrics::context(&p.wh, &versions, &p.cfg.metrics, Pipeline::today(as_of)).await?;
    let order_key = p.keys.key(crate::secret::Purpose::Forget);
    for m in crate::metrics::load(&p.cfg.metrics)? {
        if only.is_some_and(|o| o != m.name) {
            continue;
        }
        let (rows, nulls) = crate::metrics::compute(&ctx, &m).await?;
        let people: std::collections::HashSet<&str> = rows.person.iter().map(String::as_str).collect();
        outln!("{} ({}): {} per-person rows, {} people, {} rows without a value", m.name, m.title, rows.person.len(), people.len(), nulls);
        if raw {
            let public: Vec<Vec<String>> = m.dimensions.iter().map(|d| p.cfg.dimension(d).unwrap_or_default()).collect();
            let b = crate::publish::bound_metric(&p.cfg, &m, &rows, &public, &order_key);
            outln!("  EXACT VALUES (steward validation only; never publish): bounded to {} cells per person", b.max_cells);
            if b.people_truncated > 0 {
                // The bound drops cells, so these values (and the released
                // ones) count fewer people than the SQL returned.
                outln!(
                    "  CAPPED: {} people count in more than {} cells; {} of their cells are left out below and in every release (raise `max_cells` in the metric's SQL header to count them, at more noise)",
                    b.people_truncated,
                    b.max_cells,
                    b.cells_truncated
                );
            }
            outln!("  {}\tn\tsum\tmedian", m.dimensions.join("\t"));
            for (c, discovered) in b.cells.iter().map(|c| (c, false)).chain(b.discovered.iter().map(|c| (c, true))) {
                if c.n == 0 {
                    continue;
                }
                let median = if c.values.is_empty() {
                    String::new()
                } else {
                    let mut v = c.values.clone();
                    v.sort_unstable();
                    v[v.len() / 2].to_string()
                };
                let note = if discovered { "\t(not on the public lists: released only if it clears the threshold)" } else { "" };
                outln!("  {}\t{}\t{}\t{}{note}", c.key.join("\t"), c.n, c.sum, median);
            }
        }
    }
    Ok(())
}

fn print_ingest(s: &crate::ingest::IngestSummary) -> Result<()> {
    outln!("Files:");
    for f in &s.files {
        let name = f.url.rsplit('/').next().unwrap_or(&f.url);
        outln!(
            "  {:<16} {:<12} {:<40} {:<14} read {:>7} loaded {:>7} quarantined {:>6}{}",
            f.partner,
            f.feed,
            name,
            f.status,
            f.rows_read,
            f.rows_loaded,
            f.rows_quarantined,
            f.message.as_ref().map(|m| format!("\n      {m}")).unwrap_or_default()
        );
        for w in &f.warnings {
            outln!("      note: {w}");
        }
    }
    for (p, e) in &s.source_errors {
        outln!("  {p}: SOURCE ERROR {e}");
    }
    if s.rejected() > 0 {
        outln!("Completed with rejected input: {} file(s) or source(s) were rejected (see above).", s.rejected());
    }
    Ok(())
}

fn print_release(r: &crate::publish::ReleaseSummary) -> Result<()> {
    if !r.new_metrics.is_empty() {
        outln!("Release {}: published {} metric(s), rho spent {:.4}", r.release_id, r.new_metrics.len(), r.rho_spent);
    }
    if !r.reserved_metrics.is_empty() {
        outln!("Release {}: re-served {} metric(s) already published this period (no budget spent)", r.release_id, r.reserved_metrics.len());
    }
    if !r.deferred_metrics.is_empty() {
        outln!("Metrics new since this period's release, published next period or with --revise: {}", r.deferred_metrics.join(", "));
    }
    outln!("Budget: lifetime rho {:.4}, this year {:.4}", r.spent.lifetime, r.spent.year);
    outln!("Report: {}/index.html", r.folder);
    Ok(())
}

fn print_run_summary(s: &crate::run::RunSummary) -> Result<()> {
    print_ingest(&s.ingest)?;
    match &s.linkage {
        Some(l) => outln!(
            "Linked {} records into {} persons ({} served by 2+ partners); warehouse committed as run {}",
            l.records, l.persons, l.multi_partner_persons, s.run_id
        ),
        None => outln!("Inputs unchanged since the last committed run: warehouse left as it was."),
    }
    if let Some(r) = &s.release {
        print_release(r)?;
    }
    outln!(
        "Timings: {}",
        s.timings.stages.iter().map(|(k, v)| format!("{k} {v:.1}s")).collect::<Vec<_>>().join(", ")
    );
    Ok(())
}

/// `braid link blocking` as a table.
fn blocking_text(r: &crate::link::block::BlockingReport) -> String {
    use std::fmt::Write;
    let opt = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_else(|| "-".into());
    let mut s = String::new();
    let _ = writeln!(s, "blocking recipes (blocks over {} entries compared in a window of {}):", r.max_block, r.window);
    let _ = writeln!(
        s,
        "  {:<56} {:>9} {:>8} {:>9} {:>10} {:>11} {:>10} {:>9}",
        "recipe", "blocks", "largest", "windowed", "entries", "pairs", "true", "only here"
    );
    for x in &r.recipes {
        let _ = writeln!(
            s,
            "  {:<56} {:>9} {:>8} {:>9} {:>10} {:>11} {:>10} {:>9}",
            x.recipe, x.blocks, x.largest_block, x.windowed_blocks, x.windowed_entries, x.pairs, opt(x.true_pairs), opt(x.only_here)
        );
    }
    let _ = writeln!(s, "distinct candidate record pairs: {}", r.candidate_pairs);
    if let (Some(t), Some(f), Some(c)) = (r.true_pairs, r.found, r.reachable) {
        let share = |n: u64| if t == 0 { 1.0 } else { n as f64 / t as f64 };
        let _ = writeln!(s, "true record pairs: {t}; proposed: {f} ({:.4}); connected through proposed true pairs: {c} ({:.4})", share(f), share(c));
    }
    s
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use crate::error::exit;

    #[test]
    fn help_lists_every_exit_code_in_order() {
        // `braid --help` left out 8 (busy), which README lists.
        let help = super::Cli::command().get_after_help().expect("exit codes in the help").to_string();
        let listed: Vec<i32> = help
            .strip_prefix("Exit codes:")
            .expect("starts with the list")
            .split(", ")
            .map(|item| item.split_whitespace().next().and_then(|n| n.parse().ok()).expect("a code, then its meaning"))
            .collect();
        let all =
            [exit::OK, exit::INTERNAL, exit::USAGE, exit::CONFIG, exit::INPUT, exit::REJECTED_INPUT, exit::BUDGET_REFUSED, exit::STORAGE, exit::BUSY];
        assert_eq!(listed, all);
    }
}
