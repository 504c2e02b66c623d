//! [`CollectionStats`]: what a collection holds and what it costs on disk.

use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fletchdb_storage::io::{OsDir, StorageDir};

use crate::collection::{Collection, CollectionInner};
use crate::error::{Error, Result};

/// A collection's counts and sizes, from [`Collection::stats`].
///
/// Sizes are apparent sizes (file lengths, what a copy or backup reads), not blocks
/// allocated.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CollectionStats {
    /// Vectors the collection holds.
    pub live: usize,
    /// Vectors replayed when the database was opened that the background thread has not
    /// yet inserted into the graph: searches scan them exactly meanwhile, and no
    /// checkpoint is taken until they are in (see [`Options::background_linking`]).
    ///
    /// [`Options::background_linking`]: crate::Options::background_linking
    pub unlinked: usize,
    /// Deleted or replaced vectors still in the graph: the next checkpoint heals the
    /// graph around them and frees their slots.
    pub tombstones: usize,
    /// Slots freed by a heal and not yet reused: new vectors go there before the store
    /// grows.
    pub free_slots: usize,
    /// Slots the vector store has handed out: live, tombstoned and free.
    pub slots: usize,
    /// Bytes of memory the compact traversal codes hold (see
    /// [`Quantization`](crate::Quantization)): 0 without them, before an `i8`
    /// collection has fitted its calibration, and after an open until the background
    /// thread has encoded them (searches walk the `f32` vectors meanwhile).
    pub code_bytes: usize,
    /// Filters with links among their records (see [`Collection::prepare_filter`]),
    /// and the bytes of memory those links hold. They are kept in memory only.
    pub filter_links: (usize, usize),
    /// Bytes of the collection's vector segment files.
    pub vector_bytes: u64,
    /// Bytes of the collection's graph files.
    pub graph_bytes: u64,
    /// Bytes of the collection's id map files (`ids-<lsn>.map`, beside each graph
    /// file).
    pub id_map_bytes: u64,
    /// Bytes of any other file in the collection's directory.
    pub other_bytes: u64,
    /// Bytes of the database's write-ahead log (shared by its collections).
    pub log_bytes: u64,
    /// LSN of the database's last checkpoint (0 before the first).
    pub last_checkpoint_lsn: u64,
    /// When the last checkpoint committed, if the catalog recorded it.
    pub last_checkpoint_at: Option<SystemTime>,
    /// When the last compaction of this collection since the database was opened
    /// finished ([`Collection::compact`] or the background thread's).
    pub last_compaction_at: Option<SystemTime>,
}

impl Collection {
    /// Counts and on-disk sizes of this collection.
    ///
    /// ```
    /// use fletchdb::{CollectionConfig, Database, Metric, Options};
    /// let dir = tempfile::tempdir()?;
    /// let db = Database::open(dir.path(), Options::default())?;
    /// let c = db.create_collection("pts", CollectionConfig::new(2, Metric::L2))?;
    /// c.insert_batch(&[1, 2, 3], &[0.0, 0.0, 1.0, 0.0, 0.0, 1.0])?;
    /// c.upsert(1, &[5.0, 5.0])?;
    /// let s = c.stats()?;
    /// assert_eq!((s.live, s.tombstones, s.slots), (3, 1, 4));
    /// db.checkpoint()?; // heals the graph: the old slot of id 1 is free again
    /// let s = c.stats()?;
    /// assert_eq!((s.live, s.tombstones, s.free_slots, s.slots), (3, 0, 1, 4));
    /// assert!(s.last_checkpoint_lsn > 0 && s.last_checkpoint_at.is_some());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Io`] if a file's size cannot be read; [`Error::CollectionNotFound`],
    /// [`Error::Closed`].
    pub fn stats(&self) -> Result<CollectionStats> {
        self.check_live()?;
        let c = &*self.c;
        let (mut vector_bytes, mut graph_bytes, mut id_map_bytes, mut other_bytes) = (0, 0, 0, 0);
        for (name, len) in file_sizes(&c.files)? {
            if name.starts_with("vec-") {
                vector_bytes += len;
            } else if name.starts_with("graph-") {
                graph_bytes += len;
            } else if name.starts_with("ids-") {
                id_map_bytes += len;
            } else {
                other_bytes += len;
            }
        }
        let wal_dir = self.db.path().join("wal");
        let wal = OsDir::create(&wal_dir).map_err(|source| Error::Io {
            path: wal_dir.clone(),
            source,
        })?;
        let log_bytes = file_sizes(&wal)?.iter().map(|(_, len)| len).sum();
        let (last_checkpoint_lsn, last_checkpoint_at) = self.db.last_checkpoint();
        Ok(CollectionStats {
            live: c.ids.read().len(),
            unlinked: c.unlinked.len(),
            tombstones: c.index.deleted_len(),
            free_slots: c.free.len(),
            slots: c.store().len(),
            code_bytes: c.index.codes_bytes(),
            filter_links: c.payloads.read().linked().held(),
            vector_bytes,
            graph_bytes,
            id_map_bytes,
            other_bytes,
            log_bytes,
            last_checkpoint_lsn,
            last_checkpoint_at,
            last_compaction_at: match c.last_compaction_ms.load(Ordering::Acquire) {
                0 => None,
                ms => Some(UNIX_EPOCH + Duration::from_millis(ms)),
            },
        })
    }
}

/// The length of every file in `dir`. A file removed while this runs (a checkpoint
/// retiring an old graph or log segment) is skipped.
impl CollectionInner {
    /// Bytes of the collection's own files: vector segments, graph files and others.
    pub(crate) fn file_bytes(&self) -> Result<u64> {
        Ok(file_sizes(&self.files)?.iter().map(|(_, len)| len).sum())
    }
}

fn file_sizes(dir: &dyn StorageDir) -> Result<Vec<(String, u64)>> {
    let io = |source| Error::Io {
        path: dir.path().to_path_buf(),
        source,
    };
    let mut sizes = Vec::new();
    for name in dir.list().map_err(io)? {
        match dir.open(&name).and_then(|f| f.len()) {
            Ok(len) => sizes.push((name, len)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(e)),
        }
    }
    Ok(sizes)
}
