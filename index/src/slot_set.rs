//! [`SlotSet`]: a set of slots as a bitmap, the [`Filter`] that knows its size and lists
//! its members, so the planner need not sample it and an exact scan need not ask it
//! about every slot.

use crate::filter::Filter;
use crate::types::Slot;

/// A set of slots as a bitmap: a [`Filter`] that knows its size and lists its members.
///
/// ```
/// use fletchdb_index::{Filter, Slot, SlotSet};
/// let set: SlotSet = [Slot(3), Slot(70), Slot(3)].into_iter().collect();
/// assert_eq!(set.len(), 2);
/// assert!(set.admits(Slot(70)) && !set.admits(Slot(4)));
/// ```
#[derive(Debug, Clone, Default)]
pub struct SlotSet {
    words: Vec<u64>,
    len: usize,
}

impl SlotSet {
    /// An empty set.
    pub fn new() -> Self {
        SlotSet::default()
    }

    /// Adds `slot`; true if it was not there.
    pub fn insert(&mut self, slot: Slot) -> bool {
        let (w, b) = (slot.index() / 64, slot.index() % 64);
        if w >= self.words.len() {
            self.words.resize(w + 1, 0);
        }
        let fresh = self.words[w] & (1 << b) == 0;
        self.words[w] |= 1 << b;
        self.len += fresh as usize;
        fresh
    }

    /// True if `slot` is in the set.
    pub fn contains(&self, slot: Slot) -> bool {
        let (w, b) = (slot.index() / 64, slot.index() % 64);
        self.words.get(w).is_some_and(|x| x & (1 << b) != 0)
    }

    /// Members.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl FromIterator<Slot> for SlotSet {
    fn from_iter<I: IntoIterator<Item = Slot>>(iter: I) -> Self {
        let mut s = SlotSet::new();
        for slot in iter {
            s.insert(slot);
        }
        s
    }
}

impl Filter for SlotSet {
    #[inline]
    fn admits(&self, slot: Slot) -> bool {
        self.contains(slot)
    }

    fn admitted_hint(&self) -> Option<usize> {
        Some(self.len)
    }

    fn can_list(&self) -> bool {
        true
    }

    fn words(&self) -> Option<&[u64]> {
        Some(&self.words)
    }

    fn for_each_admitted(&self, f: &mut dyn FnMut(Slot)) {
        for (w, &word) in self.words.iter().enumerate() {
            let mut bits = word;
            while bits != 0 {
                let b = bits.trailing_zeros() as usize;
                f(Slot((w * 64 + b) as u32));
                bits &= bits - 1;
            }
        }
    }
}
