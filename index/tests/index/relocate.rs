//! Relocation: a moved node keeps its place in the graph under its new slot, searches
//! find the same vectors, the old slot is left for a heal, and bad moves change nothing.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use fletchdb_index::{Hnsw, HnswConfig, InMemoryVectors, IndexError, Metric, Slot, VectorSource};
use rand::{rngs::StdRng, seq::SliceRandom, SeedableRng};

use crate::common::{clustered, queries_near, StopOnDrop};

/// `n` clustered vectors of `dim`, indexed (m 8).
fn build(n: usize, dim: usize, seed: u64) -> (Hnsw<InMemoryVectors>, Vec<f32>) {
    let base = clustered(n, dim, 40, 0.8, seed);
    let config = HnswConfig {
        m: 8,
        ..HnswConfig::new(Metric::L2)
    };
    let index = Hnsw::in_memory(dim, config).unwrap();
    index.add_batch(&base).unwrap();
    (index, base)
}

/// Each query's hits as (slot, distance), at ef 64.
fn results(index: &Hnsw<InMemoryVectors>, queries: &[f32], dim: usize) -> Vec<Vec<(u32, f32)>> {
    queries
        .chunks(dim)
        .map(|q| {
            index
                .search(q, 10, 64)
                .unwrap()
                .iter()
                .map(|h| (h.slot.0, h.distance))
                .collect()
        })
        .collect()
}

#[test]
fn moved_nodes_are_found_under_their_new_slots_as_before() {
    let (n, dim) = (4_000, 16);
    let (index, base) = build(n, dim, 11);
    let queries = queries_near(&base, dim, 200, 12);
    let before = results(&index, &queries, dim);

    // Move a third of the nodes, chosen at random, to copies of their vectors.
    let mut from: Vec<u32> = (0..n as u32).collect();
    from.shuffle(&mut StdRng::seed_from_u64(13));
    from.truncate(n / 3);
    let moves: Vec<(Slot, Slot)> = from
        .iter()
        .map(|&f| {
            let v = index.vectors().vector(Slot(f)).to_vec();
            (Slot(f), index.vectors().push(&v).unwrap())
        })
        .collect();
    let started = Instant::now();
    index.relocate(&moves).unwrap();
    eprintln!(
        "relocated {} of {n} nodes in {:?}",
        moves.len(),
        started.elapsed()
    );
    index.check_integrity().unwrap();
    assert_eq!((index.len(), index.deleted_len()), (n, moves.len()));
    for &(f, t) in &moves {
        assert!(!index.contains(f) && index.contains(t));
    }

    // The same graph renamed: each query finds the same vectors at the same distances
    // (only a move to a slot of a lower level, which drops it from upper layers, can
    // change a path).
    let back = |s: u32| moves.iter().find(|m| m.1 .0 == s).map_or(s, |m| m.0 .0);
    let after = results(&index, &queries, dim);
    let same = before
        .iter()
        .zip(&after)
        .filter(|(b, a)| {
            b.len() == a.len()
                && b.iter()
                    .zip(a.iter())
                    .all(|(x, y)| x.0 == back(y.0) && x.1 == y.1)
        })
        .count();
    assert!(same >= 190, "{same} of 200 queries found the same vectors");

    // The next heal frees exactly the old slots, and the graph still holds together.
    let heal = index.heal();
    let mut freed: Vec<u32> = heal.freed.iter().map(|s| s.0).collect();
    freed.sort_unstable();
    let mut want = from.clone();
    want.sort_unstable();
    assert_eq!(freed, want);
    assert_eq!((index.len(), index.deleted_len()), (n, 0));
    index.check_integrity().unwrap();
    let healed = results(&index, &queries, dim);
    let same = before
        .iter()
        .zip(&healed)
        .filter(|(b, a)| b.iter().zip(a.iter()).all(|(x, y)| x.1 == y.1))
        .count();
    assert!(same >= 190, "after the heal {same} of 200 queries");
}

