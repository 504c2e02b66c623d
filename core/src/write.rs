//! The write path of a [`Collection`]: insert, upsert and delete, one id or many, all
//! through one sequence each.
//!
//! A put of any size is: validate everything (dimensions, values, ids) so that bad
//! input refuses the call before anything is logged; take the ids' write locks; check
//! existence; under the database's write gate reserve slots, log the records (in chunks
//! of [`LOG_CHUNK`], one durability wait each), write the vectors into their slots and
//! insert them into the graph (on rayon's threads for a batch; a batch of one runs on
//! the caller's thread, since rayon splits nothing), point the ids at them, and
//! tombstone the slots they replaced. Normalised copies (cosine) and the records'
//! headers live in one arena per call rather than in a small allocation each.
//!
//! A delete of any size logs one record per present id (absent ids log nothing), then
//! forgets the ids and tombstones their slots.

use std::collections::HashSet;

use bumpalo::Bump;
use fletchdb_index::Slot;
use rayon::prelude::*;

use crate::collection::Collection;
use crate::error::{Error, Result};
use crate::options::Metric;
use crate::payload::codec::check_len;
use crate::payload::Payload;
use crate::record::{delete_record, put_parts, put_records, PutHead, KIND_DELETE};

/// Records appended to the log per wait.
const LOG_CHUNK: usize = 4096;

impl Collection {
    /// Adds `vector` under `id`, which must be new to the collection.
    ///
    /// When this returns, the vector is searchable and as durable as the database's
    /// [`Durability`](crate::Durability) says. Cosine collections store the vector
    /// normalised to unit length.
    ///
    /// # Errors
    /// [`Error::DuplicateId`] if `id` exists (use [`upsert`](Self::upsert));
    /// [`Error::DimensionMismatch`]; [`Error::InvalidVector`] for NaN or infinite
    /// values or, under cosine, a zero vector; [`Error::CollectionNotFound`] if the
    /// collection was dropped; [`Error::Closed`]; [`Error::WalPoisoned`] or
    /// [`Error::Io`] if the log cannot be written. Bad input changes nothing. A failed
    /// log write or sync is not an acknowledgement: the database refuses further writes
    /// until reopened, and the record may or may not be found after reopening (it was
    /// handed to the disk, which may have kept it).
    pub fn insert(&self, id: u64, vector: &[f32]) -> Result<()> {
        self.put(&[id], vector, None, false)
    }

