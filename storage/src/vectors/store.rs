//! [`VectorStore`]: one collection's vectors in fixed-size slots of mapped segment files
//! that double in size as the store grows.

use std::fmt;
use std::path::Path;

use super::files::{create_dir, scan};
use super::format::{segment_len, segment_name, Layout, SegmentHeader};
use super::segment::{Segment, SegmentTable, SlotClaim};
use crate::error::{Result, StorageError};

/// How to open a [`VectorStore`]: the sizes of a new store's segment files.
///
/// Segment 0 holds [`first_segment_slots`](Self::first_segment_slots), segment 1 as
/// many again, and each later one twice the one before, up to
/// [`segment_slots`](Self::segment_slots); every segment after that holds that many.
/// An existing store keeps the sizes its files were made with, whatever these say.
///
/// ```
/// use fletchdb_storage::vectors::VectorStoreOptions;
/// let options = VectorStoreOptions::default()
///     .with_first_segment_slots(16)
///     .with_segment_slots(1024);
/// assert_eq!(options.first_segment_slots, Some(16));
/// assert_eq!(options.segment_slots, Some(1024));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct VectorStoreOptions {
    /// Slots in the largest segment files of a new store: a power of two. `None` picks
    /// the largest power of two whose slots fit in 64 MiB (at least 1).
    pub segment_slots: Option<u32>,
    /// Slots in a new store's first segment file: a power of two, at most
    /// `segment_slots`. `None` picks the largest power of two whose slots fit in
    /// 256 KiB (at least 1, at most `segment_slots`).
    pub first_segment_slots: Option<u32>,
}

impl VectorStoreOptions {
    /// Sets [`segment_slots`](Self::segment_slots).
    #[must_use]
    pub fn with_segment_slots(mut self, slots: u32) -> Self {
        self.segment_slots = Some(slots);
        self
    }

    /// Sets [`first_segment_slots`](Self::first_segment_slots).
    #[must_use]
    pub fn with_first_segment_slots(mut self, slots: u32) -> Self {
        self.first_segment_slots = Some(slots);
        self
    }
}

/// The vectors of one collection: `dim` floats in each numbered slot, stored in
/// memory-mapped segment files `vec-0.seg`, `vec-1.seg`, ... in one directory.
///
/// The store grows by adding segment files, each (up to a maximum) twice the size of
/// the one before, so that a small store takes little space and a large one few files.
/// Existing mappings never move: slices returned by [`vector`](Self::vector) stay valid
/// (for as long as they borrow the store) while other threads
/// [`reserve`](Self::reserve) and write more slots. A slot is
/// readable once it is *published*: written through a [`Reservation`], restored with
/// [`restore`](Self::restore), or taken as it is on disk with
/// [`publish_existing`](Self::publish_existing). A published slot is never written again
/// while the store is shared.
///
/// The store knows nothing of ids, distances or graphs; durability of the data comes from
/// [`flush`](Self::flush) (the checkpoint) and the write-ahead log (replayed with
/// `restore`).
///
/// ```
/// use fletchdb_storage::vectors::{VectorStore, VectorStoreOptions};
///
/// let dir = tempfile::tempdir()?;
/// let store = VectorStore::open(dir.path(), 3, VectorStoreOptions::default())?;
/// let slot = store.reserve()?.write(&[1.0, 2.0, 3.0])?;
/// assert_eq!(store.vector(slot), Some(&[1.0, 2.0, 3.0][..]));
/// store.flush()?;
/// drop(store);
///
/// // After a restart nothing is published until the caller says what was checkpointed.
/// let mut store = VectorStore::open(dir.path(), 3, VectorStoreOptions::default())?;
/// assert_eq!(store.vector(slot), None);
/// store.publish_existing(slot + 1)?;
/// assert_eq!(store.vector(slot), Some(&[1.0, 2.0, 3.0][..]));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct VectorStore {
    table: SegmentTable,
}

