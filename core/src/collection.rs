//! [`Collection`]: one named set of vectors, and its single-vector operations and search.

use std::borrow::Cow;
use std::cell::RefCell;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use fletchdb_index::{Hnsw, Neighbor, SearchRequest, Slot, SlotSet};
use fletchdb_storage::catalog::CollectionId;
use fletchdb_storage::vectors::VectorStore;
use rayon::prelude::*;

use crate::database::DbInner;
use crate::error::{Error, Result};
use crate::ids::IdMap;
use crate::options::{CollectionConfig, Hit, IdFilter, Metric, SearchOptions};
use crate::record::{delete_record, put_header, KIND_DELETE, KIND_PUT};
use crate::source::StoreVectors;

/// What a collection is, shared by all its handles.
#[derive(Debug)]
pub(crate) struct CollectionInner {
    pub(crate) cid: CollectionId,
    pub(crate) name: String,
    pub(crate) config: CollectionConfig,
    pub(crate) dir: PathBuf,
    pub(crate) index: Hnsw<StoreVectors>,
    pub(crate) ids: IdMap,
    pub(crate) dropped: AtomicBool,
}

impl CollectionInner {
    pub(crate) fn store(&self) -> &VectorStore {
        &self.index.vectors().store
    }
}

thread_local! {
    /// Each thread's buffer for raw search results, reused so a search allocates only
    /// the hits it returns.
    static NEIGHBORS: RefCell<Vec<Neighbor>> = const { RefCell::new(Vec::new()) };
}

/// A handle on one collection of a [`Database`](crate::Database). Cheap to clone, `Send`
/// and `Sync`: any number of threads insert, delete and search through it at once.
///
/// ```
/// use fletchdb::{CollectionConfig, Database, Metric, Options, SearchOptions};
/// let dir = tempfile::tempdir()?;
/// let db = Database::open(dir.path(), Options::default())?;
/// let docs = db.create_collection("docs", CollectionConfig::new(3, Metric::Cosine))?;
/// docs.insert(1, &[1.0, 0.0, 0.0])?;
/// docs.insert(2, &[0.0, 1.0, 0.0])?;
/// docs.upsert(2, &[0.7, 0.7, 0.0])?;            // replaces the vector of id 2
/// let hits = docs.search(&[1.0, 0.1, 0.0], 2, &SearchOptions::default())?;
/// assert_eq!(hits.iter().map(|h| h.id).collect::<Vec<_>>(), [1, 2]);
/// assert!(docs.delete(1)?);
/// assert_eq!(docs.len(), 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Collection {
    pub(crate) db: Arc<DbInner>,
    pub(crate) c: Arc<CollectionInner>,
}

impl Collection {
    /// The collection's name.
    pub fn name(&self) -> &str {
        &self.c.name
    }

    /// How the collection was created.
    pub fn config(&self) -> &CollectionConfig {
        &self.c.config
    }

    /// Vectors in the collection.
    pub fn len(&self) -> usize {
        self.c.ids.read().len()
    }

    /// True when the collection holds no vector.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// An error if the database was closed or the collection dropped.
    pub(crate) fn check_live(&self) -> Result<()> {
        if self.db.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        if self.c.dropped.load(Ordering::Acquire) {
            return Err(Error::CollectionNotFound {
                name: self.c.name.clone(),
            });
        }
        Ok(())
    }

