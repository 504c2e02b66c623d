//! [`Database`]: opening, collections, flush, checkpoint, close.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use fletchdb_index::Hnsw;
use fletchdb_storage::catalog::Catalog;
use fletchdb_storage::vectors::{VectorStore, VectorStoreOptions};
use fletchdb_storage::wal::Wal;
use fletchdb_storage::DirLock;
use parking_lot::{Condvar, Mutex, RwLock};

use crate::collection::{Collection, CollectionInner};
use crate::error::{Error, Result};
use crate::ids::{IdMap, Ids};
use crate::options::{CollectionConfig, Options};
use crate::source::StoreVectors;

/// How often the background thread looks at the log's size.
const CHECKPOINT_POLL: Duration = Duration::from_millis(100);

/// Stops the background thread.
type StopSignal = Arc<(Mutex<bool>, Condvar)>;

/// What every handle on one open database shares.
pub(crate) struct DbInner {
    pub(crate) path: PathBuf,
    pub(crate) options: Options,
    pub(crate) catalog: Catalog,
    pub(crate) wal: Wal,
    pub(crate) collections: RwLock<BTreeMap<String, Arc<CollectionInner>>>,
    /// Writers hold it shared from their log append until the change is applied; a
    /// checkpoint holds it exclusively for the instant it picks its LSN, so every record
    /// below that LSN is applied.
    pub(crate) gate: RwLock<()>,
    /// One checkpoint, create or drop at a time.
    pub(crate) checkpoint_lock: Mutex<()>,
    /// Log bytes appended when the last checkpoint started.
    pub(crate) wal_bytes_at_checkpoint: AtomicU64,
    /// Log records appended (since open) when the last checkpoint started, or
    /// `u64::MAX` if the state on disk needs one (the open replayed records).
    pub(crate) records_at_checkpoint: AtomicU64,
    /// The LSN of the last checkpoint.
    pub(crate) checkpoint_lsn: AtomicU64,
    /// When the last checkpoint started (or the database opened).
    pub(crate) checkpoint_at: Mutex<std::time::Instant>,
    pub(crate) closed: AtomicBool,
    /// Log records replayed when the database was opened.
    pub(crate) replayed: u64,
    stop: StopSignal,
    background: Mutex<Option<JoinHandle<()>>>,
    /// Released last, when everything else is closed.
    _lock: DirLock,
}

impl std::fmt::Debug for DbInner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("path", &self.path)
            .field(
                "collections",
                &self.collections.read().keys().collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// An open FletchDB database: a directory of named collections of vectors.
///
/// `Database` is a cheap, clonable handle (`Send + Sync`); the database closes when the
/// last handle (including [`Collection`]s) is dropped, or at [`close`](Self::close).
/// One handle per directory: a second open, from this process or another, fails with
/// [`Error::Locked`].
///
/// ```
/// use fletchdb::{CollectionConfig, Database, Metric, Options, SearchOptions};
/// let dir = tempfile::tempdir()?;
/// {
///     let db = Database::open(dir.path(), Options::default())?;
///     let c = db.create_collection("docs", CollectionConfig::new(2, Metric::L2))?;
///     c.insert(7, &[1.0, 2.0])?; // durable when it returns
/// } // closed cleanly here
/// let db = Database::open(dir.path(), Options::default())?;
/// let c = db.collection("docs")?;
/// assert_eq!(c.search(&[1.0, 2.0], 1, &SearchOptions::default())?[0].id, 7);
/// assert_eq!(db.list_collections(), ["docs"]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct Database {
    pub(crate) inner: Arc<DbInner>,
}

impl Database {
    /// Opens the database in directory `path`, creating it if needed, and recovers
    /// whatever the log holds after the last checkpoint.
    ///
    /// # Errors
    /// [`Error::Locked`] if it is open elsewhere; [`Error::Corruption`] (naming file and
    /// offset) for damaged files; [`Error::UnsupportedVersion`]; [`Error::Io`];
    /// [`Error::InvalidArgument`] for bad options.
    pub fn open(path: impl AsRef<Path>, options: Options) -> Result<Database> {
        let inner = Arc::new(crate::open::open(path.as_ref(), options)?);
        let weak = Arc::downgrade(&inner);
        let stop = inner.stop.clone();
        let handle = std::thread::Builder::new()
            .name("fletchdb-checkpoint".into())
            .spawn(move || background(weak, stop))
            .map_err(|e| Error::Io {
                path: inner.path.clone(),
                source: e,
            })?;
        *inner.background.lock() = Some(handle);
        Ok(Database { inner })
    }

