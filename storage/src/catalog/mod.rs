//! The catalog (`<db>/catalog.redb`): collections, external id -> slot maps, per-id metadata, per-collection checkpoint state and the checkpoint LSN, in redb.

mod error;
mod handle;
mod records;
mod tables;
#[cfg(test)]
mod tests;
mod txn;

pub use handle::{Catalog, FORMAT_VERSION};
pub use records::{CollectionId, CollectionRecord, CollectionState, MAX_NAME_LEN};
pub use txn::CatalogTxn;
