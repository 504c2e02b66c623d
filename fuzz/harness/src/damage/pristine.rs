//! The database every `open_damaged` input damages: two collections written with
//! payloads, updates and deletes around a checkpoint (see the parent module), and a
//! third with `i8` codes, past [`CALIBRATE_AFTER`] vectors before the checkpoint so
//! that its catalog state holds a fitted calibration; built once per process, with a
//! record of everything written.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use fletchdb::index::CALIBRATE_AFTER;
use fletchdb::{CollectionConfig, Database, Metadata, Metric, Payload, Quantization};
use serde_json::json;

use crate::scratch::{self, options, FileImage};

/// What was written to one collection.
#[derive(Debug)]
pub(super) struct Written {
    pub(super) name: &'static str,
    pub(super) config: CollectionConfig,
    /// The ids it may hold: the harness asks the opened database about each.
    pub(super) ids: std::ops::Range<u64>,
    /// Every vector ever written for each id, as stored (normalised for cosine).
    pub(super) all: BTreeMap<u64, Vec<Vec<f32>>>,
    /// Every payload each id ever held.
    pub(super) payloads: BTreeMap<u64, Vec<Payload>>,
    /// The final state.
    pub(super) current: BTreeMap<u64, (Vec<f32>, Payload)>,
}

impl Written {
    fn new(name: &'static str, config: CollectionConfig, ids: std::ops::Range<u64>) -> Written {
        Written {
            name,
            config,
            ids,
            all: BTreeMap::new(),
            payloads: BTreeMap::new(),
            current: BTreeMap::new(),
        }
    }

    /// An upsert of `v` with payload `p` (a plain `upsert` if `p` is empty).
    fn put(&mut self, db: &Database, id: u64, v: &[f32], p: Payload) {
        let c = db.collection(self.name).expect("collection");
        if p.is_empty() {
            c.upsert(id, v).expect("upsert");
        } else {
            c.upsert_with(&[id], v, std::slice::from_ref(&p))
                .expect("upsert_with");
        }
        let mut stored = v.to_vec();
        self.config.metric.prepare(&mut stored).expect("valid");
        self.all.entry(id).or_default().push(stored.clone());
        self.payloads.entry(id).or_default().push(p.clone());
        self.current.insert(id, (stored, p));
    }

    /// Upserts of `vs` (one row per id, no payloads) as one batch.
    fn put_batch(&mut self, db: &Database, ids: &[u64], vs: &[Vec<f32>]) {
        let flat: Vec<f32> = vs.concat();
        db.collection(self.name)
            .expect("collection")
            .upsert_batch(ids, &flat)
            .expect("upsert_batch");
        for (&id, v) in ids.iter().zip(vs) {
            let mut stored = v.clone();
            self.config.metric.prepare(&mut stored).expect("valid");
            self.all.entry(id).or_default().push(stored.clone());
            self.payloads.entry(id).or_default().push(Payload::new());
            self.current.insert(id, (stored, Payload::new()));
        }
    }

    /// An update of `id`'s metadata (if `meta`) and document (if `doc`).
    fn update(&mut self, db: &Database, id: u64, meta: Option<Metadata>, doc: Option<String>) {
        let (metas, docs) = ([meta.clone()], [doc.clone()]);
        db.collection(self.name)
            .expect("collection")
            .update(
                &[id],
                meta.is_some().then_some(&metas[..]),
                doc.is_some().then_some(&docs[..]),
            )
            .expect("update");
        let p = &mut self.current.get_mut(&id).expect("present").1;
        if meta.is_some() {
            p.metadata = meta;
        }
        if doc.is_some() {
            p.document = doc;
        }
        self.payloads.entry(id).or_default().push(p.clone());
    }

    fn delete(&mut self, db: &Database, id: u64) {
        assert!(db
            .collection(self.name)
            .expect("collection")
            .delete(id)
            .expect("delete"));
        self.current.remove(&id);
    }
}

/// The payload of write `gen` of `id`: metadata and a document, one of them, or
/// neither (one in five).
pub(super) fn payload(id: u64, gen: u64) -> Payload {
    let meta = json!({"a": id % 3, "b": gen, "tags": ["x", id.is_multiple_of(2)], "n": null});
    let doc = format!("document {gen} of {id}");
    match (id + gen) % 5 {
        0 => Payload::new(),
        1 => Payload::new().with_metadata(meta),
        2 => Payload::new().with_document(doc),
        _ => Payload::new().with_metadata(meta).with_document(doc),
    }
}

/// Metadata an update sets.
fn new_meta(id: u64) -> Option<Metadata> {
    json!({"a": 2, "b": id, "tags": ["y"]}).as_object().cloned()
}

