//! Turns redb's errors into [`StorageError`]s that name the catalog file.

use std::io;
use std::path::Path;

use crate::StorageError;

/// Maps any redb error met while using the catalog at `path`.
///
/// - I/O failures become [`StorageError::Io`]. A file redb does not recognise as a
///   database (which redb reports as I/O of kind `InvalidData`), a file shorter than its
///   header says (`UnexpectedEof`) and any corruption redb detects become
///   [`StorageError::Corruption`] at offset 0, since redb does not say where.
/// - Tables of unexpected types mean the file was not written by this catalog:
///   [`StorageError::Corruption`] too.
/// - A value too large for redb is the caller's doing: [`StorageError::InvalidArgument`].
/// - Everything else (the file is locked by another handle, a poisoned transaction, ...)
///   becomes [`StorageError::Catalog`] with redb's message.
pub(super) fn from_redb(path: &Path, err: impl Into<redb::Error>) -> StorageError {
    let err: redb::Error = err.into();
    match err {
        redb::Error::Io(e) if e.kind() == io::ErrorKind::InvalidData => {
            StorageError::corruption(path, 0, format!("not a catalog database: {e}"))
        }
        // Reads at fixed offsets end early only if the file is shorter than redb wrote it.
        redb::Error::Io(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
            StorageError::corruption(path, 0, format!("catalog file is truncated: {e}"))
        }
        redb::Error::Io(e) => StorageError::io(path, e),
        redb::Error::PreviousIo => StorageError::io(
            path,
            io::Error::other("an earlier I/O error left the catalog unusable; reopen it"),
        ),
        redb::Error::Corrupted(detail) => StorageError::corruption(path, 0, detail),
        e @ (redb::Error::TableTypeMismatch { .. }
        | redb::Error::TypeDefinitionChanged { .. }
        | redb::Error::TableIsMultimap(_)
        | redb::Error::TableIsNotMultimap(_)) => {
            StorageError::corruption(path, 0, format!("unexpected table layout: {e}"))
        }
        redb::Error::ValueTooLarge(len) => {
            StorageError::InvalidArgument(format!("catalog value of {len} bytes is too large"))
        }
        other => StorageError::Catalog(other.to_string()),
    }
}

/// Gives a decoder's [`StorageError::Corruption`] the catalog's path and says which value
/// failed; the decoder's offset (within the value) moves into the detail, because the
/// value's position in the file is not known.
pub(super) fn in_value(
    path: &Path,
    what: impl std::fmt::Display,
    err: StorageError,
) -> StorageError {
    match err {
        StorageError::Corruption { offset, detail, .. } => StorageError::corruption(
            path,
            0,
            format!("{what}: {detail} (at byte {offset} of the value)"),
        ),
        other => other,
    }
}
