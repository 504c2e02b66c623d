//! Node storage: per-slot neighbour lists and state, in chunks that never move.
//!
//! Layer-0 lists, the hot data, sit in one flat `[AtomicU32]` per chunk of 1,024
//! nodes: `count, id_0 .. id_{2M-1}` per node, so reading a list is one offset
//! computation away from the chunk base. Upper-layer lists (a node has them with
//! probability 1/M) are in the chunk's records ([`Meta`]): a block per chunk for the
//! nodes a saved graph was loaded with, a box per node claimed since. The chunk
//! directory is published through crossbeam-epoch: growth copies the directory (cheap
//! `Arc` clones), swaps it in and retires the old one, so readers never wait and nodes
//! never move. A search pins once and keeps its [`View`] for the whole query.
//!
//! Lists are written under the node's own lock and read without it: every entry is an
//! atomic, writers store ids before the count (release) and readers load with acquire,
//! so a reader racing a writer sees a mix of old and new ids, each a valid, published
//! node: never a torn value and never an unpublished node.
//!
//! Beside the states, each chunk keeps one live bit per node (16 words), which is what
//! [`View::live`] reads: a scan of the slots a filter admits, or a walk asking about
//! a node it meets, tests a bit in 12.5 KB (100,000 nodes) instead of loading the
//! node's state word, then one cache line of a 24-byte record per node. On minilm-mix-dev
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
/// The node's upper lists lie in its chunk's `loaded` words, at the word offset in
/// bits `UPPER_SHIFT..` (a node adopted from a saved graph); otherwise they are in
/// its [`Rest`], made when it was claimed.
const STATE_UPPER_LOADED: u32 = 1 << 27;
const UPPER_SHIFT: u32 = 8;
/// Offsets into a chunk's `loaded` words a state word can hold (19 bits). A chunk of
/// 1,024 nodes needs about 1,200 at M = 16; a node past this keeps its lists in its
/// [`Rest`] instead.
const UPPER_OFFSETS: usize = 1 << 19;
const LEVEL_MASK: u32 = 0xff;

/// The parts of a node that are not its state word: written by inserts, heals and
/// relocations, never by a load of the graph files of version 2 on (see [`Meta`]).
#[derive(Default)]
struct Rest {
    /// Serialises writers of this node's lists (all layers).
    lock: Mutex<()>,
    /// Layers `1..=level`, each `count, id_0 .. id_{M-1}`, for a node claimed here
    /// (not adopted from a file). A `OnceBox` (one pointer) rather than a `OnceLock`
    /// (a pointer, a length and a state word).
    upper: OnceBox<Box<[AtomicU32]>>,
    /// Layer-0 lists that name this node (maintained by inserts, recomputed on load).
    indegree: AtomicU32,
}

/// One chunk's node records: the state words, the rest made on first need, and the
/// upper lists of the nodes adopted from a saved graph.
///
/// Kept apart so that an open writes only what it must: at 1,000,000 nodes, records
/// of 24 bytes each (state, lock, upper pointer, in-degree), each adopted node's
/// upper lists in a box of its own, took 21-28 ms of a 42-50 ms graph load, most of
/// it in the kernel faulting in and clearing fresh pages (`db_bench open`, warm,
/// 2026-12-04). Now the load writes 4 bytes a node and one block of upper lists a
/// chunk; the rest of a chunk is made the first time a write needs it.
struct MetaChunk {
    /// `CLAIMED | READY | DELETED | RETIRING | UPPER_LOADED | offset | level`, one a
    /// slot; 0 for a slot with no node (never claimed, or freed by a heal).
    states: Box<[AtomicU32]>,
    rest: OnceBox<Box<[Rest]>>,
    /// The upper lists of adopted nodes, at the offsets their states name.
    loaded: Box<[AtomicU32]>,
}

