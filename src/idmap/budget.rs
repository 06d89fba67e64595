//! The kernel's budget for one map, and fitting a map into it.
//!
//! The kernel takes at most 340 extents, written in one `write()` of under 4096 bytes
//! (`"%u %u %u\n"` per extent); LXC's buffer for the newuidmap command cuts the text to under
//! 4079 bytes ([`LXC_MAX_BYTES`]). A map over either limit is fitted by the CT's `over_budget`
//! policy: `unmap` leaves inside ids between passthroughs unmapped (the fewest ids, `unmap`),
//! `expose` merges passthrough ranges across gaps (the fewest exposed ids, `expose`). Both are
//! exact optima; which gaps and runs they may touch is `slots`'s analysis.

use crate::ids::{IdKind, IdSet};

use super::build::{MapError, MapParams, OverBudget};
use super::expose::{Chains, Gaps};
use super::extent::Extent;
use super::slots::{Slots, pass_bytes};
use super::unmap;

/// The kernel's limit on extents per map.
pub const KERNEL_MAX_EXTENTS: u32 = 340;

/// The kernel takes the map text only in one write shorter than this (one page).
pub(crate) const KERNEL_MAX_BYTES: usize = 4096;

/// The map text must be shorter than this for LXC to start the CT: LXC builds the command
/// `newuidmap PID` + `" {inside} {outside} {count}"` per extent in a buffer of 4096 bytes
/// (`LXC_IDMAPLEN`) and refuses with "Too many uid mappings defined" when it does not fit. The
/// extents take as many bytes there as in the kernel text, so the map gets 4096 less
/// `"newuidmap "` (10) less the longest pid (7 digits: `pid_max` is at most 4194304) less one.
/// Verified against LXC 5.0: a 4083-byte map the kernel takes fails to start.
pub const LXC_MAX_BYTES: usize = KERNEL_MAX_BYTES - 10 - 7;

/// A budget: at most `max_extents` extents and a text shorter than `max_bytes`. The default is
/// what both the kernel and LXC take: 340 extents, under [`LXC_MAX_BYTES`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Budget {
    pub(crate) max_extents: usize,
    pub(crate) max_bytes: usize,
}

impl Default for Budget {
    fn default() -> Budget {
        Budget {
            max_extents: KERNEL_MAX_EXTENTS as usize,
            max_bytes: LXC_MAX_BYTES,
        }
    }
}

impl Budget {
    /// Does the map fit?
    pub(crate) fn admits(&self, extents: &[Extent]) -> bool {
        extents.len() <= self.max_extents && text_len(extents) < self.max_bytes
    }
}

/// The length of the map text newuidmap writes: `"{inside} {outside} {count}\n"` per extent.
pub fn text_len(extents: &[Extent]) -> usize {
    extents.iter().map(Extent::kernel_line_len).sum()
}

/// The map text itself, as written to `/proc/PID/uid_map` in one write.
pub fn kernel_text(extents: &[Extent]) -> String {
    extents.iter().map(Extent::kernel_line).collect()
}

/// What the fit changed: the passthroughs with the closed gaps (`expose`), and the inside ids
/// left unmapped (`unmap`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Fit {
    pub(crate) effective: IdSet,
    pub(crate) unmapped: IdSet,
}

