//! The public API end to end: collections, every operation, reopen.

use std::collections::BTreeMap;

use fletchdb::{CollectionConfig, Database, Error, IdFilter, Metric, Options, SearchOptions};

use crate::common::{check_against, stored, vector};

#[test]
fn every_operation_then_reopen_gives_identical_results() {
    for metric in [Metric::L2, Metric::InnerProduct, Metric::Cosine] {
        let dir = tempfile::tempdir().unwrap();
        let dim = 12;
        let mut model = BTreeMap::new();
        let queries: Vec<Vec<f32>> = (0..20).map(|i| vector(500_000 + i, 0, dim)).collect();
        let before: Vec<Vec<fletchdb::Hit>>;
        {
            let db = Database::open(dir.path(), Options::default()).unwrap();
            let c = db
                .create_collection("c", CollectionConfig::new(dim, metric))
                .unwrap();
            for id in 0..300u64 {
                c.insert(id, &vector(id, 0, dim)).unwrap();
                model.insert(id, stored(vector(id, 0, dim), metric));
            }
            let ids: Vec<u64> = (300..600).collect();
            let flat: Vec<f32> = ids.iter().flat_map(|&id| vector(id, 0, dim)).collect();
            c.insert_batch(&ids, &flat).unwrap();
            for &id in &ids {
                model.insert(id, stored(vector(id, 0, dim), metric));
            }
            for id in (0..600u64).step_by(7) {
                c.upsert(id, &vector(id, 1, dim)).unwrap();
                model.insert(id, stored(vector(id, 1, dim), metric));
            }
            let up: Vec<u64> = (590..610).collect();
            let flat: Vec<f32> = up.iter().flat_map(|&id| vector(id, 2, dim)).collect();
            c.upsert_batch(&up, &flat).unwrap();
            for &id in &up {
                model.insert(id, stored(vector(id, 2, dim), metric));
            }
            for id in (0..610u64).step_by(11) {
                assert!(c.delete(id).unwrap());
                model.remove(&id);
            }
            assert!(!c.delete(0).unwrap(), "already gone");
            assert!(c.contains(1).unwrap() && !c.contains(11).unwrap());
            check_against(&c, &model, metric, 10);
            let opts = SearchOptions {
                ef: 200,
                filter: None,
                matching: None,
            };
            before = queries
                .iter()
                .map(|q| c.search(q, 10, &opts).unwrap())
                .collect();
            c.flush().unwrap();
        }
        let db = Database::open(dir.path(), Options::default()).unwrap();
        let c = db.collection("c").unwrap();
        check_against(&c, &model, metric, 10);
        let opts = SearchOptions {
            ef: 200,
            filter: None,
            matching: None,
        };
        let after: Vec<Vec<fletchdb::Hit>> = queries
            .iter()
            .map(|q| c.search(q, 10, &opts).unwrap())
            .collect();
        assert_eq!(
            before, after,
            "{metric:?}: results changed across close and reopen"
        );
    }
}

#[test]
fn collections_are_created_listed_and_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path(), Options::default()).unwrap();
    let a = db
        .create_collection("a", CollectionConfig::new(2, Metric::L2))
        .unwrap();
    db.create_collection("b", CollectionConfig::new(3, Metric::Cosine))
        .unwrap();
    assert!(matches!(
        db.create_collection("a", CollectionConfig::new(2, Metric::L2)),
        Err(Error::CollectionExists { .. })
    ));
    assert_eq!(db.list_collections(), ["a", "b"]);
    a.insert(1, &[1.0, 2.0]).unwrap();
    db.drop_collection("a").unwrap();
    assert!(matches!(
        a.insert(2, &[1.0, 2.0]),
        Err(Error::CollectionNotFound { .. })
    ));
    assert!(matches!(
        a.search(&[1.0, 2.0], 1, &SearchOptions::default()),
        Err(Error::CollectionNotFound { .. })
    ));
    assert!(matches!(
        db.collection("a"),
        Err(Error::CollectionNotFound { .. })
    ));
    assert!(matches!(
        db.drop_collection("a"),
        Err(Error::CollectionNotFound { .. })
    ));
    // A new collection of the same name starts empty, also after reopening.
    let a2 = db
        .create_collection("a", CollectionConfig::new(2, Metric::L2))
        .unwrap();
    assert!(a2.is_empty());
    a2.insert(5, &[0.0, 1.0]).unwrap();
    drop((a, a2));
    db.close().unwrap();
    let db = Database::open(dir.path(), Options::default()).unwrap();
    assert_eq!(db.list_collections(), ["a", "b"]);
    let a = db.collection("a").unwrap();
    assert_eq!(a.len(), 1);
    assert_eq!(a.get(5).unwrap(), Some(vec![0.0, 1.0]));
    assert_eq!(a.get(1).unwrap(), None);
}

