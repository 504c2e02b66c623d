//! [`Health`]: what a database's background work has done and what went wrong with
//! it, so failures nobody waited on can still be seen (they are logged too, through
//! the `log` facade).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

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
/// assert!(health.open.total() <= health.opened_in);
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
    /// How long [`Database::open`](crate::Database::open) took, from its call to its
    /// return.
    pub opened_in: Duration,
    /// How long each step of that open took.
    pub open: OpenSteps,
}

/// The steps of a database's open and how long each took (in [`Health::open`]); what
/// is left of [`Health::opened_in`] is the rest of the open (starting the log's
/// threads and the background thread).
///
/// ```
/// use fletchdb::OpenSteps;
/// use std::time::Duration;
/// let steps = OpenSteps {
///     catalog: Duration::from_millis(2),
///     stores: Duration::from_millis(40),
///     replay: Duration::from_millis(1),
///     linking: Duration::from_millis(5),
/// };
/// assert_eq!(steps.total(), Duration::from_millis(48));
/// assert_eq!(steps.named()[1], ("stores", Duration::from_millis(40)));
/// assert_eq!(
///     steps.to_string(),
///     "catalog 2.0 ms, stores 40.0 ms, replay 1.0 ms, linking 5.0 ms"
/// );
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OpenSteps {
    /// Reading the catalog (`catalog.redb`).
    pub catalog: Duration,
    /// Opening the vector stores and loading each collection's graph and id map.
    pub stores: Duration,
    /// Reading the log from the last checkpoint and replaying it.
    pub replay: Duration,
    /// Bringing each graph up to date with the replay (with background linking, only
    /// noting what the background thread will link) and building the collections.
    pub linking: Duration,
}

impl OpenSteps {
    /// The steps in order, each with its name (the field's): what reports of an open
    /// (its log line, `fletchdb info`, Python's `health()`) list.
    pub fn named(&self) -> [(&'static str, Duration); 4] {
        [
            ("catalog", self.catalog),
            ("stores", self.stores),
            ("replay", self.replay),
            ("linking", self.linking),
        ]
    }

    /// The four steps together.
    pub fn total(&self) -> Duration {
        self.named().iter().map(|&(_, d)| d).sum()
    }
}

impl std::fmt::Display for OpenSteps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, (name, d)) in self.named().into_iter().enumerate() {
            let sep = if i == 0 { "" } else { ", " };
            write!(f, "{sep}{name} {:.1} ms", d.as_secs_f64() * 1e3)?;
        }
        Ok(())
    }
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
    pub(crate) fn snapshot(
        &self,
        checkpoint_lsn: u64,
        replayed_at_open: u64,
        opened_in: Duration,
        open: OpenSteps,
    ) -> Health {
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
            opened_in,
            open,
        }
    }
}
