//! Searchable at once after a crash: open returns once the log is read, the replayed
//! vectors are scanned exactly beside the graph while the background thread links them,
//! and writes, checkpoints, closes and kills in that window lose nothing.
//!
//! The SIGKILL test's child is this test binary run again with `FLETCHDB_LINK_CHILD`
//! set.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use fletchdb::{
    Collection, CollectionConfig, Database, Metadata, Metric, Options, Payload, SearchOptions,
    Where,
};
use rand::Rng;
use serde_json::json;

use crate::common::{check_against, exact, no_checkpoints, run_child, vector};

const CHILD: &str = "FLETCHDB_LINK_CHILD";
const DIM: usize = 16;
const METRIC: Metric = Metric::L2;
/// Records left in the log for the open to replay: in a test build, linking them takes
/// seconds, so checks and kills land while it runs.
const BASE: u64 = 4_000;

fn even(id: u64) -> Payload {
    let mut m = Metadata::new();
    m.insert("even".into(), json!(id.is_multiple_of(2)));
    Payload {
        metadata: Some(m),
        document: None,
    }
}

/// Writes `BASE` vectors (with metadata `even`) to a new database at `dir` and closes
/// it without a checkpoint; returns the model.
fn logged_only(dir: &Path) -> BTreeMap<u64, Vec<f32>> {
    let db = Database::open(dir, no_checkpoints()).unwrap();
    let c = db
        .create_collection("c", CollectionConfig::new(DIM, METRIC))
        .unwrap();
    let ids: Vec<u64> = (0..BASE).collect();
    let flat: Vec<f32> = ids.iter().flat_map(|&id| vector(id, 0, DIM)).collect();
    let payloads: Vec<Payload> = ids.iter().map(|&id| even(id)).collect();
    for ((ids, flat), payloads) in ids
        .chunks(500)
        .zip(flat.chunks(500 * DIM))
        .zip(payloads.chunks(500))
    {
        c.insert_with(ids, flat, payloads).unwrap();
    }
    ids.iter().map(|&id| (id, vector(id, 0, DIM))).collect()
}

/// The exact search (`ef` past the size) and a `where` search for `even = true` (which
/// the ids below `BASE` carry) both agree with the oracle.
fn check_searches(c: &Collection, model: &BTreeMap<u64, Vec<f32>>, probe: u64) {
    let q = vector(1_000_000 + probe, 0, DIM);
    let everything = SearchOptions {
        ef: model.len() + 10,
        ..SearchOptions::default()
    };
    let got: Vec<u64> = c
        .search(&q, 10, &everything)
        .unwrap()
        .iter()
        .map(|h| h.id)
        .collect();
    assert_eq!(got, exact(model, &q, 10, METRIC), "probe {probe}");
    let w = Where::from_json(&json!({"even": true})).unwrap();
    let evens: BTreeMap<u64, Vec<f32>> = model
        .iter()
        .filter(|(id, _)| **id < BASE && id.is_multiple_of(2)) // the child's writes have no metadata
        .map(|(&id, v)| (id, v.clone()))
        .collect();
    let filtered = SearchOptions {
        matching: Some(&w),
        ..everything
    };
    let got: Vec<u64> = c
        .search(&q, 10, &filtered)
        .unwrap()
        .iter()
        .map(|h| h.id)
        .collect();
    assert_eq!(got, exact(&evens, &q, 10, METRIC), "probe {probe}, even");
}

#[test]
fn replayed_vectors_are_searchable_while_they_are_linked() {
    let dir = tempfile::tempdir().unwrap();
    let model = logged_only(dir.path());
    let db = Database::open(dir.path(), no_checkpoints()).unwrap();
    assert_eq!(db.replayed_at_open(), BASE);
    let c = db.collection("c").unwrap();
    let (mut probes, mut while_unlinked) = (0u64, 0usize);
    loop {
        let unlinked = c.stats().unwrap().unlinked;
        if unlinked == 0 {
            break;
        }
        while_unlinked += 1;
        assert_eq!(c.len(), model.len());
        assert_eq!(
            c.get(probes % BASE).unwrap().as_ref(),
            model.get(&(probes % BASE))
        );
        check_searches(&c, &model, probes);
        probes += 1;
    }
    // The first check came right after open, long before 4,000 inserts of a test build.
    assert!(while_unlinked > 0, "the open linked everything itself");
    // All in the graph now: a plain walk finds the nearest.
    let ef64 = SearchOptions::default();
    let mut found = 0;
    for p in 0..50u64 {
        let q = vector(2_000_000 + p, 0, DIM);
        let got: Vec<u64> = c
            .search(&q, 10, &ef64)
            .unwrap()
            .iter()
            .map(|h| h.id)
            .collect();
        let want = exact(&model, &q, 10, METRIC);
        found += got.iter().filter(|id| want.contains(id)).count();
    }
    assert!(
        found >= 450,
        "recall@10 {} after linking",
        found as f64 / 500.0
    );
    let s = c.stats().unwrap();
    assert_eq!((s.live, s.unlinked, s.tombstones), (BASE as usize, 0, 0));
    check_against(&c, &model, METRIC, 5);
}

