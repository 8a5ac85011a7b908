//! Blocking: which pairs of records are worth comparing.
//!
//! Several recipes are unioned, so that a true pair lost by one (a typo in
//! the birth date, a name written in another order, a placeholder date) is
//! found by another. Every key is built from tokens, never from values.
//!
//! A block of at most `max_block` entries is compared in full. A larger
//! block (a very common name with a common birth year) is not skipped: its
//! entries are sorted by a second token of the recipe (another name part,
//! the birth year, the ZIP code) and each entry is compared with the next
//! `window` entries, so records that share that second token still meet
//! while the block costs `n * window` pairs instead of `n² / 2`.
//! `braid link blocking` reports what each recipe proposes and, with a truth
//! file, which true pairs only it finds.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::protect::encode::Identity;

#[inline]
fn mix(a: u64, b: u64, tag: u64) -> u64 {
    // splitmix64 finalizer over the combination.
    let mut z = a ^ b.rotate_left(29) ^ tag.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The blocking recipes: tag and what the key is made of. (Tag 1, name
/// part + birth year, is retired: docs/decisions.md, decision 20.)
pub const RECIPES: &[(u64, &str)] = &[
    (2, "name part + birth month and day"),
    (3, "phonetic name part + birth date (or day/month swapped)"),
    (4, "name variant group + birth date"),
    (5, "nickname group + birth date"),
    (6, "two name parts, either order"),
    (13, "two phonetic name parts, either order"),
    (7, "birth date (or day/month swapped)"),
    (8, "phone"),
    (9, "email"),
    (10, "SSN/ITIN"),
    (11, "street address + ZIP"),
    (14, "name part + ZIP"),
    (15, "street line, any ZIP"),
    (16, "house number + ZIP"),
    (17, "street name + house number, any ZIP"),
    (18, "street name + name initials (oversized blocks skipped)"),
];

/// The recipe whose oversized blocks are skipped instead of compared in a
/// window: a weak supplement (a common street with common initials says
/// little about two records).
const SKIPS_OVERSIZED: u64 = 18;
/// Set in a key's `order` when its block, if oversized, is skipped.
const SKIP_OVERSIZED: u32 = 1 << 31;

/// How blocks are turned into pairs.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Blocks up to this size are compared in full.
    pub max_block: usize,
    /// In a larger block, each entry meets this many following entries.
    pub window: usize,
}

/// One blocking key: recipe tag, key, and the order of the entry inside an
/// oversized block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Key {
    pub tag: u64,
    pub key: u64,
    pub order: u32,
}

