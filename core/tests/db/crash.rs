//! A child process writes (inserts, upserts, deletes, batches, payload updates) with
//! `Sync` durability while another of its threads checkpoints, compacts and backs up
//! back to back, printing each acknowledged write; it is killed with SIGKILL at a random
//! moment, mid-write, mid-checkpoint and mid-backup. On reopen every acknowledged write
//! is there with its exact vector, metadata and document, nothing appears half-written,
//! searches agree with an exact oracle, and `where` queries agree with the payloads the
//! writes gave. Every backup the child finished opens, holds only vectors some write
//! gave its ids, with their payloads, and searches it like an exact oracle.
//!
//! The child is this test binary run again with `FLETCHDB_DB_CHILD` set. Rounds default
//! to 50; `FLETCHDB_CRASH_ROUNDS` asks for more (`scripts/crash_db.sh`).

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use fletchdb::{
    CollectionConfig, Database, Metric, Options, Payload, Quantization, SearchOptions, Where,
};
use parking_lot::Mutex;
use rand::Rng;
use serde_json::json;

use crate::common::{check_against, exact, run_child, stored, vector};

const CHILD: &str = "FLETCHDB_DB_CHILD";
/// Where the child's backups go (a directory per backup, beside the database).
const BACKUPS: &str = "FLETCHDB_DB_BACKUPS";
/// 64-d: the store's first segments hold 1,024 slots, so the thousands of writes of the
/// rounds grow it through segments of several sizes (1,024, 1,024, 2,048, 4,096).
const DIM: usize = 64;
const METRIC: Metric = Metric::Cosine;

fn options() -> Options {
    Options {
        checkpoint_bytes: 48 << 10,
        wal_segment_size: 64 << 10,
        ..Options::default()
    }
}

/// The payload a write with `version` gives `id`: metadata, a document, both, or
/// (one version in five) neither. The metadata holds an integer, a boolean and a list
/// of a string and an integer, for the parent's `where` queries.
fn payload(id: u64, version: u32) -> Payload {
    let meta = json!({
        "id": id,
        "v": version,
        "even": id.is_multiple_of(2),
        "tags": [format!("t{}", version % 3), id % 7],
    });
    let doc = format!("document {version} of {id}");
    match version % 5 {
        0 => Payload::new(),
        1 => Payload::new().with_metadata(meta),
        2 => Payload::new().with_document(doc),
        _ => Payload::new().with_metadata(meta).with_document(doc),
    }
}

/// What an update with `version` replaces: the metadata, the document, or both
/// (version % 3 = 1, 2, 0).
fn updates(version: u32) -> (bool, bool) {
    (version % 3 != 2, version % 3 != 1)
}

/// The state of a present id: the versions of the writes that gave it its vector, its
/// metadata and its document.
#[derive(Debug, Clone, Copy, PartialEq)]
struct State {
    vector: u32,
    meta: u32,
    doc: u32,
}

impl State {
    /// After a put with `version`.
    fn put(version: u32) -> State {
        State {
            vector: version,
            meta: version,
            doc: version,
        }
    }

    /// After an update with `version`.
    fn update(self, version: u32) -> State {
        let (meta, doc) = updates(version);
        State {
            meta: if meta { version } else { self.meta },
            doc: if doc { version } else { self.doc },
            ..self
        }
    }

    /// The payload the id holds.
    fn payload(self, id: u64) -> Payload {
        Payload {
            metadata: payload(id, self.meta).metadata,
            document: payload(id, self.doc).document,
        }
    }
}

