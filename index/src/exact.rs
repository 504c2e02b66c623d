//! The exact scan: every live slot a filter admits, scored against the query. Ground
//! truth for tests, and the plan of choice when a filter admits too few slots for the
//! graph to find them.
//!
//! On a collection with compact codes the scan scores the codes, and the run re-scores
//! its best `rescore × k` from the `f32` vectors (`plan.rs`), as after a walk. On
//! minilm-mix-dev (100,000 × 384-d, `fletchdb-filter`, ef 64) that took scans of
//! 1,951-2,430 matches from 0.34-0.46 of the unfiltered speed to 0.62-1.17, with recall
//! still 1.000 at every filter (and 0.993-1.000 when every filter up to 58,507 matches
//! was scanned).
//!
//! Past a few thousand matches the scan costs about the same per match whatever the row
//! (the filter's listing, the state check, the call): one sign bit per component (48
//! bytes a row against `i8`'s 384, ranking by Hamming distance and scoring the best 1,620
//! by their codes) ran at 0.26 of the unfiltered speed on 8,486 matches as the codes
//! alone did, and at 0.14-0.16 against 0.10 on 23,260, where the walk is faster than
//! either; it was not kept.

use crossbeam_epoch as epoch;

use crate::distance::Kernel;
use crate::filter::Filter;
use crate::hnsw::Hnsw;
use crate::nodes::View;
use crate::scratch::Scratch;
use crate::types::{Neighbor, Slot};
use crate::vectors::VectorSource;

/// Admitted live slots gathered before they are scored, so the rows a few places ahead
/// can be prefetched (`Hnsw::score`) while a listing filter hands slots one at a time.
const BATCH: usize = 64;

impl<V: VectorSource> Hnsw<V> {
    /// The `k` nearest live slots `filter` admits, by scoring every one, into `out`
    /// (cleared first); the query is in `scratch.query`.
    ///
    /// Not inlined, like [`search_layer0`](Self::search_layer0): compiled on its own, a
    /// scan of 100,000 slots with a closure admitting 1 in 200 ran 1.28M instructions
    /// per query, against 1.38M inlined into `search_with`.
    #[inline(never)]
    pub(crate) fn exact<K: Kernel, F: Filter + ?Sized>(
        &self,
        scratch: &mut Scratch,
        k: usize,
        filter: &F,
        out: &mut Vec<Neighbor>,
    ) {
        out.clear();
        if k == 0 {
            return;
        }
        let guard = epoch::pin();
        let mut view = self.nodes.view(&guard);
        let Scratch {
            walk, query, coded, ..
        } = scratch;
        let results = &mut walk.results;
        let q = K::query(query, coded);
        results.reset(k);
        self.for_each_live_batch(&mut view, filter, |batch| {
            self.score::<K>(q, batch, |s, d| {
                results.insert(d, s);
            });
        });
        out.extend(results.iter().map(|(id, distance)| Neighbor {
            slot: Slot(id),
            distance,
        }));
    }

    /// Hands `f` the live slots `filter` admits, in batches of up to [`BATCH`]. Whether
    /// a slot is live is a bit of the index's live bitmap (`nodes.rs`): with the node's
    /// state read instead, one cache line of the node table per admitted slot even
    /// when prefetched a batch at a time, an `i8` scan of 8,257 matches spent a
    /// quarter of its time on that load.
    #[inline(always)]
    fn for_each_live_batch<F: Filter + ?Sized>(
        &self,
        view: &mut View<'_>,
        filter: &F,
        mut f: impl FnMut(&[u32]),
    ) {
        let bound = self.slot_bound() as u32;
        let mut batch = [0u32; BATCH];
        let mut len = 0;
        let mut consider = |s: u32| {
            if view.live(s) {
                batch[len] = s;
                len += 1;
                if len == BATCH {
                    f(&batch);
                    len = 0;
                }
            }
        };
        if filter.can_list() {
            filter.for_each_admitted(&mut |s| {
                if s.0 < bound {
                    consider(s.0);
                }
            });
        } else {
            for s in 0..bound {
                if filter.admits(Slot(s)) {
                    consider(s);
                }
            }
        }
        f(&batch[..len]);
    }
}
