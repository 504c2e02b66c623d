//! One memory-mapped segment file, and the table of segments readers look slots up in.
//!
//! This is the only file of the vector store with `unsafe` code.
//!
//! # Soundness
//!
//! Slot bytes live in shared, writable mappings ([`MmapRaw`], which hands out raw
//! pointers only). References to slot bytes are made in one place, [`SegmentTable::get`];
//! slot bytes are written in one place, `SegmentTable::write_slot`. What makes that sound:
//!
//! 1. **One writer per slot, and only before anyone can read it.** A slot is written
//!    either by the holder of its [`SlotClaim`], or through `&mut SegmentTable`. Claims
//!    come from an atomic counter, so a slot has at most one claim; publishing through
//!    `&mut` raises the counter past the slots it publishes, so a claimed slot is
//!    unpublished (until its claim publishes it) and no slice of it exists. `&mut`
//!    excludes every reader and every claim, since both borrow the table.
//!    One exception: [`SegmentTable::reclaim`] claims a published slot again, so a
//!    freed slot can hold a new vector. It is `unsafe`: its caller promises that no
//!    slice of the slot is alive or will be made until the new claim publishes it
//!    (FletchDB's core keeps that promise by reclaiming only slots its graph unlinked,
//!    after every search that could have reached them has finished).
//! 2. **Publication orders the bytes.** A writer copies the vector in, then sets the
//!    slot's bit in its segment's bitmap with `Release`; `get` tests the bit with
//!    `Acquire` before making a slice, so a reader sees the whole vector, and by rule 1
//!    nothing writes those bytes again while the slice (which borrows `&self`) lives.
//! 3. **Nothing is freed while borrowed.** Mappings, segment metadata and directory
//!    snapshots are freed only in `Drop`, which has `&mut self`: no slice, view or claim
//!    outlives them. One exception: [`SegmentTable::truncate`] unmaps the segments past
//!    a slot and deletes their files, so a compacted store gives its space back. It is
//!    `unsafe`: its caller promises that no slice, claim or read of a slot past that
//!    point exists or will be made (old directory snapshots, kept as always, still hold
//!    views of the unmapped segments, and such a read would follow them).
//! 4. **Nobody else touches the files.** The database directory is held under an
//!    exclusive `DirLock` and the store never truncates a mapped segment. As with every
//!    mmap, another process writing or truncating the files anyway breaks this
//!    (truncation shows up as SIGBUS).
//!
//! # The directory
//!
//! Segments grow (`format.rs`): segment 0 holds `F` slots, segment 1 as many, each
//! later one twice the one before up to `M`, then `M` each. Readers find a slot through
//! a directory of [`SegView`]s with one entry per `F` slots below slot `M` (all entries
//! of a segment are copies of one view) and one per segment after that, so the entry is
//! `slot >> log2(F)` below `M` and `M/F - 1 + (slot >> log2(M))` from there, chosen
//! without a branch (a branch mispredicts on large stores, whose searches visit both
//! ranges): two shifts, an add, a conditional move and an index, with no logarithm and
//! no search. A view holds the segment's data and bitmap pointers offset back by the
//! segment's first slot, so the slot's global number indexes them directly; the offset
//! pointers are made and moved with `wrapping_sub`/`wrapping_add`, which keep their
//! provenance, and are dereferenced only at slots of their own segment, inside the
//! allocation.
//!
//! Measured (paired runs of single-thread HNSW search at ef 64 over 50,000 128-d
//! vectors, the same graph on each store, thread CPU time, on this 2-core VM): finding
//! the segment with a leading-zero count (`Layout::locate`) instead cost 10-25 % of
//! the queries per second; with this directory a store of growing segments searches
//! within 0.87-0.93 of one in a single 64 MiB segment, as the old one-size layout does
//! when the same vectors span two segments (0.88-0.95): what remains is the cost of
//! several mappings rather than one, which a store of one size also paid past 64 MiB.
//!
//! The directory is a [`Snapshot`]: an immutable `(pointer, len)` over an array of
//! views, behind an [`AtomicPtr`]. A lookup is one `Acquire` load, the index, a bounds
//! check, one `Acquire` bit test and the slice: no lock, no epoch pin. Growth,
//! serialised by a mutex, writes the new views into the array past the current `len`
//! (no reader looks there), then swaps in a new snapshot with the larger `len`. When the
//! array is full it is copied into one twice as large.
//!
//! Retired snapshots and arrays are not freed: a reader may still be looking at them,
//! and rather than track readers (../shared/DESIGN.md suggests crossbeam-epoch) we keep them until
//! the table is dropped. Pinning an epoch on every `vector()` call, ~600 per query,
//! costs more than what is kept: 24 bytes per snapshot ever made plus arrays that sum
//! to less than twice the final one (24 bytes per entry: at most `M/F`, about 1,024,
//! below slot `M`, then one per segment), so O(entries) in all.

