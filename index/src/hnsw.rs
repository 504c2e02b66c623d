//! [`Hnsw`]: the index type, its configuration, and its public operations.

use std::ops::Range;
use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crossbeam_epoch as epoch;
use parking_lot::{Mutex, RwLock};
use rayon::prelude::*;

use crate::codes::{Calibration, Codes, Quantization, CALIBRATE_AFTER};
use crate::distance::{validate, with_kernel, with_walk_kernel, Metric};
use crate::error::IndexError;
use crate::filter::Filter;
use crate::image::Image;
use crate::nodes::Nodes;
use crate::observe::Observers;
use crate::plan::FilterPlan;
use crate::request::SearchRequest;
use crate::scratch::{Scratch, ScratchPool};
use crate::types::{Neighbor, Slot};
use crate::vectors::{InMemoryVectors, VectorSource};

/// Slots must stay below this: the search lists keep a flag in the top bit of an id.
pub(crate) const MAX_SLOTS: usize = 1 << 31;

/// How an index is built. The names follow hnswlib.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HnswConfig {
    /// The distance metric.
    pub metric: Metric,
    /// Links per node on the upper layers; layer 0 keeps up to `2 * m`. 2 to 128.
    pub m: usize,
    /// Candidate list size while inserting: larger builds slower and searches better.
    /// 1 to 65,536.
    pub ef_construction: usize,
    /// Seed for level assignment; the same seed and slots give the same levels.
    pub seed: u64,
}

impl Default for HnswConfig {
    fn default() -> Self {
        HnswConfig {
            metric: Metric::L2,
            m: 16,
            ef_construction: 200,
            seed: 0x5eed,
        }
    }
}

impl HnswConfig {
    /// The default configuration (M = 16, ef_construction = 200) for `metric`.
    pub fn new(metric: Metric) -> Self {
        HnswConfig {
            metric,
            ..Default::default()
        }
    }

    /// Checks every field's range; [`Hnsw::new`] does too.
    ///
    /// # Errors
    /// [`IndexError::InvalidConfig`] naming the field out of range.
    pub fn check(&self) -> Result<(), IndexError> {
        if !(2..=128).contains(&self.m) {
            return Err(IndexError::InvalidConfig("m must be between 2 and 128"));
        }
        if self.ef_construction == 0 || self.ef_construction > 65_536 {
            return Err(IndexError::InvalidConfig(
                "ef_construction must be between 1 and 65536",
            ));
        }
        Ok(())
    }
}

/// A hierarchical navigable small world graph (Malkov & Yashunin) over the vectors of a
/// [`VectorSource`], searchable and insertable from many threads at once through `&self`.
///
/// ```
/// use fletchdb_index::{Hnsw, HnswConfig, Metric};
/// let index = Hnsw::in_memory(2, HnswConfig::new(Metric::L2)).unwrap();
/// let a = index.add(&[0.0, 0.0]).unwrap();
/// let b = index.add(&[10.0, 10.0]).unwrap();
/// let hits = index.search(&[9.0, 9.5], 1, 16).unwrap();
/// assert_eq!(hits[0].slot, b);
/// assert_eq!(hits[0].distance, 1.25);
/// index.delete(b).unwrap();
/// assert_eq!(index.search(&[9.0, 9.5], 1, 16).unwrap()[0].slot, a);
/// ```
pub struct Hnsw<V> {
    pub(crate) config: HnswConfig,
    pub(crate) vectors: V,
    pub(crate) nodes: Nodes,
    /// 0 when empty, else `(level + 1) << 32 | slot`.
    entry: AtomicU64,
    /// Held while the entry point may change (an insert above the top level).
    pub(crate) entry_lock: Mutex<()>,
    pub(crate) level_mult: f64,
    /// Nodes fully inserted.
    pub(crate) inserted: AtomicUsize,
    /// Nodes tombstoned.
    pub(crate) deleted: AtomicUsize,
    /// One past the highest slot ever claimed.
    pub(crate) slot_bound: AtomicU32,
    pub(crate) pool: ScratchPool,
    /// Set once every node's layer-0 in-degree is counted. A new index counts as it
    /// goes; a loaded one counts on its first insert (see `insert.rs`), so that opening
    /// a database to search never pays for it.
    pub(crate) indegrees: std::sync::OnceLock<()>,
    /// Held shared by every insert for its whole run; a heal takes it exclusively for
    /// an instant, so that once it has marked the nodes it will unlink, no insert that
    /// could still link to them is running (see `heal.rs`).
    pub(crate) links_gate: RwLock<()>,
    /// One heal at a time.
    pub(crate) heal_lock: Mutex<()>,
    /// Searches, inserts and heals in progress, for [`Hnsw::wait_unobserved`].
    pub(crate) observers: Observers,
    /// The compact copy the walks score, once active (see `codes/`).
    pub(crate) codes: OnceLock<Codes>,
    /// The compact copy asked for by [`quantize`](Self::quantize).
    wanted: OnceLock<(Quantization, Option<Calibration>)>,
    /// Searches left that ask the vector source for each batch of vectors before
    /// scoring it ([`VectorSource::will_need`]): [`COLD_SEARCHES`] after a load over a
    /// source that does not know its vectors are in memory ([`VectorSource::resident`]),
    /// as they may still be on disk; 0 once the compact codes are in (their encoding
    /// read every vector) or those searches are done. While above 0, the encoder gives
    /// way to searches ([`YIELD_AT_MOST`]).
    pub(crate) cold: AtomicU32,
    /// The memory a graph was loaded in place from and where its layer-0 lists lie in
    /// it, until [`read_ahead`](Hnsw::read_ahead) asks for them.
    pub(crate) lists_ahead: Mutex<Option<(Arc<Image>, Range<usize>)>>,
}

