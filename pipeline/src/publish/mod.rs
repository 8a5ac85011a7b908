//! publish: bounding -> OpenDP noise -> budget ledger -> release files.
//!
//! A release covers one period (a quarter by default). The first run in a
//! period computes every metric, bounds each person's contribution, adds
//! noise, and charges the budget in one transaction; nightly re-runs in the
//! same period re-serve the stored noisy values (post-processing, no spend).
//! `--revise` makes a new revision of the period, which spends again.
//!
//! Nothing true leaves this module: the payload stored in the ledger and
//! every file written hold noisy values, intervals and flags only.

pub mod bound;
pub mod noise;
pub mod report;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use crate::config::Config;
use crate::error::{Error, Result};
use crate::ledger::{Ledger, ReleaseRecord, Spent};
use crate::metrics::{Aggregation, MetricDef};
use crate::secret::{Keys, Purpose};
use crate::warehouse::Warehouse;
pub use noise::Mechanism;

/// Release files and suppression rules (`[publish]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishConfig {
    /// Folder of releases (`<path>/<release>/`, `<path>/latest`).
    pub path: String,
    /// Folder of the partners' data-quality reports. They hold exact row
    /// counts about each partner's own files, so they are kept apart from
    /// the public releases. Default: `partner-reports` beside `path`.
    pub partner_reports: Option<String>,
    /// quarter (default), month or program_year.
    #[serde(default)]
    pub period: Period,
    /// Title of the report.
    pub title: Option<String>,
    /// Cells whose noisy count is below this are suppressed. Default 11.
    #[serde(default = "d_min_cell")]
    pub min_cell: i64,
    /// Counts, sums, means and medians whose 95% margin of error exceeds this
    /// share of the value are suppressed. Default 0.5.
    #[serde(default = "d_rel_moe")]
    pub max_relative_moe: f64,
    /// Rates whose 95% margin of error exceeds this (in share points) are
    /// suppressed. Default 0.15.
    #[serde(default = "d_rate_moe")]
    pub max_rate_moe: f64,
}

fn d_min_cell() -> i64 {
    11
}
fn d_rel_moe() -> f64 {
    0.5
}
fn d_rate_moe() -> f64 {
    0.15
}

impl PublishConfig {
    pub fn validate(&self) -> std::result::Result<(), String> {
        if self.min_cell < 0 {
            return Err("publish.min_cell must not be negative".into());
        }
        if !(self.max_relative_moe > 0.0 && self.max_relative_moe.is_finite() && self.max_rate_moe > 0.0 && self.max_rate_moe.is_finite()) {
            return Err("publish.max_relative_moe and max_rate_moe must be positive numbers".into());
        }
        // Partner reports hold exact row counts: never inside the folder
        // that is published, whether named or the default (a publish.path
        // that ends in `partner-reports` is the default folder itself).
        if lexical(&self.partner_reports_dir()).starts_with(lexical(&self.dir())) {
            return Err(format!(
                "the partner reports' folder ({}) must not be inside publish.path: partner reports hold exact counts and the publish folder is public; set publish.partner_reports to a folder outside it",
                self.partner_reports_dir().display()
            ));
        }
        Ok(())
    }
    pub fn dir(&self) -> PathBuf {
        crate::config::resolve(&self.path)
    }
    pub fn partner_reports_dir(&self) -> PathBuf {
        match &self.partner_reports {
            Some(p) => crate::config::resolve(p),
            None => {
                let d = self.dir();
                d.parent().map(|p| p.join("partner-reports")).unwrap_or_else(|| PathBuf::from("partner-reports"))
            }
        }
    }
}

/// `p` with `.` and `..` resolved on the text alone (the folders need not
/// exist yet).
fn lexical(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out
}

/// The period a release covers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    Month,
    #[default]
    Quarter,
    ProgramYear,
}

impl Period {
    pub fn label(self, d: NaiveDate) -> String {
        match self {
            Period::Month => format!("{}-{:02}", d.year(), d.month()),
            Period::Quarter => crate::map::quarter_of(d),
            Period::ProgramYear => crate::map::program_year_of(d),
        }
    }
}

/// The privacy budget (`[privacy]`). Amounts are ρ of zero-concentrated DP;
/// see docs/privacy.md for what they mean.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrivacyConfig {
    /// gaussian (ρ-zCDP, default) or laplace for counts and sums (each pure
    /// ε-DP, charged as ε²/2; cells outside the public lists then use
    /// OpenDP's Laplace threshold mechanism, which has a δ, and medians the
    /// same quantile either way, see docs/privacy.md).
    #[serde(default = "d_mech")]
    pub mechanism: Mechanism,
    /// ρ spent by one release, shared by its metrics by weight.
    pub rho_per_release: f64,
    /// ρ all releases created in one calendar year may spend together.
    pub rho_annual_cap: f64,
    /// ρ all releases may ever spend together.
    pub rho_lifetime_cap: f64,
    /// δ at which ε is reported. Default 1e-9.
    #[serde(default = "d_delta")]
    pub delta: f64,
    /// Cells one person may contribute to per metric (totals included).
    /// Default 12.
    #[serde(default = "d_cells")]
    pub max_cells_per_person: usize,
    /// Share of each metric's ρ that releases cells whose keys are not on
    /// the public lists, through OpenDP's threshold mechanism. 0 turns
    /// discovery off (such rows then count only in totals). Default 0.1.
    #[serde(default = "d_share")]
    pub discovery_share: f64,
    /// δ each metric's threshold mechanism may add. Default 1e-10.
    #[serde(default = "d_disc_delta")]
    pub discovery_delta: f64,
}

