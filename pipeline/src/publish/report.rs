//! Release files: CSV, JSON and Parquet per metric, `release.json`, and a
//! self-contained HTML report (inline CSS and SVG, no scripts, no external
//! requests). A release folder is written under a temporary name and renamed
//! into place; `latest` then moves atomically.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use serde::Serialize;

use super::{PublishedMetric, bound::ALL};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::ledger::{Ledger, Spent};
use crate::metrics::Aggregation;

/// `release.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Manifest {
    pub release_id: String,
    pub period: String,
    pub consortium: String,
    pub created_at: String,
    pub code_version: String,
    pub mechanism: String,
    /// δ at which ε is stated.
    pub delta: f64,
    /// δ added by the threshold mechanisms of this release (discovered
    /// cells): the release is (epsilon_total, delta + delta_threshold)-DP.
    pub delta_threshold: f64,
    pub rho_total: f64,
    pub epsilon_total: f64,
    pub metrics: Vec<ManifestMetric>,
    pub suppression: BTreeMap<String, String>,
    pub table_versions: BTreeMap<String, i64>,
    pub budget: BTreeMap<String, f64>,
    pub demo_key: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct ManifestMetric {
    pub name: String,
    pub title: String,
    pub aggregation: Aggregation,
    pub cells: usize,
    pub cells_suppressed: usize,
    pub rho: f64,
    pub epsilon: f64,
    pub threshold_delta: f64,
    pub cells_discovered: usize,
    pub max_cells_per_person: usize,
    pub bounds: (i64, i64),
    pub noise: BTreeMap<String, serde_json::Value>,
}

impl Manifest {
    #[expect(clippy::too_many_arguments, reason = "each is a separate fact the manifest records; one caller, in publish")]
    pub fn new(
        cfg: &Config,
        id: &str,
        period: &str,
        metrics: &[PublishedMetric],
        versions: &BTreeMap<String, i64>,
        spent: Spent,
        created_at: String,
        demo_key: bool,
    ) -> Manifest {
        let rho_total: f64 = metrics.iter().map(|m| m.rho).sum();
        let mut suppression = BTreeMap::new();
        suppression.insert("min_cell".into(), format!("cells whose noisy count is below {} are suppressed", cfg.publish.min_cell));
        suppression.insert(
            "max_relative_moe".into(),
            format!("counts, sums, means and medians whose 95% margin of error exceeds {:.0}% of the value are suppressed", cfg.publish.max_relative_moe * 100.0),
        );
        suppression.insert(
            "max_rate_moe".into(),
            format!("rates whose 95% margin of error exceeds {:.1} percentage points are suppressed", cfg.publish.max_rate_moe * 100.0),
        );
        if cfg.privacy.discovery_share > 0.0 {
            suppression.insert(
                "discovered_keys".into(),
                format!(
                    "cells whose keys are not on the public lists appear only if their noisy count clears OpenDP's threshold mechanism ({:.0}% of each metric's budget, delta {:e} per metric)",
                    cfg.privacy.discovery_share * 100.0,
                    cfg.privacy.discovery_delta
                ),
            );
        }
        suppression.insert("rule".into(), "suppression decisions use noisy values only; suppressed cells are empty, never 0".into());
        let mut budget = BTreeMap::new();
        budget.insert("rho_spent_lifetime".into(), spent.lifetime);
        budget.insert("rho_spent_this_year".into(), spent.year);
        budget.insert("rho_lifetime_cap".into(), cfg.privacy.rho_lifetime_cap);
        budget.insert("rho_annual_cap".into(), cfg.privacy.rho_annual_cap);
        budget.insert("rho_per_release".into(), cfg.privacy.rho_per_release);
        budget.insert("threshold_delta_lifetime".into(), spent.threshold_delta_lifetime);
        Manifest {
            release_id: id.into(),
            period: period.into(),
            consortium: cfg.consortium.clone(),
            created_at,
            code_version: crate::VERSION.into(),
            mechanism: format!("{:?}", cfg.privacy.mechanism).to_lowercase(),
            delta: cfg.privacy.delta,
            delta_threshold: metrics.iter().map(|m| m.threshold_delta).sum(),
            rho_total,
            epsilon_total: super::noise::epsilon(rho_total, cfg.privacy.delta).unwrap_or(f64::NAN),
            metrics: metrics
                .iter()
                .map(|m| ManifestMetric {
                    name: m.name.clone(),
                    title: m.title.clone(),
                    aggregation: m.aggregation,
                    cells: m.cells.len(),
                    cells_suppressed: m.cells.iter().filter(|c| c.status != "ok").count(),
                    rho: m.rho,
                    epsilon: m.epsilon,
                    threshold_delta: m.threshold_delta,
                    cells_discovered: m.cells.iter().filter(|c| c.discovered).count(),
                    max_cells_per_person: m.max_cells_per_person,
                    bounds: m.bounds,
                    noise: m.noise.clone(),
                })
                .collect(),
            suppression,
            table_versions: versions.clone(),
            budget,
            demo_key,
        }
    }
}

