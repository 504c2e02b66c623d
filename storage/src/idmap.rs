//! The id map file, `ids-<generation>.map`: which external id each slot of a collection
//! holds, as a checkpoint saw it, written beside the graph file of the same generation.
//!
//! Opening a database needs every collection's map. Kept in the catalog as one redb
//! entry per id, 1,000,000 ids took 45-73 ms to read and 91-120 ms to read and index,
//! on the open's critical path beside the graph (2026-12-03, `db_bench open`, warm);
//! a 1,000,000-slot file is 8.1 MB, read and checked in a few milliseconds. A
//! checkpoint writes it whole, as it writes the graph file (132 bytes a node at
//! `m` 16, against 8 here).
//!
//! Layout, little-endian:
//!
//! ```text
//! 0   8   magic "FLETCHID"
//! 8   u32 version (1)
//! 12  u32 zero
//! 16  u64 bound: slots covered
//! 24  u64 mapped: how many slots hold an id
//! 32  bound × u64: the id in each slot (0 where none is)
//! ..  ceil(bound / 64) × u64: bit s % 64 of word s / 64 set if slot s holds an id
//! end u32 CRC32C of every byte before it, then a zero u32
//! ```
//!
//! [`decode`] checks everything the layout says (the checksum, that bits past the
//! bound and ids of empty slots are zero, the count), so a file it accepts is one
//! [`encode`] wrote. That no id is in two slots is the writer's promise, which the
//! checksum guards; the reader that builds the id-to-slot index keeps the first slot
//! of an id if it ever meets two.

use std::path::PathBuf;

use crate::io::PrivateBytes;
use crate::{Result, StorageError};

/// The file's first bytes.
pub const MAGIC: [u8; 8] = *b"FLETCHID";
/// The layout this build writes and reads.
pub const VERSION: u32 = 1;
/// Bytes before the ids.
const HEADER: usize = 32;

/// An id map as [`decode`] or [`open`] returns it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IdMapFile {
    /// The id in each slot below the bound, 0 where none is.
    pub ids: SlotIds,
    /// Bit `s % 64` of word `s / 64`: slot `s` holds an id.
    pub mapped: Vec<u64>,
    /// How many bits of `mapped` are set.
    pub count: u64,
}

/// The id in each slot: read where it lies in a file's [`PrivateBytes`] until the
/// first change, which copies it ([`SlotIds::to_mut`]).
///
/// In place, opening a 1,000,000-slot map costs its checks and the pages they touch;
/// read into a buffer and decoded into another, it took 18-35 ms of a warm open,
/// beside the graph on the other core (`db_bench open`, 2026-12-04).
///
/// ```
/// use fletchdb_storage::idmap::SlotIds;
/// let mut ids = SlotIds::from(vec![7, 0, 8]);
/// assert_eq!(&ids[..], [7, 0, 8]);
/// ids.to_mut().push(9);
/// assert_eq!(ids.len(), 4);
/// ```
#[derive(Debug)]
pub struct SlotIds(Slots);

#[derive(Debug)]
enum Slots {
    Own(Vec<u64>),
    /// `len` little-endian ids from byte `at` of `bytes`, which [`open`] checked are
    /// aligned for `u64` (the bytes do not move while they live).
    InPlace {
        bytes: PrivateBytes,
        at: usize,
        len: usize,
    },
}

impl SlotIds {
    /// The ids, as a vector of their own (copied out of the file on the first call).
    pub fn to_mut(&mut self) -> &mut Vec<u64> {
        if let Slots::InPlace { .. } = self.0 {
            self.0 = Slots::Own(self.to_vec());
        }
        match &mut self.0 {
            Slots::Own(ids) => ids,
            Slots::InPlace { .. } => unreachable!("copied just above"),
        }
    }

    /// True while the ids are read from the file's bytes.
    pub fn in_place(&self) -> bool {
        matches!(self.0, Slots::InPlace { .. })
    }
}

impl std::ops::Deref for SlotIds {
    type Target = [u64];
    fn deref(&self) -> &[u64] {
        match &self.0 {
            Slots::Own(ids) => ids,
            // `open` made this only where the cast succeeds, and the bytes never move.
            Slots::InPlace { bytes, at, len } => {
                bytemuck::try_cast_slice(&bytes.as_slice()[*at..*at + 8 * len]).unwrap_or(&[])
            }
        }
    }
}

