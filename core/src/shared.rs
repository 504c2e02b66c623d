//! [`Shared`]: the one home of an open database's state, behind every handle.
//!
//! Its fields are private; the handles reach them through its methods: writers through
//! [`Shared::write_gate`], which hands out the log only while the checkpoint gate is
//! held; checkpoints, creates and drops through [`Checkpoints`], which owns the catalog.
//! [`Shared::close`] releases everything, directory lock included, however many
//! handles still point here.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use fletchdb_index::Hnsw;
use fletchdb_storage::catalog::CollectionState;
use fletchdb_storage::vectors::{VectorStore, VectorStoreOptions};
use fletchdb_storage::wal::Wal;
use fletchdb_storage::DirLock;
use parking_lot::{Mutex, RwLock, RwLockReadGuard};

use crate::background::Background;
use crate::backup::{self, Backup};
use crate::checkpoint::Checkpoints;
use crate::collection::{collection_dir, CollectionInner, Collections};
use crate::compact;
use crate::error::{Error, Result};
use crate::health::{Health, HealthLog, OpenSteps};
use crate::ids::Ids;
use crate::options::{CollectionConfig, Options};
use crate::payload::store::Payloads;
use crate::recovery::{self, Recovered};
use crate::source::StoreVectors;
use crate::unlinked::Unlinked;

/// Recoveries slower than this are logged as warnings.
const SLOW_RECOVERY_MS: u128 = 1_000;

/// What every handle on one open database shares.
#[derive(Debug)]
pub(crate) struct Shared {
    path: PathBuf,
    options: Options,
    wal: Wal,
    collections: Collections,
    /// Writers hold it shared from before they reserve slots and log until the change is
    /// applied; a
    /// checkpoint holds it exclusively for the instant it picks its LSN, so every record
    /// below that LSN is applied.
    gate: RwLock<()>,
    checkpoints: Checkpoints,
    closed: AtomicBool,
    /// Log records replayed when the database was opened.
    replayed: u64,
    /// How long each step of the open took.
    open_steps: OpenSteps,
    /// How long the open took, set as it returns.
    opened_in: std::sync::OnceLock<std::time::Duration>,
    health: HealthLog,
    background: Mutex<Option<Background>>,
    /// Taken (released) by [`close`](Self::close).
    lock: Mutex<Option<DirLock>>,
}

/// The log, lent to a writer while it holds the checkpoint gate shared.
pub(crate) struct WriteGate<'a> {
    _gate: RwLockReadGuard<'a, ()>,
    wal: &'a Wal,
}

impl WriteGate<'_> {
    /// Appends records with one durability wait.
    pub(crate) fn append_many(&self, records: &[(u8, &[&[u8]])]) -> Result<()> {
        self.wal.append_many(records)?;
        Ok(())
    }
}

