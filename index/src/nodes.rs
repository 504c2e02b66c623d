//! Node storage: per-slot neighbour lists and state, in chunks that never move.
//!
//! Layer-0 lists, the hot data, sit in one flat `[AtomicU32]` per chunk of 1,024
//! nodes: `count, id_0 .. id_{2M-1}` per node, so reading a list is one offset
//! computation away from the chunk base. Upper-layer lists (a node has them with
//! probability 1/M) hang off the node's [`NodeMeta`]. The chunk directory is published
//! through crossbeam-epoch: growth copies the directory (cheap `Arc` clones), swaps it
//! in and retires the old one, so readers never wait and nodes never move. A search
//! pins once and keeps its [`View`] for the whole query.
//!
//! Lists are written under the node's own lock and read without it: every entry is an
//! atomic, writers store ids before the count (release) and readers load with acquire,
//! so a reader racing a writer sees a mix of old and new ids, each a valid, published
//! node: never a torn value and never an unpublished node.
//!
//! Beside the states, each chunk keeps one live bit per node (16 words), which is what
//! [`View::live`] reads: a scan of the slots a filter admits, or a walk asking about
//! a node it meets, tests a bit in 12.5 KB (100,000 nodes) instead of loading the
//! node's [`NodeMeta`], one cache line of a 4 MB table per node. On minilm-mix-dev
//! (100,000 × 384-d, `i8` codes, ef 64, `fletchdb-filter`, queries per CPU second
//! against the unfiltered search) that load was a quarter of an exact scan of 8,257
//! matches. See [`View::publish`] for why the bit never says live when the state does
//! not.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use crossbeam_epoch::{self as epoch, Atomic, Guard, Owned};
use once_cell::race::OnceBox;
use parking_lot::Mutex;
use rayon::prelude::*;

use crate::checks::ListChecks;
use crate::error::IndexError;
use crate::image::Lists0;

/// log2 of the nodes per chunk.
const CHUNK_BITS: u32 = 10;
/// Nodes per chunk.
pub(crate) const CHUNK: usize = 1 << CHUNK_BITS;
/// Chunks added at once from which `Nodes::ensure` allocates on rayon's pool.
const PARALLEL_GROWTH: usize = 64;
/// Words of live bits per chunk.
const LIVE_WORDS: usize = CHUNK / 64;

/// Highest level a node may have (levels are drawn with mean 1/ln(M); 31 is never
/// reached in practice and bounds what a loaded file may claim).
pub(crate) const MAX_LEVEL: usize = 31;

const STATE_CLAIMED: u32 = 1 << 31;
const STATE_READY: u32 = 1 << 30;
const STATE_DELETED: u32 = 1 << 29;
/// Deleted and being unlinked by a heal (`heal.rs`): no new link may name it.
const STATE_RETIRING: u32 = 1 << 28;
const LEVEL_MASK: u32 = 0xff;

/// Per-node state that is not on the layer-0 hot path.
#[derive(Default)]
pub(crate) struct NodeMeta {
    /// `CLAIMED | READY | DELETED | RETIRING | level`; 0 for a slot with no node (never
    /// claimed, or freed by a heal).
    state: AtomicU32,
    /// Serialises writers of this node's lists (all layers).
    pub(crate) lock: Mutex<()>,
    /// Layers `1..=level`, each `count, id_0 .. id_{M-1}`. A `OnceBox` (one pointer)
    /// rather than a `OnceLock` (a pointer, a length and a state word): 24 bytes a
    /// record instead of 40, which at 1,000,000 nodes was ~19 ms of a warm open's
    /// page faults (`Nodes::adopt`).
    upper: OnceBox<Box<[AtomicU32]>>,
    /// Layer-0 lists that name this node (maintained by inserts, recomputed on load).
    pub(crate) indegree: AtomicU32,
}

// The size the `upper` comment counts on.
#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<NodeMeta>() == 24);

/// A snapshot of a node's state word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct NodeState(u32);

impl NodeState {
    pub(crate) fn claimed(self) -> bool {
        self.0 & STATE_CLAIMED != 0
    }
    pub(crate) fn ready(self) -> bool {
        self.0 & STATE_READY != 0
    }
    pub(crate) fn deleted(self) -> bool {
        self.0 & STATE_DELETED != 0
    }
    /// In the index and not tombstoned: the one test of whether a search may return the
    /// node. (Ready is not required: a node being linked in already has its vector.)
    #[inline(always)]
    pub(crate) fn live(self) -> bool {
        self.0 & (STATE_CLAIMED | STATE_DELETED) == STATE_CLAIMED
    }
    /// Being unlinked by a heal: an insert must not link to it.
    pub(crate) fn retiring(self) -> bool {
        self.0 & STATE_RETIRING != 0
    }
    pub(crate) fn level(self) -> usize {
        (self.0 & LEVEL_MASK) as usize
    }
}

