//! [`Buckets`]: fixed-size rows by slot in buckets whose sizes double, allocated on
//! first use and never moved, so a reader may keep a row's slice while other threads
//! add rows. The memory of [`InMemoryVectors`](crate::InMemoryVectors) and of the
//! compact traversal codes (`codes/`).
//!
//! The first bucket holds 1,024 rows, the next 2,048, and so on; together they address
//! more than `u32::MAX` slots. Buckets of 2 MiB or more are aligned to 2 MiB and, on
//! Linux, advised as transparent huge pages: a search touches rows all over the store,
//! and with 4 KiB pages the TLB misses cost about 10 % of single-thread QPS (measured on
//! wordnet-minilm-dev, 20,000 × 384-d: 16,300 against 14,800 QPS at ef = 32 with THP
//! forced on for the whole process).
//!
//! `Buckets` only hands out pointers; the owner says which rows are written and when a
//! reader may look at them (its `// SAFETY:` comments carry that argument).

use std::alloc::Layout;
use std::sync::atomic::{AtomicPtr, Ordering};

use parking_lot::Mutex;

/// log2 of the number of rows in the first bucket.
const FIRST_BITS: u32 = 10;
/// Buckets; together they address more than `u32::MAX` slots.
const BUCKETS: usize = 33 - FIRST_BITS as usize;
/// A huge page on x86_64 and aarch64 Linux.
const HUGE_PAGE: usize = 2 << 20;
/// Rows start on cache-line boundaries when their size is a multiple of this.
const LINE: usize = 64;

/// The bucket holding `slot` and the slot's position inside it.
#[inline(always)]
fn locate(slot: usize) -> (usize, usize) {
    let x = (slot >> FIRST_BITS) + 1;
    let bucket = (usize::BITS - 1 - x.leading_zeros()) as usize;
    let start = ((1usize << bucket) - 1) << FIRST_BITS;
    (bucket, slot - start)
}

#[inline(always)]
fn bucket_rows(bucket: usize) -> usize {
    1usize << (FIRST_BITS as usize + bucket)
}

/// Rows of `row_bytes` bytes by slot; see the module comment.
pub(crate) struct Buckets {
    row_bytes: usize,
    /// Base of each bucket, or null before it is allocated.
    bases: [AtomicPtr<u8>; BUCKETS],
    /// Serialises bucket allocation.
    grow: Mutex<()>,
}

impl Buckets {
    /// No buckets yet, for rows of `row_bytes` (non-zero) bytes.
    pub(crate) fn new(row_bytes: usize) -> Self {
        Buckets {
            row_bytes: row_bytes.max(1),
            bases: std::array::from_fn(|_| AtomicPtr::new(std::ptr::null_mut())),
            grow: Mutex::new(()),
        }
    }

    /// The allocation of one bucket, or `None` if it overflows.
    fn layout(&self, bucket: usize) -> Option<Layout> {
        let bytes = bucket_rows(bucket).checked_mul(self.row_bytes)?;
        let align = if bytes >= HUGE_PAGE { HUGE_PAGE } else { LINE };
        Layout::from_size_align(bytes, align).ok()
    }

    /// The start of `slot`'s row, allocating its bucket (zeroed) if needed; `None` when
    /// the bucket's size overflows.
    pub(crate) fn ensure(&self, slot: usize) -> Option<*mut u8> {
        let (bucket, offset) = locate(slot);
        let mut base = self.bases.get(bucket)?.load(Ordering::Acquire);
        if base.is_null() {
            let _grow = self.grow.lock();
            base = self.bases[bucket].load(Ordering::Acquire);
            if base.is_null() {
                let layout = self.layout(bucket)?;
                // SAFETY: `layout` has a non-zero size (1,024 rows of at least a byte).
                base = unsafe { std::alloc::alloc_zeroed(layout) };
                if base.is_null() {
                    std::alloc::handle_alloc_error(layout);
                }
                #[cfg(target_os = "linux")]
                if layout.align() == HUGE_PAGE {
                    // SAFETY: madvise only changes how the kernel backs the range, which
                    // is exactly our fresh, page-aligned allocation; a failure (THP
                    // disabled) is harmless.
                    unsafe {
                        libc::madvise(base.cast(), layout.size(), libc::MADV_HUGEPAGE);
                    }
                }
                self.bases[bucket].store(base, Ordering::Release);
            }
        }
        // SAFETY: `offset < bucket_rows(bucket)`, so the row lies inside the bucket's
        // allocation of `bucket_rows(bucket) * row_bytes` bytes.
        Some(unsafe { base.add(offset * self.row_bytes) })
    }

    /// The start of `slot`'s row if its bucket is allocated (its bytes are zero until
    /// written).
    #[inline(always)]
    pub(crate) fn get(&self, slot: usize) -> Option<*const u8> {
        let (bucket, offset) = locate(slot);
        let base = self.bases.get(bucket)?.load(Ordering::Acquire);
        if base.is_null() {
            return None;
        }
        // SAFETY: as in `ensure`: the row lies inside the allocated bucket.
        Some(unsafe { base.add(offset * self.row_bytes) }.cast_const())
    }

    /// The start of the `n` rows from `slot` on if they lie in one allocated bucket
    /// (as 64 rows from a multiple of 64 always do: buckets start at multiples of 1,024).
    #[inline(always)]
    pub(crate) fn run(&self, slot: usize, n: usize) -> Option<*const u8> {
        let last = slot.checked_add(n.checked_sub(1)?)?;
        if locate(slot).0 != locate(last).0 {
            return None;
        }
        self.get(slot)
    }

    /// Bytes allocated.
    pub(crate) fn allocated(&self) -> usize {
        (0..BUCKETS)
            .filter(|&b| !self.bases[b].load(Ordering::Acquire).is_null())
            .filter_map(|b| self.layout(b).map(|l| l.size()))
            .sum()
    }
}

impl Drop for Buckets {
    fn drop(&mut self) {
        for bucket in 0..BUCKETS {
            let base = *self.bases[bucket].get_mut();
            if let (false, Some(layout)) = (base.is_null(), self.layout(bucket)) {
                // SAFETY: `base` came from `alloc_zeroed(self.layout(bucket))` in
                // `ensure` (the same layout: `row_bytes` never changes) and is freed only
                // here, once.
                unsafe { std::alloc::dealloc(base, layout) };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locate_covers_buckets_contiguously() {
        assert_eq!(locate(0), (0, 0));
        assert_eq!(locate(1023), (0, 1023));
        assert_eq!(locate(1024), (1, 0));
        assert_eq!(locate(3071), (1, 2047));
        assert_eq!(locate(3072), (2, 0));
        let (b, o) = locate(u32::MAX as usize - 1);
        assert!(b < BUCKETS && o < bucket_rows(b));
    }

    #[test]
    fn rows_are_zero_until_written_and_keep_their_place() {
        let b = Buckets::new(3);
        assert!(b.get(5000).is_none());
        let p = b.ensure(5000).unwrap();
        // SAFETY: the row is 3 bytes inside an allocated bucket, and nobody else
        // reads or writes it in this test.
        unsafe {
            assert_eq!(*p, 0);
            *p = 7;
        }
        let q = b.ensure(10_000).unwrap();
        assert!(!q.is_null());
        // SAFETY: as above; the bucket did not move when another was allocated.
        assert_eq!(unsafe { *b.get(5000).unwrap() }, 7);
        assert!(b.allocated() >= 3 * 4096);
    }
}
