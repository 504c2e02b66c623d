//! Per-search working memory, and the pool searches borrow it from.
//!
//! An index is immutable structure plus mutable scratch (regex-automata's `Regex` and
//! `Cache`): everything a search writes lives in a [`Scratch`], so once a scratch has
//! grown to the index's size and the query's ef, a search allocates nothing.

use parking_lot::Mutex;

use crate::candidates::SortedList;
use crate::codes::CodedQuery;
use crate::visited::VisitedSet;

/// Reusable working memory for searches and inserts on one index.
///
/// Get one from [`Hnsw::scratch`](crate::Hnsw::scratch) and pass it to
/// [`Hnsw::search_with`](crate::Hnsw::search_with) to search with no allocation at all;
/// the plain [`Hnsw::search`](crate::Hnsw::search) borrows one from the index's pool.
#[derive(Debug, Default)]
pub struct Scratch {
    /// What a walk of one layer writes.
    pub(crate) walk: Walk,
    /// The query, normalised for cosine.
    pub(crate) query: Vec<f32>,
    /// The query's compact code, when the walk scores codes.
    pub(crate) coded: CodedQuery,
    /// Neighbour selection: candidates `(id, distance)`.
    pub(crate) pairs: Vec<(u32, f32)>,
    /// Neighbour selection: the chosen ids.
    pub(crate) chosen: Vec<u32>,
    /// Re-selection of a full neighbour list: the kept ids.
    pub(crate) selected: Vec<u32>,
    /// Entry points carried from one layer to the next while inserting.
    pub(crate) entries: Vec<(u32, f32)>,
}

/// The working set of one layer walk (see `search.rs`), kept apart from the query so a
/// walk can borrow both at once.
#[derive(Debug, Default)]
pub(crate) struct Walk {
    pub(crate) visited: VisitedSet,
    /// Candidates; on an unfiltered walk over a graph with no tombstones, also the results.
    pub(crate) list: SortedList,
    /// Admitted results, when the walk admits less than every node.
    pub(crate) results: SortedList,
    /// Unvisited neighbours of the node being expanded.
    pub(crate) fresh: Vec<u32>,
    /// The sign pre-scan's Hamming distance of each match (`exact.rs`).
    pub(crate) ranked: Vec<u16>,
    /// The sign pre-scan's rows to score next.
    pub(crate) picked: Vec<u32>,
    /// The sign pre-scan's admitted live slots as bits, when the filter has them.
    pub(crate) words: Vec<u64>,
    /// The sign pre-scan's count of matches at each Hamming distance.
    pub(crate) counts: Vec<usize>,
}

impl Scratch {
    /// An empty scratch; it grows on first use.
    pub fn new() -> Scratch {
        Scratch::default()
    }
}

/// A stack of idle scratches.
#[derive(Debug, Default)]
pub(crate) struct ScratchPool {
    idle: Mutex<Vec<Scratch>>,
}

impl ScratchPool {
    /// Borrows a scratch (a new one if none is idle); it returns to the pool on drop.
    pub(crate) fn get(&self) -> Pooled<'_> {
        let scratch = self.idle.lock().pop().unwrap_or_default();
        Pooled {
            pool: self,
            scratch: Some(scratch),
        }
    }
}

/// A scratch on loan from a [`ScratchPool`].
pub(crate) struct Pooled<'p> {
    pool: &'p ScratchPool,
    scratch: Option<Scratch>,
}

impl std::ops::Deref for Pooled<'_> {
    type Target = Scratch;
    fn deref(&self) -> &Scratch {
        self.scratch.as_ref().expect("present until drop")
    }
}

impl std::ops::DerefMut for Pooled<'_> {
    fn deref_mut(&mut self) -> &mut Scratch {
        self.scratch.as_mut().expect("present until drop")
    }
}

impl Drop for Pooled<'_> {
    fn drop(&mut self) {
        if let Some(s) = self.scratch.take() {
            self.pool.idle.lock().push(s);
        }
    }
}
