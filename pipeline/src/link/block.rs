//! Blocking: which pairs of records are worth comparing.
//!
//! Several recipes are unioned, so that a true pair lost by one (a typo in
//! the birth date, a name written in another order, a placeholder date) is
//! found by another. Every key is built from tokens, never from values.
//! Blocks larger than `max_block` are skipped (a very common name with a
//! very common year); the pairs they hold are usually found by another
//! recipe, and `braid link evaluate` measures what is lost.

use crate::protect::encode::Identity;

#[inline]
fn mix(a: u64, b: u64, tag: u64) -> u64 {
    // splitmix64 finalizer over the combination.
    let mut z = a ^ b.rotate_left(29) ^ tag.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The blocking keys of one identity.
pub fn keys(id: &Identity, out: &mut Vec<u64>) {
    out.clear();
    let dob = id.dob.filter(|d| !d.placeholder);
    let named: Vec<&crate::protect::encode::PartEnc> = id.parts.iter().collect();
    for p in &named {
        if let Some(d) = &id.dob {
            out.push(mix(p.exact, d.year, 1));
        }
        if let Some(d) = &dob {
            out.push(mix(p.exact, d.month_day, 2));
            if p.phonetic[0] != 0 {
                out.push(mix(p.phonetic[0], d.full, 3));
                if d.swapped != 0 {
                    out.push(mix(p.phonetic[0], d.swapped, 3));
                }
            }
            for v in &p.variants {
                out.push(mix(*v, d.full, 4));
            }
            for v in &p.nicknames {
                out.push(mix(*v, d.full, 5));
            }
        }
    }
    // Two name parts, in either order: survives any change to the birth date.
    let core: Vec<u64> = id.parts.iter().filter(|p| !p.role.is_glued()).map(|p| p.exact).collect();
    for i in 0..core.len() {
        for j in i + 1..core.len() {
            let (a, b) = if core[i] < core[j] { (core[i], core[j]) } else { (core[j], core[i]) };
            if a != b {
                out.push(mix(a, b, 6));
            }
        }
    }
    let phon: Vec<u64> =
        id.parts.iter().filter(|p| !p.role.is_glued() && p.phonetic[0] != 0).map(|p| p.phonetic[0]).collect();
    for i in 0..phon.len() {
        for j in i + 1..phon.len() {
            let (a, b) = if phon[i] < phon[j] { (phon[i], phon[j]) } else { (phon[j], phon[i]) };
            if a != b {
                out.push(mix(a, b, 13));
            }
        }
    }
    if let Some(d) = &dob {
        out.push(mix(d.full, 0, 7));
        if d.swapped != 0 {
            out.push(mix(d.swapped, 0, 7));
        }
    }
    for (v, tag) in [(id.phone, 8), (id.email, 9), (id.tax_id, 10), (id.address, 11)] {
        if v != 0 {
            out.push(mix(v, 0, tag));
        }
    }
    out.sort_unstable();
    out.dedup();
}

/// Result of blocking.
#[derive(Debug, Default)]
pub struct Candidates {
    /// Candidate pairs (i < j), node indices, sorted and unique.
    pub pairs: Vec<(u32, u32)>,
    /// Blocks skipped for being larger than `max_block`.
    pub skipped_blocks: usize,
}

/// Candidate pairs among `nodes` (identities). `group[i]` is the record of
/// node i; pairs within one record are not candidates (they are linked
/// already).
pub fn candidates(ids: &[Option<&Identity>], group: &[u32], max_block: usize) -> Candidates {
    let mut entries: Vec<(u64, u32)> = Vec::with_capacity(ids.len() * 24);
    let mut buf = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        if let Some(id) = id {
            keys(id, &mut buf);
            entries.extend(buf.iter().map(|k| (*k, i as u32)));
        }
    }
    entries.sort_unstable();
    // The same pair comes out of many blocks: deduplicate in chunks, so memory
    // stays near the number of distinct pairs, not the pairs generated.
    const CHUNK: usize = 1 << 22;
    let mut unique: Vec<u64> = Vec::new();
    let mut packed: Vec<u64> = Vec::with_capacity(CHUNK);
    let flush = |packed: &mut Vec<u64>, unique: &mut Vec<u64>| {
        packed.sort_unstable();
        packed.dedup();
        let mut merged = Vec::with_capacity(unique.len() + packed.len());
        let (mut i, mut j) = (0, 0);
        while i < unique.len() && j < packed.len() {
            match unique[i].cmp(&packed[j]) {
                std::cmp::Ordering::Less => {
                    merged.push(unique[i]);
                    i += 1;
                }
                std::cmp::Ordering::Greater => {
                    merged.push(packed[j]);
                    j += 1;
                }
                std::cmp::Ordering::Equal => {
                    merged.push(unique[i]);
                    i += 1;
                    j += 1;
                }
            }
        }
        merged.extend_from_slice(&unique[i..]);
        merged.extend_from_slice(&packed[j..]);
        *unique = merged;
        packed.clear();
    };
    let mut skipped = 0;
    let mut start = 0;
    while start < entries.len() {
        let key = entries[start].0;
        let mut end = start + 1;
        while end < entries.len() && entries[end].0 == key {
            end += 1;
        }
        let block = &entries[start..end];
        if block.len() > max_block {
            skipped += 1;
        } else {
            for x in 0..block.len() {
                for y in x + 1..block.len() {
                    let (a, b) = (block[x].1, block[y].1);
                    if group[a as usize] == group[b as usize] {
                        continue;
                    }
                    let (a, b) = if a < b { (a, b) } else { (b, a) };
                    packed.push(((a as u64) << 32) | b as u64);
                }
            }
            if packed.len() >= CHUNK {
                flush(&mut packed, &mut unique);
            }
        }
        start = end;
    }
    drop(entries);
    flush(&mut packed, &mut unique);
    let packed = unique;
    Candidates {
        pairs: packed.into_iter().map(|p| ((p >> 32) as u32, p as u32)).collect(),
        skipped_blocks: skipped,
    }
}
