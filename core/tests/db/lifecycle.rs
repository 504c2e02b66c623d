//! Open, drop, close and reopen: the last handle's drop releases everything before it
//! returns, `close` releases the lock while other handles live, and background
//! failures show in `health`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use fletchdb::{CollectionConfig, Database, Durability, Error, Metric, Options};

use crate::common::{no_checkpoints, vector};

/// Options that keep the background checkpointer as busy as it can be.
fn busy_checkpoints() -> Options {
    Options {
        checkpoint_interval: Some(Duration::from_millis(1)),
        checkpoint_bytes: 1,
        durability: Durability::None,
        ..Options::default()
    }
}

/// Threads spinning on every core until dropped, so the checkpoint thread and the test
/// thread are descheduled at awkward moments, as under a real load.
struct Burn(Arc<AtomicBool>, Vec<std::thread::JoinHandle<()>>);

impl Burn {
    fn start() -> Burn {
        let stop = Arc::new(AtomicBool::new(false));
        let n = std::thread::available_parallelism().map_or(2, |n| n.get());
        let threads = (0..n)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let mut x = 1u64;
                    while !stop.load(Ordering::Relaxed) {
                        for _ in 0..10_000 {
                            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                        }
                        std::hint::black_box(x);
                    }
                })
            })
            .collect();
        Burn(stop, threads)
    }
}

impl Drop for Burn {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
        for t in self.1.drain(..) {
            let _ = t.join();
        }
    }
}

/// The regression test for a reopen that failed with `Locked` under load: the
/// background checkpoint thread held the last strong handle when the user dropped
/// theirs, so the close (and the lock's release) happened later, on that thread.
#[test]
fn drop_then_reopen_never_finds_the_lock_taken() {
    let rounds: u64 = std::env::var("FLETCHDB_REOPEN_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000);
    let dir = tempfile::tempdir().unwrap();
    let _burn = Burn::start();
    let config = CollectionConfig::new(4, Metric::L2);
    for round in 0..rounds {
        let db = match Database::open(dir.path(), busy_checkpoints()) {
            Ok(db) => db,
            Err(e) => panic!("round {round}: reopen after drop failed: {e}"),
        };
        let c = db.get_or_create_collection("c", config).unwrap();
        assert_eq!(c.len() as u64, round, "round {round}: a write went missing");
        c.insert(round, &vector(round, 0, 4)).unwrap();
        // Let the checkpoint thread start a round (it polls every millisecond) so the
        // drops below often land while it holds the database.
        std::thread::sleep(Duration::from_micros(round % 3 * 500));
        if round % 2 == 0 {
            drop(db);
            drop(c); // the collection handle is the last one
        } else {
            drop(c);
            drop(db);
        }
    }
}

#[test]
fn close_releases_the_lock_while_collection_handles_live() {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path(), Options::default()).unwrap();
    let c = db
        .create_collection("c", CollectionConfig::new(2, Metric::L2))
        .unwrap();
    c.insert(1, &[1.0, 2.0]).unwrap();
    let kept = c.clone();
    db.close().unwrap();
    assert!(matches!(kept.insert(2, &[0.0, 1.0]), Err(Error::Closed)));
    assert!(matches!(kept.get(1), Err(Error::Closed)));
    assert!(matches!(kept.checkpoint(), Err(Error::Closed)));

    let again = Database::open(dir.path(), Options::default()).unwrap();
    assert_eq!(again.replayed_at_open(), 0, "close checkpointed");
    // Dropping the old handles now must not disturb the new open database.
    drop((c, kept));
    let c = again.collection("c").unwrap();
    assert_eq!(c.get(1).unwrap(), Some(vec![1.0, 2.0]));
    c.insert(2, &[0.0, 1.0]).unwrap();
    assert!(matches!(
        Database::open(dir.path(), Options::default()),
        Err(Error::Locked { .. })
    ));
}

#[test]
fn a_failed_background_checkpoint_is_counted_kept_and_retried() {
    let dir = tempfile::tempdir().unwrap();
    let options = Options {
        checkpoint_interval: Some(Duration::from_millis(5)),
        ..Options::default()
    };
    let db = Database::open(dir.path(), options).unwrap();
    let c = db
        .create_collection("c", CollectionConfig::new(2, Metric::L2))
        .unwrap();
    c.insert(1, &[1.0, 2.0]).unwrap(); // maps the first vector segment
    assert_eq!(db.health().background_errors, 0);
    // Take the collection's directory away: the next id map and graph files cannot be
    // written.
    let cdir = std::fs::read_dir(dir.path().join("c"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let moved = dir.path().join("moved-away");
    std::fs::rename(&cdir, &moved).unwrap();
    c.insert(2, &[3.0, 4.0]).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while db.health().background_errors == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "no background failure seen"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let health = db.health();
    let message = health.last_background_error.unwrap();
    assert!(
        message.contains("ids-") || message.contains("graph-"),
        "{message}"
    );
    let r = db.checkpoint();
    assert!(matches!(r, Err(Error::Io { .. })), "{r:?}");
    // Put it back: the background thread retries on its own, with nothing more
    // written, and nothing was lost.
    std::fs::rename(&moved, &cdir).unwrap();
    let before = db.health().background_checkpoints;
    while db.health().background_checkpoints == before {
        assert!(std::time::Instant::now() < deadline, "no background retry");
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(db.health().checkpoint_lsn > 0);
    drop(c);
    db.close().unwrap();
    let db = Database::open(dir.path(), Options::default()).unwrap();
    assert_eq!(db.replayed_at_open(), 0);
    let c = db.collection("c").unwrap();
    assert_eq!(
        c.get_batch(&[1, 2]).unwrap(),
        [Some(vec![1.0, 2.0]), Some(vec![3.0, 4.0])]
    );
}

/// `health()` times the open and each of its steps; a reopen that replays the log
/// spends time replaying it.
#[test]
fn health_times_the_open_and_its_steps() {
    let dir = tempfile::tempdir().unwrap();
    // No checkpoint by size or time either, so the reopen replays all 300 puts.
    let no_checkpoint = no_checkpoints();
    {
        let db = Database::open(dir.path(), no_checkpoint).unwrap();
        let c = db
            .create_collection("c", CollectionConfig::new(8, Metric::L2))
            .unwrap();
        for id in 0..300 {
            c.insert(id, &vector(id, 0, 8)).unwrap();
        }
        let h = db.health();
        assert!(h.opened_in > Duration::ZERO);
        assert!(
            h.open.total() <= h.opened_in,
            "{:?} {:?}",
            h.open,
            h.opened_in
        );
        db.close().unwrap();
    }
    let db = Database::open(dir.path(), no_checkpoint).unwrap();
    let h = db.health();
    assert_eq!(h.replayed_at_open, db.replayed_at_open());
    assert!(h.replayed_at_open >= 300, "{}", h.replayed_at_open);
    let steps = h.open;
    for (name, d) in [
        ("catalog", steps.catalog),
        ("stores", steps.stores),
        ("replay", steps.replay),
        ("linking", steps.linking),
    ] {
        assert!(d > Duration::ZERO, "{name}: {steps:?}");
    }
    assert!(steps.total() <= h.opened_in, "{steps:?} {:?}", h.opened_in);
    assert!(steps.to_string().contains(" ms, replay "), "{steps}");
}
