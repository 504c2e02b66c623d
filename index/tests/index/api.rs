//! Bad input gets a typed error and changes nothing.

use fletchdb_index::{Hnsw, HnswConfig, IndexError, Metric, Slot, VectorSource};

#[test]
fn bad_vectors_and_queries_are_refused() {
    let index = Hnsw::in_memory(3, HnswConfig::new(Metric::Cosine)).unwrap();
    assert!(matches!(
        index.add(&[1.0, 2.0]),
        Err(IndexError::DimensionMismatch {
            expected: 3,
            got: 2
        })
    ));
    assert!(matches!(
        index.add(&[1.0, f32::NAN, 0.0]),
        Err(IndexError::InvalidVector { .. })
    ));
    assert!(matches!(
        index.add(&[0.0, 0.0, 0.0]),
        Err(IndexError::InvalidVector { .. })
    ));
    assert!(matches!(
        index.add_batch(&[1.0, 0.0, 0.0, 1.0]),
        Err(IndexError::DimensionMismatch { .. })
    ));
    assert_eq!(index.vectors().len(), 0, "nothing was stored");
    assert!(index.is_empty());

    index.add(&[1.0, 0.0, 0.0]).unwrap();
    assert!(matches!(
        index.search(&[1.0], 1, 10),
        Err(IndexError::DimensionMismatch { .. })
    ));
    assert!(matches!(
        index.search(&[f32::INFINITY, 0.0, 0.0], 1, 10),
        Err(IndexError::InvalidVector { .. })
    ));
    assert!(matches!(
        index.search(&[0.0, 0.0, 0.0], 1, 10),
        Err(IndexError::InvalidVector { .. })
    ));
    assert!(matches!(
        index.search_batch(&[1.0, 0.0], 1, 10),
        Err(IndexError::DimensionMismatch { .. })
    ));
    assert!(index.search(&[1.0, 0.0, 0.0], 0, 10).unwrap().is_empty());
}

#[test]
fn slot_rules() {
    let index = Hnsw::in_memory(2, HnswConfig::new(Metric::L2)).unwrap();
    let s = index.add(&[1.0, 1.0]).unwrap();
    assert!(matches!(index.insert(s), Err(IndexError::SlotOccupied(0))));
    assert!(matches!(
        index.insert(Slot(5)),
        Err(IndexError::SlotOutOfRange { slot: 5, .. })
    ));
    assert!(matches!(
        index.delete(Slot(9)),
        Err(IndexError::SlotOutOfRange { .. })
    ));
    // A vector stored but not yet indexed is not returned.
    let pending = index.vectors().push(&[1.0, 1.0]).unwrap();
    assert!(!index.contains(pending));
    assert_eq!(index.search(&[1.0, 1.0], 5, 10).unwrap().len(), 1);
    index.insert(pending).unwrap();
    assert_eq!(index.search(&[1.0, 1.0], 5, 10).unwrap().len(), 2);
    // NaN stored behind the index's back is refused at insert.
    let bad = index.vectors().push(&[f32::NAN, 0.0]).unwrap();
    assert!(matches!(
        index.insert(bad),
        Err(IndexError::InvalidVector { .. })
    ));
}

#[test]
fn bad_configuration_is_refused() {
    for m in [0, 1, 129] {
        let c = HnswConfig {
            m,
            ..HnswConfig::default()
        };
        assert!(matches!(
            Hnsw::in_memory(4, c),
            Err(IndexError::InvalidConfig(_))
        ));
    }
    let c = HnswConfig {
        ef_construction: 0,
        ..HnswConfig::default()
    };
    assert!(Hnsw::in_memory(4, c).is_err());
    assert!(Hnsw::in_memory(0, HnswConfig::default()).is_err());
}
