//! The byte layout of a vector segment file, how slots are spread over segments, and
//! the names segment files go by.
//!
//! Segments grow: segment 0 holds `first` slots, segment `n >= 1` holds
//! `first << (n - 1)` slots up to `max`, and every later one `max` (both powers of
//! two, `first <= max`). So segments 0..n together hold `first << (n - 1)` slots while
//! they double: the store's capacity doubles with each file until segments reach `max`
//! (a 64 MiB slot area by default, from 256 KiB in the first), and a small store stays
//! small. Slot `g`'s segment is `t - log2(first) + (g >> t)` and its place in it
//! `g & (2^t - 1)`, with `t = min(log2(g | first), log2(max))` ([`Layout::locate`]);
//! readers use a directory indexed by shifts alone (`segment.rs`).
//!
//! A segment file `vec-<n>.seg` of `S` slots is a 4096-byte header page, then `S` slots
//! of `dim` little-endian `f32`s each (`dim * 4` bytes), then one `u32` CRC32C per slot,
//! so the file is exactly `4096 + S * (dim * 4 + 4)` bytes long. Slot data starts on a
//! page boundary; keeping the checksums apart keeps the vectors contiguous for search. A
//! slot's checksum covers its global slot number (little-endian `u32`) and its bytes, so
//! a vector found in another slot's place fails too. The header, all integers
//! little-endian:
//!
//! | offset | size | field                                                   |
//! | -----: | ---: | ------------------------------------------------------- |
//! |      0 |    8 | magic `b"FLETCHVS"`                                     |
//! |      8 |    4 | format version (3)                                      |
//! |     12 |    4 | `dim`: floats per vector                                |
//! |     16 |    4 | `S`: slots in this segment, as the layout says for `n`  |
//! |     20 |    4 | segment index `n`, equal to the file name's             |
//! |     24 |    4 | `first`: slots in segment 0, a power of two             |
//! |     28 |    4 | `max`: slots in the largest segments, a power of two    |
//! |     32 |    4 | CRC32C of bytes 0..32                                   |
//! |     36 | 4060 | zero                                                    |
//!
//! Version 2 (every segment the same size) is still read: its header has no bytes
//! 24..32 and its CRC at 24, and it is the layout with `first == max == S`. New segments
//! are always written as version 3, so a store that grows is no longer readable by a
//! build that knows only version 2 (which reports `UnsupportedVersion`).
//!
//! A segment is created as `vec-<n>.seg.tmp` (header written, length set, fsynced), then
//! renamed to `vec-<n>.seg` and the directory fsynced, so a `vec-<n>.seg` with a bad header
//! is real damage, never a torn creation.

use std::path::Path;

use crate::error::{Result, StorageError};

/// Size of the header page; slot data starts at this offset.
pub(crate) const HEADER_LEN: usize = 4096;
/// Bytes at the start of the header that carry meaning (version 3): the fields and
/// their checksum.
pub(crate) const HEADER_USED: usize = 36;
/// The file's magic number.
pub(crate) const MAGIC: [u8; 8] = *b"FLETCHVS";
/// The format version this build writes.
pub(crate) const FORMAT_VERSION: u32 = 3;
/// The earlier version this build still reads: every segment the same size.
pub(crate) const UNIFORM_VERSION: u32 = 2;
/// The largest segments aim at slot areas of at most this many bytes.
pub(crate) const TARGET_SLOT_AREA: u64 = 64 << 20;
/// The first segment aims at a slot area of at most this many bytes: a store of a few
/// vectors stays well under 1 MiB whatever their dimension, and the readers' directory
/// (`segment.rs`) has at most `TARGET_SLOT_AREA / FIRST_SLOT_AREA` = 256 entries below
/// the largest segments.
pub(crate) const FIRST_SLOT_AREA: u64 = 256 << 10;

