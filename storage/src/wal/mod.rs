//! The write-ahead log: segment files of checksummed records, group commit, recovery.

mod copy;
mod group_commit;
mod log;
mod options;
mod reader;
mod record;
mod segment;
mod writer;

pub use copy::LogPosition;
pub use group_commit::WalStats;
pub use log::{Recovery, Wal};
pub use options::{Durability, WalOptions, FIRST_SEGMENT_MAX, MAX_SEGMENT_SIZE, MIN_SEGMENT_SIZE};
pub use reader::{Record, WalReader};
pub use record::RESERVED_KINDS;