    /// Adds `vector` under `id`, replacing the vector `id` had, if any.
    ///
    /// # Errors
    /// As [`insert`](Self::insert), but an existing id is not an error.
    pub fn upsert(&self, id: u64, vector: &[f32]) -> Result<()> {
        self.put(&[id], vector, None, true)
    }

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
        self.put(ids, vectors, None, false)
    }

    /// Adds or replaces many vectors, as [`insert_batch`](Self::insert_batch) but
    /// existing ids are replaced (an id still may not repeat within the batch).
    ///
    /// # Errors
    /// As [`insert_batch`](Self::insert_batch), but an existing id is not an error.
    pub fn upsert_batch(&self, ids: &[u64], vectors: &[f32]) -> Result<()> {
        self.put(ids, vectors, None, true)
    }

    /// [`insert_batch`](Self::insert_batch) with a [`Payload`] (metadata and
    /// document) per id, logged in the same record as its vector, so it is exactly as
    /// durable.
    ///
    /// ```
    /// use fletchdb::{CollectionConfig, Database, Metric, Options, Payload};
    /// use serde_json::json;
    /// let dir = tempfile::tempdir()?;
    /// let db = Database::open(dir.path(), Options::default())?;
    /// let c = db.create_collection("docs", CollectionConfig::new(2, Metric::L2))?;
    /// c.insert_with(
    ///     &[1, 2],
    ///     &[0.0, 1.0, 1.0, 0.0],
    ///     &[
    ///         Payload::new().with_metadata(json!({"source": "a.txt", "page": 3})),
    ///         Payload::new().with_document("second chunk"),
    ///     ],
    /// )?;
    /// assert_eq!(c.get_metadata(&[1])?[0].as_ref().unwrap()["page"], 3);
    /// assert_eq!(c.get_documents(&[2, 1])?, [Some("second chunk".to_string()), None]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`insert_batch`](Self::insert_batch); also [`Error::InvalidArgument`] if
    /// `payloads.len() != ids.len()` or a metadata value is not one FletchDB stores
    /// (see [`Metadata`](crate::Metadata)), naming the key. Nothing is stored when
    /// validation fails.
    pub fn insert_with(&self, ids: &[u64], vectors: &[f32], payloads: &[Payload]) -> Result<()> {
        self.put(ids, vectors, Some(payloads), false)
    }

    /// [`upsert_batch`](Self::upsert_batch) with a [`Payload`] per id. An upsert
    /// replaces the whole record: an id upserted with an empty payload has no metadata
    /// or document afterwards (use [`update`](Self::update) to change a payload alone).
    ///
    /// # Errors
    /// As [`insert_with`](Self::insert_with), but an existing id is not an error.
    pub fn upsert_with(&self, ids: &[u64], vectors: &[f32], payloads: &[Payload]) -> Result<()> {
        self.put(ids, vectors, Some(payloads), true)
    }

    /// Replaces the metadata and/or the documents of existing ids without touching
    /// their vectors or the graph. `metadatas`, when given, holds one entry per id
    /// (`None` clears that id's metadata); likewise `documents`. What is not given is
    /// kept.
    ///
    /// ```
    /// use fletchdb::{CollectionConfig, Database, Metric, Options, Payload};
    /// use serde_json::json;
    /// let dir = tempfile::tempdir()?;
    /// let db = Database::open(dir.path(), Options::default())?;
    /// let c = db.create_collection("docs", CollectionConfig::new(1, Metric::L2))?;
    /// c.insert_with(&[7], &[1.0], &[Payload::new().with_document("draft")])?;
    /// let meta = json!({"status": "final"}).as_object().cloned();
    /// c.update(&[7], Some(&[meta]), None)?;
    /// assert_eq!(c.get_metadata(&[7])?[0].as_ref().unwrap()["status"], "final");
    /// assert_eq!(c.get_documents(&[7])?[0].as_deref(), Some("draft"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::IdNotFound`] for an id the collection does not hold;
    /// [`Error::InvalidArgument`] for an empty batch, lists of the wrong length or bad
    /// metadata (naming the key); [`Error::DuplicateId`] for an id given twice;
    /// [`Error::CollectionNotFound`], [`Error::Closed`], or a log failure. Nothing is
    /// changed when validation fails.
    pub fn update(
        &self,
        ids: &[u64],
        metadatas: Option<&[Option<crate::Metadata>]>,
        documents: Option<&[Option<String>]>,
    ) -> Result<()> {
        self.check_live()?;
        check_ids(ids)?;
        if let Some(m) = metadatas {
            check_len("metadatas", m.len(), ids.len())?;
            for meta in m.iter().flatten() {
                crate::payload::validate_metadata(meta)?;
            }
        }
        if let Some(d) = documents {
            check_len("documents", d.len(), ids.len())?;
        }
        let c = &*self.c;
        let _id_locks = c.ids.lock_all(ids);
        let slots: Vec<u32> = {
            let map = c.ids.read();
            ids.iter()
                .map(|&id| map.slot_of(id).ok_or(Error::IdNotFound { id }))
                .collect::<Result<_>>()?
        };
        let payloads: Vec<Payload> = {
            let current = c.payloads.read();
            ids.iter()
                .enumerate()
                .map(|(i, &id)| {
                    let mut p = current.get(id);
                    if let Some(m) = metadatas {
                        p.metadata = m[i].clone();
                    }
                    if let Some(d) = documents {
                        p.document = d[i].clone();
                    }
                    p
                })
                .collect()
        };
        let encoded: Vec<Vec<u8>> = payloads.iter().map(Payload::encode).collect();
        let heads: Vec<[u8; 12]> = ids
            .iter()
            .map(|&id| crate::record::payload_head(c.cid, id))
            .collect();
        let parts: Vec<[&[u8]; 2]> = heads
            .iter()
            .zip(&encoded)
            .map(|(h, p)| [&h[..], &p[..]])
            .collect();
        let records: Vec<(u8, &[&[u8]])> = parts
            .iter()
            .map(|p| (crate::record::KIND_PAYLOAD, &p[..]))
            .collect();
        let gate = self.db.write_gate()?;
        self.check_live()?;
        for chunk in records.chunks(LOG_CHUNK) {
            gate.append_many(chunk)?;
        }
        {
            let mut store = c.payloads.write();
            for (((&id, &slot), p), bytes) in ids.iter().zip(&slots).zip(&payloads).zip(&encoded) {
                store.put(id, Some(slot), slot, bytes, p.metadata.as_ref());
            }
        }
        c.ids.touch_all(ids);
        Ok(())
    }

    /// Removes `id` and its vector; false if the collection did not hold it.
    ///
    /// # Errors
    /// [`Error::CollectionNotFound`], [`Error::Closed`], or a log failure.
    pub fn delete(&self, id: u64) -> Result<bool> {
        Ok(self.delete_batch(&[id])? == 1)
    }

    /// Removes many ids and their vectors, logged together (one durability wait);
    /// returns how many the collection held. Absent ids are skipped.
    ///
    /// ```
    /// use fletchdb::{CollectionConfig, Database, Metric, Options};
    /// let dir = tempfile::tempdir()?;
    /// let db = Database::open(dir.path(), Options::default())?;
    /// let c = db.create_collection("pts", CollectionConfig::new(1, Metric::L2))?;
    /// c.insert_batch(&[1, 2, 3], &[1.0, 2.0, 3.0])?;
    /// assert_eq!(c.delete_batch(&[1, 3, 99])?, 2);
    /// assert_eq!(c.len(), 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for an empty batch; [`Error::DuplicateId`] for an id
    /// given twice (nothing is removed); [`Error::CollectionNotFound`],
    /// [`Error::Closed`], or a log failure. After a crash during the call, any prefix
    /// of it may have taken effect.
    pub fn delete_batch(&self, ids: &[u64]) -> Result<usize> {
        self.check_live()?;
        check_ids(ids)?;
        let c = &*self.c;
        let _id_locks = c.ids.lock_all(ids);
        let present: Vec<(u64, u32)> = {
            let map = c.ids.read();
            ids.iter()
                .filter_map(|&id| map.slot_of(id).map(|slot| (id, slot)))
                .collect()
        };
        if present.is_empty() {
            return Ok(0);
        }
        let gate = self.db.write_gate()?;
        self.check_live()?;
        let records: Vec<[u8; 12]> = present
            .iter()
            .map(|&(id, _)| delete_record(c.cid, id))
            .collect();
        let parts: Vec<[&[u8]; 1]> = records.iter().map(|r| [&r[..]]).collect();
        let records: Vec<(u8, &[&[u8]])> = parts.iter().map(|p| (KIND_DELETE, &p[..])).collect();
        for chunk in records.chunks(LOG_CHUNK) {
            gate.append_many(chunk)?;
        }
        {
            let mut map = c.ids.write();
            for &(id, _) in &present {
                map.remove(id);
            }
        }
        {
            let mut payloads = c.payloads.write();
            for &(id, slot) in &present {
                payloads.delete(id, slot);
            }
        }
        for &(_, slot) in &present {
            c.retire(slot)?;
        }
        Ok(present.len())
    }

    /// The one put sequence: validate, lock, check, log, apply.
    fn put(
        &self,
        ids: &[u64],
        vectors: &[f32],
        payloads: Option<&[Payload]>,
        replace: bool,
    ) -> Result<()> {
        self.check_live()?;
        let dim = self.c.config.dim;
        check_ids(ids)?;
        if let Some(p) = payloads {
            check_len("payloads", p.len(), ids.len())?;
            for payload in p {
                payload.validate()?;
            }
        }
        if vectors.len() != ids.len() * dim {
            return Err(Error::DimensionMismatch {
                expected: ids.len() * dim,
                got: vectors.len(),
            });
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
        let gate = self.db.write_gate()?;
        self.check_live()?;
        let reservations = (0..ids.len())
            .map(|_| c.free.reserve(c.store()))
            .collect::<Result<Vec<_>, _>>()?;
        let encoded: Vec<Vec<u8>> = match payloads {
            Some(p) => p.iter().map(Payload::encode).collect(),
            None => vec![Vec::new(); ids.len()],
        };
        let heads: Vec<PutHead> = ids
            .iter()
            .zip(&reservations)
            .zip(&encoded)
            .map(|((&id, r), p)| PutHead::new(c.cid, id, r.slot(), p))
            .collect();
        let parts = put_parts(&heads, &encoded, prepared.iter().copied());
        let records = put_records(&heads, &parts);
        for chunk in records.chunks(LOG_CHUNK) {
            gate.append_many(chunk)?;
        }
        let slots = reservations
            .into_par_iter()
            .zip(prepared.par_iter())
            .map(|(r, v)| r.write(v).map(Slot))
            .collect::<Result<Vec<Slot>, _>>()?;
        c.index.insert_batch(&slots).map_err(|e| c.graph_error(e))?;
        {
            let mut map = c.ids.write();
            for (&id, slot) in ids.iter().zip(&slots) {
                map.set(id, slot.0);
            }
        }
        {
            let mut store = c.payloads.write();
            for (i, (&id, slot)) in ids.iter().zip(&slots).enumerate() {
                let meta = payloads.and_then(|p| p[i].metadata.as_ref());
                store.put(id, old[i], slot.0, &encoded[i], meta);
            }
        }
        for slot in old.into_iter().flatten() {
            c.retire(slot)?;
        }
        Ok(())
    }
}

/// [`Error::InvalidArgument`] for no ids, [`Error::DuplicateId`] for an id given twice.
fn check_ids(ids: &[u64]) -> Result<()> {
    match ids {
        [] => Err(Error::InvalidArgument("empty batch".into())),
        [_] => Ok(()),
        _ => {
            let mut seen = HashSet::with_capacity(ids.len());
            match ids.iter().find(|&&id| !seen.insert(id)) {
                Some(&id) => Err(Error::DuplicateId { id }),
                None => Ok(()),
            }
        }
    }
}