const VERSION_AT: usize = 8;
const DIM_AT: usize = 12;
const SLOTS_AT: usize = 16;
const INDEX_AT: usize = 20;
const FIRST_AT: usize = 24;
const MAX_AT: usize = 28;
const CRC_AT: usize = 32;
/// Where version 2 keeps its checksum (of bytes 0..24).
const UNIFORM_CRC_AT: usize = 24;

/// How slots are spread over segments (see the module documentation): segment 0
/// holds `first` slots, segment `n >= 1` holds `first << (n - 1)` up to `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Layout {
    /// `log2(first)`.
    first_shift: u32,
    /// `log2(max)`.
    max_shift: u32,
}

impl Layout {
    /// The layout with `first` slots in segment 0 and `max` in the largest segments, if
    /// both are powers of two and `first <= max`.
    pub(crate) fn new(first: u32, max: u32) -> Option<Layout> {
        (first.is_power_of_two() && max.is_power_of_two() && first <= max).then(|| Layout {
            first_shift: first.trailing_zeros(),
            max_shift: max.trailing_zeros(),
        })
    }

    /// Slots in segment 0.
    pub(crate) fn first(&self) -> u32 {
        1 << self.first_shift
    }

    /// Slots in the largest segments.
    pub(crate) fn max(&self) -> u32 {
        1 << self.max_shift
    }

    /// The segment holding `slot` and its place in that segment, by arithmetic. Writers
    /// use it to know which segments a slot needs; readers use the directory in
    /// `segment.rs`, which needs no logarithm.
    pub(crate) fn locate(&self, slot: u32) -> (usize, usize) {
        // `slot | first` is never 0, so `ilog2` cannot panic.
        let t = (slot | (1 << self.first_shift)).ilog2().min(self.max_shift);
        let segment = (t - self.first_shift) + (slot >> t);
        (segment as usize, (slot & ((1 << t) - 1)) as usize)
    }

    /// Slots in segment `n`.
    pub(crate) fn slots(&self, n: u32) -> u32 {
        let doublings = self.max_shift - self.first_shift;
        match n {
            0 => self.first(),
            n if n - 1 < doublings => self.first() << (n - 1),
            _ => self.max(),
        }
    }

    /// The first slot of segment `n` (beyond `u32` for segments past the last slot):
    /// also the number of slots segments `0..n` hold.
    pub(crate) fn start(&self, n: u64) -> u64 {
        let doublings = u64::from(self.max_shift - self.first_shift);
        match n {
            0 => 0,
            n if n - 1 <= doublings => u64::from(self.first()) << (n - 1),
            n => (n - doublings) * u64::from(self.max()),
        }
    }

    /// The layout of a new store of vectors of `dim` floats: the largest powers of two
    /// whose slots fill at most [`FIRST_SLOT_AREA`] and [`TARGET_SLOT_AREA`] bytes (at
    /// least 1), with `first` and `max` given by the caller taking precedence.
    pub(crate) fn for_dim(dim: usize, first: Option<u32>, max: Option<u32>) -> Option<Layout> {
        let fit = |area: u64| {
            let per_slot = (dim as u64).saturating_mul(4).max(1);
            1u32 << (area / per_slot).clamp(1, 1 << 31).ilog2()
        };
        let max = max.unwrap_or_else(|| fit(TARGET_SLOT_AREA));
        let first = first.unwrap_or_else(|| fit(FIRST_SLOT_AREA).min(max));
        Layout::new(first, max)
    }
}

/// The fields of a segment header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SegmentHeader {
    /// Floats per vector.
    pub dim: u32,
    /// Slots in the segment.
    pub slots: u32,
    /// The segment's position, `n` in `vec-<n>.seg`.
    pub index: u32,
    /// Slots in segment 0 (version 2: `slots`).
    pub first: u32,
    /// Slots in the largest segments (version 2: `slots`).
    pub max: u32,
}

