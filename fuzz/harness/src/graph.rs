//! `graph_file`: bytes as an HNSW graph snapshot, loaded over fixed vectors.
//!
//! The input is the snapshot without its trailing checksum: the 48-byte header, then
//! node records (layout in `index/src/persist.rs`). The harness writes the magic and
//! version (bytes 0..12, so the fuzzer need not find them) and appends the CRC32C of
//! everything, so that the loader's field checks, not its checksum, meet the fuzzed
//! bytes. The vectors are [`SLOTS`] fixed vectors of [`DIM`] components.
//!
//! Checked: [`Hnsw::load`] returns an index or a typed error, never panics. A loaded
//! index passes [`Hnsw::check_integrity`]; its searches return live slots, closest first,
//! at their true distances; it takes an insert and a delete and still passes.

use fletchdb_index::{Hnsw, InMemoryVectors, IndexError, Metric, VectorSource};

/// Components per vector.
pub(crate) const DIM: usize = 4;
/// Vectors the source holds (a graph may name slots below this).
pub(crate) const SLOTS: usize = 40;

/// The fixed vector of `slot`.
pub(crate) fn vector(slot: usize) -> [f32; DIM] {
    let s = slot as f32;
    [
        (slot % 7) as f32,
        (slot / 7) as f32,
        ((slot * slot) % 11) as f32 * 0.5,
        1.0 + s * 0.125,
    ]
}

/// The vector source a graph is loaded over: [`SLOTS`] vectors, stored as the index
/// stores them under `metric` (unit length for cosine).
fn source(metric: Metric) -> InMemoryVectors {
    let store = InMemoryVectors::new(DIM).expect("dim");
    for slot in 0..SLOTS {
        let mut v = vector(slot);
        metric.prepare(&mut v).expect("non-zero vector");
        store.push(&v).expect("push");
    }
    store
}

/// The body of the `graph_file` fuzz target; see the module documentation.
pub fn graph_file(data: &[u8]) {
    let mut bytes = data.to_vec();
    if bytes.len() < 12 {
        bytes.resize(12, 0);
    }
    bytes[..8].copy_from_slice(b"FLETCHGR");
    bytes[8..12].copy_from_slice(&1u32.to_le_bytes());
    let metric = bytes.get(12).and_then(|&c| Metric::from_code(c));
    let crc = crc32c::crc32c(&bytes);
    bytes.extend_from_slice(&crc.to_le_bytes());
    let index = match Hnsw::load(&bytes, source(metric.unwrap_or(Metric::L2))) {
        Ok(index) => index,
        Err(e) => {
            assert!(
                matches!(
                    e,
                    IndexError::Corruption { .. }
                        | IndexError::DimensionMismatch { .. }
                        | IndexError::SlotOutOfRange { .. }
                ),
                "unexpected error loading a graph: {e:?}"
            );
            return;
        }
    };
    let metric = metric.expect("a graph with an unknown metric loaded");
    assert_eq!(index.config().metric, metric);
    index
        .check_integrity()
        .unwrap_or_else(|e| panic!("a loaded graph fails its integrity check: {e}"));
    let query = [2.5, 1.0, 0.75, 2.0];
    let hits = check_search(&index, metric, &query);

    // The first insert into a loaded graph counts in-degrees; it must leave a sound graph.
    let mut v = vector(SLOTS);
    metric.prepare(&mut v).expect("non-zero vector");
    let slot = index.vectors().push(&v).expect("push");
    index
        .insert(slot)
        .unwrap_or_else(|e| panic!("insert into a loaded graph: {e}"));
    index
        .check_integrity()
        .unwrap_or_else(|e| panic!("integrity after an insert into a loaded graph: {e}"));
    assert!(index.contains(slot));
    if let Some(first) = hits.first() {
        assert!(index.delete(first.slot).expect("delete a live slot"));
        index
            .check_integrity()
            .unwrap_or_else(|e| panic!("integrity after a delete: {e}"));
        let after = check_search(&index, metric, &query);
        assert!(
            after.iter().all(|n| n.slot != first.slot),
            "a deleted slot came back"
        );
    }
    check_search(&index, metric, &vector(3));
}

/// Searches `query` with k = 5 and ef = every slot, and checks what comes back.
fn check_search(
    index: &Hnsw<InMemoryVectors>,
    metric: Metric,
    query: &[f32],
) -> Vec<fletchdb_index::Neighbor> {
    let k = 5;
    let hits = index
        .search(query, k, 2 * SLOTS)
        .unwrap_or_else(|e| panic!("search of a loaded graph: {e}"));
    assert!(hits.len() <= k.min(index.len()), "{} hits", hits.len());
    let mut q = query.to_vec();
    metric.prepare(&mut q).expect("non-zero query");
    let mut seen = Vec::new();
    for (i, h) in hits.iter().enumerate() {
        assert!(
            index.contains(h.slot),
            "search returned absent slot {:?}",
            h.slot
        );
        assert!(!seen.contains(&h.slot), "slot {:?} returned twice", h.slot);
        seen.push(h.slot);
        let want = metric.distance_scalar(&q, index.vectors().vector(h.slot));
        assert!(
            (h.distance - want).abs() <= 1e-3 * want.abs().max(1.0),
            "slot {:?} at distance {}, truly {want}",
            h.slot,
            h.distance
        );
        if i > 0 {
            assert!(hits[i - 1].distance <= h.distance, "hits out of order");
        }
    }
    let exact = index
        .exact_search(query, k, None)
        .unwrap_or_else(|e| panic!("exact search of a loaded graph: {e}"));
    assert_eq!(exact.len(), k.min(index.len()), "exact search length");
    assert!(exact.iter().all(|n| index.contains(n.slot)));
    hits
}
