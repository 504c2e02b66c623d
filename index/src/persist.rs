//! Saving the graph to bytes and loading it back, without re-inserting anything.
//!
//! Layout (all integers little-endian):
//!
//! ```text
//! 0   magic  b"FLETCHGR"
//! 8   u32    format version (1)
//! 12  u8     metric code, then 3 zero bytes
//! 16  u32    m
//! 20  u32    ef_construction
//! 24  u64    seed
//! 32  u32    dim
//! 36  u32    slot bound: node records follow for slots 0..bound
//! 40  u32    entry slot      (u32::MAX when empty)
//! 44  u32    entry level
//! 48  node records, one per slot:
//!       u8 state: 0 absent, 1 live, 2 deleted
//!       if not absent: u8 level, then for each layer 0..=level:
//!         u16 count, count × u32 neighbour slot
//! end u32    CRC32C of every byte before it
//! ```
//!
//! Loading checks the checksum first and then every field anyway (a checksum can
//! collide, and no input may make the loader panic): counts within the layer's
//! capacity, neighbours that exist on that layer, an entry point on the top level.
//! A snapshot taken while inserts run is consistent: node states are read first and
//! links to nodes outside that snapshot are left out.
//!
//! Where a load's time goes, at 1,000,000 × 128-d nodes with m 16 (a warm `db_bench
//! open`, timed by hand): the checksum 12-15 ms, the first pass over the records
//! 29-33 ms, allocating the chunks 16-19 ms, storing the lists 104-116 ms on two
//! threads. Checking layer-0 links against a bit per present node (125 KB) instead of
//! `levels` (1 MB) changed nothing, nor did transparent huge pages for the whole
//! process: the lists pass writes 132 MB of fresh memory. Using the file in place of
//! a copy (issue 15) is what removes it.

use std::io::Write;
use std::sync::atomic::Ordering;

use rayon::prelude::*;

use crossbeam_epoch as epoch;

use crate::distance::Metric;
use crate::error::IndexError;
use crate::hnsw::{Entry, Hnsw, HnswConfig, MAX_SLOTS};
use crate::nodes::{neighbours, store_neighbours, CHUNK, MAX_LEVEL};
use crate::vectors::VectorSource;

const MAGIC: &[u8; 8] = b"FLETCHGR";
const VERSION: u32 = 1;
const HEADER: usize = 48;

const ABSENT: u8 = 0;
const LIVE: u8 = 1;
const DELETED: u8 = 2;
/// `levels[slot]` of a slot with no node.
const NO_LEVEL: u8 = u8::MAX;

