//! The `unmap` fit: which runs of inside ids between passthroughs to leave unmapped so that the map
//! fits both limits while unmapping the fewest ids: an exact optimum. Nothing is exposed.
//!
//! Owns the solver only; which runs may be left unmapped comes from `slots`.
//!
//! Each removable run is one extent of known bytes; leaving it unmapped costs its ids. Keep the
//! runs worth the most ids such that the kept ones fit the extents and bytes left over: a 0/1
//! knapsack with two budgets. Runs of equal bytes are interchangeable except for their ids, so
//! among runs of one byte size the kept ones are the largest (exchange argument: swapping a kept
//! run for a larger unkept one of the same bytes keeps both budgets and keeps more ids). A run's
//! line is 12 to 33 bytes, so there are few sizes; the dynamic programme runs over sizes, with
//! state (runs kept, bytes used), each size choosing how many of its largest runs to keep. Bytes
//! used by `k` runs lie within `k * min_size ..= k * max_size`, so the table has about
//! `k^2 * (max_size - min_size) / 2` cells, not `k * max_bytes`.

/// Which runs to keep mapped: the kept runs take at most `max_lines` extents and `max_bytes`
/// bytes (the room the rest of the map leaves) and hold the most ids. `sizes[i]` is run `i`'s
/// bytes, `costs[i]` its ids. Keeping none always fits.
pub(crate) fn keep(sizes: &[u32], costs: &[u64], max_lines: u64, max_bytes: u64) -> Vec<bool> {
    let m = sizes.len();
    if m == 0 {
        return Vec::new();
    }
    // Classes by size, each sorted by ids, largest first (ties: by index, for a stable result).
    let mut by_size: Vec<u32> = sizes.to_vec();
    by_size.sort_unstable();
    by_size.dedup();
    let classes: Vec<Vec<usize>> = by_size
        .iter()
        .map(|&s| {
            let mut members: Vec<usize> = (0..m).filter(|&i| sizes[i] == s).collect();
            members.sort_unstable_by_key(|&i| (std::cmp::Reverse(costs[i]), i));
            members
        })
        .collect();
    let (lo, hi) = (u64::from(by_size[0]), u64::from(by_size[by_size.len() - 1]));
    let max_k = (m as u64).min(max_lines).min(max_bytes / lo) as usize;
    // Cells: for k kept runs, bytes from k * lo up to min(k * hi, max_bytes).
    let width = |k: usize| ((k as u64 * hi).min(max_bytes) + 1).saturating_sub(k as u64 * lo);
    let mut offset = vec![0usize; max_k + 2];
    for k in 0..=max_k {
        offset[k + 1] = offset[k] + width(k) as usize;
    }
    let cell = |k: usize, b: u64| -> Option<usize> {
        if k > max_k {
            return None;
        }
        let from = k as u64 * lo;
        (b >= from && b - from < width(k)).then(|| offset[k] + (b - from) as usize)
    };
    const NONE: i64 = -1;
    let cells = offset[max_k + 1];
    let mut table = vec![NONE; cells];
    table[cell(0, 0).expect("the empty choice fits")] = 0;
    // choice[c][cell]: how many of class c's runs the best way to that cell keeps.
    let mut choices: Vec<Vec<u16>> = Vec::with_capacity(classes.len());
    for (c, members) in classes.iter().enumerate() {
        let size = u64::from(by_size[c]);
        let mut prefix = vec![0i64];
        for &i in members {
            prefix.push(prefix[prefix.len() - 1] + costs[i] as i64);
        }
        let mut next = vec![NONE; cells];
        let mut choice = vec![0u16; cells];
        for (k, &at) in offset.iter().enumerate().take(max_k + 1) {
            let from = k as u64 * lo;
            for b in from..from + width(k) {
                let here = at + (b - from) as usize;
                let old = table[here];
                if old == NONE {
                    continue;
                }
                for (t, &gain) in prefix.iter().enumerate() {
                    let Some(to) = cell(k + t, b + t as u64 * size) else {
                        if k + t > max_k || b + t as u64 * size > max_bytes {
                            break;
                        }
                        continue;
                    };
                    if old + gain > next[to] {
                        next[to] = old + gain;
                        choice[to] = t as u16;
                    }
                }
            }
        }
        table = next;
        choices.push(choice);
    }
    // The best cell, then back through the classes.
    let mut best = (NONE, 0, 0);
    for k in 0..=max_k {
        let from = k as u64 * lo;
        for b in from..from + width(k) {
            let v = table[offset[k] + (b - from) as usize];
            if v > best.0 {
                best = (v, k, b);
            }
        }
    }
    let (_, mut k, mut b) = best;
    let mut kept = vec![false; m];
    for c in (0..classes.len()).rev() {
        let t = usize::from(choices[c][cell(k, b).expect("a reached cell")]);
        for &i in &classes[c][..t] {
            kept[i] = true;
        }
        k -= t;
        b -= t as u64 * u64::from(by_size[c]);
    }
    kept
}