impl MetaChunk {
    /// A chunk of unclaimed slots.
    fn new() -> MetaChunk {
        MetaChunk {
            states: (0..CHUNK).map(|_| AtomicU32::new(0)).collect(),
            rest: OnceBox::new(),
            loaded: Box::new([]),
        }
    }

    fn rest(&self) -> &[Rest] {
        self.rest
            .get_or_init(|| Box::new((0..CHUNK).map(|_| Rest::default()).collect()))
    }
}

/// A node's records: its state word, and the lock, in-degree and upper lists beside
/// it.
#[derive(Clone, Copy)]
pub(crate) struct Meta<'g> {
    chunk: &'g MetaChunk,
    /// The slot's index in its chunk (below `CHUNK`).
    at: usize,
    stride_up: usize,
}

// The size the `upper` comment counts on.
#[cfg(target_pointer_width = "64")]
const _: () = assert!(std::mem::size_of::<Rest>() == 16);

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
    /// Where in its chunk's `loaded` words the node's upper lists start, if there.
    fn loaded_upper(self) -> Option<usize> {
        (self.0 & STATE_UPPER_LOADED != 0)
            .then_some((self.0 >> UPPER_SHIFT) as usize & (UPPER_OFFSETS - 1))
    }
}

impl<'g> Meta<'g> {
    fn word(self) -> &'g AtomicU32 {
        &self.chunk.states[self.at]
    }

    fn rest(self) -> &'g Rest {
        &self.chunk.rest()[self.at]
    }

    pub(crate) fn state(self) -> NodeState {
        NodeState(self.word().load(Ordering::Acquire))
    }

    /// Serialises writers of this node's lists (all layers).
    pub(crate) fn lock(self) -> &'g Mutex<()> {
        &self.rest().lock
    }

    /// Layer-0 lists that name this node (maintained by inserts, recomputed on load).
    pub(crate) fn indegree(self) -> &'g AtomicU32 {
        &self.rest().indegree
    }

    /// The node's list at `layer` (1 and up), if it has one. Reads only: a node with
    /// lists of its own made its chunk's rest when it got them.
    fn upper(self, layer: usize) -> Option<&'g [AtomicU32]> {
        let stride = self.stride_up;
        // Only a chunk a saved graph was loaded with has a block of upper lists; in
        // the others the state word need not be read.
        if !self.chunk.loaded.is_empty() {
            let state = self.state();
            if let Some(at) = state.loaded_upper() {
                if layer > state.level() {
                    return None;
                }
                let from = at + (layer - 1) * stride;
                return self.chunk.loaded.get(from..from + stride);
            }
        }
        let rest = self.chunk.rest.get()?.get(self.at)?;
        rest.upper.get()?.get((layer - 1) * stride..layer * stride)
    }

    /// Claims an empty node for `level`; false if it was already claimed.
    fn claim(self, level: usize) -> bool {
        let claimed = self
            .word()
            .compare_exchange(
                0,
                STATE_CLAIMED | level as u32,
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok();
        if claimed && level > 0 {
            self.set_upper(level);
        }
        claimed
    }

    /// Gives the node upper lists of its own for `level` layers (if it has none yet).
    fn set_upper(self, level: usize) {
        let _ = self.rest().upper.set(Box::new(
            (0..level * self.stride_up)
                .map(|_| AtomicU32::new(0))
                .collect(),
        ));
    }

    pub(crate) fn set_ready(self) {
        self.word().fetch_or(STATE_READY, Ordering::Release);
    }

    /// Marks the node deleted; true if it was live before. [`View::delete`] also
    /// clears its live bit.
    fn set_deleted(self) -> bool {
        let prev = self.word().fetch_or(STATE_DELETED, Ordering::SeqCst);
        prev & STATE_DELETED == 0
    }

    /// Marks a deleted node as being unlinked by a heal.
    pub(crate) fn set_retiring(self) {
        self.word().fetch_or(STATE_RETIRING, Ordering::AcqRel);
    }

    /// Empties the node's state: the slot holds no node and may be claimed again. Its
    /// lists are left as they were (a walk that still reaches it through a list read
    /// before the heal finds valid ids there) and are cleared when it is claimed.
    /// (An adopted node's upper lists stay in its chunk's `loaded` words, unused; a
    /// new claim gets lists of its own.)
    fn free(self) {
        self.word().store(0, Ordering::SeqCst);
    }

    /// Restores a node's full state word (used when loading a saved graph).
    fn restore(self, level: usize, deleted: bool) {
        if level > 0 {
            self.set_upper(level);
        }
        self.word()
            .store(loaded_state(level, deleted), Ordering::Release);
    }
}

