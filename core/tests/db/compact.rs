//! Compaction: the files shrink to what the live vectors need, every vector and search
//! result survives it (and reopening, and a crash between its steps), deleted vectors'
//! bytes leave the disk, and it runs beside writers and searchers and in the background.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use fletchdb::{CollectionConfig, Database, Metric, Options, SearchOptions};
use rand::{seq::SliceRandom, Rng, SeedableRng};

use crate::common::{check_against, stored, vector, StopOnDrop};

const DIM: usize = 32;

/// Options with no background checkpoint or compaction: the tests decide when.
fn quiet() -> Options {
    Options {
        checkpoint_interval: None,
        compaction_threshold_percent: 0,
        ..Options::default()
    }
}

fn rows(ids: &[u64], version: u32) -> Vec<f32> {
    ids.iter()
        .flat_map(|&id| vector(id, version, DIM))
        .collect()
}

/// What the collection should hold: `ids` at `version`.
fn model(ids: &[u64], version: u32) -> BTreeMap<u64, Vec<f32>> {
    ids.iter()
        .map(|&id| (id, stored(vector(id, version, DIM), Metric::L2)))
        .collect()
}

/// Bytes of the files under `dir`, recursively.
fn bytes_under(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| {
            let md = e.metadata().unwrap();
            if md.is_dir() {
                bytes_under(&e.path())
            } else {
                md.len()
            }
        })
        .sum()
}

#[test]
fn compaction_shrinks_the_store_and_keeps_every_vector() {
    let dir = tempfile::tempdir().unwrap();
    let n = 12_000u64;
    let ids: Vec<u64> = (0..n).collect();
    let db = Database::open(dir.path(), quiet()).unwrap();
    let c = db
        .create_collection("c", CollectionConfig::new(DIM, Metric::L2))
        .unwrap();
    c.insert_batch(&ids, &rows(&ids, 0)).unwrap();
    // Three quarters go, chosen at random, so the live vectors are spread over the store.
    let mut gone = ids.clone();
    gone.shuffle(&mut rand::rngs::StdRng::seed_from_u64(7));
    gone.truncate(9_000);
    c.delete_batch(&gone).unwrap();
    let mut model = model(&ids, 0);
    for id in &gone {
        model.remove(id);
    }
    let before = c.stats().unwrap();
    let done = c.compact().unwrap();
    eprintln!("{done:?}");
    let after = c.stats().unwrap();
    assert_eq!(after.tombstones, 0);
    assert_eq!(after.live, 3_000);
    assert!(done.moved > 0);
    assert!(done.files_removed > 0);
    assert_eq!(done.slots_before, before.slots);
    // 32-d: segments of 2,048, 2,048, 4,096 and 8,192 slots: 3,000 live fit in the first
    // two.
    assert_eq!(after.slots, 4_096);
    assert!(
        after.vector_bytes * 2 < before.vector_bytes,
        "{before:?} {after:?}"
    );
    assert!(done.bytes_after < done.bytes_before);
    assert!(after.last_compaction_at.is_some());
    check_against(&c, &model, Metric::L2, 20);

    // The store grows again from the cut, and everything survives reopening.
    let more: Vec<u64> = (n..n + 3_000).collect();
    c.insert_batch(&more, &rows(&more, 1)).unwrap();
    for &id in &more {
        model.insert(id, stored(vector(id, 1, DIM), Metric::L2));
    }
    check_against(&c, &model, Metric::L2, 20);
    drop(c);
    db.close().unwrap();
    let db = Database::open(dir.path(), quiet()).unwrap();
    let c = db.collection("c").unwrap();
    check_against(&c, &model, Metric::L2, 20);
    assert_eq!(c.stats().unwrap().slots, 6_000);
    // A second compaction with nothing to gain changes nothing it should not.
    let again = c.compact().unwrap();
    assert_eq!((again.moved, again.files_removed), (0, 0));
    check_against(&c, &model, Metric::L2, 20);
}