fn io(p: &Path, e: impl std::fmt::Display) -> Error {
    Error::storage(p.display(), e)
}

/// Write the release folder atomically and move `latest`.
pub fn write_release(dir: &Path, id: &str, metrics: &[PublishedMetric], manifest: &Manifest, cfg: &Config) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
    crate::warehouse::remove_stale_temporaries(dir);
    let final_dir = dir.join(id);
    let tmp = dir.join(format!(".{id}.tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| io(&tmp, e))?;
    for m in metrics {
        std::fs::write(tmp.join(format!("{}.csv", m.name)), metric_csv(m)).map_err(|e| io(&tmp, e))?;
        std::fs::write(tmp.join(format!("{}.json", m.name)), serde_json::to_string_pretty(m).expect("json")).map_err(|e| io(&tmp, e))?;
        let batch = metric_batch(m)?;
        crate::warehouse::write_parquet_atomic(&tmp.join(format!("{}.parquet", m.name)), &batch.schema(), &[batch])?;
    }
    std::fs::write(tmp.join("release.json"), serde_json::to_string_pretty(manifest).expect("json")).map_err(|e| io(&tmp, e))?;
    std::fs::write(tmp.join("index.html"), html(cfg, manifest, metrics)).map_err(|e| io(&tmp, e))?;
    if final_dir.exists() {
        // A re-served release: replace it whole.
        let old = dir.join(format!(".{id}.old-{}", std::process::id()));
        std::fs::rename(&final_dir, &old).map_err(|e| io(&final_dir, e))?;
        std::fs::rename(&tmp, &final_dir).map_err(|e| io(&final_dir, e))?;
        let _ = std::fs::remove_dir_all(&old);
    } else {
        std::fs::rename(&tmp, &final_dir).map_err(|e| io(&final_dir, e))?;
    }
    // latest.json (atomic rename) and the `latest` symlink (atomic replace),
    // through temporary names of this process's own: two publishes racing
    // (a re-served release) must not rename each other's file away.
    replace_file(
        &dir.join("latest.json"),
        serde_json::json!({ "release_id": id, "path": id, "index": format!("{id}/index.html") }).to_string().as_bytes(),
    )?;
    #[cfg(unix)]
    {
        let tmp_link = dir.join(format!(".latest.tmp-{}", std::process::id()));
        let _ = std::fs::remove_file(&tmp_link);
        std::os::unix::fs::symlink(id, &tmp_link).map_err(|e| io(&tmp_link, e))?;
        std::fs::rename(&tmp_link, dir.join("latest")).map_err(|e| io(dir, e))?;
    }
    Ok(final_dir)
}

fn metric_csv(m: &PublishedMetric) -> String {
    let mut s = String::new();
    for d in &m.dimensions {
        let _ = write!(s, "{d},");
    }
    s.push_str("value,moe95,lower95,upper95,n,status,key_source\n");
    let f = |x: Option<f64>| x.map(|v| if v.fract() == 0.0 { format!("{v:.0}") } else { format!("{v}") }).unwrap_or_default();
    for c in &m.cells {
        for d in &m.dimensions {
            let v = c.key.get(d).map(String::as_str).unwrap_or("");
            let _ = write!(s, "{},", csv_escape(v));
        }
        let _ = writeln!(
            s,
            "{},{},{},{},{},{},{}",
            f(c.value),
            f(c.moe),
            f(c.lower),
            f(c.upper),
            c.n.map(|n| n.to_string()).unwrap_or_default(),
            c.status,
            key_source(c)
        );
    }
    s
}

/// `public` for a cell on the public lists, `discovered` for one released
/// by the threshold mechanism.
fn key_source(c: &super::PublishedCell) -> &'static str {
    if c.discovered { "discovered" } else { "public" }
}

