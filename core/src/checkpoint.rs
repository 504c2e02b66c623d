//! Checkpoints: making the log before some LSN unnecessary, while writes go on.
//!
//! 1. Under the write gate (an instant: writers hold it shared from before they
//!    reserve slots and log until their change is applied), pick X = the next LSN, and take each collection's
//!    set of ids changed since the last checkpoint. Every record below X is applied.
//! 2. Encode each collection's id map (`Ids::encode`) and write it to `ids-<X>.map`
//!    ([`graph_files::save_ids`]: temporary name, sync, rename, sync the directory), and
//!    read the payloads of the changed ids. Writes continue meanwhile, so this may also
//!    see changes at or after X: the checkpoint is fuzzy, and replay is idempotent for
//!    it.
//! 3. Heal each graph that has tombstones ([`Hnsw::heal`](fletchdb_index::Hnsw::heal):
//!    deleted nodes are unlinked and their slots freed, pending until the commit; see
//!    `free_slots.rs`). Then write it to `graph-<X>.hnsw` ([`graph_files::save`]).
//!    It holds every slot step 2 mapped, since those were inserted before. Every delete
//!    the heal undid was logged before it, so step 5 makes it durable before the
//!    commit.
//! 4. Note each store's slot high-water mark, then msync the stores: every slot the
//!    graph or the ids name now has its vector on disk.
//! 5. Flush the log: every record applied so far is durable, and the log never ends
//!    before X after this checkpoint.
//! 6. One catalog transaction: the payload changes, each collection's slot mark and
//!    file generation (its state, which says the id map is in its file; a map of the
//!    older layout, one catalog entry per id, is dropped), and X. This commit is the
//!    checkpoint: a crash before it leaves the previous checkpoint and its files in
//!    force.
//! 7. Remove the older graph and id map files and the log segments wholly below X. Then, with the
//!    catalog free again, release the slots the heals freed (they become reusable once
//!    no search can be reading them). (At step 1 the
//!    log was told to start a new segment at X, so that is all of them, and recovery
//!    reads nothing the checkpoint holds.)
//!
//! A checkpoint with nothing written since the last one does nothing.
//!
//! (Reading the slots after saving the graph, as a first version did, let the catalog
//! name a slot the saved graph lacked; the SIGKILL test found it as a vector no
//! exhaustive search could reach.)
//!
//! If any step fails, the taken id sets are put back, so the next checkpoint saves
//! them, and the log keeps every record (nothing is removed before the commit).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use fletchdb_storage::catalog::{Catalog, CollectionState};
use fletchdb_storage::wal::Wal;
use parking_lot::{MappedMutexGuard, Mutex, MutexGuard, RwLock};

use crate::collection::{CollectionInner, Collections};
use crate::error::{Error, Result};
use crate::graph_files;
use crate::options::Options;

/// A collection's changes for the catalog since the last checkpoint.
#[derive(Default)]
struct IdChanges {
    /// Ids that are gone (their payloads with them).
    removes: Vec<u64>,
    /// The stored payloads of the ids there that have one.
    payloads: Vec<(u64, Vec<u8>)>,
    /// Ids there without a payload.
    unpaid: Vec<u64>,
}

/// `records_at` when the state on disk needs a checkpoint whatever the log says (the
/// open replayed records, or a checkpoint failed).
const NEEDED: u64 = u64::MAX;

/// How long after a failed checkpoint (or an open that replayed records) the background
/// thread takes one even if nothing more is written: soon enough that a passing fault
/// does not leave the log growing, seldom enough that a lasting one does not flood the
/// log with warnings.
const RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

/// The catalog and what the checkpoints know of the log: when the last one was taken,
/// and whether another is due.
#[derive(Debug)]
pub(crate) struct Checkpoints {
    /// The catalog behind the one lock that lets one checkpoint, create or drop run at
    /// a time; `None` once the database is closed.
    catalog: Mutex<Option<Catalog>>,
    /// Log bytes appended (since open) when the last checkpoint started.
    wal_bytes_at: AtomicU64,
    /// Log records appended (since open) when the last checkpoint started, or
    /// [`NEEDED`].
    records_at: AtomicU64,
    /// The LSN of the last checkpoint.
    lsn: AtomicU64,
    /// When the last checkpoint started (or the database opened).
    started: Mutex<Instant>,
    /// When the last checkpoint committed, in ms since the Unix epoch; 0 if unknown.
    committed_ms: AtomicU64,
}

