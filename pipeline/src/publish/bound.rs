//! Per-person contribution bounding, after linkage.
//!
//! The privacy unit is the person (`person_key` across all partners). Before
//! any aggregation:
//!
//! 1. each row's value is clamped to the metric's bounds;
//! 2. each person has at most one row per cell (the largest value is kept);
//! 3. totals (`all`) are added for every dimension, per person, so a person
//!    counts once in a total however many partners served them;
//! 4. each person keeps at most `max_cells` cells; totals are kept first,
//!    then a keyed-hash order of (person, cell) that depends on nobody else.
//!
//! Sensitivity then follows from the bounds: see `noise::l2_sensitivity`.

use std::collections::HashMap;

use crate::metrics::{MetricDef, PersonRows};

/// The reserved dimension value for a total over the dimension.
pub const ALL: &str = "all";
/// The dimension value for a missing attribute.
pub const UNKNOWN: &str = "unknown";

/// Aggregates of one cell, before noise.
#[derive(Debug, Clone, Default)]
pub struct Cell {
    pub key: Vec<String>,
    /// People in the cell.
    pub n: i64,
    /// Sum of clamped values.
    pub sum: i64,
    /// Clamped values (medians only).
    pub values: Vec<i64>,
}

/// The bounded cells of one metric (every public cell, in a fixed order).
#[derive(Debug, Clone, Default)]
pub struct Bounded {
    pub cells: Vec<Cell>,
    pub people: usize,
    /// Rows whose dimension value is not on the public list (not released).
    pub rows_outside_public_keys: usize,
    pub people_truncated: usize,
    pub cells_truncated: usize,
    pub max_cells: usize,
}

