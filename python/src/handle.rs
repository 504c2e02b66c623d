//! [`Revocable`]: a core handle that `Database.close()` can take away from every Python
//! object holding it, so that closing also frees the memory behind it.
//!
//! The core's `Database::close` releases the directory lock even while `Collection`
//! handles live (their calls then fail with `Closed`), so a reopen after `close()` works
//! either way. Revoking adds two things for Python: the core handles (and the mapped
//! vector files and graphs behind them) are dropped at `close()` rather than whenever
//! Python's garbage collector gets to the last `Collection` object, and close waits for
//! the calls in flight. Every later call fails with `ClosedError`.
//!
//! Locking rule, which keeps this free of deadlocks with the GIL: the lock is held only
//! by code that never attaches to the interpreter while holding it. Calls that do work
//! take it inside `Python::detach`; `revoke` is called detached too.

use std::sync::{PoisonError, RwLock};

use fletchdb::Error;
use pyo3::Python;

/// A handle that can be taken away: `Some` until [`revoke`](Self::revoke).
#[derive(Debug)]
pub(crate) struct Revocable<T>(RwLock<Option<T>>);

impl<T> Revocable<T> {
    /// Wraps a live handle.
    pub(crate) fn new(handle: T) -> Self {
        Revocable(RwLock::new(Some(handle)))
    }

    /// Runs `f` on the handle, or fails with [`Error::Closed`] once it was revoked.
    /// `revoke` waits until `f` has returned.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&T) -> Result<R, Error>) -> Result<R, Error> {
        let guard = self.0.read().unwrap_or_else(PoisonError::into_inner);
        match guard.as_ref() {
            Some(handle) => f(handle),
            None => Err(Error::Closed),
        }
    }

    /// True once [`revoke`](Self::revoke) has run.
    pub(crate) fn is_revoked(&self) -> bool {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .is_none()
    }

    /// Takes the handle out, waiting for calls in flight; `None` if already revoked.
    pub(crate) fn revoke(&self) -> Option<T> {
        self.0
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .take()
    }
}

/// Drops `value` with the GIL released when the interpreter is still usable.
///
/// Dropping the last core handle closes the database (a checkpoint, file syncs), which can
/// take a while; other Python threads run meanwhile. During interpreter shutdown the value
/// is dropped where it is.
pub(crate) fn drop_detached<T: Send>(value: T) {
    let mut value = Some(value);
    let _ = Python::try_attach(|py| {
        let value = value.take();
        py.detach(move || drop(value));
    });
    drop(value);
}
