//! Damage behind valid checksums, for `open_damaged`: a byte of a payload in a log
//! record changed and the record's checksum resealed, or a byte of a payload row of the
//! catalog changed through the catalog's own API (redb checksums every page, so plain
//! damage to the catalog never reaches the payload decoder).
//!
//! The database cannot tell such a change from a write: it must decode the bytes. A
//! payload that no longer decodes makes the open fail with `Corruption`; one that still
//! does is what the id holds (the harness then accepts any payload for that id, and
//! checks only that filters agree with it).

use std::ops::Range;
use std::path::Path;

use fletchdb_storage::catalog::{Catalog, CollectionId};

use crate::scratch::FileImage;

/// Bytes of a log segment's header, and of a record's header.
const SEGMENT_HEADER: usize = 64;
const RECORD_HEADER: usize = 32;
/// The database's record kinds that carry a payload (`core/src/record.rs`).
const KIND_PUT_PAYLOAD: u8 = 3;
const KIND_PAYLOAD: u8 = 4;

/// A payload in a log segment: its bytes, its record (start and payload length), and
/// the collection and id the record is about.
struct Span {
    bytes: Range<usize>,
    record: usize,
    len: usize,
    cid: u32,
    id: u64,
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

/// The payloads of the records of a log segment, following the chain of records from
/// its header while lengths allow.
fn payloads(seg: &[u8]) -> Vec<Span> {
    let mut out = Vec::new();
    let mut pos = SEGMENT_HEADER;
    while pos + RECORD_HEADER <= seg.len() {
        let len = u32_at(seg, pos) as usize;
        let body = pos + RECORD_HEADER;
        if len == 0 || len > seg.len() - body {
            break;
        }
        let rec = &seg[body..body + len];
        let cid = |at: usize| rec.get(at..at + 4).map(|_| u32_at(rec, at));
        let id = rec
            .get(4..12)
            .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")));
        let payload = match seg[pos + 28] {
            KIND_PUT_PAYLOAD if len >= 20 => {
                let n = u32_at(rec, 16) as usize;
                (n <= len - 20).then(|| body + 20..body + 20 + n)
            }
            KIND_PAYLOAD if len > 12 => Some(body + 12..body + len),
            _ => None,
        };
        if let (Some(bytes), Some(cid), Some(id)) = (payload, cid(0), id) {
            if !bytes.is_empty() {
                out.push(Span {
                    bytes,
                    record: pos,
                    len,
                    cid,
                    id,
                });
            }
        }
        pos += (RECORD_HEADER + len).next_multiple_of(8);
    }
    out
}

/// Xors a byte of one of the payloads of log segment `f` with `value` (1 if 0), the
/// payload chosen by `which` and the byte by `at`, and reseals the record's checksum.
/// Returns the collection and id of the record, if the segment held a payload.
pub(crate) fn log_payload(f: &mut FileImage, which: u32, at: u8, value: u8) -> Option<(u32, u64)> {
    let mut seg = vec![0u8; f.len as usize];
    for (start, data) in &f.extents {
        let start = *start as usize;
        seg[start..start + data.len()].copy_from_slice(data);
    }
    let spans = payloads(&seg);
    let span = spans.get(which as usize % spans.len().max(1))?;
    seg[span.bytes.start + usize::from(at) % span.bytes.len()] ^= value.max(1);
    let rec = &seg[span.record..span.record + RECORD_HEADER + span.len];
    let crc = crc32c::crc32c_append(crc32c::crc32c(&rec[..4]), &rec[8..]);
    seg[span.record + 4..span.record + 8].copy_from_slice(&crc.to_le_bytes());
    let (cid, id) = (span.cid, span.id);
    f.extents = vec![(0, seg)];
    Some((cid, id))
}

/// Xors a byte of a payload row of the catalog in `dir` with `value >> 1` (1 if 0),
/// committed through the catalog's API: collection `value & 1` + 1, the row chosen by
/// `which`, the byte by `at`. Returns the collection and id, if the catalog opened and
/// held such a row.
pub(crate) fn catalog_payload(dir: &Path, which: u32, at: u8, value: u8) -> Option<(u32, u64)> {
    let catalog = Catalog::open(&dir.join("catalog.redb")).ok()?;
    let cid = CollectionId(u32::from(value & 1) + 1);
    let rows = catalog.metas(cid).ok()?;
    let (id, mut bytes) = rows.get(which as usize % rows.len().max(1))?.clone();
    let i = usize::from(at) % bytes.len().max(1);
    *bytes.get_mut(i)? ^= (value >> 1).max(1);
    let mut txn = catalog.begin().ok()?;
    txn.put_meta(cid, &[(id, &bytes[..])]).ok()?;
    txn.commit().ok()?;
    catalog.close().ok()?;
    Some((cid.0, id))
}