impl VectorStore {
    /// Opens the store in `dir` for vectors of `dim` floats, creating the directory if it
    /// is missing.
    ///
    /// Existing segments are mapped without reading their slots (only each header is
    /// read), so opening takes milliseconds whatever the store's size. Leftover
    /// `vec-<n>.seg.tmp` files from an interrupted segment creation are removed. No slot is
    /// published: call [`publish_existing`](Self::publish_existing) with the checkpointed
    /// count, then [`restore`](Self::restore) what the log holds after it.
    ///
    /// # Errors
    ///
    /// - [`StorageError::InvalidArgument`] if `dim` is 0 or too large, or the options'
    ///   slot counts are not powers of two, the first exceeds the largest, or they make
    ///   segments too large.
    /// - [`StorageError::DimensionMismatch`] if the segments hold vectors of another size.
    /// - [`StorageError::UnsupportedVersion`] for a segment of an unknown format version.
    /// - [`StorageError::Corruption`] naming the file for a bad magic number or header
    ///   checksum, a header whose index disagrees with the file name, a slot count that
    ///   is not the one the layout gives that index, a file of the wrong length
    ///   (truncated, say), segments whose headers give different layouts, or a missing
    ///   segment (`vec-1.seg` absent while `vec-2.seg` exists).
    /// - [`StorageError::Io`] naming the path if the file system fails.
    pub fn open(dir: &Path, dim: usize, options: VectorStoreOptions) -> Result<VectorStore> {
        if dim == 0 || u32::try_from(dim).is_err() {
            return Err(StorageError::InvalidArgument(format!(
                "vector dimension {dim} is out of range"
            )));
        }
        let requested = Layout::for_dim(dim, options.first_segment_slots, options.segment_slots)
            .ok_or_else(|| {
                StorageError::InvalidArgument(format!(
                    "segment slot counts must be powers of two, the first no larger than \
                     the largest, not {:?} and {:?}",
                    options.first_segment_slots, options.segment_slots
                ))
            })?;
        if segment_len(dim, requested.max()).is_none() {
            return Err(StorageError::InvalidArgument(format!(
                "segments of {} slots of {dim} floats are too large to map",
                requested.max()
            )));
        }
        create_dir(dir)?;
        let indices = scan(dir)?;
        let mut segments: Vec<Segment> = Vec::with_capacity(indices.len());
        for &index in &indices {
            let seg = Segment::open(dir.join(segment_name(index)), index, dim)?;
            if let Some(first) = segments.first() {
                if seg.layout() != first.layout() {
                    let (a, b) = (seg.layout(), first.layout());
                    return Err(StorageError::corruption(
                        seg.path(),
                        SegmentHeader::FIRST_OFFSET,
                        format!(
                            "segments of {} growing to {} slots, but {} says {} growing to {}",
                            a.first(),
                            a.max(),
                            first.path().display(),
                            b.first(),
                            b.max()
                        ),
                    ));
                }
            }
            segments.push(seg);
        }
        let layout = segments.first().map_or(requested, Segment::layout);
        Ok(VectorStore {
            table: SegmentTable::new(dir.to_path_buf(), dim, layout, segments),
        })
    }

    /// The directory holding the segment files.
    pub fn dir(&self) -> &Path {
        self.table.dir()
    }

    /// Floats per vector.
    pub fn dim(&self) -> usize {
        self.table.dim()
    }

