//! Observations of one index, and waiting for them to end: when a slot a heal freed may
//! be written again.
//!
//! Every search, insert and heal is an *observation*: it may reach a node through a list
//! it read before a heal unlinked the node, and read the node's vector. A freed slot is
//! written again only after [`Observers::wait_for_earlier`] returned, which waits for
//! every observation that began before the call.
//!
//! Two counters and a phase, as in sleepable RCU: an observation counts itself in the
//! current phase's counter, then checks the phase did not move (if it did, it counts
//! itself in the new one instead); the waiter moves the phase and waits for the old
//! counter to drain. Everything is `SeqCst`, so either an observation's count comes
//! before the waiter's look at the counter (and is waited for), or its second look at
//! the phase comes after the move (and it counts in the new phase, which nobody waits
//! on). Per index, unlike crossbeam-epoch's process-wide epoch, so a search in another
//! index (or database) never holds up this one's slots, and the wait is synchronous.
//! The cost: two atomic additions per search, against the ~600 distances of one.

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

use parking_lot::Mutex;

thread_local! {
    /// Observations (of any index) this thread is inside.
    static DEPTH: Cell<usize> = const { Cell::new(0) };
}

/// The observation counters of one index.
#[derive(Debug, Default)]
pub(crate) struct Observers {
    phase: AtomicUsize,
    counts: [AtomicUsize; 2],
    /// One waiter at a time, so the phase moves once per wait.
    waiting: Mutex<()>,
}

/// An observation in progress; it ends when dropped.
pub(crate) struct Observation<'a> {
    count: &'a AtomicUsize,
}

impl Observers {
    /// Begins an observation.
    pub(crate) fn enter(&self) -> Observation<'_> {
        loop {
            let phase = self.phase.load(SeqCst);
            let count = &self.counts[phase & 1];
            count.fetch_add(1, SeqCst);
            if self.phase.load(SeqCst) == phase {
                DEPTH.with(|d| d.set(d.get() + 1));
                return Observation { count };
            }
            count.fetch_sub(1, SeqCst);
        }
    }

    /// Whether any observation is in progress: a look that may be stale by the time it
    /// returns, for work that only gives way to searches (the encoder after a load).
    pub(crate) fn busy(&self) -> bool {
        self.counts.iter().any(|c| c.load(SeqCst) != 0)
    }

    /// Waits until every observation that began before this call has ended. Returns
    /// false without waiting when the calling thread is itself inside an observation
    /// (waiting would wait for itself).
    pub(crate) fn wait_for_earlier(&self) -> bool {
        if DEPTH.with(Cell::get) > 0 {
            return false;
        }
        let _one = self.waiting.lock();
        let old = self.phase.fetch_add(1, SeqCst);
        let count = &self.counts[old & 1];
        let mut spins = 0u32;
        while count.load(SeqCst) != 0 {
            if spins < 64 {
                std::hint::spin_loop();
                spins += 1;
            } else {
                std::thread::yield_now();
            }
        }
        true
    }
}

impl Drop for Observation<'_> {
    fn drop(&mut self) {
        self.count.fetch_sub(1, SeqCst);
        DEPTH.with(|d| d.set(d.get() - 1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;

    #[test]
    fn a_wait_outlasts_earlier_observations_only() {
        let observers = Observers::default();
        let released = AtomicBool::new(false);
        std::thread::scope(|s| {
            let early = observers.enter();
            let waiter = s.spawn(|| {
                assert!(observers.wait_for_earlier());
                assert!(
                    released.load(SeqCst),
                    "returned before the observation ended"
                );
            });
            // A later observation does not hold the waiter up.
            std::thread::sleep(std::time::Duration::from_millis(20));
            let late = std::thread::scope(|s| s.spawn(|| drop(observers.enter())).join());
            assert!(late.is_ok());
            released.store(true, SeqCst);
            drop(early);
            waiter.join().unwrap();
        });
        let _inside = observers.enter();
        assert!(!observers.wait_for_earlier(), "waiting on itself");
    }
}
