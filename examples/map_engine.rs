//! Times `idmap::build` on sparse id sets, per over-budget policy:
//! `cargo run --release --example map_engine [-- expose|unmap [MAX_IDS]]`.
use std::time::Instant;

use idfed::idmap::{MapParams, OverBudget, build};
use idfed::ids::{IdKind, IdRange, IdSet};

fn sparse(count: usize, lo: u64, hi: u64, seed: u64) -> IdSet {
    let mut rng = seed.max(1);
    let mut out = IdSet::new();
    while (out.len() as usize) < count {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let id = lo + rng % (hi - lo);
        if id != 100_000 {
            out.insert(IdRange::single(id as u32).unwrap());
        }
    }
    out
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let policies = match args.first() {
        Some(p) => vec![p.parse::<OverBudget>().unwrap()],
        None => vec![OverBudget::Expose, OverBudget::Unmap],
    };
    let max_ids: usize = args.get(1).map_or(usize::MAX, |n| n.parse().unwrap());
    for over_budget in policies {
        let p = MapParams {
            over_budget,
            ..MapParams::default()
        };
        for (name, count, lo, hi) in [
            ("2000 small", 2000usize, 1000u64, 65536u64),
            ("2000 medium", 2000, 200_000, 5_000_000),
            ("2000 10-digit", 2000, 1_000_000_000, 4_294_967_000),
            ("50000 small", 50_000, 1000, 99_999),
            ("50000 medium", 50_000, 200_000, 5_000_000),
            ("50000 10-digit", 50_000, 1_000_000_000, 4_294_967_000),
        ] {
            if count > max_ids {
                continue;
            }
            let sets: Vec<IdSet> = (1..=5).map(|s| sparse(count, lo, hi, s * 7919)).collect();
            let t = Instant::now();
            let (mut fitted, mut exposed, mut unmapped) = (0, 0, 0);
            for s in &sets {
                // Unmap cannot fit ids above the CT's range (nothing between them to unmap).
                if let Ok(m) = build(IdKind::Uid, s, &IdSet::new(), &p) {
                    fitted += 1;
                    exposed += m.exposed.len();
                    unmapped += m.unmapped.len();
                }
            }
            let per = t.elapsed().as_secs_f64() / sets.len() as f64;
            println!(
                "{over_budget} {name}: {:.3} ms per map ({fitted} of {} fitted, exposed {exposed}, unmapped {unmapped})",
                per * 1e3,
                sets.len()
            );
        }
    }
}
