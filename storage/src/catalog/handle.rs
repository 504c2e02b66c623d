//! [`Catalog`]: opening the catalog file and reading it.

use std::fmt;
use std::path::{Path, PathBuf};

use redb::{
    ReadOnlyTable, ReadTransaction, ReadableDatabase, ReadableTable, ReadableTableMetadata,
    TableDefinition, TableError,
};

use super::error::{from_redb, in_value};
use super::records::{CollectionId, CollectionRecord, CollectionState};
use super::tables::{
    self, COLLECTIONS, FIRST_COLLECTION_ID, GLOBALS, KEY_CHECKPOINT_LSN, KEY_CHECKPOINT_TIME,
    KEY_FORMAT_VERSION, KEY_NEXT_COLLECTION_ID, NAMES, STATES,
};
use super::txn::CatalogTxn;
use crate::{Result, StorageError};

/// The catalog format version this build reads and writes.
pub const FORMAT_VERSION: u32 = 1;

/// Bytes of redb's page cache. The catalog is read in full once, at database open, and
/// then mostly written, so a large cache would only keep id-map pages resident that the
/// database layer already holds in its own structures.
const CACHE_BYTES: usize = 64 << 20;

/// The database's catalog: collections, their id -> slot maps and per-id metadata,
/// per-collection checkpoint state, and the checkpoint LSN, kept in one redb file
/// (`<db>/catalog.redb`).
///
/// Every read method runs in its own read transaction and sees the last committed
/// checkpoint. Changes are made through [`Catalog::begin`], in one write transaction per
/// checkpoint, which is fsynced when it commits.
///
/// # Example
///
/// ```
/// use fletchdb_storage::catalog::{Catalog, CollectionState};
///
/// # fn main() -> fletchdb_storage::Result<()> {
/// let dir = tempfile::tempdir().unwrap();
/// let catalog = Catalog::open(&dir.path().join("catalog.redb"))?;
///
/// // One checkpoint: create a collection, map two ids, save state and the LSN.
/// let mut txn = catalog.begin()?;
/// let docs = txn.create_collection("docs", 3, b"config the database layer encodes")?;
/// txn.put_ids(docs.id, &[(42, 0), (7, 1)])?;
/// txn.put_meta(docs.id, &[(42, &b"{\"title\": \"hello\"}"[..])])?;
/// txn.set_collection_state(docs.id, &CollectionState { next_slot: 2, blob: vec![1] })?;
/// txn.set_checkpoint_lsn(1_000)?;
/// txn.commit()?;
///
/// assert_eq!(catalog.collection("docs")?, Some(docs.clone()));
/// assert_eq!(catalog.ids(docs.id)?, vec![(7, 1), (42, 0)]);
/// assert_eq!(catalog.slot_of(docs.id, 42)?, Some(0));
/// assert_eq!(catalog.collection_state(docs.id)?.next_slot, 2);
/// assert_eq!(catalog.checkpoint_lsn()?, 1_000);
/// # Ok(())
/// # }
/// ```
pub struct Catalog {
    pub(super) db: redb::Database,
    pub(super) path: PathBuf,
}

impl fmt::Debug for Catalog {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Catalog")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Catalog {
    /// Opens the catalog at `path`, creating it if the file is missing or empty.
    ///
    /// # Errors
    ///
    /// - [`StorageError::Io`] if the file cannot be opened or created (for example, its
    ///   directory does not exist).
    /// - [`StorageError::Corruption`] if the file is not a redb database, is a redb database
    ///   that is not a FletchDB catalog, or is damaged: the checksum of every page is
    ///   verified here, so a damaged file is refused rather than read.
    /// - [`StorageError::UnsupportedVersion`] if the catalog was written in a format version
    ///   this build does not know (see [`FORMAT_VERSION`]).
    /// - [`StorageError::Catalog`] for other refusals by redb, such as the file being open
    ///   already through another handle.
    pub fn open(path: &Path) -> Result<Catalog> {
        if !path.try_exists().unwrap_or(true) {
            Self::create_new(path)?;
        }
        Self::open_file(path)
    }

    /// Creates a new, initialised catalog at `path` crash-safely: redb writes a new file's
    /// header in several steps, so a process killed while creating it in place left a
    /// file that was "not a redb database" and a database that never opened again (the
    /// SIGKILL test found it, killing a child in its very first open). The catalog is
    /// built under a temporary name, committed, closed, then renamed into place and the
    /// directory synced: after a crash there is a whole catalog or none.
    fn create_new(path: &Path) -> Result<()> {
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = std::path::PathBuf::from(tmp);
        let _ = std::fs::remove_file(&tmp);
        // Errors name the catalog the caller asked for, not the temporary.
        let named = |e| match e {
            StorageError::Io { source, .. } => StorageError::io(path, source),
            other => other,
        };
        Self::open_file(&tmp)
            .map_err(named)?
            .close()
            .map_err(named)?;
        std::fs::rename(&tmp, path).map_err(|e| StorageError::io(path, e))?;
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        crate::io::sync_dir(dir).map_err(|e| StorageError::io(dir, e))
    }

