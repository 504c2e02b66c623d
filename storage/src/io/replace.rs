//! Whole files written crash-safely through the file seam: [`replace_file`] and
//! [`read_file`], and [`sync_dir`] for code that must use `std::fs` (the mapped vector
//! segments).
//!
//! `replace_file` is the one implementation of "write a temporary name, sync it, rename
//! it over the target, sync the directory": after a crash the target holds either its
//! old bytes or all of the new ones, never a mix.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use super::{StorageDir, StorageFile};

/// Buffer of the writer handed to [`replace_file`]'s closure.
const WRITE_BUFFER: usize = 1 << 20;

/// The temporary name [`replace_file`] writes `name` under before renaming it.
pub fn temp_name(name: &str) -> String {
    format!("{name}.tmp")
}

/// Writes a new `name` in `dir` crash-safely: `write` fills `name.tmp` through a
/// buffered writer, the file is synced, renamed over `name`, and the directory synced.
/// A leftover temporary from an earlier attempt is replaced. On failure the temporary
/// is removed (best effort) and `name` is untouched.
///
/// ```
/// use std::io::Write;
/// use fletchdb_storage::io::{read_file, replace_file, MemDir, StorageDir};
/// let dir = MemDir::new();
/// replace_file(&dir, "a.bin", |w| w.write_all(b"first"))?;
/// replace_file(&dir, "a.bin", |w| w.write_all(b"second"))?;
/// assert_eq!(read_file(&dir, "a.bin")?, b"second");
/// assert_eq!(dir.crash().list()?, ["a.bin"]); // synced, temporary gone
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// # Errors
/// Whatever `write` or the file system reports.
pub fn replace_file(
    dir: &dyn StorageDir,
    name: &str,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> io::Result<()> {
    let tmp = temp_name(name);
    let _ = dir.remove(&tmp);
    let result = (|| {
        let file = dir.create(&tmp)?;
        let mut w = BufWriter::with_capacity(WRITE_BUFFER, FileWriter { file, at: 0 });
        write(&mut w)?;
        let w = w.into_inner().map_err(io::IntoInnerError::into_error)?;
        w.file.sync_data()?;
        drop(w);
        dir.rename(&tmp, name)?;
        dir.sync()
    })();
    if result.is_err() {
        let _ = dir.remove(&tmp);
    }
    result
}

/// The whole of file `name` in `dir`.
///
/// # Errors
/// Whatever the file system reports (`NotFound` for a missing file).
pub fn read_file(dir: &dyn StorageDir, name: &str) -> io::Result<Vec<u8>> {
    let file = dir.open(name)?;
    let len = usize::try_from(file.len()?)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "file too large"))?;
    let mut bytes = vec![0u8; len];
    file.read_exact_at(&mut bytes, 0)?;
    Ok(bytes)
}

/// Fsyncs a directory of the real file system, so entries created, renamed or removed
/// in it survive a crash. (Through the seam, [`StorageDir::sync`] does this.)
///
/// # Errors
/// Whatever opening or syncing the directory reports.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// A [`StorageFile`] written front to back.
struct FileWriter {
    file: Box<dyn StorageFile>,
    at: u64,
}

impl Write for FileWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write_all_at(buf, self.at)?;
        self.at += buf.len() as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::{Fault, MemDir};

    #[test]
    fn a_crash_at_any_sync_leaves_the_old_file_or_the_new_one() {
        let old = b"old contents".to_vec();
        let new = vec![7u8; 3 << 20]; // several buffer fills
        for after in 0..3 {
            let dir = MemDir::new();
            replace_file(&dir, "f", |w| w.write_all(&old)).unwrap();
            dir.inject(Fault::CrashAtSync { after });
            let done = replace_file(&dir, "f", |w| w.write_all(&new)).is_ok();
            let after_crash = dir.crash();
            let got = read_file(&after_crash, "f").unwrap();
            assert!(
                got == old || got == new,
                "a mix after a crash at sync {after}"
            );
            if done {
                assert_eq!(got, new, "acknowledged but lost at sync {after}");
            }
        }
    }

    #[test]
    fn a_failed_write_leaves_the_target_alone() {
        let dir = MemDir::new();
        replace_file(&dir, "f", |w| w.write_all(b"kept")).unwrap();
        let err = replace_file(&dir, "f", |_| Err(io::Error::other("no"))).unwrap_err();
        assert_eq!(err.to_string(), "no");
        assert_eq!(read_file(&dir, "f").unwrap(), b"kept");
        assert_eq!(dir.list().unwrap(), ["f"]);
    }
}
