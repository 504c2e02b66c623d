//! `open_damaged`: a small real database with its files damaged where the fuzzer says.
//!
//! Once per process a database is built in a scratch directory (two small collections,
//! inserts, upserts and deletes, most with payloads (metadata and documents), some
//! updating a payload alone, and a third of 1,064 32-d vectors with `i8` codes, whose
//! calibration the checkpoint keeps; a checkpoint, more of each, then closed without a
//! final checkpoint, so the catalog holds payloads and a calibration and the log holds
//! puts with payloads and payload updates) and its files are kept in memory. Each input is a list of damage
//! operations, 8 bytes each:
//!
//! ```text
//! 0     u8   file: index into the database's files, sorted by path (modulo their count)
//! 1     u8   operation (modulo 8): 0 xor a byte with `value` (1 if 0), 1 set a byte to
//!            `value`, 2 zero `len + 1` bytes, 3 truncate the file at `offset`, 4 remove
//!            the file, 5 zero everything from `offset` on; behind valid checksums
//!            (`forge.rs`): 6 xor a byte of a payload in a log record (of log segment
//!            `file`, modulo their count; payload `offset`, byte `len`) and reseal the
//!            record, 7 xor a byte of a payload row of the catalog (collection, row and
//!            byte from `value`, `offset` and `len`), after the other operations
//! 2..6  u32  offset, modulo the file's length up to the end of its last data extent
//! 6     u8   value
//! 7     u8   len
//! ```
//!
//! The damaged copy is written to a fresh scratch directory and opened. With
//! `FLETCHDB_FUZZ_DEBUG` set, the damage and the outcome of the open are printed.
//!
//! Checked: opening never panics (damaged payload bytes, like any damage, are
//! `Corruption`; with only operations 6 and 7, nothing but `Corruption`). If it
//! succeeds, every collection is one that was created, with its configuration; every
//! id it holds was written, `get` returns one of the vectors written for it or reports
//! corruption, and `get_payloads` one of the payloads it held (any payload, for an id
//! whose payload operations 6 and 7 changed: that is a write as far as the database
//! can tell);
//! `ids_where` and `count_where` of a few filters are the held ids whose payloads match
//! (by the model's evaluator, `meta.rs`); searches, with and without a filter, return
//! only ids it holds (and the filter matches), at their true distances, or report
//! corruption. The opened database then takes an insert with a payload and a
//! checkpoint (or reports corruption: a graph's layer-0 lists are checked where first
//! read, not at open), and reopens to the same state. With no damage at all, the state is
//! exactly the one written.

use std::collections::BTreeMap;

use fletchdb::{Database, Error, Metric, Payload, SearchOptions, Where};

use self::pristine::{payload, pristine, Pristine};
use crate::meta::{Arg, Cond, Key, Lit, Node, WhereIn};
use crate::scratch::{self, options, FileImage};

mod forge;
mod pristine;

/// Ids the database is asked about in collections `a` and `b`: every id written to
/// them is below this.
const ID_BOUND: u64 = 48;
/// The id the opened database is asked to take.
const NEW_ID: u64 = 1000;

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
            op: c[1] % 8,
            offset: u32::from_le_bytes([c[2], c[3], c[4], c[5]]),
            value: c[6],
            len: c[7],
        })
        .collect()
}

/// Applies `damage` (not operation 7) to `files` (removed files become `None`);
/// returns the collection and id whose payload operation 6 changed.
fn apply(files: &mut [Option<FileImage>], d: Damage) -> Option<(u32, u64)> {
    if d.op == 6 {
        let mut logs: Vec<&mut FileImage> = files
            .iter_mut()
            .flatten()
            .filter(|f| f.rel.starts_with("wal"))
            .collect();
        let n = logs.len();
        let f = logs.get_mut(d.file % n.max(1))?;
        return forge::log_payload(f, d.offset, d.len, d.value);
    }
    let n = files.len();
    let f = files[d.file % n].as_mut()?;
    let size = f.data_len();
    if d.op == 4 {
        files[d.file % n] = None;
        return None;
    }
    if d.op == 3 {
        f.truncate_before(d.offset as usize % (size + 1));
        return None;
    }
    if size == 0 {
        return None;
    }
    let at = d.offset as usize % size;
    match d.op {
        0 => *f.byte_mut(at) ^= d.value.max(1),
        1 => *f.byte_mut(at) = d.value,
        2 => (at..(at + d.len as usize + 1).min(size)).for_each(|i| *f.byte_mut(i) = 0),
        _ => (at..size).for_each(|i| *f.byte_mut(i) = 0),
    }
    None
}

