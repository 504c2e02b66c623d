//! [`Numbers`]: one metadata key's numeric values, by slot and in value order, so that
//! a range is counted in O(log n) and its slots listed without looking at the others.
//!
//! `by_slot` is the truth (`NaN` where a slot has no number). `sorted` is a sorted copy
//! of `(value, slot)` pairs taken at the last rebuild; the changes since are kept as two
//! exact sets: `added` (pairs not in `sorted`) and `removed` (pairs of `sorted` no longer
//! true), so a range's count is `sorted`'s (two binary searches) minus the removed pairs
//! in range plus the added ones. A write that makes the two sets larger than
//! `max(1,024, n / 16)` rebuilds `sorted` (one sort, a few milliseconds at 100,000
//! values), so a write costs O(log n) amortised and a count at most a scan of the two
//! small sets.
//!
//! Why not a bitmap per distinct value, as for equality: `installed_size_kib` of
//! `minilm-mix-dev` has 9,400 distinct values among 58,507 rows, and a range over half
//! of them would be a union of thousands of bitmaps per query.
//!
//! `sorted` is kept as two arrays, the values and their slots, so that listing a range
//! reads 4 bytes a match rather than a 16-byte pair.

use std::ops::Bound;

use rustc_hash::FxHashSet;

/// A numeric range: each end open, closed or absent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Range {
    pub(crate) lo: Bound<f64>,
    pub(crate) hi: Bound<f64>,
}

impl Range {
    #[inline]
    pub(crate) fn contains(&self, v: f64) -> bool {
        let above = match self.lo {
            Bound::Included(lo) => v >= lo,
            Bound::Excluded(lo) => v > lo,
            Bound::Unbounded => !v.is_nan(),
        };
        let below = match self.hi {
            Bound::Included(hi) => v <= hi,
            Bound::Excluded(hi) => v < hi,
            Bound::Unbounded => !v.is_nan(),
        };
        above && below
    }

    /// The values in both `self` and `other`: the higher low end, the lower high end
    /// (an open end over a closed one at the same value).
    pub(crate) fn and(&self, other: &Range) -> Range {
        use Bound::*;
        let lo = match (self.lo, other.lo) {
            (Unbounded, b) | (b, Unbounded) => b,
            (Included(a), Included(b)) => Included(a.max(b)),
            (Excluded(a), Excluded(b)) => Excluded(a.max(b)),
            (Included(i), Excluded(e)) | (Excluded(e), Included(i)) => {
                if i > e {
                    Included(i)
                } else {
                    Excluded(e)
                }
            }
        };
        let hi = match (self.hi, other.hi) {
            (Unbounded, b) | (b, Unbounded) => b,
            (Included(a), Included(b)) => Included(a.min(b)),
            (Excluded(a), Excluded(b)) => Excluded(a.min(b)),
            (Included(i), Excluded(e)) | (Excluded(e), Included(i)) => {
                if i < e {
                    Included(i)
                } else {
                    Excluded(e)
                }
            }
        };
        Range { lo, hi }
    }

    /// The index of the first of the `sorted` values at or above the range's low end,
    /// and one past the last at or below its high end.
    fn span(&self, sorted: &[f64]) -> (usize, usize) {
        let start = match self.lo {
            Bound::Included(lo) => sorted.partition_point(|&v| v < lo),
            Bound::Excluded(lo) => sorted.partition_point(|&v| v <= lo),
            Bound::Unbounded => 0,
        };
        let end = match self.hi {
            Bound::Included(hi) => sorted.partition_point(|&v| v <= hi),
            Bound::Excluded(hi) => sorted.partition_point(|&v| v < hi),
            Bound::Unbounded => sorted.len(),
        };
        (start, end.max(start))
    }
}

/// One key's numeric values (see the module comment).
#[derive(Debug, Default)]
pub(crate) struct Numbers {
    by_slot: Vec<f64>,
    /// The values of `sorted`, ascending (ties by slot).
    sorted: Vec<f64>,
    /// The slots of `sorted`, beside `sorted`.
    sorted_slots: Vec<u32>,
    added: FxHashSet<(u64, u32)>,
    removed: FxHashSet<(u64, u32)>,
    /// Slots with a value.
    len: usize,
}

impl Numbers {
    /// The value of `slot`, if it has one.
    #[inline]
    pub(crate) fn get(&self, slot: u32) -> Option<f64> {
        self.by_slot
            .get(slot as usize)
            .copied()
            .filter(|v| !v.is_nan())
    }

    /// One past the highest slot that has (or had) a value.
    pub(crate) fn slot_bound(&self) -> usize {
        self.by_slot.len()
    }

