//! `fletchdb.open` and the `Database` class: opening, collections, flush, checkpoint,
//! close, and use as a context manager.

use std::path::PathBuf;
use std::sync::{Mutex, PoisonError, Weak};

use fletchdb::{Collection, CollectionConfig, Database, Error, Options, Quantization};
use pyo3::prelude::*;
use pyo3::types::{PyAny, PyDict};

use crate::collection::PyCollection;
use crate::convert;
use crate::errors::OrRaise;
use crate::handle::{drop_detached, Revocable};

/// An open FletchDB database: a directory of named collections of vectors.
///
/// Made by `fletchdb.open(path)`. Use it as a context manager (`with fletchdb.open(p) as
/// db:`) or call `close()`: closing takes a checkpoint, so the next open replays nothing,
/// releases the directory's lock, and makes every `Collection` of this database raise
/// `ClosedError` from then on. One process opens a directory at a time: a second open
/// raises `LockedError`. All methods may be called from any thread; those that do work
/// release the GIL.
#[pyclass(frozen, module = "fletchdb", name = "Database")]
pub(crate) struct PyDatabase {
    db: Revocable<Database>,
    /// The collection objects handed out, revoked by `close`.
    collections: Mutex<Vec<Weak<Revocable<Collection>>>>,
    path: String,
}

impl Drop for PyDatabase {
    fn drop(&mut self) {
        if let Some(db) = self.db.revoke() {
            drop_detached(db);
        }
    }
}

impl PyDatabase {
    /// Wraps a core collection into a Python object that `close` can revoke.
    fn hand_out(&self, c: Collection) -> PyCollection {
        let (py_collection, weak) = PyCollection::new(c);
        let mut list = self
            .collections
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        list.retain(|w| w.strong_count() > 0);
        list.push(weak);
        py_collection
    }
}

#[pymethods]
impl PyDatabase {
    /// Creates a collection of `dim`-component vectors compared by `metric`: `"l2"`
    /// (squared Euclidean distance), `"ip"` (`1 - dot`) or `"cosine"` (`1 - cos`; vectors
    /// are stored normalised). `m` (links per node) and `ef_construction` (candidates
    /// considered per insert) are hnswlib's parameters, with hnswlib's defaults; `seed`
    /// seeds the graph's level assignment. `quantization` (`"none"`, `"f16"` or `"i8"`)
    /// is the compact copy of the vectors that searches walk before re-scoring their
    /// best candidates exactly; recorded with the collection. By default `"i8"` from 32
    /// components up, else `"none"`.
    ///
    /// Raises `CollectionExistsError` if the name is taken, `InvalidArgumentError` for
    /// an empty name or out-of-range parameters.
    #[pyo3(signature = (name, dim, metric, m = 16, ef_construction = 200, *, seed = None, quantization = None))]
    #[allow(clippy::too_many_arguments)] // one per Python argument
    fn create_collection(
        &self,
        py: Python<'_>,
        name: &str,
        dim: i64,
        metric: &str,
        m: i64,
        ef_construction: i64,
        seed: Option<u64>,
        quantization: Option<&str>,
    ) -> PyResult<PyCollection> {
        let config = config(dim, metric, m, ef_construction, seed, quantization).or_raise(py)?;
        let c = py
            .detach(|| self.db.with(|db| db.create_collection(name, config)))
            .or_raise(py)?;
        Ok(self.hand_out(c))
    }

    /// The collection `name`, created as by `create_collection` if it does not exist. An
    /// existing collection must have the same `dim` and `metric`, else
    /// `InvalidArgumentError` naming both; its own `m`, `ef_construction`, seed and quantization are
    /// kept.
    #[pyo3(signature = (name, dim, metric, m = 16, ef_construction = 200, *, seed = None, quantization = None))]
    #[allow(clippy::too_many_arguments)] // one per Python argument
    fn get_or_create_collection(
        &self,
        py: Python<'_>,
        name: &str,
        dim: i64,
        metric: &str,
        m: i64,
        ef_construction: i64,
        seed: Option<u64>,
        quantization: Option<&str>,
    ) -> PyResult<PyCollection> {
        let config = config(dim, metric, m, ef_construction, seed, quantization).or_raise(py)?;
        let c = py
            .detach(|| self.db.with(|db| db.get_or_create_collection(name, config)))
            .or_raise(py)?;
        Ok(self.hand_out(c))
    }

    /// The collection `name`. Raises `CollectionNotFoundError` (a `KeyError`).
    fn collection(&self, py: Python<'_>, name: &str) -> PyResult<PyCollection> {
        let c = self.db.with(|db| db.collection(name)).or_raise(py)?;
        Ok(self.hand_out(c))
    }

    /// Deletes the collection `name` and its files; its `Collection` objects raise
    /// `CollectionNotFoundError` from then on.
    fn drop_collection(&self, py: Python<'_>, name: &str) -> PyResult<()> {
        py.detach(|| self.db.with(|db| db.drop_collection(name)))
            .or_raise(py)
    }

