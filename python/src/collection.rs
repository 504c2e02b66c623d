//! The `Collection` class: add, upsert, update, delete, get and search records by id and
//! by `where` filter, with numpy arrays in and out and the GIL released while the work
//! runs. (Metadata, documents and filters are read and written by `payload.rs`.)

use std::collections::HashSet;
use std::sync::{Arc, Weak};

use fletchdb::{Collection, CollectionConfig, IdFilter, Payload, SearchOptions, Where};
use numpy::IntoPyArray;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use rayon::prelude::*;

use crate::convert::{self, check_not_sentinel, count, NO_ID};
use crate::errors::{invalid, new_err, Kind, OrRaise};
use crate::handle::{drop_detached, Revocable};
use crate::payload;
use crate::threads::Threads;

/// Most ids times `k` one search call returns (its arrays take 12 bytes an entry).
const MAX_RESULTS: usize = 1 << 28;

/// One named collection of records in a `Database`, made by `create_collection` or
/// `collection`: a vector under each id, with optional metadata (a dict) and document
/// (a str).
///
/// Ids are non-negative integers below `2**64 - 1`; vectors are float array-likes (numpy
/// arrays of any float or integer dtype, lists), stored as float32. Every method that does
/// work releases the GIL, so Python threads search and write in parallel. Raises
/// `ClosedError` once its database is closed and `CollectionNotFoundError` once the
/// collection is dropped.
#[pyclass(frozen, module = "fletchdb", name = "Collection")]
pub(crate) struct PyCollection {
    handle: Arc<Revocable<Collection>>,
    name: String,
    config: CollectionConfig,
}

impl PyCollection {
    /// A Python collection over `c`, and the weak handle its database revokes on close.
    pub(crate) fn new(c: Collection) -> (PyCollection, Weak<Revocable<Collection>>) {
        let name = c.name().to_string();
        let config = *c.config();
        let handle = Arc::new(Revocable::new(c));
        let weak = Arc::downgrade(&handle);
        (
            PyCollection {
                handle,
                name,
                config,
            },
            weak,
        )
    }

    /// `add` (insert semantics) or `upsert`, with metadatas and documents if given, on
    /// `threads`.
    #[allow(clippy::too_many_arguments)] // add's and upsert's Python arguments, passed on
    fn put(
        &self,
        py: Python<'_>,
        ids: &Bound<'_, PyAny>,
        vectors: &Bound<'_, PyAny>,
        metadatas: Option<&Bound<'_, PyAny>>,
        documents: Option<&Bound<'_, PyAny>>,
        replace: bool,
        threads: Option<i64>,
    ) -> PyResult<()> {
        let threads = Threads::parse(threads).or_raise(py)?;
        let ids = convert::ids(ids)?;
        let one = ids.is_one();
        let vectors = convert::vectors(vectors)?;
        let ids = ids.as_slice().or_raise(py)?;
        let flat = vectors.flat().or_raise(py)?;
        let payloads = payload::payloads(metadatas, documents, ids.len(), one)?;
        if ids.is_empty() && flat.is_empty() {
            return Ok(());
        }
        vectors.check_dim(self.config.dim).or_raise(py)?;
        if vectors.rows != ids.len() {
            return Err(invalid(format!(
                "{} ids but {} vectors",
                ids.len(),
                vectors.rows
            )))
            .or_raise(py);
        }
        check_not_sentinel(ids).or_raise(py)?;
        let put = |c: &Collection| match (ids, &payloads, replace) {
            (_, Some(p), false) => c.insert_with(ids, flat, p),
            (_, Some(p), true) => c.upsert_with(ids, flat, p),
            (&[id], None, false) => c.insert(id, flat),
            (&[id], None, true) => c.upsert(id, flat),
            (_, None, false) => c.insert_batch(ids, flat),
            (_, None, true) => c.upsert_batch(ids, flat),
        };
        py.detach(|| {
            self.handle.with(|c| {
                // One id is inserted on this thread whatever `threads` says (nothing to
                // split), so it skips the pool's hand-off.
                if ids.len() == 1 {
                    put(c)
                } else {
                    threads.install(|| put(c))
                }
            })
        })
        .or_raise(py)
    }

