//! link: blocking -> scoring -> clustering -> stable person keys.
//!
//! Input: every active identity observation (tokens and Bloom filters from
//! the linkage zone) and every record key. Output: one `person_key` per
//! consenting record, the match probability that put it there, and the key
//! changes since the last run. See `docs/linkage.md` for the method.

pub mod block;
pub mod cluster;
pub mod compare;
pub mod evaluate;
pub mod keys;
pub mod model;

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::protect::encode::{Hardening, Identity};

/// Linkage settings (`[linkage]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkConfig {
    /// Posterior match probability a link needs (pairwise, and on average
    /// between two clusters). Default 0.5.
    #[serde(default = "d_threshold")]
    pub threshold: f64,
    /// Largest blocking block compared in full. Default 50.
    #[serde(default = "d_max_block")]
    pub max_block: usize,
    /// In a larger block, each record is compared with this many neighbours
    /// (sorted by a second token of the recipe). Default 10.
    #[serde(default = "d_window")]
    pub window: usize,
    /// EM iterations at most. Default 200.
    #[serde(default = "d_iterations")]
    pub em_iterations: usize,
    /// Random pairs compared to learn what unrelated records look like.
    /// Default 1,000,000.
    #[serde(default = "d_random_pairs")]
    pub random_pairs: usize,
    /// Term-frequency adjustment of exact name agreement. Default true.
    #[serde(default = "d_true")]
    pub term_frequency: bool,
    /// Optional Bloom-filter hardening (changing it means re-protecting).
    #[serde(default)]
    pub hardening: Hardening,
}

fn d_threshold() -> f64 {
    0.5
}
fn d_max_block() -> usize {
    50
}
fn d_window() -> usize {
    10
}
fn d_iterations() -> usize {
    200
}
fn d_random_pairs() -> usize {
    1_000_000
}
fn d_true() -> bool {
    true
}

impl Default for LinkConfig {
    fn default() -> Self {
        toml::from_str("").expect("defaults")
    }
}

impl LinkConfig {
    pub fn validate(&self) -> Result<(), String> {
        if !(0.0 < self.threshold && self.threshold < 1.0) {
            return Err(format!("linkage.threshold must be between 0 and 1 (got {})", self.threshold));
        }
        if self.max_block < 2 {
            return Err("linkage.max_block must be at least 2".into());
        }
        if self.window < 1 {
            return Err("linkage.window must be at least 1".into());
        }
        Ok(())
    }

    pub fn limits(&self) -> block::Limits {
        block::Limits { max_block: self.max_block, window: self.window }
    }

    /// The threshold as log2 odds.
    pub fn threshold_log_odds(&self) -> f32 {
        (self.threshold / (1.0 - self.threshold)).log2() as f32
    }
}

/// A partner record known to the link step.
#[derive(Debug, Clone)]
pub struct RecordRef {
    pub record_key: String,
    pub partner: String,
    pub consent: bool,
}

/// Everything linkage reads.
#[derive(Debug, Default, Clone)]
pub struct LinkInput {
    pub records: Vec<RecordRef>,
    /// (index into `records`, identity observation).
    pub observations: Vec<(u32, Identity)>,
}

