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

/// A saved graph as the words of a buffer, the memory `Hnsw::load_in_place` takes.
fn words(bytes: &[u8]) -> Vec<u64> {
    bytes
        .chunks_exact(8)
        .map(|w| u64::from_le_bytes(w.try_into().unwrap()))
        .collect()
}

/// The graph a fixture file was saved from, built again: `n` clustered 8-d vectors
/// added one at a time, then every 17th slot deleted.
fn fixture_twin(n: usize) -> (Hnsw<InMemoryVectors>, Vec<f32>) {
    let base = clustered(n, 8, 6, 0.6, 5);
    let index = Hnsw::in_memory(8, HnswConfig::new(Metric::L2)).unwrap();
    for v in base.chunks(8) {
        index.add(v).unwrap();
    }
    for s in (0..n as u32).step_by(17) {
        index.delete(Slot(s)).unwrap();
    }
    (index, base)
}

/// `loaded` is the graph `index` (built from `base`): it passes its integrity check,
/// counts the same nodes and answers every query alike.
fn same_graph(loaded: &Hnsw<InMemoryVectors>, index: &Hnsw<InMemoryVectors>, base: &[f32]) {
    loaded.check_integrity().unwrap();
    assert_eq!(loaded.len(), index.len());
    assert_eq!(loaded.deleted_len(), index.deleted_len());
    for q in queries_near(base, 8, 50, 9).chunks(8) {
        assert_eq!(
            loaded.search(q, 10, 40).unwrap(),
            index.search(q, 10, 40).unwrap()
        );
    }
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
    assert_eq!(bytes.len() % 8, 0);
    let loaded = Hnsw::load(&bytes, InMemoryVectors::new(3).unwrap()).unwrap();
    assert!(loaded.is_empty());
    assert!(loaded.search(&[1.0, 2.0, 3.0], 5, 10).unwrap().is_empty());
}

/// Where a version 3 file's parts lie: (the lists' offset, bytes of a run of 32 slots'
/// lists, where the lists end, the runs' checksums' offset), from its header.
fn layout(bytes: &[u8]) -> (usize, usize, usize, usize) {
    let word = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
    let (m, bound) = (word(16), word(36));
    let records = u64::from_le_bytes(bytes[48..56].try_into().unwrap()) as usize;
    let lists = (64 + records).next_multiple_of(4096);
    let end = lists + bound * (1 + 2 * m) * 4;
    (lists, 32 * (1 + 2 * m) * 4, end, end.next_multiple_of(8))
}