    fn open_file(path: &Path) -> Result<Catalog> {
        let db = redb::Builder::new()
            .set_cache_size(CACHE_BYTES)
            // Verify every page's checksum at open. Without it redb trusts a cleanly closed
            // file: of 200 damaged copies of a 200,000-id catalog (100 truncated, 100 with 8
            // flipped bytes), 99 opened and read back every id without an error; with it,
            // all 200 were refused. It costs a read of the whole file, which `ids()` does at
            // database open anyway, and a commit: measured on a 2-CPU VM, about 10 ms more
            // per open, whatever the size, plus 2 ms per 200,000 ids (4.4 MB).
            .set_check_integrity_on_open(true)
            .create(path)
            .map_err(|e| from_redb(path, e))?;
        let catalog = Catalog {
            db,
            path: path.to_owned(),
        };
        if catalog.check_format()? {
            catalog.initialize()?;
        }
        Ok(catalog)
    }

    /// The catalog file's path.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Checks the stored format version; returns `true` if the file holds no catalog yet.
    fn check_format(&self) -> Result<bool> {
        let txn = self.read_txn()?;
        let Some(globals) = self.open_read(&txn, GLOBALS)? else {
            use redb::{MultimapTableHandle, TableHandle};
            let table = txn.list_tables().map_err(|e| self.err(e))?.next();
            let multimap = txn.list_multimap_tables().map_err(|e| self.err(e))?.next();
            let other = match (table, multimap) {
                (Some(t), _) => t.name().to_owned(),
                (None, Some(m)) => m.name().to_owned(),
                (None, None) => return Ok(true),
            };
            return Err(StorageError::corruption(
                &self.path,
                0,
                format!("not a FletchDB catalog: it has a table {other:?} but no globals"),
            ));
        };
        let found = tables::required_global(&self.path, &globals, KEY_FORMAT_VERSION)?;
        if found != u64::from(FORMAT_VERSION) {
            return Err(StorageError::UnsupportedVersion {
                file: self.path.clone(),
                found: u32::try_from(found).unwrap_or(u32::MAX),
                supported: FORMAT_VERSION,
            });
        }
        tables::required_global(&self.path, &globals, KEY_NEXT_COLLECTION_ID)?;
        Ok(false)
    }

    /// Writes the globals and empty tables of a new catalog.
    fn initialize(&self) -> Result<()> {
        let txn = self.begin()?;
        {
            let w = &txn.txn;
            let mut globals = w.open_table(GLOBALS).map_err(|e| self.err(e))?;
            for (key, value) in [
                (KEY_FORMAT_VERSION, u64::from(FORMAT_VERSION)),
                (KEY_CHECKPOINT_LSN, 0),
                (KEY_NEXT_COLLECTION_ID, FIRST_COLLECTION_ID),
            ] {
                globals.insert(key, value).map_err(|e| self.err(e))?;
            }
            w.open_table(COLLECTIONS).map_err(|e| self.err(e))?;
            w.open_table(NAMES).map_err(|e| self.err(e))?;
            w.open_table(STATES).map_err(|e| self.err(e))?;
        }
        txn.commit()
    }