#[cfg(target_endian = "big")]
compile_error!(
    "fletchdb-storage maps f32 vectors straight from disk and supports little-endian targets only"
);

use std::fmt;
use std::mem::{self, ManuallyDrop};
use std::path::{Path, PathBuf};
use std::ptr::{self, NonNull};
use std::slice;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, Ordering};

use memmap2::{MmapOptions, MmapRaw};
use parking_lot::Mutex;

use super::files::SegmentFile;
use super::format::{segment_name, slot_crc, Layout, HEADER_LEN};
use crate::error::{Result, StorageError};

/// Pages of the store [`SegmentTable::resident`] asks the kernel about, spread evenly
/// (and the first of each segment). An open asks once; the answer decides whether a
/// loaded graph's first searches ask for their vectors ahead and the encoder gives way
/// to them (`fletchdb-index`'s `cold`). Each is a system call: with 64 pages asked of
/// each of the 16 segments of a 1M × 128-d store, the check took 1.35 ms of a 21 ms
/// warm open.
const RESIDENT_SAMPLE: usize = 256;

/// One segment file, mapped whole and read-write, with its publication bitmap.
pub(crate) struct Segment {
    map: MmapRaw,
    /// Slot 0 of this segment: `map`'s address plus [`HEADER_LEN`].
    data: NonNull<f32>,
    /// The per-slot checksums, after the last slot.
    crcs: NonNull<u32>,
    /// Publication bits by global slot number: word `w` holds the bits of slots
    /// `64 * (first_word + w)..` (bits of other segments' slots stay clear). A bit is set
    /// once its slot holds a complete vector (rule 2).
    published: Box<[AtomicU64]>,
    /// `start / 64`.
    first_word: usize,
    /// Set by every write, cleared by `flush` before it msyncs.
    dirty: AtomicBool,
    slots: u32,
    /// The global number of this segment's slot 0.
    start: u32,
    /// The store's layout, as this segment's header gives it.
    layout: Layout,
    path: PathBuf,
}

impl Segment {
    /// Creates segment `index` of `layout` in `dir` (see [`SegmentFile::create`]) and
    /// maps it.
    pub(crate) fn create(dir: &Path, index: u32, dim: usize, layout: Layout) -> Result<Segment> {
        Segment::map(SegmentFile::create(dir, index, dim, layout)?)
    }

    /// Opens and checks an existing segment (see [`SegmentFile::open`]) and maps it,
    /// reading nothing but its header.
    pub(crate) fn open(path: PathBuf, index: u32, dim: usize) -> Result<Segment> {
        Segment::map(SegmentFile::open(path, index, dim)?)
    }

    fn map(file: SegmentFile) -> Result<Segment> {
        let SegmentFile {
            file,
            path,
            len,
            slots,
            start,
            layout,
        } = file;
        // `SegmentFile` guarantees that `len` fits in `usize`.
        let map = MmapOptions::new()
            .len(len as usize)
            .map_raw(&file)
            .map_err(|e| StorageError::io(&path, e))?;
        // Searches read slots all over the file: without this, each page fault on a
        // cold file read `read_ahead_kb` around it (8 MiB on this VM), and the first
        // query after a cold open of a 1M × 128-d store read most of it, answering
        // 364-464 ms after the open began; with it, and the walk asking for its pages
        // ahead (`will_need`), 111-388 ms, median about 155 (2026-12-04). Readers of
        // whole ranges ask for them with `will_need`. Only advice: a kernel that
        // refuses it reads as before.
        let _ = map.advise(memmap2::Advice::Random);
        let data = NonNull::new(map.as_mut_ptr().wrapping_add(HEADER_LEN).cast::<f32>())
            .ok_or_else(|| StorageError::io(&path, std::io::Error::other("mmap returned null")))?;
        // The checksums follow the slots: `len == HEADER_LEN + slots * (dim * 4 + 4)`.
        let crc_at = len as usize - slots as usize * 4;
        let crcs = NonNull::new(map.as_mut_ptr().wrapping_add(crc_at).cast::<u32>())
            .ok_or_else(|| StorageError::io(&path, std::io::Error::other("mmap returned null")))?;
        let first_word = start as usize / 64;
        let end_word = (start as usize + slots as usize).div_ceil(64);
        Ok(Segment {
            map,
            data,
            crcs,
            published: (first_word..end_word).map(|_| AtomicU64::new(0)).collect(),
            first_word,
            dirty: AtomicBool::new(false),
            slots,
            start,
            layout,
            path,
        })
    }

