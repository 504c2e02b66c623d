//! Level assignment: geometric levels with mult = 1/ln(M), drawn from a seeded hash.
//!
//! The level of a slot is a pure function of the index seed and the slot, so a build is
//! reproducible whatever order threads insert in, and no RNG state is shared between
//! inserting threads.

use crate::nodes::MAX_LEVEL;

/// splitmix64's finaliser: a bijective mix of 64 bits.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The level of `slot`: `floor(-ln(u) * mult)` for `u` uniform in (0, 1], capped.
pub(crate) fn level_for(seed: u64, slot: u32, mult: f64) -> usize {
    let bits = mix(seed ^ mix(slot as u64)) >> 11;
    let u = (bits as f64 + 1.0) / (1u64 << 53) as f64;
    let level = (-u.ln() * mult).floor();
    if level.is_finite() && level >= 0.0 {
        (level as usize).min(MAX_LEVEL)
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_are_geometric_with_ratio_one_over_m() {
        let m = 16.0f64;
        let mult = 1.0 / m.ln();
        let n = 200_000u32;
        let mut at_least_one = 0;
        let mut at_least_two = 0;
        for s in 0..n {
            let l = level_for(7, s, mult);
            at_least_one += (l >= 1) as u32;
            at_least_two += (l >= 2) as u32;
        }
        let p1 = at_least_one as f64 / n as f64;
        let p2 = at_least_two as f64 / n as f64;
        assert!((p1 - 1.0 / 16.0).abs() < 0.005, "P(level>=1) = {p1}");
        assert!((p2 - 1.0 / 256.0).abs() < 0.001, "P(level>=2) = {p2}");
    }

    #[test]
    fn seed_changes_levels_and_is_reproducible() {
        let mult = 1.0 / 16f64.ln();
        let a: Vec<usize> = (0..1000).map(|s| level_for(1, s, mult)).collect();
        let b: Vec<usize> = (0..1000).map(|s| level_for(1, s, mult)).collect();
        let c: Vec<usize> = (0..1000).map(|s| level_for(2, s, mult)).collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
    }
}
