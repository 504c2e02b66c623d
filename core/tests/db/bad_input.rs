//! Every kind of bad input gets a typed error and loses nothing: wrong dimensions, NaN
//! and infinity, zero vectors under cosine, empty batches, unknown collections,
//! duplicate ids, bad configurations, a closed database, a second open.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use fletchdb::{CollectionConfig, Database, Error, Metric, Options, SearchOptions};

use crate::common::{check_against, stored, vector};

#[test]
fn bad_writes_and_queries_are_refused_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path(), Options::default()).unwrap();
    let dim = 4;
    let c = db
        .create_collection("c", CollectionConfig::new(dim, Metric::Cosine))
        .unwrap();
    let mut model = BTreeMap::new();
    for id in 0..50u64 {
        c.insert(id, &vector(id, 0, dim)).unwrap();
        model.insert(id, stored(vector(id, 0, dim), Metric::Cosine));
    }
    let good = vector(999, 0, dim);
    let q = SearchOptions::default();

    let dims = c.insert(100, &[1.0, 2.0]);
    assert!(
        matches!(
            dims,
            Err(Error::DimensionMismatch {
                expected: 4,
                got: 2
            })
        ),
        "{dims:?}"
    );
    assert!(matches!(
        c.upsert(1, &[1.0; 5]),
        Err(Error::DimensionMismatch { .. })
    ));
    assert!(matches!(
        c.insert(100, &[1.0, f32::NAN, 0.0, 0.0]),
        Err(Error::InvalidVector { .. })
    ));
    assert!(matches!(
        c.insert(100, &[f32::INFINITY, 0.0, 0.0, 0.0]),
        Err(Error::InvalidVector { .. })
    ));
    assert!(
        matches!(c.insert(100, &[0.0; 4]), Err(Error::InvalidVector { .. })),
        "zero vector under cosine"
    );
    assert!(matches!(
        c.insert(3, &good),
        Err(Error::DuplicateId { id: 3 })
    ));
    assert!(matches!(
        c.insert_batch(&[], &[]),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        c.insert_batch(&[100, 101], &good),
        Err(Error::DimensionMismatch { .. })
    ));
    let two: Vec<f32> = [good.clone(), good.clone()].concat();
    assert!(matches!(
        c.insert_batch(&[100, 100], &two),
        Err(Error::DuplicateId { id: 100 })
    ));
    assert!(matches!(
        c.insert_batch(&[100, 5], &two),
        Err(Error::DuplicateId { id: 5 })
    ));
    let mut nan = two.clone();
    nan[6] = f32::NAN;
    assert!(matches!(
        c.upsert_batch(&[100, 101], &nan),
        Err(Error::InvalidVector { .. })
    ));
    assert!(matches!(
        c.search(&[1.0], 3, &q),
        Err(Error::DimensionMismatch { .. })
    ));
    assert!(matches!(
        c.search(&[f32::NAN; 4], 3, &q),
        Err(Error::InvalidVector { .. })
    ));
    assert!(matches!(
        c.search_batch(&[1.0; 5], 3, &q),
        Err(Error::DimensionMismatch { .. })
    ));
    assert!(c.search(&good, 0, &q).unwrap().is_empty());

    assert!(matches!(
        db.collection("nope"),
        Err(Error::CollectionNotFound { .. })
    ));
    assert!(matches!(
        db.drop_collection("nope"),
        Err(Error::CollectionNotFound { .. })
    ));
    assert!(matches!(
        db.create_collection("", CollectionConfig::new(4, Metric::L2)),
        Err(Error::InvalidArgument(_))
    ));
    for bad in [
        CollectionConfig::new(0, Metric::L2),
        CollectionConfig {
            m: 1,
            ..CollectionConfig::new(4, Metric::L2)
        },
        CollectionConfig {
            ef_construction: 0,
            ..CollectionConfig::new(4, Metric::L2)
        },
    ] {
        assert!(
            matches!(
                db.create_collection("x", bad),
                Err(Error::InvalidArgument(_))
            ),
            "{bad:?}"
        );
    }
    assert_eq!(db.list_collections(), ["c"]);

    // The batch reads and deletes: bad input changes nothing.
    assert!(matches!(
        c.delete_batch(&[]),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        c.delete_batch(&[1, 2, 1]),
        Err(Error::DuplicateId { id: 1 })
    ));
    assert!(c.contains(1).unwrap() && c.contains(2).unwrap());
    assert_eq!(c.delete_batch(&[3, 4, 1_000]).unwrap(), 2);
    model.remove(&3);
    model.remove(&4);
    assert_eq!(c.delete_batch(&[3, 4]).unwrap(), 0, "already gone");
    let got = c.get_batch(&[5, 3, 6]).unwrap();
    assert_eq!(got[0].as_deref(), Some(&model[&5][..]));
    assert_eq!(got[1], None);
    assert_eq!(got[2].as_deref(), Some(&model[&6][..]));
    assert!(c.get_batch(&[]).unwrap().is_empty());
    for mismatch in [
        CollectionConfig::new(dim + 1, Metric::Cosine),
        CollectionConfig::new(dim, Metric::L2),
    ] {
        assert!(matches!(
            db.get_or_create_collection("c", mismatch),
            Err(Error::InvalidArgument(_))
        ));
    }
    let same = CollectionConfig {
        m: 32,
        ..CollectionConfig::new(dim, Metric::Cosine)
    };
    assert_eq!(
        db.get_or_create_collection("c", same).unwrap().config().m,
        16
    );

    check_against(&c, &model, Metric::Cosine, 5);
    drop(c);
    db.close().unwrap();
    let db = Database::open(dir.path(), Options::default()).unwrap();
    let c = db.collection("c").unwrap();
    check_against(&c, &model, Metric::Cosine, 5);

    let handle = db.clone();
    db.close().unwrap();
    assert!(matches!(c.insert(200, &good), Err(Error::Closed)));
    assert!(matches!(c.search(&good, 1, &q), Err(Error::Closed)));
    assert!(matches!(c.delete_batch(&[5]), Err(Error::Closed)));
    assert!(matches!(c.get_batch(&[5]), Err(Error::Closed)));
    assert!(matches!(handle.collection("c"), Err(Error::Closed)));
}