/// The child: 3 writer threads over disjoint id ranges. Each write is announced
/// before it starts (`try put ID VERSION`, `try upd ID VERSION`, `try del ID`) and
/// confirmed once acknowledged (`ok put ...`, `ok upd ...`, `ok del ...`). Versions
/// are unique per write within a child, so a lost write shows.
fn child(dir: &Path, backups: &Path) -> ! {
    let db = Database::open(dir, options()).unwrap();
    let c = match db.collection("c") {
        Ok(c) => c,
        Err(_) => db
            .create_collection(
                "c",
                CollectionConfig {
                    // The walks score i8 codes, whose scale is fitted after 1,024 writes
                    // and kept by checkpoints: kills land before and after that.
                    quantization: Quantization::I8,
                    ..CollectionConfig::new(DIM, METRIC)
                },
            )
            .unwrap(),
    };
    let out = Mutex::new(std::io::stdout());
    let say = |text: String| {
        let mut o = out.lock();
        writeln!(o, "{text}").unwrap();
        o.flush().unwrap();
    };
    // Versions: this child's number times 1,000 plus a count of its writes.
    let round: u32 = rand::rng().random_range(1..1_000_000);
    std::thread::scope(|s| {
        // Checkpoints back to back, so that many kills land in the middle of one.
        // Every fourth is a compaction (two checkpoints, moves, a cut) and every fourth
        // a backup, so kills land in those too.
        s.spawn(|| {
            for n in 0u64.. {
                if n % 4 == 2 {
                    let done = c.compact().unwrap();
                    say(format!("compacted {} {}", done.moved, done.files_removed));
                } else if n % 4 == 3 {
                    let to = backups.join(format!("{round}-{n}"));
                    db.backup(&to).unwrap();
                    say(format!("backed up {}", to.display()));
                } else {
                    c.checkpoint().unwrap();
                    say("checkpointed".to_string());
                }
            }
        });
        for t in 0..3u32 {
            let (c, say) = (&c, &say);
            s.spawn(move || {
                let mut rng = rand::rng();
                for n in 0u32.. {
                    let version = round * 1000 + n % 1000;
                    let id = u64::from(t) * 1000 + rng.random_range(0..300);
                    match rng.random_range(0..10) {
                        0 => {
                            say(format!("try del {id}"));
                            c.delete(id).unwrap();
                            say(format!("ok del {id}"));
                        }
                        1 => {
                            let ids = [id, id + 300];
                            let flat = [vector(ids[0], version, DIM), vector(ids[1], version, DIM)]
                                .concat();
                            let payloads = [payload(ids[0], version), payload(ids[1], version)];
                            say(format!(
                                "try put {} {version}\ntry put {} {version}",
                                ids[0], ids[1]
                            ));
                            c.upsert_with(&ids, &flat, &payloads).unwrap();
                            say(format!(
                                "ok put {} {version}\nok put {} {version}",
                                ids[0], ids[1]
                            ));
                        }
                        // Only this thread writes its ids, so `contains` is current.
                        2 | 3 if c.contains(id).unwrap() => {
                            let p = payload(id, version);
                            let (meta, doc) = updates(version);
                            say(format!("try upd {id} {version}"));
                            c.update(
                                &[id],
                                meta.then_some(&[p.metadata][..]),
                                doc.then_some(&[p.document][..]),
                            )
                            .unwrap();
                            say(format!("ok upd {id} {version}"));
                        }
                        _ => {
                            let v = vector(id, version, DIM);
                            say(format!("try put {id} {version}"));
                            if version.is_multiple_of(5) {
                                c.upsert(id, &v).unwrap(); // the plain put: no payload
                            } else {
                                c.upsert_with(&[id], &v, &[payload(id, version)]).unwrap();
                            }
                            say(format!("ok put {id} {version}"));
                        }
                    }
                }
            });
        }
    });
    unreachable!()
}

/// What an id holds, for a failure message: its vector's first component and its
/// payload.
fn describe(got: &Option<(Vec<f32>, Payload)>) -> String {
    match got {
        None => "nothing".into(),
        Some((v, p)) => format!("a vector [{}, ..] and {p:?}", v[0]),
    }
}

