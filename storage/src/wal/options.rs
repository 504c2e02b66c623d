//! How the log is configured: durability mode, commit window, segment size.

use std::time::Duration;

/// When an append counts as done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Durability {
    /// Acknowledge after `fdatasync`: an acknowledged record survives power loss.
    Sync,
    /// Acknowledge once the operating system has the bytes (they survive the process
    /// being killed, not power loss); a background thread syncs every `interval`.
    Buffered {
        /// How often the background thread syncs.
        interval: Duration,
    },
    /// Acknowledge once written to the operating system; sync only on
    /// [`Wal::flush`](super::Wal::flush), on close and before segments roll over. For
    /// tests and bulk loads.
    None,
}

/// Options for [`Wal::open`](super::Wal::open).
///
/// ```
/// use std::time::Duration;
/// use fletchdb_storage::wal::{Durability, WalOptions};
/// let opts = WalOptions {
///     durability: Durability::Sync,
///     commit_window: Duration::from_micros(200),
///     ..WalOptions::default()
/// };
/// assert_eq!(opts.segment_size, 64 << 20);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WalOptions {
    /// When appends are acknowledged.
    pub durability: Durability,
    /// The longest the writer that leads a group waits for more writers to join before
    /// it writes (Postgres' `commit_delay`, but it ends early: as soon as as many
    /// appends are queued as the previous group had, so a lone writer never waits).
    /// Zero writes at once; whoever arrives while the leader is syncing joins the next
    /// group anyway.
    pub commit_window: Duration,
    /// Bytes per segment file, preallocated. The largest record is a little smaller.
    pub segment_size: u64,
    /// How many segment files below a checkpoint are kept for reuse instead of deleted
    /// (reusing one saves writing a fresh file of zeros).
    pub recycle_segments: usize,
}

impl Default for WalOptions {
    fn default() -> Self {
        WalOptions {
            durability: Durability::Sync,
            commit_window: Duration::ZERO,
            segment_size: 64 << 20,
            recycle_segments: 2,
        }
    }
}

/// The smallest segment size accepted (small sizes serve tests of rollover).
pub const MIN_SEGMENT_SIZE: u64 = 4096;
/// The largest segment size accepted.
pub const MAX_SEGMENT_SIZE: u64 = 1 << 32;