impl NodeMeta {
    pub(crate) fn state(&self) -> NodeState {
        NodeState(self.state.load(Ordering::Acquire))
    }

    /// Claims an empty node for `level`; false if it was already claimed.
    fn claim(&self, level: usize, upper_stride: usize) -> bool {
        let claimed = self
            .state
            .compare_exchange(
                0,
                STATE_CLAIMED | level as u32,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok();
        if claimed && level > 0 {
            let _ = self.upper.set(Box::new(
                (0..level * upper_stride)
                    .map(|_| AtomicU32::new(0))
                    .collect(),
            ));
        }
        claimed
    }

    pub(crate) fn set_ready(&self) {
        self.state.fetch_or(STATE_READY, Ordering::Release);
    }

    /// Marks the node deleted; true if it was live before. [`View::delete`] also
    /// clears its live bit.
    fn set_deleted(&self) -> bool {
        let prev = self.state.fetch_or(STATE_DELETED, Ordering::SeqCst);
        prev & STATE_DELETED == 0
    }

    /// Marks a deleted node as being unlinked by a heal.
    pub(crate) fn set_retiring(&self) {
        self.state.fetch_or(STATE_RETIRING, Ordering::AcqRel);
    }

    /// Empties the node's state: the slot holds no node and may be claimed again. Its
    /// lists are left as they were (a walk that still reaches it through a list read
    /// before the heal finds valid ids there) and are cleared when it is claimed.
    fn free(&self) {
        self.state.store(0, Ordering::SeqCst);
    }

    /// A node as [`restore`](Self::restore) leaves it.
    fn loaded(level: usize, deleted: bool, upper_stride: usize) -> NodeMeta {
        let meta = NodeMeta::default();
        meta.restore(level, deleted, upper_stride);
        meta
    }

    /// Restores a node's full state word (used when loading a saved graph).
    fn restore(&self, level: usize, deleted: bool, upper_stride: usize) {
        let mut s = STATE_CLAIMED | STATE_READY | level as u32;
        if deleted {
            s |= STATE_DELETED;
        }
        if level > 0 {
            let _ = self.upper.set(Box::new(
                (0..level * upper_stride)
                    .map(|_| AtomicU32::new(0))
                    .collect(),
            ));
        }
        self.state.store(s, Ordering::Release);
    }
}

/// One chunk: its layer-0 lists, its node records and their live bits.
type Chunk = (Lists0, Arc<[NodeMeta]>, Arc<[AtomicU64]>);

/// One generation of the chunk directory.
struct Directory {
    links0: Vec<Lists0>,
    meta: Vec<Arc<[NodeMeta]>>,
    /// Bit `s % 64` of word `s % CHUNK / 64` of chunk `s / CHUNK`: `state(s).live()`
    /// (see [`View::publish`]).
    live: Vec<Arc<[AtomicU64]>>,
}

/// All nodes of one index.
pub(crate) struct Nodes {
    dir: Atomic<Directory>,
    grow: Mutex<()>,
    /// `1 + 2M`: one layer-0 list.
    stride0: usize,
    /// `1 + M`: one upper-layer list.
    stride_up: usize,
    /// A loaded graph's checks of the lists it adopted, made on first read.
    checks: OnceLock<ListChecks>,
}

impl Nodes {
    pub(crate) fn new(m: usize) -> Nodes {
        Nodes {
            dir: Atomic::new(Directory {
                links0: Vec::new(),
                meta: Vec::new(),
                live: Vec::new(),
            }),
            grow: Mutex::new(()),
            stride0: 1 + 2 * m,
            stride_up: 1 + m,
            checks: OnceLock::new(),
        }
    }

    /// A reader's handle on the directory for as long as `guard` is pinned.
    #[inline]
    pub(crate) fn view<'g>(&'g self, guard: &'g Guard) -> View<'g> {
        View {
            nodes: self,
            guard,
            dir: self.load(guard),
        }
    }

