//! Sign bits of the `i8` codes: one bit per component (48 bytes a row at 384-d, padded to
//! 64 by `stride`, against the code's 384), kept beside the codes ([`Codes::sign_row`]) so a filtered search can
//! rank many matches by them and score only the closest by their codes (the sign
//! pre-scan, `exact.rs`).
//!
//! A row is ranked against the query's own components, not the query's signs: the
//! key is the sum of the query's components where the row's are negative, which falls
//! as the product of the query with the row's signs grows (RaBitQ's asymmetric
//! estimate, Gao and Long, SIGMOD 2024, without its rotation). The components are
//! scaled to four bits (-8..=7) and kept as four bit planes, so a row costs four
//! `and`s and `popcnt`s a word. On minilm-mix-dev (100,000 × 384-d, 200 queries,
//! 8,486-41,493 matches; numpy, the true top 10 by cosine), the 90th percentile of
//! how far down the ranking the last of a query's top 10 lay was 730-1,080 rows by the
//! Hamming distance between the row's and the query's signs, 143-225 with four-bit
//! components, 188-287 with three and 2,073-3,549 with two (129-212 unscaled).
//!
//! Where the CPU has AVX-512 with `vpopcntq` a row is counted in one register
//! (checked once, at run time); else a word at a time, with `popcnt` where there is one.

use super::Codes;

/// Rows of sign bits prefetched ahead of the one being ranked.
const AHEAD: usize = 32;
/// Words of a filter's bit vector ahead of the one being ranked whose rows are
/// prefetched (the matching rows only). On minilm-mix-dev (ef 64, two interleaved
/// rounds) this took 8,257-12,559 matches from 0.36-0.40 of the unfiltered speed to
/// 0.39-0.44.
const AHEAD_WORDS: usize = 2;
/// Bit planes of the query's scaled components (two's complement, -8..=7).
const PLANES: usize = 4;
/// The largest magnitude of a scaled component.
const SCALE: f32 = 7.0;
/// Bytes of each plane, a multiple of one AVX-512 register.
const LANE: usize = 64;
/// Keys that fit a `u16` (the scan keeps one a row): a wider key is shifted right.
const KEYS: usize = u16::MAX as usize;

/// Bytes a row of `bytes` bytes of sign bits takes: up to a cache line, the next power
/// of two, so that no row straddles two lines (48 to 64 at 384-d); past it, whole lines.
/// On minilm-mix-dev (ef 64, two interleaved rounds) padding 48 to 64 took the sign
/// pre-scan of 8,257-12,559 matches from 0.47-0.57 of the unfiltered speed to
/// 0.56-0.66 and of 15,118 from 0.37-0.39 to 0.40-0.41, for 16 bytes a vector.
pub(crate) fn stride(bytes: usize) -> usize {
    if bytes <= 64 {
        bytes.next_power_of_two()
    } else {
        bytes.div_ceil(64) * 64
    }
}

/// Packs the sign of each code into `out` (`code.len() / 8` bytes, rounded up), bit
/// `i % 8` of byte `i / 8` set when `code[i]` is negative. Sixty-four codes a step
/// where the CPU has AVX-512 (one `vpmovb2m` gives their sign bits in this order).
pub(crate) fn pack_signs(code: &[i8], out: &mut [u8]) {
    let mut done = 0;
    #[cfg(target_arch = "x86_64")]
    if has_wide() {
        // SAFETY: the CPU has AVX-512BW (`has_wide`).
        done = unsafe { pack_signs_avx512(code, out) };
    }
    let bytes = out.len();
    pack_signs_scalar(
        &code[(8 * done).min(code.len())..],
        &mut out[done.min(bytes)..],
    );
}

/// [`pack_signs`] for the first whole runs of 64 codes; returns the bytes written.
///
/// # Safety
/// The CPU has AVX-512BW.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw")]
unsafe fn pack_signs_avx512(code: &[i8], out: &mut [u8]) -> usize {
    use std::arch::x86_64::*;
    let runs = (code.len() / 64).min(out.len() / 8);
    for (r, bytes) in out.chunks_exact_mut(8).take(runs).enumerate() {
        // SAFETY: `64 * r + 64 <= code.len()`; an unaligned load.
        let bits =
            unsafe { _mm512_movepi8_mask(_mm512_loadu_si512(code.as_ptr().add(64 * r).cast())) };
        bytes.copy_from_slice(&bits.to_le_bytes());
    }
    8 * runs
}

