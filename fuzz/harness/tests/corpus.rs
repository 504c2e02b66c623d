//! Replays every fuzz target's corpus (`fuzz/corpus/<target>/*`: seeds and every past
//! finding) and its generated seeds through the target's body, so that plain
//! `cargo test` on stable exercises the fuzz targets without libFuzzer.
//!
//! `cargo test -p fletchdb-fuzz -- --ignored write_seeds` rewrites the committed seeds
//! (and the findings written from their operations, `fletchdb_fuzz::findings`).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use fletchdb_fuzz::{findings, seeds, Target, TARGETS};

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../corpus")
        .join(target)
}

/// Runs `f` on each input, and fails naming every input that panicked.
fn replay(target: &str, f: Target, inputs: Vec<(String, Vec<u8>)>) -> usize {
    let mut failed = Vec::new();
    for (name, bytes) in &inputs {
        if catch_unwind(AssertUnwindSafe(|| f(bytes))).is_err() {
            failed.push(name.clone());
        }
    }
    assert!(failed.is_empty(), "{target}: these inputs fail: {failed:?}");
    inputs.len()
}

#[test]
fn committed_corpus_replays() {
    for &(target, f) in TARGETS {
        let dir = corpus_dir(target);
        let mut inputs = Vec::new();
        let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.expect("entry").path())
            .collect();
        paths.sort();
        for path in paths {
            let bytes = std::fs::read(&path).expect("read corpus file");
            inputs.push((path.display().to_string(), bytes));
        }
        let n = replay(target, f, inputs);
        assert!(n > 0, "{target}: empty corpus");
    }
}

#[test]
fn generated_seeds_replay() {
    for &(target, f) in TARGETS {
        replay(target, f, seeds(target));
    }
}

/// A finding kept as the operations that found it must be committed as their current
/// encoding: if the input types change, its old bytes would decode to something else
/// and the corpus would stop replaying the finding.
#[test]
fn findings_written_from_operations_are_committed_as_written() {
    for &(target, _) in TARGETS {
        for (name, bytes) in findings(target) {
            let path = corpus_dir(target).join(&name);
            let committed = std::fs::read(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(
                committed == bytes,
                "{target}/{name} is not the encoding of its operations: rerun write_seeds"
            );
        }
    }
}

#[test]
#[ignore = "writes fuzz/corpus/*/seed-* and the findings written from operations; run by hand after a format change"]
fn write_seeds() {
    for &(target, _) in TARGETS {
        let dir = corpus_dir(target);
        std::fs::create_dir_all(&dir).expect("create corpus dir");
        for (name, bytes) in seeds(target) {
            std::fs::write(dir.join(format!("seed-{name}")), bytes).expect("write seed");
        }
        for (name, bytes) in findings(target) {
            std::fs::write(dir.join(name), bytes).expect("write finding");
        }
    }
}
