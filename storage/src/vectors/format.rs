//! The byte layout of a vector segment file, and the names segment files go by.
//!
//! A segment file `vec-<n>.seg` is a 4096-byte header page, then `slots_per_segment`
//! slots of `dim` little-endian `f32`s each (`dim * 4` bytes), then one `u32` CRC32C per
//! slot, so the file is exactly `4096 + slots_per_segment * (dim * 4 + 4)` bytes long.
//! Slot data starts on a page boundary; keeping the checksums apart keeps the vectors
//! contiguous for search. A slot's checksum covers its slot number (little-endian `u32`)
//! and its bytes, so a vector found in another slot's place fails too. The header, all
//! integers little-endian:
//!
//! | offset | size | field                                          |
//! | -----: | ---: | ---------------------------------------------- |
//! |      0 |    8 | magic `b"FLETCHVS"`                            |
//! |      8 |    4 | format version (2)                             |
//! |     12 |    4 | `dim`: floats per vector                       |
//! |     16 |    4 | `slots_per_segment`, a power of two            |
//! |     20 |    4 | segment index `n`, equal to the file name's    |
//! |     24 |    4 | CRC32C of bytes 0..24                          |
//! |     28 | 4068 | zero                                           |
//!
//! A segment is created as `vec-<n>.seg.tmp` (header written, length set, fsynced), then
//! renamed to `vec-<n>.seg` and the directory fsynced, so a `vec-<n>.seg` with a bad header
//! is real damage, never a torn creation.

use std::path::Path;

use crate::error::{Result, StorageError};

/// Size of the header page; slot data starts at this offset.
pub(crate) const HEADER_LEN: usize = 4096;
/// Bytes at the start of the header that carry meaning: the fields and their checksum.
pub(crate) const HEADER_USED: usize = 28;
/// The file's magic number.
pub(crate) const MAGIC: [u8; 8] = *b"FLETCHVS";
/// The format version this build reads and writes.
pub(crate) const FORMAT_VERSION: u32 = 2;
/// The default segment size aims at slot areas of at most this many bytes.
pub(crate) const TARGET_SLOT_AREA: u64 = 64 << 20;

const VERSION_AT: usize = 8;
const DIM_AT: usize = 12;
const SLOTS_AT: usize = 16;
const INDEX_AT: usize = 20;
const CRC_AT: usize = 24;

/// The fields of a segment header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SegmentHeader {
    /// Floats per vector.
    pub dim: u32,
    /// Slots in the segment.
    pub slots: u32,
    /// The segment's position, `n` in `vec-<n>.seg`.
    pub index: u32,
}

impl SegmentHeader {
    /// The header's first [`HEADER_USED`] bytes; the rest of the page is zero.
    pub(crate) fn encode(&self) -> [u8; HEADER_USED] {
        let mut b = [0u8; HEADER_USED];
        b[..VERSION_AT].copy_from_slice(&MAGIC);
        b[VERSION_AT..DIM_AT].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        b[DIM_AT..SLOTS_AT].copy_from_slice(&self.dim.to_le_bytes());
        b[SLOTS_AT..INDEX_AT].copy_from_slice(&self.slots.to_le_bytes());
        b[INDEX_AT..CRC_AT].copy_from_slice(&self.index.to_le_bytes());
        let crc = crc32c::crc32c(&b[..CRC_AT]);
        b[CRC_AT..].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Checks magic, version and checksum, in that order, and returns the fields.
    ///
    /// The version is checked before the checksum: a future version may lay its header
    /// out differently, and must then be reported as unsupported, not as damaged.
    ///
    /// # Errors
    ///
    /// [`StorageError::Corruption`] for a wrong magic or checksum,
    /// [`StorageError::UnsupportedVersion`] for a version other than [`FORMAT_VERSION`].
    pub(crate) fn decode(b: &[u8; HEADER_USED], file: &Path) -> Result<Self> {
        if b[..VERSION_AT] != MAGIC {
            return Err(StorageError::corruption(
                file,
                0,
                "not a vector segment: bad magic number",
            ));
        }
        let version = read_u32(b, VERSION_AT);
        if version != FORMAT_VERSION {
            return Err(StorageError::UnsupportedVersion {
                file: file.to_path_buf(),
                found: version,
                supported: FORMAT_VERSION,
            });
        }
        let stored = read_u32(b, CRC_AT);
        let computed = crc32c::crc32c(&b[..CRC_AT]);
        if stored != computed {
            return Err(StorageError::corruption(
                file,
                CRC_AT as u64,
                format!(
                    "header checksum mismatch: stored {stored:#010x}, computed {computed:#010x}"
                ),
            ));
        }
        Ok(SegmentHeader {
            dim: read_u32(b, DIM_AT),
            slots: read_u32(b, SLOTS_AT),
            index: read_u32(b, INDEX_AT),
        })
    }

    /// Byte offset of the `slots_per_segment` field, for error reports.
    pub(crate) const SLOTS_OFFSET: u64 = SLOTS_AT as u64;
    /// Byte offset of the segment index field, for error reports.
    pub(crate) const INDEX_OFFSET: u64 = INDEX_AT as u64;
}

/// The `u32` at `at` of a whole header: every field offset is inside it.
fn read_u32(b: &[u8; HEADER_USED], at: usize) -> u32 {
    crate::le::u32_at(b, at).unwrap_or(u32::MAX)
}

/// The exact length of a segment file, or `None` if it would not fit in memory.
pub(crate) fn segment_len(dim: usize, slots: u32) -> Option<u64> {
    let len = (dim as u64)
        .checked_mul(4)?
        .checked_add(4)?
        .checked_mul(u64::from(slots))?
        .checked_add(HEADER_LEN as u64)?;
    (len <= isize::MAX as u64 && usize::try_from(len).is_ok()).then_some(len)
}

/// The checksum of slot `slot` holding `v`.
pub(crate) fn slot_crc(slot: u32, v: &[f32]) -> u32 {
    let crc = crc32c::crc32c(&slot.to_le_bytes());
    crc32c::crc32c_append(crc, bytemuck::cast_slice(v))
}

/// The largest power of two such that that many slots of `dim` floats fit in
/// [`TARGET_SLOT_AREA`] bytes; at least 1.
pub(crate) fn default_segment_slots(dim: usize) -> u32 {
    let per_slot = (dim as u64).saturating_mul(4).max(1);
    let fit = (TARGET_SLOT_AREA / per_slot).clamp(1, 1 << 31);
    1 << fit.ilog2()
}

/// The name of segment `index`.
pub(crate) fn segment_name(index: u32) -> String {
    format!("vec-{index}.seg")
}

/// The name segment `index` is written under before it is renamed into place.
pub(crate) fn temp_name(index: u32) -> String {
    format!("vec-{index}.seg.tmp")
}

/// What a directory entry is to the vector store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileKind {
    /// `vec-<n>.seg`.
    Segment(u32),
    /// `vec-<n>.seg.tmp`, left by a creation that did not finish.
    Temp,
    /// Anything else (the graph snapshot, say): not ours.
    Other,
}

