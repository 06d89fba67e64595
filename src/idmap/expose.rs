//! The `expose` fit: which gaps between passthrough ranges to close so that the map fits both
//! limits (extents and bytes) while exposing the fewest ids: an exact optimum.
//!
//! Owns the solver only; which gaps may close and what each costs come from `slots`.
//!
//! # The problem
//!
//! The passthrough ranges `r_0 .. r_{n-1}` are cut into chains of neighbours merged across closed
//! gaps; every open gap ends a chain. A chain `i..=j` is one extent of
//! `2 d(s_i) + d(e_j - s_i) + 3` bytes (`d` = decimal digits), and an open gap `g` keeps its runs
//! (`lines_g` extents, `bytes_g` bytes; see `slots`). Closing `g` exposes `value_g` ids. Maximise
//! the ids of the open gaps subject to `extents <= L` and `bytes <= W`: a resource-constrained
//! longest path in the DAG whose nodes are chain starts and whose edges are chains. The byte cost
//! of an edge depends on both its ends (the digits of the count), which is why a choice of gaps
//! that is cheapest one by one (smallest first, or any ranking of gaps) is not exact.
//!
//! # The algorithm
//!
//! 1. **Lagrangian bound.** For multipliers `λ, μ >= 0` the relaxed problem (maximise
//!    `value - λ·bytes - μ·extents`, no limits) is a plain longest path. The edge cost from start
//!    `i` takes only ten values (one per digit count `δ` of the chain's count), and for each `δ`
//!    the starts `i` whose chain ending at `j` has `δ` digits form a window of indices that slides
//!    right as `j` grows; a monotone queue per `δ` gives each node's best predecessor in O(1), so
//!    one pass is O(10 n) ([`Chains::forward`]), and the same holds backwards
//!    ([`Chains::backward`]). For any feasible path, `value <= relaxed(λ, μ) + λW + μL`, so the
//!    relaxation is an upper bound, and so is `G(i) + λ(W - b) + μ(L - k)` for the best completion
//!    of a partial path at chain start `i` that used `k` extents and `b` bytes. `λ` and `μ` are
//!    tuned by cutting planes on the piecewise-linear dual (each relaxed optimum is a line; the
//!    next point is where the two bracketing lines cross), and every relaxed optimum that fits is
//!    an incumbent.
//!    The incumbent starts as smallest-first closing with a reopening pass ([`Chains::greedy`]).
//! 2. **Exact label search.** Gaps are visited in order; a label is a partial path whose last
//!    chain is still open, `(extents, bytes, ids, chain start)`. At each gap it either lets its
//!    chain run on (when the gap may close) or ends the chain and opens the gap. Nothing is cut
//!    short: a label is dropped only when its bound is below the incumbent plus one id, when its
//!    chain can no longer end within the bytes, or when another label at the same gap has no
//!    more extents, no more bytes, at least as many ids and a chain starting no earlier.
//!
//! # Why the result is exact (the exchange argument)
//!
//! Take an optimal path `P*` and a label `ℓ` at gap `j` that is dominated by a kept label `ℓ'`
//! at `j` (`k' <= k`, `b' <= b`, `v' >= v`, chain start `s' >= s`). Continue `ℓ'` exactly as
//! `P*` continues `ℓ` (same later open gaps): every later chain is identical, and the chain in
//! progress ends at the same range with a count `e - s' <= e - s`, so no more digits. Extents and
//! bytes stay within the budget and the ids are no fewer: an optimal path survives through `ℓ'`. A partial
//! path whose bound is below `incumbent + 1` cannot complete to a better path than the incumbent
//! because the bound is valid for every `λ, μ >= 0` (weak duality) and values are integers.
//! All arithmetic is exact: multipliers are fixed-point (`1/2^20` id per byte or extent) and the
//! sums are `i128`, so no rounding can drop a path.
//!
//! The bound also explains the speed: on real sets the duality gap is a few ids, so only paths
//! within that gap of the relaxed optimum survive; the search ends at step 1 when the incumbent
//! meets the bound. Many equal gaps (ties) are the slow case: every arrangement is as good.