    /// The names of the collections, sorted.
    fn list_collections(&self, py: Python<'_>) -> PyResult<Vec<String>> {
        self.db.with(|db| Ok(db.list_collections())).or_raise(py)
    }

    /// True if a collection of this name exists.
    fn __contains__(&self, py: Python<'_>, name: &str) -> PyResult<bool> {
        self.db
            .with(|db| Ok(db.list_collections().iter().any(|n| n == name)))
            .or_raise(py)
    }

    /// Returns once every write acknowledged so far is on stable storage, whatever the
    /// durability mode.
    fn flush(&self, py: Python<'_>) -> PyResult<()> {
        py.detach(|| self.db.with(Database::flush)).or_raise(py)
    }

    /// Takes a checkpoint now: saves the graphs and id maps and trims the write-ahead
    /// log, so that an open after a crash has little to replay. A background thread also
    /// does this on its own (see `open`'s `checkpoint_*` options).
    fn checkpoint(&self, py: Python<'_>) -> PyResult<()> {
        py.detach(|| self.db.with(Database::checkpoint))
            .or_raise(py)
    }

    /// Copies the database into `path` (a directory that must not exist or be empty) as
    /// it stood at one moment, while writes and searches go on; the copy opens as a
    /// normal database. Returns the copy's log position (the LSN below which it holds
    /// every write). The GIL is released meanwhile.
    fn backup(&self, py: Python<'_>, path: PathBuf) -> PyResult<u64> {
        py.detach(|| self.db.with(|db| db.backup(&path).map(|b| b.lsn)))
            .or_raise(py)
    }

    /// Closes the database: waits for calls in flight, takes a final checkpoint (unless
    /// opened with `checkpoint_on_close=False`) and releases the directory. Every
    /// `Collection` of it raises `ClosedError` afterwards. Closing twice does nothing.
    fn close(&self, py: Python<'_>) -> PyResult<()> {
        let handed_out = std::mem::take(
            &mut *self
                .collections
                .lock()
                .unwrap_or_else(PoisonError::into_inner),
        );
        py.detach(|| {
            for c in handed_out.iter().filter_map(Weak::upgrade) {
                drop(c.revoke());
            }
            match self.db.revoke() {
                Some(db) => db.close(),
                None => Ok(()),
            }
        })
        .or_raise(py)
    }

    /// True once `close` has run.
    #[getter]
    fn closed(&self) -> bool {
        self.db.is_revoked()
    }

    /// The database's directory.
    #[getter]
    fn path(&self) -> &str {
        &self.path
    }

    /// How many log records opening the database replayed: zero after a clean close.
    #[getter]
    fn replayed_at_open(&self, py: Python<'_>) -> PyResult<u64> {
        self.db.with(|db| Ok(db.replayed_at_open())).or_raise(py)
    }

    /// What the background checkpointer has done and the last error it met, as a dict:
    /// `checkpoint_lsn` (log position of the last checkpoint, 0 before the first),
    /// `replayed_at_open` (log records the open replayed), `background_checkpoints` and
    /// `background_errors` (since the open), `last_background_error` (its message, or
    /// None), `opened_ms` (how long the open took) and `open_steps_ms` (a dict of its
    /// steps: `catalog`, `stores` (vector stores, graphs and id maps), `replay` (the
    /// log) and `linking`). A failed background checkpoint loses nothing (the log
    /// stays until one succeeds), but nobody waits on it, so this is where it shows.
    fn health<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let h = self.db.with(|db| Ok(db.health())).or_raise(py)?;
        let d = PyDict::new(py);
        d.set_item("checkpoint_lsn", h.checkpoint_lsn)?;
        d.set_item("replayed_at_open", h.replayed_at_open)?;
        d.set_item("background_checkpoints", h.background_checkpoints)?;
        d.set_item("background_errors", h.background_errors)?;
        d.set_item("last_background_error", h.last_background_error)?;
        let ms = |t: std::time::Duration| t.as_secs_f64() * 1e3;
        d.set_item("opened_ms", ms(h.opened_in))?;
        let steps = PyDict::new(py);
        for (name, t) in h.open.named() {
            steps.set_item(name, ms(t))?;
        }
        d.set_item("open_steps_ms", steps)?;
        Ok(d)
    }

    /// Returns the database itself.
    fn __enter__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    /// Closes the database; exceptions propagate.
    #[pyo3(signature = (_exc_type = None, _exc = None, _traceback = None))]
    fn __exit__(
        &self,
        py: Python<'_>,
        _exc_type: Option<&Bound<'_, PyAny>>,
        _exc: Option<&Bound<'_, PyAny>>,
        _traceback: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<bool> {
        self.close(py)?;
        Ok(false)
    }

    fn __repr__(&self, py: Python<'_>) -> PyResult<String> {
        let state = if self.closed() { "closed" } else { "open" };
        let path = self.path.as_str().into_pyobject(py)?.repr()?;
        Ok(format!("<fletchdb.Database {path} {state}>"))
    }
}

