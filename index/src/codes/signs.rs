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
/// Words of a filter's bit vector ahead of the one being ranked whose rows are
/// prefetched (the matching rows only). On minilm-mix-dev (ef 64, two interleaved
/// rounds) this took 8,257-12,559 matches from 0.36-0.40 of the unfiltered speed to
/// 0.39-0.44.
const AHEAD_WORDS: usize = 2;

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
        // SAFETY: `rank_popcnt` only differs from the code below in being compiled for
        // `popcnt`, which the CPU has (checked just above).
        return unsafe { rank_popcnt(codes, query, slots, dist, counts) };
    }
    with_bits!(query, |b| rank_with(codes, &b, slots, dist, counts))
}

/// [`rank`] over the slots whose bits are set in `words` (bit `s % 64` of word `s / 64`
/// for slot `s`), pushing each slot onto `slots` beside its distance: the rows are read
/// in slot order, 64 slots' rows at a time from one place, with no list of slots
/// built first.
pub(crate) fn rank_words(
    codes: &Codes,
    query: &[u8],
    words: &[u64],
    slots: &mut Vec<u32>,
    dist: &mut Vec<u16>,
    counts: &mut [usize],
) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("popcnt") {
        // SAFETY: as in `rank`, for `rank_words_popcnt`.
        return unsafe { rank_words_popcnt(codes, query, words, slots, dist, counts) };
    }
    with_bits!(query, |b| rank_words_with(
        codes, &b, words, slots, dist, counts
    ))
}

/// [`rank`] compiled for `popcnt`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt")]
unsafe fn rank_popcnt(
    codes: &Codes,
    query: &[u8],
    slots: &[u32],
    dist: &mut Vec<u16>,
    counts: &mut [usize],
) {
    with_bits!(query, |b| rank_with(codes, &b, slots, dist, counts))
}

/// [`rank_words`] compiled for `popcnt`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt")]
unsafe fn rank_words_popcnt(
    codes: &Codes,
    query: &[u8],
    words: &[u64],
    slots: &mut Vec<u32>,
    dist: &mut Vec<u16>,
    counts: &mut [usize],
) {
    with_bits!(query, |b| rank_words_with(
        codes, &b, words, slots, dist, counts
    ))
}

#[inline(always)]
fn rank_with<B: Bits>(
    codes: &Codes,
    query: &B,
    slots: &[u32],
    dist: &mut Vec<u16>,
    counts: &mut [usize],
) {
    for &s in slots.iter().take(AHEAD) {
        crate::prefetch::prefetch_slice(codes.sign_row(s));
    }
    for (i, &s) in slots.iter().enumerate() {
        if let Some(&ahead) = slots.get(i + AHEAD) {
            crate::prefetch::prefetch_slice(codes.sign_row(ahead));
        }
        count(query, codes.sign_row(s), dist, counts);
    }
}

#[inline(always)]
fn rank_words_with<B: Bits>(
    codes: &Codes,
    query: &B,
    words: &[u64],
    slots: &mut Vec<u32>,
    dist: &mut Vec<u16>,
    counts: &mut [usize],
) {
    let width = query.width();
    for (w, &word) in words.iter().enumerate() {
        if word == 0 {
            continue;
        }
        let first = (w * 64) as u32;
        if let Some(&next) = words.get(w + AHEAD_WORDS) {
            let rows = codes.sign_rows(first + 64 * AHEAD_WORDS as u32, 64);
            let mut bits = next;
            while bits != 0 {
                let b = bits.trailing_zeros() as usize;
                bits &= bits - 1;
                if let Some(row) = rows.get(b * width..(b + 1) * width) {
                    crate::prefetch::prefetch_slice(row);
                }
            }
        }
        let rows = codes.sign_rows(first, 64);
        let mut bits = word;
        while bits != 0 {
            let b = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            let row = rows.get(b * width..(b + 1) * width).unwrap_or(&[]);
            count(query, row, dist, counts);
            slots.push(first + b as u32);
        }
    }
}

/// Pushes the distance from `query` to `row` onto `dist` and counts it; a row of
/// another length (none) counts as the last entry of `counts`.
#[inline(always)]
fn count<B: Bits>(query: &B, row: &[u8], dist: &mut Vec<u16>, counts: &mut [usize]) {
    let Some(far) = counts.len().checked_sub(1) else {
        return;
    };
    let d = if row.len() == query.width() {
        (query.hamming(row) as usize).min(far)
    } else {
        far
    };
    counts[d] += 1;
    dist.push(d as u16);
}

/// A query's sign bits, as rows are compared with them.
trait Bits {
    /// Bytes a row.
    fn width(&self) -> usize;
    /// The number of bits in which `row` (`width` bytes) differs from the query.
    fn hamming(&self, row: &[u8]) -> u32;
}

