//! Helpers the criterion benches and the runners share: test mode, scratch
//! directories, the database directory of a runner, loading a collection, progress
//! bars.

use std::io;
use std::path::{Path, PathBuf};

use fletchdb::Collection;
use indicatif::{ProgressBar, ProgressStyle};

use crate::texmex::Matrix;

/// True when the bench binary runs under `cargo bench -- --test` (each bench once, as a
/// smoke test): workloads should then be tiny.
pub fn test_mode() -> bool {
    std::env::args().any(|a| a == "--test")
}

/// `test` under [`test_mode`], else `full`.
pub fn pick<T>(test: T, full: T) -> T {
    if test_mode() {
        test
    } else {
        full
    }
}

/// A fresh temporary directory, under `$FLETCHDB_BENCH_DIR` if set (to measure another
/// disk), else the system's temporary directory.
///
/// # Panics
/// If the directory cannot be created.
pub fn scratch_dir() -> tempfile::TempDir {
    match std::env::var_os("FLETCHDB_BENCH_DIR") {
        Some(d) => {
            tempfile::tempdir_in(d).expect("FLETCHDB_BENCH_DIR must be a writable directory")
        }
        None => tempfile::tempdir().expect("a temporary directory"),
    }
}

/// The database directory a runner works in: `given` (kept afterwards), else a fresh
/// temporary one, removed when the returned guard is dropped.
///
/// # Errors
/// When the temporary directory cannot be created.
pub fn db_dir(given: Option<&Path>) -> io::Result<(PathBuf, Option<tempfile::TempDir>)> {
    match given {
        Some(d) => Ok((d.to_path_buf(), None)),
        None => {
            let tmp = tempfile::tempdir()?;
            Ok((tmp.path().to_path_buf(), Some(tmp)))
        }
    }
}

/// Inserts the rows of `vectors` into `c` with ids `first_id..`, `batch` per call.
///
/// # Errors
/// The database's errors.
pub fn fill(c: &Collection, vectors: &Matrix, first_id: u64, batch: usize) -> fletchdb::Result<()> {
    let dim = vectors.dim();
    let mut ids = Vec::with_capacity(batch);
    for (b, chunk) in vectors.as_slice().chunks(batch.max(1) * dim).enumerate() {
        let first = first_id + (b * batch.max(1)) as u64;
        ids.clear();
        ids.extend(first..first + (chunk.len() / dim) as u64);
        c.insert_batch(&ids, chunk)?;
    }
    Ok(())
}

/// A progress bar over `len` steps labelled `prefix`, with elapsed time, rate and ETA
/// (drawn on stderr, hidden when that is not a terminal).
pub fn progress_bar(len: u64, prefix: &str) -> ProgressBar {
    let style = ProgressStyle::with_template(
        "{prefix} [{elapsed_precise}] {wide_bar} {human_pos}/{human_len} ({per_sec}, eta {eta})",
    )
    .expect("a valid progress template")
    .progress_chars("=> ");
    ProgressBar::new(len)
        .with_style(style)
        .with_prefix(prefix.to_string())
}
