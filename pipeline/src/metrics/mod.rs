//! metrics: the SQL files in `sql/metrics/`, run by DataFusion.
//!
//! Each metric is one SQL file with a header of `-- key: value` lines:
//!
//! ```sql
//! -- name: employment_q2
//! -- title: Employed in the 2nd quarter after exit
//! -- area: wioa
//! -- unit: share of exiters
//! -- aggregation: rate
//! -- bounds: 0..1
//! -- dimensions: partner, exit_year
//! SELECT person_key, partner, exit_year, value FROM ...
//! ```
//!
//! and returns **one row per person per cell**: `person_key`, one column per
//! dimension, and `value` (omitted for counts). The publish step bounds each
//! person's contribution and aggregates with DP noise; nothing here
//! aggregates.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use datafusion::arrow::array::{Array, Int64Array, StringArray};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::DataType;
use datafusion::prelude::SessionContext;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Where the SQL lives (`[metrics]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// Folder with `model/`, `staging/` and `metrics/`. Default `sql`.
    #[serde(default = "d_sql")]
    pub sql_dir: String,
    /// Metrics to publish (file names without `.sql`); default all.
    pub include: Option<Vec<String>>,
    /// How many quarters the last quarter with complete wage records lies
    /// before the release date's quarter (default 2: a release in 2026Q4
    /// counts wages through 2026Q2). Metrics that follow exits into the
    /// wage records count only exits whose follow-up quarter is at most
    /// that one (`release_params.wage_through_qi`): a public cut-off. The
    /// latest quarter found in the wage records would let one person's
    /// record decide which exits everyone else counts in, beyond what the
    /// noise is calibrated to.
    #[serde(default = "d_wage_lag")]
    pub wage_lag_quarters: u32,
    /// The last quarter whose wage records are all loaded (`"2026Q2"`), for
    /// a state that delivers later than `wage_lag_quarters` says: the
    /// cut-off is the earlier of the two. Public: the steward sets it, and
    /// a release never reads it from the records.
    pub wages_through: Option<String>,
}

fn d_wage_lag() -> u32 {
    2
}

fn d_sql() -> String {
    "sql".into()
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig { sql_dir: d_sql(), include: None, wage_lag_quarters: d_wage_lag(), wages_through: None }
    }
}

impl MetricsConfig {
    pub fn validate(&self) -> std::result::Result<(), String> {
        if let Some(q) = &self.wages_through {
            parse_quarter(q).ok_or_else(|| format!("[metrics] wages_through `{q}` is not a quarter like 2026Q2"))?;
        }
        Ok(())
    }

    /// The last quarter (as `year*4 + q-1`) whose wage records metrics
    /// count, for a release on `as_of`: the release quarter less
    /// `wage_lag_quarters`, or `wages_through` if that is earlier.
    pub fn wage_through_qi(&self, as_of: chrono::NaiveDate) -> i64 {
        let calendar = quarter_index(as_of) - self.wage_lag_quarters as i64;
        self.wages_through.as_deref().and_then(parse_quarter).map_or(calendar, |q| q.min(calendar))
    }

    pub fn dir(&self) -> PathBuf {
        crate::config::resolve(&self.sql_dir)
    }
}

/// How the publish step aggregates a metric's per-person rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Aggregation {
    /// People in the cell.
    Count,
    /// Sum of values.
    Sum,
    /// Mean of values: noisy sum over noisy count.
    Mean,
    /// Share of people whose value is 1: noisy numerator over noisy count.
    Rate,
    /// Median of values (OpenDP private quantile), with a noisy count.
    Median,
}

/// A metric definition: the SQL file and its header.
#[derive(Debug, Clone, Serialize)]
pub struct MetricDef {
    pub name: String,
    pub title: String,
    pub area: String,
    pub unit: String,
    pub aggregation: Aggregation,
    /// Inclusive bounds of `value`; values are clamped to them.
    pub bounds: (i64, i64),
    pub dimensions: Vec<String>,
    /// Share of the release budget, relative to the other metrics.
    pub weight: f64,
    /// Cells a person may contribute to (overrides the privacy default).
    pub max_cells: Option<usize>,
    pub description: String,
    #[serde(skip)]
    pub sql: String,
    pub file: String,
}

/// Parse a metric file.
pub fn parse_metric(text: &str, file: &str) -> Result<MetricDef> {
    let mut h: BTreeMap<String, String> = BTreeMap::new();
    for line in text.lines() {
        let t = line.trim();
        let Some(rest) = t.strip_prefix("--") else {
            if t.is_empty() {
                continue;
            }
            break;
        };
        if let Some((k, v)) = rest.split_once(':') {
            let k = k.trim().to_lowercase();
            if !k.contains(' ') {
                let e = h.entry(k).or_default();
                if !e.is_empty() {
                    e.push(' ');
                }
                e.push_str(v.trim());
            }
        }
    }
    let err = |m: String| Error::Sql { file: file.to_string(), message: m };
    let get = |k: &str| h.get(k).cloned().ok_or_else(|| err(format!("header is missing `-- {k}:`")));
    let aggregation = match get("aggregation")?.as_str() {
        "count" => Aggregation::Count,
        "sum" => Aggregation::Sum,
        "mean" => Aggregation::Mean,
        "rate" => Aggregation::Rate,
        "median" => Aggregation::Median,
        other => return Err(err(format!("aggregation `{other}` is not count, sum, mean, rate or median"))),
    };
    let bounds = match h.get("bounds") {
        Some(b) => {
            let (lo, hi) = b.split_once("..").ok_or_else(|| err(format!("bounds `{b}` must look like 0..600000")))?;
            let p = |s: &str| s.trim().replace('_', "").parse::<i64>().map_err(|_| err(format!("bounds `{b}` are not integers")));
            let (lo, hi) = (p(lo)?, p(hi)?);
            if lo > hi {
                return Err(err(format!("bounds `{b}`: lower bound above upper bound")));
            }
            (lo, hi)
        }
        None if aggregation == Aggregation::Count => (0, 1),
        None => return Err(err("header is missing `-- bounds:` (needed to bound each person's contribution)".into())),
    };
    if aggregation == Aggregation::Rate && bounds != (0, 1) {
        return Err(err("a rate's bounds must be 0..1".into()));
    }
    let dimensions: Vec<String> = h
        .get("dimensions")
        .map(|d| d.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    let name = get("name")?;
    if !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
        return Err(err(format!("name `{name}` must be lower-case letters, digits and _")));
    }
    Ok(MetricDef {
        name,
        title: get("title")?,
        area: h.get("area").cloned().unwrap_or_default(),
        unit: h.get("unit").cloned().unwrap_or_default(),
        aggregation,
        bounds,
        dimensions,
        weight: h.get("weight").map(|w| w.parse().map_err(|_| err(format!("weight `{w}` is not a number")))).transpose()?.unwrap_or(1.0),
        max_cells: h.get("max_cells").map(|w| w.parse().map_err(|_| err(format!("max_cells `{w}` is not a number")))).transpose()?,
        description: h.get("description").cloned().unwrap_or_default(),
        sql: text.to_string(),
        file: file.to_string(),
    })
}

/// Load every metric in `<sql_dir>/metrics/`, in file-name order.
pub fn load(cfg: &MetricsConfig) -> Result<Vec<MetricDef>> {
    let dir = cfg.dir().join("metrics");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| Error::Sql { file: dir.display().to_string(), message: format!("cannot list metrics: {e}") })?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "sql"))
        .collect();
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).map_err(|e| Error::Sql { file: f.display().to_string(), message: e.to_string() })?;
        let m = parse_metric(&text, &f.display().to_string())?;
        if cfg.include.as_ref().is_some_and(|inc| !inc.contains(&m.name)) {
            continue;
        }
        if out.iter().any(|x: &MetricDef| x.name == m.name) {
            return Err(Error::Sql { file: f.display().to_string(), message: format!("metric name `{}` is used twice", m.name) });
        }
        out.push(m);
    }
    Ok(out)
}

/// Per-person rows of one metric.
#[derive(Debug, Clone, Default)]
pub struct PersonRows {
    pub person: Vec<String>,
    /// One vector per dimension, aligned with `person`.
    pub dims: Vec<Vec<String>>,
    pub value: Vec<i64>,
}

/// Run a metric's SQL. NULL dimension values become `unknown`; a NULL value
/// (non-count metrics) drops the row, counted in the return value.
pub async fn compute(ctx: &SessionContext, m: &MetricDef) -> Result<(PersonRows, usize)> {
    let err = |e: String| Error::Sql { file: m.file.clone(), message: e };
    let df = ctx.sql_with_options(&m.sql, crate::sql::read_only()).await.map_err(|e| err(e.to_string()))?;
    let batches = df.collect().await.map_err(|e| err(e.to_string()))?;
    let mut out = PersonRows { dims: vec![vec![]; m.dimensions.len()], ..Default::default() };
    let mut null_values = 0;
    for b in batches {
        let s = b.schema();
        let text = |name: &str| -> Result<StringArray> {
            let i = s.index_of(name).map_err(|_| err(format!("the query does not return column `{name}`")))?;
            let c = cast(b.column(i), &DataType::Utf8).map_err(|e| err(e.to_string()))?;
            Ok(c.as_any().downcast_ref::<StringArray>().expect("utf8").clone())
        };
        let person = text("person_key")?;
        let dims: Vec<StringArray> = m.dimensions.iter().map(|d| text(d)).collect::<Result<_>>()?;
        let value: Option<Int64Array> = if m.aggregation == Aggregation::Count {
            None
        } else {
            let i = s.index_of("value").map_err(|_| err("the query does not return column `value`".into()))?;
            let c = cast(b.column(i), &DataType::Int64).map_err(|e| err(format!("value: {e}")))?;
            Some(c.as_any().downcast_ref::<Int64Array>().expect("int64").clone())
        };
        for r in 0..b.num_rows() {
            if person.is_null(r) {
                continue;
            }
            let v = match &value {
                None => 1,
                Some(v) if v.is_null(r) => {
                    null_values += 1;
                    continue;
                }
                Some(v) => v.value(r),
            };
            out.person.push(person.value(r).to_string());
            for (k, d) in dims.iter().enumerate() {
                out.dims[k].push(if d.is_null(r) { "unknown".to_string() } else { d.value(r).to_string() });
            }
            out.value.push(v);
        }
    }
    Ok((out, null_values))
}

/// Quarter index (year * 4 + quarter - 1) of a date, as the SQL writes it.
pub fn quarter_index(d: chrono::NaiveDate) -> i64 {
    use chrono::Datelike;
    d.year() as i64 * 4 + (d.month0() / 3) as i64
}

/// `2026Q2` as a quarter index (`year*4 + q-1`).
pub fn parse_quarter(s: &str) -> Option<i64> {
    let (y, q) = s.trim().split_once(['Q', 'q'])?;
    let (y, q): (i64, i64) = (y.parse().ok()?, q.parse().ok()?);
    ((1900..=2200).contains(&y) && (1..=4).contains(&q)).then_some(y * 4 + q - 1)
}

/// `year*4 + q-1` as `2026Q2`.
pub fn quarter_label(qi: i64) -> String {
    format!("{}Q{}", qi.div_euclid(4), qi.rem_euclid(4) + 1)
}

/// Register the warehouse and staging views for metric SQL, and
/// `release_params`: one row of public values the metrics may use, the
/// release date `as_of` and `wage_through_qi`, the last quarter whose wage
/// records count ([`MetricsConfig::wage_through_qi`]).
pub async fn context(
    wh: &crate::warehouse::Warehouse,
    versions: &BTreeMap<String, i64>,
    cfg: &MetricsConfig,
    as_of: chrono::NaiveDate,
) -> Result<SessionContext> {
    use datafusion::arrow::array::{Date32Array, Int64Array};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::arrow::record_batch::RecordBatch;
    let ctx = crate::sql::analyst_context(wh, versions, &cfg.dir()).await?;
    let schema = std::sync::Arc::new(Schema::new(vec![
        Field::new("as_of", DataType::Date32, false),
        Field::new("wage_through_qi", DataType::Int64, false),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            std::sync::Arc::new(Date32Array::from(vec![crate::protect::date32(as_of)])),
            std::sync::Arc::new(Int64Array::from(vec![cfg.wage_through_qi(as_of)])),
        ],
    )?;
    ctx.register_table("release_params", std::sync::Arc::new(datafusion::datasource::MemTable::try_new(schema, vec![vec![batch]])?))?;
    Ok(ctx)
}

pub fn sql_dir_exists(cfg: &MetricsConfig) -> bool {
    Path::new(&cfg.dir()).join("metrics").is_dir()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_parsed_and_checked() {
        let m = parse_metric(
            "-- name: med\n-- title: Median\n-- aggregation: median\n-- bounds: 0..6_000_000\n-- dimensions: partner, exit_year\nSELECT 1",
            "f.sql",
        )
        .unwrap();
        assert_eq!(m.aggregation, Aggregation::Median);
        assert_eq!(m.bounds, (0, 6_000_000));
        assert_eq!(m.dimensions, vec!["partner", "exit_year"]);
        let e = parse_metric("-- name: x\n-- title: X\n-- aggregation: sum\nSELECT 1", "f.sql").unwrap_err().to_string();
        assert!(e.contains("bounds"), "{e}");
        let e = parse_metric("-- name: x\n-- title: X\n-- aggregation: rate\n-- bounds: 0..5\nSELECT 1", "f.sql").unwrap_err().to_string();
        assert!(e.contains("0..1"), "{e}");
    }
}

#[cfg(test)]
mod referral_tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{Date32Array, Int32Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::arrow::record_batch::RecordBatch;
    use datafusion::datasource::MemTable;
    use datafusion::prelude::SessionContext;

    fn date(s: &str) -> chrono::NaiveDate {
        s.parse().unwrap()
    }

    /// A metric of sql/metrics run on referrals (person, referral date,
    /// days to enrollment) as of a release date: value per person.
    async fn run(file: &str, rows: &[(&str, &str, Option<i32>)], as_of: &str) -> Vec<(String, i64)> {
        let ctx = SessionContext::new();
        let schema = Arc::new(Schema::new(vec![
            Field::new("person_key", DataType::Utf8, true),
            Field::new("to_partner", DataType::Utf8, true),
            Field::new("referral_date", DataType::Date32, true),
            Field::new("days_to_enrollment", DataType::Int32, true),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0))),
                Arc::new(StringArray::from_iter_values(rows.iter().map(|_| "college"))),
                Arc::new(Date32Array::from_iter_values(rows.iter().map(|r| crate::protect::date32(date(r.1))))),
                Arc::new(Int32Array::from(rows.iter().map(|r| r.2).collect::<Vec<_>>())),
            ],
        )
        .unwrap();
        ctx.register_table("referral", Arc::new(MemTable::try_new(schema, vec![vec![batch]]).unwrap())).unwrap();
        let rp = ctx.sql(&format!("SELECT CAST('{as_of}' AS DATE) AS as_of")).await.unwrap().collect().await.unwrap();
        ctx.register_table("release_params", Arc::new(MemTable::try_new(rp[0].schema(), vec![rp]).unwrap())).unwrap();
        let text = std::fs::read_to_string(format!("{}/../sql/metrics/{file}", env!("CARGO_MANIFEST_DIR"))).unwrap();
        let m = super::parse_metric(&text, file).unwrap();
        let (rows, _) = super::compute(&ctx, &m).await.unwrap();
        let mut out: Vec<(String, i64)> = rows.person.into_iter().zip(rows.value).collect();
        out.sort();
        out
    }

    #[tokio::test]
    async fn a_referral_counts_once_its_90_days_have_passed() {
        // a: enrolled after 30 days; b: not (yet) enrolled, referred 100
        // days before the release; c: referred 20 days before it.
        let rows = [("a", "2026-01-10", Some(30)), ("b", "2026-02-01", None), ("c", "2026-04-22", None)];
        let got = run("80_referral_completion.sql", &rows, "2026-05-12").await;
        assert_eq!(got, vec![("a".to_string(), 1), ("b".to_string(), 0)], "c has had 20 days, not 90");
        // Days to enrollment: only enrollments that count as completions.
        let rows = [("a", "2025-01-10", Some(30)), ("b", "2025-01-10", Some(200))];
        assert_eq!(run("85_days_to_enrollment.sql", &rows, "2026-05-12").await, vec![("a".to_string(), 30)]);
    }
}

#[cfg(test)]
mod exit_tests {
    use datafusion::arrow::array::{Array, StringArray};
    use datafusion::prelude::SessionContext;

    #[tokio::test]
    async fn exits_leave_out_an_exclusion_elsewhere_and_adult_education_under_12_hours() {
        // p1 died (recorded by the agency on 2025-03-01); the college's exit
        // a month earlier is left out too, not an exit two years before.
        // p2's exit stays. Title II (all rows are ESL): p3 had 5 hours, not
        // a participant, so no exit; p4's partner sent no hours, so it
        // counts; p5's two enrollments in one period add up to 12 hours;
        // p6's one enrollment of 6 hours, sent in two files, does not.
        // (person, record, entry, exit, excluded, hours)
        let rows = [
            ("p1", "a1", "2025-01-01", "2025-03-01", true, "NULL"),
            ("p1", "c1", "2025-01-01", "2025-02-01", false, "NULL"),
            ("p1", "c1", "2022-11-01", "2023-02-01", false, "NULL"),
            ("p2", "c2", "2025-01-01", "2025-02-01", false, "40.0"),
            ("p3", "c3", "2025-01-01", "2025-02-01", false, "5.0"),
            ("p4", "c4", "2025-01-01", "2025-02-01", false, "NULL"),
            ("p5", "c5", "2024-12-01", "2025-02-01", false, "6.0"),
            ("p5", "c5", "2025-01-05", "2025-02-01", false, "6.0"),
            ("p6", "c6", "2025-01-05", "2025-02-01", false, "6.0"),
            ("p6", "c6", "2025-01-05", "2025-02-01", false, "6.0"),
        ];
        let values: Vec<String> = rows
            .iter()
            .map(|(p, r, entry, exit, excluded, hours)| {
                let partner = if r.starts_with('a') { "agency" } else { "college" };
                let q = if exit.starts_with("2023") { "2023Q1" } else { "2025Q1" };
                format!("('{p}', '{r}', '{partner}', 'esl', DATE '{entry}', DATE '{exit}', DATE '{exit}', '{q}', {excluded}, CAST({hours} AS DOUBLE))")
            })
            .collect();
        let ctx = SessionContext::new();
        ctx.sql(&format!(
            "CREATE TABLE participation AS SELECT * FROM (VALUES {}) AS t(person_key, record_key, partner, program, entry_date, exit_date, wioa_exit_date, exit_quarter, excluded, hours)",
            values.join(", ")
        ))
        .await
        .unwrap()
        .collect()
        .await
        .unwrap();
        let sql = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../sql/staging/10_exits.sql")).unwrap();
        let sql = format!("SELECT DISTINCT person_key, exit_quarter FROM ({}) ORDER BY person_key, exit_quarter", sql.trim());
        let mut got = vec![];
        for b in ctx.sql(&sql).await.unwrap().collect().await.unwrap() {
            let (p, q) = (b.column(0).as_any().downcast_ref::<StringArray>().unwrap(), b.column(1).as_any().downcast_ref::<StringArray>().unwrap());
            for i in 0..b.num_rows() {
                assert!(!p.is_null(i));
                got.push((p.value(i).to_string(), q.value(i).to_string()));
            }
        }
        let want: Vec<(String, String)> =
            [("p1", "2023Q1"), ("p2", "2025Q1"), ("p4", "2025Q1"), ("p5", "2025Q1")].iter().map(|(p, q)| (p.to_string(), q.to_string())).collect();
        assert_eq!(got, want);
    }
}

#[cfg(test)]
mod skill_gain_tests {
    use datafusion::prelude::SessionContext;

    /// `70_skill_gains.sql` on tables made from SQL VALUES, released on
    /// 2026-12-01: (person, partner, program year, value), sorted.
    async fn run(participation: &str, assessment: &str, credential: &str) -> Vec<(String, String, String, i64)> {
        let ctx = SessionContext::new();
        for (name, cols, rows) in [
            ("participation", "person_key, record_key, partner, program, hours, entry_date, exit_date, last_service_date, excluded", participation),
            ("assessment", "person_key, partner, test, test_date, nrs_level", assessment),
            ("credential", "person_key, record_key, partner, credential_type, credential_date", credential),
            ("release_params", "as_of", "(DATE '2026-12-01')"),
        ] {
            ctx.sql(&format!("CREATE TABLE {name} AS SELECT * FROM (VALUES {rows}) AS t({cols})")).await.unwrap().collect().await.unwrap();
        }
        let view = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../sql/staging/40_recognized_credentials.sql")).unwrap();
        ctx.sql(&format!("CREATE VIEW recognized_credentials AS {}", view.trim())).await.unwrap().collect().await.unwrap();
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../sql/metrics/70_skill_gains.sql")).unwrap();
        let m = super::parse_metric(&text, "70_skill_gains.sql").unwrap();
        let (rows, _) = super::compute(&ctx, &m).await.unwrap();
        let mut out: Vec<_> = (0..rows.person.len())
            .map(|i| (rows.person[i].clone(), rows.dims[0][i].clone(), rows.dims[1][i].clone(), rows.value[i]))
            .collect();
        out.sort();
        out
    }

    #[tokio::test]
    async fn skill_gains_count_participants_in_education_or_training_and_every_kind_of_gain() {
        let participation = "\
            ('a', 'ra-school', 'school', 'esl', 40.0, DATE '2025-09-01', NULL, DATE '2026-03-01', false), \
            ('b', 'rb-school', 'school', 'esl', 8.0, DATE '2025-09-01', NULL, DATE '2026-03-01', false), \
            ('c', 'rc-school', 'school', 'abe', NULL, DATE '2025-09-01', NULL, DATE '2025-12-01', false), \
            ('d', 'rd-school', 'school', 'esl', 20.0, DATE '2025-08-01', NULL, DATE '2025-12-01', false), \
            ('d', 'rd-college', 'college', 'cte', NULL, DATE '2026-01-15', NULL, DATE '2026-05-01', false), \
            ('e', 're-college', 'college', 'cte', NULL, DATE '2025-09-01', NULL, DATE '2026-05-01', false), \
            ('f', 'rf-school', 'school', 'esl', 30.0, DATE '2024-09-01', NULL, DATE '2025-10-01', false), \
            ('g', 'rg-school', 'school', 'esl', 30.0, DATE '2026-08-01', NULL, DATE '2026-10-01', false), \
            ('h', 'rh-school', 'school', 'esl', 30.0, DATE '2025-09-01', NULL, DATE '2026-03-01', false), \
            ('i', 'ri-board', 'board', 'wioa_adult', NULL, DATE '2025-09-01', NULL, DATE '2026-03-01', false), \
            ('j', 'rj-school', 'school', 'esl', 30.0, DATE '2025-09-01', NULL, DATE '2026-03-01', true), \
            ('k', 'rk-college', 'college', 'esl', 5.0, DATE '2025-09-01', NULL, DATE '2026-05-01', false), \
            ('k', 'rk-college', 'college', 'cte', NULL, DATE '2026-01-10', NULL, DATE '2026-05-01', false), \
            ('l', 'rl-school', 'school', 'esl', 6.0, DATE '2025-09-01', NULL, DATE '2026-03-01', false), \
            ('l', 'rl-school', 'school', 'esl', 6.0, DATE '2025-09-01', NULL, DATE '2026-03-01', false), \
            ('m', 'rm-school', 'school', 'esl', 40.0, DATE '2024-09-01', DATE '2024-12-01', DATE '2026-03-01', false), \
            ('n', 'rn-college', 'college', 'cte', NULL, DATE '2025-09-01', NULL, DATE '2026-05-01', false)";
        let assessment = "\
            ('a', 'school', 'casas_reading', DATE '2025-09-05', 2), ('a', 'school', 'casas_reading', DATE '2026-02-01', 3), \
            ('b', 'school', 'casas_reading', DATE '2025-09-05', 2), ('b', 'school', 'casas_reading', DATE '2026-02-01', 3), \
            ('f', 'school', 'casas_reading', DATE '2024-09-05', 1), ('f', 'school', 'casas_reading', DATE '2025-01-10', 2), \
            ('f', 'school', 'casas_reading', DATE '2025-09-05', 2), ('f', 'school', 'casas_listening', DATE '2025-09-05', 4), \
            ('f', 'school', 'casas_listening', DATE '2025-09-20', 3), \
            ('h', 'college', 'casas_reading', DATE '2025-09-05', 2), ('h', 'college', 'casas_reading', DATE '2026-02-01', 3), \
            ('j', 'school', 'casas_reading', DATE '2025-09-05', 2), ('j', 'school', 'casas_reading', DATE '2026-02-01', 3)";
        let credential = "('e', 're-college', 'college', 'certificate', DATE '2026-05-01'), ('x', 'rx-college', 'college', 'certificate', DATE '2026-05-01'), \
            ('n', 'rn-college', 'college', 'work_readiness', DATE '2026-04-01')";
        let got = run(participation, assessment, credential).await;
        let row = |p: &str, partner: &str, py: &str, v: i64| (p.to_string(), partner.to_string(), py.to_string(), v);
        assert_eq!(
            got,
            vec![
                // A post-test at a higher level.
                row("a", "school", "PY2025", 1),
                // (b: 8 hours, not a Title II participant.) No hours sent: counted.
                row("c", "school", "PY2025", 0),
                // Into career-technical classes later in the year: a gain for
                // the adult school; the college enrollment itself has none.
                row("d", "college", "PY2025", 0),
                row("d", "school", "PY2025", 1),
                // A credential.
                row("e", "college", "PY2025", 1),
                // An enrollment over two program years counts in each; the
                // gain of the first stays in it, and a lower post-test is none.
                row("f", "school", "PY2024", 1),
                row("f", "school", "PY2025", 0),
                // (g: a program year not yet ended.) A gain tested at
                // another partner is that partner's.
                row("h", "school", "PY2025", 0),
                // 5 hours of ESL and then career-technical classes at the
                // college: in training, but the ESL was no Title II
                // participation, so entering the classes is no gain.
                row("k", "college", "PY2025", 0),
                // (l: one enrollment of 6 hours, sent in two files.) An
                // enrollment ends at its own exit date, not at the partner's
                // later activity.
                row("m", "school", "PY2024", 0),
                // A work-readiness certificate is no gain.
                row("n", "college", "PY2025", 0),
                // (i: not an education or training program; j: excluded by
                // its exit reason; x: a credential without an enrollment.)
            ]
        );
    }
}
