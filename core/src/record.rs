//! The database's write-ahead log records, and their byte layout.
//!
//! ```text
//! kind 1, put:                cid u32, id u64, slot u32, vector (dim × f32)
//! kind 2, delete:             cid u32, id u64
//! kind 3, put with payload:   cid u32, id u64, slot u32, len u32, payload (len bytes), vector
//! kind 4, payload:            cid u32, id u64, payload (the rest)
//! ```
//!
//! Little-endian throughout. A put carries the slot it occupies, so replay writes every
//! vector back where it was and rebuilds exactly the same state. Insert and upsert log
//! the same record: the check that `insert` does not replace happens before logging.
//! A put replaces the whole record: one with an empty payload (kind 1) leaves the id
//! without metadata or document. Kind 4 (`update`) replaces the payload alone, with the
//! whole new payload, so replay needs nothing but the record. Payload bytes are
//! [`Payload`](crate::Payload)'s stored form.
//! Creating and dropping collections is not logged: each is one committed catalog
//! transaction, and records of a collection that no longer exists are skipped.

use fletchdb_storage::catalog::CollectionId;
use fletchdb_storage::le;

/// Record kind of a put (insert or upsert).
pub(crate) const KIND_PUT: u8 = 1;
/// Record kind of a delete.
pub(crate) const KIND_DELETE: u8 = 2;
/// Record kind of a put whose record has a payload.
pub(crate) const KIND_PUT_PAYLOAD: u8 = 3;
/// Record kind of a payload replaced alone.
pub(crate) const KIND_PAYLOAD: u8 = 4;
/// Bytes of a plain put before its vector.
const PUT_HEADER: usize = 16;
/// Bytes of a put with a payload before the payload.
const PUT_PAYLOAD_HEADER: usize = 20;

/// The fixed part of a put record, and its kind: a plain put when the payload is empty.
/// The record is this, then the payload, then the vector.
#[derive(Clone, Copy)]
pub(crate) struct PutHead {
    bytes: [u8; PUT_PAYLOAD_HEADER],
    len: usize,
    pub(crate) kind: u8,
}

impl PutHead {
    pub(crate) fn new(cid: CollectionId, id: u64, slot: u32, payload: &[u8]) -> PutHead {
        let mut bytes = [0u8; PUT_PAYLOAD_HEADER];
        bytes[..4].copy_from_slice(&cid.0.to_le_bytes());
        bytes[4..12].copy_from_slice(&id.to_le_bytes());
        bytes[12..16].copy_from_slice(&slot.to_le_bytes());
        if payload.is_empty() {
            return PutHead {
                bytes,
                len: PUT_HEADER,
                kind: KIND_PUT,
            };
        }
        bytes[16..].copy_from_slice(&(payload.len() as u32).to_le_bytes());
        PutHead {
            bytes,
            len: PUT_PAYLOAD_HEADER,
            kind: KIND_PUT_PAYLOAD,
        }
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// Each put record's parts: its head, its payload, its vector.
pub(crate) fn put_parts<'a>(
    heads: &'a [PutHead],
    payloads: &'a [Vec<u8>],
    vectors: impl IntoIterator<Item = &'a [f32]>,
) -> Vec<[&'a [u8]; 3]> {
    heads
        .iter()
        .zip(payloads)
        .zip(vectors)
        .map(|((h, p), v)| [h.bytes(), &p[..], bytemuck::cast_slice(v)])
        .collect()
}

/// The records (kind and parts) for the log's `append_many`.
pub(crate) fn put_records<'a>(
    heads: &[PutHead],
    parts: &'a [[&'a [u8]; 3]],
) -> Vec<(u8, &'a [&'a [u8]])> {
    heads
        .iter()
        .zip(parts)
        .map(|(h, p)| (h.kind, &p[..]))
        .collect()
}

/// The head of a payload record; the payload follows.
pub(crate) fn payload_head(cid: CollectionId, id: u64) -> [u8; 12] {
    delete_record(cid, id)
}

/// A delete record.
pub(crate) fn delete_record(cid: CollectionId, id: u64) -> [u8; 12] {
    let mut b = [0u8; 12];
    b[..4].copy_from_slice(&cid.0.to_le_bytes());
    b[4..12].copy_from_slice(&id.to_le_bytes());
    b
}

/// A decoded record.
#[derive(Debug, PartialEq)]
pub(crate) enum Op<'a> {
    /// `id` now lives in `slot`, holding `vector` (little-endian f32 bytes) and
    /// `payload` (stored form; empty for none).
    Put {
        cid: CollectionId,
        id: u64,
        slot: u32,
        vector: &'a [u8],
        payload: &'a [u8],
    },
    /// `id` is gone.
    Delete { cid: CollectionId, id: u64 },
    /// `id`'s payload is now `payload`; its vector stays.
    Payload {
        cid: CollectionId,
        id: u64,
        payload: &'a [u8],
    },
}

