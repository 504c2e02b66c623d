//! `graph_file`: bytes as an HNSW graph snapshot, loaded over fixed vectors.
//!
//! Bytes 8..12 holding 3 (or 2) make the input a version 3 (or 2) snapshot, written
//! compactly: the 64-byte header, the node records, then the layer-0 lists (layout in
//! `index/src/persist.rs`). The harness lays them out as the file does (the padding,
//! lists cut or filled with zeros to the bound, when the header's sizes are small
//! enough to allocate) and computes every checksum: one per 32 slots' lists in version
//! 3, per 1,024 in version 2. Any other input is a
//! version 1 snapshot without its trailing checksum: the 48-byte header, then node
//! records; the harness writes the version and appends the CRC32C. Either way the
//! harness writes the magic (bytes 0..8, so the fuzzer need not find it), so that the
//! loader's field checks, not its checksums, meet the fuzzed bytes. The vectors are
//! [`SLOTS`] fixed vectors of [`DIM`] components.
//!
//! Checked: [`Hnsw::load`] returns an index or a typed error, never panics. A loaded
//! index passes [`Hnsw::check_integrity`]; its searches return live slots, closest first,
//! at their true distances; it takes an insert and a delete and still passes. A version
//! 2 or 3 file is also loaded in place ([`Hnsw::load_in_place`], which checks the
//! layer-0 lists only as they are read): it answers as the copy does where the copy
//! loads, and where the copy is refused, either the load in place is too or a search
//! or [`Hnsw::check_lists`] finds the damage.

use fletchdb_index::{Hnsw, HnswConfig, InMemoryVectors, IndexError, Metric, VectorSource};

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
    let metric = bytes.get(12).and_then(|&c| Metric::from_code(c));
    let version = word(&bytes, 8);
    if version == 2 || version == 3 {
        bytes = expand(bytes);
    } else {
        bytes[8..12].copy_from_slice(&1u32.to_le_bytes());
        let crc = crc32c::crc32c(&bytes);
        bytes.extend_from_slice(&crc.to_le_bytes());
    }
    let loaded = Hnsw::load(&bytes, source(metric.unwrap_or(Metric::L2)));
    if version == 2 || version == 3 {
        in_place(&bytes, metric, loaded.as_ref().ok());
    }
    let index = match loaded {
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

/// Loads a version 2 or 3 file in place with the configuration its header names, and
/// checks it against `copied`, the same bytes loaded by copy (`None` if refused).
fn in_place(bytes: &[u8], metric: Option<Metric>, copied: Option<&Hnsw<InMemoryVectors>>) {
    let Some(metric) = metric else { return };
    if !bytes.len().is_multiple_of(8) {
        return;
    }
    let config = HnswConfig {
        metric,
        m: word(bytes, 16),
        ef_construction: word(bytes, 20),
        seed: bytes
            .get(24..32)
            .map_or(0, |b| u64::from_le_bytes(b.try_into().unwrap_or_default())),
    };
    let words: Vec<u64> = bytes
        .chunks_exact(8)
        .map(|w| u64::from_le_bytes(w.try_into().unwrap_or_default()))
        .collect();
    let index = match Hnsw::load_in_place(Box::new(words), source(metric), &config) {
        Ok(index) => index,
        Err(e) => {
            assert!(copied.is_none(), "loaded by copy but not in place: {e:?}");
            return;
        }
    };
    let queries = [[2.5, 1.0, 0.75, 2.0], vector(3)];
    match copied {
        Some(copy) => {
            for q in &queries {
                let here = index.search(q, 5, 2 * SLOTS);
                assert_eq!(
                    here.ok(),
                    copy.search(q, 5, 2 * SLOTS).ok(),
                    "in place and copied answer apart"
                );
            }
            index
                .check_lists()
                .unwrap_or_else(|e| panic!("in place finds damage the copy did not: {e}"));
        }
        None => {
            let mut found = false;
            for q in &queries {
                match index.search(q, 5, 2 * SLOTS) {
                    Ok(hits) => assert!(!found, "a search answered after damage: {hits:?}"),
                    Err(e) => {
                        assert!(matches!(e, IndexError::Corruption { .. }), "{e:?}");
                        found = true;
                    }
                }
            }
            assert!(
                matches!(index.check_lists(), Err(IndexError::Corruption { .. })),
                "refused by copy, but in place finds no damage"
            );
        }
    }
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

/// Bytes of a version 2 header.
const HEADER: usize = 64;
/// Alignment of a version 2 file's lists.
const PAGE: usize = 4096;
/// Slots a chunk of lists holds.
const CHUNK: usize = 1024;
/// Slots one checksum covers in version 3 (in version 2, a chunk).
const RUN: usize = 32;

fn word(b: &[u8], at: usize) -> usize {
    b.get(at..at + 4)
        .map_or(0, |w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]) as usize)
}

