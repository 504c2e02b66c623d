//! [`copy_file`]: one file copied through the file seam, whole or up to a length, and
//! synced: what a backup is made of.

use std::io;

use super::StorageDir;

/// Bytes copied at a time.
const BLOCK: usize = 1 << 20;

/// Copies the first `len` bytes of `name` in `src` (all of it with `None`) to a new file
/// of the same name in `dst`, syncs that file's data and returns the bytes copied. The
/// directory entry is not synced: sync `dst` once after the last file.
///
/// A file that grows while it is copied is copied up to the length it had when the copy
/// started (or `len`); bytes written meanwhile inside that range may or may not be in
/// the copy, so callers copy only files, or parts of files, that nothing is changing.
///
/// ```
/// use fletchdb_storage::io::{copy_file, read_file, replace_file, MemDir};
/// use std::io::Write;
/// let (src, dst) = (MemDir::new(), MemDir::new());
/// replace_file(&src, "log", |w| w.write_all(b"abcdef"))?;
/// assert_eq!(copy_file(&src, "log", &dst, Some(4))?, 4);
/// assert_eq!(read_file(&dst, "log")?, b"abcd");
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Errors
/// Whatever the file system reports; `AlreadyExists` if `dst` has the file;
/// `UnexpectedEof` if `src`'s file is shorter than `len`.
pub fn copy_file(
    src: &dyn StorageDir,
    name: &str,
    dst: &dyn StorageDir,
    len: Option<u64>,
) -> io::Result<u64> {
    let from = src.open(name)?;
    let len = match len {
        Some(len) => len,
        None => from.len()?,
    };
    let to = dst.create(name)?;
    let mut buf = vec![0u8; BLOCK.min(usize::try_from(len).unwrap_or(BLOCK))];
    let mut at = 0u64;
    while at < len {
        let n = usize::try_from(len - at).map_or(buf.len(), |left| left.min(buf.len()));
        from.read_exact_at(&mut buf[..n], at)?;
        to.write_all_at(&buf[..n], at)?;
        at += n as u64;
    }
    to.sync_data()?;
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::{read_file, replace_file, MemDir, StorageDir};

    #[test]
    fn copies_across_blocks_and_refuses_to_overwrite() {
        let (src, dst) = (MemDir::new(), MemDir::new());
        let bytes: Vec<u8> = (0..(BLOCK * 2 + 17)).map(|i| (i % 251) as u8).collect();
        replace_file(&src, "f", |w| w.write_all(&bytes)).unwrap();
        assert_eq!(
            copy_file(&src, "f", &dst, None).unwrap(),
            bytes.len() as u64
        );
        dst.sync().unwrap();
        assert_eq!(read_file(&dst.crash(), "f").unwrap(), bytes, "synced");
        let again = copy_file(&src, "f", &dst, None).unwrap_err();
        assert_eq!(again.kind(), io::ErrorKind::AlreadyExists);
        let short = copy_file(&src, "f", &MemDir::new(), Some(bytes.len() as u64 + 1));
        assert!(short.is_err());
    }
}