use super::extent::digits;

/// Fixed-point scale of the multipliers.
const SCALE: i128 = 1 << 20;

/// `10^k` for `k` in `0..=10`.
const POW10: [u64; 11] = [
    1,
    10,
    100,
    1_000,
    10_000,
    100_000,
    1_000_000,
    10_000_000,
    100_000_000,
    1_000_000_000,
    10_000_000_000,
];

/// The merge problem over `n` passthrough ranges and the `n - 1` gaps between them.
#[derive(Clone, Debug)]
pub(crate) struct Chains {
    pub(crate) starts: Vec<u32>,
    pub(crate) ends: Vec<u32>,
    /// Per gap: the ids closing it would expose (0 for a gap that must stay open).
    pub(crate) value: Vec<u64>,
    /// Per gap: must it stay open?
    pub(crate) forced: Vec<bool>,
    /// Per gap: extents and bytes it adds while open (its runs).
    pub(crate) lines: Vec<u32>,
    pub(crate) bytes: Vec<u32>,
    /// The budget left for chains and open gaps (inclusive).
    pub(crate) max_lines: u64,
    pub(crate) max_bytes: u64,
}

/// One choice of open gaps and what it costs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Choice {
    pub(crate) open: Vec<bool>,
    pub(crate) lines: u64,
    pub(crate) bytes: u64,
    /// Ids of the open gaps that could have closed: the ids not exposed.
    pub(crate) value: u64,
}

/// A queue of (index, score) whose front holds the best score of the indices still in it; indices
/// enter and leave in the same order (sliding window maximum).
#[derive(Default)]
struct MaxQueue {
    items: Vec<(usize, i128)>,
    head: usize,
}

impl MaxQueue {
    fn push(&mut self, index: usize, score: i128) {
        while self.items.len() > self.head && self.items[self.items.len() - 1].1 <= score {
            self.items.pop();
        }
        self.items.push((index, score));
    }

    fn front(&self) -> Option<(usize, i128)> {
        self.items.get(self.head).copied()
    }

    fn pop_front(&mut self) {
        self.head += 1;
    }
}

/// A partial path at a chain start.
#[derive(Clone, Copy, Debug)]
struct Label {
    lines: u64,
    bytes: u64,
    value: u64,
    /// The range the label's last chain starts at.
    start: u32,
    /// The label it extends (`u32::MAX` for the root) and the gap it opened to get here.
    prev: u32,
    gap: u32,
}

impl Chains {
    fn n(&self) -> usize {
        self.starts.len()
    }

    /// Bytes of the line of a chain starting at range `i`, without its count.
    fn start_bytes(&self, i: usize) -> u64 {
        u64::from(2 * digits(self.starts[i].into()) + 3)
    }

    /// Extents, bytes and value of a choice of open gaps.
    pub(crate) fn evaluate(&self, open: Vec<bool>) -> Choice {
        let n = self.n();
        let (mut lines, mut bytes, mut value) = (0u64, 0u64, 0u64);
        let mut start = 0;
        for j in 0..n {
            if open.get(j).is_none_or(|&o| o) {
                lines += 1;
                bytes += self.start_bytes(start)
                    + u64::from(digits(u64::from(self.ends[j] - self.starts[start])));
                if j + 1 < n {
                    lines += u64::from(self.lines[j]);
                    bytes += u64::from(self.bytes[j]);
                    value += self.value[j];
                }
                start = j + 1;
            }
        }
        Choice {
            open,
            lines,
            bytes,
            value,
        }
    }

    fn fits(&self, c: &Choice) -> bool {
        c.lines <= self.max_lines && c.bytes <= self.max_bytes
    }