/// Recomputes a version 3 file's checksums (each run's and the last), so that a
/// change to it is judged by the loader's other checks.
fn reseal(b: &mut [u8]) {
    let (lists, run, lists_end, sums) = layout(b);
    let end = b.len() - 8;
    for (c, at) in (lists..lists_end).step_by(run).enumerate() {
        let crc = crc32c::crc32c(&b[at..(at + run).min(lists_end)]);
        b[sums + 4 * c..sums + 4 * c + 4].copy_from_slice(&crc.to_le_bytes());
    }
    let crc = crc32c::crc32c_append(crc32c::crc32c(&b[..lists]), &b[sums..end]);
    b[end..end + 4].copy_from_slice(&crc.to_le_bytes());
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

/// A small graph's file is small: its one, partial chunk holds only its slots' lists.
#[test]
fn a_small_graph_makes_a_small_file() {
    let (index, _) = build(3, 4, Metric::L2);
    let mut bytes = Vec::new();
    index.save(&mut bytes).unwrap();
    assert!(bytes.len() < 5_000, "{} bytes for 3 nodes", bytes.len());
    let loaded = Hnsw::load(&bytes, same_vectors(&index)).unwrap();
    loaded.check_integrity().unwrap();
    for i in 0..100 {
        loaded.add(&[i as f32, 0.5, 0.25, 1.0]).unwrap();
    }
    loaded.check_integrity().unwrap();
}

#[test]
fn structurally_bad_input_with_valid_checksums_is_an_error_not_a_panic() {
    let (index, _) = build(300, 4, Metric::L2);
    let mut bytes = Vec::new();
    index.save(&mut bytes).unwrap();
    let (_, _, _, sums) = layout(&bytes);
    let mut errors = 0;
    for i in 12..sums {
        for x in [0x01u8, 0x80, 0xff] {
            let mut bad = bytes.clone();
            bad[i] ^= x;
            if (16..20).contains(&i) || (36..40).contains(&i) || (48..64).contains(&i) {
                // m, the bound and the sizes: resealing needs the layout they give.
                let r = Hnsw::load(&bad, same_vectors(&index));
                assert!(r.is_err(), "size field at {i} changed unnoticed");
                continue;
            }
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
            supported: 3
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

/// A graph saved by the first format (version 1, written by the code before version
/// 2 and kept as a file) still loads, and answers as the same graph built again.
#[test]
fn a_version_1_file_still_loads() {
    let bytes = include_bytes!("../fixtures/graph-v1.bin");
    assert_eq!(&bytes[8..12], &1u32.to_le_bytes());
    let (index, base) = fixture_twin(600);
    same_graph(
        &Hnsw::load(bytes, same_vectors(&index)).unwrap(),
        &index,
        &base,
    );
    // Damage in a version 1 file is found too.
    let mut bad = bytes.to_vec();
    bad[100] ^= 1;
    assert!(Hnsw::load(&bad, same_vectors(&index)).is_err());
}

/// A graph saved by format version 2 (a checksum per 1,024 slots' lists, written by
/// the code before version 3 and kept as a file) still loads, copied or in place, and
/// answers as the same graph built again; damage in its lists is still found.
#[test]
fn a_version_2_file_still_loads() {
    let bytes = include_bytes!("../fixtures/graph-v2.bin");
    assert_eq!(&bytes[8..12], &2u32.to_le_bytes());
    let (index, base) = fixture_twin(1_100);
    let in_place = |bytes: &[u8]| {
        Hnsw::load_in_place(Box::new(words(bytes)), same_vectors(&index), index.config())
    };
    same_graph(
        &Hnsw::load(bytes, same_vectors(&index)).unwrap(),
        &index,
        &base,
    );
    same_graph(&in_place(bytes).unwrap(), &index, &base);
    // A link word in the first chunk's lists (used in place), then in the last's
    // (copied): copied, the load finds it; in place, the first read of that chunk does.
    let (lists, ..) = layout(bytes);
    for at in [lists + 8, bytes.len() - 16 - 4 * 33] {
        let mut bad = bytes.to_vec();
        bad[at] ^= 1;
        assert!(matches!(
            Hnsw::load(&bad, same_vectors(&index)),
            Err(IndexError::Corruption { .. })
        ));
        let loaded = in_place(&bad).unwrap();
        assert!(matches!(
            loaded.check_lists(),
            Err(IndexError::Corruption { .. })
        ));
    }
}

/// Memory loaded in place is checked as it is read, a run of 32 slots at a time: a
/// damaged run does not stop the load, but the first search that reads it fails with
/// its offset, and so does every search and save after it, while nothing reads the
/// damaged links (no wrong answer, no panic).
#[test]
fn damaged_lists_loaded_in_place_fail_the_search_that_reads_them() {
    let (index, base) = build(3_000, 8, Metric::L2);
    let mut bytes = Vec::new();
    index.save(&mut bytes).unwrap();
    let (lists, run, ..) = layout(&bytes);
    let stride = run / 32;
    let load = |b: &[u8]| {
        Hnsw::load_in_place(Box::new(words(b)), same_vectors(&index), index.config()).unwrap()
    };
    // Undamaged: every search agrees with the index saved, and nothing fails.
    let clean = load(&bytes);
    for q in queries_near(&base, 8, 30, 5).chunks(8) {
        assert_eq!(
            clean.search(q, 10, 64).unwrap(),
            index.search(q, 10, 64).unwrap()
        );
    }
    clean.check_lists().unwrap();
    // Slot 1,500's first link now names a slot far out of range (its run's checksum
    // no longer matches).
    let slot = 1_500;
    let at = lists + slot * stride + 4;
    let mut bad = bytes.clone();
    bad[at..at + 4].copy_from_slice(&0x00ff_ffffu32.to_le_bytes());
    let damaged = load(&bad);
    let queries = queries_near(&base, 8, 200, 6);
    let mut failed = 0;
    for q in queries.chunks(8) {
        match damaged.search(q, 10, 64) {
            Ok(hits) => {
                assert_eq!(failed, 0, "a search answered after the damage was found");
                assert_eq!(hits, index.search(q, 10, 64).unwrap());
            }
            Err(IndexError::Corruption { offset, reason }) => {
                assert_eq!(offset, lists + (slot / 32 * 32) * stride, "{reason}");
                failed += 1;
            }
            Err(e) => panic!("{e}"),
        }
    }
    // The run is read by some search, or at the latest by the full check or a save.
    let err = damaged.check_lists().unwrap_err();
    assert!(matches!(err, IndexError::Corruption { .. }), "{err}");
    assert!(damaged.save(&mut Vec::new()).is_err());
    assert!(damaged.search(&queries[..8], 10, 64).is_err());
    // Sound structure under a matching checksum is still checked link by link.
    let mut resealed = bad.clone();
    reseal(&mut resealed);
    let damaged = load(&resealed);
    match damaged.check_lists().unwrap_err() {
        IndexError::Corruption { offset, .. } => assert_eq!(offset, at),
        e => panic!("{e}"),
    }
}

/// Searches and inserts on many threads right after a load in place, while the runs
/// they read are checked for the first time: a writer never changes a run another
/// thread is checking (which would read as damage), and every answer is the graph's.
#[test]
fn first_reads_on_many_threads_check_each_run_once_and_find_no_damage() {
    for round in 0..4u64 {
        let (index, base) = build(5_000, 8, Metric::L2);
        let mut bytes = Vec::new();
        index.save(&mut bytes).unwrap();
        let words = words(&bytes);
        let loaded =
            Hnsw::load_in_place(Box::new(words), same_vectors(&index), index.config()).unwrap();
        let extra = clustered(2_000, 8, 20, 0.6, 100 + round);
        let queries = queries_near(&base, 8, 100, 7 + round);
        std::thread::scope(|s| {
            for t in 0..2 {
                let (loaded, extra) = (&loaded, &extra);
                s.spawn(move || {
                    for v in extra.chunks(8).skip(t).step_by(2) {
                        loaded.add(v).unwrap();
                    }
                });
            }
            for t in 0..2 {
                let (loaded, queries) = (&loaded, &queries);
                s.spawn(move || {
                    for q in queries.chunks(8).skip(t).step_by(2) {
                        assert_eq!(loaded.search(q, 10, 64).unwrap().len(), 10);
                    }
                });
            }
        });
        loaded.check_lists().unwrap();
        loaded.check_integrity().unwrap();
        assert_eq!(loaded.len(), 7_000);
    }
}

/// A graph loaded in place keeps working in the memory it was given: inserts after
/// the load write their lists there, and saving it again gives the same graph.
#[test]
fn a_graph_loaded_in_place_takes_inserts_and_saves_again() {
    let (index, base) = build(2_500, 8, Metric::L2);
    // 2,500 nodes: two whole chunks used in place, and a partial one copied.
    let mut bytes = Vec::new();
    index.save(&mut bytes).unwrap();
    assert_eq!(
        bytes.len() % 8,
        0,
        "a saved graph is a whole number of words"
    );
    let words = words(&bytes);
    let vectors = same_vectors(&index);
    let loaded = Hnsw::load_in_place(Box::new(words), vectors, index.config()).unwrap();
    loaded.check_integrity().unwrap();
    for q in queries_near(&base, 8, 40, 3).chunks(8) {
        assert_eq!(
            loaded.search(q, 10, 64).unwrap(),
            index.search(q, 10, 64).unwrap()
        );
    }
    // New nodes: beyond the loaded chunks and, with deletes, inside them.
    let extra = clustered(2_000, 8, 20, 0.6, 99);
    for v in extra.chunks(8) {
        loaded.add(v).unwrap();
    }
    for s in (0..2_500).step_by(5) {
        loaded.delete(Slot(s)).unwrap();
    }
    loaded.check_integrity().unwrap();
    let mut again = Vec::new();
    loaded.save(&mut again).unwrap();
    let reloaded = Hnsw::load(&again, same_vectors(&loaded)).unwrap();
    reloaded.check_integrity().unwrap();
    assert_eq!(reloaded.len(), loaded.len());
    for q in queries_near(&extra, 8, 40, 4).chunks(8) {
        assert_eq!(
            reloaded.search(q, 10, 64).unwrap(),
            loaded.search(q, 10, 64).unwrap()
        );
    }
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

/// A vector source that counts the slots it is asked to read ahead, and says its
/// vectors are in memory when `resident`.
struct Counting {
    inner: InMemoryVectors,
    hinted: std::sync::atomic::AtomicUsize,
    resident: bool,
}

impl fletchdb_index::VectorSource for Counting {
    fn dim(&self) -> usize {
        self.inner.dim()
    }
    fn len(&self) -> usize {
        self.inner.len()
    }
    fn vector(&self, slot: Slot) -> &[f32] {
        self.inner.vector(slot)
    }
    fn will_need(&self, slots: &[u32]) {
        self.hinted
            .fetch_add(slots.len(), std::sync::atomic::Ordering::Relaxed);
    }
    fn resident(&self) -> bool {
        self.resident
    }
}

/// A loaded graph's first searches ask the vector source for each batch before
/// scoring it (its vectors may be on disk), until the compact codes are in (their
/// encoding, which asks for every vector a block ahead, read them all) or a thousand
/// searches have run; a graph built in memory never asks, nor one loaded over a
/// source that knows its vectors are in memory (a warm open).
#[test]
fn a_loaded_graph_asks_for_its_vectors_ahead_while_they_may_be_cold() {
    use fletchdb_index::Quantization;
    use std::sync::atomic::Ordering::Relaxed;
    let (index, base) = build(3_000, 8, Metric::L2);
    let mut bytes = Vec::new();
    index.save(&mut bytes).unwrap();
    let counting = || Counting {
        inner: same_vectors(&index),
        hinted: Default::default(),
        resident: false,
    };
    let queries = queries_near(&base, 8, 20, 3);
    let q = &queries[..8];
    // Built here: nothing to ask for.
    let built = Hnsw::new(*index.config(), counting()).unwrap();
    for s in 0..100 {
        built.insert(Slot(s)).unwrap();
    }
    built.search(q, 10, 64).unwrap();
    assert_eq!(built.vectors().hinted.load(Relaxed), 0);
    // Loaded: every batch scored is asked for, the answers unchanged.
    let loaded = Hnsw::load(&bytes, counting()).unwrap();
    assert_eq!(
        loaded.search(q, 10, 64).unwrap(),
        index.search(q, 10, 64).unwrap()
    );
    let first = loaded.vectors().hinted.load(Relaxed);
    assert!(first >= 64, "{first} slots asked for");
    // The codes' encoding asks for every slot, then searches stop asking.
    loaded.quantize(Quantization::F16, None).unwrap();
    let encoded = loaded.vectors().hinted.load(Relaxed);
    assert!(encoded >= first + 3_000, "{encoded}");
    loaded.search(q, 10, 64).unwrap();
    assert_eq!(loaded.vectors().hinted.load(Relaxed), encoded);
    // Without codes, the asking stops after a thousand searches.
    let loaded = Hnsw::load(&bytes, counting()).unwrap();
    for q in queries.chunks(8).cycle().take(1_000) {
        loaded.search(q, 10, 16).unwrap();
    }
    let done = loaded.vectors().hinted.load(Relaxed);
    loaded.search(q, 10, 16).unwrap();
    assert_eq!(loaded.vectors().hinted.load(Relaxed), done);
    // Over vectors in memory: nothing asked for, the answers unchanged.
    let warm = Hnsw::load(
        &bytes,
        Counting {
            resident: true,
            ..counting()
        },
    )
    .unwrap();
    assert_eq!(
        warm.search(q, 10, 64).unwrap(),
        index.search(q, 10, 64).unwrap()
    );
    assert_eq!(warm.vectors().hinted.load(Relaxed), 0);
}