fn d_share() -> f64 {
    0.1
}
fn d_disc_delta() -> f64 {
    1e-10
}

fn d_mech() -> Mechanism {
    Mechanism::Gaussian
}
fn d_delta() -> f64 {
    1e-9
}
fn d_cells() -> usize {
    12
}

impl PrivacyConfig {
    pub fn validate(&self) -> std::result::Result<(), String> {
        // A NaN compares false with everything, so it would pass every cap.
        for (name, v) in [
            ("rho_per_release", self.rho_per_release),
            ("rho_annual_cap", self.rho_annual_cap),
            ("rho_lifetime_cap", self.rho_lifetime_cap),
            ("delta", self.delta),
            ("discovery_share", self.discovery_share),
            ("discovery_delta", self.discovery_delta),
        ] {
            if !v.is_finite() {
                return Err(format!("privacy.{name} must be a finite number (got {v})"));
            }
        }
        // Written so that NaN fails too.
        #[allow(clippy::neg_cmp_op_on_partial_ord)]
        if !(self.rho_per_release > 0.0) {
            return Err("privacy.rho_per_release must be positive".into());
        }
        if self.rho_annual_cap < self.rho_per_release || self.rho_lifetime_cap < self.rho_annual_cap {
            return Err("privacy caps must satisfy rho_per_release <= rho_annual_cap <= rho_lifetime_cap".into());
        }
        if !(0.0 < self.delta && self.delta < 1e-3) {
            return Err("privacy.delta must be in (0, 0.001)".into());
        }
        if !(0.0..1.0).contains(&self.discovery_share) {
            return Err("privacy.discovery_share must be in [0, 1)".into());
        }
        if !(0.0 < self.discovery_delta && self.discovery_delta < 1e-3) {
            return Err("privacy.discovery_delta must be in (0, 0.001)".into());
        }
        if self.max_cells_per_person == 0 {
            return Err("privacy.max_cells_per_person must be at least 1".into());
        }
        Ok(())
    }
}

/// A public list of group keys: a list, or a range of quarters (`2023Q1`)
/// or program years (`PY2023`).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum DimensionValues {
    List(Vec<String>),
    Range { from: String, to: String },
}

impl DimensionValues {
    pub fn expand(&self) -> std::result::Result<Vec<String>, String> {
        match self {
            DimensionValues::List(v) => Ok(v.clone()),
            DimensionValues::Range { from, to } => {
                if let (Some(a), Some(b)) = (crate::map::quarter_start(from), crate::map::quarter_start(to)) {
                    let mut out = vec![];
                    let mut d = a;
                    while d <= b {
                        out.push(crate::map::quarter_of(d));
                        d = d.checked_add_months(chrono::Months::new(3)).ok_or("date overflow")?;
                    }
                    return Ok(out);
                }
                let py = |s: &str| s.strip_prefix("PY").and_then(|y| y.parse::<i32>().ok());
                if let (Some(a), Some(b)) = (py(from), py(to)) {
                    return Ok((a..=b).map(|y| format!("PY{y}")).collect());
                }
                Err(format!("range {from}..{to} is neither quarters (2024Q1) nor program years (PY2024)"))
            }
        }
    }
}

/// One published cell.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PublishedCell {
    pub key: BTreeMap<String, String>,
    /// The noisy estimate; None when suppressed.
    pub value: Option<f64>,
    /// Half-width of the 95% interval; None when suppressed.
    pub moe: Option<f64>,
    pub lower: Option<f64>,
    pub upper: Option<f64>,
    /// The noisy count of people in the cell; None when suppressed.
    pub n: Option<i64>,
    /// ok, suppressed_small or suppressed_imprecise.
    pub status: String,
    /// A key not on the public lists, released through the threshold
    /// mechanism.
    #[serde(default)]
    pub discovered: bool,
}

/// A published metric (what the ledger stores and the files show).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PublishedMetric {
    pub name: String,
    pub title: String,
    pub area: String,
    pub unit: String,
    pub aggregation: Aggregation,
    pub dimensions: Vec<String>,
    pub description: String,
    pub mechanism: Mechanism,
    pub rho: f64,
    pub epsilon: f64,
    /// δ at which `epsilon` is stated.
    pub delta: f64,
    /// δ of the threshold mechanism (cells discovered outside the public
    /// lists); the release is (ε, delta + threshold_delta)-DP.
    #[serde(default)]
    pub threshold_delta: f64,
    pub max_cells_per_person: usize,
    pub bounds: (i64, i64),
    /// Noise scale and sensitivity of each released quantity.
    pub noise: BTreeMap<String, serde_json::Value>,
    pub cells: Vec<PublishedCell>,
}

/// What `publish` did.
#[derive(Debug, Clone, Serialize)]
pub struct ReleaseSummary {
    pub release_id: String,
    pub folder: String,
    pub new_metrics: Vec<String>,
    pub reserved_metrics: Vec<String>,
    pub deferred_metrics: Vec<String>,
    pub rho_spent: f64,
    pub spent: Spent,
}