impl From<Vec<u64>> for SlotIds {
    fn from(ids: Vec<u64>) -> SlotIds {
        SlotIds(Slots::Own(ids))
    }
}

impl Default for SlotIds {
    fn default() -> SlotIds {
        SlotIds::from(Vec::new())
    }
}

impl Clone for SlotIds {
    fn clone(&self) -> SlotIds {
        SlotIds::from(self.to_vec())
    }
}

impl PartialEq for SlotIds {
    fn eq(&self, other: &SlotIds) -> bool {
        self[..] == other[..]
    }
}

impl Eq for SlotIds {}

/// The bytes of the map in which slot `s < ids.len()` holds `ids[s]` where bit `s % 64`
/// of `mapped[s / 64]` is set (missing words are zero); other slots hold none.
///
/// ```
/// use fletchdb_storage::idmap::{decode, encode};
/// let bytes = encode(&[7, 99, 8], &[0b101]);
/// let map = decode(&bytes).unwrap();
/// assert_eq!(&map.ids[..], [7, 0, 8]); // slot 1's 99 is not mapped
/// assert_eq!(map.count, 2);
/// ```
#[must_use]
pub fn encode(ids: &[u64], mapped: &[u64]) -> Vec<u8> {
    let bound = ids.len();
    let words = bound.div_ceil(64);
    let bit = |s: usize| mapped.get(s / 64).is_some_and(|w| w & (1 << (s % 64)) != 0);
    let mut out = Vec::with_capacity(HEADER + 8 * (bound + words) + 8);
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&(bound as u64).to_le_bytes());
    let count_at = out.len();
    out.extend_from_slice(&0u64.to_le_bytes());
    let mut count = 0u64;
    for (s, &id) in ids.iter().enumerate() {
        let id = if bit(s) { id } else { 0 };
        out.extend_from_slice(&id.to_le_bytes());
    }
    for w in 0..words {
        let mut word = mapped.get(w).copied().unwrap_or(0);
        let past = (w + 1) * 64;
        if past > bound {
            word &= u64::MAX >> (past - bound);
        }
        count += u64::from(word.count_ones());
        out.extend_from_slice(&word.to_le_bytes());
    }
    out[count_at..count_at + 8].copy_from_slice(&count.to_le_bytes());
    let crc = crc32c::crc32c(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    out
}

/// The map `bytes` holds, copied out of them.
///
/// # Errors
///
/// [`StorageError::UnsupportedVersion`] for another layout version;
/// [`StorageError::Corruption`] (with an empty `file`; the offset is into `bytes`) for
/// anything else [`encode`] does not write.
pub fn decode(bytes: &[u8]) -> Result<IdMapFile> {
    let (bound, mapped, count) = check_header(bytes)?;
    let ids: Vec<u64> = bytes[HEADER..HEADER + 8 * bound]
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap_or_default()))
        .collect();
    check_ids(&ids, &mapped)?;
    Ok(IdMapFile {
        ids: SlotIds::from(ids),
        mapped,
        count,
    })
}

/// The map `bytes` holds, its ids read where they lie (see [`SlotIds`]); checked as
/// [`decode`] checks. (A copy, as [`decode`] makes, where the machine is big-endian.)
///
/// # Errors
///
/// As [`decode`].
///
/// ```
/// use fletchdb_storage::idmap::{encode, open};
/// use fletchdb_storage::io::{MemDir, StorageDir};
/// let dir = MemDir::new();
/// let f = dir.create("ids")?;
/// f.write_all_at(&encode(&[7, 99, 8], &[0b101]), 0)?;
/// let map = open(f.map_private()?)?;
/// assert_eq!(&map.ids[..], [7, 0, 8]);
/// assert!(map.ids.in_place());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn open(bytes: PrivateBytes) -> Result<IdMapFile> {
    let (bound, mapped, count) = check_header(bytes.as_slice())?;
    let ids_at = &bytes.as_slice()[HEADER..HEADER + 8 * bound];
    if cfg!(target_endian = "big") || bytemuck::try_cast_slice::<u8, u64>(ids_at).is_err() {
        return decode(bytes.as_slice());
    }
    let ids = SlotIds(Slots::InPlace {
        bytes,
        at: HEADER,
        len: bound,
    });
    check_ids(&ids, &mapped)?;
    Ok(IdMapFile { ids, mapped, count })
}

