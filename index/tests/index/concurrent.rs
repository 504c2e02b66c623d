//! Many threads inserting while others search, through `&self`.

use std::sync::atomic::{AtomicBool, Ordering};

use fletchdb_index::{Hnsw, HnswConfig, Metric};

use crate::common::{clustered, StopOnDrop};

#[test]
fn inserts_and_searches_from_many_threads_then_every_vector_finds_itself() {
    let (n, dim, writers) = (12_000, 24, 4);
    let base = clustered(n, dim, 60, 0.8, 31);
    let index = Hnsw::in_memory(
        dim,
        HnswConfig {
            ef_construction: 100,
            ..HnswConfig::new(Metric::L2)
        },
    )
    .unwrap();
    let done = AtomicBool::new(false);
    let searches = std::thread::scope(|s| {
        let _stop = StopOnDrop(&done);
        let readers: Vec<_> = (0..2)
            .map(|r| {
                let (index, base, done) = (&index, &base, &done);
                s.spawn(move || {
                    let mut count = 0usize;
                    let mut i = r;
                    while !done.load(Ordering::Acquire) {
                        let q = &base[(i % n) * dim..][..dim];
                        let hits = index.search(q, 10, 32).unwrap();
                        // Whatever is returned is sorted and within the index.
                        assert!(hits.windows(2).all(|w| w[0].distance <= w[1].distance));
                        assert!(hits.iter().all(|h| h.slot.index() < n));
                        count += 1;
                        i += 7;
                    }
                    count
                })
            })
            .collect();
        let inserters: Vec<_> = (0..writers)
            .map(|w| {
                let (index, base) = (&index, &base);
                s.spawn(move || {
                    for row in (w..n).step_by(writers) {
                        index.add(&base[row * dim..][..dim]).unwrap();
                    }
                })
            })
            .collect();
        for t in inserters {
            t.join().unwrap();
        }
        done.store(true, Ordering::Release);
        readers
            .into_iter()
            .map(|t| t.join().unwrap())
            .sum::<usize>()
    });
    assert!(searches > 0);
    assert_eq!(index.len(), n);
    index.check_integrity().unwrap();
    // Slots were handed out in arrival order: look each vector up by its stored copy.
    // HNSW promises no single vector is found: a graph built in any order can leave a
    // few nodes hard to reach (sequential builds of this data at m 8 leave 8-14 of
    // 12,000 unfound at ef 64, `--example self_recall`), and concurrent inserts draw a
    // different graph each run.
    // At m 16, 20 concurrent builds over different data missed none and CI once saw one,
    // while the bug this guards against (nodes reachable before their layer-0 lists,
    // stranding concurrent inserts in cut-off cliques) missed 6-13 per build. So a
    // handful is the bound, not zero.
    let mut missing = 0;
    for slot in 0..n as u32 {
        let v = fletchdb_index::VectorSource::vector(index.vectors(), fletchdb_index::Slot(slot))
            .to_vec();
        let hit = index.search(&v, 1, 64).unwrap();
        if hit[0].distance != 0.0 {
            missing += 1;
            let deep = index.search(&v, 1, n).unwrap();
            eprintln!(
                "slot {slot}: ef=64 found {:?}, ef=n found {:?}",
                hit[0], deep[0]
            );
        }
    }
    assert!(missing <= 3, "{missing} vectors not found by themselves");
}

#[test]
fn batch_insert_and_batch_search_match_single_calls() {
    let (n, dim) = (3_000, 16);
    let base = clustered(n, dim, 30, 0.7, 41);
    let index = Hnsw::in_memory(dim, HnswConfig::new(Metric::L2)).unwrap();
    index.add_batch(&base).unwrap();
    let queries = &base[..50 * dim];
    let batch = index.search_batch(queries, 5, 64).unwrap();
    for (q, b) in queries.chunks(dim).zip(&batch) {
        assert_eq!(&index.search(q, 5, 64).unwrap(), b);
    }
}