/// Fits the map of `passthrough` into `budget` by `params.over_budget`, exactly (see `expose` and
/// `unmap`); unchanged when it fits as it is.
///
/// # Errors
/// [`MapError::OverBudget`] when even closing every closable gap does not fit (`expose`);
/// [`MapError::DoesNotFit`] when even leaving every inside id between passthroughs unmapped does
/// not (`unmap`).
pub(crate) fn fit(
    kind: IdKind,
    passthrough: &IdSet,
    params: &MapParams,
    budget: &Budget,
) -> Result<Fit, MapError> {
    let base_range = params.base_range()?;
    let slots = Slots::new(passthrough, params, base_range);
    let (lines, bytes) = slots.size();
    let max_lines = budget.max_extents as u64;
    let max_bytes = budget.max_bytes as u64 - 1;
    let mut out = Fit {
        effective: passthrough.clone(),
        unmapped: IdSet::new(),
    };
    if u64::from(lines) <= max_lines && u64::from(bytes) <= max_bytes {
        return Ok(out);
    }
    match params.over_budget {
        OverBudget::Expose => {
            let outer = slots.runs_bytes(&slots.outer_runs);
            let chains = Chains::new(
                slots.ranges.iter().map(|r| r.start()).collect(),
                slots.ranges.iter().map(|r| r.end()).collect(),
                Gaps {
                    value: slots
                        .gaps
                        .iter()
                        .map(|g| if g.closable { g.ids.count().into() } else { 0 })
                        .collect(),
                    forced: slots.gaps.iter().map(|g| !g.closable).collect(),
                    lines: slots.gaps.iter().map(|g| g.runs.len() as u32).collect(),
                    bytes: slots
                        .gaps
                        .iter()
                        .map(|g| slots.runs_bytes(&g.runs))
                        .collect(),
                    min_run_bytes: slots
                        .gaps
                        .iter()
                        .flat_map(|g| g.runs.iter().map(|&r| slots.run_bytes(r)))
                        .min()
                        .unwrap_or(u32::MAX),
                },
                max_lines.saturating_sub(slots.outer_runs.len() as u64),
                max_bytes.saturating_sub(outer.into()),
            );
            let Some(choice) = chains.solve() else {
                let merged = chains.evaluate(chains.forced.clone());
                return Err(MapError::OverBudget {
                    kind,
                    extents: merged.lines as usize + slots.outer_runs.len(),
                    bytes: merged.bytes as usize + outer as usize,
                    max_extents: budget.max_extents as u32,
                    max_bytes: budget.max_bytes,
                });
            };
            // One merge of all closed gaps: inserting them one by one moved the set's tail each
            // time (38% of a 50,000-id fit).
            out.effective.extend(
                slots
                    .gaps
                    .iter()
                    .zip(&choice.open)
                    .filter(|&(g, &open)| g.closable && !open)
                    .map(|(g, _)| g.ids),
            );
        }
        OverBudget::Unmap => {
            let (mut fixed_lines, mut fixed_bytes) = (
                (slots.ranges.len() + slots.outer_runs.len()) as u64,
                u64::from(
                    slots
                        .ranges
                        .iter()
                        .map(|r| pass_bytes(r.start(), r.end()))
                        .sum::<u32>()
                        + slots.runs_bytes(&slots.outer_runs),
                ),
            );
            let mut runs = Vec::new();
            for run in slots.gaps.iter().flat_map(|g| g.runs.iter().copied()) {
                if slots.may_unmap(run) {
                    runs.push(run);
                } else {
                    fixed_lines += 1;
                    fixed_bytes += u64::from(slots.run_bytes(run));
                }
            }
            if fixed_lines > max_lines || fixed_bytes > max_bytes {
                // What would fit: as many passthrough ranges of this map's mean line as the room
                // the unremovable runs leave.
                let pass_lines = slots.ranges.len() as u64;
                let pass_total: u64 = slots
                    .ranges
                    .iter()
                    .map(|r| u64::from(pass_bytes(r.start(), r.end())))
                    .sum();
                let mean = pass_total.div_ceil(pass_lines.max(1)).max(1);
                let fitting = max_lines
                    .saturating_sub(fixed_lines - pass_lines)
                    .min(max_bytes.saturating_sub(fixed_bytes - pass_total) / mean);
                return Err(MapError::DoesNotFit {
                    kind,
                    ranges: slots.ranges.len(),
                    extents: fixed_lines as usize,
                    bytes: fixed_bytes as usize,
                    max_extents: budget.max_extents as u32,
                    max_bytes: budget.max_bytes,
                    fitting: fitting as usize,
                });
            }
            let sizes: Vec<u32> = runs.iter().map(|&r| slots.run_bytes(r)).collect();
            let costs: Vec<u64> = runs.iter().map(|r| u64::from(r.count())).collect();
            let kept = unmap::keep(
                &sizes,
                &costs,
                max_lines - fixed_lines,
                max_bytes - fixed_bytes,
            );
            out.unmapped = runs
                .iter()
                .zip(kept)
                .filter(|(_, kept)| !kept)
                .map(|(&r, _)| r)
                .collect();
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_len_matches_text() {
        let k = IdKind::Uid;
        let e = [
            Extent::new(k, 0, 100000, 1005),
            Extent::new(k, 4294967294, 4294967294, 1),
        ];
        assert_eq!(text_len(&e), kernel_text(&e).len());
        assert_eq!(kernel_text(&e), "0 100000 1005\n4294967294 4294967294 1\n");
    }

    #[test]
    fn budget_boundaries() {
        let k = IdKind::Uid;
        // 340 lines like `10 2020 1` (10 bytes each) fit; 341 do not.
        let short: Vec<Extent> = (0..341)
            .map(|i| Extent::new(k, 10 + i, 2020 + i, 1))
            .collect();
        let b = Budget {
            max_extents: 340,
            max_bytes: KERNEL_MAX_BYTES,
        };
        assert!(b.admits(&short[..340]));
        assert!(!b.admits(&short));
        // 4095 bytes fit, 4096 do not: 195 lines of 21 bytes = 4095.
        let line = Extent::new(k, 1_000_000, 1_000_000, 1_000_000); // 7+7+7+3 = 24
        assert_eq!(line.kernel_line_len(), 24);
        let e21 = Extent::new(k, 1_000_000, 1_000_000, 1_000); // 7+7+4+3 = 21
        assert_eq!(e21.kernel_line_len(), 21);
        let fits: Vec<Extent> = (0..195).map(|_| e21).collect();
        assert_eq!(text_len(&fits), 4095);
        assert!(b.admits(&fits));
        let mut over = fits.clone();
        over.pop();
        over.push(Extent::new(k, 1_000_000, 1_000_000, 10_000)); // 22 bytes: 4096
        assert_eq!(text_len(&over), 4096);
        assert!(!b.admits(&over));
        // LXC's limit: 4078 bytes fit, 4079 do not.
        let lxc = Budget::default();
        assert_eq!(lxc.max_bytes, 4079);
        let mut at: Vec<Extent> = (0..193).map(|_| e21).collect(); // 4053
        at.push(Extent::new(k, 1_000_000, 1_000_000, 1)); // 18: 4071
        at.push(Extent::new(k, 10, 1, 1)); // 7: 4078
        assert_eq!(text_len(&at), 4078);
        assert!(lxc.admits(&at));
        at.pop();
        at.push(Extent::new(k, 10, 10, 1)); // 8: 4079
        assert_eq!(text_len(&at), 4079);
        assert!(!lxc.admits(&at));
    }
}
