//! Distance metrics: SIMD kernels from simsimd, and a scalar reference that checks them.
//!
//! Every metric is a distance (smaller is closer):
//! - [`Metric::L2`]: squared Euclidean distance.
//! - [`Metric::InnerProduct`]: `1 - dot(a, b)`.
//! - [`Metric::Cosine`]: vectors are normalised when they enter the index, after which
//!   cosine distance is `1 - dot(a, b)`, so search runs the inner-product kernel.
//!
//! The search loop is generic over a [`Kernel`] so the metric is chosen once per query,
//! not once per distance; simsimd picks the widest instruction set (AVX-512, AVX2, NEON,
//! SVE, or serial) at run time.

use simsimd::SpatialSimilarity;

use crate::codes::CodedQuery;
use crate::error::IndexError;
use crate::hnsw::Hnsw;
use crate::types::Slot;
use crate::vectors::VectorSource;

/// Evaluates `$body` with the type `$k` naming the [`Kernel`] of `$metric`: the one place
/// a run-time [`Metric`] becomes the type parameter the loops are monomorphised over.
///
/// ```text
/// with_kernel!(self.config.metric, K => self.insert_with::<K>(slot))
/// ```
macro_rules! with_kernel {
    ($metric:expr, $k:ident => $body:expr) => {
        match $metric {
            $crate::distance::Metric::L2 => {
                type $k = $crate::distance::L2Kernel;
                $body
            }
            $crate::distance::Metric::InnerProduct | $crate::distance::Metric::Cosine => {
                type $k = $crate::distance::DotKernel;
                $body
            }
        }
    };
}
pub(crate) use with_kernel;

/// [`with_kernel!`] for a graph walk: the kernel over the compact codes `$codes`
/// (`Option<&Codes>`, read once by the caller) when there are some, else over the
/// `f32` vectors.
///
/// ```text
/// with_walk_kernel!(self.config.metric, codes, K => self.run::<K, F>(scratch, &request, out))
/// ```
macro_rules! with_walk_kernel {
    ($metric:expr, $codes:expr, $k:ident => $body:expr) => {{
        use $crate::codes::Quantization as Q;
        use $crate::distance::Metric as M;
        match ($metric, $codes.map(|c: &$crate::codes::Codes| c.kind())) {
            (M::L2, Some(Q::I8)) => {
                type $k = $crate::codes::L2I8;
                $body
            }
            (M::InnerProduct | M::Cosine, Some(Q::I8)) => {
                type $k = $crate::codes::DotI8;
                $body
            }
            (M::L2, Some(Q::F16)) => {
                type $k = $crate::codes::L2F16;
                $body
            }
            (M::InnerProduct | M::Cosine, Some(Q::F16)) => {
                type $k = $crate::codes::DotF16;
                $body
            }
            (metric, _) => $crate::distance::with_kernel!(metric, $k => $body),
        }
    }};
}
pub(crate) use with_walk_kernel;

/// How the distance between two vectors is measured.
///
/// ```
/// use fletchdb_index::Metric;
/// assert_eq!(Metric::L2.distance(&[0.0, 0.0], &[3.0, 4.0]), 25.0);
/// assert_eq!(Metric::InnerProduct.distance(&[1.0, 0.0], &[1.0, 0.0]), 0.0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Metric {
    /// Squared Euclidean distance.
    L2,
    /// `1 - dot(a, b)`: for vectors whose norm carries meaning (MIPS-style scores).
    InnerProduct,
    /// Cosine distance `1 - cos(a, b)`; vectors are normalised on the way in.
    Cosine,
}