/// A collection configuration from the Python arguments.
fn config(
    dim: i64,
    metric: &str,
    m: i64,
    ef_construction: i64,
    seed: Option<u64>,
    quantization: Option<&str>,
) -> Result<CollectionConfig, Error> {
    let mut config =
        CollectionConfig::new(convert::count("dim", dim, 1)?, convert::metric(metric)?);
    config.m = convert::count("m", m, 2)?;
    config.ef_construction = convert::count("ef_construction", ef_construction, 1)?;
    if let Some(seed) = seed {
        config.seed = seed;
    }
    if let Some(q) = quantization {
        config.quantization = Quantization::parse(q).ok_or_else(|| {
            Error::InvalidArgument(format!(
                "quantization must be \"none\", \"f16\" or \"i8\", not {q:?}"
            ))
        })?;
    }
    Ok(config)
}

/// Opens (creating it if needed) the database in directory `path` and recovers what its
/// write-ahead log holds after the last checkpoint.
///
/// `durability`: `"sync"` (the default: a write returns once it is on stable storage, so
/// it survives power loss), `"buffered"` (once the operating system has it: it survives
/// the process being killed; synced every `sync_interval_ms`), or `"none"` (synced only by
/// `flush()`, checkpoints and close; for bulk loads and tests). `commit_window_us`: how
/// long a group commit may wait for more writers to share one sync (0, the default, never
/// waits). `checkpoint_bytes` / `checkpoint_interval_s`: the background thread takes a
/// checkpoint after this much log or this long of writing (`None` or 0 turn a trigger off);
/// this bounds the replay after a crash. `wal_segment_size`: bytes of the largest log file
/// (they start at 1/64 of it, at most 1 MiB, and double as they fill).
/// `checkpoint_on_close`: checkpoint on close so the next open replays nothing.
/// `compaction_threshold_percent`: the background thread compacts a collection (see
/// `Collection.compact`) once tombstones and free slots are this share of its slots
/// (0 turns it off). `background_linking`: after a crash, open returns once the log is
/// read, the replayed vectors searchable at once (scanned exactly beside the graph) while
/// the background thread inserts them into the graph; `False` inserts them before open
/// returns.
///
/// Raises `LockedError` if the database is open elsewhere, `CorruptionError` for damaged
/// files, `IoError` (an `OSError`), `InvalidArgumentError` for bad options.
#[pyfunction]
#[pyo3(signature = (
    path,
    *,
    durability = "sync",
    sync_interval_ms = 10.0,
    commit_window_us = 0.0,
    checkpoint_bytes = 268_435_456,
    checkpoint_interval_s = Some(30.0),
    wal_segment_size = 67_108_864,
    checkpoint_on_close = true,
    compaction_threshold_percent = 20,
    background_linking = true,
), text_signature = "(path, *, durability='sync', sync_interval_ms=10.0, commit_window_us=0.0, \
    checkpoint_bytes=268435456, checkpoint_interval_s=30.0, wal_segment_size=67108864, \
    checkpoint_on_close=True, compaction_threshold_percent=20, background_linking=True)")]
#[allow(clippy::too_many_arguments)] // one per Python argument
pub(crate) fn open(
    py: Python<'_>,
    path: PathBuf,
    durability: &str,
    sync_interval_ms: f64,
    commit_window_us: f64,
    checkpoint_bytes: i64,
    checkpoint_interval_s: Option<f64>,
    wal_segment_size: i64,
    checkpoint_on_close: bool,
    compaction_threshold_percent: i64,
    background_linking: bool,
) -> PyResult<PyDatabase> {
    let options = (|| -> Result<Options, Error> {
        let interval = convert::duration("sync_interval_ms", sync_interval_ms, 1e-3, 1e-3)?;
        let checkpoint_interval = match checkpoint_interval_s {
            None => None,
            Some(0.0) => None,
            Some(s) => Some(convert::duration("checkpoint_interval_s", s, 1.0, 0.0)?),
        };
        Ok(Options {
            durability: convert::durability(durability, interval)?,
            commit_window: convert::duration("commit_window_us", commit_window_us, 1e-6, 0.0)?,
            checkpoint_bytes: convert::count("checkpoint_bytes", checkpoint_bytes, 0)? as u64,
            checkpoint_interval,
            wal_segment_size: convert::count("wal_segment_size", wal_segment_size, 1)? as u64,
            checkpoint_on_close,
            compaction_threshold_percent: u8::try_from(compaction_threshold_percent)
                .ok()
                .filter(|&p| p <= 100)
                .ok_or_else(|| {
                    Error::InvalidArgument(format!(
                        "compaction_threshold_percent must be between 0 and 100, not \
                         {compaction_threshold_percent}"
                    ))
                })?,
            background_linking,
        })
    })()
    .or_raise(py)?;
    let db = py.detach(|| Database::open(&path, options)).or_raise(py)?;
    Ok(PyDatabase {
        db: Revocable::new(db),
        collections: Mutex::new(Vec::new()),
        path: path.to_string_lossy().into_owned(),
    })
}

/// Adds `open` and `Database` to the module.
pub(crate) fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyDatabase>()?;
    m.add_function(wrap_pyfunction!(open, m)?)?;
    Ok(())
}
