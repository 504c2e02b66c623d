//! Replay: what the log holds after the last checkpoint comes back exactly, also when
//! checkpoints ran while writers wrote.

use std::collections::BTreeMap;

use fletchdb::{CollectionConfig, Database, Durability, Metric, Options};

use crate::common::{check_against, no_checkpoints, stored, vector};

#[test]
fn a_clean_close_reopens_without_replay() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = Database::open(dir.path(), Options::default()).unwrap();
        let c = db
            .create_collection("c", CollectionConfig::new(4, Metric::L2))
            .unwrap();
        for id in 0..200 {
            c.insert(id, &vector(id, 0, 4)).unwrap();
        }
    }
    let db = Database::open(dir.path(), Options::default()).unwrap();
    assert_eq!(db.replayed_at_open(), 0);
    assert_eq!(db.collection("c").unwrap().len(), 200);
}

#[test]
fn the_log_alone_rebuilds_everything() {
    let dir = tempfile::tempdir().unwrap();
    let dim = 8;
    let mut model = BTreeMap::new();
    {
        let db = Database::open(dir.path(), no_checkpoints()).unwrap();
        let c = db
            .create_collection("c", CollectionConfig::new(dim, Metric::InnerProduct))
            .unwrap();
        for id in 0..400u64 {
            c.insert(id, &vector(id, 0, dim)).unwrap();
            model.insert(id, vector(id, 0, dim));
        }
        for id in (0..400u64).step_by(3) {
            c.upsert(id, &vector(id, 1, dim)).unwrap();
            model.insert(id, vector(id, 1, dim));
        }
        for id in (0..400u64).step_by(5) {
            c.delete(id).unwrap();
            model.remove(&id);
        }
    }
    let db = Database::open(dir.path(), no_checkpoints()).unwrap();
    assert_eq!(db.replayed_at_open(), 400 + 134 + 80);
    check_against(
        &db.collection("c").unwrap(),
        &model,
        Metric::InnerProduct,
        10,
    );
    // Replaying again (nothing was checkpointed) gives the same.
    drop(db);
    let db = Database::open(dir.path(), no_checkpoints()).unwrap();
    check_against(
        &db.collection("c").unwrap(),
        &model,
        Metric::InnerProduct,
        10,
    );
}

#[test]
fn checkpoints_taken_while_writing_then_replay_agree() {
    let dir = tempfile::tempdir().unwrap();
    let dim = 8;
    let model = parking_lot::Mutex::new(BTreeMap::new());
    {
        let opts = Options {
            durability: Durability::None,
            ..no_checkpoints()
        };
        let db = Database::open(dir.path(), opts).unwrap();
        let c = db
            .create_collection("c", CollectionConfig::new(dim, Metric::Cosine))
            .unwrap();
        std::thread::scope(|s| {
            for t in 0..4u64 {
                let (c, model) = (&c, &model);
                s.spawn(move || {
                    for i in 0..400u64 {
                        let id = t * 10_000 + i % 150;
                        let version = (i / 150) as u32;
                        if i % 13 == 0 {
                            c.delete(id).unwrap();
                            model.lock().remove(&id);
                        } else {
                            c.upsert(id, &vector(id, version, dim)).unwrap();
                            model
                                .lock()
                                .insert(id, stored(vector(id, version, dim), Metric::Cosine));
                        }
                    }
                });
            }
            s.spawn(|| {
                for _ in 0..10 {
                    db.checkpoint().unwrap();
                    std::thread::sleep(std::time::Duration::from_millis(3));
                }
            });
        });
        c.flush().unwrap();
        // Dropped without a final checkpoint: the tail is replayed over the last one.
    }
    let db = Database::open(dir.path(), no_checkpoints()).unwrap();
    let model = model.into_inner();
    check_against(&db.collection("c").unwrap(), &model, Metric::Cosine, 10);
    drop(db);
    let db = Database::open(dir.path(), Options::default()).unwrap();
    check_against(&db.collection("c").unwrap(), &model, Metric::Cosine, 10);
}

#[test]
fn background_checkpoints_keep_the_log_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        durability: Durability::None,
        checkpoint_bytes: 64 << 10,
        wal_segment_size: 64 << 10,
        ..Options::default()
    };
    let db = Database::open(dir.path(), opts).unwrap();
    let c = db
        .create_collection("c", CollectionConfig::new(32, Metric::L2))
        .unwrap();
    for id in 0..5000u64 {
        c.insert(id, &vector(id, 0, 32)).unwrap();
    }
    // 5,000 records of 176 bytes is ~860 KiB of log; with a checkpoint every 64 KiB the
    // log directory must stay far smaller.
    std::thread::sleep(std::time::Duration::from_millis(500));
    let wal_bytes: u64 = std::fs::read_dir(dir.path().join("wal"))
        .unwrap()
        .flatten()
        .map(|e| e.metadata().unwrap().len())
        .sum();
    assert!(wal_bytes < 600 << 10, "log holds {wal_bytes} bytes");
}

