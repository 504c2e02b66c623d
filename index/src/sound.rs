//! A quick yes-or-no test that a run of layer-0 lists from a graph file (format 2 or 3)
//! passes every check a load makes of them, with AVX-512: sixteen links a register,
//! their presence read with one gather, duplicates found by comparing each register
//! with its rotations. Where it says no, or cannot tell (no AVX-512, lists of more than
//! [`MAX_LINKS`] links), the run's check (`checks.rs`) goes one link at a time with
//! `persist.rs`'s `check_list`, which finds the first fault and names its offset: this
//! only spares that walk for lists that are sound.
//!
//! Why: on a 1,000,000 × 128-d graph (m 16, `db_bench open DIR first`, warm, four
//! interleaved rounds) the link-at-a-time checks took an open from 118-149 ms (checks
//! skipped, a trial build) to 176-221; with this test first it takes 131-149.

/// Links a list may hold for the quick test: eight registers.
pub(crate) const MAX_LINKS: usize = 8 * LANES;
/// `u32` lanes of an AVX-512 register.
const LANES: usize = 16;

/// A bit per slot below `len`, set where a node is present (bit `s % 32` of word
/// `s / 32`), as the quick test reads presence.
pub(crate) struct Present {
    words: Vec<u32>,
    len: u32,
}

impl Present {
    /// The bits of `len` slots, set where `present(slot)`.
    ///
    /// A word's 32 bits without a branch each: at 1,000,000 slots, with a test per
    /// bit, this was 1.7-2.0 ms of a warm graph load, and is 0.46-0.49 ms (timed by
    /// hand, 2026-12-04).
    pub(crate) fn new(len: usize, present: impl Fn(usize) -> bool) -> Present {
        let words = (0..len.div_ceil(32))
            .map(|w| {
                let base = w * 32;
                (0..(len - base).min(32))
                    .fold(0u32, |word, b| word | u32::from(present(base + b)) << b)
            })
            .collect();
        Present {
            words,
            len: u32::try_from(len).unwrap_or(u32::MAX),
        }
    }

    pub(crate) fn has(&self, slot: u32) -> bool {
        slot < self.len
            && self
                .words
                .get((slot / 32) as usize)
                .is_some_and(|w| w >> (slot % 32) & 1 == 1)
    }
}

/// The lists of consecutive slots from `first`, as a graph file stores them: `stride`
/// little-endian `u32` a slot (a count, then `stride - 1` places for links) in `bytes`,
/// a whole number of lists.
pub(crate) struct Lists<'a> {
    pub(crate) bytes: &'a [u8],
    pub(crate) first: u32,
    pub(crate) stride: usize,
}

/// `Some(true)` when every list passes the load's checks: an absent slot's count is 0;
/// a present slot's is at most `stride - 1`, and not 0 unless `lone` (a graph of one
/// node); each link is to a present slot other than the list's own, and no link is
/// there twice. `Some(false)` when one does not; `None` when this CPU cannot tell
/// quickly.
pub(crate) fn lists_sound(lists: &Lists<'_>, present: &Present, lone: bool) -> Option<bool> {
    if lists.stride < 1
        || lists.stride - 1 > MAX_LINKS
        || !lists.bytes.len().is_multiple_of(4 * lists.stride)
    {
        return None;
    }
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F (checked just above), all `sound_avx512` is
            // compiled for; the lists are a whole number of `stride` words of at most
            // `MAX_LINKS` links (checked above).
            return Some(unsafe { sound_avx512(lists, present, lone) });
        }
    }
    let _ = (present, lone);
    None
}