impl LinkInput {
    /// Complete each observation of a record with the birth date, sex and
    /// tax id that the record's other observations give, where they give
    /// exactly one; then drop observations that have become repeats.
    ///
    /// A partner asserts that the rows of one record id are one person, so
    /// a birth date left blank in one extract but given in another is the
    /// record's birth date. Two records are scored by their best-matching
    /// observation pair; without this, the row with the blank date would be
    /// chosen and hide a date that contradicts (a mother and her daughter
    /// at one address, the daughter's college record blank in one term). A
    /// field whose observations give two values is left as it is: which
    /// one a blank row meant is unknown.
    pub fn complete_records(&mut self) {
        let n = self.observations.len();
        let record: Vec<u32> = self.observations.iter().map(|(r, _)| *r).collect();
        // Stable: a record's observations keep their order.
        let mut order: Vec<u32> = (0..n as u32).collect();
        order.sort_by_key(|i| record[*i as usize]);
        let mut keep = vec![true; n];
        for group in order.chunk_by(|a, b| record[*a as usize] == record[*b as usize]) {
            if group.len() < 2 {
                continue;
            }
            let obs = |i: &u32| &self.observations[*i as usize].1;
            let dob = only_one(group.iter().filter_map(|i| obs(i).dob));
            let sex = only_one(group.iter().map(|i| obs(i).sex).filter(|s| *s != 0));
            let tax = only_one(group.iter().map(|i| (obs(i).tax_id, obs(i).tax_id_kind)).filter(|t| t.0 != 0));
            for i in group {
                let o = &mut self.observations[*i as usize].1;
                if o.dob.is_none() {
                    o.dob = dob;
                }
                if o.sex == 0
                    && let Some(s) = sex
                {
                    o.sex = s;
                }
                if o.tax_id == 0
                    && let Some((t, k)) = tax
                {
                    (o.tax_id, o.tax_id_kind) = (t, k);
                }
            }
            let obs = |i: &u32| &self.observations[*i as usize].1;
            for (k, i) in group.iter().enumerate() {
                if group[..k].iter().any(|j| keep[*j as usize] && obs(j) == obs(i)) {
                    keep[*i as usize] = false;
                }
            }
        }
        if keep.iter().all(|k| *k) {
            return;
        }
        let mut k = keep.into_iter();
        self.observations.retain(|_| k.next().expect("one flag per observation"));
    }
}

/// The value when every item is that one value; `None` for none or several.
fn only_one<T: PartialEq + Copy>(mut items: impl Iterator<Item = T>) -> Option<T> {
    let first = items.next()?;
    items.all(|x| x == first).then_some(first)
}

/// The scored candidate graph (shared by `link` and `link evaluate`).
pub struct Scored {
    /// Record of each node.
    pub group: Vec<u32>,
    /// Identity of each node (None: a record with no identity observation).
    pub node_identity: Vec<Option<usize>>,
    pub pairs: block::Pairs,
    pub log_odds: Vec<f32>,
    pub model: model::Model,
    pub windowed_blocks: usize,
    /// Pairs of records with identities, compared or not.
    pub all_pairs: f64,
    /// Partner (index) of each node.
    pub node_partner: Vec<u16>,
    /// Term-frequency adjustment per exact name token (tokens are keyed
    /// hashes already, so a fast hasher is enough).
    pub tf: foldhash::HashMap<u64, f32>,
}

impl Scored {
    /// Log-odds of any two nodes with identities.
    pub fn score(&self, input: &LinkInput, x: u32, y: u32) -> f32 {
        match (self.node_identity[x as usize], self.node_identity[y as usize]) {
            (Some(a), Some(b)) => {
                let mut l = compare::compare(&input.observations[a].1, &input.observations[b].1);
                l.same_partner = self.node_partner[x as usize] == self.node_partner[y as usize];
                self.model.log_odds(&l, &|t| self.tf.get(&t).copied().unwrap_or(0.0))
            }
            _ => -100.0,
        }
    }
}

/// Statistics of one linkage, for the run summary and `braid status`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct LinkStats {
    pub records: usize,
    pub observations: usize,
    /// Candidate pairs of identity observations (a record seen in several
    /// files or spellings has several): more than the distinct candidate
    /// record pairs `braid link evaluate` counts.
    pub candidate_pairs: usize,
    pub windowed_blocks: usize,
    /// Record pairs at or above the threshold.
    pub links_above_threshold: usize,
    pub persons: usize,
    pub multi_partner_persons: usize,
    /// Pairs the model expects to be matches (share of all pairs x pairs).
    pub estimated_match_pairs: f64,
    pub em_iterations: usize,
    pub threshold: f64,
    pub weights: serde_json::Value,
    /// Changes of person keys this run, by kind (born, merged, split,
    /// restored, retired): how much the night's re-fit moved people.
    #[serde(default)]
    pub key_events: std::collections::BTreeMap<String, usize>,
}

