//! The exact scan: every live slot a filter admits, scored against the query. Ground
//! truth for tests, and the plan of choice when a filter admits too few slots for the
//! graph to find them.

use crossbeam_epoch as epoch;

use crate::distance::Kernel;
use crate::filter::Filter;
use crate::hnsw::Hnsw;
use crate::scratch::Scratch;
use crate::types::{Neighbor, Slot};
use crate::vectors::VectorSource;

impl<V: VectorSource> Hnsw<V> {
    /// The `k` nearest live slots `filter` admits, by scoring every one, into `out`
    /// (cleared first); the query is in `scratch.query`.
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
        let Scratch { walk, query, .. } = scratch;
        let results = &mut walk.results;
        let q = query.as_slice();
        results.reset(k);
        let bound = self.slot_bound();
        let mut visit = |s: Slot| {
            if s.index() >= bound {
                return;
            }
            if view.live(s.0) {
                let d = self.dist::<K>(q, s.0);
                results.insert(d, s.0);
            }
        };
        if filter.can_list() {
            filter.for_each_admitted(&mut visit);
        } else {
            for s in 0..bound {
                if filter.admits(Slot(s as u32)) {
                    visit(Slot(s as u32));
                }
            }
        }
        out.extend(results.iter().map(|(id, distance)| Neighbor {
            slot: Slot(id),
            distance,
        }));
    }
}