/// Options of one publish.
#[derive(Debug, Clone)]
pub struct PublishOptions {
    pub as_of: NaiveDate,
    pub revise: bool,
}

fn release_year(created_at: &str) -> String {
    created_at[..4].to_string()
}

/// The release id for a period. Without `revise`, the period's release: its
/// latest revision if it has one (re-served, never drawn again: a nightly
/// run after a revision serves the revision, and a revision that was the
/// period's first release is not followed by a draw under the plain label),
/// else the period's label. With `revise`, its next revision (`2026Q4-r2`,
/// ...); a revision that was charged but never written (the run failed
/// after the charge) is that revision: the run writes it, instead of
/// charging another.
fn release_id(ledger: &Ledger, dir: &Path, label: &str, revise: bool) -> Result<String> {
    // The highest revision the ledger knows; it alone may be unwritten.
    let mut r = 2;
    while !ledger.release(&format!("{label}-r{r}"))?.is_empty() {
        r += 1;
    }
    let last = (r > 2).then(|| format!("{label}-r{}", r - 1));
    if !revise {
        return Ok(last.unwrap_or_else(|| label.to_string()));
    }
    if let Some(last) = last.filter(|l| !dir.join(l).join("release.json").exists()) {
        return Ok(last);
    }
    Ok(format!("{label}-r{r}"))
}

/// The ledger's record of one published metric (`payload`: its JSON).
#[allow(clippy::too_many_arguments)]
fn release_record(
    id: &str,
    period: &str,
    created_at: &str,
    p: &PublishedMetric,
    code_version: String,
    run_id: Option<String>,
    table_versions: Option<String>,
    payload: String,
) -> ReleaseRecord {
    ReleaseRecord {
        release_id: id.to_string(),
        metric: p.name.clone(),
        period: period.to_string(),
        cells: p.cells.len() as i64,
        rho: p.rho,
        epsilon: p.epsilon,
        delta: p.delta,
        threshold_delta: p.threshold_delta,
        mechanism: format!("{:?}", p.mechanism).to_lowercase(),
        created_at: created_at.to_string(),
        code_version,
        run_id,
        table_versions,
        payload,
    }
}

/// Adopts into the budget ledger every release in the publish folder that
/// it does not know (a ledger started afresh, deleted or restored from an
/// older copy, while the releases stayed public). Their ρ was spent when
/// they were published: it counts against the caps again, and the period is
/// re-served as published instead of drawn anew, which would spend the
/// budget twice and put two draws of the same cells in public. Returns the
/// ids adopted.
fn adopt_published(dir: &Path, ledger: &mut Ledger) -> Result<Vec<String>> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Ok(vec![]) };
    let mut adopted = vec![];
    // Release folders only: not `latest` (a link), files or temporaries.
    let mut ids: Vec<String> = entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| !n.starts_with('.'))
        .collect();
    ids.sort();
    for id in ids {
        let manifest_path = dir.join(&id).join("release.json");
        if !ledger.release(&id)?.is_empty() {
            continue;
        }
        // A folder that holds a release's files but no readable manifest
        // is a release whose spend cannot be read: it stops publishing. A
        // folder with no release files is not a release.
        let has_files = std::fs::read_dir(dir.join(&id)).map(|d| d.flatten().any(|e| e.path().extension().is_some_and(|x| x == "json" || x == "csv" || x == "parquet"))).unwrap_or(false);
        let text = match std::fs::read_to_string(&manifest_path) {
            Ok(t) => t,
            Err(_) if !has_files => continue,
            Err(_) => {
                return Err(Error::storage(
                    manifest_path.display(),
                    "a published release that the budget ledger does not know, and its release.json is missing or unreadable: nothing is published until the ledger it was published with is restored",
                ));
            }
        };
        let bad = |what: &str| {
            Error::storage(
                manifest_path.display(),
                format!("a published release that the budget ledger does not know, and {what}: nothing is published until the ledger it was published with is restored"),
            )
        };
        let m: serde_json::Value = serde_json::from_str(&text).map_err(|_| bad("its release.json cannot be read"))?;
        let field = |k: &str| m.get(k).and_then(|v| v.as_str()).map(String::from);
        let (Some(release_id), Some(period), Some(created_at)) = (field("release_id"), field("period"), field("created_at")) else {
            return Err(bad("its release.json lacks release_id, period or created_at"));
        };
        if release_id != id || created_at.len() < 4 {
            return Err(bad("its release.json names another release"));
        }
        let names: Vec<String> = m
            .get("metrics")
            .and_then(|v| v.as_array())
            .map(|a| a.iter().filter_map(|x| x.get("name").and_then(|n| n.as_str()).map(String::from)).collect())
            .unwrap_or_default();
        let mut records = vec![];
        for name in names {
            let payload = std::fs::read_to_string(dir.join(&id).join(format!("{name}.json"))).map_err(|_| bad("a metric's file is missing"))?;
            let p: PublishedMetric = serde_json::from_str(&payload).map_err(|_| bad("a metric's file cannot be read"))?;
            let table_versions = m.get("table_versions").map(|v| v.to_string());
            records.push(release_record(&id, &period, &created_at, &p, field("code_version").unwrap_or_default(), None, table_versions, payload));
        }
        if records.is_empty() {
            return Err(bad("it lists no metrics"));
        }
        // Already spent: recorded whatever the caps say now.
        ledger.charge(&records, &release_year(&created_at), |_| Ok(()))?;
        tracing::warn!(release = %id, "the publish folder holds a release the budget ledger did not know; its rho is recorded as spent and it is re-served as published");
        adopted.push(id);
    }
    Ok(adopted)
}