#[test]
fn writes_to_replayed_ids_before_they_are_linked_hold() {
    let dir = tempfile::tempdir().unwrap();
    let mut model = logged_only(dir.path());
    let db = Database::open(dir.path(), no_checkpoints()).unwrap();
    let c = db.collection("c").unwrap();
    // Replayed ids deleted, replaced and given new metadata, most of them still
    // unlinked (their linking starts a poll after open).
    let gone: Vec<u64> = (0..BASE).step_by(7).collect();
    assert_eq!(c.delete_batch(&gone).unwrap(), gone.len());
    for id in &gone {
        model.remove(id);
    }
    let replaced: Vec<u64> = (1..BASE)
        .step_by(5)
        .filter(|id| model.contains_key(id))
        .collect();
    for id in replaced {
        c.upsert_with(&[id], &vector(id, 1, DIM), &[even(id)])
            .unwrap();
        model.insert(id, vector(id, 1, DIM));
    }
    check_searches(&c, &model, 0);
    // A checkpoint links the rest first.
    db.checkpoint().unwrap();
    let s = c.stats().unwrap();
    assert_eq!((s.live, s.unlinked), (model.len(), 0));
    check_against(&c, &model, METRIC, 5);
    check_searches(&c, &model, 1);
    drop((c, db));
    let db = Database::open(dir.path(), no_checkpoints()).unwrap();
    assert_eq!(db.replayed_at_open(), 0);
    let c = db.collection("c").unwrap();
    check_against(&c, &model, METRIC, 5);
    check_searches(&c, &model, 2);
}

#[test]
fn closing_while_linking_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let model = logged_only(dir.path());
    let opts = Options {
        checkpoint_on_close: true,
        ..no_checkpoints()
    };
    // Closed at once, mid-linking: the close takes no checkpoint then, and the next
    // open replays the log again.
    drop(Database::open(dir.path(), opts).unwrap());
    let db = Database::open(dir.path(), opts).unwrap();
    let c = db.collection("c").unwrap();
    check_against(&c, &model, METRIC, 5);
    check_searches(&c, &model, 0);
}

#[test]
fn without_background_linking_open_links_before_it_returns() {
    let dir = tempfile::tempdir().unwrap();
    let model = logged_only(dir.path());
    let opts = Options {
        background_linking: false,
        ..no_checkpoints()
    };
    let db = Database::open(dir.path(), opts).unwrap();
    let c = db.collection("c").unwrap();
    assert_eq!(c.stats().unwrap().unlinked, 0);
    check_against(&c, &model, METRIC, 5);
}

/// The child: opens the database (replaying everything, since nothing is ever
/// checkpointed), says how many vectors it left unlinked, then upserts ids from 10,000
/// on, announcing each (`try ID VERSION`) and confirming it (`ok ID VERSION`).
fn child(dir: &Path) -> ! {
    let db = Database::open(dir, no_checkpoints()).unwrap();
    let c = db.collection("c").unwrap();
    let mut out = std::io::stdout();
    writeln!(out, "unlinked {}", c.stats().unwrap().unlinked).unwrap();
    let version: u32 = rand::rng().random_range(1..1_000_000);
    for n in 0u64.. {
        let id = 10_000 + n % 500;
        writeln!(out, "try {id} {version}").unwrap();
        c.upsert(id, &vector(id, version, DIM)).unwrap();
        writeln!(out, "ok {id} {version}").unwrap();
        out.flush().unwrap();
    }
    unreachable!()
}

#[test]
fn a_kill_while_linking_loses_no_acknowledged_write() {
    if let Ok(dir) = std::env::var(CHILD) {
        child(Path::new(&dir));
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut model = logged_only(tmp.path());
    let mut rng = rand::rng();
    let mut killed_while_unlinked = 0;
    for round in 0..6 {
        let lines = run_child(
            "linking::a_kill_while_linking",
            &[(CHILD, tmp.path())],
            Duration::from_millis(rng.random_range(200..900)),
            &["unlinked ", "try ", "ok "],
        );
        let mut in_flight = None;
        for line in lines {
            let f: Vec<&str> = line.split(' ').collect();
            match f.as_slice() {
                ["unlinked", n] => {
                    killed_while_unlinked += usize::from(n.parse::<usize>().unwrap() > 0)
                }
                ["try", id, v] => in_flight = Some((id.parse().unwrap(), v.parse().unwrap())),
                ["ok", id, v] => {
                    let (id, v): (u64, u32) = (id.parse().unwrap(), v.parse().unwrap());
                    model.insert(id, vector(id, v, DIM));
                    in_flight = None;
                }
                _ => {}
            }
        }
        let db = Database::open(tmp.path(), no_checkpoints()).unwrap();
        let c = db.collection("c").unwrap();
        // The write in flight at the kill may or may not have landed.
        if let Some((id, v)) = in_flight {
            if c.get(id).unwrap() == Some(vector(id, v, DIM)) {
                model.insert(id, vector(id, v, DIM));
            }
        }
        check_against(&c, &model, METRIC, 3);
        check_searches(&c, &model, round);
    }
    assert!(
        killed_while_unlinked > 0,
        "no child opened with vectors unlinked"
    );
}
