//! Building links among a wide filter's records (see `payload/links.rs`): asked for by
//! searches and built by the background thread a filter per round, or built at once by
//! [`Collection::prepare_filter`].

use rustc_hash::FxHashMap;

use crate::collection::{Collection, CollectionInner};
use crate::error::Result;
use crate::payload::links::{filter_key, LinkState, ASK_BEFORE_BUILD};
use crate::payload::matches::Matches;
use crate::payload::Where;

/// Most filters counted at once; past it the counts start again (a filter asked for
/// often is soon counted again).
const MAX_COUNTED: usize = 1024;

/// The filters searches asked links for: how often each was asked, and those asked
/// often enough, waiting for the background thread.
#[derive(Debug, Default)]
pub(crate) struct LinksWanted {
    asked: FxHashMap<String, u32>,
    queue: Vec<(String, Where)>,
}

impl CollectionInner {
    /// Notes that a search with `w` (whose [`filter_key`] is `key`) wants links; queued
    /// for the background thread once asked [`ASK_BEFORE_BUILD`] times, or at once
    /// (`now`: its links are stale).
    pub(crate) fn want_links(&self, w: &Where, key: String, now: bool) {
        let mut wanted = self.links_wanted.lock();
        if wanted.queue.iter().any(|(k, _)| *k == key) {
            return;
        }
        if wanted.asked.len() >= MAX_COUNTED {
            wanted.asked.clear();
        }
        let n = wanted.asked.entry(key.clone()).or_insert(0);
        *n += 1;
        if now || *n >= ASK_BEFORE_BUILD {
            wanted.asked.remove(&key);
            wanted.queue.push((key, w.clone()));
        }
    }

    /// Builds links among the records `w` matches on this thread, the payloads
    /// unlocked meanwhile. False if it has too few matches, cannot use links, or a
    /// build of it is in progress.
    pub(crate) fn build_links(&self, w: &Where) -> Result<bool> {
        let key = filter_key(w);
        let live = self.ids.read().len();
        let slots = {
            let mut payloads = self.payloads.write();
            let m = Matches::of(w, payloads.index(), live).for_search(0);
            if matches!(
                payloads.linked().state(&key, m.len(), live, m.has_words()),
                LinkState::NotLinkable
            ) {
                return Ok(false);
            }
            let mut slots = Vec::with_capacity(m.len());
            m.for_each(self.store().len() as u32, |s| {
                slots.push(fletchdb_index::Slot(s))
            });
            drop(m);
            if !payloads.linked_mut().start(&key) {
                return Ok(false);
            }
            slots
        };
        let built = self.index.link_members(&slots);
        let mut payloads = self.payloads.write();
        match built {
            Ok(links) => {
                payloads.linked_mut().finish(&key, Some(links));
                Ok(true)
            }
            Err(e) => {
                payloads.linked_mut().finish(&key, None);
                Err(self.graph_error(e))
            }
        }
    }

    /// The background thread's step: builds the links searches asked for with one
    /// filter. True if more wait.
    pub(crate) fn links_round(&self) -> Result<bool> {
        let next = self.links_wanted.lock().queue.pop();
        if let Some((_, w)) = next {
            self.build_links(&w)?;
        }
        Ok(!self.links_wanted.lock().queue.is_empty())
    }
}

impl Collection {
    /// Builds now what makes searches with `filter` fast, if anything: links among the
    /// records it matches, when it matches 8,192 or more, and at most half the
    /// collection, as an exact set (any filter but a numeric range of more than 65,536
    /// records). Above half, the walk of the graph restricted to the matches is as fast
    /// and finds more of the true neighbours. Without this, searches with
    /// the filter ask the background thread to build them (the second does), and run
    /// by the usual plans (the same results, slower) until they are in. Links are kept
    /// for the 16 filters used last, in memory. Returns true if it built links; false
    /// if `filter` cannot use any, or those it has are current.
    ///
    /// ```
    /// use fletchdb::{CollectionConfig, Database, Metric, Options, Payload, SearchOptions, Where};
    /// use serde_json::json;
    /// let dir = tempfile::tempdir()?;
    /// let db = Database::open(dir.path(), Options::default())?;
    /// let docs = db.create_collection("docs", CollectionConfig::new(2, Metric::L2))?;
    /// let tag = |fifth: bool| Payload::new().with_metadata(json!({"fifth": fifth}));
    /// let ids: Vec<u64> = (0..20_000).collect();
    /// let vectors: Vec<f32> = ids.iter().flat_map(|&i| [i as f32, 1.0]).collect();
    /// let payloads: Vec<Payload> = ids.iter().map(|&i| tag(i % 5 == 0)).collect();
    /// docs.insert_with(&ids, &vectors, &payloads)?;
    /// let fifth = Where::from_json(&json!({"fifth": true}))?;
    /// assert!(!docs.prepare_filter(&fifth)?); // 4,000 records: scanned, no links
    /// let ids: Vec<u64> = (20_000..26_000).collect();
    /// let vectors: Vec<f32> = ids.iter().flat_map(|&i| [i as f32, 1.0]).collect();
    /// docs.insert_with(&ids, &vectors, &vec![tag(true); ids.len()])?;
    /// assert!(docs.prepare_filter(&fifth)?); // 10,000 of 26,000
    /// assert!(!docs.prepare_filter(&fifth)?); // current
    /// let options = SearchOptions { matching: Some(&fifth), ..SearchOptions::default() };
    /// let hits = docs.search(&[4000.2, 1.0], 2, &options)?;
    /// assert_eq!(hits.iter().map(|h| h.id).collect::<Vec<_>>(), [4000, 4005]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Corruption`](crate::Error::Corruption) if a damaged graph list is met;
    /// [`Error::CollectionNotFound`](crate::Error::CollectionNotFound);
    /// [`Error::Closed`](crate::Error::Closed).
    pub fn prepare_filter(&self, filter: &Where) -> Result<bool> {
        self.check_live()?;
        let key = filter_key(filter);
        let live = self.len();
        let wanted = {
            let payloads = self.c.payloads.read();
            let m = Matches::of(filter, payloads.index(), live).for_search(0);
            matches!(
                payloads.linked().state(&key, m.len(), live, m.has_words()),
                LinkState::Wanted | LinkState::Usable(_, true)
            )
        };
        if wanted {
            self.c.build_links(filter)
        } else {
            Ok(false)
        }
    }
}
