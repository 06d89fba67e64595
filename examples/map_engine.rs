//! The map engine's micro-benchmark (issue 13): times `idmap::build` on sparse id sets, per
//! over-budget policy, against a baseline measured in the same run on the same sets: sorting the
//! ids and writing the unfitted map's text (one line per passthrough range), the least any map
//! builder does with its input.
//!
//! `benches/map_engine.sh` builds it in release and runs it; by hand:
//! `cargo run --release --example map_engine [-- expose|unmap|all [MAX_IDS [SETS [MAX_EXTENTS]]]]`
//! (`MAX_EXTENTS` below 340 makes the extents bind beside the bytes).
//! Shapes: 400 ids drawn as the benchmark cluster's sparse shape draws its users (`mixed`), and
//! 2,000 and 50,000 ids drawn uniformly from 1000-65535 (inside the CT's range: every gap
//! holds runs of the base range), 200,000-5,000,000 (seven digits) and 1,000,000,000-4,294,967,000
//! (ten digits); `SETS` (default 5) seeded sets each.
use std::hint::black_box;
use std::time::Instant;

use idfed::idmap::{Extent, MapParams, OverBudget, build, kernel_text};
use idfed::ids::{IdKind, IdRange, IdSet};

// The allocator `idfed` itself runs on (src/main.rs), so the figures are those `plan` gets.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `count` distinct ids, each drawn by `draw` from the next number of a seeded xorshift
/// generator (`None`: draw again), in the order drawn.
fn distinct(count: usize, seed: u64, draw: impl Fn(u64) -> Option<u32>) -> Vec<u32> {
    let mut rng = seed.max(1);
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        if let Some(id) = draw(rng).filter(|&id| seen.insert(id)) {
            out.push(id);
        }
    }
    out
}

/// `count` distinct ids from `[lo, hi)`, never the base id, in the order drawn.
fn sparse(count: usize, lo: u64, hi: u64, seed: u64) -> Vec<u32> {
    distinct(count, seed, |r| {
        Some((lo + r % (hi - lo)) as u32).filter(|&id| id != 100_000)
    })
}

/// `count` distinct uids drawn as `benches/gen_cluster.py --shape sparse` draws its users': 60% in
/// 10000-65535, 25% in 165536-999999, 15% in 1,000,000-4,999,999.
fn mixed(count: usize, seed: u64) -> Vec<u32> {
    distinct(count, seed, |r| {
        let (lo, hi) = match r % 100 {
            0..60 => (10_000, 65_536),
            60..85 => (165_536, 1_000_000),
            _ => (1_000_000, 5_000_000),
        };
        Some((lo + (r >> 8) % (hi - lo)) as u32)
    })
}

/// The baseline: sort the ids, coalesce them and write the map text of their ranges as they are.
fn baseline(ids: &[u32]) -> usize {
    let mut sorted = ids.to_vec();
    sorted.sort_unstable();
    let set: IdSet = sorted
        .iter()
        .map(|&i| IdRange::single(i).unwrap())
        .collect();
    let extents: Vec<Extent> = set
        .ranges()
        .iter()
        .map(|r| Extent::new(IdKind::Uid, r.start(), r.start(), r.count()))
        .collect();
    kernel_text(&extents).len()
}

/// The median of `runs` timings of `f`, in seconds.
fn median(runs: usize, mut f: impl FnMut()) -> f64 {
    let mut times: Vec<f64> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times[runs / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let policies = match args.first().map(String::as_str) {
        Some("all") | None => vec![OverBudget::Expose, OverBudget::Unmap],
        Some(p) => vec![p.parse::<OverBudget>().unwrap()],
    };
    let max_ids: usize = args.get(1).map_or(usize::MAX, |n| n.parse().unwrap());
    let count_sets: u64 = args.get(2).map_or(5, |n| n.parse().unwrap());
    println!(
        "| policy | ids | shape | build per map | baseline per set | build / baseline | fitted | exposed or unmapped per map |"
    );
    println!("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |");
    for over_budget in policies {
        let p = MapParams {
            over_budget,
            max_extents: args
                .get(3)
                .map_or(MapParams::default().max_extents, |n| n.parse().unwrap()),
            ..MapParams::default()
        };
        for (count, shape, lo, hi) in [
            (400usize, "sparse shape", 0, 0),
            (2000, "1000-65535", 1000u64, 65536u64),
            (2000, "200,000-5,000,000", 200_000, 5_000_000),
            (2000, "ten digits", 1_000_000_000, 4_294_967_000),
            (50_000, "1000-65535", 1000, 65536),
            (50_000, "200,000-5,000,000", 200_000, 5_000_000),
            (50_000, "ten digits", 1_000_000_000, 4_294_967_000),
        ] {
            if count > max_ids {
                continue;
            }
            let raw: Vec<Vec<u32>> = (1..=count_sets)
                .map(|s| {
                    if hi == 0 {
                        mixed(count, s * 7919)
                    } else {
                        sparse(count, lo, hi, s * 7919)
                    }
                })
                .collect();
            let sets: Vec<IdSet> = raw
                .iter()
                .map(|ids| ids.iter().map(|&i| IdRange::single(i).unwrap()).collect())
                .collect();
            let runs = if count > 10_000 { 3 } else { 11 };
            let base = median(runs, || {
                for ids in &raw {
                    black_box(baseline(ids));
                }
            }) / sets.len() as f64;
            let (mut fitted, mut cost) = (0u64, 0u64);
            for s in &sets {
                // Unmap cannot fit ids above the CT's range (nothing between them to unmap).
                if let Ok(m) = build(IdKind::Uid, s, &IdSet::new(), &p) {
                    assert!(m.minimal_merge);
                    fitted += 1;
                    cost += m.exposed.len() + m.unmapped.len();
                }
            }
            let per = median(runs, || {
                for s in &sets {
                    let _ = black_box(build(IdKind::Uid, s, &IdSet::new(), &p));
                }
            }) / sets.len() as f64;
            println!(
                "| {over_budget} | {count} | {shape} | {:.3} ms | {:.3} ms | {:.1}x | {fitted} of {} | {} |",
                per * 1e3,
                base * 1e3,
                per / base,
                sets.len(),
                cost.checked_div(fitted)
                    .map_or_else(|| "-".to_string(), |c| c.to_string())
            );
        }
    }
}
