//! Round trips, rollover, recycling, group commit from many threads, argument errors.

use std::sync::Arc;

use fletchdb_storage::io::{MemDir, OsDir, StorageDir};
use fletchdb_storage::wal::{Durability, Wal, WalOptions, WalReader};
use fletchdb_storage::StorageError;

use crate::common::{check_payload, payload, reopen, small};

#[test]
fn round_trip_across_reopens_in_every_mode() {
    for durability in [
        Durability::Sync,
        Durability::Buffered {
            interval: std::time::Duration::from_millis(2),
        },
        Durability::None,
    ] {
        let dir: Arc<dyn StorageDir> = Arc::new(MemDir::new());
        let opts = small(durability);
        let (wal, got) = reopen(dir.clone(), opts).unwrap();
        assert!(got.is_empty());
        for i in 0..100u32 {
            let p = payload(0, i, 10 + (i as usize * 7) % 300);
            assert_eq!(wal.append(3, &[&p[..5], &p[5..]]).unwrap(), i as u64 + 1);
        }
        drop(wal);
        let (wal, got) = reopen(dir.clone(), opts).unwrap();
        assert_eq!(got.len(), 100, "{durability:?}");
        for (i, (lsn, kind, p)) in got.iter().enumerate() {
            assert_eq!((*lsn, *kind), (i as u64 + 1, 3));
            assert_eq!(check_payload(p), Some((0, i as u32)));
        }
        // The clean-close marker took LSN 101.
        assert_eq!(wal.append(4, &[b"after reopen"]).unwrap(), 102);
        wal.close().unwrap();
        let (_, got) = reopen(dir, opts).unwrap();
        assert_eq!(got.last().unwrap().2, b"after reopen");
    }
}

#[test]
fn segments_roll_over_and_old_ones_are_recycled() {
    let dir = Arc::new(MemDir::new());
    let opts = small(Durability::Sync);
    let (wal, _) = reopen(dir.clone(), opts).unwrap();
    for i in 0..200u32 {
        wal.append(1, &[&payload(1, i, 200)]).unwrap();
    }
    let segments = wal.segment_count();
    assert!(
        segments > 10,
        "4 KiB segments of 232-byte records: {segments}"
    );
    let removed = wal.remove_segments_before(150).unwrap();
    assert!(removed > 5);
    assert_eq!(wal.segment_count(), segments - removed);
    // Recycled spares hold old records under an old salt; writing over them must not
    // let any of those come back.
    for i in 200..400u32 {
        wal.append(1, &[&payload(1, i, 200)]).unwrap();
    }
    drop(wal);
    let (_, got) = reopen(dir.clone(), opts).unwrap();
    let first = got[0].0;
    assert!(first <= 150 && first > 1);
    for (k, (lsn, _, p)) in got.iter().enumerate() {
        assert_eq!(*lsn, first + k as u64);
        assert_eq!(check_payload(p), Some((1, *lsn as u32 - 1)));
    }
    assert_eq!(got.last().unwrap().0, 400);
}

