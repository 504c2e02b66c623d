//! Save and load: identical results after a round trip; damaged input is an error, never
//! a panic.

use fletchdb_index::{Hnsw, HnswConfig, InMemoryVectors, IndexError, Metric, Slot};

use crate::common::{clustered, queries_near};

fn build(n: usize, dim: usize, metric: Metric) -> (Hnsw<InMemoryVectors>, Vec<f32>) {
    let base = clustered(n, dim, 20, 0.6, 71);
    let index = Hnsw::in_memory(dim, HnswConfig::new(metric)).unwrap();
    index.add_batch(&base).unwrap();
    (index, base)
}

/// A fresh source holding the same stored vectors, as the database's store would.
fn same_vectors(index: &Hnsw<InMemoryVectors>) -> InMemoryVectors {
    use fletchdb_index::VectorSource;
    let src = index.vectors();
    let copy = InMemoryVectors::new(src.dim()).unwrap();
    for s in 0..src.len() as u32 {
        copy.push(src.vector(Slot(s))).unwrap();
    }
    copy
}

#[test]
fn save_then_load_gives_identical_results() {
    for metric in [Metric::L2, Metric::Cosine] {
        let (index, base) = build(4_000, 16, metric);
        for s in (0..4_000).step_by(13) {
            index.delete(Slot(s)).unwrap();
        }
        let mut bytes = Vec::new();
        index.save(&mut bytes).unwrap();
        let loaded = Hnsw::load(&bytes, same_vectors(&index)).unwrap();
        loaded.check_integrity().unwrap();
        assert_eq!(loaded.len(), index.len());
        assert_eq!(loaded.deleted_len(), index.deleted_len());
        assert_eq!(loaded.config(), index.config());
        for q in queries_near(&base, 16, 100, 72).chunks(16) {
            assert_eq!(
                loaded.search(q, 10, 50).unwrap(),
                index.search(q, 10, 50).unwrap()
            );
        }
        // Saving the loaded graph reproduces the bytes.
        let mut again = Vec::new();
        loaded.save(&mut again).unwrap();
        assert_eq!(bytes, again);
        // And the loaded index keeps accepting inserts.
        let s = loaded.vectors().push(&base[..16]).unwrap();
        if metric == Metric::L2 {
            loaded.insert(s).unwrap();
            loaded.check_integrity().unwrap();
        }
    }
}

#[test]
fn empty_index_round_trips() {
    let index = Hnsw::in_memory(3, HnswConfig::new(Metric::L2)).unwrap();
    let mut bytes = Vec::new();
    index.save(&mut bytes).unwrap();
    let loaded = Hnsw::load(&bytes, InMemoryVectors::new(3).unwrap()).unwrap();
    assert!(loaded.is_empty());
    assert!(loaded.search(&[1.0, 2.0, 3.0], 5, 10).unwrap().is_empty());
}

#[test]
fn every_truncation_and_every_flipped_byte_is_an_error() {
    let (index, _) = build(200, 4, Metric::L2);
    let mut bytes = Vec::new();
    index.save(&mut bytes).unwrap();
    for cut in 0..bytes.len() {
        let r = Hnsw::load(&bytes[..cut], same_vectors(&index));
        assert!(
            matches!(r, Err(IndexError::Corruption { .. })),
            "cut at {cut}"
        );
    }
    for i in 0..bytes.len() {
        let mut bad = bytes.clone();
        bad[i] ^= 0x5a;
        let r = Hnsw::load(&bad, same_vectors(&index));
        assert!(r.is_err(), "flip at {i} went unnoticed");
    }
}

#[test]
fn structurally_bad_input_with_a_valid_checksum_is_an_error_not_a_panic() {
    let (index, _) = build(300, 4, Metric::L2);
    let mut bytes = Vec::new();
    index.save(&mut bytes).unwrap();
    let body = bytes.len() - 4;
    let reseal = |b: &mut Vec<u8>| {
        let crc = crc32c::crc32c(&b[..body]);
        b[body..].copy_from_slice(&crc.to_le_bytes());
    };
    let mut errors = 0;
    for i in 12..body {
        for x in [0x01u8, 0x80, 0xff] {
            let mut bad = bytes.clone();
            bad[i] ^= x;
            reseal(&mut bad);
            // Either a typed error, or a graph that passes its own integrity check.
            match Hnsw::load(&bad, same_vectors(&index)) {
                Err(_) => errors += 1,
                Ok(g) => g.check_integrity().unwrap(),
            }
        }
    }
    assert!(errors > 0);
    // A vector source shorter than the graph is refused.
    let short = InMemoryVectors::new(4).unwrap();
    assert!(matches!(
        Hnsw::load(&bytes, short),
        Err(IndexError::Corruption { offset: 36, .. })
    ));
    // Another dimension is refused.
    let other = InMemoryVectors::new(5).unwrap();
    assert!(matches!(
        Hnsw::load(&bytes, other),
        Err(IndexError::Corruption { offset: 32, .. })
    ));
    // A future version is named as such.
    let mut future = bytes.clone();
    future[8] = 99;
    assert!(matches!(
        Hnsw::load(&future, same_vectors(&index)),
        Err(IndexError::UnsupportedVersion {
            found: 99,
            supported: 1
        })
    ));
    // A graph of another configuration than the caller expects is refused.
    let config = HnswConfig {
        m: index.config().m + 1,
        ..*index.config()
    };
    assert!(matches!(
        Hnsw::load_expecting(&bytes, same_vectors(&index), &config),
        Err(IndexError::Corruption { offset: 12, .. })
    ));
    assert!(Hnsw::load_expecting(&bytes, same_vectors(&index), index.config()).is_ok());
}

/// Saving beside inserts (a database checkpoint does) must write lists as some writer
/// left them: unlocked reads of a list being rewritten in place once wrote half the old
/// and half the new list, a duplicate link among them, and the file would not load
/// (found by the database's SIGKILL crash test).
#[test]
fn saves_taken_while_threads_insert_always_load() {
    let dim = 8;
    let n = 20_000;
    let base = clustered(n, dim, 30, 0.6, 5);
    // m = 4 keeps lists full, so nearly every insert rewrites some neighbour's list.
    let config = HnswConfig {
        m: 4,
        ef_construction: 32,
        ..HnswConfig::new(Metric::L2)
    };
    let index = Hnsw::in_memory(dim, config).unwrap();
    for v in base.chunks(dim) {
        index.vectors().push(v).unwrap();
    }
    let index_ref = &index;
    let done = std::sync::atomic::AtomicUsize::new(0);
    let saves = std::thread::scope(|s| {
        for t in 0..2u32 {
            let (index, done) = (&index, &done);
            s.spawn(move || {
                for slot in (t..n as u32).step_by(2) {
                    index.insert(Slot(slot)).unwrap();
                }
                done.fetch_add(1, std::sync::atomic::Ordering::Release);
            });
        }
        let mut saves = 0;
        while done.load(std::sync::atomic::Ordering::Acquire) < 2 || saves == 0 {
            let mut bytes = Vec::new();
            index.save(&mut bytes).unwrap();
            let loaded = Hnsw::load(&bytes, same_vectors(index_ref))
                .unwrap_or_else(|e| panic!("save {saves} taken beside inserts does not load: {e}"));
            loaded.check_integrity().unwrap();
            saves += 1;
        }
        saves
    });
    assert!(saves > 1, "only {saves} saves overlapped the inserts");
}