    #[inline]
    fn load<'g>(&self, guard: &'g Guard) -> &'g Directory {
        let shared = self.dir.load(Ordering::Acquire, guard);
        // SAFETY: `dir` is never null (set in `new`, only ever swapped for another
        // non-null directory), and a directory swapped out is retired with
        // `defer_destroy`, so it lives at least until `guard` is unpinned.
        unsafe { shared.deref() }
    }

    /// Makes sure the chunk holding `slot` exists (and every chunk before it).
    pub(crate) fn ensure(&self, slot: usize) {
        let chunk = slot >> CHUNK_BITS;
        let guard = epoch::pin();
        if chunk < self.load(&guard).meta.len() {
            return;
        }
        let _grow = self.grow.lock();
        let current = self.dir.load(Ordering::Acquire, &guard);
        // SAFETY: as in `load`: non-null, and retired only through `defer_destroy`.
        let old = unsafe { current.deref() };
        if chunk < old.meta.len() {
            return;
        }
        let have = old.meta.len();
        let make = |_| {
            let (meta, live) = new_records();
            (Lists0::zeroed(CHUNK * self.stride0), meta, live)
        };
        // Many chunks at once (loading a graph, which no insert runs beside): allocate
        // them in parallel. An insert's chunk or two here, on this thread: rayon's
        // workers may be inside inserts waiting for this lock, and a thread outside the
        // pool that held it while waiting for them never got them (a hung test run,
        // `i8_activation_by_a_plain_thread_while_rayon_inserts_does_not_deadlock`).
        let new: Vec<Chunk> = if chunk - have < PARALLEL_GROWTH {
            (have..=chunk).map(make).collect()
        } else {
            (have..=chunk).into_par_iter().map(make).collect()
        };
        let mut links0 = old.links0.clone();
        let mut meta = old.meta.clone();
        let mut live = old.live.clone();
        for (l, m, b) in new {
            links0.push(l);
            meta.push(m);
            live.push(b);
        }
        let previous = self.dir.swap(
            Owned::new(Directory { links0, meta, live }),
            Ordering::AcqRel,
            &guard,
        );
        // SAFETY: `previous` was just unlinked from `dir` (we hold the grow lock, so no
        // other swap raced us); readers that loaded it are pinned, and the epoch
        // collector frees it only after they all unpin.
        unsafe { guard.defer_destroy(previous) };
    }

    /// Gives an index with no chunks yet the chunks `lists` (a loaded graph's layer-0
    /// lists, `CHUNK * stride0` words each), each slot's node as `node` says: `Some((level,
    /// deleted))` a node restored at that level (its upper lists empty, its live bit
    /// set unless deleted), `None` unclaimed. False (and nothing changed) if it has
    /// chunks already or a chunk is not that long.
    ///
    /// Built in one pass with their states rather than as unclaimed records restored
    /// afterwards one slot at a time: at 1,000,000 nodes the two passes took 20-29 ms
    /// and 17-25 ms of a warm open (timed by hand, 2026-12-03).
    pub(crate) fn adopt(
        &self,
        lists: Vec<Lists0>,
        checks: ListChecks,
        node: impl Fn(u32) -> Option<(usize, bool)> + Sync,
    ) -> bool {
        let _grow = self.grow.lock();
        let guard = epoch::pin();
        let current = self.dir.load(Ordering::Acquire, &guard);
        // SAFETY: as in `load`: non-null, and retired only through `defer_destroy`.
        let old = unsafe { current.deref() };
        if !old.meta.is_empty() || lists.iter().any(|l| l.len() != CHUNK * self.stride0) {
            return false;
        }
        // On rayon's pool while holding the grow lock, which `ensure` avoids: this index
        // is being loaded, so no insert (on a worker or not) can be waiting for the lock.
        let stride = self.stride_up;
        let (meta, live): (Vec<_>, Vec<_>) = (0..lists.len())
            .into_par_iter()
            .map(|c| {
                let first = (c * CHUNK) as u32;
                let mut words = [0u64; LIVE_WORDS];
                let meta: Arc<[NodeMeta]> = (0..CHUNK as u32)
                    .map(|i| match node(first + i) {
                        Some((level, deleted)) => {
                            if !deleted {
                                words[i as usize / 64] |= 1 << (i % 64);
                            }
                            NodeMeta::loaded(level, deleted, stride)
                        }
                        None => NodeMeta::default(),
                    })
                    .collect();
                let live: Arc<[AtomicU64]> = words.into_iter().map(AtomicU64::new).collect();
                (meta, live)
            })
            .unzip();
        if self.checks.set(checks).is_err() {
            return false;
        }
        let previous = self.dir.swap(
            Owned::new(Directory {
                links0: lists,
                meta,
                live,
            }),
            Ordering::AcqRel,
            &guard,
        );
        // SAFETY: as in `ensure`.
        unsafe { guard.defer_destroy(previous) };
        true
    }
}

