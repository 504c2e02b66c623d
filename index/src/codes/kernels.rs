//! The kernels that score compact codes ([`Kernel`] with `CODED`), through simsimd's
//! `i8` and `f16` routines. Their distances order candidates like the exact ones but
//! are not in the same units for `i8` (the codes' squared distance, or minus their dot
//! product): a coded walk compares them only with each other, and re-scores its
//! results with [`Kernel::Exact`].

use simsimd::{f16, SpatialSimilarity};

use crate::codes::CodedQuery;
use crate::distance::{DotKernel, Kernel, L2Kernel};
use crate::hnsw::Hnsw;
use crate::vectors::VectorSource;

/// Squared distance between `i8` codes (L2).
pub(crate) struct L2I8;
/// Cosine distance between `i8` codes (the kernel normalises; the scale drops out).
pub(crate) struct CosI8;
/// Minus the dot product of `i8` codes (inner product: the same order as `1 - dot`).
pub(crate) struct DotI8;
/// Squared distance between `f16` codes.
pub(crate) struct L2F16;
/// `1 - dot` of `f16` codes (inner product, and cosine on unit vectors).
pub(crate) struct DotF16;

/// The parts every coded kernel shares: its element, exact kernel, rows and query.
macro_rules! coded {
    ($kernel:ty, $elem:ty, $exact:ty, $row:ident, $field:ident, |$d:ident| $map:expr, $f:ident) => {
        impl Kernel for $kernel {
            type Elem = $elem;
            type Exact = $exact;
            const CODED: bool = true;

            #[inline(always)]
            fn distance(a: &[$elem], b: &[$elem]) -> f32 {
                match <$elem>::$f(a, b) {
                    Some($d) => $map,
                    None => f32::INFINITY,
                }
            }

            #[inline(always)]
            fn row<V: VectorSource>(index: &Hnsw<V>, slot: u32) -> &[$elem] {
                index.codes.get().map_or(&[], |c| c.$row(slot))
            }

            #[inline(always)]
            fn query<'q>(_: &'q [f32], coded: &'q CodedQuery) -> &'q [$elem] {
                &coded.$field
            }
        }
    };
}

coded!(L2I8, i8, L2Kernel, i8_row, i8, |d| d as f32, l2sq);
coded!(CosI8, i8, DotKernel, i8_row, i8, |d| d as f32, cos);
coded!(DotI8, i8, DotKernel, i8_row, i8, |d| -(d as f32), dot);
coded!(L2F16, f16, L2Kernel, f16_row, f16, |d| d as f32, l2sq);
coded!(
    DotF16,
    f16,
    DotKernel,
    f16_row,
    f16,
    |d| 1.0 - d as f32,
    dot
);
