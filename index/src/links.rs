//! [`FilterLinks`]: a graph over the members of one wide filter value (Qdrant's
//! payload-aware links), so a search restricted to them walks among them alone.
//!
//! A filter admitting a tenth to a half of a collection is the hard middle: too many
//! matches to score each (even by sign bits, a pass over memory that grows with them),
//! and the graph's own lists, walked with the filter inside (ACORN-1's two hops,
//! `search_admitted`), score 2,200-2,600 distances a query on minilm-mix-dev against the
//! unfiltered walk's 1,100. Links that join each member to its nearest members, chosen
//! by the same heuristic as the graph's, make that walk a plain one over a smaller
//! graph.
//!
//! **Built** by [`Hnsw::link_members`] from the graph itself, not by inserting each
//! member again: a member's candidates are the members among its neighbours and its
//! neighbours' neighbours, scored exactly; the heuristic (`select.rs`) keeps `2m`; then
//! each member's kept list is chosen again from it and from the members that kept it
//! (the reverse links an insert adds). Cost: two passes of about `m²` list reads and a
//! few hundred distances a member. Then up to 8,192 non-members search those links for
//! their nearest members, and the members each one finds are linked together (up to
//! [`PROJECTED`] more links a member: RoarGraph's projection, with the non-members
//! standing for the queries that come from outside the filter).
//!
//! **Kept valid** by the caller: the links are a snapshot of the members at build time.
//! [`FilterLinks::forget`] drops a slot whose membership changed (a put, a delete, a
//! metadata change or a move all go through it in `core`); a search then treats it as
//! a slot without links: reached through the graph's lists, and scored exactly if the
//! filter admits it ("fresh", see [`Hnsw::search_admitted`]). The links are in memory
//! only; `core` builds them again after an open.

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};

use crossbeam_epoch as epoch;

use crate::distance::{with_kernel, Kernel};
use crate::hnsw::Hnsw;
use crate::nodes::neighbours;
use crate::slot_set::SlotSet;
use crate::types::Slot;
use crate::vectors::VectorSource;

/// No member: the local index of a slot that is not one.
const NONE: u32 = u32::MAX;

/// Candidates kept, closest first, before the heuristic picks a member's links, per
/// link (measured on minilm-mix-dev, ef 64, with a list twice ef for far queries:
/// recall 0.909-0.934 at 4 against 0.897-0.924 at 2 for 23-58 % selectivity, at the
/// same speed).
const POOL_PER_LINK: usize = 4;

/// Links of each member to members drawn at random, of its `2m`: shortcuts between
/// groups of members that the graph joins only through non-members. Links chosen
/// from a member's neighbourhood stay within its group: on clustered vectors whose
/// filter takes whole clusters (24,000 × 64-d in 40 clusters, 16 of them matching, ef
/// 40, `core`'s `wide_values_are_walked_by_their_links_through_writes_and_reopen`),
/// recall was 0.886 without shortcuts and 0.95-0.97 with 4 or 8, where the walk of
/// the graph itself had 1.000. On minilm-mix-dev (ef 64, `fletchdb-filter`, 8-58 %)
/// recall moved by at most 0.004 either way, and speed by 0.04 or less.
const SHORTCUTS: usize = 4;

/// Links each member gets beyond its `2m`, from the projection (`Hnsw::project`):
/// members that lie side by side as seen from outside the filter.
///
/// A query whose matches lie away from it (most queries of a filter taking a tenth to
/// a half of minilm-mix-dev) sees the members as an out-of-distribution query sees a
/// graph: its nearest ones are spread over parts that links chosen among members
/// (each member's nearest) do not join, and the walk settles in one part. hnswlib
/// built on the members alone has the same trouble: recall 0.916-0.954 at ef 64 on
/// four of these filters, 0.958-0.982 at ef 128. Links drawn from non-members' nearest
/// members join those parts; they are what RoarGraph builds from its training queries.
///
/// Measured on minilm-mix-dev (`fletchdb-filter --reps 3`, ef 64, 8-41 % selectivity,
/// two interleaved rounds, ratios to the unfiltered speed, AMD EPYC, `i8` codes):
/// - without projected links, far queries walking a list of 2 ef: recall
///   0.953-0.991 at 0.48-0.61;
/// - 16 projected links, a list of 1.2 ef: recall 0.962-0.991 at 0.58-0.69;
/// - 24, a list of ef: 0.961-0.989 at 0.59-0.79;
/// - 24, a list of 1.2 ef (kept, `LINKED_FAR_EF` in `search.rs`): 0.966-0.992 at
///   0.50-0.67;
/// - 8 and 4 (a list of 1.5 ef): 0.965-0.993 and 0.954-0.970 (one pass).
const PROJECTED: usize = 24;

