//! Saving the graph to bytes and loading it back, without re-inserting anything.
//!
//! Layout, version 3 (all integers little-endian):
//!
//! ```text
//! 0   magic  b"FLETCHGR"
//! 8   u32    format version (3)
//! 12  u8     metric code, then 3 zero bytes
//! 16  u32    m
//! 20  u32    ef_construction
//! 24  u64    seed
//! 32  u32    dim
//! 36  u32    slot bound: nodes follow for slots 0..bound
//! 40  u32    entry slot      (u32::MAX when empty)
//! 44  u32    entry level
//! 48  u64    bytes of the node records
//! 56  u32    chunks: bound / 1,024, rounded up
//! 60  u32    zero
//! 64  node records, one per slot:
//!       u8 state: 0 absent, 1 live, 2 deleted
//!       if not absent: u8 level, then for each layer 1..=level:
//!         u16 count, count × u32 neighbour slot
//!     zeros to the next multiple of 4,096: the lists' offset
//! lists: per chunk of 1,024 slots (the last: up to the bound), per slot (1 + 2m) ×
//!     u32: count, then 2m neighbour slots (zeros past the count, and for a slot with
//!     no node); zeros to a multiple of 8
//!     runs × u32: CRC32C of each run of 32 slots' lists (the last: up to the bound),
//!     then zeros to a multiple of 8
//! end u32    CRC32C of every byte before the lists, then of the runs' CRCs (with
//!     their padding); then a zero u32, so that the file is a whole number of words
//! ```
//!
//! Version 2 is the same but for one CRC32C per chunk of 1,024 slots' lists instead of
//! per 32; it still loads, and checks a whole chunk where version 3 checks a run.
//!
//! The layer-0 lists are the in-memory layout (`nodes.rs`), a chunk at a page-aligned
//! offset, so a load from a [`GraphMemory`] (a private mapping of the file) uses them
//! where they lie ([`Hnsw::load_in_place`]) rather than copying them, and checks each
//! run of them where it is first read (`checks.rs`), so that an open reads only the
//! header, the records and the checksums.
//! A last chunk of fewer than 1,024 slots is copied instead (later inserts fill it),
//! so that a small graph's file is small (about 4.5 KB for 3 nodes, not 139 KB).
//! Version 1 (the node records with every layer's list, 48 bytes of header, one CRC32C
//! at the end) still loads, by copying.
//!
//! Loading checks the checksums first and then every field anyway (a checksum can
//! collide, and no input may make the loader panic): counts within the layer's
//! capacity, neighbours that exist on that layer, an entry point on the top level.
//! [`Hnsw::load`], which copies, checks the layer-0 lists too before it returns.
//! A snapshot taken while inserts run is consistent: node states are read first and
//! links to nodes outside that snapshot are left out.
//!
//! Where a version 1 load's time went, at 1,000,000 × 128-d nodes with m 16 (a warm
//! `db_bench open`, timed by hand): reading the file 77-91 ms, the checksum 12-15 ms,
//! the first pass over the records 29-33 ms, allocating the chunks 16-19 ms, storing
//! the lists 104-116 ms on two threads (writing 132 MB of fresh memory: checking the
//! links against a bit per node instead of `levels` changed nothing, nor did
//! transparent huge pages for the whole process).

use std::io::Write;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use rayon::prelude::*;

use crossbeam_epoch as epoch;

use crate::checks::ListChecks;
use crate::distance::Metric;
use crate::error::IndexError;
use crate::hnsw::{Entry, Hnsw, HnswConfig, COLD_SEARCHES, MAX_SLOTS};
use crate::image::{GraphMemory, Image, Lists0};
use crate::nodes::{neighbours, store_neighbours, View, CHUNK, MAX_LEVEL};
use crate::sound::Present;
use crate::vectors::VectorSource;

const MAGIC: &[u8; 8] = b"FLETCHGR";
/// The version [`Hnsw::save`] writes.
const VERSION: u32 = 3;
/// The version with a checksum per chunk's lists, still loaded.
const VERSION_2: u32 = 2;
/// The first version, still loaded.
const VERSION_1: u32 = 1;
/// Slots whose layer-0 lists one checksum covers in version 3: a load checks them when
/// first read (`checks.rs`), so a first query checks only the runs it reads.
const RUN: usize = 32;
/// Header bytes of version 1, and the part version 2 shares.
const HEADER_1: usize = 48;
/// Header bytes of version 2.
const HEADER: usize = 64;
/// Alignment of the lists in a version 2 file.
const PAGE: usize = 4096;

const ABSENT: u8 = 0;
const LIVE: u8 = 1;
const DELETED: u8 = 2;
/// `levels[slot]` of a slot with no node.
const NO_LEVEL: u8 = u8::MAX;

pub(crate) fn corrupt(offset: usize, reason: &str) -> IndexError {
    IndexError::Corruption {
        offset,
        reason: reason.to_string(),
    }
}

