//! A steady-state search allocates nothing but its returned result.
//!
//! A counting global allocator counts allocations per thread, so tests running in
//! parallel in this binary do not disturb each other's counts.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use fletchdb_index::{Hnsw, HnswConfig, Metric, SearchRequest, Slot};

use crate::common::{clustered, queries_near};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: forwards every call to the system allocator unchanged; the thread-local
// counter is const-initialised, so touching it never allocates or recurses.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        // SAFETY: the caller's contract for `alloc` is passed through unchanged.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System` through `alloc`/`realloc` above.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        // SAFETY: as for `dealloc`; the caller's contract is passed through.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_during(f: impl FnOnce()) -> usize {
    let before = ALLOCATIONS.with(|c| c.get());
    f();
    ALLOCATIONS.with(|c| c.get()) - before
}

#[test]
fn steady_state_search_allocates_nothing_but_its_result() {
    for metric in [Metric::L2, Metric::Cosine] {
        let (n, dim) = (5_000, 32);
        let base = clustered(n, dim, 30, 0.6, 81);
        let index = Hnsw::in_memory(dim, HnswConfig::new(metric)).unwrap();
        index.add_batch(&base).unwrap();
        let queries = queries_near(&base, dim, 200, 82);

        let mut scratch = index.scratch();
        let mut out = Vec::new();
        // Warm up: the scratch and `out` grow to size, the thread registers with epoch.
        for q in queries.chunks(dim).take(20) {
            index
                .search_with(&mut scratch, q, SearchRequest::new(10, 128), &mut out)
                .unwrap();
            index.search(q, 10, 128).unwrap();
        }
        let with = allocations_during(|| {
            for q in queries.chunks(dim) {
                index
                    .search_with(&mut scratch, q, SearchRequest::new(10, 128), &mut out)
                    .unwrap();
                assert_eq!(out.len(), 10);
            }
        });
        assert_eq!(with, 0, "{metric:?}: search_with allocated");

        let plain = allocations_during(|| {
            for q in queries.chunks(dim) {
                let hits = index.search(q, 10, 128).unwrap();
                assert_eq!(hits.len(), 10);
            }
        });
        assert_eq!(
            plain, 200,
            "{metric:?}: search should allocate only its result"
        );

        // With tombstones the search takes the filtered path: still allocation-free.
        index.delete(Slot(0)).unwrap();
        for q in queries.chunks(dim).take(20) {
            index
                .search_with(&mut scratch, q, SearchRequest::new(10, 128), &mut out)
                .unwrap();
        }
        let deleted = allocations_during(|| {
            for q in queries.chunks(dim) {
                index
                    .search_with(&mut scratch, q, SearchRequest::new(10, 128), &mut out)
                    .unwrap();
            }
        });
        assert_eq!(
            deleted, 0,
            "{metric:?}: search_with with tombstones allocated"
        );

        // A filter with no size hint (sampled by the planner) walks the graph with a
        // widened candidate list: allocation-free once the scratch has grown to it.
        let half = |s: Slot| s.0.is_multiple_of(2);
        let filtered = SearchRequest::new(10, 128).filter(&half);
        for q in queries.chunks(dim).take(20) {
            index
                .search_with(&mut scratch, q, filtered, &mut out)
                .unwrap();
        }
        let with_filter = allocations_during(|| {
            for q in queries.chunks(dim) {
                index
                    .search_with(&mut scratch, q, filtered, &mut out)
                    .unwrap();
            }
        });
        assert_eq!(with_filter, 0, "{metric:?}: filtered search_with allocated");
    }
}