/// Non-members that search the links for the projection, at most: 4,096 gave recall
/// 0.005-0.01 lower than 8,192 (16 projected links, a list of 1.2 ef), 2,048 lower
/// still. Each is one filtered search (about half a millisecond at 100,000 × 384-d),
/// so this is most of a build's time for filters of up to ~20,000 members: 3-6 s on
/// one core where links without it took 0.4-3.
const PROJECTION_SAMPLES: usize = 8192;

/// Members each sample's search returns for the projection (8: recall 0.002-0.004
/// lower with 16 projected links; 24: no better).
const PROJECTION_TOP: usize = 16;

/// The ef of the samples' searches.
const PROJECTION_EF: usize = 64;

/// Links among the members of one filter value (see the module comment), built by
/// [`Hnsw::link_members`] and passed to a search with
/// [`SearchRequest::links`](crate::SearchRequest::links).
///
/// ```
/// use fletchdb_index::{Hnsw, HnswConfig, Metric, SearchRequest, Slot};
///
/// let index = Hnsw::in_memory(1, HnswConfig::new(Metric::L2))?;
/// for i in 0..2000 {
///     index.add(&[i as f32])?;
/// }
/// // Every third slot is a member; the filter is a plain bit vector of them.
/// let members: Vec<Slot> = (0..2000).step_by(3).map(Slot).collect();
/// let mut words = vec![0u64; 2000usize.div_ceil(64)];
/// for s in &members {
///     words[s.0 as usize / 64] |= 1 << (s.0 % 64);
/// }
/// struct Bits(Vec<u64>);
/// impl fletchdb_index::Filter for Bits {
///     fn admits(&self, s: Slot) -> bool {
///         self.0.get(s.0 as usize / 64).is_some_and(|w| w & (1 << (s.0 % 64)) != 0)
///     }
///     fn words(&self) -> Option<&[u64]> {
///         Some(&self.0)
///     }
/// }
/// let filter = Bits(words);
/// let links = index.link_members(&members)?;
/// assert_eq!(links.members(), members.len());
/// let mut hits = Vec::new();
/// let request = SearchRequest::new(2, 32).filter(&filter).links(&links);
/// index.search_into(&[1000.0], request, &mut hits)?;
/// let slots: Vec<u32> = hits.iter().map(|n| n.slot.0).collect();
/// assert_eq!(slots, [999, 1002]);
/// # Ok::<(), fletchdb_index::IndexError>(())
/// ```
#[derive(Debug)]
pub struct FilterLinks {
    /// Words of one list: a count, then up to `2m` members.
    width: usize,
    /// Slot -> the member's row in `lists`, or [`NONE`].
    local: Vec<u32>,
    /// The members' lists, `width` words each.
    lists: Vec<AtomicU32>,
    /// A bit per slot: a member when built, not forgotten since.
    valid: Vec<AtomicU64>,
    /// Members when built.
    members: usize,
    /// Members forgotten since.
    forgotten: AtomicUsize,
}

impl FilterLinks {
    /// Members linked when built.
    pub fn members(&self) -> usize {
        self.members
    }

    /// Members still linked: built, not [`forget`](Self::forget)ten since.
    pub fn valid(&self) -> usize {
        self.members
            .saturating_sub(self.forgotten.load(Ordering::Relaxed))
    }

