//! Tests of the vector store: round trips, growth, reopening, replay, concurrency, and
//! damaged files.

use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use super::format::{SegmentHeader, HEADER_LEN, HEADER_USED};
use super::{VectorStore, VectorStoreOptions};
use crate::StorageError;

const DIM: usize = 3;

/// The vector every test writes into `slot`, so readers can check what they see.
fn vector_for(slot: u32, dim: usize) -> Vec<f32> {
    (0..dim)
        .map(|i| slot as f32 * 10.0 + i as f32 + 0.5)
        .collect()
}

fn tiny(slots: u32) -> VectorStoreOptions {
    VectorStoreOptions::default().with_segment_slots(slots)
}

fn open(dir: &Path) -> crate::Result<VectorStore> {
    VectorStore::open(dir, DIM, tiny(4))
}

fn seg(dir: &Path, n: u32) -> PathBuf {
    dir.join(format!("vec-{n}.seg"))
}

/// A store in `dir` with `n` vectors written (segments of 4 slots), flushed and closed.
fn populate(dir: &Path, n: u32) {
    let store = open(dir).unwrap();
    for slot in 0..n {
        assert_eq!(
            store
                .reserve()
                .unwrap()
                .write(&vector_for(slot, DIM))
                .unwrap(),
            slot
        );
    }
    store.flush().unwrap();
}

fn patch(path: &Path, offset: u64, bytes: &[u8]) {
    use std::os::unix::fs::FileExt;
    let f = OpenOptions::new().write(true).open(path).unwrap();
    f.write_all_at(bytes, offset).unwrap();
}

#[test]
fn round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).unwrap();
    assert!(store.is_empty());
    assert_eq!(
        (store.dim(), store.segment_slots(0), store.capacity()),
        (DIM, 4, 0)
    );
    assert_eq!(store.vector(0), None);

    let r = store.reserve().unwrap();
    assert_eq!(r.slot(), 0);
    assert_eq!(store.vector(0), None, "reserved, not yet written");
    assert_eq!(r.write(&[1.0, 2.0, 3.0]).unwrap(), 0);
    assert_eq!(store.vector(0), Some(&[1.0, 2.0, 3.0][..]));
    assert_eq!((store.len(), store.capacity()), (1, 4));
    assert_eq!(store.vector(1), None);
    assert_eq!(store.vector(4), None);
    assert_eq!(store.vector(u32::MAX), None);
}

#[test]
fn default_segments_start_at_256_kib_and_double_to_64_mib() {
    let dir = tempfile::tempdir().unwrap();
    let store = VectorStore::open(dir.path(), 128, VectorStoreOptions::default()).unwrap();
    // 512 bytes a slot: 512 slots fill 256 KiB, 2^17 fill 64 MiB.
    let sizes: Vec<u32> = (0..12).map(|n| store.segment_slots(n)).collect();
    let mut want = vec![512, 512];
    while want.len() < 12 {
        want.push((want[want.len() - 1] * 2).min(1 << 17));
    }
    assert_eq!(sizes, want);
    assert_eq!(store.segment_slots(1000), 1 << 17);
    let slot = store.reserve().unwrap().write(&[1.0; 128]).unwrap();
    assert_eq!(store.vector(slot), Some(&[1.0; 128][..]));
    let len = fs::metadata(seg(dir.path(), 0)).unwrap().len();
    assert_eq!(len, 4096 + 512 * (128 * 4 + 4));
    assert_eq!((store.segment_count(), store.capacity()), (1, 512));
}