impl Nodes {
    /// Checks every adopted list not checked yet (see `checks.rs`), a chunk per task,
    /// then says whether any was damaged.
    pub(crate) fn check_lists(&self) -> Result<(), IndexError> {
        let Some(checks) = self.checks.get() else {
            return Ok(());
        };
        let guard = epoch::pin();
        let lists = &self.load(&guard).links0;
        (0..checks.chunks().min(lists.len()))
            .into_par_iter()
            .for_each(|c| checks.check_chunk(c, &lists[c]));
        checks.failure()
    }

    /// The first damage the checks of adopted lists found, if any.
    #[inline]
    pub(crate) fn lists_failure(&self) -> Result<(), IndexError> {
        self.checks.get().map_or(Ok(()), ListChecks::failure)
    }
}

/// One chunk's node records, all unclaimed, and their live bits, all clear.
fn new_records() -> (Arc<[NodeMeta]>, Arc<[AtomicU64]>) {
    let live = (0..LIVE_WORDS).map(|_| AtomicU64::new(0)).collect();
    (new_metas(), live)
}

/// One chunk's node records, all unclaimed.
fn new_metas() -> Arc<[NodeMeta]> {
    (0..CHUNK).map(|_| NodeMeta::default()).collect()
}

impl Drop for Nodes {
    fn drop(&mut self) {
        // SAFETY: `&mut self` means no reader or writer is left, so the current
        // directory can be taken without protection; it is dropped exactly once here.
        unsafe {
            let guard = epoch::unprotected();
            let current = self.dir.load(Ordering::Relaxed, guard);
            drop(current.into_owned());
        }
    }
}

/// Read access to nodes during one operation.
pub(crate) struct View<'g> {
    nodes: &'g Nodes,
    guard: &'g Guard,
    dir: &'g Directory,
}

impl<'g> View<'g> {
    /// Reloads the directory when `chunk` is newer than the one held.
    #[cold]
    #[inline(never)]
    fn refresh(&mut self, chunk: usize) -> bool {
        self.dir = self.nodes.load(self.guard);
        chunk < self.dir.meta.len()
    }

    /// Slots the held directory covers.
    pub(crate) fn capacity(&self) -> usize {
        self.dir.meta.len() * CHUNK
    }

