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

use crate::encode::encode_all;

mod api_ops;
mod payloads;

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
        "payload_bytes" => payloads::payload_seeds(),
        "where_json" => payloads::where_seeds(),
        "api_ops" => api_ops::api_seeds(),
        "id_map" => id_map_seeds(),
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
        // F5 (the fuzzer's input was re-encoded when api_ops gained payload
        // operations, which changed how bytes decode).
        "api_ops" => vec![(
            "finding-F5-catalog-lost".to_string(),
            encode_all(&api_ops::f5_catalog_lost()),
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

/// Graphs saved by the real index over `graph_file`'s vectors, in the harness's compact
/// form of version 3.
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
        crate::graph::compact(&bytes)
    };
    // Version 3, in the harness's compact form. (The version 1 and 2 seeds, written by
    // the index before version 3, stay in the committed corpus as `seed-<name>` and
    // `seed-v2-<name>`.)
    vec![
        ("v3-l2-m4-40", save(Metric::L2, 4, 40, &[])),
        ("v3-l2-m2-25-deleted", save(Metric::L2, 2, 25, &[0, 3, 17])),
        ("v3-cosine-m8-20", save(Metric::Cosine, 8, 20, &[5])),
        ("v3-ip-m16-12", save(Metric::InnerProduct, 16, 12, &[])),
        ("v3-one-node", save(Metric::L2, 4, 1, &[])),
        ("v3-empty", save(Metric::L2, 16, 0, &[])),
    ]
}

/// Id map files (behind the harness's mode byte: 1 as written, 0 to have the checksum
/// recomputed), whole, cut and with a stray id.
fn id_map_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let ids: Vec<u64> = (0..130u64).map(|s| s * 11 + 3).collect();
    let mapped = [u64::MAX, 0x0f0f_0f0f_0f0f_0f0f, 0b11];
    let map = fletchdb_storage::idmap::encode(&ids, &mapped);
    let with = |mode: u8, bytes: &[u8]| [&[mode][..], bytes].concat();
    let mut stray = map.clone();
    stray[32 + 8 * 68] = 1; // slot 68: not mapped
    vec![
        ("ids", with(1, &map)),
        (
            "ids-empty",
            with(1, &fletchdb_storage::idmap::encode(&[], &[])),
        ),
        ("ids-cut", with(0, &map[..map.len() - 16])),
        ("ids-stray", with(0, &stray)),
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
        ("payload", payloads::sample_payload().to_bytes()),
        (
            "payload-document",
            Payload::new().with_document("text").to_bytes(),
        ),
    ]
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
