//! Helpers shared by the storage tests.
#![allow(dead_code)]

use std::sync::Arc;

use fletchdb_storage::io::StorageDir;
use fletchdb_storage::wal::{Durability, Wal, WalOptions};
use fletchdb_storage::Result;

/// Small segments, so that tests roll over often.
pub fn small(durability: Durability) -> WalOptions {
    WalOptions {
        durability,
        segment_size: 4096,
        ..WalOptions::default()
    }
}

/// A recovered record: LSN, kind, payload.
pub type Owned = (u64, u8, Vec<u8>);

/// Opens and finishes a log, returning it and every record recovered.
pub fn reopen(dir: Arc<dyn StorageDir>, opts: WalOptions) -> Result<(Wal, Vec<Owned>)> {
    let mut rec = Wal::open(dir, opts)?;
    let mut out = Vec::new();
    while let Some(r) = rec.next_record()? {
        out.push((r.lsn, r.kind, r.payload.to_vec()));
    }
    Ok((rec.finish()?, out))
}

/// A payload that says who wrote it and checks itself: `thread, seq, filler`.
pub fn payload(thread: u32, seq: u32, len: usize) -> Vec<u8> {
    let mut p = Vec::with_capacity(len.max(8));
    p.extend_from_slice(&thread.to_le_bytes());
    p.extend_from_slice(&seq.to_le_bytes());
    let mut x = thread.wrapping_mul(2_654_435_761) ^ seq;
    while p.len() < len {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        p.push((x >> 16) as u8);
    }
    p
}

/// The `(thread, seq)` of a payload made by [`payload`], if it is intact.
pub fn check_payload(p: &[u8]) -> Option<(u32, u32)> {
    if p.len() < 8 {
        return None;
    }
    let thread = u32::from_le_bytes(p[0..4].try_into().ok()?);
    let seq = u32::from_le_bytes(p[4..8].try_into().ok()?);
    (payload(thread, seq, p.len()) == p).then_some((thread, seq))
}

/// Encoded size of a record with `payload` bytes (32-byte header, 8-byte alignment).
pub fn encoded(payload: usize) -> usize {
    (32 + payload).next_multiple_of(8)
}

/// Bytes before the first record of a segment.
pub const SEGMENT_HEADER: usize = 64;