/// One record's place after linkage.
#[derive(Debug, Clone)]
pub struct Assignment {
    pub record_key: String,
    pub partner: String,
    pub person_key: Option<String>,
    /// The key this record held before its cluster was merged into another
    /// ([`keys`]); it gets it back if it is split off again.
    pub former_key: Option<String>,
    pub probability: Option<f64>,
    pub cluster_size: i32,
    pub consent: bool,
}

pub struct LinkOutput {
    pub assignments: Vec<Assignment>,
    pub events: Vec<keys::KeyEvent>,
    pub stats: LinkStats,
}

/// How far ahead the compare loop fetches the second node of a pair: its
/// identity, then its name parts, then their variant and nickname groups
/// and one-edit neighbourhoods.
const FAR: usize = 48;
const MID: usize = 24;
const NEAR: usize = 8;
/// Cache lines of one observation.
const OBS_LINES: usize = std::mem::size_of::<(u32, Identity)>().div_ceil(64) + 1;

/// Ask the CPU to start loading `lines` cache lines at `p` (a hint only).
#[inline(always)]
fn prefetch<T>(p: *const T, lines: usize) {
    #[cfg(target_arch = "x86_64")]
    for l in 0..lines {
        // SAFETY: prefetching never faults, whatever the address.
        unsafe { std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>((p as *const i8).wrapping_add(l * 64)) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = (p, lines);
}

/// Threads for the parallel steps of linkage: one per core.
pub(crate) fn threads() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).max(1)
}

/// `sum += counts`, pattern by pattern.
fn add_counts(sum: &mut [u64], counts: &[u64]) {
    sum.iter_mut().zip(counts).for_each(|(s, c)| *s += c);
}

/// Debug log of a linkage phase: seconds since `t` and resident memory.
fn phase(what: &str, t: std::time::Instant) {
    tracing::debug!(secs = t.elapsed().as_secs_f32(), rss_mib = crate::load::rss_mib(), peak_mib = crate::load::peak_mib(), "link: {what}");
}

