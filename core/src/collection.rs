//! [`Collection`]: one named set of vectors, what it is ([`CollectionInner`]) and its
//! reads: `get`, `contains`, `len`, search. The write path is in `write.rs`.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use fletchdb_index::{Filter, Hnsw, IndexError, Neighbor, SearchRequest, Slot, SlotSet};
use fletchdb_storage::catalog::CollectionId;
use fletchdb_storage::io::OsDir;
use fletchdb_storage::vectors::VectorStore;
use parking_lot::{Mutex, RwLock};
use rayon::prelude::*;
use roaring::RoaringBitmap;

use crate::database::Handle;
use crate::error::{Error, Result};
use crate::filter_links::LinksWanted;
use crate::free_slots::FreeSlots;
use crate::graph_files;
use crate::ids::{IdMap, Ids};
use crate::options::{CollectionConfig, Hit, IdFilter, SearchOptions};
use crate::payload::links::{filter_key, LinkState, LINK_FROM};
use crate::payload::matches::Matches;
use crate::payload::store::Payloads;
use crate::source::StoreVectors;
use crate::unlinked::Unlinked;

/// The open collections of a database, by name.
pub(crate) type Collections = RwLock<BTreeMap<String, Arc<CollectionInner>>>;

/// The directory of collection `cid` in database `db`.
pub(crate) fn collection_dir(db: &Path, cid: CollectionId) -> PathBuf {
    db.join("c").join(cid.0.to_string())
}

/// What a collection is, shared by all its handles.
#[derive(Debug)]
pub(crate) struct CollectionInner {
    pub(crate) cid: CollectionId,
    pub(crate) name: String,
    pub(crate) config: CollectionConfig,
    /// Its directory, through the file seam, for the graph files.
    pub(crate) files: OsDir,
    pub(crate) index: Hnsw<StoreVectors>,
    pub(crate) ids: IdMap,
    /// The records' metadata and documents, and the index over the metadata. Writers
    /// take it after the id map, never while holding it.
    pub(crate) payloads: RwLock<Payloads>,
    /// Slots new vectors can go into again.
    pub(crate) free: FreeSlots,
    pub(crate) dropped: AtomicBool,
    /// One compaction at a time (`compact.rs`).
    pub(crate) compacting: Mutex<()>,
    /// Raised while a compaction moves vectors: searches then walk for twice `k`.
    pub(crate) moving: AtomicBool,
    /// When the last compaction since open finished, in ms since the Unix epoch; 0 for
    /// none.
    pub(crate) last_compaction_ms: AtomicU64,
    /// Live slots stored but not yet in the graph (replayed at open, being linked in the
    /// background): searches scan them beside the walk.
    pub(crate) unlinked: Unlinked,
    /// The graph file the index was loaded from, whose lists it checks as it first
    /// reads them: what a [`graph_error`](Self::graph_error) names.
    pub(crate) graph_file: Option<PathBuf>,
    /// Filters searches asked links for (`filter_links.rs`).
    pub(crate) links_wanted: Mutex<LinksWanted>,
}