    /// The payloads of `ids`, in their order; `IdNotFoundError` for the first id the
    /// collection does not hold.
    fn payloads(&self, py: Python<'_>, ids: &Bound<'_, PyAny>) -> PyResult<Vec<Payload>> {
        let ids = convert::ids(ids)?;
        let ids = ids.as_slice().or_raise(py)?;
        let found = py
            .detach(|| self.handle.with(|c| c.get_payloads(ids)))
            .or_raise(py)?;
        found
            .into_iter()
            .zip(ids)
            .map(|(p, &id)| p.ok_or_else(|| self.not_found(py, id)))
            .collect()
    }

    /// `IdNotFoundError` for `id`.
    fn not_found(&self, py: Python<'_>, id: u64) -> PyErr {
        let Ok(attr) = id.into_pyobject(py);
        new_err(
            py,
            Kind::IdNotFound,
            format!("id {id} not found in collection {:?}", self.name),
            &[("id", attr.into_any())],
        )
    }
}

impl Drop for PyCollection {
    fn drop(&mut self) {
        if let Some(c) = self.handle.revoke() {
            drop_detached(c);
        }
    }
}

#[pymethods]
impl PyCollection {
    /// Adds records under new ids: `ids` is one integer with one vector (1-D), or a
    /// sequence of n integers with an (n, dim) array. `metadatas` (a list of dicts or
    /// None, one per id) and `documents` (a list of str or None) go with them; with one
    /// integer id, a lone dict or str may stand for the one-element list. Metadata values
    /// are str, int, float (finite), bool, None or a list of str, int, float and bool;
    /// anything else (a nested dict, a list holding None) raises `InvalidArgumentError`
    /// naming the key. An id the collection holds already, or one given twice, raises
    /// `DuplicateIdError`. The call is checked as a whole first: when it raises, nothing
    /// is added. A returned call is durable as the database's durability mode says.
    ///
    /// `threads` (keyword-only) is how many threads insert a batch into the graph: None
    /// (the default) uses every core, `n` a pool of `n` threads kept for later calls;
    /// 0, a negative number or more than 1024 raises `InvalidArgumentError`.
    #[pyo3(signature = (ids, vectors, metadatas = None, documents = None, *, threads = None))]
    fn add(
        &self,
        py: Python<'_>,
        ids: &Bound<'_, PyAny>,
        vectors: &Bound<'_, PyAny>,
        metadatas: Option<&Bound<'_, PyAny>>,
        documents: Option<&Bound<'_, PyAny>>,
        threads: Option<i64>,
    ) -> PyResult<()> {
        self.put(py, ids, vectors, metadatas, documents, false, threads)
    }

    /// As `add`, but an id the collection holds has its whole record replaced: vector,
    /// metadata and document (one not given is cleared; `update` changes metadata or
    /// documents alone). `threads` as in `add`.
    #[pyo3(signature = (ids, vectors, metadatas = None, documents = None, *, threads = None))]
    fn upsert(
        &self,
        py: Python<'_>,
        ids: &Bound<'_, PyAny>,
        vectors: &Bound<'_, PyAny>,
        metadatas: Option<&Bound<'_, PyAny>>,
        documents: Option<&Bound<'_, PyAny>>,
        threads: Option<i64>,
    ) -> PyResult<()> {
        self.put(py, ids, vectors, metadatas, documents, true, threads)
    }

    /// Replaces the metadata and/or documents of existing ids, keeping their vectors:
    /// `metadatas` and `documents` as in `add`, a `None` entry clearing that id's metadata
    /// (or document); an argument not given is kept. Raises `IdNotFoundError` for an id
    /// the collection does not hold and `DuplicateIdError` for an id given twice; when it
    /// raises, nothing is changed.
    #[pyo3(signature = (ids, metadatas = None, documents = None))]
    fn update(
        &self,
        py: Python<'_>,
        ids: &Bound<'_, PyAny>,
        metadatas: Option<&Bound<'_, PyAny>>,
        documents: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let ids = convert::ids(ids)?;
        let one = ids.is_one();
        let ids = ids.as_slice().or_raise(py)?;
        let n = ids.len();
        let metas = metadatas
            .map(|m| payload::metadatas(m, n, one))
            .transpose()?;
        let docs = documents
            .map(|d| payload::documents(d, n, one))
            .transpose()?;
        py.detach(|| {
            if ids.is_empty() {
                return self.handle.with(|_| Ok(()));
            }
            self.handle
                .with(|c| c.update(ids, metas.as_deref(), docs.as_deref()))
        })
        .or_raise(py)
    }