    /// The scaled relaxed score of opening gap `j` (not counting its chain).
    fn gap_score(&self, j: usize, lam: i128, mu: i128) -> i128 {
        SCALE * i128::from(self.value[j])
            - lam * i128::from(self.bytes[j])
            - mu * i128::from(self.lines[j])
    }

    /// The relaxed optimum for `(λ, μ)` (scaled by [`SCALE`]): its score and its choice.
    fn forward(&self, lam: i128, mu: i128) -> (i128, Choice) {
        let n = self.n();
        let mut best_from = vec![0usize; n];
        let mut f = vec![0i128; n];
        let start_score = |f: i128, i: usize| f - lam * i128::from(self.start_bytes(i) as u32) - mu;
        let mut queues: [MaxQueue; 11] = Default::default();
        let mut next = [0usize; 11];
        let mut scores = vec![0i128; n];
        scores[0] = start_score(0, 0);
        let mut first = 0;
        let mut terminal = 0;
        for j in 0..n {
            let end = u64::from(self.ends[j]);
            let mut best = i128::MIN;
            let mut arg = j;
            for delta in 1..=10 {
                let (lo, hi) = (POW10[delta - 1], POW10[delta]);
                let q = &mut queues[delta];
                while next[delta] <= j && end - u64::from(self.starts[next[delta]]) >= lo {
                    q.push(next[delta], scores[next[delta]]);
                    next[delta] += 1;
                }
                while let Some((i, _)) = q.front() {
                    if i < first || end - u64::from(self.starts[i]) >= hi {
                        q.pop_front();
                    } else {
                        break;
                    }
                }
                if let Some((i, s)) = q.front() {
                    let s = s - lam * delta as i128;
                    if s > best {
                        best = s;
                        arg = i;
                    }
                }
            }
            best_from[j] = arg;
            if j + 1 < n {
                f[j + 1] = best + self.gap_score(j, lam, mu);
                scores[j + 1] = start_score(f[j + 1], j + 1);
                if self.forced[j] {
                    first = j + 1;
                }
            } else {
                terminal = best;
            }
        }
        let mut open = vec![false; n.saturating_sub(1)];
        let mut j = n - 1;
        loop {
            let i = best_from[j];
            if i == 0 {
                break;
            }
            open[i - 1] = true;
            j = i - 1;
        }
        (terminal, self.evaluate(open))
    }

    /// `g[i]`: the best relaxed score of a suffix whose first chain starts at range `i`; and
    /// `h[j]` for every gap `j`: the score of opening it plus the best suffix after it.
    fn backward(&self, lam: i128, mu: i128) -> (Vec<i128>, Vec<i128>) {
        let n = self.n();
        let mut g = vec![0i128; n];
        let mut h = vec![0i128; n];
        let mut queues: [MaxQueue; 11] = Default::default();
        let mut next = [n as isize - 1; 11];
        let mut last = n - 1;
        for i in (0..n).rev() {
            if i + 1 < n {
                if self.forced[i] {
                    last = i;
                }
                h[i] = self.gap_score(i, lam, mu) + g[i + 1];
            }
            let start = u64::from(self.starts[i]);
            let mut best = i128::MIN;
            for delta in 1..=10 {
                let (lo, hi) = (POW10[delta - 1], POW10[delta]);
                let q = &mut queues[delta];
                while next[delta] >= i as isize
                    && u64::from(self.ends[next[delta] as usize]) - start >= lo
                {
                    q.push(next[delta] as usize, h[next[delta] as usize]);
                    next[delta] -= 1;
                }
                while let Some((j, _)) = q.front() {
                    if j > last || u64::from(self.ends[j]) - start >= hi {
                        q.pop_front();
                    } else {
                        break;
                    }
                }
                if let Some((_, s)) = q.front() {
                    best = best.max(s - lam * delta as i128);
                }
            }
            g[i] = best - lam * i128::from(self.start_bytes(i) as u32) - mu;
        }
        (g, h)
    }