/// A version 2 or 3 file from its compact form (see the module documentation): unchanged
/// if its header is cut short or its sizes are past what this harness allocates
/// (the loader then refuses its length).
pub(crate) fn expand(compact: Vec<u8>) -> Vec<u8> {
    let (m, bound, chunks) = (word(&compact, 16), word(&compact, 36), word(&compact, 56));
    let (run, runs) = if word(&compact, 8) == 2 {
        (CHUNK, chunks.min(bound.div_ceil(CHUNK)))
    } else {
        (RUN, bound.div_ceil(RUN))
    };
    let records = compact.get(48..56).map_or(usize::MAX, |b| {
        u64::from_le_bytes(b.try_into().unwrap_or_default()) as usize
    });
    // Cut short of its header (which `word` reads as zeros past the end) or of the
    // records it counts: left as it is. (`records > len - HEADER` alone let a 58-byte
    // input through with a record length of 0, and the slice below panicked.)
    if m > 64 || bound > 4 * CHUNK || compact.len() < HEADER || records > compact.len() - HEADER {
        return compact;
    }
    let lists = (HEADER + records).next_multiple_of(PAGE);
    let stored = bound * (1 + 2 * m) * 4;
    let mut out = compact[..HEADER + records].to_vec();
    out.resize(lists, 0);
    let given = &compact[HEADER + records..];
    out.extend_from_slice(&given[..given.len().min(stored)]);
    out.resize((lists + stored).next_multiple_of(8), 0);
    let mut sums = Vec::new();
    for r in 0..runs {
        let at = lists + r * run * (1 + 2 * m) * 4;
        let crc = crc32c::crc32c(&out[at..(at + run * (1 + 2 * m) * 4).min(lists + stored)]);
        sums.extend_from_slice(&crc.to_le_bytes());
    }
    sums.resize(sums.len().next_multiple_of(8), 0);
    let crc = crc32c::crc32c_append(crc32c::crc32c(&out[..lists]), &sums);
    out.extend_from_slice(&sums);
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out
}

/// The compact form of a version 2 or 3 file: its header, records and lists (the inverse
/// of [`expand`] for a file it wrote).
pub(crate) fn compact(file: &[u8]) -> Vec<u8> {
    let (m, bound) = (word(file, 16), word(file, 36));
    let records = file.get(48..56).map_or(0, |b| {
        u64::from_le_bytes(b.try_into().unwrap_or_default()) as usize
    });
    let lists = (HEADER + records).next_multiple_of(PAGE);
    let mut out = file[..HEADER + records].to_vec();
    out.extend_from_slice(&file[lists..lists + bound * (1 + 2 * m) * 4]);
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_compact_graph_expands_to_the_file() {
        use fletchdb_index::{Hnsw, HnswConfig, InMemoryVectors, Metric};
        let index = Hnsw::in_memory(2, HnswConfig::new(Metric::L2)).unwrap();
        for i in 0..30 {
            index.add(&[i as f32, 1.0]).unwrap();
        }
        let mut file = Vec::new();
        index.save(&mut file).unwrap();
        assert_eq!(super::expand(super::compact(&file)), file);
        let _ = InMemoryVectors::new(2);
    }
}