impl Metric {
    /// The metric's name: `"l2"`, `"ip"` or `"cosine"`, as [`Metric::parse`] reads it.
    pub fn name(self) -> &'static str {
        match self {
            Metric::L2 => "l2",
            Metric::InnerProduct => "ip",
            Metric::Cosine => "cosine",
        }
    }

    /// The metric named `name`: `"l2"` (or `"euclidean"`), `"ip"` (or
    /// `"inner_product"`, `"dot"`) or `"cosine"`, in any case; `None` for anything else.
    /// The one parser every front end (Python, the runners, the examples) uses.
    ///
    /// ```
    /// use fletchdb_index::Metric;
    /// assert_eq!(Metric::parse("Inner_Product"), Some(Metric::InnerProduct));
    /// for m in [Metric::L2, Metric::InnerProduct, Metric::Cosine] {
    ///     assert_eq!(Metric::parse(m.name()), Some(m));
    /// }
    /// assert_eq!(Metric::parse("manhattan"), None);
    /// ```
    pub fn parse(name: &str) -> Option<Metric> {
        match name.to_ascii_lowercase().as_str() {
            "l2" | "euclidean" => Some(Metric::L2),
            "ip" | "inner_product" | "dot" => Some(Metric::InnerProduct),
            "cosine" => Some(Metric::Cosine),
            _ => None,
        }
    }

    /// The distance between `a` and `b` with the SIMD kernel.
    ///
    /// For [`Metric::Cosine`] both vectors must already be normalised (see
    /// [`Metric::prepare`]), as they are inside the index. Slices of different lengths
    /// are infinitely far apart.
    #[inline]
    pub fn distance(self, a: &[f32], b: &[f32]) -> f32 {
        with_kernel!(self, K => K::distance(a, b))
    }

    /// Brings a vector into the form the index stores: unit length for cosine,
    /// unchanged otherwise.
    ///
    /// # Errors
    /// [`IndexError::InvalidVector`] when a cosine vector has zero (or non-finite) norm.
    pub fn prepare(self, v: &mut [f32]) -> Result<(), IndexError> {
        if self == Metric::Cosine {
            let norm = scalar::dot(v, v).sqrt();
            if !norm.is_finite() || norm == 0.0 {
                return Err(IndexError::InvalidVector {
                    reason: "a cosine vector must have a non-zero norm",
                });
            }
            let inv = 1.0 / norm;
            v.iter_mut().for_each(|x| *x *= inv);
        }
        Ok(())
    }

    /// The same distance as [`Metric::distance`], computed one element at a time.
    pub fn distance_scalar(self, a: &[f32], b: &[f32]) -> f32 {
        if a.len() != b.len() {
            return f32::INFINITY;
        }
        match self {
            Metric::L2 => scalar::l2sq(a, b),
            Metric::InnerProduct | Metric::Cosine => 1.0 - scalar::dot(a, b),
        }
    }

    /// Stable one-byte code used in persisted files.
    pub fn code(self) -> u8 {
        match self {
            Metric::L2 => 0,
            Metric::InnerProduct => 1,
            Metric::Cosine => 2,
        }
    }

    /// The metric for a code written by [`Metric::code`], if it is one.
    pub fn from_code(code: u8) -> Option<Metric> {
        match code {
            0 => Some(Metric::L2),
            1 => Some(Metric::InnerProduct),
            2 => Some(Metric::Cosine),
            _ => None,
        }
    }
}

/// Checks that `v` can enter an index of dimension `dim`: right length, finite values.
///
/// # Errors
/// [`IndexError::DimensionMismatch`] or [`IndexError::InvalidVector`].
pub fn validate(v: &[f32], dim: usize) -> Result<(), IndexError> {
    if v.len() != dim {
        return Err(IndexError::DimensionMismatch {
            expected: dim,
            got: v.len(),
        });
    }
    if !v.iter().all(|x| x.is_finite()) {
        return Err(IndexError::InvalidVector {
            reason: "vector contains NaN or infinity",
        });
    }
    Ok(())
}

/// A distance function the search loop is monomorphised over, with the rows it scores:
/// the `f32` vectors ([`L2Kernel`], [`DotKernel`]) or the compact codes (`codes/`).
pub(crate) trait Kernel {
    /// What a row holds.
    type Elem: Copy;
    /// The `f32` kernel of the same metric, which re-scores a coded walk's candidates
    /// and runs exact scans.
    type Exact: Kernel<Elem = f32>;
    /// True when the rows are compact codes, whose distances are approximate.
    const CODED: bool;
    /// How many rows ahead of the one being scored to prefetch (f32 vectors: 4, measured
    /// in `search.rs`).
    const AHEAD: usize = 4;

    fn distance(a: &[Self::Elem], b: &[Self::Elem]) -> f32;

    /// `slot`'s row in `index` (empty, so infinitely far, if it has none).
    fn row<V: VectorSource>(index: &Hnsw<V>, slot: u32) -> &[Self::Elem];

    /// The query in this kernel's rows: `query` itself, or its code in `coded`.
    fn query<'q>(query: &'q [f32], coded: &'q CodedQuery) -> &'q [Self::Elem];
}

