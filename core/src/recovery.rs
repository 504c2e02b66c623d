//! Opening a database: a sequence of named steps, each returning what the next needs.
//!
//! 1. [`load_catalog`]: take the directory lock, open the catalog, read the checkpoint
//!    LSN X and the collections.
//! 2. [`map_stores`]: for each collection, map its vector store and publish the slots
//!    the checkpoint saved; read its graph file while a second thread loads its id map.
//!    Beside them, its payloads (metadata and documents) as the checkpoint stored them.
//! 3. [`replay_log`]: read the log from X: each put writes its vector back into its slot
//!    and points its id there, with its payload; each payload record replaces one; each
//!    delete forgets its id. Replay is idempotent, since the checkpoint may already hold
//!    some of these changes. Then finish the log, so appends go after its last record.
//! 4. [`load_graphs`]: load each collection's graph from the checkpoint (or start an
//!    empty one), insert the live replayed slots it lacks (in parallel), and tombstone
//!    every node no id points to any more; index the live ids' metadata.
//! 5. Remove what an interrupted drop or checkpoint left behind.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use fletchdb_index::{Calibration, Hnsw, IndexError, Slot};
use fletchdb_storage::catalog::{Catalog, CollectionId, CollectionRecord};
use fletchdb_storage::io::{OsDir, StorageDir};
use fletchdb_storage::vectors::{VectorStore, VectorStoreOptions};
use fletchdb_storage::wal::{Wal, WalOptions};
use fletchdb_storage::DirLock;
use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::collection::{collection_dir, CollectionInner};
use crate::error::{Error, Result};
use crate::graph_files;
use crate::health::OpenSteps;
use crate::ids::Ids;
use crate::options::{CollectionConfig, Options};
use crate::payload::store::Payloads;
use crate::payload::Payload;
use crate::record::{floats_into, Op};
use crate::source::StoreVectors;
use crate::unlinked::Unlinked;

/// What opening a database recovered.
pub(crate) struct Recovered {
    pub(crate) lock: DirLock,
    pub(crate) catalog: Catalog,
    pub(crate) wal: Wal,
    pub(crate) collections: BTreeMap<String, Arc<CollectionInner>>,
    /// Log records replayed.
    pub(crate) replayed: u64,
    /// The LSN of the checkpoint the open started from.
    pub(crate) checkpoint_lsn: u64,
    /// How long each step took.
    pub(crate) steps: OpenSteps,
}

/// Step 1's result: the catalog and what it says.
struct Start {
    lock: DirLock,
    catalog: Catalog,
    /// The checkpoint LSN X: replay starts there.
    lsn: u64,
    /// True if the catalog never held a collection: then it cannot explain collection
    /// files or log records. (One whose collections were all dropped can: the log may
    /// still hold records of the dropped ones, which replay skips.)
    pristine: bool,
    records: Vec<CollectionRecord>,
}

/// A collection being recovered, before its graph is built.
struct Pending {
    record: CollectionRecord,
    config: CollectionConfig,
    files: OsDir,
    /// The checkpoint's graph (or an empty one) over the collection's store, which
    /// replay writes vectors back into.
    index: Hnsw<StoreVectors>,
    ids: Ids,
    /// Stored payloads by id: the checkpoint's, then the log's changes.
    payloads: FxHashMap<u64, Box<[u8]>>,
    /// True if the catalog held any payload row: a checkpoint may have rows to remove
    /// even if replay leaves no payload.
    catalog_payloads: bool,
    generation: Option<u64>,
    /// The `i8` calibration the checkpoint kept, if any.
    calibration: Option<Calibration>,
    /// Slots the log put vectors into, in order.
    inserted: Vec<u32>,
    /// Slots the log replaced or deleted.
    removed: Vec<u32>,
}

/// Opens the database at `path`: the steps above.
pub(crate) fn recover(path: &Path, options: &Options) -> Result<Recovered> {
    let mut steps = OpenSteps::default();
    let t = Instant::now();
    let start = load_catalog(path)?;
    steps.catalog = t.elapsed();
    let t = Instant::now();
    let mut pending = map_stores(path, &start)?;
    steps.stores = t.elapsed();
    let t = Instant::now();
    let (wal, replayed) = replay_log(path, options, &start, &mut pending)?;
    steps.replay = t.elapsed();
    let t = Instant::now();
    let collections = load_graphs(pending, start.catalog.path(), options.background_linking)?;
    remove_orphan_dirs(path, &collections);
    steps.linking = t.elapsed();
    Ok(Recovered {
        lock: start.lock,
        catalog: start.catalog,
        wal,
        collections,
        replayed,
        checkpoint_lsn: start.lsn,
        steps,
    })
}

