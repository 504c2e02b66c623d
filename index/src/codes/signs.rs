//! Sign bits of the `i8` codes: one bit per component (48 bytes a row at 384-d, against
//! the code's 384), kept beside the codes ([`Codes::sign_row`]) so a filtered search can
//! rank many matches by the Hamming distance of their bits to the query's and score
//! only the closest by their codes (the sign pre-scan, `exact.rs`).
//!
//! The distance is counted with the CPU's `popcnt` where it has one (checked once at
//! run time): on minilm-mix-dev (100,000 × 384-d, `fletchdb-filter`, ef 64), calling
//! simsimd's binary Hamming kernel once per row ranked 41,493 matches at 1,396 queries a
//! second, the dispatch and the result passed through memory costing more than the
//! 48 bytes themselves.

use super::Codes;

/// Rows of sign bits prefetched ahead of the one being ranked.
const AHEAD: usize = 32;

/// Packs the sign of each code into `out` (`code.len() / 8` bytes, rounded up), bit
/// `i % 8` of byte `i / 8` set when `code[i]` is negative: the Hamming distance between
/// two such rows counts the components whose signs differ, which grows with the angle
/// between the vectors (for `L2`, between their offsets from the calibration's centre).
pub(crate) fn pack_signs(code: &[i8], out: &mut [u8]) {
    for (byte, chunk) in out.iter_mut().zip(code.chunks(8)) {
        *byte = chunk
            .iter()
            .enumerate()
            .fold(0u8, |b, (i, &c)| b | (u8::from(c < 0) << i));
    }
}

/// Pushes onto `dist` the Hamming distance between `query` (packed by [`pack_signs`])
/// and the sign bits of each of `slots`, in order, and counts each distance in
/// `counts`, whose last entry stands for a slot with no row (its distance).
pub(crate) fn rank(
    codes: &Codes,
    query: &[u8],
    slots: &[u32],
    dist: &mut Vec<u16>,
    counts: &mut [usize],
) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("popcnt") {
        // SAFETY: `rank_popcnt` only differs from `rank_with` in being compiled for
        // `popcnt`, which the CPU has (checked just above).
        return unsafe { rank_popcnt(codes, query, slots, dist, counts) };
    }
    rank_with(codes, query, slots, dist, counts)
}

/// [`rank_with`] compiled for `popcnt`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt")]
unsafe fn rank_popcnt(
    codes: &Codes,
    query: &[u8],
    slots: &[u32],
    dist: &mut Vec<u16>,
    counts: &mut [usize],
) {
    rank_with(codes, query, slots, dist, counts)
}

#[inline(always)]
fn rank_with(
    codes: &Codes,
    query: &[u8],
    slots: &[u32],
    dist: &mut Vec<u16>,
    counts: &mut [usize],
) {
    let Some(far) = counts.len().checked_sub(1) else {
        return;
    };
    for &s in slots.iter().take(AHEAD) {
        crate::prefetch::prefetch_slice(codes.sign_row(s));
    }
    for (i, &s) in slots.iter().enumerate() {
        if let Some(&ahead) = slots.get(i + AHEAD) {
            crate::prefetch::prefetch_slice(codes.sign_row(ahead));
        }
        let row = codes.sign_row(s);
        let d = if row.len() == query.len() {
            (hamming(query, row) as usize).min(far)
        } else {
            far
        };
        counts[d] += 1;
        dist.push(d as u16);
    }
}

/// The number of bits that differ between `a` and `b` (of equal length).
#[inline(always)]
fn hamming(a: &[u8], b: &[u8]) -> u32 {
    let word = |c: &[u8]| u64::from_le_bytes(c.try_into().unwrap_or_default());
    let (mut x, mut y) = (a.chunks_exact(8), b.chunks_exact(8));
    let mut d = 0;
    for (p, q) in (&mut x).zip(&mut y) {
        d += (word(p) ^ word(q)).count_ones();
    }
    for (p, q) in x.remainder().iter().zip(y.remainder()) {
        d += (p ^ q).count_ones();
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hamming_counts_differing_bits() {
        let a = [0xffu8; 13];
        let mut b = [0xffu8; 13];
        b[0] = 0xfe;
        b[9] = 0x0f;
        b[12] = 0x00;
        assert_eq!(hamming(&a, &b), 1 + 4 + 8);
        assert_eq!(hamming(&a, &a), 0);
    }

    #[test]
    fn signs_pack_negative_components() {
        let code = [-1i8, 0, 5, -7, 0, 0, 0, 0, -128];
        let mut out = [0u8; 2];
        pack_signs(&code, &mut out);
        assert_eq!(out, [0b0000_1001, 0b0000_0001]);
    }
}
