//! Opening a database: lock, catalog, stores, log replay, graphs.
//!
//! 1. Take the directory lock; open the catalog; read the checkpoint LSN X.
//! 2. For each collection: map its vector store and publish the slots the checkpoint
//!    saved; load its id map.
//! 3. Replay the log from X: each put writes its vector back into its slot and points
//!    its id there; each delete forgets its id. Replay is idempotent, since the
//!    checkpoint may already hold some of these changes.
//! 4. Load each collection's graph from the checkpoint (or start an empty one), insert
//!    the live replayed slots it lacks (in parallel), and tombstone every node no id
//!    points to any more.
//! 5. Finish the log, so appends go after its last record, and remove what an
//!    interrupted drop or checkpoint left behind.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use fletchdb_index::{Hnsw, IndexError, Slot};
use fletchdb_storage::catalog::{Catalog, CollectionId, CollectionRecord};
use fletchdb_storage::vectors::{VectorStore, VectorStoreOptions};
use fletchdb_storage::wal::{Wal, WalOptions};
use fletchdb_storage::DirLock;
use rayon::prelude::*;

use crate::checkpoint::{decode_generation, graph_file, remove_stale_graphs};
use crate::collection::CollectionInner;
use crate::database::{collection_dir, DbInner, Recovered};
use crate::error::{Error, Result};
use crate::ids::{IdMap, Ids};
use crate::options::{CollectionConfig, Options};
use crate::record::{floats_into, Op};
use crate::source::StoreVectors;

/// A collection being recovered, before its graph is built.
struct Pending {
    record: CollectionRecord,
    config: CollectionConfig,
    dir: PathBuf,
    store: VectorStore,
    ids: Ids,
    generation: Option<u64>,
    /// The checkpoint's graph file and its bytes, if it has one.
    graph: Option<(PathBuf, Vec<u8>)>,
    /// Slots the log put vectors into, in order.
    inserted: Vec<u32>,
    /// Slots the log replaced or deleted.
    removed: Vec<u32>,
}

