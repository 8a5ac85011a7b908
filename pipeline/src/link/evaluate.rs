//! `braid link evaluate`: linkage quality against a truth file.
//!
//! The truth file is CSV with `partner,record_id,entity`, where `record_id` is
//! the partner's own id as mapped in the configuration. The ids are hashed
//! with the consortium key before they are joined, so the truth file's ids
//! are never written anywhere.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use serde::Serialize;

use crate::error::{Error, Result};
use crate::secret::Keys;

/// record_key -> true entity.
pub struct Truth {
    pub entity: HashMap<String, String>,
}

/// Read a truth file, hashing its record ids with the consortium key.
/// Every row needs a partner of the configuration, a record id and an
/// entity, and a record may have one entity only; a problem is named by
/// its line, never by the id (README, "Linkage quality").
pub fn load_truth(path: &Path, keys: &Keys, partners: &[&str]) -> Result<Truth> {
    let file = path.display().to_string();
    let bad = |message: String| Error::Input { file: file.clone(), message };
    let mut rdr = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(path)
        .map_err(|e| bad(format!("cannot read: {e}")))?;
    let headers = rdr.headers().map_err(|e| bad(e.to_string()))?.clone();
    let col = |n: &str| {
        headers.iter().position(|h| h.eq_ignore_ascii_case(n)).ok_or_else(|| bad(format!("truth file needs a `{n}` column (partner,record_id,entity)")))
    };
    let (p, r, e) = (col("partner")?, col("record_id")?, col("entity")?);
    // record_key -> (entity, line)
    let mut seen: HashMap<String, (String, u64)> = HashMap::new();
    let mut line = 1;
    for row in rdr.records() {
        line += 1;
        let row = row.map_err(|e| bad(format!("malformed row at line {}", e.position().map(|p| p.line()).unwrap_or(line))))?;
        line = row.position().map(|p| p.line()).unwrap_or(line);
        let (partner, id, ent) = (row.get(p).unwrap_or(""), row.get(r).unwrap_or(""), row.get(e).unwrap_or(""));
        for (what, v) in [("partner", partner), ("record_id", id), ("entity", ent)] {
            if v.is_empty() {
                return Err(bad(format!("line {line}: the {what} is empty")));
            }
        }
        if !partners.contains(&partner) {
            // The cell is not repeated: in a shifted row it may be a record id.
            return Err(bad(format!("line {line}: the partner is not one in the configuration (partners: {})", partners.join(", "))));
        }
        let rk = crate::protect::record_key(keys, partner, id);
        match seen.get(&rk) {
            Some((other, first)) if other != ent => {
                return Err(bad(format!("lines {first} and {line} give the same record ({partner}) two different entities")));
            }
            Some(_) => {}
            None => {
                seen.insert(rk, (ent.to_string(), line));
            }
        }
    }
    if seen.is_empty() {
        return Err(bad("the truth file has no records, only a header (partner,record_id,entity)".into()));
    }
    Ok(Truth { entity: seen.into_iter().map(|(k, (e, _))| (k, e)).collect() })
}