/// A small index per partner id.
pub fn partner_index(input: &LinkInput) -> Vec<u16> {
    let mut ids: Vec<&str> = input.records.iter().map(|r| r.partner.as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    input.records.iter().map(|r| ids.binary_search(&r.partner.as_str()).expect("partner") as u16).collect()
}

/// Nodes of the linkage graph: one per identity observation, plus one per
/// consenting record without any. Returns (record of each node, identity
/// of each node).
fn nodes(input: &LinkInput) -> (Vec<u32>, Vec<Option<usize>>) {
    let mut has_obs = vec![false; input.records.len()];
    for (r, _) in &input.observations {
        has_obs[*r as usize] = true;
    }
    let mut group: Vec<u32> = input.observations.iter().map(|(r, _)| *r).collect();
    let mut node_identity: Vec<Option<usize>> = (0..input.observations.len()).map(Some).collect();
    for (r, rec) in input.records.iter().enumerate() {
        if !has_obs[r] && rec.consent {
            group.push(r as u32);
            node_identity.push(None);
        }
    }
    (group, node_identity)
}

/// What each blocking recipe contributes; with a truth file, which true
/// pairs it finds and which only it finds (`braid link blocking`).
pub fn blocking_report(input: &LinkInput, cfg: &LinkConfig, truth: Option<&evaluate::Truth>) -> block::BlockingReport {
    let (group, node_identity) = nodes(input);
    let ids: Vec<Option<&Identity>> = node_identity.iter().map(|o| o.map(|i| &input.observations[i].1)).collect();
    let entity: Option<Vec<Option<u32>>> = truth.map(|t| {
        let mut names: HashMap<&str, u32> = HashMap::new();
        input
            .records
            .iter()
            .map(|r| {
                t.entity.get(&r.record_key).map(|e| {
                    let n = names.len() as u32;
                    *names.entry(e.as_str()).or_insert(n)
                })
            })
            .collect()
    });
    block::recipe_report(&ids, &group, cfg.limits(), entity.as_deref())
}

/// Candidate pairs a compare thread takes at a time.
const BATCH: usize = 1 << 16;

/// Term-frequency adjustments are multiples of 1/TF_STEPS bits, so a
/// candidate pair keeps its two (given name, family name) in two bytes.
const TF_STEPS: f32 = 32.0;

/// Compare one batch of candidate pairs of identity nodes: their patterns
/// and term-frequency adjustments (given, family; in 1/TF_STEPS bits) into
/// `pats` and `adj`, and the count of each pattern added to `counts`.
fn compare_batch(
    obs: &[(u32, Identity)],
    node_partner: &[u16],
    tf: &foldhash::HashMap<u64, f32>,
    part: &[(u32, u32)],
    pats: &mut [u32],
    adj: &mut [[i8; 2]],
    counts: &mut [u64],
) {
    for (k, (a, b)) in part.iter().enumerate() {
        // The pairs come sorted by their first node, so the second is a
        // random read: fetch it ahead, in three steps (the identity, its
        // name parts, their groups and neighbourhoods). Identity node i is
        // observation i.
        if let Some((_, b)) = part.get(k + FAR) {
            prefetch(obs.as_ptr().wrapping_add(*b as usize), OBS_LINES);
            prefetch(node_partner.as_ptr().wrapping_add(*b as usize), 1);
        }
        if let Some((_, b)) = part.get(k + MID) {
            let parts = &obs[*b as usize].1.parts;
            prefetch(parts.as_ptr(), (std::mem::size_of_val(parts.as_slice())).div_ceil(64));
        }
        if let Some((_, b)) = part.get(k + NEAR) {
            for p in &obs[*b as usize].1.parts {
                if let Some(t) = p.tokens_ptr() {
                    prefetch(t, 1);
                }
            }
        }
        // (Straight from the observations: a lookup through `ids` would be
        // one more random read per pair.)
        let (x, y) = (&obs[*a as usize].1, &obs[*b as usize].1);
        let mut l = compare::compare(x, y);
        l.same_partner = node_partner[*a as usize] == node_partner[*b as usize];
        let p = model::pattern(&l);
        pats[k] = p as u32;
        counts[p] += 1;
        let (given, family) = model::term_frequencies(&l, &|t| tf.get(&t).copied().unwrap_or(0.0));
        adj[k] = [(given * TF_STEPS) as i8, (family * TF_STEPS) as i8];
    }
}

/// Block, compare and score (EM) every candidate pair.
pub fn score(input: &LinkInput, cfg: &LinkConfig) -> Scored {
    let (group, node_identity) = nodes(input);
    let ids: Vec<Option<&Identity>> = node_identity.iter().map(|o| o.map(|i| &input.observations[i].1)).collect();
    let partner_index = partner_index(input);
    let node_partner: Vec<u16> = group.iter().map(|r| partner_index[*r as usize]).collect();
    let t = std::time::Instant::now();
    let cands = block::candidates(&ids, &group, cfg.limits());
    phase("blocked", t);

    // Term frequencies of exact name tokens.
    let mut freq: foldhash::HashMap<u64, u32> = Default::default();
    let mut total = 0u64;
    for (_, id) in &input.observations {
        for p in &id.parts {
            *freq.entry(p.exact).or_default() += 1;
            total += 1;
        }
    }
    let tf: foldhash::HashMap<u64, f32> = if cfg.term_frequency && total > 0 {
        let t = total as f64;
        let sum_sq: f64 = freq.values().map(|c| (*c as f64 / t).powi(2)).sum();
        // Within [-4, 2] bits, in steps of 1/TF_STEPS (exact in an i8).
        freq.iter()
            .map(|(k, c)| {
                let bits = (sum_sq / (*c as f64 / t)).log2().clamp(-4.0, 2.0) as f32;
                (*k, (bits * TF_STEPS).round() / TF_STEPS)
            })
            .collect()
    } else {
        Default::default()
    };

    // Compare every candidate pair, in parallel. The threads take batches
    // of pairs in turn: pairs cost more in some stretches of the sorted list
    // than in others, and with equal shares one core sat idle for the last
    // fifth of the phase. Each thread writes the pattern and term-frequency
    // adjustment of its pairs in place (zeroed memory from the OS: its pages
    // are touched by the thread that fills them, and nothing is copied
    // afterwards).
    let pairs = &cands.pairs;
    let mut patterns = vec![0u32; pairs.len()];
    let mut adjust = vec![[0i8; 2]; pairs.len()];
    let batches = std::sync::Mutex::new(
        pairs
            .chunks_with_mut(BATCH, &mut patterns)
            .into_iter()
            .zip(pairs.chunks_with_mut(BATCH, &mut adjust))
            .map(|((part, pats), (_, adj))| (part, (pats, adj))),
    );
    let counts: Vec<u64> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads())
            .map(|_| {
                let (obs, tf, node_partner, batches) = (&input.observations, &tf, &node_partner, &batches);
                s.spawn(move || {
                    let mut counts = vec![0u64; model::PATTERNS];
                    loop {
                        let next = batches.lock().expect("batches").next();
                        let Some((part, (pats, adj))) = next else { break };
                        compare_batch(obs, node_partner, tf, part, pats, adj, &mut counts);
                    }
                    counts
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("scoring thread")).fold(vec![0u64; model::PATTERNS], |mut sum, c| {
            add_counts(&mut sum, &c);
            sum
        })
    });
    phase("compared", t);
    // A random sample of all pairs of identity nodes (records of different
    // partners records or not): what unrelated pairs look like. Seeded, so
    // a run is reproducible; this is not privacy noise. The pairs are drawn
    // in one sequence, then compared on every core.
    let with_id: Vec<u32> = (0..ids.len() as u32).filter(|i| ids[*i as usize].is_some()).collect();
    let n = with_id.len() as f64;
    let all_pairs = n * (n - 1.0) / 2.0;
    let mut drawn: Vec<(u32, u32)> = Vec::new();
    if with_id.len() >= 2 {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0x0062_7261_6964);
        let want = (cfg.random_pairs as f64).min(all_pairs) as usize;
        let mut guard = 0usize;
        while drawn.len() < want && guard < want * 4 {
            guard += 1;
            let a = with_id[rng.random_range(0..with_id.len())];
            let b = with_id[rng.random_range(0..with_id.len())];
            if a == b || group[a as usize] == group[b as usize] {
                continue;
            }
            drawn.push((a, b));
        }
    }
    // All sampled pairs describe strangers; the sampled pairs that are not
    // candidates stand in for the pairs blocking never proposed.
    let (sample, sample_others): (Vec<u64>, Vec<u64>) = std::thread::scope(|s| {
        let handles: Vec<_> = drawn
            .chunks(drawn.len().div_ceil(threads()).max(1))
            .map(|part| {
                let (ids, node_partner) = (&ids, &node_partner);
                s.spawn(move || {
                    let mut sample = vec![0u64; model::PATTERNS];
                    let mut others = vec![0u64; model::PATTERNS];
                    for (a, b) in part {
                        let mut l = compare::compare(ids[*a as usize].expect("id"), ids[*b as usize].expect("id"));
                        l.same_partner = node_partner[*a as usize] == node_partner[*b as usize];
                        let p = model::pattern(&l);
                        sample[p] += 1;
                        if !pairs.contains(&(*a.min(b), *a.max(b))) {
                            others[p] += 1;
                        }
                    }
                    (sample, others)
                })
            })
            .collect();
        let mut sample = vec![0u64; model::PATTERNS];
        let mut others = vec![0u64; model::PATTERNS];
        for h in handles {
            let (s, o) = h.join().expect("sampling thread");
            add_counts(&mut sample, &s);
            add_counts(&mut others, &o);
        }
        (sample, others)
    });
    let others = (all_pairs - pairs.len() as f64).max(0.0);
    // Each observation can match at most one observation per partner (and
    // a few of its own partner's duplicates): a bound on the match class.
    // At least 1.5 pairs per observation: one partner's file alone may
    // hold several duplicates of a person (FEBRL 3: 1.3 true pairs per record).
    let partners = node_partner.iter().copied().collect::<std::collections::HashSet<u16>>().len().max(3) as f64;
    let max_matches = n * partners / 2.0;
    let model = model::fit(
        &model::Counts { candidates: &counts, strangers: &sample, others_sample: &sample_others, others, max_matches },
        cfg.em_iterations,
    );
    phase("model fitted", t);
    // The patterns become the log-odds, in place (an f32 in each u32).
    let chunk = patterns.len().div_ceil(threads()).max(1);
    std::thread::scope(|s| {
        for (pats, adj) in patterns.chunks_mut(chunk).zip(adjust.chunks(chunk)) {
            let model = &model;
            s.spawn(move || {
                for (p, [given, family]) in pats.iter_mut().zip(adj) {
                    *p = model.score(*p as usize, *given as f32 / TF_STEPS, *family as f32 / TF_STEPS).to_bits();
                }
            });
        }
    });
    drop(adjust);
    // Same size and alignment: the collect reuses the allocation.
    let log_odds: Vec<f32> = patterns.into_iter().map(f32::from_bits).collect();
    Scored { group, node_identity, pairs: cands.pairs, log_odds, model, windowed_blocks: cands.windowed_blocks, all_pairs, node_partner, tf }
}

