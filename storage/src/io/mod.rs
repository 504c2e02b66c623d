//! The file layer: two small traits, the real file system, an in-memory file system
//! that simulates crashes and injects failures for tests, and crash-safe whole-file
//! replacement on top of them.
//!
//! Everything the log and the graph checkpoints do to the disk goes through
//! [`StorageDir`] and [`StorageFile`], so a test can run them over [`MemDir`] and crash
//! it at any sync, or make the N-th write or sync fail (redb's `StorageBackend` plays
//! the same role). Only the mapped vector segments use `std::fs` directly.

mod copy;
mod mem;
mod os;
mod private;
mod replace;

pub use copy::copy_file;
pub use mem::{Fault, MemDir};
pub use os::OsDir;
pub use private::PrivateBytes;
pub use replace::{read_file, replace_file, sync_dir, temp_name};

use std::fmt::Debug;
use std::io;
use std::path::Path;

/// One open file, addressed by offset. Implementations are safe to share across threads.
#[allow(clippy::len_without_is_empty)] // a file's length is a fallible query, not a size
pub trait StorageFile: Send + Sync + Debug {
    /// The file's length in bytes.
    fn len(&self) -> io::Result<u64>;
    /// Fills `buf` from `offset`; an error if the file ends first.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
    /// Writes all of `buf` at `offset`, extending the file if needed.
    fn write_all_at(&self, buf: &[u8], offset: u64) -> io::Result<()>;
    /// Truncates or extends (with zeros) the file to `len` bytes.
    fn set_len(&self, len: u64) -> io::Result<()>;
    /// Makes the file's data durable (`fdatasync`).
    fn sync_data(&self) -> io::Result<()>;
    /// The whole file as [`PrivateBytes`]: memory the caller may change without
    /// changing the file. A copy here; the real file system maps it instead.
    fn map_private(&self) -> io::Result<PrivateBytes> {
        let len = usize::try_from(self.len()?)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "file too large"))?;
        PrivateBytes::copy(len, |buf| self.read_exact_at(buf, 0))
    }
}

/// A directory holding files by name: the only way the log and the graph checkpoints
/// touch the file system.
pub trait StorageDir: Send + Sync + Debug {
    /// The directory's path, for error messages.
    fn path(&self) -> &Path;
    /// Opens an existing file for reading and writing.
    fn open(&self, name: &str) -> io::Result<Box<dyn StorageFile>>;
    /// Creates a new, empty file; an error if it exists.
    fn create(&self, name: &str) -> io::Result<Box<dyn StorageFile>>;
    /// The names of the files in the directory, in no particular order.
    fn list(&self) -> io::Result<Vec<String>>;
    /// Removes a file.
    fn remove(&self, name: &str) -> io::Result<()>;
    /// Renames a file, replacing `to` if it exists.
    fn rename(&self, from: &str, to: &str) -> io::Result<()>;
    /// Makes the directory's entries (creations, renames, removals) durable.
    fn sync(&self) -> io::Result<()>;
}