/// Compute (or re-serve) and write the release for the period of `as_of`.
pub async fn publish(cfg: &Config, keys: &Keys, ledger: &mut Ledger, wh: &Warehouse, opts: &PublishOptions) -> Result<ReleaseSummary> {
    let versions = crate::load::committed_versions(ledger)?;
    if versions.is_empty() {
        return Err(Error::Usage("the warehouse has no committed run yet; run `braid run` (or `braid link`) first".into()));
    }
    // The committed tables may still hold a person whose withdrawal of
    // consent an interrupted `braid forget` left unfinished.
    let pending = ledger.pending_forgets()?.len();
    if pending > 0 {
        return Err(Error::Usage(format!(
            "a consent withdrawal is unfinished ({pending} record key(s)): run `braid link` or `braid run` to complete it first; nothing was published"
        )));
    }
    let run_id = ledger.committed_versions()?.map(|(r, _)| r);
    let label = cfg.publish.period.label(opts.as_of);
    adopt_published(&cfg.publish.dir(), ledger)?;
    let id = release_id(ledger, &cfg.publish.dir(), &label, opts.revise)?;
    let metrics = crate::metrics::load(&cfg.metrics)?;
    let existing: BTreeMap<String, ReleaseRecord> = ledger.release(&id)?.into_iter().map(|r| (r.metric.clone(), r)).collect();
    let fresh = existing.is_empty();
    let total_weight: f64 = metrics.iter().map(|m| m.weight).sum();
    let ctx = crate::metrics::context(wh, &versions, &cfg.metrics, opts.as_of).await?;
    let order_key = keys.key(Purpose::Forget);
    if fresh {
        warn_if_wage_quarter_missing(&ctx, &cfg.metrics, opts.as_of).await?;
        if let Some((rows, types)) = unrecognized_credentials(&ctx).await? {
            // Counts only: a type is a partner's code, which could hold
            // anything a partner typed into the column.
            tracing::warn!(
                rows,
                types,
                "credentials of a type not in the recognized_credentials view (sql/staging/40_recognized_credentials.sql) do not count \
                 in credential attainment or skill gains. See them with braid sql \"SELECT partner, credential_type, count(*) FROM credential \
                 WHERE credential_type NOT IN (SELECT credential_type FROM recognized_credentials) OR credential_type IS NULL GROUP BY 1, 2\", \
                 and map the partner's codes to the view's names ([partner.feed.map.codes.credential_type])"
            );
        }
    }

    let mut published: Vec<PublishedMetric> = Vec::new();
    let mut pending: Vec<ReleaseRecord> = Vec::new();
    let (mut new_metrics, mut reserved, mut deferred) = (vec![], vec![], vec![]);
    let created_at = crate::ledger::now();
    for m in &metrics {
        if let Some(rec) = existing.get(&m.name) {
            let p: PublishedMetric = serde_json::from_str(&rec.payload).map_err(|e| Error::internal(format!("stored release: {e}")))?;
            published.push(p);
            reserved.push(m.name.clone());
            continue;
        }
        if !fresh {
            // A release is immutable once charged; a metric added later waits
            // for the next period or a revision.
            deferred.push(m.name.clone());
            continue;
        }
        let rho = cfg.privacy.rho_per_release * m.weight / total_weight;
        let p = compute_metric(cfg, &ctx, m, rho, &order_key).await?;
        let table_versions = Some(serde_json::to_string(&versions).expect("json"));
        let payload = serde_json::to_string(&p).expect("json");
        pending.push(release_record(&id, &label, &created_at, &p, crate::VERSION.to_string(), run_id.clone(), table_versions, payload));
        new_metrics.push(m.name.clone());
        published.push(p);
    }
    let mut rho_new: f64 = pending.iter().map(|r| r.rho).sum();
    if !pending.is_empty() {
        let year = release_year(&created_at);
        let caps = cfg.privacy.clone();
        let charged = ledger.charge(&pending, &year, |spent| check_caps(&caps, spent, rho_new))?;
        if !charged {
            // Another run charged this release between our look and our
            // charge. What we computed is discarded unseen; serve theirs.
            tracing::info!(release = %id, "release charged by another run; re-serving it");
            published = ledger
                .release(&id)?
                .iter()
                .map(|r| serde_json::from_str(&r.payload).map_err(|e| Error::internal(format!("stored release: {e}"))))
                .collect::<Result<_>>()?;
            reserved = published.iter().map(|p| p.name.clone()).collect();
            new_metrics.clear();
            rho_new = 0.0;
        }
    }
    let spent = ledger.spent(&release_year(&created_at))?;
    let manifest = report::Manifest::new(cfg, &id, &label, &published, &versions, spent, existing.values().next().map(|r| r.created_at.clone()).unwrap_or(created_at), keys.is_demo());
    let folder = report::write_release(&cfg.publish.dir(), &id, &published, &manifest, cfg)?;
    Ok(ReleaseSummary {
        release_id: id,
        folder: folder.display().to_string(),
        new_metrics,
        reserved_metrics: reserved,
        deferred_metrics: deferred,
        rho_spent: rho_new,
        spent,
    })
}

