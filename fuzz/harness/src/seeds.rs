//! Seed inputs for each target, made with FletchDB's own writers so that they are valid
//! and the fuzzer starts from deep inside each format. `tests/corpus.rs` replays them
//! and (ignored test `write_seeds`) writes them to `fuzz/corpus/<target>/seed-*`.

use std::sync::Arc;

use fletchdb::{CollectionConfig, Database, Payload};
use fletchdb_index::{Hnsw, HnswConfig, InMemoryVectors, Metric, Slot};
use fletchdb_storage::catalog::{CollectionId, CollectionRecord, CollectionState};
use fletchdb_storage::io::{MemDir, StorageDir};
use fletchdb_storage::wal::{Durability, Wal, WalOptions};
use serde_json::json;

use crate::api_ops::{Coll, Op, UpdateWhat, Vector};
use crate::encode::encode_all;
use crate::meta::{Arg, Bad, Cond, Key, Lit, MetaIn, Node, PayloadIn, Val, WhereIn};

/// The seed inputs of `target` (a name from [`TARGETS`](crate::TARGETS)), by name.
///
/// # Panics
/// For an unknown target.
pub fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let seeds = match target {
        "wal_records" => wal_seeds(),
        "graph_file" => graph_seeds(),
        "catalog_values" => catalog_seeds(),
        "open_damaged" => damage_seeds(),
        "vector_segments" => vector_seeds(),
        "payload_bytes" => payload_seeds(),
        "where_json" => where_seeds(),
        "api_ops" => api_seeds(),
        other => panic!("no target {other:?}"),
    };
    seeds.into_iter().map(|(n, b)| (n.to_string(), b)).collect()
}

/// Findings whose inputs are written from a description (the operations that found
/// them) rather than kept as the fuzzer's bytes, by file name in `fuzz/corpus/<target>/`:
/// their bytes follow the input types (`tests/corpus.rs` checks that the committed
/// files are these bytes, and `write_seeds` rewrites them).
pub fn findings(target: &str) -> Vec<(String, Vec<u8>)> {
    match target {
        // F5: a collection written to and dropped before any checkpoint, then the
        // log replayed (the fuzzer's input was re-encoded when api_ops gained
        // payload operations, which changed how bytes decode).
        "api_ops" => vec![(
            "finding-F5-catalog-lost".to_string(),
            encode_all(&[
                Op::Insert(Coll::A, 1, Vector([8, 8, 0])),
                Op::Drop(Coll::A),
                Op::ReopenWithoutCheckpoint,
            ]),
        )],
        _ => Vec::new(),
    }
}

/// Segments written by the real log, as `wal_records` inputs (see `wal.rs`).
fn wal_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let write =
        |segment_size: u64, records: usize, payload: usize, close: bool| -> Vec<(u64, Vec<u8>)> {
            let options = WalOptions {
                durability: Durability::Sync,
                segment_size,
                ..WalOptions::default()
            };
            let dir = MemDir::new();
            let shared: Arc<dyn StorageDir> = Arc::new(dir.clone());
            let wal = Wal::open(shared, options)
                .expect("open")
                .finish()
                .expect("finish");
            for i in 0..records {
                let body = vec![i as u8; payload + i % 5];
                wal.append(1 + (i % 3) as u8, &[b"rec", &body])
                    .expect("append");
            }
            let image = if close {
                wal.close().expect("close");
                dir.clone()
            } else {
                dir.kill() // as a killed process leaves it: no close marker
            };
            drop(wal);
            segments(&image)
        };
    let mut out = Vec::new();
    let closed = write(4096, 5, 20, true);
    out.push(("closed", wal_input(0, &closed[..1])));
    out.push(("closed-padded", wal_input(8, &closed[..1])));
    out.push(("closed-fixed", wal_input(1 | 2, &closed[..1])));
    let killed = write(4096, 7, 9, false);
    out.push(("killed", wal_input(0, &killed[..1])));
    let rolled = write(4096, 60, 100, true);
    assert!(rolled.len() >= 2, "records span segments");
    out.push(("two-segments", wal_input(4, &rolled[..2])));
    out.push(("two-segments-padded", wal_input(4 | 8, &rolled[..2])));
    // Segments growing from 4 KiB: the first full, the second (8 KiB) trimmed by the
    // clean close after its marker, or as a kill leaves it.
    let grown = write(16 << 10, 40, 150, true);
    assert!(grown.len() >= 2, "records span segments");
    out.push(("grown-closed", wal_input(4, &grown[..2])));
    out.push(("grown-padded", wal_input(4 | 8 | 16, &grown[..2])));
    let grown = write(16 << 10, 40, 150, false);
    out.push(("grown-killed", wal_input(4 | 16, &grown[..2])));
    out.push(("empty", wal_input(8, &[(1, Vec::new())])));
    // A database's own log: puts with payloads, payload updates, plain puts, deletes.
    let db = database_log(true);
    out.push(("db-payloads", wal_input(4, &db[..2.min(db.len())])));
    let db = database_log(false);
    out.push(("db-payloads-killed", wal_input(4, &db[..2.min(db.len())])));
    out
}