    /// Tunes one multiplier (`λ` when `bytes`, else `μ`) with the other fixed, by cutting planes
    /// on the dual; notes every relaxed optimum that fits. Returns the multiplier whose bound was
    /// lowest, and that bound.
    fn tune(
        &self,
        bytes: bool,
        other: i128,
        incumbent: &mut Choice,
        max_value: u64,
    ) -> (i128, i128) {
        let at = |x: i128| if bytes { (x, other) } else { (other, x) };
        let used = |c: &Choice| i128::from(if bytes { c.bytes } else { c.lines });
        let cap = i128::from(if bytes {
            self.max_bytes
        } else {
            self.max_lines
        });
        let other_used = |c: &Choice| i128::from(if bytes { c.lines } else { c.bytes });
        let other_cap = i128::from(if bytes {
            self.max_lines
        } else {
            self.max_bytes
        });
        let mut note = |c: &Choice| {
            if self.fits(c) && c.value > incumbent.value {
                *incumbent = c.clone();
            }
        };
        // The dual value at x for a choice: a line in x.
        let line = |c: &Choice, x: i128| {
            SCALE * i128::from(c.value) - x * (used(c) - cap) - other * (other_used(c) - other_cap)
        };
        let (score, lo) = self.forward(at(0).0, at(0).1);
        note(&lo);
        let mut best = (0, score + other * other_cap);
        if used(&lo) <= cap {
            return best;
        }
        // Past this, opening any gap costs more than it can gain (each open gap adds at least
        // one extent and five bytes: see `slots`).
        let top = SCALE * (i128::from(max_value) + 1);
        let (score, hi) = self.forward(at(top).0, at(top).1);
        note(&hi);
        let z = score + top * cap + other * other_cap;
        if z < best.1 {
            best = (top, z);
        }
        let (mut lo, mut hi) = (lo, hi);
        if used(&hi) > cap {
            return best;
        }
        let mut prev = -1;
        for _ in 0..64 {
            let den = used(&lo) - used(&hi);
            let num = SCALE * (i128::from(lo.value) - i128::from(hi.value))
                - other * (other_used(&lo) - other_used(&hi));
            let x = num.div_euclid(den).max(0);
            if x == prev {
                break;
            }
            prev = x;
            let (p, q) = at(x);
            let (score, c) = self.forward(p, q);
            note(&c);
            let z = score + x * cap + other * other_cap;
            if z < best.1 {
                best = (x, z);
            }
            if z <= line(&lo, x).max(line(&hi, x)) {
                break;
            }
            if used(&c) > cap {
                lo = c;
            } else {
                hi = c;
            }
        }
        best
    }

    /// The choice of open gaps that fits and exposes the fewest ids, or `None` when even closing
    /// every closable gap does not fit.
    pub(crate) fn solve(&self) -> Option<Choice> {
        let n = self.n();
        let all_closed = self.evaluate(self.forced.clone());
        if !self.fits(&all_closed) {
            return None;
        }
        if n < 2 {
            return Some(all_closed);
        }
        let max_value = self.value.iter().copied().max().unwrap_or(0);
        let mut incumbent = self.greedy();
        let (mut lam, mut z) = self.tune(true, 0, &mut incumbent, max_value);
        let mut mu = 0;
        if z >= SCALE * (i128::from(incumbent.value) + 1) {
            // The extents may bind as well: tune μ at this λ, then λ again at that μ.
            let (m, zm) = self.tune(false, lam, &mut incumbent, max_value);
            if zm < z {
                (mu, z) = (m, zm);
                let (l, zl) = self.tune(true, mu, &mut incumbent, max_value);
                if zl < z {
                    (lam, z) = (l, zl);
                }
            }
        }
        if z < SCALE * (i128::from(incumbent.value) + 1) {
            return Some(incumbent);
        }
        Some(self.search(lam, mu, incumbent))
    }

