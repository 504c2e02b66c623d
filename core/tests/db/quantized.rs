//! Collections whose searches walk compact codes (`CollectionConfig::quantization`): the
//! setting and the fitted i8 scale survive close and reopen, replay re-encodes with the
//! kept scale, and searches agree with an exact oracle.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use fletchdb::{CollectionConfig, Database, Metric, Options, Quantization, SearchOptions};

use crate::common::{check_against, exact, stored, vector};

const DIM: usize = 16;

fn config(q: Quantization, metric: Metric) -> CollectionConfig {
    CollectionConfig {
        quantization: q,
        ..CollectionConfig::new(DIM, metric)
    }
}

/// Recall@10 at ef 64 of 50 probe queries against the oracle.
fn recall(c: &fletchdb::Collection, model: &BTreeMap<u64, Vec<f32>>, metric: Metric) -> f64 {
    let opts = SearchOptions::default();
    let mut found = 0;
    for p in 0..50u64 {
        let q = vector(7_000_000 + p, 0, DIM);
        let truth = exact(model, &q, 10, metric);
        let hits = c.search(&q, 10, &opts).unwrap();
        found += hits.iter().filter(|h| truth.contains(&h.id)).count();
    }
    found as f64 / 500.0
}

#[test]
fn quantization_and_its_scale_survive_reopen_and_replay() {
    for (q, metric) in [
        (Quantization::I8, Metric::Cosine),
        (Quantization::I8, Metric::L2),
        (Quantization::F16, Metric::InnerProduct),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let mut model = BTreeMap::new();
        let probe = vector(9_999_999, 0, DIM);
        let before = {
            let db = Database::open(dir.path(), Options::default()).unwrap();
            let c = db.create_collection("c", config(q, metric)).unwrap();
            let ids: Vec<u64> = (0..3_000).collect();
            let flat: Vec<f32> = ids.iter().flat_map(|&id| vector(id, 0, DIM)).collect();
            c.insert_batch(&ids, &flat).unwrap();
            for &id in &ids {
                model.insert(id, stored(vector(id, 0, DIM), metric));
            }
            c.checkpoint().unwrap();
            // After the checkpoint: replayed at the next open, with the kept scale.
            for id in 3_000..3_500u64 {
                c.insert(id, &vector(id, 0, DIM)).unwrap();
                model.insert(id, stored(vector(id, 0, DIM), metric));
            }
            let r = recall(&c, &model, metric);
            assert!(r >= 0.95, "{q:?} {metric:?}: recall {r}");
            c.search(&probe, 10, &SearchOptions::default()).unwrap()
        };
        let db = Database::open(dir.path(), Options::default()).unwrap();
        let c = db.collection("c").unwrap();
        assert_eq!(c.config().quantization, q);
        // Searchable at once, while the background thread may still be encoding the
        // codes (the walks score the f32 vectors until then).
        check_against(&c, &model, metric, 10);
        wait_for_codes(&c);
        // The same graph, codes and scale: the same answers.
        assert_eq!(
            c.search(&probe, 10, &SearchOptions::default()).unwrap(),
            before
        );
        check_against(&c, &model, metric, 10);
        let r = recall(&c, &model, metric);
        assert!(r >= 0.95, "{q:?} {metric:?} reopened: recall {r}");
    }
}

/// Waits (up to 30 s) until the background thread has encoded `c`'s codes.
fn wait_for_codes(c: &fletchdb::Collection) {
    let t = Instant::now();
    while c.stats().unwrap().code_bytes == 0 {
        assert!(t.elapsed() < Duration::from_secs(30), "no codes after 30 s");
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[test]
fn an_open_leaves_the_codes_to_the_background_thread_unless_linking_is_off() {
    for background_linking in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let metric = Metric::L2;
        let mut model = BTreeMap::new();
        {
            let db = Database::open(dir.path(), Options::default()).unwrap();
            let c = db
                .create_collection("c", config(Quantization::I8, metric))
                .unwrap();
            let ids: Vec<u64> = (0..3_000).collect();
            let flat: Vec<f32> = ids.iter().flat_map(|&id| vector(id, 0, DIM)).collect();
            c.insert_batch(&ids, &flat).unwrap();
            for &id in &ids {
                model.insert(id, vector(id, 0, DIM));
            }
            assert!(c.stats().unwrap().code_bytes > 0);
        }
        let options = Options {
            background_linking,
            ..Options::default()
        };
        let db = Database::open(dir.path(), options).unwrap();
        let c = db.collection("c").unwrap();
        if !background_linking {
            // Encoded before the open returned.
            assert!(c.stats().unwrap().code_bytes > 0);
        }
        // Exact answers either way, then with the codes, and writes go on.
        check_against(&c, &model, metric, 10);
        c.insert(5_000, &vector(5_000, 0, DIM)).unwrap();
        model.insert(5_000, vector(5_000, 0, DIM));
        wait_for_codes(&c);
        check_against(&c, &model, metric, 10);
        let r = recall(&c, &model, metric);
        assert!(
            r >= 0.95,
            "background linking {background_linking}: recall {r}"
        );
    }
}

#[test]
fn an_i8_collection_below_the_calibration_point_searches_exactly_enough() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path(), Options::default()).unwrap();
    let c = db
        .create_collection("small", config(Quantization::I8, Metric::L2))
        .unwrap();
    let mut model = BTreeMap::new();
    for id in 0..300u64 {
        c.insert(id, &vector(id, 0, DIM)).unwrap();
        model.insert(id, vector(id, 0, DIM));
    }
    check_against(&c, &model, Metric::L2, 10);
}
