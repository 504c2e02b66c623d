//! Neighbour selection: the heuristic of Malkov & Yashunin (algorithm 4), as in hnswlib.
//!
//! Walking candidates from closest to farthest, a candidate is kept only if it is closer
//! to the base than to every neighbour already kept. This spreads links over directions
//! instead of spending them all inside one cluster, which is what keeps clustered data
//! navigable.

use crate::distance::Kernel;
use crate::hnsw::Hnsw;
use crate::vectors::VectorSource;

impl<V: VectorSource> Hnsw<V> {
    /// Chooses up to `m` of `candidates` (sorted by ascending distance to the base) into
    /// `out`.
    pub(crate) fn select<K: Kernel>(
        &self,
        candidates: &[(u32, f32)],
        m: usize,
        out: &mut Vec<u32>,
    ) {
        out.clear();
        if candidates.len() <= m {
            out.extend(candidates.iter().map(|&(id, _)| id));
            return;
        }
        for &(c, d) in candidates {
            if out.len() >= m {
                break;
            }
            let vc = K::row(self, c);
            let diverse = out.iter().all(|&r| K::distance(vc, K::row(self, r)) >= d);
            if diverse {
                out.push(c);
            }
        }
    }
}