/// [`pack_signs`] a byte at a time.
fn pack_signs_scalar(code: &[i8], out: &mut [u8]) {
    for (byte, chunk) in out.iter_mut().zip(code.chunks(8)) {
        *byte = chunk
            .iter()
            .enumerate()
            .fold(0u8, |b, (i, &c)| b | (u8::from(c < 0) << i));
    }
}

/// A query as the sign pre-scan ranks rows against it: its `i8` code scaled to four
/// bits a component and split into bit planes.
///
/// A row's key is `sum(q[i] for i where the row is negative) + 8 * dim` (never
/// negative), shifted right by `shift` to fit a `u16`; smaller is closer. For cosine
/// and inner product the sum falls as the dot product of the query with the row's
/// signs grows; for `L2` the codes are offsets from the calibration's centre, so it
/// ranks by direction from there.
#[derive(Debug, Default)]
pub(crate) struct SignQuery {
    /// `PLANES` planes of `stride` bytes each: bit `i % 8` of byte `i / 8` of plane
    /// `j` is bit `j` of component `i`'s scaled value.
    planes: Vec<u8>,
    stride: usize,
    /// Bytes of sign bits a row.
    bytes: usize,
    /// `8 * dim`, added so that no key is negative.
    offset: i64,
    shift: u32,
    /// Keys past the results' own within which rows are still scored.
    margin: usize,
}

impl SignQuery {
    /// Sets the query to `code`'s.
    pub(crate) fn encode(&mut self, code: &[i8]) {
        let dim = code.len();
        self.bytes = dim.div_ceil(8);
        self.stride = self.bytes.div_ceil(LANE) * LANE;
        self.planes.clear();
        self.planes.resize(PLANES * self.stride, 0);
        self.offset = 8 * dim as i64;
        self.shift = 0;
        while (15 * dim) >> self.shift >= KEYS {
            self.shift += 1;
        }
        let top = code.iter().map(|&c| i32::from(c).abs()).max().unwrap_or(0);
        let mut squares = 0.0f64;
        for (i, &c) in code.iter().enumerate() {
            let v = if top == 0 {
                0
            } else {
                (f32::from(c) * SCALE / top as f32).round() as i32
            };
            squares += f64::from(v * v);
            let bits = (v & 0xf) as u8;
            for j in 0..PLANES {
                if bits & (1 << j) != 0 {
                    if let Some(b) = self.planes.get_mut(j * self.stride + i / 8) {
                        *b |= 1 << (i % 8);
                    }
                }
            }
        }
        self.margin = ((MARGIN * squares.sqrt()).ceil() as usize).div_ceil(1 << self.shift);
    }

    /// Entries of a count of rows by key: every key, then one for a row that is
    /// missing (its key, [`far`](Self::far)).
    pub(crate) fn bins(&self) -> usize {
        self.far() + 1
    }

    /// The key of a slot with no row: past every row's.
    pub(crate) fn far(&self) -> usize {
        ((15 * self.offset as usize / 8) >> self.shift) + 1
    }

    /// How far past the keys of a scan's results the scan keeps scoring rows.
    pub(crate) fn margin(&self) -> usize {
        self.margin
    }

    /// The key of `slot`'s row.
    pub(crate) fn key_of(&self, codes: &Codes, slot: u32) -> usize {
        Words(self).key(codes.sign_row(slot))
    }

    #[inline(always)]
    fn bin(&self, sum: i64) -> usize {
        ((sum + self.offset).max(0) as usize) >> self.shift
    }

    /// Word `w` of plane `j`.
    #[inline(always)]
    fn plane_word(&self, j: usize, w: usize) -> u64 {
        word(self.planes.get(j * self.stride + w * 8..).unwrap_or(&[]))
    }
}

