//! [`Linked`]: links among the records of wide filters ([`FilterLinks`], Qdrant's
//! payload-aware links, here per filter): which filters get them, when a search may use
//! them, and how a build is started and installed around the writes that go on
//! meanwhile.
//!
//! A `where` matching at least [`LINK_FROM`] live records and at most half of them
//! ([`LINK_TO_SHARE`]), as an exact set of slots (any filter but a range too wide to
//! list), is searched by walking links among its
//! records alone once they are built; until then the planner's usual plans run. A
//! filter gets links once searches have asked with it [`ASK_BEFORE_BUILD`] times (a
//! filter used once, a date range that moves with every query, costs no build), built
//! by the background thread (`filter_links.rs`);
//! [`Collection::prepare_filter`](crate::Collection::prepare_filter) builds them at once.
//! At most [`MAX_LINKED`] filters keep links; the least recently used goes first.
//!
//! The links are a snapshot of the filter's slots. Every write changes slots through
//! [`Payloads`](crate::payload::store::Payloads) (a put, a metadata update, a delete, a
//! compaction's move), which calls [`Linked::changed`]: every filter's links forget the
//! slot, so they only ever hold slots that still match, with the vector they were
//! built with. A search scores the filter's slots without links exactly (`Hnsw`'s
//! linked walk does). Once more than [`REBUILD_AFTER`] are, searches ask for a new
//! build; past [`USABLE_TO`], they stop using the old links. Links are kept in memory
//! only, and built again after an open when searches ask.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use fletchdb_index::{FilterLinks, Slot};
use roaring::RoaringBitmap;
use rustc_hash::FxHashMap;

use crate::payload::Where;

/// Fewest matches for links: below, the planner scans the matches (exactly, or by sign
/// bits) at half the unfiltered speed or better.
pub(crate) const LINK_FROM: usize = 8192;

/// Most matches for links, as a share of the live records: above, the walk of the
/// graph restricted to the matches runs at half the unfiltered speed or better, with
/// better recall than links. On minilm-mix-dev (AMD EPYC, ef 64, two interleaved
/// rounds), `source = debian` (58,507 of 100,000) ran at 0.52-0.58 of the unfiltered
/// speed by that walk with recall 0.968, and at 0.64 by links with recall 0.957; on a
/// graph built by the Python package's adds, links had 0.944.
pub(crate) const LINK_TO_SHARE: f64 = 0.5;

/// A filter's matches without links (added or changed since the build) past which a
/// search asks for the links to be built again.
pub(crate) const REBUILD_AFTER: usize = 128;

/// Matches without links past which searches no longer use the links: each is scored
/// exactly, a distance each (an unfiltered walk computes about 1,100).
pub(crate) const USABLE_TO: usize = 512;

/// Searches with a filter before its links are built.
pub(crate) const ASK_BEFORE_BUILD: u32 = 2;

/// Most filters with links in one collection.
pub(crate) const MAX_LINKED: usize = 16;

/// The identity of a filter's links: its parsed form, written out (`{"k": v}` and
/// `{"k": {"$eq": v}}` share it).
pub(crate) fn filter_key(w: &Where) -> String {
    format!("{w:?}")
}

/// What links a search's filter has.
#[derive(Debug)]
pub(crate) enum LinkState<'a> {
    /// None apply: too few matches, or not an exact set.
    NotLinkable,
    /// Links fit to use, and whether they should be built again.
    Usable(&'a FilterLinks, bool),
    /// Wanted, and none fit to use (none yet, or too stale).
    Wanted,
    /// Being built.
    Building,
}

/// One filter's links.
#[derive(Debug)]
struct Entry {
    links: Arc<FilterLinks>,
    /// [`Linked::tick`] when a search last used them (ticks count installs).
    used: AtomicU64,
}

/// Every filter's links in one collection (see the module comment).
#[derive(Debug, Default)]
pub(crate) struct Linked {
    by_filter: FxHashMap<String, Entry>,
    /// Slots changed while a filter's links were being built.
    building: FxHashMap<String, RoaringBitmap>,
    tick: AtomicU64,
}

impl Linked {
    /// `slot` changed (its record, metadata or vector): every filter's links forget it,
    /// and builds in progress will.
    pub(crate) fn changed(&mut self, slot: u32) {
        for e in self.by_filter.values() {
            e.links.forget(Slot(slot));
        }
        for b in self.building.values_mut() {
            b.insert(slot);
        }
    }

    /// The links a filter with `key` and `matches` matching slots of `live` (`exact`: as
    /// a set the walk can read) may use, or whether to build them.
    pub(crate) fn state(
        &self,
        key: &str,
        matches: usize,
        live: usize,
        exact: bool,
    ) -> LinkState<'_> {
        if matches < LINK_FROM || matches as f64 > LINK_TO_SHARE * live as f64 || !exact {
            return LinkState::NotLinkable;
        }
        let building = self.building.contains_key(key);
        match self.by_filter.get(key) {
            Some(e) => {
                let unlinked = matches.saturating_sub(e.links.valid());
                if unlinked <= USABLE_TO {
                    // A load, not an increment: every linked search comes here, and a
                    // shared counter bumped by each would bounce its cache line between
                    // the search threads. Ticks advance at installs, which is where
                    // the least recently used is chosen.
                    e.used
                        .store(self.tick.load(Ordering::Relaxed), Ordering::Relaxed);
                    LinkState::Usable(&e.links, unlinked > REBUILD_AFTER && !building)
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

    /// Starts a build for `key`: false if one is in progress. Changes from now on are
    /// noted for [`finish`](Self::finish).
    pub(crate) fn start(&mut self, key: &str) -> bool {
        if self.building.contains_key(key) {
            return false;
        }
        self.building.insert(key.to_owned(), RoaringBitmap::new());
        true
    }

    /// Installs `links` built for `key` (`None`: the build failed), after making them
    /// forget the slots that changed meanwhile; drops the least recently used past
    /// [`MAX_LINKED`].
    pub(crate) fn finish(&mut self, key: &str, links: Option<FilterLinks>) {
        let changed = self.building.remove(key).unwrap_or_default();
        let Some(links) = links else { return };
        for s in &changed {
            links.forget(Slot(s));
        }
        let now = self.tick.fetch_add(1, Ordering::Relaxed);
        self.by_filter.insert(
            key.to_owned(),
            Entry {
                links: Arc::new(links),
                used: AtomicU64::new(now),
            },
        );
        while self.by_filter.len() > MAX_LINKED {
            let oldest = self
                .by_filter
                .iter()
                .min_by_key(|(_, e)| e.used.load(Ordering::Relaxed))
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                self.by_filter.remove(&k);
            }
        }
    }

    /// How many filters have links, and the bytes they hold.
    pub(crate) fn held(&self) -> (usize, usize) {
        let bytes = self.by_filter.values().map(|e| e.links.bytes()).sum();
        (self.by_filter.len(), bytes)
    }
}