#[test]
fn growing_segments_double_the_capacity_and_read_back_across_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let opts = VectorStoreOptions::default()
        .with_first_segment_slots(2)
        .with_segment_slots(16);
    let n = 150u32;
    {
        let store = VectorStore::open(dir.path(), DIM, opts).unwrap();
        let mut held = Vec::new();
        for slot in 0..n {
            let r = store.reserve().unwrap();
            assert_eq!(r.slot(), slot);
            r.write(&vector_for(slot, DIM)).unwrap();
            held.push(store.vector(slot).unwrap());
        }
        // Slices taken earlier stay valid while segments of other sizes are added.
        for (slot, v) in held.iter().enumerate() {
            assert_eq!(*v, &vector_for(slot as u32, DIM)[..]);
        }
        // 2, 2, 4, 8, then 16 each: 16 + 8·16 = 144 < 150 <= 160.
        assert_eq!((store.segment_count(), store.capacity()), (13, 160));
        store.flush().unwrap();
    }
    for (k, slots) in [2u64, 2, 4, 8, 16, 16].into_iter().enumerate() {
        let len = fs::metadata(seg(dir.path(), k as u32)).unwrap().len();
        assert_eq!(
            len,
            HEADER_LEN as u64 + slots * (DIM as u64 * 4 + 4),
            "vec-{k}"
        );
    }
    // The files' layout wins over other options when reopening.
    let mut store = VectorStore::open(dir.path(), DIM, tiny(64)).unwrap();
    assert_eq!((store.segment_slots(0), store.segment_slots(9)), (2, 16));
    store.publish_existing(n).unwrap();
    for slot in 0..n {
        assert_eq!(
            store.vector_verified(slot).unwrap(),
            Some(&vector_for(slot, DIM)[..]),
            "slot {slot}"
        );
    }
    assert_eq!(store.vector(n), None);
    // Replay can restore into a segment far past the end; the ones between are made.
    store.restore(300, &vector_for(300, DIM)).unwrap();
    assert_eq!(store.capacity(), 304);
    assert_eq!(store.vector(300), Some(&vector_for(300, DIM)[..]));
}

#[test]
fn a_store_of_version_2_segments_still_opens_and_grows() {
    // Version 2: one segment size for the whole store, CRC over bytes 0..24.
    let dir = tempfile::tempdir().unwrap();
    populate(dir.path(), 6);
    for n in 0..2u32 {
        let mut h = [0u8; HEADER_USED];
        h[..8].copy_from_slice(b"FLETCHVS");
        h[8..12].copy_from_slice(&2u32.to_le_bytes());
        h[12..16].copy_from_slice(&(DIM as u32).to_le_bytes());
        h[16..20].copy_from_slice(&4u32.to_le_bytes());
        h[20..24].copy_from_slice(&n.to_le_bytes());
        let crc = crc32c::crc32c(&h[..24]);
        h[24..28].copy_from_slice(&crc.to_le_bytes());
        patch(&seg(dir.path(), n), 0, &h);
    }
    // Options asking for growing segments do not change an existing store.
    let mut store = VectorStore::open(dir.path(), DIM, VectorStoreOptions::default()).unwrap();
    assert_eq!((store.segment_slots(0), store.segment_slots(7)), (4, 4));
    store.publish_existing(6).unwrap();
    for slot in 0..6 {
        assert_eq!(
            store.vector_verified(slot).unwrap(),
            Some(&vector_for(slot, DIM)[..])
        );
    }
    for slot in 6..10 {
        store
            .reserve()
            .unwrap()
            .write(&vector_for(slot, DIM))
            .unwrap();
    }
    store.flush().unwrap();
    drop(store);
    // The new segment is written as version 3, with the same single size.
    let bytes = fs::read(seg(dir.path(), 2)).unwrap();
    assert_eq!(&bytes[8..12], &3u32.to_le_bytes());
    assert_eq!(&bytes[24..32], &[4, 0, 0, 0, 4, 0, 0, 0]);
    let mut store = VectorStore::open(dir.path(), DIM, VectorStoreOptions::default()).unwrap();
    store.publish_existing(10).unwrap();
    assert_eq!(store.vector(9), Some(&vector_for(9, DIM)[..]));
}

#[test]
fn wrong_dimension_publishes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).unwrap();
    let r = store.reserve().unwrap();
    let err = r.write(&[1.0, 2.0]).unwrap_err();
    assert!(
        matches!(
            err,
            StorageError::DimensionMismatch {
                expected: 3,
                got: 2
            }
        ),
        "{err}"
    );
    assert_eq!(store.vector(0), None);
    assert_eq!(store.reserve().unwrap().write(&[0.0; 3]).unwrap(), 1);
}

