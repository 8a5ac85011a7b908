//! Clustering scored pairs into persons across any number of partners.
//!
//! Pairs above the threshold are merged strongest first, but two clusters
//! merge only when the **average** log-odds over all pairs between them is
//! above the threshold too (pairs that were not blocked together are scored
//! on demand). One strong link between a mother and her daughter's record
//! cannot chain two people together when the other records disagree.
//! Records of one partner may end up in one cluster (within-partner
//! duplicates are common), but only when the pairs between that partner's
//! records average above the threshold by themselves; observations of one
//! partner record always do.

/// Union-find with member lists.
pub struct Clusters {
    parent: Vec<u32>,
    members: Vec<Vec<u32>>,
}

impl Clusters {
    pub fn new(n: usize) -> Clusters {
        Clusters { parent: (0..n as u32).collect(), members: (0..n as u32).map(|i| vec![i]).collect() }
    }

    pub fn find(&mut self, mut x: u32) -> u32 {
        while self.parent[x as usize] != x {
            let p = self.parent[x as usize];
            self.parent[x as usize] = self.parent[p as usize];
            x = p;
        }
        x
    }

    pub fn union(&mut self, a: u32, b: u32) -> u32 {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra == rb {
            return ra;
        }
        let (big, small) =
            if self.members[ra as usize].len() >= self.members[rb as usize].len() { (ra, rb) } else { (rb, ra) };
        self.parent[small as usize] = big;
        let moved = std::mem::take(&mut self.members[small as usize]);
        self.members[big as usize].extend(moved);
        big
    }

    pub fn members(&self, root: u32) -> &[u32] {
        &self.members[root as usize]
    }

    /// Cluster id (root) of every node.
    pub fn roots(&mut self) -> Vec<u32> {
        (0..self.parent.len() as u32).map(|i| self.find(i)).collect()
    }
}

