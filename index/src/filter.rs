//! [`Filter`]: a predicate over slots that restricts what a search may return.

use crate::types::Slot;

/// A predicate over slots: a search given one (through
/// [`SearchRequest::filter`](crate::SearchRequest::filter)) returns only slots it admits.
///
/// Any `Fn(Slot) -> bool + Sync` closure is a filter. A filter that knows how many slots
/// it admits, or can list them (like [`SlotSet`](crate::SlotSet)), lets the search plan
/// better: without a hint the planner samples the filter on 512 slots.
///
/// ```
/// use fletchdb_index::{Filter, Hnsw, HnswConfig, Metric, SearchRequest, Slot};
///
/// /// Slots in `start..end`: it knows its size and lists its members.
/// struct Range(u32, u32);
///
/// impl Filter for Range {
///     fn admits(&self, slot: Slot) -> bool {
///         (self.0..self.1).contains(&slot.0)
///     }
///     fn admitted_hint(&self) -> Option<usize> {
///         Some((self.1 - self.0) as usize)
///     }
///     fn can_list(&self) -> bool {
///         true
///     }
///     fn for_each_admitted(&self, f: &mut dyn FnMut(Slot)) {
///         (self.0..self.1).for_each(|s| f(Slot(s)));
///     }
/// }
///
/// let index = Hnsw::in_memory(1, HnswConfig::new(Metric::L2))?;
/// for i in 0..1000 {
///     index.add(&[i as f32])?;
/// }
/// let mut hits = Vec::new();
/// let request = SearchRequest::new(3, 32).filter(&Range(10, 20));
/// index.search_into(&[500.0], request, &mut hits)?;
/// let slots: Vec<u32> = hits.iter().map(|n| n.slot.0).collect();
/// assert_eq!(slots, [19, 18, 17]);
/// # Ok::<(), fletchdb_index::IndexError>(())
/// ```
pub trait Filter: Sync {
    /// True if `slot` may be returned.
    fn admits(&self, slot: Slot) -> bool;

    /// How many slots the filter admits, if it knows; otherwise the search estimates
    /// it by sampling.
    fn admitted_hint(&self) -> Option<usize> {
        None
    }

    /// The admitted slots as a plain bit vector (bit `s % 64` of word `s / 64` set for
    /// each admitted slot `s`; slots past its end are not admitted), if the filter
    /// keeps one: a scan of many matches then reads it a word at a time, beside the
    /// index's own live bits, in slot order. It must agree with
    /// [`admits`](Self::admits): a scan that reads it does not ask `admits`. `None` by
    /// default.
    fn words(&self) -> Option<&[u64]> {
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

/// Admits every slot: the filter of a search that has none (liveness is checked
/// separately).
pub(crate) struct All;

impl Filter for All {
    #[inline(always)]
    fn admits(&self, _: Slot) -> bool {
        true
    }

    /// Every slot: at least as many as are live, so the planner takes the share as 1
    /// without sampling.
    fn admitted_hint(&self) -> Option<usize> {
        Some(usize::MAX)
    }
}
