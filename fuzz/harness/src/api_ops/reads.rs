//! The reads of `api_ops`: `get` and `get_payloads` of an id, filters parsed and
//! counted, and searches (with an id filter, a `where`, both or neither), each checked
//! against the model.

use std::collections::BTreeSet;

use fletchdb::{Collection, Error, IdFilter, SearchOptions, Where};

use super::model::Model;
use super::ops::{kind, Coll, Vector};
use super::{Run, IDS};
use crate::meta::WhereIn;

/// `get(id)` is the model's vector, bit for bit, and `get_payloads` its payload.
pub(super) fn check_get(h: &Collection, m: &Model, id: u64) {
    let got = h.get(id).unwrap_or_else(|e| panic!("get: {e}"));
    let want = m.ids.get(&id);
    let bits = |v: &Vec<f32>| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(got.as_ref().map(bits), want.map(bits), "get {id}");
    let got = h
        .get_payloads(&[id])
        .unwrap_or_else(|e| panic!("get_payloads: {e}"));
    assert_eq!(got, [m.payload(id)], "payload of {id}");
}

/// Parses `w`'s JSON with [`Where::from_json`]: refused exactly when the model says the
/// grammar refuses it (with `InvalidArgument`). An accepted filter prints as JSON that
/// parses back to it, and [`Where::matches`] agrees with the model's evaluator on
/// every record of `m` (a cross-check: the model's evaluator is the oracle).
pub(super) fn parse_where(w: &WhereIn, m: &Model) -> Option<Where> {
    let json = w.json();
    let parsed = match Where::from_json(&json) {
        Ok(parsed) => parsed,
        Err(e) => {
            assert!(
                matches!(e, Error::InvalidArgument(_)),
                "{json} refused with {e:?}"
            );
            assert!(!w.valid(), "{json} refused, but the model accepts it: {e}");
            return None;
        }
    };
    assert!(
        w.valid(),
        "{json} parsed to {parsed:?}; the model refuses it"
    );
    let back = Where::from_json(&parsed.to_json())
        .unwrap_or_else(|e| panic!("{json} printed as {parsed}, which is refused: {e}"));
    assert_eq!(
        back, parsed,
        "{json} printed as {parsed}, which reads back otherwise"
    );
    let empty = fletchdb::Metadata::new();
    assert_eq!(
        parsed.matches(&empty),
        w.matches(None),
        "Where::matches and the model disagree: {json} on no metadata"
    );
    for (id, p) in &m.payloads {
        let meta = p.metadata.as_ref();
        assert_eq!(
            parsed.matches(meta.unwrap_or(&empty)),
            w.matches(meta),
            "Where::matches and the model disagree: {json} on id {id} {meta:?}"
        );
    }
    Some(parsed)
}

/// `count_where` and `ids_where` of `w` are the model's.
pub(super) fn check_where(h: &Collection, m: &Model, w: &WhereIn) {
    let Some(filter) = parse_where(w, m) else {
        return;
    };
    let want = m.matching(w);
    let got = h
        .ids_where(&filter)
        .unwrap_or_else(|e| panic!("ids where {filter}: {e}"));
    assert_eq!(got, want, "ids where {filter}");
    let got = h
        .count_where(&filter)
        .unwrap_or_else(|e| panic!("count where {filter}: {e}"));
    assert_eq!(got, want.len(), "count where {filter}");
}

impl Run {
    pub(super) fn search(
        &self,
        c: Coll,
        query: Vector,
        k: usize,
        filter: Option<Vec<u8>>,
        matching: Option<&WhereIn>,
    ) {
        let Ok((h, m)) = self.collection(c) else {
            return;
        };
        // A filter the parser refuses is not searched with (`parse_where` checked it).
        let parsed = match matching {
            Some(w) => match parse_where(w, m) {
                Some(p) => Some(p),
                None => return,
            },
            None => None,
        };
        let q = query.floats(m.config.dim);
        let allowed: Option<Vec<u64>> =
            filter.map(|f| f.iter().map(|&id| u64::from(id % IDS)).collect());
        let opts = SearchOptions {
            ef: m.ids.len().max(1),
            filter: allowed.as_deref().map(IdFilter::Ids),
            matching: parsed.as_ref(),
        };
        let got = h.search(&q, k, &opts).map_err(|e| kind(&e));
        let pq = match m.prepare(&q) {
            Ok(pq) => pq,
            Err(e) => {
                assert_eq!(got.map(|_| ()), Err(e), "search with {q:?}");
                return;
            }
        };
        let hits = got.unwrap_or_else(|e| panic!("search with {q:?} failed: {e:?}"));
        let metric = m.config.metric;
        let admitted: Vec<u64> = match matching {
            Some(w) => m.matching(w),
            None => m.ids.keys().copied().collect(),
        };
        let admitted: BTreeSet<u64> = admitted
            .into_iter()
            .filter(|id| allowed.as_ref().is_none_or(|a| a.contains(id)))
            .collect();
        let mut exact: Vec<(f32, u64)> = admitted
            .iter()
            .map(|&id| (metric.distance_scalar(&pq, &m.ids[&id]), id))
            .collect();
        exact.sort_by(|a, b| a.0.total_cmp(&b.0));
        exact.truncate(k);
        let context = || {
            format!(
                "{c:?} query {q:?} k {k} filter {allowed:?} where {}: {hits:?} vs {exact:?}",
                parsed.as_ref().map_or("-".into(), Where::to_string)
            )
        };
        assert_eq!(hits.len(), exact.len(), "result count, {}", context());
        let mut seen = BTreeSet::new();
        for (h, &(d, _)) in hits.iter().zip(&exact) {
            let v = m
                .ids
                .get(&h.id)
                .unwrap_or_else(|| panic!("id {} not in the collection, {}", h.id, context()));
            assert!(
                admitted.contains(&h.id),
                "id {} not admitted, {}",
                h.id,
                context()
            );
            assert!(seen.insert(h.id), "id {} twice, {}", h.id, context());
            let true_d = metric.distance_scalar(&pq, v);
            assert!(
                close(h.distance, true_d),
                "id {} distance, {}",
                h.id,
                context()
            );
            assert!(close(h.distance, d), "not the exact result, {}", context());
        }
    }
}

/// Equal up to the rounding of SIMD against scalar arithmetic.
fn close(a: f32, b: f32) -> bool {
    a == b || (a - b).abs() <= 1e-4 * a.abs().max(b.abs()).max(1.0)
}
