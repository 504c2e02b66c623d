//! The model of one collection: its configuration, each id's stored vector and payload,
//! and what it says a write or a filter does.

use std::collections::{BTreeMap, BTreeSet};

use fletchdb::{CollectionConfig, Payload};

use super::ops::Fail;
use crate::meta::{valid_metadata, WhereIn};

/// The model of one collection.
#[derive(Debug, Clone)]
pub(super) struct Model {
    pub(super) config: CollectionConfig,
    /// Each id's stored vector.
    pub(super) ids: BTreeMap<u64, Vec<f32>>,
    /// The payload of each id that has one (never an empty one).
    pub(super) payloads: BTreeMap<u64, Payload>,
}

impl Model {
    pub(super) fn new(config: CollectionConfig) -> Model {
        Model {
            config,
            ids: BTreeMap::new(),
            payloads: BTreeMap::new(),
        }
    }

    /// The stored form of `v`, or why it is refused.
    pub(super) fn prepare(&self, v: &[f32]) -> Result<Vec<f32>, Fail> {
        if !v.iter().all(|x| x.is_finite()) {
            return Err(Fail::InvalidVector);
        }
        let mut v = v.to_vec();
        self.config
            .metric
            .prepare(&mut v)
            .map_err(|_| Fail::InvalidVector)?;
        Ok(v)
    }

    /// What a put of `vectors` (flat) under `ids`, with `payloads` if given, stores, or
    /// why it is refused, in the order the database checks: the ids (none; one twice),
    /// the payloads, the vectors, then (`replace` false) ids already present.
    pub(super) fn put(
        &self,
        ids: &[u64],
        vectors: &[f32],
        payloads: Option<&[Payload]>,
        replace: bool,
    ) -> Result<Vec<Vec<f32>>, Fail> {
        check_ids(ids)?;
        if let Some(p) = payloads {
            let valid = |p: &Payload| p.metadata.as_ref().is_none_or(valid_metadata);
            if !p.iter().all(valid) {
                return Err(Fail::InvalidArgument);
            }
        }
        let stored = vectors
            .chunks(self.config.dim)
            .map(|v| self.prepare(v))
            .collect::<Result<Vec<_>, _>>()?;
        if !replace && ids.iter().any(|id| self.ids.contains_key(id)) {
            return Err(Fail::Duplicate);
        }
        Ok(stored)
    }

    /// `id` now holds `vector` and `payload` (a put replaces both).
    pub(super) fn set(&mut self, id: u64, vector: Vec<f32>, payload: Payload) {
        self.ids.insert(id, vector);
        self.set_payload(id, payload);
    }

    /// `id` (present) now holds `payload`.
    pub(super) fn set_payload(&mut self, id: u64, payload: Payload) {
        if payload.is_empty() {
            self.payloads.remove(&id);
        } else {
            self.payloads.insert(id, payload);
        }
    }

    /// Removes `id`; true if it was there.
    pub(super) fn remove(&mut self, id: u64) -> bool {
        self.payloads.remove(&id);
        self.ids.remove(&id).is_some()
    }

    /// `id`'s payload, as `get_payloads` returns it: `None` if the id is absent.
    pub(super) fn payload(&self, id: u64) -> Option<Payload> {
        self.ids
            .contains_key(&id)
            .then(|| self.payloads.get(&id).cloned().unwrap_or_default())
    }

    /// The ids whose metadata `w` (valid) matches, ascending: by the model's own
    /// evaluator.
    pub(super) fn matching(&self, w: &WhereIn) -> Vec<u64> {
        self.ids
            .keys()
            .copied()
            .filter(|id| w.matches(self.payloads.get(id).and_then(|p| p.metadata.as_ref())))
            .collect()
    }
}

/// [`Fail::InvalidArgument`] for no ids, [`Fail::Duplicate`] for an id given twice.
pub(super) fn check_ids(ids: &[u64]) -> Result<(), Fail> {
    if ids.is_empty() {
        return Err(Fail::InvalidArgument);
    }
    if ids.iter().collect::<BTreeSet<_>>().len() != ids.len() {
        return Err(Fail::Duplicate);
    }
    Ok(())
}