    /// The node's layer-0 list (`count, ids..`), or `None` if its chunk does not exist.
    #[inline(always)]
    pub(crate) fn links0(&mut self, slot: u32) -> Option<&'g [AtomicU32]> {
        let slot = slot as usize;
        let chunk = slot >> CHUNK_BITS;
        if chunk >= self.dir.links0.len() && !self.refresh(chunk) {
            return None;
        }
        let start = (slot & (CHUNK - 1)) * self.nodes.stride0;
        let lists = &self.dir.links0[chunk];
        if let Some(checks) = self.nodes.checks.get() {
            if !checks.checked(chunk, slot) {
                checks.check(chunk, slot, lists);
            }
        }
        lists.get(start..start + self.nodes.stride0)
    }

    /// The node's state and locks, or `None` if its chunk does not exist.
    #[inline(always)]
    pub(crate) fn meta(&mut self, slot: u32) -> Option<&'g NodeMeta> {
        let slot = slot as usize;
        let chunk = slot >> CHUNK_BITS;
        if chunk >= self.dir.meta.len() && !self.refresh(chunk) {
            return None;
        }
        self.dir.meta[chunk].get(slot & (CHUNK - 1))
    }

    /// The word holding `slot`'s live bit, or `None` if its chunk does not exist.
    #[inline(always)]
    fn live_word(&mut self, slot: u32) -> Option<&'g AtomicU64> {
        let slot = slot as usize;
        let chunk = slot >> CHUNK_BITS;
        if chunk >= self.dir.live.len() && !self.refresh(chunk) {
            return None;
        }
        self.dir.live[chunk].get((slot & (CHUNK - 1)) / 64)
    }

    /// The live bits of slots `64 * word .. 64 * word + 64` (bit `s % 64` for slot `s`,
    /// as [`live`](Self::live) reads them); 0 where no chunk exists.
    #[inline(always)]
    pub(crate) fn live_bits(&mut self, word: usize) -> u64 {
        u32::try_from(word * 64)
            .ok()
            .and_then(|s| self.live_word(s))
            .map_or(0, |w| w.load(Ordering::Acquire))
    }

    /// True if `slot` is live ([`NodeState::live`], read from its live bit, see
    /// [`publish`](Self::publish)); false for a slot with no chunk. A true answer
    /// (acquire) comes after the writes that preceded the claim and the publication:
    /// the slot's code and vector.
    #[inline(always)]
    pub(crate) fn live(&mut self, slot: u32) -> bool {
        self.live_word(slot)
            .is_some_and(|w| w.load(Ordering::Acquire) & (1 << (slot % 64)) != 0)
    }

    /// Claims `slot`'s empty node for `level` (its live bit stays clear until
    /// [`publish`](Self::publish)); `None` if it has no chunk or was already claimed.
    pub(crate) fn claim(&mut self, slot: u32, level: usize) -> Option<&'g NodeMeta> {
        let stride = self.nodes.stride_up;
        self.meta(slot).filter(|m| m.claim(level, stride))
    }

    /// Sets the live bit of `slot`, which its caller claimed and whose code it wrote:
    /// from now on scans and walks may return it.
    ///
    /// The bit and the state word are two atomics, so a node's bit says `live` only
    /// between this call and [`delete`](Self::delete) or [`free`](Self::free), never
    /// outside: a delete sets `DELETED` then clears the bit, and this sets the bit then
    /// reads the state, clearing the bit again if a delete came first; all four are
    /// `SeqCst`, so in their single order either the read sees the delete or the
    /// delete's clear comes after this set. (A node being claimed cannot be freed
    /// meanwhile: a heal frees only nodes marked ready, after this.) Readers load the
    /// bit with acquire, which pairs with this release, as the state word's did.
    pub(crate) fn publish(&mut self, slot: u32) {
        let (Some(word), Some(meta)) = (self.live_word(slot), self.meta(slot)) else {
            return;
        };
        let bit = 1u64 << (slot % 64);
        word.fetch_or(bit, Ordering::SeqCst);
        if !NodeState(meta.state.load(Ordering::SeqCst)).live() {
            word.fetch_and(!bit, Ordering::SeqCst);
        }
    }

    /// Tombstones `slot`'s node and clears its live bit; true if it was not deleted
    /// before.
    pub(crate) fn delete(&mut self, slot: u32) -> bool {
        let Some(meta) = self.meta(slot) else {
            return false;
        };
        let fresh = meta.set_deleted();
        self.clear_live(slot);
        fresh
    }

    /// Empties `slot`'s node ([`NodeMeta::free`]); its bit was cleared when it was
    /// deleted, and is cleared again.
    pub(crate) fn free(&mut self, slot: u32) {
        if let Some(meta) = self.meta(slot) {
            meta.free();
            self.clear_live(slot);
        }
    }

    /// Restores `slot`'s state word and live bit (loading a saved graph).
    pub(crate) fn restore(&mut self, slot: u32, level: usize, deleted: bool) -> Option<()> {
        let stride = self.nodes.stride_up;
        self.meta(slot)?.restore(level, deleted, stride);
        if !deleted {
            self.publish(slot);
        }
        Some(())
    }

    fn clear_live(&mut self, slot: u32) {
        if let Some(word) = self.live_word(slot) {
            word.fetch_and(!(1u64 << (slot % 64)), Ordering::SeqCst);
        }
    }

    /// The node's list at `layer` (`count, ids..`), or `None` if it has no such layer.
    #[inline]
    pub(crate) fn links(&mut self, slot: u32, layer: usize) -> Option<&'g [AtomicU32]> {
        if layer == 0 {
            return self.links0(slot);
        }
        let stride = self.nodes.stride_up;
        let upper = self.meta(slot)?.upper.get()?;
        upper.get((layer - 1) * stride..layer * stride)
    }
}

/// Reads a list's neighbours: at most `list.len() - 1`, whatever the count says.
#[inline(always)]
pub(crate) fn neighbours(list: &[AtomicU32]) -> impl Iterator<Item = u32> + '_ {
    let count = (list[0].load(Ordering::Acquire) as usize).min(list.len() - 1);
    list[1..=count].iter().map(|a| a.load(Ordering::Acquire))
}

/// Replaces a list's neighbours (the caller holds the node's lock).
pub(crate) fn store_neighbours(list: &[AtomicU32], ids: &[u32]) {
    let n = ids.len().min(list.len() - 1);
    for (dst, &id) in list[1..=n].iter().zip(ids) {
        dst.store(id, Ordering::Release);
    }
    list[0].store(n as u32, Ordering::Release);
}

/// Appends one neighbour if there is room (the caller holds the node's lock).
pub(crate) fn push_neighbour(list: &[AtomicU32], id: u32) -> bool {
    let count = list[0].load(Ordering::Acquire) as usize;
    if count + 1 >= list.len() {
        return false;
    }
    list[count + 1].store(id, Ordering::Release);
    list[0].store(count as u32 + 1, Ordering::Release);
    true
}