/// Checks everything but the ids: the header, the length, the checksum and the bits.
/// Returns the bound, the bits and how many are set.
fn check_header(bytes: &[u8]) -> Result<(usize, Vec<u64>, u64)> {
    let u64_at = |at: usize| crate::le::u64_at(bytes, at).unwrap_or(0);
    if bytes.len() < HEADER + 8 {
        return Err(bad(bytes.len(), "shorter than its header"));
    }
    if bytes[..8] != MAGIC {
        return Err(bad(0, "not an id map (bad magic)"));
    }
    let version = crate::le::u32_at(bytes, 8).unwrap_or(0);
    if version != VERSION {
        return Err(StorageError::UnsupportedVersion {
            file: PathBuf::new(),
            found: version,
            supported: VERSION,
        });
    }
    if crate::le::u32_at(bytes, 12) != Some(0) {
        return Err(bad(12, "reserved word is not zero"));
    }
    let bound = u64_at(16);
    let expected = usize::try_from(bound)
        .ok()
        .and_then(|b| b.checked_add(b.div_ceil(64))?.checked_mul(8))
        .and_then(|n| n.checked_add(HEADER + 8));
    if expected != Some(bytes.len()) {
        return Err(bad(
            16,
            &format!("a bound of {bound} slots in {} bytes", bytes.len()),
        ));
    }
    let bound = bound as usize;
    let end = bytes.len() - 8;
    if crc32c::crc32c(&bytes[..end]) != crate::le::u32_at(bytes, end).unwrap_or(0) {
        return Err(bad(end, "checksum mismatch"));
    }
    if crate::le::u32_at(bytes, end + 4) != Some(0) {
        return Err(bad(end + 4, "the last word is not zero"));
    }
    let bits_at = HEADER + 8 * bound;
    let words = bound.div_ceil(64);
    let mapped: Vec<u64> = (0..words).map(|w| u64_at(bits_at + 8 * w)).collect();
    if let Some(&last) = mapped.last() {
        if !bound.is_multiple_of(64) && last >> (bound % 64) != 0 {
            return Err(bad(
                bits_at + 8 * (words - 1),
                "a slot past the bound is mapped",
            ));
        }
    }
    let count: u64 = mapped.iter().map(|w| u64::from(w.count_ones())).sum();
    if count != u64_at(24) {
        return Err(bad(
            24,
            &format!("{} mapped slots, but {count} bits set", u64_at(24)),
        ));
    }
    Ok((bound, mapped, count))
}

/// Checks that only mapped slots hold an id (`ids` as the file holds them).
fn check_ids(ids: &[u64], mapped: &[u64]) -> Result<()> {
    for (w, (part, &bits)) in ids.chunks(64).zip(mapped).enumerate() {
        // Each word's 64 ids at once, the bits of the nonzero ones against the map.
        let nonzero = part
            .iter()
            .enumerate()
            .fold(0u64, |acc, (i, &id)| acc | u64::from(id != 0) << i);
        if nonzero & !bits != 0 {
            let s = w * 64 + (nonzero & !bits).trailing_zeros() as usize;
            return Err(bad(HEADER + 8 * s, "an id in a slot that is not mapped"));
        }
    }
    Ok(())
}

