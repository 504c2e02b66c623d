//! [`MetaIndex`]: every top-level metadata key of a collection, indexed by slot, so a
//! `where` filter becomes a set of slots without reading any record.
//!
//! Per key: a roaring bitmap of the slots with a non-null scalar value (the universe of
//! `$ne` and `$nin`), a bitmap per scalar value (`$eq`, `$in`), a bitmap per list
//! element (`$contains`), and the numeric values in [`Numbers`] (ranges). Keys are
//! indexed automatically, as Chroma users expect: nobody declares an index.
//!
//! The index is by slot, not by id, so that a search asks a bitmap about the slots it
//! meets with no id lookup. It follows the slots: a put indexes the new slot and
//! unindexes the one it replaced, a delete unindexes, a compaction's move re-indexes
//! the moved record at its new slot.

use roaring::RoaringBitmap;
use rustc_hash::FxHashMap;

use crate::payload::numbers::Numbers;
use crate::payload::{Metadata, Scalar, ScalarKey};

/// One key's indexes.
#[derive(Debug, Default)]
pub(crate) struct KeyIndex {
    /// Slots whose value is a non-null scalar.
    pub(crate) scalars: RoaringBitmap,
    /// Scalar value -> slots.
    pub(crate) eq: FxHashMap<ScalarKey, RoaringBitmap>,
    /// List element -> slots whose list holds it.
    pub(crate) elements: FxHashMap<ScalarKey, RoaringBitmap>,
    /// Numeric scalar values.
    pub(crate) numbers: Numbers,
}

impl KeyIndex {
    fn is_empty(&self) -> bool {
        self.scalars.is_empty() && self.elements.is_empty()
    }
}

/// The metadata indexes of one collection (see the module comment).
#[derive(Debug, Default)]
pub(crate) struct MetaIndex {
    keys: FxHashMap<String, KeyIndex>,
}

impl MetaIndex {
    /// The indexes of `key`, if any live record has it.
    pub(crate) fn key(&self, key: &str) -> Option<&KeyIndex> {
        self.keys.get(key)
    }

    /// Indexes `meta` (validated) at `slot`.
    pub(crate) fn add(&mut self, slot: u32, meta: &Metadata) {
        for (key, value) in meta {
            match value {
                serde_json::Value::Array(items) => {
                    for s in items.iter().filter_map(Scalar::from_json) {
                        let k = self.keys.entry(key.clone()).or_default();
                        k.elements.entry(s.key()).or_default().insert(slot);
                    }
                }
                other => {
                    let Some(s) = Scalar::from_json(other) else {
                        continue; // null
                    };
                    let k = self.keys.entry(key.clone()).or_default();
                    k.scalars.insert(slot);
                    k.eq.entry(s.key()).or_default().insert(slot);
                    if let Some(v) = s.as_f64() {
                        k.numbers.set(slot, v);
                    }
                }
            }
        }
    }

    /// Takes `slot` out of the indexes `meta` (what [`add`](Self::add) was given for
    /// it) put it in.
    pub(crate) fn remove(&mut self, slot: u32, meta: &Metadata) {
        for (key, value) in meta {
            let Some(k) = self.keys.get_mut(key.as_str()) else {
                continue;
            };
            match value {
                serde_json::Value::Array(items) => {
                    for item in items {
                        if let Some(s) = Scalar::from_json(item) {
                            remove_from(&mut k.elements, &s.key(), slot);
                        }
                    }
                }
                other => {
                    let Some(s) = Scalar::from_json(other) else {
                        continue;
                    };
                    k.scalars.remove(slot);
                    remove_from(&mut k.eq, &s.key(), slot);
                    k.numbers.remove(slot);
                }
            }
            if k.is_empty() {
                self.keys.remove(key.as_str());
            }
        }
    }
}

/// Removes `slot` from `map[key]`, dropping the bitmap once empty.
fn remove_from(map: &mut FxHashMap<ScalarKey, RoaringBitmap>, key: &ScalarKey, slot: u32) {
    if let Some(b) = map.get_mut(key) {
        b.remove(slot);
        if b.is_empty() {
            map.remove(key);
        }
    }
}