/// How far past the results' keys the scan keeps scoring, as a multiple of the
/// query's scaled length (`sqrt(sum(q[i]^2))`, the scale of a row's key).
///
/// On 12,000 clustered 64-d vectors whose query's own cluster has no matches
/// (`core/tests/db/payload.rs`, 2,400 matches, ef 16, 4 × ef rows first), recall@10
/// was 0.536 with no margin, 0.964 with 0.1 and 1.000 with 0.25 or 0.5. On
/// minilm-mix-dev (`fletchdb-filter`, ef 64, 8,257-15,118 matches) 0.25 scored
/// 394-676 rows a query, recall 1.000, and 0.5 scored 704-1,352 at 0.03-0.08 less of
/// the unfiltered speed; with none (265 rows) recall was 0.989-1.000.
const MARGIN: f64 = 0.25;

/// The first 8 bytes of `c` as a little-endian word, zeros past its end.
#[inline(always)]
fn word(c: &[u8]) -> u64 {
    match c.get(..8) {
        Some(c) => u64::from_le_bytes(c.try_into().unwrap_or_default()),
        None => {
            let mut w = [0u8; 8];
            for (d, s) in w.iter_mut().zip(c) {
                *d = *s;
            }
            u64::from_le_bytes(w)
        }
    }
}

/// Ranks rows against a query.
trait Key {
    /// Bytes a row.
    fn width(&self) -> usize;
    /// `row`'s key (`width` bytes; any other length is the far key).
    fn key(&self, row: &[u8]) -> usize;
}

/// A word at a time.
struct Words<'a>(&'a SignQuery);

impl Key for Words<'_> {
    #[inline(always)]
    fn width(&self) -> usize {
        self.0.bytes
    }

    #[inline(always)]
    fn key(&self, row: &[u8]) -> usize {
        if row.len() != self.0.bytes {
            return self.0.far();
        }
        let mut sum = 0i64;
        for (w, c) in row.chunks(8).enumerate() {
            let r = word(c);
            let n = |j: usize| i64::from((r & self.0.plane_word(j, w)).count_ones());
            sum += n(0) + 2 * n(1) + 4 * n(2) - 8 * n(3);
        }
        self.0.bin(sum)
    }
}

/// A register of 64 bytes at a time, with AVX-512's `vpopcntq`. Built only where the
/// CPU has it ([`rank_avx512`], [`rank_words_avx512`]).
#[cfg(target_arch = "x86_64")]
struct Wide<'a>(&'a SignQuery);

#[cfg(target_arch = "x86_64")]
impl Key for Wide<'_> {
    #[inline(always)]
    fn width(&self) -> usize {
        self.0.bytes
    }

    #[inline(always)]
    fn key(&self, row: &[u8]) -> usize {
        use std::arch::x86_64::*;
        let q = self.0;
        if row.len() != q.bytes {
            return q.far();
        }
        // SAFETY: a `Wide` exists only inside functions compiled for, and called on a
        // CPU with, AVX-512F, BW and VPOPCNTDQ. The row is read with a byte mask that
        // stops at its end (masked bytes are not read), the planes whole: each is
        // `stride` bytes, a multiple of 64, and `start` is below `bytes <= stride`.
        unsafe {
            let mut acc = _mm512_setzero_si512();
            let mut start = 0;
            while start < row.len() {
                let n = row.len() - start;
                let mask = if n >= 64 { u64::MAX } else { (1u64 << n) - 1 };
                let r = _mm512_maskz_loadu_epi8(mask, row.as_ptr().add(start).cast());
                let plane = |j: usize| {
                    _mm512_loadu_si512(q.planes.as_ptr().add(j * q.stride + start).cast())
                };
                let c0 = _mm512_popcnt_epi64(_mm512_and_si512(r, plane(0)));
                let c1 = _mm512_popcnt_epi64(_mm512_and_si512(r, plane(1)));
                let c2 = _mm512_popcnt_epi64(_mm512_and_si512(r, plane(2)));
                let c3 = _mm512_popcnt_epi64(_mm512_and_si512(r, plane(3)));
                let low = _mm512_add_epi64(c0, _mm512_slli_epi64::<1>(c1));
                let high = _mm512_sub_epi64(_mm512_slli_epi64::<2>(c2), _mm512_slli_epi64::<3>(c3));
                acc = _mm512_add_epi64(acc, _mm512_add_epi64(low, high));
                start += 64;
            }
            q.bin(_mm512_reduce_add_epi64(acc))
        }
    }
}

