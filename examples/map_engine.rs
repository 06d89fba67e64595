//! Times `idmap::build` on sparse id sets (see benches/map-engine.sh).
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
    let p = MapParams {
        over_budget: OverBudget::Expose,
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
        let sets: Vec<IdSet> = (1..=5).map(|s| sparse(count, lo, hi, s * 7919)).collect();
        let t = Instant::now();
        let mut exposed = 0;
        for s in &sets {
            let m = build(IdKind::Uid, s, &IdSet::new(), &p).unwrap();
            exposed += m.exposed.len();
        }
        let per = t.elapsed().as_secs_f64() / sets.len() as f64;
        println!("{name}: {:.3} ms per map (exposed {exposed})", per * 1e3);
    }
}
