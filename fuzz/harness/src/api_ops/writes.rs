//! The writes of `api_ops`: puts with and without payloads, one id or a batch,
//! updates, deletes by id and by filter. Each compares its result with the model's,
//! applies the model's change if it succeeded, and reads back what it wrote.

use fletchdb::{Metadata, Payload};

use super::model::check_ids;
use super::ops::{kind, Coll, Fail, UpdateWhat, Vector};
use super::reads::{check_get, parse_where};
use super::{Run, IDS, MAX_BATCH};
use crate::meta::{document, valid_metadata, MetaIn, PayloadIn, WhereIn};

impl Run {
    /// `insert` or `upsert` of one id, without a payload (which clears one).
    pub(super) fn put(&mut self, c: Coll, id: u8, v: Vector, replace: bool) {
        let id = u64::from(id % IDS);
        let Ok((h, m)) = self.collection(c) else {
            return;
        };
        let v = v.floats(m.config.dim);
        let got = if replace {
            h.upsert(id, &v)
        } else {
            h.insert(id, &v)
        }
        .map_err(|e| kind(&e));
        let want = m.put(&[id], &v, None, replace);
        assert_eq!(
            got,
            want.as_ref().map(|_| ()).map_err(|&e| e),
            "put {id} {v:?}"
        );
        if let Ok(mut stored) = want {
            let m = self.model.get_mut(c.name()).expect("checked");
            m.set(id, stored.remove(0), Payload::new());
            check_get(&h, m, id);
        }
    }

    /// A batch put: `insert_batch`/`upsert_batch` without payloads, or
    /// `insert_with`/`upsert_with` with them.
    pub(super) fn put_batch(
        &mut self,
        c: Coll,
        items: &[(u8, Vector, Option<PayloadIn>)],
        with: bool,
        replace: bool,
    ) {
        let Ok((h, m)) = self.collection(c) else {
            return;
        };
        let items = &items[..items.len().min(MAX_BATCH)];
        let ids: Vec<u64> = items.iter().map(|(id, _, _)| u64::from(id % IDS)).collect();
        let flat: Vec<f32> = items
            .iter()
            .flat_map(|(_, v, _)| v.floats(m.config.dim))
            .collect();
        let payloads: Vec<Payload> = items
            .iter()
            .map(|(_, _, p)| p.as_ref().map(PayloadIn::payload).unwrap_or_default())
            .collect();
        let got = match (with, replace) {
            (false, false) => h.insert_batch(&ids, &flat),
            (false, true) => h.upsert_batch(&ids, &flat),
            (true, false) => h.insert_with(&ids, &flat, &payloads),
            (true, true) => h.upsert_with(&ids, &flat, &payloads),
        }
        .map_err(|e| kind(&e));
        let want = m.put(&ids, &flat, with.then_some(&payloads[..]), replace);
        assert_eq!(
            got,
            want.as_ref().map(|_| ()).map_err(|&e| e),
            "batch {ids:?} with {payloads:?}"
        );
        if let Ok(stored) = want {
            let m = self.model.get_mut(c.name()).expect("checked");
            for ((&id, v), p) in ids.iter().zip(stored).zip(payloads) {
                m.set(id, v, p);
            }
            for &id in &ids {
                check_get(&h, m, id);
            }
        }
    }

    /// `update`: metadata and/or documents of present ids.
    pub(super) fn update(
        &mut self,
        c: Coll,
        items: &[(u8, Option<MetaIn>, Option<u8>)],
        what: UpdateWhat,
    ) {
        let Ok((h, m)) = self.collection(c) else {
            return;
        };
        let items = &items[..items.len().min(MAX_BATCH)];
        let ids: Vec<u64> = items.iter().map(|(id, _, _)| u64::from(id % IDS)).collect();
        let mut metas: Vec<Option<Metadata>> = items
            .iter()
            .map(|(_, meta, _)| meta.as_ref().map(MetaIn::metadata))
            .collect();
        let mut docs: Vec<Option<String>> =
            items.iter().map(|(_, _, doc)| doc.map(document)).collect();
        let (give_metas, give_docs) = match what {
            UpdateWhat::Metadata => (true, false),
            UpdateWhat::Documents => (false, true),
            UpdateWhat::Both => (true, true),
            UpdateWhat::Neither => (false, false),
            UpdateWhat::ShortMetadata => (metas.pop().is_some(), false),
            UpdateWhat::ShortDocuments => (false, docs.pop().is_some()),
        };
        let metas = give_metas.then_some(&metas[..]);
        let docs = give_docs.then_some(&docs[..]);
        let got = h.update(&ids, metas, docs).map_err(|e| kind(&e));
        let want = (|| {
            check_ids(&ids)?;
            if let Some(metas) = metas {
                let valid = metas.iter().flatten().all(valid_metadata);
                if metas.len() != ids.len() || !valid {
                    return Err(Fail::InvalidArgument);
                }
            }
            if docs.is_some_and(|d| d.len() != ids.len()) {
                return Err(Fail::InvalidArgument);
            }
            if ids.iter().any(|id| !m.ids.contains_key(id)) {
                return Err(Fail::IdNotFound);
            }
            Ok(())
        })();
        assert_eq!(got, want, "update {ids:?} {what:?}");
        if want.is_ok() {
            let m = self.model.get_mut(c.name()).expect("checked");
            for (i, &id) in ids.iter().enumerate() {
                let mut p = m.payload(id).expect("present");
                if let Some(metas) = metas {
                    p.metadata = metas[i].clone();
                }
                if let Some(docs) = docs {
                    p.document = docs[i].clone();
                }
                m.set_payload(id, p);
            }
            for &id in &ids {
                check_get(&h, m, id);
            }
        }
    }

    pub(super) fn delete(&mut self, c: Coll, id: u8) {
        let id = u64::from(id % IDS);
        let Ok((h, _)) = self.collection(c) else {
            return;
        };
        let got = h.delete(id).unwrap_or_else(|e| panic!("delete: {e}"));
        let m = self.model.get_mut(c.name()).expect("checked");
        assert_eq!(got, m.remove(id), "delete {id}");
        check_get(&h, m, id);
    }

    /// `delete_where`: removes exactly the ids the model's evaluator matches.
    pub(super) fn delete_where(&mut self, c: Coll, w: &WhereIn) {
        let Ok((h, m)) = self.collection(c) else {
            return;
        };
        let Some(filter) = parse_where(w, m) else {
            return;
        };
        let want = m.matching(w);
        let got = h
            .delete_where(&filter)
            .unwrap_or_else(|e| panic!("delete where {filter}: {e}"));
        assert_eq!(got, want.len(), "delete where {filter}: {want:?}");
        let m = self.model.get_mut(c.name()).expect("checked");
        for id in want {
            m.remove(id);
        }
        for id in 0..u64::from(IDS) {
            check_get(&h, m, id);
        }
    }
}
