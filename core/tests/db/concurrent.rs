//! Eight threads write and search at once; afterwards the collection equals a
//! brute-force model of every write.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};

use fletchdb::{CollectionConfig, Database, Durability, Metric, Options, SearchOptions};
use parking_lot::Mutex;

use crate::common::{check_against, vector, StopOnDrop};

#[test]
fn eight_threads_writing_and_searching_then_the_oracle_agrees() {
    let dir = tempfile::tempdir().unwrap();
    let dim = 16;
    let opts = Options {
        durability: Durability::Sync,
        checkpoint_bytes: 256 << 10,
        ..Options::default()
    };
    let db = Database::open(dir.path(), opts).unwrap();
    let c = db
        .create_collection("c", CollectionConfig::new(dim, Metric::L2))
        .unwrap();
    let model = Mutex::new(BTreeMap::new());
    let done = AtomicBool::new(false);
    let searches = std::thread::scope(|s| {
        let _stop = StopOnDrop(&done);
        let readers: Vec<_> = (0..4u64)
            .map(|r| {
                let (c, done) = (&c, &done);
                s.spawn(move || {
                    let mut n = 0;
                    while !done.load(Ordering::Acquire) {
                        let q = vector(800_000 + r * 1000 + n % 1000, 0, dim);
                        let hits = c.search(&q, 10, &SearchOptions::default()).unwrap();
                        assert!(hits.windows(2).all(|w| w[0].distance <= w[1].distance));
                        let mut ids: Vec<u64> = hits.iter().map(|h| h.id).collect();
                        ids.sort_unstable();
                        ids.dedup();
                        assert_eq!(ids.len(), hits.len(), "an id came back twice");
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        let writers: Vec<_> = (0..8u64)
            .map(|t| {
                let (c, model) = (&c, &model);
                s.spawn(move || {
                    for i in 0..300u64 {
                        let id = t * 1000 + i % 200;
                        let version = (i / 200) as u32;
                        match i % 10 {
                            9 => {
                                c.delete(id).unwrap();
                                model.lock().remove(&id);
                            }
                            5 => {
                                let ids = [t * 1000 + 500 + i, t * 1000 + 501 + i];
                                let flat =
                                    [vector(ids[0], 0, dim), vector(ids[1], 0, dim)].concat();
                                c.upsert_batch(&ids, &flat).unwrap();
                                let mut m = model.lock();
                                m.insert(ids[0], vector(ids[0], 0, dim));
                                m.insert(ids[1], vector(ids[1], 0, dim));
                            }
                            _ => {
                                c.upsert(id, &vector(id, version, dim)).unwrap();
                                model.lock().insert(id, vector(id, version, dim));
                            }
                        }
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        done.store(true, Ordering::Release);
        readers.into_iter().map(|r| r.join().unwrap()).sum::<u64>()
    });
    assert!(searches > 0);
    let model = model.into_inner();
    check_against(&c, &model, Metric::L2, 20);
    drop(c);
    db.close().unwrap();
    let db = Database::open(dir.path(), Options::default()).unwrap();
    check_against(&db.collection("c").unwrap(), &model, Metric::L2, 20);
}
