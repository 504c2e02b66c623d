//! Segments sized by what is written: a log starts small and doubles as segments fill,
//! prepares spares only while it writes, keeps them only while checkpoints find it
//! writing, and gives unused space back on a clean close.

use std::sync::Arc;

use fletchdb_storage::io::{MemDir, StorageDir};
use fletchdb_storage::wal::{Durability, WalOptions};

use crate::common::{check_payload, encoded, payload, reopen, SEGMENT_HEADER};

/// Segments from 4 KiB (1/64 of the largest) up to 64 KiB.
fn growing() -> WalOptions {
    WalOptions {
        durability: Durability::Sync,
        segment_size: 64 << 10,
        ..WalOptions::default()
    }
}

/// The segment files, by name (sorted, so by first LSN), with their lengths.
fn segments(dir: &MemDir) -> Vec<(String, u64)> {
    files(dir, |n| !n.starts_with("spare-"))
}

/// The spare files, with their lengths.
fn spares(dir: &MemDir) -> Vec<(String, u64)> {
    files(dir, |n| n.starts_with("spare-"))
}

fn files(dir: &MemDir, pick: impl Fn(&str) -> bool) -> Vec<(String, u64)> {
    let mut out: Vec<(String, u64)> = dir
        .list()
        .unwrap()
        .into_iter()
        .filter(|n| pick(n))
        .map(|n| {
            let len = dir.open(&n).unwrap().len().unwrap();
            (n, len)
        })
        .collect();
    out.sort();
    out
}