/// A corruption error at byte `at` of the map.
fn bad(at: usize, detail: &str) -> StorageError {
    StorageError::corruption(PathBuf::new(), at as u64, format!("id map: {detail}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::{OsDir, StorageDir};

    /// `bytes` as a real file's private mapping.
    fn mapped(dir: &tempfile::TempDir, bytes: &[u8]) -> PrivateBytes {
        static FILES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = FILES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = OsDir::create(dir.path()).unwrap();
        let f = dir.create(&format!("ids-{n}.map")).unwrap();
        f.write_all_at(bytes, 0).unwrap();
        f.map_private().unwrap()
    }

    #[test]
    fn open_reads_the_ids_in_place_and_agrees_with_decode() {
        let dir = tempfile::tempdir().unwrap();
        for bound in [0usize, 1, 64, 65, 3_000] {
            let ids: Vec<u64> = (0..bound as u64).map(|s| s * 7 + 1).collect();
            let bits = vec![0x5555_5555_5555_5555_u64; bound.div_ceil(64)];
            let bytes = encode(&ids, &bits);
            let mut map = open(mapped(&dir, &bytes)).unwrap();
            assert_eq!(map.ids.in_place(), cfg!(target_endian = "little"));
            assert_eq!(map, decode(&bytes).unwrap());
            // The first change copies them out; the file's bytes stay as they were.
            if bound > 0 {
                map.ids.to_mut()[0] = 99;
                assert!(!map.ids.in_place());
                assert_eq!(map.ids[0], 99);
                assert_eq!(decode(&bytes).unwrap().ids[0], 1);
            }
        }
    }

    #[test]
    fn open_refuses_what_decode_refuses_with_the_same_error() {
        let dir = tempfile::tempdir().unwrap();
        let good = encode(&[5, 6, 7], &[0b011]);
        let end = good.len() - 8;
        // An id in slot 2, which is not mapped, with the checksum made to hold.
        let mut stray = good.clone();
        stray[HEADER + 16..HEADER + 24].copy_from_slice(&9u64.to_le_bytes());
        let crc = crc32c::crc32c(&stray[..end]);
        stray[end..end + 4].copy_from_slice(&crc.to_le_bytes());
        let mut flipped = good.clone();
        flipped[HEADER] ^= 1;
        for bad in [stray, flipped, good[..good.len() - 1].to_vec()] {
            let a = open(mapped(&dir, &bad)).unwrap_err();
            let b = decode(&bad).unwrap_err();
            assert!(matches!(a, StorageError::Corruption { .. }), "{a}");
            assert_eq!(a.to_string(), b.to_string());
        }
    }

    #[test]
    fn round_trips_and_cleans_what_is_not_mapped() {
        for bound in [0usize, 1, 63, 64, 65, 200] {
            let ids: Vec<u64> = (0..bound as u64).map(|s| s * 31 + 5).collect();
            let mapped: Vec<u64> = (0..bound.div_ceil(64) + 1)
                .map(|w| 0xdead_beef_f00d_cafe_u64.rotate_left(w as u32))
                .collect();
            let map = decode(&encode(&ids, &mapped)).unwrap();
            assert_eq!(map.ids.len(), bound);
            assert_eq!(map.mapped.len(), bound.div_ceil(64));
            for s in 0..bound {
                let bit = mapped[s / 64] & (1 << (s % 64)) != 0;
                assert_eq!(map.mapped[s / 64] & (1 << (s % 64)) != 0, bit);
                assert_eq!(map.ids[s], if bit { ids[s] } else { 0 });
            }
            assert_eq!(
                map.count,
                (0..bound)
                    .filter(|&s| mapped[s / 64] & (1 << (s % 64)) != 0)
                    .count() as u64
            );
            assert_eq!(encode(&map.ids, &map.mapped), encode(&ids, &mapped));
        }
    }

    /// Every byte flipped and every cut of a small map is refused.
    #[test]
    fn any_damage_is_refused() {
        let bytes = encode(&[1, 2, 3, 0, 9], &[0b10111]);
        for at in 0..bytes.len() {
            for bit in [0x01, 0x80] {
                let mut b = bytes.clone();
                b[at] ^= bit;
                assert!(decode(&b).is_err(), "byte {at} ^ {bit:#x}");
            }
        }
        for cut in 0..bytes.len() {
            assert!(decode(&bytes[..cut]).is_err(), "cut at {cut}");
        }
        let mut newer = bytes.clone();
        newer[8] = 2;
        assert!(matches!(
            decode(&newer),
            Err(StorageError::UnsupportedVersion { found: 2, .. })
        ));
    }

    /// With the checksum made right again, each rule still refuses what breaks it.
    #[test]
    fn each_rule_holds_without_the_checksum() {
        let fix = |mut b: Vec<u8>| {
            let end = b.len() - 8;
            let crc = crc32c::crc32c(&b[..end]);
            b[end..end + 4].copy_from_slice(&crc.to_le_bytes());
            b
        };
        let bytes = encode(&[1, 2, 3], &[0b101]);
        let mut stray = bytes.clone();
        stray[HEADER + 8] = 7; // an id in slot 1, which is not mapped
        let mut past = bytes.clone();
        past[HEADER + 24] |= 0b1000; // slot 3, past the bound of 3
        let mut count = bytes.clone();
        count[24] = 3;
        let mut reserved = bytes.clone();
        reserved[12] = 1;
        for (what, b) in [
            ("stray id", stray),
            ("past the bound", past),
            ("count", count),
            ("reserved", reserved),
        ] {
            assert!(
                matches!(decode(&fix(b)), Err(StorageError::Corruption { .. })),
                "{what}"
            );
        }
        assert!(decode(&fix(bytes)).is_ok());
    }
}
