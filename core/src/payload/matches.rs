//! [`Matches`]: a `where` filter evaluated on a collection's [`MetaIndex`], as the set
//! of slots it admits, and the index's [`Filter`] over it.
//!
//! Equality, membership, `$ne`, `$nin` and `$contains` are bitmap operations on the
//! index's roaring bitmaps, so their result is an exact set whatever its size. A numeric
//! range is counted exactly first ([`Numbers::count`]); a range admitting at most
//! [`MATERIALIZE`] slots becomes a set, a wider one stays a predicate that a search
//! asks per slot (a column lookup and two compares). `$and` intersects its sets and
//! filters a small result by its predicates; `$or` unites sets. A search thus gets an
//! exact set, which the index's planner can count and list (few matches: scanned
//! exactly), or a predicate with an estimated size (many: walked in the graph).

use std::ops::Bound;
use std::sync::OnceLock;

use fletchdb_index::{Filter, Slot};
use roaring::RoaringBitmap;

use crate::payload::dense;
use crate::payload::index::MetaIndex;
use crate::payload::numbers::{Numbers, Range};
use crate::payload::Where;

/// A range admitting at most this many slots is turned into a set (its bits set in a
/// plain bit vector when first asked about a slot: [`Matches::Range`]), a
/// wider one stays a predicate. A walk asks a predicate about a slot with a load from
/// the column (8 bytes a slot: 800 KB for 100,000) where a set is a bit test: on
/// minilm-mix-dev (ef 64, `fletchdb-filter`) the set took `installed_size_kib` ranges
/// of 8,257 and 15,118 matches from 0.29 and 0.48 of the unfiltered speed to 0.41 and
/// 0.55.
pub(crate) const MATERIALIZE: usize = 65_536;

/// A set of at most this many slots is filtered by the predicates beside it in an
/// `$and` (a few nanoseconds a slot), leaving an exact set.
const FILTER_SET: usize = 16_384;

/// What a filter admits.
#[derive(Debug)]
pub(crate) enum Matches<'a> {
    /// Exactly these slots.
    Set(RoaringBitmap),
    /// Exactly these slots, with a plain bitmap beside for the walk to ask (see
    /// [`Matches::for_search`]).
    Dense(RoaringBitmap, Vec<u64>),
    /// Exactly the `len` slots of `col` in `range`. An exact scan lists them straight
    /// from the column, in value order; the first question about one slot (a walk, an
    /// `$and`) sets their bits in `bits` (`payload/dense.rs`). Built for every search,
    /// a roaring set of them (through a byte map, a block at a time) cost a scan of
    /// 8,257 matches on minilm-mix-dev more than its distances did.
    Range {
        col: &'a Numbers,
        range: Range,
        len: usize,
        bits: OnceLock<Vec<u64>>,
    },
    /// The slots the predicate admits, about `estimate` of them.
    Lazy { pred: Pred<'a>, estimate: usize },
}