impl CollectionInner {
    pub(crate) fn new(
        cid: CollectionId,
        name: String,
        config: CollectionConfig,
        index: Hnsw<StoreVectors>,
        ids: Ids,
        payloads: Payloads,
        unlinked: Unlinked,
    ) -> Result<CollectionInner> {
        let dir = index.vectors().store.dir();
        let files = OsDir::create(dir).map_err(|source| Error::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let free = index
            .free_slots()
            .into_iter()
            .filter(|s| ids.id_of(s.0).is_none())
            .map(|s| s.0)
            .collect();
        Ok(CollectionInner {
            cid,
            name,
            config,
            files,
            index,
            ids: IdMap::new(ids),
            payloads: RwLock::new(payloads),
            free: FreeSlots::new(free),
            dropped: AtomicBool::new(false),
            compacting: Mutex::new(()),
            moving: AtomicBool::new(false),
            last_compaction_ms: AtomicU64::new(0),
            unlinked,
            graph_file: None,
            links_wanted: Mutex::new(LinksWanted::default()),
        })
    }

    /// The collection with `file` named as the graph file its index was loaded from.
    pub(crate) fn loaded_from(self, file: Option<PathBuf>) -> CollectionInner {
        CollectionInner {
            graph_file: file,
            ..self
        }
    }

    /// The index's error `e` as the database reports it: damage found in the lists
    /// of the graph loaded at open names that file.
    pub(crate) fn graph_error(&self, e: IndexError) -> Error {
        graph_files::index_error(e, self.graph_file.as_deref())
    }

    pub(crate) fn store(&self) -> &VectorStore {
        &self.index.vectors().store
    }

    /// [`Hnsw::search_into`], then the slots of `unlinked` (a snapshot taken before the
    /// walk, see `unlinked.rs`) that an id still points to and the filter admits, scored
    /// exactly and merged in.
    fn search_into<F: Filter + ?Sized>(
        &self,
        query: &[f32],
        request: SearchRequest<'_, F>,
        unlinked: Option<&RoaringBitmap>,
        out: &mut Vec<Neighbor>,
    ) -> Result<()> {
        self.index
            .search_into(query, request, out)
            .map_err(|e| self.graph_error(e))?;
        if let Some(u) = unlinked {
            let ids = self.ids.read_recursive();
            let mapped = u.iter().filter(|&s| ids.id_of(s).is_some()).map(Slot);
            self.index.merge_exact(query, &request, mapped, out)?;
        }
        Ok(())
    }
}

/// A `where` result of more slots than this gets a plain bitmap for the walk to ask
/// (`Matches::for_search`, `payload/dense.rs`): the planner scans fewer exactly at any
/// ef from 11 up (it scans up to 200 per unit of ef), and the bitmap costs a few
/// microseconds, against the 300 µs or more of a scan of that many.
const WALK_BITMAP_ABOVE: usize = 2048;

thread_local! {
    /// Each thread's buffer for raw search results, reused so a search allocates only
    /// the hits it returns.
    static NEIGHBORS: RefCell<Vec<Neighbor>> = const { RefCell::new(Vec::new()) };
}

/// A handle on one collection of a [`Database`](crate::Database). Cheap to clone, `Send`
/// and `Sync`: any number of threads insert, delete and search through it at once. It
/// keeps the database open: the database closes when the last `Database` or
/// `Collection` handle is dropped (or at [`Database::close`](crate::Database::close),
/// after which calls fail with [`Error::Closed`]).
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
    pub(crate) db: Arc<Handle>,
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

    /// Checks now every layer-0 list of the graph loaded at open that no search or
    /// write has read yet. An open checks the graph file's header, nodes and upper
    /// layers, and each run of 32 slots' lists where it is first read, so that it need
    /// not read all of them (a warm open of 1,000,000 × 128-d took 31-36 ms this way
    /// against 51-56 ms checking every list). `fletchdb verify` calls this; a
    /// checkpoint does too before it saves the graph.
    ///
    /// ```
    /// use fletchdb::{CollectionConfig, Database, Metric};
    /// let dir = tempfile::tempdir()?;
    /// let db = Database::open(dir.path(), Default::default())?;
    /// let c = db.create_collection("docs", CollectionConfig::new(2, Metric::L2))?;
    /// c.insert_batch(&[1, 2, 3], &[0.0, 1.0, 1.0, 0.0, 1.0, 1.0])?;
    /// db.close()?;
    /// let db = Database::open(dir.path(), Default::default())?;
    /// db.collection("docs")?.check_graph()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Corruption`] naming the graph file and the byte offset of the first
    /// damage found; from then on every search and write of the collection fails so.
    pub fn check_graph(&self) -> Result<()> {
        self.check_live()?;
        self.c
            .index
            .check_lists()
            .map_err(|e| self.c.graph_error(e))
    }

