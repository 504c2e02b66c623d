//! Replays every fuzz target's corpus (`fuzz/corpus/<target>/*`: seeds and every past
//! finding) and its generated seeds through the target's body, so that plain
//! `cargo test` on stable exercises the fuzz targets without libFuzzer.
//!
//! `cargo test -p fletchdb-fuzz -- --ignored write_seeds` rewrites the committed seeds.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use fletchdb_fuzz::{seeds, Target, TARGETS};

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

/// Inputs of library bugs still open (`fuzz/findings/<target>/*`, see
/// `fuzz/FINDINGS.md`) must pass while the targets step around them, and still fail
/// when they do not (checked in a child process, since a bug may abort): one that
/// passes is fixed, and belongs in `fuzz/corpus/<target>/` now.
#[test]
fn open_findings_still_fail() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../findings");
    let mut fixed = Vec::new();
    for &(target, f) in TARGETS {
        let Ok(entries) = std::fs::read_dir(root.join(target)) else {
            continue;
        };
        for path in entries.map(|e| e.expect("entry").path()) {
            let bytes = std::fs::read(&path).expect("read finding");
            f(&bytes);
            let strict = std::process::Command::new(std::env::current_exe().expect("exe"))
                .args([
                    "--exact",
                    "replay_one_finding",
                    "--ignored",
                    "--test-threads=1",
                ])
                .env("FLETCHDB_FUZZ_TARGET", target)
                .env("FLETCHDB_FUZZ_FINDING", &path)
                .output()
                .expect("run the test binary");
            if strict.status.success() {
                fixed.push(path.display().to_string());
            }
        }
    }
    assert!(
        fixed.is_empty(),
        "fixed: move these to fuzz/corpus/<target>/ and remove their step-around: {fixed:?}"
    );
}

/// Replays the finding `$FLETCHDB_FUZZ_FINDING` of `$FLETCHDB_FUZZ_TARGET` without
/// step-arounds: the child process of [`open_findings_still_fail`].
#[test]
#[ignore = "run by open_findings_still_fail in a child process"]
fn replay_one_finding() {
    let (Ok(target), Ok(path)) = (
        std::env::var("FLETCHDB_FUZZ_TARGET"),
        std::env::var("FLETCHDB_FUZZ_FINDING"),
    ) else {
        return;
    };
    let &(_, f) = TARGETS.iter().find(|(t, _)| *t == target).expect("target");
    let bytes = std::fs::read(path).expect("read finding");
    fletchdb_fuzz::without_step_arounds(|| f(&bytes));
}

#[test]
#[ignore = "writes fuzz/corpus/*/seed-*; run by hand after a format change"]
fn write_seeds() {
    for &(target, _) in TARGETS {
        let dir = corpus_dir(target);
        std::fs::create_dir_all(&dir).expect("create corpus dir");
        for (name, bytes) in seeds(target) {
            std::fs::write(dir.join(format!("seed-{name}")), bytes).expect("write seed");
        }
    }
}