fn csv_escape(v: &str) -> String {
    if v.contains([',', '"', '\n']) { format!("\"{}\"", v.replace('"', "\"\"")) } else { v.to_string() }
}

fn metric_batch(m: &PublishedMetric) -> Result<RecordBatch> {
    let mut fields: Vec<Field> = m.dimensions.iter().map(|d| Field::new(d, DataType::Utf8, false)).collect();
    for n in ["value", "moe95", "lower95", "upper95"] {
        fields.push(Field::new(n, DataType::Float64, true));
    }
    fields.push(Field::new("n", DataType::Int64, true));
    fields.push(Field::new("status", DataType::Utf8, false));
    fields.push(Field::new("key_source", DataType::Utf8, false));
    let mut cols: Vec<ArrayRef> = m
        .dimensions
        .iter()
        .map(|d| Arc::new(StringArray::from_iter_values(m.cells.iter().map(|c| c.key.get(d).cloned().unwrap_or_default()))) as ArrayRef)
        .collect();
    cols.push(Arc::new(Float64Array::from(m.cells.iter().map(|c| c.value).collect::<Vec<_>>())));
    cols.push(Arc::new(Float64Array::from(m.cells.iter().map(|c| c.moe).collect::<Vec<_>>())));
    cols.push(Arc::new(Float64Array::from(m.cells.iter().map(|c| c.lower).collect::<Vec<_>>())));
    cols.push(Arc::new(Float64Array::from(m.cells.iter().map(|c| c.upper).collect::<Vec<_>>())));
    cols.push(Arc::new(Int64Array::from(m.cells.iter().map(|c| c.n).collect::<Vec<_>>())));
    cols.push(Arc::new(StringArray::from_iter_values(m.cells.iter().map(|c| c.status.clone()))));
    cols.push(Arc::new(StringArray::from_iter_values(m.cells.iter().map(key_source))));
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)?)
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A value formatted for people: money in dollars, rates in percent.
fn fmt_value(m: &PublishedMetric, v: f64) -> String {
    match m.aggregation {
        Aggregation::Rate => format!("{:.1}%", v * 100.0),
        _ if m.unit.contains("cents") => format!("${}", group(v / 100.0)),
        _ => group(v),
    }
}

fn group(v: f64) -> String {
    let neg = v < 0.0;
    let s = format!("{:.0}", v.abs());
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if neg { format!("-{out}") } else { out }
}

/// Cells where every dimension but `dim` is `all`, in public-list order.
fn slice<'a>(m: &'a PublishedMetric, dim: &str) -> Vec<&'a super::PublishedCell> {
    m.cells
        .iter()
        .filter(|c| m.dimensions.iter().all(|d| d == dim || c.key.get(d).map(String::as_str) == Some(ALL)))
        .filter(|c| c.key.get(dim).map(String::as_str) != Some(ALL))
        .collect()
}

fn bar_chart(m: &PublishedMetric, dim: &str) -> String {
    let cells = slice(m, dim);
    if cells.is_empty() {
        return String::new();
    }
    let max = cells.iter().filter_map(|c| c.upper.or(c.value)).fold(0.0f64, f64::max).max(1e-9);
    let row_h = 22.0;
    let label_w = 170.0;
    let width = 640.0;
    let plot_w = width - label_w - 110.0;
    let height = row_h * cells.len() as f64 + 10.0;
    let mut s = format!(
        "<svg class=\"chart\" role=\"img\" aria-label=\"{} by {}\" viewBox=\"0 0 {width} {height}\" width=\"{width}\" height=\"{height}\">",
        esc(&m.title),
        esc(dim)
    );
    for (i, c) in cells.iter().enumerate() {
        let y = i as f64 * row_h + 4.0;
        let label = c.key.get(dim).cloned().unwrap_or_default();
        let _ = write!(s, "<text x=\"{}\" y=\"{}\" text-anchor=\"end\" class=\"lbl\">{}</text>", label_w - 6.0, y + 14.0, esc(&label));
        match c.value {
            Some(v) => {
                let w = (v.max(0.0) / max) * plot_w;
                let _ = write!(s, "<rect x=\"{label_w}\" y=\"{y}\" width=\"{w:.1}\" height=\"16\" class=\"bar\"/>");
                if let (Some(lo), Some(hi)) = (c.lower, c.upper) {
                    let (x1, x2) = (label_w + lo.max(0.0) / max * plot_w, label_w + hi / max * plot_w);
                    let _ = write!(
                        s,
                        "<line x1=\"{x1:.1}\" x2=\"{x2:.1}\" y1=\"{0}\" y2=\"{0}\" class=\"moe\"/><line x1=\"{x1:.1}\" x2=\"{x1:.1}\" y1=\"{1}\" y2=\"{2}\" class=\"moe\"/><line x1=\"{x2:.1}\" x2=\"{x2:.1}\" y1=\"{1}\" y2=\"{2}\" class=\"moe\"/>",
                        y + 8.0,
                        y + 3.0,
                        y + 13.0
                    );
                }
                let _ = write!(s, "<text x=\"{}\" y=\"{}\" class=\"val\">{}</text>", label_w + plot_w + 8.0, y + 13.0, esc(&fmt_value(m, v)));
            }
            None => {
                let _ = write!(
                    s,
                    "<rect x=\"{label_w}\" y=\"{y}\" width=\"{plot_w}\" height=\"16\" class=\"supp\"/><text x=\"{}\" y=\"{}\" class=\"supptxt\">suppressed ({})</text>",
                    label_w + 6.0,
                    y + 13.0,
                    if c.status == "suppressed_small" { "too few people" } else { "too uncertain" }
                );
            }
        }
    }
    s.push_str("</svg>");
    s
}

