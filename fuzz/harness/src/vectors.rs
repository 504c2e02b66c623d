//! `vector_segments`: a real vector store of growing segments, its files damaged where
//! the fuzzer says, then opened.
//!
//! Input layout:
//!
//! ```text
//! 0     u8   dim: 1 + (b % 8)
//! 1     u8   slots in the first segment: 1 << (b % 4)
//! 2     u8   doublings to the largest segment: b % 4 (largest = first << doublings)
//! 3     u8   vectors written: b % 64
//! 4..   up to 8 damage operations of 8 bytes each:
//!       0     u8   file: index into the segment files (modulo their count)
//!       1     u8   operation (modulo 5): 0 xor a byte with `value` (1 if 0), 1 set a
//!                  byte to `value`, 2 truncate the file at `offset`, 3 remove the
//!                  file, 4 rewrite header field `value % 6` (version, dim, slots,
//!                  index, first, largest) to `offset` and reseal the header's
//!                  checksum (where version 2 or 3 keeps it), so the fuzzer gets past
//!                  it to the structural checks
//!       2..6  u32  offset (modulo the file's length, plus one for truncation)
//!       6     u8   value
//!       7     u8   unused
//! ```
//!
//! A shorter input is padded with zeros. The store is written with
//! `VectorStore::open`, `reserve` and `write`, flushed and closed, in a fresh scratch
//! directory; the header layout (documented in `storage/src/vectors/format.rs`) is
//! computed here, since the encoder is private to the storage crate.
//!
//! Checked: opening never panics, and fails only with `Corruption`,
//! `UnsupportedVersion` or `DimensionMismatch`. A store that opens publishes the slots
//! written (or reports a missing segment as `Corruption`); every slot then reads as
//! the vector written, as `Corruption`, or (past what was written) as nothing, and a
//! slot in a file no operation touched reads as written; the store takes a new vector,
//! and reopens with it. Undamaged, every vector reads back and the files have exactly
//! the sizes the layout gives them.

