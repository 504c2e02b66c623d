//! [`Encode`]: values written as the bytes [`arbitrary`] decodes them from, so that
//! seeds of the `arbitrary`-driven targets (and findings re-encoded after their input
//! types change) are explicit operation lists rather than opaque bytes.
//!
//! The layout is `arbitrary` 1.x's (`derive_arbitrary`): a struct is its fields in
//! order; an enum is a `u32` (little-endian) whose value `t` picks variant
//! `(t · count) >> 32`, then the variant's fields; integers are little-endian; a `bool`
//! is a byte whose low bit is the value; an `Option` is a `bool`, then the value if
//! `Some`; a `Vec` is each element behind a `true` byte, then a `false` byte. Each type's
//! `Encode` is checked against its `Arbitrary` by a test that decodes what it encodes
//! ([`decodes_back`]).

/// A value written as `arbitrary` reads it back.
pub(crate) trait Encode {
    fn encode(&self, out: &mut Vec<u8>);
}

/// The tag of variant `index` of an enum of `count` variants.
pub(crate) fn variant(out: &mut Vec<u8>, index: usize, count: usize) {
    debug_assert!(index < count);
    let tag = ((index as u64) << 32).div_ceil(count as u64) as u32;
    out.extend_from_slice(&tag.to_le_bytes());
}

/// The bytes of a list of values, one after another.
pub(crate) fn encode_all<T: Encode>(items: &[T]) -> Vec<u8> {
    let mut out = Vec::new();
    for item in items {
        item.encode(&mut out);
    }
    out
}

impl Encode for u8 {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(*self);
    }
}

impl Encode for i8 {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(*self as u8);
    }
}

impl Encode for bool {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(u8::from(*self));
    }
}

impl<T: Encode, const N: usize> Encode for [T; N] {
    fn encode(&self, out: &mut Vec<u8>) {
        for x in self {
            x.encode(out);
        }
    }
}

impl<T: Encode> Encode for Option<T> {
    fn encode(&self, out: &mut Vec<u8>) {
        self.is_some().encode(out);
        if let Some(x) = self {
            x.encode(out);
        }
    }
}

impl<T: Encode> Encode for Vec<T> {
    fn encode(&self, out: &mut Vec<u8>) {
        for x in self {
            true.encode(out);
            x.encode(out);
        }
        false.encode(out);
    }
}

impl<T: Encode + ?Sized> Encode for &T {
    fn encode(&self, out: &mut Vec<u8>) {
        (**self).encode(out);
    }
}

impl<A: Encode, B: Encode> Encode for (A, B) {
    fn encode(&self, out: &mut Vec<u8>) {
        self.0.encode(out);
        self.1.encode(out);
    }
}

impl<A: Encode, B: Encode, C: Encode> Encode for (A, B, C) {
    fn encode(&self, out: &mut Vec<u8>) {
        self.0.encode(out);
        self.1.encode(out);
        self.2.encode(out);
    }
}

/// Panics unless `value`'s encoding decodes to `value`, using all of the bytes.
#[cfg(test)]
pub(crate) fn decodes_back<T>(value: &T)
where
    T: Encode + for<'a> arbitrary::Arbitrary<'a> + std::fmt::Debug + PartialEq,
{
    let mut bytes = Vec::new();
    value.encode(&mut bytes);
    let mut u = arbitrary::Unstructured::new(&bytes);
    let back = T::arbitrary(&mut u).expect("decodes");
    assert_eq!(&back, value, "from {bytes:?}");
    assert!(u.is_empty(), "{value:?} left {} bytes", u.len());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variant_tags_pick_their_variant() {
        for count in 1..40usize {
            for index in 0..count {
                let mut b = Vec::new();
                variant(&mut b, index, count);
                let tag = u32::from_le_bytes(b.try_into().expect("4 bytes"));
                assert_eq!((u64::from(tag) * count as u64) >> 32, index as u64);
            }
        }
        decodes_back(&vec![(1u8, -3i8), (200, 127)]);
        decodes_back(&Some([true, false, true]));
        decodes_back(&(None::<u8>, vec![Some(5u8)], Vec::<bool>::new()));
    }
}
