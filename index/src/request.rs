//! [`SearchRequest`]: what one search asks for: `k`, `ef`, an optional filter, a plan.

use crate::filter::Filter;
use crate::plan::FilterPlan;

/// What a search asks for: the `k` nearest live slots, exploring `ef` candidates (at
/// least `k`), optionally only slots a [`Filter`] admits, optionally run by a plan the
/// caller picks. Pass it to [`Hnsw::search_into`](crate::Hnsw::search_into) or
/// [`Hnsw::search_with`](crate::Hnsw::search_with).
///
/// A request is a small `Copy` value; building one never allocates. The filter's type
/// stays generic, so its `admits` inlines into the search loop; `F` defaults to
/// `dyn Filter` for requests without one.
///
/// ```
/// use fletchdb_index::{FilterPlan, Hnsw, HnswConfig, Metric, SearchRequest, Slot};
///
/// let index = Hnsw::in_memory(1, HnswConfig::new(Metric::L2))?;
/// for i in 0..100 {
///     index.add(&[i as f32])?;
/// }
/// let mut hits = Vec::new();
///
/// // The 2 nearest even slots, exploring 32 candidates; the index picks the plan.
/// let even = |s: Slot| s.0 % 2 == 0;
/// index.search_into(&[51.0], SearchRequest::new(2, 32).filter(&even), &mut hits)?;
/// let slots: Vec<u32> = hits.iter().map(|n| n.slot.0).collect();
/// assert_eq!(slots.len(), 2);
/// assert!(slots.contains(&50) && slots.contains(&52));
///
/// // The same, scanning the admitted slots exactly.
/// let exact = SearchRequest::new(2, 32).filter(&even).plan(FilterPlan::Exact);
/// index.search_into(&[51.0], exact, &mut hits)?;
/// assert_eq!(hits.len(), 2);
/// # Ok::<(), fletchdb_index::IndexError>(())
/// ```
pub struct SearchRequest<'f, F: ?Sized = dyn Filter> {
    pub(crate) k: usize,
    pub(crate) ef: usize,
    pub(crate) filter: Option<&'f F>,
    pub(crate) plan: FilterPlan,
}

impl SearchRequest<'static> {
    /// The `k` nearest live slots, exploring `ef` candidates (raised to `k` if lower),
    /// with no filter and the plan left to the index ([`FilterPlan::Auto`]).
    pub fn new(k: usize, ef: usize) -> Self {
        SearchRequest {
            k,
            ef,
            filter: None,
            plan: FilterPlan::Auto,
        }
    }
}

impl<'f, F: ?Sized> SearchRequest<'f, F> {
    /// The same request, returning only slots `filter` admits (replacing any filter
    /// set before).
    pub fn filter<'g, G: Filter + ?Sized>(self, filter: &'g G) -> SearchRequest<'g, G> {
        SearchRequest {
            k: self.k,
            ef: self.ef,
            filter: Some(filter),
            plan: self.plan,
        }
    }

    /// The same request, run by `plan` instead of the index's choice: for measuring the
    /// strategies, or when the caller knows better. [`FilterPlan::Exact`] also makes a
    /// search without a filter exact.
    pub fn plan(self, plan: FilterPlan) -> Self {
        SearchRequest { plan, ..self }
    }
}

impl<F: ?Sized> Clone for SearchRequest<'_, F> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<F: ?Sized> Copy for SearchRequest<'_, F> {}

impl<F: ?Sized> std::fmt::Debug for SearchRequest<'_, F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SearchRequest")
            .field("k", &self.k)
            .field("ef", &self.ef)
            .field("filtered", &self.filter.is_some())
            .field("plan", &self.plan)
            .finish()
    }
}