/// What an opened database holds: per collection, each id's vector (`None` where
/// reading it reports damage) and payload.
type State = BTreeMap<String, BTreeMap<u64, Held>>;

/// One id's vector (`None`: reading it reports damage) and payload.
type Held = (Option<Vec<f32>>, Payload);

/// The body of the `open_damaged` fuzz target; see the module documentation.
pub fn open_damaged(data: &[u8]) {
    let pristine = pristine();
    let damage = parse(data);
    let mut files: Vec<Option<FileImage>> = pristine.files.iter().cloned().map(Some).collect();
    // Ids whose payload operations 6 and 7 changed, by collection name.
    let mut forged = Vec::new();
    for &d in damage.iter().filter(|d| d.op != 7) {
        forged.extend(apply(&mut files, d));
    }
    let files: Vec<FileImage> = files.into_iter().flatten().collect();
    let dir = scratch::tempdir();
    scratch::restore(dir.path(), &files);
    for d in damage.iter().filter(|d| d.op == 7) {
        forged.extend(forge::catalog_payload(dir.path(), d.offset, d.len, d.value));
    }
    let forged: Vec<(&str, u64)> = forged
        .into_iter()
        .filter_map(|(cid, id)| {
            let w = pristine.written.get((cid as usize).checked_sub(1)?)?;
            Some((w.name, id))
        })
        .collect();
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
            if damage.iter().all(|d| d.op >= 6) {
                assert!(
                    matches!(e, Error::Corruption { .. }),
                    "a payload changed behind its checksum fails the open with {e:?}"
                );
            }
            return;
        }
    };
    let state = observe(&db, pristine, None, damaged, &forged);
    if !damaged {
        let want: State = pristine
            .written
            .iter()
            .map(|w| {
                let ids = w
                    .current
                    .iter()
                    .map(|(&id, (v, p))| (id, (Some(v.clone()), p.clone())));
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
    let p = payload(NEW_ID, 1);
    // A graph's layer-0 lists are checked where first read, so damage to them may
    // surface only here (as corruption, and only if there is some).
    let inserted = db
        .collection(&name)
        .expect("listed collection")
        .insert_with(&[NEW_ID], &v, std::slice::from_ref(&p));
    if let Err(e) = inserted {
        check_read_error(&e, damaged, "insert into an opened database");
        return;
    }
    w.config.metric.prepare(&mut v).expect("non-zero");
    if let Err(e) = db.checkpoint() {
        check_read_error(&e, damaged, "checkpoint of an opened database");
        return;
    }
    db.close().expect("close");
    let mut want = state;
    want.get_mut(&name)
        .expect("listed")
        .insert(NEW_ID, (Some(v), p));
    let db = Database::open(dir.path(), options())
        .unwrap_or_else(|e| panic!("a database that opened and checkpointed fails to reopen: {e}"));
    let again = observe(&db, pristine, Some(NEW_ID), damaged, &forged);
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
/// id the harness wrote since, whose vector and payload the caller checks; `damaged`:
/// whether reads may report damage; `forged`: ids whose payload may be any).
fn observe(
    db: &Database,
    pristine: &Pristine,
    extra: Option<u64>,
    damaged: bool,
    forged: &[(&str, u64)],
) -> State {
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
        let ids: Vec<u64> = w.ids.clone().chain(extra).collect();
        let payloads = c
            .get_payloads(&ids)
            .unwrap_or_else(|e| panic!("get_payloads: {e}"));
        let mut held = BTreeMap::new();
        for (&id, payload) in ids.iter().zip(payloads) {
            let v = match c.get(id) {
                Ok(Some(v)) => Some(v),
                Ok(None) => {
                    assert_eq!(payload, None, "{name}: absent id {id} has a payload");
                    continue;
                }
                Err(e) => {
                    check_read_error(&e, damaged, "get");
                    None
                }
            };
            let payload =
                payload.unwrap_or_else(|| panic!("{name}: id {id} has a vector, no payload"));
            if Some(id) != extra {
                assert!(
                    w.all.contains_key(&id),
                    "{name}: holds id {id}, never written"
                );
                if let Some(v) = &v {
                    assert_eq!(v.len(), w.config.dim);
                    assert!(
                        w.all[&id].contains(v),
                        "{name}: id {id} holds {v:?}, which was never written for it"
                    );
                }
                assert!(
                    w.payloads[&id].contains(&payload) || forged.contains(&(w.name, id)),
                    "{name}: id {id} holds {payload:?}, which it never held"
                );
            }
            held.insert(id, (v, payload));
        }
        assert_eq!(c.len(), held.len(), "{name}: holds ids never written");
        for f in filters() {
            check_where(&c, &f, &held);
        }
        for q in [vec![0.5f32; w.config.dim], vec![-1.0; w.config.dim]] {
            check_search(&c, w.config.metric, &q, &held, None, damaged);
            for f in filters() {
                check_search(&c, w.config.metric, &q, &held, Some(&f), damaged);
            }
        }
        state.insert(name, held);
    }
    state
}

/// Filters asked of every opened database: on the written metadata's integer, its list
/// and a key some updates set.
fn filters() -> [WhereIn; 3] {
    let cond = |c| Node::Cond(c);
    [
        WhereIn::Node(cond(Cond::Lte(Key::A, Arg::Lit(Lit::Int(1))))),
        WhereIn::Node(cond(Cond::Contains(Key::Tags, Arg::Lit(Lit::Bool(true))))),
        WhereIn::Or(vec![
            cond(Cond::Contains(Key::Tags, Arg::Lit(Lit::Str(2)))),
            cond(Cond::Gte(Key::B, Arg::Lit(Lit::Int(3)))),
        ]),
    ]
}

/// `ids_where` and `count_where` of `f` are the held ids whose payload matches (by the
/// model's evaluator): the metadata index agrees with the payloads.
fn check_where(c: &fletchdb::Collection, f: &WhereIn, held: &BTreeMap<u64, Held>) {
    let filter = Where::from_json(&f.json()).expect("a valid filter");
    let want: Vec<u64> = held
        .iter()
        .filter(|(_, (_, p))| f.matches(p.metadata.as_ref()))
        .map(|(&id, _)| id)
        .collect();
    let got = c
        .ids_where(&filter)
        .unwrap_or_else(|e| panic!("ids_where: {e}"));
    assert_eq!(got, want, "ids where {filter}");
    let n = c
        .count_where(&filter)
        .unwrap_or_else(|e| panic!("count_where: {e}"));
    assert_eq!(n, want.len(), "count where {filter}");
}

/// A search (with the filter `f`, if given) returns only held, readable ids (that `f`
/// matches), each at its true distance, closest first (or reports damage, if there is
/// some).
fn check_search(
    c: &fletchdb::Collection,
    metric: Metric,
    q: &[f32],
    held: &BTreeMap<u64, Held>,
    f: Option<&WhereIn>,
    damaged: bool,
) {
    let filter = f.map(|f| Where::from_json(&f.json()).expect("a valid filter"));
    let opts = SearchOptions {
        ef: 128,
        filter: None,
        matching: filter.as_ref(),
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
        let (v, p) = held
            .get(&h.id)
            .unwrap_or_else(|| panic!("search returned id {}, which get() does not know", h.id));
        let v = v
            .as_ref()
            .unwrap_or_else(|| panic!("search returned id {}, whose vector is damaged", h.id));
        if let Some(f) = f {
            assert!(
                f.matches(p.metadata.as_ref()),
                "search where {} returned id {}, holding {p:?}",
                f.json(),
                h.id
            );
        }
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
