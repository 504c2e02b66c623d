//! [`Calibration`]: the scale that maps `f32` components to `i8` codes.
//!
//! One scale for every component, so the kernels compare codes directly: `(x - offset)
//! / step`, rounded and clamped to ±127. For L2 the offset centres the range (a
//! difference of codes is a difference of values over `step`, whatever the offset); for
//! inner product and cosine the offset is 0, so a dot product of codes is the dot
//! product of values over `step²` and the `i8` cosine kernel sees the same angles.
//! The range is a quantile of the components of the first vectors indexed (the 1 in
//! 2,000 largest magnitudes clamp): a maximum would spend the 255 levels on outliers.

use crate::distance::Metric;

/// Share of components (at each end) allowed to clamp.
const CLAMPED: f64 = 0.0005;

/// The affine map from `f32` components to `i8` codes: `code = round((x - offset) /
/// step)`, clamped to ±127.
///
/// ```
/// use fletchdb_index::{Calibration, Metric};
/// let rows = [[0.5f32, -0.25], [1.0, -1.0]];
/// let cal = Calibration::fit(Metric::Cosine, rows.iter().map(|r| r.as_slice()));
/// assert_eq!(cal.offset, 0.0);
/// let mut code = [0i8; 2];
/// cal.encode(&[1.0, -1.0], &mut code);
/// assert_eq!(code, [127, -127]);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Calibration {
    /// The value coded as 0.
    pub offset: f32,
    /// The value one code step stands for (positive).
    pub step: f32,
}

impl Calibration {
    /// Components in [-1, 1]: the fallback when nothing has been seen.
    pub const UNIT: Calibration = Calibration {
        offset: 0.0,
        step: 1.0 / 127.0,
    };

    /// Fits the scale to `rows` for `metric` (see the module comment);
    /// [`UNIT`](Self::UNIT) when they hold no finite component.
    pub fn fit<'a>(metric: Metric, rows: impl Iterator<Item = &'a [f32]>) -> Calibration {
        let mut values: Vec<f32> = rows.flatten().copied().filter(|x| x.is_finite()).collect();
        if values.is_empty() {
            return Calibration::UNIT;
        }
        let n = values.len();
        let clamp = ((n as f64 * CLAMPED) as usize).min(n - 1);
        let cal = match metric {
            Metric::L2 => {
                let lo = *values.select_nth_unstable_by(clamp, f32::total_cmp).1;
                let hi = *values
                    .select_nth_unstable_by(n - 1 - clamp, f32::total_cmp)
                    .1;
                Calibration {
                    offset: (lo + hi) / 2.0,
                    step: (hi - lo) / 254.0,
                }
            }
            Metric::InnerProduct | Metric::Cosine => {
                values.iter_mut().for_each(|x| *x = x.abs());
                let hi = *values
                    .select_nth_unstable_by(n - 1 - clamp, f32::total_cmp)
                    .1;
                Calibration {
                    offset: 0.0,
                    step: hi / 127.0,
                }
            }
        };
        if cal.step.is_finite() && cal.step > 0.0 && cal.offset.is_finite() {
            cal
        } else {
            // Every component alike (one value): any positive step codes it exactly.
            Calibration {
                offset: cal.offset,
                step: 1.0,
            }
        }
    }

    /// Encodes `v` into `out` (the same length).
    ///
    /// Sixteen components a step where the CPU has AVX-512 (checked once), each to the
    /// same code as one at a time. The background encoding of a reopened database's
    /// codes (`Hnsw::quantize_deferred`) runs this over every vector: at 1,000,000 ×
    /// 128-d its codes were in 0.31-0.33 s after a warm open a component at a time and
    /// 0.17-0.19 s this way, with the sign bits packed by AVX-512 too (`db_bench open`,
    /// four interleaved opens each).
    #[inline]
    pub fn encode(&self, v: &[f32], out: &mut [i8]) {
        let inv = 1.0 / self.step;
        let n = v.len().min(out.len());
        #[cfg(target_arch = "x86_64")]
        if has_avx512() {
            // SAFETY: the CPU has AVX-512F (checked just above).
            let done = unsafe { encode_avx512(self.offset, inv, &v[..n], &mut out[..n]) };
            return encode_scalar(self.offset, inv, &v[done..n], &mut out[done..n]);
        }
        encode_scalar(self.offset, inv, &v[..n], &mut out[..n]);
    }
}

/// [`Calibration::encode`] a component at a time.
#[inline(always)]
fn encode_scalar(offset: f32, inv: f32, v: &[f32], out: &mut [i8]) {
    for (c, &x) in out.iter_mut().zip(v) {
        let y = ((x - offset) * inv).clamp(-127.0, 127.0);
        // Half away from zero, then a truncating conversion: `f32::round` is a libm
        // call on baseline x86_64 (no SSE4.1), and was 4 % of a profile of opening
        // minilm-mix-dev and searching it (with `Codes::write` another 6.5 %).
        *c = (y + 0.5f32.copysign(y)) as i8;
    }
}