/// Step 1.
fn load_catalog(path: &Path) -> Result<Start> {
    std::fs::create_dir_all(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let lock = DirLock::acquire(path)?;
    let catalog = Catalog::open(&path.join("catalog.redb"))?;
    let lsn = catalog.checkpoint_lsn()?;
    let records = catalog.collections()?;
    let pristine = !catalog.ever_held_a_collection()?;
    let has_dirs = std::fs::read_dir(path.join("c")).is_ok_and(|mut d| d.next().is_some());
    if pristine && lsn == 0 && has_dirs {
        return Err(Error::corruption(
            catalog.path(),
            0,
            "the catalog never held a collection but collection files exist: catalog.redb was lost or replaced",
        ));
    }
    Ok(Start {
        lock,
        catalog,
        lsn,
        pristine,
        records,
    })
}

/// Step 2.
fn map_stores(path: &Path, start: &Start) -> Result<HashMap<CollectionId, Pending>> {
    let catalog = &start.catalog;
    let mut pending = HashMap::new();
    for record in &start.records {
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
        let dir = collection_dir(path, record.id);
        let mut store = VectorStore::open(&dir, config.dim, VectorStoreOptions::default())?;
        let files = OsDir::create(&dir).map_err(|source| Error::Io {
            path: dir.clone(),
            source,
        })?;
        let state = catalog.collection_state(record.id)?;
        store.publish_existing(state.next_slot)?;
        // An empty blob: no checkpoint has saved a graph yet.
        let saved = match state.blob.as_slice() {
            [] => None,
            blob => Some(graph_files::decode_state(blob).ok_or_else(|| {
                Error::corruption(
                    catalog.path(),
                    0,
                    format!(
                        "collection {:?} has a checkpoint state of {} bytes, not 8 or 9 \
                         (a generation, then whether the id map is in its file) or 16 \
                         or 17 (with a valid i8 calibration between)",
                        record.name,
                        blob.len()
                    ),
                )
            })?),
        };
        let generation = saved.map(|s| s.generation);
        let calibration = saved.and_then(|s| s.calibration);
        // The id map and the graph are independent: load them on two threads. At
        // 1,000,000 × 128-d (`db_bench open`, warm, 2026-12-03) the graph, used in
        // place from its file's mapping, takes 56-60 ms alone and 81-109 ms beside the
        // id map read from the catalog's one entry per id (91-120 ms); the id map's own
        // file takes a few milliseconds (`ids.rs`).
        let hnsw = config.hnsw();
        let (ids, index) = std::thread::scope(|s| {
            let ids = s.spawn(|| match saved {
                Some(s) if s.id_file => {
                    let file = graph_files::read_ids(&files, s.generation)?;
                    if file.ids.len() as u64 > u64::from(state.next_slot) {
                        return Err(Error::corruption(
                            dir.join(graph_files::ids_name(s.generation)),
                            16,
                            format!(
                                "the id map covers {} slots, past the {} the collection has",
                                file.ids.len(),
                                state.next_slot
                            ),
                        ));
                    }
                    Ok(Ids::from_file(file))
                }
                _ => Ok(Ids::from_pairs(&catalog.ids(record.id)?)),
            });
            let vectors = StoreVectors { store };
            let index = match generation {
                Some(g) => graph_files::read(&files, g)
                    .and_then(|bytes| graph_files::load(&files, g, bytes, vectors, &hnsw)),
                None => Hnsw::new(hnsw, vectors).map_err(Error::from),
            };
            let ids = ids
                .join()
                .map_err(|_| Error::InvalidArgument("the id map loader panicked".into()));
            (ids, index)
        });
        let (ids, index) = (ids??, index?);
        let payloads: FxHashMap<u64, Box<[u8]>> = catalog
            .metas(record.id)?
            .into_iter()
            .map(|(id, bytes)| (id, bytes.into_boxed_slice()))
            .collect();
        pending.insert(
            record.id,
            Pending {
                record: record.clone(),
                config,
                files,
                index,
                ids,
                catalog_payloads: !payloads.is_empty(),
                payloads,
                generation,
                calibration,
                inserted: Vec::new(),
                removed: Vec::new(),
            },
        );
    }
    Ok(pending)
}

/// Step 3: returns the log, ready for appends, and how many records it replayed.
fn replay_log(
    path: &Path,
    options: &Options,
    start: &Start,
    pending: &mut HashMap<CollectionId, Pending>,
) -> Result<(Wal, u64)> {
    let x = start.lsn;
    let wal_options = WalOptions {
        durability: options.durability,
        commit_window: options.commit_window,
        segment_size: options.wal_segment_size,
        ..WalOptions::default()
    };
    let wal_dir = path.join("wal");
    let mut log = Wal::open_path(&wal_dir, wal_options)?;
    if log.first_lsn() > x.max(1) {
        return Err(Error::corruption(
            &wal_dir,
            0,
            format!(
                "the log starts at LSN {} but replay must start at {x}: segments are \
                 missing, or catalog.redb is not the one this log belongs to",
                log.first_lsn()
            ),
        ));
    }
    let mut replayed = 0u64;
    let mut floats = Vec::new();
    while let Some(r) = log.next_record()? {
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
                payload,
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
                check_payload(&wal_dir, r.lsn, payload)?;
                p.index.vectors_mut().store.restore(slot, &floats)?;
                set_payload(&mut p.payloads, id, payload);
                // Even when the map already points here the graph may lack the slot;
                // `load_graph` inserts only what is live and missing.
                p.inserted.push(slot);
                if let Some(old) = p.ids.set(id, slot).filter(|&old| old != slot) {
                    p.removed.push(old);
                }
            }
            Op::Delete { cid, id } => {
                if let Some(p) = pending.get_mut(&cid) {
                    p.removed.extend(p.ids.remove(id));
                    p.payloads.remove(&id);
                }
            }
            Op::Payload { cid, id, payload } => {
                check_payload(&wal_dir, r.lsn, payload)?;
                if let Some(p) = pending.get_mut(&cid) {
                    set_payload(&mut p.payloads, id, payload);
                    // The next checkpoint writes it to the catalog, as it does a put's,
                    // before it trims the log that holds it.
                    p.ids.touch(id);
                }
            }
        }
    }
    if start.pristine && x == 0 && replayed > 0 {
        return Err(Error::corruption(
            start.catalog.path(),
            0,
            "the catalog never held a collection but the log holds records: catalog.redb was lost or replaced",
        ));
    }
    let wal = log.finish()?;
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
    Ok((wal, replayed))
}