/// The blocking keys of one identity, with the recipe (tag) of each.
pub fn keys_tagged(id: &Identity, out: &mut Vec<Key>) {
    out.clear();
    // Orders are truncated tokens; the top bit is kept for SKIP_OVERSIZED.
    let mut push = |tag: u64, a: u64, b: u64, order: u64| {
        let order = (order as u32 & !SKIP_OVERSIZED) | if tag == SKIPS_OVERSIZED { SKIP_OVERSIZED } else { 0 };
        out.push(Key { tag, key: mix(a, b, tag), order })
    };
    let dob = id.dob.filter(|d| !d.placeholder);
    let year = id.dob.map_or(0, |d| d.year);
    let core: Vec<u64> = id.parts.iter().filter(|p| !p.role.is_glued()).map(|p| p.exact).collect();
    // Inside a name block, entries are ordered by another part of the name.
    let other = |exact: u64| core.iter().copied().filter(|e| *e != exact).min().unwrap_or(0);
    for p in &id.parts {
        let o = other(p.exact);
        if let Some(d) = &dob {
            push(2, p.exact, d.month_day, o);
            if p.phonetic[0] != 0 {
                push(3, p.phonetic[0], d.full, o);
                if d.swapped != 0 {
                    push(3, p.phonetic[0], d.swapped, o);
                }
            }
            for v in p.variants() {
                push(4, *v, d.full, o);
            }
            for v in p.nicknames() {
                push(5, *v, d.full, o);
            }
        }
    }
    // Two name parts, in either order: survives any change to the birth
    // date. Ordered by birth year inside a large block.
    for i in 0..core.len() {
        for j in i + 1..core.len() {
            let (a, b) = if core[i] < core[j] { (core[i], core[j]) } else { (core[j], core[i]) };
            if a != b {
                push(6, a, b, year);
            }
        }
    }
    let phon: Vec<u64> =
        id.parts.iter().filter(|p| !p.role.is_glued() && p.phonetic[0] != 0).map(|p| p.phonetic[0]).collect();
    for i in 0..phon.len() {
        for j in i + 1..phon.len() {
            let (a, b) = if phon[i] < phon[j] { (phon[i], phon[j]) } else { (phon[j], phon[i]) };
            if a != b {
                push(13, a, b, year);
            }
        }
    }
    // A name part in one ZIP code: survives a birth date that changed
    // along with the other name. Ordered by birth year.
    if id.zip5 != 0 {
        for p in id.parts.iter().filter(|p| !p.role.is_glued()) {
            push(14, p.exact, id.zip5, year);
        }
    }
    // A birth date alone: ordered by ZIP code.
    if let Some(d) = &dob {
        push(7, d.full, 0, id.zip5);
        if d.swapped != 0 {
            push(7, d.swapped, 0, id.zip5);
        }
    }
    // The same street line in any ZIP code (ZIP codes get typos too), from
    // its Bloom filter: equal lines give equal filters. Ordered by ZIP.
    if id.has_street() {
        let w = id.street_bloom;
        push(15, w[0] ^ w[1].rotate_left(17), w[2] ^ w[3].rotate_left(41), id.zip5);
    }
    // The house number in its ZIP code: survives a mistyped street name
    // along with changed names. Ordered by birth year.
    if id.house_zip != 0 {
        push(16, id.house_zip, 0, year);
    }
    // The street's name word with the house number in any ZIP code, or with
    // the name initials: survive a mistyped street type, a changed house
    // number, ZIP code or city, along with typos in both names and a changed
    // birth date. Ordered by birth year.
    if id.street_house != 0 {
        push(17, id.street_house, 0, year);
    }
    if id.street_initials != 0 {
        push(18, id.street_initials, 0, year);
    }
    for (v, tag) in [(id.phone, 8), (id.email, 9), (id.tax_id, 10), (id.address, 11)] {
        if v != 0 {
            push(tag, v, 0, 0);
        }
    }
    out.sort_unstable();
    out.dedup_by(|a, b| a.tag == b.tag && a.key == b.key);
}

/// Every pair of entries one block proposes: all of them in a small block,
/// each entry with the next `window` in a large one (none, when its recipe
/// skips oversized blocks). `block` is sorted by (key, order). Returns
/// whether the block was oversized.
#[inline]
fn block_pairs(block: &[(u64, u32, u32)], limits: Limits, mut f: impl FnMut(u32, u32)) -> bool {
    let n = block.len();
    let windowed = n > limits.max_block;
    if windowed && block[0].1 & SKIP_OVERSIZED != 0 {
        return true;
    }
    let reach = if windowed { limits.window } else { n };
    for x in 0..n {
        for y in x + 1..n.min(x + 1 + reach) {
            f(block[x].2, block[y].2);
        }
    }
    windowed
}

/// What one blocking recipe contributes (`braid link blocking`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct RecipeStats {
    pub recipe: String,
    pub blocks: u64,
    pub largest_block: u64,
    /// Blocks larger than `max_block`, compared in a window, and the entries in them.
    pub windowed_blocks: u64,
    pub windowed_entries: u64,
    /// Pairs of different records proposed (before deduplication across recipes).
    pub pairs: u64,
    /// With a truth file: true record pairs proposed, and those no other recipe proposes.
    pub true_pairs: Option<u64>,
    pub only_here: Option<u64>,
}

