//! The storage engine's error type.

use std::path::PathBuf;

/// Everything that can go wrong in the storage engine, with what a caller needs to act
/// on it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The operating system refused an operation on `path`.
    #[error("i/o error on {}: {source}", path.display())]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// A file holds bytes that cannot be what FletchDB wrote: the database must not be
    /// used as it is.
    #[error("corruption in {} at byte {offset}: {detail}", file.display())]
    Corruption {
        /// The damaged file.
        file: PathBuf,
        /// Byte offset of the damage.
        offset: u64,
        /// What was wrong.
        detail: String,
    },
    /// A file was written by a format version this build does not know.
    #[error("{} has format version {found}; this build reads version {supported}", file.display())]
    UnsupportedVersion {
        /// The file.
        file: PathBuf,
        /// The version found in it.
        found: u32,
        /// The version this build reads and writes.
        supported: u32,
    },
    /// Another handle, in this process or another, has the database open.
    #[error("{} is locked: the database is open elsewhere", path.display())]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// An earlier write or fsync of the log failed, so nothing more can be acknowledged
    /// as durable; reopen the database to recover from the log on disk.
    #[error(
        "the write-ahead log is poisoned by an earlier failure ({cause}); reopen the database"
    )]
    WalPoisoned {
        /// The failure that poisoned the log.
        cause: String,
    },
    /// A log record is larger than a segment can hold.
    #[error("record of {size} bytes exceeds the limit of {max}")]
    RecordTooLarge {
        /// The record's encoded size.
        size: usize,
        /// The largest record the log accepts.
        max: usize,
    },
    /// The log or store has been closed.
    #[error("the storage engine is closed")]
    Closed,
    /// A vector's length differs from the store's dimension.
    #[error("dimension mismatch: expected {expected}, got {got}")]
    DimensionMismatch {
        /// The store's dimension.
        expected: usize,
        /// The length given.
        got: usize,
    },
    /// A collection of this name already exists.
    #[error("collection {name:?} already exists")]
    CollectionExists {
        /// The name.
        name: String,
    },
    /// No collection has this name.
    #[error("no collection named {name:?}")]
    CollectionNotFound {
        /// The name.
        name: String,
    },
    /// A configuration value or argument is out of range.
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// The catalog database (redb) failed in a way that is neither I/O nor corruption.
    #[error("catalog error: {0}")]
    Catalog(String),
}

impl StorageError {
    /// Wraps an I/O error with the path it happened on.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        StorageError::Io {
            path: path.into(),
            source,
        }
    }

    /// A corruption error.
    pub fn corruption(file: impl Into<PathBuf>, offset: u64, detail: impl Into<String>) -> Self {
        StorageError::Corruption {
            file: file.into(),
            offset,
            detail: detail.into(),
        }
    }
}

/// Shorthand for results of this crate.
pub type Result<T, E = StorageError> = std::result::Result<T, E>;