#[test]
fn a_rewritten_collection_compacts_to_its_fresh_size() {
    let dir = tempfile::tempdir().unwrap();
    let ids: Vec<u64> = (0..6_000).collect();
    let db = Database::open(dir.path(), quiet()).unwrap();
    let c = db
        .create_collection("c", CollectionConfig::new(DIM, Metric::L2))
        .unwrap();
    c.insert_batch(&ids, &rows(&ids, 0)).unwrap();
    db.checkpoint().unwrap();
    let fresh = c.stats().unwrap();
    for round in 1..=3 {
        c.upsert_batch(&ids, &rows(&ids, round)).unwrap();
        db.checkpoint().unwrap();
    }
    let churned = c.stats().unwrap();
    assert!(churned.slots >= 2 * ids.len() - 100, "{churned:?}");
    c.compact().unwrap();
    let s = c.stats().unwrap();
    let size = |s: &fletchdb::CollectionStats| s.vector_bytes + s.graph_bytes;
    assert!(
        size(&s) as f64 <= 1.2 * size(&fresh) as f64,
        "fresh {fresh:?}, compacted {s:?}"
    );
    let model = model(&ids, 3);
    check_against(&c, &model, Metric::L2, 20);
}

#[test]
fn deleted_vectors_bytes_do_not_outlive_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        // Small log segments, so several fill and are recycled as spares.
        wal_segment_size: 256 << 10,
        ..quiet()
    };
    let db = Database::open(dir.path(), options).unwrap();
    let c = db
        .create_collection("c", CollectionConfig::new(DIM, Metric::L2))
        .unwrap();
    // A marker value no other vector holds, in vectors that are then deleted or
    // replaced.
    let marker: f32 = 12_345.678;
    let marked = |id: u64| -> Vec<f32> {
        let mut v = vector(id, 0, DIM);
        v[3] = marker;
        v
    };
    let ids: Vec<u64> = (0..4_000).collect();
    let all: Vec<f32> = ids.iter().flat_map(|&id| marked(id)).collect();
    c.insert_batch(&ids, &all).unwrap();
    db.checkpoint().unwrap();
    c.delete_batch(&ids[..2_000]).unwrap();
    c.upsert_batch(&ids[2_000..], &rows(&ids[2_000..], 1))
        .unwrap();
    db.checkpoint().unwrap();
    let pattern = marker.to_le_bytes();
    let holding = |dir: &Path| -> Vec<String> {
        let mut found = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap().filter_map(Result::ok) {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else if std::fs::read(&p).unwrap().windows(4).any(|w| w == pattern) {
                    found.push(p.display().to_string());
                }
            }
        }
        found
    };
    assert!(
        !holding(dir.path()).is_empty(),
        "the test must see the marker before compacting"
    );
    c.compact().unwrap();
    assert_eq!(holding(dir.path()), Vec::<String>::new());
    let model = model(&ids[2_000..], 1);
    check_against(&c, &model, Metric::L2, 10);
    drop(c);
    db.close().unwrap();
    assert_eq!(holding(dir.path()), Vec::<String>::new());
}

