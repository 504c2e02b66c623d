//! A child process writes (inserts, upserts, deletes, batches) with `Sync` durability
//! while another of its threads checkpoints and compacts back to back, printing each acknowledged
//! write; it is killed with SIGKILL at a random moment, mid-write and mid-checkpoint. On reopen every
//! acknowledged write is there with its exact vector, nothing appears half-written,
//! and searches agree with an exact oracle.
//!
//! The child is this test binary run again with `FLETCHDB_DB_CHILD` set. Rounds default
//! to 50; `FLETCHDB_CRASH_ROUNDS` asks for more (`scripts/crash_db.sh`).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use fletchdb::{CollectionConfig, Database, Metric, Options};
use parking_lot::Mutex;
use rand::Rng;

use crate::common::{check_against, stored, vector};

const CHILD: &str = "FLETCHDB_DB_CHILD";
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

/// The child: 3 writer threads over disjoint id ranges. Each write is announced
/// before it starts (`try put ID VERSION`, `try del ID`) and confirmed once
/// acknowledged (`ok put ...`, `ok del ...`).
fn child(dir: &Path) -> ! {
    let db = Database::open(dir, options()).unwrap();
    let c = match db.collection("c") {
        Ok(c) => c,
        Err(_) => db
            .create_collection("c", CollectionConfig::new(DIM, METRIC))
            .unwrap(),
    };
    let out = Mutex::new(std::io::stdout());
    let say = |text: String| {
        let mut o = out.lock();
        writeln!(o, "{text}").unwrap();
        o.flush().unwrap();
    };
    let round: u32 = rand::rng().random_range(1..1_000_000);
    std::thread::scope(|s| {
        // Checkpoints back to back, so that many kills land in the middle of one.
        // Every third round is a compaction (two checkpoints, moves, a cut), so kills
        // land in those too.
        s.spawn(|| {
            for n in 0u64.. {
                if n % 3 == 2 {
                    let done = c.compact().unwrap();
                    say(format!("compacted {} {}", done.moved, done.files_removed));
                } else {
                    c.checkpoint().unwrap();
                    say("checkpointed".to_string());
                }
            }
        });
        for t in 0..3u64 {
            let (c, say) = (&c, &say);
            s.spawn(move || {
                let mut rng = rand::rng();
                loop {
                    let id = t * 1000 + rng.random_range(0..300);
                    match rng.random_range(0..10) {
                        0 => {
                            say(format!("try del {id}"));
                            c.delete(id).unwrap();
                            say(format!("ok del {id}"));
                        }
                        1 => {
                            let ids = [id, id + 300];
                            let flat =
                                [vector(ids[0], round, DIM), vector(ids[1], round, DIM)].concat();
                            say(format!(
                                "try put {} {round}\ntry put {} {round}",
                                ids[0], ids[1]
                            ));
                            c.upsert_batch(&ids, &flat).unwrap();
                            say(format!(
                                "ok put {} {round}\nok put {} {round}",
                                ids[0], ids[1]
                            ));
                        }
                        _ => {
                            say(format!("try put {id} {round}"));
                            c.upsert(id, &vector(id, round, DIM)).unwrap();
                            say(format!("ok put {id} {round}"));
                        }
                    }
                }
            });
        }
    });
    unreachable!()
}

#[test]
fn acknowledged_writes_survive_sigkill_mid_write_and_mid_checkpoint() {
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
    // What must be there: id -> Some(version) or None (deleted), from acknowledged writes.
    let mut acked: BTreeMap<u64, Option<u32>> = BTreeMap::new();
    let mut total = 0usize;
    let mut compactions = 0usize;
    for round in 0..rounds {
        let mut child = Command::new(&exe)
            .args([
                "crash::acknowledged_writes_survive",
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
        std::thread::sleep(Duration::from_millis(rng.random_range(30..400)));
        child.kill().unwrap();
        child.wait().unwrap();
        // Acknowledged state per id, and the writes in flight at the kill.
        let mut tried: BTreeMap<u64, Option<u32>> = BTreeMap::new();
        for line in reader.join().unwrap() {
            compactions += usize::from(line.starts_with("compacted "));
            let at = ["try ", "ok "]
                .iter()
                .filter_map(|p| line.find(p))
                .min()
                .unwrap_or(0);
            let f: Vec<&str> = line[at..].split(' ').collect();
            let (id, state) = match f.as_slice() {
                [_, "put", id, v] => (id.parse::<u64>().unwrap(), Some(v.parse::<u32>().unwrap())),
                [_, "del", id] => (id.parse::<u64>().unwrap(), None),
                _ => continue, // a line cut by the kill
            };
            if f[0] == "try" {
                tried.insert(id, state);
            } else {
                tried.remove(&id);
                acked.insert(id, state);
                total += 1;
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
        let expect =
            |id: u64, state: Option<u32>| state.map(|v| stored(vector(id, v, DIM), METRIC));
        let mut model = BTreeMap::new();
        for id in (0..3u64).flat_map(|t| t * 1000..t * 1000 + 600) {
            let got = c.get(id).unwrap();
            let before = acked.get(&id).copied().flatten();
            let ok =
                got == expect(id, before) || tried.get(&id).is_some_and(|&t| got == expect(id, t));
            assert!(
                ok,
                "round {round}: id {id} holds {got:?}, acknowledged {before:?}, in flight {:?}",
                tried.get(&id)
            );
            // Settle in-flight ids to what is stored, for later rounds.
            if let Some(&t) = tried.get(&id) {
                if got == expect(id, t) {
                    acked.insert(id, t);
                }
            }
            if let Some(v) = got {
                model.insert(id, v);
            }
        }
        check_against(&c, &model, METRIC, 3);
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
        "{rounds} SIGKILL rounds, {total} acknowledged writes checked, {segments} vector \
         segments, {compactions} compactions finished"
    );
    assert!(
        total > rounds,
        "the children acknowledged too little: {total}"
    );
    assert!(
        compactions > 0,
        "no child finished a compaction before its kill"
    );
}