fn cells_table(m: &PublishedMetric) -> String {
    let mut s = String::from("<table><thead><tr>");
    for d in &m.dimensions {
        let _ = write!(s, "<th>{}</th>", esc(d));
    }
    s.push_str("<th>estimate</th><th>95% margin of error</th><th>status</th></tr></thead><tbody>");
    for c in &m.cells {
        s.push_str("<tr>");
        for d in &m.dimensions {
            let _ = write!(s, "<td>{}</td>", esc(c.key.get(d).map(String::as_str).unwrap_or("")));
        }
        match (c.value, c.moe) {
            (Some(v), Some(e)) => {
                let _ = write!(s, "<td class=\"num\">{}</td><td class=\"num\">± {}</td><td>ok</td>", esc(&fmt_value(m, v)), esc(&fmt_value(m, e)));
            }
            _ => {
                let _ = write!(s, "<td class=\"supp-cell\">—</td><td></td><td>{}</td>", esc(&c.status.replace('_', " ")));
            }
        }
        s.push_str("</tr>");
    }
    s.push_str("</tbody></table>");
    s
}

/// Unduplicated people against the naive sum of partner counts, from a count
/// metric with a `partner` dimension (post-processing of noisy cells).
fn collective_impact(m: &PublishedMetric) -> Option<String> {
    let dim = m.dimensions.iter().find(|d| d.ends_with("partner"))?;
    if m.aggregation != Aggregation::Count {
        return None;
    }
    let cells = slice(m, dim);
    let total = m.cells.iter().find(|c| m.dimensions.iter().all(|d| c.key.get(d).map(String::as_str) == Some(ALL)))?;
    let partner_cells: Vec<_> = cells.iter().filter(|c| c.key.get(dim).map(String::as_str) != Some("unknown")).collect();
    if partner_cells.iter().any(|c| c.value.is_none()) || total.value.is_none() {
        return Some("<p>The comparison of unduplicated and summed counts needs every partner's count, and at least one is suppressed.</p>".into());
    }
    let naive: f64 = partner_cells.iter().filter_map(|c| c.value).sum();
    let naive_moe: f64 = partner_cells.iter().filter_map(|c| c.moe).map(|e| e * e).sum::<f64>().sqrt();
    let und = total.value.expect("checked");
    let und_moe = total.moe.unwrap_or(0.0);
    Some(format!(
        "<div class=\"impact\"><div><span class=\"big\">{}</span><br>people served, counted once (± {})</div>\
         <div><span class=\"big\">{}</span><br>if each partner's count were added up (± {})</div>\
         <div><span class=\"big\">{:.0}%</span><br>of the summed count are the same people served by more than one partner</div></div>",
        group(und),
        group(und_moe),
        group(naive),
        group(naive_moe),
        if naive > 0.0 { (1.0 - und / naive).max(0.0) * 100.0 } else { 0.0 }
    ))
}