/// The log segments of a database written with payloads (`wal_records` input bodies,
/// resealed for the harness's salts), closed cleanly or as a kill leaves them.
fn database_log(close: bool) -> Vec<(u64, Vec<u8>)> {
    let dir = crate::scratch::tempdir();
    let db = Database::open(dir.path(), crate::scratch::options()).expect("open");
    let c = db
        .create_collection("docs", CollectionConfig::new(4, fletchdb::Metric::L2))
        .expect("create");
    for id in 0..40u64 {
        let p = Payload::new()
            .with_metadata(json!({"id": id, "tags": ["a", id % 3], "f": id as f64 / 7.0}))
            .with_document(format!("document {id}"));
        let v = [id as f32, 1.0, 0.5, -(id as f32)];
        c.upsert_with(&[id], &v, &[p]).expect("upsert_with");
        if id % 4 == 1 {
            let meta = json!({"updated": true}).as_object().cloned();
            c.update(&[id - 1], Some(&[meta]), None).expect("update");
        }
        if id % 5 == 2 {
            c.upsert(id - 2, &v).expect("upsert");
            c.delete(id - 1).expect("delete");
        }
    }
    let image = if close {
        drop(c);
        db.close().expect("close");
        crate::scratch::snapshot(dir.path())
    } else {
        let image = crate::scratch::snapshot(dir.path());
        drop(c);
        drop(db);
        image
    };
    let mem = MemDir::new();
    for f in image.iter().filter(|f| f.rel.starts_with("wal")) {
        let name = f.rel.file_name().and_then(|n| n.to_str()).expect("name");
        let mut bytes = vec![0u8; f.len as usize];
        for (at, data) in &f.extents {
            bytes[*at as usize..*at as usize + data.len()].copy_from_slice(data);
        }
        let file = mem.create(name).expect("create");
        file.write_all_at(&bytes, 0).expect("write");
    }
    segments(&mem)
}

/// Every segment of the log in `dir`: first LSN and the bytes after the header, up to
/// the last non-zero byte, with salts and checksums rewritten for the harness's salts.
fn segments(dir: &MemDir) -> Vec<(u64, Vec<u8>)> {
    let mut names: Vec<String> = dir
        .list()
        .expect("list")
        .into_iter()
        .filter(|n| n.len() == 24 && n.ends_with(".wal"))
        .collect();
    names.sort();
    names
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let file = dir.open(name).expect("open segment");
            let mut bytes = vec![0u8; file.len().expect("len") as usize];
            file.read_exact_at(&mut bytes, 0).expect("read segment");
            let end = bytes.iter().rposition(|&b| b != 0).map_or(64, |p| p + 1);
            bytes.truncate(end.next_multiple_of(8).max(64));
            crate::wal::reseal(&mut bytes, i);
            (name[..20].parse().expect("lsn"), bytes[64..].to_vec())
        })
        .collect()
}

/// A `wal_records` input: flags, the first LSNs, the split, the bodies back to back.
fn wal_input(flags: u8, segs: &[(u64, Vec<u8>)]) -> Vec<u8> {
    let mut out = vec![flags];
    out.extend_from_slice(&segs[0].0.to_le_bytes());
    let second = segs.get(1).map_or(0, |s| s.0);
    out.extend_from_slice(&second.to_le_bytes());
    out.extend_from_slice(&(segs[0].1.len() as u16).to_le_bytes());
    for (_, body) in segs {
        out.extend_from_slice(body);
    }
    out
}

