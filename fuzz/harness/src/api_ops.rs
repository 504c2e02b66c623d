//! `api_ops`: sequences of database operations against an in-memory model.
//!
//! The input is decoded with [`arbitrary`] into up to [`MAX_OPS`] [`Op`]s, run against a
//! real database in a scratch directory that starts with collection `a`. Three
//! collections can exist: `a` (2-d, L2, m = 4), `b` (3-d, cosine, m = 8) and `c` (1-d,
//! inner product, m = 2); ids are below [`IDS`] so that they collide; vector components
//! are small multiples of 1/8 (so distances tie), NaN or infinity.
//!
//! Checked after every operation: its result (value or error variant) is the model's;
//! `get` returns the model's vector bit for bit; a search with ef >= the collection's
//! size returns what an exact search of the model returns (the same distances in the
//! same order: ids may differ only between equal distances), with or without an id
//! filter. After every reopen the whole state is compared. Reopening comes in three
//! kinds: clean (checkpoint, close), without a final checkpoint (the log is replayed),
//! and killed (the files as SIGKILL leaves them: no close marker, nothing more synced).
//!
//! With `FLETCHDB_FUZZ_DEBUG` set, each operation is printed as it is applied, with the
//! model's collections and sizes before it.

use std::collections::{BTreeMap, BTreeSet};

use arbitrary::{Arbitrary, Unstructured};
use fletchdb::{Collection, CollectionConfig, Database, Error, IdFilter, Metric, SearchOptions};

use crate::scratch::{self, options};

/// Operations run per input, at most.
const MAX_OPS: usize = 64;
/// Ids are taken modulo this.
const IDS: u8 = 24;
/// Items in a batch, at most.
const MAX_BATCH: usize = 8;

/// One of the three collections.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
enum Coll {
    A,
    B,
    C,
}

impl Coll {
    fn name(self) -> &'static str {
        match self {
            Coll::A => "a",
            Coll::B => "b",
            Coll::C => "c",
        }
    }

    fn config(self) -> CollectionConfig {
        let (dim, metric, m) = match self {
            Coll::A => (2, Metric::L2, 4),
            Coll::B => (3, Metric::Cosine, 8),
            Coll::C => (1, Metric::InnerProduct, 2),
        };
        CollectionConfig {
            m,
            ef_construction: 32,
            ..CollectionConfig::new(dim, metric)
        }
    }
}

/// Up to three components: `i8::MIN` is NaN, `i8::MAX` infinity, others `x / 8`.
#[derive(Arbitrary, Debug, Clone, Copy)]
struct Vector([i8; 3]);

impl Vector {
    fn floats(self, dim: usize) -> Vec<f32> {
        self.0[..dim]
            .iter()
            .map(|&x| match x {
                i8::MIN => f32::NAN,
                i8::MAX => f32::INFINITY,
                x => f32::from(x) / 8.0,
            })
            .collect()
    }
}

/// One operation.
#[derive(Arbitrary, Debug)]
enum Op {
    Create(Coll),
    Drop(Coll),
    Insert(Coll, u8, Vector),
    Upsert(Coll, u8, Vector),
    InsertBatch(Coll, Vec<(u8, Vector)>),
    UpsertBatch(Coll, Vec<(u8, Vector)>),
    Delete(Coll, u8),
    Get(Coll, u8),
    Search {
        coll: Coll,
        query: Vector,
        k: u8,
        filter: Option<Vec<u8>>,
    },
    Checkpoint,
    /// Checkpoint, close, open.
    Reopen,
    /// Close without a final checkpoint, open: the log is replayed.
    ReopenWithoutCheckpoint,
    /// Open a copy of the files as a killed process leaves them.
    Kill,
    /// Compact a collection: nothing any call returns may change.
    Compact(Coll),
}

/// The error variants the model predicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fail {
    NotFound,
    Exists,
    Duplicate,
    InvalidVector,
    InvalidArgument,
}

fn kind(e: &Error) -> Fail {
    match e {
        Error::CollectionNotFound { .. } => Fail::NotFound,
        Error::CollectionExists { .. } => Fail::Exists,
        Error::DuplicateId { .. } => Fail::Duplicate,
        Error::InvalidVector { .. } => Fail::InvalidVector,
        Error::InvalidArgument(_) => Fail::InvalidArgument,
        other => panic!("an operation failed unexpectedly: {other}"),
    }
}

/// The model of one collection: its configuration and each id's stored vector.
#[derive(Debug, Clone)]
struct Model {
    config: CollectionConfig,
    ids: BTreeMap<u64, Vec<f32>>,
}