/// Bound and aggregate. `public[d]` is the public list of dimension d
/// (without `all`/`unknown`, which are added). `keep_values` keeps the value
/// lists (for medians).
pub fn bound(
    rows: &PersonRows,
    m: &MetricDef,
    public: &[Vec<String>],
    max_cells: usize,
    order_key: &[u8; 32],
    keep_values: bool,
) -> Bounded {
    let dims = m.dimensions.len();
    let lists: Vec<Vec<String>> = public
        .iter()
        .map(|l| {
            let mut v: Vec<String> = l.iter().filter(|x| *x != ALL && *x != UNKNOWN).cloned().collect();
            v.push(UNKNOWN.into());
            v.push(ALL.into());
            v
        })
        .collect();
    let index: Vec<HashMap<&str, usize>> =
        lists.iter().map(|l| l.iter().enumerate().map(|(i, v)| (v.as_str(), i)).collect()).collect();
    let radix: Vec<usize> = lists.iter().map(Vec::len).collect();
    let total_cells: usize = radix.iter().product::<usize>().max(1);
    let flat = |idx: &[usize]| -> usize { idx.iter().zip(&radix).fold(0, |acc, (i, r)| acc * r + i) };
    let all_idx: Vec<usize> = radix.iter().map(|r| r - 1).collect();

    // person -> cell -> value (max)
    let mut per_person: HashMap<&str, HashMap<usize, i64>> = HashMap::new();
    let mut outside = 0;
    let (lo, hi) = m.bounds;
    'rows: for r in 0..rows.person.len() {
        let mut idx = Vec::with_capacity(dims);
        for (d, col) in rows.dims.iter().enumerate() {
            match index[d].get(col[r].as_str()) {
                Some(i) if *i != all_idx[d] => idx.push(*i),
                _ => {
                    outside += 1;
                    continue 'rows;
                }
            }
        }
        let v = rows.value[r].clamp(lo, hi);
        let cells = per_person.entry(rows.person[r].as_str()).or_default();
        // The row's cell and every roll-up of it.
        for mask in 0..(1usize << dims) {
            let key: Vec<usize> = (0..dims).map(|d| if mask >> d & 1 == 1 { all_idx[d] } else { idx[d] }).collect();
            let e = cells.entry(flat(&key)).or_insert(v);
            *e = (*e).max(v);
        }
    }

    let mut out = Bounded { max_cells, rows_outside_public_keys: outside, people: per_person.len(), ..Default::default() };
    let mut n = vec![0i64; total_cells];
    let mut sum = vec![0i64; total_cells];
    let mut values: Vec<Vec<i64>> = if keep_values { vec![vec![]; total_cells] } else { vec![] };
    let unflat = |mut f: usize| -> Vec<usize> {
        let mut v = vec![0; dims];
        for d in (0..dims).rev() {
            v[d] = f % radix[d];
            f /= radix[d];
        }
        v
    };
    for (person, cells) in per_person {
        let mut list: Vec<(usize, i64)> = cells.into_iter().collect();
        if list.len() > max_cells {
            out.people_truncated += 1;
            out.cells_truncated += list.len() - max_cells;
            // Totals first (more `all`s first), then a keyed order that no
            // other person's data can influence.
            let mut keyed: Vec<(usize, u64, usize, i64)> = list
                .iter()
                .map(|(c, v)| {
                    let alls = unflat(*c).iter().zip(&all_idx).filter(|(a, b)| a == b).count();
                    let mut h = blake3::Hasher::new_keyed(order_key);
                    h.update(person.as_bytes());
                    h.update(&c.to_le_bytes());
                    let o = u64::from_le_bytes(h.finalize().as_bytes()[..8].try_into().expect("8"));
                    (usize::MAX - alls, o, *c, *v)
                })
                .collect();
            keyed.sort_unstable();
            list = keyed.into_iter().take(max_cells).map(|(_, _, c, v)| (c, v)).collect();
        }
        for (c, v) in list {
            n[c] += 1;
            sum[c] += v;
            if keep_values {
                values[c].push(v);
            }
        }
    }
    out.cells = (0..total_cells)
        .map(|c| Cell {
            key: unflat(c).iter().enumerate().map(|(d, i)| lists[d][*i].clone()).collect(),
            n: n[c],
            sum: sum[c],
            values: if keep_values { std::mem::take(&mut values[c]) } else { vec![] },
        })
        .collect();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{Aggregation, MetricDef};

    fn metric(agg: Aggregation, bounds: (i64, i64)) -> MetricDef {
        MetricDef {
            name: "m".into(),
            title: "m".into(),
            area: String::new(),
            unit: String::new(),
            aggregation: agg,
            bounds,
            dimensions: vec!["partner".into()],
            weight: 1.0,
            max_cells: None,
            description: String::new(),
            sql: String::new(),
            file: String::new(),
        }
    }

    fn rows(v: &[(&str, &str, i64)]) -> PersonRows {
        PersonRows {
            person: v.iter().map(|r| r.0.to_string()).collect(),
            dims: vec![v.iter().map(|r| r.1.to_string()).collect()],
            value: v.iter().map(|r| r.2).collect(),
        }
    }

    fn cell<'a>(b: &'a Bounded, k: &str) -> &'a Cell {
        b.cells.iter().find(|c| c.key[0] == k).unwrap()
    }

    #[test]
    fn one_person_in_four_partners_counts_once_in_the_total() {
        let r = rows(&[("p1", "a", 1), ("p1", "b", 1), ("p1", "c", 1), ("p1", "d", 1), ("p2", "a", 1), ("p1", "a", 1)]);
        let public = vec![vec!["a".into(), "b".into(), "c".into(), "d".into()]];
        let b = bound(&r, &metric(Aggregation::Count, (0, 1)), &public, 10, &[0; 32], false);
        assert_eq!(cell(&b, "a").n, 2);
        assert_eq!(cell(&b, "all").n, 2, "unduplicated");
        let naive: i64 = ["a", "b", "c", "d"].iter().map(|k| cell(&b, k).n).sum();
        assert_eq!(naive, 5);
    }

    #[test]
    fn truncation_keeps_totals_and_caps_cells() {
        let r = rows(&[("p1", "a", 1), ("p1", "b", 1), ("p1", "c", 1), ("p1", "d", 1)]);
        let public = vec![vec!["a".into(), "b".into(), "c".into(), "d".into()]];
        let b = bound(&r, &metric(Aggregation::Count, (0, 1)), &public, 2, &[0; 32], false);
        assert_eq!(cell(&b, "all").n, 1);
        let touched: i64 = b.cells.iter().map(|c| c.n).sum();
        assert_eq!(touched, 2);
        assert_eq!(b.people_truncated, 1);
    }

    /// Neighbouring datasets: D, and D plus one person seen by four partners
    /// (many rows each). Before noise, no cell moves by more than one, at most
    /// `max_cells` cells move, and the L2 distance is within the sensitivity
    /// the noise is calibrated with.
    #[test]
    fn one_person_in_four_partners_moves_counts_within_the_bound() {
        let partners = ["a", "b", "c", "d"];
        let mut base = Vec::new();
        for i in 0..300 {
            base.push((format!("p{i}"), partners[i % 4], 1));
            if i % 3 == 0 {
                base.push((format!("p{i}"), partners[(i + 1) % 4], 1));
            }
        }
        let mut with = base.clone();
        for p in partners {
            for _ in 0..5 {
                with.push(("newcomer".to_string(), p, 1));
            }
        }
        let to_rows = |v: &[(String, &str, i64)]| PersonRows {
            person: v.iter().map(|r| r.0.clone()).collect(),
            dims: vec![v.iter().map(|r| r.1.to_string()).collect()],
            value: v.iter().map(|r| r.2).collect(),
        };
        let public = vec![partners.iter().map(|s| s.to_string()).collect::<Vec<_>>()];
        for max_cells in [1, 3, 5, 12] {
            let m = metric(Aggregation::Count, (0, 1));
            let a = bound(&to_rows(&base), &m, &public, max_cells, &[1; 32], false);
            let b = bound(&to_rows(&with), &m, &public, max_cells, &[1; 32], false);
            let diffs: Vec<i64> = a.cells.iter().zip(&b.cells).map(|(x, y)| (y.n - x.n).abs()).collect();
            assert!(diffs.iter().all(|d| *d <= 1), "a cell moved by more than one");
            let moved = diffs.iter().filter(|d| **d > 0).count();
            assert!(moved <= max_cells, "{moved} cells moved with max_cells {max_cells}");
            let l2 = (diffs.iter().map(|d| (d * d) as f64).sum::<f64>()).sqrt();
            assert!(l2 <= crate::publish::noise::l2_sensitivity(max_cells, 1) + 1e-9);
            assert_eq!(cell(&b, "all").n - cell(&a, "all").n, 1, "the newcomer counts once in the total");
        }
    }

    #[test]
    fn values_are_clamped_and_unknown_keys_dropped() {
        let r = rows(&[("p1", "a", 9_000_000), ("p2", "zzz", 5)]);
        let public = vec![vec!["a".into()]];
        let b = bound(&r, &metric(Aggregation::Sum, (0, 6_000_000)), &public, 4, &[0; 32], true);
        assert_eq!(cell(&b, "a").sum, 6_000_000);
        assert_eq!(b.rows_outside_public_keys, 1);
    }
}
