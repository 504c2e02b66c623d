//! Plain bit vectors of slots (bit `s` of word `s / 64` set for each member `s`): a
//! roaring set copied into one, for a graph walk that asks about thousands of slots (a
//! bit test is a load and a shift, where a roaring lookup in an array container is a
//! binary search), and the few operations a range's bit vector needs.
//!
//! The vector is read off the set's standard serialization ([RoaringFormatSpec]), in
//! which a dense container is its 1,024 words as they are, so it is copied whole
//! rather than walked bit by bit. Measured on minilm-mix-dev (100,000 rows), for the
//! 58,507 slots of `source = debian`: setting bits one by one from the set's iterator
//! cost a filtered search more than the walk itself (0.30-0.35 of the unfiltered
//! speed, against 0.55-0.66 asking the roaring set directly); copying the containers
//! costs a few microseconds.
//!
//! [RoaringFormatSpec]: https://github.com/RoaringBitmap/RoaringFormatSpec

use roaring::RoaringBitmap;

/// Serialization cookie of a set with no run containers (then a `u32` count).
const COOKIE_PLAIN: u32 = 12346;
/// Serialization cookie of a set with run containers (count − 1 in the high 16 bits).
const COOKIE_RUNS: u16 = 12347;
/// Containers of at most this many members are arrays of `u16`, larger ones bitmaps.
const ARRAY_MAX: usize = 4096;
/// Words in a bitmap container (65,536 bits).
const CONTAINER_WORDS: usize = 1024;

/// `set` as a bit vector long enough for its largest member.
pub(crate) fn dense_words(set: &RoaringBitmap) -> Vec<u64> {
    let top = set.max().map_or(0, |m| m as usize + 1);
    let mut words = vec![0u64; top.div_ceil(64)];
    let mut bytes = Vec::with_capacity(set.serialized_size());
    if set.serialize_into(&mut bytes).is_err() || fill(&bytes, &mut words).is_none() {
        // Not the layout this reads (a format change in the crate): the slow way.
        words.iter_mut().for_each(|w| *w = 0);
        for s in set {
            words[s as usize / 64] |= 1 << (s % 64);
        }
    }
    words
}

/// Little-endian readers over the serialization.
fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}
fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}
fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

/// Sets the members serialized in `b` in `words`; `None` if `b` is not laid out as
/// expected (nothing is assumed: every read is bounds-checked).
fn fill(b: &[u8], words: &mut [u64]) -> Option<()> {
    let cookie = u32_at(b, 0)?;
    // (containers, which are runs, where the descriptions start)
    let (count, runs, mut at): (usize, Option<&[u8]>, usize) = if cookie == COOKIE_PLAIN {
        (u32_at(b, 4)? as usize, None, 8)
    } else if cookie as u16 == COOKIE_RUNS {
        let count = (cookie >> 16) as usize + 1;
        let flags = b.get(4..4 + count.div_ceil(8))?;
        (count, Some(flags), 4 + count.div_ceil(8))
    } else {
        return None;
    };
    let descriptions = at;
    at += 4 * count;
    // Offsets follow unless a set with runs has fewer than 4 containers; data is in
    // container order either way, so they are skipped.
    if runs.is_none() || count >= 4 {
        at += 4 * count;
    }
    for i in 0..count {
        let key = u16_at(b, descriptions + 4 * i)? as usize;
        let len = u16_at(b, descriptions + 4 * i + 2)? as usize + 1;
        let base = key * CONTAINER_WORDS;
        let is_run = runs.is_some_and(|f| f[i / 8] & (1 << (i % 8)) != 0);
        if is_run {
            let n = u16_at(b, at)? as usize;
            at += 2;
            for r in 0..n {
                let start = u16_at(b, at + 4 * r)? as usize;
                let extra = u16_at(b, at + 4 * r + 2)? as usize;
                for v in start..=start + extra {
                    set_bit_at(words, base * 64 + v)?;
                }
            }
            at += 4 * n;
        } else if len <= ARRAY_MAX {
            for j in 0..len {
                set_bit_at(words, base * 64 + u16_at(b, at + 2 * j)? as usize)?;
            }
            at += 2 * len;
        } else {
            for j in 0..CONTAINER_WORDS {
                let w = u64_at(b, at + 8 * j)?;
                if w != 0 {
                    *words.get_mut(base + j)? |= w;
                }
            }
            at += 8 * CONTAINER_WORDS;
        }
    }
    Some(())
}

fn set_bit_at(words: &mut [u64], bit: usize) -> Option<()> {
    *words.get_mut(bit / 64)? |= 1 << (bit % 64);
    Some(())
}

/// Sets bit `s` (nothing if `words` is too short).
#[inline(always)]
pub(crate) fn set_bit(words: &mut [u64], s: u32) {
    let _ = set_bit_at(words, s as usize);
}

/// True if bit `s` is set.
#[inline(always)]
pub(crate) fn has_bit(words: &[u64], s: u32) -> bool {
    words
        .get(s as usize / 64)
        .is_some_and(|w| w & (1 << (s % 64)) != 0)
}

/// Calls `f` with every set bit, ascending.
#[inline]
pub(crate) fn for_each_bit(words: &[u64], mut f: impl FnMut(u32)) {
    for (i, &word) in words.iter().enumerate() {
        let mut w = word;
        while w != 0 {
            f((i * 64) as u32 + w.trailing_zeros());
            w &= w - 1;
        }
    }
}

/// The set of `words`' bits as a roaring set, a block of 65,536 at a time.
pub(crate) fn roaring_of(words: &[u64]) -> RoaringBitmap {
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    RoaringBitmap::from_lsb0_bytes(0, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bit vector against the set's own iterator.
    fn check(set: &RoaringBitmap) {
        let words = dense_words(set);
        let mut want = vec![0u64; words.len()];
        for s in set {
            want[s as usize / 64] |= 1 << (s % 64);
        }
        assert_eq!(words, want);
        let mut bytes = Vec::new();
        set.serialize_into(&mut bytes).unwrap();
        let mut fast = vec![0u64; words.len()];
        assert!(fill(&bytes, &mut fast).is_some(), "the fast path read it");
        assert_eq!(fast, want);
    }

    #[test]
    fn arrays_bitmaps_runs_and_empty_match_the_iterator() {
        check(&RoaringBitmap::new());
        check(
            &[0u32, 63, 64, 65_535, 65_536, 200_000]
                .into_iter()
                .collect(),
        );
        // Dense containers (more than 4,096 members in a 65,536 block), beside sparse.
        let mut dense: RoaringBitmap = (0..150_000u32).filter(|s| s % 3 != 0).collect();
        dense.insert(1_000_000);
        check(&dense);
        // Run containers, with fewer than 4 containers (no offsets) and more.
        for blocks in [1u32, 2, 5] {
            let mut runs: RoaringBitmap = (0..blocks * 65_536).filter(|s| s % 1000 < 600).collect();
            runs.optimize();
            check(&runs);
        }
        let mut mixed: RoaringBitmap = (0..70_000u32).collect();
        mixed.extend((140_000..150_000u32).step_by(7));
        mixed.extend((200_000..260_000u32).filter(|s| s % 5 != 0));
        mixed.optimize();
        check(&mixed);
    }

    #[test]
    fn a_layout_it_does_not_know_is_refused_not_misread() {
        let mut words = vec![0u64; 4];
        assert!(fill(&[1, 2, 3], &mut words).is_none());
        assert!(fill(&[0x3a, 0x30, 0, 0, 5, 0, 0, 0], &mut words).is_none());
    }
}
