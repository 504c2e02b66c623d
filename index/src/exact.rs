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
//! Past a few thousand matches the codes cost more than the walk; there the sign
//! pre-scan ([`Hnsw::sign_scan`]) ranks the matches by one sign bit per component (a
//! 64-byte row at 384-d against `i8`'s 384) against the query's components at four bits
//! (`codes/signs.rs`), and scores by their codes only the `SIGN_CANDIDATES_PER_EF ×
//! ef` first, then, while the results' own keys come within a margin of the cut, the
//! rows up to that key plus the margin (`signs.rs`'s `MARGIN`): where the bits do not
//! separate the answers from the rest (a query whose own cluster has no matches) the
//! scan widens until they do, up to an exact scan. Tried first beside a node-state
//! load per match, the sign bits ran no faster than the codes alone; with the live
//! bits, a count of rows per key instead of a sort, the filter's own bit vector read a
//! word at a time beside the live bits (in slot order; listing a roaring set or a
//! range's column cost about as much as the distances) and `popcnt`, it scanned
//! 8,257-12,559 matches on minilm-mix-dev at 0.37-0.40 of the unfiltered speed
//! against 0.22-0.29 for the walk.
//!
//! Ranked first by the Hamming distance between the row's signs and the query's, it
//! scored 16 × ef rows and then 1,355-1,869 a query with its margin (recall
//! 0.999-1.000 at 8,257-15,118 matches); ranked against the query's components it
//! scores 4 × ef and then 394-676 (recall 1.000 at 8,257-23,260), at the same speed
//! (0.46-0.57 of the unfiltered speed at 8,257-12,559 matches, 0.37-0.39 at 15,118,
//! two interleaved rounds): what is left is reading the rows' sign bits, a pass over
//! memory that grows with the matches.
//!
//! Tried and dropped: one pass that keeps only the rows still within reach of the
//! `keep` closest (a cut lowered from the counts as rows come) instead of listing every
//! row's key and picking from the list afterwards. At 23,260 matches (ef 64, two
//! interleaved rounds against this scan) it ran at 0.25-0.30 of the unfiltered speed
//! against 0.31-0.34, and at 8,257-15,118 at 0.35-0.53 against 0.39-0.61: the pass
//! itself took as long as ranking and picking together (about 10.8 ns a row, under
//! `perf`), because both wait on the rows' cache lines, and two thirds of what
//! remains in this function is the wait for the `i8` rows it scores.
//!
//! Also dropped, before any Rust: a first pass over shorter codes (16 bytes a row, so
//! that 100,000 rows fit the 2 MB L2) to choose the rows whose full sign bits are
//! ranked. Ranked the same way, against the query's components (numpy, minilm-mix-dev,
//! 200 queries, the true top 10 by cosine), the 90th percentile of how far down the
//! ranking the last of a query's top 10 lay, at 8,257 / 23,260 / 41,493 matches, was
//! 184 / 168 / 147 rows with the 384 sign bits, but 2,520 / 4,812 / 5,672 with the
//! first 128 components' signs, 2,908 / 7,884 / 12,769 with 128 random projections,
//! 1,362 / 3,674 / 3,981 with the top 128 principal components of the first 1,024
//! vectors, and 768-1,397 / 2,572-2,870 / 2,508-3,188 with 256 of either: the first
//! pass would have to keep a sixth to a tenth of the matches, and save little.

use crossbeam_epoch as epoch;

use crate::codes::signs::Rows;
use crate::distance::Kernel;
use crate::filter::Filter;
use crate::hnsw::Hnsw;
use crate::nodes::View;
use crate::scratch::{Scratch, Walk};
use crate::types::{Neighbor, Slot};
use crate::vectors::VectorSource;