/// True where [`Wide`] can run (checked once).
#[cfg(target_arch = "x86_64")]
fn has_wide() -> bool {
    std::arch::is_x86_feature_detected!("avx512f")
        && std::arch::is_x86_feature_detected!("avx512bw")
        && std::arch::is_x86_feature_detected!("avx512vpopcntdq")
}

/// True if the sign pre-scan ranks 64 bytes at a time on this CPU (the planner trusts
/// it with more matches then).
pub(crate) fn ranks_wide() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        has_wide()
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// The rows a scan ranks.
pub(crate) enum Rows<'a> {
    /// These slots', in this order.
    Listed(&'a [u32]),
    /// The slots whose bits are set in `words` (bit `s % 64` of word `s / 64` for slot
    /// `s`), each pushed onto `slots` as it is ranked: the rows are read in slot order,
    /// 64 slots' rows at a time from one place, with no list of slots built first.
    Set {
        words: &'a [u64],
        slots: &'a mut Vec<u32>,
    },
}

/// Pushes onto `dist` the key (see [`SignQuery`]) of each of `rows`, in order, and
/// counts each in `counts` (`query.bins()` long).
pub(crate) fn rank(
    codes: &Codes,
    query: &SignQuery,
    rows: Rows<'_>,
    dist: &mut Vec<u16>,
    counts: &mut [usize],
) {
    #[cfg(target_arch = "x86_64")]
    {
        if has_wide() {
            // SAFETY: the CPU has what `rank_avx512` is compiled for (checked just
            // above).
            return unsafe { rank_avx512(codes, query, rows, dist, counts) };
        }
        if std::arch::is_x86_feature_detected!("popcnt") {
            // SAFETY: as above, for `popcnt`.
            return unsafe { rank_popcnt(codes, query, rows, dist, counts) };
        }
    }
    rank_with(codes, &Words(query), rows, dist, counts)
}

/// [`rank`] with [`Wide`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vpopcntdq,popcnt")]
unsafe fn rank_avx512(
    codes: &Codes,
    query: &SignQuery,
    rows: Rows<'_>,
    dist: &mut Vec<u16>,
    counts: &mut [usize],
) {
    rank_with(codes, &Wide(query), rows, dist, counts)
}

/// [`rank`] a word at a time, compiled for `popcnt`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "popcnt")]
unsafe fn rank_popcnt(
    codes: &Codes,
    query: &SignQuery,
    rows: Rows<'_>,
    dist: &mut Vec<u16>,
    counts: &mut [usize],
) {
    rank_with(codes, &Words(query), rows, dist, counts)
}

#[inline(always)]
fn rank_with<K: Key>(
    codes: &Codes,
    query: &K,
    rows: Rows<'_>,
    dist: &mut Vec<u16>,
    counts: &mut [usize],
) {
    match rows {
        Rows::Listed(slots) => rank_listed(codes, query, slots, dist, counts),
        Rows::Set { words, slots } => rank_set(codes, query, words, slots, dist, counts),
    }
}

#[inline(always)]
fn rank_listed<K: Key>(
    codes: &Codes,
    query: &K,
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
        count(query.key(codes.sign_row(s)), dist, counts);
    }
}

#[inline(always)]
fn rank_set<K: Key>(
    codes: &Codes,
    query: &K,
    words: &[u64],
    slots: &mut Vec<u32>,
    dist: &mut Vec<u16>,
    counts: &mut [usize],
) {
    let width = query.width();
    let stride = codes.sign_stride();
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
                if let Some(row) = rows.get(b * stride..b * stride + width) {
                    crate::prefetch::prefetch_slice(row);
                }
            }
        }
        let rows = codes.sign_rows(first, 64);
        let mut bits = word;
        while bits != 0 {
            let b = bits.trailing_zeros() as usize;
            bits &= bits - 1;
            let row = rows.get(b * stride..b * stride + width).unwrap_or(&[]);
            count(query.key(row), dist, counts);
            slots.push(first + b as u32);
        }
    }
}