/// Graphs saved by the real index over `graph_file`'s vectors, checksum removed.
fn graph_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let save = |metric: Metric, m: usize, nodes: usize, delete: &[u32]| -> Vec<u8> {
        let store = InMemoryVectors::new(crate::graph::DIM).expect("dim");
        for slot in 0..crate::graph::SLOTS {
            let mut v = crate::graph::vector(slot);
            metric.prepare(&mut v).expect("non-zero");
            store.push(&v).expect("push");
        }
        let config = HnswConfig {
            m,
            ef_construction: 32,
            ..HnswConfig::new(metric)
        };
        let index = Hnsw::new(config, store).expect("config");
        for slot in 0..nodes {
            index.insert(Slot(slot as u32)).expect("insert");
        }
        for &s in delete {
            index.delete(Slot(s)).expect("delete");
        }
        let mut bytes = Vec::new();
        index.save(&mut bytes).expect("save");
        bytes.truncate(bytes.len() - 4);
        bytes
    };
    vec![
        ("l2-m4-40", save(Metric::L2, 4, 40, &[])),
        ("l2-m2-25-deleted", save(Metric::L2, 2, 25, &[0, 3, 17])),
        ("cosine-m8-20", save(Metric::Cosine, 8, 20, &[5])),
        ("ip-m16-12", save(Metric::InnerProduct, 16, 12, &[])),
        ("one-node", save(Metric::L2, 4, 1, &[])),
        ("empty", save(Metric::L2, 16, 0, &[])),
    ]
}

/// Encodings of catalog values, whole and cut.
fn catalog_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let record = CollectionRecord {
        id: CollectionId(7),
        name: "docs-é".to_owned(),
        dim: 384,
        config: vec![
            1, 2, 16, 0, 0, 0, 200, 0, 0, 0, 0xed, 0x5e, 0, 0, 0, 0, 0, 0,
        ],
    }
    .encode();
    let state = CollectionState {
        next_slot: 1234,
        blob: 42u64.to_le_bytes().to_vec(),
    }
    .encode();
    vec![
        ("record", record.clone()),
        ("record-cut", record[..record.len() - 3].to_vec()),
        ("state", state.clone()),
        ("state-empty-blob", CollectionState::default().encode()),
        ("state-cut", state[..6].to_vec()),
        ("payload", sample_payload().to_bytes()),
        (
            "payload-document",
            Payload::new().with_document("text").to_bytes(),
        ),
    ]
}

/// A payload with metadata of every kind of value, and a document.
fn sample_payload() -> Payload {
    Payload::new()
        .with_metadata(json!({
            "s": "x", "i": -3, "big": i64::MAX, "f": 1.0 / 11.0, "z": -0.0, "b": true,
            "n": null, "list": ["a", 1, 2.5, false], "empty": [], "": "é"
        }))
        .with_document("The text the vector came from.")
}

