//! [`DirLock`]: one process, and one handle in it, opens a database at a time.
//!
//! The lock is an exclusive `flock` on `<db>/LOCK`. `flock` locks belong to an open file
//! description, so a second `open` of the same directory fails whether it comes from
//! another process or from this one; the kernel drops the lock when the holder exits,
//! however it exits, so a crash never leaves a stale lock behind.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use crate::error::{Result, StorageError};

/// The name of the lock file inside a database directory.
pub const LOCK_FILE: &str = "LOCK";

/// An exclusive lock on a database directory, held until dropped.
///
/// ```
/// use fletchdb_storage::{DirLock, StorageError};
/// let dir = tempfile::tempdir().unwrap();
/// let lock = DirLock::acquire(dir.path()).unwrap();
/// assert!(matches!(DirLock::acquire(dir.path()), Err(StorageError::Locked { .. })));
/// drop(lock);
/// DirLock::acquire(dir.path()).unwrap();
/// ```
#[derive(Debug)]
pub struct DirLock {
    file: File,
    path: PathBuf,
}

impl DirLock {
    /// Takes the lock on `dir` (which must exist), creating the lock file if needed.
    ///
    /// # Errors
    /// [`StorageError::Locked`] if another handle holds it; [`StorageError::Io`] if the
    /// lock file cannot be opened.
    pub fn acquire(dir: &Path) -> Result<DirLock> {
        let path = dir.join(LOCK_FILE);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| StorageError::io(&path, e))?;
        match file.try_lock() {
            Ok(()) => Ok(DirLock { file, path }),
            Err(TryLockError::WouldBlock) => Err(StorageError::Locked { path }),
            Err(TryLockError::Error(e)) => Err(StorageError::io(&path, e)),
        }
    }

    /// The lock file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for DirLock {
    /// Unlocks explicitly before the file closes. Closing alone is not enough: a child
    /// process forked at that moment (by any thread of this process) shares the open file
    /// description until it execs, and with it the lock, so a reopen right after the
    /// drop found the directory `Locked` while the test suite's crash tests were spawning
    /// children. `LOCK_UN` releases the lock on the description itself, whoever else
    /// still holds a copy of the descriptor.
    fn drop(&mut self) {
        let _ = self.file.unlock();
    }
}
