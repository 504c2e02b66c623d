//! A real child process appends with `Sync` durability and prints each acknowledged LSN;
//! it is killed with SIGKILL at a random moment, and every acknowledged record must be
//! there, intact, when the log is reopened.
//!
//! The child is this test binary run again with `FLETCHDB_WAL_CHILD` set. Rounds default
//! to 50; `FLETCHDB_CRASH_ROUNDS` asks for more (`scripts/crash_wal.sh` runs 1,000).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use fletchdb_storage::io::OsDir;
use fletchdb_storage::wal::{Durability, WalOptions};
use parking_lot::Mutex;
use rand::Rng;

use crate::common::{check_payload, payload, reopen};

const CHILD: &str = "FLETCHDB_WAL_CHILD";

fn opts() -> WalOptions {
    WalOptions {
        durability: Durability::Sync,
        segment_size: 256 << 10,
        recycle_segments: 2,
        ..WalOptions::default()
    }
}

/// The child: 4 threads append until killed; thread 0 now and then trims segments
/// below a point it announces first.
fn child(dir: &Path) -> ! {
    let (wal, _) = reopen(Arc::new(OsDir::create(dir).unwrap()), opts()).unwrap();
    let out = Mutex::new(std::io::stdout());
    let round: u32 = rand::rng().random();
    std::thread::scope(|s| {
        for t in 0..4u32 {
            let (wal, out) = (&wal, &out);
            s.spawn(move || {
                for i in 0.. {
                    let p = payload(t, round ^ i, 100 + (i as usize * 97) % 3000);
                    let lsn = wal.append(1, &[&p]).unwrap();
                    let mut o = out.lock();
                    writeln!(o, "ack {lsn} {t} {}", round ^ i).unwrap();
                    if t == 0 && i % 300 == 299 {
                        let below = wal.durable_lsn().saturating_sub(200);
                        writeln!(o, "trim {below}").unwrap();
                        o.flush().unwrap();
                        drop(o);
                        wal.remove_segments_before(below).unwrap();
                    } else {
                        o.flush().unwrap();
                    }
                }
            });
        }
    });
    unreachable!("the writers never stop")
}

#[test]
fn acknowledged_records_survive_sigkill() {
    if let Ok(dir) = std::env::var(CHILD) {
        child(Path::new(&dir));
    }
    let rounds: usize = std::env::var("FLETCHDB_CRASH_ROUNDS")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(50);
    let tmp = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut rng = rand::rng();
    let mut total_acked = 0usize;
    for round in 0..rounds {
        let mut child = Command::new(&exe)
            .args([
                "wal_crash::acknowledged_records_survive_sigkill",
                "--exact",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD, tmp.path())
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
        std::thread::sleep(Duration::from_millis(rng.random_range(5..120)));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let lines = reader.join().unwrap();

        let mut acked = BTreeMap::new();
        let mut trimmed = 0u64;
        for line in &lines {
            // The harness's "test wal_crash::... ... " may prefix the first line.
            let at = line
                .find("ack ")
                .or_else(|| line.find("trim "))
                .unwrap_or(0);
            let f: Vec<&str> = line[at..].split(' ').collect();
            match f.as_slice() {
                ["ack", lsn, t, i] => {
                    acked.insert(
                        lsn.parse::<u64>().unwrap(),
                        (t.parse().unwrap(), i.parse().unwrap()),
                    );
                }
                ["trim", below] => trimmed = trimmed.max(below.parse().unwrap()),
                _ => {} // a line cut by the kill was never acknowledged
            }
        }
        let (wal, got) = reopen(Arc::new(OsDir::create(tmp.path()).unwrap()), opts())
            .unwrap_or_else(|e| panic!("round {round}: reopen failed: {e}"));
        let found: BTreeMap<u64, (u32, u32)> = got
            .iter()
            .map(|(lsn, _, p)| {
                (
                    *lsn,
                    check_payload(p).unwrap_or_else(|| panic!("round {round}: LSN {lsn} damaged")),
                )
            })
            .collect();
        for (lsn, who) in acked.range(trimmed..) {
            assert_eq!(
                found.get(lsn),
                Some(who),
                "round {round}: acknowledged LSN {lsn} lost"
            );
        }
        // What else came back (written, not yet acknowledged) is intact (checked above)
        // and appears once.
        let mut writers: Vec<&(u32, u32)> = found.values().collect();
        writers.sort();
        writers.dedup();
        assert_eq!(
            writers.len(),
            found.len(),
            "round {round}: a record came back twice"
        );
        total_acked += acked.len();
        drop(wal);
    }
    assert!(
        total_acked > rounds,
        "the children acknowledged too little to test: {total_acked}"
    );
}