/// [`Error::Corruption`] at `lsn` unless `payload` is a stored payload.
fn check_payload(wal_dir: &Path, lsn: u64, payload: &[u8]) -> Result<()> {
    match Payload::decode(payload) {
        Ok(_) => Ok(()),
        Err(e) => Err(Error::corruption(wal_dir, 0, format!("LSN {lsn}: {e}"))),
    }
}

/// `id`'s payload is now `bytes` (none when empty).
fn set_payload(payloads: &mut FxHashMap<u64, Box<[u8]>>, id: u64, bytes: &[u8]) {
    if bytes.is_empty() {
        payloads.remove(&id);
    } else {
        payloads.insert(id, bytes.into());
    }
}

/// Step 4, for every collection.
fn load_graphs(
    pending: HashMap<CollectionId, Pending>,
    catalog: &Path,
    background: bool,
) -> Result<BTreeMap<String, Arc<CollectionInner>>> {
    let mut collections = BTreeMap::new();
    for (_, p) in pending {
        let c = load_graph(p, catalog, background)?;
        collections.insert(c.name.clone(), Arc::new(c));
    }
    Ok(collections)
}

/// Loads a collection's graph and brings it up to date with the replayed log (inserting
/// the replayed slots it lacks, or with `background`, leaving them to the background
/// thread, see `unlinked.rs`); indexes its payloads (the catalog's, at `catalog`, and
/// the log's).
fn load_graph(p: Pending, catalog: &Path, background: bool) -> Result<CollectionInner> {
    let index = p.index;
    let graph_file = p
        .generation
        .map(|g| p.files.path().join(graph_files::name(g)));
    // Before the replayed inserts, so that they encode codes with the calibration the
    // first run fitted. With background linking the background thread encodes the
    // graph's slots (`Shared::start_codes`): walks score the f32 vectors until then.
    // At 1,000,000 × 128-d the encoding was about 40 % of a warm open.
    if background {
        index.quantize_deferred(p.config.quantization, p.calibration)?;
    } else {
        index.quantize(p.config.quantization, p.calibration)?;
    }
    graph_files::remove_stale(&p.files, p.generation);
    // Decide from the final id map, not the order of the log: with a fuzzy checkpoint
    // the map may already point an id at a slot that an earlier record in the replay
    // replaced and a later one restored. A slot some id points to is live; any other
    // is dead. (A slot is written again only once a checkpoint has freed it, so
    // within the log after the last checkpoint each slot takes at most one put.)
    let missing: Vec<u32> = p
        .inserted
        .iter()
        .copied()
        .filter(|&s| p.ids.id_of(s).is_some() && !index.contains(Slot(s)))
        .collect();
    let unlinked = if background {
        Unlinked::new(missing)
    } else {
        missing
            .par_iter()
            .try_for_each(|&s| link(&index, Slot(s), graph_file.as_deref()))?;
        Unlinked::default()
    };
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
    let payloads = Payloads::restore(p.payloads, p.catalog_payloads, |id| p.ids.slot_of(id))
        .map_err(|(id, e)| {
            Error::corruption(
                catalog,
                0,
                format!("collection {:?}, id {id}: {e}", p.record.name),
            )
        })?;
    CollectionInner::new(
        p.record.id,
        p.record.name,
        p.config,
        index,
        p.ids,
        payloads,
        unlinked,
    )
    .map(|c| c.loaded_from(graph_file))
}

/// Inserts a replayed slot into the graph; one already there is no error (replay is
/// idempotent). Damage the insert meets in the lists of the graph loaded from
/// `graph_file` is `Corruption` naming that file.
pub(crate) fn link(
    index: &Hnsw<StoreVectors>,
    slot: Slot,
    graph_file: Option<&Path>,
) -> Result<()> {
    match index.insert(slot) {
        Ok(()) | Err(IndexError::SlotOccupied(_)) => Ok(()),
        Err(e) => Err(graph_files::index_error(e, graph_file)),
    }
}

/// Step 5: removes collection directories the catalog does not know, left by a drop
/// that crashed after committing. Best effort.
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
