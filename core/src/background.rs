//! The background thread: it takes a checkpoint whenever one is due (by log size or by
//! time, see [`Checkpoints::due`](crate::checkpoint::Checkpoints)), and after an open
//! encodes the collections' compact codes (`Hnsw::start_codes`), builds their id
//! indexes (`ids.rs`) and links the replayed vectors into their graphs a chunk at a
//! time (`unlinked.rs`).
//!
//! It holds the database only weakly, upgrading for one round at a time, and the
//! database stops and joins it before closing: so the thread never owns the last
//! handle, and the user's last drop closes everything (final checkpoint, log, catalog,
//! directory lock) on the user's own thread. (When it held strong handles, a drop
//! racing a round left the close, and the lock's release, to this thread: a reopen right
//! after the drop failed with `Locked` under load.)

use std::io;
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use fletchdb_storage::StopSignal;

use crate::shared::Shared;

/// How often the thread asks whether a checkpoint is due.
const POLL: Duration = Duration::from_millis(100);

/// The running thread.
#[derive(Debug)]
pub(crate) struct Background {
    stop: Arc<StopSignal>,
    thread: JoinHandle<()>,
}

impl Background {
    /// Starts the thread for `db`.
    pub(crate) fn spawn(db: Weak<Shared>, poll: Option<Duration>) -> io::Result<Background> {
        let stop = Arc::new(StopSignal::new());
        let signal = stop.clone();
        let poll = poll.unwrap_or(POLL).min(POLL);
        let thread = std::thread::Builder::new()
            .name("fletchdb-checkpoint".into())
            .spawn(move || {
                // The first round at once: an open may have left compact codes to
                // encode and replayed vectors to link.
                let mut wait = Duration::ZERO;
                while !signal.wait(wait) {
                    let Some(db) = db.upgrade() else { return };
                    db.start_codes();
                    db.build_ids();
                    // Straight on while replayed vectors wait for their graph.
                    let more = db.link_round();
                    let more = db.links_round() || more;
                    wait = if more { Duration::ZERO } else { poll };
                    db.checkpoint_if_due();
                }
            })?;
        Ok(Background { stop, thread })
    }

    /// Stops the thread and waits for it (a round in progress finishes first).
    pub(crate) fn stop(self) {
        self.stop.stop();
        if self.thread.thread().id() != std::thread::current().id() {
            let _ = self.thread.join();
        }
    }
}