/// The best-matching pair of two records' observations (`a`, `b`: indexes
/// into `input.observations`), as the link step scores two records: its
/// log-odds and levels; None when either has none.
pub fn best_pair(input: &LinkInput, scored: &Scored, a: &[usize], b: &[usize], same_partner: bool) -> Option<(f32, compare::Levels)> {
    let tf = |t: u64| scored.tf.get(&t).copied().unwrap_or(0.0);
    let mut best: Option<(f32, compare::Levels)> = None;
    for x in a {
        for y in b {
            let mut l = compare::compare(&input.observations[*x].1, &input.observations[*y].1);
            l.same_partner = same_partner;
            let w = scored.model.log_odds(&l, &tf);
            if best.as_ref().is_none_or(|(b, _)| w > *b) {
                best = Some((w, l));
            }
        }
    }
    best
}

/// Record-level pairs with log-odds of at least `floor`: the best
/// observation pair of every pair of records (observations of one record
/// are the same person, so the best-matching spelling is the right
/// comparison), sorted by pair.
pub fn record_pairs(s: &Scored, floor: f32) -> (Vec<(u32, u32)>, Vec<f32>) {
    let mut v: Vec<(u64, f32)> = s
        .pairs
        .iter()
        .zip(&s.log_odds)
        .filter(|(_, lo)| **lo >= floor)
        .map(|((a, b), lo)| {
            let (ra, rb) = (s.group[*a as usize], s.group[*b as usize]);
            let (ra, rb) = if ra < rb { (ra, rb) } else { (rb, ra) };
            (((ra as u64) << 32) | rb as u64, *lo)
        })
        .collect();
    // Best first within a pair, so dedup keeps the best.
    v.sort_unstable_by(|x, y| x.0.cmp(&y.0).then(y.1.total_cmp(&x.1)));
    v.dedup_by_key(|x| x.0);
    v.into_iter().map(|(k, lo)| (((k >> 32) as u32, k as u32), lo)).unzip()
}