/// The self-contained HTML report.
pub fn html(cfg: &Config, man: &Manifest, metrics: &[PublishedMetric]) -> String {
    let title = cfg.publish.title.clone().unwrap_or_else(|| format!("{}: collective impact", cfg.consortium));
    let mut s = String::new();
    let _ = write!(
        s,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{t}</title><style>{css}</style></head><body><header><h1>{t}</h1>\
         <p class=\"sub\">Release {rid} · period {per} · published {date}</p>",
        t = esc(&title),
        css = CSS,
        rid = esc(&man.release_id),
        per = esc(&man.period),
        date = esc(&man.created_at[..10.min(man.created_at.len())]),
    );
    if man.demo_key {
        s.push_str("<p class=\"demo\">DEMO DATA: this report was built from synthetic records with the shipped demo key. It describes no real person.</p>");
    }
    s.push_str("<p>Every number below comes from records that partner organizations share with the consortium. People are matched across organizations without Social Security numbers, and random noise is added to every number before it is published, so that no one can learn about any single person from it. Each estimate is shown with its 95% margin of error. Empty cells were withheld because too few people were in them or the estimate was too uncertain; they are not zeros.</p>");
    s.push_str("<nav><strong>Downloads:</strong> ");
    for m in metrics {
        let _ = write!(s, "{0} (<a href=\"{1}.csv\">CSV</a>, <a href=\"{1}.json\">JSON</a>, <a href=\"{1}.parquet\">Parquet</a>) · ", esc(&m.title), esc(&m.name));
    }
    s.push_str("<a href=\"release.json\">release manifest</a></nav></header><main>");
    for m in metrics {
        let _ = write!(s, "<section id=\"{}\"><h2>{}</h2>", esc(&m.name), esc(&m.title));
        if !m.description.is_empty() {
            let _ = write!(s, "<p>{}</p>", esc(&m.description));
        }
        if let Some(ci) = collective_impact(m) {
            s.push_str(&ci);
        }
        for d in &m.dimensions {
            let _ = write!(s, "<h3>By {}</h3>{}", esc(&d.replace('_', " ")), bar_chart(m, d));
        }
        let _ = write!(
            s,
            "<details><summary>All {} cells</summary>{}</details><p class=\"note\">Privacy loss of this table: ρ = {:.4} (ε = {:.2} at δ = {:e}); each person counts in at most {} cells.</p></section>",
            m.cells.len(),
            cells_table(m),
            m.rho,
            m.epsilon,
            m.delta,
            m.max_cells_per_person
        );
    }
    let _ = write!(
        s,
        "<section id=\"methods\"><h2>How these numbers were made</h2>\
         <p><strong>Who is counted.</strong> Partners send their records every night. Names, dates of birth and other identifiers are replaced by keyed codes the moment they arrive, and people are matched across partners by comparing those codes. A person served by three partners is one person here. Nobody's Social Security number is needed.</p>\
         <p><strong>Privacy protection.</strong> Before publication, each person's influence on the tables is limited (at most {cells} cells per table, values capped), and noise from the OpenDP library is added to every number. This release spends a privacy loss of ρ = {rho:.3} in zero-concentrated differential privacy, about ε = {eps:.2} at δ = {delta:e}. Smaller is more private. Lifetime spending so far: ρ = {life:.3} of a cap of {cap}.</p>\
         <p><strong>Margins of error.</strong> The ± values give a 95% interval for the noise: for counts and sums it is exact; for rates, averages and medians it comes from simulating the noise around the published values. Margins do not include errors in the partners' records or in matching.</p>\
         <p><strong>Withheld cells.</strong> {supp}</p>\
         <p><strong>Version.</strong> braid {ver}; data as committed in run versions {tv}.</p></section></main></body></html>",
        cells = cfg.privacy.max_cells_per_person,
        rho = man.rho_total,
        eps = man.epsilon_total,
        delta = man.delta,
        life = man.budget.get("rho_spent_lifetime").copied().unwrap_or(0.0),
        cap = cfg.privacy.rho_lifetime_cap,
        supp = esc(&man.suppression.values().cloned().collect::<Vec<_>>().join("; ")),
        ver = esc(&man.code_version),
        tv = esc(&man.table_versions.iter().map(|(k, v)| format!("{k} v{v}")).collect::<Vec<_>>().join(", ")),
    );
    s
}

