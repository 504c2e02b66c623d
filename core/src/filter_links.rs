//! Building links among a wide value's records (see `payload/links.rs`): asked for by
//! searches and built by the background thread a value per round, or built at once by
//! [`Collection::prepare_filter`].

use crate::collection::{Collection, CollectionInner};
use crate::error::Result;
use crate::payload::links::{linkable, LinkState};
use crate::payload::{ScalarKey, Where};

/// Most values waiting for links in one collection; searches asking for more are not
/// noted (they ask again).
const MAX_WANTED: usize = 64;

impl CollectionInner {
    /// Notes that a search with `w` (one equality) wants links.
    pub(crate) fn want_links(&self, w: Option<&Where>) {
        let Some((key, v)) = w.and_then(linkable) else {
            return;
        };
        let mut wanted = self.links_wanted.lock();
        if wanted.len() < MAX_WANTED && !wanted.iter().any(|(k, x)| k == key && *x == v) {
            wanted.push((key.to_owned(), v));
        }
    }

    /// Builds links among the records of `key = v` on this thread, the payloads
    /// unlocked meanwhile. False if the value has too few records or a build of it is
    /// in progress.
    pub(crate) fn build_links(&self, key: &str, v: &ScalarKey) -> Result<bool> {
        let Some(slots) = self.payloads.write().index_mut().start_links(key, v) else {
            return Ok(false);
        };
        let built = self.index.link_members(&slots);
        let mut payloads = self.payloads.write();
        match built {
            Ok(links) => {
                payloads.index_mut().finish_links(key, v, Some(links));
                Ok(true)
            }
            Err(e) => {
                payloads.index_mut().finish_links(key, v, None);
                Err(self.graph_error(e))
            }
        }
    }

    /// The background thread's step: builds the links one search asked for. True if
    /// more wait.
    pub(crate) fn links_round(&self) -> Result<bool> {
        let next = self.links_wanted.lock().pop();
        if let Some((key, v)) = next {
            self.build_links(&key, &v)?;
        }
        Ok(!self.links_wanted.lock().is_empty())
    }
}

impl Collection {
    /// Builds now what makes searches with `filter` fast, if anything: links among
    /// the records of a value that many records hold, when `filter` is one equality
    /// (`{"key": value}`, or `$in` with one value) on a value held by 8,192 records or
    /// more. Without this, the first such search asks the background thread to build
    /// them, and searches run by the usual plans (the same results, slower) until
    /// they are in. Returns true if it built links; false if `filter` cannot use any,
    /// or those it has are current.
    ///
    /// ```
    /// use fletchdb::{CollectionConfig, Database, Metric, Options, Payload, SearchOptions, Where};
    /// use serde_json::json;
    /// let dir = tempfile::tempdir()?;
    /// let db = Database::open(dir.path(), Options::default())?;
    /// let docs = db.create_collection("docs", CollectionConfig::new(2, Metric::L2))?;
    /// let tag = |odd: bool| Payload::new().with_metadata(json!({"odd": odd}));
    /// let ids: Vec<u64> = (0..5000).collect();
    /// let vectors: Vec<f32> = ids.iter().flat_map(|&i| [i as f32, 1.0]).collect();
    /// let payloads: Vec<Payload> = ids.iter().map(|&i| tag(i % 2 == 1)).collect();
    /// docs.insert_with(&ids, &vectors, &payloads)?;
    /// let odd = Where::from_json(&json!({"odd": true}))?;
    /// assert!(!docs.prepare_filter(&odd)?); // 2,500 records: scanned, no links
    /// let ids: Vec<u64> = (5000..12000).collect();
    /// let vectors: Vec<f32> = ids.iter().flat_map(|&i| [i as f32, 1.0]).collect();
    /// docs.insert_with(&ids, &vectors, &vec![tag(true); ids.len()])?;
    /// assert!(docs.prepare_filter(&odd)?);
    /// assert!(!docs.prepare_filter(&odd)?); // current
    /// let options = SearchOptions { matching: Some(&odd), ..SearchOptions::default() };
    /// let hits = docs.search(&[4000.2, 1.0], 2, &options)?;
    /// assert_eq!(hits.iter().map(|h| h.id).collect::<Vec<_>>(), [4001, 3999]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Corruption`](crate::Error::Corruption) if a damaged graph list is met;
    /// [`Error::CollectionNotFound`](crate::Error::CollectionNotFound);
    /// [`Error::Closed`](crate::Error::Closed).
    pub fn prepare_filter(&self, filter: &Where) -> Result<bool> {
        self.check_live()?;
        let wanted = match self.c.payloads.read().index().link_state(filter) {
            LinkState::Wanted | LinkState::Usable(_, true) => linkable(filter),
            _ => None,
        }
        .map(|(k, v)| (k.to_owned(), v));
        match wanted {
            Some((key, v)) => self.c.build_links(&key, &v),
            None => Ok(false),
        }
    }
}
