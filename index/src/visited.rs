//! A visited set reset by bumping a generation stamp, never by clearing.
//!
//! `marks[slot] == generation` means visited in the current search. A new search bumps
//! the generation, so starting one is O(1); only when the 16-bit stamp wraps (every
//! 65,535 searches) is the array zeroed. Two bytes per slot keep the array small
//! enough to stay mostly in cache (hnswlib's `visited_list_pool.h` does the same).

/// Generation-stamped visited marks for slots `0..capacity`.
#[derive(Debug, Default)]
pub(crate) struct VisitedSet {
    marks: Vec<u16>,
    generation: u16,
}

impl VisitedSet {
    /// Starts a new search over slots `0..capacity`. Allocates only when `capacity`
    /// grew since the last search.
    pub(crate) fn reset(&mut self, capacity: usize) {
        if self.marks.len() < capacity {
            self.marks.resize(capacity, 0);
        }
        self.generation = self.generation.wrapping_add(1);
        if self.generation == 0 {
            self.marks.fill(0);
            self.generation = 1;
        }
    }

    /// Marks `slot` visited; true if it was not visited before. Slots beyond the
    /// capacity given to `reset` (nodes added during this search) count as visited.
    #[inline(always)]
    pub(crate) fn insert(&mut self, slot: u32) -> bool {
        match self.marks.get_mut(slot as usize) {
            Some(m) if *m != self.generation => {
                *m = self.generation;
                true
            }
            _ => false,
        }
    }

    /// Hints the CPU to load `slot`'s mark.
    #[inline(always)]
    pub(crate) fn prefetch(&self, slot: u32) {
        if let Some(m) = self.marks.get(slot as usize) {
            crate::prefetch::prefetch_ptr(m as *const u16 as *const i8);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generations_separate_searches() {
        let mut v = VisitedSet::default();
        v.reset(10);
        assert!(v.insert(3));
        assert!(!v.insert(3));
        assert!(!v.insert(10), "out of range counts as visited");
        v.reset(10);
        assert!(v.insert(3));
    }

    #[test]
    fn wraparound_clears() {
        let mut v = VisitedSet::default();
        v.reset(4);
        v.insert(1);
        for _ in 0..u16::MAX as usize {
            v.reset(4);
        }
        // The generation wrapped and the marks were cleared: 1 is unvisited again,
        // although the stamp that marked it has come round.
        assert!(v.insert(1));
        assert!(!v.insert(1));
    }
}
