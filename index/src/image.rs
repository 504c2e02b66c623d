//! A graph used in place: [`GraphMemory`], the bytes of a saved graph that a load keeps
//! (a private, copy-on-write mapping of the file, or a buffer), and [`Lists0`], one
//! chunk's layer-0 lists, in memory of their own or inside such an image.
//!
//! A graph file's layer-0 region is the in-memory layout (`persist.rs`), so loading it
//! points each chunk at its place in the image instead of copying 132 MB of lists at
//! 1,000,000 nodes (m 16): that copy, into fresh memory, was most of a load. Inserts
//! after the load write the lists where they lie; in a private mapping that copies the
//! page touched and never reaches the file.

use std::ptr::NonNull;
use std::sync::atomic::AtomicU32;
use std::sync::Arc;

/// Memory holding a saved graph's bytes that the loaded graph keeps and writes to.
///
/// # Safety
/// An implementation promises that [`as_mut_ptr`](Self::as_mut_ptr) returns the same
/// pointer, aligned to 8 bytes, for the whole life of the value, to [`len`](Self::len)
/// bytes that nothing but this value reads or writes (so not a shared mapping), and
/// that moving the value does not move them.
pub unsafe trait GraphMemory: Send + Sync + 'static {
    /// The start of the bytes.
    fn as_mut_ptr(&mut self) -> *mut u8;
    /// How many bytes there are.
    fn len(&self) -> usize;
    /// True if there are none.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Hints that bytes `range` are about to be read in order: memory still on disk
    /// can start reading them all now. Does nothing by default.
    fn will_need(&self, range: std::ops::Range<usize>) {
        let _ = range;
    }
    /// Hints that bytes `range` are read here and there, so that memory still on disk
    /// reads only what is touched, not what lies around it. Does nothing by default.
    fn random_access(&self, range: std::ops::Range<usize>) {
        let _ = range;
    }
}

/// A buffer of words: `len` is its length in bytes (a multiple of 8).
///
/// ```
/// use fletchdb_index::GraphMemory;
/// let mut words = vec![0u64; 4];
/// assert_eq!(GraphMemory::len(&words), 32);
/// assert_eq!(words.as_mut_ptr() as usize % 8, 0);
/// ```
// SAFETY: a `Vec`'s heap buffer does not move when the `Vec` does, is aligned for
// `u64`, and is reachable only through the `Vec`.
unsafe impl GraphMemory for Vec<u64> {
    fn as_mut_ptr(&mut self) -> *mut u8 {
        Vec::as_mut_ptr(self).cast()
    }
    fn len(&self) -> usize {
        Vec::len(self) * 8
    }
}

/// A loaded graph's bytes: read as bytes while the load checks them, then handed out
/// chunk by chunk as [`Lists0`], after which nothing reads them as bytes again.
pub(crate) struct Image {
    ptr: NonNull<u8>,
    len: usize,
    /// Bytes `0..head` are only ever read as bytes ([`head`](Image::head)): no
    /// [`Lists0`] lies there.
    head: usize,
    memory: Box<dyn GraphMemory>,
}

// SAFETY: the bytes belong to the image alone (`GraphMemory`'s promise); they are read
// as bytes only during the load, before any `Lists0` shares them, and afterwards only
// through atomics.
unsafe impl Send for Image {}
// SAFETY: as for `Send`.
unsafe impl Sync for Image {}

impl Image {
    pub(crate) fn new(mut memory: Box<dyn GraphMemory>) -> Image {
        let len = memory.len();
        let ptr = NonNull::new(memory.as_mut_ptr()).unwrap_or(NonNull::dangling());
        Image {
            ptr,
            len,
            head: 0,
            memory,
        }
    }

    /// Keeps the first `len` bytes (at most all of them) as bytes for as long as the
    /// image lives: [`Lists0::in_image`] hands out none of them, and [`head`](Self::head)
    /// reads them. (A load reads its node records there after handing out the lists,
    /// where it copied them first: 6.2 MB and 4-5 ms of a warm 1,000,000-node load,
    /// timed by hand, 2026-12-04.)
    pub(crate) fn with_head(mut self, len: usize) -> Image {
        self.head = len.min(self.len);
        self
    }

    /// The bytes [`with_head`](Self::with_head) kept.
    pub(crate) fn head(&self) -> &[u8] {
        // SAFETY: `ptr` points to `len >= head` bytes owned by `memory` for as long as
        // `self` lives; no `Lists0` covers the first `head` of them (`in_image` refuses
        // those), and `bytes`' callers read them only before any `Lists0` exists, so
        // nothing writes them while this borrow lives.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.head) }
    }

    /// Passes [`GraphMemory::will_need`] on to the memory.
    pub(crate) fn will_need(&self, range: std::ops::Range<usize>) {
        self.memory.will_need(range);
    }

    /// Passes [`GraphMemory::random_access`] on to the memory.
    pub(crate) fn random_access(&self, range: std::ops::Range<usize>) {
        self.memory.random_access(range);
    }