/// [`lists_sound`] with AVX-512.
///
/// # Safety
///
/// The CPU has AVX-512F; `lists.bytes` is a whole number of `lists.stride` words and
/// `lists.stride - 1 <= MAX_LINKS`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn sound_avx512(lists: &Lists<'_>, present: &Present, lone: bool) -> bool {
    use std::arch::x86_64::*;
    let stride = lists.stride;
    let cap = stride - 1;
    let lane = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    // Register `r` rotated by `t` lanes is `permutexvar(rotations[t], r)`.
    let mut rotations = [_mm512_setzero_si512(); LANES];
    for (t, r) in rotations.iter_mut().enumerate() {
        *r = _mm512_and_si512(
            _mm512_add_epi32(lane, _mm512_set1_epi32(t as i32)),
            _mm512_set1_epi32(LANES as i32 - 1),
        );
    }
    let len = _mm512_set1_epi32(present.len as i32);
    let one = _mm512_set1_epi32(1);
    let low5 = _mm512_set1_epi32(31);
    let mut regs = [_mm512_setzero_si512(); MAX_LINKS / LANES];
    for (i, list) in lists.bytes.chunks_exact(4 * stride).enumerate() {
        let slot = lists.first.wrapping_add(i as u32);
        let count = u32::from_le_bytes([list[0], list[1], list[2], list[3]]) as usize;
        if !present.has(slot) {
            if count != 0 {
                return false;
            }
            continue;
        }
        if count > cap || (count == 0 && !lone) {
            return false;
        }
        let own = _mm512_set1_epi32(slot as i32);
        let used = count.div_ceil(LANES);
        let mut bad: u16 = 0;
        for (v, reg) in regs.iter_mut().enumerate().take(used) {
            let n = (count - v * LANES).min(LANES);
            let mask: u16 = if n == LANES { u16::MAX } else { (1 << n) - 1 };
            // SAFETY: lanes `< n` are links `v * 16 ..` of this list, inside it (`count
            // <= stride - 1`); masked lanes are not read.
            let ids = unsafe {
                _mm512_maskz_loadu_epi32(mask, list.as_ptr().add(4 + 4 * v * LANES).cast())
            };
            // Unused lanes hold `u32::MAX - (16 v + lane)`: distinct from each other and
            // past every slot, so they match nothing a sound list holds.
            let filler = _mm512_sub_epi32(
                _mm512_set1_epi32(-1),
                _mm512_add_epi32(lane, _mm512_set1_epi32((v * LANES) as i32)),
            );
            let ids = _mm512_mask_blend_epi32(mask, filler, ids);
            *reg = ids;
            let inside = _mm512_mask_cmplt_epu32_mask(mask, ids, len);
            bad |= mask & !inside;
            bad |= _mm512_mask_cmpeq_epi32_mask(mask, ids, own);
            // SAFETY: only lanes `inside` are gathered, each from word `id / 32 <
            // len.div_ceil(32) = words.len()`.
            let words = unsafe {
                _mm512_mask_i32gather_epi32::<4>(
                    _mm512_setzero_si512(),
                    inside,
                    _mm512_srli_epi32::<5>(ids),
                    present.words.as_ptr().cast(),
                )
            };
            let bits = _mm512_srlv_epi32(words, _mm512_and_si512(ids, low5));
            bad |= inside & !_mm512_mask_test_epi32_mask(inside, bits, one);
        }
        if bad != 0 {
            return false;
        }
        // Every pair of lanes compared once: within a register, at distances 1..=8
        // round it; across two, at every rotation.
        let mut same: u16 = 0;
        for a in 0..used {
            let ra = regs[a];
            for rot in &rotations[1..=LANES / 2] {
                same |= _mm512_cmpeq_epi32_mask(ra, _mm512_permutexvar_epi32(*rot, ra));
            }
            for &rb in &regs[a + 1..used] {
                for rot in &rotations {
                    same |= _mm512_cmpeq_epi32_mask(ra, _mm512_permutexvar_epi32(*rot, rb));
                }
            }
        }
        if same != 0 {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The checks by their definition.
    fn oracle(lists: &Lists<'_>, present: &Present, lone: bool) -> bool {
        let words: Vec<u32> = lists
            .bytes
            .chunks_exact(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        words
            .chunks_exact(lists.stride)
            .enumerate()
            .all(|(i, list)| {
                let slot = lists.first + i as u32;
                let count = list[0] as usize;
                if !present.has(slot) {
                    return count == 0;
                }
                if count > lists.stride - 1 || (count == 0 && !lone) {
                    return false;
                }
                let links = &list[1..=count];
                links
                    .iter()
                    .enumerate()
                    .all(|(j, &id)| present.has(id) && id != slot && !links[..j].contains(&id))
            })
    }

    /// Pseudo-random numbers.
    fn rng(seed: u64) -> impl FnMut() -> u64 {
        let mut x = seed | 1;
        move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        }
    }

    #[test]
    fn agrees_with_the_checks_one_link_at_a_time() {
        let mut next = rng(0x2545_f491_4f6c_dd1d);
        let mut checked = 0;
        for round in 0..3000 {
            let cap = [1usize, 3, 15, 16, 17, 32, 48, 64, 100, 128][round % 10];
            let stride = cap + 1;
            let len = 160 + (next() % 300) as usize;
            let present = Present::new(len, |s| s % 7 != 3);
            let first = (next() % 40) as u32;
            let slots = 1 + (next() % 8) as usize;
            let mut words = vec![0u32; slots * stride];
            for i in 0..slots {
                let slot = first + i as u32;
                if !present.has(slot) {
                    continue;
                }
                // A sound list: distinct present links, not the slot.
                let count = 1 + (next() as usize % cap);
                let mut links = Vec::new();
                while links.len() < count {
                    let id = (next() % len as u64) as u32;
                    if present.has(id) && id != slot && !links.contains(&id) {
                        links.push(id);
                    }
                }
                words[i * stride] = count as u32;
                words[i * stride + 1..=i * stride + count].copy_from_slice(&links);
                // Stale words past the count are not links.
                for w in &mut words[i * stride + 1 + count..(i + 1) * stride] {
                    *w = next() as u32;
                }
            }
            // Then, most rounds, one fault.
            let at = (next() as usize % slots) * stride;
            let count = words[at] as usize;
            match next() % 8 {
                0 if count > 1 => {
                    let j = 1 + next() as usize % count;
                    let k = 1 + next() as usize % count;
                    words[at + j] = words[at + k];
                }
                1 if count > 0 => {
                    words[at + 1 + next() as usize % count] = first + (at / stride) as u32
                }
                2 if count > 0 => {
                    words[at + 1 + next() as usize % count] = len as u32 + (next() % 3) as u32
                }
                3 if count > 0 => words[at + 1 + next() as usize % count] = 3,
                4 => words[at] = (cap + 1 + (next() % 2) as usize) as u32,
                5 => words[at] = 0,
                6 if count > 0 => {
                    words[at + 1 + next() as usize % count] = u32::MAX - (next() % 200) as u32
                }
                _ => {}
            }
            let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
            let lists = Lists {
                bytes: &bytes,
                first,
                stride,
            };
            for lone in [false, true] {
                if let Some(quick) = lists_sound(&lists, &present, lone) {
                    assert_eq!(
                        quick,
                        oracle(&lists, &present, lone),
                        "round {round}, lone {lone}"
                    );
                    checked += 1;
                }
            }
        }
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512f") {
            assert_eq!(checked, 6000);
        }
    }

    #[test]
    fn lists_too_wide_are_left_to_the_slow_checks() {
        let present = Present::new(4, |_| true);
        let bytes = vec![0u8; 4 * (MAX_LINKS + 2)];
        let lists = Lists {
            bytes: &bytes,
            first: 0,
            stride: MAX_LINKS + 2,
        };
        assert_eq!(lists_sound(&lists, &present, false), None);
    }
}