    /// An error if the database was closed or the collection dropped.
    pub(crate) fn check_live(&self) -> Result<()> {
        self.db.check_open()?;
        if self.c.dropped.load(Ordering::Acquire) {
            return Err(Error::CollectionNotFound {
                name: self.c.name.clone(),
            });
        }
        Ok(())
    }

    /// The stored vector of `id` (normalised, for cosine), if the collection holds it.
    ///
    /// # Errors
    /// [`Error::Corruption`] if the stored bytes fail their checksum (damage on disk
    /// is reported, never returned); [`Error::CollectionNotFound`], [`Error::Closed`].
    pub fn get(&self, id: u64) -> Result<Option<Vec<f32>>> {
        Ok(self.get_batch(&[id])?.pop().flatten())
    }

    /// The stored vectors of `ids`, in their order, `None` for an id the collection
    /// does not hold; read under one lock of the id map.
    ///
    /// ```
    /// use fletchdb::{CollectionConfig, Database, Metric, Options};
    /// let dir = tempfile::tempdir()?;
    /// let db = Database::open(dir.path(), Options::default())?;
    /// let c = db.create_collection("pts", CollectionConfig::new(2, Metric::L2))?;
    /// c.insert_batch(&[1, 2], &[1.0, 1.0, 2.0, 2.0])?;
    /// assert_eq!(c.get_batch(&[2, 9, 1])?, [Some(vec![2.0, 2.0]), None, Some(vec![1.0, 1.0])]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// As [`get`](Self::get).
    pub fn get_batch(&self, ids: &[u64]) -> Result<Vec<Option<Vec<f32>>>> {
        self.check_live()?;
        let map = self.c.ids.read();
        let slots: Vec<Option<u32>> = map.find_each(ids).collect();
        // The store is mapped for random access: on a cold disk each vector read below
        // would wait for its own page. Asked for first, in slot order, they are read
        // together (ranges of neighbouring slots as one).
        let mut wanted: Vec<u32> = slots.iter().flatten().copied().collect();
        if wanted.len() > 1 {
            wanted.sort_unstable();
            self.c.store().will_need(&wanted);
        }
        slots
            .into_iter()
            .map(|slot| match slot {
                Some(slot) => Ok(self.c.store().vector_verified(slot)?.map(<[f32]>::to_vec)),
                None => Ok(None),
            })
            .collect()
    }