/// A predicate over slots, for what is too large to list.
#[derive(Debug)]
pub(crate) enum Pred<'a> {
    Set(RoaringBitmap),
    Range(&'a Numbers, Range),
    And(Vec<Pred<'a>>),
    Or(Vec<Pred<'a>>),
}

impl Pred<'_> {
    #[inline]
    fn admits(&self, slot: u32) -> bool {
        match self {
            Pred::Set(b) => b.contains(slot),
            Pred::Range(n, r) => n.get(slot).is_some_and(|v| r.contains(v)),
            Pred::And(all) => all.iter().all(|p| p.admits(slot)),
            Pred::Or(any) => any.iter().any(|p| p.admits(slot)),
        }
    }
}

impl<'a> Matches<'a> {
    /// Evaluates `w` on `index`, for a collection of `live` records.
    pub(crate) fn of(w: &Where, index: &'a MetaIndex, live: usize) -> Matches<'a> {
        let set = |f: &dyn Fn(&crate::payload::index::KeyIndex) -> RoaringBitmap, key: &str| {
            Matches::Set(index.key(key).map(f).unwrap_or_default())
        };
        match w {
            Where::Eq(key, v) => set(&|k| k.eq.get(&v.key()).cloned().unwrap_or_default(), key),
            Where::Ne(key, v) => set(
                &|k| match k.eq.get(&v.key()) {
                    Some(b) => &k.scalars - b,
                    None => k.scalars.clone(),
                },
                key,
            ),
            Where::In(key, vs) => set(&|k| union_of(k, vs), key),
            Where::Nin(key, vs) => set(&|k| &k.scalars - union_of(k, vs), key),
            Where::Contains(key, v) => set(
                &|k| k.elements.get(&v.key()).cloned().unwrap_or_default(),
                key,
            ),
            Where::Gt(key, x) => range(index, key, Bound::Excluded(*x), Bound::Unbounded),
            Where::Gte(key, x) => range(index, key, Bound::Included(*x), Bound::Unbounded),
            Where::Lt(key, x) => range(index, key, Bound::Unbounded, Bound::Excluded(*x)),
            Where::Lte(key, x) => range(index, key, Bound::Unbounded, Bound::Included(*x)),
            Where::And(all) => {
                // Bounds on one key make one range (`{"$gte": 100, "$lt": 200}` is an
                // `$and` of two): listed as one, it is the slots in both, where the
                // two halves were each a set of tens of thousands, intersected.
                let mut ranges: Vec<(&str, Range)> = Vec::new();
                let mut rest = Vec::new();
                for w in all {
                    match bounds_of(w) {
                        Some((key, r)) => match ranges.iter_mut().find(|(k, _)| *k == key) {
                            Some((_, both)) => *both = both.and(&r),
                            None => ranges.push((key, r)),
                        },
                        None => rest.push(w),
                    }
                }
                let ranges = ranges
                    .into_iter()
                    .map(|(key, r)| range(index, key, r.lo, r.hi));
                let rest = rest.into_iter().map(|w| Matches::of(w, index, live));
                and(ranges.chain(rest), live)
            }
            Where::Or(any) => or(any.iter().map(|w| Matches::of(w, index, live)), live),
        }
    }

    /// Keeps only the slots of `slots` too.
    pub(crate) fn restrict(self, slots: RoaringBitmap, live: usize) -> Matches<'a> {
        and([self, Matches::Set(slots)].into_iter(), live)
    }

    /// Ready for a search: a set too large to scan exactly gets a plain bitmap beside
    /// it, since a graph walk asks about thousands of slots and a plain bit test is a
    /// load and a shift where a roaring lookup is a binary search. ([`Matches::Range`]
    /// makes its own.)
    pub(crate) fn for_search(self, exact_max: usize) -> Matches<'a> {
        match self {
            Matches::Set(b) if b.len() as usize > exact_max => {
                let bits = dense::dense_words(&b);
                Matches::Dense(b, bits)
            }
            other => other,
        }
    }

    /// A [`Matches::Range`]'s bits, set on the first call (empty for the others).
    fn range_bits(&self) -> &[u64] {
        match self {
            Matches::Range {
                col, range, bits, ..
            } => bits.get_or_init(|| {
                let mut words = vec![0u64; col.slot_bound().div_ceil(64)];
                let w = words.as_mut_slice();
                col.for_each_in(range, |s| dense::set_bit(w, s));
                words
            }),
            _ => &[],
        }
    }

    /// True if a walk can read its slots as a bit vector ([`Filter::words`]), without
    /// setting a range's bits to find out.
    pub(crate) fn has_words(&self) -> bool {
        matches!(self, Matches::Dense(..) | Matches::Range { .. })
    }

    /// How many slots it admits: exact for a set, estimated for a predicate.
    pub(crate) fn len(&self) -> usize {
        match self {
            Matches::Set(b) | Matches::Dense(b, _) => b.len() as usize,
            Matches::Range { len, .. } => *len,
            Matches::Lazy { estimate, .. } => *estimate,
        }
    }

    /// Calls `f` with every admitted slot below `bound` (a predicate is asked about
    /// each slot below it), in ascending order.
    pub(crate) fn for_each(&self, bound: u32, mut f: impl FnMut(u32)) {
        match self {
            Matches::Set(b) | Matches::Dense(b, _) => b.iter().for_each(f),
            Matches::Range { .. } => dense::for_each_bit(self.range_bits(), f),
            Matches::Lazy { pred, .. } => (0..bound).filter(|&s| pred.admits(s)).for_each(&mut f),
        }
    }
}

/// The union of `vs`' equality bitmaps in `k`.
fn union_of(k: &crate::payload::index::KeyIndex, vs: &[crate::payload::Scalar]) -> RoaringBitmap {
    let mut out = RoaringBitmap::new();
    for v in vs {
        if let Some(b) = k.eq.get(&v.key()) {
            out |= b;
        }
    }
    out
}

/// The key and range of a bound (`$gt`, `$gte`, `$lt`, `$lte`).
fn bounds_of(w: &Where) -> Option<(&str, Range)> {
    let (key, lo, hi) = match w {
        Where::Gt(key, x) => (key, Bound::Excluded(*x), Bound::Unbounded),
        Where::Gte(key, x) => (key, Bound::Included(*x), Bound::Unbounded),
        Where::Lt(key, x) => (key, Bound::Unbounded, Bound::Excluded(*x)),
        Where::Lte(key, x) => (key, Bound::Unbounded, Bound::Included(*x)),
        _ => return None,
    };
    Some((key.as_str(), Range { lo, hi }))
}