/// Searches after a load that ask for their vectors ahead (see `Hnsw::cold`). Cold, at
/// 1,000,000 × 128-d, the first query came 41-97 ms after the open instead of 200-330
/// (the store mapped for random access either way; `db_bench open DIR first`, caches
/// dropped, two opens each, 2026-12-04). Warm, each hint is a system call that finds
/// the pages in memory, about a microsecond for each vector scored, so it stops once
/// the vectors have had time to come in.
pub(crate) const COLD_SEARCHES: u32 = 1_000;

/// Bytes of a loaded graph's lists [`Hnsw::read_ahead`] asks for at a time.
const READ_AHEAD_PIECE: usize = 2 << 20;

/// Slots the encoder of compact codes asks the vector source for at a time (2 MiB of
/// 128-d vectors), a block ahead of the one it encodes.
const ENCODE_BLOCK: usize = 4_096;

/// How long in all each encoder thread after a load waits for searches in progress
/// before asking for its next block of vectors ([`Hnsw::give_way`]). The first searches
/// after a load may read their vectors and lists from disk, and the encoder reading
/// every vector beside them made them wait on its reads. After a cold 1M × 128-d open
/// (`db_bench open DIR first`, caches dropped, 2026-12-04, interleaved), the first
/// query came at 86-101 ms with this, 155-253 ms without. The price, with searches
/// back to back from the open on (`db_bench open DIR stream`): the codes came in at
/// 0.75-0.80 s instead of 0.57-0.67. With 200 ms the cold first query was the same
/// (90-105 ms), the codes later still (0.91-0.97 s). A warm open, whose vector source
/// knows its vectors are in memory ([`VectorSource::resident`]), never gives way: it
/// made the codes come in at 0.40-0.43 s instead of 0.31-0.34.
const YIELD_AT_MOST: Duration = Duration::from_millis(100);

/// How long the encoder sleeps between looks at the searches in progress.
const GIVE_WAY_NAP: Duration = Duration::from_micros(200);

/// The entry point: the node search starts from, on the top layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) slot: u32,
    pub(crate) level: usize,
}

impl<V: VectorSource> Hnsw<V> {
    /// An empty index over `vectors`; slots already in the source are not indexed until
    /// [`insert`](Self::insert)ed.
    ///
    /// # Errors
    /// [`IndexError::InvalidConfig`] for an out-of-range `m` or `ef_construction`.
    pub fn new(config: HnswConfig, vectors: V) -> Result<Self, IndexError> {
        config.check()?;
        Ok(Hnsw {
            level_mult: 1.0 / (config.m as f64).ln(),
            nodes: Nodes::new(config.m),
            config,
            vectors,
            entry: AtomicU64::new(0),
            entry_lock: Mutex::new(()),
            inserted: AtomicUsize::new(0),
            deleted: AtomicUsize::new(0),
            slot_bound: AtomicU32::new(0),
            pool: ScratchPool::default(),
            indegrees: std::sync::OnceLock::from(()),
            links_gate: RwLock::new(()),
            heal_lock: Mutex::new(()),
            observers: Observers::default(),
            codes: OnceLock::new(),
            wanted: OnceLock::new(),
            cold: AtomicU32::new(0),
            lists_ahead: Mutex::new(None),
        })
    }

    /// The configuration the index was built with.
    pub fn config(&self) -> &HnswConfig {
        &self.config
    }

    /// The vector source the index reads from.
    pub fn vectors(&self) -> &V {
        &self.vectors
    }

    /// The vector source, to change it while nothing else holds the index: a database
    /// writes replayed vectors back into its store this way, after the graph is loaded.
    ///
    /// ```
    /// use fletchdb_index::{Hnsw, HnswConfig, Metric, VectorSource};
    /// let mut index = Hnsw::in_memory(2, HnswConfig::new(Metric::L2)).unwrap();
    /// index.vectors_mut().push(&[1.0, 2.0]).unwrap();
    /// assert_eq!(index.vectors().len(), 1);
    /// ```
    pub fn vectors_mut(&mut self) -> &mut V {
        &mut self.vectors
    }

    /// The vector dimension.
    pub fn dim(&self) -> usize {
        self.vectors.dim()
    }