#[test]
fn filtered_search_returns_only_admitted_ids() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(
        dir.path(),
        Options::default().durability(fletchdb::Durability::None),
    )
    .unwrap();
    let dim = 8;
    let c = db
        .create_collection("f", CollectionConfig::new(dim, Metric::L2))
        .unwrap();
    let ids: Vec<u64> = (0..3000).collect();
    let flat: Vec<f32> = ids.iter().flat_map(|&id| vector(id, 0, dim)).collect();
    c.insert_batch(&ids, &flat).unwrap();
    let allowed: Vec<u64> = (0..3000).filter(|i| i % 97 == 3).collect();
    let model: BTreeMap<u64, Vec<f32>> =
        allowed.iter().map(|&id| (id, vector(id, 0, dim))).collect();
    let q = vector(77_777, 0, dim);
    let opts = SearchOptions {
        ef: 64,
        filter: Some(IdFilter::Ids(&allowed)),
        matching: None,
    };
    let got: Vec<u64> = c
        .search(&q, 5, &opts)
        .unwrap()
        .iter()
        .map(|h| h.id)
        .collect();
    assert_eq!(got, crate::common::exact(&model, &q, 5, Metric::L2));
    let even = |id: u64| id.is_multiple_of(2);
    let opts = SearchOptions {
        ef: 64,
        filter: Some(IdFilter::Predicate(&even)),
        matching: None,
    };
    let hits = c.search(&q, 10, &opts).unwrap();
    assert_eq!(hits.len(), 10);
    assert!(hits.iter().all(|h| h.id % 2 == 0));
    let none: [u64; 0] = [];
    let opts = SearchOptions {
        ef: 64,
        filter: Some(IdFilter::Ids(&none)),
        matching: None,
    };
    assert!(c.search(&q, 10, &opts).unwrap().is_empty());
    // Fewer than k: fewer, not an error.
    let two = [5u64, 6];
    let opts = SearchOptions {
        ef: 64,
        filter: Some(IdFilter::Ids(&two)),
        matching: None,
    };
    assert_eq!(c.search(&q, 10, &opts).unwrap().len(), 2);
}

#[test]
fn batch_search_matches_single_searches() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path(), Options::default()).unwrap();
    let dim = 6;
    let c = db
        .create_collection("s", CollectionConfig::new(dim, Metric::Cosine))
        .unwrap();
    let ids: Vec<u64> = (0..800).collect();
    let flat: Vec<f32> = ids.iter().flat_map(|&id| vector(id, 0, dim)).collect();
    c.insert_batch(&ids, &flat).unwrap();
    let queries: Vec<f32> = (0..30).flat_map(|i| vector(9000 + i, 0, dim)).collect();
    let batch = c
        .search_batch(&queries, 5, &SearchOptions::default())
        .unwrap();
    for (q, b) in queries.chunks(dim).zip(&batch) {
        assert_eq!(&c.search(q, 5, &SearchOptions::default()).unwrap(), b);
    }
}