pub(crate) fn open(path: &Path, options: Options) -> Result<DbInner> {
    std::fs::create_dir_all(path).map_err(|e| Error::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    let lock = DirLock::acquire(path)?;
    let catalog = Catalog::open(&path.join("catalog.redb"))?;
    let x = catalog.checkpoint_lsn()?;
    let records = catalog.collections()?;
    // A catalog that never held a collection cannot explain collection files or log
    // records; one whose collections were all dropped can (the log may still hold
    // records of the dropped ones, skipped below).
    let pristine = !catalog.ever_held_a_collection()?;

    let mut pending: HashMap<CollectionId, Pending> = HashMap::new();
    for record in records {
        let config = CollectionConfig::decode(record.dim, &record.config).ok_or_else(|| {
            Error::corruption(
                catalog.path(),
                0,
                format!(
                    "collection {:?} has an unreadable configuration",
                    record.name
                ),
            )
        })?;
        let dir = collection_dir(path, record.id.0);
        let mut store = VectorStore::open(&dir, config.dim, VectorStoreOptions::default())?;
        let state = catalog.collection_state(record.id)?;
        store.publish_existing(state.next_slot)?;
        let generation = decode_generation(&state.blob);
        // The id map (from the catalog) and the graph file are independent: load them on
        // two threads.
        let (ids, graph) = std::thread::scope(|s| {
            let ids = s.spawn(|| catalog.ids(record.id).map(|pairs| Ids::from_pairs(&pairs)));
            let graph = generation
                .map(|g| {
                    let file = graph_file(&dir, g);
                    std::fs::read(&file)
                        .map(|bytes| (file.clone(), bytes))
                        .map_err(|e| Error::Io {
                            path: file,
                            source: e,
                        })
                })
                .transpose();
            let ids = ids
                .join()
                .map_err(|_| Error::InvalidArgument("the id map loader panicked".into()));
            (ids, graph)
        });
        let (ids, graph) = (ids??, graph?);
        pending.insert(
            record.id,
            Pending {
                generation,
                graph,
                record,
                config,
                dir,
                store,
                ids,
                inserted: Vec::new(),
                removed: Vec::new(),
            },
        );
    }

    let wal_options = WalOptions {
        durability: options.durability,
        commit_window: options.commit_window,
        segment_size: options.wal_segment_size,
        ..WalOptions::default()
    };
    let wal_dir = path.join("wal");
    let mut recovery = Wal::open_path(&wal_dir, wal_options)?;
    if recovery.first_lsn() > x.max(1) {
        return Err(Error::corruption(
            &wal_dir,
            0,
            format!(
                "the log starts at LSN {} but replay must start at {x}: segments are \
                 missing, or catalog.redb is not the one this log belongs to",
                recovery.first_lsn()
            ),
        ));
    }
    let has_dirs = std::fs::read_dir(path.join("c")).is_ok_and(|mut d| d.next().is_some());
    if pristine && x == 0 && has_dirs {
        return Err(Error::corruption(
            catalog.path(),
            0,
            "the catalog never held a collection but collection files exist: catalog.redb was lost or replaced",
        ));
    }
    let mut replayed = 0u64;
    let mut floats = Vec::new();
    while let Some(r) = recovery.next_record()? {
        if r.lsn < x {
            continue;
        }
        replayed += 1;
        let op = Op::decode(r.kind, r.payload).ok_or_else(|| {
            Error::corruption(
                &wal_dir,
                0,
                format!("LSN {} is not a record this version writes", r.lsn),
            )
        })?;
        match op {
            Op::Put {
                cid,
                id,
                slot,
                vector,
            } => {
                let Some(p) = pending.get_mut(&cid) else {
                    continue; // its collection was dropped
                };
                floats_into(vector, &mut floats);
                if floats.len() != p.config.dim {
                    return Err(Error::corruption(
                        &wal_dir,
                        0,
                        format!(
                            "LSN {}: a vector of {} floats in a {}-d collection",
                            r.lsn,
                            floats.len(),
                            p.config.dim
                        ),
                    ));
                }
                p.store.restore(slot, &floats)?;
                // Even when the map already points here the graph may lack the slot;
                // `build` inserts only what is live and missing.
                p.inserted.push(slot);
                if let Some(old) = p.ids.set(id, slot).filter(|&old| old != slot) {
                    p.removed.push(old);
                }
            }
            Op::Delete { cid, id } => {
                if let Some(p) = pending.get_mut(&cid) {
                    p.removed.extend(p.ids.remove(id));
                }
            }
        }
    }
    if pristine && x == 0 && replayed > 0 {
        return Err(Error::corruption(
            catalog.path(),
            0,
            "the catalog never held a collection but the log holds records: catalog.redb was lost or replaced",
        ));
    }
    let wal = recovery.finish()?;
    if wal.next_lsn() < x {
        return Err(Error::corruption(
            &wal_dir,
            0,
            format!(
                "the log ends at LSN {} before the checkpoint at {x}",
                wal.next_lsn()
            ),
        ));
    }

    let mut collections = BTreeMap::new();
    for (_, p) in pending {
        let c = build(p)?;
        collections.insert(c.name.clone(), Arc::new(c));
    }
    remove_orphan_dirs(path, &collections);
    Ok(DbInner::new(
        path.to_path_buf(),
        options,
        Recovered {
            lock,
            catalog,
            wal,
            collections,
            replayed,
            checkpoint_lsn: x,
        },
    ))
}

/// Loads a collection's graph and brings it up to date with the replayed log.
fn build(p: Pending) -> Result<CollectionInner> {
    let vectors = StoreVectors { store: p.store };
    let index = match &p.graph {
        Some((file, bytes)) => {
            let index = Hnsw::load(bytes, vectors).map_err(|e| graph_error(file, e))?;
            if *index.config() != p.config.hnsw() {
                return Err(Error::corruption(
                    file,
                    12,
                    "the graph was built with another configuration than its collection's",
                ));
            }
            index
        }
        None => Hnsw::new(p.config.hnsw(), vectors)?,
    };
    remove_stale_graphs(&p.dir, p.generation);
    // Decide from the final id map, not the order of the log: with a fuzzy checkpoint
    // the map may already point an id at a slot that an earlier record in the replay
    // replaced and a later one restored. A slot some id points to is live; any other
    // is dead (slots are written once, so a dead slot never comes back).
    let missing: Vec<Slot> = p
        .inserted
        .iter()
        .filter(|&&s| p.ids.id_of(s).is_some())
        .map(|&s| Slot(s))
        .filter(|&s| !index.contains(s))
        .collect();
    missing
        .par_iter()
        .try_for_each(|&s| match index.insert(s) {
            Ok(()) | Err(IndexError::SlotOccupied(_)) => Ok(()),
            Err(e) => Err(e),
        })?;
    for &slot in p.removed.iter().filter(|&&s| p.ids.id_of(s).is_none()) {
        // Absent from the graph only if it never got there; nothing to tombstone.
        let _ = index.delete(Slot(slot));
    }
    // A fuzzy checkpoint may hold nodes whose id mapping it did not: no id points to
    // them, so they can never be returned; tombstone them so they are not counted.
    let bound = if p.inserted.is_empty() && p.removed.is_empty() {
        0 // nothing replayed: the checkpoint's graph and ids agree
    } else {
        index.vectors().store.len() as u32
    };
    let orphans: Vec<u32> = (0..bound)
        .filter(|&s| index.contains(Slot(s)) && p.ids.id_of(s).is_none())
        .collect();
    for s in orphans {
        let _ = index.delete(Slot(s));
    }
    Ok(CollectionInner {
        cid: p.record.id,
        name: p.record.name,
        config: p.config,
        dir: p.dir,
        index,
        ids: IdMap::new(p.ids),
        dropped: AtomicBool::new(false),
    })
}

fn graph_error(file: &Path, e: IndexError) -> Error {
    match e {
        IndexError::Corruption { offset, reason } => Error::corruption(file, offset as u64, reason),
        IndexError::UnsupportedVersion(found) => Error::UnsupportedVersion {
            file: file.to_path_buf(),
            found,
            supported: 1,
        },
        IndexError::SlotOutOfRange { slot, len } => Error::corruption(
            file,
            0,
            format!("the graph names slot {slot} but the vector store holds {len}"),
        ),
        IndexError::DimensionMismatch { expected, got } => Error::corruption(
            file,
            32,
            format!("the graph is of {got}-d vectors, its collection of {expected}-d"),
        ),
        other => other.into(),
    }
}

/// Removes collection directories the catalog does not know: left by a drop that
/// crashed after committing. Best effort.
fn remove_orphan_dirs(path: &Path, collections: &BTreeMap<String, Arc<CollectionInner>>) {
    let Ok(entries) = std::fs::read_dir(path.join("c")) else {
        return;
    };
    for entry in entries.flatten() {
        let known = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
            .is_some_and(|cid| collections.values().any(|c| c.cid.0 == cid));
        if !known {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}