/// The whole blocking report.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BlockingReport {
    pub max_block: usize,
    pub window: usize,
    pub recipes: Vec<RecipeStats>,
    /// Distinct candidate record pairs over all recipes.
    pub candidate_pairs: u64,
    /// With a truth file: true record pairs, those proposed by some recipe,
    /// and those connected by a chain of proposed true pairs (what
    /// clustering can reach at best).
    pub true_pairs: Option<u64>,
    pub found: Option<u64>,
    pub reachable: Option<u64>,
}

/// Per-recipe blocking statistics. `entity[r]`: the true entity of record
/// r, when a truth file is given.
pub fn recipe_report(ids: &[Option<&Identity>], group: &[u32], limits: Limits, entity: Option<&[Option<u32>]>) -> BlockingReport {
    let mut by_tag: BTreeMap<u64, Vec<(u64, u32, u32)>> = Default::default();
    let mut buf = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        if let Some(id) = id {
            keys_tagged(id, &mut buf);
            for k in &buf {
                by_tag.entry(k.tag).or_default().push((k.key, k.order, i as u32));
            }
        }
    }
    // True record pair -> bit set of the recipes that propose it.
    let mut found: HashMap<(u32, u32), u32> = Default::default();
    let mut all: HashSet<u64> = Default::default();
    let mut recipes = Vec::new();
    for (bit, (tag, name)) in RECIPES.iter().enumerate() {
        let mut st = RecipeStats {
            recipe: name.to_string(),
            blocks: 0,
            largest_block: 0,
            windowed_blocks: 0,
            windowed_entries: 0,
            pairs: 0,
            true_pairs: None,
            only_here: None,
        };
        let Some(mut entries) = by_tag.remove(tag) else {
            recipes.push(st);
            continue;
        };
        entries.sort_unstable();
        for block in entries.chunk_by(|a, b| a.0 == b.0) {
            st.blocks += 1;
            st.largest_block = st.largest_block.max(block.len() as u64);
            let windowed = block_pairs(block, limits, |a, b| {
                let (ra, rb) = (group[a as usize], group[b as usize]);
                if ra == rb {
                    return;
                }
                st.pairs += 1;
                let (ra, rb) = (ra.min(rb), ra.max(rb));
                all.insert(((ra as u64) << 32) | rb as u64);
                if let Some(ent) = entity
                    && let (Some(ea), Some(eb)) = (ent[ra as usize], ent[rb as usize])
                    && ea == eb
                {
                    *found.entry((ra, rb)).or_default() |= 1 << bit;
                }
            });
            if windowed {
                st.windowed_blocks += 1;
                st.windowed_entries += block.len() as u64;
            }
        }
        recipes.push(st);
    }
    let mut report = BlockingReport {
        max_block: limits.max_block,
        window: limits.window,
        recipes,
        candidate_pairs: all.len() as u64,
        true_pairs: None,
        found: None,
        reachable: None,
    };
    if let Some(ent) = entity {
        // Records with identities, by entity.
        let records: Vec<u32> = {
            let mut r: Vec<u32> = group.iter().zip(ids).filter(|(_, id)| id.is_some()).map(|(g, _)| *g).collect();
            r.sort_unstable();
            r.dedup();
            r
        };
        let pairs_in = |sizes: HashMap<(u32, u32), u64>| sizes.values().map(|n| n * n.saturating_sub(1) / 2).sum::<u64>();
        let mut uf = super::cluster::Clusters::new(records.last().map_or(0, |m| *m as usize + 1));
        for (a, b) in found.keys() {
            uf.union(*a, *b);
        }
        let mut per_entity: HashMap<(u32, u32), u64> = Default::default();
        let mut per_component: HashMap<(u32, u32), u64> = Default::default();
        for r in &records {
            if let Some(e) = ent[*r as usize] {
                *per_entity.entry((e, 0)).or_default() += 1;
                *per_component.entry((e, uf.find(*r))).or_default() += 1;
            }
        }
        report.true_pairs = Some(pairs_in(per_entity));
        report.found = Some(found.len() as u64);
        report.reachable = Some(pairs_in(per_component));
        for (bit, st) in report.recipes.iter_mut().enumerate() {
            let mask = 1u32 << bit;
            st.true_pairs = Some(found.values().filter(|m| *m & mask != 0).count() as u64);
            st.only_here = Some(found.values().filter(|m| **m == mask).count() as u64);
        }
    }
    report
}