    /// The database's directory.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// How many log records opening the database replayed: zero after a clean close.
    pub fn replayed_at_open(&self) -> u64 {
        self.inner.replayed
    }

    /// Creates a collection.
    ///
    /// # Errors
    /// [`Error::CollectionExists`]; [`Error::InvalidArgument`] for a bad configuration
    /// or an empty name; [`Error::Closed`]; [`Error::Io`].
    pub fn create_collection(&self, name: &str, config: CollectionConfig) -> Result<Collection> {
        let db = &self.inner;
        db.check_open()?;
        config.check()?;
        if name.is_empty() {
            return Err(Error::InvalidArgument("a collection needs a name".into()));
        }
        let _one = db.checkpoint_lock.lock();
        let mut map = db.collections.write();
        if map.contains_key(name) {
            return Err(Error::CollectionExists { name: name.into() });
        }
        let mut txn = db.catalog.begin()?;
        let record = txn.create_collection(name, config.dim as u32, &config.encode())?;
        txn.commit()?;
        let dir = collection_dir(&db.path, record.id.0);
        let store = VectorStore::open(&dir, config.dim, VectorStoreOptions::default())?;
        let index = Hnsw::new(config.hnsw(), StoreVectors { store })?;
        let c = Arc::new(CollectionInner {
            cid: record.id,
            name: name.to_string(),
            config,
            dir,
            index,
            ids: IdMap::new(Ids::default()),
            dropped: AtomicBool::new(false),
        });
        map.insert(name.to_string(), c.clone());
        Ok(Collection { db: db.clone(), c })
    }

    /// A handle on the collection `name`.
    ///
    /// # Errors
    /// [`Error::CollectionNotFound`]; [`Error::Closed`].
    pub fn collection(&self, name: &str) -> Result<Collection> {
        self.inner.check_open()?;
        let c = self
            .inner
            .collections
            .read()
            .get(name)
            .cloned()
            .ok_or_else(|| Error::CollectionNotFound { name: name.into() })?;
        Ok(Collection {
            db: self.inner.clone(),
            c,
        })
    }

    /// The names of the collections, sorted.
    pub fn list_collections(&self) -> Vec<String> {
        self.inner.collections.read().keys().cloned().collect()
    }

    /// Deletes a collection and its files. Handles on it fail with
    /// [`Error::CollectionNotFound`] from now on.
    ///
    /// # Errors
    /// [`Error::CollectionNotFound`]; [`Error::Closed`]; [`Error::Io`].
    pub fn drop_collection(&self, name: &str) -> Result<()> {
        let db = &self.inner;
        db.check_open()?;
        let _one = db.checkpoint_lock.lock();
        let c = db
            .collections
            .read()
            .get(name)
            .cloned()
            .ok_or_else(|| Error::CollectionNotFound { name: name.into() })?;
        c.dropped.store(true, Ordering::Release);
        // Wait out writes in flight; later ones see the flag.
        drop(db.gate.write());
        let mut txn = db.catalog.begin()?;
        txn.drop_collection(name)?;
        txn.commit()?;
        db.collections.write().remove(name);
        // The files go now; mappings still held by old handles stay valid (the kernel
        // keeps unlinked files until unmapped). A crash before this leaves the
        // directory for the next open to remove.
        std::fs::remove_dir_all(&c.dir).map_err(|e| Error::Io {
            path: c.dir.clone(),
            source: e,
        })?;
        Ok(())
    }

    /// A durability barrier: returns once every write acknowledged so far is on stable
    /// storage, whatever the durability mode.
    ///
    /// # Errors
    /// [`Error::WalPoisoned`]; [`Error::Closed`].
    pub fn flush(&self) -> Result<()> {
        self.inner.flush()
    }

    /// Takes a checkpoint now: writes each collection's graph and id map and the
    /// vectors' pages to their files, then drops the log before that point. Writes and
    /// searches continue meanwhile. The background thread does this on its own each
    /// [`Options::checkpoint_bytes`] of log.
    ///
    /// # Errors
    /// [`Error::Io`] and the other errors of writing files; the database stays usable and
    /// the log keeps everything the failed checkpoint did not save.
    pub fn checkpoint(&self) -> Result<()> {
        self.inner.checkpoint_now().map(|_| ())
    }

