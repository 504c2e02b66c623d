//! [`InMemoryVectors`]: an append-only, growable vector store whose slots never move.
//!
//! Storage is [`Buckets`](crate::buckets::Buckets): rows in buckets that are never
//! moved (on 2 MiB pages where large enough), so a reader may keep `&[f32]` while other
//! threads append. Appends take a mutex (a copy of one vector, far below the cost of the
//! graph insert that follows) and publish the new length with a release store; a reader
//! only forms a slice for a slot below the length it acquired, and a published slot is
//! never written again. That is the whole soundness argument for the `unsafe` below.

use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::Mutex;

use super::VectorSource;
use crate::buckets::Buckets;
use crate::error::IndexError;
use crate::types::Slot;

/// An append-only in-memory [`VectorSource`] that many threads can read while one
/// appends at a time.
///
/// ```
/// use fletchdb_index::{InMemoryVectors, VectorSource};
/// let store = InMemoryVectors::new(3).unwrap();
/// let a = store.push(&[1.0, 0.0, 0.0]).unwrap();
/// let b = store.push(&[0.0, 1.0, 0.0]).unwrap();
/// assert_eq!((a.0, b.0), (0, 1));
/// assert_eq!(store.vector(b), &[0.0, 1.0, 0.0]);
/// assert!(store.vector(fletchdb_index::Slot(7)).is_empty());
/// ```
pub struct InMemoryVectors {
    dim: usize,
    /// The rows, `dim` floats each.
    rows: Buckets,
    /// Published slots: `0..len` are written and immutable.
    len: AtomicUsize,
    /// Serialises appends (and bucket allocation).
    append: Mutex<()>,
}

impl InMemoryVectors {
    /// An empty store for vectors of `dim` components.
    ///
    /// # Errors
    /// [`IndexError::InvalidConfig`] when `dim` is zero or above 65,536.
    pub fn new(dim: usize) -> Result<Self, IndexError> {
        if dim == 0 || dim > 65_536 {
            return Err(IndexError::InvalidConfig(
                "dimension must be between 1 and 65536",
            ));
        }
        Ok(InMemoryVectors {
            dim,
            rows: Buckets::new(dim * std::mem::size_of::<f32>()),
            len: AtomicUsize::new(0),
            append: Mutex::new(()),
        })
    }

    /// Appends a copy of `v` and returns its slot. The store does not validate values;
    /// the index does that before it calls this.
    ///
    /// # Errors
    /// [`IndexError::DimensionMismatch`] when `v` is not `dim` long; [`IndexError::Full`]
    /// when the store already holds `u32::MAX` vectors.
    pub fn push(&self, v: &[f32]) -> Result<Slot, IndexError> {
        if v.len() != self.dim {
            return Err(IndexError::DimensionMismatch {
                expected: self.dim,
                got: v.len(),
            });
        }
        let _lock = self.append.lock();
        let slot = self.len.load(Ordering::Relaxed);
        if slot >= u32::MAX as usize {
            return Err(IndexError::Full(slot));
        }
        let base = self.rows.ensure(slot).ok_or(IndexError::Full(slot))?;
        // SAFETY: `base` is the start of the slot's row of `dim` floats inside a live
        // bucket (freed only when `rows` drops), aligned for f32 (buckets are aligned to
        // 64 bytes and rows are `4 * dim` bytes). This slot is not yet published (`slot
        // == len`), so no reader holds a reference to these floats, and the append mutex
        // makes us the only writer.
        unsafe {
            std::ptr::copy_nonoverlapping(v.as_ptr(), base.cast::<f32>(), self.dim);
        }
        self.len.store(slot + 1, Ordering::Release);
        Ok(Slot(slot as u32))
    }
}

impl VectorSource for InMemoryVectors {
    #[inline(always)]
    fn dim(&self) -> usize {
        self.dim
    }

    #[inline(always)]
    fn len(&self) -> usize {
        self.len.load(Ordering::Acquire)
    }

    #[inline(always)]
    fn vector(&self, slot: Slot) -> &[f32] {
        let slot = slot.index();
        if slot >= self.len.load(Ordering::Acquire) {
            return &[];
        }
        let Some(base) = self.rows.get(slot) else {
            return &[];
        };
        // SAFETY: `slot < len` (acquired above) means the append that published it
        // allocated the bucket and wrote the slot's `dim` floats before its release
        // store of `len`, so the floats are initialised and aligned. Published slots are
        // never written again and buckets are freed only when `rows` drops (which needs
        // `&mut self`), so the shared slice stays valid and unaliased by writes for the
        // lifetime of `&self`.
        unsafe { std::slice::from_raw_parts(base.cast::<f32>(), self.dim) }
    }

    /// The vectors are in this process's memory.
    fn resident(&self) -> bool {
        true
    }
}

impl std::fmt::Debug for InMemoryVectors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InMemoryVectors")
            .field("dim", &self.dim)
            .field("len", &self.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_across_buckets_reads_back() {
        let s = InMemoryVectors::new(2).unwrap();
        for i in 0..5000u32 {
            assert_eq!(s.push(&[i as f32, -(i as f32)]).unwrap(), Slot(i));
        }
        for i in (0..5000u32).step_by(7) {
            assert_eq!(s.vector(Slot(i)), &[i as f32, -(i as f32)]);
        }
        assert!(s.vector(Slot(5000)).is_empty());
    }

    #[test]
    fn rejects_bad_dimensions() {
        assert!(InMemoryVectors::new(0).is_err());
        let s = InMemoryVectors::new(2).unwrap();
        assert!(matches!(
            s.push(&[1.0]),
            Err(IndexError::DimensionMismatch {
                expected: 2,
                got: 1
            })
        ));
    }

    #[test]
    fn concurrent_pushes_and_reads() {
        let s = InMemoryVectors::new(4).unwrap();
        std::thread::scope(|sc| {
            for t in 0..4 {
                let s = &s;
                sc.spawn(move || {
                    for i in 0..3000 {
                        let v = [t as f32, i as f32, 0.0, 1.0];
                        let slot = s.push(&v).unwrap();
                        assert_eq!(s.vector(slot), &v);
                    }
                });
            }
        });
        assert_eq!(s.len(), 12000);
    }
}