/// A query of `W` whole words, kept in registers across the rows rather than read
/// again for each, and a row counted in `W` unrolled steps: on minilm-mix-dev (384-d,
/// six words, ef 64, two interleaved rounds) this took the sign pre-scan of
/// 8,257-12,559 matches from 0.37-0.40 of the unfiltered speed to 0.43-0.45, and of
/// 15,118 from 0.30 to 0.32.
struct Words<const W: usize>([u64; W]);

impl<const W: usize> Bits for Words<W> {
    #[inline(always)]
    fn width(&self) -> usize {
        W * 8
    }

    #[inline(always)]
    fn hamming(&self, row: &[u8]) -> u32 {
        let Some(row) = row.get(..W * 8) else {
            return 0;
        };
        let mut d = 0;
        for (q, c) in self.0.iter().zip(row.chunks_exact(8)) {
            d += (q ^ u64::from_le_bytes(c.try_into().unwrap_or_default())).count_ones();
        }
        d
    }
}

/// A query of any width.
struct Bytes<'a>(&'a [u8]);

impl Bits for Bytes<'_> {
    #[inline(always)]
    fn width(&self) -> usize {
        self.0.len()
    }

    #[inline(always)]
    fn hamming(&self, row: &[u8]) -> u32 {
        hamming(self.0, row)
    }
}

/// Evaluates `$body` with `$b` bound to `$query`'s bits as [`Bits`]: [`Words`] for
/// the common widths (128, 384, 768, 1,024 and 1,536 components), else [`Bytes`].
macro_rules! with_bits {
    ($query:expr, |$b:ident| $body:expr) => {{
        let q: &[u8] = $query;
        let word = |i: usize| {
            q.get(i * 8..i * 8 + 8)
                .and_then(|c| c.try_into().ok())
                .map_or(0, u64::from_le_bytes)
        };
        match q.len() {
            16 => {
                let $b = Words::<2>(std::array::from_fn(word));
                $body
            }
            48 => {
                let $b = Words::<6>(std::array::from_fn(word));
                $body
            }
            96 => {
                let $b = Words::<12>(std::array::from_fn(word));
                $body
            }
            128 => {
                let $b = Words::<16>(std::array::from_fn(word));
                $body
            }
            192 => {
                let $b = Words::<24>(std::array::from_fn(word));
                $body
            }
            _ => {
                let $b = Bytes(q);
                $body
            }
        }
    }};
}
use with_bits;

/// How far past the sign distances of a scan's results the scan keeps scoring rows
/// (`Hnsw::sign_scan`): a quarter of the square root of the bits, the scale on which
/// the distance between independent rows varies (2 bits at 64-d, 5 at 384-d).
///
/// Measured on 12,000 clustered 64-d vectors where the query's own cluster had no
/// matches (`core/tests/db/payload.rs`, 2,400 matches, ef 16), recall@10 was 0.762
/// with no second look, 0.982 with 1 bit, 0.996 with 2 and 1.000 with 4; on
/// minilm-mix-dev (384-d, 8,257-15,118 matches, ef 64) 0.988-0.999 with none,
/// 0.996-1.000 with 4 and 1.000 with 8 or 16, each step slower.
pub(crate) fn margin(bits: usize) -> usize {
    ((bits as f64).sqrt() / 4.0).ceil() as usize
}

/// The Hamming distance between `query` and `slot`'s sign bits; one more than any
/// row's (`query` has 8 bits a byte) for a slot with no row.
pub(crate) fn distance(codes: &Codes, query: &[u8], slot: u32) -> usize {
    let row = codes.sign_row(slot);
    if row.len() == query.len() {
        hamming(query, row) as usize
    } else {
        query.len() * 8 + 1
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
    fn whole_words_count_as_bytes_do() {
        // Every specialised width and two others, rows of pseudo-random bits.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut byte = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        };
        for width in [1, 8, 16, 40, 48, 96, 128, 192] {
            let query: Vec<u8> = (0..width).map(|_| byte()).collect();
            let row: Vec<u8> = (0..width).map(|_| byte()).collect();
            let got = with_bits!(&query, |b| (b.width(), b.hamming(&row)));
            assert_eq!(got, (width, hamming(&query, &row)), "width {width}");
        }
    }

    #[test]
    fn signs_pack_negative_components() {
        let code = [-1i8, 0, 5, -7, 0, 0, 0, 0, -128];
        let mut out = [0u8; 2];
        pack_signs(&code, &mut out);
        assert_eq!(out, [0b0000_1001, 0b0000_0001]);
    }
}