    /// Removes records by id, by `where` filter, or both (the given ids that match the
    /// filter); returns how many were removed. Giving neither raises
    /// `InvalidArgumentError`. Absent ids are skipped, an id given twice counts once, and
    /// an empty sequence removes nothing. The records are removed together, in one log
    /// group: only a failure of the log (or a crash) during the call can leave part of
    /// them removed.
    #[pyo3(signature = (ids = None, r#where = None))]
    fn delete(
        &self,
        py: Python<'_>,
        ids: Option<&Bound<'_, PyAny>>,
        r#where: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<usize> {
        let filter = r#where.map(payload::where_filter).transpose()?;
        let Some(ids) = ids else {
            let Some(w) = filter else {
                return Err(invalid("delete needs ids, a where filter, or both")).or_raise(py);
            };
            return py
                .detach(|| self.handle.with(|c| c.delete_where(&w)))
                .or_raise(py);
        };
        let ids = convert::ids(ids)?;
        let ids = ids.as_slice().or_raise(py)?;
        py.detach(|| {
            let mut ids = first_occurrences(ids);
            if let (Some(w), false) = (&filter, ids.is_empty()) {
                ids = self.handle.with(|c| matching(c, &ids, w))?;
            }
            if ids.is_empty() {
                // Still ClosedError once closed, like every other call.
                return self.handle.with(|_| Ok(0));
            }
            self.handle.with(|c| c.delete_batch(&ids))
        })
        .or_raise(py)
    }

    /// The metadata of `ids` as a list in their order (one-element for one integer id):
    /// a dict per id, or None for an id without metadata. Values come back as they went
    /// in (an int as int, a float as float, a tuple as a list). Raises `IdNotFoundError`
    /// (a `KeyError`) for the first id the collection does not hold.
    fn get_metadata<'py>(
        &self,
        py: Python<'py>,
        ids: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyList>> {
        let out = PyList::empty(py);
        for p in self.payloads(py, ids)? {
            match &p.metadata {
                Some(m) => out.append(payload::metadata_to_py(py, m)?)?,
                None => out.append(py.None())?,
            }
        }
        Ok(out)
    }

    /// The documents of `ids` as a list in their order (one-element for one integer id):
    /// a str per id, or None for an id without a document. Raises `IdNotFoundError` for
    /// the first id the collection does not hold.
    fn get_documents(
        &self,
        py: Python<'_>,
        ids: &Bound<'_, PyAny>,
    ) -> PyResult<Vec<Option<String>>> {
        Ok(self
            .payloads(py, ids)?
            .into_iter()
            .map(|p| p.document)
            .collect())
    }

    /// How many records match the `where` filter; all records when it is None.
    #[pyo3(signature = (r#where = None))]
    fn count(&self, py: Python<'_>, r#where: Option<&Bound<'_, PyAny>>) -> PyResult<usize> {
        let filter = r#where.map(payload::where_filter).transpose()?;
        py.detach(|| {
            self.handle.with(|c| match &filter {
                Some(w) => c.count_where(w),
                None => Ok(c.len()),
            })
        })
        .or_raise(py)
    }