    /// Slots with a value.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.len
    }

    /// Gives `slot` the value `v` (finite), replacing any it had.
    pub(crate) fn set(&mut self, slot: u32, v: f64) {
        self.remove(slot);
        let v = if v == 0.0 { 0.0 } else { v }; // one zero, so -0.0 sorts with 0.0
        let at = slot as usize;
        if self.by_slot.len() <= at {
            let len = (at + 1).max(self.by_slot.len() * 2);
            self.by_slot.resize(len, f64::NAN);
        }
        self.by_slot[at] = v;
        self.len += 1;
        let pair = (v.to_bits(), slot);
        if !self.removed.remove(&pair) {
            self.added.insert(pair);
        }
        self.maybe_rebuild();
    }

    /// Takes `slot`'s value away, if it has one.
    pub(crate) fn remove(&mut self, slot: u32) {
        let Some(v) = self.get(slot) else { return };
        self.by_slot[slot as usize] = f64::NAN;
        self.len -= 1;
        let pair = (v.to_bits(), slot);
        if !self.added.remove(&pair) {
            self.removed.insert(pair);
        }
        self.maybe_rebuild();
    }

    fn maybe_rebuild(&mut self) {
        let pending = self.added.len() + self.removed.len();
        if pending > 1024.max(self.sorted.len() / 16) {
            self.rebuild();
        }
    }

    /// Sorts the current values into `sorted` and empties the change sets.
    fn rebuild(&mut self) {
        let mut pairs: Vec<(f64, u32)> = self
            .by_slot
            .iter()
            .enumerate()
            .filter(|(_, v)| !v.is_nan())
            .map(|(s, &v)| (v, s as u32))
            .collect();
        pairs.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        self.sorted.clear();
        self.sorted.extend(pairs.iter().map(|p| p.0));
        self.sorted_slots.clear();
        self.sorted_slots.extend(pairs.iter().map(|p| p.1));
        self.added.clear();
        self.removed.clear();
        // Shrink a column that lost its high slots (a compaction moved them down).
        let keep = self
            .sorted_slots
            .iter()
            .map(|&s| s as usize + 1)
            .max()
            .unwrap_or(0);
        if keep < self.by_slot.len() / 2 {
            self.by_slot.truncate(keep);
            self.by_slot.shrink_to_fit();
        }
    }

    /// How many slots have a value in `range`: exact.
    pub(crate) fn count(&self, range: &Range) -> usize {
        let (start, end) = range.span(&self.sorted);
        let in_range = |&&(bits, _): &&(u64, u32)| range.contains(f64::from_bits(bits));
        end - start - self.removed.iter().filter(in_range).count()
            + self.added.iter().filter(in_range).count()
    }

    /// Calls `f` with every slot whose value is in `range`, in no particular order.
    pub(crate) fn for_each_in(&self, range: &Range, mut f: impl FnMut(u32)) {
        let (start, end) = range.span(&self.sorted);
        if self.removed.is_empty() {
            self.sorted_slots[start..end].iter().for_each(|&s| f(s));
        } else {
            for (&v, &slot) in self.sorted[start..end]
                .iter()
                .zip(&self.sorted_slots[start..end])
            {
                if !self.removed.contains(&(v.to_bits(), slot)) {
                    f(slot);
                }
            }
        }
        for &(bits, slot) in &self.added {
            if range.contains(f64::from_bits(bits)) {
                f(slot);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn ranges() -> Vec<Range> {
        use Bound::*;
        let mut out = Vec::new();
        for lo in [Unbounded, Included(3.0), Excluded(3.0), Included(-1.0)] {
            for hi in [Unbounded, Included(7.0), Excluded(7.0), Included(3.0)] {
                out.push(Range { lo, hi });
            }
        }
        out
    }

    #[test]
    fn a_range_and_another_hold_what_both_hold() {
        for a in ranges() {
            for b in ranges() {
                let both = a.and(&b);
                for v in (-4..20).map(|x| f64::from(x) / 2.0) {
                    assert_eq!(
                        both.contains(v),
                        a.contains(v) && b.contains(v),
                        "{a:?} {b:?} {v}"
                    );
                }
            }
        }
    }

    #[test]
    fn counts_and_lists_match_a_scan_through_churn_and_rebuilds() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        let mut n = Numbers::default();
        let mut model: Vec<Option<f64>> = vec![None; 3000];
        for step in 0..20_000 {
            let slot = rng.random_range(0..3000u32);
            if rng.random_bool(0.3) {
                n.remove(slot);
                model[slot as usize] = None;
            } else {
                let v = f64::from(rng.random_range(-2..12))
                    * if rng.random_bool(0.1) { -0.0 } else { 1.0 };
                n.set(slot, v);
                model[slot as usize] = Some(if v == 0.0 { 0.0 } else { v });
            }
            if step % 997 == 0 || step == 19_999 {
                assert_eq!(n.len(), model.iter().flatten().count());
                for r in ranges() {
                    let mut want: Vec<u32> = (0..3000u32)
                        .filter(|&s| model[s as usize].is_some_and(|v| r.contains(v)))
                        .collect();
                    assert_eq!(n.count(&r), want.len(), "{r:?} at step {step}");
                    let mut got = Vec::new();
                    n.for_each_in(&r, |s| got.push(s));
                    got.sort_unstable();
                    want.sort_unstable();
                    assert_eq!(got, want, "{r:?} at step {step}");
                }
                for s in 0..3000u32 {
                    assert_eq!(n.get(s), model[s as usize]);
                }
            }
        }
    }
}
