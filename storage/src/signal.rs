//! [`StopSignal`]: how an owner tells a background loop to end, and how the loop sleeps
//! between rounds without missing the word.

use std::time::Duration;

use parking_lot::{Condvar, Mutex};

/// A one-way "stop" flag that a background loop can wait on with a timeout.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use fletchdb_storage::StopSignal;
/// let stop = Arc::new(StopSignal::new());
/// let seen = stop.clone();
/// let worker = std::thread::spawn(move || {
///     let mut rounds = 0;
///     while !seen.wait(Duration::from_millis(1)) {
///         rounds += 1; // one round of background work
///     }
///     rounds
/// });
/// stop.stop();
/// worker.join().unwrap();
/// assert!(stop.is_stopped());
/// ```
#[derive(Debug, Default)]
pub struct StopSignal {
    stopped: Mutex<bool>,
    wake: Condvar,
}

impl StopSignal {
    /// A signal not yet given.
    pub fn new() -> StopSignal {
        StopSignal::default()
    }

    /// Gives the signal and wakes every waiter.
    pub fn stop(&self) {
        *self.stopped.lock() = true;
        self.wake.notify_all();
    }

    /// True once [`stop`](Self::stop) was called.
    pub fn is_stopped(&self) -> bool {
        *self.stopped.lock()
    }

    /// Sleeps up to `timeout`, returning early when the signal is given; true if it
    /// has been.
    pub fn wait(&self, timeout: Duration) -> bool {
        let mut stopped = self.stopped.lock();
        if !*stopped {
            self.wake.wait_for(&mut stopped, timeout);
        }
        *stopped
    }
}
