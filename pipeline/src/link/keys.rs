//! Stable pseudonymous person keys.
//!
//! A `person_key` is a random surrogate drawn from a CSPRNG seeded by the operating system's
//! random source when a cluster is born. It is not a function of any
//! identifier, so nobody (not even the holder of the secret) can recompute it
//! from a name. From night to night a person keeps their key:
//!
//! * every previous key has an **heir**: the new cluster holding most of its
//!   own records (those that do not remember a former key), then most of
//!   its records (ties: the larger cluster, then the smaller cluster id);
//! * a cluster that is heir to one key keeps it; heir to several, it keeps
//!   the one with most records there (ties: the smallest key) and the others
//!   are recorded as `merged` into it;
//! * a cluster that is heir to none gets back a key that was merged away,
//!   if most of its records (of those that had a key) held that key before
//!   the merge and no record held it last night: `restored`. A false merge undone by a later
//!   night thus gives each person their own key again;
//! * otherwise it gets a new key: `born`, or `split` from the key most of
//!   its records had;
//! * a previous key whose records are all gone is `retired`.
//!
//! The key a record held before its cluster was merged into another is its
//! *former key* (the `link` table's `former_key`); it is what a restoration
//! looks at, and it is cleared once the record has that key again.

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

/// What [`assign`] decided.
pub struct Assigned {
    /// The key of each cluster.
    pub keys: HashMap<u32, String>,
    pub events: Vec<KeyEvent>,
    /// Each record's former key now (in the order of the records given).
    pub former: Vec<Option<String>>,
}

/// Assign keys to clusters.
///
/// * `clusters[r]`: cluster id of record r (ids are small: at most the
///   number of records);
/// * `previous[r]`: the key record r had after the last run, if any.
///
/// * `former[r]`: record r's former key after the last run, if any.
///
/// Returns the key of each cluster, the events, and each record's former
/// key now.
pub fn assign(clusters: &[u32], previous: &[Option<&str>], former: &[Option<&str>]) -> Assigned {
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
    // A record that remembers a former key holds its present one only
    // since a merge: it is not one of that key's own records.
    let mut pairs: Vec<(u32, u32, bool)> = clusters
        .iter()
        .zip(previous)
        .zip(former)
        .filter_map(|((c, k), f)| k.map(|k| (number[k], *c, f.is_none())))
        .collect();
    pairs.sort_unstable();
    // (key, cluster, records, own records)
    let counted: Vec<(u32, u32, i32, i32)> = pairs
        .chunk_by(|a, b| a.0 == b.0 && a.1 == b.1)
        .map(|g| (g[0].0, g[0].1, g.len() as i32, g.iter().filter(|x| x.2).count() as i32))
        .collect();
    // Heir of each previous key: most of its own records, then most of its
    // records, then the larger cluster, then the smaller cluster id. As
    // (cluster, key, records).
    let mut heirs: Vec<(u32, u32, i32)> = counted
        .chunk_by(|a, b| a.0 == b.0)
        .map(|per_cluster| {
            let (k, c, n, _) = *per_cluster
                .iter()
                .max_by(|a, b| {
                    a.3.cmp(&b.3).then(a.2.cmp(&b.2)).then(size[a.1 as usize].cmp(&size[b.1 as usize])).then(b.1.cmp(&a.1))
                })
                .expect("key has records");
            (c, k, n)
        })
        .collect();
    // A cluster heir to several keys keeps the one with most records there
    // (ties: the smallest key): sorted so that it comes first.
    heirs.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(b.2.cmp(&a.2)).then(a.1.cmp(&b.1)));
    // The previous keys of each cluster's records, with counts.
    let mut previous_of: Vec<(u32, u32, i32)> = counted.iter().map(|(k, c, n, _)| (*c, *k, *n)).collect();
    previous_of.sort_unstable();
    // The keys that stay (each cluster's first heir) and the clusters heir
    // to none.
    let mut kept: foldhash::HashSet<u32> = foldhash::HashSet::default();
    let mut has_heir = vec![false; size.len()];
    for g in heirs.chunk_by(|a, b| a.0 == b.0) {
        kept.insert(g[0].1);
        has_heir[g[0].0 as usize] = true;
    }
    // A key some record held last night is not restored tonight: it is
    // kept, or merged into another tonight (and may come back later).
    let restored = restorations(clusters, previous, former, &has_heir, &|k| number.contains_key(k));
    // A new key is none of the keys in use or remembered.
    let remembered: foldhash::HashSet<&str> = former.iter().flatten().copied().collect();
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
            // Which previous key did most of these records have (ties:
            // the smallest)?
            let from = previous_of[p_start..p].iter().max_by(|a, b| a.2.cmp(&b.2).then(b.1.cmp(&a.1)));
            let k = match (restored.get(&c), from) {
                (Some((k, n)), from) => {
                    events.push(KeyEvent {
                        event: "restored",
                        person_key: k.to_string(),
                        related_key: from.map(|(_, f, _)| names[*f as usize].to_string()),
                        records: *n,
                    });
                    k.to_string()
                }
                (None, from) => {
                    let k = new_key(&|k| number.contains_key(k) || issued.contains(k) || remembered.contains(k));
                    issued.insert(k.clone());
                    events.push(match from {
                        Some((_, from, n)) => KeyEvent {
                            event: "split",
                            person_key: k.clone(),
                            related_key: Some(names[*from as usize].to_string()),
                            records: *n,
                        },
                        None => KeyEvent { event: "born", person_key: k.clone(), related_key: None, records: size[c as usize] },
                    });
                    k
                }
            };
            out.insert(c, k);
        }
    }
    events.sort_by(|a, b| a.event.cmp(b.event).then(a.person_key.cmp(&b.person_key)));
    // Former keys now: kept until the record has that key again; a record
    // whose key was merged into another's remembers it.
    let former = clusters
        .iter()
        .zip(previous)
        .zip(former)
        .map(|((c, p), f)| {
            let now = out[c].as_str();
            match (f, p) {
                (Some(f), _) if *f == now => None,
                (Some(f), _) => Some(f.to_string()),
                (None, Some(p)) if *p != now && !kept.contains(&number[p]) => Some(p.to_string()),
                _ => None,
            }
        })
        .collect();
    Assigned { keys: out, events, former }
}