/// The nodes a save writes: states read first, every list then filtered to them.
struct Snapshot {
    /// (state, level) by slot.
    states: Vec<(u8, usize)>,
    entry: Option<Entry>,
    present: usize,
}

impl Snapshot {
    fn on_layer(&self, id: u32, layer: usize) -> bool {
        self.states
            .get(id as usize)
            .is_some_and(|&(st, lvl)| st != ABSENT && lvl >= layer)
    }

    /// `slot`'s list at `layer` as saved: its neighbours in the snapshot. The lists
    /// are read after the states, and inserts beside the save may meanwhile have
    /// replaced every neighbour a node had with nodes not saved; at layer 0 such a
    /// list takes the saved neighbours of those nodes instead (two hops), else the
    /// entry point, else (for the entry itself) another saved node, so that no saved
    /// node is isolated. The entry's own list once lost every neighbour so, and one
    /// save in about 20 of the test below would not load.
    ///
    /// The caller holds the node's lock: writers rewrite a full list in place under it,
    /// and reading without it beside inserts could see half the old list and half the
    /// new one (a torn list, even a duplicate link, which load rightly refuses). The
    /// two-hop lists are read without their locks (taking a second lock could deadlock
    /// with a writer): each id read is a whole node id, and duplicates are left out.
    fn list(&self, view: &mut View<'_>, slot: u32, layer: usize, ids: &mut Vec<u32>) {
        ids.clear();
        let Some(own) = view.links(slot, layer) else {
            return;
        };
        ids.extend(neighbours(own).filter(|&n| self.on_layer(n, layer)));
        if layer != 0 || !ids.is_empty() || self.present <= 1 {
            return;
        }
        let room = own.len() - 1;
        for n in neighbours(own) {
            let Some(theirs) = view.links(n, 0) else {
                continue;
            };
            for id in neighbours(theirs) {
                if id != slot && self.on_layer(id, 0) && !ids.contains(&id) {
                    ids.push(id);
                }
            }
            if ids.len() >= room {
                ids.truncate(room);
                break;
            }
        }
        if ids.is_empty() {
            let other = self
                .entry
                .map(|e| e.slot)
                .filter(|&e| e != slot)
                .or_else(|| {
                    (0..self.states.len() as u32).find(|&s| s != slot && self.on_layer(s, 0))
                });
            ids.extend(other);
        }
    }
}

/// A header's fields.
struct Header {
    config: HnswConfig,
    dim: usize,
    bound: usize,
    entry_slot: u32,
    entry_level: usize,
}

/// The node records of a file: states, levels, and where the lists read from the
/// records begin.
struct Records {
    levels: Vec<u8>,
    deleted: Vec<bool>,
    /// `(slot, offset)` of each node with lists in its record (every node in a format 1
    /// file; in format 2, whose layer-0 lists lie in their own region, the nodes above
    /// layer 0, about one in 16), ascending by slot. With one entry per slot (8 MB at
    /// 1,000,000 nodes) a warm open of 1,000,000 × 128-d took 56.6-71.5 ms (median
    /// 60.1, 20 runs); with these, 51.5-64.1 ms (median 56.9), interleaved.
    starts: Vec<(u32, usize)>,
    present: usize,
    deleted_count: usize,
    top: Option<usize>,
}

impl Records {
    fn level_of(&self, id: u32) -> Option<u8> {
        self.levels
            .get(id as usize)
            .copied()
            .filter(|&l| l != NO_LEVEL)
    }
}

/// Checks the ids of `slot`'s list (read by `next`, which gives each id with its
/// offset) against `on_layer`, which says whether a slot is a node of the list's layer,
/// pushing them onto `ids` (cleared first).
pub(crate) fn check_list(
    on_layer: impl Fn(u32) -> bool,
    slot: u32,
    count: usize,
    mut next: impl FnMut() -> Result<(usize, u32), IndexError>,
    ids: &mut Vec<u32>,
) -> Result<(), IndexError> {
    ids.clear();
    let mut seen = [0u64; 4];
    for _ in 0..count {
        let (at, id) = next()?;
        if !on_layer(id) {
            return Err(corrupt(at, "link to a node missing from its layer"));
        }
        if id == slot {
            return Err(corrupt(at, "node links to itself"));
        }
        let h = (id.wrapping_mul(0x9e37_79b1) >> 24) as usize;
        let bit = 1u64 << (h & 63);
        if seen[h >> 6] & bit != 0 && ids.contains(&id) {
            return Err(corrupt(at, "duplicate link"));
        }
        seen[h >> 6] |= bit;
        ids.push(id);
    }
    Ok(())
}