#[test]
fn nodes_move_into_slots_a_heal_freed_and_back_again() {
    // Each vector twice: rows 0..n and n..2n are equal, so a node of the second half
    // can move into the slot of its twin once that is freed.
    let (n, dim) = (1_500, 8);
    let half = clustered(n, dim, 15, 0.7, 21);
    let mut both = half.clone();
    both.extend_from_slice(&half);
    let index = Hnsw::in_memory(dim, HnswConfig::new(Metric::L2)).unwrap();
    index.add_batch(&both).unwrap();
    for s in 0..n as u32 {
        index.delete(Slot(s)).unwrap();
    }
    assert_eq!(index.heal().freed.len(), n);
    let moves: Vec<(Slot, Slot)> = (0..n as u32)
        .map(|s| (Slot(s + n as u32), Slot(s)))
        .collect();
    index.relocate(&moves).unwrap();
    index.check_integrity().unwrap();
    assert_eq!(index.heal().freed.len(), n);
    index.check_integrity().unwrap();
    assert_eq!(index.len(), n);
    // Every vector is found by itself, in the lower half.
    let mut found = 0;
    for (i, v) in half.chunks(dim).enumerate() {
        let hits = index.search(v, 1, 64).unwrap();
        assert!(hits[0].slot.0 < n as u32);
        found += usize::from(hits[0].distance == 0.0 && hits[0].slot.0 as usize == i);
    }
    assert!(found >= n - 3, "{found} of {n} found themselves");
    // And back up again: the upper slots are free now.
    let back: Vec<(Slot, Slot)> = moves.iter().map(|&(a, b)| (b, a)).collect();
    index.relocate(&back).unwrap();
    index.heal();
    index.check_integrity().unwrap();
    assert_eq!(index.len(), n);
}

#[test]
fn bad_moves_are_refused_and_change_nothing() {
    let (index, _) = build(200, 4, 31);
    index.delete(Slot(5)).unwrap();
    let copy = |s: u32| {
        let v = index.vectors().vector(Slot(s)).to_vec();
        index.vectors().push(&v).unwrap()
    };
    let (c1, c2) = (copy(1), copy(2));
    let cases: Vec<(Vec<(Slot, Slot)>, &str)> = vec![
        (vec![(Slot(5), c1)], "deleted node"),
        (vec![(Slot(999), c1)], "no node"),
        (vec![(Slot(1), Slot(3))], "to an occupied slot"),
        (vec![(Slot(1), Slot(100_000))], "to a slot with no vector"),
        (vec![(Slot(2), c1)], "different vectors"),
        (vec![(Slot(1), c1), (Slot(1), c2)], "the same node twice"),
        (vec![(Slot(1), c1), (Slot(2), c1)], "the same slot twice"),
        (vec![(Slot(1), c1), (c1, c2)], "from a slot moved to"),
    ];
    for (moves, what) in cases {
        let err = index.relocate(&moves).unwrap_err();
        assert!(
            matches!(err, IndexError::InvalidMove { .. }),
            "{what}: {err:?}"
        );
        assert_eq!((index.len(), index.deleted_len()), (199, 1), "{what}");
        assert!(!index.contains(c1) && !index.contains(c2), "{what}");
        index.check_integrity().unwrap();
    }
    index.relocate(&[]).unwrap();
    index.relocate(&[(Slot(1), c1), (Slot(2), c2)]).unwrap();
    index.check_integrity().unwrap();
}

#[test]
fn searches_during_moves_return_full_results_at_true_distances() {
    let (n, dim) = (3_000, 12);
    let (index, base) = build(n, dim, 41);
    let queries = queries_near(&base, dim, 50, 42);
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let _stop = StopOnDrop(&stop);
        let searcher = s.spawn(|| {
            let mut rounds = 0;
            while !stop.load(Ordering::Acquire) {
                for q in queries.chunks(dim) {
                    let hits = index.search(q, 10, 32).unwrap();
                    assert_eq!(hits.len(), 10);
                    for h in &hits {
                        let v = index.vectors().vector(h.slot);
                        let d = Metric::L2.distance_scalar(q, v);
                        assert!((d - h.distance).abs() <= 1e-4 * d.max(1.0), "{d} {h:?}");
                    }
                }
                rounds += 1;
            }
            rounds
        });
        // Move every node up, in batches, healing between them.
        for chunk in (0..n as u32).collect::<Vec<_>>().chunks(250) {
            let moves: Vec<(Slot, Slot)> = chunk
                .iter()
                .map(|&f| {
                    let v = index.vectors().vector(Slot(f)).to_vec();
                    (Slot(f), index.vectors().push(&v).unwrap())
                })
                .collect();
            index.relocate(&moves).unwrap();
            index.heal();
        }
        stop.store(true, Ordering::Release);
        assert!(searcher.join().unwrap() > 0);
    });
    index.check_integrity().unwrap();
    assert_eq!((index.len(), index.deleted_len()), (n, 0));
}
