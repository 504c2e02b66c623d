//! Injected failures poison the log, and a crash at any sync loses no acknowledged
//! record (the in-memory file system keeps live and durable images).

use std::collections::BTreeMap;
use std::sync::Arc;

use fletchdb_storage::io::{Fault, MemDir};
use fletchdb_storage::wal::Durability;
use fletchdb_storage::StorageError;
use parking_lot::Mutex;

use crate::common::{check_payload, payload, reopen, small};

#[test]
fn a_failed_write_or_sync_poisons_until_reopen() {
    for fault in [Fault::Write { after: 3 }, Fault::Sync { after: 3 }] {
        let dir = MemDir::new();
        let (wal, _) = reopen(Arc::new(dir.clone()), small(Durability::Sync)).unwrap();
        let mut acked = vec![wal.append(1, &[&payload(0, 0, 50)]).unwrap()];
        spare_ready(&dir);
        dir.inject(fault);
        let mut failed_at = None;
        for i in 1..10u32 {
            match wal.append(1, &[&payload(0, i, 50)]) {
                Ok(lsn) => acked.push(lsn),
                Err(StorageError::WalPoisoned { .. }) => {
                    failed_at.get_or_insert(i);
                }
                Err(e) => panic!("{fault:?}: {e}"),
            }
        }
        let failed_at = failed_at.expect("the fault fired");
        assert_eq!(
            acked.len(),
            failed_at as usize,
            "{fault:?}: nothing acked after"
        );
        assert!(failed_at < 5, "{fault:?} fired at append {failed_at}");
        assert!(matches!(wal.flush(), Err(StorageError::WalPoisoned { .. })));
        drop(wal);
        // Reopening recovers every acknowledged record; the failed one may or may not
        // be there, but nothing after it.
        let (wal, got) = reopen(Arc::new(dir.clone()), small(Durability::Sync)).unwrap();
        assert!(
            got.len() >= acked.len() && got.len() <= acked.len() + 1,
            "{fault:?}"
        );
        for (k, (lsn, _, p)) in got.iter().enumerate() {
            assert_eq!(*lsn, k as u64 + 1);
            assert_eq!(check_payload(p), Some((0, k as u32)));
        }
        wal.append(1, &[b"works again"]).unwrap();
    }
}

/// Waits until the background thread has prepared a spare segment and gone idle, so
/// that the next injected fault hits the appenders, not it.
fn spare_ready(dir: &MemDir) {
    use fletchdb_storage::io::StorageDir;
    let t = std::time::Instant::now();
    loop {
        let names = dir.list().unwrap();
        if names
            .iter()
            .any(|n| n.starts_with("spare-") && !n.ends_with(".tmp"))
            && !names.iter().any(|n| n.ends_with(".tmp"))
        {
            return;
        }
        assert!(t.elapsed().as_secs() < 10, "no spare segment appeared");
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

#[test]
fn a_crash_at_any_sync_keeps_every_acknowledged_record() {
    for crash_after in 0..60 {
        let dir = MemDir::new();
        let (wal, _) = reopen(Arc::new(dir.clone()), small(Durability::Sync)).unwrap();
        dir.inject(Fault::CrashAtSync { after: crash_after });
        let acked = Mutex::new(BTreeMap::new());
        std::thread::scope(|s| {
            for t in 0..4u32 {
                let (wal, acked) = (&wal, &acked);
                s.spawn(move || {
                    for i in 0..40u32 {
                        match wal.append(1, &[&payload(t, i, 30 + 20 * t as usize)]) {
                            Ok(lsn) => {
                                acked.lock().insert(lsn, (t, i));
                            }
                            Err(_) => return,
                        }
                    }
                });
            }
        });
        let after = dir.crash();
        drop(wal);
        let (_, got) = reopen(Arc::new(after), small(Durability::Sync))
            .unwrap_or_else(|e| panic!("crash after {crash_after} syncs: {e}"));
        let found: BTreeMap<u64, (u32, u32)> = got
            .iter()
            .map(|(lsn, _, p)| (*lsn, check_payload(p).expect("intact payload")))
            .collect();
        for (lsn, who) in acked.lock().iter() {
            assert_eq!(
                found.get(lsn),
                Some(who),
                "crash after {crash_after}: LSN {lsn} lost"
            );
        }
        assert_eq!(
            found.keys().copied().collect::<Vec<_>>(),
            (1..=found.len() as u64).collect::<Vec<_>>(),
            "recovered LSNs are a gap-free prefix"
        );
    }
}
