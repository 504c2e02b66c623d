//! `Database::backup`: a copy at one log position while writers and searchers go on.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use fletchdb::{CollectionConfig, Database, Error, Metric, Options, Payload, SearchOptions, Where};
use serde_json::json;

use crate::common::{check_against, stored, vector};

const DIM: usize = 16;

fn payload(id: u64) -> Payload {
    Payload::new()
        .with_metadata(json!({"id": id, "even": id.is_multiple_of(2)}))
        .with_document(format!("document {id}"))
}

/// Small checkpoints and log segments: checkpoints and segment roll-overs happen while
/// the backups run.
fn busy() -> Options {
    Options {
        checkpoint_bytes: 32 << 10,
        wal_segment_size: 64 << 10,
        ..Options::default()
    }
}

#[test]
fn a_backup_under_concurrent_writes_holds_exactly_a_prefix_of_the_acknowledged_ones() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path().join("db"), busy()).unwrap();
    let c = db
        .create_collection("docs", CollectionConfig::new(DIM, Metric::L2))
        .unwrap();
    let acked = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (c, acked, stop) = (c.clone(), acked.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut id = 0u64;
            while !stop.load(Ordering::Acquire) {
                c.insert_with(&[id], &vector(id, 0, DIM), &[payload(id)])
                    .unwrap();
                id += 1;
                acked.store(id, Ordering::Release);
            }
        })
    };
    let searcher = {
        let (c, stop) = (c.clone(), stop.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Acquire) {
                c.search(&vector(7, 0, DIM), 5, &SearchOptions::default())
                    .unwrap();
            }
        })
    };
    let mut bounds = Vec::new();
    for round in 0..4 {
        while acked.load(Ordering::Acquire) < 300 * (round + 1) {
            // A writer that panicked acknowledges nothing more: fail, not wait.
            assert!(!writer.is_finished(), "the writer stopped early");
            std::thread::yield_now();
        }
        let before = acked.load(Ordering::Acquire);
        let dest = dir.path().join(format!("copy-{round}"));
        db.backup(&dest).unwrap();
        bounds.push((dest, before, acked.load(Ordering::Acquire)));
    }
    stop.store(true, Ordering::Release);
    writer.join().unwrap();
    searcher.join().unwrap();
    for (dest, before, after) in bounds {
        let copy = Database::open(&dest, Options::default()).unwrap();
        let got = copy.collection("docs").unwrap();
        let n = got.len() as u64;
        assert!(
            (before..=after).contains(&n),
            "{}: {n} writes, not between {before} and {after} acknowledged around the backup",
            dest.display()
        );
        assert_eq!(got.ids().unwrap(), (0..n).collect::<Vec<_>>(), "a prefix");
        let ids: Vec<u64> = (0..n).collect();
        let payloads = got.get_payloads(&ids).unwrap();
        for (id, p) in ids.iter().zip(payloads) {
            assert_eq!(got.get(*id).unwrap(), Some(vector(*id, 0, DIM)), "id {id}");
            assert_eq!(p, Some(payload(*id)), "id {id}'s payload");
        }
        let model: BTreeMap<u64, Vec<f32>> = ids
            .iter()
            .map(|&id| (id, stored(vector(id, 0, DIM), Metric::L2)))
            .collect();
        check_against(&got, &model, Metric::L2, 3);
    }
}

#[test]
fn a_backup_keeps_deletes_replacements_and_payloads_and_the_source_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path().join("db"), Options::default()).unwrap();
    let c = db
        .create_collection("docs", CollectionConfig::new(DIM, Metric::Cosine))
        .unwrap();
    let plain = db
        .create_collection("plain", CollectionConfig::new(4, Metric::L2))
        .unwrap();
    let mut model = BTreeMap::new();
    let ids: Vec<u64> = (0..400).collect();
    let vectors: Vec<f32> = ids.iter().flat_map(|&id| vector(id, 0, DIM)).collect();
    let payloads: Vec<Payload> = ids.iter().map(|&id| payload(id)).collect();
    c.insert_with(&ids, &vectors, &payloads).unwrap();
    plain.insert(1, &[1.0, 2.0, 3.0, 4.0]).unwrap();
    for &id in &ids {
        model.insert(id, stored(vector(id, 0, DIM), Metric::Cosine));
    }
    db.checkpoint().unwrap(); // some of it in the catalog and graph, the rest in the log
    for id in (0..400).step_by(7) {
        assert!(c.delete(id).unwrap());
        model.remove(&id);
    }
    for id in (1..400).step_by(11) {
        c.upsert(id, &vector(id, 1, DIM)).unwrap();
        model.insert(id, stored(vector(id, 1, DIM), Metric::Cosine));
    }
    let dest = dir.path().join("copy");
    std::fs::create_dir(&dest).unwrap(); // an empty directory will do
    let done = db.backup(&dest).unwrap();
    assert!(done.files >= 4 && done.bytes > 0, "{done:?}");
    // The source goes on.
    c.insert(10_000, &vector(10_000, 0, DIM)).unwrap();
    c.delete(3).unwrap();
    db.checkpoint().unwrap();

    let copy = Database::open(&dest, Options::default()).unwrap();
    assert_eq!(copy.list_collections(), ["docs", "plain"]);
    let got = copy.collection("docs").unwrap();
    check_against(&got, &model, Metric::Cosine, 5);
    for &id in model.keys() {
        let p = got.get_payloads(&[id]).unwrap().remove(0);
        // A plain upsert clears the payload.
        let want = if id % 11 == 1 {
            Payload::new()
        } else {
            payload(id)
        };
        assert_eq!(p, Some(want), "id {id}");
    }
    assert_eq!(
        got.count_where(&Where::from_json(&json!({"even": true})).unwrap())
            .unwrap(),
        {
            model
                .keys()
                .filter(|&&id| id % 2 == 0 && id % 11 != 1)
                .count()
        }
    );
    assert_eq!(
        copy.collection("plain").unwrap().get(1).unwrap(),
        Some(vec![1.0, 2.0, 3.0, 4.0])
    );
    copy.close().unwrap();
    assert_eq!(c.len(), model.len()); // one in (10,000), one out (3)
    drop((c, plain));
    db.close().unwrap();
    let reopened = Database::open(dir.path().join("db"), Options::default()).unwrap();
    let c = reopened.collection("docs").unwrap();
    assert!(c.contains(10_000).unwrap() && !c.contains(3).unwrap());
}

#[test]
fn a_destination_in_use_is_refused_and_nothing_is_left_behind() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path().join("db"), Options::default()).unwrap();
    db.create_collection("docs", CollectionConfig::new(2, Metric::L2))
        .unwrap()
        .insert(1, &[1.0, 2.0])
        .unwrap();
    let full = dir.path().join("full");
    std::fs::create_dir(&full).unwrap();
    std::fs::write(full.join("keep"), b"mine").unwrap();
    let file = dir.path().join("file");
    std::fs::write(&file, b"mine").unwrap();
    for dest in [&full, &file] {
        match db.backup(dest) {
            Err(Error::DestinationNotEmpty { path }) => assert_eq!(&path, dest),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(std::fs::read(full.join("keep")).unwrap(), b"mine");
    // A failed copy (its parent is a file) leaves no staging directory.
    assert!(db.backup(file.join("below")).is_err());
    let mut names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["db", "file", "full"]);
}
