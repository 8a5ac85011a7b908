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

/// The bounded cells of one metric.
#[derive(Debug, Clone, Default)]
pub struct Bounded {
    /// Every public cell, in a fixed order.
    pub cells: Vec<Cell>,
    /// Cells with at least one key value that is not on a public list
    /// (only when discovery is on). They may be released only through the
    /// threshold mechanism.
    pub discovered: Vec<Cell>,
    pub people: usize,
    /// Rows with a key value not on a public list. They still count in the
    /// totals over that dimension. Never published (an exact count).
    pub rows_with_unlisted_keys: usize,
    pub people_truncated: usize,
    pub cells_truncated: usize,
    pub max_cells: usize,
}

/// Bound and aggregate. `public[d]` is the public list of dimension d
/// (without `all`/`unknown`, which are added). `keep_values` keeps the value
/// lists (for medians). `discover` keeps cells whose keys are not on the
/// public lists (for the threshold mechanism); without it, such a row
/// counts only in the totals over its unlisted dimensions.
pub fn bound(
    rows: &PersonRows,
    m: &MetricDef,
    public: &[Vec<String>],
    max_cells: usize,
    order_key: &[u8; 32],
    keep_values: bool,
    discover: bool,
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

    // Discovered keys, interned to cell numbers after the public grid.
    let mut found: HashMap<Vec<String>, usize> = HashMap::new();
    let mut found_keys: Vec<(Vec<String>, usize)> = Vec::new(); // (key, number of `all`s)

    // person -> cell -> value (max)
    let mut per_person: HashMap<&str, HashMap<usize, i64>> = HashMap::new();
    let mut unlisted_rows = 0;
    let (lo, hi) = m.bounds;
    for r in 0..rows.person.len() {
        // Public index per dimension, or None for a value not on the list.
        let idx: Vec<Option<usize>> =
            rows.dims.iter().enumerate().map(|(d, col)| index[d].get(col[r].as_str()).copied().filter(|i| *i != all_idx[d])).collect();
        let listed = idx.iter().all(Option::is_some);
        unlisted_rows += !listed as usize;
        let v = rows.value[r].clamp(lo, hi);
        let cells = per_person.entry(rows.person[r].as_str()).or_default();
        // The row's cell and every roll-up of it.
        for mask in 0..(1usize << dims) {
            let rolled = |d: usize| mask >> d & 1 == 1;
            let cell = if (0..dims).all(|d| rolled(d) || idx[d].is_some()) {
                let key: Vec<usize> = (0..dims).map(|d| if rolled(d) { all_idx[d] } else { idx[d].expect("listed") }).collect();
                flat(&key)
            } else if discover && (0..dims).all(|d| rolled(d) || rows.dims[d][r] != ALL) {
                let key: Vec<String> = (0..dims).map(|d| if rolled(d) { ALL.to_string() } else { rows.dims[d][r].clone() }).collect();
                let next = total_cells + found.len();
                *found.entry(key.clone()).or_insert_with(|| {
                    let alls = (0..dims).filter(|d| rolled(*d)).count();
                    found_keys.push((key, alls));
                    next
                })
            } else {
                continue;
            };
            let e = cells.entry(cell).or_insert(v);
            *e = (*e).max(v);
        }
    }

    let mut out = Bounded { max_cells, rows_with_unlisted_keys: unlisted_rows, people: per_person.len(), ..Default::default() };
    let all_cells = total_cells + found_keys.len();
    let mut n = vec![0i64; all_cells];
    let mut sum = vec![0i64; all_cells];
    let mut values: Vec<Vec<i64>> = if keep_values { vec![vec![]; all_cells] } else { vec![] };
    let unflat = |mut f: usize| -> Vec<usize> {
        let mut v = vec![0; dims];
        for d in (0..dims).rev() {
            v[d] = f % radix[d];
            f /= radix[d];
        }
        v
    };
    let alls_of = |c: usize| -> usize {
        if c < total_cells { unflat(c).iter().zip(&all_idx).filter(|(a, b)| a == b).count() } else { found_keys[c - total_cells].1 }
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
                    let mut h = blake3::Hasher::new_keyed(order_key);
                    h.update(person.as_bytes());
                    if *c < total_cells {
                        h.update(&c.to_le_bytes());
                    } else {
                        // Discovered cells are ordered by their key, which
                        // does not depend on which rows came first.
                        for part in &found_keys[c - total_cells].0 {
                            h.update(part.as_bytes());
                            h.update(&[0x1f]);
                        }
                    }
                    let o = u64::from_le_bytes(h.finalize().as_bytes()[..8].try_into().expect("8"));
                    (usize::MAX - alls_of(*c), o, *c, *v)
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
    let mut take = |c: usize, key: Vec<String>| Cell {
        key,
        n: n[c],
        sum: sum[c],
        values: if keep_values { std::mem::take(&mut values[c]) } else { vec![] },
    };
    out.cells = (0..total_cells).map(|c| take(c, unflat(c).iter().enumerate().map(|(d, i)| lists[d][*i].clone()).collect())).collect();
    out.discovered = found_keys
        .into_iter()
        .enumerate()
        .map(|(k, (key, _))| take(total_cells + k, key))
        // A key whose only people were truncated away is not a cell at all.
        .filter(|c| c.n > 0)
        .collect();
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::metrics::{Aggregation, MetricDef};

    /// A metric over one dimension (`partner`), for tests.
    pub(crate) fn metric(agg: Aggregation, bounds: (i64, i64)) -> MetricDef {
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
        let b = bound(&r, &metric(Aggregation::Count, (0, 1)), &public, 10, &[0; 32], false, false);
        assert_eq!(cell(&b, "a").n, 2);
        assert_eq!(cell(&b, "all").n, 2, "unduplicated");
        let naive: i64 = ["a", "b", "c", "d"].iter().map(|k| cell(&b, k).n).sum();
        assert_eq!(naive, 5);
    }

    #[test]
    fn truncation_keeps_totals_and_caps_cells() {
        let r = rows(&[("p1", "a", 1), ("p1", "b", 1), ("p1", "c", 1), ("p1", "d", 1)]);
        let public = vec![vec!["a".into(), "b".into(), "c".into(), "d".into()]];
        let b = bound(&r, &metric(Aggregation::Count, (0, 1)), &public, 2, &[0; 32], false, false);
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
            let a = bound(&to_rows(&base), &m, &public, max_cells, &[1; 32], false, true);
            let b = bound(&to_rows(&with), &m, &public, max_cells, &[1; 32], false, true);
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
    fn values_are_clamped_and_unlisted_keys_count_in_totals() {
        let r = rows(&[("p1", "a", 9_000_000), ("p2", "zzz", 5)]);
        let public = vec![vec!["a".into()]];
        let m = metric(Aggregation::Sum, (0, 6_000_000));
        let b = bound(&r, &m, &public, 4, &[0; 32], true, false);
        assert_eq!(cell(&b, "a").sum, 6_000_000);
        assert_eq!(b.rows_with_unlisted_keys, 1);
        assert_eq!(cell(&b, "all").n, 2, "an unlisted value still counts in the total");
        assert!(b.discovered.is_empty(), "no discovery asked for");
        let d = bound(&r, &m, &public, 4, &[0; 32], true, true);
        assert_eq!(d.discovered.len(), 1);
        assert_eq!((d.discovered[0].key.clone(), d.discovered[0].n, d.discovered[0].sum), (vec!["zzz".to_string()], 1, 5));
        assert_eq!(cell(&d, "all").n, 2);
    }

    /// A newcomer with unlisted keys in four partners changes at most
    /// `max_cells` cells, public and discovered together, each by one.
    #[test]
    fn discovered_cells_share_the_per_person_bound() {
        let dims2 = |v: &[(String, &str, &str)]| PersonRows {
            person: v.iter().map(|r| r.0.clone()).collect(),
            dims: vec![v.iter().map(|r| r.1.to_string()).collect(), v.iter().map(|r| r.2.to_string()).collect()],
            value: vec![1; v.len()],
        };
        let mut m = metric(Aggregation::Count, (0, 1));
        m.dimensions = vec!["partner".into(), "county".into()];
        let public = vec![vec!["a".to_string(), "b".to_string()], vec!["X".to_string()]];
        let mut base: Vec<(String, &str, &str)> = (0..50).map(|i| (format!("p{i}"), if i % 2 == 0 { "a" } else { "b" }, "X")).collect();
        base.extend((0..30).map(|i| (format!("q{i}"), "a", "Marin")));
        let mut with = base.clone();
        for (p, c) in [("a", "Marin"), ("b", "Napa"), ("c", "X"), ("d", "Yolo")] {
            with.push(("newcomer".to_string(), p, c));
        }
        for max_cells in [1, 3, 6, 20] {
            let a = bound(&dims2(&base), &m, &public, max_cells, &[2; 32], false, true);
            let b = bound(&dims2(&with), &m, &public, max_cells, &[2; 32], false, true);
            let count = |cells: &[Cell]| -> HashMap<Vec<String>, i64> { cells.iter().map(|c| (c.key.clone(), c.n)).collect() };
            let (mut ca, mut cb) = (count(&a.cells), count(&b.cells));
            ca.extend(count(&a.discovered));
            cb.extend(count(&b.discovered));
            let keys: std::collections::HashSet<&Vec<String>> = ca.keys().chain(cb.keys()).collect();
            let diffs: Vec<i64> = keys.iter().map(|k| (cb.get(*k).unwrap_or(&0) - ca.get(*k).unwrap_or(&0)).abs()).collect();
            assert!(diffs.iter().all(|d| *d <= 1));
            let moved = diffs.iter().filter(|d| **d > 0).count();
            assert!(moved <= max_cells, "{moved} cells moved with max_cells {max_cells}");
        }
        let a = bound(&dims2(&base), &m, &public, 20, &[2; 32], false, true);
        let marin = a.discovered.iter().find(|c| c.key == ["a", "Marin"]).expect("discovered cell");
        assert_eq!(marin.n, 30);
        let all_marin = a.discovered.iter().find(|c| c.key == ["all", "Marin"]).expect("roll-up of a discovered cell");
        assert_eq!(all_marin.n, 30);
        let a_all = a.cells.iter().find(|c| c.key == ["a", "all"]).expect("public cell");
        assert_eq!(a_all.n, 55, "partner a over all counties, Marin included");
    }
}
