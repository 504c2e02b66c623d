//! Checkpoints: making the log before some LSN unnecessary, while writes go on.
//!
//! 1. Under the write gate (an instant: writers hold it shared from their log append
//!    until their change is applied), pick X = the next LSN, and take each collection's
//!    set of ids changed since the last checkpoint. Every record below X is applied.
//! 2. Read those ids' current slots. Writes continue meanwhile, so this may also see
//!    changes at or after X: the checkpoint is fuzzy, and replay is idempotent for it.
//! 3. Write each graph to `graph-<X>.hnsw` (temporary name, fsync, rename, fsync the
//!    directory). It holds every slot step 2 read, since those were inserted before.
//! 4. Note each store's slot high-water mark, then msync the stores: every slot the
//!    graph or the ids name now has its vector on disk.
//! 5. Flush the log: every record applied so far is durable, and the log never ends
//!    before X after this checkpoint.
//! 6. One catalog transaction: the id changes, each collection's slot mark and graph
//!    generation, and X. This commit is the checkpoint: a crash before it leaves the
//!    previous checkpoint and its graph files in force.
//! 7. Remove the older graph files and the log segments wholly below X. (At step 1 the
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

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use fletchdb_storage::catalog::CollectionState;

use crate::collection::CollectionInner;
use crate::database::DbInner;
use crate::error::{Error, Result};

/// A collection's id changes for the catalog: `(id, slot)` to put, ids to remove.
type IdChanges = (Vec<(u64, u32)>, Vec<u64>);

/// The graph file of generation `lsn`.
pub(crate) fn graph_file(dir: &Path, lsn: u64) -> PathBuf {
    dir.join(format!("graph-{lsn:020}.hnsw"))
}

/// The generation a graph file name stands for, if it is one.
pub(crate) fn parse_graph_file(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("graph-")?.strip_suffix(".hnsw")?;
    (digits.len() == 20).then(|| digits.parse().ok()).flatten()
}

/// A collection's state blob: the generation of its graph file.
pub(crate) fn encode_generation(lsn: u64) -> Vec<u8> {
    lsn.to_le_bytes().to_vec()
}

/// The graph generation in a collection's state blob (`None`: no graph file yet).
pub(crate) fn decode_generation(blob: &[u8]) -> Option<u64> {
    let b: [u8; 8] = blob.try_into().ok()?;
    Some(u64::from_le_bytes(b))
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Makes a directory's entries durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err(dir))
}

impl DbInner {
    /// Takes a checkpoint; returns its LSN.
    pub(crate) fn checkpoint(&self) -> Result<u64> {
        let _one = self.checkpoint_lock.lock();
        let (x, work) = {
            let _gate = self.gate.write();
            let records = self.wal.stats().records;
            if records == self.records_at_checkpoint.load(Ordering::Acquire) {
                // Nothing was written since the last checkpoint.
                return Ok(self.checkpoint_lsn.load(Ordering::Acquire));
            }
            self.records_at_checkpoint.store(records, Ordering::Release);
            let x = self.wal.next_lsn();
            if let Err(e) = self.wal.roll_over() {
                self.records_at_checkpoint
                    .store(u64::MAX, Ordering::Release);
                return Err(e.into());
            }
            let work: Vec<(Arc<CollectionInner>, Vec<u64>)> = self
                .collections
                .read()
                .values()
                .map(|c| (c.clone(), c.ids.write().take_dirty()))
                .collect();
            (x, work)
        };
        self.wal_bytes_at_checkpoint
            .store(self.wal.stats().bytes, Ordering::Release);
        *self.checkpoint_at.lock() = std::time::Instant::now();
        match self.checkpoint_at(x, &work) {
            Ok(()) => {
                self.checkpoint_lsn.store(x, Ordering::Release);
                Ok(x)
            }
            Err(e) => {
                self.records_at_checkpoint
                    .store(u64::MAX, Ordering::Release);
                for (c, dirty) in work {
                    c.ids.write().restore_dirty(dirty);
                }
                Err(e)
            }
        }
    }

    fn checkpoint_at(&self, x: u64, work: &[(Arc<CollectionInner>, Vec<u64>)]) -> Result<()> {
        // The id changes first: every slot they name was inserted into the graph before
        // this, so the graph saved next holds it, the store flushed after holds its
        // vector, and the log flushed after that holds its record.
        let changes: Vec<IdChanges> = work
            .iter()
            .map(|(c, dirty)| {
                let ids = c.ids.read();
                let (mut puts, mut removes) = (Vec::new(), Vec::new());
                for &id in dirty {
                    match ids.slot_of(id) {
                        Some(slot) => puts.push((id, slot)),
                        None => removes.push(id),
                    }
                }
                (puts, removes)
            })
            .collect();
        for (c, _) in work {
            save_graph(c, x)?;
        }
        let marks: Vec<u32> = work.iter().map(|(c, _)| c.store().len() as u32).collect();
        for (c, _) in work {
            c.store().flush()?;
        }
        self.wal.flush()?;
        let mut txn = self.catalog.begin()?;
        for (((c, _), (puts, removes)), &next_slot) in work.iter().zip(&changes).zip(&marks) {
            txn.put_ids(c.cid, puts)?;
            txn.remove_ids(c.cid, removes)?;
            txn.set_collection_state(
                c.cid,
                &CollectionState {
                    next_slot,
                    blob: encode_generation(x),
                },
            )?;
        }
        txn.set_checkpoint_lsn(x)?;
        txn.commit()?;
        for (c, _) in work {
            remove_stale_graphs(&c.dir, Some(x));
        }
        self.wal.remove_segments_before(x)?;
        Ok(())
    }
}

/// Writes `c`'s graph as generation `x`: temporary file, fsync, rename, fsync the
/// directory.
fn save_graph(c: &CollectionInner, x: u64) -> Result<()> {
    let path = graph_file(&c.dir, x);
    let tmp = path.with_extension("hnsw.tmp");
    let file = File::create(&tmp).map_err(io_err(&tmp))?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    c.index.save(&mut w).map_err(|e| match e {
        fletchdb_index::IndexError::Io(source) => Error::Io {
            path: tmp.clone(),
            source,
        },
        other => other.into(),
    })?;
    let file = w.into_inner().map_err(|e| Error::Io {
        path: tmp.clone(),
        source: e.into_error(),
    })?;
    file.sync_all().map_err(io_err(&tmp))?;
    std::fs::rename(&tmp, &path).map_err(io_err(&path))?;
    sync_dir(&c.dir)
}

/// Removes graph files (and leftover temporaries) other than generation `keep`. Best
/// effort: a file left behind is removed by a later checkpoint or open.
pub(crate) fn remove_stale_graphs(dir: &Path, keep: Option<u64>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let stale = match parse_graph_file(name) {
            Some(lsn) => Some(lsn) != keep,
            None => name.starts_with("graph-") && name.ends_with(".hnsw.tmp"),
        };
        if stale {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graph_names_and_generations_round_trip() {
        let p = graph_file(Path::new("/x"), 42);
        let name = p.file_name().unwrap().to_str().unwrap();
        assert_eq!(parse_graph_file(name), Some(42));
        assert_eq!(parse_graph_file("graph-42.hnsw"), None);
        assert_eq!(decode_generation(&encode_generation(7)), Some(7));
        assert_eq!(decode_generation(&[]), None);
        assert_eq!(decode_generation(&[1, 2, 3]), None);
    }
}