const CSS: &str = "body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:960px;margin:2rem auto;padding:0 1rem;color:#1d2733;line-height:1.5}\
h1{font-size:1.7rem;margin-bottom:.2rem}h2{border-top:2px solid #d8dee6;padding-top:1rem;margin-top:2rem}.sub{color:#5a6878;margin-top:0}\
.demo{background:#fff3cd;border:1px solid #e0c060;padding:.5rem .8rem;font-weight:600}nav{font-size:.9rem;margin:1rem 0}\
.chart .lbl{font-size:12px;fill:#1d2733}.chart .val{font-size:12px;fill:#1d2733}.chart .bar{fill:#3b6ea8}\
.chart .moe{stroke:#111;stroke-width:1.4}.chart .supp{fill:#eef0f3;stroke:#c9ced6;stroke-dasharray:4 3}.chart .supptxt{font-size:11px;fill:#5a6878;font-style:italic}\
table{border-collapse:collapse;font-size:.85rem;margin:.5rem 0}td,th{border-bottom:1px solid #e3e7ec;padding:.2rem .6rem;text-align:left}\
td.num{text-align:right;font-variant-numeric:tabular-nums}.supp-cell{color:#8893a0}.note{color:#5a6878;font-size:.85rem}\
.impact{display:flex;gap:1rem;flex-wrap:wrap}.impact div{flex:1;min-width:180px;background:#f4f7fa;padding:.8rem;border-radius:6px}.big{font-size:1.6rem;font-weight:700}";

/// A stored file report as the partner report shows it, in HTML and JSON
/// alike. Reports stored by earlier versions named every unmapped value and
/// every added or removed column; the tests of today apply when they are
/// shown again: a value is named only when it looks like a shared code
/// ([`crate::ingest::looks_like_code`]), a column only when the
/// configuration names it.
fn shareable(mut r: crate::ingest::FileReport, configured: &[String]) -> crate::ingest::FileReport {
    let (shown, hidden): (Vec<_>, Vec<_>) = std::mem::take(&mut r.unmapped_codes)
        .into_iter()
        .partition(|(_, code, n)| *n >= crate::ingest::UNMAPPED_SHOWN_MIN_ROWS && crate::ingest::looks_like_code(code));
    r.unmapped_codes = shown;
    for (field, _, n) in hidden {
        r.unmapped_hidden.push((field, 1, n));
    }
    let keep = |names: &mut Vec<String>| -> usize {
        let before = names.len();
        names.retain(|n| configured.iter().any(|c| c.to_lowercase() == n.trim().to_lowercase()));
        before - names.len()
    };
    r.columns_added_other += keep(&mut r.columns_added);
    r.columns_removed_other += keep(&mut r.columns_removed);
    // Rejections by column: configured names, or "another column".
    let by_column = std::mem::take(&mut r.rejects_by_column);
    for (c, n) in by_column {
        let name = if configured.iter().any(|x| x.to_lowercase() == c.trim().to_lowercase()) { c } else { "another column".to_string() };
        *r.rejects_by_column.entry(name).or_default() += n;
    }
    r
}

