//! Scratch directories for the targets that use the real file system, and copying a
//! database directory the way a killed process leaves it.

use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Where scratch directories go: `$FLETCHDB_FUZZ_TMP` if set, else `/dev/shm` (memory,
/// so that fsync costs nothing and the fuzzer runs faster) if there is one, else the
/// system's temporary directory.
fn base() -> PathBuf {
    if let Some(dir) = std::env::var_os("FLETCHDB_FUZZ_TMP") {
        return PathBuf::from(dir);
    }
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        return shm.to_path_buf();
    }
    std::env::temp_dir()
}

/// A new, empty scratch directory, removed when dropped.
pub(crate) fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("fletchdb-fuzz-")
        .tempdir_in(base())
        .or_else(|_| tempfile::tempdir())
        .expect("cannot create a scratch directory")
}

/// A file of a database directory as held in memory: its data extents and its length
/// (the rest is holes, written back as holes). Vector segments are mostly hole until
/// their slots fill; this keeps copying them cheap.
#[derive(Debug, Clone)]
pub(crate) struct FileImage {
    /// Path relative to the database directory.
    pub(crate) rel: PathBuf,
    /// The data extents, in order: file offset and bytes.
    pub(crate) extents: Vec<(u64, Vec<u8>)>,
    /// The file's length.
    pub(crate) len: u64,
}

impl FileImage {
    /// Bytes in the data extents.
    pub(crate) fn data_len(&self) -> usize {
        self.extents.iter().map(|(_, b)| b.len()).sum()
    }

    /// The extent holding data byte `i` (below [`data_len`](Self::data_len)), and the
    /// byte's position in it.
    fn locate(&self, mut i: usize) -> (usize, usize) {
        for (e, (_, bytes)) in self.extents.iter().enumerate() {
            if i < bytes.len() {
                return (e, i);
            }
            i -= bytes.len();
        }
        panic!("data byte out of range");
    }

    /// Data byte `i`.
    pub(crate) fn byte_mut(&mut self, i: usize) -> &mut u8 {
        let (e, at) = self.locate(i);
        &mut self.extents[e].1[at]
    }

    /// Cuts the file just before data byte `i` (at the end of the data if `i` is
    /// [`data_len`](Self::data_len)).
    pub(crate) fn truncate_before(&mut self, i: usize) {
        if i >= self.data_len() {
            let end = self.extents.last().map_or(0, |(o, b)| o + b.len() as u64);
            self.len = self.len.min(end);
            return;
        }
        let (e, at) = self.locate(i);
        self.extents.truncate(e + 1);
        self.extents[e].1.truncate(at);
        self.len = self.extents[e].0 + at as u64;
    }
}

/// Reads every file under `root` except the lock file, sorted by path.
pub(crate) fn snapshot(root: &Path) -> Vec<FileImage> {
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort_by(|a, b| a.rel.cmp(&b.rel));
    out
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<FileImage>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("dir entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            walk(root, &path, out);
            continue;
        }
        let rel = path.strip_prefix(root).expect("under root").to_path_buf();
        if rel == Path::new(fletchdb_storage::LOCK_FILE) {
            continue;
        }
        out.extend(read_image(&path, rel));
    }
}

/// Reads a file's data extents (`SEEK_DATA` / `SEEK_HOLE`: holes, such as the unused
/// slots of a vector segment, are skipped without being read). Where the file
/// system does not report holes, the whole file is one extent.
///
/// `None` if the file is gone: the log's background thread writes spare segments under
/// a temporary name and renames them, so a file listed a moment ago may have moved. An
/// image without it is what a kill just before the file was created leaves.
fn read_image(path: &Path, rel: PathBuf) -> Option<FileImage> {
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => panic!("open {} for snapshot: {e}", path.display()),
    };
    let len = file.metadata().expect("metadata").len();
    let mut extents = Vec::new();
    let mut at = 0u64;
    while at < len {
        let start = match rustix::fs::seek(&file, rustix::fs::SeekFrom::Data(at)) {
            Ok(start) => start,
            Err(rustix::io::Errno::NXIO) => break, // a hole to the end
            Err(_) => at,                          // holes not reported: all data
        };
        let end = rustix::fs::seek(&file, rustix::fs::SeekFrom::Hole(start))
            .unwrap_or(len)
            .min(len);
        if end <= start {
            break;
        }
        let mut bytes = vec![0u8; (end - start) as usize];
        file.seek(SeekFrom::Start(start)).expect("seek");
        file.read_exact(&mut bytes).expect("read for snapshot");
        extents.push((start, bytes));
        at = end;
    }
    Some(FileImage { rel, extents, len })
}

/// Writes `files` under `root` (which exists), holes as holes.
pub(crate) fn restore(root: &Path, files: &[FileImage]) {
    for f in files {
        let path = root.join(&f.rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent).expect("create_dir_all");
        }
        let mut file = File::create(&path).expect("create for restore");
        for (offset, bytes) in &f.extents {
            file.seek(SeekFrom::Start(*offset)).expect("seek");
            file.write_all(bytes).expect("write for restore");
        }
        file.set_len(f.len).expect("set_len");
    }
}

/// Copies the database directory `from` to a new scratch directory as a process killed
/// with SIGKILL leaves it: everything written to the operating system (log appends, the
/// shared mappings of the vector store), synced or not, and no lock held.
pub(crate) fn kill_image(from: &Path) -> tempfile::TempDir {
    let to = tempdir();
    restore(to.path(), &snapshot(from));
    to
}

/// The options the targets build and open databases with: small log segments (so that
/// segments roll over), no background checkpoints and none on close (so that what the
/// files hold depends only on the input).
pub(crate) fn options() -> fletchdb::Options {
    fletchdb::Options {
        durability: fletchdb::Durability::Sync,
        checkpoint_bytes: 0,
        checkpoint_interval: None,
        wal_segment_size: 4096,
        checkpoint_on_close: false,
        ..fletchdb::Options::default()
    }
}