const CHILD: &str = "FLETCHDB_OPEN_CHILD";

#[test]
fn a_second_open_is_locked_in_this_process_and_another() {
    if let Ok(dir) = std::env::var(CHILD) {
        let _db = Database::open(&dir, Options::default()).unwrap();
        println!("opened");
        std::thread::sleep(std::time::Duration::from_secs(600));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    {
        let _db = Database::open(dir.path(), Options::default()).unwrap();
        assert!(matches!(
            Database::open(dir.path(), Options::default()),
            Err(Error::Locked { .. })
        ));
    }
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "bad_input::a_second_open",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let opened = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map_while(Result::ok)
        .any(|l| l.ends_with("opened"));
    assert!(opened);
    assert!(matches!(
        Database::open(dir.path(), Options::default()),
        Err(Error::Locked { .. })
    ));
    child.kill().unwrap();
    child.wait().unwrap();
    Database::open(dir.path(), Options::default()).expect("the lock died with the child");
}

#[test]
fn damaged_files_are_reported_not_trusted() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = Database::open(dir.path(), Options::default()).unwrap();
        let c = db
            .create_collection("c", CollectionConfig::new(4, Metric::L2))
            .unwrap();
        for id in 0..100u64 {
            c.insert(id, &vector(id, 0, 4)).unwrap();
        }
    }
    let graph = std::fs::read_dir(dir.path().join("c/1"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "hnsw"))
        .expect("a graph file after a clean close");
    let mut bytes = std::fs::read(&graph).unwrap();
    // The header, which the open reads.
    bytes[20] ^= 0x40;
    std::fs::write(&graph, &bytes).unwrap();
    match Database::open(dir.path(), Options::default()) {
        Err(Error::Corruption { file, .. }) => assert_eq!(file, graph),
        other => panic!("damaged graph header: {other:?}"),
    }
    bytes[20] ^= 0x40;
    // The layer-0 lists, which it checks where first read: the search that reads the
    // damaged run fails, and so does everything after it.
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(&graph, &bytes).unwrap();
    {
        let db = Database::open(dir.path(), Options::default()).unwrap();
        let c = db.collection("c").unwrap();
        let corrupt = |r: fletchdb::Result<_>| match r {
            Err(Error::Corruption { file, .. }) => assert_eq!(file, graph),
            other => panic!("damaged graph lists: {other:?}"),
        };
        let every_list = SearchOptions {
            ef: 200,
            ..Default::default()
        };
        corrupt(c.search(&vector(7, 0, 4), 10, &every_list).map(drop));
        corrupt(c.check_graph());
        corrupt(c.search(&vector(7, 0, 4), 1, &Default::default()).map(drop));
    }
    bytes[mid] ^= 0x40;
    std::fs::write(&graph, &bytes).unwrap();
    // The id map beside it: a flipped bit, then the file gone.
    let map = graph.with_file_name(
        graph
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .replace("graph-", "ids-")
            .replace(".hnsw", ".map"),
    );
    let mut ids = std::fs::read(&map).unwrap();
    ids[40] ^= 0x02;
    std::fs::write(&map, &ids).unwrap();
    match Database::open(dir.path(), Options::default()) {
        Err(Error::Corruption { file, .. }) => assert_eq!(file, map),
        other => panic!("damaged id map: {other:?}"),
    }
    std::fs::remove_file(&map).unwrap();
    match Database::open(dir.path(), Options::default()) {
        Err(Error::Io { path, .. }) => assert_eq!(path, map),
        other => panic!("missing id map: {other:?}"),
    }
    ids[40] ^= 0x02;
    std::fs::write(&map, &ids).unwrap();
    assert_eq!(
        Database::open(dir.path(), Options::default())
            .unwrap()
            .collection("c")
            .unwrap()
            .len(),
        100
    );
    // Losing the catalog is refused, not taken for an empty database.
    std::fs::remove_file(dir.path().join("catalog.redb")).unwrap();
    assert!(matches!(
        Database::open(dir.path(), Options::default()),
        Err(Error::Corruption { .. })
    ));
}