impl Checkpoints {
    /// The state after an open that started from the checkpoint at `lsn` and replayed
    /// `replayed` records.
    pub(crate) fn new(catalog: Catalog, wal: &Wal, lsn: u64, replayed: u64) -> Checkpoints {
        let stats = wal.stats();
        // An older catalog may not have recorded it; it is only reported, never relied on.
        let committed_ms = catalog.checkpoint_time().ok().flatten().unwrap_or(0);
        Checkpoints {
            committed_ms: AtomicU64::new(committed_ms),
            catalog: Mutex::new(Some(catalog)),
            wal_bytes_at: AtomicU64::new(stats.bytes),
            records_at: AtomicU64::new(if replayed > 0 { NEEDED } else { stats.records }),
            lsn: AtomicU64::new(lsn),
            started: Mutex::new(Instant::now()),
        }
    }

    /// The last checkpoint's LSN and, if known, when it committed.
    pub(crate) fn last(&self) -> (u64, Option<SystemTime>) {
        let ms = self.committed_ms.load(Ordering::Acquire);
        let at = (ms > 0).then(|| UNIX_EPOCH + std::time::Duration::from_millis(ms));
        (self.lsn.load(Ordering::Acquire), at)
    }

    /// The catalog, held exclusively (no checkpoint, create or drop runs meanwhile).
    ///
    /// # Errors
    /// [`Error::Closed`] once [`close`](Self::close) took it.
    pub(crate) fn catalog(&self) -> Result<MappedMutexGuard<'_, Catalog>> {
        MutexGuard::try_map(self.catalog.lock(), Option::as_mut).map_err(|_| Error::Closed)
    }

    /// Takes the catalog out, to close it.
    pub(crate) fn close(&self) -> Option<Catalog> {
        self.catalog.lock().take()
    }

    /// The LSN of the last checkpoint.
    pub(crate) fn lsn(&self) -> u64 {
        self.lsn.load(Ordering::Acquire)
    }

    /// True if the log has grown by [`Options::checkpoint_bytes`] since the last
    /// checkpoint, or anything was written and [`Options::checkpoint_interval`] has
    /// passed, or the last checkpoint failed (or the open replayed records) at least
    /// [`RETRY_AFTER`] ago.
    pub(crate) fn due(&self, wal: &Wal, options: &Options) -> bool {
        let grown = wal
            .stats()
            .bytes
            .saturating_sub(self.wal_bytes_at.load(Ordering::Acquire));
        let by_size = options.checkpoint_bytes > 0 && grown >= options.checkpoint_bytes;
        let by_time = grown > 0
            && options
                .checkpoint_interval
                .is_some_and(|i| self.started.lock().elapsed() >= i);
        let retry = self.records_at.load(Ordering::Acquire) == NEEDED
            && self.started.lock().elapsed() >= RETRY_AFTER;
        by_size || by_time || retry
    }

    /// Takes a checkpoint of `collections`; returns its LSN.
    ///
    /// With `scrub` (a compaction's), it runs even if nothing was written, and no byte
    /// of the log before it survives: spares are deleted before the roll-over (a
    /// recycled one holds older records), and the segments it makes unnecessary are
    /// deleted rather than kept as spares.
    pub(crate) fn run(
        &self,
        wal: &Wal,
        gate: &RwLock<()>,
        collections: &Collections,
        scrub: bool,
    ) -> Result<u64> {
        let catalog = self.catalog()?;
        let (x, work) = {
            let _gate = gate.write();
            let records = wal.stats().records;
            if records == self.records_at.load(Ordering::Acquire) && !scrub {
                return Ok(self.lsn()); // nothing was written since the last checkpoint
            }
            self.records_at.store(records, Ordering::Release);
            let x = wal.next_lsn();
            let rolled = if scrub {
                wal.discard_spares().and_then(|_| wal.roll_over())
            } else {
                wal.roll_over()
            };
            if let Err(e) = rolled {
                self.records_at.store(NEEDED, Ordering::Release);
                return Err(e.into());
            }
            let work: Vec<(Arc<CollectionInner>, Vec<u64>)> = collections
                .read()
                .values()
                .map(|c| (c.clone(), c.ids.write().take_dirty()))
                .collect();
            (x, work)
        };
        self.wal_bytes_at
            .store(wal.stats().bytes, Ordering::Release);
        *self.started.lock() = Instant::now();
        match save(&catalog, wal, x, &work, scrub) {
            Ok(committed_ms) => {
                self.committed_ms.store(committed_ms, Ordering::Release);
                self.lsn.store(x, Ordering::Release);
                // The freed slots are released with the catalog free: releasing waits
                // for the searches in progress, and one whose filter callback
                // checkpoints, creates or drops a collection waits for the catalog.
                // (A failure, below, is recorded before the catalog is free, so the next
                // checkpoint cannot mistake it for one with nothing to do.)
                drop(catalog);
                for (c, _) in &work {
                    c.free.release(&c.index, |slots| c.ids.forget_moves(slots));
                }
                Ok(x)
            }
            Err(e) => {
                self.records_at.store(NEEDED, Ordering::Release);
                for (c, dirty) in work {
                    c.ids.write().restore_dirty(dirty);
                }
                Err(e)
            }
        }
    }
}

