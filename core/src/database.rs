//! [`Database`]: the handle users open, and [`Handle`], whose last drop closes the
//! database on the dropping thread.

use std::ops::Deref;
use std::path::Path;
use std::sync::Arc;

use crate::collection::Collection;
use crate::error::{Error, Result};
use crate::health::Health;
use crate::options::{CollectionConfig, Options};
use crate::shared::Shared;

/// The users' hold on an open database, shared by every [`Database`] and
/// [`Collection`] handle. Dropping the last one closes the database right there: the
/// background thread holds the state only weakly, so it is never the one left
/// holding it.
#[derive(Debug)]
pub(crate) struct Handle(Arc<Shared>);

impl Deref for Handle {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        if let Err(e) = self.0.close() {
            log::error!(
                "closing {} on drop failed (the next open recovers from the log): {e}",
                self.0.path().display()
            );
        }
    }
}

/// An open FletchDB database: a directory of named collections of vectors.
///
/// `Database` is a cheap, clonable handle (`Send + Sync`). The database closes when
/// the last handle (including [`Collection`]s) is dropped, before that drop returns, or
/// at [`close`](Self::close): either way the directory lock is released by then, so
/// reopening right after works. One handle per directory: a second open, from this
/// process or another, fails with [`Error::Locked`].
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
    handle: Arc<Handle>,
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
        let shared = Shared::open(path.as_ref(), options)?;
        Ok(Database {
            handle: Arc::new(Handle(shared)),
        })
    }

    /// The state behind this handle.
    pub(crate) fn shared(&self) -> &Shared {
        &self.handle
    }

    /// The database's directory.
    pub fn path(&self) -> &Path {
        self.handle.path()
    }

    /// How many log records opening the database replayed: zero after a clean close.
    pub fn replayed_at_open(&self) -> u64 {
        self.handle.replayed()
    }

    /// What the background work has done and the last error it met (a failed
    /// background checkpoint is logged, counted and kept here, since nobody waits on
    /// it).
    pub fn health(&self) -> Health {
        self.handle.health()
    }

    fn hand_out(&self, c: Arc<crate::collection::CollectionInner>) -> Collection {
        Collection {
            db: self.handle.clone(),
            c,
        }
    }

    /// Creates a collection.
    ///
    /// # Errors
    /// [`Error::CollectionExists`]; [`Error::InvalidArgument`] for a bad configuration
    /// or an empty name; [`Error::Closed`]; [`Error::Io`].
    pub fn create_collection(&self, name: &str, config: CollectionConfig) -> Result<Collection> {
        Ok(self.hand_out(self.handle.create_collection(name, config)?))
    }

    /// The collection `name`, created with `config` if it does not exist. An existing
    /// collection keeps its own graph parameters (`m`, `ef_construction`, `seed`, `quantization`), but
    /// must have `config`'s dimension and metric.
    ///
    /// ```
    /// use fletchdb::{CollectionConfig, Database, Metric, Options};
    /// let dir = tempfile::tempdir()?;
    /// let db = Database::open(dir.path(), Options::default())?;
    /// let a = db.get_or_create_collection("docs", CollectionConfig::new(3, Metric::Cosine))?;
    /// a.insert(1, &[1.0, 0.0, 0.0])?;
    /// let b = db.get_or_create_collection("docs", CollectionConfig::new(3, Metric::Cosine))?;
    /// assert_eq!(b.len(), 1);
    /// assert!(db.get_or_create_collection("docs", CollectionConfig::new(4, Metric::Cosine)).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] if the collection exists with another dimension or
    /// metric, or for a bad configuration; [`Error::Closed`]; [`Error::Io`].
    pub fn get_or_create_collection(
        &self,
        name: &str,
        config: CollectionConfig,
    ) -> Result<Collection> {
        let c = match self.handle.create_collection(name, config) {
            Err(Error::CollectionExists { .. }) => self.handle.collection(name)?,
            other => other?,
        };
        let have = c.config;
        if (have.dim, have.metric) != (config.dim, config.metric) {
            return Err(Error::InvalidArgument(format!(
                "collection {name:?} exists with dim {} and metric {}, not dim {} and metric {}",
                have.dim,
                have.metric.name(),
                config.dim,
                config.metric.name()
            )));
        }
        Ok(self.hand_out(c))
    }

    /// A handle on the collection `name`.
    ///
    /// # Errors
    /// [`Error::CollectionNotFound`]; [`Error::Closed`].
    pub fn collection(&self, name: &str) -> Result<Collection> {
        Ok(self.hand_out(self.handle.collection(name)?))
    }

    /// The names of the collections, sorted.
    pub fn list_collections(&self) -> Vec<String> {
        self.handle.list_collections()
    }

    /// Deletes a collection and its files. Handles on it fail with
    /// [`Error::CollectionNotFound`] from now on.
    ///
    /// # Errors
    /// [`Error::CollectionNotFound`]; [`Error::Closed`]; [`Error::Io`].
    pub fn drop_collection(&self, name: &str) -> Result<()> {
        self.handle.drop_collection(name)
    }

    /// A durability barrier: returns once every write acknowledged so far is on stable
    /// storage, whatever the durability mode.
    ///
    /// # Errors
    /// [`Error::WalPoisoned`]; [`Error::Closed`].
    pub fn flush(&self) -> Result<()> {
        self.handle.flush()
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
        self.handle.checkpoint().map(|_| ())
    }

    /// Closes the database: takes a final checkpoint (unless
    /// [`Options::checkpoint_on_close`] is off), so that the next open replays nothing,
    /// closes the log and the catalog, and releases the directory lock, even while
    /// other handles are still alive: their calls fail with [`Error::Closed`] from now
    /// on. Dropping the last handle does the same, logging errors instead of returning
    /// them.
    ///
    /// ```
    /// use fletchdb::{CollectionConfig, Database, Error, Metric, Options};
    /// let dir = tempfile::tempdir()?;
    /// let db = Database::open(dir.path(), Options::default())?;
    /// let docs = db.create_collection("docs", CollectionConfig::new(2, Metric::L2))?;
    /// db.close()?;
    /// assert!(matches!(docs.insert(1, &[0.0, 1.0]), Err(Error::Closed)));
    /// let again = Database::open(dir.path(), Options::default())?; // the lock is free
    /// # drop(again);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// The checkpoint's, the log's or the catalog's; the database is closed anyway.
    pub fn close(self) -> Result<()> {
        self.handle.close()
    }
}
