//! `catalog_values`: bytes to each decoder of a stored catalog value.
//!
//! Checked: [`CollectionRecord::decode`] and [`CollectionState::decode`] return
//! [`StorageError::Corruption`] or a value, never panic, and a value they return
//! re-encodes to exactly the input (each encoding has one byte string per value).
//! The same bytes as a `meta/<cid>` value go to `Payload::from_bytes`, with the
//! contract of `payload_bytes` (`payload.rs`): `InvalidArgument` or a payload that
//! re-encodes to bytes that decode to it (JSON text has many spellings of one value).

use fletchdb_storage::catalog::{CollectionRecord, CollectionState};
use fletchdb_storage::StorageError;

/// The body of the `catalog_values` fuzz target; see the module documentation.
pub fn catalog_values(data: &[u8]) {
    match CollectionRecord::decode(data) {
        Ok(record) => {
            assert_eq!(record.encode(), data, "{record:?} re-encodes otherwise");
            assert!(record.dim > 0 && !record.name.is_empty());
        }
        Err(e) => check_error(&e),
    }
    match CollectionState::decode(data) {
        Ok(state) => assert_eq!(state.encode(), data, "{state:?} re-encodes otherwise"),
        Err(e) => check_error(&e),
    }
    crate::payload::check_stored(data);
}

fn check_error(e: &StorageError) {
    assert!(
        matches!(e, StorageError::Corruption { .. }),
        "a decoder failed with something other than Corruption: {e:?}"
    );
}