/// Refuse a release that would break a cap; say which and by how much.
pub fn check_caps(p: &PrivacyConfig, spent: Spent, rho: f64) -> Result<()> {
    let eps = 1e-12;
    let checks = [
        ("per-release", 0.0, p.rho_per_release),
        ("annual", spent.year, p.rho_annual_cap),
        ("lifetime", spent.lifetime, p.rho_lifetime_cap),
    ];
    for (cap, already, limit) in checks {
        if already + rho > limit + eps {
            return Err(Error::Budget { cap: cap.into(), spent: already, requested: rho, limit, over_by: already + rho - limit });
        }
    }
    Ok(())
}

/// Bound, noise and package one metric.
async fn compute_metric(
    cfg: &Config,
    ctx: &datafusion::prelude::SessionContext,
    m: &MetricDef,
    rho: f64,
    order_key: &[u8; 32],
) -> Result<PublishedMetric> {
    let (rows, _nulls) = crate::metrics::compute(ctx, m).await?;
    let public: Vec<Vec<String>> = m
        .dimensions
        .iter()
        .map(|d| {
            cfg.dimension(d).ok_or_else(|| Error::Sql {
                file: m.file.clone(),
                message: format!("dimension `{d}` has no public list in [dimensions] of the configuration"),
            })
        })
        .collect::<Result<_>>()?;
    let b = bound_metric(cfg, m, &rows, &public, order_key);
    tracing::debug!(metric = %m.name, people = b.people, unlisted_rows = b.rows_with_unlisted_keys, discovered_keys = b.discovered.len(), truncated = b.people_truncated, "bounded");
    if b.people_truncated > 0 {
        // For the steward: the cap biases the cells it drops downwards,
        // which no margin of error shows.
        tracing::warn!(
            metric = %m.name,
            people = b.people_truncated,
            cells = b.cells_truncated,
            max_cells = b.max_cells,
            "people count in more cells than the metric's max_cells: their other cells are left out, and those cells count too few (`braid metrics --raw` shows the exact values)"
        );
    }
    release_metric(cfg, m, &b, rho)
}

/// Bound one metric's per-person rows as publication does: the metric's
/// (or the configured) cells per person, value lists for medians, and
/// discovered cells when discovery is on. `public[d]` is dimension d's list.
pub fn bound_metric(cfg: &Config, m: &MetricDef, rows: &crate::metrics::PersonRows, public: &[Vec<String>], order_key: &[u8; 32]) -> bound::Bounded {
    let max_cells = m.max_cells.unwrap_or(cfg.privacy.max_cells_per_person);
    bound::bound(rows, m, public, max_cells, order_key, m.aggregation == Aggregation::Median, cfg.privacy.discovery_share > 0.0)
}

/// Share of a metric's ρ that releases its count (the rest measures values).
fn count_share(agg: Aggregation) -> f64 {
    match agg {
        Aggregation::Count => 1.0,
        Aggregation::Median => 0.25,
        Aggregation::Sum | Aggregation::Mean | Aggregation::Rate => 0.5,
    }
}

/// Values and margins of a set of cells whose noisy counts are released:
/// what is measured besides the count, with `rho` (nothing for counts).
struct Measured {
    values: Vec<Option<f64>>,
    moes: Vec<Option<f64>>,
    noise: BTreeMap<String, serde_json::Value>,
    rho: f64,
}