/// Clusters heir to none that get a former key back: the former key most
/// of their records hold (ties: the smaller key), if those are more than
/// half of the cluster's records that had a key and no record held the key
/// last night (`held_last_night`). Each key goes to one cluster: the one with most records
/// holding it (ties: the smaller cluster id).
fn restorations<'a>(
    clusters: &[u32],
    previous: &[Option<&str>],
    former: &[Option<&'a str>],
    has_heir: &[bool],
    held_last_night: &dyn Fn(&str) -> bool,
) -> HashMap<u32, (&'a str, i32)> {
    let mut keyed = vec![0i32; has_heir.len()];
    let mut held: Vec<(u32, &str)> = Vec::new();
    for ((c, p), f) in clusters.iter().zip(previous).zip(former) {
        if has_heir[*c as usize] || p.is_none() {
            continue;
        }
        keyed[*c as usize] += 1;
        if let Some(f) = f {
            held.push((*c, *f));
        }
    }
    held.sort_unstable();
    let mut best: Vec<(i32, &str, u32)> = held
        .chunk_by(|a, b| a == b)
        .map(|g| (g.len() as i32, g[0].1, g[0].0))
        .filter(|(n, k, c)| n * 2 > keyed[*c as usize] && !held_last_night(k))
        .collect();
    best.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)).then(a.2.cmp(&b.2)));
    let mut taken: foldhash::HashSet<&str> = foldhash::HashSet::default();
    let mut out: HashMap<u32, (&str, i32)> = HashMap::new();
    for (n, k, c) in best {
        if !out.contains_key(&c) && taken.insert(k) {
            out.insert(c, (k, n));
        }
    }
    out
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
        let Assigned { keys, events: ev, .. } = assign(&[5, 5, 5], &[s("p_a"), s("p_a"), None], &[None; 3]);
        assert_eq!(keys[&5], "p_a");
        assert!(ev.is_empty());
    }

    #[test]
    fn merges_and_splits_are_recorded() {
        // A and B merge into one cluster; C splits in two.
        let clusters = [1, 1, 1, 2, 2, 3];
        let prev = [s("p_a"), s("p_a"), s("p_b"), s("p_c"), s("p_c"), s("p_c")];
        let Assigned { keys, events: ev, former } = assign(&clusters, &prev, &[None; 6]);
        assert_eq!(keys[&1], "p_a");
        assert_eq!(keys[&2], "p_c");
        assert_ne!(keys[&3], "p_c");
        assert!(ev.iter().any(|e| e.event == "merged" && e.person_key == "p_b" && e.related_key.as_deref() == Some("p_a")));
        assert!(ev.iter().any(|e| e.event == "split" && e.related_key.as_deref() == Some("p_c")));
        // B's record remembers its key; A's and C's records have none to.
        assert_eq!(former, vec![None, None, Some("p_b".to_string()), None, None, None]);
    }

    #[test]
    fn a_false_merge_undone_gives_each_person_their_own_key_back() {
        // Night 1: A (records 0-2) and B (3-4) apart.
        let n1 = assign(&[0, 0, 0, 3, 3], &[None; 5], &[None; 5]);
        let (a, b) = (n1.keys[&0].clone(), n1.keys[&3].clone());
        // Night 2: merged. A's key stays (more records); B's is merged.
        let prev: Vec<Option<&str>> = vec![Some(&a), Some(&a), Some(&a), Some(&b), Some(&b)].into_iter().map(|k| k.map(String::as_str)).collect();
        let n2 = assign(&[0; 5], &prev, &[None; 5]);
        assert_eq!(n2.keys[&0], a);
        assert_eq!(n2.former, vec![None, None, None, Some(b.clone()), Some(b.clone())]);
        // Night 3: apart again, with a new record (5) of B. B gets its key
        // back, recorded as restored from A's; no record remembers a key now.
        let prev: Vec<Option<&str>> = vec![Some(a.as_str()); 5].into_iter().chain([None]).collect();
        let former: Vec<Option<&str>> = n2.former.iter().map(|f| f.as_deref()).chain([None]).collect();
        let n3 = assign(&[0, 0, 0, 3, 3, 3], &prev, &former);
        assert_eq!((n3.keys[&0].as_str(), n3.keys[&3].as_str()), (a.as_str(), b.as_str()));
        assert_eq!(
            n3.events,
            vec![KeyEvent { event: "restored", person_key: b.clone(), related_key: Some(a.clone()), records: 2 }]
        );
        assert!(n3.former.iter().all(Option::is_none));
    }

    #[test]
    fn a_former_key_goes_back_only_to_most_of_its_records_and_only_when_free() {
        let (a, b, c) = ("p_a", "p_b", "p_c");
        // Records 0-3 are one cluster under p_a; 2 and 3 were p_b's.
        // Split three ways: {0, 1} keeps p_a, {2} and {3} are heir to none.
        // One of them gets p_b back (the smaller cluster id on a tie), the
        // other is a split of p_a, and its record still remembers p_b.
        let prev = [s(a), s(a), s(a), s(a)];
        let former = [None, None, s(b), s(b)];
        let r = assign(&[0, 0, 2, 3], &prev, &former);
        assert_eq!(r.keys[&2], b);
        assert_ne!(r.keys[&3], b);
        assert!(r.events.iter().any(|e| e.event == "split" && e.person_key == r.keys[&3] && e.related_key.as_deref() == Some(a)));
        assert_eq!(r.former, vec![None, None, None, Some(b.to_string())]);
        // A cluster where p_b's records are half of those that had a key does
        // not take it: a new key, split from p_a.
        let r = assign(&[0, 0, 2, 2], &prev, &[None, None, s(b), None]);
        assert_ne!(r.keys[&2], b);
        assert!(r.events.iter().all(|e| e.event != "restored"));
        // A former key that a cluster keeps (p_c still holds records) is not
        // taken from it.
        let r = assign(&[0, 0, 2, 3], &[s(a), s(a), s(a), s(c)], &[None, None, s(c), None]);
        assert_eq!(r.keys[&3], c);
        assert!(r.events.iter().all(|e| e.event != "restored"));
        assert_eq!(r.former[2], Some(c.to_string()));
        // The heir of p_a is the cluster of its own record (5), not that of
        // the record remembering p_b (1), although 1 is the smaller id; so
        // each gets its key back.
        let r = assign(&[5, 1], &[s(a), s(a)], &[None, s(b)]);
        assert_eq!((r.keys[&5].as_str(), r.keys[&1].as_str()), (a, b));
        // p_b is merged into p_a tonight (record 2): the record that
        // remembers p_b (3), split off alone, does not get it back the
        // same night, and both records remember it.
        let r = assign(&[0, 0, 0, 3], &[s(a), s(a), s(b), s(a)], &[None, None, None, s(b)]);
        assert_eq!(r.keys[&0], a);
        assert!(r.events.iter().any(|e| e.event == "merged" && e.person_key == b));
        assert!(r.keys[&3] != b && r.events.iter().all(|e| e.event != "restored"), "{:?}", r.events);
        assert_eq!(r.former, vec![None, None, Some(b.to_string()), Some(b.to_string())]);
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
        let Assigned { keys, events: ev, .. } = assign(&clusters, &prev, &[None; 17]);
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
