//! [`Filter`]: a predicate over slots that restricts what a search may return.

use crate::types::Slot;

/// A predicate over slots for [`Hnsw::search_filtered`](crate::Hnsw::search_filtered).
///
/// Any `Fn(Slot) -> bool + Sync` closure is a filter. A filter that knows how many slots
/// it admits, or can list them (like [`SlotSet`]), lets the search plan better.
///
/// ```
/// use fletchdb_index::{Hnsw, HnswConfig, Metric, Slot};
/// let index = Hnsw::in_memory(1, HnswConfig::new(Metric::L2)).unwrap();
/// for i in 0..100 {
///     index.add(&[i as f32]).unwrap();
/// }
/// let even = |s: Slot| s.0 % 2 == 0;
/// let hits = index.search_filtered(&[51.0], 2, 32, &even).unwrap();
/// let slots: Vec<u32> = hits.iter().map(|n| n.slot.0).collect();
/// assert_eq!(slots.len(), 2);
/// assert!(slots.contains(&50) && slots.contains(&52));
/// ```
pub trait Filter: Sync {
    /// True if `slot` may be returned.
    fn admits(&self, slot: Slot) -> bool;

    /// How many slots the filter admits, if it knows; otherwise the search estimates
    /// it by sampling.
    fn admitted_hint(&self) -> Option<usize> {
        None
    }

    /// True if [`for_each_admitted`](Self::for_each_admitted) lists the admitted slots,
    /// so an exact scan need not ask about every slot.
    fn can_list(&self) -> bool {
        false
    }

    /// Calls `f` with every admitted slot, if [`can_list`](Self::can_list) says so;
    /// by default it calls nothing.
    fn for_each_admitted(&self, f: &mut dyn FnMut(Slot)) {
        let _ = f;
    }
}

impl<F: Fn(Slot) -> bool + Sync> Filter for F {
    #[inline]
    fn admits(&self, slot: Slot) -> bool {
        self(slot)
    }
}

/// Admits every slot (live-ness is checked separately).
pub(crate) struct All;

impl Filter for All {
    #[inline]
    fn admits(&self, _: Slot) -> bool {
        true
    }
}