fn measure(cfg: &Config, m: &MetricDef, cells: &[bound::Cell], n: &[i64], count_cal: &noise::Calibrated, rho: f64, c: usize) -> Result<Measured> {
    let mech = cfg.privacy.mechanism;
    let max_abs = m.bounds.0.abs().max(m.bounds.1.abs()).max(1);
    let mut out = Measured { values: vec![None; cells.len()], moes: vec![None; cells.len()], noise: BTreeMap::new(), rho: 0.0 };
    match m.aggregation {
        Aggregation::Count => {
            let moe = noise::moe95(count_cal)?;
            for (i, v) in n.iter().enumerate() {
                out.values[i] = Some((*v).max(0) as f64);
                out.moes[i] = Some(moe);
            }
        }
        Aggregation::Sum | Aggregation::Mean | Aggregation::Rate => {
            let sums: Vec<i64> = cells.iter().map(|x| x.sum).collect();
            let sum_cal = noise::calibrate(mech, noise::sensitivity(mech, c, max_abs), rho)?;
            let s = noise::release(&sums, &sum_cal)?;
            out.noise.insert("sum".into(), serde_json::to_value(sum_cal).expect("json"));
            out.rho = sum_cal.rho;
            match m.aggregation {
                Aggregation::Sum => {
                    let moe = noise::moe95(&sum_cal)?;
                    for (i, v) in s.iter().enumerate() {
                        out.values[i] = Some(*v as f64);
                        out.moes[i] = Some(moe);
                    }
                }
                _ => {
                    // Ratio of two noisy releases; interval by simulation
                    // from the released values with OpenDP's own noise.
                    let (lo, hi) = (m.bounds.0 as f64, m.bounds.1 as f64);
                    let draws = 400;
                    let en = noise::noise_draws(count_cal, draws * s.len())?;
                    let es = noise::noise_draws(&sum_cal, draws * s.len())?;
                    for i in 0..s.len() {
                        if n[i] <= 0 {
                            continue;
                        }
                        let est = (s[i] as f64 / n[i] as f64).clamp(lo, hi);
                        out.values[i] = Some(est);
                        let mut sim: Vec<f64> = (0..draws)
                            .map(|k| {
                                let nn = (n[i] + en[i * draws + k]).max(1) as f64;
                                ((s[i] + es[i * draws + k]) as f64 / nn).clamp(lo, hi)
                            })
                            .collect();
                        sim.sort_by(f64::total_cmp);
                        let q = |p: f64| sim[((p * (draws - 1) as f64).round() as usize).min(draws - 1)];
                        out.moes[i] = Some(((q(0.975) - est).abs()).max((est - q(0.025)).abs()));
                    }
                }
            }
        }
        Aggregation::Median => {
            let (lo, hi) = m.bounds;
            let step = ((hi - lo) / 1000).max(1);
            let candidates: Vec<i64> = (0..=((hi - lo) / step)).map(|k| lo + k * step).collect();
            // A person is in at most `c` cells: each cell gets 1/c of the rest.
            let q = noise::calibrate_quantile(candidates, rho / c as f64)?;
            for (i, cell) in cells.iter().enumerate() {
                let v = q.release(&cell.values)?;
                out.values[i] = Some(v as f64);
                // The released value is a point of the grid: never claim
                // more precision than one step of it (integer data with many
                // ties, days or ages, put the true median a step away).
                out.moes[i] = Some(simulate_median_moe(&q, v, n[i])?.max(step as f64));
            }
            out.noise.insert("quantile".into(), serde_json::json!({ "scale": q.scale, "rho_per_cell": q.rho, "candidates": q.candidates.len(), "step": step }));
            out.rho = q.rho * c as f64;
        }
    }
    Ok(out)
}

/// Status and rounding of released cells; suppression looks only at noisy
/// values.
fn package(cfg: &Config, m: &MetricDef, keys: Vec<Vec<String>>, n: &[i64], v: &Measured, count_moe: f64, discovered: bool) -> Vec<PublishedCell> {
    let mut cells = Vec::with_capacity(keys.len());
    for (i, key) in keys.into_iter().enumerate() {
        let key: BTreeMap<String, String> = m.dimensions.iter().cloned().zip(key).collect();
        let (n, value, moe) = (n[i], v.values[i], v.moes[i]);
        let status = if let Some(v) = value.filter(|_| n >= cfg.publish.min_cell) {
            let imprecise = match m.aggregation {
                Aggregation::Rate => moe.unwrap_or(f64::INFINITY) > cfg.publish.max_rate_moe,
                Aggregation::Count => count_moe > cfg.publish.max_relative_moe * v.max(1.0),
                _ => moe.unwrap_or(f64::INFINITY) > cfg.publish.max_relative_moe * v.abs().max(1.0),
            };
            if imprecise { "suppressed_imprecise" } else { "ok" }
        } else {
            "suppressed_small"
        };
        let ok = status == "ok";
        let round = |x: f64| if m.aggregation == Aggregation::Rate { (x * 10_000.0).round() / 10_000.0 } else { x.round() };
        cells.push(PublishedCell {
            key,
            value: if ok { value.map(round) } else { None },
            moe: if ok { moe.map(round) } else { None },
            lower: if ok { value.zip(moe).map(|(v, e)| round(v - e)) } else { None },
            upper: if ok { value.zip(moe).map(|(v, e)| round(v + e)) } else { None },
            n: if ok { Some(n.max(0)) } else { None },
            status: status.into(),
            discovered,
        });
    }
    cells
}

/// A cell key as one string, for the threshold mechanism's map.
fn map_key(key: &[String]) -> String {
    key.join("\u{1f}")
}

