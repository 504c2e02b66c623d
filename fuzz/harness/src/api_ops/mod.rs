//! `api_ops`: sequences of database operations against an in-memory model.
//!
//! The input is decoded with [`arbitrary`] into up to [`MAX_OPS`] [`Op`]s, run against a
//! real database in a scratch directory that starts with collection `a`. Three
//! collections can exist: `a` (2-d, L2, m = 4), `b` (3-d, cosine, m = 8) and `c` (1-d,
//! inner product, m = 2); ids are below [`IDS`] so that they collide; vector components
//! are small multiples of 1/8 (so distances tie), NaN or infinity. Payloads (metadata
//! and documents) and `where` filters come from small domains (`meta.rs`), so filters
//! hit, and some of each are ones the library must refuse.
//!
//! Checked after every operation: its result (value or error variant) is the model's;
//! `get` returns the model's vector bit for bit and `get_payloads` its payload;
//! `count_where`, `ids_where` and `delete_where` agree with the model's own evaluation
//! of the filter (`meta.rs`; `Where::matches` is only cross-checked against it); a
//! search with ef >= the collection's size returns what an exact search of the model
//! returns among the records the id filter and the `where` admit (the same distances in
//! the same order: ids may differ only between equal distances). After every reopen
//! and compaction the whole state is compared, payloads and a few filters included.
//! Reopening comes in three kinds: clean (checkpoint, close), without a final
//! checkpoint (the log is replayed), and killed (the files as SIGKILL leaves them: no
//! close marker, nothing more synced).
//!
//! With `FLETCHDB_FUZZ_DEBUG` set, each operation is printed as it is applied, with the
//! model's collections and sizes before it.

mod model;
mod ops;
mod reads;
mod writes;

use std::collections::BTreeMap;

use arbitrary::{Arbitrary, Unstructured};
use fletchdb::{Collection, Database};

use self::model::Model;
use self::ops::{kind, Fail};
pub(crate) use self::ops::{Coll, Op, UpdateWhat, Vector};
use self::reads::{check_get, check_where};
use crate::meta::{Arg, Cond, Key, Lit, Node, WhereIn};
use crate::scratch::{self, options};

/// Operations run per input, at most.
const MAX_OPS: usize = 64;
/// Ids are taken modulo this.
const IDS: u8 = 24;
/// Items in a batch, at most.
const MAX_BATCH: usize = 8;

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
            self.model.insert(c.name(), Model::new(c.config()));
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
            Op::InsertBatch(c, items) => self.put_batch(c, &plain(&items), false, false),
            Op::UpsertBatch(c, items) => self.put_batch(c, &plain(&items), false, true),
            Op::InsertWith(c, items) => self.put_batch(c, &with(items), true, false),
            Op::UpsertWith(c, items) => self.put_batch(c, &with(items), true, true),
            Op::Update { coll, items, what } => self.update(coll, &items, what),
            Op::Delete(c, id) => self.delete(c, id),
            Op::DeleteWhere(c, w) => self.delete_where(c, &w),
            Op::Get(c, id) => {
                let id = u64::from(id % IDS);
                if let Ok((h, m)) = self.collection(c) {
                    check_get(&h, m, id);
                }
            }
            Op::CountWhere(c, w) => {
                if let Ok((h, m)) = self.collection(c) {
                    check_where(&h, m, &w);
                }
            }
            Op::Search {
                coll,
                query,
                k,
                filter,
                matching,
            } => self.search(coll, query, usize::from(k % 12), filter, matching.as_ref()),
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
                    check_all(&h, m);
                }
            }
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
            check_all(&h, m);
        }
    }
}

/// Every id's vector and payload, and a few filters, are the model's.
fn check_all(h: &Collection, m: &Model) {
    for id in 0..u64::from(IDS) {
        check_get(h, m, id);
    }
    for w in probes() {
        check_where(h, m, &w);
    }
}

/// Filters asked after every reopen and compaction: a range, a list element, and a
/// disjunction of `$ne` and `$in`.
fn probes() -> [WhereIn; 3] {
    let cond = |c| WhereIn::Node(Node::Cond(c));
    [
        cond(Cond::Gte(Key::A, Arg::Lit(Lit::Int(0)))),
        cond(Cond::Contains(Key::Tags, Arg::Lit(Lit::Str(1)))),
        WhereIn::Or(vec![
            Node::Cond(Cond::Ne(Key::B, Arg::Lit(Lit::Bool(true)))),
            Node::Cond(Cond::In(
                Key::N,
                vec![Arg::Lit(Lit::Int(1)), Arg::Lit(Lit::Str(1))],
            )),
        ]),
    ]
}

/// Batch items without payloads.
fn plain(items: &[(u8, Vector)]) -> Vec<(u8, Vector, Option<crate::meta::PayloadIn>)> {
    items.iter().map(|&(id, v)| (id, v, None)).collect()
}

/// Batch items with payloads.
fn with(
    items: Vec<(u8, Vector, crate::meta::PayloadIn)>,
) -> Vec<(u8, Vector, Option<crate::meta::PayloadIn>)> {
    items
        .into_iter()
        .map(|(id, v, p)| (id, v, Some(p)))
        .collect()
}
