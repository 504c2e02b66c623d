//! `open_damaged`: a small real database with its files damaged where the fuzzer says.
//!
//! Once per process a database is built in a scratch directory (two collections,
//! inserts, upserts and deletes, a checkpoint, more of each, then closed without a final
//! checkpoint, so the log holds the second half over two 4 KiB segments) and its files
//! are kept in memory. Each input is a list of damage operations, 8 bytes each:
//!
//! ```text
//! 0     u8   file: index into the database's files, sorted by path (modulo their count)
//! 1     u8   operation (modulo 6): 0 xor a byte with `value` (1 if 0), 1 set a byte to
//!            `value`, 2 zero `len + 1` bytes, 3 truncate the file at `offset`, 4 remove
//!            the file, 5 zero everything from `offset` on
//! 2..6  u32  offset, modulo the file's length up to the end of its last data extent
//! 6     u8   value
//! 7     u8   len
//! ```
//!
//! The damaged copy is written to a fresh scratch directory and opened. With
//! `FLETCHDB_FUZZ_DEBUG` set, the damage and the outcome of the open are printed.
//!
//! Checked: opening never panics. If it succeeds, every collection is one that was
//! created, with its configuration; every id it holds was written, and `get` returns
//! one of the vectors written for it or reports corruption; searches return only ids
//! it holds, at their true distances, or report corruption.
//! The opened database then takes an insert and a checkpoint, and reopens to the same
//! state. With no damage at all, the state is exactly the one written.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use fletchdb::{CollectionConfig, Database, Error, Metric, SearchOptions};

use crate::scratch::{self, options, FileImage};

/// Ids the database is asked about: every id written is below this.
const ID_BOUND: u64 = 48;
/// The id the opened database is asked to take.
const NEW_ID: u64 = 1000;

/// What was written to one collection.
#[derive(Debug)]
struct Written {
    name: &'static str,
    config: CollectionConfig,
    /// Every vector ever written for each id, as stored (normalised for cosine).
    all: BTreeMap<u64, Vec<Vec<f32>>>,
    /// The final state.
    current: BTreeMap<u64, Vec<f32>>,
}

impl Written {
    fn new(name: &'static str, config: CollectionConfig) -> Written {
        Written {
            name,
            config,
            all: BTreeMap::new(),
            current: BTreeMap::new(),
        }
    }