/// True where [`encode_avx512`] can run (checked once).
#[cfg(target_arch = "x86_64")]
fn has_avx512() -> bool {
    static HAS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *HAS.get_or_init(|| std::arch::is_x86_feature_detected!("avx512f"))
}

/// Encodes the first whole runs of sixteen of `v` into `out` (the same length) exactly
/// as [`encode_scalar`] does, and returns how many it encoded: the same subtraction,
/// multiplication and clamp in `f32`, a NaN to 0 (as `as i8` makes it), half away
/// from zero added and the sum truncated.
///
/// # Safety
/// The CPU has AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn encode_avx512(offset: f32, inv: f32, v: &[f32], out: &mut [i8]) -> usize {
    use std::arch::x86_64::*;
    let whole = v.len().min(out.len()) / 16 * 16;
    let off = _mm512_set1_ps(offset);
    let scale = _mm512_set1_ps(inv);
    let lo = _mm512_set1_ps(-127.0);
    let hi = _mm512_set1_ps(127.0);
    let half = _mm512_set1_ps(0.5);
    let sign = _mm512_set1_epi32(i32::MIN);
    for i in (0..whole).step_by(16) {
        // SAFETY: `i + 16 <= whole <= len` of both slices; unaligned loads and stores.
        unsafe {
            let x = _mm512_loadu_ps(v.as_ptr().add(i));
            let y = _mm512_mul_ps(_mm512_sub_ps(x, off), scale);
            // `f32::clamp` keeps a NaN, which `as i8` then makes 0; `max`/`min` would
            // not keep it, so its lanes are zeroed at the end.
            let number = _mm512_cmp_ps_mask::<_CMP_ORD_Q>(y, y);
            let y = _mm512_min_ps(_mm512_max_ps(y, lo), hi);
            let away = _mm512_castsi512_ps(_mm512_or_si512(
                _mm512_and_si512(_mm512_castps_si512(y), sign),
                _mm512_castps_si512(half),
            ));
            let codes = _mm512_maskz_cvttps_epi32(number, _mm512_add_ps(y, away));
            _mm_storeu_si128(out.as_mut_ptr().add(i).cast(), _mm512_cvtsepi32_epi8(codes));
        }
    }
    whole
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn l2_centres_the_range_and_clamps_outliers() {
        let rows: Vec<Vec<f32>> = (0..100)
            .map(|i| {
                (0..20)
                    .map(|j| 10.0 + ((i * 20 + j) % 200) as f32 / 10.0)
                    .collect()
            })
            .collect();
        let mut rows = rows;
        rows[0][0] = 1e6; // one outlier in 2,000 components
        let cal = Calibration::fit(Metric::L2, rows.iter().map(Vec::as_slice));
        assert!((cal.offset - 19.95).abs() < 0.2, "{cal:?}");
        assert!((cal.step - 19.9 / 254.0).abs() < 0.01, "{cal:?}");
        let mut code = [0i8; 3];
        cal.encode(&[10.0, 29.9, 1e6], &mut code);
        assert_eq!(code, [-127, 127, 127]);
    }

    /// The AVX-512 encoder (where this CPU has it) agrees with the scalar one on every
    /// length and on the values where rounding and clamping turn.
    #[test]
    fn sixteen_at_a_time_codes_as_one_at_a_time() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let cal = Calibration {
            offset: 0.25,
            step: 0.01,
        };
        let inv = 1.0 / cal.step;
        // Halfway points, the clamp's edges, beyond them, zeros of both signs, NaN.
        let special = [
            0.25,
            0.255,
            0.245,
            1.52,
            1.525,
            -1.02,
            -1.025,
            -1.0251,
            1.5249,
            1e9,
            -1e9,
            0.0,
            -0.0,
            f32::NAN,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::MIN_POSITIVE,
        ];
        for len in 0..80 {
            let v: Vec<f32> = (0..len)
                .map(|_| {
                    if next() % 3 == 0 {
                        special[(next() % special.len() as u64) as usize]
                    } else {
                        ((next() % 40_000) as f32 - 20_000.0) / 7_919.0
                    }
                })
                .collect();
            let mut fast = vec![0i8; len];
            let mut slow = vec![0i8; len];
            cal.encode(&v, &mut fast);
            encode_scalar(cal.offset, inv, &v, &mut slow);
            assert_eq!(fast, slow, "{v:?}");
        }
    }

    #[test]
    fn degenerate_input_gets_a_usable_scale() {
        assert_eq!(
            Calibration::fit(Metric::L2, std::iter::empty()),
            Calibration::UNIT
        );
        let same = [[3.0f32; 4]; 4];
        let cal = Calibration::fit(Metric::L2, same.iter().map(|r| r.as_slice()));
        assert!(cal.step > 0.0);
        let zero = [[0.0f32; 4]; 4];
        let cal = Calibration::fit(Metric::InnerProduct, zero.iter().map(|r| r.as_slice()));
        assert!(cal.step > 0.0 && cal.step.is_finite());
    }
}