#[test]
fn grows_across_many_tiny_segments() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).unwrap();
    let mut held = Vec::new();
    for slot in 0..101 {
        store
            .reserve()
            .unwrap()
            .write(&vector_for(slot, DIM))
            .unwrap();
        // Slices taken earlier stay valid while the store grows.
        held.push(store.vector(slot).unwrap());
    }
    for (slot, v) in held.iter().enumerate() {
        assert_eq!(*v, &vector_for(slot as u32, DIM)[..]);
    }
    assert_eq!((store.len(), store.capacity()), (101, 104));
    for n in 0..26 {
        let len = fs::metadata(seg(dir.path(), n)).unwrap().len();
        assert_eq!(len, (HEADER_LEN + 4 * (DIM * 4 + 4)) as u64);
    }
    assert!(!seg(dir.path(), 26).exists());
}

#[test]
fn reopen_and_publish_existing_reads_back() {
    let dir = tempfile::tempdir().unwrap();
    populate(dir.path(), 10);
    let mut store = open(dir.path()).unwrap();
    assert_eq!((store.len(), store.capacity()), (0, 12));
    assert_eq!(store.vector(0), None, "nothing is published at open");
    store.publish_existing(10).unwrap();
    assert_eq!(store.len(), 10);
    for slot in 0..10 {
        assert_eq!(store.vector(slot), Some(&vector_for(slot, DIM)[..]));
    }
    assert_eq!(store.vector(10), None);
    assert_eq!(store.reserve().unwrap().slot(), 10);
}

#[test]
fn existing_segment_slots_win_over_options() {
    let dir = tempfile::tempdir().unwrap();
    populate(dir.path(), 5);
    let store = VectorStore::open(dir.path(), DIM, tiny(64)).unwrap();
    assert_eq!((store.segment_slots(0), store.capacity()), (4, 8));
}

#[test]
fn publish_existing_beyond_capacity_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    populate(dir.path(), 6);
    let mut store = open(dir.path()).unwrap();
    let err = store.publish_existing(9).unwrap_err();
    match err {
        StorageError::Corruption { file, .. } => assert_eq!(file, seg(dir.path(), 2)),
        other => panic!("{other}"),
    }
    store.publish_existing(8).unwrap();
    assert_eq!(
        store.vector(7),
        Some(&[0.0; 3][..]),
        "never written: zeros from the sparse file"
    );
}

#[test]
fn restore_out_of_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(dir.path()).unwrap();
    for slot in [9, 2, 5] {
        store.restore(slot, &vector_for(slot, DIM)).unwrap();
    }
    assert_eq!((store.len(), store.capacity()), (10, 12));
    for slot in 0..12 {
        let expected = [2, 5, 9].contains(&slot).then(|| vector_for(slot, DIM));
        assert_eq!(store.vector(slot), expected.as_deref(), "slot {slot}");
    }
    // Replaying again is harmless; a lower slot does not lower len.
    store.restore(2, &vector_for(2, DIM)).unwrap();
    assert_eq!(store.vector(2), Some(&vector_for(2, DIM)[..]));
    assert_eq!(store.len(), 10);
    assert!(matches!(
        store.restore(3, &[1.0]),
        Err(StorageError::DimensionMismatch {
            expected: 3,
            got: 1
        })
    ));
    assert_eq!(store.vector(3), None);
    assert!(matches!(
        store.restore(u32::MAX, &[0.0; 3]),
        Err(StorageError::InvalidArgument(_))
    ));
    assert_eq!(store.reserve().unwrap().slot(), 10);

    // Restored data reaches the files.
    store.flush().unwrap();
    drop(store);
    let mut store = open(dir.path()).unwrap();
    store.publish_existing(10).unwrap();
    assert_eq!(store.vector(9), Some(&vector_for(9, DIM)[..]));
}

#[test]
fn dropped_reservation_leaves_a_hole() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).unwrap();
    let hole = store.reserve().unwrap();
    assert_eq!(hole.slot(), 0);
    drop(hole);
    assert_eq!(
        store.reserve().unwrap().write(&vector_for(1, DIM)).unwrap(),
        1
    );
    assert_eq!(store.vector(0), None);
    assert_eq!(store.vector(1), Some(&vector_for(1, DIM)[..]));
    assert_eq!(store.len(), 2);
}