    /// A copy of `bytes` in a buffer of words.
    pub(crate) fn copy_of(bytes: &[u8]) -> Image {
        let mut words = vec![0u64; bytes.len().div_ceil(8)];
        let len = bytes.len();
        // SAFETY: the buffer holds at least `len` bytes, and the two do not overlap.
        unsafe {
            std::ptr::copy_nonoverlapping(bytes.as_ptr(), words.as_mut_ptr().cast(), len);
        }
        let mut image = Image::new(Box::new(words));
        image.len = len;
        image
    }

    /// The bytes, to check them. The caller must not hold them once a [`Lists0`] of
    /// this image exists (a load checks everything before handing out chunks).
    pub(crate) fn bytes(&self) -> &[u8] {
        // SAFETY: `ptr` points to `len` bytes owned by `memory` for as long as `self`
        // lives; nothing writes them while they are read as bytes (see above).
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

/// One chunk's layer-0 lists (`count, id_0 .. id_{2M-1}` per node).
#[derive(Clone)]
pub(crate) struct Lists0 {
    ptr: NonNull<AtomicU32>,
    len: usize,
    _owner: Owner,
}

/// What keeps a chunk's lists alive (held, never read).
#[derive(Clone)]
enum Owner {
    Own { _lists: Arc<[AtomicU32]> },
    Image { _image: Arc<Image> },
}

// SAFETY: the lists are atomics, kept alive by `_owner`, which is `Send` and `Sync`.
unsafe impl Send for Lists0 {}
// SAFETY: as for `Send`.
unsafe impl Sync for Lists0 {}

impl Lists0 {
    /// `len` words of zeroed memory of their own: every list empty. Nothing is
    /// written, so the pages stay untouched until a list is stored (measured: writing
    /// the zeros of 1M nodes' lists one by one was half of loading their graph).
    pub(crate) fn zeroed(len: usize) -> Lists0 {
        let zeroed = Arc::<[AtomicU32]>::new_zeroed_slice(len);
        // SAFETY: `AtomicU32` has the same in-memory representation as `u32`, for which
        // all-zero bytes are a valid value (0), and `new_zeroed_slice` zeroed all of them.
        let own: Arc<[AtomicU32]> = unsafe { zeroed.assume_init() };
        Lists0 {
            ptr: NonNull::from(&own[..]).cast(),
            len,
            _owner: Owner::Own { _lists: own },
        }
    }

    /// The `len` words at byte `offset` of `image`, or `None` if they do not lie
    /// inside it past its head (see [`Image::with_head`]) or are not aligned for `u32`.
    pub(crate) fn in_image(image: &Arc<Image>, offset: usize, len: usize) -> Option<Lists0> {
        let end = len.checked_mul(4)?.checked_add(offset)?;
        if end > image.len || offset < image.head {
            return None;
        }
        // SAFETY: `offset <= end <= len` of the image's allocation.
        let ptr = unsafe { image.ptr.as_ptr().add(offset) };
        if !(ptr as usize).is_multiple_of(std::mem::align_of::<AtomicU32>()) {
            return None;
        }
        Some(Lists0 {
            ptr: NonNull::new(ptr.cast())?,
            len,
            _owner: Owner::Image {
                _image: Arc::clone(image),
            },
        })
    }
}

impl std::ops::Deref for Lists0 {
    type Target = [AtomicU32];

    #[inline(always)]
    fn deref(&self) -> &[AtomicU32] {
        // SAFETY: `ptr` is aligned and points to `len` words that `_owner` keeps alive
        // as long as `self`; `AtomicU32` is valid for any bits, and every access to the
        // words goes through atomics.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;

    #[test]
    fn lists_in_an_image_read_and_write_its_bytes() {
        let mut bytes = vec![0u8; 64];
        bytes[8..12].copy_from_slice(&7u32.to_le_bytes());
        let image = Arc::new(Image::copy_of(&bytes));
        let lists = Lists0::in_image(&image, 8, 4).unwrap();
        assert_eq!(
            lists[0].load(Ordering::Relaxed),
            u32::from_le_bytes(7u32.to_le_bytes())
        );
        lists[1].store(9, Ordering::Relaxed);
        let again = Lists0::in_image(&image, 12, 1).unwrap();
        assert_eq!(again[0].load(Ordering::Relaxed), 9);
        assert!(Lists0::in_image(&image, 60, 2).is_none(), "past the end");
        assert!(Lists0::in_image(&image, 2, 1).is_none(), "misaligned");
        assert!(
            Lists0::in_image(&image, usize::MAX, 2).is_none(),
            "overflow"
        );
    }

    #[test]
    fn the_head_is_never_handed_out_as_lists() {
        let bytes: Vec<u8> = (0..64).collect();
        let image = Arc::new(Image::copy_of(&bytes).with_head(16));
        assert!(Lists0::in_image(&image, 12, 1).is_none(), "inside the head");
        let lists = Lists0::in_image(&image, 16, 4).unwrap();
        lists[0].store(0, Ordering::Relaxed);
        assert_eq!(image.head(), &bytes[..16]);
        assert_eq!(Image::copy_of(&bytes).with_head(99).head(), &bytes[..]);
    }

    #[test]
    fn zeroed_lists_are_empty() {
        let lists = Lists0::zeroed(33);
        assert_eq!(lists.len(), 33);
        assert!(lists.iter().all(|w| w.load(Ordering::Relaxed) == 0));
    }
}
