//! One open handle per database directory: a second one fails with `Locked`, from this
//! process or another, and a holder that dies (SIGKILL) leaves no stale lock.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use fletchdb_storage::{DirLock, StorageError};

const CHILD: &str = "FLETCHDB_LOCK_CHILD";

#[test]
fn a_second_open_fails_here_and_in_another_process_until_the_holder_dies() {
    if let Ok(dir) = std::env::var(CHILD) {
        let _lock = DirLock::acquire(Path::new(&dir)).unwrap();
        println!("locked");
        std::thread::sleep(std::time::Duration::from_secs(600));
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    {
        let _mine = DirLock::acquire(tmp.path()).unwrap();
        assert!(matches!(
            DirLock::acquire(tmp.path()),
            Err(StorageError::Locked { .. })
        ));
    }
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["lock::", "--nocapture", "--test-threads=1"])
        .env(CHILD, tmp.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // The test harness prints its own words first, on the same line.
    let locked = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map_while(Result::ok)
        .any(|l| l.ends_with("locked"));
    assert!(locked, "the child never took the lock");
    let err = DirLock::acquire(tmp.path()).unwrap_err();
    assert!(
        matches!(err, StorageError::Locked { ref path } if path.ends_with("LOCK")),
        "{err}"
    );
    child.kill().unwrap();
    child.wait().unwrap();
    DirLock::acquire(tmp.path()).expect("the kernel released the dead child's lock");
}