    /// Whether the pages at `0, stride, 2 * stride, ..` below byte `bytes` of the
    /// mapping (at least its first) are all in the page cache (`mincore`; see
    /// [`SegmentTable::resident`]).
    #[cfg(target_os = "linux")]
    fn resident(&self, bytes: usize, stride: usize) -> bool {
        // SAFETY: `sysconf` only reads a configuration value.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
        let Ok(page) = usize::try_from(page) else {
            return false;
        };
        if page == 0 {
            return false;
        }
        let end = bytes.min(self.map.len());
        let base = self.map.as_ptr() as usize;
        let mut state = 0u8;
        // At least a page apart: a small store's stride would ask of a page twice.
        (0..end).step_by(stride.max(page)).all(|at| {
            let at = at / page * page;
            // SAFETY: `base + at` is inside the mapping (`at < end <= len`) and page
            // aligned (mmap maps at page boundaries), the mapping lives as long as
            // `self`, and `mincore` writes one byte for the one page asked about into
            // `state`. It reads no page and changes nothing.
            let rc = unsafe { libc::mincore((base + at) as *mut libc::c_void, 1, &mut state) };
            rc == 0 && state & 1 != 0
        })
    }

    #[cfg(not(target_os = "linux"))]
    fn resident(&self, _bytes: usize, _stride: usize) -> bool {
        false
    }

    /// The store's layout, as this segment's header gives it.
    pub(crate) fn layout(&self) -> Layout {
        self.layout
    }

    /// The segment's file.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Marks this segment's slots `[0, n)` published. Only called through
    /// `&mut SegmentTable`.
    fn publish_prefix(&self, n: usize) {
        let (from, to) = (self.start as usize, self.start as usize + n);
        // `Relaxed` suffices: the caller holds `&mut`, and the table reaches other threads
        // only through something that synchronises (a spawn, a lock, an `Arc` handoff).
        for (w, word) in self.published.iter().enumerate() {
            let lo = (self.first_word + w) * 64;
            let (a, b) = (from.clamp(lo, lo + 64) - lo, to.clamp(lo, lo + 64) - lo);
            if a < b {
                let bits = if b - a == 64 {
                    u64::MAX
                } else {
                    ((1u64 << (b - a)) - 1) << a
                };
                word.fetch_or(bits, Ordering::Relaxed);
            }
        }
    }
}

/// What a reader needs of a segment, copied out of it so a lookup takes one hop less:
/// its slot data and its bitmap, each offset back by the segment's first slot, so that
/// a slot's global number indexes them.
#[derive(Clone, Copy)]
struct SegView {
    /// `data - start * dim` (wrapping): slot `g`'s floats are at `data + g * dim`.
    data: *const f32,
    /// `published - start / 64` (wrapping): slot `g`'s bit is in word `g / 64`.
    published: *const AtomicU64,
    segment: NonNull<Segment>,
}

impl SegView {
    /// The view of `segment`, a pointer from `Box::leak` that `SegmentTable::drop` frees.
    fn of(segment: NonNull<Segment>, dim: usize) -> SegView {
        // SAFETY: the caller's pointer is to a live, leaked segment, only ever shared.
        let seg = unsafe { segment.as_ref() };
        SegView {
            data: seg
                .data
                .as_ptr()
                .cast_const()
                .wrapping_sub(seg.start as usize * dim),
            published: seg.published.as_ptr().wrapping_sub(seg.first_word),
            segment,
        }
    }

    fn segment(&self) -> &Segment {
        // SAFETY: `segment` came from `Box::leak` in `SegmentTable::publish` and is freed
        // only in `SegmentTable::drop`, which cannot run while `self` (borrowed from the
        // table) is alive (rule 3). Segments are only ever shared, never `&mut`.
        unsafe { self.segment.as_ref() }
    }
}

/// An immutable prefix of the view array: the first `len` directory entries, which
/// cover the first `segments` segments.
struct Snapshot {
    views: NonNull<SegView>,
    len: usize,
    segments: usize,
}

impl Snapshot {
    fn views(&self) -> &[SegView] {
        // SAFETY: the first `len` views of the array were written before this snapshot
        // was published and are never written again; growth writes past `len` only.
        // Arrays are freed only in `SegmentTable::drop` (rule 3). For `len == 0`,
        // `views` may be dangling, which `from_raw_parts` allows.
        unsafe { slice::from_raw_parts(self.views.as_ptr(), self.len) }
    }

    /// One view of each segment, in order (consecutive entries may share a segment).
    fn segment_views(&self) -> impl Iterator<Item = &SegView> {
        let views = self.views();
        views
            .iter()
            .enumerate()
            .filter(move |&(i, v)| i == 0 || views[i - 1].segment != v.segment)
            .map(|(_, v)| v)
    }

    /// Each segment once, in order.
    fn segments(&self) -> impl Iterator<Item = &Segment> {
        self.segment_views().map(SegView::segment)
    }
}

/// A heap array of views; its capacity is fixed, its first `len` elements initialised.
struct ViewArray {
    ptr: NonNull<SegView>,
    cap: usize,
}

impl ViewArray {
    fn with_capacity(cap: usize) -> ViewArray {
        let mut v = ManuallyDrop::new(Vec::<SegView>::with_capacity(cap));
        ViewArray {
            // `Vec`'s buffer is never null (dangling when nothing is allocated).
            ptr: NonNull::new(v.as_mut_ptr()).unwrap_or(NonNull::dangling()),
            cap: v.capacity(),
        }
    }
}