#[test]
fn concurrent_writers_and_readers() {
    // One segment size, and segments doubling from 2 to 64 slots (the directory's
    // per-chunk entries below slot 64, per-segment entries after).
    for options in [tiny(32), tiny(64).with_first_segment_slots(2)] {
        concurrent_writers_and_readers_with(options);
    }
}

fn concurrent_writers_and_readers_with(options: VectorStoreOptions) {
    const WRITERS: usize = 4;
    const PER_WRITER: usize = 500;
    const TOTAL: u32 = (WRITERS * PER_WRITER) as u32;
    let dim = 16;
    let dir = tempfile::tempdir().unwrap();
    let store = VectorStore::open(dir.path(), dim, options).unwrap();
    let done = AtomicBool::new(false);
    let seen = AtomicUsize::new(0);
    // Every 7th reservation is dropped unwritten, to leave holes.
    let is_hole = |slot: u32| slot % 7 == 3;
    std::thread::scope(|s| {
        let writers: Vec<_> = (0..WRITERS)
            .map(|_| {
                s.spawn(|| {
                    for _ in 0..PER_WRITER {
                        let r = store.reserve().unwrap();
                        let slot = r.slot();
                        if !is_hole(slot) {
                            assert_eq!(r.write(&vector_for(slot, dim)).unwrap(), slot);
                        }
                    }
                })
            })
            .collect();
        for _ in 0..2 {
            s.spawn(|| loop {
                let finished = done.load(Ordering::Acquire);
                let len = store.len() as u32;
                for slot in (0..len + 2).rev() {
                    if let Some(v) = store.vector(slot) {
                        assert_eq!(v, &vector_for(slot, dim)[..], "slot {slot}");
                        seen.fetch_add(1, Ordering::Relaxed);
                    }
                }
                if finished {
                    break;
                }
            });
        }
        for w in writers {
            w.join().unwrap();
        }
        done.store(true, Ordering::Release);
    });
    assert!(seen.load(Ordering::Relaxed) > 0);
    assert_eq!(store.len(), TOTAL as usize);
    for slot in 0..TOTAL {
        let expected = (!is_hole(slot)).then(|| vector_for(slot, dim));
        assert_eq!(store.vector(slot), expected.as_deref(), "slot {slot}");
    }
    store.flush().unwrap();
}

#[test]
fn flush_makes_writes_readable_after_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path()).unwrap();
    store.flush().unwrap(); // nothing mapped yet
    for slot in 0..6 {
        store
            .reserve()
            .unwrap()
            .write(&vector_for(slot, DIM))
            .unwrap();
    }
    store.flush().unwrap();
    store.flush().unwrap(); // nothing dirty
    store.reserve().unwrap().write(&vector_for(6, DIM)).unwrap();
    store.flush().unwrap();
    drop(store);
    let mut store = open(dir.path()).unwrap();
    store.publish_existing(7).unwrap();
    for slot in 0..7 {
        assert_eq!(store.vector(slot), Some(&vector_for(slot, DIM)[..]));
    }
}

#[test]
fn creates_missing_directories() {
    let dir = tempfile::tempdir().unwrap();
    let nested = dir.path().join("c").join("7");
    let store = open(&nested).unwrap();
    store.reserve().unwrap().write(&[1.0; 3]).unwrap();
    assert!(seg(&nested, 0).exists());
}

#[test]
fn bad_arguments_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    for (dim, options) in [
        (0, tiny(4)),
        (3, tiny(0)),
        (3, tiny(6)),
        (1 << 30, tiny(1 << 31)),
    ] {
        let err = VectorStore::open(dir.path(), dim, options).unwrap_err();
        assert!(
            matches!(err, StorageError::InvalidArgument(_)),
            "{dim} {options:?}: {err}"
        );
    }
}

// Damaged files: each a typed error naming the file, never a panic.

fn expect_corruption(dir: &Path, bad: &Path) {
    match open(dir) {
        Err(StorageError::Corruption { file, .. }) => assert_eq!(file, bad),
        Err(other) => panic!("expected corruption in {}, got {other}", bad.display()),
        Ok(_) => panic!("expected corruption in {}, opened fine", bad.display()),
    }
}

