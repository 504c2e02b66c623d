//! A bounded list of the closest candidates seen, sorted by distance.
//!
//! One array of capacity ef serves as both of HNSW's heaps: entries are kept sorted by
//! binary insertion (a `memmove` of at most ef 8-byte entries, cheaper than heap
//! sifting at these sizes), each carries an "expanded" bit, and a cursor points at the
//! closest unexpanded entry. A candidate that falls off the end could never have been
//! expanded by HNSW either, since its distance exceeds the ef-th best result. This is
//! the queue of DiskANN's `NeighborPriorityQueue`. Capacity is reserved up front, so
//! inserting never allocates.

/// The high bit of an entry's id marks it expanded; slots stay below `2^31`.
const EXPANDED: u32 = 1 << 31;

#[derive(Clone, Copy, Debug)]
struct Entry {
    distance: f32,
    id: u32,
}

/// The closest `capacity` candidates seen so far, sorted, with an expansion cursor.
#[derive(Debug, Default)]
pub(crate) struct SortedList {
    items: Vec<Entry>,
    capacity: usize,
    cursor: usize,
}

impl SortedList {
    /// Empties the list and sets its capacity (allocating only if it grew).
    pub(crate) fn reset(&mut self, capacity: usize) {
        self.items.clear();
        let capacity = capacity.max(1);
        if self.items.capacity() < capacity + 1 {
            self.items.reserve(capacity + 1);
        }
        self.capacity = capacity;
        self.cursor = 0;
    }

    pub(crate) fn is_full(&self) -> bool {
        self.items.len() >= self.capacity
    }

    /// The distance an entry must beat to get in: the worst one when full.
    #[inline(always)]
    pub(crate) fn bound(&self) -> f32 {
        if self.is_full() {
            self.items[self.items.len() - 1].distance
        } else {
            f32::INFINITY
        }
    }

    /// Inserts `(distance, id)` if it is among the closest `capacity`; true if it was.
    #[inline(always)]
    pub(crate) fn insert(&mut self, distance: f32, id: u32) -> bool {
        if self.is_full() {
            if distance >= self.items[self.items.len() - 1].distance {
                return false;
            }
            self.items.pop();
        }
        let pos = self.items.partition_point(|e| e.distance <= distance);
        self.items.insert(pos, Entry { distance, id });
        if pos < self.cursor {
            self.cursor = pos;
        }
        true
    }

    /// The closest unexpanded entry, marked expanded now, with its distance.
    #[inline(always)]
    pub(crate) fn next_unexpanded(&mut self) -> Option<(u32, f32)> {
        while let Some(e) = self.items.get_mut(self.cursor) {
            self.cursor += 1;
            if e.id & EXPANDED == 0 {
                let id = e.id;
                e.id |= EXPANDED;
                return Some((id, e.distance));
            }
        }
        None
    }

    /// Entries in ascending distance: `(id, distance)`.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u32, f32)> + '_ {
        self.items.iter().map(|e| (e.id & !EXPANDED, e.distance))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_closest_sorted_and_bounded() {
        let mut l = SortedList::default();
        l.reset(3);
        for (d, id) in [(5.0, 5), (1.0, 1), (4.0, 4), (2.0, 2), (3.0, 3), (0.5, 9)] {
            l.insert(d, id);
        }
        let got: Vec<u32> = l.iter().map(|(id, _)| id).collect();
        assert_eq!(got, vec![9, 1, 2]);
        assert_eq!(l.bound(), 2.0);
        assert!(!l.insert(2.0, 7), "ties with the bound do not get in");
    }

    #[test]
    fn cursor_returns_closest_unexpanded_first() {
        let mut l = SortedList::default();
        l.reset(4);
        l.insert(2.0, 2);
        l.insert(3.0, 3);
        assert_eq!(l.next_unexpanded(), Some((2, 2.0)));
        l.insert(1.0, 1); // lands before the cursor: it must come next
        assert_eq!(l.next_unexpanded(), Some((1, 1.0)));
        assert_eq!(l.next_unexpanded(), Some((3, 3.0)));
        assert_eq!(l.next_unexpanded(), None);
        let ids: Vec<u32> = l.iter().map(|(id, _)| id).collect();
        assert_eq!(ids, vec![1, 2, 3], "expanded bits are hidden");
    }
}