/// Write each partner's data-quality report (HTML and JSON).
pub fn write_partner_reports(cfg: &Config, ledger: &Ledger, only: Option<&str>) -> Result<Vec<PathBuf>> {
    let dir = cfg.publish.partner_reports_dir();
    std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;
    crate::warehouse::remove_stale_temporaries(&dir);
    let files = ledger.all_files()?;
    let mut out = Vec::new();
    for p in &cfg.partners {
        if only.is_some_and(|o| o != p.id) {
            continue;
        }
        let mine: Vec<_> = files.iter().filter(|f| f.partner == p.id).collect();
        let configured: Vec<String> = p.feeds.iter().flat_map(|f| f.map.columns.values().flat_map(|c| c.names()).map(|n| n.trim().to_string())).collect();
        let mut s = format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Data quality: {n}</title><style>{css}</style></head><body>\
             <h1>Data quality report: {n}</h1><p class=\"sub\">For the partner's data contact. It describes your own files: counts of rows, \
             and where a row was rejected and why. It never shows a value from a row.</p>",
            n = esc(&p.name),
            css = CSS
        );
        s.push_str("<table><thead><tr><th>file</th><th>feed</th><th>status</th><th>rows read</th><th>loaded</th><th>quarantined</th><th>notes</th></tr></thead><tbody>");
        let mut json_files = Vec::new();
        for f in &mine {
            let report: Option<crate::ingest::FileReport> =
                f.report.as_deref().and_then(|r| serde_json::from_str(r).ok()).map(|r| shareable(r, &configured));
            let mut notes = Vec::new();
            if let Some(m) = &f.message {
                notes.push(m.clone());
            }
            if let Some(r) = &report {
                for (reason, n) in &r.rejects_by_reason {
                    notes.push(format!("{n} row(s) rejected: {}", reason.replace('_', " ")));
                }
                for (col, n) in &r.rejects_by_column {
                    notes.push(format!("column {col}: {n} row(s)"));
                }
                for (what, n) in &r.set_aside {
                    notes.push(format!("{n} row(s) loaded with a value set aside ({})", what.replace('_', " ")));
                }
                for (field, code, n) in &r.unmapped_codes {
                    notes.push(format!("{n} row(s) with {field} code '{code}' that the consortium has no mapping for"));
                }
                for (field, values, n) in &r.unmapped_hidden {
                    notes.push(format!(
                        "{n} row(s) with {values} other {field} value(s) that the consortium has no mapping for, not named here: a value is named only when at least {} rows share it and it looks like a code, so that nothing typed into the wrong column is repeated",
                        crate::ingest::UNMAPPED_SHOWN_MIN_ROWS
                    ));
                }
                for (field, share) in &r.missing_share {
                    if *share >= 0.05 {
                        notes.push(format!("{field} empty in {:.0}% of rows", share * 100.0));
                    }
                }
                for (field, n) in &r.ambiguous_dates {
                    notes.push(format!(
                        "{n} row(s) with a {field} that reads as another date with day and month swapped (the first configured format was used)"
                    ));
                }
                if r.no_consent > 0 {
                    notes.push(format!("{} row(s) without consent to link: loaded, never linked", r.no_consent));
                }
                if !r.absent_columns.is_empty() {
                    notes.push(format!("mapped columns not in the file: {}", r.absent_columns.join(", ")));
                }
                if !r.columns_added.is_empty() || r.columns_added_other > 0 {
                    notes.push(crate::ingest::columns_changed("new columns", &r.columns_added, r.columns_added_other));
                }
                if !r.columns_removed.is_empty() || r.columns_removed_other > 0 {
                    notes.push(crate::ingest::columns_changed("columns gone since the last file", &r.columns_removed, r.columns_removed_other));
                }
            }
            let name = f.url.rsplit('/').next().unwrap_or(&f.url);
            let _ = write!(
                s,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
                esc(name),
                esc(&f.feed),
                esc(&f.status),
                f.rows_read,
                f.rows_loaded,
                f.rows_quarantined,
                esc(&notes.join("; "))
            );
            json_files.push(serde_json::json!({
                "file": f.url, "feed": f.feed, "status": f.status, "ingested_at": f.ingested_at,
                "rows_read": f.rows_read, "rows_loaded": f.rows_loaded, "rows_quarantined": f.rows_quarantined,
                "message": f.message, "report": report,
            }));
        }
        s.push_str("</tbody></table><p>The rejected rows themselves, and the values set aside in loaded rows (file, line, column and reason), are in the warehouse table <code>quarantine</code>; ask your consortium data steward for the list for your files, or run <code>braid status --partner ");
        s.push_str(&esc(&p.id));
        s.push_str("</code>.</p></body></html>");
        let html_path = dir.join(format!("{}.html", p.id));
        replace_file(&html_path, s.as_bytes())?;
        let json_path = dir.join(format!("{}.json", p.id));
        replace_file(&json_path, serde_json::to_string_pretty(&serde_json::json!({ "partner": p.id, "files": json_files })).expect("json").as_bytes())?;
        out.push(html_path);
    }
    Ok(out)
}