#[test]
fn a_damaged_vector_is_reported_by_get_and_search_never_returned() {
    let dir = tempfile::tempdir().unwrap();
    {
        let db = Database::open(dir.path(), Options::default()).unwrap();
        let c = db
            .create_collection("c", CollectionConfig::new(4, Metric::L2))
            .unwrap();
        for id in 0..100u64 {
            c.insert(id, &vector(id, 0, 4)).unwrap();
        }
    }
    // Slot 42 holds id 42 (inserted in order): flip a bit of its second float.
    let seg = dir.path().join("c/1/vec-0.seg");
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes[4096 + 42 * 16 + 4] ^= 0x01;
    std::fs::write(&seg, &bytes).unwrap();
    let db = Database::open(dir.path(), Options::default()).unwrap();
    let c = db.collection("c").unwrap();
    assert_eq!(c.get(41).unwrap(), Some(vector(41, 0, 4)));
    match c.get(42) {
        Err(Error::Corruption { file, offset, .. }) => {
            assert_eq!(file, seg);
            assert_eq!(offset, 4096 + 42 * 16);
        }
        other => panic!("{other:?}"),
    }
    // A search whose hits include it fails; others are unaffected.
    let near42 = SearchOptions {
        ef: 200,
        filter: None,
        matching: None,
    };
    assert!(matches!(
        c.search(&vector(42, 0, 4), 3, &near42),
        Err(Error::Corruption { .. })
    ));
    let hits = c.search(&vector(7, 0, 4), 1, &near42).unwrap();
    assert_eq!(hits[0].id, 7);
}