/// Result of blocking.
#[derive(Debug, Default)]
pub struct Candidates {
    /// Candidate pairs (i < j), node indices, sorted and unique.
    pub pairs: Pairs,
    /// Blocks larger than `max_block`, compared in a window.
    pub windowed_blocks: usize,
}

/// Two node indices, the smaller first.
pub type Pair = (u32, u32);

/// Candidate pairs (i < j), sorted and unique, left in the buckets they
/// were sorted and deduplicated in. Copied into one list they would take as
/// much memory again (600 MB at a million records), all of it fresh pages
/// the kernel zeroes first, for nothing: every reader goes through them in
/// order.
#[derive(Debug, Default)]
pub struct Pairs {
    buckets: Vec<Vec<Pair>>,
    len: usize,
}

impl Pairs {
    /// Buckets sorted and deduplicated each, every pair of a bucket before
    /// every pair of the next.
    pub fn new(mut buckets: Vec<Vec<Pair>>) -> Pairs {
        buckets.retain(|b| !b.is_empty());
        let len = buckets.iter().map(Vec::len).sum();
        Pairs { buckets, len }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn contains(&self, pair: &Pair) -> bool {
        let i = self.buckets.partition_point(|b| b.last().expect("no empty bucket") < pair);
        self.buckets.get(i).is_some_and(|b| b.binary_search(pair).is_ok())
    }

    /// Every pair, in order.
    pub fn iter(&self) -> impl Iterator<Item = &Pair> + '_ {
        self.buckets.iter().flatten()
    }

    /// Runs of at most `n` consecutive pairs, in order, each with the
    /// values at the same places of `values` (one per pair).
    pub fn chunks_with<'a, T>(&'a self, n: usize, values: &'a [T]) -> Vec<(&'a [Pair], &'a [T])> {
        assert_eq!(values.len(), self.len, "one value per pair");
        let mut rest = values;
        self.runs(n).map(|c| (c, rest.split_off(..c.len()).expect("one value per pair"))).collect()
    }

    /// Runs of at most `n` consecutive pairs (none spans two buckets).
    fn runs(&self, n: usize) -> impl Iterator<Item = &[Pair]> + '_ {
        self.buckets.iter().flat_map(move |b| b.chunks(n.max(1)))
    }

    /// [`Pairs::chunks_with`], the values to be written.
    pub fn chunks_with_mut<'a, T>(&'a self, n: usize, values: &'a mut [T]) -> Vec<(&'a [Pair], &'a mut [T])> {
        assert_eq!(values.len(), self.len, "one value per pair");
        let mut rest = values;
        self.runs(n).map(|c| (c, rest.split_off_mut(..c.len()).expect("one value per pair"))).collect()
    }

    pub fn to_vec(&self) -> Vec<Pair> {
        self.iter().copied().collect()
    }
}