/// Merge pairs into clusters.
///
/// * `group[i]`: the record of node i; nodes of one record start together.
/// * `pairs`/`log_odds`: scored candidate pairs (sorted by pair).
/// * `has_identity[i]`: whether node i can be scored.
/// * `score(x, y)`: log-odds of any two nodes (used for pairs not blocked).
/// * `same_partner(x, y)`: whether two nodes are records of one partner.
/// * `threshold`: log2 odds a merge needs, pairwise and on average.
pub fn cluster(
    group: &[u32],
    pairs: &[(u32, u32)],
    log_odds: &[f32],
    has_identity: &[bool],
    score: &dyn Fn(u32, u32) -> f32,
    same_partner: &dyn Fn(u32, u32) -> bool,
    threshold: f32,
) -> Vec<u32> {
    let n = group.len();
    let mut c = Clusters::new(n);
    // Observations of one record belong together.
    let mut first_of_group: std::collections::HashMap<u32, u32> = std::collections::HashMap::new();
    for (i, g) in group.iter().enumerate() {
        match first_of_group.get(g) {
            Some(f) => {
                c.union(*f, i as u32);
            }
            None => {
                first_of_group.insert(*g, i as u32);
            }
        }
    }
    let mut order: Vec<usize> = (0..pairs.len()).filter(|i| log_odds[*i] >= threshold).collect();
    order.sort_unstable_by(|a, b| log_odds[*b].total_cmp(&log_odds[*a]).then(pairs[*a].cmp(&pairs[*b])));
    let lookup = |x: u32, y: u32| -> f32 {
        let key = if x < y { (x, y) } else { (y, x) };
        match pairs.binary_search(&key) {
            Ok(i) => log_odds[i],
            Err(_) => score(key.0, key.1),
        }
    };
    // A cap keeps one enormous pair weight from hiding a conflict.
    let capped = |x: u32, y: u32| lookup(x, y).clamp(-40.0, 40.0) as f64;
    const MAX_CROSS: usize = 400;
    const MAX_SAME_PARTNER_CHECK: usize = 10_000;
    for i in order {
        let (a, b) = pairs[i];
        let (ra, rb) = (c.find(a), c.find(b));
        if ra == rb {
            continue;
        }
        let ma: Vec<u32> = c.members(ra).iter().copied().filter(|x| has_identity[*x as usize]).collect();
        let mb: Vec<u32> = c.members(rb).iter().copied().filter(|x| has_identity[*x as usize]).collect();
        let total = ma.len() * mb.len();
        let avg = if total <= 1 {
            log_odds[i]
        } else {
            // Every cross pair, or an even spread of them for big clusters.
            let step = total.div_ceil(MAX_CROSS);
            let mut sum = 0.0f64;
            let mut k = 0usize;
            let mut idx = 0usize;
            while idx < total {
                sum += capped(ma[idx / mb.len()], mb[idx % mb.len()]);
                k += 1;
                idx += step;
            }
            (sum / k as f64) as f32
        };
        // Records of one partner are that partner's separate clients: the
        // pairs between them must average above the threshold on their
        // own, not only within the average of every pair (twins at one
        // college, each matched to the other's wage record by a family name
        // and birth date, would otherwise join).
        // (Unchecked past MAX_SAME_PARTNER_CHECK cross pairs, where only
        // the sampled average decides.)
        let own_evidence = || {
            if total > MAX_SAME_PARTNER_CHECK {
                return true;
            }
            let (mut sum, mut k) = (0.0f64, 0usize);
            for x in &ma {
                for y in mb.iter().filter(|y| same_partner(*x, **y)) {
                    sum += capped(*x, *y);
                    k += 1;
                }
            }
            k == 0 || sum / k as f64 >= threshold as f64
        };
        if avg >= threshold && own_evidence() {
            c.union(a, b);
        }
    }
    c.roots()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn average_linkage_prevents_chaining() {
        // Nodes 0,1 are one person (record 0 and 1); 2,3 another. One strong
        // bad link 1-2 and strong disagreement 0-2, 0-3, 1-3.
        let group = [0, 1, 2, 3];
        let pairs = vec![(0, 1), (1, 2), (2, 3)];
        let lo = vec![20.0, 15.0, 20.0];
        let score = |x: u32, y: u32| if (x, y) == (0, 2) || (x, y) == (0, 3) || (x, y) == (1, 3) { -30.0 } else { 0.0 };
        let roots = cluster(&group, &pairs, &lo, &[true; 4], &score, &|_, _| false, 0.0);
        assert_eq!(roots[0], roots[1]);
        assert_eq!(roots[2], roots[3]);
        assert_ne!(roots[0], roots[2]);
    }

    #[test]
    fn records_of_one_partner_join_on_their_own_evidence() {
        // Twins: nodes 0 and 1 are one college's two students, 2 and 3 the
        // wage file's two workers. Each student matches their own wage
        // record strongly and their twin's fairly (family name and birth
        // date, no sex in the wage file); the college's two records
        // disagree on given name and sex.
        let group = [0, 1, 2, 3];
        let pairs = vec![(0, 2), (0, 3), (1, 2), (1, 3)];
        let lo = vec![15.0, 6.0, 6.0, 15.0];
        let score = |x: u32, y: u32| match (x, y) {
            (0, 1) => -8.0,
            (2, 3) => -2.0,
            _ => 0.0,
        };
        let partner = [0, 0, 1, 1];
        let same = |x: u32, y: u32| partner[x as usize] == partner[y as usize];
        let roots = cluster(&group, &pairs, &lo, &[true; 4], &score, &same, 0.0);
        assert_eq!(roots[0], roots[2]);
        assert_eq!(roots[1], roots[3]);
        assert_ne!(roots[0], roots[1], "the cross pairs average +0.5; the partners' own pairs -8 and -2");
        // Within-partner duplicates that agree join as before.
        let score_dup = |x: u32, y: u32| if (x, y) == (0, 1) || (x, y) == (2, 3) { 6.0 } else { 0.0 };
        let roots = cluster(&group, &pairs, &lo, &[true; 4], &score_dup, &same, 0.0);
        assert!(roots.iter().all(|r| *r == roots[0]));
    }

    #[test]
    fn observations_of_a_record_stay_together() {
        let group = [7, 7, 8];
        let roots = cluster(&group, &[], &[], &[true; 3], &|_, _| -10.0, &|_, _| false, 0.0);
        assert_eq!(roots[0], roots[1]);
        assert_ne!(roots[0], roots[2]);
    }
}
