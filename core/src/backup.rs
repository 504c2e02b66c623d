//! [`Database::backup`]: a consistent copy of an open database at one log position,
//! taken while writers and searchers go on.
//!
//! The copy is what a crash at that position would have left, minus everything after
//! it, so the normal open recovers it (docs/design.md §7.9):
//!
//! 1. Hold the catalog (`Checkpoints::catalog`) for the whole copy: no checkpoint,
//!    create, drop or store cut runs, so `catalog.redb`, the graph file each collection
//!    has in force and the log segments since the checkpoint stay as they are, and no
//!    slot the catalog or a graph names is freed for reuse.
//! 2. Take the write gate exclusively for an instant: flush the log and note where it
//!    ends, L (`Wal::position`; every record below L is applied and durable), and each
//!    store's segment files. Writers go on once it is released.
//! 3. Into a staging directory beside the destination, copy `catalog.redb`, each
//!    collection's graph and id map files in force and its vector segments, then the log up to L
//!    (`Wal::copy_until`: the last segment cut at L's byte). Slots written after L may
//!    be copied in any state: no id, graph node or copied log record names them, and
//!    the copy's replay from the checkpoint rewrites every slot a record below L names.
//! 4. Sync, rename the staging directory to the destination, sync its parent. On any
//!    failure the staging directory is removed: no partial destination is left.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use fletchdb_storage::catalog::Catalog;
use fletchdb_storage::io::{copy_file, OsDir, StorageDir};
use fletchdb_storage::wal::{LogPosition, Wal};

use crate::collection::CollectionInner;
use crate::database::Database;
use crate::error::{Error, Result};
use crate::graph_files;

/// What [`Database::backup`] copied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Backup {
    /// The log position of the copy: it holds exactly the writes logged below this LSN
    /// (every write acknowledged before the backup began, and none that started after
    /// it returned).
    pub lsn: u64,
    /// Files copied.
    pub files: usize,
    /// Bytes copied.
    pub bytes: u64,
}

impl Database {
    /// Copies the database into `dest`, a directory that must not exist or be empty, as
    /// it stood at one moment, while writes and searches go on. The copy opens as a
    /// normal database (replaying the log it holds since its last checkpoint), with every
    /// write acknowledged before the call and none that started after it returned.
    /// Checkpoints, and creating or dropping collections, wait until it is done.
    ///
    /// ```
    /// use fletchdb::{CollectionConfig, Database, Metric, Options};
    /// let dir = tempfile::tempdir()?;
    /// let db = Database::open(dir.path().join("db"), Options::default())?;
    /// let docs = db.create_collection("docs", CollectionConfig::new(2, Metric::L2))?;
    /// docs.insert(1, &[1.0, 2.0])?;
    /// db.backup(dir.path().join("copy"))?;
    /// docs.insert(2, &[3.0, 4.0])?; // after the backup: not in it
    /// let copy = Database::open(dir.path().join("copy"), Options::default())?;
    /// let c = copy.collection("docs")?;
    /// assert_eq!((c.len(), c.get(1)?), (1, Some(vec![1.0, 2.0])));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::DestinationNotEmpty`] if `dest` is a file or a directory with entries;
    /// [`Error::Io`] naming the file a copy failed on (nothing is left at `dest` then);
    /// [`Error::WalPoisoned`]; [`Error::Closed`].
    pub fn backup(&self, dest: impl AsRef<Path>) -> Result<Backup> {
        self.shared().backup(dest.as_ref())
    }
}

/// Where a backup to `dest` is written before it is renamed there, after checking that
/// `dest` may take one; a leftover staging directory of an interrupted backup is removed.
pub(crate) fn stage(dest: &Path) -> Result<PathBuf> {
    let not_empty = || Error::DestinationNotEmpty {
        path: dest.to_path_buf(),
    };
    match std::fs::read_dir(dest) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(not_empty());
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(_) if dest.exists() => return Err(not_empty()),
        Err(source) => {
            return Err(Error::Io {
                path: dest.to_path_buf(),
                source,
            })
        }
    }
    let name = dest
        .file_name()
        .ok_or_else(|| Error::InvalidArgument(format!("{} names no directory", dest.display())))?;
    let mut staged = std::ffi::OsString::from(".");
    staged.push(name);
    staged.push(".backup-tmp");
    let staging = dest.with_file_name(staged);
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(|source| Error::Io {
            path: staging.clone(),
            source,
        })?;
    }
    Ok(staging)
}

/// Step 3: copies everything at `at` into `staging`. `collections` are the collections
/// with their segment files as step 2 noted them.
pub(crate) fn copy(
    db: &Path,
    catalog: &Catalog,
    wal: &Wal,
    at: &LogPosition,
    collections: &[(Arc<CollectionInner>, Vec<String>)],
    staging: &Path,
) -> Result<Backup> {
    let mut done = Backup {
        lsn: at.next_lsn,
        files: 0,
        bytes: 0,
    };
    let root = dir(staging)?;
    let mut copy = |from: &dyn StorageDir, name: &str, to: &dyn StorageDir| -> Result<()> {
        done.bytes += copy_file(from, name, to, None).map_err(|source| Error::Io {
            path: from.path().join(name),
            source,
        })?;
        done.files += 1;
        Ok(())
    };
    copy(&dir(db)?, "catalog.redb", &root)?;
    for (c, segments) in collections {
        let to = dir(&staging.join("c").join(c.cid.0.to_string()))?;
        let state = catalog.collection_state(c.cid)?;
        if let Some(s) = graph_files::decode_state(&state.blob) {
            copy(&c.files, &graph_files::name(s.generation), &to)?;
            if s.id_file {
                copy(&c.files, &graph_files::ids_name(s.generation), &to)?;
            }
        }
        for name in segments {
            copy(&c.files, name, &to)?;
        }
        sync(&to)?;
    }
    if !collections.is_empty() {
        sync(&dir(&staging.join("c"))?)?;
    }
    let log = dir(&staging.join("wal"))?;
    done.bytes += wal.copy_until(at, &log)?;
    done.files += log.list().map_or(0, |names| names.len());
    sync(&log)?;
    sync(&root)?;
    Ok(done)
}

/// Step 4: moves a finished copy from `staging` to `dest`, or removes it after a failure.
pub(crate) fn finish(copied: Result<Backup>, staging: &Path, dest: &Path) -> Result<Backup> {
    let done = copied.and_then(|done| {
        // A rename replaces an empty directory, which `stage` allowed.
        std::fs::rename(staging, dest).map_err(|source| Error::Io {
            path: dest.to_path_buf(),
            source,
        })?;
        match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => sync(&dir(p)?)?,
            _ => sync(&dir(Path::new("."))?)?,
        }
        Ok(done)
    });
    if done.is_err() {
        let _ = std::fs::remove_dir_all(staging);
    }
    done
}

fn dir(path: &Path) -> Result<OsDir> {
    OsDir::create(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn sync(dir: &OsDir) -> Result<()> {
    dir.sync().map_err(|source| Error::Io {
        path: dir.path().to_path_buf(),
        source,
    })
}
