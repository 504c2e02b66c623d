//! Little-endian integers read from byte slices, checked: the one implementation every
//! decoder of the storage crate and of the database uses.

/// The `u16` at `at`, if `b` holds two bytes there.
#[inline]
pub fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(
        b.get(at..at.checked_add(2)?)?.try_into().ok()?,
    ))
}

/// The `u32` at `at`, if `b` holds four bytes there.
///
/// ```
/// use fletchdb_storage::le;
/// assert_eq!(le::u32_at(&[0, 1, 0, 0, 0], 1), Some(1));
/// assert_eq!(le::u32_at(&[1, 0, 0], 0), None);
/// ```
#[inline]
pub fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        b.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

/// The `u64` at `at`, if `b` holds eight bytes there.
#[inline]
pub fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(
        b.get(at..at.checked_add(8)?)?.try_into().ok()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_in_range_and_refuses_past_the_end() {
        let b: Vec<u8> = (1..=10).collect();
        assert_eq!(u16_at(&b, 8), Some(0x0a09));
        assert_eq!(u16_at(&b, 9), None);
        assert_eq!(u32_at(&b, 6), Some(0x0a09_0807));
        assert_eq!(u32_at(&b, 7), None);
        assert_eq!(u64_at(&b, 2), Some(0x0a09_0807_0605_0403));
        assert_eq!(u64_at(&b, 3), None);
        assert_eq!(u64_at(&b, usize::MAX), None);
    }
}
