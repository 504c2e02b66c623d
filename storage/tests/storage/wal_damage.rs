//! Damaged logs: a torn tail is cut off, anything else is reported, nothing panics, and
//! no record comes back that was not written.

use std::sync::Arc;

use fletchdb_storage::io::{MemDir, StorageDir};
use fletchdb_storage::wal::{Durability, Wal, WalOptions};
use fletchdb_storage::StorageError;
use rand::{rngs::StdRng, Rng, SeedableRng};

use crate::common::{check_payload, encoded, payload, reopen, SEGMENT_HEADER};

const SEG: &str = "00000000000000000001.wal";
const P: usize = 100;

fn opts(durability: Durability) -> WalOptions {
    WalOptions {
        durability,
        segment_size: 64 << 10,
        ..WalOptions::default()
    }
}

/// A log of `n` synced records of `P` bytes in one segment, as a crash leaves it (no
/// clean-close marker).
fn crashed_log(n: u32) -> MemDir {
    let dir = MemDir::new();
    let (wal, _) = reopen(Arc::new(dir.clone()), opts(Durability::Sync)).unwrap();
    for i in 0..n {
        wal.append(1, &[&payload(0, i, P)]).unwrap();
    }
    let crashed = dir.crash();
    drop(wal);
    crashed
}

fn start_of(lsn: u64) -> usize {
    SEGMENT_HEADER + (lsn as usize - 1) * encoded(P)
}

#[test]
fn a_tail_torn_at_every_byte_offset_recovers_the_prefix() {
    let n = 20;
    let base = crashed_log(n);
    let (start, end) = (start_of(n as u64), start_of(n as u64 + 1));
    for cut in start..end {
        // Zeroing only the padding after the payload leaves the record intact.
        for shorten in [false, true]
            .into_iter()
            .filter(|&s| s || cut < start + 32 + P)
        {
            let dir = base.kill(); // a private copy
            dir.with_file(SEG, |b| {
                if shorten {
                    b.truncate(cut);
                } else {
                    b[cut..end].fill(0);
                }
            })
            .unwrap();
            let dir: Arc<dyn StorageDir> = Arc::new(dir);
            let (wal, got) = reopen(dir.clone(), opts(Durability::Sync))
                .unwrap_or_else(|e| panic!("cut at {cut} (shorten {shorten}): {e}"));
            assert_eq!(got.len(), n as usize - 1, "cut at {cut}");
            assert_eq!(wal.append(1, &[&payload(9, 9, P)]).unwrap(), n as u64);
            drop(wal);
            let (_, got) = reopen(dir, opts(Durability::Sync)).unwrap();
            assert_eq!(got.len(), n as usize);
            assert_eq!(check_payload(&got[n as usize - 1].2), Some((9, 9)));
        }
    }
}

#[test]
fn a_flipped_bit_before_durable_records_is_corruption_naming_file_and_offset() {
    let n = 12;
    let base = crashed_log(n);
    for lsn in 1..n as u64 {
        for at in [start_of(lsn), start_of(lsn) + 4, start_of(lsn) + 40] {
            let dir = base.kill();
            dir.with_file(SEG, |b| b[at] ^= 0x04).unwrap();
            let err = reopen(Arc::new(dir), opts(Durability::Sync)).unwrap_err();
            match err {
                StorageError::Corruption { file, offset, .. } => {
                    assert!(file.ends_with(SEG));
                    assert_eq!(offset, start_of(lsn) as u64, "record {lsn}");
                }
                e => panic!("record {lsn}: {e}"),
            }
        }
    }
}

#[test]
fn after_a_clean_close_even_the_last_record_is_protected() {
    let dir = MemDir::new();
    let (wal, _) = reopen(Arc::new(dir.clone()), opts(Durability::Sync)).unwrap();
    for i in 0..5 {
        wal.append(1, &[&payload(0, i, P)]).unwrap();
    }
    wal.close().unwrap();
    let (_, got) = reopen(Arc::new(dir.kill()), opts(Durability::Sync)).unwrap();
    assert_eq!(got.len(), 5);
    dir.with_file(SEG, |b| b[start_of(5) + 50] ^= 1).unwrap();
    assert!(matches!(
        reopen(Arc::new(dir), opts(Durability::Sync)),
        Err(StorageError::Corruption { .. })
    ));
}