/// A range on `key`: a set if it admits at most [`MATERIALIZE`] slots, else a
/// predicate (exact count).
fn range<'a>(index: &'a MetaIndex, key: &str, lo: Bound<f64>, hi: Bound<f64>) -> Matches<'a> {
    let Some(k) = index.key(key) else {
        return Matches::Set(RoaringBitmap::new());
    };
    let r = Range { lo, hi };
    let count = k.numbers.count(&r);
    if count == 0 {
        return Matches::Set(RoaringBitmap::new());
    }
    if count <= MATERIALIZE {
        Matches::Range {
            col: &k.numbers,
            range: r,
            len: count,
            bits: OnceLock::new(),
        }
    } else {
        Matches::Lazy {
            pred: Pred::Range(&k.numbers, r),
            estimate: count,
        }
    }
}

/// The intersection: sets intersected, predicates kept beside them, or applied to the
/// set when it is small. Estimated as if the parts were independent.
///
/// A range is listed into a set here, even beside a small set: asking the column about
/// each slot of `section = doc` instead (a load from 800 KB a slot, out of cache after
/// the last scan) took `doc and size >= 1000` (2,396 matches) from 0.63-0.89 of the
/// unfiltered speed to 0.50-0.56 on minilm-mix-dev.
fn and<'a>(parts: impl Iterator<Item = Matches<'a>>, live: usize) -> Matches<'a> {
    let mut set: Option<RoaringBitmap> = None;
    let mut preds = Vec::new();
    let mut share = 1.0f64;
    for m in parts {
        match m {
            Matches::Set(b) | Matches::Dense(b, _) => match &mut set {
                Some(s) => *s &= b,
                None => set = Some(b),
            },
            m @ Matches::Range { .. } => {
                let b = dense::roaring_of(m.range_bits());
                match &mut set {
                    Some(s) => *s &= b,
                    None => set = Some(b),
                }
            }
            Matches::Lazy { pred, estimate } => {
                share *= estimate as f64 / live.max(1) as f64;
                preds.push(pred);
            }
        }
    }
    match set {
        Some(s) if preds.is_empty() => Matches::Set(s),
        Some(s) if s.len() as usize <= FILTER_SET => {
            let kept = s
                .iter()
                .filter(|&slot| preds.iter().all(|p| p.admits(slot)));
            Matches::Set(RoaringBitmap::from_sorted_iter(kept).unwrap_or_default())
        }
        Some(s) => {
            let estimate = (s.len() as f64 * share).ceil() as usize;
            preds.push(Pred::Set(s));
            Matches::Lazy {
                pred: Pred::And(preds),
                estimate,
            }
        }
        None => Matches::Lazy {
            estimate: (live as f64 * share).ceil() as usize,
            pred: if preds.len() == 1 {
                preds.swap_remove(0)
            } else {
                Pred::And(preds)
            },
        },
    }
}

/// The union: sets united; with any predicate, a predicate over all of them.
fn or<'a>(parts: impl Iterator<Item = Matches<'a>>, live: usize) -> Matches<'a> {
    let mut set = RoaringBitmap::new();
    let mut preds = Vec::new();
    let mut estimate = 0usize;
    for m in parts {
        match m {
            Matches::Set(b) | Matches::Dense(b, _) => set |= b,
            m @ Matches::Range { .. } => set |= dense::roaring_of(m.range_bits()),
            Matches::Lazy { pred, estimate: e } => {
                estimate += e;
                preds.push(pred);
            }
        }
    }
    if preds.is_empty() {
        return Matches::Set(set);
    }
    estimate = (estimate + set.len() as usize).min(live);
    if !set.is_empty() {
        preds.push(Pred::Set(set));
    }
    Matches::Lazy {
        pred: Pred::Or(preds),
        estimate,
    }
}

impl Filter for Matches<'_> {
    #[inline]
    fn admits(&self, slot: Slot) -> bool {
        match self {
            Matches::Set(b) => b.contains(slot.0),
            Matches::Dense(_, bits) => dense::has_bit(bits, slot.0),
            Matches::Range { .. } => dense::has_bit(self.range_bits(), slot.0),
            Matches::Lazy { pred, .. } => pred.admits(slot.0),
        }
    }

    fn admitted_hint(&self) -> Option<usize> {
        Some(self.len())
    }

    fn can_list(&self) -> bool {
        !matches!(self, Matches::Lazy { .. })
    }

    fn words(&self) -> Option<&[u64]> {
        match self {
            Matches::Dense(_, bits) => Some(bits),
            Matches::Range { .. } => Some(self.range_bits()),
            Matches::Set(_) | Matches::Lazy { .. } => None,
        }
    }

    fn for_each_admitted(&self, f: &mut dyn FnMut(Slot)) {
        match self {
            Matches::Set(b) | Matches::Dense(b, _) => b.iter().for_each(|s| f(Slot(s))),
            Matches::Range { col, range, .. } => col.for_each_in(range, |s| f(Slot(s))),
            Matches::Lazy { .. } => {}
        }
    }
}