impl<V: VectorSource> Hnsw<V> {
    /// Writes the graph (not the vectors) to `w`, in the format above.
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
        let entry = self.entry();
        let bound = self.slot_bound();
        let guard = epoch::pin();
        let mut view = self.nodes.view(&guard);
        // Snapshot node states first. Only nodes whose insert finished are saved: one
        // still linking itself in may have no links yet, and a database replays it anyway.
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
                .map(|slot| crate::hnsw::Entry {
                    slot: slot as u32,
                    level: t,
                }),
        };
        let present = states.iter().filter(|&&(st, _)| st != ABSENT).count();
        let mut buf = Vec::with_capacity(HEADER + bound * (3 + 4 * self.config.m * 2));
        buf.extend_from_slice(MAGIC);
        buf.extend_from_slice(&VERSION.to_le_bytes());
        buf.extend_from_slice(&[self.config.metric.code(), 0, 0, 0]);
        buf.extend_from_slice(&(self.config.m as u32).to_le_bytes());
        buf.extend_from_slice(&(self.config.ef_construction as u32).to_le_bytes());
        buf.extend_from_slice(&self.config.seed.to_le_bytes());
        buf.extend_from_slice(&(self.dim() as u32).to_le_bytes());
        buf.extend_from_slice(&(bound as u32).to_le_bytes());
        let (es, el) = entry.map_or((u32::MAX, 0), |e| (e.slot, e.level as u32));
        buf.extend_from_slice(&es.to_le_bytes());
        buf.extend_from_slice(&el.to_le_bytes());
        let on_layer = |id: u32, layer: usize| {
            states
                .get(id as usize)
                .is_some_and(|&(st, lvl)| st != ABSENT && lvl >= layer)
        };
        for (slot, &(state, level)) in states.iter().enumerate() {
            buf.push(state);
            if state == ABSENT {
                continue;
            }
            buf.push(level as u8);
            // Writers rewrite a full list in place under the node's lock; reading it
            // without the lock while checkpointing beside inserts could see half the old
            // list and half the new one (a torn list, even a duplicate link, which load
            // rightly refuses). Holding the lock makes each list one a writer produced.
            let _consistent = view.meta(slot as u32).map(|m| m.lock.lock());
            for layer in 0..=level {
                let mut ids: Vec<u32> = view
                    .links(slot as u32, layer)
                    .map(|l| neighbours(l).filter(|&n| on_layer(n, layer)).collect())
                    .unwrap_or_default();
                // Its only neighbours may be nodes still being inserted (not saved): link
                // it to the entry point so that the saved graph has no isolated node.
                if layer == 0 && ids.is_empty() && present > 1 {
                    if let Some(e) = entry.filter(|e| e.slot != slot as u32) {
                        ids.push(e.slot);
                    }
                }
                buf.extend_from_slice(&(ids.len() as u16).to_le_bytes());
                for id in ids {
                    buf.extend_from_slice(&id.to_le_bytes());
                }
            }
        }
        let crc = crc32c::crc32c(&buf);
        buf.extend_from_slice(&crc.to_le_bytes());
        w.write_all(&buf)?;
        Ok(())
    }

    /// Rebuilds an index from bytes written by [`save`](Self::save), over `vectors`
    /// (which must hold every slot the graph names, with the same vectors), with the
    /// configuration the file records.
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

    fn load_inner(
        bytes: &[u8],
        vectors: V,
        expected: Option<&HnswConfig>,
    ) -> Result<Self, IndexError> {
        let corrupt = |offset: usize, reason: &str| IndexError::Corruption {
            offset,
            reason: reason.to_string(),
        };
        if bytes.len() < HEADER + 4 {
            return Err(corrupt(bytes.len(), "shorter than a graph header"));
        }
        if &bytes[..8] != MAGIC {
            return Err(corrupt(0, "not a FletchDB graph file (bad magic)"));
        }
        let mut r = Reader { bytes, pos: 8 };
        let version = r.u32()?;
        if version != VERSION {
            return Err(IndexError::UnsupportedVersion {
                found: version,
                supported: VERSION,
            });
        }
        let body = bytes.len() - 4;
        let stored = u32::from_le_bytes([
            bytes[body],
            bytes[body + 1],
            bytes[body + 2],
            bytes[body + 3],
        ]);
        if crc32c::crc32c(&bytes[..body]) != stored {
            return Err(corrupt(body, "checksum mismatch"));
        }
        let r = &mut Reader {
            bytes: &bytes[..body],
            pos: 12,
        };
        let metric = Metric::from_code(r.u8()?).ok_or_else(|| corrupt(12, "unknown metric"))?;
        r.pos = 16;
        let m = r.u32()? as usize;
        let ef_construction = r.u32()? as usize;
        let seed = r.u64()?;
        let dim = r.u32()? as usize;
        let bound = r.u32()? as usize;
        let entry_slot = r.u32()?;
        let entry_level = r.u32()? as usize;
        let config = HnswConfig {
            metric,
            m,
            ef_construction,
            seed,
        };
        if expected.is_some_and(|e| *e != config) {
            return Err(corrupt(
                12,
                &format!("the graph was built with {config:?}, not the expected {expected:?}"),
            ));
        }
        let mut index = Hnsw::new(config, vectors).map_err(|e| corrupt(16, &e.to_string()))?;
        if dim != index.dim() {
            return Err(corrupt(
                32,
                &format!("a graph of {dim}-d vectors over {}-d vectors", index.dim()),
            ));
        }
        if bound > MAX_SLOTS {
            return Err(corrupt(36, "slot bound out of range"));
        }
        if bound > index.vectors.len() {
            return Err(corrupt(
                36,
                &format!(
                    "the graph names slots up to {} but the vectors hold {}",
                    bound - 1,
                    index.vectors.len()
                ),
            ));
        }

        // Pass 1, sequential: each node's state, level and where its lists start, so
        // that pass 2 can check links against levels and run in parallel.
        let mut levels: Vec<u8> = Vec::with_capacity(bound.min(body));
        let mut starts: Vec<usize> = Vec::with_capacity(bound.min(body));
        let mut deleted_flags: Vec<bool> = Vec::with_capacity(bound.min(body));
        let mut deleted = 0usize;
        for _ in 0..bound {
            let at = r.pos;
            match r.u8()? {
                ABSENT => {
                    levels.push(NO_LEVEL);
                    starts.push(0);
                    deleted_flags.push(false);
                }
                state @ (LIVE | DELETED) => {
                    let level = r.u8()? as usize;
                    if level > MAX_LEVEL {
                        return Err(corrupt(at + 1, "node level out of range"));
                    }
                    deleted += (state == DELETED) as usize;
                    levels.push(level as u8);
                    deleted_flags.push(state == DELETED);
                    starts.push(r.pos);
                    for layer in 0..=level {
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
        if r.pos != body {
            return Err(corrupt(r.pos, "trailing bytes after the last node"));
        }
        let present = levels.iter().filter(|&&l| l != NO_LEVEL).count();
        let top = levels
            .iter()
            .filter(|&&l| l != NO_LEVEL)
            .max()
            .map(|&l| l as usize);
        let level_of = |id: u32| levels.get(id as usize).copied().filter(|&l| l != NO_LEVEL);
        match top {
            None if entry_slot != u32::MAX => {
                return Err(corrupt(40, "entry point in an empty graph"))
            }
            Some(_) if level_of(entry_slot).map(usize::from) != Some(entry_level) => {
                return Err(corrupt(40, "entry point is not a node of its level"))
            }
            Some(t) if t != entry_level => {
                return Err(corrupt(44, "entry point is not on the top level"))
            }
            _ => {}
        }

        // Pass 2, in parallel over chunks of nodes: fill the lists, checking every link.
        // In-degrees are not counted here (a random access per link was most of a
        // 1M-node load); the first insert counts them, so opening to search is cheap.
        if bound > 0 {
            index.nodes.ensure(bound - 1);
        }
        let body_bytes = &bytes[..body];
        (0..bound.div_ceil(CHUNK)).into_par_iter().try_for_each(
            |chunk| -> Result<(), IndexError> {
                let guard = epoch::pin();
                let mut view = index.nodes.view(&guard);
                let mut ids = Vec::with_capacity(2 * m);
                for slot in chunk * CHUNK..((chunk + 1) * CHUNK).min(bound) {
                    let level = levels[slot];
                    if level == NO_LEVEL {
                        continue;
                    }
                    let slot32 = slot as u32;
                    view.restore(slot32, level as usize, deleted_flags[slot])
                        .ok_or_else(|| corrupt(starts[slot], "slot out of range"))?;
                    let r = &mut Reader {
                        bytes: body_bytes,
                        pos: starts[slot],
                    };
                    for layer in 0..=level as usize {
                        let count = r.u16()? as usize;
                        ids.clear();
                        // A 256-bit hash of the ids seen: an exact search only on a hit.
                        let mut seen = [0u64; 4];
                        for _ in 0..count {
                            let at = r.pos;
                            let id = r.u32()?;
                            if level_of(id).is_none_or(|l| (l as usize) < layer) {
                                return Err(corrupt(at, "link to a node missing from its layer"));
                            }
                            if id == slot32 {
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
                        if layer == 0 && ids.is_empty() && present > 1 {
                            return Err(corrupt(r.pos, "isolated node"));
                        }
                        let list = view
                            .links(slot32, layer)
                            .ok_or_else(|| corrupt(r.pos, "missing layer"))?;
                        store_neighbours(list, &ids);
                    }
                }
                Ok(())
            },
        )?;
        index.indegrees.take();
        if let Some(t) = top {
            index.set_entry(Entry {
                slot: entry_slot,
                level: t,
            });
        }
        index.inserted.store(present, Ordering::Release);
        index.deleted.store(deleted, Ordering::Release);
        index.slot_bound.store(bound as u32, Ordering::Release);
        Ok(index)
    }
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