/// Waits until the spare thread has made a spare of at least `size` bytes.
fn wait_for_spare(dir: &MemDir, size: u64) {
    let t = std::time::Instant::now();
    while !spares(dir).iter().any(|&(_, len)| len >= size) {
        assert!(
            t.elapsed().as_secs() < 10,
            "no spare of {size} bytes appeared"
        );
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

/// Waits until the spare thread has finished every spare it began (no `.tmp` left). A
/// removal while it still writes one cannot count that one, which then lands beside the
/// spares the removal kept (the next checkpoint gives it back): on a loaded machine
/// that made `checkpoints_keep_spares_only_while_the_log_fills_segments` see three
/// spares, one of them `spare-7.wal.tmp`, where it kept two.
fn settle(dir: &MemDir) {
    let t = std::time::Instant::now();
    while spares(dir).iter().any(|(n, _)| n.ends_with(".tmp")) {
        assert!(t.elapsed().as_secs() < 10, "a spare stayed half made");
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

#[test]
fn segments_start_small_and_double_as_they_fill() {
    let dir = MemDir::new();
    let opts = growing();
    assert_eq!(opts.first_segment_size(), 4096);
    let (wal, _) = reopen(Arc::new(dir.clone()), opts).unwrap();
    assert!(dir.list().unwrap().is_empty(), "opening makes no file");
    for i in 0..1_000u32 {
        wal.append(1, &[&payload(0, i, 200)]).unwrap();
    }
    let sizes: Vec<u64> = segments(&dir).iter().map(|s| s.1).collect();
    assert!(sizes.len() >= 6, "{sizes:?}");
    assert_eq!(
        &sizes[..5],
        &[4096, 8192, 16384, 32768, 65536],
        "each segment that fills is followed by one twice its size"
    );
    assert!(sizes[5..].iter().all(|&s| s == 65536), "{sizes:?}");
    drop(wal);
    // A log of mixed sizes reads back whole.
    let (_, got) = reopen(Arc::new(dir), opts).unwrap();
    assert_eq!(got.len(), 1_000);
    for (k, (lsn, _, p)) in got.iter().enumerate() {
        assert_eq!(*lsn, k as u64 + 1);
        assert_eq!(check_payload(p), Some((0, k as u32)));
    }
}

#[test]
fn a_record_larger_than_the_next_size_gets_a_segment_that_holds_it() {
    let dir = MemDir::new();
    let opts = growing();
    let (wal, _) = reopen(Arc::new(dir.clone()), opts).unwrap();
    wal.append(1, &[&payload(0, 0, 100)]).unwrap();
    let big = wal.max_payload();
    wal.append(1, &[&payload(0, 1, big)]).unwrap();
    wal.append(1, &[&payload(0, 2, 100)]).unwrap();
    let sizes: Vec<u64> = segments(&dir).iter().map(|s| s.1).collect();
    assert_eq!(
        sizes,
        [4096, 65536, 65536],
        "and the next one is sized after it"
    );
    drop(wal);
    let (_, got) = reopen(Arc::new(dir), opts).unwrap();
    assert_eq!(got.len(), 3);
    assert_eq!(check_payload(&got[1].2), Some((0, 1)));
}

#[test]
fn an_empty_log_closes_without_making_a_file() {
    let dir = MemDir::new();
    for _ in 0..3 {
        let (wal, got) = reopen(Arc::new(dir.clone()), growing()).unwrap();
        assert!(got.is_empty());
        wal.close().unwrap();
        assert!(dir.list().unwrap().is_empty(), "{:?}", dir.list());
    }
    let (wal, _) = reopen(Arc::new(dir.clone()), growing()).unwrap();
    assert_eq!(wal.append(1, &[b"x"]).unwrap(), 1);
}

#[test]
fn a_log_that_writes_little_makes_no_spare() {
    let dir = MemDir::new();
    let (wal, _) = reopen(Arc::new(dir.clone()), growing()).unwrap();
    // 5 records of 232 bytes: a quarter of the first 4 KiB segment.
    for i in 0..5u32 {
        wal.append(1, &[&payload(0, i, 200)]).unwrap();
    }
    std::thread::sleep(std::time::Duration::from_millis(50));
    assert!(spares(&dir).is_empty(), "{:?}", spares(&dir));
    // Past half full, the next segment (twice the size) is prepared.
    for i in 5..10u32 {
        wal.append(1, &[&payload(0, i, 200)]).unwrap();
    }
    wait_for_spare(&dir, 8192);
    let before = segments(&dir).len();
    for i in 10..20u32 {
        wal.append(1, &[&payload(0, i, 200)]).unwrap();
    }
    assert_eq!(segments(&dir).len(), before + 1);
    assert_eq!(segments(&dir)[1].1, 8192, "the spare became the segment");
}

#[test]
fn checkpoints_keep_spares_only_while_the_log_fills_segments() {
    let dir = MemDir::new();
    let (wal, _) = reopen(Arc::new(dir.clone()), growing()).unwrap();
    let mut i = 0u32;
    let mut write = |n: u32| {
        for _ in 0..n {
            wal.append(1, &[&payload(0, i, 200)]).unwrap();
            i += 1;
        }
    };
    // Busy: many segments fill between checkpoints, so two (recycle_segments) are kept.
    write(1_000);
    let x = wal.next_lsn();
    wal.roll_over().unwrap();
    settle(&dir);
    let removed = wal.remove_segments_before(x).unwrap();
    assert!(removed >= 6, "{removed}");
    assert_eq!(spares(&dir).len(), 2, "{:?}", spares(&dir));
    // Quiet: a few records, no segment fills; the next checkpoint gives spares back
    // (its roll-over may have taken one of them whole).
    write(3);
    let x = wal.next_lsn();
    wal.roll_over().unwrap();
    settle(&dir);
    wal.remove_segments_before(x).unwrap();
    assert!(spares(&dir).is_empty(), "{:?}", spares(&dir));
    assert_eq!(segments(&dir).len(), 1);
    // After another quiet spell the log is back to a small segment.
    write(3);
    let x = wal.next_lsn();
    wal.roll_over().unwrap();
    settle(&dir);
    wal.remove_segments_before(x).unwrap();
    assert!(spares(&dir).is_empty(), "{:?}", spares(&dir));
    assert_eq!(segments(&dir), [(format!("{x:020}.wal"), 4096)]);
    drop(wal);
    let (_, got) = reopen(Arc::new(dir), growing()).unwrap();
    assert_eq!(
        got.len(),
        0,
        "every record was below the last checkpoint's LSN"
    );
}

#[test]
fn a_clean_close_deletes_spares_and_trims_the_last_segment() {
    let dir = MemDir::new();
    let opts = growing();
    let (wal, _) = reopen(Arc::new(dir.clone()), opts).unwrap();
    // 17 records fill the first segment, 23 more fill the second past half.
    for i in 0..40u32 {
        wal.append(1, &[&payload(0, i, 200)]).unwrap();
    }
    wait_for_spare(&dir, 16384);
    wal.close().unwrap();
    assert!(spares(&dir).is_empty(), "{:?}", spares(&dir));
    let segs = segments(&dir);
    assert_eq!(segs.len(), 2, "{segs:?}");
    assert_eq!(segs[0].1, 4096, "full segments keep their size");
    // The last one ends right after the close marker (40 bytes).
    let in_second = 40 - (4096 - SEGMENT_HEADER) / encoded(200);
    let end = (SEGMENT_HEADER + in_second * encoded(200) + 40) as u64;
    assert_eq!(segs[1].1, end);
    drop(wal);

    // Reopening reads everything; closing again without writing adds no file, only
    // the new marker's 40 bytes; the durable image is the same.
    for round in 1..=3u64 {
        let (wal, got) = reopen(Arc::new(dir.clone()), opts).unwrap();
        assert_eq!(got.len(), 40);
        wal.close().unwrap();
        let again = segments(&dir);
        assert_eq!(again.len(), 2);
        assert_eq!(again[1].1, end + 40 * round);
        let (_, got) = reopen(Arc::new(dir.crash()), opts).unwrap();
        assert_eq!(got.len(), 40, "round {round}: the crash image");
    }

    // The first record after a trimmed segment starts a new one of the first size.
    let (wal, _) = reopen(Arc::new(dir.clone()), opts).unwrap();
    let lsn = wal.append(1, &[&payload(0, 40, 200)]).unwrap();
    assert_eq!(segments(&dir).len(), 3);
    assert_eq!(segments(&dir)[2].1, 4096);
    drop(wal);
    let (_, got) = reopen(Arc::new(dir), opts).unwrap();
    assert_eq!(got.len(), 41);
    assert_eq!(got[40].0, lsn);
    assert_eq!(check_payload(&got[40].2), Some((0, 40)));
}