impl Model {
    /// The stored form of `v`, or why it is refused.
    fn prepare(&self, v: &[f32]) -> Result<Vec<f32>, Fail> {
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
}

/// The database under test, its directory and options, and the model.
struct Run {
    dir: tempfile::TempDir,
    db: Option<Database>,
    model: BTreeMap<&'static str, Model>,
}

/// The body of the `api_ops` fuzz target; see the module documentation.
pub fn api_ops(data: &[u8]) {
    let mut u = Unstructured::new(data);
    let mut ops = Vec::new();
    while ops.len() < MAX_OPS && !u.is_empty() {
        match Op::arbitrary(&mut u) {
            Ok(op) => ops.push(op),
            Err(_) => break,
        }
    }
    let debug = std::env::var_os("FLETCHDB_FUZZ_DEBUG").is_some();
    let dir = scratch::tempdir();
    let db = Database::open(dir.path(), options()).expect("open a new database");
    let mut run = Run {
        dir,
        db: Some(db),
        model: BTreeMap::new(),
    };
    run.create(Coll::A).expect("create the first collection");
    for op in ops {
        if debug {
            let sizes: Vec<_> = run.model.iter().map(|(k, m)| (*k, m.ids.len())).collect();
            eprintln!("api_ops: {op:?} (collections and sizes before: {sizes:?})");
        }
        run.apply(op);
    }
    run.reopen(true);
}

impl Run {
    fn db(&self) -> &Database {
        self.db.as_ref().expect("open")
    }

    fn collection(&self, c: Coll) -> Result<(Collection, &Model), Fail> {
        let handle = self.db().collection(c.name()).map_err(|e| kind(&e));
        match (handle, self.model.get(c.name())) {
            (Ok(h), Some(m)) => Ok((h, m)),
            (Err(Fail::NotFound), None) => Err(Fail::NotFound),
            (got, want) => panic!(
                "collection {}: database says {:?}, model says {:?}",
                c.name(),
                got.map(|_| ()),
                want.map(|_| ())
            ),
        }
    }

    fn create(&mut self, c: Coll) -> Result<(), Fail> {
        let got = self
            .db()
            .create_collection(c.name(), c.config())
            .map(|_| ())
            .map_err(|e| kind(&e));
        let want = if self.model.contains_key(c.name()) {
            Err(Fail::Exists)
        } else {
            self.model.insert(
                c.name(),
                Model {
                    config: c.config(),
                    ids: BTreeMap::new(),
                },
            );
            Ok(())
        };
        assert_eq!(got, want, "create {}", c.name());
        got
    }

    fn apply(&mut self, op: Op) {
        match op {
            Op::Create(c) => {
                let _ = self.create(c);
            }
            Op::Drop(c) => {
                let got = self.db().drop_collection(c.name()).map_err(|e| kind(&e));
                let want = match self.model.remove(c.name()) {
                    Some(_) => Ok(()),
                    None => Err(Fail::NotFound),
                };
                assert_eq!(got, want, "drop {}", c.name());
            }
            Op::Insert(c, id, v) => self.put(c, id, v, false),
            Op::Upsert(c, id, v) => self.put(c, id, v, true),
            Op::InsertBatch(c, items) => self.put_batch(c, &items, false),
            Op::UpsertBatch(c, items) => self.put_batch(c, &items, true),
            Op::Delete(c, id) => {
                let id = u64::from(id % IDS);
                let Ok((h, _)) = self.collection(c) else {
                    return;
                };
                let got = h.delete(id).unwrap_or_else(|e| panic!("delete: {e}"));
                let m = self.model.get_mut(c.name()).expect("checked");
                assert_eq!(got, m.ids.remove(&id).is_some(), "delete {id}");
            }
            Op::Get(c, id) => {
                let id = u64::from(id % IDS);
                if let Ok((h, m)) = self.collection(c) {
                    check_get(&h, m, id);
                }
            }
            Op::Search {
                coll,
                query,
                k,
                filter,
            } => self.search(coll, query, usize::from(k % 12), filter),
            Op::Checkpoint => self
                .db()
                .checkpoint()
                .unwrap_or_else(|e| panic!("checkpoint: {e}")),
            Op::Reopen => self.reopen(true),
            Op::ReopenWithoutCheckpoint => self.reopen(false),
            Op::Kill => self.kill(),
            Op::Compact(c) => {
                if let Ok((h, m)) = self.collection(c) {
                    h.compact().unwrap_or_else(|e| panic!("compact: {e}"));
                    for id in 0..IDS {
                        check_get(&h, m, u64::from(id));
                    }
                }
            }
        }
    }

    fn put(&mut self, c: Coll, id: u8, v: Vector, replace: bool) {
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
        let want = m.prepare(&v).and_then(|stored| {
            if !replace && m.ids.contains_key(&id) {
                Err(Fail::Duplicate)
            } else {
                Ok(stored)
            }
        });
        assert_eq!(
            got,
            want.as_ref().map(|_| ()).map_err(|&e| e),
            "put {id} {v:?}"
        );
        if let Ok(stored) = want {
            let m = self.model.get_mut(c.name()).expect("checked");
            m.ids.insert(id, stored);
            check_get(&h, m, id);
        }
    }