impl SegmentHeader {
    /// The header's first [`HEADER_USED`] bytes, as version 3; the rest of the page is
    /// zero.
    pub(crate) fn encode(&self) -> [u8; HEADER_USED] {
        let mut b = [0u8; HEADER_USED];
        b[..VERSION_AT].copy_from_slice(&MAGIC);
        b[VERSION_AT..DIM_AT].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        b[DIM_AT..SLOTS_AT].copy_from_slice(&self.dim.to_le_bytes());
        b[SLOTS_AT..INDEX_AT].copy_from_slice(&self.slots.to_le_bytes());
        b[INDEX_AT..FIRST_AT].copy_from_slice(&self.index.to_le_bytes());
        b[FIRST_AT..MAX_AT].copy_from_slice(&self.first.to_le_bytes());
        b[MAX_AT..CRC_AT].copy_from_slice(&self.max.to_le_bytes());
        let crc = crc32c::crc32c(&b[..CRC_AT]);
        b[CRC_AT..].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Checks magic, version and checksum, in that order, and returns the fields.
    ///
    /// The version is checked before the checksum: a future version may lay its header
    /// out differently, and must then be reported as unsupported, not as damaged.
    /// Version 2 headers (one segment size for the whole store) decode with
    /// `first == max == slots`.
    ///
    /// # Errors
    ///
    /// [`StorageError::Corruption`] for a wrong magic or checksum,
    /// [`StorageError::UnsupportedVersion`] for a version other than
    /// [`FORMAT_VERSION`] and [`UNIFORM_VERSION`].
    pub(crate) fn decode(b: &[u8; HEADER_USED], file: &Path) -> Result<Self> {
        if b[..VERSION_AT] != MAGIC {
            return Err(StorageError::corruption(
                file,
                0,
                "not a vector segment: bad magic number",
            ));
        }
        let version = read_u32(b, VERSION_AT);
        let crc_at = match version {
            FORMAT_VERSION => CRC_AT,
            UNIFORM_VERSION => UNIFORM_CRC_AT,
            _ => {
                return Err(StorageError::UnsupportedVersion {
                    file: file.to_path_buf(),
                    found: version,
                    supported: FORMAT_VERSION,
                })
            }
        };
        let stored = read_u32(b, crc_at);
        let computed = crc32c::crc32c(&b[..crc_at]);
        if stored != computed {
            return Err(StorageError::corruption(
                file,
                crc_at as u64,
                format!(
                    "header checksum mismatch: stored {stored:#010x}, computed {computed:#010x}"
                ),
            ));
        }
        let slots = read_u32(b, SLOTS_AT);
        let (first, max) = if version == FORMAT_VERSION {
            (read_u32(b, FIRST_AT), read_u32(b, MAX_AT))
        } else {
            (slots, slots)
        };
        Ok(SegmentHeader {
            dim: read_u32(b, DIM_AT),
            slots,
            index: read_u32(b, INDEX_AT),
            first,
            max,
        })
    }

    /// Byte offset of the segment's slot count, for error reports.
    pub(crate) const SLOTS_OFFSET: u64 = SLOTS_AT as u64;
    /// Byte offset of the segment index field, for error reports.
    pub(crate) const INDEX_OFFSET: u64 = INDEX_AT as u64;
    /// Byte offset of the first segment's slot count, for error reports.
    pub(crate) const FIRST_OFFSET: u64 = FIRST_AT as u64;
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
            slots: 1 << 12,
            index: 9,
            first: 16,
            max: 1 << 17,
        };
        let bytes = h.encode();
        assert_eq!(&bytes[..8], b"FLETCHVS");
        assert_eq!(SegmentHeader::decode(&bytes, Path::new("x")).unwrap(), h);
    }

    #[test]
    fn version_2_headers_still_decode_as_one_segment_size() {
        let mut b = [0u8; HEADER_USED];
        b[..8].copy_from_slice(b"FLETCHVS");
        b[8..12].copy_from_slice(&2u32.to_le_bytes());
        b[12..16].copy_from_slice(&3u32.to_le_bytes());
        b[16..20].copy_from_slice(&64u32.to_le_bytes());
        b[20..24].copy_from_slice(&5u32.to_le_bytes());
        let crc = crc32c::crc32c(&b[..24]);
        b[24..28].copy_from_slice(&crc.to_le_bytes());
        let h = SegmentHeader::decode(&b, Path::new("x")).unwrap();
        assert_eq!(
            h,
            SegmentHeader {
                dim: 3,
                slots: 64,
                index: 5,
                first: 64,
                max: 64
            }
        );
        b[30] = 1; // past a version 2 header: not covered, not read
        assert!(SegmentHeader::decode(&b, Path::new("x")).is_ok());
        b[9] = 1; // version 258
        assert!(matches!(
            SegmentHeader::decode(&b, Path::new("x")),
            Err(StorageError::UnsupportedVersion { found: 258, .. })
        ));
    }

    #[test]
    fn every_flipped_bit_is_rejected() {
        let bytes = SegmentHeader {
            dim: 3,
            slots: 4,
            index: 0,
            first: 4,
            max: 64,
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
    fn default_layouts_start_at_256_kib_and_grow_to_64_mib() {
        let layout = |dim| {
            let l = Layout::for_dim(dim, None, None).unwrap();
            (l.first(), l.max())
        };
        assert_eq!(layout(128), (512, 1 << 17));
        assert_eq!(layout(100), (512, 1 << 17)); // 400 B a slot: 655 and 167,772 fit
        assert_eq!(layout(384), (128, 1 << 15));
        assert_eq!(layout(4), (1 << 14, 1 << 22));
        assert_eq!(layout(1), (1 << 16, 1 << 24));
        assert_eq!(layout(1 << 16), (1, 1 << 8));
        assert_eq!(layout(1 << 24), (1, 1));
        assert_eq!(layout(1 << 30), (1, 1));
        let given = |first, max| Layout::for_dim(128, first, max).map(|l| (l.first(), l.max()));
        assert_eq!(given(None, Some(64)), Some((64, 64)));
        assert_eq!(given(None, Some(4)), Some((4, 4)));
        assert_eq!(given(Some(8), None), Some((8, 1 << 17)));
        assert_eq!(given(Some(8), Some(4)), None);
        assert_eq!(given(Some(6), None), None);
    }

    /// `locate`, `slots` and `start` against segments laid out one by one.
    #[test]
    fn locating_a_slot_is_arithmetic_that_matches_the_segment_sizes() {
        for (first, max) in [(1, 1), (1, 8), (4, 4), (4, 64), (32, 1 << 15), (1, 1 << 31)] {
            let l = Layout::new(first, max).unwrap();
            let mut start = 0u64;
            for n in 0..40u32 {
                let slots = l.slots(n);
                let expected = if n == 0 {
                    first
                } else {
                    (u128::from(first) << (n - 1)).min(u128::from(max)) as u32
                };
                assert_eq!(slots, expected, "{first}/{max}: segment {n}");
                assert_eq!(l.start(u64::from(n)), start, "{first}/{max}: start of {n}");
                for local in [0, 1, slots / 2, slots - 1]
                    .into_iter()
                    .filter(|&l| l < slots)
                {
                    let slot = start + u64::from(local);
                    if let Ok(slot) = u32::try_from(slot) {
                        assert_eq!(
                            l.locate(slot),
                            (n as usize, local as usize),
                            "{first}/{max}: slot {slot}"
                        );
                    }
                }
                start += u64::from(slots);
            }
            // The last slot lands in a segment, at a place inside it.
            let (n, local) = l.locate(u32::MAX);
            assert!(local < l.slots(n as u32) as usize);
            assert_eq!(l.start(n as u64) + local as u64, u64::from(u32::MAX));
        }
        assert_eq!(Layout::new(3, 4), None);
        assert_eq!(Layout::new(8, 4), None);
        assert_eq!(Layout::new(0, 4), None);
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