/// The database every input damages.
pub(super) struct Pristine {
    pub(super) files: Vec<FileImage>,
    pub(super) written: Vec<Written>,
}

fn vec_a(id: u64, gen: u64) -> Vec<f32> {
    let i = id as f32;
    vec![
        (id % 5) as f32 + gen as f32 * 10.0,
        (id / 5) as f32,
        ((id * 3) % 7) as f32 * 0.5,
        -i * 0.25,
    ]
}

fn vec_b(id: u64, gen: u64) -> Vec<f32> {
    vec![
        1.0 + (id % 3) as f32,
        (id % 4) as f32 - gen as f32,
        (id % 5) as f32 - 2.0,
    ]
}

/// Collection `c`'s dimension: the smallest that gets `i8` codes by default.
const C_DIM: usize = 32;
/// Collection `c`'s first id, clear of the other collections' ids and of the id the
/// harness adds after opening.
const C_FIRST: u64 = 2000;

/// A vector of `c`: components in [-1, 1) from a hash of the id, the generation and
/// the component.
fn vec_c(id: u64, gen: u64) -> Vec<f32> {
    (0..C_DIM as u64)
        .map(|j| {
            let x = (id * 31 + gen * 7 + j).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            (x >> 40) as f32 / (1u64 << 23) as f32 - 1.0
        })
        .collect()
}

pub(super) fn pristine() -> &'static Pristine {
    static PRISTINE: OnceLock<Pristine> = OnceLock::new();
    PRISTINE.get_or_init(build)
}

fn build() -> Pristine {
    let dir = scratch::tempdir();
    let db = Database::open(dir.path(), options()).expect("open a new database");
    let mut a = Written::new(
        "a",
        CollectionConfig {
            m: 4,
            ..CollectionConfig::new(4, Metric::L2)
        },
        0..super::ID_BOUND,
    );
    let mut b = Written::new(
        "b",
        CollectionConfig {
            m: 8,
            ..CollectionConfig::new(3, Metric::Cosine)
        },
        0..super::ID_BOUND,
    );
    let c_config = CollectionConfig {
        m: 4,
        ef_construction: 16,
        ..CollectionConfig::new(C_DIM, Metric::L2)
    };
    assert_eq!(c_config.quantization, Quantization::I8);
    let c_ids = C_FIRST..C_FIRST + CALIBRATE_AFTER as u64 + 40;
    let mut c = Written::new("c", c_config, c_ids.clone());
    for w in [&a, &b, &c] {
        db.create_collection(w.name, w.config).expect("create");
    }
    for id in 0..24 {
        a.put(&db, id, &vec_a(id, 0), payload(id, 0));
    }
    for id in 0..10 {
        b.put(&db, id, &vec_b(id, 0), payload(id, 1));
    }
    a.put(&db, 3, &vec_a(3, 1), Payload::new());
    a.put(&db, 5, &vec_a(5, 1), payload(5, 1));
    a.update(&db, 6, new_meta(6), None);
    a.update(&db, 9, None, Some("updated".into()));
    a.delete(&db, 7);
    b.delete(&db, 2);
    let first: Vec<u64> = (C_FIRST..c_ids.end - 8).collect();
    let vs: Vec<Vec<f32>> = first.iter().map(|&id| vec_c(id, 0)).collect();
    c.put_batch(&db, &first, &vs);
    c.delete(&db, C_FIRST + 5);
    db.checkpoint().expect("checkpoint");
    // After the checkpoint: replayed at open, encoded with the calibration it kept.
    let last: Vec<u64> = (c_ids.end - 8..c_ids.end).chain([C_FIRST + 1]).collect();
    let vs: Vec<Vec<f32>> = last.iter().map(|&id| vec_c(id, 1)).collect();
    c.put_batch(&db, &last, &vs);
    c.delete(&db, C_FIRST + 9);
    for id in 24..32 {
        a.put(&db, id, &vec_a(id, 0), payload(id, 2));
    }
    a.put(&db, 4, &vec_a(4, 2), Payload::new());
    a.put(&db, 24, &vec_a(24, 3), payload(24, 3));
    a.update(&db, 10, None, Some("updated after".into()));
    a.update(&db, 11, new_meta(11), Some(String::new()));
    a.update(&db, 26, Some(Metadata::new()), None);
    a.delete(&db, 8);
    a.delete(&db, 25);
    for id in 10..14 {
        b.put(&db, id, &vec_b(id, 0), payload(id, 4));
    }
    b.put(&db, 1, &vec_b(1, 1), payload(1, 1));
    b.update(&db, 0, None, None);
    b.update(&db, 4, new_meta(4), None);
    b.delete(&db, 3);
    db.close().expect("close");
    Pristine {
        files: scratch::snapshot(dir.path()),
        written: vec![a, b, c],
    }
}