#[derive(Debug, Clone, Serialize)]
pub struct PairCounts {
    pub true_positive: u64,
    pub false_positive: u64,
    pub false_negative: u64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

impl PairCounts {
    fn new(tp: u64, predicted: u64, truth: u64) -> PairCounts {
        let precision = if predicted == 0 { 1.0 } else { tp as f64 / predicted as f64 };
        let recall = if truth == 0 { 1.0 } else { tp as f64 / truth as f64 };
        let f1 = if precision + recall == 0.0 { 0.0 } else { 2.0 * precision * recall / (precision + recall) };
        PairCounts {
            true_positive: tp,
            false_positive: predicted - tp,
            false_negative: truth - tp,
            precision,
            recall,
            f1,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    /// Records in both the truth file and the linked warehouse.
    pub records_evaluated: usize,
    /// Records of the truth file in the warehouse but without consent to
    /// link (they have no person key).
    pub records_without_consent: usize,
    /// Records of the truth file the warehouse does not hold at all.
    pub records_not_found: usize,
    pub clusters: usize,
    pub true_entities: usize,
    pub pairwise: PairCounts,
    pub bcubed_precision: f64,
    pub bcubed_recall: f64,
    pub bcubed_f1: f64,
    /// True pairs that blocking made candidates (or that share a record).
    pub blocking_true_pairs: u64,
    pub blocking_found: u64,
    pub blocking_recall: f64,
    /// Distinct candidate record pairs (a pair of records compared through
    /// any of their observations counts once).
    pub candidate_pairs: u64,
    /// Pairwise decisions (before clustering) at other thresholds.
    pub thresholds: Vec<ThresholdPoint>,
    /// The comparison patterns most common among wrong pairwise decisions
    /// at the configured threshold (levels only; no values).
    pub error_patterns: Vec<ErrorPattern>,
    /// False when the linkage's inputs changed since the last committed link
    /// (files pulled, the configuration or the braid build): the cluster
    /// figures are then of the committed link, while blocking
    /// recall, the threshold sweep and the error patterns come from staging
    /// as it is now.
    pub inputs_as_committed: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct ErrorPattern {
    /// false_positive or false_negative
    pub kind: String,
    pub pairs: u64,
    pub given: String,
    pub family: String,
    pub dob: String,
    pub sex: String,
    pub tax_id: String,
    pub contact: String,
    pub mean_log_odds: f64,
    /// Evaluated candidate pairs (of observations) with these levels, and
    /// how many of them are one entity: with `pairs`, whether the levels
    /// cannot tell the two apart (half and half) or the model weighs them
    /// wrongly.
    pub pattern_pairs: u64,
    pub pattern_true_pairs: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ThresholdPoint {
    pub threshold: f64,
    /// Evaluated record pairs at or above the threshold that are one entity.
    pub true_positive: u64,
    /// Evaluated record pairs at or above the threshold.
    pub predicted: u64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
}

fn c2(n: u64) -> u64 {
    n * n.saturating_sub(1) / 2
}

/// Evaluate the committed `link` table (record_key -> person_key, none for
/// a record without consent to link) against the truth. With `scored`,
/// also blocking recall and the threshold sweep. An error when no record of
/// the truth file is linked: there is nothing to measure.
pub fn evaluate(
    link: &[(String, Option<String>)],
    truth: &Truth,
    scored: Option<(&super::Scored, &super::LinkInput)>,
    threshold: f64,
) -> Result<Evaluation> {
    let in_warehouse: HashMap<&str, Option<&str>> = link.iter().map(|(r, p)| (r.as_str(), p.as_deref())).collect();
    let linked: HashMap<&str, &str> = in_warehouse.iter().filter_map(|(r, p)| p.map(|p| (*r, p))).collect();
    let mut cells: HashMap<(&str, &str), u64> = HashMap::new();
    let mut by_cluster: HashMap<&str, u64> = HashMap::new();
    let mut by_entity: HashMap<&str, u64> = HashMap::new();
    let (mut evaluated, mut without_consent, mut not_found) = (0, 0, 0);
    for (rk, ent) in &truth.entity {
        match in_warehouse.get(rk.as_str()) {
            Some(Some(pk)) => {
                evaluated += 1;
                *cells.entry((pk, ent.as_str())).or_default() += 1;
                *by_cluster.entry(pk).or_default() += 1;
                *by_entity.entry(ent.as_str()).or_default() += 1;
            }
            Some(None) => without_consent += 1,
            None => not_found += 1,
        }
    }
    if evaluated == 0 {
        return Err(Error::Usage(format!(
            "no record of the truth file is linked in the warehouse, so there is nothing to evaluate: of its {} records, \
             {without_consent} have no consent to link and {not_found} are not in the warehouse (is it the truth file of \
             these partners' data, hashed with the same secret?)",
            truth.entity.len()
        )));
    }
    let tp: u64 = cells.values().map(|n| c2(*n)).sum();
    let predicted: u64 = by_cluster.values().map(|n| c2(*n)).sum();
    let true_pairs: u64 = by_entity.values().map(|n| c2(*n)).sum();
    // B-cubed: per record, share of its cluster that is its entity and share
    // of its entity that is in its cluster.
    let (mut bp, mut br) = (0.0, 0.0);
    for ((pk, ent), n) in &cells {
        let n = *n as f64;
        bp += n * n / by_cluster[pk] as f64;
        br += n * n / by_entity[ent] as f64;
    }
    let e = evaluated.max(1) as f64;
    let (bp, br) = (bp / e, br / e);

    let mut out = Evaluation {
        records_evaluated: evaluated,
        records_without_consent: without_consent,
        records_not_found: not_found,
        clusters: by_cluster.len(),
        true_entities: by_entity.len(),
        pairwise: PairCounts::new(tp, predicted, true_pairs),
        bcubed_precision: bp,
        bcubed_recall: br,
        bcubed_f1: if bp + br > 0.0 { 2.0 * bp * br / (bp + br) } else { 0.0 },
        blocking_true_pairs: true_pairs,
        blocking_found: 0,
        blocking_recall: 0.0,
        candidate_pairs: 0,
        thresholds: vec![],
        error_patterns: vec![],
        inputs_as_committed: true,
    };
    if let Some((s, input)) = scored {
        let ent_of_record: Vec<Option<&str>> = input
            .records
            .iter()
            .map(|r| truth.entity.get(&r.record_key).map(String::as_str).filter(|_| linked.contains_key(r.record_key.as_str())))
            .collect();
        // Record-level candidate pairs with their best log-odds.
        let (pairs, best) = super::record_pairs(s, f32::NEG_INFINITY);
        out.candidate_pairs = pairs.len() as u64;
        let is_true = |k: &(u32, u32)| match (ent_of_record[k.0 as usize], ent_of_record[k.1 as usize]) {
            (Some(x), Some(y)) => x == y,
            _ => false,
        };
        let found = pairs.iter().filter(|k| is_true(k)).count() as u64;
        out.blocking_found = found;
        out.blocking_recall = if true_pairs == 0 { 1.0 } else { found as f64 / true_pairs as f64 };
        let evaluated_pairs: Vec<(f32, bool)> = pairs
            .iter()
            .zip(&best)
            .filter(|(k, _)| ent_of_record[k.0 as usize].is_some() && ent_of_record[k.1 as usize].is_some())
            .map(|(k, lo)| (*lo, is_true(k)))
            .collect();
        // Every evaluated candidate pair by its agreement levels (no name
        // tokens): how many, how many are one entity, and the wrong
        // decisions at the configured threshold among them (count and sum of
        // log-odds; false negatives, then false positives: term frequencies
        // put pairs with the same levels on both sides of the threshold).
        // One pass, on every core.
        #[derive(Default, Clone, Copy)]
        struct ByLevels {
            pairs: u64,
            true_pairs: u64,
            wrong: [(u64, f64); 2],
        }
        let lt = (threshold / (1.0 - threshold)).log2() as f32;
        // Runs of pairs dealt to the threads in turn.
        let threads = super::threads();
        let runs = s.pairs.chunks_with(1 << 16, &s.log_odds);
        let by_levels: HashMap<super::compare::Levels, ByLevels> = std::thread::scope(|sc| {
            let handles: Vec<_> = (0..threads)
                .map(|k| {
                    let (is_true, ent_of_record, runs) = (&is_true, &ent_of_record, &runs);
                    sc.spawn(move || {
                        let mut m: HashMap<super::compare::Levels, ByLevels> = HashMap::new();
                        let mine = runs.iter().skip(k).step_by(threads).flat_map(|(part, log_odds)| part.iter().zip(log_odds.iter()));
                        for ((a, b), lo) in mine {
                            let (ra, rb) = (s.group[*a as usize], s.group[*b as usize]);
                            if ent_of_record[ra as usize].is_none() || ent_of_record[rb as usize].is_none() {
                                continue;
                            }
                            let (Some(x), Some(y)) = (s.node_identity[*a as usize], s.node_identity[*b as usize]) else { continue };
                            let mut l = super::compare::compare(&input.observations[x].1, &input.observations[y].1);
                            l.same_partner = s.node_partner[*a as usize] == s.node_partner[*b as usize];
                            l.given_token = 0;
                            l.family_token = 0;
                            let truth = is_true(&(ra.min(rb), ra.max(rb)));
                            let predicted = *lo >= lt;
                            let e = m.entry(l).or_default();
                            e.pairs += 1;
                            e.true_pairs += truth as u64;
                            if truth != predicted {
                                let w = &mut e.wrong[predicted as usize];
                                w.0 += 1;
                                w.1 += *lo as f64;
                            }
                        }
                        m
                    })
                })
                .collect();
            let mut all: HashMap<super::compare::Levels, ByLevels> = HashMap::new();
            for h in handles {
                for (l, x) in h.join().expect("evaluation thread") {
                    let e = all.entry(l).or_default();
                    e.pairs += x.pairs;
                    e.true_pairs += x.true_pairs;
                    for (w, xw) in e.wrong.iter_mut().zip(x.wrong) {
                        w.0 += xw.0;
                        w.1 += xw.1;
                    }
                }
            }
            all
        });
        let mut errs: Vec<(bool, super::compare::Levels, ByLevels)> = by_levels
            .iter()
            .flat_map(|(l, b)| [false, true].into_iter().filter(|fp| b.wrong[*fp as usize].0 > 0).map(|fp| (fp, *l, *b)))
            .collect();
        // Most pairs first; ties in a fixed order, so that a run prints the
        // same list as the last.
        let order = |(fp, l, _): &(bool, super::compare::Levels, ByLevels)| {
            (*fp, l.given, l.family, l.dob, l.sex, l.tax_id, l.contact, l.same_partner)
        };
        errs.sort_by(|a, b| b.2.wrong[b.0 as usize].0.cmp(&a.2.wrong[a.0 as usize].0).then_with(|| order(a).cmp(&order(b))));
        errs.truncate(12);
        use super::compare::{contact, dob, name, simple};
        out.error_patterns = errs
            .into_iter()
            .map(|(fp, l, b)| {
                let (n, sum) = b.wrong[fp as usize];
                ErrorPattern {
                    kind: if fp { "false_positive" } else { "false_negative" }.into(),
                    pairs: n,
                    given: name::LABELS[l.given as usize].into(),
                    family: if l.family_two_parts {
                        format!("{}, two parts", name::LABELS[l.family as usize])
                    } else {
                        name::LABELS[l.family as usize].to_string()
                    },
                    dob: dob::LABELS[l.dob as usize].into(),
                    sex: simple::LABELS[l.sex as usize].into(),
                    tax_id: simple::LABELS[l.tax_id as usize].into(),
                    contact: contact::LABELS[l.contact as usize].into(),
                    mean_log_odds: sum / n as f64,
                    pattern_pairs: b.pairs,
                    pattern_true_pairs: b.true_pairs,
                }
            })
            .collect();
        for t in [0.05f64, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99] {
            let lt = (t / (1.0 - t)).log2() as f32;
            let (mut tp, mut pred) = (0u64, 0u64);
            for (lo, truth) in &evaluated_pairs {
                if *lo >= lt {
                    pred += 1;
                    tp += *truth as u64;
                }
            }
            let c = PairCounts::new(tp, pred, true_pairs);
            out.thresholds.push(ThresholdPoint { threshold: t, true_positive: tp, predicted: pred, precision: c.precision, recall: c.recall, f1: c.f1 });
        }
    }
    Ok(out)
}

impl Evaluation {
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        use std::fmt::Write;
        let _ = writeln!(
            s,
            "records evaluated      {} of {} in the truth file ({} without consent to link, {} not in the warehouse)",
            self.records_evaluated,
            self.records_evaluated + self.records_without_consent + self.records_not_found,
            self.records_without_consent,
            self.records_not_found
        );
        let _ = writeln!(s, "clusters               {} (true entities {})", self.clusters, self.true_entities);
        let p = &self.pairwise;
        let _ = writeln!(s, "pairwise precision     {:.4}  ({} true / {} predicted pairs)", p.precision, p.true_positive, p.true_positive + p.false_positive);
        let _ = writeln!(s, "pairwise recall        {:.4}  ({} found / {} true pairs)", p.recall, p.true_positive, p.true_positive + p.false_negative);
        let _ = writeln!(s, "pairwise F1            {:.4}", p.f1);
        if p.true_positive + p.false_negative == 0 {
            let _ = writeln!(s, "                       (no two evaluated records are one entity: recall says nothing here)");
        }
        let _ = writeln!(s, "B-cubed P / R / F1     {:.4} / {:.4} / {:.4}", self.bcubed_precision, self.bcubed_recall, self.bcubed_f1);
        if self.candidate_pairs > 0 {
            let _ = writeln!(
                s,
                "blocking recall        {:.4}  ({} of {} true pairs among {} distinct candidate record pairs)",
                self.blocking_recall, self.blocking_found, self.blocking_true_pairs, self.candidate_pairs
            );
            let _ = writeln!(s, "\npairwise decisions before clustering, by threshold:");
            let _ = writeln!(s, "  threshold  true pairs  predicted  precision  recall  F1");
            for t in &self.thresholds {
                let _ = writeln!(
                    s,
                    "  {:>9.2}  {:>10}  {:>9}  {:>9.4}  {:>6.4}  {:.4}",
                    t.threshold, t.true_positive, t.predicted, t.precision, t.recall, t.f1
                );
            }
            if !self.inputs_as_committed {
                let _ = writeln!(
                    s,
                    "note: the inputs changed since the last `braid link` (files pulled, the configuration or the braid build): \
                     the figures above the blocking recall are of the committed link, the rest of staging as it is now; \
                     run `braid link` for figures that agree"
                );
            }
            if !self.error_patterns.is_empty() {
                let _ = writeln!(
                    s,
                    "\nmost common wrong pairwise decisions (field agreement levels; then, of all candidate pairs with these levels, how many are one person):"
                );
                for e in &self.error_patterns {
                    let _ = writeln!(
                        s,
                        "  {:>6} {:<15} given {:<20} family {:<20} dob {:<24} sex {:<8} ssn {:<8} contact {:<8} log-odds {:+.1}  one person: {} of {}",
                        e.pairs,
                        e.kind,
                        e.given,
                        e.family,
                        e.dob,
                        e.sex,
                        e.tax_id,
                        e.contact,
                        e.mean_log_odds,
                        e.pattern_true_pairs,
                        e.pattern_pairs
                    );
                }
            }
        }
        s
    }
}

/// Pairwise counts between two sets of record pairs (for tests and benches).
pub fn pair_set(assign: &[(String, String)]) -> HashSet<(String, String)> {
    let mut by: HashMap<&str, Vec<&str>> = HashMap::new();
    for (r, p) in assign {
        by.entry(p).or_default().push(r);
    }
    let mut out = HashSet::new();
    for v in by.values() {
        for i in 0..v.len() {
            for j in i + 1..v.len() {
                let (a, b) = if v[i] < v[j] { (v[i], v[j]) } else { (v[j], v[i]) };
                out.insert((a.to_string(), b.to_string()));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> Keys {
        Keys::from_secret(b"unit-test secret, 32 bytes or more, not real", crate::secret::SecretSource::Env).unwrap()
    }

    fn truth_file(text: &str) -> Result<Truth> {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("braid-truth-{}-{n}.csv", std::process::id()));
        std::fs::write(&path, text).unwrap();
        let t = load_truth(&path, &keys(), &["school", "college"]);
        let _ = std::fs::remove_file(&path);
        t
    }

    fn message(r: Result<Truth>) -> String {
        match r {
            Ok(_) => panic!("accepted"),
            Err(e) => e.to_string(),
        }
    }

    /// Bad rows are named by their line, never by the id they hold.
    #[test]
    fn bad_truth_rows_are_named_by_line() {
        let ok = "partner,record_id,entity\nschool,S1,a\ncollege,C1,a\nschool,S1,a\n";
        assert_eq!(truth_file(ok).unwrap().entity.len(), 2, "a row repeated with the same entity is one record");
        let m = message(truth_file("partner,record_id,entity\n"));
        assert!(m.contains("no records"), "{m}");
        let m = message(truth_file("partner,record_id,entity\nschool,S1,a\nclinic,S7,a\n"));
        assert!(m.contains("line 3") && m.contains("not one in the configuration") && !m.contains("clinic"), "{m}");
        let m = message(truth_file("partner,record_id,entity\nschool,S1,a\n,S7,a\n"));
        assert!(m.contains("line 3: the partner is empty"), "{m}");
        let m = message(truth_file("partner,record_id,entity\nschool,S1,a\nschool, ,a\n"));
        assert!(m.contains("line 3: the record_id is empty"), "{m}");
        let m = message(truth_file("partner,record_id,entity\nschool,S1,a\nschool,S2,\n"));
        assert!(m.contains("line 3: the entity is empty"), "{m}");
        let m = message(truth_file("partner,record_id,entity\nschool,S1,a\ncollege,C1,b\nschool,S1,b\n"));
        assert!(m.contains("lines 2 and 4") && m.contains("two different entities") && !m.contains("S1"), "{m}");
        let m = message(truth_file("partner,record_id,entity\nschool,S1,a\nschool,S2\n"));
        assert!(m.contains("line 3"), "{m}");
    }

    /// Records of the truth file are evaluated, without consent, or not in
    /// the warehouse; none evaluated is an error, not a perfect score.
    #[test]
    fn records_not_linked_are_told_apart_and_none_linked_is_an_error() {
        let k = keys();
        let rk = |p: &str, id: &str| crate::protect::record_key(&k, p, id);
        let t = truth_file("partner,record_id,entity\nschool,S1,a\ncollege,C1,a\nschool,S2,b\nschool,S3,c\ncollege,C9,c\n").unwrap();
        let link = vec![
            (rk("school", "S1"), Some("p1".to_string())),
            (rk("college", "C1"), Some("p1".to_string())),
            (rk("school", "S2"), Some("p2".to_string())),
            (rk("school", "S3"), None),
            (rk("school", "S4"), Some("p3".to_string())),
        ];
        let e = evaluate(&link, &t, None, 0.5).unwrap();
        assert_eq!((e.records_evaluated, e.records_without_consent, e.records_not_found), (3, 1, 1));
        assert_eq!((e.pairwise.true_positive, e.pairwise.false_positive, e.pairwise.false_negative), (1, 0, 0));
        let none = vec![(rk("school", "S3"), None), (rk("school", "S4"), Some("p3".to_string()))];
        let m = evaluate(&none, &t, None, 0.5).unwrap_err().to_string();
        assert!(m.contains("nothing to evaluate") && m.contains("1 have no consent") && m.contains("4 are not in the warehouse"), "{m}");
        assert!(evaluate(&[], &t, None, 0.5).is_err());
    }
}