impl<V: VectorSource> Hnsw<V> {
    /// The nodes to save: whose insert finished (one still linking itself in may have
    /// no links yet, and a database replays it anyway), and an entry point among them.
    fn snapshot(&self, view: &mut View<'_>) -> Snapshot {
        let entry = self.entry();
        let bound = self.slot_bound();
        let states: Vec<(u8, usize)> = (0..bound as u32)
            .map(|s| match view.meta(s).map(|m| m.state()) {
                Some(st) if st.claimed() && st.ready() => {
                    (if st.deleted() { DELETED } else { LIVE }, st.level())
                }
                _ => (ABSENT, 0),
            })
            .collect();
        // Inserts beside this save may have raised the top level after the entry point
        // was read: the entry must be a saved node on the saved top level.
        let top = states
            .iter()
            .filter(|&&(st, _)| st != ABSENT)
            .map(|&(_, l)| l)
            .max();
        let entry = match (entry, top) {
            (_, None) => None,
            (Some(e), Some(t))
                if states
                    .get(e.slot as usize)
                    .is_some_and(|&(st, l)| st != ABSENT && l == t) =>
            {
                Some(e)
            }
            (_, Some(t)) => states
                .iter()
                .position(|&(st, l)| st != ABSENT && l == t)
                .map(|slot| Entry {
                    slot: slot as u32,
                    level: t,
                }),
        };
        let present = states.iter().filter(|&&(st, _)| st != ABSENT).count();
        Snapshot {
            states,
            entry,
            present,
        }
    }

    /// Writes the graph (not the vectors) to `w`, in the format above (version 2).
    ///
    /// ```
    /// use fletchdb_index::{Hnsw, HnswConfig, InMemoryVectors, Metric, VectorSource};
    /// let index = Hnsw::in_memory(2, HnswConfig::new(Metric::L2)).unwrap();
    /// for i in 0..50 {
    ///     index.add(&[i as f32, 1.0]).unwrap();
    /// }
    /// let mut bytes = Vec::new();
    /// index.save(&mut bytes).unwrap();
    ///
    /// // The vectors live elsewhere (in FletchDB, in the mapped store); rebuild a source.
    /// let store = InMemoryVectors::new(2).unwrap();
    /// for i in 0..50 {
    ///     store.push(&[i as f32, 1.0]).unwrap();
    /// }
    /// let loaded = Hnsw::load(&bytes, store).unwrap();
    /// assert_eq!(loaded.search(&[7.2, 1.0], 3, 16).unwrap(), index.search(&[7.2, 1.0], 3, 16).unwrap());
    /// ```
    ///
    /// # Errors
    /// [`IndexError::Io`] if `w` fails.
    pub fn save<W: Write + ?Sized>(&self, w: &mut W) -> Result<(), IndexError> {
        let guard = epoch::pin();
        let mut view = self.nodes.view(&guard);
        let snap = self.snapshot(&mut view);
        let bound = snap.states.len();
        let chunks = bound.div_ceil(CHUNK);
        let mut ids = Vec::with_capacity(2 * self.config.m);
        // The records (upper layers only), then the header before them.
        let mut records = Vec::with_capacity(bound * 2);
        for (slot, &(state, level)) in snap.states.iter().enumerate() {
            records.push(state);
            if state == ABSENT {
                continue;
            }
            records.push(level as u8);
            let _consistent = view.meta(slot as u32).map(|m| m.lock().lock());
            for layer in 1..=level {
                snap.list(&mut view, slot as u32, layer, &mut ids);
                records.extend_from_slice(&(ids.len() as u16).to_le_bytes());
                for &id in &ids {
                    records.extend_from_slice(&id.to_le_bytes());
                }
            }
        }
        let mut head = Vec::with_capacity((HEADER + records.len()).next_multiple_of(PAGE));
        head.extend_from_slice(MAGIC);
        head.extend_from_slice(&VERSION.to_le_bytes());
        head.extend_from_slice(&[self.config.metric.code(), 0, 0, 0]);
        head.extend_from_slice(&(self.config.m as u32).to_le_bytes());
        head.extend_from_slice(&(self.config.ef_construction as u32).to_le_bytes());
        head.extend_from_slice(&self.config.seed.to_le_bytes());
        head.extend_from_slice(&(self.dim() as u32).to_le_bytes());
        head.extend_from_slice(&(bound as u32).to_le_bytes());
        let (es, el) = snap
            .entry
            .map_or((u32::MAX, 0), |e| (e.slot, e.level as u32));
        head.extend_from_slice(&es.to_le_bytes());
        head.extend_from_slice(&el.to_le_bytes());
        head.extend_from_slice(&(records.len() as u64).to_le_bytes());
        head.extend_from_slice(&(chunks as u32).to_le_bytes());
        head.extend_from_slice(&0u32.to_le_bytes());
        head.extend_from_slice(&records);
        head.resize(head.len().next_multiple_of(PAGE), 0);
        w.write_all(&head)?;
        let mut crc = crc32c::crc32c(&head);
        drop(records);
        // The lists, a chunk at a time, each with its checksum.
        let stride0 = 1 + 2 * self.config.m;
        let mut chunk = vec![0u8; CHUNK * stride0 * 4];
        let mut sums = Vec::with_capacity(bound.div_ceil(RUN) * 4);
        for c in 0..chunks {
            chunk.clear();
            chunk.resize((bound - c * CHUNK).min(CHUNK) * stride0 * 4, 0);
            for slot in c * CHUNK..((c + 1) * CHUNK).min(bound) {
                if snap.states[slot].0 == ABSENT {
                    continue;
                }
                let _consistent = view.meta(slot as u32).map(|m| m.lock().lock());
                snap.list(&mut view, slot as u32, 0, &mut ids);
                let at = (slot - c * CHUNK) * stride0 * 4;
                chunk[at..at + 4].copy_from_slice(&(ids.len() as u32).to_le_bytes());
                for (i, id) in ids.iter().enumerate() {
                    chunk[at + 4 + 4 * i..at + 8 + 4 * i].copy_from_slice(&id.to_le_bytes());
                }
            }
            w.write_all(&chunk)?;
            for run in chunk.chunks(RUN * stride0 * 4) {
                sums.extend_from_slice(&crc32c::crc32c(run).to_le_bytes());
            }
        }
        // Reading every list checked every run not checked yet.
        self.nodes.lists_failure()?;
        let lists_len = bound * stride0 * 4;
        w.write_all(&[0u8; 8][..lists_len.next_multiple_of(8) - lists_len])?;
        sums.resize(sums.len().next_multiple_of(8), 0);
        w.write_all(&sums)?;
        crc = crc32c::crc32c_append(crc, &sums);
        w.write_all(&crc.to_le_bytes())?;
        w.write_all(&0u32.to_le_bytes())?;
        Ok(())
    }

