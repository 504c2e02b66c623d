//! The catalog's redb tables, and lookups shared by read and write transactions.
//!
//! | table | key | value |
//! | --- | --- | --- |
//! | `globals` | `&str` | `u64`: `format_version`, `checkpoint_lsn`, `checkpoint_unix_ms` (optional), `next_collection_id` |
//! | `collections` | collection id `u32` | [`CollectionRecord`] encoding |
//! | `collection_names` | name `&str` | collection id `u32` |
//! | `collection_state` | collection id `u32` | [`CollectionState`] encoding |
//! | `ids/<id>` | external id `u64` | slot `u32` |
//! | `meta/<id>` | external id `u64` | metadata bytes, stored as given |
//!
//! `collections` is the source of truth; `collection_names` indexes it by name and is
//! written in the same transactions.

use std::path::Path;

use redb::{ReadableTable, TableDefinition};

use super::error::{from_redb, in_value};
use super::records::{CollectionId, CollectionRecord};
use crate::{Result, StorageError};

/// Global scalars of the catalog.
pub(super) const GLOBALS: TableDefinition<&str, u64> = TableDefinition::new("globals");
/// Collection id -> encoded [`CollectionRecord`].
pub(super) const COLLECTIONS: TableDefinition<u32, &[u8]> = TableDefinition::new("collections");
/// Collection name -> collection id.
pub(super) const NAMES: TableDefinition<&str, u32> = TableDefinition::new("collection_names");
/// Collection id -> encoded [`CollectionState`](super::CollectionState).
pub(super) const STATES: TableDefinition<u32, &[u8]> = TableDefinition::new("collection_state");

/// Key in [`GLOBALS`] of the catalog format version.
pub(super) const KEY_FORMAT_VERSION: &str = "format_version";
/// Key in [`GLOBALS`] of the checkpoint LSN.
pub(super) const KEY_CHECKPOINT_LSN: &str = "checkpoint_lsn";
/// Key in [`GLOBALS`] of when the last checkpoint committed, in milliseconds since the
/// Unix epoch (absent in catalogs from before it was recorded).
pub(super) const KEY_CHECKPOINT_TIME: &str = "checkpoint_unix_ms";
/// Key in [`GLOBALS`] of the id the next created collection receives.
pub(super) const KEY_NEXT_COLLECTION_ID: &str = "next_collection_id";

/// The first collection id a new catalog hands out.
pub(super) const FIRST_COLLECTION_ID: u64 = 1;

/// Name of the id -> slot table of collection `cid`.
pub(super) fn ids_table_name(cid: CollectionId) -> String {
    format!("ids/{}", cid.0)
}

/// Name of the id -> metadata table of collection `cid`.
pub(super) fn meta_table_name(cid: CollectionId) -> String {
    format!("meta/{}", cid.0)
}

/// The error for a collection id the catalog does not hold.
pub(super) fn unknown_collection(cid: CollectionId) -> StorageError {
    StorageError::InvalidArgument(format!("no collection with id {cid}"))
}

/// Reads a global scalar that every catalog holds.
pub(super) fn required_global(
    path: &Path,
    globals: &impl ReadableTable<&'static str, u64>,
    key: &str,
) -> Result<u64> {
    match globals.get(key).map_err(|e| from_redb(path, e))? {
        Some(v) => Ok(v.value()),
        None => Err(StorageError::corruption(
            path,
            0,
            format!("catalog has no {key}"),
        )),
    }
}

/// The record of collection `cid`, if the catalog holds one.
pub(super) fn record_by_id(
    path: &Path,
    collections: &impl ReadableTable<u32, &'static [u8]>,
    cid: CollectionId,
) -> Result<Option<CollectionRecord>> {
    let Some(bytes) = collections.get(cid.0).map_err(|e| from_redb(path, e))? else {
        return Ok(None);
    };
    let record = decode_record(path, cid, bytes.value())?;
    Ok(Some(record))
}

/// Decodes the record stored under `cid`, checking it names the same id.
pub(super) fn decode_record(
    path: &Path,
    cid: CollectionId,
    bytes: &[u8],
) -> Result<CollectionRecord> {
    let record = CollectionRecord::decode(bytes)
        .map_err(|e| in_value(path, format_args!("record of collection {cid}"), e))?;
    if record.id != cid {
        return Err(StorageError::corruption(
            path,
            0,
            format!("record stored under collection {cid} has id {}", record.id),
        ));
    }
    Ok(record)
}

/// The record of the collection named `name`, through the name index.
pub(super) fn record_by_name(
    path: &Path,
    names: &impl ReadableTable<&'static str, u32>,
    collections: &impl ReadableTable<u32, &'static [u8]>,
    name: &str,
) -> Result<Option<CollectionRecord>> {
    let Some(cid) = names.get(name).map_err(|e| from_redb(path, e))? else {
        return Ok(None);
    };
    let cid = CollectionId(cid.value());
    match record_by_id(path, collections, cid)? {
        Some(record) if record.name == name => Ok(Some(record)),
        Some(record) => Err(StorageError::corruption(
            path,
            0,
            format!(
                "name index maps {name:?} to collection {cid}, which is named {:?}",
                record.name
            ),
        )),
        None => Err(StorageError::corruption(
            path,
            0,
            format!("name index maps {name:?} to collection {cid}, which does not exist"),
        )),
    }
}