    /// A good choice that fits, fast: close gaps smallest first until the map fits, then reopen
    /// every closed gap (largest first) that still fits open. Only an incumbent for the bound.
    fn greedy(&self) -> Choice {
        let n = self.n();
        let chain = |a: usize, b: usize| {
            (self.start_bytes(a) + u64::from(digits(u64::from(self.ends[b] - self.starts[a]))))
                as i64
        };
        let mut open = vec![true; n - 1];
        let mut lines = n as i64;
        let mut bytes: i64 = (0..n).map(|i| chain(i, i)).sum();
        for j in 0..n - 1 {
            lines += i64::from(self.lines[j]);
            bytes += i64::from(self.bytes[j]);
        }
        // The start of the chain ending at range i, and the end of the chain starting at i
        // (kept up to date at chain ends only).
        let mut start_of: Vec<usize> = (0..n).collect();
        let mut end_of: Vec<usize> = (0..n).collect();
        let mut order: Vec<usize> = (0..n - 1).filter(|&j| !self.forced[j]).collect();
        order.sort_unstable_by_key(|&j| (self.value[j], j));
        let fits = |lines: i64, bytes: i64| {
            lines <= self.max_lines as i64 && bytes <= self.max_bytes as i64
        };
        let mut closed = Vec::new();
        for &j in &order {
            if fits(lines, bytes) {
                break;
            }
            let (a, b) = (start_of[j], end_of[j + 1]);
            bytes += chain(a, b) - chain(a, j) - chain(j + 1, b) - i64::from(self.bytes[j]);
            lines -= 1 + i64::from(self.lines[j]);
            end_of[a] = b;
            start_of[b] = a;
            open[j] = false;
            closed.push(j);
        }
        if !fits(lines, bytes) {
            return self.evaluate(self.forced.clone());
        }
        let mut opened: std::collections::BTreeSet<usize> =
            (0..n - 1).filter(|&j| open[j]).collect();
        for &j in closed.iter().rev() {
            let a = opened.range(..j).next_back().map_or(0, |&g| g + 1);
            let b = opened.range(j..).next().copied().unwrap_or(n - 1);
            let more_bytes = chain(a, j) + chain(j + 1, b) + i64::from(self.bytes[j]) - chain(a, b);
            let more_lines = 1 + i64::from(self.lines[j]);
            if fits(lines + more_lines, bytes + more_bytes) {
                lines += more_lines;
                bytes += more_bytes;
                opened.insert(j);
                open[j] = true;
            }
        }
        let choice = self.evaluate(open);
        debug_assert!(self.fits(&choice) && choice.lines as i64 == lines);
        choice
    }