    /// Rebuilds an index from bytes written by [`save`](Self::save) (any version), over
    /// `vectors` (which must hold every slot the graph names, with the same vectors),
    /// with the configuration the file records. The bytes are copied;
    /// [`load_in_place`](Self::load_in_place) uses memory the caller gives up instead.
    ///
    /// # Errors
    /// [`IndexError::Corruption`] (with the byte offset) for damaged or truncated
    /// input, a graph of another dimension than `vectors`, or one naming a slot
    /// `vectors` lacks; [`IndexError::UnsupportedVersion`] for an unknown format version.
    pub fn load(bytes: &[u8], vectors: V) -> Result<Self, IndexError> {
        Self::load_inner(bytes, vectors, None)
    }

    /// [`load`](Self::load), refusing a graph built with another configuration than
    /// `expected`: what a caller that records the configuration elsewhere (the database's
    /// catalog) uses, so that a graph file swapped or damaged in its header is refused.
    ///
    /// ```
    /// use fletchdb_index::{Hnsw, HnswConfig, IndexError, InMemoryVectors, Metric};
    /// let index = Hnsw::in_memory(2, HnswConfig::new(Metric::L2))?;
    /// index.add(&[1.0, 2.0])?;
    /// let mut bytes = Vec::new();
    /// index.save(&mut bytes)?;
    /// let store = || {
    ///     let s = InMemoryVectors::new(2).unwrap();
    ///     s.push(&[1.0, 2.0]).unwrap();
    ///     s
    /// };
    /// assert!(Hnsw::load_expecting(&bytes, store(), &HnswConfig::new(Metric::L2)).is_ok());
    /// let other = HnswConfig { m: 32, ..HnswConfig::new(Metric::L2) };
    /// let err = Hnsw::load_expecting(&bytes, store(), &other).unwrap_err();
    /// assert!(matches!(err, IndexError::Corruption { offset: 12, .. }));
    /// # Ok::<(), IndexError>(())
    /// ```
    ///
    /// # Errors
    /// As [`load`](Self::load); a configuration other than `expected` is
    /// [`IndexError::Corruption`] at the header's configuration (offset 12).
    pub fn load_expecting(
        bytes: &[u8],
        vectors: V,
        expected: &HnswConfig,
    ) -> Result<Self, IndexError> {
        Self::load_inner(bytes, vectors, Some(expected))
    }