/// Steps 2 to 7 for checkpoint `x` (`scrub`: see [`Checkpoints::run`]); returns when it committed (ms since the Unix epoch).
fn save(
    catalog: &Catalog,
    wal: &Wal,
    x: u64,
    work: &[(Arc<CollectionInner>, Vec<u64>)],
    scrub: bool,
) -> Result<u64> {
    // The id maps first: every slot they name was inserted into the graph before
    // this, so the graph saved next holds it, the store flushed after holds its
    // vector, and the log flushed after that holds its record.
    // Payloads with them: a changed id's payload as it is now (or its removal).
    let changes: Vec<IdChanges> = work
        .iter()
        .map(|(c, dirty)| -> Result<IdChanges> {
            let bytes = c.ids.read().encode();
            graph_files::save_ids(&c.files, &bytes, x)?;
            let ids = c.ids.read();
            let payloads = c.payloads.read();
            let mut ch = IdChanges::default();
            for &id in dirty {
                match ids.slot_of(id) {
                    Some(_) => match payloads.bytes(id) {
                        [] if payloads.ever_stored() => ch.unpaid.push(id),
                        [] => {}
                        bytes => ch.payloads.push((id, bytes.to_vec())),
                    },
                    None => ch.removes.push(id),
                }
            }
            Ok(ch)
        })
        .collect::<Result<_>>()?;
    for (c, _) in work {
        // Lists of the graph loaded at open that nothing has read yet: checked here,
        // on every core, rather than one by one as the save reads them.
        c.index.check_lists().map_err(|e| c.graph_error(e))?;
        if c.index.deleted_len() > 0 {
            let heal = c.index.heal();
            c.free.freed(heal.freed.iter().map(|s| s.0));
        }
        graph_files::save(&c.files, &c.index, x)?;
    }
    let marks: Vec<u32> = work.iter().map(|(c, _)| c.store().len() as u32).collect();
    for (c, _) in work {
        c.store().flush()?;
    }
    wal.flush()?;
    let mut txn = catalog.begin()?;
    for (((c, _), ch), &next_slot) in work.iter().zip(&changes).zip(&marks) {
        txn.drop_catalog_ids(c.cid)?;
        let payloads: Vec<(u64, &[u8])> = ch.payloads.iter().map(|(id, b)| (*id, &b[..])).collect();
        if !payloads.is_empty() {
            txn.put_meta(c.cid, &payloads)?;
        }
        if c.payloads.read().ever_stored() {
            txn.remove_meta(c.cid, &ch.removes)?;
            txn.remove_meta(c.cid, &ch.unpaid)?;
        }
        txn.set_collection_state(
            c.cid,
            &CollectionState {
                next_slot,
                blob: graph_files::encode_state(&graph_files::State {
                    generation: x,
                    calibration: c.index.calibration(),
                    id_file: true,
                }),
            },
        )?;
    }
    txn.set_checkpoint_lsn(x)?;
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    txn.set_checkpoint_time(now_ms)?;
    txn.commit()?;
    for (c, _) in work {
        graph_files::remove_stale(&c.files, Some(x));
    }
    if scrub {
        wal.delete_segments_before(x)?;
    } else {
        wal.remove_segments_before(x)?;
    }
    Ok(now_ms)
}