/// Pushes `key` onto `dist` and counts it (a key past the counts, none, as the last).
#[inline(always)]
fn count(key: usize, dist: &mut Vec<u16>, counts: &mut [usize]) {
    let Some(far) = counts.len().checked_sub(1) else {
        return;
    };
    let d = key.min(far);
    counts[d] += 1;
    dist.push(d as u16);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pseudo-random bytes.
    fn bytes(seed: u64) -> impl FnMut() -> u8 {
        let mut x = seed | 1;
        move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        }
    }

    /// A row's key by its definition: the query's scaled components summed where the
    /// row's sign bit is set, plus `8 * dim`, shifted.
    fn oracle(code: &[i8], row: &[u8], q: &SignQuery) -> usize {
        let top = code.iter().map(|&c| i32::from(c).abs()).max().unwrap_or(0);
        let sum: i64 = code
            .iter()
            .enumerate()
            .filter(|&(i, _)| row[i / 8] & (1 << (i % 8)) != 0)
            .map(|(_, &c)| (f32::from(c) * 7.0 / top as f32).round() as i64)
            .sum();
        ((sum + 8 * code.len() as i64) as usize) >> q.shift
    }

    #[test]
    fn keys_sum_the_query_where_the_row_is_negative() {
        let mut next = bytes(0x9e37_79b9_7f4a_7c15);
        for dim in [1usize, 7, 64, 100, 384, 520, 768, 5000] {
            let code: Vec<i8> = (0..dim).map(|_| next() as i8).collect();
            let mut q = SignQuery::default();
            q.encode(&code);
            assert!(q.far() < KEYS, "dim {dim}: keys fit a u16");
            for _ in 0..4 {
                let signs: Vec<i8> = (0..dim).map(|_| next() as i8).collect();
                let mut row = vec![0u8; dim.div_ceil(8)];
                pack_signs(&signs, &mut row);
                let want = oracle(&code, &row, &q);
                assert!(want < q.far(), "dim {dim}");
                assert_eq!(Words(&q).key(&row), want, "dim {dim}, a word at a time");
                #[cfg(target_arch = "x86_64")]
                if has_wide() {
                    // SAFETY: the CPU has what `wide_key` is compiled for.
                    assert_eq!(unsafe { wide_key(&q, &row) }, want, "dim {dim}, AVX-512");
                }
            }
            assert_eq!(Words(&q).key(&[]), q.far(), "a missing row is far");
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx512bw,avx512vpopcntdq,popcnt")]
    unsafe fn wide_key(q: &SignQuery, row: &[u8]) -> usize {
        Wide(q).key(row)
    }

    #[test]
    fn the_query_itself_ranks_first() {
        // A row with the query's own signs has the smallest key any row can have.
        let mut next = bytes(7);
        let code: Vec<i8> = (0..384).map(|_| next() as i8).collect();
        let mut q = SignQuery::default();
        q.encode(&code);
        let mut own = vec![0u8; 48];
        pack_signs(&code, &mut own);
        let best = Words(&q).key(&own);
        for _ in 0..100 {
            let other: Vec<u8> = (0..48).map(|_| next()).collect();
            assert!(Words(&q).key(&other) >= best);
        }
    }

    #[test]
    fn rows_never_straddle_a_cache_line() {
        for (bytes, want) in [(1, 1), (8, 8), (13, 16), (16, 16), (48, 64), (64, 64)] {
            assert_eq!(stride(bytes), want);
        }
        for bytes in 1..=400 {
            let s = stride(bytes);
            assert!(
                s >= bytes && (64 % s == 0 || s.is_multiple_of(64)),
                "{bytes} -> {s}"
            );
        }
    }

    /// The AVX-512 packing (where this CPU has it) agrees with the byte-at-a-time one
    /// on every length.
    #[test]
    fn signs_pack_alike_in_registers_and_bytes() {
        let mut next = bytes(0x51_6e5);
        for len in 0..300usize {
            let code: Vec<i8> = (0..len).map(|_| next() as i8).collect();
            let mut fast = vec![0u8; len.div_ceil(8)];
            let mut slow = vec![0u8; len.div_ceil(8)];
            pack_signs(&code, &mut fast);
            pack_signs_scalar(&code, &mut slow);
            assert_eq!(fast, slow, "{len}");
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