/// Stored payloads as they are written, cut, and framed by the harness around JSON text
/// (see `payload.rs`).
fn payload_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let full = sample_payload().to_bytes();
    let framed = |flags: u8, json: &str, doc: &[u8]| {
        let mut b = vec![0x80 | flags];
        b.extend_from_slice(&(json.len() as u16).to_le_bytes());
        b.extend_from_slice(json.as_bytes());
        b.extend_from_slice(doc);
        b
    };
    vec![
        ("empty", Vec::new()),
        ("full", full.clone()),
        ("full-cut", full[..full.len() / 2].to_vec()),
        (
            "metadata",
            Payload::new()
                .with_metadata(json!({"k": [1, "v"]}))
                .to_bytes(),
        ),
        ("document", Payload::new().with_document("é").to_bytes()),
        (
            "empty-document",
            Payload::new().with_document("").to_bytes(),
        ),
        (
            "framed",
            framed(3, r#"{"a":1,"b":[2.5,"x",true],"c":null}"#, b"doc"),
        ),
        (
            "framed-spellings",
            framed(1, r#"{ "a" : 1e2, "a": -0, "b": 0.1000 }"#, b""),
        ),
        ("framed-nested", framed(1, r#"{"a":{"b":1}}"#, b"")),
        ("framed-dollar", framed(3, r#"{"$eq":1}"#, b"x")),
        (
            "framed-big",
            framed(1, r#"{"n":18446744073709551615,"f":1e400}"#, b""),
        ),
        ("framed-bad-utf8", framed(2, "", &[0xff, 0xfe])),
    ]
}

/// `where` filters as JSON text: every operator and form, and some the parser refuses.
fn where_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let filters: [(&'static str, &str); 12] = [
        ("short", r#"{"a": 1}"#),
        ("ops", r#"{"a": {"$gte": 0, "$lt": 2.5, "$ne": 1}}"#),
        (
            "keys",
            r#"{"a": "x", "b": {"$in": [1, "x", true]}, "tags": {"$contains": 1}}"#,
        ),
        (
            "and-or",
            r#"{"$and": [{"a": {"$nin": [0]}}, {"$or": [{"b": true}, {"n": {"$lte": -1}}]}]}"#,
        ),
        (
            "numbers",
            r#"{"n": {"$gt": -9.223372036854776e18, "$eq": 9007199254740993}}"#,
        ),
        (
            "floats",
            r#"{"a": {"$eq": -0.0}, "n": {"$in": [0.5, 1e-7, 0.1]}}"#,
        ),
        ("empty", r#"{}"#),
        ("empty-and", r#"{"$and": []}"#),
        ("unknown-op", r#"{"a": {"$regex": "x"}}"#),
        ("bare-op", r#"{"$eq": 1}"#),
        ("null", r#"{"a": null, "b": {"$in": [null]}}"#),
        ("list", r#"{"a": [1, 2], "b": {"$gt": true}}"#),
    ];
    filters
        .into_iter()
        .map(|(n, f)| (n, f.as_bytes().to_vec()))
        .collect()
}

/// Damage lists for `open_damaged`: none, and one of each operation on several files.
fn damage_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let op = |file: u8, op: u8, offset: u32, value: u8, len: u8| {
        let mut b = vec![file, op];
        b.extend_from_slice(&offset.to_le_bytes());
        b.extend_from_slice(&[value, len]);
        b
    };
    vec![
        ("none", Vec::new()),
        ("flip-file0", op(0, 0, 100, 0x10, 0)),
        ("flip-file1", op(1, 0, 4200, 0x01, 0)),
        ("set-file2", op(2, 1, 70, 0xff, 0)),
        ("zero-file3", op(3, 2, 64, 0, 31)),
        ("truncate-file4", op(4, 3, 300, 0, 0)),
        ("remove-file5", op(5, 4, 0, 0, 0)),
        ("zero-tail-file6", op(6, 5, 200, 0, 0)),
        ("two-ops", [op(2, 3, 90, 0, 0), op(3, 0, 10, 4, 0)].concat()),
        // Payload bytes changed behind valid checksums: in the log, the last byte of a
        // document (still a document) and a flags byte (no longer a payload); in the
        // catalog, a byte inside a row's JSON and a flags byte.
        ("forge-log-document", op(0, 6, 3, 0x01, 255)),
        ("forge-log-flags", op(0, 6, 5, 0x40, 0)),
        ("forge-catalog", op(0, 7, 1, 0x02, 40)),
        ("forge-catalog-flags", op(0, 7, 0, 0x80, 0)),
        (
            "forge-both",
            [op(0, 6, 7, 0x08, 20), op(0, 7, 4, 0x11, 3)].concat(),
        ),
    ]
}

/// Stores and damage for `vector_segments` (see `vectors.rs`): none, and each
/// operation on stores of growing segments.
fn vector_seeds() -> Vec<(&'static str, Vec<u8>)> {
    // dim 4, segments of 1, 1, 2, 4, then 8 slots, 40 vectors: 8 files.
    let store = [3u8, 0, 3, 40];
    let op = |file: u8, op: u8, offset: u32, value: u8| {
        let mut b = vec![file, op];
        b.extend_from_slice(&offset.to_le_bytes());
        b.extend_from_slice(&[value, 0]);
        b
    };
    let with = |ops: &[Vec<u8>]| [store.to_vec(), ops.concat()].concat();
    vec![
        ("none", store.to_vec()),
        ("none-uniform", vec![7, 2, 0, 50]),
        ("none-empty", vec![0, 1, 1, 0]),
        ("flip-slot", with(&[op(4, 0, 4096 + 20, 0x08)])),
        ("set-crc", with(&[op(5, 1, 4096 + 8 * 16 + 4, 0)])),
        ("truncate-last", with(&[op(7, 2, 4200, 0)])),
        ("remove-middle", with(&[op(3, 3, 0, 0)])),
        ("header-first", with(&[op(2, 4, 2, 4)])),
        ("header-slots", with(&[op(3, 4, 8, 2)])),
        ("header-version-2", with(&[op(0, 4, 2, 0)])),
        ("header-version-9", with(&[op(1, 4, 9, 0)])),
    ]
}

/// Operation sequences for `api_ops`: pseudo-random bytes (any bytes decode).
fn api_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let bytes = |seed: u64, len: usize| {
        let mut x = seed;
        (0..len)
            .map(|_| {
                // xorshift64*
                x ^= x >> 12;
                x ^= x << 25;
                x ^= x >> 27;
                (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
            })
            .collect::<Vec<u8>>()
    };
    vec![
        ("random-1", bytes(1, 256)),
        ("random-2", bytes(2, 512)),
        ("random-3", bytes(3, 1024)),
        ("random-4", bytes(4, 2048)),
        ("payloads-replayed", encode_all(&payloads_replayed())),
        ("payloads-where", encode_all(&payloads_where())),
        ("payloads-refused", encode_all(&payloads_refused())),
    ]
}

fn lit_arg(l: Lit) -> Arg {
    Arg::Lit(l)
}

fn cond(c: Cond) -> WhereIn {
    WhereIn::Node(Node::Cond(c))
}

fn meta(pairs: &[(Key, Val)]) -> Option<MetaIn> {
    Some(MetaIn(pairs.to_vec()))
}

/// Payloads written, updated and cleared around a checkpoint, then replayed and
/// checkpointed again (the two ways the checkpoint after a replaying open lost them:
/// an update in `a`; in `c`, the only payload, cleared by a plain upsert).
fn payloads_replayed() -> Vec<Op> {
    let p = |m, doc| PayloadIn { meta: m, doc };
    let v = |x| Vector([x, 1, 2]);
    let f = |x| (Key::N, Val::Lit(Lit::Float(x)));
    vec![
        Op::Create(Coll::C),
        Op::InsertWith(
            Coll::C,
            vec![(
                1,
                v(1),
                p(
                    meta(&[f(127), (Key::A, Val::Lit(Lit::Float(126)))]),
                    Some(1),
                ),
            )],
        ),
        Op::InsertWith(
            Coll::A,
            vec![
                (
                    1,
                    v(1),
                    p(
                        meta(&[
                            (Key::A, Val::Lit(Lit::Int(1))),
                            (Key::Tags, Val::List(vec![Lit::Str(1)])),
                        ]),
                        Some(1),
                    ),
                ),
                (
                    2,
                    v(2),
                    p(meta(&[(Key::B, Val::Lit(Lit::Bool(true)))]), None),
                ),
                (3, v(3), p(None, Some(2))),
                (
                    4,
                    v(4),
                    p(meta(&[(Key::N, Val::Lit(Lit::Float(3)))]), Some(3)),
                ),
            ],
        ),
        Op::Checkpoint,
        Op::Update {
            coll: Coll::A,
            items: vec![
                (1, meta(&[(Key::A, Val::Lit(Lit::Int(2)))]), None),
                (3, None, Some(0)),
            ],
            what: UpdateWhat::Both,
        },
        Op::Upsert(Coll::A, 2, v(5)),
        Op::Delete(Coll::A, 4),
        Op::Upsert(Coll::C, 1, v(2)),
        Op::ReopenWithoutCheckpoint,
        Op::Reopen,
        Op::CountWhere(Coll::A, cond(Cond::Gte(Key::A, lit_arg(Lit::Int(0))))),
        Op::Insert(Coll::A, 4, v(6)),
        Op::InsertWith(Coll::C, vec![(2, v(3), p(meta(&[f(127)]), None))]),
        Op::CountWhere(Coll::C, cond(Cond::Eq(Key::N, lit_arg(Lit::Float(127))))),
        Op::Reopen,
        Op::Kill,
        Op::Search {
            coll: Coll::A,
            query: v(0),
            k: 5,
            filter: None,
            matching: Some(cond(Cond::Contains(Key::Tags, lit_arg(Lit::Str(1))))),
        },
    ]
}

/// Metadata of every kind in collection `b`, asked about with every operator, deleted
/// by filter, compacted and killed.
fn payloads_where() -> Vec<Op> {
    let vals = [
        Val::Lit(Lit::Int(1)),
        Val::Lit(Lit::Float(2)),
        Val::Lit(Lit::Str(3)),
        Val::Lit(Lit::Bool(true)),
        Val::List(vec![Lit::Int(1), Lit::Str(1), Lit::Bool(false)]),
        Val::Null,
        Val::Lit(Lit::Int(126)),
        Val::Lit(Lit::Float(-128)),
    ];
    let items = (0..8u8)
        .map(|i| {
            let pairs = [
                (Key::A, vals[usize::from(i)].clone()),
                (Key::Tags, vals[usize::from(7 - i)].clone()),
            ];
            let v = Vector([i as i8 + 1, 2, -(i as i8)]);
            (
                i,
                v,
                PayloadIn {
                    meta: meta(&pairs),
                    doc: Some(i),
                },
            )
        })
        .collect();
    let one = lit_arg(Lit::Int(1));
    vec![
        Op::Create(Coll::B),
        Op::UpsertWith(Coll::B, items),
        Op::CountWhere(Coll::B, cond(Cond::Short(Key::A, one.clone()))),
        Op::CountWhere(Coll::B, cond(Cond::Ne(Key::A, one.clone()))),
        Op::CountWhere(
            Coll::B,
            cond(Cond::Nin(Key::A, vec![one.clone(), lit_arg(Lit::Str(3))])),
        ),
        Op::CountWhere(
            Coll::B,
            cond(Cond::Contains(Key::Tags, lit_arg(Lit::Str(1)))),
        ),
        Op::CountWhere(Coll::B, cond(Cond::Eq(Key::A, lit_arg(Lit::Int(125))))),
        Op::CountWhere(
            Coll::B,
            WhereIn::Or(vec![
                Node::Both(
                    Cond::Lt(Key::A, lit_arg(Lit::Float(3))),
                    Cond::Gte(Key::Tags, lit_arg(Lit::Int(0))),
                ),
                Node::And(vec![Cond::Two(Key::A, lit_arg(Lit::Int(0)), one.clone())]),
            ]),
        ),
        Op::Search {
            coll: Coll::B,
            query: Vector([1, 1, 1]),
            k: 4,
            filter: Some(vec![0, 1, 2, 3, 4]),
            matching: Some(cond(Cond::In(
                Key::A,
                vec![one.clone(), lit_arg(Lit::Bool(true))],
            ))),
        },
        Op::DeleteWhere(Coll::B, cond(Cond::Eq(Key::A, lit_arg(Lit::Bool(true))))),
        Op::Compact(Coll::B),
        Op::Kill,
        Op::CountWhere(Coll::B, cond(Cond::Lte(Key::A, lit_arg(Lit::Int(3))))),
    ]
}

/// Payloads and filters the library must refuse, and an update of an absent id.
fn payloads_refused() -> Vec<Op> {
    let v = Vector([1, 2, 3]);
    let bad = |b| PayloadIn {
        meta: meta(&[(Key::A, Val::Lit(Lit::Int(1))), (Key::B, Val::Bad(b))]),
        doc: None,
    };
    vec![
        Op::InsertWith(
            Coll::A,
            vec![
                (
                    1,
                    v,
                    PayloadIn {
                        meta: None,
                        doc: Some(1),
                    },
                ),
                (2, v, bad(Bad::Object)),
            ],
        ),
        Op::UpsertWith(Coll::A, vec![(1, v, bad(Bad::NullInList))]),
        Op::UpsertWith(Coll::A, vec![(1, v, bad(Bad::ListInList))]),
        Op::UpsertWith(Coll::A, vec![(1, v, bad(Bad::Big))]),
        Op::UpsertWith(
            Coll::A,
            vec![(
                1,
                v,
                PayloadIn {
                    meta: meta(&[(Key::Dollar, Val::Null)]),
                    doc: None,
                },
            )],
        ),
        Op::UpsertWith(
            Coll::A,
            vec![(
                1,
                v,
                PayloadIn {
                    meta: None,
                    doc: Some(2),
                },
            )],
        ),
        Op::Update {
            coll: Coll::A,
            items: vec![(1, None, None), (2, None, None)],
            what: UpdateWhat::Metadata,
        },
        Op::Update {
            coll: Coll::A,
            items: vec![(1, None, Some(1))],
            what: UpdateWhat::ShortDocuments,
        },
        Op::Update {
            coll: Coll::A,
            items: vec![(1, meta(&[(Key::A, Val::Bad(Bad::Object))]), None)],
            what: UpdateWhat::Metadata,
        },
        Op::CountWhere(Coll::A, cond(Cond::Gt(Key::A, lit_arg(Lit::Bool(true))))),
        Op::CountWhere(Coll::A, WhereIn::And(vec![])),
        Op::CountWhere(Coll::A, cond(Cond::In(Key::A, vec![Arg::Null]))),
        Op::CountWhere(
            Coll::A,
            cond(Cond::Short(Key::Dollar, lit_arg(Lit::Int(1)))),
        ),
        Op::Search {
            coll: Coll::A,
            query: v,
            k: 3,
            filter: None,
            matching: Some(cond(Cond::Eq(Key::A, Arg::List(vec![])))),
        },
        Op::ReopenWithoutCheckpoint,
    ]
}