impl Op<'_> {
    /// Decodes a record; `None` if it is not one this version writes.
    pub(crate) fn decode(kind: u8, payload: &[u8]) -> Option<Op<'_>> {
        match kind {
            KIND_PUT
                if payload.len() >= PUT_HEADER
                    && (payload.len() - PUT_HEADER).is_multiple_of(4) =>
            {
                Some(Op::Put {
                    cid: CollectionId(le::u32_at(payload, 0)?),
                    id: le::u64_at(payload, 4)?,
                    slot: le::u32_at(payload, 12)?,
                    vector: &payload[PUT_HEADER..],
                    payload: &[],
                })
            }
            KIND_PUT_PAYLOAD => {
                let len = le::u32_at(payload, 16)? as usize;
                let end = PUT_PAYLOAD_HEADER.checked_add(len)?;
                let vector = payload.get(end..)?;
                if len == 0 || !vector.len().is_multiple_of(4) {
                    return None;
                }
                Some(Op::Put {
                    cid: CollectionId(le::u32_at(payload, 0)?),
                    id: le::u64_at(payload, 4)?,
                    slot: le::u32_at(payload, 12)?,
                    vector,
                    payload: &payload[PUT_PAYLOAD_HEADER..end],
                })
            }
            KIND_PAYLOAD if payload.len() >= 12 => Some(Op::Payload {
                cid: CollectionId(le::u32_at(payload, 0)?),
                id: le::u64_at(payload, 4)?,
                payload: &payload[12..],
            }),
            KIND_DELETE if payload.len() == 12 => Some(Op::Delete {
                cid: CollectionId(le::u32_at(payload, 0)?),
                id: le::u64_at(payload, 4)?,
            }),
            _ => None,
        }
    }
}

/// Decodes little-endian f32 bytes into `out` (cleared first).
pub(crate) fn floats_into(bytes: &[u8], out: &mut Vec<f32>) {
    out.clear();
    out.extend(
        bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_strangers_are_refused() {
        let v = [1.5f32, -2.0];
        let head = PutHead::new(CollectionId(7), 42, 9, &[]);
        assert_eq!(head.kind, KIND_PUT);
        let mut put = head.bytes().to_vec();
        put.extend_from_slice(bytemuck::cast_slice(&v));
        let op = Op::decode(KIND_PUT, &put).unwrap();
        let Op::Put {
            cid,
            id,
            slot,
            vector,
            payload,
        } = op
        else {
            panic!("not a put")
        };
        assert_eq!((cid, id, slot, payload), (CollectionId(7), 42, 9, &[][..]));
        let mut f = Vec::new();
        floats_into(vector, &mut f);
        assert_eq!(f, v);
        assert_eq!(
            Op::decode(KIND_DELETE, &delete_record(CollectionId(3), 5)),
            Some(Op::Delete {
                cid: CollectionId(3),
                id: 5
            })
        );
        assert_eq!(Op::decode(KIND_PUT, &put[..17]), None);
        assert_eq!(Op::decode(KIND_DELETE, &put), None);
        assert_eq!(Op::decode(9, &put), None);

        // With a payload: the payload, then the vector.
        let head = PutHead::new(CollectionId(7), 42, 9, b"pay");
        assert_eq!(head.kind, KIND_PUT_PAYLOAD);
        let mut put = head.bytes().to_vec();
        put.extend_from_slice(b"pay");
        put.extend_from_slice(bytemuck::cast_slice(&v));
        let Some(Op::Put {
            vector, payload, ..
        }) = Op::decode(KIND_PUT_PAYLOAD, &put)
        else {
            panic!("not a put")
        };
        assert_eq!((vector.len(), payload), (8, &b"pay"[..]));
        // Cut before the vector, or inside a float: refused. (A shorter vector is
        // refused by replay, which knows the dimension.)
        for cut in (0..23).chain([put.len() - 1, put.len() - 5]) {
            assert_eq!(Op::decode(KIND_PUT_PAYLOAD, &put[..cut]), None, "cut {cut}");
        }
        let mut rec = payload_head(CollectionId(2), 8).to_vec();
        rec.extend_from_slice(b"xyz");
        assert_eq!(
            Op::decode(KIND_PAYLOAD, &rec),
            Some(Op::Payload {
                cid: CollectionId(2),
                id: 8,
                payload: b"xyz"
            })
        );
        assert_eq!(Op::decode(KIND_PAYLOAD, &rec[..11]), None);
    }
}