    /// Builds now the links that make searches with this `where` fast, if it can use
    /// any: a filter matching 8,192 records or more, and at most half of them.
    /// Otherwise the second such search asks the background thread to build them, and
    /// searches run by the usual plans until they are in. Returns True if it built
    /// links; False if the filter cannot use any or they are current.
    #[pyo3(signature = (r#where))]
    fn prepare_filter(&self, py: Python<'_>, r#where: &Bound<'_, PyAny>) -> PyResult<bool> {
        let filter = payload::where_filter(r#where)?;
        py.detach(|| self.handle.with(|c| c.prepare_filter(&filter)))
            .or_raise(py)
    }

    /// The ids of the records that match the `where` filter (all ids when it is None),
    /// ascending, as a uint64 array.
    #[pyo3(signature = (r#where = None))]
    fn ids(&self, py: Python<'_>, r#where: Option<&Bound<'_, PyAny>>) -> PyResult<Py<PyAny>> {
        let filter = r#where.map(payload::where_filter).transpose()?;
        let ids = py
            .detach(|| {
                self.handle.with(|c| match &filter {
                    Some(w) => c.ids_where(w),
                    None => c.ids(),
                })
            })
            .or_raise(py)?;
        Ok(ids.into_pyarray(py).into_any().unbind())
    }

    /// The stored vectors of `ids` as float32: a 1-D array for one integer id, an
    /// (n, dim) array for a sequence. Cosine collections store vectors normalised. Raises
    /// `IdNotFoundError` (a `KeyError`) for the first id the collection does not hold; use
    /// `id in collection` to test.
    fn get(&self, py: Python<'_>, ids: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let ids = convert::ids(ids)?;
        let one = ids.is_one();
        let ids = ids.as_slice().or_raise(py)?;
        let dim = self.config.dim;
        let found = py
            .detach(|| {
                let vectors = self.handle.with(|c| c.get_batch(ids))?;
                let mut flat = Vec::with_capacity(ids.len() * dim);
                for (v, &id) in vectors.iter().zip(ids) {
                    match v {
                        Some(v) => flat.extend_from_slice(v),
                        None => return Ok(Err(id)),
                    }
                }
                Ok(Ok(flat))
            })
            .or_raise(py)?;
        match found {
            Ok(flat) => convert::matrix(py, flat, ids.len(), dim, one),
            Err(id) => Err(self.not_found(py, id)),
        }
    }

    /// The `k` nearest neighbours of each query, closest first.
    ///
    /// `queries` is one vector (1-D) or an (nq, dim) array. Returns `(ids, distances)`:
    /// uint64 and float32 arrays of shape (k,) for one vector, (nq, k) for an array.
    /// Where fewer than `k` vectors qualify (a small collection or a narrow filter), the
    /// rows are padded with id `NO_ID` (`2**64 - 1`) and distance `inf`. Distances are
    /// squared L2, `1 - dot` or `1 - cos` by the collection's metric. `ef` (at least `k`
    /// is used) trades speed for recall. `where` restricts results to records whose
    /// metadata matches (Chroma's grammar: `{"key": value}`, `{"key": {"$op": arg}}` with
    /// `$eq $ne $gt $gte $lt $lte $in $nin $contains`, and `$and`/`$or` lists);
    /// `filter_ids` to these ids; both, to ids in `filter_ids` that match. When few
    /// records qualify, the search is exact.
    ///
    /// `threads` (keyword-only) is how many threads search an (nq, dim) array: None (the
    /// default) uses every core, 1 searches the queries one after another on the calling
    /// thread, `n` on a pool of `n` threads kept for later calls; 0, a negative number or
    /// more than 1024 raises `InvalidArgumentError`. The results do not depend on it.
    #[pyo3(signature = (queries, k = 10, ef = 64, r#where = None, filter_ids = None, *, threads = None))]
    #[allow(clippy::too_many_arguments)] // the Python signature
    fn search(
        &self,
        py: Python<'_>,
        queries: &Bound<'_, PyAny>,
        k: i64,
        ef: i64,
        r#where: Option<&Bound<'_, PyAny>>,
        filter_ids: Option<&Bound<'_, PyAny>>,
        threads: Option<i64>,
    ) -> PyResult<Py<PyAny>> {
        let queries = convert::vectors(queries)?;
        let k = count("k", k, 1).or_raise(py)?;
        let ef = count("ef", ef, 1).or_raise(py)?;
        let threads = Threads::parse(threads).or_raise(py)?;
        queries.check_dim(self.config.dim).or_raise(py)?;
        let rows = queries.rows;
        if rows.checked_mul(k).is_none_or(|n| n > MAX_RESULTS) {
            return Err(invalid(format!(
                "{rows} queries x k = {k} results is more than one call returns ({MAX_RESULTS})"
            )))
            .or_raise(py);
        }
        let matching = r#where.map(payload::where_filter).transpose()?;
        let filter = filter_ids.map(convert::ids).transpose()?;
        let allowed = filter
            .as_ref()
            .map(|f| f.as_slice())
            .transpose()
            .or_raise(py)?;
        let flat = queries.flat().or_raise(py)?;
        let dim = self.config.dim;
        let (ids, dists) = py
            .detach(|| {
                self.handle.with(|c| {
                    let opts = SearchOptions {
                        ef,
                        filter: allowed.map(IdFilter::Ids),
                        matching: matching.as_ref(),
                    };
                    let mut ids = vec![NO_ID; rows * k];
                    let mut dists = vec![f32::INFINITY; rows * k];
                    let job = Rows {
                        c,
                        opts: &opts,
                        k,
                        dim,
                    };
                    if rows <= 1 || threads.is_one() {
                        job.one_by_one(flat, &mut ids, &mut dists)?;
                    } else {
                        threads.install(|| job.in_parallel(flat, &mut ids, &mut dists))?;
                    }
                    Ok((ids, dists))
                })
            })
            .or_raise(py)?;
        convert::results(py, ids, dists, rows, k, queries.one)
    }

    /// Returns once every write acknowledged so far (in any collection of the database)
    /// is on stable storage, whatever the durability mode.
    fn flush(&self, py: Python<'_>) -> PyResult<()> {
        py.detach(|| self.handle.with(Collection::flush))
            .or_raise(py)
    }

    /// Takes a checkpoint of the whole database now (see `Database.checkpoint`).
    fn checkpoint(&self, py: Python<'_>) -> PyResult<()> {
        py.detach(|| self.handle.with(Collection::checkpoint))
            .or_raise(py)
    }

    /// Counts and on-disk sizes, as a dict: `live`, `unlinked` (replayed at open, not yet
    /// in the graph: searched exactly until the background thread links them),
    /// `tombstones` (deleted or replaced
    /// vectors the next checkpoint heals the graph around), `free_slots` (freed, taken by
    /// new vectors before the store grows), `slots`, `code_bytes` (memory of the compact
    /// traversal codes; 0 right after an open until the background thread has encoded
    /// them), `filter_links` and `filter_links_bytes` (metadata values with links among
    /// their records, see `prepare_filter`, and the memory they hold),
    /// `vector_bytes`, `graph_bytes`, `id_map_bytes`,
    /// `other_bytes` (the collection's files, apparent sizes), `log_bytes` (the
    /// database's log), `last_checkpoint_lsn` and `last_checkpoint_at` (seconds since the
    /// Unix epoch, or None), and `last_compaction_at` (this collection's last compaction
    /// since the database was opened, or None).
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = py
            .detach(|| self.handle.with(Collection::stats))
            .or_raise(py)?;
        let d = PyDict::new(py);
        d.set_item("live", s.live)?;
        d.set_item("unlinked", s.unlinked)?;
        d.set_item("tombstones", s.tombstones)?;
        d.set_item("free_slots", s.free_slots)?;
        d.set_item("slots", s.slots)?;
        d.set_item("code_bytes", s.code_bytes)?;
        d.set_item("filter_links", s.filter_links.0)?;
        d.set_item("filter_links_bytes", s.filter_links.1)?;
        d.set_item("vector_bytes", s.vector_bytes)?;
        d.set_item("graph_bytes", s.graph_bytes)?;
        d.set_item("id_map_bytes", s.id_map_bytes)?;
        d.set_item("other_bytes", s.other_bytes)?;
        d.set_item("log_bytes", s.log_bytes)?;
        d.set_item("last_checkpoint_lsn", s.last_checkpoint_lsn)?;
        let at = s
            .last_checkpoint_at
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_secs_f64());
        d.set_item("last_checkpoint_at", at)?;
        let at = s
            .last_compaction_at
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_secs_f64());
        d.set_item("last_compaction_at", at)?;
        Ok(d)
    }

    /// Compacts the collection now: deleted vectors' slots are healed out of the graph,
    /// live vectors move into free slots at the front of the store, the files past the
    /// last live vector are deleted and free slots zeroed, so the collection's files
    /// shrink to what it holds and deleted vectors' bytes leave the disk. Searches and
    /// writes go on meanwhile. Returns a dict: `moved`, `slots_before`, `slots_after`,
    /// `files_removed`, `bytes_before`, `bytes_after` (the collection's files) and
    /// `longest_pause_s` (the longest a writer waited on it).
    fn compact<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let done = py
            .detach(|| self.handle.with(Collection::compact))
            .or_raise(py)?;
        let d = PyDict::new(py);
        d.set_item("moved", done.moved)?;
        d.set_item("slots_before", done.slots_before)?;
        d.set_item("slots_after", done.slots_after)?;
        d.set_item("files_removed", done.files_removed)?;
        d.set_item("bytes_before", done.bytes_before)?;
        d.set_item("bytes_after", done.bytes_after)?;
        d.set_item("longest_pause_s", done.longest_pause.as_secs_f64())?;
        Ok(d)
    }

    /// The number of vectors.
    fn __len__(&self, py: Python<'_>) -> PyResult<usize> {
        self.handle.with(|c| Ok(c.len())).or_raise(py)
    }

    /// True if the collection holds this id (False for anything that is not a valid id).
    fn __contains__(&self, py: Python<'_>, id: &Bound<'_, PyAny>) -> PyResult<bool> {
        let Ok(id) = id.extract::<u64>() else {
            return Ok(false);
        };
        self.handle.with(|c| c.contains(id)).or_raise(py)
    }

    /// The collection's name.
    #[getter]
    fn name(&self) -> &str {
        &self.name
    }

    /// Components per vector.
    #[getter]
    fn dim(&self) -> usize {
        self.config.dim
    }

    /// The distance: `"l2"` (squared Euclidean), `"ip"` (`1 - dot`) or `"cosine"`.
    #[getter]
    fn metric(&self) -> &'static str {
        self.config.metric.name()
    }

    /// HNSW links per node.
    #[getter]
    fn m(&self) -> usize {
        self.config.m
    }

    /// Candidates considered per insert.
    #[getter]
    fn ef_construction(&self) -> usize {
        self.config.ef_construction
    }

    /// The compact copy searches walk: `"none"`, `"f16"` or `"i8"`.
    #[getter]
    fn quantization(&self) -> &'static str {
        self.config.quantization.name()
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let name = self.name.as_str().into_pyobject(py)?.repr()?;
        Ok(format!(
            "<fletchdb.Collection {name} dim={} metric='{}'>",
            self.config.dim,
            self.metric()
        ))
    }
}