    /// [`load_expecting`](Self::load_expecting) from `memory`, which the index keeps: a
    /// version 2 or 3 graph's layer-0 lists are used where they lie in it (not copied),
    /// and later inserts write there. A database passes a private mapping of the file,
    /// so that opening reads only the header, the node records and the checksums.
    ///
    /// The layer-0 lists are checked as a load checks them, but where they are first
    /// read: each run of 32 slots (1,024 in version 2) by the first search, insert or
    /// save that reads a list of it, or all at once by
    /// [`check_lists`](Self::check_lists). A damaged run is never read: that operation
    /// and every later search, insert and save fail with its
    /// [`IndexError::Corruption`].
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
    /// // Any `GraphMemory` will do; a `Vec<u64>` is one (a saved graph is a whole
    /// // number of words).
    /// let words: Vec<u64> = bytes
    ///     .chunks_exact(8)
    ///     .map(|w| u64::from_le_bytes(w.try_into().unwrap()))
    ///     .collect();
    /// let loaded = Hnsw::load_in_place(Box::new(words), store, index.config())?;
    /// loaded.add(&[3.5, 0.5])?; // written into the memory it was loaded from
    /// assert_eq!(loaded.search(&[3.4, 0.5], 1, 16)?[0].slot.0, 40);
    /// # Ok::<(), IndexError>(())
    /// ```
    ///
    /// # Errors
    /// As [`load_expecting`](Self::load_expecting), but for damage in the layer-0 lists,
    /// found later as above.
    pub fn load_in_place(
        memory: Box<dyn GraphMemory>,
        vectors: V,
        expected: &HnswConfig,
    ) -> Result<Self, IndexError> {
        let image = Image::new(memory);
        match version(image.bytes())? {
            VERSION_1 => Self::load_v1(image.bytes(), vectors, Some(expected)),
            v => Self::load_v2(image, v, vectors, Some(expected)),
        }
    }

    fn load_inner(
        bytes: &[u8],
        vectors: V,
        expected: Option<&HnswConfig>,
    ) -> Result<Self, IndexError> {
        let index = match version(bytes)? {
            VERSION_1 => Self::load_v1(bytes, vectors, expected),
            v => Self::load_v2(Image::copy_of(bytes), v, vectors, expected),
        }?;
        // A copy is checked whole here; memory loaded in place, as it is read.
        index.check_lists()?;
        Ok(index)
    }

    /// An empty index for a file's header, checked against `expected` and `vectors`.
    fn for_header(
        header: &Header,
        vectors: V,
        expected: Option<&HnswConfig>,
    ) -> Result<Self, IndexError> {
        let config = header.config;
        if expected.is_some_and(|e| *e != config) {
            return Err(corrupt(
                12,
                &format!("the graph was built with {config:?}, not the expected {expected:?}"),
            ));
        }
        let index = Hnsw::new(config, vectors).map_err(|e| corrupt(16, &e.to_string()))?;
        if header.dim != index.dim() {
            return Err(corrupt(
                32,
                &format!(
                    "a graph of {}-d vectors over {}-d vectors",
                    header.dim,
                    index.dim()
                ),
            ));
        }
        if header.bound > MAX_SLOTS {
            return Err(corrupt(36, "slot bound out of range"));
        }
        if header.bound > index.vectors.len() {
            return Err(corrupt(
                36,
                &format!(
                    "the graph names slots up to {} but the vectors hold {}",
                    header.bound - 1,
                    index.vectors.len()
                ),
            ));
        }
        Ok(index)
    }

    /// Sets the entry point and counts of an index whose nodes are restored.
    fn finish_load(&mut self, header: &Header, records: &Records) {
        self.indegrees.take();
        let cold = if self.vectors.resident() {
            0
        } else {
            COLD_SEARCHES
        };
        self.cold.store(cold, Ordering::Relaxed);
        if let Some(t) = records.top {
            self.set_entry(Entry {
                slot: header.entry_slot,
                level: t,
            });
        }
        self.inserted.store(records.present, Ordering::Release);
        self.deleted.store(records.deleted_count, Ordering::Release);
        self.slot_bound
            .store(header.bound as u32, Ordering::Release);
    }

    /// Restores every node's lists from layer `first` up (read from the records), and
    /// with `states` its state, a chunk of slots per task.
    fn restore_nodes(
        &self,
        body: &[u8],
        records: &Records,
        first: usize,
        states: bool,
    ) -> Result<(), IndexError> {
        let m = self.config.m;
        records
            .starts
            .par_chunks(CHUNK)
            .try_for_each(|part| -> Result<(), IndexError> {
                let guard = epoch::pin();
                let mut view = self.nodes.view(&guard);
                let mut ids = Vec::with_capacity(2 * m);
                for &(slot32, start) in part {
                    let slot = slot32 as usize;
                    let level = records.levels[slot];
                    if states {
                        view.restore(slot32, level as usize, records.deleted[slot])
                            .ok_or_else(|| corrupt(start, "slot out of range"))?;
                    }
                    let r = &mut Reader {
                        bytes: body,
                        pos: start,
                    };
                    for layer in first..=level as usize {
                        let count = r.u16()? as usize;
                        check_list(
                            |id| records.level_of(id).is_some_and(|l| l as usize >= layer),
                            slot32,
                            count,
                            || Ok((r.pos, r.u32()?)),
                            &mut ids,
                        )?;
                        if layer == 0 && ids.is_empty() && records.present > 1 {
                            return Err(corrupt(r.pos, "isolated node"));
                        }
                        let list = view
                            .links(slot32, layer)
                            .ok_or_else(|| corrupt(r.pos, "missing layer"))?;
                        store_neighbours(list, &ids);
                    }
                }
                Ok(())
            })
    }