    /// Live (inserted and not deleted) nodes.
    pub fn len(&self) -> usize {
        self.inserted
            .load(Ordering::Acquire)
            .saturating_sub(self.deleted.load(Ordering::Acquire))
    }

    /// True when no live node is left.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The level a node in `slot` has (it is on layers `0..=level`). Levels are drawn
    /// from the slot number and the configured seed, not at random per insert, so a
    /// slot's level never changes: [`relocate`](Self::relocate) keeps a node's place in
    /// the hierarchy only when the new slot's level is at least the old one's.
    ///
    /// ```
    /// use fletchdb_index::{Hnsw, HnswConfig, Metric, Slot};
    /// let index = Hnsw::in_memory(1, HnswConfig::new(Metric::L2))?;
    /// let on_layer_0_only = (0..1_000).filter(|&s| index.level_of(Slot(s)) == 0).count();
    /// assert!(on_layer_0_only > 900); // 15 in 16 at m 16
    /// # Ok::<(), fletchdb_index::IndexError>(())
    /// ```
    pub fn level_of(&self, slot: Slot) -> usize {
        crate::level::level_for(self.config.seed, slot.0, self.level_mult)
    }

    /// Tombstoned nodes (still in the graph, never returned).
    pub fn deleted_len(&self) -> usize {
        self.deleted.load(Ordering::Acquire)
    }

    /// True if `slot` is in the index and not deleted.
    pub fn contains(&self, slot: Slot) -> bool {
        let guard = epoch::pin();
        self.nodes.view(&guard).live(slot.0)
    }

    pub(crate) fn entry(&self) -> Option<Entry> {
        let e = self.entry.load(Ordering::Acquire);
        (e != 0).then(|| Entry {
            slot: e as u32,
            level: ((e >> 32) - 1) as usize,
        })
    }

    pub(crate) fn set_entry(&self, e: Entry) {
        self.entry.store(
            ((e.level as u64 + 1) << 32) | e.slot as u64,
            Ordering::Release,
        );
    }

    /// Empties the entry point (a heal freed every node).
    pub(crate) fn clear_entry(&self) {
        self.entry.store(0, Ordering::Release);
    }

    pub(crate) fn slot_bound(&self) -> usize {
        self.slot_bound.load(Ordering::Acquire) as usize
    }

    /// Indexes the vector already stored in `slot` of the vector source.
    ///
    /// The stored vector must be finite and, for [`Metric::Cosine`], unit length (see
    /// [`Metric::prepare`]). Safe to call from many threads at once, also while others
    /// search.
    ///
    /// # Errors
    /// [`IndexError::SlotOutOfRange`] if the source has no such slot,
    /// [`IndexError::SlotOccupied`] if it is already indexed (deleted or not),
    /// [`IndexError::InvalidVector`] if the stored vector is unfit.
    pub fn insert(&self, slot: Slot) -> Result<(), IndexError> {
        let len = self.vectors.len();
        if slot.index() >= len || slot.index() >= MAX_SLOTS {
            return Err(IndexError::SlotOutOfRange { slot: slot.0, len });
        }
        let v = self.vectors.vector(slot);
        validate(v, self.dim())?;
        if self.config.metric == Metric::Cosine {
            let norm2 = crate::distance::scalar::dot(v, v);
            if (norm2 - 1.0).abs() > 1e-3 {
                return Err(IndexError::InvalidVector {
                    reason: "cosine vectors must be stored normalised (Metric::prepare)",
                });
            }
        }
        let linking = self.links_gate.read();
        let codes = self.codes.get();
        if let Some(c) = codes {
            c.write(slot, v);
        }
        let done = with_walk_kernel!(self.config.metric, codes, K => self.insert_with::<K>(slot))
            .and_then(|()| self.nodes.lists_failure());
        drop(linking);
        if done.is_ok() {
            self.activate_codes_when_due();
        }
        done
    }

    /// Makes the walks score a compact copy of the vectors (see [`Quantization`]), then
    /// re-score their best candidates exactly ([`SearchRequest::rescore`]).
    ///
    /// `F16` starts at once. `I8` starts at once with a `calibration` (the one an earlier
    /// run fitted, from [`calibration`](Self::calibration)); without one it fits it on
    /// the first [`CALIBRATE_AFTER`] vectors indexed and starts then. Slots already
    /// indexed are encoded when the copy starts (in parallel, on rayon's pool), later
    /// ones as they are inserted. `None` keeps the walks on the `f32` vectors.
    ///
    /// ```
    /// use fletchdb_index::{Hnsw, HnswConfig, Metric, Quantization};
    /// let index = Hnsw::in_memory(2, HnswConfig::new(Metric::L2))?;
    /// index.quantize(Quantization::F16, None)?;
    /// index.add_batch(&[0.0, 0.0, 1.0, 1.0, 5.0, 5.0])?;
    /// let hits = index.search(&[0.9, 0.8], 1, 16)?;
    /// assert_eq!((hits[0].slot.0, hits[0].distance), (1, 0.05)); // exact distance
    /// assert_eq!(index.quantization(), Quantization::F16);
    /// # Ok::<(), fletchdb_index::IndexError>(())
    /// ```
    ///
    /// # Errors
    /// [`IndexError::InvalidConfig`] if a different quantization was asked for before.
    pub fn quantize(
        &self,
        kind: Quantization,
        calibration: Option<Calibration>,
    ) -> Result<(), IndexError> {
        self.quantize_deferred(kind, calibration)?;
        self.activate_codes_when_due();
        Ok(())
    }