    fn put_batch(&mut self, c: Coll, items: &[(u8, Vector)], replace: bool) {
        let Ok((h, m)) = self.collection(c) else {
            return;
        };
        let items = &items[..items.len().min(MAX_BATCH)];
        let ids: Vec<u64> = items.iter().map(|&(id, _)| u64::from(id % IDS)).collect();
        let flat: Vec<f32> = items
            .iter()
            .flat_map(|&(_, v)| v.floats(m.config.dim))
            .collect();
        let got = if replace {
            h.upsert_batch(&ids, &flat)
        } else {
            h.insert_batch(&ids, &flat)
        }
        .map_err(|e| kind(&e));
        let want = (|| {
            if ids.is_empty() {
                return Err(Fail::InvalidArgument);
            }
            if ids.iter().collect::<BTreeSet<_>>().len() != ids.len() {
                return Err(Fail::Duplicate);
            }
            let stored = flat
                .chunks(m.config.dim)
                .map(|v| m.prepare(v))
                .collect::<Result<Vec<_>, _>>()?;
            if !replace && ids.iter().any(|id| m.ids.contains_key(id)) {
                return Err(Fail::Duplicate);
            }
            Ok(stored)
        })();
        assert_eq!(
            got,
            want.as_ref().map(|_| ()).map_err(|&e| e),
            "batch {ids:?}"
        );
        if let Ok(stored) = want {
            let m = self.model.get_mut(c.name()).expect("checked");
            m.ids.extend(ids.iter().copied().zip(stored));
            for &id in &ids {
                check_get(&h, m, id);
            }
        }
    }

    fn search(&self, c: Coll, query: Vector, k: usize, filter: Option<Vec<u8>>) {
        let Ok((h, m)) = self.collection(c) else {
            return;
        };
        let q = query.floats(m.config.dim);
        let allowed: Option<Vec<u64>> =
            filter.map(|f| f.iter().map(|&id| u64::from(id % IDS)).collect());
        let opts = SearchOptions {
            ef: m.ids.len().max(1),
            filter: allowed.as_deref().map(IdFilter::Ids),
            matching: None,
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
        let mut exact: Vec<(f32, u64)> = m
            .ids
            .iter()
            .filter(|(id, _)| allowed.as_ref().is_none_or(|a| a.contains(id)))
            .map(|(&id, v)| (metric.distance_scalar(&pq, v), id))
            .collect();
        exact.sort_by(|a, b| a.0.total_cmp(&b.0));
        exact.truncate(k);
        let context =
            || format!("{c:?} query {q:?} k {k} filter {allowed:?}: {hits:?} vs {exact:?}");
        assert_eq!(hits.len(), exact.len(), "result count, {}", context());
        let mut seen = BTreeSet::new();
        for (h, &(d, _)) in hits.iter().zip(&exact) {
            let v = m
                .ids
                .get(&h.id)
                .unwrap_or_else(|| panic!("id {} not in the collection, {}", h.id, context()));
            assert!(
                allowed.as_ref().is_none_or(|a| a.contains(&h.id)),
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

    /// Closes the database (with a final checkpoint if `clean`), reopens it, and checks
    /// the whole state.
    fn reopen(&mut self, clean: bool) {
        let db = self.db.take().expect("open");
        if clean {
            db.checkpoint()
                .unwrap_or_else(|e| panic!("checkpoint: {e}"));
        }
        db.close().unwrap_or_else(|e| panic!("close: {e}"));
        self.open_and_check();
    }

    /// Reopens from the files as a process killed now would leave them.
    fn kill(&mut self) {
        let image = scratch::kill_image(self.dir.path());
        drop(self.db.take());
        self.dir = image;
        self.open_and_check();
    }

    fn open_and_check(&mut self) {
        let db =
            Database::open(self.dir.path(), options()).unwrap_or_else(|e| panic!("reopen: {e}"));
        let names: Vec<&str> = self.model.keys().copied().collect();
        assert_eq!(db.list_collections(), names, "collections after reopen");
        self.db = Some(db);
        for c in [Coll::A, Coll::B, Coll::C] {
            let Ok((h, m)) = self.collection(c) else {
                continue;
            };
            assert_eq!(*h.config(), m.config);
            assert_eq!(h.len(), m.ids.len(), "{}: size after reopen", c.name());
            for id in 0..u64::from(IDS) {
                check_get(&h, m, id);
            }
        }
    }
}

/// `get(id)` is the model's vector, bit for bit.
fn check_get(h: &Collection, m: &Model, id: u64) {
    let got = h.get(id).unwrap_or_else(|e| panic!("get: {e}"));
    let want = m.ids.get(&id);
    let bits = |v: &Vec<f32>| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(got.as_ref().map(bits), want.map(bits), "get {id}");
}

/// Equal up to the rounding of SIMD against scalar arithmetic.
fn close(a: f32, b: f32) -> bool {
    a == b || (a - b).abs() <= 1e-4 * a.abs().max(b.abs()).max(1.0)
}
