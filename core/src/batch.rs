//! Batch writes: many ids and one flat buffer of vectors, logged together and applied
//! in parallel.
//!
//! The whole batch is validated first (dimensions, values, ids) so that bad input
//! refuses it before anything is logged. Normalised copies (cosine) and the log records'
//! headers live in one arena per batch rather than in a small allocation each. Records
//! are appended in chunks of [`LOG_CHUNK`] with one durability wait per chunk; the
//! vectors are then written and indexed on rayon's threads.

use std::collections::HashSet;

use bumpalo::Bump;
use fletchdb_index::Slot;
use rayon::prelude::*;

use crate::collection::Collection;
use crate::error::{Error, Result};
use crate::options::Metric;
use crate::record::{put_header, KIND_PUT, PUT_HEADER};

/// Records appended to the log per wait.
const LOG_CHUNK: usize = 4096;

impl Collection {
    /// Adds many vectors: `vectors` holds `ids.len()` vectors back to back. Every id
    /// must be new to the collection and appear once.
    ///
    /// The batch is acknowledged as a whole; after a crash before that, any prefix of
    /// it may be found, each vector whole.
    ///
    /// ```
    /// use fletchdb::{CollectionConfig, Database, Metric, Options};
    /// let dir = tempfile::tempdir()?;
    /// let db = Database::open(dir.path(), Options::default())?;
    /// let c = db.create_collection("pts", CollectionConfig::new(2, Metric::L2))?;
    /// c.insert_batch(&[10, 11, 12], &[0.0, 0.0, 1.0, 0.0, 0.0, 1.0])?;
    /// assert_eq!(c.len(), 3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for an empty batch; [`Error::DimensionMismatch`] if
    /// `vectors.len() != ids.len() * dim`; [`Error::DuplicateId`] for an id that
    /// exists or repeats; [`Error::InvalidVector`]; and the errors of
    /// [`insert`](Self::insert). Nothing is stored when validation fails.
    pub fn insert_batch(&self, ids: &[u64], vectors: &[f32]) -> Result<()> {
        self.put_batch(ids, vectors, false)
    }

    /// Adds or replaces many vectors, as [`insert_batch`](Self::insert_batch) but
    /// existing ids are replaced (an id still may not repeat within the batch).
    ///
    /// # Errors
    /// As [`insert_batch`](Self::insert_batch), but an existing id is not an error.
    pub fn upsert_batch(&self, ids: &[u64], vectors: &[f32]) -> Result<()> {
        self.put_batch(ids, vectors, true)
    }

    fn put_batch(&self, ids: &[u64], vectors: &[f32], replace: bool) -> Result<()> {
        self.check_live()?;
        let dim = self.c.config.dim;
        if ids.is_empty() {
            return Err(Error::InvalidArgument("empty batch".into()));
        }
        if vectors.len() != ids.len() * dim {
            return Err(Error::DimensionMismatch {
                expected: ids.len() * dim,
                got: vectors.len(),
            });
        }
        let mut seen = HashSet::with_capacity(ids.len());
        if let Some(&id) = ids.iter().find(|&&id| !seen.insert(id)) {
            return Err(Error::DuplicateId { id });
        }
        for v in vectors.chunks(dim) {
            fletchdb_index::validate(v, dim)?;
        }
        let arena = Bump::new();
        let prepared: Vec<&[f32]> = if self.c.config.metric == Metric::Cosine {
            vectors
                .chunks(dim)
                .map(|v| {
                    let copy = arena.alloc_slice_copy(v);
                    self.c.config.metric.prepare(copy)?;
                    Ok(&*copy)
                })
                .collect::<Result<_>>()?
        } else {
            vectors.chunks(dim).collect()
        };

        let c = &*self.c;
        let _id_locks = c.ids.lock_all(ids);
        let old: Vec<Option<u32>> = {
            let map = c.ids.read();
            ids.iter().map(|&id| map.slot_of(id)).collect()
        };
        if !replace {
            if let Some((&id, _)) = ids.iter().zip(&old).find(|(_, o)| o.is_some()) {
                return Err(Error::DuplicateId { id });
            }
        }
        let _gate = self.db.gate.read();
        self.check_live()?;
        let reservations = (0..ids.len())
            .map(|_| c.store().reserve())
            .collect::<Result<Vec<_>, _>>()?;
        let headers: Vec<&[u8]> = ids
            .iter()
            .zip(&reservations)
            .map(|(&id, r)| &*arena.alloc_slice_copy(&put_header(c.cid, id, r.slot())))
            .collect();
        debug_assert!(headers.iter().all(|h| h.len() == PUT_HEADER));
        let parts: Vec<[&[u8]; 2]> = headers
            .iter()
            .zip(&prepared)
            .map(|(h, v)| [*h, bytemuck::cast_slice(v)])
            .collect();
        let records: Vec<(u8, &[&[u8]])> = parts.iter().map(|p| (KIND_PUT, &p[..])).collect();
        for chunk in records.chunks(LOG_CHUNK) {
            self.db.wal.append_many(chunk)?;
        }
        let slots = reservations
            .into_par_iter()
            .zip(prepared.par_iter())
            .map(|(r, v)| r.write(v).map(Slot))
            .collect::<Result<Vec<Slot>, _>>()?;
        c.index.insert_batch(&slots)?;
        {
            let mut map = c.ids.write();
            for (&id, slot) in ids.iter().zip(&slots) {
                map.set(id, slot.0);
            }
        }
        for slot in old.into_iter().flatten() {
            c.index.delete(Slot(slot))?;
        }
        Ok(())
    }
}