    /// Drops `slot`'s links (its membership or its vector changed): searches treat it
    /// as a slot without links from now on. Nothing happens to a slot that was not
    /// linked.
    pub fn forget(&self, slot: Slot) {
        let s = slot.0 as usize;
        if let Some(w) = self.valid.get(s / 64) {
            let bit = 1u64 << (s % 64);
            if w.fetch_and(!bit, Ordering::AcqRel) & bit != 0 {
                self.forgotten.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Most links a list holds.
    pub(crate) fn most(&self) -> usize {
        self.width - 1
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.local.len() * 4 + self.lists.len() * 4 + self.valid.len() * 8
    }

    /// The valid bits of slots `64 * word ..` (0 past the end).
    #[inline(always)]
    pub(crate) fn valid_bits(&self, word: usize) -> u64 {
        self.valid
            .get(word)
            .map_or(0, |w| w.load(Ordering::Acquire))
    }

    /// `slot`'s list among the members, if it is a valid member.
    #[inline(always)]
    pub(crate) fn list(&self, slot: u32) -> Option<&[AtomicU32]> {
        let s = slot as usize;
        if self.valid_bits(s / 64) & (1 << (s % 64)) == 0 {
            return None;
        }
        let row = *self.local.get(s)? as usize;
        self.lists.get(row * self.width..(row + 1) * self.width)
    }
}

impl<V: VectorSource> Hnsw<V> {
    /// Links `members` among themselves (see [`FilterLinks`]): each live member gets up
    /// to `2m` links to its nearest members, chosen from its neighbours within two hops
    /// in the graph and from the members that chose it, and up to 24 more to members
    /// found beside it by searches from non-members. Slots that are not live (or past
    /// the graph) are left out. Runs on the calling thread.
    ///
    /// # Errors
    /// [`IndexError::Corruption`](crate::IndexError::Corruption) if a list it reads in a
    /// loaded graph is damaged.
    pub fn link_members(&self, members: &[Slot]) -> Result<FilterLinks, crate::IndexError> {
        let links = with_kernel!(self.config.metric, K => self.link_members_with::<K>(members));
        self.nodes.lists_failure()?;
        Ok(links)
    }

    fn link_members_with<K: Kernel>(&self, members: &[Slot]) -> FilterLinks {
        let guard = epoch::pin();
        let mut view = self.nodes.view(&guard);
        let bound = self.slot_bound().min(view.capacity());
        let mut local = vec![NONE; bound];
        let mut slots: Vec<u32> = Vec::with_capacity(members.len());
        for &Slot(s) in members {
            let i = s as usize;
            if i < bound && local[i] == NONE && view.live(s) {
                local[i] = slots.len() as u32;
                slots.push(s);
            }
        }
        let cap = 2 * self.config.m;
        let width = 1 + cap + PROJECTED;
        let pool = cap * POOL_PER_LINK;
        // A stamp per slot: the member whose candidates are being gathered.
        let mut seen = vec![NONE; bound];
        let mut cands: Vec<(u32, f32)> = Vec::new();
        let mut kept: Vec<u32> = Vec::with_capacity(cap);
        let mut chosen: Vec<Vec<u32>> = Vec::with_capacity(slots.len());
        let is_member = |n: u32| local.get(n as usize).is_some_and(|&l| l != NONE);
        // First pass: from the graph, two hops.
        for (i, &x) in slots.iter().enumerate() {
            seen[x as usize] = i as u32;
            cands.clear();
            let row = K::row(self, x);
            let mut push = |n: u32, cands: &mut Vec<(u32, f32)>| {
                if let Some(st) = seen.get_mut(n as usize) {
                    if *st != i as u32 && is_member(n) {
                        *st = i as u32;
                        cands.push((n, K::distance(row, K::row(self, n))));
                    }
                }
            };
            let mut direct = 0;
            if let Some(first) = view.links(x, 0) {
                for n in neighbours(first) {
                    push(n, &mut cands);
                }
                direct = cands.len();
                for n in neighbours(first) {
                    if let Some(second) = view.links(n, 0) {
                        for m in neighbours(second) {
                            push(m, &mut cands);
                        }
                    }
                }
            }
            // The closest of all, and every member the graph links `x` to: among those
            // are its long links, which the closest alone would lose.
            let (ones, twos) = cands.split_at_mut(direct);
            twos.sort_unstable_by(|a, b| a.1.total_cmp(&b.1));
            let keep = direct + twos.len().min(pool.saturating_sub(ones.len()));
            cands.truncate(keep);
            closest(&mut cands, usize::MAX);
            self.select::<K>(&cands, cap, &mut kept);
            chosen.push(kept.clone());
        }
        // The reverse links: who chose each member.
        let mut chose_me: Vec<Vec<u32>> = vec![Vec::new(); slots.len()];
        for (i, list) in chosen.iter().enumerate() {
            for &n in list {
                chose_me[local[n as usize] as usize].push(slots[i]);
            }
        }
        // Second pass: each list chosen again from both.
        let lists: Vec<AtomicU32> = (0..slots.len() * width)
            .map(|_| AtomicU32::new(0))
            .collect();
        for (i, &x) in slots.iter().enumerate() {
            let row = K::row(self, x);
            cands.clear();
            for &n in chosen[i].iter().chain(&chose_me[i]) {
                if !cands.iter().any(|&(c, _)| c == n) {
                    cands.push((n, K::distance(row, K::row(self, n))));
                }
            }
            closest(&mut cands, pool);
            let far = SHORTCUTS.min(cap);
            self.select::<K>(&cands, cap - far, &mut kept);
            // Shortcuts: links to members anywhere (drawn from a hash of the slot).
            let mut h = (x as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
            for _ in 0..far {
                h ^= h << 13;
                h ^= h >> 7;
                h ^= h << 17;
                let n = slots[(h % slots.len() as u64) as usize];
                if n != x && !kept.contains(&n) {
                    kept.push(n);
                }
            }
            let list = &lists[i * width..(i + 1) * width];
            crate::nodes::store_neighbours(list, &kept);
        }
        let mut valid: Vec<AtomicU64> =
            (0..bound.div_ceil(64)).map(|_| AtomicU64::new(0)).collect();
        for &s in &slots {
            *valid[s as usize / 64].get_mut() |= 1 << (s % 64);
        }
        let fl = FilterLinks {
            width,
            local,
            lists,
            valid,
            members: slots.len(),
            forgotten: AtomicUsize::new(0),
        };
        self.project::<K>(&fl, &slots);
        fl
    }

    /// Adds to each member's list up to [`PROJECTED`] links from non-members' view
    /// (RoarGraph's projection, Chen et al., VLDB 2024, with non-members as the
    /// training queries): up to [`PROJECTION_SAMPLES`] non-members spread over the
    /// slots each search the links for their [`PROJECTION_TOP`] nearest members; the
    /// nearest of those is linked to the others and each of them to it. See
    /// [`PROJECTED`] for why.
    fn project<K: Kernel>(&self, links: &FilterLinks, slots: &[u32]) {
        let bound = links.local.len();
        let members: SlotSet = slots.iter().map(|&s| Slot(s)).collect();
        let outside: Vec<u32> = {
            let guard = epoch::pin();
            let mut view = self.nodes.view(&guard);
            (0..bound as u32)
                .filter(|&s| links.local[s as usize] == NONE && view.live(s))
                .collect()
        };
        let step = (outside.len() / PROJECTION_SAMPLES).max(1);
        // Per member: the members the samples put beside it.
        let mut met: Vec<Vec<u32>> = vec![Vec::new(); slots.len()];
        let mut scratch = crate::Scratch::new();
        let mut hits = Vec::new();
        let mut query = Vec::new();
        for &x in outside.iter().step_by(step) {
            query.clear();
            query.extend_from_slice(self.vectors.vector(Slot(x)));
            let request = crate::SearchRequest::new(PROJECTION_TOP, PROJECTION_EF)
                .filter(&members)
                .links(links);
            if self
                .search_with(&mut scratch, &query, request, &mut hits)
                .is_err()
            {
                // A damaged list: the caller reports it (`lists_failure`).
                return;
            }
            let Some((first, rest)) = hits.split_first() else {
                continue;
            };
            let Some(&f) = links.local.get(first.slot.index()) else {
                continue;
            };
            for h in rest {
                let Some(&l) = links.local.get(h.slot.index()) else {
                    continue;
                };
                if let Some(near) = met.get_mut(f as usize) {
                    near.push(h.slot.0);
                }
                if let Some(back) = met.get_mut(l as usize) {
                    back.push(first.slot.0);
                }
            }
        }
        let mut list_now: Vec<u32> = Vec::with_capacity(links.width);
        let mut add: Vec<(u32, f32)> = Vec::new();
        for ((&x, met), list) in slots
            .iter()
            .zip(&mut met)
            .zip(links.lists.chunks_exact(links.width))
        {
            if met.is_empty() {
                continue;
            }
            met.sort_unstable();
            met.dedup();
            list_now.clear();
            list_now.extend(neighbours(list));
            let row = K::row(self, x);
            add.clear();
            for &n in met.iter() {
                if n != x && !list_now.contains(&n) {
                    add.push((n, K::distance(row, K::row(self, n))));
                }
            }
            closest(&mut add, PROJECTED);
            list_now.extend(add.iter().map(|a| a.0));
            crate::nodes::store_neighbours(list, &list_now);
        }
    }
}

/// Sorts `cands` by distance and keeps the closest `n`.
fn closest(cands: &mut Vec<(u32, f32)>, n: usize) {
    cands.sort_unstable_by(|a, b| a.1.total_cmp(&b.1));
    cands.truncate(n);
}