    /// True if the collection holds `id`.
    ///
    /// # Errors
    /// [`Error::CollectionNotFound`], [`Error::Closed`].
    pub fn contains(&self, id: u64) -> Result<bool> {
        self.check_live()?;
        Ok(self.c.ids.read().find(id).is_some())
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
        // One observation from the walk to the id mapping: a slot a heal freed is not
        // written again until it ends (see `free_slots.rs`).
        c.index.observe(|| {
            // While a compaction moves vectors, one may be found in two slots (mapped to
            // one id below): walk for twice as many, so `k` distinct ids remain. (A
            // compaction raises `moving`, then waits out the searches in progress.)
            let want = if c.moving.load(Ordering::Acquire) || c.ids.has_moves() {
                2 * k
            } else {
                k
            };
            let ef = options.ef.max(want);
            NEIGHBORS.with(|cell| {
                let mut guard = cell.try_borrow_mut();
                let mut fallback = Vec::new();
                let out = match guard.as_deref_mut() {
                    Ok(buf) => buf,
                    Err(_) => &mut fallback, // a filter predicate searching re-entrantly
                };
                // A `where` is evaluated on the metadata indexes, which stay read-locked
                // until the walk ends (a wide range is asked per slot during it). Lock
                // order: the id map before the payloads, everywhere; while the payloads
                // are held here, the id map is read with `read_recursive`, which a writer
                // queued on it does not hold up (a writer never holds one lock while
                // waiting for the other), so a search and a checkpoint cannot deadlock.
                let live = if options.matching.is_some() {
                    self.len()
                } else {
                    0
                };
                let payloads = options.matching.map(|_| c.payloads.read());
                let matches = match (options.matching, &payloads) {
                    (Some(w), Some(p)) => {
                        Some(Matches::of(w, p.index(), live).for_search(WALK_BITMAP_ABOVE))
                    }
                    _ => None,
                };
                let request = SearchRequest::new(want, ef);
                // Before the walk: see `unlinked.rs`.
                let unlinked = c.unlinked.snapshot();
                let unlinked = unlinked.as_deref();
                match (options.filter, matches) {
                    (None, None) => c.search_into(query, request, unlinked, out)?,
                    (None, Some(m)) => {
                        // A wide filter: links among its records, if built.
                        // (The key is written out only for filters that could have
                        // links: a few hundred nanoseconds, against scans of a few
                        // microseconds for the narrowest.)
                        let (state, key) = match (options.matching, &payloads) {
                            (Some(w), Some(p)) if m.len() >= LINK_FROM && m.has_words() => {
                                let key = filter_key(w);
                                let exact = m.has_words();
                                (p.linked().state(&key, m.len(), live, exact), Some(key))
                            }
                            _ => (LinkState::NotLinkable, None),
                        };
                        let request = request.filter(&m);
                        match (state, key) {
                            (LinkState::Usable(links, stale), key) => {
                                if let (true, Some(w), Some(key)) = (stale, options.matching, key) {
                                    c.want_links(w, key, true);
                                }
                                c.search_into(query, request.links(links), unlinked, out)?
                            }
                            (LinkState::Wanted, Some(key)) => {
                                if let Some(w) = options.matching {
                                    c.want_links(w, key, false);
                                }
                                c.search_into(query, request, unlinked, out)?
                            }
                            _ => c.search_into(query, request, unlinked, out)?,
                        }
                    }
                    (Some(IdFilter::Ids(list)), None) => {
                        let set: SlotSet = {
                            let ids = c.ids.read();
                            ids.find_each(list).flatten().map(Slot).collect()
                        };
                        c.search_into(query, request.filter(&set), unlinked, out)?;
                    }
                    (Some(IdFilter::Ids(list)), Some(m)) => {
                        let slots: roaring::RoaringBitmap = {
                            let ids = c.ids.read_recursive();
                            ids.find_each(list).flatten().collect()
                        };
                        let m = m.restrict(slots, live);
                        c.search_into(query, request.filter(&m), unlinked, out)?;
                    }
                    (Some(IdFilter::Predicate(admit)), m) => {
                        let filter = |s: Slot| {
                            m.as_ref().is_none_or(|m| m.admits(s)) && {
                                let id = c.ids.read_recursive().id_of(s.0);
                                id.is_some_and(admit)
                            }
                        };
                        c.search_into(query, request.filter(&filter), unlinked, out)?;
                    }
                }
                drop(payloads);
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
                if want > k {
                    // A vector a compaction is moving may be found in both its slots.
                    let mut seen = std::collections::HashSet::with_capacity(hits.len());
                    hits.retain(|h| seen.insert(h.id));
                    hits.truncate(k);
                }
                Ok(hits)
            })
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
        self.check_rows(queries.len())?;
        queries
            .par_chunks(self.c.config.dim)
            .map(|q| self.search(q, k, options))
            .collect()
    }

    /// [`Error::DimensionMismatch`] unless `len` floats are whole vectors.
    pub(crate) fn check_rows(&self, len: usize) -> Result<usize> {
        let dim = self.c.config.dim;
        if len.is_multiple_of(dim) {
            Ok(len / dim)
        } else {
            Err(Error::DimensionMismatch {
                expected: dim,
                got: len % dim,
            })
        }
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
        self.db.checkpoint().map(|_| ())
    }
}