#[test]
fn survivors_of_a_torn_unsynced_group_are_wiped_not_resurrected() {
    // Buffered with a long interval: records are written but never synced, so none
    // claims another durable; a kill leaves them all in the page cache.
    let dir = MemDir::new();
    let o = opts(Durability::Buffered {
        interval: std::time::Duration::from_secs(3600),
    });
    let (wal, _) = reopen(Arc::new(dir.clone()), o).unwrap();
    for i in 0..20 {
        wal.append(1, &[&payload(0, i, P)]).unwrap();
    }
    let killed = dir.kill();
    drop(wal);
    // Record 5 is torn; 6..20 are intact but were never acknowledged as durable.
    killed
        .with_file(SEG, |b| b[start_of(5) + 60] ^= 0xff)
        .unwrap();
    let killed: Arc<dyn StorageDir> = Arc::new(killed);
    let (wal, got) = reopen(killed.clone(), o).unwrap();
    assert_eq!(got.len(), 4);
    // A new record 5 of the same size lands exactly where the old one was; the old
    // record 6 right after it must not be read as the new record 6.
    assert_eq!(wal.append(1, &[&payload(7, 7, P)]).unwrap(), 5);
    drop(wal);
    let (_, got) = reopen(killed, o).unwrap();
    assert_eq!(got.len(), 5);
    assert_eq!(check_payload(&got[4].2), Some((7, 7)));
}

#[test]
fn missing_middle_segment_and_bad_headers_are_errors() {
    let dir = MemDir::new();
    let small = WalOptions {
        segment_size: 4096,
        ..opts(Durability::Sync)
    };
    let (wal, _) = reopen(Arc::new(dir.clone()), small).unwrap();
    for i in 0..100 {
        wal.append(1, &[&payload(0, i, P)]).unwrap();
    }
    wal.close().unwrap();
    let mut names: Vec<String> = dir
        .list()
        .unwrap()
        .into_iter()
        .filter(|n| !n.starts_with("spare"))
        .collect();
    names.sort();
    assert!(names.len() > 3);

    let gap = dir.kill();
    gap.remove(&names[1]).unwrap();
    assert!(matches!(
        reopen(Arc::new(gap), small),
        Err(StorageError::Corruption { .. })
    ));

    let bad_magic = dir.kill();
    bad_magic.with_file(&names[2], |b| b[0] = b'X').unwrap();
    assert!(matches!(
        reopen(Arc::new(bad_magic), small),
        Err(StorageError::Corruption { offset: 0, .. })
    ));

    let future = dir.kill();
    future
        .with_file(&names[0], |b| {
            b[8] = 9;
            let crc = crc32c::crc32c(&b[..32]);
            b[32..36].copy_from_slice(&crc.to_le_bytes());
        })
        .unwrap();
    assert!(matches!(
        reopen(Arc::new(future), small),
        Err(StorageError::UnsupportedVersion { found: 9, .. })
    ));

    let renamed = dir.kill();
    renamed
        .rename(&names[1], "00000000000000000002.wal")
        .unwrap();
    assert!(matches!(
        reopen(Arc::new(renamed), small),
        Err(StorageError::Corruption { offset: 16, .. })
    ));
}