    fn load_v1(
        bytes: &[u8],
        vectors: V,
        expected: Option<&HnswConfig>,
    ) -> Result<Self, IndexError> {
        if bytes.len() < HEADER_1 + 4 {
            return Err(corrupt(bytes.len(), "shorter than a graph header"));
        }
        let body = bytes.len() - 4;
        if crc32c::crc32c(&bytes[..body]) != read_u32(bytes, body) {
            return Err(corrupt(body, "checksum mismatch"));
        }
        let bytes = &bytes[..body];
        let header = parse_header(bytes)?;
        let mut index = Self::for_header(&header, vectors, expected)?;
        let r = &mut Reader {
            bytes,
            pos: HEADER_1,
        };
        let records = parse_records(r, &header, 0)?;
        if r.pos != body {
            return Err(corrupt(r.pos, "trailing bytes after the last node"));
        }
        if header.bound > 0 {
            index.nodes.ensure(header.bound - 1);
        }
        index.restore_nodes(bytes, &records, 0, true)?;
        index.finish_load(&header, &records);
        Ok(index)
    }

    /// Loads version 2 or 3 (`version`), whose layer-0 lists are checked as they are
    /// first read, each run of slots that one checksum covers at once (`checks.rs`).
    fn load_v2(
        image: Image,
        version: u32,
        vectors: V,
        expected: Option<&HnswConfig>,
    ) -> Result<Self, IndexError> {
        let bytes = image.bytes();
        if bytes.len() < HEADER + 4 {
            return Err(corrupt(bytes.len(), "shorter than a graph header"));
        }
        let header = parse_header(bytes)?;
        let m = header.config.m;
        let stride0 = 2 * m + 1;
        let records_len = usize::try_from(read_u64(bytes, 48))
            .map_err(|_| corrupt(48, "node records longer than the file"))?;
        let chunks = read_u32(bytes, 56) as usize;
        if chunks != header.bound.div_ceil(CHUNK) {
            return Err(corrupt(56, "chunk count does not match the slot bound"));
        }
        let run = if version == VERSION_2 { CHUNK } else { RUN };
        let runs = header.bound.div_ceil(run);
        // Where everything lies; the file must end just after it.
        let layout = || -> Option<(usize, usize, usize, usize)> {
            let lists = HEADER
                .checked_add(records_len)?
                .checked_next_multiple_of(PAGE)?;
            let chunk_bytes = CHUNK.checked_mul(stride0)?.checked_mul(4)?;
            let lists_end = header
                .bound
                .checked_mul(stride0)?
                .checked_mul(4)?
                .checked_add(lists)?;
            let sums = lists_end.checked_next_multiple_of(8)?;
            let end = runs.checked_mul(4)?.next_multiple_of(8).checked_add(sums)?;
            Some((lists, chunk_bytes, sums, end))
        };
        let Some((lists, chunk_bytes, sums, end)) = layout() else {
            return Err(corrupt(48, "sizes out of range"));
        };
        // The header and records are read now, in order; the lists, where walks go.
        image.will_need(0..lists.min(bytes.len()));
        image.random_access(lists.min(bytes.len())..bytes.len());
        if bytes.len() != end + 8 {
            return Err(corrupt(
                bytes.len().min(end),
                &format!("{} bytes where the header makes {}", bytes.len(), end + 8),
            ));
        }
        if read_u32(bytes, end + 4) != 0 {
            return Err(corrupt(end + 4, "the last word is not zero"));
        }
        let crc = crc32c::crc32c_append(crc32c::crc32c(&bytes[..lists]), &bytes[sums..end]);
        if crc != read_u32(bytes, end) {
            return Err(corrupt(end, "checksum mismatch"));
        }
        let lists_end = lists + header.bound * stride0 * 4;
        if let Some(at) = (lists_end..sums).find(|&at| bytes[at] != 0) {
            return Err(corrupt(at, "padding after the lists is not zero"));
        }
        let mut index = Self::for_header(&header, vectors, expected)?;
        let r = &mut Reader {
            bytes: &bytes[..HEADER + records_len],
            pos: HEADER,
        };
        let records = parse_records(r, &header, 1)?;
        if r.pos != HEADER + records_len {
            return Err(corrupt(r.pos, "trailing bytes after the last node"));
        }
        let present = Present::new(records.levels.len(), |s| records.levels[s] != NO_LEVEL);
        let sums: Box<[u32]> = (0..runs).map(|r| read_u32(bytes, sums + 4 * r)).collect();
        let checks = ListChecks::new(
            run,
            header.bound,
            stride0,
            lists,
            sums,
            present,
            records.present <= 1,
        )
        .ok_or_else(|| corrupt(56, "lists that cannot be checked"))?;
        // Chunks that cannot be used in place (a last one of fewer than 1,024
        // slots; every one where the machine is big-endian) are copied first, while
        // the image is still read as bytes; from here on the others are used in place.
        let full = CHUNK * stride0;
        let copies: Vec<Option<Lists0>> = (0..chunks)
            .map(|c| {
                let at = lists + c * chunk_bytes;
                let stored = &bytes[at..(at + chunk_bytes).min(lists_end)];
                (stored.len() != 4 * full || cfg!(target_endian = "big"))
                    .then(|| copy_lists(stored, full))
            })
            .collect();
        // The records are read where they lie from here on; the lists follow them.
        let image = Arc::new(image.with_head(HEADER + records_len));
        *index.lists_ahead.lock() = Some((image.clone(), lists..lists_end));
        let lists0 = copies
            .into_iter()
            .enumerate()
            .map(|(c, copy)| {
                copy.or_else(|| Lists0::in_image(&image, lists + c * chunk_bytes, full))
            })
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| corrupt(lists, "lists not aligned in memory"))?;
        let node = |s: u32| {
            let level = *records.levels.get(s as usize)?;
            let deleted = records.deleted.get(s as usize).copied().unwrap_or(false);
            (level != NO_LEVEL).then_some((level as usize, deleted))
        };
        if !index.nodes.adopt(lists0, checks, node) {
            return Err(corrupt(lists, "lists of the wrong length"));
        }
        index.restore_nodes(image.head(), &records, 1, false)?;
        index.finish_load(&header, &records);
        Ok(index)
    }
}