/// Link all records. `previous` maps record keys to last run's person keys,
/// `former` to their former keys ([`keys`]).
pub fn link(input: &LinkInput, previous: &HashMap<String, String>, former: &HashMap<String, String>, cfg: &LinkConfig) -> LinkOutput {
    let t = std::time::Instant::now();
    let mut scored = score(input, cfg);
    let threshold = cfg.threshold_log_odds();
    // Cluster records, not observations. Only pairs above the threshold
    // can start a merge; every other pair clustering needs is scored again
    // on demand, so the full list of record pairs is never built.
    let (pairs, log_odds) = record_pairs(&scored, threshold);
    let candidate_pairs = scored.pairs.len();
    scored.pairs = block::Pairs::default();
    scored.log_odds = Vec::new();
    phase("record pairs", t);
    let mut obs_of: Vec<Vec<usize>> = vec![vec![]; input.records.len()];
    for (i, (r, _)) in input.observations.iter().enumerate() {
        obs_of[*r as usize].push(i);
    }
    let has_identity: Vec<bool> = obs_of.iter().map(|o| !o.is_empty()).collect();
    let group: Vec<u32> = (0..input.records.len() as u32).collect();
    let same_partner = |x: u32, y: u32| input.records[x as usize].partner == input.records[y as usize].partner;
    let score_records = |x: u32, y: u32| -> f32 {
        best_pair(input, &scored, &obs_of[x as usize], &obs_of[y as usize], same_partner(x, y)).map_or(f32::NEG_INFINITY, |(w, _)| w)
    };
    let roots = cluster::cluster(&group, &pairs, &log_odds, &has_identity, &score_records, &same_partner, threshold);
    phase("clustered", t);
    // Records without consent are not linked at all.
    let record_cluster: Vec<Option<u32>> =
        (0..input.records.len()).map(|r| input.records[r].consent.then_some(roots[r])).collect();
    // Best link probability of each record into its cluster.
    let mut record_best: Vec<f32> = vec![f32::NEG_INFINITY; input.records.len()];
    for (i, (a, b)) in pairs.iter().enumerate() {
        if roots[*a as usize] == roots[*b as usize] {
            let lo = log_odds[i];
            record_best[*a as usize] = record_best[*a as usize].max(lo);
            record_best[*b as usize] = record_best[*b as usize].max(lo);
        }
    }
    // Stable keys over consenting records.
    let linked: Vec<usize> = (0..input.records.len()).filter(|r| record_cluster[*r].is_some()).collect();
    let clusters: Vec<u32> = linked.iter().map(|r| record_cluster[*r].expect("linked")).collect();
    let prev: Vec<Option<&str>> =
        linked.iter().map(|r| previous.get(&input.records[*r].record_key).map(String::as_str)).collect();
    let former_prev: Vec<Option<&str>> =
        linked.iter().map(|r| former.get(&input.records[*r].record_key).map(String::as_str)).collect();
    let keys::Assigned { keys: keys_by_cluster, mut events, former: former_now } = keys::assign(&clusters, &prev, &former_prev);
    let mut former_of: Vec<Option<String>> = vec![None; input.records.len()];
    for (r, f) in linked.iter().zip(former_now) {
        former_of[*r] = f;
    }
    let mut prev_all: Vec<&str> = previous.values().map(String::as_str).collect();
    prev_all.sort_unstable();
    prev_all.dedup();
    events.extend(keys::retired(&prev_all, &keys_by_cluster, &events));
    phase("person keys assigned", t);

    // Records and partners per cluster (cluster ids are record numbers).
    let mut size = vec![0i32; input.records.len()];
    for c in &clusters {
        size[*c as usize] += 1;
    }
    let partner = partner_index(input);
    let mut cluster_partner: Vec<(u32, u16)> = linked.iter().zip(&clusters).map(|(r, c)| (*c, partner[*r])).collect();
    cluster_partner.sort_unstable();
    cluster_partner.dedup();
    let multi_partner_persons = cluster_partner.chunk_by(|a, b| a.0 == b.0).filter(|g| g.len() > 1).count();
    let assignments = input
        .records
        .iter()
        .enumerate()
        .map(|(r, rec)| {
            let c = record_cluster[r];
            Assignment {
                record_key: rec.record_key.clone(),
                partner: rec.partner.clone(),
                person_key: c.map(|c| keys_by_cluster[&c].clone()),
                former_key: former_of[r].take(),
                probability: c.map(|_| {
                    if record_best[r].is_finite() { scored.model.probability(record_best[r]) } else { 1.0 }
                }),
                cluster_size: c.map(|c| size[c as usize]).unwrap_or(0),
                consent: rec.consent,
            }
        })
        .collect();
    phase("assignments", t);
    let stats = LinkStats {
        records: input.records.len(),
        observations: input.observations.len(),
        candidate_pairs,
        windowed_blocks: scored.windowed_blocks,
        links_above_threshold: log_odds.iter().filter(|l| **l >= threshold).count(),
        persons: size.iter().filter(|n| **n > 0).count(),
        multi_partner_persons,
        estimated_match_pairs: scored.model.shares[0] * scored.all_pairs,
        em_iterations: scored.model.iterations,
        threshold: cfg.threshold,
        weights: scored.model.marginal_weights(),
        key_events: events.iter().fold(Default::default(), |mut m, e| {
            *m.entry(e.event.to_string()).or_insert(0) += 1;
            m
        }),
    };
    LinkOutput { assignments, events, stats }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protect::encode::DobEnc;

    fn dob(full: u64) -> Option<DobEnc> {
        Some(DobEnc { full, year: full / 10_000, ..Default::default() })
    }

    #[test]
    fn a_records_blank_fields_are_completed_from_its_other_observations() {
        let part = |given: u64| Identity { phone: given, ..Default::default() };
        let mut input = LinkInput {
            records: vec![],
            observations: vec![
                // Record 0: the date, sex and tax id in one row, blank in another.
                (0, Identity { dob: dob(19_590_101), sex: 1, tax_id: 7, tax_id_kind: 1, ..part(1) }),
                (0, part(2)),
                // Record 1: two different dates; a blank row stays blank.
                (1, Identity { dob: dob(20_080_305), ..part(3) }),
                (1, Identity { dob: dob(20_080_503), ..part(3) }),
                (1, part(3)),
                // Record 2: a blank row that repeats the full one once completed.
                (2, Identity { dob: dob(19_700_101), ..part(4) }),
                (2, part(4)),
                // Record 3: one observation, left alone.
                (3, part(5)),
            ],
        };
        input.complete_records();
        let obs: Vec<(u32, &Identity)> = input.observations.iter().map(|(r, i)| (*r, i)).collect();
        assert_eq!(obs.len(), 7, "record 2's repeat is dropped");
        assert_eq!(obs[1].0, 0);
        assert_eq!((obs[1].1.dob, obs[1].1.sex, obs[1].1.tax_id, obs[1].1.tax_id_kind), (dob(19_590_101), 1, 7, 1));
        assert_eq!(obs[1].1.phone, 2, "other fields are the row's own");
        assert_eq!(obs[4].0, 1);
        assert_eq!(obs[4].1.dob, None, "two dates: which one a blank row meant is unknown");
        assert_eq!((obs[5].0, obs[5].1.dob), (2, dob(19_700_101)));
        assert_eq!((obs[6].0, obs[6].1.dob), (3, None));
    }
}