/// Write `path` whole or not at all: into a temporary file of its own
/// beside it (a name no other writer uses, created new, ending in this
/// process's id as [`crate::warehouse::remove_stale_temporaries`] reads it), with the old
/// file's permissions if there is one, then renamed over it.
/// `braid status --partner` writes reports without the state lock, while a
/// nightly run may be writing the same ones, and two publishes may race to
/// `latest.json`; a reader (or the other writer) never sees half a file,
/// and a failed write leaves no temporary file.
fn replace_file(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("report");
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = path.with_file_name(format!(".{name}.tmp-{n}-{}", std::process::id()));
    let written = (|| {
        let mut f = std::fs::OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        f.write_all(bytes)?;
        if let Ok(old) = std::fs::metadata(path) {
            f.set_permissions(old.permissions())?;
        }
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    written.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io(path, e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_partner_report_says_what_the_partner_can_act_on() {
        let dir = tempfile::tempdir().unwrap();
        let reports = dir.path().join("reports");
        let cfg = Config::parse(
            &format!(
                "consortium = \"t\"\n[warehouse]\npath = \"{w}\"\n[publish]\npath = \"{p}\"\npartner_reports = \"{r}\"\n\
                 [privacy]\nrho_per_release = 1.0\nrho_annual_cap = 4.0\nrho_lifetime_cap = 16.0\n\
                 [[partner]]\nid = \"school\"\nname = \"School\"\nkind = \"adult_school\"\nsource = \"in\"\n\
                 [[partner.feed]]\nname = \"students\"\nglob = \"*.csv\"\n[partner.feed.map.columns]\nrecord_id = \"ID\"\n",
                w = dir.path().join("w").display(),
                p = dir.path().join("p").display(),
                r = reports.display()
            ),
            "test",
        )
        .unwrap();
        let mut ledger = Ledger::open(&dir.path().join("state")).unwrap();
        let report = crate::ingest::FileReport {
            rejects_by_reason: [("exit_before_entry".to_string(), 4)].into(),
            ambiguous_dates: [("dob".to_string(), 3)].into(),
            no_consent: 2,
            absent_columns: vec!["Phone".into()],
            // Stored by an earlier version, which kept every name: the
            // configured column is named, the other only counted.
            columns_removed: vec!["Fax".into(), "id".into()],
            missing_share: [("email".to_string(), 0.25)].into(),
            ..Default::default()
        };
        ledger
            .record_file(&crate::ledger::FileRecord {
                file_id: "f1".into(),
                partner: "school".into(),
                feed: "students".into(),
                url: "file:///in/students_2026.csv".into(),
                size_bytes: 10,
                content_hash: "h".into(),
                modified: None,
                ingested_at: crate::ledger::now(),
                run_id: "r".into(),
                rows_read: 20,
                rows_loaded: 16,
                rows_quarantined: 4,
                status: "loaded".into(),
                message: None,
                headers: None,
                report: Some(serde_json::to_string(&report).unwrap()),
            })
            .unwrap();
        let paths = write_partner_reports(&cfg, &ledger, None).unwrap();
        let html = std::fs::read_to_string(&paths[0]).unwrap();
        for note in [
            "4 row(s) rejected: exit before entry",
            "3 row(s) with a dob that reads as another date with day and month swapped",
            "2 row(s) without consent to link",
            "mapped columns not in the file: Phone",
            "columns gone since the last file: `id`, 1 other(s), not named",
            "email empty in 25% of rows",
        ] {
            assert!(html.contains(note), "{note}: {html}");
        }
        // The JSON shows the same report as the HTML, not the stored one.
        let json = std::fs::read_to_string(paths[0].with_extension("json")).unwrap();
        assert!(!json.contains("Fax") && json.contains("\"columns_removed_other\": 1"), "{json}");

        // Written again (a nightly run) while someone reads it (a partner's
        // browser, `braid status --partner`): the reader always finds a
        // whole report, never an empty or half-written one, and no
        // temporary file is left behind.
        // (A steward who restricted a report keeps it restricted; what a
        // writer that died part way left is removed.)
        std::fs::write(reports.join(".school.html.tmp-0-999999999"), "half a report").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&paths[0], std::fs::Permissions::from_mode(0o640)).unwrap();
        let done = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|s| {
            s.spawn(|| {
                let ledger = Ledger::open(&dir.path().join("state")).unwrap();
                for _ in 0..300 {
                    write_partner_reports(&cfg, &ledger, None).unwrap();
                }
                done.store(true, std::sync::atomic::Ordering::SeqCst);
            });
            let mut reads = 0;
            while !done.load(std::sync::atomic::Ordering::SeqCst) || reads < 100 {
                let seen = std::fs::read_to_string(&paths[0]).unwrap();
                assert!(seen == html, "read {reads}: {} of {} bytes", seen.len(), html.len());
                let json = std::fs::read_to_string(reports.join("school.json")).unwrap();
                assert!(serde_json::from_str::<serde_json::Value>(&json).is_ok(), "read {reads}: {} bytes of JSON", json.len());
                reads += 1;
            }
        });
        let mut left: Vec<_> = std::fs::read_dir(&reports).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        left.sort();
        assert_eq!(left, ["school.html", "school.json"]);
        assert_eq!(std::fs::metadata(&paths[0]).unwrap().permissions().mode() & 0o777, 0o640);
    }
}
