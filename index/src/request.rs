//! [`SearchRequest`]: what one search asks for: `k`, `ef`, an optional filter, a plan.

use crate::filter::Filter;
use crate::links::FilterLinks;
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
    pub(crate) rescore: usize,
    pub(crate) links: Option<&'f FilterLinks>,
}

/// How many candidates per result a walk over compact codes re-scores exactly, unless a
/// request says otherwise ([`SearchRequest::rescore`]).
///
/// Measured on minilm-mix-dev (100,000 × 384-d, i8, k 10, one thread, `--example ann
/// --rescore 1,2,3,4,6`): recall@10 at ef 24 / 32 / 64 was 0.9487 / 0.9625 / 0.9799
/// re-scoring 1 × k, and 0.9546 / 0.9690 / 0.9874 at 2, 3, 4 and 6 × k alike (the same
/// as the f32 walk's 0.9547 / 0.9680 / 0.9874); the extra exact distances cost 1-2 % of
/// a query's thousand. Three: one step of margin above where recall stops growing.
pub const DEFAULT_RESCORE: usize = 3;

impl SearchRequest<'static> {
    /// The `k` nearest live slots, exploring `ef` candidates (raised to `k` if lower),
    /// with no filter and the plan left to the index ([`FilterPlan::Auto`]).
    pub fn new(k: usize, ef: usize) -> Self {
        SearchRequest {
            k,
            ef,
            filter: None,
            plan: FilterPlan::Auto,
            rescore: DEFAULT_RESCORE,
            links: None,
        }
    }
}

impl<'f, F: ?Sized> SearchRequest<'f, F> {
    /// The same request, returning only slots `filter` admits (replacing any filter
    /// set before).
    pub fn filter<'g, G: Filter + ?Sized>(self, filter: &'g G) -> SearchRequest<'g, G>
    where
        'f: 'g,
    {
        SearchRequest {
            k: self.k,
            ef: self.ef,
            filter: Some(filter),
            plan: self.plan,
            rescore: self.rescore,
            links: self.links,
        }
    }

    /// The same request, walking `links` among the filter's members when the filter
    /// admits too many to scan ([`FilterLinks`], built by
    /// [`Hnsw::link_members`](crate::Hnsw::link_members) over exactly the slots the
    /// filter admits, then kept by [`FilterLinks::forget`]). Used only with a filter
    /// that has [`words`](Filter::words): the admitted slots without links are found
    /// from them and scored exactly.
    pub fn links(self, links: &'f FilterLinks) -> Self {
        SearchRequest {
            links: Some(links),
            ..self
        }
    }

    /// The same request, run by `plan` instead of the index's choice: for measuring the
    /// strategies, or when the caller knows better. [`FilterPlan::Exact`] also makes a
    /// search without a filter exact.
    pub fn plan(self, plan: FilterPlan) -> Self {
        SearchRequest { plan, ..self }
    }

    /// On an index that walks compact codes ([`Hnsw::quantize`](crate::Hnsw::quantize)),
    /// re-score the walk's best `rescore × k` candidates (at most `max(ef, k)`; at
    /// least `k`) exactly from the `f32` vectors and return the best `k` of them.
    /// [`DEFAULT_RESCORE`] unless set; ignored when the index walks `f32` vectors.
    ///
    /// ```
    /// use fletchdb_index::SearchRequest;
    /// let request = SearchRequest::new(10, 64).rescore(2);
    /// # let _ = request;
    /// ```
    pub fn rescore(self, rescore: usize) -> Self {
        SearchRequest { rescore, ..self }
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
            .field("rescore", &self.rescore)
            .field("links", &self.links.map(FilterLinks::members))
            .finish()
    }
}