    /// [`quantize`](Self::quantize) without encoding the slots already indexed: the
    /// copy starts at [`start_codes`](Self::start_codes), or at the next insert, and
    /// walks score the `f32` vectors until then. An open calls this and leaves the
    /// encoding to a background thread: at 1,000,000 × 128-d it was about 40 % of a
    /// warm open (`db_bench open`, 612-842 ms).
    ///
    /// ```
    /// use fletchdb_index::{Calibration, Hnsw, HnswConfig, Metric, Quantization};
    /// let index = Hnsw::in_memory(2, HnswConfig::new(Metric::L2))?;
    /// index.add_batch(&[0.0, 0.0, 1.0, 1.0, 5.0, 5.0])?;
    /// let calibration = Calibration { offset: -8.0, step: 0.0625 };
    /// index.quantize_deferred(Quantization::I8, Some(calibration))?;
    /// assert_eq!(index.codes_bytes(), 0); // nothing encoded yet
    /// assert_eq!(index.calibration(), Some(calibration)); // but the calibration holds
    /// assert!(index.start_codes());
    /// assert!(index.codes_bytes() > 0);
    /// # Ok::<(), fletchdb_index::IndexError>(())
    /// ```
    ///
    /// # Errors
    /// [`IndexError::InvalidConfig`] if a different quantization was asked for before.
    pub fn quantize_deferred(
        &self,
        kind: Quantization,
        calibration: Option<Calibration>,
    ) -> Result<(), IndexError> {
        if kind == Quantization::None {
            return match self.wanted.get() {
                Some(&(k, _)) if k != kind => Err(IndexError::InvalidConfig(
                    "the index already has another quantization",
                )),
                _ => Ok(()),
            };
        }
        let wanted = (kind, calibration.filter(|_| kind == Quantization::I8));
        if *self.wanted.get_or_init(|| wanted) != wanted {
            return Err(IndexError::InvalidConfig(
                "the index already has another quantization",
            ));
        }
        Ok(())
    }

    /// Starts the compact copy asked for by [`quantize_deferred`](Self::quantize_deferred)
    /// if it is due (an `i8` copy without a calibration waits for its
    /// [`CALIBRATE_AFTER`] vectors), encoding every slot indexed so far with inserts
    /// held off. Returns whether the walks score the copy now. Cheap when there is
    /// nothing to do.
    pub fn start_codes(&self) -> bool {
        self.activate_codes_when_due();
        self.codes.get().is_some()
    }

    /// Asks the memory a graph was loaded in place from ([`load_in_place`]) to read all
    /// its layer-0 lists now, once; does nothing otherwise. Such memory is read where
    /// walks touch it, a page at a time (it is marked for random access, so that a
    /// first walk does not wait for what lies around each page): a database's
    /// background thread calls this after an open, so that the searches after the
    /// first few find the lists in memory. Cold, at 1,000,000 × 128-d, the 200 searches
    /// after the codes were in ran at 141-153 QPS without it (each reading its lists
    /// from disk) and 2,400-2,550 with the file read around every fault.
    ///
    /// [`load_in_place`]: Self::load_in_place
    pub fn read_ahead(&self) {
        if let Some((image, range)) = self.lists_ahead.lock().take() {
            // In pieces: Linux reads at most `read_ahead_kb` (or the device's optimal
            // I/O size) of one request to read ahead, and drops the rest.
            for start in range.clone().step_by(READ_AHEAD_PIECE) {
                image.will_need(start..(start + READ_AHEAD_PIECE).min(range.end));
            }
        }
    }

    /// The quantization asked for ([`quantize`](Self::quantize)); `None` by default.
    pub fn quantization(&self) -> Quantization {
        self.wanted.get().map_or(Quantization::None, |w| w.0)
    }

    /// The `i8` calibration in use, once the codes have started or when one was given
    /// to [`quantize_deferred`](Self::quantize_deferred) (to keep, and pass to
    /// [`quantize`](Self::quantize) when the index is built again).
    pub fn calibration(&self) -> Option<Calibration> {
        match self.codes.get() {
            Some(codes) => codes.calibration(),
            // Asked for with a calibration and not started yet: that one will be used.
            None => self.wanted.get().and_then(|w| w.1),
        }
    }

    /// Bytes of memory the compact copy holds (0 before it starts, or without one).
    pub fn codes_bytes(&self) -> usize {
        self.codes.get().map_or(0, Codes::allocated)
    }