/// Admitted live slots gathered before they are scored, so the rows a few places ahead
/// can be prefetched (`Hnsw::score`) while a listing filter hands slots one at a time.
const BATCH: usize = 64;
/// Candidates per unit of ef that the sign pre-scan scores by their codes before its
/// margin (see the module comment).
pub(crate) const SIGN_CANDIDATES_PER_EF: usize = 4;

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

    /// The `k` nearest live slots `filter` admits by their codes, into `out` (cleared
    /// first), scoring only the `ef × SIGN_CANDIDATES_PER_EF` whose sign bits rank
    /// first against the query (see the module comment), and those its margin adds;
    /// the query is in `scratch.query` and its code in `scratch.coded`. The caller
    /// checks that the codes have signs.
    #[inline(never)]
    pub(crate) fn sign_scan<K: Kernel, F: Filter + ?Sized>(
        &self,
        scratch: &mut Scratch,
        k: usize,
        ef: usize,
        filter: &F,
        out: &mut Vec<Neighbor>,
    ) {
        out.clear();
        let Some(codes) = self.codes.get() else {
            return;
        };
        if k == 0 {
            return;
        }
        let guard = epoch::pin();
        let mut view = self.nodes.view(&guard);
        let Scratch {
            walk, query, coded, ..
        } = scratch;
        let Walk {
            results,
            ranked,
            counts,
            words,
            fresh,
            picked,
            ..
        } = walk;
        coded.signs.encode(&coded.i8);
        let signs = &coded.signs;
        // Ranked by a count of rows at each key (`signs.bins()` of them, the last for
        // a missing row) rather than by sorting them: the bound that keeps `keep`
        // rows is read off the counts, and a second pass takes the rows within.
        let keep = ef.saturating_mul(SIGN_CANDIDATES_PER_EF).max(k);
        let far = signs.far();
        ranked.clear();
        counts.clear();
        counts.resize(signs.bins(), 0);
        fresh.clear();
        if let Some(admitted) = filter.words() {
            // The filter's bits and the live bits a word at a time, in slot order.
            let bound = self.slot_bound().div_ceil(64).min(admitted.len());
            words.clear();
            words.extend((0..bound).map(|w| admitted[w] & view.live_bits(w)));
            let rows = Rows::Set {
                words,
                slots: fresh,
            };
            crate::codes::signs::rank(codes, signs, rows, ranked, counts);
        } else {
            // The matches first, then their sign bits in the order listed.
            self.for_each_live_batch(&mut view, filter, |batch| fresh.extend_from_slice(batch));
            crate::codes::signs::rank(codes, signs, Rows::Listed(fresh), ranked, counts);
        }
        let mut bound = 0;
        let mut below = 0;
        while bound < far && below + counts[bound] < keep {
            below += counts[bound];
            bound += 1;
        }
        let margin = signs.margin();
        let q = K::query(query, coded);
        results.reset(k);
        // Rows within `bound`, scored; then, while the results' own keys come within
        // `margin` of the bound (the bits do not separate them from the rows left
        // out), the rows up to that key plus `margin`.
        let mut from = 0;
        loop {
            // Without a branch: a row is written at the end in any case and kept by
            // advancing past it when its distance is in range (the distances fall in
            // and out of range at random). On minilm-mix-dev (ef 64, two interleaved
            // rounds) this took 8,257-12,559 matches from 0.43-0.45 of the unfiltered
            // speed to 0.47-0.55, and 15,118 from 0.32 to 0.36-0.37.
            picked.clear();
            picked.resize(fresh.len(), 0);
            let mut n = 0;
            for (&s, &d) in fresh.iter().zip(ranked.iter()) {
                if let Some(p) = picked.get_mut(n) {
                    *p = s;
                }
                n += usize::from((d as usize).wrapping_sub(from) <= bound - from);
            }
            picked.truncate(n);
            self.score::<K>(q, picked, |s, d| {
                results.insert(d, s);
            });
            if bound >= far {
                break;
            }
            let worst = results
                .iter()
                .map(|(s, _)| signs.key_of(codes, s))
                .max()
                .unwrap_or(0);
            let need = worst.saturating_add(margin).min(far);
            if need <= bound {
                break;
            }
            from = bound + 1;
            bound = need;
        }
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
