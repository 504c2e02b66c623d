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
    #[inline]
    pub fn encode(&self, v: &[f32], out: &mut [i8]) {
        let inv = 1.0 / self.step;
        for (c, &x) in out.iter_mut().zip(v) {
            let y = ((x - self.offset) * inv).clamp(-127.0, 127.0);
            // Half away from zero, then a truncating conversion: `f32::round` is a libm
            // call on baseline x86_64 (no SSE4.1), and was 4 % of a profile of opening
            // minilm-mix-dev and searching it (with `Codes::write` another 6.5 %).
            *c = (y + 0.5f32.copysign(y)) as i8;
        }
    }
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
