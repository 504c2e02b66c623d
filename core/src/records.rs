//! A [`Collection`]'s payload reads and its `where` queries: `get_metadata`,
//! `get_documents`, `ids`, `count_where`, `ids_where` and `delete_where`. (`search` takes a
//! `where` through [`SearchOptions::matching`](crate::SearchOptions::matching).)

use crate::collection::Collection;
use crate::error::Result;
use crate::payload::matches::Matches;
use crate::payload::{Metadata, Payload, Where};

impl Collection {
    /// The payloads of `ids`, in their order; `None` for an id the collection does not
    /// hold (an id without metadata or document has an empty payload).
    ///
    /// # Errors
    /// [`Error::CollectionNotFound`](crate::Error::CollectionNotFound),
    /// [`Error::Closed`](crate::Error::Closed).
    pub fn get_payloads(&self, ids: &[u64]) -> Result<Vec<Option<Payload>>> {
        self.check_live()?;
        let map = self.c.ids.read();
        let payloads = self.c.payloads.read();
        Ok(ids
            .iter()
            .zip(map.find_each(ids))
            .map(|(&id, slot)| slot.map(|_| payloads.get(id)))
            .collect())
    }

    /// The metadata of `ids`, in their order: `None` for an id without metadata or
    /// not in the collection.
    ///
    /// # Errors
    /// As [`get_payloads`](Self::get_payloads).
    pub fn get_metadata(&self, ids: &[u64]) -> Result<Vec<Option<Metadata>>> {
        Ok(self
            .get_payloads(ids)?
            .into_iter()
            .map(|p| p.and_then(|p| p.metadata))
            .collect())
    }

    /// The documents of `ids`, in their order: `None` for an id without a document or
    /// not in the collection.
    ///
    /// # Errors
    /// As [`get_payloads`](Self::get_payloads).
    pub fn get_documents(&self, ids: &[u64]) -> Result<Vec<Option<String>>> {
        Ok(self
            .get_payloads(ids)?
            .into_iter()
            .map(|p| p.and_then(|p| p.document))
            .collect())
    }

    /// Every id the collection holds, ascending (what [`ids_where`](Self::ids_where)
    /// returns for a filter every record matches).
    ///
    /// ```
    /// use fletchdb::{CollectionConfig, Database, Metric, Options};
    /// let dir = tempfile::tempdir()?;
    /// let db = Database::open(dir.path(), Options::default())?;
    /// let c = db.create_collection("pts", CollectionConfig::new(1, Metric::L2))?;
    /// c.insert_batch(&[30, 10, 20], &[3.0, 1.0, 2.0])?;
    /// c.delete(20)?;
    /// assert_eq!(c.ids()?, [10, 30]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::CollectionNotFound`](crate::Error::CollectionNotFound),
    /// [`Error::Closed`](crate::Error::Closed).
    pub fn ids(&self) -> Result<Vec<u64>> {
        self.check_live()?;
        let mut ids: Vec<u64> = self.c.ids.read().pairs().map(|(id, _)| id).collect();
        ids.sort_unstable();
        Ok(ids)
    }

    /// How many records match `w`, counted on the metadata indexes.
    ///
    /// ```
    /// use fletchdb::{CollectionConfig, Database, Metric, Options, Payload, Where};
    /// use serde_json::json;
    /// let dir = tempfile::tempdir()?;
    /// let db = Database::open(dir.path(), Options::default())?;
    /// let c = db.create_collection("docs", CollectionConfig::new(1, Metric::L2))?;
    /// let payloads: Vec<Payload> = (0..10)
    ///     .map(|i| Payload::new().with_metadata(json!({"year": 2015 + i, "tags": ["a"]})))
    ///     .collect();
    /// let ids: Vec<u64> = (0..10).collect();
    /// let vectors: Vec<f32> = (0..10).map(|i| i as f32).collect();
    /// c.insert_with(&ids, &vectors, &payloads)?;
    /// let recent = Where::from_json(&json!({"year": {"$gt": 2020}}))?;
    /// assert_eq!(c.count_where(&recent)?, 4);
    /// assert_eq!(c.ids_where(&recent)?, [6, 7, 8, 9]);
    /// assert_eq!(c.delete_where(&recent)?, 4);
    /// assert_eq!(c.len(), 6);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::CollectionNotFound`](crate::Error::CollectionNotFound),
    /// [`Error::Closed`](crate::Error::Closed).
    pub fn count_where(&self, w: &Where) -> Result<usize> {
        self.check_live()?;
        let map = self.c.ids.read();
        let payloads = self.c.payloads.read();
        let m = Matches::of(w, payloads.index(), map.len());
        Ok(match m {
            Matches::Set(b) | Matches::Dense(b, _) => b.len() as usize,
            Matches::Range { len, .. } => len,
            lazy => {
                // A predicate is asked about every slot; only live ones count (a
                // hand-built empty `And` admits every slot).
                let mut n = 0;
                lazy.for_each(self.c.store().len() as u32, |s| {
                    n += usize::from(map.id_of(s).is_some());
                });
                n
            }
        })
    }

    /// The ids of the records that match `w`, ascending.
    ///
    /// # Errors
    /// As [`count_where`](Self::count_where).
    pub fn ids_where(&self, w: &Where) -> Result<Vec<u64>> {
        self.check_live()?;
        let map = self.c.ids.read();
        let payloads = self.c.payloads.read();
        let m = Matches::of(w, payloads.index(), map.len());
        let mut ids = Vec::with_capacity(m.len().min(map.len()));
        m.for_each(self.c.store().len() as u32, |slot| {
            ids.extend(map.id_of(slot))
        });
        ids.sort_unstable();
        ids.dedup();
        Ok(ids)
    }

    /// Deletes every record that matches `w` (as [`delete_batch`](Self::delete_batch)
    /// of [`ids_where`](Self::ids_where)); returns how many went.
    ///
    /// # Errors
    /// As [`delete_batch`](Self::delete_batch).
    pub fn delete_where(&self, w: &Where) -> Result<usize> {
        let ids = self.ids_where(w)?;
        if ids.is_empty() {
            return Ok(0);
        }
        self.delete_batch(&ids)
    }
}