/// Add noise to bounded cells and package them (separate for tests).
///
/// Public cells get `1 - discovery_share` of `rho`: their counts, then
/// (sums, rates, means, medians) their values. When discovery is on, cells
/// whose keys are not on the public lists get the rest: OpenDP's threshold
/// mechanism releases the counts of those that clear its threshold, and
/// only those are then measured. Each part is calibrated to the per-person
/// bound of `b.max_cells` cells, so the parts compose.
pub fn release_metric(cfg: &Config, m: &MetricDef, b: &bound::Bounded, rho: f64) -> Result<PublishedMetric> {
    let mech = cfg.privacy.mechanism;
    let c = b.max_cells;
    let share = cfg.privacy.discovery_share;
    let rho_public = rho * (1.0 - share);
    let cs = count_share(m.aggregation);
    let mut noise_info = BTreeMap::new();

    let count_cal = noise::calibrate(mech, noise::sensitivity(mech, c, 1), rho_public * cs)?;
    let n_true: Vec<i64> = b.cells.iter().map(|x| x.n).collect();
    let n = noise::release(&n_true, &count_cal)?;
    let measured = measure(cfg, m, &b.cells, &n, &count_cal, rho_public * (1.0 - cs), c)?;
    let mut spent = count_cal.rho + measured.rho;
    noise_info.extend(measured.noise.clone());
    noise_info.insert("count".into(), serde_json::to_value(count_cal).expect("json"));
    let keys = b.cells.iter().map(|x| x.key.clone()).collect();
    let mut cells = package(cfg, m, keys, &n, &measured, noise::moe95(&count_cal)?, false);

    let mut threshold_delta = 0.0;
    if share > 0.0 {
        let t = noise::calibrate_threshold(mech, c, rho * share * cs, cfg.privacy.discovery_delta, cfg.publish.min_cell)?;
        let keys: Vec<String> = b.discovered.iter().map(|x| map_key(&x.key)).collect();
        let released = t.release(keys.iter().cloned().zip(b.discovered.iter().map(|x| x.n)).collect())?;
        let mut chosen: Vec<(&bound::Cell, i64)> =
            b.discovered.iter().zip(&keys).filter_map(|(x, k)| released.get(k).map(|n| (x, *n))).collect();
        chosen.sort_by(|x, y| x.0.key.cmp(&y.0.key));
        let chosen_cells: Vec<bound::Cell> = chosen.iter().map(|(x, _)| (*x).clone()).collect();
        let dn: Vec<i64> = chosen.iter().map(|(_, n)| *n).collect();
        let tcal = t.calibrated();
        let dm = measure(cfg, m, &chosen_cells, &dn, &tcal, rho * share * (1.0 - cs), c)?;
        spent += t.rho + dm.rho;
        threshold_delta = t.delta;
        for (k, v) in dm.noise.iter() {
            noise_info.insert(format!("discovered_{k}"), v.clone());
        }
        noise_info.insert("discovered_count".into(), serde_json::to_value(t).expect("json"));
        let keys = chosen_cells.iter().map(|x| x.key.clone()).collect();
        cells.extend(package(cfg, m, keys, &dn, &dm, noise::moe95(&tcal)?, true));
    }
    Ok(PublishedMetric {
        name: m.name.clone(),
        title: m.title.clone(),
        area: m.area.clone(),
        unit: m.unit.clone(),
        aggregation: m.aggregation,
        dimensions: m.dimensions.clone(),
        description: m.description.clone(),
        mechanism: mech,
        rho: spent,
        epsilon: noise::epsilon(spent, cfg.privacy.delta)?,
        delta: cfg.privacy.delta,
        threshold_delta,
        max_cells_per_person: c,
        bounds: m.bounds,
        noise: noise_info,
        cells,
    })
}

/// 95% interval of a released median by simulation from released values:
/// a log-normal cell of `n` values centred on the released median (spread
/// typical of quarterly earnings), run through the same OpenDP mechanism.
fn simulate_median_moe(q: &noise::QuantileMech, median: i64, n: i64) -> Result<f64> {
    let n = n.clamp(1, 2000) as usize;
    if median <= 0 {
        return Ok(f64::INFINITY);
    }
    // Deterministic quantiles of a log-normal (sigma 0.6): no randomness
    // needed to build the synthetic cell.
    let sigma = 0.6f64;
    let values: Vec<i64> = (0..n)
        .map(|i| {
            let p = (i as f64 + 0.5) / n as f64;
            (median as f64 * (sigma * normal_quantile(p)).exp()).round() as i64
        })
        .collect();
    let runs = 60;
    let mut out: Vec<f64> = (0..runs).map(|_| q.release(&values).map(|v| (v - median) as f64)).collect::<Result<_>>()?;
    out.sort_by(f64::total_cmp);
    let lo = out[(0.025 * (runs - 1) as f64).round() as usize];
    let hi = out[(0.975 * (runs - 1) as f64).round() as usize];
    Ok(lo.abs().max(hi.abs()))
}

/// Inverse of the standard normal CDF (Acklam's rational approximation).
fn normal_quantile(p: f64) -> f64 {
    let a = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239];
    let b = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
    let c = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
    let d = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
    let pl = 0.02425;
    if p < pl {
        let q = (-2.0 * p.ln()).sqrt();
        (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1.0)
    } else if p <= 1.0 - pl {
        let q = p - 0.5;
        let r = q * q;
        (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q
            / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1.0)
    } else {
        -normal_quantile(1.0 - p)
    }
}

/// The partner data-quality reports (exact counts about the partner's own
/// files; delivered to partners, never part of a public release).
pub fn write_partner_reports(cfg: &Config, ledger: &Ledger, partner: Option<&str>) -> Result<Vec<PathBuf>> {
    report::write_partner_reports(cfg, ledger, partner)
}

pub fn latest_release(dir: &Path) -> Option<String> {
    std::fs::read_to_string(dir.join("latest.json"))
        .ok()
        .and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok())
        .and_then(|v| v.get("release_id").and_then(|r| r.as_str()).map(String::from))
}