    /// Starts the compact copy asked for, if it is due: encodes every claimed slot
    /// with every insert held off, then publishes it for later walks.
    fn activate_codes_when_due(&self) {
        let Some(&(kind, calibration)) = self.wanted.get() else {
            return;
        };
        if self.codes.get().is_some()
            || (kind == Quantization::I8
                && calibration.is_none()
                && self.inserted.load(Ordering::Acquire) < CALIBRATE_AFTER)
        {
            return;
        }
        let _no_inserts = self.links_gate.write();
        if self.codes.get().is_some() {
            return;
        }
        let claimed: Vec<u32> = {
            let guard = epoch::pin();
            let mut view = self.nodes.view(&guard);
            (0..self.slot_bound() as u32)
                .filter(|&s| view.meta(s).is_some_and(|m| m.state().claimed()))
                .collect()
        };
        let calibration = (kind == Quantization::I8).then(|| {
            calibration.unwrap_or_else(|| {
                let first = claimed.iter().take(CALIBRATE_AFTER);
                Calibration::fit(
                    self.config.metric,
                    first.map(|&s| self.vectors.vector(Slot(s))),
                )
            })
        });
        let codes = Codes::new(kind, self.dim(), calibration);
        // On threads of its own, not rayon's pool: inserts wait at the gate held here,
        // and rayon's workers may be inside inserts of this index (an `add_batch`, the
        // database's background linking). Encoding on the pool from a thread outside
        // it, the activation waited for workers that waited for it (a hung test run;
        // `i8_activation_by_a_plain_thread_while_rayon_inserts_does_not_deadlock`).
        // Each block's vectors asked for while the one before is encoded, so that on a
        // cold store (mapped for random access) the disk reads ahead of the encoder.
        // While the vectors may be on disk, searches in progress come first.
        let maybe_cold = self.cold.load(Ordering::Relaxed) > 0;
        let encode = |part: &[u32]| {
            let mut blocks = part.chunks(ENCODE_BLOCK).peekable();
            if let Some(first) = blocks.peek() {
                self.vectors.will_need(first);
            }
            let mut yielded = Duration::ZERO;
            while let Some(block) = blocks.next() {
                if maybe_cold {
                    yielded += self.give_way(YIELD_AT_MOST.saturating_sub(yielded));
                }
                if let Some(next) = blocks.peek() {
                    self.vectors.will_need(next);
                }
                for &s in block {
                    codes.write(Slot(s), self.vectors.vector(Slot(s)));
                }
            }
        };
        // One core left for the searches that come meanwhile. After a cold 1M × 128-d
        // open on two cores, two encoder threads made the first query wait 124-585 ms
        // (five opens; 92-102 with no encoding at all), one 151-168 ms (four), with the
        // codes in at 0.39-0.41 s instead of 0.33-0.36 (warm: 0.17-0.18 s against 0.14;
        // `db_bench open`, 2026-12-04). Running them under `SCHED_IDLE` instead gave
        // 153-269 ms.
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .saturating_sub(1)
            .max(1);
        let part = claimed.len().div_ceil(threads).max(1);
        std::thread::scope(|scope| {
            for chunk in claimed.chunks(part) {
                let spawned = std::thread::Builder::new()
                    .name("fletchdb-encode".into())
                    .spawn_scoped(scope, move || encode(chunk));
                if spawned.is_err() {
                    // No thread to be had: encode this part here.
                    encode(chunk);
                }
            }
        });
        let _ = self.codes.set(codes);
        // Encoding read every vector: they are in memory now.
        self.cold.store(0, Ordering::Relaxed);
    }

    /// Waits, for at most `budget`, while searches are in progress; returns how long.
    fn give_way(&self, budget: Duration) -> Duration {
        let start = Instant::now();
        while self.observers.busy() && start.elapsed() < budget {
            std::thread::sleep(GIVE_WAY_NAP);
        }
        start.elapsed()
    }

    /// Inserts many slots in parallel on rayon's pool.
    ///
    /// # Errors
    /// The first error an insert met. rayon stops handing out work after an error, so
    /// some other slots may be left out; those inserted stay inserted.
    pub fn insert_batch(&self, slots: &[Slot]) -> Result<(), IndexError> {
        slots.par_iter().try_for_each(|&s| self.insert(s))
    }

    /// Tombstones `slot`: it stays in the graph as a waypoint but is never returned.
    /// Returns false if it was already deleted.
    ///
    /// # Errors
    /// [`IndexError::SlotOutOfRange`] if `slot` is not in the index.
    pub fn delete(&self, slot: Slot) -> Result<bool, IndexError> {
        let guard = epoch::pin();
        let mut view = self.nodes.view(&guard);
        if !view.meta(slot.0).is_some_and(|m| m.state().claimed()) {
            return Err(IndexError::SlotOutOfRange {
                slot: slot.0,
                len: self.slot_bound(),
            });
        }
        let fresh = view.delete(slot.0);
        if fresh {
            self.deleted.fetch_add(1, Ordering::AcqRel);
        }
        Ok(fresh)
    }

    /// A fresh scratch for [`search_with`](Self::search_with).
    pub fn scratch(&self) -> Scratch {
        Scratch::new()
    }

