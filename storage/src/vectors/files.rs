//! Segment files on disk: creating them crash-safely, validating them at open, and
//! scanning the store's directory. Nothing here maps memory.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use super::format::{
    classify, segment_len, segment_name, temp_name, FileKind, Layout, SegmentHeader, HEADER_USED,
};
use crate::error::{Result, StorageError};

/// A segment file, open read-write and checked, ready to map.
pub(crate) struct SegmentFile {
    pub file: File,
    pub path: PathBuf,
    /// The file's exact length: header plus slots; fits in `usize`.
    pub len: u64,
    /// Slots in the segment, a power of two.
    pub slots: u32,
    /// The global number of the segment's first slot.
    pub start: u32,
    /// The store's layout, as this segment's header gives it.
    pub layout: Layout,
}

impl SegmentFile {
    /// Creates `vec-<index>.seg` in `dir`, of the size `layout` gives segment `index`,
    /// so that a crash leaves either no such file or a complete one: write
    /// `vec-<index>.seg.tmp` (header, then length), fsync it, rename it into place,
    /// fsync the directory.
    pub(crate) fn create(
        dir: &Path,
        index: u32,
        dim: usize,
        layout: Layout,
    ) -> Result<SegmentFile> {
        let path = dir.join(segment_name(index));
        let tmp = dir.join(temp_name(index));
        let slots = layout.slots(index);
        let (Some(len), Ok(dim)) = (segment_len(dim, slots), u32::try_from(dim)) else {
            return Err(StorageError::InvalidArgument(format!(
                "a segment of {slots} slots of {dim} floats is too large"
            )));
        };
        let start = u32::try_from(layout.start(u64::from(index))).map_err(|_| {
            StorageError::InvalidArgument(format!("segment {index} is beyond the last slot"))
        })?;
        let header = SegmentHeader {
            dim,
            slots,
            index,
            first: layout.first(),
            max: layout.max(),
        }
        .encode();
        let made = (|| {
            let io = |e| StorageError::io(&tmp, e);
            let mut file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(true)
                .open(&tmp)
                .map_err(io)?;
            file.write_all(&header).map_err(io)?;
            file.set_len(len).map_err(io)?;
            file.sync_all().map_err(io)?;
            fs::rename(&tmp, &path).map_err(|e| StorageError::io(&path, e))?;
            sync_dir(dir)?;
            Ok(file)
        })();
        let file = made.inspect_err(|_| {
            // Best effort: a leftover temp file is harmless and removed at the next open.
            let _ = fs::remove_file(&tmp);
        })?;
        Ok(SegmentFile {
            file,
            path,
            len,
            slots,
            start,
            layout,
        })
    }

    /// Opens an existing segment, reading only its header, and checks magic, version,
    /// checksum, `dim`, the index against the file name, the layout (powers of two,
    /// `first <= max`), the slot count against what the layout gives this index, and
    /// the file's exact length.
    pub(crate) fn open(path: PathBuf, index: u32, dim: usize) -> Result<SegmentFile> {
        let io = |e| StorageError::io(&path, e);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        if len < HEADER_USED as u64 {
            return Err(StorageError::corruption(
                &path,
                len,
                format!("file is {len} bytes, too short for a segment header"),
            ));
        }
        let mut bytes = [0u8; HEADER_USED];
        file.read_exact(&mut bytes).map_err(io)?;
        let header = SegmentHeader::decode(&bytes, &path)?;
        if header.dim as usize != dim {
            return Err(StorageError::DimensionMismatch {
                expected: dim,
                got: header.dim as usize,
            });
        }
        if header.index != index {
            return Err(StorageError::corruption(
                &path,
                SegmentHeader::INDEX_OFFSET,
                format!(
                    "header says segment {}, file name says {index}",
                    header.index
                ),
            ));
        }
        if !header.slots.is_power_of_two() {
            return Err(StorageError::corruption(
                &path,
                SegmentHeader::SLOTS_OFFSET,
                format!("{} slots in a segment is not a power of two", header.slots),
            ));
        }
        let Some(layout) = Layout::new(header.first, header.max) else {
            return Err(StorageError::corruption(
                &path,
                SegmentHeader::FIRST_OFFSET,
                format!(
                    "segments of {} growing to {} slots: not powers of two, or shrinking",
                    header.first, header.max
                ),
            ));
        };
        if header.slots != layout.slots(index) {
            return Err(StorageError::corruption(
                &path,
                SegmentHeader::SLOTS_OFFSET,
                format!(
                    "segment {index} holds {} slots where segments of {} growing to {} \
                     give it {}",
                    header.slots,
                    header.first,
                    header.max,
                    layout.slots(index)
                ),
            ));
        }
        let Ok(start) = u32::try_from(layout.start(u64::from(index))) else {
            return Err(StorageError::corruption(
                &path,
                SegmentHeader::INDEX_OFFSET,
                "segment lies beyond the last addressable slot",
            ));
        };
        let Some(expected) = segment_len(dim, header.slots) else {
            return Err(StorageError::corruption(
                &path,
                SegmentHeader::SLOTS_OFFSET,
                format!("{} slots in a segment cannot be mapped", header.slots),
            ));
        };
        if len != expected {
            return Err(StorageError::corruption(
                &path,
                len.min(expected),
                format!("segment is {len} bytes; its header implies {expected}"),
            ));
        }
        Ok(SegmentFile {
            file,
            path,
            len,
            slots: header.slots,
            start,
            layout,
        })
    }
}

/// [`crate::io::sync_dir`], with the directory named in the error.
fn sync_dir(dir: &Path) -> Result<()> {
    crate::io::sync_dir(dir).map_err(|e| StorageError::io(dir, e))
}

/// Creates `dir` and any missing parents, fsyncing each new directory's parent so the new
/// entries survive a crash.
pub(crate) fn create_dir(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut missing: Vec<&Path> = Vec::new();
    let mut p = dir;
    while !p.exists() {
        missing.push(p);
        match p.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => p = parent,
            _ => break,
        }
    }
    fs::create_dir_all(dir).map_err(|e| StorageError::io(dir, e))?;
    for new in missing.iter().rev() {
        match new.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => sync_dir(parent)?,
            _ => sync_dir(Path::new("."))?,
        }
    }
    Ok(())
}

/// Lists the segment indices in `dir`, sorted and checked to be exactly `0..n`, and
/// removes leftover temporary segment files (other files are not ours and are left).
pub(crate) fn scan(dir: &Path) -> Result<Vec<u32>> {
    let io = |e| StorageError::io(dir, e);
    let mut indices = Vec::new();
    for entry in fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let name = entry.file_name();
        match name.to_str().map_or(FileKind::Other, classify) {
            FileKind::Segment(n) => indices.push(n),
            FileKind::Temp => {
                let path = entry.path();
                fs::remove_file(&path).map_err(|e| StorageError::io(&path, e))?;
            }
            FileKind::Other => {}
        }
    }
    indices.sort_unstable();
    for (expected, &found) in indices.iter().enumerate() {
        if u64::from(found) != expected as u64 {
            // Sorted and distinct, so the first index out of place is the one missing.
            return Err(StorageError::corruption(
                dir.join(segment_name(expected as u32)),
                0,
                format!(
                    "segment file is missing, but {} exists",
                    segment_name(found)
                ),
            ));
        }
    }
    Ok(indices)
}
