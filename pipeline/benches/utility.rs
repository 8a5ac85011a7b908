//! Utility of the published statistics, for `make bench` (section
//! "utility"): how far braid's released values fall from the exact bounded
//! values, by cell size, at the configured (default) budget.
//!
//! For each metric of the committed warehouse this computes the per-person
//! rows and bounds them once, as `braid publish` does, then runs the release
//! (`publish::release_metric`, OpenDP noise) `REPS` times without writing or
//! charging anything. It prints one JSON object with, per metric and public
//! cell, the exact value, the cell size and the released values; and it
//! writes the bounded cells to `EXPORT` so that bench/run.py can compute the
//! same statistics with OpenDP's Python API at the same budget.
//!
//! This is a benchmark on generated data. It reads exact values, so it is
//! never part of a nightly run.
//!
//!     cargo bench --bench utility -- CONFIG REPS EXPORT

use std::collections::BTreeMap;

use braid::Config;
use braid::metrics::Aggregation;
use braid::publish::{bound, bound_metric, release_metric};
use braid::run::Pipeline;
use serde_json::json;

fn truth(agg: Aggregation, c: &bound::Cell) -> Option<f64> {
    if c.n == 0 {
        return None;
    }
    Some(match agg {
        Aggregation::Count => c.n as f64,
        Aggregation::Sum => c.sum as f64,
        Aggregation::Mean | Aggregation::Rate => c.sum as f64 / c.n as f64,
        Aggregation::Median => {
            let mut v = c.values.clone();
            v.sort_unstable();
            // The lower median, as OpenDP's quantile targets.
            v[(v.len() - 1) / 2] as f64
        }
    })
}

fn main() -> braid::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let (config, reps, export) = match args.as_slice() {
        [c, r, e, ..] => (c.clone(), r.parse::<usize>().expect("REPS"), e.clone()),
        _ => {
            eprintln!("usage: cargo bench --bench utility -- CONFIG REPS EXPORT");
            std::process::exit(2);
        }
    };
    let cfg = Config::load(Some(std::path::Path::new(&config)))?;
    let p = Pipeline::open(cfg)?;
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let versions = braid::load::committed_versions(&p.ledger)?;
    // Released as of today, as `braid link` (no --as-of) loaded the tables.
    let ctx = rt.block_on(braid::metrics::context(&p.wh, &versions, &p.cfg.metrics, chrono::Local::now().date_naive()))?;
    let metrics = braid::metrics::load(&p.cfg.metrics)?;
    let total_weight: f64 = metrics.iter().map(|m| m.weight).sum();
    let order_key = p.keys.key(braid::secret::Purpose::Forget);
    let mut out = Vec::new();
    let mut exported = Vec::new();
    for m in &metrics {
        let (rows, _) = rt.block_on(braid::metrics::compute(&ctx, m))?;
        let public: Vec<Vec<String>> = m.dimensions.iter().map(|d| p.cfg.dimension(d).unwrap_or_default()).collect();
        let b = bound_metric(&p.cfg, m, &rows, &public, &order_key);
        let max_cells = b.max_cells;
        let rho = p.cfg.privacy.rho_per_release * m.weight / total_weight;
        let mut released: Vec<Vec<Option<f64>>> = vec![Vec::with_capacity(reps); b.cells.len()];
        let t = std::time::Instant::now();
        let mut rho_spent = 0.0;
        for _ in 0..reps {
            let pm = release_metric(&p.cfg, m, &b, rho)?;
            rho_spent = pm.rho;
            for (i, c) in pm.cells.iter().take(b.cells.len()).enumerate() {
                released[i].push(c.value);
            }
        }
        let secs = t.elapsed().as_secs_f64() / reps.max(1) as f64;
        let cells: Vec<_> = b
            .cells
            .iter()
            .zip(&released)
            .filter(|(c, _)| c.n > 0)
            .map(|(c, r)| json!({ "key": c.key, "n": c.n, "truth": truth(m.aggregation, c), "released": r }))
            .collect();
        out.push(json!({
            "metric": m.name,
            "aggregation": m.aggregation,
            "rho": rho,
            "rho_spent": rho_spent,
            "max_cells": max_cells,
            "people": b.people,
            "seconds_per_release": secs,
            "cells": cells,
        }));
        exported.push(json!({
            "metric": m.name,
            "aggregation": m.aggregation,
            "rho": rho,
            "max_cells": max_cells,
            "bounds": [m.bounds.0, m.bounds.1],
            "cells": b.cells.iter().filter(|c| c.n > 0).map(|c| {
                let mut o = BTreeMap::new();
                o.insert("key", json!(c.key));
                o.insert("n", json!(c.n));
                o.insert("sum", json!(c.sum));
                if m.aggregation == Aggregation::Median {
                    o.insert("values", json!(c.values));
                }
                o
            }).collect::<Vec<_>>(),
        }));
    }
    std::fs::write(&export, serde_json::to_vec(&exported).expect("json")).expect("write export");
    println!("{}", serde_json::to_string(&json!({ "reps": reps, "metrics": out })).expect("json"));
    Ok(())
}
