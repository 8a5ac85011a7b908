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

use std::collections::HashMap;

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
/// * `clusters[r]`: cluster id of record r (ids are small: at most the
///   number of records);
/// * `previous[r]`: the key record r had after the last run, if any.
///
/// Returns the key of each cluster and the events.
pub fn assign(clusters: &[u32], previous: &[Option<&str>]) -> (HashMap<u32, String>, Vec<KeyEvent>) {
    let mut size = vec![0i32; clusters.iter().max().map_or(0, |m| *m as usize + 1)];
    for c in clusters {
        size[*c as usize] += 1;
    }
    // Previous keys by number, numbered in sorted order: "the smallest key"
    // is the smallest number.
    let mut names: Vec<&str> = previous.iter().flatten().copied().collect();
    names.sort_unstable();
    names.dedup();
    let number: foldhash::HashMap<&str, u32> = names.iter().enumerate().map(|(i, k)| (*k, i as u32)).collect();
    // Records per (previous key, cluster), sorted by key, then cluster.
    let mut pairs: Vec<(u32, u32)> =
        clusters.iter().zip(previous).filter_map(|(c, k)| k.map(|k| (number[k], *c))).collect();
    pairs.sort_unstable();
    let counted: Vec<(u32, u32, i32)> = pairs.chunk_by(|a, b| a == b).map(|g| (g[0].0, g[0].1, g.len() as i32)).collect();
    // Heir of each previous key: most of its records, then the larger
    // cluster, then the smaller cluster id. As (cluster, key, records).
    let mut heirs: Vec<(u32, u32, i32)> = counted
        .chunk_by(|a, b| a.0 == b.0)
        .map(|per_cluster| {
            let (k, c, n) = *per_cluster
                .iter()
                .max_by(|a, b| a.2.cmp(&b.2).then(size[a.1 as usize].cmp(&size[b.1 as usize])).then(b.1.cmp(&a.1)))
                .expect("key has records");
            (c, k, n)
        })
        .collect();
    // A cluster heir to several keys keeps the one with most records there
    // (ties: the smallest key): sorted so that it comes first.
    heirs.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(b.2.cmp(&a.2)).then(a.1.cmp(&b.1)));
    // The previous keys of each cluster's records, with counts.
    let mut previous_of: Vec<(u32, u32, i32)> = counted.iter().map(|(k, c, n)| (*c, *k, *n)).collect();
    previous_of.sort_unstable();
    let mut out: HashMap<u32, String> = HashMap::with_capacity(size.iter().filter(|n| **n > 0).count());
    let mut events = Vec::new();
    let mut issued: std::collections::HashSet<String> = std::collections::HashSet::new();
    let (mut h, mut p) = (0, 0);
    for c in (0..size.len() as u32).filter(|c| size[*c as usize] > 0) {
        let start = h;
        while h < heirs.len() && heirs[h].0 == c {
            h += 1;
        }
        let p_start = p;
        while p < previous_of.len() && previous_of[p].0 == c {
            p += 1;
        }
        if let Some(((_, keep, _), others)) = heirs[start..h].split_first() {
            let keep = names[*keep as usize].to_string();
            for (_, other, n) in others {
                events.push(KeyEvent { event: "merged", person_key: names[*other as usize].to_string(), related_key: Some(keep.clone()), records: *n });
            }
            out.insert(c, keep);
        } else {
            let k = new_key(&|k| number.contains_key(k) || issued.contains(k));
            issued.insert(k.clone());
            // Which previous key did most of these records have (ties:
            // the smallest)?
            match previous_of[p_start..p].iter().max_by(|a, b| a.2.cmp(&b.2).then(b.1.cmp(&a.1))) {
                Some((_, from, n)) => events.push(KeyEvent {
                    event: "split",
                    person_key: k.clone(),
                    related_key: Some(names[*from as usize].to_string()),
                    records: *n,
                }),
                None => events.push(KeyEvent { event: "born", person_key: k.clone(), related_key: None, records: size[c as usize] }),
            }
            out.insert(c, k);
        }
    }
    events.sort_by(|a, b| a.event.cmp(b.event).then(a.person_key.cmp(&b.person_key)));
    (out, events)
}

/// Previous keys that no record carries any more.
pub fn retired(previous_all: &[&str], current: &HashMap<u32, String>, merged: &[KeyEvent]) -> Vec<KeyEvent> {
    let live: foldhash::HashSet<&str> = current.values().map(String::as_str).collect();
    let merged: foldhash::HashSet<&str> =
        merged.iter().filter(|e| e.event == "merged").map(|e| e.person_key.as_str()).collect();
    let mut out: Vec<KeyEvent> = previous_all
        .iter()
        .filter(|k| !live.contains(*k) && !merged.contains(*k))
        .map(|k| KeyEvent { event: "retired", person_key: k.to_string(), related_key: None, records: 0 })
        .collect();
    out.sort_by(|a, b| a.person_key.cmp(&b.person_key));
    out.dedup();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Option<&str> {
        Some(x)
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
    fn ties_are_broken_as_documented() {
        let clusters = [3, 3, 3, 7, 7, 10, 11, 20, 20, 20, 20, 30, 30, 31, 31, 32, 32];
        let prev = [
            // p_a: two records in cluster 3 (which has a new one too), two in 7.
            s("p_a"),
            s("p_a"),
            None,
            s("p_a"),
            s("p_a"),
            // p_b: one record in cluster 10, one in 11, both alone.
            s("p_b"),
            s("p_b"),
            // Cluster 20: two records of p_d, two of p_c.
            s("p_d"),
            s("p_d"),
            s("p_c"),
            s("p_c"),
            // Cluster 30: one record of p_f, one of p_e, whose heirs are 32 and 31.
            s("p_f"),
            s("p_e"),
            s("p_e"),
            s("p_e"),
            s("p_f"),
            s("p_f"),
        ];
        let (keys, ev) = assign(&clusters, &prev);
        let related = |event: &str, key: &str| {
            ev.iter().find(|e| e.event == event && e.person_key == key).and_then(|e| e.related_key.clone())
        };
        // Equal records: the larger cluster is the heir; the other splits off.
        assert_eq!(keys[&3], "p_a");
        assert_eq!(related("split", &keys[&7]).as_deref(), Some("p_a"));
        // Equal records and sizes: the smaller cluster id is the heir.
        assert_eq!(keys[&10], "p_b");
        assert_eq!(related("split", &keys[&11]).as_deref(), Some("p_b"));
        // Heir to two keys with as many records each: the smaller key stays.
        assert_eq!(keys[&20], "p_c");
        assert_eq!(related("merged", "p_d").as_deref(), Some("p_c"));
        // Heir to none, records of two keys alike: split from the smaller.
        assert_eq!((keys[&31].as_str(), keys[&32].as_str()), ("p_e", "p_f"));
        assert_eq!(related("split", &keys[&30]).as_deref(), Some("p_e"));
        assert_eq!(ev.len(), 4, "{ev:?}");
    }

    #[test]
    fn new_keys_are_random_and_not_reused() {
        let a = new_key(&|_| false);
        let b = new_key(&|_| false);
        assert_ne!(a, b);
        assert!(a.starts_with("p_") && a.len() == 18);
    }
}
