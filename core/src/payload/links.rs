//! Links among the slots of a wide metadata value ([`FilterLinks`], Qdrant's
//! payload-aware links): which values get them, when a search may use them, and how a
//! build is started and installed around the writes that go on meanwhile.
//!
//! A `where` that is one equality (`{"source": "wordnet"}`) on a value held by at least
//! [`LINK_FROM`] live records is searched by walking links among those records alone,
//! once they are built; until then (and for every other filter) the planner's usual
//! plans run. The first such search asks the background thread to build them
//! (`Collection::search`); [`Collection::prepare_filter`](crate::Collection::prepare_filter)
//! builds them at once.
//!
//! The links are a snapshot of the value's slots. Every change of a slot's membership
//! goes through [`MetaIndex`]'s `add` and `remove` (a put, an update, a delete, a
//! compaction's move), which makes the links forget that slot; a search scores the
//! value's slots without links exactly. Once more than [`REBUILD_AFTER`] are, the next
//! search asks for a new build; past [`USABLE_TO`], searches stop using the old links.
//! They are kept in memory only, and built again after an open when searches ask.

use std::sync::Arc;

use fletchdb_index::{FilterLinks, Slot};
use roaring::RoaringBitmap;

use crate::payload::index::MetaIndex;
use crate::payload::{ScalarKey, Where};

/// Fewest live records of a value for links among them: below, the planner scans the
/// matches (exactly, or by sign bits) at half the unfiltered speed or better.
pub(crate) const LINK_FROM: usize = 8192;

/// A value's slots without links (added or changed since the build) past which a
/// search asks for the links to be built again.
pub(crate) const REBUILD_AFTER: usize = 128;

/// A value's slots without links past which searches no longer use the links: each is
/// scored exactly, a distance each (an unfiltered walk computes about 1,100).
pub(crate) const USABLE_TO: usize = 512;

/// The key and value of a filter that links could serve: one equality.
pub(crate) fn linkable(w: &Where) -> Option<(&str, ScalarKey)> {
    match w {
        Where::Eq(key, v) => Some((key.as_str(), v.key())),
        Where::In(key, vs) if vs.len() == 1 => Some((key.as_str(), vs[0].key())),
        _ => None,
    }
}

/// What links a filter has.
#[derive(Debug)]
pub(crate) enum LinkState<'a> {
    /// None apply: not one equality, or too few records.
    NotLinkable,
    /// Links fit to use, and whether they should be built again.
    Usable(&'a FilterLinks, bool),
    /// Wanted, and none fit to use (none yet, or too stale).
    Wanted,
    /// Being built.
    Building,
}

impl MetaIndex {
    /// The links `w` may use, or whether to build them (see the module comment).
    pub(crate) fn link_state(&self, w: &Where) -> LinkState<'_> {
        let Some((key, v)) = linkable(w) else {
            return LinkState::NotLinkable;
        };
        let Some(k) = self.key(key) else {
            return LinkState::NotLinkable;
        };
        let members = k.eq.get(&v).map_or(0, |b| b.len() as usize);
        if members < LINK_FROM {
            return LinkState::NotLinkable;
        }
        let building = k.building.contains_key(&v);
        match k.links.get(&v) {
            Some(l) => {
                let unlinked = members.saturating_sub(l.valid());
                if unlinked <= USABLE_TO {
                    LinkState::Usable(l, unlinked > REBUILD_AFTER && !building)
                } else if building {
                    LinkState::Building
                } else {
                    LinkState::Wanted
                }
            }
            None if building => LinkState::Building,
            None => LinkState::Wanted,
        }
    }

    /// Starts a build of links for `key = v`: the slots to link, or `None` if one is in
    /// progress or the value has too few records. Changes from now on are noted for
    /// [`finish_links`](Self::finish_links).
    pub(crate) fn start_links(&mut self, key: &str, v: &ScalarKey) -> Option<Vec<Slot>> {
        let k = self.keys.get_mut(key)?;
        let members = k.eq.get(v)?;
        if members.len() < LINK_FROM as u64 || k.building.contains_key(v) {
            return None;
        }
        let slots = members.iter().map(Slot).collect();
        k.building.insert(v.clone(), RoaringBitmap::new());
        Some(slots)
    }

    /// Installs `links` built for `key = v` (`None`: the build failed), after making
    /// them forget the slots that changed meanwhile.
    pub(crate) fn finish_links(&mut self, key: &str, v: &ScalarKey, links: Option<FilterLinks>) {
        let Some(k) = self.keys.get_mut(key) else {
            return;
        };
        let changed = k.building.remove(v).unwrap_or_default();
        let (Some(links), true) = (links, k.eq.contains_key(v)) else {
            return;
        };
        for s in &changed {
            links.forget(Slot(s));
        }
        k.links.insert(v.clone(), Arc::new(links));
    }

    /// Bytes held by links, and how many values have them.
    pub(crate) fn links_held(&self) -> (usize, usize) {
        self.keys
            .values()
            .flat_map(|k| k.links.values())
            .fold((0, 0), |(b, n), l| (b + l.bytes(), n + 1))
    }
}

/// A value a search asked links for: its key and value.
pub(crate) type LinkRequest = (String, ScalarKey);