#[test]
fn a_time_triggered_checkpoint_bounds_what_a_crash_replays() {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        checkpoint_interval: Some(std::time::Duration::from_millis(150)),
        ..no_checkpoints()
    };
    {
        let db = Database::open(dir.path(), opts).unwrap();
        let c = db
            .create_collection("c", CollectionConfig::new(4, Metric::L2))
            .unwrap();
        for id in 0..50 {
            c.insert(id, &vector(id, 0, 4)).unwrap();
        }
        std::thread::sleep(std::time::Duration::from_millis(700));
        // Closed without a final checkpoint, as a crash would leave it.
    }
    let db = Database::open(dir.path(), opts).unwrap();
    assert_eq!(
        db.replayed_at_open(),
        0,
        "the background checkpoint covered everything"
    );
    assert_eq!(db.collection("c").unwrap().len(), 50);
}

/// Fuzz finding F5: with no checkpoint yet, dropping every collection left log records
/// that no collection in the catalog explained, and open took that for a lost catalog.
#[test]
fn dropping_every_collection_before_any_checkpoint_reopens_empty() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = Database::open(dir.path(), no_checkpoints()).unwrap();
        let c = db
            .create_collection("c", CollectionConfig::new(4, Metric::L2))
            .unwrap();
        c.insert(7, &vector(7, 0, 4)).unwrap();
        drop(c);
        db.drop_collection("c").unwrap();
    }
    let db = Database::open(dir.path(), no_checkpoints()).unwrap();
    assert!(db.list_collections().is_empty());
    let c = db
        .create_collection("c", CollectionConfig::new(4, Metric::L2))
        .unwrap();
    assert_eq!(c.len(), 0, "the dropped collection's records stay dropped");
}

/// A database whose last checkpoint kept the id map in the catalog (one entry per id,
/// before the id map file) opens from it, and its next checkpoint moves the map into
/// its file and drops the catalog's.
#[test]
fn an_id_map_kept_in_the_catalog_is_read_then_moved_to_its_file() {
    use fletchdb_storage::catalog::{Catalog, CollectionId};
    let dir = tempfile::tempdir().unwrap();
    let metric = Metric::L2;
    let mut model = BTreeMap::new();
    {
        let db = Database::open(dir.path(), Options::default()).unwrap();
        let c = db
            .create_collection("c", CollectionConfig::new(4, metric))
            .unwrap();
        for id in 0..300u64 {
            c.insert(id * 5, &vector(id, 0, 4)).unwrap();
            model.insert(id * 5, stored(vector(id, 0, 4), metric));
        }
        c.upsert(10, &vector(10, 1, 4)).unwrap();
        model.insert(10, stored(vector(10, 1, 4), metric));
        c.delete(15).unwrap();
        model.remove(&15);
    }
    // Rewrite it as the older layout: the pairs into the catalog, the state's flag off,
    // the file gone.
    let cdir = dir.path().join("c/1");
    let map = std::fs::read_dir(&cdir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "map"))
        .expect("an id map file after a clean close");
    let file = fletchdb_storage::idmap::decode(&std::fs::read(&map).unwrap()).unwrap();
    let pairs: Vec<(u64, u32)> = (0..file.ids.len())
        .filter(|&s| file.mapped[s / 64] & (1 << (s % 64)) != 0)
        .map(|s| (file.ids[s], s as u32))
        .collect();
    assert_eq!(pairs.len(), model.len());
    let cid = CollectionId(1);
    {
        let catalog = Catalog::open(&dir.path().join("catalog.redb")).unwrap();
        let mut state = catalog.collection_state(cid).unwrap();
        assert_eq!(
            state.blob.pop(),
            Some(1),
            "the flag of an id map in its file"
        );
        let mut txn = catalog.begin().unwrap();
        txn.put_ids(cid, &pairs).unwrap();
        txn.set_collection_state(cid, &state).unwrap();
        txn.commit().unwrap();
        catalog.close().unwrap();
    }
    std::fs::remove_file(&map).unwrap();
    {
        let db = Database::open(dir.path(), Options::default()).unwrap();
        let c = db.collection("c").unwrap();
        check_against(&c, &model, metric, 20);
        c.insert(7, &vector(7, 3, 4)).unwrap();
        model.insert(7, stored(vector(7, 3, 4), metric));
    }
    let maps = std::fs::read_dir(&cdir)
        .unwrap()
        .flatten()
        .filter(|e| e.path().extension().is_some_and(|x| x == "map"))
        .count();
    assert_eq!(maps, 1, "the close's checkpoint wrote the map's file");
    let catalog = Catalog::open(&dir.path().join("catalog.redb")).unwrap();
    assert!(
        catalog.ids(cid).unwrap().is_empty(),
        "the catalog's map is dropped"
    );
    assert_eq!(catalog.collection_state(cid).unwrap().blob.last(), Some(&1));
    catalog.close().unwrap();
    let db = Database::open(dir.path(), Options::default()).unwrap();
    check_against(&db.collection("c").unwrap(), &model, metric, 20);
}
