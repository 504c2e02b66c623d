//! How the log is configured: durability mode, commit window, segment sizes.

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
    /// The largest segment file, in bytes; the largest record is a little smaller.
    /// Segments are sized by what is written: a log's first segment has
    /// [`first_segment_size`](Self::first_segment_size) bytes, and each segment that
    /// fills is followed by one twice its size, up to this. Every segment is
    /// preallocated (written full of zeros and synced) before records go into it.
    pub segment_size: u64,
    /// At most this many spare segment files are kept ready: segments below a
    /// checkpoint, renamed for reuse instead of deleted (reusing one saves writing a
    /// fresh file of zeros). Spares are kept only while the log fills segments between
    /// checkpoints, and a clean close deletes them all.
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

impl WalOptions {
    /// The size of a log's first segment: 1/64 of
    /// [`segment_size`](Self::segment_size), at least [`MIN_SEGMENT_SIZE`] and at most
    /// [`FIRST_SEGMENT_MAX`] (so 1 MiB for the default 64 MiB), and never more than
    /// `segment_size`.
    ///
    /// ```
    /// use fletchdb_storage::wal::WalOptions;
    /// let size = |segment_size| WalOptions { segment_size, ..WalOptions::default() };
    /// assert_eq!(WalOptions::default().first_segment_size(), 1 << 20);
    /// assert_eq!(size(64 << 10).first_segment_size(), 4096);
    /// assert_eq!(size(4096).first_segment_size(), 4096);
    /// ```
    pub fn first_segment_size(&self) -> u64 {
        (self.segment_size / 64)
            .clamp(MIN_SEGMENT_SIZE, FIRST_SEGMENT_MAX)
            .min(self.segment_size)
    }
}

/// The smallest segment size accepted (small sizes serve tests of rollover).
pub const MIN_SEGMENT_SIZE: u64 = 4096;
/// The largest first segment: a log that writes little never makes a larger file.
pub const FIRST_SEGMENT_MAX: u64 = 1 << 20;
/// The largest segment size accepted.
pub const MAX_SEGMENT_SIZE: u64 = 1 << 32;
