//! The database's write-ahead log records, and their byte layout.
//!
//! ```text
//! kind 1, put:    cid u32, id u64, slot u32, vector (dim × f32)
//! kind 2, delete: cid u32, id u64
//! ```
//!
//! Little-endian throughout. A put carries the slot it occupies, so replay writes every
//! vector back where it was and rebuilds exactly the same state. Insert and upsert log
//! the same record: the check that `insert` does not replace happens before logging.
//! Creating and dropping collections is not logged: each is one committed catalog
//! transaction, and records of a collection that no longer exists are skipped.

use fletchdb_storage::catalog::CollectionId;
use fletchdb_storage::le;

/// Record kind of a put (insert or upsert).
pub(crate) const KIND_PUT: u8 = 1;
/// Record kind of a delete.
pub(crate) const KIND_DELETE: u8 = 2;
/// Bytes of a put before its vector.
pub(crate) const PUT_HEADER: usize = 16;

/// The fixed part of a put record.
pub(crate) fn put_header(cid: CollectionId, id: u64, slot: u32) -> [u8; PUT_HEADER] {
    let mut b = [0u8; PUT_HEADER];
    b[..4].copy_from_slice(&cid.0.to_le_bytes());
    b[4..12].copy_from_slice(&id.to_le_bytes());
    b[12..16].copy_from_slice(&slot.to_le_bytes());
    b
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
    /// `id` now lives in `slot`, holding `vector` (little-endian f32 bytes).
    Put {
        cid: CollectionId,
        id: u64,
        slot: u32,
        vector: &'a [u8],
    },
    /// `id` is gone.
    Delete { cid: CollectionId, id: u64 },
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
                })
            }
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
        let mut put = put_header(CollectionId(7), 42, 9).to_vec();
        put.extend_from_slice(bytemuck::cast_slice(&v));
        let op = Op::decode(KIND_PUT, &put).unwrap();
        let Op::Put {
            cid,
            id,
            slot,
            vector,
        } = op
        else {
            panic!("not a put")
        };
        assert_eq!((cid, id, slot), (CollectionId(7), 42, 9));
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
    }
}