    /// Slots in segment file `n` (`vec-<n>.seg`), whether or not it exists yet: a
    /// power of two, the same for every store opened with the same options, or made
    /// with them.
    ///
    /// ```
    /// use fletchdb_storage::vectors::{VectorStore, VectorStoreOptions};
    /// let dir = tempfile::tempdir()?;
    /// let options = VectorStoreOptions::default()
    ///     .with_first_segment_slots(4)
    ///     .with_segment_slots(16);
    /// let store = VectorStore::open(dir.path(), 2, options)?;
    /// let sizes: Vec<u32> = (0..6).map(|n| store.segment_slots(n)).collect();
    /// assert_eq!(sizes, [4, 4, 8, 16, 16, 16]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn segment_slots(&self, n: u32) -> u32 {
        self.table.layout().slots(n)
    }

    /// Segment files mapped.
    pub fn segment_count(&self) -> usize {
        self.table.segment_count()
    }

    /// The file names of the segments mapped, in order (`vec-0.seg`, `vec-1.seg`, ...):
    /// what a copy of the store must hold.
    ///
    /// ```
    /// use fletchdb_storage::vectors::{VectorStore, VectorStoreOptions};
    /// let dir = tempfile::tempdir()?;
    /// let store = VectorStore::open(dir.path(), 2, VectorStoreOptions::default())?;
    /// store.reserve()?.write(&[1.0, 2.0])?;
    /// assert_eq!(store.segment_files(), ["vec-0.seg"]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn segment_files(&self) -> Vec<String> {
        (0..self.segment_count() as u32).map(segment_name).collect()
    }

    /// Slots currently mapped: those of the segment files there are.
    pub fn capacity(&self) -> usize {
        usize::try_from(self.table.capacity()).unwrap_or(usize::MAX)
    }

    /// One past the highest slot ever reserved, restored or published: the high-water
    /// mark. Slots below it may still be unpublished (reserved but not yet written, or
    /// holes left by dropped reservations).
    pub fn len(&self) -> usize {
        self.table.len() as usize
    }

    /// Whether no slot was ever reserved, restored or published.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Takes the next free slot, adding a segment file if the mapped ones are full.
    ///
    /// Safe to call from many threads at once; each gets a different slot.
    ///
    /// # Errors
    ///
    /// [`StorageError::Io`] if a new segment cannot be created (the slot is then lost:
    /// it stays an unpublished hole), or [`StorageError::InvalidArgument`] once all
    /// `u32::MAX` slots are taken.
    pub fn reserve(&self) -> Result<Reservation<'_>> {
        Ok(Reservation {
            claim: self.table.claim()?,
        })
    }

    /// Reserves `slot` again, to write a new vector over one that is no longer used:
    /// until the reservation writes it, the slot reads as `None`. Slots below
    /// [`len`](Self::len) only; the store does not grow.
    ///
    /// ```
    /// use fletchdb_storage::vectors::{VectorStore, VectorStoreOptions};
    /// let dir = tempfile::tempdir()?;
    /// let store = VectorStore::open(dir.path(), 1, VectorStoreOptions::default())?;
    /// let slot = store.reserve()?.write(&[1.0])?;
    /// // SAFETY: nothing holds or reads slot's vector any more.
    /// let again = unsafe { store.reclaim(slot) }?;
    /// assert_eq!(store.vector(slot), None);
    /// again.write(&[2.0])?;
    /// assert_eq!(store.vector(slot), Some(&[2.0][..]));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Safety
    ///
    /// No slice returned by [`vector`](Self::vector) or
    /// [`vector_verified`](Self::vector_verified) for `slot` may still be alive, nothing
    /// may read `slot` until the reservation has written it, and `slot` must have no
    /// other reservation. (The store hands out slices without tracking them, so only the
    /// caller can know this.)
    ///
    /// # Errors
    /// [`StorageError::InvalidArgument`] if `slot` is not below [`len`](Self::len).
    pub unsafe fn reclaim(&self, slot: u32) -> Result<Reservation<'_>> {
        // SAFETY: the caller's promise is exactly `SegmentTable::reclaim`'s.
        let claim = unsafe { self.table.reclaim(slot) }?;
        Ok(Reservation { claim })
    }

    /// Where the store could be cut by [`truncate`](Self::truncate): the first slot of
    /// each segment file, ascending, then the slot after the last one (the capacity).
    pub fn segment_starts(&self) -> Vec<u32> {
        self.table
            .boundaries()
            .into_iter()
            .map(|b| u32::try_from(b).unwrap_or(u32::MAX))
            .collect()
    }

    /// Shrinks the store to its first `cut` slots, which must be where a segment starts
    /// ([`segment_starts`](Self::segment_starts)): the segment files from there on are
    /// unmapped and deleted, highest first, and [`len`](Self::len) becomes `cut`. Later
    /// reservations start at `cut` and make the files again. Returns how many files
    /// were deleted.
    ///
    /// ```
    /// use fletchdb_storage::vectors::{VectorStore, VectorStoreOptions};
    /// let dir = tempfile::tempdir()?;
    /// let options = VectorStoreOptions::default().with_first_segment_slots(2).with_segment_slots(2);
    /// let store = VectorStore::open(dir.path(), 1, options)?;
    /// for x in 0..5 {
    ///     store.reserve()?.write(&[x as f32])?;
    /// }
    /// assert_eq!(store.segment_starts(), [0, 2, 4, 6]);
    /// // SAFETY: nothing reads slots 2 and up any more.
    /// assert_eq!(unsafe { store.truncate(2) }?, 2);
    /// assert_eq!((store.len(), store.segment_count()), (2, 1));
    /// assert_eq!(store.reserve()?.write(&[9.0])?, 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Safety
    ///
    /// No slice returned by [`vector`](Self::vector) or
    /// [`vector_verified`](Self::vector_verified) for a slot at or past `cut` may still
    /// be alive, nothing may read or reclaim such a slot afterwards (until a new
    /// reservation writes it), and no reservation may run concurrently.
    ///
    /// # Errors
    /// [`StorageError::InvalidArgument`] if no segment starts at `cut` (nothing
    /// changes); [`StorageError::Io`] if a file cannot be deleted (the store is cut all
    /// the same; the file stays, and a later open maps it again as spare capacity).
    pub unsafe fn truncate(&self, cut: u32) -> Result<usize> {
        // SAFETY: the caller's promise is exactly `SegmentTable::truncate`'s.
        unsafe { self.table.truncate(cut) }
    }

    /// The vector in `slot`, if it is published; `None` for holes, slots still being
    /// written, and slots past the end.
    ///
    /// This is the search hot path: no lock, no allocation, one atomic load of the
    /// segment directory and one bit test.
    #[inline]
    pub fn vector(&self, slot: u32) -> Option<&[f32]> {
        self.table.get(slot)
    }

    /// Asks the kernel to start reading `slots`' vectors from disk now, so that reading
    /// them after overlaps the reads instead of waiting for each page in turn: what a
    /// graph walk just after a cold open does for each batch it scores, and what a
    /// reader of many slots does first. Slots not stored are skipped; it changes
    /// nothing but the page cache.
    ///
    /// ```
    /// use fletchdb_storage::vectors::{VectorStore, VectorStoreOptions};
    /// let dir = tempfile::tempdir()?;
    /// let store = VectorStore::open(dir.path(), 2, VectorStoreOptions::default())?;
    /// for i in 0..10 {
    ///     store.reserve()?.write(&[i as f32, 1.0])?;
    /// }
    /// store.will_need(&[0, 1, 2, 7, 99]);
    /// assert_eq!(store.vector(7), Some(&[7.0, 1.0][..]));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn will_need(&self, slots: &[u32]) {
        self.table.will_need(slots);
    }

    /// Whether the stored vectors are in memory (the page cache), judged from a sample
    /// of each segment's pages: true only if every sampled page is. An open asks, so
    /// that a store just read (a warm open) is not treated as one still on disk. Reads
    /// nothing; false where the kernel cannot tell.
    ///
    /// ```
    /// use fletchdb_storage::vectors::{VectorStore, VectorStoreOptions};
    /// let dir = tempfile::tempdir()?;
    /// let store = VectorStore::open(dir.path(), 2, VectorStoreOptions::default())?;
    /// store.reserve()?.write(&[1.0, 2.0])?;
    /// // Just written: its pages are in memory.
    /// # #[cfg(target_os = "linux")]
    /// assert!(store.resident());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn resident(&self) -> bool {
        self.table.resident()
    }

    /// [`vector`](Self::vector), checked against the slot's checksum: for vectors
    /// handed to a user, where damage must be reported, never returned.
    ///
    /// # Errors
    /// [`StorageError::Corruption`] naming the segment file and the slot's offset if the
    /// bytes do not match the checksum written with them.
    pub fn vector_verified(&self, slot: u32) -> Result<Option<&[f32]>> {
        self.table.get_verified(slot)
    }

    /// Writes `v` into `slot` and publishes it, whatever the slot's state, adding
    /// segments up to it if needed, and raises [`len`](Self::len) past it. For replaying
    /// the write-ahead log before the store is shared; replaying a record twice is
    /// harmless.
    ///
    /// # Errors
    ///
    /// [`StorageError::DimensionMismatch`] if `v.len() != dim` (nothing is written),
    /// [`StorageError::InvalidArgument`] for slot `u32::MAX`, [`StorageError::Io`] if a
    /// segment cannot be created.
    pub fn restore(&mut self, slot: u32, v: &[f32]) -> Result<()> {
        self.table.write_exclusive(slot, v)
    }

    /// Publishes slots `[0, upto)` as the segment files hold them, and raises
    /// [`len`](Self::len) to `upto`. Called at open with the slot count of the last
    /// checkpoint, whose [`flush`](Self::flush) made that data durable.
    ///
    /// # Errors
    ///
    /// [`StorageError::Corruption`] naming the first missing segment file if `upto`
    /// exceeds [`capacity`](Self::capacity).
    pub fn publish_existing(&mut self, upto: u32) -> Result<()> {
        self.table.publish_prefix(upto)
    }

    /// Makes every vector written so far durable: msyncs each segment written since the
    /// last flush. The checkpoint's barrier for vector data. (Segment files are durable
    /// in the directory from their creation: each is renamed into place and the
    /// directory fsynced before it is used.)
    ///
    /// # Errors
    ///
    /// [`StorageError::Io`] naming the segment whose msync failed. Like a failed fsync,
    /// this means written data may be lost: the caller should not complete a
    /// checkpoint, and should treat the store as failed.
    pub fn flush(&self) -> Result<()> {
        self.table.flush()
    }
}