/// Squared Euclidean distance through simsimd.
pub(crate) struct L2Kernel;
/// `1 - dot` through simsimd.
pub(crate) struct DotKernel;

/// The parts the two `f32` kernels share: rows are the vectors, the query is itself.
macro_rules! exact_kernel {
    ($kernel:ty, |$a:ident, $b:ident| $distance:expr) => {
        impl Kernel for $kernel {
            type Elem = f32;
            type Exact = $kernel;
            const CODED: bool = false;

            #[inline(always)]
            fn distance($a: &[f32], $b: &[f32]) -> f32 {
                $distance
            }

            #[inline(always)]
            fn row<V: VectorSource>(index: &Hnsw<V>, slot: u32) -> &[f32] {
                index.vectors.vector(Slot(slot))
            }

            #[inline(always)]
            fn query<'q>(query: &'q [f32], _: &'q CodedQuery) -> &'q [f32] {
                query
            }
        }
    };
}

exact_kernel!(L2Kernel, |a, b| match f32::l2sq(a, b) {
    Some(d) => d as f32,
    None => f32::INFINITY,
});
exact_kernel!(DotKernel, |a, b| match f32::dot(a, b) {
    Some(d) => 1.0 - d as f32,
    None => f32::INFINITY,
});

/// Plain one-element-at-a-time kernels: the reference the SIMD results are checked against.
pub mod scalar {
    /// Squared Euclidean distance.
    pub fn l2sq(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
    }

    /// Dot product.
    pub fn dot(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lcg_vec(seed: u64, n: usize) -> Vec<f32> {
        let mut s = seed;
        (0..n)
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 40) as f32 / (1u64 << 24) as f32) - 0.5
            })
            .collect()
    }

    #[test]
    fn simd_matches_scalar_for_every_metric_and_length() {
        for dim in [1, 3, 7, 16, 31, 64, 100, 128, 384, 768, 1536] {
            let mut a = lcg_vec(dim as u64, dim);
            let mut b = lcg_vec(dim as u64 + 1000, dim);
            for metric in [Metric::L2, Metric::InnerProduct, Metric::Cosine] {
                if metric == Metric::Cosine {
                    metric.prepare(&mut a).unwrap();
                    metric.prepare(&mut b).unwrap();
                }
                let fast = metric.distance(&a, &b);
                let slow = metric.distance_scalar(&a, &b);
                let tol = 1e-4 * (1.0 + slow.abs()) * (dim as f32).sqrt();
                assert!(
                    (fast - slow).abs() <= tol,
                    "{metric:?} dim {dim}: simd {fast} scalar {slow}"
                );
            }
        }
    }

    #[test]
    fn different_lengths_are_infinitely_far() {
        assert_eq!(Metric::L2.distance(&[1.0], &[1.0, 2.0]), f32::INFINITY);
        assert_eq!(
            Metric::Cosine.distance_scalar(&[1.0], &[1.0, 2.0]),
            f32::INFINITY
        );
    }

    #[test]
    fn prepare_normalises_cosine_and_rejects_zero() {
        let mut v = vec![3.0, 4.0];
        Metric::Cosine.prepare(&mut v).unwrap();
        assert!((v[0] - 0.6).abs() < 1e-6 && (v[1] - 0.8).abs() < 1e-6);
        let mut z = vec![0.0, 0.0];
        assert!(matches!(
            Metric::Cosine.prepare(&mut z),
            Err(IndexError::InvalidVector { .. })
        ));
        let mut l2 = vec![3.0, 4.0];
        Metric::L2.prepare(&mut l2).unwrap();
        assert_eq!(l2, vec![3.0, 4.0]);
    }

    #[test]
    fn validate_rejects_wrong_dim_and_non_finite() {
        assert!(validate(&[1.0, 2.0], 2).is_ok());
        assert!(matches!(
            validate(&[1.0], 2),
            Err(IndexError::DimensionMismatch {
                expected: 2,
                got: 1
            })
        ));
        assert!(matches!(
            validate(&[1.0, f32::NAN], 2),
            Err(IndexError::InvalidVector { .. })
        ));
        assert!(validate(&[f32::INFINITY, 0.0], 2).is_err());
    }

    #[test]
    fn metric_codes_round_trip() {
        for m in [Metric::L2, Metric::InnerProduct, Metric::Cosine] {
            assert_eq!(Metric::from_code(m.code()), Some(m));
        }
        assert_eq!(Metric::from_code(9), None);
    }
}