/// `where` queries on the reopened collection against the payloads the model says
/// each id holds: a count, a list of ids, and a filtered search with ef above the
/// collection's size (exactly the nearest matches).
fn check_where(
    c: &fletchdb::Collection,
    vectors: &BTreeMap<u64, Vec<f32>>,
    states: &BTreeMap<u64, State>,
    round: usize,
) {
    // Each id's metadata version, if it has metadata (the parent's own evaluation:
    // the payload is a function of the version).
    let meta: BTreeMap<u64, u32> = states
        .iter()
        .filter(|(_, s)| matches!(s.meta % 5, 1 | 3 | 4))
        .map(|(&id, s)| (id, s.meta))
        .collect();
    let even = Where::from_json(&json!({"even": true})).unwrap();
    let want = meta.keys().filter(|&&id| id.is_multiple_of(2)).count();
    assert_eq!(
        c.count_where(&even).unwrap(),
        want,
        "round {round}: count even"
    );

    let median = {
        let mut v: Vec<u32> = meta.values().copied().collect();
        v.sort_unstable();
        v.get(v.len() / 2).copied().unwrap_or(0)
    };
    let w = json!({"tags": {"$contains": "t1"}, "v": {"$lt": median}});
    let want: Vec<u64> = meta
        .iter()
        .filter(|&(_, &v)| v % 3 == 1 && v < median)
        .map(|(&id, _)| id)
        .collect();
    let got = c.ids_where(&Where::from_json(&w).unwrap()).unwrap();
    assert_eq!(got, want, "round {round}: ids where {w}");

    let w = json!({"$or": [{"even": false}, {"tags": {"$contains": 3}}]});
    let matching: BTreeMap<u64, Vec<f32>> = meta
        .keys()
        .filter(|&&id| id % 2 == 1 || id % 7 == 3)
        .map(|&id| (id, vectors[&id].clone()))
        .collect();
    let filter = Where::from_json(&w).unwrap();
    let opts = SearchOptions {
        ef: vectors.len().max(10),
        filter: None,
        matching: Some(&filter),
    };
    let q = vector(2_000_000 + round as u64, 0, DIM);
    let got: Vec<u64> = c
        .search(&q, 10, &opts)
        .unwrap()
        .iter()
        .map(|h| h.id)
        .collect();
    let want = exact(&matching, &q, 10, METRIC);
    assert_eq!(got.len(), want.len(), "round {round}: hits of {w}");
    let qs = stored(q.clone(), METRIC);
    for (g, e) in got.iter().zip(&want) {
        let v = matching
            .get(g)
            .unwrap_or_else(|| panic!("round {round}: {g} does not match {w}"));
        let (a, b) = (
            METRIC.distance_scalar(&qs, v),
            METRIC.distance_scalar(&qs, &matching[e]),
        );
        assert!(
            (a - b).abs() <= 1e-5 * (1.0 + b.abs()),
            "round {round}: search where {w}: {got:?} vs exact {want:?}"
        );
    }
}

