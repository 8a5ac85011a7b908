//! Stable pseudonymous person keys.
//!
//! A `person_key` is a random surrogate drawn from a CSPRNG seeded by the operating system's
//! random source when a cluster is born. It is not a function of any
//! identifier, so nobody (not even the holder of the secret) can recompute it
//! from a name. From night to night a person keeps their key:
//!
//! * every previous key has an **heir**: the new cluster holding most of its
//!   records (ties: the larger cluster, then the smaller cluster id);
//! * a cluster that is heir to one key keeps it; heir to several, it keeps
//!   the one with most records there (ties: the smallest key) and the others
//!   are recorded as `merged` into it;
//! * a cluster that is heir to none gets a new key: `born`, or `split` from
//!   the key most of its records had;
//! * a previous key whose records are all gone is `retired`.

use std::collections::{BTreeMap, HashMap};

use rand::RngCore;

/// A change to a person key, for the `person_key_history` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyEvent {
    pub event: &'static str,
    pub person_key: String,
    pub related_key: Option<String>,
    pub records: i32,
}

/// A fresh random person key, `p_` and 16 hex digits.
pub fn new_key(taken: &dyn Fn(&str) -> bool) -> String {
    let mut rng = rand::rng();
    loop {
        let k = format!("p_{:016x}", rng.next_u64());
        if !taken(&k) {
            return k;
        }
    }
}

/// Assign keys to clusters.
///
/// * `clusters[r]`: cluster id of record r;
/// * `previous[r]`: the key record r had after the last run, if any.
///
/// Returns the key of each cluster and the events.
pub fn assign(clusters: &[u32], previous: &[Option<String>]) -> (HashMap<u32, String>, Vec<KeyEvent>) {
    // Records per (previous key, cluster).
    let mut by_key: BTreeMap<&str, BTreeMap<u32, i32>> = BTreeMap::new();
    let mut size: HashMap<u32, i32> = HashMap::new();
    for (r, c) in clusters.iter().enumerate() {
        *size.entry(*c).or_default() += 1;
        if let Some(k) = &previous[r] {
            *by_key.entry(k.as_str()).or_default().entry(*c).or_default() += 1;
        }
    }
    // Heir of each previous key.
    let mut heirs: BTreeMap<u32, Vec<(&str, i32)>> = BTreeMap::new();
    for (k, per_cluster) in &by_key {
        let (c, n) = per_cluster
            .iter()
            .max_by(|a, b| a.1.cmp(b.1).then(size[a.0].cmp(&size[b.0])).then(b.0.cmp(a.0)))
            .map(|(c, n)| (*c, *n))
            .expect("key has records");
        heirs.entry(c).or_default().push((k, n));
    }
    // The previous keys of each cluster's records, with counts (one pass, not
    // one scan of every record per new cluster).
    let mut previous_of: HashMap<u32, Vec<(&str, i32)>> = HashMap::new();
    for (k, per_cluster) in &by_key {
        for (c, n) in per_cluster {
            previous_of.entry(*c).or_default().push((k, *n));
        }
    }
    let all_prev: std::collections::HashSet<&str> = by_key.keys().copied().collect();
    let mut out: HashMap<u32, String> = HashMap::new();
    let mut events = Vec::new();
    let mut cluster_ids: Vec<u32> = size.keys().copied().collect();
    cluster_ids.sort_unstable();
    let mut issued: std::collections::HashSet<String> = std::collections::HashSet::new();
    for c in cluster_ids {
        match heirs.get_mut(&c) {
            Some(keys) => {
                keys.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
                let keep = keys[0].0.to_string();
                for (other, n) in keys.iter().skip(1) {
                    events.push(KeyEvent { event: "merged", person_key: other.to_string(), related_key: Some(keep.clone()), records: *n });
                }
                out.insert(c, keep);
            }
            None => {
                let k = new_key(&|k| all_prev.contains(k) || issued.contains(k));
                issued.insert(k.clone());
                // Which previous key did most of these records have?
                let from = previous_of.get(&c).map(Vec::as_slice).unwrap_or(&[]);
                match from.iter().max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(a.0))) {
                    Some((p, n)) => events.push(KeyEvent { event: "split", person_key: k.clone(), related_key: Some(p.to_string()), records: *n }),
                    None => events.push(KeyEvent { event: "born", person_key: k.clone(), related_key: None, records: size[&c] }),
                }
                out.insert(c, k);
            }
        }
    }
    events.sort_by(|a, b| a.event.cmp(b.event).then(a.person_key.cmp(&b.person_key)));
    (out, events)
}

/// Previous keys that no record carries any more.
pub fn retired(previous_all: &[String], current: &HashMap<u32, String>, merged: &[KeyEvent]) -> Vec<KeyEvent> {
    let live: std::collections::HashSet<&str> = current.values().map(String::as_str).collect();
    let merged: std::collections::HashSet<&str> =
        merged.iter().filter(|e| e.event == "merged").map(|e| e.person_key.as_str()).collect();
    let mut out: Vec<KeyEvent> = previous_all
        .iter()
        .filter(|k| !live.contains(k.as_str()) && !merged.contains(k.as_str()))
        .map(|k| KeyEvent { event: "retired", person_key: k.clone(), related_key: None, records: 0 })
        .collect();
    out.sort_by(|a, b| a.person_key.cmp(&b.person_key));
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Option<String> {
        Some(x.to_string())
    }

    #[test]
    fn keys_survive_new_records() {
        // Records 0,1 were person A; record 2 is new and joins them.
        let (keys, ev) = assign(&[5, 5, 5], &[s("p_a"), s("p_a"), None]);
        assert_eq!(keys[&5], "p_a");
        assert!(ev.is_empty());
    }

    #[test]
    fn merges_and_splits_are_recorded() {
        // A and B merge into one cluster; C splits in two.
        let clusters = [1, 1, 1, 2, 2, 3];
        let prev = [s("p_a"), s("p_a"), s("p_b"), s("p_c"), s("p_c"), s("p_c")];
        let (keys, ev) = assign(&clusters, &prev);
        assert_eq!(keys[&1], "p_a");
        assert_eq!(keys[&2], "p_c");
        assert_ne!(keys[&3], "p_c");
        assert!(ev.iter().any(|e| e.event == "merged" && e.person_key == "p_b" && e.related_key.as_deref() == Some("p_a")));
        assert!(ev.iter().any(|e| e.event == "split" && e.related_key.as_deref() == Some("p_c")));
    }

    #[test]
    fn new_keys_are_random_and_not_reused() {
        let a = new_key(&|_| false);
        let b = new_key(&|_| false);
        assert_ne!(a, b);
        assert!(a.starts_with("p_") && a.len() == 18);
    }
}