#[test]
fn flipped_header_byte_is_corruption() {
    for offset in [0u64, 12, 16, 20, 24, 27, 28, 32, 35] {
        let dir = tempfile::tempdir().unwrap();
        populate(dir.path(), 10);
        let path = seg(dir.path(), 1);
        let mut bytes = fs::read(&path).unwrap();
        bytes[offset as usize] ^= 0x10;
        fs::write(&path, &bytes).unwrap();
        expect_corruption(dir.path(), &path);
    }
}

#[test]
fn truncated_segment_is_corruption() {
    for len in [0u64, 10, HEADER_LEN as u64, HEADER_LEN as u64 + 47] {
        let dir = tempfile::tempdir().unwrap();
        populate(dir.path(), 10);
        let path = seg(dir.path(), 2);
        OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(len)
            .unwrap();
        expect_corruption(dir.path(), &path);
    }
    // Too long is as wrong as too short.
    let dir = tempfile::tempdir().unwrap();
    populate(dir.path(), 10);
    let path = seg(dir.path(), 0);
    OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(1 << 20)
        .unwrap();
    expect_corruption(dir.path(), &path);
}

#[test]
fn missing_middle_segment_is_corruption() {
    let dir = tempfile::tempdir().unwrap();
    populate(dir.path(), 10);
    fs::remove_file(seg(dir.path(), 1)).unwrap();
    expect_corruption(dir.path(), &seg(dir.path(), 1));

    let dir = tempfile::tempdir().unwrap();
    populate(dir.path(), 10);
    fs::remove_file(seg(dir.path(), 0)).unwrap();
    expect_corruption(dir.path(), &seg(dir.path(), 0));
}

#[test]
fn wrong_dimension_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    populate(dir.path(), 5);
    let err = VectorStore::open(dir.path(), 5, tiny(4)).unwrap_err();
    assert!(
        matches!(
            err,
            StorageError::DimensionMismatch {
                expected: 5,
                got: 3
            }
        ),
        "{err}"
    );
}

#[test]
fn unknown_version_is_unsupported() {
    let dir = tempfile::tempdir().unwrap();
    populate(dir.path(), 5);
    let path = seg(dir.path(), 1);
    let mut header = SegmentHeader {
        dim: 3,
        slots: 4,
        index: 1,
        first: 4,
        max: 4,
    }
    .encode();
    header[8..12].copy_from_slice(&4u32.to_le_bytes());
    let crc = crc32c::crc32c(&header[..32]);
    header[32..36].copy_from_slice(&crc.to_le_bytes());
    patch(&path, 0, &header);
    match open(dir.path()) {
        Err(StorageError::UnsupportedVersion {
            file,
            found: 4,
            supported: 3,
        }) => assert_eq!(file, path),
        other => panic!("{other:?}"),
    }
}

#[test]
fn valid_headers_that_lie_are_corruption() {
    let h = |slots, index, first, max| SegmentHeader {
        dim: 3,
        slots,
        index,
        first,
        max,
    };
    let cases: [(u32, SegmentHeader); 7] = [
        // The header names another segment.
        (1, h(4, 0, 4, 4)),
        // Another size than its layout gives it (length adjusted to match the header).
        (1, h(8, 1, 4, 4)),
        (1, h(2, 1, 4, 64)),
        // Another layout than vec-0.seg's, self-consistent.
        (1, h(8, 1, 8, 8)),
        (1, h(4, 1, 4, 8)),
        // Not powers of two, or shrinking.
        (0, h(3, 0, 3, 3)),
        (0, h(8, 0, 8, 4)),
    ];
    for (n, header) in cases {
        let dir = tempfile::tempdir().unwrap();
        populate(dir.path(), 5);
        let path = seg(dir.path(), n);
        let bytes: [u8; HEADER_USED] = header.encode();
        patch(&path, 0, &bytes);
        let len = HEADER_LEN as u64 + u64::from(header.slots) * 16;
        OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(len)
            .unwrap();
        expect_corruption(dir.path(), &path);
    }
}