/// Candidate pairs among `nodes` (identities). `group[i]` is the record of
/// node i; pairs within one record are not candidates (they are linked
/// already).
pub fn candidates(ids: &[Option<&Identity>], group: &[u32], limits: Limits) -> Candidates {
    // (tag-mixed key, order, node); the tag is already mixed into the key.
    // Every step runs on all cores. Each thread makes the keys of a range of
    // nodes into partitions by the key's top bits (keys are mixed, so the
    // partitions are even). A block's entries share their key, so a
    // partition holds whole blocks: partitions are sorted on their own.
    let t = std::time::Instant::now();
    let threads = super::threads();
    let partition_of = |key: u64| (key >> (64 - PARTITION_BITS)) as usize;
    let per_thread: Vec<Vec<Vec<(u64, u32, u32)>>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|k| {
                let range = ids.len() * k / threads..ids.len() * (k + 1) / threads;
                s.spawn(move || {
                    let mut parts: Vec<Vec<(u64, u32, u32)>> =
                        (0..PARTITIONS).map(|_| Vec::with_capacity(range.len() * 24 / PARTITIONS)).collect();
                    let mut buf = Vec::new();
                    for i in range {
                        if let Some(id) = ids[i] {
                            keys_tagged(id, &mut buf);
                            for k in &buf {
                                parts[partition_of(k.key)].push((k.key, k.order, i as u32));
                            }
                        }
                    }
                    parts
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("blocking thread")).collect()
    });
    super::phase("blocking: keys", t);
    let partitions: Vec<Vec<(u64, u32, u32)>> = on_every_core(by_part(per_thread, PARTITIONS), threads, |pieces| {
        let mut all = joined(pieces);
        all.sort_unstable();
        all
    });
    super::phase("blocking: sorted", t);
    // The same pair comes out of many blocks. Pairs go to buckets by their
    // first node's range; each bucket is then sorted and deduplicated on its
    // own, and the buckets, in order, are the sorted pairs. Each thread
    // generates the pairs of the partitions it takes into buckets of its
    // own; a bucket's parts are then joined, sorted and deduplicated, and
    // the buckets copied into place.
    let nodes = ids.len().max(1) as u64;
    let bucket_of = |a: u32| (a as u64 * BUCKETS as u64 / nodes) as usize;
    let next = std::sync::atomic::AtomicUsize::new(0);
    let generated: Vec<(Vec<Vec<Pair>>, usize)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let (next, partitions) = (&next, &partitions);
                s.spawn(move || {
                    let mut buckets: Vec<Vec<Pair>> = vec![Vec::new(); BUCKETS];
                    let mut windowed = 0;
                    while let Some(partition) = partitions.get(next.fetch_add(1, std::sync::atomic::Ordering::Relaxed)) {
                        for block in partition.chunk_by(|a, b| a.0 == b.0) {
                            let was_windowed = block_pairs(block, limits, |a, b| {
                                if group[a as usize] != group[b as usize] {
                                    let (a, b) = if a < b { (a, b) } else { (b, a) };
                                    buckets[bucket_of(a)].push((a, b));
                                }
                            });
                            windowed += was_windowed as usize;
                        }
                    }
                    (buckets, windowed)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("blocking thread")).collect()
    });
    drop(partitions);
    let windowed = generated.iter().map(|g| g.1).sum();
    let per_thread: Vec<Vec<Vec<(u32, u32)>>> = generated.into_iter().map(|g| g.0).collect();
    super::phase("blocking: generated", t);
    let buckets: Vec<Vec<(u32, u32)>> = on_every_core(by_part(per_thread, BUCKETS), threads, |pieces| {
        let mut b = joined(pieces);
        b.sort_unstable();
        b.dedup();
        b
    });
    super::phase("blocking: deduplicated", t);
    Candidates { pairs: Pairs::new(buckets), windowed_blocks: windowed }
}

/// Buckets of candidate pairs (by first node) sorted and deduplicated apart.
const BUCKETS: usize = 256;

/// Partitions of the blocking entries (by the key's top bits).
const PARTITION_BITS: u32 = 8;
const PARTITIONS: usize = 1 << PARTITION_BITS;

/// Lists made per thread, each cut into `parts` pieces, regrouped by
/// piece: `out[piece][thread]`.
fn by_part<T>(per_thread: Vec<Vec<Vec<T>>>, parts: usize) -> Vec<Vec<Vec<T>>> {
    let mut out: Vec<Vec<Vec<T>>> = (0..parts).map(|_| Vec::with_capacity(per_thread.len())).collect();
    for pieces in per_thread {
        for (i, p) in pieces.into_iter().enumerate() {
            out[i].push(p);
        }
    }
    out
}