    /// Checks `v` and brings it into stored form (unit length for cosine).
    pub(crate) fn prepare<'v>(&self, v: &'v [f32]) -> Result<Cow<'v, [f32]>> {
        fletchdb_index::validate(v, self.c.config.dim)?;
        if self.c.config.metric == Metric::Cosine {
            let mut owned = v.to_vec();
            self.c.config.metric.prepare(&mut owned)?;
            Ok(Cow::Owned(owned))
        } else {
            Ok(Cow::Borrowed(v))
        }
    }

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
    /// [`Error::Io`] if the log cannot be written. Nothing is stored when it fails.
    pub fn insert(&self, id: u64, vector: &[f32]) -> Result<()> {
        self.put(id, vector, false)
    }

    /// Adds `vector` under `id`, replacing the vector `id` had, if any.
    ///
    /// # Errors
    /// As [`insert`](Self::insert), but an existing id is not an error.
    pub fn upsert(&self, id: u64, vector: &[f32]) -> Result<()> {
        self.put(id, vector, true)
    }

    fn put(&self, id: u64, vector: &[f32], replace: bool) -> Result<()> {
        self.check_live()?;
        let v = self.prepare(vector)?;
        let c = &*self.c;
        let _id_lock = c.ids.lock(id);
        let old = c.ids.read().slot_of(id);
        if old.is_some() && !replace {
            return Err(Error::DuplicateId { id });
        }
        let _gate = self.db.gate.read();
        self.check_live()?;
        let reservation = c.store().reserve()?;
        let slot = reservation.slot();
        self.db.wal.append(
            KIND_PUT,
            &[&put_header(c.cid, id, slot), bytemuck::cast_slice(&v)],
        )?;
        reservation.write(&v)?;
        c.index.insert(Slot(slot))?;
        c.ids.write().set(id, slot);
        if let Some(old) = old {
            c.index.delete(Slot(old))?;
        }
        Ok(())
    }

    /// Removes `id` and its vector; false if the collection did not hold it.
    ///
    /// # Errors
    /// [`Error::CollectionNotFound`], [`Error::Closed`], or a log failure.
    pub fn delete(&self, id: u64) -> Result<bool> {
        self.check_live()?;
        let c = &*self.c;
        let _id_lock = c.ids.lock(id);
        let Some(slot) = c.ids.read().slot_of(id) else {
            return Ok(false);
        };
        let _gate = self.db.gate.read();
        self.check_live()?;
        self.db
            .wal
            .append(KIND_DELETE, &[&delete_record(c.cid, id)])?;
        c.ids.write().remove(id);
        c.index.delete(Slot(slot))?;
        Ok(true)
    }

    /// The stored vector of `id` (normalised, for cosine), if the collection holds it.
    ///
    /// # Errors
    /// [`Error::Corruption`] if the stored bytes fail their checksum (damage on disk
    /// is reported, never returned); [`Error::CollectionNotFound`], [`Error::Closed`].
    pub fn get(&self, id: u64) -> Result<Option<Vec<f32>>> {
        self.check_live()?;
        let ids = self.c.ids.read();
        match ids.slot_of(id) {
            Some(slot) => Ok(self.c.store().vector_verified(slot)?.map(<[f32]>::to_vec)),
            None => Ok(None),
        }
    }

    /// True if the collection holds `id`.
    ///
    /// # Errors
    /// [`Error::CollectionNotFound`], [`Error::Closed`].
    pub fn contains(&self, id: u64) -> Result<bool> {
        self.check_live()?;
        Ok(self.c.ids.read().slot_of(id).is_some())
    }

    /// The `k` nearest vectors to `query`, closest first. Fewer come back when the
    /// collection (or the filter) holds fewer. Searches never wait for writers. Each
    /// hit's stored vector is checked against its checksum before it is returned.
    ///
    /// # Errors
    /// [`Error::DimensionMismatch`] or [`Error::InvalidVector`] for a bad query;
    /// [`Error::Corruption`] if a hit's vector is damaged on disk;
    /// [`Error::CollectionNotFound`]; [`Error::Closed`].
    pub fn search(&self, query: &[f32], k: usize, options: &SearchOptions<'_>) -> Result<Vec<Hit>> {
        self.check_live()?;
        let c = &*self.c;
        let ef = options.ef.max(k);
        NEIGHBORS.with(|cell| {
            let mut guard = cell.try_borrow_mut();
            let mut fallback = Vec::new();
            let out = match guard.as_deref_mut() {
                Ok(buf) => buf,
                Err(_) => &mut fallback, // a filter predicate searching re-entrantly
            };
            match options.filter {
                None => c.index.search_into(query, SearchRequest::new(k, ef), out)?,
                Some(IdFilter::Ids(list)) => {
                    let set: SlotSet = {
                        let ids = c.ids.read();
                        list.iter()
                            .filter_map(|&id| ids.slot_of(id))
                            .map(Slot)
                            .collect()
                    };
                    c.index
                        .search_into(query, SearchRequest::new(k, ef).filter(&set), out)?;
                }
                Some(IdFilter::Predicate(admit)) => {
                    let filter = |s: Slot| {
                        let id = c.ids.read().id_of(s.0);
                        id.is_some_and(admit)
                    };
                    c.index
                        .search_into(query, SearchRequest::new(k, ef).filter(&filter), out)?;
                }
            }
            let ids = c.ids.read();
            let mut hits = Vec::with_capacity(out.len());
            for n in out.iter() {
                let Some(id) = ids.id_of(n.slot.0) else {
                    continue;
                };
                // A hit is checked against its vector's checksum (k checks of a few
                // hundred bytes: well under a microsecond), so damage is reported, never
                // returned as a result.
                c.store().vector_verified(n.slot.0)?;
                hits.push(Hit {
                    id,
                    distance: n.distance,
                });
            }
            Ok(hits)
        })
    }

    /// [`search`](Self::search) for many queries (back to back in `queries`), in
    /// parallel on rayon's threads.
    ///
    /// # Errors
    /// [`Error::DimensionMismatch`] if `queries.len()` is not a multiple of the
    /// dimension; otherwise the first failing query's error.
    pub fn search_batch(
        &self,
        queries: &[f32],
        k: usize,
        options: &SearchOptions<'_>,
    ) -> Result<Vec<Vec<Hit>>> {
        let dim = self.c.config.dim;
        if !queries.len().is_multiple_of(dim) {
            return Err(Error::DimensionMismatch {
                expected: dim,
                got: queries.len() % dim,
            });
        }
        queries
            .par_chunks(dim)
            .map(|q| self.search(q, k, options))
            .collect()
    }

    /// A durability barrier: returns once every write acknowledged so far, in this
    /// collection or any other, is on stable storage, whatever the durability mode.
    ///
    /// # Errors
    /// [`Error::WalPoisoned`], [`Error::Closed`].
    pub fn flush(&self) -> Result<()> {
        self.db.flush()
    }

    /// Takes a checkpoint of the whole database now (see
    /// [`Database::checkpoint`](crate::Database::checkpoint)).
    ///
    /// # Errors
    /// As [`Database::checkpoint`](crate::Database::checkpoint).
    pub fn checkpoint(&self) -> Result<()> {
        self.db.checkpoint_now().map(|_| ())
    }
}