    /// Starts the write transaction of a checkpoint.
    ///
    /// Only one write transaction exists at a time: while another is alive, this waits for
    /// it to end. Nothing written through the transaction is visible until
    /// [`CatalogTxn::commit`]; dropping it aborts it.
    ///
    /// # Errors
    ///
    /// [`StorageError::Io`] or [`StorageError::Catalog`] if redb cannot start a transaction,
    /// for example after an earlier failed commit.
    pub fn begin(&self) -> Result<CatalogTxn<'_>> {
        CatalogTxn::new(self)
    }

    /// Every collection, in order of id.
    ///
    /// # Errors
    ///
    /// [`StorageError::Corruption`] if a stored record does not decode; redb's errors as
    /// described on [`Catalog::open`].
    pub fn collections(&self) -> Result<Vec<CollectionRecord>> {
        let txn = self.read_txn()?;
        let table = self.open_required(&txn, COLLECTIONS)?;
        let mut out = Vec::new();
        for entry in table.iter().map_err(|e| self.err(e))? {
            let (cid, bytes) = entry.map_err(|e| self.err(e))?;
            out.push(tables::decode_record(
                &self.path,
                CollectionId(cid.value()),
                bytes.value(),
            )?);
        }
        Ok(out)
    }

    /// Whether a collection was ever created in this catalog, dropped or not: the
    /// persistent id counter has moved. A catalog that never held one cannot explain log
    /// records or collection files beside it.
    ///
    /// ```
    /// # use fletchdb_storage::catalog::Catalog;
    /// # fn main() -> fletchdb_storage::Result<()> {
    /// let dir = tempfile::tempdir().unwrap();
    /// let catalog = Catalog::open(&dir.path().join("catalog.redb"))?;
    /// assert!(!catalog.ever_held_a_collection()?);
    /// let mut txn = catalog.begin()?;
    /// txn.create_collection("docs", 4, b"")?;
    /// txn.commit()?;
    /// let mut txn = catalog.begin()?;
    /// txn.drop_collection("docs")?;
    /// txn.commit()?;
    /// assert!(catalog.ever_held_a_collection()?);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// redb's errors as described on [`Catalog::open`].
    pub fn ever_held_a_collection(&self) -> Result<bool> {
        let txn = self.read_txn()?;
        let globals = self.open_required(&txn, GLOBALS)?;
        let next = tables::required_global(&self.path, &globals, KEY_NEXT_COLLECTION_ID)?;
        Ok(next != FIRST_COLLECTION_ID)
    }

    /// The collection named `name`, if there is one.
    ///
    /// # Errors
    ///
    /// [`StorageError::Corruption`] if its record does not decode or disagrees with the name
    /// index; redb's errors as described on [`Catalog::open`].
    pub fn collection(&self, name: &str) -> Result<Option<CollectionRecord>> {
        let txn = self.read_txn()?;
        let names = self.open_required(&txn, NAMES)?;
        let collections = self.open_required(&txn, COLLECTIONS)?;
        tables::record_by_name(&self.path, &names, &collections, name)
    }

    /// The LSN of the last checkpoint: the log before it is no longer needed. 0 for a new
    /// catalog.
    ///
    /// # Errors
    ///
    /// redb's errors as described on [`Catalog::open`].
    pub fn checkpoint_lsn(&self) -> Result<u64> {
        let txn = self.read_txn()?;
        let globals = self.open_required(&txn, GLOBALS)?;
        tables::required_global(&self.path, &globals, KEY_CHECKPOINT_LSN)
    }

    /// When the last checkpoint was taken, in milliseconds since the Unix epoch, if the
    /// catalog recorded it ([`CatalogTxn::set_checkpoint_time`]).
    ///
    /// ```
    /// use fletchdb_storage::catalog::Catalog;
    /// let dir = tempfile::tempdir()?;
    /// let catalog = Catalog::open(&dir.path().join("catalog.redb"))?;
    /// assert_eq!(catalog.checkpoint_time()?, None);
    /// let mut txn = catalog.begin()?;
    /// txn.set_checkpoint_time(1_700_000_000_000)?;
    /// txn.commit()?;
    /// assert_eq!(catalog.checkpoint_time()?, Some(1_700_000_000_000));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    ///
    /// redb's errors as described on [`Catalog::open`].
    pub fn checkpoint_time(&self) -> Result<Option<u64>> {
        let txn = self.read_txn()?;
        let globals = self.open_required(&txn, GLOBALS)?;
        let value = globals.get(KEY_CHECKPOINT_TIME).map_err(|e| self.err(e))?;
        Ok(value.map(|v| v.value()))
    }

    /// Every external id of collection `cid` with its slot, in increasing order of id.
    ///
    /// This is how the database loads a collection's id map at open, so it reads the table
    /// in one pass into a vector sized up front.
    ///
    /// # Errors
    ///
    /// [`StorageError::InvalidArgument`] if the catalog has no collection `cid`; redb's
    /// errors as described on [`Catalog::open`].
    pub fn ids(&self, cid: CollectionId) -> Result<Vec<(u64, u32)>> {
        let txn = self.read_txn()?;
        self.require(&txn, cid)?;
        let name = tables::ids_table_name(cid);
        let Some(table) = self.open_read(&txn, TableDefinition::<u64, u32>::new(&name))? else {
            return Ok(Vec::new());
        };
        let len = table.len().map_err(|e| self.err(e))?;
        let mut out = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
        for entry in table.iter().map_err(|e| self.err(e))? {
            let (id, slot) = entry.map_err(|e| self.err(e))?;
            out.push((id.value(), slot.value()));
        }
        Ok(out)
    }

    /// The slot of external id `id` in collection `cid`, if it is mapped.
    ///
    /// # Errors
    ///
    /// [`StorageError::InvalidArgument`] if the catalog has no collection `cid`; redb's
    /// errors as described on [`Catalog::open`].
    pub fn slot_of(&self, cid: CollectionId, id: u64) -> Result<Option<u32>> {
        let txn = self.read_txn()?;
        self.require(&txn, cid)?;
        let name = tables::ids_table_name(cid);
        let Some(table) = self.open_read(&txn, TableDefinition::<u64, u32>::new(&name))? else {
            return Ok(None);
        };
        let slot = table.get(id).map_err(|e| self.err(e))?;
        Ok(slot.map(|s| s.value()))
    }

    /// The metadata stored for external id `id` of collection `cid`, if any.
    ///
    /// # Errors
    ///
    /// [`StorageError::InvalidArgument`] if the catalog has no collection `cid`; redb's
    /// errors as described on [`Catalog::open`].
    pub fn meta(&self, cid: CollectionId, id: u64) -> Result<Option<Vec<u8>>> {
        let txn = self.read_txn()?;
        self.require(&txn, cid)?;
        let name = tables::meta_table_name(cid);
        let Some(table) = self.open_read(&txn, TableDefinition::<u64, &[u8]>::new(&name))? else {
            return Ok(None);
        };
        let bytes = table.get(id).map_err(|e| self.err(e))?;
        Ok(bytes.map(|b| b.value().to_vec()))
    }

    /// Every external id of collection `cid` that has metadata, with its bytes, in id
    /// order: how the database loads a collection's payloads at open.
    ///
    /// # Errors
    ///
    /// [`StorageError::InvalidArgument`] if the catalog has no collection `cid`; redb's
    /// errors as described on [`Catalog::open`].
    pub fn metas(&self, cid: CollectionId) -> Result<Vec<(u64, Vec<u8>)>> {
        let txn = self.read_txn()?;
        self.require(&txn, cid)?;
        let name = tables::meta_table_name(cid);
        let Some(table) = self.open_read(&txn, TableDefinition::<u64, &[u8]>::new(&name))? else {
            return Ok(Vec::new());
        };
        let len = table.len().map_err(|e| self.err(e))?;
        let mut out = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
        for entry in table.iter().map_err(|e| self.err(e))? {
            let (id, bytes) = entry.map_err(|e| self.err(e))?;
            out.push((id.value(), bytes.value().to_vec()));
        }
        Ok(out)
    }

    /// The checkpoint state of collection `cid`; zero and empty if none was ever set.
    ///
    /// # Errors
    ///
    /// [`StorageError::InvalidArgument`] if the catalog has no collection `cid`;
    /// [`StorageError::Corruption`] if the stored state does not decode; redb's errors as
    /// described on [`Catalog::open`].
    pub fn collection_state(&self, cid: CollectionId) -> Result<CollectionState> {
        let txn = self.read_txn()?;
        self.require(&txn, cid)?;
        let states = self.open_required(&txn, STATES)?;
        let Some(bytes) = states.get(cid.0).map_err(|e| self.err(e))? else {
            return Ok(CollectionState::default());
        };
        CollectionState::decode(bytes.value())
            .map_err(|e| in_value(&self.path, format_args!("state of collection {cid}"), e))
    }

    /// Closes the catalog, reporting what dropping it would ignore.
    ///
    /// # Errors
    ///
    /// [`StorageError::Io`] if redb fails to close the file cleanly;
    /// [`StorageError::Catalog`] for other refusals by redb.
    pub fn close(self) -> Result<()> {
        let Catalog { db, path } = self;
        db.close().map_err(|e| from_redb(&path, e))
    }

    /// Maps a redb error to a [`StorageError`] naming this catalog.
    pub(super) fn err(&self, e: impl Into<redb::Error>) -> StorageError {
        from_redb(&self.path, e)
    }

    fn read_txn(&self) -> Result<ReadTransaction> {
        self.db.begin_read().map_err(|e| self.err(e))
    }

    /// Opens a table that may not exist yet.
    fn open_read<K: redb::Key + 'static, V: redb::Value + 'static>(
        &self,
        txn: &ReadTransaction,
        def: TableDefinition<K, V>,
    ) -> Result<Option<ReadOnlyTable<K, V>>> {
        match txn.open_table(def) {
            Ok(table) => Ok(Some(table)),
            Err(TableError::TableDoesNotExist(_)) => Ok(None),
            Err(e) => Err(self.err(e)),
        }
    }

    /// Opens a table every catalog has.
    fn open_required<K: redb::Key + 'static, V: redb::Value + 'static>(
        &self,
        txn: &ReadTransaction,
        def: TableDefinition<K, V>,
    ) -> Result<ReadOnlyTable<K, V>> {
        self.open_read(txn, def)?.ok_or_else(|| {
            StorageError::corruption(&self.path, 0, format!("catalog has no table {def}"))
        })
    }

    /// Fails unless the catalog holds collection `cid`.
    fn require(&self, txn: &ReadTransaction, cid: CollectionId) -> Result<()> {
        let collections = self.open_required(txn, COLLECTIONS)?;
        if collections.get(cid.0).map_err(|e| self.err(e))?.is_none() {
            return Err(tables::unknown_collection(cid));
        }
        Ok(())
    }
}
