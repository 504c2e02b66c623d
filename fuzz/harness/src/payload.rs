//! `payload_bytes`: bytes to [`Payload::from_bytes`], the decoder of a record's payload
//! as log records and the catalog's `meta/<cid>` tables store it.
//!
//! Input layout, by the top bit of byte 0:
//!
//! ```text
//! bit 7 clear:  the whole input is the stored bytes
//! bit 7 set:    byte 0 & 0x7f is the flags byte (bits above 1 unknown: refused),
//!               bytes 1..3 a u16 m (modulo the rest's length + 1); the harness writes
//!               flags, then (flag bit 0) m as the metadata length, then the rest:
//!               its first m bytes are the metadata's JSON text, the others the document
//! ```
//!
//! The second form gets the fuzzer past the length field, to the JSON and UTF-8 checks.
//!
//! Checked ([`check_stored`], which `catalog_values` also runs): `from_bytes` never
//! panics and refuses with [`Error::InvalidArgument`]; what it accepts is empty exactly
//! when the bytes are, holds only metadata a write accepts (by the model's own rules,
//! `meta.rs`), and re-encodes with [`Payload::to_bytes`] to bytes that decode to an
//! equal payload, and encode again to the same bytes (so every float reads back bit
//! for bit and keys keep their order).

use fletchdb::{Error, Payload};

use crate::meta::valid_metadata;

/// The body of the `payload_bytes` fuzz target; see the module documentation.
pub fn payload_bytes(data: &[u8]) {
    match data {
        [mode, rest @ ..] if mode & 0x80 != 0 => check_stored(&framed(*mode & 0x7f, rest)),
        _ => check_stored(data),
    }
}

/// The stored bytes the second input form describes.
fn framed(flags: u8, rest: &[u8]) -> Vec<u8> {
    let (m, body) = match rest {
        [a, b, body @ ..] => (usize::from(u16::from_le_bytes([*a, *b])), body),
        _ => (0, &[][..]),
    };
    let m = m % (body.len() + 1);
    let mut out = vec![flags];
    if flags & 1 != 0 {
        out.extend_from_slice(&(m as u32).to_le_bytes());
    }
    out.extend_from_slice(body);
    out
}

/// `from_bytes` of `data` keeps its contract (see the module documentation).
pub(crate) fn check_stored(data: &[u8]) {
    let payload = match Payload::from_bytes(data) {
        Ok(p) => p,
        Err(e) => {
            assert!(
                matches!(e, Error::InvalidArgument(_)),
                "from_bytes failed with something other than InvalidArgument: {e:?}"
            );
            return;
        }
    };
    assert_eq!(
        payload.is_empty(),
        data.is_empty(),
        "{payload:?} from {data:?}"
    );
    if let Some(meta) = &payload.metadata {
        assert!(
            valid_metadata(meta),
            "accepted metadata a write refuses: {meta:?}"
        );
    }
    let bytes = payload.to_bytes();
    let back = Payload::from_bytes(&bytes)
        .unwrap_or_else(|e| panic!("{payload:?} re-encodes to bytes it refuses: {e}"));
    assert_eq!(back, payload, "re-encoded, {data:?} reads otherwise");
    assert_eq!(back.to_bytes(), bytes, "{payload:?} encodes two ways");
}
