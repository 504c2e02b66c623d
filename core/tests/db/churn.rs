//! Rewrites and deletes: a collection rewritten in place keeps its size and its recall,
//! across checkpoints and reopening.

use std::collections::BTreeMap;

use fletchdb::{Collection, CollectionConfig, Database, Metric, Options, SearchOptions};

use crate::common::{check_against, exact, stored, vector};

const DIM: usize = 16;
const N: u64 = 2_000;

/// The defaults without background compaction.
fn no_compaction() -> Options {
    Options {
        compaction_threshold_percent: 0,
        ..Options::default()
    }
}

/// Recall@10 at ef 64 of `c` over 100 queries against brute force over `model`.
fn recall(c: &Collection, model: &BTreeMap<u64, Vec<f32>>, round: u32) -> f64 {
    let mut found = 0;
    for q in 0..100u64 {
        let query = vector(q, 1_000 + round, DIM);
        let truth = exact(model, &query, 10, Metric::L2);
        let hits = c.search(&query, 10, &SearchOptions::default()).unwrap();
        found += hits.iter().filter(|h| truth.contains(&h.id)).count();
    }
    found as f64 / 1_000.0
}

#[test]
fn a_collection_rewritten_in_place_keeps_its_size_and_recall() {
    let dir = tempfile::tempdir().unwrap();
    let ids: Vec<u64> = (0..N).collect();
    let rows = |ids: &[u64], round: u32| -> Vec<f32> {
        ids.iter().flat_map(|&id| vector(id, round, DIM)).collect()
    };
    let mut model: BTreeMap<u64, Vec<f32>> = ids
        .iter()
        .map(|&id| (id, stored(vector(id, 0, DIM), Metric::L2)))
        .collect();
    // Slot counts are asserted: no background compaction may shrink the store.
    let db = Database::open(dir.path(), no_compaction()).unwrap();
    let c = db
        .create_collection("c", CollectionConfig::new(DIM, Metric::L2))
        .unwrap();
    c.insert_batch(&ids, &rows(&ids, 0)).unwrap();
    db.checkpoint().unwrap();
    let fresh = recall(&c, &model, 0);
    let mut live = ids.clone();
    let mut slots_after_first = 0;
    for round in 1..=5u32 {
        if round == 1 {
            // A fifth of the ids go for good.
            let gone: Vec<u64> = live.iter().copied().filter(|id| id % 5 == 0).collect();
            assert_eq!(c.delete_batch(&gone).unwrap(), gone.len());
            live.retain(|id| id % 5 != 0);
            gone.iter().for_each(|id| {
                model.remove(id);
            });
        }
        c.upsert_batch(&live, &rows(&live, round)).unwrap();
        for &id in &live {
            model.insert(id, stored(vector(id, round, DIM), Metric::L2));
        }
        let before = c.stats().unwrap();
        assert_eq!(before.live, live.len());
        assert!(before.tombstones >= live.len());
        db.checkpoint().unwrap();
        let s = c.stats().unwrap();
        assert_eq!(
            s.tombstones, 0,
            "round {round}: the checkpoint healed them all"
        );
        assert_eq!(s.free_slots, s.slots - s.live, "round {round}");
        if round == 1 {
            slots_after_first = s.slots;
            assert_eq!(slots_after_first, N as usize + live.len());
        } else {
            assert_eq!(s.slots, slots_after_first, "round {round}: the store grew");
        }
        let r = recall(&c, &model, round);
        assert!(
            r >= fresh - 0.02,
            "round {round}: recall {r}, fresh {fresh}"
        );
    }
    check_against(&c, &model, Metric::L2, 200);

    // Reopened, the free slots are found again and the next rewrite still fits.
    let free = c.stats().unwrap().free_slots;
    drop((c, db));
    // Slot counts are asserted: no background compaction may shrink the store.
    let db = Database::open(dir.path(), no_compaction()).unwrap();
    let c = db.collection("c").unwrap();
    let s = c.stats().unwrap();
    assert_eq!((s.free_slots, s.slots), (free, slots_after_first));
    check_against(&c, &model, Metric::L2, 200);
    c.upsert_batch(&live, &rows(&live, 6)).unwrap();
    for &id in &live {
        model.insert(id, stored(vector(id, 6, DIM), Metric::L2));
    }
    assert_eq!(c.stats().unwrap().slots, slots_after_first);
    check_against(&c, &model, Metric::L2, 200);
    // And without a checkpoint, replay puts reused slots back as they were.
    drop((c, db));
    let options = Options {
        checkpoint_on_close: false,
        ..no_compaction()
    };
    let db = Database::open(dir.path(), options).unwrap();
    let c = db.collection("c").unwrap();
    check_against(&c, &model, Metric::L2, 200);
}