    /// The `k` nearest live slots to `query`, closest first, exploring `ef` candidates
    /// (at least `k`). Fewer than `k` come back when fewer are live. For a filter, a
    /// forced plan or a reused result buffer, see [`search_into`](Self::search_into).
    ///
    /// ```
    /// use fletchdb_index::{Hnsw, HnswConfig, Metric};
    /// let index = Hnsw::in_memory(2, HnswConfig::new(Metric::L2))?;
    /// index.add_batch(&[0.0, 0.0, 1.0, 1.0, 5.0, 5.0])?;
    /// let hits = index.search(&[0.9, 0.8], 2, 16)?;
    /// assert_eq!(hits.len(), 2);
    /// assert_eq!(hits[0].slot.0, 1);
    /// # Ok::<(), fletchdb_index::IndexError>(())
    /// ```
    ///
    /// # Errors
    /// [`IndexError::DimensionMismatch`] or [`IndexError::InvalidVector`] for a bad query.
    pub fn search(&self, query: &[f32], k: usize, ef: usize) -> Result<Vec<Neighbor>, IndexError> {
        let mut out = Vec::with_capacity(k);
        self.search_into(query, SearchRequest::new(k, ef), &mut out)?;
        Ok(out)
    }

    /// Runs `request` for `query` into `out` (cleared first, closest first), with scratch
    /// borrowed from the index's pool: once `out` has grown to `k`, this allocates
    /// nothing. A filtered request estimates how many slots the filter admits and, when
    /// few, scans them exactly instead of walking the graph, so recall holds up at low
    /// selectivity; see [`Filter`] and [`FilterPlan`].
    ///
    /// ```
    /// use fletchdb_index::{Hnsw, HnswConfig, Metric, SearchRequest, Slot, SlotSet};
    /// let index = Hnsw::in_memory(1, HnswConfig::new(Metric::L2))?;
    /// let slots = index.add_batch(&[0.0, 1.0, 2.0, 3.0])?;
    /// let mut hits = Vec::new();
    /// index.search_into(&[0.2], SearchRequest::new(1, 16), &mut hits)?;
    /// assert_eq!(hits[0].slot, slots[0]);
    /// let odd: SlotSet = [slots[1], slots[3]].into_iter().collect();
    /// index.search_into(&[0.2], SearchRequest::new(1, 16).filter(&odd), &mut hits)?;
    /// assert_eq!(hits[0].slot, slots[1]);
    /// # Ok::<(), fletchdb_index::IndexError>(())
    /// ```
    ///
    /// # Errors
    /// As [`search`](Self::search).
    pub fn search_into<F: Filter + ?Sized>(
        &self,
        query: &[f32],
        request: SearchRequest<'_, F>,
        out: &mut Vec<Neighbor>,
    ) -> Result<(), IndexError> {
        let mut scratch = self.pool.get();
        self.search_with(&mut scratch, query, request, out)
    }

    /// [`search_into`](Self::search_into) with caller-owned scratch: once `scratch` and
    /// `out` have grown to size, this allocates nothing and touches no shared pool.
    ///
    /// ```
    /// use fletchdb_index::{Hnsw, HnswConfig, Metric, SearchRequest};
    /// let index = Hnsw::in_memory(2, HnswConfig::new(Metric::L2))?;
    /// index.add_batch(&[0.0, 0.0, 1.0, 1.0, 5.0, 5.0])?;
    /// let (mut scratch, mut out) = (index.scratch(), Vec::with_capacity(2));
    /// for q in [[0.1, 0.0], [4.0, 4.5]] {
    ///     index.search_with(&mut scratch, &q, SearchRequest::new(2, 16), &mut out)?;
    ///     assert_eq!(out.len(), 2);
    /// }
    /// # Ok::<(), fletchdb_index::IndexError>(())
    /// ```
    ///
    /// # Errors
    /// As [`search`](Self::search).
    pub fn search_with<F: Filter + ?Sized>(
        &self,
        scratch: &mut Scratch,
        query: &[f32],
        request: SearchRequest<'_, F>,
        out: &mut Vec<Neighbor>,
    ) -> Result<(), IndexError> {
        out.clear();
        self.prepare_query(scratch, query)?;
        if self.cold.load(Ordering::Relaxed) > 0 {
            let _ = self
                .cold
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
        }
        let _seen = self.observers.enter();
        let codes = self.codes.get();
        if let Some(c) = codes {
            c.encode_query(&scratch.query, &mut scratch.coded);
        }
        with_walk_kernel!(self.config.metric, codes, K => self.run::<K, F>(scratch, &request, out));
        // A walk that met a damaged list (and read it as empty) answers nothing.
        self.nodes.lists_failure().inspect_err(|_| out.clear())
    }