impl fmt::Debug for VectorStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VectorStore")
            .field("dir", &self.dir())
            .field("dim", &self.dim())
            .field("first_segment_slots", &self.table.layout().first())
            .field("max_segment_slots", &self.table.layout().max())
            .field("segment_count", &self.segment_count())
            .field("len", &self.len())
            .field("capacity", &self.capacity())
            .finish()
    }
}

/// The exclusive right to write one slot of a [`VectorStore`], from
/// [`VectorStore::reserve`].
///
/// Each slot is reserved at most once, so a reservation is its slot's only writer, which
/// is what lets [`write`](Self::write) fill the slot through `&VectorStore` while other
/// threads read. Dropping a reservation without writing leaves the slot unpublished for
/// good: a hole that [`VectorStore::vector`] reports as `None`.
///
/// ```
/// use fletchdb_storage::vectors::{VectorStore, VectorStoreOptions};
///
/// let dir = tempfile::tempdir()?;
/// let store = VectorStore::open(dir.path(), 2, VectorStoreOptions::default())?;
/// let reservation = store.reserve()?;
/// let slot = reservation.slot(); // e.g. logged before the vector is written
/// assert_eq!(store.vector(slot), None);
/// reservation.write(&[0.5, -0.5])?;
/// assert_eq!(store.vector(slot), Some(&[0.5, -0.5][..]));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
#[must_use = "dropping a reservation leaves its slot an unpublished hole"]
pub struct Reservation<'a> {
    claim: SlotClaim<'a>,
}

impl Reservation<'_> {
    /// The reserved slot.
    pub fn slot(&self) -> u32 {
        self.claim.slot()
    }

    /// Copies `v` into the slot, then publishes it, and returns the slot.
    ///
    /// # Errors
    ///
    /// [`StorageError::DimensionMismatch`] if `v.len()` is not the store's `dim`; nothing
    /// is written or published, and the slot stays a hole.
    pub fn write(self, v: &[f32]) -> Result<u32> {
        self.claim.write(v)
    }
}