impl Shared {
    /// Opens (recovering) the database at `path` and starts its background thread.
    pub(crate) fn open(path: &Path, options: Options) -> Result<Arc<Shared>> {
        let started = Instant::now();
        let Recovered {
            lock,
            catalog,
            wal,
            collections,
            replayed,
            checkpoint_lsn,
            steps,
        } = recovery::recover(path, &options)?;
        let elapsed = started.elapsed().as_millis();
        if elapsed >= SLOW_RECOVERY_MS {
            log::warn!(
                "opening {} took {elapsed} ms ({replayed} log records replayed; {steps})",
                path.display()
            );
        } else {
            log::debug!(
                "opened {} in {elapsed} ms ({replayed} log records replayed; {steps})",
                path.display()
            );
        }
        let shared = Arc::new(Shared {
            path: path.to_path_buf(),
            options,
            checkpoints: Checkpoints::new(catalog, &wal, checkpoint_lsn, replayed),
            wal,
            collections: RwLock::new(collections),
            gate: RwLock::new(()),
            closed: AtomicBool::new(false),
            replayed,
            open_steps: steps,
            opened_in: std::sync::OnceLock::new(),
            health: HealthLog::default(),
            background: Mutex::new(None),
            lock: Mutex::new(Some(lock)),
        });
        match Background::spawn(Arc::downgrade(&shared), options.checkpoint_interval) {
            Ok(b) => *shared.background.lock() = Some(b),
            Err(source) => {
                let _ = shared.close();
                return Err(Error::Io {
                    path: path.to_path_buf(),
                    source,
                });
            }
        }
        let _ = shared.opened_in.set(started.elapsed());
        Ok(shared)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn replayed(&self) -> u64 {
        self.replayed
    }

    /// [`Error::Closed`] once the database is closed.
    pub(crate) fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            Err(Error::Closed)
        } else {
            Ok(())
        }
    }

    /// The log, for a writer that then applies what it logged before dropping the
    /// gate (so a checkpoint never picks an LSN past an unapplied record).
    ///
    /// # Errors
    /// [`Error::Closed`].
    pub(crate) fn write_gate(&self) -> Result<WriteGate<'_>> {
        let gate = self.gate.read();
        self.check_open()?;
        Ok(WriteGate {
            _gate: gate,
            wal: &self.wal,
        })
    }

    pub(crate) fn collection(&self, name: &str) -> Result<Arc<CollectionInner>> {
        self.check_open()?;
        self.collections
            .read()
            .get(name)
            .cloned()
            .ok_or_else(|| Error::CollectionNotFound { name: name.into() })
    }

    pub(crate) fn list_collections(&self) -> Vec<String> {
        self.collections.read().keys().cloned().collect()
    }

    pub(crate) fn create_collection(
        &self,
        name: &str,
        config: CollectionConfig,
    ) -> Result<Arc<CollectionInner>> {
        self.check_open()?;
        config.check()?;
        if name.is_empty() {
            return Err(Error::InvalidArgument("a collection needs a name".into()));
        }
        let catalog = self.checkpoints.catalog()?;
        let mut map = self.collections.write();
        if map.contains_key(name) {
            return Err(Error::CollectionExists { name: name.into() });
        }
        let mut txn = catalog.begin()?;
        let record = txn.create_collection(name, config.dim as u32, &config.encode())?;
        txn.commit()?;
        let dir = collection_dir(&self.path, record.id);
        let store = VectorStore::open(&dir, config.dim, VectorStoreOptions::default())?;
        let index = Hnsw::new(config.hnsw(), StoreVectors { store })?;
        index.quantize(config.quantization, None)?;
        let c = Arc::new(CollectionInner::new(
            record.id,
            name.to_string(),
            config,
            index,
            Ids::default(),
            Payloads::default(),
            Unlinked::default(),
        )?);
        map.insert(name.to_string(), c.clone());
        Ok(c)
    }

    pub(crate) fn drop_collection(&self, name: &str) -> Result<()> {
        self.check_open()?;
        let catalog = self.checkpoints.catalog()?;
        let c = self.collection(name)?;
        c.dropped.store(true, Ordering::Release);
        // Wait out writes in flight; later ones see the flag.
        drop(self.gate.write());
        let mut txn = catalog.begin()?;
        txn.drop_collection(name)?;
        txn.commit()?;
        self.collections.write().remove(name);
        // The files go now; mappings still held by old handles stay valid (the kernel
        // keeps unlinked files until unmapped). A crash before this leaves the
        // directory for the next open to remove.
        let dir = c.store().dir();
        std::fs::remove_dir_all(dir).map_err(|source| Error::Io {
            path: dir.to_path_buf(),
            source,
        })
    }

    pub(crate) fn flush(&self) -> Result<()> {
        self.check_open()?;
        self.wal.flush()?;
        Ok(())
    }

    /// Takes a checkpoint now; returns its LSN. Replayed vectors not yet in their graph
    /// are linked first (see `unlinked.rs`).
    pub(crate) fn checkpoint(&self) -> Result<u64> {
        self.check_open()?;
        self.link_all()?;
        self.checkpoints
            .run(&self.wal, &self.gate, &self.collections, false)
    }

    /// A checkpoint that leaves nothing of the log before it (see `Checkpoints::run`);
    /// for compactions.
    pub(crate) fn checkpoint_scrubbing(&self) -> Result<u64> {
        self.check_open()?;
        self.link_all()?;
        self.checkpoints
            .run(&self.wal, &self.gate, &self.collections, true)
    }

    /// The open collections, each with a handle of its own.
    fn all_collections(&self) -> Vec<Arc<CollectionInner>> {
        self.collections.read().values().cloned().collect()
    }

    /// Slots replayed at open and not yet in their graph, over every collection.
    fn unlinked(&self) -> usize {
        let all = self.collections.read();
        all.values().map(|c| c.unlinked.len()).sum()
    }

    /// Links every collection's replayed vectors into its graph (see `unlinked.rs`).
    fn link_all(&self) -> Result<()> {
        for c in self.all_collections() {
            if !c.dropped.load(Ordering::Acquire) {
                c.link_all()?;
            }
        }
        Ok(())
    }

    /// Starts the compact codes that an open left to the background thread
    /// (`recovery.rs`), one collection at a time, each with its writers held off while
    /// its graph's slots are encoded.
    pub(crate) fn start_codes(&self) {
        if self.check_open().is_err() {
            return;
        }
        for c in self.all_collections() {
            if !c.dropped.load(Ordering::Acquire) {
                // The codes first: until they are in, walks read vectors from disk.
                c.index.start_codes();
                c.index.read_ahead();
            }
        }
    }

    /// Builds every collection's id-to-slot index not built yet (`ids.rs`): the
    /// background thread's step after the codes, so that the first searches after an
    /// open share the two cores with the encoder only. At 1,000,000 ids the build
    /// takes 52-56 ms; on its own thread from the open on, it made the first query
    /// after a warm open wait 16-31 ms instead of 13-18 (`db_bench open`, 2026-12-04).
    /// A write before this builds it itself; reads by id scan first (`Ids::find`).
    pub(crate) fn build_ids(&self) {
        if self.check_open().is_err() {
            return;
        }
        for c in self.all_collections() {
            if !c.dropped.load(Ordering::Acquire) {
                c.ids.read().build();
            }
        }
    }

    /// The background thread's step for filters: builds the links a search asked for
    /// in one collection (`filter_links.rs`). Returns true if more wait. A failure is
    /// logged; searches go on by the usual plans and ask again.
    pub(crate) fn links_round(&self) -> bool {
        if self.check_open().is_err() {
            return false;
        }
        let mut more = false;
        for c in self.all_collections() {
            if c.dropped.load(Ordering::Acquire) {
                continue;
            }
            match c.links_round() {
                Ok(m) => more |= m,
                Err(e) => log::warn!(
                    "building filter links of {:?} in {} failed: {e}",
                    c.name,
                    self.path.display()
                ),
            }
        }
        more
    }

    /// The background thread's linking step: one chunk of one collection's replayed
    /// vectors into its graph. Returns true if more wait. A failure is logged and kept
    /// for [`health`](Self::health); the chunk is retried at the next step.
    pub(crate) fn link_round(&self) -> bool {
        if self.check_open().is_err() {
            return false;
        }
        let Some(c) = self
            .all_collections()
            .into_iter()
            .find(|c| c.unlinked.len() > 0 && !c.dropped.load(Ordering::Acquire))
        else {
            return false;
        };
        match c.link_chunk() {
            Ok(_) => {
                let left = self.unlinked();
                if left == 0 {
                    log::info!(
                        "{}: every replayed vector is in its graph",
                        self.path.display()
                    );
                }
                left > 0
            }
            Err(e) => {
                log::warn!(
                    "linking replayed vectors of {:?} in {} failed (they stay searchable \
                     exactly; the next round retries): {e}",
                    c.name,
                    self.path.display()
                );
                self.health.failed(&e);
                false
            }
        }
    }

    /// Cuts `c`'s store after its last segment holding anything but ready slots
    /// (`FreeSlots::cut_tail`), with checkpoints and writers held off: the catalog
    /// records the new end first, then the files go. Returns the cut, the files
    /// deleted, and how long writers waited.
    pub(crate) fn cut_store(
        &self,
        c: &CollectionInner,
    ) -> Result<Option<(u32, usize, std::time::Duration)>> {
        self.check_open()?;
        let catalog = self.checkpoints.catalog()?;
        let held = Instant::now();
        let _writers = self.gate.write();
        let cut = c.free.cut_tail(c.store(), |cut| {
            let state = catalog.collection_state(c.cid)?;
            let mut txn = catalog.begin()?;
            txn.set_collection_state(
                c.cid,
                &CollectionState {
                    next_slot: cut,
                    blob: state.blob,
                },
            )?;
            txn.commit()?;
            Ok(())
        })?;
        Ok(cut.map(|(cut, files)| (cut, files, held.elapsed())))
    }

    /// Copies the database into `dest` at one log position (see `backup.rs`).
    pub(crate) fn backup(&self, dest: &Path) -> Result<Backup> {
        self.check_open()?;
        let staging = backup::stage(dest)?;
        let copied = (|| {
            let catalog = self.checkpoints.catalog()?;
            let (at, collections) = {
                let _writers = self.gate.write();
                let at = self.wal.position()?;
                let collections: Vec<(Arc<CollectionInner>, Vec<String>)> = self
                    .collections
                    .read()
                    .values()
                    .map(|c| (c.clone(), c.store().segment_files()))
                    .collect();
                (at, collections)
            };
            backup::copy(&self.path, &catalog, &self.wal, &at, &collections, &staging)
        })();
        backup::finish(copied, &staging, dest)
    }

    /// The background thread's round: a checkpoint if one is due. A failure is logged
    /// and kept for [`health`](Self::health); the log keeps everything, and a retry is
    /// due a second later (see `Checkpoints::due`).
    pub(crate) fn checkpoint_if_due(&self) {
        // None while replayed vectors are being linked: see `unlinked.rs`.
        if self.check_open().is_err()
            || self.unlinked() > 0
            || !self.checkpoints.due(&self.wal, &self.options)
        {
            return;
        }
        match self.checkpoint() {
            Ok(_) => {
                self.health.checkpointed();
                self.compact_if_worth();
            }
            Err(Error::Closed) => {}
            Err(e) => {
                log::warn!(
                    "background checkpoint of {} failed (the log keeps every write; \
                     the next round retries): {e}",
                    self.path.display()
                );
                self.health.failed(&e);
            }
        }
    }

    /// After a background checkpoint: compacts each collection whose tombstones and
    /// free slots passed [`Options::compaction_threshold_percent`] (if that would shrink
    /// it). A failure is logged and kept for [`health`](Self::health).
    fn compact_if_worth(&self) {
        let percent = self.options.compaction_threshold_percent;
        for c in self.all_collections() {
            if c.dropped.load(Ordering::Acquire) || !compact::worth_compacting(&c, percent) {
                continue;
            }
            match compact::compact(self, &c) {
                Ok(done) => log::info!(
                    "compacted {:?} in {}: {} vectors moved, {} slots to {}, {} files deleted",
                    c.name,
                    self.path.display(),
                    done.moved,
                    done.slots_before,
                    done.slots_after,
                    done.files_removed
                ),
                Err(Error::Closed) | Err(Error::CollectionNotFound { .. }) => {}
                Err(e) => {
                    log::warn!(
                        "background compaction of {:?} in {} failed (the collection is \
                         consistent; the next checkpoint may retry): {e}",
                        c.name,
                        self.path.display()
                    );
                    self.health.failed(&e);
                }
            }
        }
    }

    /// The last checkpoint's LSN and, if known, when it committed.
    pub(crate) fn last_checkpoint(&self) -> (u64, Option<std::time::SystemTime>) {
        self.checkpoints.last()
    }

    pub(crate) fn health(&self) -> Health {
        self.health.snapshot(
            self.checkpoints.lsn(),
            self.replayed,
            self.opened_in.get().copied().unwrap_or_default(),
            self.open_steps,
        )
    }

    /// Closes the database: stops the background thread, waits out writes in flight,
    /// takes the final checkpoint (per [`Options::checkpoint_on_close`]), closes the
    /// log and the catalog and releases the directory lock. Idempotent; every handle
    /// fails with [`Error::Closed`] afterwards.
    pub(crate) fn close(&self) -> Result<()> {
        if self.closed.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        if let Some(b) = self.background.lock().take() {
            b.stop();
        }
        drop(self.gate.write());
        // With replayed vectors still unlinked, no checkpoint (it would wait for them
        // all): the log keeps them, and the next open replays them again.
        let checkpoint = if self.options.checkpoint_on_close && self.unlinked() == 0 {
            self.checkpoints
                .run(&self.wal, &self.gate, &self.collections, false)
                .map(|_| ())
        } else {
            Ok(())
        };
        let wal = self.wal.close().map_err(Error::from);
        let catalog = self
            .checkpoints
            .close()
            .map_or(Ok(()), |c| c.close().map_err(Error::from));
        drop(self.lock.lock().take());
        checkpoint.and(wal).and(catalog)
    }
}
