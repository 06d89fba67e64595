//! The cutting-plane model of the `expose` fit's Lagrangian dual in both multipliers (issue 13).
//!
//! Every relaxed optimum the fit has met is a choice of `value` ids, `bytes` and `lines`; for
//! multipliers `λ, μ >= 0` (ids per byte and per extent) it gives the plane
//! `value - λ (bytes - W) - μ (lines - L)`, and the dual is the maximum over all choices. The
//! model is the maximum over the choices met: a lower bound of the dual everywhere. Its lowest
//! point is where the next relaxation is worth solving (Kelley's method): tuning one multiplier
//! at a time zigzags for dozens of rounds when both limits bind (a 2,000-id map under 200
//! extents: still 1,100 ids above its optimum after 8 rounds), because the dual's valley runs
//! diagonally.
//!
//! Floating point is only a guide here: the fit solves the exact relaxation at the point this
//! returns (rounded to its fixed-point multipliers), and only that exact value is ever a bound.

/// One choice met: its ids, bytes and extents.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Plane {
    pub(crate) value: u64,
    pub(crate) bytes: u64,
    pub(crate) lines: u64,
}

/// The budget and the box the multipliers are searched in.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Box2 {
    pub(crate) max_bytes: u64,
    pub(crate) max_lines: u64,
    /// The largest useful multiplier (past it no gap is worth opening), in ids.
    pub(crate) top: f64,
}

/// How many planes, the highest at the best point so far, the corner search combines: the
/// lowest point is found among their crossings, and checked against every plane.
const NEAR: usize = 12;

/// The model's value at `(λ, μ)`.
fn height(planes: &[Plane], b: &Box2, lam: f64, mu: f64) -> f64 {
    planes
        .iter()
        .map(|p| {
            p.value as f64
                - lam * (p.bytes as f64 - b.max_bytes as f64)
                - mu * (p.lines as f64 - b.max_lines as f64)
        })
        .fold(f64::NEG_INFINITY, f64::max)
}

/// A low point of the model within `0 <= λ, μ <= top`, near `(lam, mu)`: the lowest of the
/// corners formed by the planes highest there (three planes, two and a side of the box, or one
/// and a corner), each measured against every plane. Returns `(λ, μ, height)`.
pub(crate) fn lowest(planes: &[Plane], b: &Box2, lam: f64, mu: f64) -> (f64, f64, f64) {
    let mut near: Vec<(f64, f64, f64)> = planes
        .iter()
        .map(|p| {
            (
                p.value as f64,
                p.bytes as f64 - b.max_bytes as f64,
                p.lines as f64 - b.max_lines as f64,
            )
        })
        .collect();
    near.sort_by(|x, y| {
        let at = |(v, p, q): (f64, f64, f64)| v - lam * p - mu * q;
        at(*y).total_cmp(&at(*x))
    });
    near.dedup();
    near.truncate(NEAR);
    let mut best = (lam, mu, height(planes, b, lam, mu));
    let mut consider = |l: f64, m: f64| {
        if !(l.is_finite() && m.is_finite()) || l < 0.0 || m < 0.0 || l > b.top || m > b.top {
            return;
        }
        let h = height(planes, b, l, m);
        if h < best.2 {
            best = (l, m, h);
        }
    };
    for (l, m) in [(0.0, 0.0), (b.top, 0.0), (0.0, b.top), (b.top, b.top)] {
        consider(l, m);
    }
    for (i, &(v1, p1, q1)) in near.iter().enumerate() {
        for (j, &(v2, p2, q2)) in near.iter().enumerate().skip(i + 1) {
            // Two planes meet along a line; where it crosses each side of the box.
            for side in [0.0, b.top] {
                // λ fixed at `side`: v1 - side p1 - μ q1 = v2 - side p2 - μ q2.
                consider(side, (v1 - v2 - side * (p1 - p2)) / (q1 - q2));
                consider((v1 - v2 - side * (q1 - q2)) / (p1 - p2), side);
            }
            for &(v3, p3, q3) in near.iter().skip(j + 1) {
                // λ (p2 - p1) + μ (q2 - q1) = v2 - v1, and the same with the third.
                let (a, c, e) = (p2 - p1, q2 - q1, v2 - v1);
                let (d, f, g) = (p3 - p1, q3 - q1, v3 - v1);
                let det = a * f - c * d;
                if det != 0.0 {
                    consider((e * f - c * g) / det, (a * g - e * d) / det);
                }
            }
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plane(value: u64, bytes: u64, lines: u64) -> Plane {
        Plane {
            value,
            bytes,
            lines,
        }
    }

    /// The model's lowest point on a fine grid, for comparison.
    fn grid_lowest(planes: &[Plane], b: &Box2) -> f64 {
        let steps = 400;
        let mut low = f64::INFINITY;
        for i in 0..=steps {
            for k in 0..=steps {
                let (l, m) = (
                    b.top * i as f64 / steps as f64,
                    b.top * k as f64 / steps as f64,
                );
                low = low.min(height(planes, b, l, m));
            }
        }
        low
    }

    #[test]
    fn the_lowest_corner_of_a_diagonal_valley_is_found_in_one_step() {
        // Over both limits, over the bytes only, over the extents only, within both: the dual's
        // lowest point needs both multipliers above 0, which no single-multiplier step reaches.
        let b = Box2 {
            max_bytes: 4000,
            max_lines: 200,
            top: 100.0,
        };
        let planes = [
            plane(10_000, 6000, 300),
            plane(9000, 4600, 190),
            plane(9000, 3800, 240),
            plane(8000, 3500, 170),
        ];
        let (l, m, h) = lowest(&planes, &b, 0.0, 0.0);
        assert!(l > 0.0 && m > 0.0, "{l} {m}");
        let grid = grid_lowest(&planes, &b);
        assert!(h <= grid + 1e-6, "{h} above the grid's {grid}");
        assert!((h - height(&planes, &b, l, m)).abs() < 1e-6);
    }

    #[test]
    fn the_lowest_point_is_within_the_box_and_no_higher_than_a_grid_finds() {
        let b = Box2 {
            max_bytes: 4078,
            max_lines: 100,
            top: 50.0,
        };
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % n
        };
        for _ in 0..20 {
            let planes: Vec<Plane> = (0..8)
                .map(|_| plane(5000 + next(5000), 2000 + next(4000), 50 + next(100)))
                .collect();
            let (l, m, h) = lowest(&planes, &b, b.top / 2.0, b.top / 2.0);
            assert!((0.0..=b.top).contains(&l) && (0.0..=b.top).contains(&m));
            // Eight planes are within NEAR: the corner search is exhaustive.
            assert!(h <= grid_lowest(&planes, &b) + 1e-6);
        }
    }
}