/// The state word of a node loaded at `level`, deleted or not.
fn loaded_state(level: usize, deleted: bool) -> u32 {
    let mut s = STATE_CLAIMED | STATE_READY | level as u32;
    if deleted {
        s |= STATE_DELETED;
    }
    s
}

/// One chunk: its layer-0 lists, its node records and their live bits.
type Chunk = (Lists0, Arc<MetaChunk>, Arc<[AtomicU64]>);

/// One generation of the chunk directory.
struct Directory {
    links0: Vec<Lists0>,
    meta: Vec<Arc<MetaChunk>>,
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
                let mut upper = 0;
                // Nodes whose lists do not fit in the block get their own.
                let mut own = Vec::new();
                let states: Box<[AtomicU32]> = (0..CHUNK as u32)
                    .map(|i| {
                        let Some((level, deleted)) = node(first + i) else {
                            return AtomicU32::new(0);
                        };
                        if !deleted {
                            words[i as usize / 64] |= 1 << (i % 64);
                        }
                        let mut state = loaded_state(level, deleted);
                        if level > 0 && upper + level * stride <= UPPER_OFFSETS {
                            state |= STATE_UPPER_LOADED | (upper as u32) << UPPER_SHIFT;
                            upper += level * stride;
                        } else if level > 0 {
                            own.push((i as usize, level));
                        }
                        AtomicU32::new(state)
                    })
                    .collect();
                let chunk = MetaChunk {
                    loaded: (0..upper).map(|_| AtomicU32::new(0)).collect(),
                    states,
                    rest: OnceBox::new(),
                };
                for (at, level) in own {
                    let m = Meta {
                        chunk: &chunk,
                        at,
                        stride_up: stride,
                    };
                    m.set_upper(level);
                }
                let live: Arc<[AtomicU64]> = words.into_iter().map(AtomicU64::new).collect();
                (Arc::new(chunk), live)
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
fn new_records() -> (Arc<MetaChunk>, Arc<[AtomicU64]>) {
    let live = (0..LIVE_WORDS).map(|_| AtomicU64::new(0)).collect();
    (Arc::new(MetaChunk::new()), live)
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
    pub(crate) fn meta(&mut self, slot: u32) -> Option<Meta<'g>> {
        let slot = slot as usize;
        let chunk = slot >> CHUNK_BITS;
        if chunk >= self.dir.meta.len() && !self.refresh(chunk) {
            return None;
        }
        let dir: &'g Directory = self.dir;
        Some(Meta {
            chunk: &dir.meta[chunk],
            at: slot & (CHUNK - 1),
            stride_up: self.nodes.stride_up,
        })
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
    pub(crate) fn claim(&mut self, slot: u32, level: usize) -> Option<Meta<'g>> {
        self.meta(slot).filter(|m| m.claim(level))
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
        if !NodeState(meta.word().load(Ordering::SeqCst)).live() {
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

    /// Empties `slot`'s node ([`Meta::free`]); its bit was cleared when it was
    /// deleted, and is cleared again.
    pub(crate) fn free(&mut self, slot: u32) {
        if let Some(meta) = self.meta(slot) {
            meta.free();
            self.clear_live(slot);
        }
    }

    /// Restores `slot`'s state word and live bit (loading a saved graph).
    pub(crate) fn restore(&mut self, slot: u32, level: usize, deleted: bool) -> Option<()> {
        self.meta(slot)?.restore(level, deleted);
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
    #[inline(always)]
    pub(crate) fn links(&mut self, slot: u32, layer: usize) -> Option<&'g [AtomicU32]> {
        if layer == 0 {
            return self.links0(slot);
        }
        self.upper_links(slot, layer)
    }

    /// [`links`](Self::links) above layer 0: kept out of line, so that the layer-0
    /// walk, which calls `links` with a layer it only knows at run time, stays as small
    /// as it was. Inlined there with the chunk's block lookup, it made single-thread
    /// searches 9-25 % slower (`fletchdb-ann` on minilm-mix-dev, `i8`, ef 24 and 64,
    /// 2026-12-04).
    #[inline(never)]
    fn upper_links(&mut self, slot: u32, layer: usize) -> Option<&'g [AtomicU32]> {
        self.meta(slot)?.upper(layer)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Adopts `chunks` chunks of empty lists whose nodes are as `node` says.
    fn adopted(
        m: usize,
        chunks: usize,
        node: impl Fn(u32) -> Option<(usize, bool)> + Sync,
    ) -> Nodes {
        let nodes = Nodes::new(m);
        let lists = (0..chunks)
            .map(|_| Lists0::zeroed(CHUNK * nodes.stride0))
            .collect();
        let present = crate::sound::Present::new(0, |_| false);
        let checks = ListChecks::new(CHUNK, 0, nodes.stride0, 0, Box::new([]), present, true);
        assert!(nodes.adopt(lists, checks.unwrap(), node));
        nodes
    }

    #[test]
    fn adopted_nodes_have_their_states_and_upper_lists_of_their_own() {
        // Level 31 nearly everywhere: about 1,004 × 31 × 17 words a chunk at M = 16,
        // past what a state word can point at, so the last nodes of each chunk get
        // lists of their own.
        let m = 16;
        let level = |s: u32| if s % 50 == 1 { (s % 3) as usize } else { 31 };
        let nodes = adopted(m, 2, |s| match s {
            7 => None,
            s => Some((level(s), s.is_multiple_of(11))),
        });
        let guard = epoch::pin();
        let mut view = nodes.view(&guard);
        let mut own = 0;
        for s in 0..(2 * CHUNK) as u32 {
            let state = view.meta(s).unwrap().state();
            if s == 7 {
                assert!(!state.claimed());
                assert!(view.links(s, 1).is_none() && !view.live(s));
                continue;
            }
            assert!(state.claimed() && state.ready());
            assert_eq!(state.level(), level(s));
            assert_eq!(state.deleted(), s.is_multiple_of(11));
            assert_eq!(view.live(s), !s.is_multiple_of(11));
            own += usize::from(state.level() > 0 && state.loaded_upper().is_none());
            for layer in 1..=31 {
                let list = view.links(s, layer);
                assert_eq!(list.is_some(), layer <= level(s), "slot {s} layer {layer}");
                if let Some(list) = list {
                    assert_eq!(list.len(), m + 1);
                    store_neighbours(list, &[s, layer as u32]);
                }
            }
        }
        assert!(own > 0, "no node's lists fell outside the chunk's block");
        // Every list is its own: what was stored in each is still there.
        for s in (0..(2 * CHUNK) as u32).filter(|&s| s != 7) {
            for layer in 1..=level(s) {
                let ids: Vec<u32> = neighbours(view.links(s, layer).unwrap()).collect();
                assert_eq!(ids, [s, layer as u32]);
            }
        }
        // A freed node claimed again gets new lists of its own.
        let s = 3;
        view.free(s);
        assert!(view.claim(s, 2).is_some());
        assert_eq!(view.meta(s).unwrap().state().level(), 2);
        assert_eq!(view.links(s, 1).map(neighbours).map(|n| n.count()), Some(0));
        assert!(view.links(s, 3).is_none());
    }
}