    fn put(&mut self, db: &Database, id: u64, v: &[f32]) {
        db.collection(self.name)
            .expect("collection")
            .upsert(id, v)
            .expect("upsert");
        let mut stored = v.to_vec();
        self.config.metric.prepare(&mut stored).expect("valid");
        self.all.entry(id).or_default().push(stored.clone());
        self.current.insert(id, stored);
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

/// The database every input damages.
struct Pristine {
    files: Vec<FileImage>,
    written: Vec<Written>,
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

fn pristine() -> &'static Pristine {
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
    );
    let mut b = Written::new(
        "b",
        CollectionConfig {
            m: 8,
            ..CollectionConfig::new(3, Metric::Cosine)
        },
    );
    for w in [&a, &b] {
        db.create_collection(w.name, w.config).expect("create");
    }
    for id in 0..24 {
        a.put(&db, id, &vec_a(id, 0));
    }
    for id in 0..10 {
        b.put(&db, id, &vec_b(id, 0));
    }
    a.put(&db, 3, &vec_a(3, 1));
    a.put(&db, 5, &vec_a(5, 1));
    a.delete(&db, 7);
    b.delete(&db, 2);
    db.checkpoint().expect("checkpoint");
    for id in 24..32 {
        a.put(&db, id, &vec_a(id, 0));
    }
    a.put(&db, 4, &vec_a(4, 2));
    a.put(&db, 24, &vec_a(24, 3));
    a.delete(&db, 8);
    a.delete(&db, 25);
    for id in 10..14 {
        b.put(&db, id, &vec_b(id, 0));
    }
    b.put(&db, 1, &vec_b(1, 1));
    b.delete(&db, 3);
    db.close().expect("close");
    Pristine {
        files: scratch::snapshot(dir.path()),
        written: vec![a, b],
    }
}

/// One damage operation, decoded.
#[derive(Debug, Clone, Copy)]
struct Damage {
    file: usize,
    op: u8,
    offset: u32,
    value: u8,
    len: u8,
}

fn parse(data: &[u8]) -> Vec<Damage> {
    data.chunks_exact(8)
        .take(16)
        .map(|c| Damage {
            file: c[0] as usize,
            op: c[1] % 6,
            offset: u32::from_le_bytes([c[2], c[3], c[4], c[5]]),
            value: c[6],
            len: c[7],
        })
        .collect()
}

/// Applies `damage` to `files` (removed files become `None`).
fn apply(files: &mut [Option<FileImage>], d: Damage) {
    let n = files.len();
    let Some(f) = files[d.file % n].as_mut() else {
        return;
    };
    let size = f.data_len();
    if d.op == 4 {
        files[d.file % n] = None;
        return;
    }
    if d.op == 3 {
        f.truncate_before(d.offset as usize % (size + 1));
        return;
    }
    if size == 0 {
        return;
    }
    let at = d.offset as usize % size;
    match d.op {
        0 => *f.byte_mut(at) ^= d.value.max(1),
        1 => *f.byte_mut(at) = d.value,
        2 => (at..(at + d.len as usize + 1).min(size)).for_each(|i| *f.byte_mut(i) = 0),
        _ => (at..size).for_each(|i| *f.byte_mut(i) = 0),
    }
}

/// What an opened database holds: per collection, each id's vector, or `None` where
/// reading it reports damage.
type State = BTreeMap<String, BTreeMap<u64, Option<Vec<f32>>>>;

/// The body of the `open_damaged` fuzz target; see the module documentation.
pub fn open_damaged(data: &[u8]) {
    let pristine = pristine();
    let damage = parse(data);
    let mut files: Vec<Option<FileImage>> = pristine.files.iter().cloned().map(Some).collect();
    for &d in &damage {
        apply(&mut files, d);
    }
    let files: Vec<FileImage> = files.into_iter().flatten().collect();
    let dir = scratch::tempdir();
    scratch::restore(dir.path(), &files);
    let damaged = !damage.is_empty();

    let opened = Database::open(dir.path(), options());
    if std::env::var_os("FLETCHDB_FUZZ_DEBUG").is_some() {
        match &opened {
            Ok(_) => eprintln!("open_damaged: {damage:?}: opened"),
            Err(e) => eprintln!("open_damaged: {damage:?}: refused: {e}"),
        }
    }
    let db = match opened {
        Ok(db) => db,
        Err(e) => {
            check_error(&e);
            assert!(damaged, "the undamaged database fails to open: {e}");
            return;
        }
    };
    let state = observe(&db, pristine, None, damaged);
    if !damaged {
        let want: State = pristine
            .written
            .iter()
            .map(|w| {
                let ids = w.current.iter().map(|(&id, v)| (id, Some(v.clone())));
                (w.name.to_string(), ids.collect())
            })
            .collect();
        assert_eq!(state, want, "the undamaged database reads otherwise");
    }

    // What opened must stay open: a write, a checkpoint, and a reopen to the same state.
    let Some(name) = state.keys().next().cloned() else {
        return;
    };
    let w = pristine
        .written
        .iter()
        .find(|w| w.name == name)
        .expect("known");
    let mut v = vec![0.5f32; w.config.dim];
    db.collection(&name)
        .expect("listed collection")
        .insert(NEW_ID, &v)
        .unwrap_or_else(|e| panic!("insert into an opened database: {e}"));
    w.config.metric.prepare(&mut v).expect("non-zero");
    db.checkpoint()
        .unwrap_or_else(|e| panic!("checkpoint of an opened database: {e}"));
    db.close().expect("close");
    let mut want = state;
    want.get_mut(&name).expect("listed").insert(NEW_ID, Some(v));
    let db = Database::open(dir.path(), options())
        .unwrap_or_else(|e| panic!("a database that opened and checkpointed fails to reopen: {e}"));
    let again = observe(&db, pristine, Some(NEW_ID), damaged);
    assert_eq!(again, want, "the reopened database reads otherwise");
}

/// Opening may fail, but with an error naming what is wrong, and without a panic
/// (a panicking loader thread would show as this message).
fn check_error(e: &Error) {
    assert!(
        !e.to_string().contains("panicked"),
        "a thread panicked while opening: {e}"
    );
}

/// A read may report damage (only if there is some), as corruption.
fn check_read_error(e: &Error, damaged: bool, what: &str) {
    assert!(
        damaged && matches!(e, Error::Corruption { .. }),
        "{what} failed: {e}"
    );
}

/// Reads every collection of `db`, checking it against what was written (`extra`: an
/// id the harness wrote since, whose vector the caller checks; `damaged`: whether
/// reads may report damage).
fn observe(db: &Database, pristine: &Pristine, extra: Option<u64>, damaged: bool) -> State {
    let mut state = State::new();
    for name in db.list_collections() {
        let w = pristine
            .written
            .iter()
            .find(|w| w.name == name)
            .unwrap_or_else(|| panic!("a collection never created: {name:?}"));
        let c = db.collection(&name).expect("a listed collection");
        assert_eq!(
            *c.config(),
            w.config,
            "collection {name} changed configuration"
        );
        let mut held = BTreeMap::new();
        for id in (0..ID_BOUND).chain(extra) {
            let v = match c.get(id) {
                Ok(Some(v)) => v,
                Ok(None) => continue,
                Err(e) => {
                    check_read_error(&e, damaged, "get");
                    assert!(
                        Some(id) == extra || w.all.contains_key(&id),
                        "{name}: holds id {id}, never written"
                    );
                    held.insert(id, None);
                    continue;
                }
            };
            assert_eq!(v.len(), w.config.dim);
            if Some(id) != extra {
                let ok = w.all.get(&id).is_some_and(|all| all.contains(&v));
                assert!(
                    ok,
                    "{name}: id {id} holds {v:?}, which was never written for it"
                );
            }
            held.insert(id, Some(v));
        }
        assert_eq!(c.len(), held.len(), "{name}: holds ids never written");
        for q in [vec![0.5f32; w.config.dim], vec![-1.0; w.config.dim]] {
            check_search(&c, w.config.metric, &q, &held, damaged);
        }
        state.insert(name, held);
    }
    state
}

/// A search returns only held, readable ids, each at its true distance, closest first
/// (or reports damage, if there is some).
fn check_search(
    c: &fletchdb::Collection,
    metric: Metric,
    q: &[f32],
    held: &BTreeMap<u64, Option<Vec<f32>>>,
    damaged: bool,
) {
    let opts = SearchOptions {
        ef: 128,
        filter: None,
        matching: None,
    };
    let hits = match c.search(q, 64, &opts) {
        Ok(hits) => hits,
        Err(e) => {
            check_read_error(&e, damaged, "search");
            return;
        }
    };
    let mut pq = q.to_vec();
    metric.prepare(&mut pq).expect("non-zero query");
    for (i, h) in hits.iter().enumerate() {
        let v = held
            .get(&h.id)
            .unwrap_or_else(|| panic!("search returned id {}, which get() does not know", h.id))
            .as_ref()
            .unwrap_or_else(|| panic!("search returned id {}, whose vector is damaged", h.id));
        let want = metric.distance_scalar(&pq, v);
        assert!(
            h.distance == want || (h.distance - want).abs() <= 1e-3 * want.abs().max(1.0),
            "id {} at distance {}, truly {want}",
            h.id,
            h.distance
        );
        if i > 0 {
            assert!(hits[i - 1].distance <= h.distance, "hits out of order");
        }
    }
}