impl Drop for ViewArray {
    fn drop(&mut self) {
        // SAFETY: `ptr` and `cap` came from a `Vec<SegView>` in `with_capacity`;
        // `SegView` is `Copy`, so a length of 0 frees the buffer without dropping
        // anything. Arrays live in the `Grower` (current or retired) and are dropped
        // only with the table (rule 3), when no snapshot over them can be used.
        drop(unsafe { Vec::from_raw_parts(self.ptr.as_ptr(), 0, self.cap) });
    }
}

/// Growth state, behind the table's mutex.
struct Grower {
    /// The array the current snapshot points into.
    array: ViewArray,
    /// Arrays replaced by larger ones: old snapshots still point into them.
    old_arrays: Vec<ViewArray>,
    /// Replaced snapshots, from `Box::into_raw`.
    old_snapshots: Vec<*mut Snapshot>,
}

/// The mapped segments of one store, the slot counter and the publication protocol.
pub(crate) struct SegmentTable {
    current: AtomicPtr<Snapshot>,
    dim: usize,
    /// Which segment holds a slot, and where.
    layout: Layout,
    /// `log2(F)`: below slot `M` the directory has an entry per `F` slots.
    chunk_shift: u32,
    /// `M / F`: the directory entries below slot `M`.
    chunks: usize,
    /// `log2(M)`: from slot `M` on, an entry per segment.
    max_shift: u32,
    /// One past the highest slot ever claimed, restored or published.
    next: AtomicU32,
    grower: Mutex<Grower>,
    dir: PathBuf,
}

// SAFETY: the raw pointers in a table point at data it owns (snapshots, view arrays,
// segments), all freed only in `Drop`. Shared access follows the module's rules: slot
// bytes by rules 1 and 2, bitmaps and flags are atomics, views and snapshots are
// immutable once published, growth state sits behind a mutex. `MmapRaw` is `Send + Sync`.
unsafe impl Send for SegmentTable {}
// SAFETY: as for `Send`.
unsafe impl Sync for SegmentTable {}