/// `len` words of lists of their own, the first from `stored` (little-endian), the
/// rest empty.
fn copy_lists(stored: &[u8], len: usize) -> Lists0 {
    let lists = Lists0::zeroed(len);
    for (w, b) in lists.iter().zip(stored.chunks_exact(4)) {
        w.store(
            u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            Ordering::Relaxed,
        );
    }
    lists
}

/// The format version of a graph file's bytes: 1, 2 or 3.
fn version(bytes: &[u8]) -> Result<u32, IndexError> {
    if bytes.len() < 12 {
        return Err(corrupt(bytes.len(), "shorter than a graph header"));
    }
    if &bytes[..8] != MAGIC {
        return Err(corrupt(0, "not a FletchDB graph file (bad magic)"));
    }
    match read_u32(bytes, 8) {
        v @ (VERSION_1 | VERSION_2 | VERSION) => Ok(v),
        found => Err(IndexError::UnsupportedVersion {
            found,
            supported: VERSION,
        }),
    }
}

/// The header fields both versions share (the first 48 bytes; `bytes` holds them).
fn parse_header(bytes: &[u8]) -> Result<Header, IndexError> {
    let r = &mut Reader { bytes, pos: 12 };
    let metric = Metric::from_code(r.u8()?).ok_or_else(|| corrupt(12, "unknown metric"))?;
    r.pos = 16;
    let m = r.u32()? as usize;
    let ef_construction = r.u32()? as usize;
    let seed = r.u64()?;
    let dim = r.u32()? as usize;
    let bound = r.u32()? as usize;
    let entry_slot = r.u32()?;
    let entry_level = r.u32()? as usize;
    if bound > MAX_SLOTS {
        return Err(corrupt(36, "slot bound out of range"));
    }
    Ok(Header {
        config: HnswConfig {
            metric,
            m,
            ef_construction,
            seed,
        },
        dim,
        bound,
        entry_slot,
        entry_level,
    })
}

/// Reads the node records of `header.bound` slots from `r`, each with its lists from
/// layer `first` up, and checks the entry point against them.
fn parse_records(r: &mut Reader<'_>, header: &Header, first: usize) -> Result<Records, IndexError> {
    let bound = header.bound;
    let m = header.config.m;
    let room = r.bytes.len();
    let mut records = Records {
        levels: Vec::with_capacity(bound.min(room)),
        deleted: Vec::with_capacity(bound.min(room)),
        starts: Vec::new(),
        present: 0,
        deleted_count: 0,
        top: None,
    };
    for slot in 0..bound {
        let at = r.pos;
        match r.u8()? {
            ABSENT => {
                records.levels.push(NO_LEVEL);
                records.deleted.push(false);
            }
            state @ (LIVE | DELETED) => {
                let level = r.u8()? as usize;
                if level > MAX_LEVEL {
                    return Err(corrupt(at + 1, "node level out of range"));
                }
                records.present += 1;
                records.deleted_count += usize::from(state == DELETED);
                records.top = records.top.max(Some(level));
                records.levels.push(level as u8);
                records.deleted.push(state == DELETED);
                if level >= first {
                    // `bound` was read as a `u32` (`parse_header`).
                    records.starts.push((slot as u32, r.pos));
                }
                for layer in first..=level {
                    let cap = if layer == 0 { 2 * m } else { m };
                    let count = r.u16()? as usize;
                    if count > cap {
                        return Err(corrupt(r.pos - 2, "neighbour count above capacity"));
                    }
                    r.skip(count * 4)?;
                }
            }
            _ => return Err(corrupt(at, "unknown node state")),
        }
    }
    let entry_level = records.level_of(header.entry_slot).map(usize::from);
    match records.top {
        None if header.entry_slot != u32::MAX => Err(corrupt(40, "entry point in an empty graph")),
        Some(_) if entry_level != Some(header.entry_level) => {
            Err(corrupt(40, "entry point is not a node of its level"))
        }
        Some(t) if t != header.entry_level => {
            Err(corrupt(44, "entry point is not on the top level"))
        }
        _ => Ok(records),
    }
}