/// One search call's queries, each written into its row of the result arrays (which
/// come pre-filled with `NO_ID` and `inf`, the padding of short rows): no per-call
/// vector of hit lists, no second pass to pad and copy them.
struct Rows<'a> {
    c: &'a Collection,
    opts: &'a SearchOptions<'a>,
    k: usize,
    dim: usize,
}

impl Rows<'_> {
    /// Searches `query` and writes its hits into `ids` and `dists` (`k` each).
    fn one(&self, query: &[f32], ids: &mut [u64], dists: &mut [f32]) -> fletchdb::Result<()> {
        let hits = self.c.search(query, self.k, self.opts)?;
        for ((h, id), d) in hits.iter().zip(ids).zip(dists) {
            *id = h.id;
            *d = h.distance;
        }
        Ok(())
    }

    /// Every query, one after another on this thread.
    fn one_by_one(&self, flat: &[f32], ids: &mut [u64], dists: &mut [f32]) -> fletchdb::Result<()> {
        flat.chunks(self.dim)
            .zip(ids.chunks_mut(self.k))
            .zip(dists.chunks_mut(self.k))
            .try_for_each(|((q, i), d)| self.one(q, i, d))
    }

    /// Every query, in parallel on the current rayon pool (the caller installs one).
    fn in_parallel(
        &self,
        flat: &[f32],
        ids: &mut [u64],
        dists: &mut [f32],
    ) -> fletchdb::Result<()> {
        flat.par_chunks(self.dim)
            .zip(ids.par_chunks_mut(self.k))
            .zip(dists.par_chunks_mut(self.k))
            .try_for_each(|((q, i), d)| self.one(q, i, d))
    }
}

/// Those of `ids` whose records match `w`, in their order (absent ids are dropped).
fn matching(c: &Collection, ids: &[u64], w: &Where) -> fletchdb::Result<Vec<u64>> {
    let payloads = c.get_payloads(ids)?;
    let empty = fletchdb::Metadata::new();
    Ok(ids
        .iter()
        .zip(payloads)
        .filter(|(_, p)| {
            p.as_ref()
                .is_some_and(|p| w.matches(p.metadata.as_ref().unwrap_or(&empty)))
        })
        .map(|(&id, _)| id)
        .collect())
}

/// `ids` without repeats, each at its first place: the core crate's `delete_batch` refuses
/// an id given twice, while `Collection.delete` in Python has always let one through.
fn first_occurrences(ids: &[u64]) -> Vec<u64> {
    let mut seen = HashSet::with_capacity(ids.len());
    ids.iter().copied().filter(|&id| seen.insert(id)).collect()
}

/// Adds `Collection` to the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyCollection>()
}