/// Warn the steward when no wage record of the cut-off quarter is loaded:
/// the employment metrics would count that quarter's exiters as not
/// employed, and the release, drawn once, is re-served all period. Only a
/// warning: what a release counts depends on public values alone, never on
/// whether a file has arrived (`[metrics] wages_through` is the steward's
/// public answer).
async fn warn_if_wage_quarter_missing(ctx: &datafusion::prelude::SessionContext, cfg: &crate::metrics::MetricsConfig, as_of: chrono::NaiveDate) -> Result<()> {
    let qi = cfg.wage_through_qi(as_of);
    let sql = format!("SELECT count(*) AS n FROM quarterly_wages WHERE qi = {qi}");
    let Ok(df) = ctx.sql(&sql).await else { return Ok(()) };
    let batches = df.collect().await.map_err(|e| Error::Sql { file: "quarterly_wages".into(), message: e.to_string() })?;
    if first_i64(&batches, 0) == 0 {
        let q = crate::metrics::quarter_label(qi);
        tracing::warn!(
            "no wage record of {q} is loaded, but the employment and earnings metrics count wages through {q} (the release quarter less [metrics] wage_lag_quarters): \
             exiters whose follow-up quarter is {q} count as not employed in this release. If the wage file for {q} has not arrived, \
             set [metrics] wages_through to the last quarter that has, and publish with --revise once it is loaded"
        );
    }
    Ok(())
}

/// Credential rows whose type the `recognized_credentials` view leaves out
/// (no type, or one not on its list), and how many such types: `None` when
/// every credential is recognized (or the view is not there).
async fn unrecognized_credentials(ctx: &datafusion::prelude::SessionContext) -> Result<Option<(i64, i64)>> {
    let sql = "SELECT count(*) AS n, count(DISTINCT c.credential_type) AS types FROM credential c \
               LEFT JOIN (SELECT DISTINCT credential_type FROM recognized_credentials) r ON r.credential_type = c.credential_type \
               WHERE r.credential_type IS NULL";
    let Ok(df) = ctx.sql(sql).await else { return Ok(None) };
    let batches = df.collect().await.map_err(|e| Error::Sql { file: "recognized_credentials".into(), message: e.to_string() })?;
    let (rows, types) = (first_i64(&batches, 0), first_i64(&batches, 1));
    Ok((rows > 0).then_some((rows, types)))
}

/// The first row's value in column `col` of a one-row count query (0 when
/// there is none).
fn first_i64(batches: &[datafusion::arrow::record_batch::RecordBatch], col: usize) -> i64 {
    batches.first().and_then(|b| b.column(col).as_any().downcast_ref::<datafusion::arrow::array::Int64Array>().map(|a| a.value(0))).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn credentials_of_an_unrecognized_type_are_counted_for_the_steward() {
        let ctx = datafusion::prelude::SessionContext::new();
        ctx.sql(
            "CREATE TABLE credential AS SELECT * FROM (VALUES ('p1', 'certificate'), ('p2', 'work_readiness'), ('p3', 'diploma'), \
             ('p4', 'diploma'), ('p5', NULL)) AS t(person_key, credential_type)",
        )
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
        ctx.sql("CREATE VIEW recognized_credentials AS SELECT * FROM credential WHERE credential_type IN ('certificate')")
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        // work_readiness, diploma twice, and one without a type.
        assert_eq!(unrecognized_credentials(&ctx).await.unwrap(), Some((4, 2)));
        let ctx = datafusion::prelude::SessionContext::new();
        assert_eq!(unrecognized_credentials(&ctx).await.unwrap(), None, "no view, no warning");
    }

    #[test]
    fn a_median_interval_is_never_narrower_than_a_step_of_its_grid() {
        let cfg = Config::parse(crate::config::DEMO_CONFIG, "test").unwrap();
        let m = bound::tests::metric(Aggregation::Median, (0, 365));
        // Days, heavily tied, and a budget large enough that the mechanism
        // itself is nearly exact: the interval is still a step wide.
        let values: Vec<i64> = (0..2000).map(|i| if i % 10 == 0 { 41 } else { 42 }).collect();
        let cell = bound::Cell { key: vec!["p".into()], n: 2000, sum: values.iter().sum(), values };
        let b = bound::Bounded { cells: vec![cell], max_cells: 1, ..Default::default() };
        let p = release_metric(&cfg, &m, &b, 50.0).unwrap();
        let c = &p.cells[0];
        assert_eq!(c.status, "ok");
        assert!(c.moe.unwrap() >= 1.0, "{c:?}");
    }

    #[test]
    fn partner_reports_are_never_inside_the_publish_folder() {
        let cfg = |reports: Option<&str>| PublishConfig {
            path: "var/publish".into(),
            partner_reports: reports.map(String::from),
            period: Period::Quarter,
            title: None,
            min_cell: 11,
            max_relative_moe: 0.5,
            max_rate_moe: 0.15,
        };
        assert!(cfg(None).validate().is_ok());
        assert!(cfg(Some("var/partner-reports")).validate().is_ok());
        assert!(cfg(Some("var/publish/partners")).validate().is_err());
        assert!(cfg(Some("var/x/../publish/./partners")).validate().is_err());
        // The default folder is the publish folder's sibling `partner-reports`:
        // a publish folder of that name would hold them.
        let named = |path: &str, reports: Option<&str>| PublishConfig { path: path.into(), ..cfg(reports) };
        assert!(named("var/partner-reports", None).validate().is_err());
        assert!(named("var/partner-reports", Some("var/private")).validate().is_ok());
        let nan = PublishConfig { max_rate_moe: f64::NAN, ..cfg(None) };
        assert!(nan.validate().is_err());
    }
}
