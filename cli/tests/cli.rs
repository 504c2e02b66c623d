//! The `fletchdb` command on real databases built in temporary directories.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use fletchdb::{CollectionConfig, Database, Metric, Options, Payload};
use serde_json::{json, Value};

const DIM: usize = 8;
const N: u64 = 500;

/// Runs `fletchdb` with `args`.
fn fletchdb(args: &[&dyn AsRef<std::ffi::OsStr>]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fletchdb"))
        .args(args.iter().map(|a| a.as_ref()))
        .output()
        .unwrap()
}

/// Runs it and expects success; returns stdout.
fn ok(args: &[&dyn AsRef<std::ffi::OsStr>]) -> String {
    let out = fletchdb(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{args:?} failed: {stderr}",
        args = args
            .iter()
            .map(|a| a.as_ref().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Runs it and expects one line on stderr and a non-zero exit; returns that line.
fn fails(args: &[&dyn AsRef<std::ffi::OsStr>]) -> String {
    let out = fletchdb(args);
    assert!(
        !out.status.success(),
        "succeeded: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

fn vector(id: u64) -> Vec<f32> {
    (0..DIM)
        .map(|j| ((id * 31 + j as u64 * 7) % 97) as f32 / 97.0 + 0.01)
        .collect()
}

/// A database with collection "docs" (L2): ids 0..N with metadata on the even ones,
/// a checkpoint halfway, then deletes of every tenth id left in the log.
fn build(dir: &Path) -> PathBuf {
    let path = dir.join("db");
    let db = Database::open(&path, Options::default()).unwrap();
    let c = db
        .create_collection("docs", CollectionConfig::new(DIM, Metric::L2))
        .unwrap();
    for id in 0..N {
        let p = if id % 2 == 0 {
            Payload::new()
                .with_metadata(json!({"even": true, "n": id}))
                .with_document(format!("doc {id}"))
        } else {
            Payload::new()
        };
        c.insert_with(&[id], &vector(id), &[p]).unwrap();
        if id == N / 2 {
            db.checkpoint().unwrap();
        }
    }
    for id in (0..N).step_by(10) {
        c.delete(id).unwrap();
    }
    path
}

#[test]
fn info_as_text_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let db = build(dir.path());
    let text = ok(&[&"info", &db]);
    assert!(text.contains("collection docs"), "{text}");
    assert!(
        text.contains("dim 8, metric l2, quantization none"),
        "{text}"
    );
    assert!(text.contains("450 live"), "{text}");
    assert!(
        text.contains("opened in ") && text.contains(" ms, stores "),
        "{text}"
    );
    let v: Value = serde_json::from_str(&ok(&[&"info", &db, &"--json"])).unwrap();
    let c = &v["collections"][0];
    assert_eq!(
        (c["name"].as_str(), c["live"].as_u64()),
        (Some("docs"), Some(450))
    );
    assert!(c["bytes"]["vectors"].as_u64().unwrap() > 0);
    assert!(c["bytes"]["id_map"].as_u64().unwrap() > 0);
    assert!(v["last_checkpoint_lsn"].as_u64().unwrap() > 0);
    let opened = v["opened_ms"].as_f64().unwrap();
    let steps: f64 = ["catalog", "stores", "replay", "linking"]
        .iter()
        .map(|k| v["open_steps_ms"][k].as_f64().unwrap())
        .sum();
    assert!(opened > 0.0 && steps <= opened, "{v}");
    let missing = fails(&[&"info", &dir.path().join("nothing")]);
    assert!(missing.contains("no FletchDB database"), "{missing}");
}

#[test]
fn verify_passes_a_clean_database_and_names_the_damaged_file() {
    let dir = tempfile::tempdir().unwrap();
    let db = build(dir.path());
    assert!(ok(&[&"verify", &db]).contains("ok"));
    // verify closed it with a checkpoint: there is a graph file now.
    let graph = std::fs::read_dir(db.join("c/1"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".hnsw"))
        .unwrap();
    // Mid graph (the whole file is checksummed); in both commit slots of the catalog's
    // header, which redb checks (a flip in a free page of the catalog is no damage).
    for (file, at) in [(graph, vec![]), (db.join("catalog.redb"), vec![100, 200])] {
        let copy = dir.path().join("damaged");
        let _ = std::fs::remove_dir_all(&copy);
        ok(&[&"backup", &db, &copy]);
        let target = copy.join(file.strip_prefix(&db).unwrap());
        let mut bytes = std::fs::read(&target).unwrap();
        let mid = bytes.len() / 2;
        for i in if at.is_empty() { vec![mid] } else { at } {
            bytes[i] ^= 0x5a;
        }
        std::fs::write(&target, bytes).unwrap();
        let line = fails(&[&"verify", &copy]);
        let name = target.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            line.contains(&name) && line.contains("corruption"),
            "{line}"
        );
    }
    // A damaged vector slot: open does not read it, verify does.
    let copy = dir.path().join("slot");
    ok(&[&"backup", &db, &copy]);
    let seg = copy.join("c/1/vec-0.seg");
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes[4096 + 4 * DIM * 3] ^= 1; // slot 3 (id 3, live)
    std::fs::write(&seg, bytes).unwrap();
    let line = fails(&[&"verify", &copy]);
    assert!(
        line.contains("vec-0.seg") && line.contains("byte 4192"),
        "{line}"
    );
}

#[test]
fn import_and_export_round_trip_with_metadata() {
    let dir = tempfile::tempdir().unwrap();
    let db = build(dir.path());
    for ext in ["fvecs", "npy"] {
        let vectors = dir.path().join(format!("out.{ext}"));
        let meta = dir.path().join(format!("out-{ext}.jsonl"));
        let said = ok(&[&"export", &db, &"docs", &vectors, &"--meta", &meta]);
        assert!(said.contains("exported 450 vectors"), "{said}");
        let target = dir.path().join(format!("copy-{ext}"));
        let said = ok(&[
            &"import",
            &target,
            &"docs",
            &vectors,
            &"--meta",
            &meta,
            &"--metric",
            &"l2",
        ]);
        assert!(said.contains("imported 450 vectors"), "{said}");
        // The copy holds the same ids, vectors and payloads.
        let a = Database::open(&db, Options::default()).unwrap();
        let b = Database::open(&target, Options::default()).unwrap();
        let (a, b) = (a.collection("docs").unwrap(), b.collection("docs").unwrap());
        let ids = a.ids().unwrap();
        assert_eq!(b.ids().unwrap(), ids);
        assert_eq!(b.get_batch(&ids).unwrap(), a.get_batch(&ids).unwrap());
        assert_eq!(b.get_payloads(&ids).unwrap(), a.get_payloads(&ids).unwrap());
        assert_eq!(b.config().metric, Metric::L2);
    }
    // Ids from a jsonl without "id" fields: --first-id plus the row number; other keys
    // are the metadata.
    let vectors = dir.path().join("out.npy");
    let meta = dir.path().join("plain.jsonl");
    std::fs::write(&meta, "{\"k\": 1}\n".repeat(450)).unwrap();
    let target = dir.path().join("numbered");
    ok(&[
        &"import",
        &target,
        &"v",
        &vectors,
        &"--meta",
        &meta,
        &"--first-id",
        &"1000",
        &"--quantization",
        &"f16",
    ]);
    let b = Database::open(&target, Options::default()).unwrap();
    let c = b.collection("v").unwrap();
    assert_eq!(c.ids().unwrap(), (1000..1450).collect::<Vec<_>>());
    assert_eq!(
        c.get_metadata(&[1449]).unwrap()[0].as_ref().unwrap()["k"],
        json!(1)
    );
    assert_eq!(c.config().metric, Metric::Cosine);
    drop((c, b));
    // Bad input: one line, non-zero.
    let line = fails(&[&"import", &target, &"v", &vectors, &"--first-id", &"1000"]);
    assert!(line.contains("already exists"), "{line}");
    let bad = dir.path().join("bad.fvecs");
    std::fs::write(&bad, [8, 0, 0, 0, 1, 2]).unwrap();
    assert!(fails(&[&"import", &target, &"w", &bad]).contains("truncated"));
}

#[test]
fn search_backup_compact_and_bench() {
    let dir = tempfile::tempdir().unwrap();
    let db = build(dir.path());
    let queries = dir.path().join("q.fvecs");
    let mut bytes = Vec::new();
    for id in [4u64, 7] {
        bytes.extend_from_slice(&(DIM as i32).to_le_bytes());
        vector(id)
            .iter()
            .for_each(|x| bytes.extend_from_slice(&x.to_le_bytes()));
    }
    std::fs::write(&queries, bytes).unwrap();
    let text = ok(&[&"search", &db, &"docs", &"--queries", &queries, &"-k", &"3"]);
    assert!(text.starts_with("query 0: 4 (0.000000)"), "{text}");
    let lines = ok(&[
        &"search",
        &db,
        &"docs",
        &"--queries",
        &queries,
        &"--json",
        &"--where",
        &"{\"even\": true}",
    ]);
    let second: Value = serde_json::from_str(lines.lines().nth(1).unwrap()).unwrap();
    let ids = second["ids"].as_array().unwrap();
    assert_eq!(ids.len(), 10);
    assert!(
        ids.iter().all(|id| id.as_u64().unwrap() % 2 == 0),
        "{second}"
    );
    assert!(fails(&[
        &"search",
        &db,
        &"docs",
        &"--queries",
        &queries,
        &"--where",
        &"{\"$bad\": 1}"
    ])
    .contains("invalid"));

    let copy = dir.path().join("copy");
    assert!(ok(&[&"backup", &db, &copy]).contains("backed up"));
    let v: Value = serde_json::from_str(&ok(&[&"info", &copy, &"--json"])).unwrap();
    assert_eq!(v["collections"][0]["live"], json!(450));
    assert!(fails(&[&"backup", &db, &copy]).contains("not an empty directory"));

    assert!(ok(&[&"compact", &db]).starts_with("docs: "));
    assert!(ok(&[&"compact", &db, &"docs"]).starts_with("docs: "));
    assert!(fails(&[&"compact", &db, &"nope"]).contains("no collection named"));

    let report = ok(&[&"bench", &db, &"docs", &"--queries", &"20"]);
    assert!(
        report.contains("recall@10: ") && report.contains("queries/s"),
        "{report}"
    );
}

#[test]
fn a_database_open_in_another_process_is_locked() {
    let dir = tempfile::tempdir().unwrap();
    let path = build(dir.path());
    let held = Database::open(&path, Options::default()).unwrap();
    for args in [vec!["info"], vec!["verify"], vec!["compact"]] {
        let mut all: Vec<&dyn AsRef<std::ffi::OsStr>> = args.iter().map(|a| a as _).collect();
        all.push(&path);
        let line = fails(&all);
        assert!(
            line.contains("is locked: the database is open elsewhere"),
            "{line}"
        );
    }
    drop(held);
    ok(&[&"info", &path]);
}