    /// Checks now every list of a loaded graph that no operation has read yet, as the
    /// first to read each would (see [`load_in_place`](Self::load_in_place)), on rayon's
    /// pool; what `fletchdb verify` runs. Once a damaged list is found, every search,
    /// insert and save fails with that error.
    ///
    /// ```
    /// use fletchdb_index::{Hnsw, HnswConfig, IndexError, InMemoryVectors, Metric};
    /// let index = Hnsw::in_memory(2, HnswConfig::new(Metric::L2))?;
    /// for i in 0..40 {
    ///     index.add(&[i as f32, 0.5])?;
    /// }
    /// let mut bytes = Vec::new();
    /// index.save(&mut bytes)?;
    /// let store = InMemoryVectors::new(2)?;
    /// for i in 0..40 {
    ///     store.push(&[i as f32, 0.5])?;
    /// }
    /// // Damage the last word of the last list (8 bytes of checksums follow, one
    /// // for each 32 slots, then the file's checksum and a zero word).
    /// let lists_end = bytes.len() - 16;
    /// bytes[lists_end - 4] ^= 1;
    /// let words: Vec<u64> = bytes
    ///     .chunks_exact(8)
    ///     .map(|w| u64::from_le_bytes(w.try_into().unwrap()))
    ///     .collect();
    /// let loaded = Hnsw::load_in_place(Box::new(words), store, index.config())?;
    /// let err = loaded.check_lists().unwrap_err();
    /// assert!(matches!(err, IndexError::Corruption { .. }));
    /// assert!(loaded.search(&[3.0, 0.5], 1, 16).is_err());
    /// # Ok::<(), IndexError>(())
    /// ```
    ///
    /// # Errors
    /// [`IndexError::Corruption`] with the offset of the first damage found.
    pub fn check_lists(&self) -> Result<(), IndexError> {
        self.nodes.check_lists()
    }

    /// Searches many queries (`queries` holds them back to back) in parallel on rayon,
    /// each as [`search`](Self::search) does.
    ///
    /// # Errors
    /// [`IndexError::DimensionMismatch`] if `queries.len()` is not a multiple of the
    /// dimension, or the first bad query's error.
    pub fn search_batch(
        &self,
        queries: &[f32],
        k: usize,
        ef: usize,
    ) -> Result<Vec<Vec<Neighbor>>, IndexError> {
        let dim = self.dim();
        if !queries.len().is_multiple_of(dim) {
            return Err(IndexError::DimensionMismatch {
                expected: dim,
                got: queries.len() % dim,
            });
        }
        queries
            .par_chunks(dim)
            .map(|q| self.search(q, k, ef))
            .collect()
    }

    /// The exact `k` nearest live slots (admitted by `filter`, if given), by scanning
    /// every one: ground truth, and the right tool for small collections. The same as
    /// [`search_into`](Self::search_into) with [`FilterPlan::Exact`].
    ///
    /// # Errors
    /// As [`search`](Self::search).
    pub fn exact_search(
        &self,
        query: &[f32],
        k: usize,
        filter: Option<&dyn Filter>,
    ) -> Result<Vec<Neighbor>, IndexError> {
        let mut out = Vec::with_capacity(k);
        let request = SearchRequest {
            k,
            ef: k,
            filter,
            plan: FilterPlan::Exact,
            rescore: crate::request::DEFAULT_RESCORE,
            links: None,
        };
        self.search_into(query, request, &mut out)?;
        Ok(out)
    }

    /// Merges into `out`, the result of [`search_into`](Self::search_into) for the same
    /// `query` and `request`, the slots of `extra` that the request's filter admits,
    /// scored exactly from their `f32` vectors. This is for vectors stored but not (yet)
    /// in the graph, such as a database's replayed records while it links them after
    /// opening: they are found as a flat segment beside the graph is. `out` stays
    /// closest first, at most the request's `k` long, each slot once.
    ///
    /// ```
    /// use fletchdb_index::{Hnsw, HnswConfig, Metric, SearchRequest, Slot};
    /// let index = Hnsw::in_memory(1, HnswConfig::new(Metric::L2))?;
    /// index.add_batch(&[0.0, 4.0])?;
    /// // Stored beside the graph but never inserted into it:
    /// let outside = index.vectors().push(&[1.0])?;
    /// let (query, request) = ([0.9], SearchRequest::new(2, 16));
    /// let mut hits = Vec::new();
    /// index.search_into(&query, request, &mut hits)?;
    /// index.merge_exact(&query, &request, [outside], &mut hits)?;
    /// let slots: Vec<Slot> = hits.iter().map(|h| h.slot).collect();
    /// assert_eq!(slots, [outside, Slot(0)]);
    /// # Ok::<(), fletchdb_index::IndexError>(())
    /// ```
    ///
    /// # Errors
    /// As [`search`](Self::search).
    pub fn merge_exact<F: Filter + ?Sized>(
        &self,
        query: &[f32],
        request: &SearchRequest<'_, F>,
        extra: impl IntoIterator<Item = Slot>,
        out: &mut Vec<Neighbor>,
    ) -> Result<(), IndexError> {
        let mut scratch = self.pool.get();
        self.prepare_query(&mut scratch, query)?;
        let q = scratch.query.as_slice();
        let before = out.len();
        let admitted = extra
            .into_iter()
            .filter(|&s| request.filter.is_none_or(|f| f.admits(s)));
        with_kernel!(self.config.metric, K => {
            for slot in admitted {
                out.push(Neighbor { slot, distance: self.dist::<K>(q, slot.0) });
            }
        });
        if out.len() > before {
            out.sort_unstable_by(|a, b| {
                a.distance.total_cmp(&b.distance).then(a.slot.cmp(&b.slot))
            });
            out.dedup_by_key(|n| n.slot);
            out.truncate(request.k);
        }
        Ok(())
    }

