//! Small stays small: what a new database and a small one take on disk after a clean
//! close, as `du --apparent-size -s` counts it (every file's length, sparse or not, plus
//! the directories themselves), so that a copy or a backup of it is small too.

use std::path::Path;

use fletchdb::{CollectionConfig, Database, Metric, Options};

use crate::common::vector;

/// Bytes `du --apparent-size -s` reports for `path`: the length of every file and
/// directory under it, `path` included.
fn apparent_size(path: &Path) -> u64 {
    let meta = std::fs::symlink_metadata(path).unwrap();
    let mut total = meta.len();
    if meta.is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            total += apparent_size(&entry.unwrap().path());
        }
    }
    total
}

/// Every file under `path` with its length, for the failure message.
fn listing(path: &Path) -> String {
    let mut out = String::new();
    let mut stack = vec![path.to_path_buf()];
    while let Some(p) = stack.pop() {
        for entry in std::fs::read_dir(&p).unwrap() {
            let e = entry.unwrap();
            let meta = e.metadata().unwrap();
            if meta.is_dir() {
                stack.push(e.path());
            } else {
                let rel = e.path().strip_prefix(path).unwrap().display().to_string();
                out.push_str(&format!("  {rel}: {} bytes\n", meta.len()));
            }
        }
    }
    out
}

/// Opens a new database in a fresh directory, lets `fill` write to it, closes it, and
/// returns the directory and its apparent size.
fn size_after_close(fill: impl FnOnce(&Database)) -> (tempfile::TempDir, u64) {
    let dir = tempfile::tempdir().unwrap();
    let db = Database::open(dir.path(), Options::default()).unwrap();
    fill(&db);
    db.close().unwrap();
    let size = apparent_size(dir.path());
    eprintln!(
        "apparent size {size} bytes ({:.2} MiB):\n{}",
        size as f64 / (1 << 20) as f64,
        listing(dir.path())
    );
    (dir, size)
}

#[test]
fn an_empty_database_takes_under_1_mib() {
    let (dir, size) = size_after_close(|_| {});
    assert!(size < 1 << 20, "{size} bytes:\n{}", listing(dir.path()));
    // Reopening and closing again without writing leaves it as small.
    drop(Database::open(dir.path(), Options::default()).unwrap());
    let again = apparent_size(dir.path());
    assert!(again < 1 << 20, "{again} bytes after a reopen");
}

#[test]
fn three_small_vectors_take_under_1_mib() {
    let (dir, size) = size_after_close(|db| {
        let c = db
            .create_collection("c", CollectionConfig::new(4, Metric::L2))
            .unwrap();
        for id in 0..3 {
            c.insert(id, &vector(id, 0, 4)).unwrap();
        }
    });
    assert!(size < 1 << 20, "{size} bytes:\n{}", listing(dir.path()));
}

#[test]
fn a_thousand_384_d_vectors_take_under_4_mib() {
    let dim = 384;
    let (dir, size) = size_after_close(|db| {
        let c = db
            .create_collection("c", CollectionConfig::new(dim, Metric::Cosine))
            .unwrap();
        for id in 0..1_000 {
            c.insert(id, &vector(id, 0, dim)).unwrap();
        }
    });
    assert!(size < 4 << 20, "{size} bytes:\n{}", listing(dir.path()));
    // Everything is still there after the trimmed close.
    let db = Database::open(dir.path(), Options::default()).unwrap();
    let c = db.collection("c").unwrap();
    assert_eq!(c.len(), 1_000);
    for id in [0u64, 511, 999] {
        assert!(c.get(id).unwrap().is_some(), "id {id}");
    }
}