    /// Closes the database: takes a final checkpoint (unless
    /// [`Options::checkpoint_on_close`] is off), so that the next open replays nothing,
    /// and closes the log. Every handle fails with [`Error::Closed`] afterwards; the
    /// lock is released when the last one is dropped. Dropping the last handle closes
    /// too, ignoring errors.
    ///
    /// # Errors
    /// The checkpoint's or the log's; the database is closed anyway.
    pub fn close(self) -> Result<()> {
        self.inner.close()
    }
}

impl DbInner {
    pub(crate) fn new(path: PathBuf, options: Options, r: Recovered) -> DbInner {
        let Recovered {
            lock,
            catalog,
            wal,
            collections,
            replayed,
            checkpoint_lsn,
        } = r;
        let bytes = wal.stats().bytes;
        let records = if replayed > 0 {
            u64::MAX
        } else {
            wal.stats().records
        };
        DbInner {
            path,
            options,
            catalog,
            wal,
            collections: RwLock::new(collections),
            gate: RwLock::new(()),
            checkpoint_lock: Mutex::new(()),
            wal_bytes_at_checkpoint: AtomicU64::new(bytes),
            records_at_checkpoint: AtomicU64::new(records),
            checkpoint_lsn: AtomicU64::new(checkpoint_lsn),
            checkpoint_at: Mutex::new(std::time::Instant::now()),
            closed: AtomicBool::new(false),
            replayed,
            stop: Arc::new((Mutex::new(false), Condvar::new())),
            background: Mutex::new(None),
            _lock: lock,
        }
    }

    pub(crate) fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            Err(Error::Closed)
        } else {
            Ok(())
        }
    }

    pub(crate) fn flush(&self) -> Result<()> {
        self.check_open()?;
        self.wal.flush()?;
        Ok(())
    }

    pub(crate) fn checkpoint_now(&self) -> Result<u64> {
        self.check_open()?;
        self.checkpoint()
    }

    fn close(&self) -> Result<()> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        *self.stop.0.lock() = true;
        self.stop.1.notify_all();
        if let Some(t) = self.background.lock().take() {
            // The background thread may be the one dropping the last handle.
            if t.thread().id() != std::thread::current().id() {
                let _ = t.join();
            }
        }
        let checkpoint = if self.options.checkpoint_on_close {
            self.checkpoint().map(|_| ())
        } else {
            Ok(())
        };
        let wal = self.wal.close().map_err(Error::from);
        checkpoint.and(wal)
    }
}

impl Drop for DbInner {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

/// What opening a database recovered, for [`DbInner::new`].
pub(crate) struct Recovered {
    pub(crate) lock: DirLock,
    pub(crate) catalog: Catalog,
    pub(crate) wal: Wal,
    pub(crate) collections: BTreeMap<String, Arc<CollectionInner>>,
    /// Log records replayed.
    pub(crate) replayed: u64,
    /// The LSN of the checkpoint the open started from.
    pub(crate) checkpoint_lsn: u64,
}

/// The directory of collection `cid`.
pub(crate) fn collection_dir(db: &Path, cid: u32) -> PathBuf {
    db.join("c").join(cid.to_string())
}

/// The background checkpointer: every [`CHECKPOINT_POLL`], a checkpoint if the log has
/// grown by [`Options::checkpoint_bytes`] since the last one, or anything was written
/// and [`Options::checkpoint_interval`] has passed. It holds the database only
/// weakly, so dropping the last handle closes it.
fn background(db: Weak<DbInner>, stop: StopSignal) {
    loop {
        {
            let mut stopped = stop.0.lock();
            if !*stopped {
                stop.1.wait_for(&mut stopped, CHECKPOINT_POLL);
            }
            if *stopped {
                return;
            }
        }
        let Some(db) = db.upgrade() else { return };
        let threshold = db.options.checkpoint_bytes;
        let grown = db
            .wal
            .stats()
            .bytes
            .saturating_sub(db.wal_bytes_at_checkpoint.load(Ordering::Acquire));
        let by_size = threshold > 0 && grown >= threshold;
        let by_time = grown > 0
            && db
                .options
                .checkpoint_interval
                .is_some_and(|i| db.checkpoint_at.lock().elapsed() >= i);
        if (by_size || by_time) && !db.closed.load(Ordering::Acquire) {
            // A failure leaves the log in place; the next round tries again.
            let _ = db.checkpoint();
        }
    }
}
