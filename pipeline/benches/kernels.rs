//! Kernel benchmarks for `make bench` (section "kernels"): identity encoding
//! rate, Bloom-filter Dice comparisons and whole-pair comparisons per second
//! on one core. Prints one JSON object; bench/run.py writes BENCHMARKS.md.
//!
//! Inputs are generated here from the demo's name lists (with a seeded
//! generator), so every record is different and the encoder's caches see a
//! realistic mix, not one repeated name.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use braid::demo::names::{self, Origin};
use braid::protect::encode::dice;
use braid::protect::normalize::NameOrder;
use braid::protect::variants::NameVariants;
use braid::protect::{Encoder, Hardening, Identity, RawIdentity};
use braid::secret::Keys;
use chrono::NaiveDate;
use rand::{Rng, SeedableRng};

struct Row {
    given: String,
    family: String,
    dob: NaiveDate,
    phone: String,
    email: String,
    street: String,
    zip: String,
}

fn rows(n: usize) -> Vec<Row> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let origins = [
        Origin::Mexican,
        Origin::CentralAmerican,
        Origin::Arab,
        Origin::Afghan,
        Origin::Somali,
        Origin::Vietnamese,
        Origin::Chinese,
        Origin::Ukrainian,
        Origin::Haitian,
        Origin::Burmese,
        Origin::UsBorn,
    ];
    let base = NaiveDate::from_ymd_opt(1950, 1, 1).expect("date");
    (0..n)
        .map(|i| {
            // Origins whose names the demo builds from syllables have no list.
            let female = rng.random_bool(0.5);
            let (g, f) = loop {
                let o = origins[rng.random_range(0..origins.len())];
                let (g, f) = (names::extra_given(o, female), names::extra_family(o));
                if !g.is_empty() && !f.is_empty() {
                    break (g, f);
                }
            };
            let given = g[rng.random_range(0..g.len())].to_string();
            let family = f[rng.random_range(0..f.len())].to_string();
            let phone = format!("(510) {:03}-{:04}", rng.random_range(200..999), rng.random_range(0..10_000));
            let email = format!("{}.{}{}@example.org", given.to_lowercase(), family.to_lowercase(), i % 97);
            let street = format!("{} {} St", rng.random_range(1..9999), names::STREETS[rng.random_range(0..names::STREETS.len())]);
            Row {
                given,
                family,
                dob: base + chrono::Days::new(rng.random_range(0..20_000)),
                phone,
                email,
                street,
                zip: format!("94{:03}", rng.random_range(0..1000)),
            }
        })
        .collect()
}

fn encoder() -> Encoder {
    let keys = Keys::from_secret(b"benchmark secret, 32 bytes or more, not a real key", braid::secret::SecretSource::Env)
        .expect("key");
    Encoder::new(&keys, Arc::new(NameVariants::parse(braid::protect::variants::BUILTIN, "builtin").expect("names")), Hardening::default())
}

fn main() {
    const N: usize = 200_000;
    let data = rows(N);
    let mut enc = encoder();
    // Encoding: one core, every identifier of a record.
    let t = Instant::now();
    let ids: Vec<Identity> = data
        .iter()
        .map(|r| {
            enc.encode(&RawIdentity {
                given: Some(&r.given),
                family: Some(&r.family),
                dob: Some(r.dob),
                sex: Some(1),
                phone: Some(&r.phone),
                email: Some(&r.email),
                street: Some(&r.street),
                zip: Some(&r.zip),
                name_order: NameOrder::GivenFamily,
                ..Default::default()
            })
        })
        .collect();
    let encode_secs = t.elapsed().as_secs_f64();

    // Dice over Bloom filters: every pair among 8,192 filters (33.5M pairs), repeated.
    let blooms: Vec<_> = ids.iter().flat_map(|i| i.parts.iter().map(|p| p.bloom)).take(8192).collect();
    let t = Instant::now();
    let mut dice_n = 0u64;
    let mut acc = 0.0f64;
    for _ in 0..3 {
        for a in 0..blooms.len() {
            let x = &blooms[a];
            for y in &blooms[a + 1..] {
                acc += dice(black_box(x), black_box(y));
            }
            dice_n += (blooms.len() - a - 1) as u64;
        }
    }
    black_box(acc);
    let dice_secs = t.elapsed().as_secs_f64();

    // Whole-pair comparison (every field level), as linkage scores candidates.
    let t = Instant::now();
    let mut cmp_n = 0u64;
    let mut sink = 0u64;
    for (k, a) in ids.iter().enumerate() {
        for d in 1..=20 {
            let b = &ids[(k + d * 7919) % ids.len()];
            let l = braid::link::compare::compare(black_box(a), black_box(b));
            sink += l.given as u64 + l.dob as u64;
            cmp_n += 1;
        }
    }
    black_box(sink);
    let cmp_secs = t.elapsed().as_secs_f64();

    println!(
        "{{\"records\": {N}, \"encode_secs\": {encode_secs:.4}, \"encode_per_sec\": {:.0}, \"dice\": {dice_n}, \"dice_secs\": {dice_secs:.4}, \"dice_per_sec\": {:.0}, \"compare\": {cmp_n}, \"compare_secs\": {cmp_secs:.4}, \"compare_per_sec\": {:.0}}}",
        N as f64 / encode_secs,
        dice_n as f64 / dice_secs,
        cmp_n as f64 / cmp_secs
    );
}