/// Classifies a file name. Only canonical decimal indices count (`vec-7.seg`, not
/// `vec-07.seg`), so each index has exactly one name.
pub(crate) fn classify(name: &str) -> FileKind {
    let Some(rest) = name.strip_prefix("vec-") else {
        return FileKind::Other;
    };
    let (digits, temp) = if let Some(d) = rest.strip_suffix(".seg.tmp") {
        (d, true)
    } else if let Some(d) = rest.strip_suffix(".seg") {
        (d, false)
    } else {
        return FileKind::Other;
    };
    match digits.parse::<u32>() {
        Ok(n) if n.to_string() == digits => {
            if temp {
                FileKind::Temp
            } else {
                FileKind::Segment(n)
            }
        }
        _ => FileKind::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips() {
        let h = SegmentHeader {
            dim: 128,
            slots: 1 << 17,
            index: 9,
        };
        let bytes = h.encode();
        assert_eq!(&bytes[..8], b"FLETCHVS");
        assert_eq!(SegmentHeader::decode(&bytes, Path::new("x")).unwrap(), h);
    }

    #[test]
    fn every_flipped_bit_is_rejected() {
        let bytes = SegmentHeader {
            dim: 3,
            slots: 4,
            index: 0,
        }
        .encode();
        for i in 0..HEADER_USED * 8 {
            let mut b = bytes;
            b[i / 8] ^= 1 << (i % 8);
            let err = SegmentHeader::decode(&b, Path::new("x")).unwrap_err();
            assert!(
                matches!(
                    err,
                    StorageError::Corruption { .. } | StorageError::UnsupportedVersion { .. }
                ),
                "bit {i}: {err}"
            );
        }
    }

    #[test]
    fn default_slots_fill_64_mib() {
        assert_eq!(default_segment_slots(128), 1 << 17);
        assert_eq!(default_segment_slots(100), 1 << 17); // 400 B a slot: 167,772 fit
        assert_eq!(default_segment_slots(1), 1 << 24);
        assert_eq!(default_segment_slots(1 << 24), 1);
        assert_eq!(default_segment_slots(1 << 30), 1);
    }

    #[test]
    fn names_classify() {
        assert_eq!(classify(&segment_name(0)), FileKind::Segment(0));
        assert_eq!(
            classify(&segment_name(u32::MAX)),
            FileKind::Segment(u32::MAX)
        );
        assert_eq!(classify(&temp_name(12)), FileKind::Temp);
        for other in [
            "vec-07.seg",
            "vec-.seg",
            "vec-1.segx",
            "graph.hnsw",
            "vec--1.seg",
            "vec-+1.seg",
        ] {
            assert_eq!(classify(other), FileKind::Other, "{other}");
        }
    }

    #[test]
    fn segment_len_checks_overflow() {
        assert_eq!(segment_len(3, 4), Some(4096 + 48 + 16));
        assert_eq!(segment_len(usize::MAX, 2), None);
    }
}