/// The little-endian `u32` at `at` (the caller checked that it lies in `bytes`; 0
/// otherwise).
fn read_u32(bytes: &[u8], at: usize) -> u32 {
    bytes
        .get(at..at + 4)
        .map_or(0, |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// The little-endian `u64` at `at` (0 past the end).
fn read_u64(bytes: &[u8], at: usize) -> u64 {
    bytes
        .get(at..at + 8)
        .map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap_or_default()))
}

/// A bounds-checked little-endian cursor.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], IndexError> {
        let end = self.pos.checked_add(N).filter(|&e| e <= self.bytes.len());
        let Some(end) = end else {
            return Err(IndexError::Corruption {
                offset: self.pos,
                reason: "truncated".to_string(),
            });
        };
        let mut out = [0u8; N];
        out.copy_from_slice(&self.bytes[self.pos..end]);
        self.pos = end;
        Ok(out)
    }
    fn skip(&mut self, n: usize) -> Result<(), IndexError> {
        match self.pos.checked_add(n).filter(|&e| e <= self.bytes.len()) {
            Some(end) => {
                self.pos = end;
                Ok(())
            }
            None => Err(IndexError::Corruption {
                offset: self.pos,
                reason: "truncated".to_string(),
            }),
        }
    }
    fn u8(&mut self) -> Result<u8, IndexError> {
        Ok(self.take::<1>()?[0])
    }
    fn u16(&mut self) -> Result<u16, IndexError> {
        Ok(u16::from_le_bytes(self.take()?))
    }
    fn u32(&mut self) -> Result<u32, IndexError> {
        Ok(u32::from_le_bytes(self.take()?))
    }
    fn u64(&mut self) -> Result<u64, IndexError> {
        Ok(u64::from_le_bytes(self.take()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vectors::InMemoryVectors;

    /// A snapshot of `index` in which only `saved` slots are nodes, `entry` its entry.
    fn snapshot_of(index: &Hnsw<InMemoryVectors>, saved: &[u32], entry: u32) -> Snapshot {
        let guard = epoch::pin();
        let mut view = index.nodes.view(&guard);
        let states = (0..index.slot_bound() as u32)
            .map(|s| match view.meta(s) {
                Some(m) if saved.contains(&s) => (LIVE, m.state().level()),
                _ => (ABSENT, 0),
            })
            .collect::<Vec<_>>();
        let level = states[entry as usize].1;
        Snapshot {
            states,
            entry: Some(Entry { slot: entry, level }),
            present: saved.len(),
        }
    }

    /// The race the stress test `saves_taken_while_threads_insert_always_load` finds
    /// about once in 20 runs, made on purpose: every neighbour of the entry (and of
    /// another node) inserted after the snapshot's states were read.
    #[test]
    fn a_list_whose_neighbours_were_all_saved_later_still_links_saved_nodes() {
        let index = Hnsw::in_memory(2, HnswConfig::new(Metric::L2)).unwrap();
        for i in 0..300 {
            index.add(&[(i % 17) as f32, (i / 17) as f32]).unwrap();
        }
        let guard = epoch::pin();
        let mut view = index.nodes.view(&guard);
        let entry = index.entry().unwrap().slot;
        let other = (entry + 1) % 300;
        let first = |view: &mut View<'_>, s: u32| neighbours(view.links(s, 0).unwrap()).collect();
        let mut hidden: Vec<u32> = first(&mut view, entry);
        hidden.extend(first(&mut view, other));
        let saved: Vec<u32> = (0..300).filter(|s| !hidden.contains(s)).collect();
        let mut ids = Vec::new();
        for (slot, entry) in [(entry, entry), (other, entry), (entry, other)] {
            let snap = snapshot_of(&index, &saved, entry);
            snap.list(&mut view, slot, 0, &mut ids);
            assert!(!ids.is_empty(), "slot {slot} isolated");
            for (i, &id) in ids.iter().enumerate() {
                assert!(snap.on_layer(id, 0) && id != slot && !ids[..i].contains(&id));
            }
        }
        // Two saved nodes, neither linked to the other: each still names the other.
        let (a, b) = (entry, *saved.iter().find(|&&s| s != entry).unwrap());
        let snap = snapshot_of(&index, &[a, b], a);
        for (slot, peer) in [(a, b), (b, a)] {
            snap.list(&mut view, slot, 0, &mut ids);
            assert_eq!(ids, [peer]);
        }
    }
}
