//! Software prefetch of memory the search will read next.
//!
//! A layer-0 expansion visits up to 2·M neighbours whose vectors are scattered over the
//! store; issuing the loads for all of them before computing the first distance overlaps
//! their cache misses (hnswlib does the same with `_mm_prefetch`).

/// How many cache lines of a vector to request up front; the hardware prefetcher streams
/// the rest once it sees sequential access.
const LINES: usize = 4;

/// Prefetches the first cache lines of `v` into all cache levels.
#[inline(always)]
pub fn prefetch_slice<T>(v: &[T]) {
    let bytes = std::mem::size_of_val(v);
    let lines = bytes.div_ceil(64).min(LINES);
    let base = v.as_ptr() as *const i8;
    for i in 0..lines {
        prefetch_ptr(base.wrapping_add(i * 64));
    }
}

/// Prefetches the cache line holding `p` (which need not be dereferenceable).
#[inline(always)]
pub fn prefetch_ptr(p: *const i8) {
    #[cfg(target_arch = "x86_64")]
    {
        #[allow(unused_unsafe)]
        // SAFETY: a prefetch is only a hint: it never faults, even on an invalid address,
        // and SSE is part of the x86_64 baseline.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p);
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = p;
    }
}