    /// Validates `query` and copies it into the scratch, normalised for cosine.
    fn prepare_query(&self, scratch: &mut Scratch, query: &[f32]) -> Result<(), IndexError> {
        validate(query, self.dim())?;
        scratch.query.clear();
        scratch.query.extend_from_slice(query);
        self.config.metric.prepare(&mut scratch.query)
    }
}

impl Hnsw<InMemoryVectors> {
    /// An empty index that keeps its own vectors in memory.
    ///
    /// # Errors
    /// [`IndexError::InvalidConfig`] for a bad dimension or configuration.
    pub fn in_memory(dim: usize, config: HnswConfig) -> Result<Self, IndexError> {
        Hnsw::new(config, InMemoryVectors::new(dim)?)
    }

    /// Validates `v`, stores it (normalised for cosine) and indexes it.
    ///
    /// # Errors
    /// [`IndexError::DimensionMismatch`] or [`IndexError::InvalidVector`]; nothing is
    /// stored then.
    pub fn add(&self, v: &[f32]) -> Result<Slot, IndexError> {
        let slot = self.store(v)?;
        self.insert(slot)?;
        Ok(slot)
    }

    /// Stores and indexes `vectors` (back to back, `dim` each) in parallel; returns
    /// their slots, in order.
    ///
    /// # Errors
    /// As [`add`](Self::add); every vector is validated before any is stored.
    pub fn add_batch(&self, vectors: &[f32]) -> Result<Vec<Slot>, IndexError> {
        let dim = self.dim();
        if !vectors.len().is_multiple_of(dim) {
            return Err(IndexError::DimensionMismatch {
                expected: dim,
                got: vectors.len() % dim,
            });
        }
        vectors.chunks(dim).try_for_each(|v| validate(v, dim))?;
        let slots = vectors
            .chunks(dim)
            .map(|v| self.store(v))
            .collect::<Result<Vec<_>, _>>()?;
        self.insert_batch(&slots)?;
        Ok(slots)
    }

    fn store(&self, v: &[f32]) -> Result<Slot, IndexError> {
        validate(v, self.dim())?;
        if self.config.metric == Metric::Cosine {
            let mut owned = v.to_vec();
            self.config.metric.prepare(&mut owned)?;
            self.vectors.push(&owned)
        } else {
            self.vectors.push(v)
        }
    }
}

impl<V> std::fmt::Debug for Hnsw<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hnsw")
            .field("config", &self.config)
            .field("inserted", &self.inserted.load(Ordering::Relaxed))
            .field("deleted", &self.deleted.load(Ordering::Relaxed))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Vectors in memory that do not say so, as a store on disk would not.
    struct MaybeOnDisk(InMemoryVectors);

    impl VectorSource for MaybeOnDisk {
        fn dim(&self) -> usize {
            self.0.dim()
        }
        fn len(&self) -> usize {
            self.0.len()
        }
        fn vector(&self, slot: Slot) -> &[f32] {
            self.0.vector(slot)
        }
    }

    /// An index of `n` 4-d vectors, saved and loaded again (as an open does).
    fn loaded(n: usize) -> Hnsw<MaybeOnDisk> {
        let vector = |i: usize| [i as f32, (i % 7) as f32, (i % 13) as f32, 1.0];
        let index = Hnsw::in_memory(4, HnswConfig::new(Metric::L2)).unwrap();
        let store = InMemoryVectors::new(4).unwrap();
        for i in 0..n {
            index.add(&vector(i)).unwrap();
            store.push(&vector(i)).unwrap();
        }
        let mut bytes = Vec::new();
        index.save(&mut bytes).unwrap();
        Hnsw::load(&bytes, MaybeOnDisk(store)).unwrap()
    }

    /// After a load over vectors that may be on disk, the encoder waits while a search
    /// is in progress, but only for [`YIELD_AT_MOST`]: a search that never ends does
    /// not keep the codes out.
    #[test]
    fn the_encoder_after_a_load_gives_way_to_searches_for_a_bounded_time() {
        let index = loaded(3_000);
        index.quantize_deferred(Quantization::F16, None).unwrap();
        let search = index.observers.enter();
        let start = Instant::now();
        assert!(index.start_codes());
        assert!(start.elapsed() >= YIELD_AT_MOST, "{:?}", start.elapsed());
        drop(search);
        let near = index.search(&[5.0, 5.0, 5.0, 1.0], 1, 16).unwrap();
        assert_eq!(near[0].slot, Slot(5));
    }
}