#[test]
fn leftover_temp_files_are_removed() {
    let dir = tempfile::tempdir().unwrap();
    populate(dir.path(), 5);
    fs::write(dir.path().join("vec-2.seg.tmp"), b"half made").unwrap();
    fs::write(dir.path().join("graph.hnsw.tmp"), b"not ours").unwrap();
    let mut store = open(dir.path()).unwrap();
    assert!(!dir.path().join("vec-2.seg.tmp").exists());
    assert!(dir.path().join("graph.hnsw.tmp").exists());
    assert_eq!(store.capacity(), 8);
    store.publish_existing(5).unwrap();
    assert_eq!(store.vector(4), Some(&vector_for(4, DIM)[..]));
    // Growth creates the segment the temp file would have become.
    for slot in 5..9 {
        store
            .reserve()
            .unwrap()
            .write(&vector_for(slot, DIM))
            .unwrap();
    }
    assert_eq!(store.vector(8), Some(&vector_for(8, DIM)[..]));
}

#[test]
fn a_damaged_slot_fails_its_checksum_and_names_file_and_offset() {
    let dir = tempfile::tempdir().unwrap();
    let opts = VectorStoreOptions::default().with_segment_slots(8);
    {
        let store = VectorStore::open(dir.path(), DIM, opts).unwrap();
        for i in 0..10u32 {
            store.reserve().unwrap().write(&vector_for(i, DIM)).unwrap();
        }
        store.flush().unwrap();
    }
    // Slot 9 is slot 1 of segment 1: flip one bit of its third float.
    let path = seg(dir.path(), 1);
    let at = (HEADER_LEN + DIM * 4 + 8) as u64;
    let mut byte = [0u8; 1];
    {
        use std::io::{Read, Seek, SeekFrom};
        let mut f = fs::File::open(&path).unwrap();
        f.seek(SeekFrom::Start(at)).unwrap();
        f.read_exact(&mut byte).unwrap();
    }
    patch(&path, at, &[byte[0] ^ 0x10]);
    let mut store = VectorStore::open(dir.path(), DIM, opts).unwrap();
    store.publish_existing(10).unwrap();
    for i in (0..10u32).filter(|&i| i != 9) {
        assert_eq!(
            store.vector_verified(i).unwrap(),
            Some(&vector_for(i, DIM)[..])
        );
    }
    match store.vector_verified(9) {
        Err(StorageError::Corruption { file, offset, .. }) => {
            assert_eq!(file, path);
            assert_eq!(offset, (HEADER_LEN + DIM * 4) as u64);
        }
        other => panic!("{other:?}"),
    }
    assert!(
        store.vector(9).is_some(),
        "the unchecked read (search) still sees bytes"
    );
    assert_eq!(store.vector_verified(10).unwrap(), None);
    // A vector restored over it (log replay) is whole again.
    store.restore(9, &vector_for(9, DIM)).unwrap();
    assert_eq!(
        store.vector_verified(9).unwrap(),
        Some(&vector_for(9, DIM)[..])
    );
}

/// `resident` tells a store whose pages were dropped from the page cache (as after a
/// reboot) from one just read, looking only at the slots written.
#[cfg(target_os = "linux")]
#[test]
fn resident_says_whether_the_written_slots_are_in_the_page_cache() {
    let dir = tempfile::tempdir().unwrap();
    let dim = 128;
    let n = 5_000u32;
    {
        let store = VectorStore::open(dir.path(), dim, VectorStoreOptions::default()).unwrap();
        for slot in 0..n {
            store
                .reserve()
                .unwrap()
                .write(&vector_for(slot, dim))
                .unwrap();
        }
        // Just written, the last segment mostly empty: its empty pages do not count.
        assert!(store.resident());
        store.flush().unwrap();
    }
    // Drop the files' clean pages (GNU dd: with `count=0`, `nocache` drops the whole
    // file's cache).
    for entry in fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        fs::File::open(&path).unwrap().sync_all().unwrap();
        let status = std::process::Command::new("dd")
            .arg(format!("if={}", path.display()))
            .args(["iflag=nocache", "count=0", "status=none"])
            .status()
            .unwrap();
        assert!(status.success());
    }
    // Reopened as an open does: the slots written published again, headers read.
    let mut store = VectorStore::open(dir.path(), dim, VectorStoreOptions::default()).unwrap();
    store.publish_existing(n).unwrap();
    assert!(!store.resident());
    let sum: f32 = (0..n).map(|s| store.vector(s).unwrap()[0]).sum();
    assert!(sum > 0.0);
    assert!(store.resident());
}