#[test]
fn concurrent_writers_get_unique_gap_free_lsns_and_every_record_reads_back() {
    for durability in [Durability::Sync, Durability::None] {
        let dir: Arc<dyn StorageDir> = Arc::new(MemDir::new());
        let opts = WalOptions {
            segment_size: 64 << 10,
            ..small(durability)
        };
        let (wal, _) = reopen(dir.clone(), opts).unwrap();
        let (threads, per) = (8u32, 400u32);
        let lsns: Vec<Vec<(u64, u32, u32)>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let wal = &wal;
                    s.spawn(move || {
                        (0..per)
                            .map(|i| {
                                let p = payload(t, i, 40 + (i as usize % 50));
                                (wal.append(2, &[&p]).unwrap(), t, i)
                            })
                            .collect()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let mut all: Vec<(u64, u32, u32)> = lsns.into_iter().flatten().collect();
        all.sort();
        let n = (threads * per) as u64;
        assert_eq!(all.len() as u64, n);
        for (k, (lsn, _, _)) in all.iter().enumerate() {
            assert_eq!(*lsn, k as u64 + 1, "LSNs are unique and gap-free");
        }
        drop(wal);
        let (_, got) = reopen(dir, opts).unwrap();
        assert_eq!(got.len() as u64, n);
        for ((lsn, t, i), (rl, _, p)) in all.iter().zip(&got) {
            assert_eq!(lsn, rl);
            assert_eq!(check_payload(p), Some((*t, *i)));
        }
    }
}

#[test]
fn append_many_is_contiguous_and_refused_whole() {
    let dir = Arc::new(MemDir::new());
    let (wal, _) = reopen(dir.clone(), small(Durability::Sync)).unwrap();
    let a: &[&[u8]] = &[b"a"];
    let b: &[&[u8]] = &[b"bb", b"b"];
    assert_eq!(wal.append_many(&[(1, a), (2, b)]).unwrap(), 1..3);
    let huge = vec![0u8; 5000];
    let h: &[&[u8]] = &[&huge];
    assert!(matches!(
        wal.append_many(&[(1, a), (1, h)]),
        Err(StorageError::RecordTooLarge { size: 5000, .. })
    ));
    assert!(matches!(
        wal.append(1, &[]),
        Err(StorageError::InvalidArgument(_))
    ));
    assert!(matches!(
        wal.append(0xF0, &[b"x"]),
        Err(StorageError::InvalidArgument(_))
    ));
    assert!(matches!(
        wal.append_many(&[]),
        Err(StorageError::InvalidArgument(_))
    ));
    assert_eq!(wal.append(1, &[&vec![7u8; wal.max_payload()]]).unwrap(), 3);
    assert_eq!(wal.next_lsn(), 4);
    wal.close().unwrap();
    assert!(matches!(wal.append(1, &[b"x"]), Err(StorageError::Closed)));
    let mut reader = WalReader::open(dir).unwrap();
    let mut kinds = Vec::new();
    while let Some(r) = reader.next_record().unwrap() {
        kinds.push((r.lsn, r.kind, r.payload.len()));
    }
    assert_eq!(kinds[..2], [(1, 1, 1), (2, 2, 3)]);
}

#[test]
fn buffered_mode_becomes_durable_in_the_background_and_flush_forces_it() {
    let dir = Arc::new(MemDir::new());
    let opts = small(Durability::Buffered {
        interval: std::time::Duration::from_millis(5),
    });
    let (wal, _) = reopen(dir.clone(), opts).unwrap();
    let lsn = wal.append(1, &[b"x"]).unwrap();
    let t = std::time::Instant::now();
    while wal.durable_lsn() < lsn {
        assert!(t.elapsed().as_secs() < 5, "background sync never came");
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    let none = Arc::new(MemDir::new());
    let (wal, _) = reopen(none.clone(), small(Durability::None)).unwrap();
    wal.append(1, &[b"y"]).unwrap();
    assert_eq!(wal.durable_lsn(), 0);
    assert_eq!(wal.flush().unwrap(), 1);
    assert_eq!(wal.durable_lsn(), 1);
    // What flush made durable survives a crash.
    let (_, got) = reopen(Arc::new(none.crash()), small(Durability::None)).unwrap();
    assert_eq!(got.len(), 1);
}

#[test]
fn commit_window_groups_writers_on_a_real_disk() {
    let tmp = tempfile::tempdir().unwrap();
    let dir: Arc<dyn StorageDir> = Arc::new(OsDir::create(tmp.path()).unwrap());
    let opts = WalOptions {
        commit_window: std::time::Duration::from_micros(500),
        segment_size: 1 << 20,
        ..WalOptions::default()
    };
    let (wal, _) = reopen(dir.clone(), opts).unwrap();
    std::thread::scope(|s| {
        for t in 0..4 {
            let wal = &wal;
            s.spawn(move || {
                for i in 0..50 {
                    wal.append(1, &[&payload(t, i, 64)]).unwrap();
                }
            });
        }
    });
    assert_eq!(wal.durable_lsn(), 200);
    drop(wal);
    let (_, got) = reopen(dir, opts).unwrap();
    assert_eq!(got.len(), 200);
}

#[test]
fn bad_options_are_refused() {
    let dir = Arc::new(MemDir::new());
    for size in [0, 100, 1 << 40] {
        let opts = WalOptions {
            segment_size: size,
            ..WalOptions::default()
        };
        assert!(matches!(
            Wal::open(dir.clone(), opts),
            Err(StorageError::InvalidArgument(_))
        ));
    }
}

#[test]
fn roll_over_starts_a_segment_so_the_old_one_can_go_whole() {
    let dir = Arc::new(MemDir::new());
    let opts = WalOptions {
        segment_size: 1 << 20,
        ..small(Durability::Sync)
    };
    let (wal, _) = reopen(dir.clone(), opts).unwrap();
    for i in 0..10 {
        wal.append(1, &[&payload(0, i, 100)]).unwrap();
    }
    assert_eq!(wal.segment_count(), 1);
    let x = wal.next_lsn();
    wal.roll_over().unwrap();
    assert_eq!(wal.segment_count(), 2, "the new segment exists at once");
    wal.roll_over().unwrap();
    assert_eq!(
        wal.segment_count(),
        2,
        "an empty segment is not rolled again"
    );
    assert_eq!(wal.remove_segments_before(x).unwrap(), 1);
    assert_eq!(wal.append(1, &[b"after"]).unwrap(), x);
    drop(wal);
    let (_, got) = reopen(dir, opts).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, x);
}