#[test]
fn writers_and_searchers_go_on_during_compactions() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path(), quiet()).unwrap();
    let c = db
        .create_collection("c", CollectionConfig::new(DIM, Metric::L2))
        .unwrap();
    let ids: Vec<u64> = (0..8_000).collect();
    c.insert_batch(&ids, &rows(&ids, 0)).unwrap();
    let stop = AtomicBool::new(false);
    // Stops the writers and the searcher however the scope's body ends: a panic in it
    // once left them running and the test hung instead of failing.
    // Each writer owns ids `t * 2000 ..`: its final state is known.
    let finals: Vec<BTreeMap<u64, Option<u32>>> = std::thread::scope(|s| {
        let _stop = StopOnDrop(&stop);
        let searcher = s.spawn(|| {
            let mut searches = 0;
            while !stop.load(Ordering::Acquire) {
                let q = vector(searches, 9, DIM);
                let hits = c.search(&q, 10, &SearchOptions::default()).unwrap();
                // A hit whose id a writer moved on meanwhile is dropped, not returned
                // under the wrong id: 3 writers, so at most 3 such.
                assert!(hits.len() >= 7, "{hits:?}");
                let mut seen: Vec<u64> = hits.iter().map(|h| h.id).collect();
                seen.sort_unstable();
                seen.dedup();
                assert_eq!(seen.len(), hits.len(), "an id came back twice: {hits:?}");
                searches += 1;
            }
            searches
        });
        let writers: Vec<_> = (0..3u64)
            .map(|t| {
                let (c, stop) = (&c, &stop);
                s.spawn(move || {
                    let mut rng = rand::rngs::StdRng::seed_from_u64(t);
                    let mut state: BTreeMap<u64, Option<u32>> = BTreeMap::new();
                    let mut version = 1;
                    while !stop.load(Ordering::Acquire) {
                        let id = t * 2_000 + rng.random_range(0..2_000);
                        if rng.random_range(0..4) == 0 {
                            c.delete(id).unwrap();
                            state.insert(id, None);
                        } else {
                            c.upsert(id, &vector(id, version, DIM)).unwrap();
                            state.insert(id, Some(version));
                        }
                        version += 1;
                    }
                    state
                })
            })
            .collect();
        let mut moved = 0;
        let mut longest = Duration::ZERO;
        for _ in 0..4 {
            std::thread::sleep(Duration::from_millis(300));
            let done = c.compact().unwrap();
            moved += done.moved;
            longest = longest.max(done.longest_pause);
        }
        stop.store(true, Ordering::Release);
        eprintln!("compactions moved {moved}; longest writer pause {longest:?}");
        assert!(searcher.join().unwrap() > 0);
        writers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let mut model = model(&ids, 0);
    for state in finals {
        for (id, v) in state {
            match v {
                Some(v) => model.insert(id, stored(vector(id, v, DIM), Metric::L2)),
                None => model.remove(&id),
            };
        }
    }
    check_against(&c, &model, Metric::L2, 20);
    drop(c);
    db.close().unwrap();
    let db = Database::open(dir.path(), quiet()).unwrap();
    check_against(&db.collection("c").unwrap(), &model, Metric::L2, 20);
}

#[test]
fn the_background_thread_compacts_past_the_threshold() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        checkpoint_interval: Some(Duration::from_millis(20)),
        compaction_threshold_percent: 20,
        ..Options::default()
    };
    let db = Database::open(dir.path(), options).unwrap();
    let c = db
        .create_collection("c", CollectionConfig::new(DIM, Metric::L2))
        .unwrap();
    let ids: Vec<u64> = (0..8_000).collect();
    c.insert_batch(&ids, &rows(&ids, 0)).unwrap();
    let slots = c.stats().unwrap().slots;
    c.delete_batch(&ids[..6_000]).unwrap();
    let started = Instant::now();
    while c.stats().unwrap().last_compaction_at.is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no background compaction: {:?}",
            c.stats().unwrap()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let s = c.stats().unwrap();
    assert!(s.slots < slots, "{s:?}");
    let model = model(&ids[6_000..], 0);
    check_against(&c, &model, Metric::L2, 10);
}

#[test]
fn segment_files_past_the_recorded_end_are_spare_capacity_after_a_crash() {
    // A crash after a compaction recorded the store's new end but before it deleted
    // the files past it: put such files back (the old ones, full of old vectors).
    let dir = tempfile::tempdir().unwrap();
    let cdir = dir.path().join("c").join("1");
    let ids: Vec<u64> = (0..12_000).collect();
    let db = Database::open(dir.path(), quiet()).unwrap();
    let c = db
        .create_collection("c", CollectionConfig::new(DIM, Metric::L2))
        .unwrap();
    c.insert_batch(&ids, &rows(&ids, 0)).unwrap();
    db.checkpoint().unwrap();
    let saved: Vec<(std::path::PathBuf, Vec<u8>)> = std::fs::read_dir(&cdir)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().starts_with("vec-"))
        .map(|e| (e.path(), std::fs::read(e.path()).unwrap()))
        .collect();
    c.delete_batch(&ids[..9_000]).unwrap();
    let done = c.compact().unwrap();
    assert!(done.files_removed > 0);
    drop(c);
    db.close().unwrap();
    let total = bytes_under(dir.path());
    for (path, bytes) in &saved {
        if !path.exists() {
            std::fs::write(path, bytes).unwrap();
        }
    }
    assert!(bytes_under(dir.path()) > total);
    let mut model = model(&ids[9_000..], 0);
    let db = Database::open(dir.path(), quiet()).unwrap();
    let c = db.collection("c").unwrap();
    check_against(&c, &model, Metric::L2, 20);
    // New vectors go over the old files' slots, and read back as written.
    let more: Vec<u64> = (20_000..26_000).collect();
    c.insert_batch(&more, &rows(&more, 2)).unwrap();
    for &id in &more {
        model.insert(id, stored(vector(id, 2, DIM), Metric::L2));
    }
    check_against(&c, &model, Metric::L2, 20);
    drop(c);
    db.close().unwrap();
    let db = Database::open(dir.path(), quiet()).unwrap();
    check_against(&db.collection("c").unwrap(), &model, Metric::L2, 20);
}