impl SegmentTable {
    /// A table over `segments` (indices `0..segments.len()`, sized as `layout` says),
    /// with nothing published.
    pub(crate) fn new(dir: PathBuf, dim: usize, layout: Layout, segments: Vec<Segment>) -> Self {
        debug_assert!(segments.iter().enumerate().all(|(n, s)| {
            s.slots == layout.slots(n as u32)
                && u64::from(s.start) == layout.start(n as u64)
                && s.layout == layout
        }));
        let empty = Box::new(Snapshot {
            views: NonNull::dangling(),
            len: 0,
            segments: 0,
        });
        let chunk_shift = layout.first().trailing_zeros();
        let max_shift = layout.max().trailing_zeros();
        let table = SegmentTable {
            current: AtomicPtr::new(Box::into_raw(empty)),
            dim,
            layout,
            chunk_shift,
            chunks: 1 << (max_shift - chunk_shift),
            max_shift,
            next: AtomicU32::new(0),
            grower: Mutex::new(Grower {
                array: ViewArray::with_capacity(4),
                old_arrays: Vec::new(),
                old_snapshots: Vec::new(),
            }),
            dir,
        };
        if !segments.is_empty() {
            let mut grower = table.grower.lock();
            table.publish(&mut grower, segments);
        }
        table
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    pub(crate) fn dim(&self) -> usize {
        self.dim
    }

    pub(crate) fn layout(&self) -> Layout {
        self.layout
    }

    /// Segment files currently mapped.
    pub(crate) fn segment_count(&self) -> usize {
        self.snapshot().segments
    }

    /// Slots currently mapped.
    pub(crate) fn capacity(&self) -> u64 {
        self.layout.start(self.snapshot().segments as u64)
    }

    /// One past the highest slot ever claimed, restored or published.
    pub(crate) fn len(&self) -> u32 {
        self.next.load(Ordering::Relaxed)
    }

    #[inline]
    fn snapshot(&self) -> &Snapshot {
        // SAFETY: `current` always holds a pointer from `Box::into_raw` of a fully built
        // snapshot, published with `Release` (see `publish`) and read here with `Acquire`.
        // Snapshots are never mutated and freed only in `Drop` (rule 3).
        unsafe { &*self.current.load(Ordering::Acquire) }
    }

    /// The directory entry of `slot`: one per `F` slots below slot `M`, then one per
    /// segment. The entry, if it exists, is a view of the segment that holds `slot`.
    #[inline]
    fn entry(&self, slot: u32) -> usize {
        let chunk = (slot >> self.chunk_shift) as usize;
        let segment = self.chunks - 1 + (slot >> self.max_shift) as usize;
        std::hint::select_unpredictable(chunk < self.chunks, chunk, segment)
    }

    /// The view of the segment holding `slot`, if that segment is mapped.
    #[inline]
    fn view(&self, slot: u32) -> Option<&SegView> {
        self.snapshot().views().get(self.entry(slot))
    }

    /// The vector in `slot`, if it is published.
    #[inline]
    pub(crate) fn get(&self, slot: u32) -> Option<&[f32]> {
        let view = self.view(slot)?;
        let g = slot as usize;
        // SAFETY: `view` is the view of the segment holding `slot` (`entry`), so word
        // `g / 64` of its offset bitmap pointer is inside that segment's bitmap, which
        // covers the words of its slots (`Segment::map`); the bitmap lives as long as the
        // table (rule 3). `wrapping_add` keeps the pointer's provenance.
        let word = unsafe { &*view.published.wrapping_add(g / 64) };
        if word.load(Ordering::Acquire) & (1 << (g % 64)) == 0 {
            return None;
        }
        // SAFETY: `data + g * dim` is the segment's slot `g - start`, inside the mapping
        // (the segment holds `slot`); its bit was set with `Release` after its `dim`
        // floats were written, and our `Acquire` load saw it, so the bytes are
        // initialised and visible; nothing writes them while `&self` is borrowed (rules 1
        // and 2); the mapping outlives `&self` (rule 3). The mapping is page aligned and
        // slots are `dim * 4` bytes, so `f32` alignment holds.
        Some(unsafe { slice::from_raw_parts(view.data.wrapping_add(g * self.dim), self.dim) })
    }

    /// Asks the kernel to start reading the pages of `slots`' vectors now (a slot not
    /// mapped is skipped), a range at a time for slots that follow one another in a
    /// segment. The segments are mapped for random access (`Segment::map`), so a cold
    /// page is otherwise read only when touched, one at a time; asked for together, a
    /// walk's reads overlap (this disk: 14,300 random 4 KiB reads a second one at a
    /// time, 133,000 with 32 in flight, `fio`). Only advice: errors are ignored.
    pub(crate) fn will_need(&self, slots: &[u32]) {
        let bytes = self.dim * 4;
        // (segment, first local slot, slots) of the range being gathered.
        let mut run: Option<(&Segment, usize, usize)> = None;
        let flush = |run: Option<(&Segment, usize, usize)>| {
            if let Some((seg, first, n)) = run {
                let _ = seg.map.advise_range(
                    memmap2::Advice::WillNeed,
                    HEADER_LEN + first * bytes,
                    n * bytes,
                );
            }
        };
        for &slot in slots {
            let Some(seg) = self.view(slot).map(SegView::segment) else {
                continue;
            };
            let Some(local) = slot.checked_sub(seg.start).map(|l| l as usize) else {
                continue;
            };
            if local >= seg.slots as usize {
                continue;
            }
            run = match run {
                Some((s, first, n)) if ptr::eq(s, seg) && first + n == local => {
                    Some((s, first, n + 1))
                }
                other => {
                    flush(other);
                    Some((seg, local, 1))
                }
            };
        }
        flush(run);
    }

    /// Whether the store's pages are in the page cache, as far as a sample of about
    /// [`RESIDENT_SAMPLE`] pages spread evenly over the slots written (and the first
    /// page of each segment) tells (`mincore`): true only if every sampled page is.
    /// Reads nothing and changes nothing; false where the kernel cannot say (and off
    /// Linux).
    pub(crate) fn resident(&self) -> bool {
        let len = self.len();
        // (segment, bytes of it up to its last slot written), each segment once.
        let mut used: Vec<(&Segment, usize)> = Vec::new();
        for view in self.snapshot().views() {
            let seg = view.segment();
            if used.last().is_some_and(|&(l, _)| ptr::eq(l, seg)) {
                continue;
            }
            // Only the slots written: the rest of a segment was never read or written,
            // so its pages are in no cache, warm or cold.
            let slots = len.saturating_sub(seg.start).min(seg.slots) as usize;
            if slots > 0 {
                used.push((seg, HEADER_LEN + slots * self.dim * 4));
            }
        }
        let total: usize = used.iter().map(|&(_, b)| b).sum();
        let stride = total / RESIDENT_SAMPLE;
        used.iter().all(|&(seg, bytes)| seg.resident(bytes, stride))
    }

    /// The vector in `slot`, if it is published, checked against its checksum; on a
    /// mismatch, the segment file and the slot's byte offset in it.
    pub(crate) fn get_verified(&self, slot: u32) -> Result<Option<&[f32]>> {
        let Some(v) = self.get(slot) else {
            return Ok(None);
        };
        let Some(view) = self.view(slot) else {
            return Ok(None);
        };
        let seg = view.segment();
        let local = (slot - seg.start) as usize;
        // SAFETY: `local < slots` (the segment holds `slot`) and the checksum array has
        // that many `u32`s inside the mapping (4-byte aligned: it follows `slots * dim`
        // floats on a page boundary). `get` just saw the slot published with `Acquire`,
        // and its writer stored the checksum before publishing it (rules 1 and 2), so the
        // value is initialised, visible and not written again while `&self` lives (rule 3).
        let stored = unsafe { seg.crcs.as_ptr().add(local).read() };
        if stored == slot_crc(slot, v) {
            Ok(Some(v))
        } else {
            Err(StorageError::corruption(
                seg.path(),
                (HEADER_LEN + local * self.dim * 4) as u64,
                format!("slot {slot} does not match its checksum"),
            ))
        }
    }

    /// Takes the next slot, mapping a new segment if it needs one.
    ///
    /// If mapping fails the slot is still taken: it stays a hole.
    pub(crate) fn claim(&self) -> Result<SlotClaim<'_>> {
        let slot = self
            .next
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_add(1))
            .map_err(|_| {
                StorageError::InvalidArgument(format!(
                    "the vector store is full: all {} slots are taken",
                    u32::MAX
                ))
            })?;
        self.ensure_segments(self.layout.locate(slot).0 + 1)?;
        Ok(SlotClaim { table: self, slot })
    }

    /// Claims `slot` again, below `len`, whatever its state: it is unpublished until
    /// the claim writes it.
    ///
    /// # Safety
    ///
    /// No slice of `slot`'s bytes may be alive, nothing may read them until the
    /// returned claim publishes them, and no other claim of `slot` may exist (rule 1).
    pub(crate) unsafe fn reclaim(&self, slot: u32) -> Result<SlotClaim<'_>> {
        if slot >= self.len() {
            return Err(StorageError::InvalidArgument(format!(
                "slot {slot} was never claimed, so it cannot be reclaimed"
            )));
        }
        let Some(view) = self.view(slot) else {
            return Err(StorageError::InvalidArgument(format!(
                "slot {slot} is not mapped"
            )));
        };
        let g = slot as usize;
        // SAFETY: word `g / 64` of the offset bitmap pointer is in the segment's bitmap,
        // as in `get`.
        let word = unsafe { &*view.published.wrapping_add(g / 64) };
        word.fetch_and(!(1 << (g % 64)), Ordering::AcqRel);
        Ok(SlotClaim { table: self, slot })
    }

    /// The first slot of each mapped segment, ascending, then the capacity.
    pub(crate) fn boundaries(&self) -> Vec<u64> {
        (0..=self.snapshot().segments as u64)
            .map(|n| self.layout.start(n))
            .collect()
    }

    /// Forgets the segments from the one starting at slot `cut` on: the directory stops
    /// naming them, `len` becomes `cut`, their mappings are unmapped and their files
    /// deleted, highest first (a crash midway leaves a prefix of the files, as growth
    /// does), and the directory is synced. Returns how many files went.
    ///
    /// # Safety
    ///
    /// No slot at or past `cut` may be read, claimed or have a slice alive, now or
    /// later through a directory snapshot taken before this call; no claim may run
    /// concurrently (it could take a slot past `cut`). Slots below `cut` are unaffected.
    pub(crate) unsafe fn truncate(&self, cut: u32) -> Result<usize> {
        let mut grower = self.grower.lock();
        let snap = self.snapshot();
        let keep = (0..snap.segments)
            .find(|&n| self.layout.start(n as u64) == u64::from(cut))
            .ok_or_else(|| {
                StorageError::InvalidArgument(format!(
                    "slot {cut} does not start a mapped segment; the store cannot be cut there"
                ))
            })?;
        let gone: Vec<NonNull<Segment>> =
            snap.segment_views().skip(keep).map(|v| v.segment).collect();
        let len: usize = (0..keep).map(|n| self.entries_of(n)).sum();
        // A fresh array, so views past `len` in the old one (which old snapshots cover)
        // are never written again.
        let fresh = ViewArray::with_capacity(grower.array.cap);
        // SAFETY: the old array's first `snap.len >= len` views are initialised; the new
        // one has the same capacity; distinct allocations do not overlap.
        unsafe { ptr::copy_nonoverlapping(grower.array.ptr.as_ptr(), fresh.ptr.as_ptr(), len) };
        let old_array = mem::replace(&mut grower.array, fresh);
        grower.old_arrays.push(old_array);
        let snapshot = Box::new(Snapshot {
            views: grower.array.ptr,
            len,
            segments: keep,
        });
        let old = self.current.swap(Box::into_raw(snapshot), Ordering::AcqRel);
        grower.old_snapshots.push(old);
        self.next.store(cut, Ordering::Release);
        let (mut removed, mut failure) = (0, None);
        for segment in gone.into_iter().rev() {
            // SAFETY: the pointer came from `Box::leak` in `publish` and the current
            // snapshot no longer lists it, so `Drop` will not free it again; the caller
            // promises nothing reads or claims its slots any more (see above).
            let segment = unsafe { Box::from_raw(segment.as_ptr()) };
            let path = segment.path.clone();
            drop(segment);
            // After a failure the lower files stay too, so the files left are a prefix.
            if failure.is_none() {
                match std::fs::remove_file(&path) {
                    Ok(()) => removed += 1,
                    Err(e) => failure = Some(StorageError::io(&path, e)),
                }
            }
        }
        if removed > 0 {
            crate::io::sync_dir(&self.dir).map_err(|e| StorageError::io(&self.dir, e))?;
        }
        failure.map_or(Ok(removed), Err)
    }

    /// Writes and publishes `slot` whatever its state, mapping segments up to it, and
    /// raises `len` past it.
    pub(crate) fn write_exclusive(&mut self, slot: u32, v: &[f32]) -> Result<()> {
        self.check_dim(v)?;
        let end = slot.checked_add(1).ok_or_else(|| {
            StorageError::InvalidArgument(format!("slot {slot} is beyond the largest slot"))
        })?;
        self.ensure_segments(self.layout.locate(slot).0 + 1)?;
        // SAFETY: `&mut self` excludes every reader and every claim (rule 1).
        unsafe { self.write_slot(slot, v) }?;
        let next = self.next.get_mut();
        *next = (*next).max(end);
        Ok(())
    }

    /// Publishes slots `[0, upto)` as they are in the files and raises `len` to `upto`.
    pub(crate) fn publish_prefix(&mut self, upto: u32) -> Result<()> {
        let capacity = self.capacity();
        if u64::from(upto) > capacity {
            let missing = self.snapshot().segments;
            return Err(StorageError::corruption(
                self.dir.join(segment_name(missing as u32)),
                0,
                format!("{upto} slots were checkpointed but the segments hold only {capacity}: segment file missing"),
            ));
        }
        let mut left = upto as usize;
        for segment in self.snapshot().segments() {
            if left == 0 {
                break;
            }
            let n = left.min(segment.slots as usize);
            segment.publish_prefix(n);
            left -= n;
        }
        let next = self.next.get_mut();
        *next = (*next).max(upto);
        Ok(())
    }

    /// Msyncs every segment written since the last flush.
    pub(crate) fn flush(&self) -> Result<()> {
        for seg in self.snapshot().segments() {
            // `Acquire` pairs with the writers' `Release` swap: what they wrote before
            // setting the flag is in memory before msync runs.
            if seg.dirty.swap(false, Ordering::Acquire) {
                if let Err(e) = seg.map.flush() {
                    seg.dirty.store(true, Ordering::Relaxed);
                    return Err(StorageError::io(&seg.path, e));
                }
            }
        }
        Ok(())
    }

    fn check_dim(&self, v: &[f32]) -> Result<()> {
        if v.len() == self.dim {
            Ok(())
        } else {
            Err(StorageError::DimensionMismatch {
                expected: self.dim,
                got: v.len(),
            })
        }
    }

    /// Copies `v` into `slot`, marks its segment dirty, then publishes the slot.
    ///
    /// # Safety
    ///
    /// Nothing else may read or write `slot`'s bytes during the call, and no slice of
    /// them may be alive (rule 1): the caller holds `&mut self` or the slot's claim.
    unsafe fn write_slot(&self, slot: u32, v: &[f32]) -> Result<()> {
        self.check_dim(v)?;
        let Some(view) = self.view(slot) else {
            return Err(StorageError::InvalidArgument(format!(
                "slot {slot} is not mapped"
            )));
        };
        let seg = view.segment();
        let (g, local) = (slot as usize, (slot - seg.start) as usize);
        // SAFETY: `v` has `dim` floats; the destination, `data + g * dim`, is the
        // segment's slot `local` (the segment holds `slot`: `entry`), `dim` floats in
        // bounds of the mapping; a mapping never overlaps `v`. `wrapping_add` keeps the
        // offset pointer's provenance. The caller guarantees nobody else accesses the slot
        // (rule 1).
        unsafe {
            ptr::copy_nonoverlapping(
                v.as_ptr(),
                view.data.wrapping_add(g * self.dim).cast_mut(),
                self.dim,
            )
        };
        // SAFETY: as for the vector: the checksum of slot `local` is in bounds (the array
        // holds `slots` of them) and, by rule 1, ours alone to write.
        unsafe { seg.crcs.as_ptr().add(local).write(slot_crc(slot, v)) };
        // An RMW, not a store, so every writer's `Release` reaches the `Acquire` in
        // `flush` (a plain store by another writer would end the release sequence).
        seg.dirty.swap(true, Ordering::Release);
        // SAFETY: word `g / 64` of the offset bitmap pointer is in the segment's bitmap,
        // as in `get`.
        let word = unsafe { &*view.published.wrapping_add(g / 64) };
        word.fetch_or(1 << (g % 64), Ordering::Release);
        Ok(())
    }

    /// Maps segments until there are at least `count`. Segments made before a failure
    /// are kept.
    fn ensure_segments(&self, count: usize) -> Result<()> {
        if self.snapshot().segments >= count {
            return Ok(());
        }
        let mut grower = self.grower.lock();
        // Only the mutex holder publishes, so this is the latest snapshot.
        let have = self.snapshot().segments;
        let mut made = Vec::with_capacity(count.saturating_sub(have));
        let mut failure = None;
        for index in have..count {
            let created = u32::try_from(index)
                .map_err(|_| {
                    StorageError::InvalidArgument(format!("segment {index} is out of range"))
                })
                .and_then(|index| Segment::create(&self.dir, index, self.dim, self.layout));
            match created {
                Ok(seg) => made.push(seg),
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        if !made.is_empty() {
            self.publish(&mut grower, made);
        }
        failure.map_or(Ok(()), Err)
    }

    /// Directory entries segment `n` has: one per `F` slots below slot `M`, else one.
    fn entries_of(&self, n: usize) -> usize {
        if self.layout.start(n as u64) < u64::from(self.layout.max()) {
            (self.layout.slots(n as u32) >> self.chunk_shift) as usize
        } else {
            1
        }
    }

    /// Appends `segments` (the next ones by index) to the directory and publishes the
    /// new snapshot. The caller holds the growth mutex (or `&mut self`).
    fn publish(&self, grower: &mut Grower, segments: Vec<Segment>) {
        let (len, have) = (self.snapshot().len, self.snapshot().segments);
        let added: usize = (have..have + segments.len())
            .map(|n| self.entries_of(n))
            .sum();
        let new_len = len + added;
        if new_len > grower.array.cap {
            let bigger = ViewArray::with_capacity(new_len.max(grower.array.cap * 2));
            // SAFETY: the old array's first `len` views are initialised; the new array
            // has room for `new_len >= len`; distinct allocations do not overlap.
            unsafe {
                ptr::copy_nonoverlapping(grower.array.ptr.as_ptr(), bigger.ptr.as_ptr(), len)
            };
            // Old snapshots still point into the old array: keep it until `Drop`.
            grower
                .old_arrays
                .push(mem::replace(&mut grower.array, bigger));
        }
        let mut at = len;
        let count = segments.len();
        for (i, seg) in segments.into_iter().enumerate() {
            let entries = self.entries_of(have + i);
            // From `&mut`, so that `Drop` may free it through this pointer.
            let view = SegView::of(NonNull::from(Box::leak(Box::new(seg))), self.dim);
            for _ in 0..entries {
                // SAFETY: `at < new_len <= cap`. No snapshot covers index `at`, so no
                // reader looks at it; other writers are excluded by the mutex.
                unsafe { grower.array.ptr.as_ptr().add(at).write(view) };
                at += 1;
            }
        }
        debug_assert_eq!(at, new_len);
        let snapshot = Box::new(Snapshot {
            views: grower.array.ptr,
            len: new_len,
            segments: have + count,
        });
        // `Release` publishes the views written above, and the segments behind them.
        let old = self.current.swap(Box::into_raw(snapshot), Ordering::AcqRel);
        // Readers may still hold the old snapshot: keep it until `Drop`.
        grower.old_snapshots.push(old);
    }
}

impl Drop for SegmentTable {
    fn drop(&mut self) {
        // SAFETY: `&mut self`: no reader, claim or slice is alive (rule 3). Each pointer
        // freed here came from `Box::into_raw` (snapshots) or `Box::leak` (segments, via
        // a `&mut`, so it may free them) and is freed exactly once: segments through the
        // current snapshot, which lists every segment (once per run of equal entries),
        // snapshots from `current` and the retired list. The view arrays are freed after
        // this, when the `Grower` field drops.
        unsafe {
            let current = Box::from_raw(*self.current.get_mut());
            let segments: Vec<NonNull<Segment>> =
                current.segment_views().map(|v| v.segment).collect();
            for segment in segments {
                drop(Box::from_raw(segment.as_ptr()));
            }
            for &snapshot in &self.grower.get_mut().old_snapshots {
                drop(Box::from_raw(snapshot));
            }
        }
    }
}

/// The right to write one slot: at most one claim exists per slot, and only for a slot
/// that is not published (or, from `reclaim`, one nobody reads).
pub(crate) struct SlotClaim<'a> {
    table: &'a SegmentTable,
    slot: u32,
}

impl SlotClaim<'_> {
    pub(crate) fn slot(&self) -> u32 {
        self.slot
    }

    /// Copies `v` into the slot and publishes it.
    pub(crate) fn write(self, v: &[f32]) -> Result<u32> {
        // SAFETY: this claim is the slot's only one, the slot is unpublished (or, if
        // reclaimed, unread by its caller's promise), and the claim is consumed, so
        // nothing else reads or writes it (rule 1).
        unsafe { self.table.write_slot(self.slot, v) }?;
        Ok(self.slot)
    }
}

impl fmt::Debug for SlotClaim<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlotClaim")
            .field("slot", &self.slot)
            .finish()
    }
}