    /// The exact label search under the bound of `(λ, μ)`, starting from `incumbent`.
    ///
    /// Labels are partial paths whose last chain is still open: `(extents, bytes, ids, start)`,
    /// with the last chain's extent and its start's bytes already counted (its count's digits
    /// are counted when it ends). At each gap every label either lets its chain run on (when the
    /// gap may close) or ends it there and opens the gap, giving a label whose chain starts at
    /// the next range. A label is dropped when its bound cannot beat the incumbent, or when
    /// another at the same gap has no more extents, no more bytes, at least as many ids and a
    /// chain starting no earlier (so its chain's count, whatever its end, has no more digits).
    fn search(&self, lam: i128, mu: i128, incumbent: Choice) -> Choice {
        let n = self.n();
        let (g, _) = self.backward(lam, mu);
        let (wl, wb) = (self.max_lines, self.max_bytes);
        // The bound of a fresh chain at `i` whose extent and start bytes are already counted.
        let rest = |i: usize| g[i] + lam * i128::from(self.start_bytes(i)) + mu;
        let bound = |l: &Label| {
            SCALE * i128::from(l.value)
                + lam * (i128::from(wb) - i128::from(l.bytes))
                + mu * (i128::from(wl) - i128::from(l.lines))
                + rest(l.start as usize)
        };
        let mut arena = vec![Label {
            lines: 1,
            bytes: self.start_bytes(0),
            value: 0,
            start: 0,
            prev: u32::MAX,
            gap: u32::MAX,
        }];
        let mut best_value = incumbent.value;
        let mut best_label: Option<u32> = None;
        let mut active: Vec<u32> = vec![0];
        let mut born: Vec<u32> = Vec::new();
        for j in 0..n {
            let end = u64::from(self.ends[j]);
            let count_bytes =
                |l: &Label| u64::from(digits(end - u64::from(self.starts[l.start as usize])));
            if j + 1 == n {
                for &li in &active {
                    let l = arena[li as usize];
                    if l.lines <= wl && l.bytes + count_bytes(&l) <= wb && l.value > best_value {
                        best_value = l.value;
                        best_label = Some(li);
                    }
                }
                break;
            }
            let target = SCALE * (i128::from(best_value) + 1);
            born.clear();
            let next_start = self.start_bytes(j + 1);
            for &li in &active {
                let l = arena[li as usize];
                let ended = l.bytes + count_bytes(&l);
                if ended > wb {
                    continue;
                }
                let opened = Label {
                    lines: l.lines + u64::from(self.lines[j]) + 1,
                    bytes: ended + u64::from(self.bytes[j]) + next_start,
                    value: l.value + self.value[j],
                    start: (j + 1) as u32,
                    prev: li,
                    gap: j as u32,
                };
                if opened.lines <= wl && opened.bytes < wb && bound(&opened) >= target {
                    arena.push(opened);
                    born.push((arena.len() - 1) as u32);
                }
            }
            if self.forced[j] {
                active.clear();
            } else {
                // A chain that can no longer end within the budget is dead.
                active.retain(|&li| {
                    let l = &arena[li as usize];
                    l.bytes + count_bytes(l) <= wb && bound(l) >= target
                });
            }
            active.extend_from_slice(&born);
            prune(&arena, &mut active);
        }
        let Some(mut li) = best_label else {
            return incumbent;
        };
        let mut open = vec![false; n - 1];
        while arena[li as usize].prev != u32::MAX {
            open[arena[li as usize].gap as usize] = true;
            li = arena[li as usize].prev;
        }
        let choice = self.evaluate(open);
        debug_assert!(self.fits(&choice) && choice.value == best_value);
        choice
    }
}

/// Drops the labels another label dominates: no more extents, no more bytes, at least as many
/// ids, a chain starting no earlier. Only labels with equal extents are compared (cheaply: by
/// start, latest first, against a staircase of bytes to ids); missing a cross-extents domination
/// keeps a label that could go, which costs time, never exactness.
fn prune(arena: &[Label], active: &mut Vec<u32>) {
    active.sort_unstable_by_key(|&li| {
        let l = &arena[li as usize];
        (
            l.lines,
            std::cmp::Reverse(l.start),
            l.bytes,
            std::cmp::Reverse(l.value),
        )
    });
    let mut out = Vec::with_capacity(active.len());
    // (bytes, value) pairs, bytes increasing and value increasing: the best value at most bytes.
    let mut stairs: Vec<(u64, u64)> = Vec::new();
    let mut lines = u64::MAX;
    for &li in active.iter() {
        let l = &arena[li as usize];
        if l.lines != lines {
            lines = l.lines;
            stairs.clear();
        }
        let at = stairs.partition_point(|&(b, _)| b <= l.bytes);
        if at > 0 && stairs[at - 1].1 >= l.value {
            continue;
        }
        out.push(li);
        // Insert (bytes, value), dropping the steps it now covers.
        let mut end = at;
        while end < stairs.len() && stairs[end].1 <= l.value {
            end += 1;
        }
        stairs.splice(at..end, [(l.bytes, l.value)]);
    }
    *active = out;
}