use std::fs::{self, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use fletchdb_storage::vectors::{VectorStore, VectorStoreOptions};
use fletchdb_storage::StorageError;

use crate::scratch;

/// Bytes of the input before the damage operations.
const PREFIX: usize = 4;
/// Bytes of the header that carry meaning in version 3.
const HEADER_USED: usize = 36;
/// Where slot data starts.
const HEADER_LEN: u64 = 4096;

/// One damage operation, decoded.
#[derive(Debug, Clone, Copy)]
struct Damage {
    file: usize,
    op: u8,
    offset: u32,
    value: u8,
}

/// The vector written into `slot`.
fn vector(slot: u32, dim: usize) -> Vec<f32> {
    (0..dim)
        .map(|i| slot as f32 * 8.0 + i as f32 * 0.25 - 3.0)
        .collect()
}

/// The body of the `vector_segments` fuzz target; see the module documentation.
pub fn vector_segments(data: &[u8]) {
    let mut input = data.to_vec();
    if input.len() < PREFIX {
        input.resize(PREFIX, 0);
    }
    let dim = 1 + (input[0] % 8) as usize;
    let first = 1u32 << (input[1] % 4);
    let max = first << (input[2] % 4);
    let n = u32::from(input[3] % 64);
    let damage: Vec<Damage> = input[PREFIX..]
        .chunks_exact(8)
        .take(8)
        .map(|c| Damage {
            file: c[0] as usize,
            op: c[1] % 5,
            offset: u32::from_le_bytes([c[2], c[3], c[4], c[5]]),
            value: c[6],
        })
        .collect();
    let options = VectorStoreOptions::default()
        .with_first_segment_slots(first)
        .with_segment_slots(max);

    let dir = scratch::tempdir();
    {
        let store = VectorStore::open(dir.path(), dim, options).expect("open a new store");
        for slot in 0..n {
            let written = store
                .reserve()
                .expect("reserve")
                .write(&vector(slot, dim))
                .expect("write");
            assert_eq!(written, slot);
        }
        store.flush().expect("flush");
    }
    let files = segment_files(dir.path());
    let mut touched = vec![false; files.len()];
    for d in &damage {
        if files.is_empty() {
            break;
        }
        let i = d.file % files.len();
        touched[i] = true;
        apply(&files[i], *d);
    }

    let mut store = match VectorStore::open(dir.path(), dim, options) {
        Ok(store) => store,
        Err(e) => {
            check_error(&e);
            assert!(!damage.is_empty(), "the undamaged store fails to open: {e}");
            return;
        }
    };
    if damage.is_empty() {
        check_sizes(&store, &files, dim);
    }
    if let Err(e) = store.publish_existing(n) {
        assert!(
            !damage.is_empty() && matches!(e, StorageError::Corruption { .. }),
            "publishing the slots written: {e}"
        );
        return;
    }
    for slot in 0..(store.capacity() as u32).saturating_add(2) {
        match store.vector_verified(slot) {
            Ok(Some(v)) => {
                assert!(slot < n, "slot {slot} was never written but reads {v:?}");
                let intact = !file_of(&store, slot).is_some_and(|f| touched[f]);
                if intact {
                    assert_eq!(
                        v,
                        &vector(slot, dim)[..],
                        "slot {slot} of an untouched file"
                    );
                }
            }
            Ok(None) => assert!(slot >= n, "slot {slot} was written but reads nothing"),
            Err(e) => {
                assert!(
                    !damage.is_empty() && matches!(e, StorageError::Corruption { .. }),
                    "slot {slot}: {e}"
                );
                let f = file_of(&store, slot);
                assert!(
                    f.is_some_and(|f| touched[f]),
                    "slot {slot} of an untouched file: {e}"
                );
            }
        }
    }
    // What opened takes a write, and reopens with it.
    let extra = vector(1000, dim);
    let slot = store
        .reserve()
        .and_then(|r| r.write(&extra))
        .expect("a store that opened takes a write");
    assert_eq!(slot, n);
    store.flush().expect("flush after a write");
    drop(store);
    let mut store =
        VectorStore::open(dir.path(), dim, options).expect("a store that took a write reopens");
    store.publish_existing(n + 1).expect("publish after reopen");
    assert_eq!(
        store.vector_verified(n).expect("the new vector"),
        Some(&extra[..])
    );
}

/// The segment files in `dir`, in index order.
fn segment_files(dir: &Path) -> Vec<PathBuf> {
    (0u32..)
        .map(|k| dir.join(format!("vec-{k}.seg")))
        .take_while(|p| p.exists())
        .collect()
}

/// Which segment file (by index) holds `slot`, as the opened store lays slots out.
fn file_of(store: &VectorStore, slot: u32) -> Option<usize> {
    let mut start = 0u64;
    for k in 0..store.segment_count() as u32 {
        let end = start + u64::from(store.segment_slots(k));
        if u64::from(slot) < end {
            return Some(k as usize);
        }
        start = end;
    }
    None
}

/// Undamaged, each file is exactly as long as the layout says for its index.
fn check_sizes(store: &VectorStore, files: &[PathBuf], dim: usize) {
    assert_eq!(store.segment_count(), files.len());
    for (k, path) in files.iter().enumerate() {
        let slots = u64::from(store.segment_slots(k as u32));
        let len = fs::metadata(path).expect("metadata").len();
        assert_eq!(
            len,
            HEADER_LEN + slots * (dim as u64 * 4 + 4),
            "{}",
            path.display()
        );
    }
}

/// Applies one damage operation to the file at `path`.
fn apply(path: &Path, d: Damage) {
    let Ok(file) = OpenOptions::new().read(true).write(true).open(path) else {
        return; // removed by an earlier operation
    };
    let len = file.metadata().expect("metadata").len();
    match d.op {
        0 | 1 if len > 0 => {
            let at = u64::from(d.offset) % len;
            let mut b = [0u8; 1];
            file.read_exact_at(&mut b, at).expect("read");
            b[0] = if d.op == 0 {
                b[0] ^ d.value.max(1)
            } else {
                d.value
            };
            file.write_all_at(&b, at).expect("write");
        }
        2 => file
            .set_len(u64::from(d.offset) % (len + 1))
            .expect("truncate"),
        3 => {
            drop(file);
            fs::remove_file(path).expect("remove");
        }
        4 if len >= HEADER_USED as u64 => {
            let mut h = [0u8; HEADER_USED];
            file.read_exact_at(&mut h, 0).expect("read header");
            let field = [8, 12, 16, 20, 24, 28][usize::from(d.value % 6)];
            h[field..field + 4].copy_from_slice(&d.offset.to_le_bytes());
            let version = u32::from_le_bytes([h[8], h[9], h[10], h[11]]);
            let crc_at = if version == 2 { 24 } else { 32 };
            let crc = crc32c::crc32c(&h[..crc_at]);
            h[crc_at..crc_at + 4].copy_from_slice(&crc.to_le_bytes());
            file.write_all_at(&h, 0).expect("write header");
        }
        _ => {}
    }
}

/// Opening damaged segments may fail only with these, each naming what is wrong.
fn check_error(e: &StorageError) {
    assert!(
        matches!(
            e,
            StorageError::Corruption { .. }
                | StorageError::UnsupportedVersion { .. }
                | StorageError::DimensionMismatch { .. }
        ),
        "unexpected error opening a damaged store: {e:?}"
    );
}
