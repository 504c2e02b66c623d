//! The database's error type: what went wrong, in terms a caller can act on.

use std::path::PathBuf;

use fletchdb_index::IndexError;
use fletchdb_storage::StorageError;

/// Everything that can go wrong in FletchDB.
///
/// Bad input is refused before anything is written, with the variant saying what was
/// wrong; nothing is lost when a call fails that way. The variants of the index and
/// storage crates that a caller can act on appear here directly; the rest keep the
/// original error as their source.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A vector's length differs from the collection's dimension.
    #[error("dimension mismatch: expected {expected}, got {got}")]
    DimensionMismatch {
        /// The collection's dimension.
        expected: usize,
        /// The length given.
        got: usize,
    },
    /// A vector cannot be stored or searched: NaN or infinite values, or a zero vector
    /// under cosine distance.
    #[error("invalid vector: {reason}")]
    InvalidVector {
        /// What is wrong with it.
        reason: String,
    },
    /// `insert` of an id the collection already holds (use `upsert` to replace), or an
    /// id given twice in one batch.
    #[error("id {id} already exists")]
    DuplicateId {
        /// The id.
        id: u64,
    },
    /// An operation on existing records (`update`) named an id the collection does not
    /// hold; nothing of the call was changed.
    #[error("id {id} not found")]
    IdNotFound {
        /// The id.
        id: u64,
    },
    /// No collection has this name (or it was dropped after this handle was made).
    #[error("no collection named {name:?}")]
    CollectionNotFound {
        /// The name.
        name: String,
    },
    /// A collection of this name exists already.
    #[error("collection {name:?} already exists")]
    CollectionExists {
        /// The name.
        name: String,
    },
    /// An argument is out of range: an empty batch, a bad configuration value, ...
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
    /// Another handle, in this process or another, has the database open.
    #[error("{} is locked: the database is open elsewhere", path.display())]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// A file holds bytes FletchDB cannot have written. The database refuses to open
    /// rather than return wrong data; restore it from a backup.
    #[error("corruption in {} at byte {offset}: {detail}", file.display())]
    Corruption {
        /// The damaged file.
        file: PathBuf,
        /// Byte offset of the damage (0 if unknown).
        offset: u64,
        /// What was wrong.
        detail: String,
    },
    /// The operating system refused an operation.
    #[error("i/o error on {}: {source}", path.display())]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// What the operating system said.
        source: std::io::Error,
    },
    /// A write or sync of the log failed earlier, so nothing more can be acknowledged;
    /// reopen the database.
    #[error(
        "the write-ahead log is poisoned by an earlier failure ({cause}); reopen the database"
    )]
    WalPoisoned {
        /// The failure.
        cause: String,
    },
    /// A file was written by a newer FletchDB.
    #[error("{} has format version {found}; this build reads version {supported}", file.display())]
    UnsupportedVersion {
        /// The file.
        file: PathBuf,
        /// The version found.
        found: u32,
        /// The version this build reads.
        supported: u32,
    },
    /// A backup's destination is a file, or a directory that is not empty.
    #[error("cannot back up into {}: it exists and is not an empty directory", path.display())]
    DestinationNotEmpty {
        /// The destination.
        path: PathBuf,
    },
    /// The database has been closed.
    #[error("the database is closed")]
    Closed,
    /// Another storage failure.
    #[error(transparent)]
    Storage(StorageError),
    /// Another index failure.
    #[error(transparent)]
    Index(IndexError),
}

/// Shorthand for results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<StorageError> for Error {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::Io { path, source } => Error::Io { path, source },
            StorageError::Corruption {
                file,
                offset,
                detail,
            } => Error::Corruption {
                file,
                offset,
                detail,
            },
            StorageError::UnsupportedVersion {
                file,
                found,
                supported,
            } => Error::UnsupportedVersion {
                file,
                found,
                supported,
            },
            StorageError::Locked { path } => Error::Locked { path },
            StorageError::WalPoisoned { cause } => Error::WalPoisoned { cause },
            StorageError::DimensionMismatch { expected, got } => {
                Error::DimensionMismatch { expected, got }
            }
            StorageError::CollectionExists { name } => Error::CollectionExists { name },
            StorageError::CollectionNotFound { name } => Error::CollectionNotFound { name },
            StorageError::Closed => Error::Closed,
            other => Error::Storage(other),
        }
    }
}

impl From<IndexError> for Error {
    fn from(e: IndexError) -> Self {
        match e {
            IndexError::DimensionMismatch { expected, got } => {
                Error::DimensionMismatch { expected, got }
            }
            IndexError::InvalidVector { reason } => Error::InvalidVector {
                reason: reason.to_string(),
            },
            IndexError::InvalidConfig(reason) => Error::InvalidArgument(reason.to_string()),
            other => Error::Index(other),
        }
    }
}

impl Error {
    /// A corruption error found by the database layer itself.
    pub(crate) fn corruption(
        file: impl Into<PathBuf>,
        offset: u64,
        detail: impl Into<String>,
    ) -> Self {
        Error::Corruption {
            file: file.into(),
            offset,
            detail: detail.into(),
        }
    }
}