/// The pieces of one part (from every thread) as one list, emptying them.
fn joined<T: Copy>(pieces: &mut Vec<Vec<T>>) -> Vec<T> {
    let mut all = pieces.first_mut().map(std::mem::take).unwrap_or_default();
    for other in pieces.drain(1..) {
        all.extend_from_slice(&other);
    }
    all
}

/// `f` applied to every item, on `threads` threads taking the next item as
/// they finish one (items of uneven size stay balanced); results in order.
fn on_every_core<T: Send, R: Send>(items: Vec<T>, threads: usize, f: impl Fn(&mut T) -> R + Sync) -> Vec<R> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let slots: Vec<std::sync::Mutex<(T, Option<R>)>> = items.into_iter().map(|i| std::sync::Mutex::new((i, None))).collect();
    std::thread::scope(|s| {
        for _ in 0..threads.max(1) {
            s.spawn(|| {
                while let Some(slot) = slots.get(next.fetch_add(1, std::sync::atomic::Ordering::Relaxed)) {
                    let mut slot = slot.lock().expect("work item");
                    let r = f(&mut slot.0);
                    slot.1 = Some(r);
                }
            });
        }
    });
    slots.into_iter().map(|m| m.into_inner().expect("work item").1.expect("every item was done")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(n: usize) -> Vec<(u64, u32, u32)> {
        (0..n as u32).map(|i| (7, i / 3, i)).collect()
    }

    #[test]
    fn small_blocks_are_compared_in_full_and_large_ones_in_a_window() {
        let limits = Limits { max_block: 10, window: 2 };
        let mut n = 0;
        block_pairs(&block(10), limits, |_, _| n += 1);
        assert_eq!(n, 45);
        let mut seen = Vec::new();
        let windowed = block_pairs(&block(11), limits, |a, b| seen.push((a, b)));
        assert!(windowed);
        // Each entry meets the next two: 10 + 9 pairs.
        assert_eq!(seen.len(), 19);
        assert!(seen.contains(&(0, 2)) && !seen.contains(&(0, 3)));
    }

    #[test]
    fn street_and_initials_blocks_are_skipped_when_oversized() {
        // The same street name and initials, nothing else shared: a small
        // group meets, an oversized one does not.
        let id = |street_initials: u64| Identity { street_initials, ..Default::default() };
        let small: Vec<Identity> = (0..5).map(|_| id(42)).collect();
        let big: Vec<Identity> = (0..60).map(|_| id(43)).collect();
        let all: Vec<Option<&Identity>> = small.iter().chain(&big).map(Some).collect();
        let group: Vec<u32> = (0..all.len() as u32).collect();
        let c = candidates(&all, &group, Limits { max_block: 50, window: 10 });
        assert_eq!(c.pairs.len(), 10, "5 entries in full, 60 skipped");
        assert!(c.pairs.iter().all(|(a, b)| *a < 5 && *b < 5));
        // Another recipe's oversized block is windowed, whatever bits its
        // order token has (here the birth date alone, ordered by a ZIP
        // token with the top bit set).
        let dob = Some(crate::protect::encode::DobEnc { full: 5, ..Default::default() });
        let same_day: Vec<Identity> = (0..60).map(|_| Identity { dob, zip5: 0xFFFF_FFFF, ..Default::default() }).collect();
        let all: Vec<Option<&Identity>> = same_day.iter().map(Some).collect();
        let c = candidates(&all, &(0..60).collect::<Vec<u32>>(), Limits { max_block: 50, window: 10 });
        assert_eq!(c.pairs.len(), 50 * 10 + 45, "each entry meets the next ten");
    }

    #[test]
    fn candidates_are_every_blocked_pair_once_in_order() {
        // 1,000 nodes spread over every bucket; phone and email blocks of
        // three overlap, so most pairs come out of two blocks. Nodes 2k and
        // 2k+1 are observations of one record and never a pair.
        let ids: Vec<Identity> =
            (0..1000u64).map(|i| Identity { phone: 1 + i / 3, email: 1 + (i + 1) / 3, ..Default::default() }).collect();
        let all: Vec<Option<&Identity>> = ids.iter().map(Some).collect();
        let group: Vec<u32> = (0..1000u32).map(|i| i / 2).collect();
        let c = candidates(&all, &group, Limits { max_block: 50, window: 10 });
        let mut expected = std::collections::BTreeSet::new();
        for a in 0..1000usize {
            for b in a + 1..1000 {
                let shared = ids[a].phone == ids[b].phone || ids[a].email == ids[b].email;
                if shared && group[a] != group[b] {
                    expected.insert((a as u32, b as u32));
                }
            }
        }
        assert_eq!(c.pairs.to_vec(), expected.into_iter().collect::<Vec<_>>());
    }

    #[test]
    fn every_item_is_done_once_and_results_keep_their_order() {
        let items: Vec<u64> = (0..1000).collect();
        for threads in [1, 2, 7] {
            let done = std::sync::atomic::AtomicUsize::new(0);
            let out = on_every_core(items.clone(), threads, |x| {
                done.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                *x * 2
            });
            assert_eq!(done.into_inner(), 1000);
            assert_eq!(out, items.iter().map(|x| x * 2).collect::<Vec<_>>());
        }
    }

    #[test]
    fn pairs_come_in_order_in_runs_that_carry_their_values() {
        let buckets: Vec<Vec<(u32, u32)>> = (0..30u32).map(|i| (0..i % 7).map(|j| (i, j)).collect()).collect();
        let expected = buckets.concat();
        let pairs = Pairs::new(buckets);
        assert_eq!((pairs.len(), pairs.to_vec()), (expected.len(), expected.clone()));
        let values: Vec<usize> = (0..expected.len()).collect();
        let runs = pairs.chunks_with(4, &values);
        assert!(runs.iter().all(|(p, v)| p.len() == v.len() && (1..=4).contains(&p.len())));
        let flat: Vec<((u32, u32), usize)> = runs.iter().flat_map(|(p, v)| p.iter().copied().zip(v.iter().copied())).collect();
        assert_eq!(flat, expected.iter().copied().zip(0..).collect::<Vec<_>>());
        let mut written = vec![0usize; expected.len()];
        for (p, v) in pairs.chunks_with_mut(3, &mut written) {
            for (pair, w) in p.iter().zip(v.iter_mut()) {
                *w = pair.0 as usize * 100 + pair.1 as usize;
            }
        }
        assert_eq!(written, expected.iter().map(|(a, b)| *a as usize * 100 + *b as usize).collect::<Vec<_>>());
        assert!(Pairs::default().is_empty() && Pairs::default().chunks_with(5, &[0u8; 0]).is_empty());
        for a in 0..32u32 {
            for b in 0..8u32 {
                assert_eq!(pairs.contains(&(a, b)), expected.contains(&(a, b)), "{a} {b}");
            }
        }
    }

    #[test]
    fn entries_sharing_the_order_token_meet_in_an_oversized_block() {
        // 1,000 entries in one block; two of them share an order token no
        // other entry has, far apart in node order.
        let mut entries: Vec<(u64, u32, u32)> = (0..1000u32).map(|i| (1, 10 + i, i)).collect();
        entries[3].1 = 5;
        entries[900].1 = 5;
        entries.sort_unstable();
        let group: Vec<u32> = (0..1000).collect();
        let mut met = false;
        block_pairs(&entries, Limits { max_block: 50, window: 3 }, |a, b| {
            let _ = group[a as usize];
            met |= (a.min(b), a.max(b)) == (3, 900);
        });
        assert!(met);
    }
}
