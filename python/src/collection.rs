//! The `Collection` class: add, upsert, delete, get and search vectors by id, with numpy
//! arrays in and out and the GIL released while the work runs.

use std::collections::HashSet;
use std::sync::{Arc, Weak};

use fletchdb::{Collection, CollectionConfig, IdFilter, SearchOptions};
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::convert::{self, check_not_sentinel, count, push_padded};
use crate::errors::{invalid, new_err, Kind, OrRaise};
use crate::handle::{drop_detached, Revocable};

/// Most ids times `k` one search call returns (its arrays take 12 bytes an entry).
const MAX_RESULTS: usize = 1 << 28;

/// One named collection of vectors in a `Database`, made by `create_collection` or
/// `collection`.
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

    /// `add` (insert semantics) or `upsert`.
    fn put(
        &self,
        py: Python<'_>,
        ids: &Bound<'_, PyAny>,
        vectors: &Bound<'_, PyAny>,
        replace: bool,
    ) -> PyResult<()> {
        let ids = convert::ids(ids)?;
        let vectors = convert::vectors(vectors)?;
        let ids = ids.as_slice().or_raise(py)?;
        let flat = vectors.flat().or_raise(py)?;
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
        py.detach(|| {
            self.handle.with(|c| match (ids, replace) {
                (&[id], false) => c.insert(id, flat),
                (&[id], true) => c.upsert(id, flat),
                (_, false) => c.insert_batch(ids, flat),
                (_, true) => c.upsert_batch(ids, flat),
            })
        })
        .or_raise(py)
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
    /// Adds vectors under new ids: `ids` is one integer with one vector (1-D), or a
    /// sequence of n integers with an (n, dim) array. An id the collection holds already,
    /// or one given twice, raises `DuplicateIdError` and nothing is added (the batch is
    /// checked as a whole first). A returned call is durable as the database's durability
    /// mode says.
    fn add(
        &self,
        py: Python<'_>,
        ids: &Bound<'_, PyAny>,
        vectors: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        self.put(py, ids, vectors, false)
    }

    /// As `add`, but an id the collection holds has its vector replaced.
    fn upsert(
        &self,
        py: Python<'_>,
        ids: &Bound<'_, PyAny>,
        vectors: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        self.put(py, ids, vectors, true)
    }

    /// Removes ids (one integer or a sequence) and their vectors. Returns how many were
    /// there; absent ids are skipped, an id given twice counts once, and an empty
    /// sequence returns 0. The ids are removed together, in one log group: only a failure
    /// of the log (or a crash) during the call can leave part of them removed.
    fn delete(&self, py: Python<'_>, ids: &Bound<'_, PyAny>) -> PyResult<usize> {
        let ids = convert::ids(ids)?;
        let ids = ids.as_slice().or_raise(py)?;
        py.detach(|| {
            let ids = first_occurrences(ids);
            if ids.is_empty() {
                // Still ClosedError once closed, like every other call.
                return self.handle.with(|_| Ok(0));
            }
            self.handle.with(|c| c.delete_batch(&ids))
        })
        .or_raise(py)
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
            Err(id) => Err(new_err(
                py,
                Kind::IdNotFound,
                format!("id {id} not found in collection {:?}", self.name),
                &[("id", id.into_pyobject(py)?.into_any())],
            )),
        }
    }

    /// The `k` nearest neighbours of each query, closest first.
    ///
    /// `queries` is one vector (1-D) or an (nq, dim) array. Returns `(ids, distances)`:
    /// uint64 and float32 arrays of shape (k,) for one vector, (nq, k) for an array.
    /// Where fewer than `k` vectors qualify (a small collection or a narrow filter), the
    /// rows are padded with id `NO_ID` (`2**64 - 1`) and distance `inf`. Distances are
    /// squared L2, `1 - dot` or `1 - cos` by the collection's metric. `ef` (at least `k`
    /// is used) trades speed for recall. `filter_ids` restricts results to these ids;
    /// when they are few, the search is exact. Several queries run in parallel on all
    /// cores.
    #[pyo3(signature = (queries, k = 10, ef = 64, filter_ids = None))]
    fn search(
        &self,
        py: Python<'_>,
        queries: &Bound<'_, PyAny>,
        k: i64,
        ef: i64,
        filter_ids: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let queries = convert::vectors(queries)?;
        let k = count("k", k, 1).or_raise(py)?;
        let ef = count("ef", ef, 1).or_raise(py)?;
        queries.check_dim(self.config.dim).or_raise(py)?;
        let rows = queries.rows;
        if rows.checked_mul(k).is_none_or(|n| n > MAX_RESULTS) {
            return Err(invalid(format!(
                "{rows} queries x k = {k} results is more than one call returns ({MAX_RESULTS})"
            )))
            .or_raise(py);
        }
        let filter = filter_ids.map(convert::ids).transpose()?;
        let allowed = filter
            .as_ref()
            .map(|f| f.as_slice())
            .transpose()
            .or_raise(py)?;
        let flat = queries.flat().or_raise(py)?;
        let (ids, dists) = py
            .detach(|| {
                self.handle.with(|c| {
                    let opts = SearchOptions {
                        ef,
                        filter: allowed.map(IdFilter::Ids),
                        matching: None,
                    };
                    let mut ids = Vec::with_capacity(rows * k);
                    let mut dists = Vec::with_capacity(rows * k);
                    if rows == 1 {
                        push_padded(&c.search(flat, k, &opts)?, k, &mut ids, &mut dists);
                    } else if rows > 1 {
                        for hits in c.search_batch(flat, k, &opts)? {
                            push_padded(&hits, k, &mut ids, &mut dists);
                        }
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

    /// Counts and on-disk sizes, as a dict: `live`, `tombstones` (deleted or replaced
    /// vectors the next checkpoint heals the graph around), `free_slots` (freed, taken by
    /// new vectors before the store grows), `slots`, `vector_bytes`, `graph_bytes`,
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
        d.set_item("tombstones", s.tombstones)?;
        d.set_item("free_slots", s.free_slots)?;
        d.set_item("slots", s.slots)?;
        d.set_item("vector_bytes", s.vector_bytes)?;
        d.set_item("graph_bytes", s.graph_bytes)?;
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

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let name = self.name.as_str().into_pyobject(py)?.repr()?;
        Ok(format!(
            "<fletchdb.Collection {name} dim={} metric='{}'>",
            self.config.dim,
            self.metric()
        ))
    }
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