#[test]
fn random_damage_never_panics_and_never_returns_unwritten_records() {
    let n = 60u32;
    let dir = MemDir::new();
    let small = WalOptions {
        segment_size: 4096,
        ..opts(Durability::Sync)
    };
    let (wal, _) = reopen(Arc::new(dir.clone()), small).unwrap();
    let written: Vec<Vec<u8>> = (0..n)
        .map(|i| payload(3, i, 20 + (i as usize * 13) % 150))
        .collect();
    for p in &written {
        wal.append(5, &[p]).unwrap();
    }
    let clean = dir.kill();
    drop(wal);
    let names = clean.list().unwrap();
    let mut rng = StdRng::seed_from_u64(7);
    let (mut ok, mut errors) = (0, 0);
    for _ in 0..3000 {
        let d = clean.kill();
        let name = &names[rng.random_range(0..names.len())];
        d.with_file(name, |b| match rng.random_range(0..4) {
            0 if !b.is_empty() => {
                let i = rng.random_range(0..b.len());
                b[i] ^= 1 << rng.random_range(0..8);
            }
            1 => {
                let cut = rng.random_range(0..=b.len());
                b.truncate(cut);
            }
            2 if !b.is_empty() => {
                let i = rng.random_range(0..b.len());
                let j = (i + rng.random_range(1..64)).min(b.len());
                b[i..j].fill(0);
            }
            _ if !b.is_empty() => {
                let i = rng.random_range(0..b.len());
                let j = (i + rng.random_range(1..64)).min(b.len());
                rng.fill(&mut b[i..j]);
            }
            _ => {}
        })
        .unwrap();
        match Wal::open(Arc::new(d), small) {
            Err(_) => errors += 1,
            Ok(mut rec) => {
                let mut bad = false;
                loop {
                    match rec.next_record() {
                        Ok(Some(r)) => {
                            let i = r.lsn as usize - 1;
                            assert_eq!(r.kind, 5);
                            assert_eq!(
                                r.payload,
                                &written[i][..],
                                "LSN {} came back different",
                                r.lsn
                            );
                        }
                        Ok(None) => break,
                        Err(_) => {
                            bad = true;
                            break;
                        }
                    }
                }
                if bad || rec.finish().is_err() {
                    errors += 1;
                } else {
                    ok += 1;
                }
            }
        }
    }
    assert!(ok > 0 && errors > 0, "ok {ok}, errors {errors}");
}

#[test]
fn a_short_segment_in_a_log_of_mixed_sizes_is_corruption_naming_file_and_offset() {
    // Segments of 4, 8, 16, 32 and 64 KiB; the last one trimmed by the clean close.
    let dir = MemDir::new();
    let (wal, _) = reopen(Arc::new(dir.clone()), opts(Durability::Sync)).unwrap();
    for i in 0..1_000 {
        wal.append(1, &[&payload(0, i, P)]).unwrap();
    }
    wal.close().unwrap();
    let mut names: Vec<String> = dir.list().unwrap();
    names.sort();
    let lens: Vec<u64> = names
        .iter()
        .map(|n| dir.open(n).unwrap().len().unwrap())
        .collect();
    assert_eq!(&lens[..5], &[4096, 8192, 16384, 32768, 65536], "{names:?}");
    // Cut segment 2 (16 KiB) at its 10th record, or zero it from there: the records
    // after it, in segment 2 and beyond, say the log was durable past the cut.
    let cut = SEGMENT_HEADER + 10 * encoded(P);
    for truncate in [true, false] {
        let damaged = dir.kill();
        damaged
            .with_file(&names[2], |b| {
                if truncate {
                    b.truncate(cut);
                } else {
                    b[cut..].fill(0);
                }
            })
            .unwrap();
        match reopen(Arc::new(damaged), opts(Durability::Sync)) {
            Err(StorageError::Corruption { file, offset, .. }) => {
                assert!(file.ends_with(&names[2]), "{}", file.display());
                assert_eq!(offset, cut as u64);
            }
            Err(e) => panic!("truncate {truncate}: {e}"),
            Ok(_) => panic!("truncate {truncate}: a short segment was accepted"),
        }
    }
    // Undamaged, every record reads back across the sizes.
    let (_, got) = reopen(Arc::new(dir), opts(Durability::Sync)).unwrap();
    assert_eq!(got.len(), 1_000);
}
