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
/// Minus the dot product of `i8` codes: inner product (the same order as `1 - dot`),
/// and cosine, whose vectors are unit length before they are coded.
///
/// For cosine, simsimd's `i8` cosine kernel (which also sums both squared norms, and
/// so does three times the multiply-adds) gave the same recall on minilm-mix-dev
/// (100,000 × 384-d, ef 24 / 64: 0.9557 / 0.9878 against 0.9552 / 0.9875 with the
/// dot product) and built slower (18.4 and 20.9 s against 15.3 and 18.7 s, 2 threads,
/// interleaved).
pub(crate) struct DotI8;
/// Squared distance between `f16` codes.
pub(crate) struct L2F16;
/// `1 - dot` of `f16` codes (inner product, and cosine on unit vectors).
pub(crate) struct DotF16;

/// The parts every coded kernel shares: its element, exact kernel, rows and query.
macro_rules! coded {
    ($kernel:ty, $elem:ty, $exact:ty, $row:ident, $field:ident, |$d:ident| $map:expr, $f:ident, $ahead:expr) => {
        impl Kernel for $kernel {
            type Elem = $elem;
            type Exact = $exact;
            const CODED: bool = true;
            const AHEAD: usize = $ahead;

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

// Rows prefetched ahead: as many bytes in flight as the f32 walk's four vectors ahead
// (`search.rs`), so 16 i8 rows and 8 f16 rows. On minilm-mix-dev (i8, ef 24, one
// thread, the same graph, binaries interleaved three times on a noisy machine) 4 ahead
// gave 12,975-15,003 QPS and 8 ahead 15,013-18,934 in the first round; later rounds of
// 4, 8, 16 and 32 ahead overlapped (10,000-21,000 each): no setting was worse than 4.
coded!(L2I8, i8, L2Kernel, i8_row, i8, |d| d as f32, l2sq, 16);
coded!(DotI8, i8, DotKernel, i8_row, i8, |d| -(d as f32), dot, 16);
coded!(L2F16, f16, L2Kernel, f16_row, f16, |d| d as f32, l2sq, 8);
coded!(
    DotF16,
    f16,
    DotKernel,
    f16_row,
    f16,
    |d| 1.0 - d as f32,
    dot,
    8
);
