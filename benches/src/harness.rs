//! Helpers the criterion benches share: test mode, scratch directories, loading a
//! collection.

use fletchdb::Collection;

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
