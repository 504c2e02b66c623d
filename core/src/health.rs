//! [`Health`]: what a database's background work has done and what went wrong with
//! it, so failures nobody waited on can still be seen (they are logged too, through
//! the `log` facade).

use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

/// A snapshot of a database's background work, from
/// [`Database::health`](crate::Database::health).
///
/// ```
/// use fletchdb::{Database, Options};
/// let dir = tempfile::tempdir()?;
/// let db = Database::open(dir.path(), Options::default())?;
/// let health = db.health();
/// assert_eq!(health.background_errors, 0);
/// assert!(health.last_background_error.is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Health {
    /// The LSN of the last checkpoint (0 before the first).
    pub checkpoint_lsn: u64,
    /// Log records the open replayed.
    pub replayed_at_open: u64,
    /// Checkpoints the background thread took since the open.
    pub background_checkpoints: u64,
    /// Background checkpoints that failed since the open. Each failure leaves the log
    /// in place, so nothing is lost; the background thread tries again a second later,
    /// written to or not.
    pub background_errors: u64,
    /// The error of the last failed background checkpoint, if any failed.
    pub last_background_error: Option<String>,
}

/// The counters behind [`Health`].
#[derive(Debug, Default)]
pub(crate) struct HealthLog {
    checkpoints: AtomicU64,
    errors: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl HealthLog {
    /// Counts a background checkpoint that succeeded.
    pub(crate) fn checkpointed(&self) {
        self.checkpoints.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a background failure and keeps its message, both under the message's
    /// lock, so a snapshot never sees the count without the message (the count first,
    /// then the message, let `a_failed_background_checkpoint_is_counted_kept_and_retried`
    /// read one failure and no message, once, on a clean-clone CI run).
    pub(crate) fn failed(&self, error: &dyn std::fmt::Display) {
        let message = error.to_string();
        let mut last = self.last_error.lock();
        *last = Some(message);
        self.errors.fetch_add(1, Ordering::Relaxed);
    }

    /// A snapshot, with the fields the log does not hold filled in.
    pub(crate) fn snapshot(&self, checkpoint_lsn: u64, replayed_at_open: u64) -> Health {
        let (errors, last) = {
            let last = self.last_error.lock();
            (self.errors.load(Ordering::Relaxed), last.clone())
        };
        Health {
            checkpoint_lsn,
            replayed_at_open,
            background_checkpoints: self.checkpoints.load(Ordering::Relaxed),
            background_errors: errors,
            last_background_error: last,
        }
    }
}