#[test]
fn acknowledged_writes_survive_sigkill_mid_write_and_mid_checkpoint() {
    if let (Ok(dir), Ok(backups)) = (std::env::var(CHILD), std::env::var(BACKUPS)) {
        child(Path::new(&dir), Path::new(&backups));
    }
    let rounds: usize = std::env::var("FLETCHDB_CRASH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(50);
    let tmp = tempfile::tempdir().unwrap();
    let backups = tempfile::tempdir().unwrap();
    // Every state each id was ever given (acknowledged or not), to check backups by.
    let mut states_ever: BTreeMap<u64, Vec<State>> = BTreeMap::new();
    let mut backed_up = 0usize;
    let mut rng = rand::rng();
    // What must be there: id -> Some(state) or None (deleted), from acknowledged writes.
    let mut acked: BTreeMap<u64, Option<State>> = BTreeMap::new();
    let mut total = 0usize;
    let mut updates_acked = 0usize;
    let mut compactions = 0usize;
    for round in 0..rounds {
        let lines = run_child(
            "crash::acknowledged_writes_survive",
            &[(CHILD, tmp.path()), (BACKUPS, backups.path())],
            Duration::from_millis(rng.random_range(30..400)),
            &["try ", "ok ", "compacted ", "backed up ", "checkpointed"],
        );
        // Acknowledged state per id, and the writes in flight at the kill (the state
        // each would leave). One thread writes each id, so an id's lines are in order
        // and an update's starting state is the acknowledged one.
        let mut tried: BTreeMap<u64, Option<State>> = BTreeMap::new();
        let mut finished_backups = Vec::new();
        for line in lines {
            compactions += usize::from(line.starts_with("compacted "));
            if let Some(path) = line.strip_prefix("backed up ") {
                finished_backups.push(std::path::PathBuf::from(path));
                continue;
            }
            let f: Vec<&str> = line.split(' ').collect();
            let (id, write) = match f.as_slice() {
                [_, op @ ("put" | "upd"), id, v] => (
                    id.parse::<u64>().unwrap(),
                    Some((*op, v.parse::<u32>().unwrap())),
                ),
                [_, "del", id] => (id.parse::<u64>().unwrap(), None),
                _ => continue, // a line cut by the kill
            };
            let state = match write {
                Some(("put", v)) => Some(State::put(v)),
                Some((_, v)) => {
                    let now = acked.get(&id).copied().flatten();
                    let now = now.unwrap_or_else(|| panic!("round {round}: update of absent {id}"));
                    Some(now.update(v))
                }
                None => None,
            };
            if let Some(s) = state {
                states_ever.entry(id).or_default().push(s);
            }
            if f[0] == "try" {
                tried.insert(id, state);
            } else {
                tried.remove(&id);
                acked.insert(id, state);
                total += 1;
                updates_acked += usize::from(f[1] == "upd");
            }
        }
        assert!(
            tried.len() <= 6,
            "round {round}: 3 writers, at most 2 ids each in flight"
        );
        let db = Database::open(tmp.path(), options())
            .unwrap_or_else(|e| panic!("round {round}: reopen failed: {e}"));
        let Ok(c) = db.collection("c") else {
            assert!(acked.is_empty(), "round {round}: collection lost");
            continue;
        };
        let expect = |id: u64, state: Option<State>| {
            state.map(|s| (stored(vector(id, s.vector, DIM), METRIC), s.payload(id)))
        };
        let all: Vec<u64> = (0..3u64).flat_map(|t| t * 1000..t * 1000 + 600).collect();
        let payloads = c.get_payloads(&all).unwrap();
        let mut model = BTreeMap::new();
        let mut states = BTreeMap::new();
        for (&id, payload) in all.iter().zip(payloads) {
            let got = match (c.get(id).unwrap(), payload) {
                (Some(v), Some(p)) => Some((v, p)),
                (None, None) => None,
                (v, p) => panic!("round {round}: id {id}: vector {v:?} but payload {p:?}"),
            };
            let before = acked.get(&id).copied().flatten();
            let in_flight = tried.get(&id).copied();
            let ok = got == expect(id, before) || in_flight.is_some_and(|t| got == expect(id, t));
            assert!(
                ok,
                "round {round}: id {id} holds {}, acknowledged {before:?}, in flight {in_flight:?}",
                describe(&got)
            );
            // Settle in-flight ids to what is stored, for later rounds.
            let state = match in_flight {
                Some(t) if got == expect(id, t) => t,
                _ => before,
            };
            acked.insert(id, state);
            if let (Some((v, _)), Some(s)) = (got, state) {
                model.insert(id, v);
                states.insert(id, s);
            }
        }
        check_against(&c, &model, METRIC, 3);
        check_where(&c, &model, &states, round);
        drop(c);
        drop(db);
        for path in finished_backups {
            check_backup(&path, &all, &states_ever, round);
            backed_up += 1;
        }
    }
    // Each put took a slot: the store grew through segments of several sizes, and
    // the log through segments from 4 KiB up to 64 KiB, all killed mid-growth.
    let segments = std::fs::read_dir(tmp.path().join("c/1"))
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.file_name().to_string_lossy().ends_with(".seg"))
                .count()
        })
        .unwrap_or(0);
    eprintln!(
        "{rounds} SIGKILL rounds, {total} acknowledged writes ({updates_acked} payload \
         updates) checked, {segments} vector segments, {compactions} compactions and \
         {backed_up} backups finished"
    );
    assert!(
        total > rounds,
        "the children acknowledged too little: {total}"
    );
    assert!(updates_acked > 0, "no child acknowledged a payload update");
    assert!(
        compactions > 0,
        "no child finished a compaction before its kill"
    );
    assert!(backed_up > 0, "no child finished a backup before its kill");
}

/// A backup a child finished opens; each of `ids` it holds has a vector and payload one
/// write gave it (`states_ever`); searches agree with an exact oracle over what it holds.
fn check_backup(path: &Path, ids: &[u64], states_ever: &BTreeMap<u64, Vec<State>>, round: usize) {
    let db = Database::open(path, options()).unwrap_or_else(|e| {
        panic!(
            "round {round}: backup {} fails to open: {e}",
            path.display()
        )
    });
    let Ok(c) = db.collection("c") else {
        return; // backed up before the collection was created
    };
    let payloads = c.get_payloads(ids).unwrap();
    let mut model = BTreeMap::new();
    for (&id, payload) in ids.iter().zip(payloads) {
        let (v, p) = match (c.get(id).unwrap(), payload) {
            (Some(v), Some(p)) => (v, p),
            (None, None) => continue,
            (v, p) => panic!("round {round}: backup: id {id}: vector {v:?} but payload {p:?}"),
        };
        let given = states_ever.get(&id).is_some_and(|ss| {
            ss.iter()
                .any(|s| stored(vector(id, s.vector, DIM), METRIC) == v && s.payload(id) == p)
        });
        assert!(
            given,
            "round {round}: backup {} holds for id {id} {}, which no write gave it",
            path.display(),
            describe(&Some((v.clone(), p)))
        );
        model.insert(id, v);
    }
    assert_eq!(
        c.len(),
        model.len(),
        "round {round}: backup holds unknown ids"
    );
    check_against(&c, &model, METRIC, 3);
}
