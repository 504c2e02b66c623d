//! Helpers shared by the database tests.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use fletchdb::{Collection, Metric, Options};

/// Options that never checkpoint by size, time or close, so everything written stays in
/// the log for the next open to replay. Background compaction is off too: after an open
/// that replayed, the background thread still takes one checkpoint, and a compaction
/// after it logs its moves, which a close before its second checkpoint leaves in the log
/// (so `replayed_at_open` would depend on timing).
pub fn no_checkpoints() -> Options {
    Options {
        checkpoint_bytes: 0,
        checkpoint_interval: None,
        checkpoint_on_close: false,
        compaction_threshold_percent: 0,
        ..Options::default()
    }
}

/// Runs this test binary again as a child running only `test` with `env` set, kills it
/// with SIGKILL after `kill_after`, and returns the lines it printed, each from the
/// first of `marks` it holds (the harness's `test NAME ... ` starts the first line).
pub fn run_child(
    test: &str,
    env: &[(&str, &std::path::Path)],
    kill_after: Duration,
    marks: &[&str],
) -> Vec<String> {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command.args([test, "--nocapture", "--test-threads=1"]);
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<String>>()
    });
    std::thread::sleep(kill_after);
    child.kill().unwrap();
    child.wait().unwrap();
    reader
        .join()
        .unwrap()
        .into_iter()
        .map(|line| {
            let at = marks.iter().filter_map(|m| line.find(m)).min().unwrap_or(0);
            line[at..].to_string()
        })
        .collect()
}

/// A deterministic vector for `(id, version)`: every test can recompute what a write
/// stored.
pub fn vector(id: u64, version: u32, dim: usize) -> Vec<f32> {
    let mut x = id.wrapping_mul(0x9e37_79b9_7f4a_7c15)
        ^ (version as u64).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    (0..dim)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ((x >> 40) as f32 / (1u64 << 24) as f32) - 0.5
        })
        .collect()
}

/// The stored form of `v` under `metric` (the library's own normalisation).
pub fn stored(mut v: Vec<f32>, metric: Metric) -> Vec<f32> {
    metric.prepare(&mut v).expect("test vectors are non-zero");
    v
}

/// Exact top-`k` ids of `query` over `model` (id -> stored vector), by the scalar
/// reference distance, ties broken by id.
pub fn exact(model: &BTreeMap<u64, Vec<f32>>, query: &[f32], k: usize, metric: Metric) -> Vec<u64> {
    let q = stored(query.to_vec(), metric);
    let mut d: Vec<(f32, u64)> = model
        .iter()
        .map(|(&id, v)| (metric.distance_scalar(&q, v), id))
        .collect();
    d.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    d.into_iter().take(k).map(|(_, id)| id).collect()
}

/// Checks that the collection holds exactly `model`, vector for vector, and that an
/// exhaustive search (ef >= len) agrees with the oracle.
pub fn check_against(c: &Collection, model: &BTreeMap<u64, Vec<f32>>, metric: Metric, probes: u32) {
    assert_eq!(c.len(), model.len(), "collection size");
    for (&id, v) in model {
        let got = c
            .get(id)
            .unwrap()
            .unwrap_or_else(|| panic!("id {id} missing"));
        assert_eq!(&got, v, "id {id} has another vector");
    }
    let dim = c.config().dim;
    let opts = fletchdb::SearchOptions {
        ef: model.len().max(10),
        filter: None,
        matching: None,
    };
    for p in 0..probes {
        let q = vector(1_000_000 + p as u64, 0, dim);
        let hits = c.search(&q, 10, &opts).unwrap();
        let got: Vec<u64> = hits.iter().map(|h| h.id).collect();
        let want = exact(model, &q, 10, metric);
        // Ties in distance may order differently; compare distances of the results.
        if got != want {
            let dist = |id: u64| metric.distance_scalar(&stored(q.clone(), metric), &model[&id]);
            let a: Vec<f32> = got.iter().map(|&i| dist(i)).collect();
            let b: Vec<f32> = want.iter().map(|&i| dist(i)).collect();
            for (x, y) in a.iter().zip(&b) {
                assert!(
                    (x - y).abs() <= 1e-5 * (1.0 + y.abs()),
                    "search {got:?} vs exact {want:?}"
                );
            }
        }
    }
}

/// Sets its flag when dropped: a test whose threads loop until a flag is set makes one
/// first thing in its `thread::scope`, so a panic in the scope's body (which waits for
/// the threads) stops them and fails the test instead of hanging it.
pub struct StopOnDrop<'a>(pub &'a std::sync::atomic::AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::Release);
    }
}
