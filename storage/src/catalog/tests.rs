//! Tests of the catalog against real redb files.

use std::path::{Path, PathBuf};

use redb::{ReadableDatabase, TableDefinition, TableHandle};

use super::*;
use crate::StorageError;

fn temp() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.redb");
    (dir, path)
}

fn create(catalog: &Catalog, name: &str, dim: u32) -> CollectionRecord {
    let mut txn = catalog.begin().unwrap();
    let record = txn.create_collection(name, dim, name.as_bytes()).unwrap();
    txn.commit().unwrap();
    record
}

/// The names of the tables in a closed catalog file.
fn table_names(path: &Path) -> Vec<String> {
    let db = redb::Database::open(path).unwrap();
    let txn = db.begin_read().unwrap();
    txn.list_tables()
        .unwrap()
        .map(|t| t.name().to_owned())
        .collect()
}

#[test]
fn catalog_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Catalog>();
}

#[test]
fn new_catalog_is_empty() {
    let (_dir, path) = temp();
    let catalog = Catalog::open(&path).unwrap();
    assert_eq!(catalog.path(), path);
    assert!(catalog.collections().unwrap().is_empty());
    assert_eq!(catalog.collection("docs").unwrap(), None);
    assert_eq!(catalog.checkpoint_lsn().unwrap(), 0);
    catalog.close().unwrap();
    // Reopening an initialized catalog does not reinitialize it.
    let catalog = Catalog::open(&path).unwrap();
    assert_eq!(catalog.checkpoint_lsn().unwrap(), 0);
}

#[test]
fn create_list_drop() {
    let (_dir, path) = temp();
    let catalog = Catalog::open(&path).unwrap();
    let mut txn = catalog.begin().unwrap();
    let a = txn.create_collection("a", 4, b"cfg-a").unwrap();
    let b = txn.create_collection("b", 128, b"").unwrap();
    txn.commit().unwrap();
    assert_eq!(a.name, "a");
    assert_eq!((a.dim, a.config.as_slice()), (4, &b"cfg-a"[..]));
    assert_ne!(a.id, b.id);
    assert_eq!(catalog.collections().unwrap(), vec![a.clone(), b.clone()]);
    assert_eq!(catalog.collection("a").unwrap(), Some(a.clone()));
    assert_eq!(catalog.collection("b").unwrap(), Some(b.clone()));

    let mut txn = catalog.begin().unwrap();
    assert_eq!(txn.drop_collection("a").unwrap(), a);
    txn.commit().unwrap();
    assert_eq!(catalog.collections().unwrap(), vec![b.clone()]);
    assert_eq!(catalog.collection("a").unwrap(), None);
}

#[test]
fn invalid_and_duplicate_collections_are_refused() {
    let (_dir, path) = temp();
    let catalog = Catalog::open(&path).unwrap();
    let first = create(&catalog, "docs", 3);
    let mut txn = catalog.begin().unwrap();
    assert!(matches!(
        txn.create_collection("docs", 3, b""),
        Err(StorageError::CollectionExists { name }) if name == "docs"
    ));
    assert!(matches!(
        txn.create_collection("", 3, b""),
        Err(StorageError::InvalidArgument(_))
    ));
    assert!(matches!(
        txn.create_collection("zero", 0, b""),
        Err(StorageError::InvalidArgument(_))
    ));
    let long = "x".repeat(MAX_NAME_LEN + 1);
    assert!(matches!(
        txn.create_collection(&long, 3, b""),
        Err(StorageError::InvalidArgument(_))
    ));
    assert!(matches!(
        txn.drop_collection("missing"),
        Err(StorageError::CollectionNotFound { name }) if name == "missing"
    ));
    // A refused call changes nothing, and the transaction goes on.
    let other = txn.create_collection("other", 2, b"").unwrap();
    txn.commit().unwrap();
    assert_eq!(catalog.collections().unwrap(), vec![first, other]);
}

#[test]
fn a_name_taken_in_the_same_transaction_is_refused() {
    let (_dir, path) = temp();
    let catalog = Catalog::open(&path).unwrap();
    let mut txn = catalog.begin().unwrap();
    txn.create_collection("docs", 3, b"").unwrap();
    assert!(matches!(
        txn.create_collection("docs", 3, b""),
        Err(StorageError::CollectionExists { .. })
    ));
    // Dropped and created again in one transaction: a new id.
    let old = txn.drop_collection("docs").unwrap();
    let new = txn.create_collection("docs", 5, b"").unwrap();
    txn.commit().unwrap();
    assert_ne!(old.id, new.id);
    assert_eq!(catalog.collections().unwrap(), vec![new]);
}

#[test]
fn ids_and_meta_put_remove_read_back() {
    let (_dir, path) = temp();
    let catalog = Catalog::open(&path).unwrap();
    let a = create(&catalog, "a", 3);
    let b = create(&catalog, "b", 3);
    assert_eq!(catalog.ids(a.id).unwrap(), vec![]);
    assert_eq!(catalog.slot_of(a.id, 1).unwrap(), None);
    assert_eq!(catalog.meta(a.id, 1).unwrap(), None);

    let mut txn = catalog.begin().unwrap();
    txn.put_ids(a.id, &[(10, 0), (u64::MAX, 1), (3, 2), (10, 5)])
        .unwrap();
    txn.put_ids(b.id, &[(10, 9)]).unwrap();
    txn.put_meta(a.id, &[(10, &b"ten"[..])]).unwrap();
    txn.put_meta(a.id, &[(3, &b""[..])]).unwrap();
    txn.commit().unwrap();
    assert_eq!(
        catalog.ids(a.id).unwrap(),
        vec![(3, 2), (10, 5), (u64::MAX, 1)]
    );
    assert_eq!(catalog.ids(b.id).unwrap(), vec![(10, 9)]);
    assert_eq!(catalog.slot_of(a.id, 10).unwrap(), Some(5));
    assert_eq!(catalog.slot_of(a.id, 11).unwrap(), None);
    assert_eq!(catalog.meta(a.id, 10).unwrap(), Some(b"ten".to_vec()));
    assert_eq!(catalog.meta(a.id, 3).unwrap(), Some(Vec::new()));
    assert_eq!(catalog.meta(b.id, 10).unwrap(), None);

    let mut txn = catalog.begin().unwrap();
    txn.remove_ids(a.id, &[10, 12345]).unwrap();
    txn.remove_meta(a.id, &[10, 12345]).unwrap();
    txn.put_meta(a.id, &[(3, &b"three"[..])]).unwrap();
    txn.commit().unwrap();
    assert_eq!(catalog.ids(a.id).unwrap(), vec![(3, 2), (u64::MAX, 1)]);
    assert_eq!(catalog.slot_of(a.id, 10).unwrap(), None);
    assert_eq!(catalog.meta(a.id, 10).unwrap(), None);
    assert_eq!(catalog.meta(a.id, 3).unwrap(), Some(b"three".to_vec()));
    assert_eq!(catalog.ids(b.id).unwrap(), vec![(10, 9)]);

    // A batch: stored in id order, the last entry of a repeated id wins.
    let mut txn = catalog.begin().unwrap();
    txn.put_meta(a.id, &[(9, &b"x"[..]), (1, b"one"), (9, b"nine")])
        .unwrap();
    txn.commit().unwrap();
    assert_eq!(
        catalog.metas(a.id).unwrap(),
        vec![
            (1, b"one".to_vec()),
            (3, b"three".to_vec()),
            (9, b"nine".to_vec())
        ]
    );
    assert_eq!(catalog.metas(b.id).unwrap(), vec![]);
}

#[test]
fn unknown_collection_ids_are_refused() {
    let (_dir, path) = temp();
    let catalog = Catalog::open(&path).unwrap();
    let a = create(&catalog, "a", 3);
    let bad = CollectionId(a.id.0 + 100);
    let refused = |r: crate::Result<()>| matches!(r, Err(StorageError::InvalidArgument(_)));
    assert!(matches!(
        catalog.ids(bad),
        Err(StorageError::InvalidArgument(_))
    ));
    assert!(matches!(
        catalog.slot_of(bad, 1),
        Err(StorageError::InvalidArgument(_))
    ));
    assert!(matches!(
        catalog.meta(bad, 1),
        Err(StorageError::InvalidArgument(_))
    ));
    assert!(matches!(
        catalog.collection_state(bad),
        Err(StorageError::InvalidArgument(_))
    ));
    let mut txn = catalog.begin().unwrap();
    assert!(refused(txn.put_ids(bad, &[(1, 1)])));
    assert!(refused(txn.remove_ids(bad, &[1])));
    assert!(refused(txn.put_meta(bad, &[(1, &b"x"[..])])));
    assert!(refused(txn.remove_meta(bad, &[1])));
    assert!(refused(
        txn.set_collection_state(bad, &CollectionState::default())
    ));
    txn.put_ids(a.id, &[(1, 1)]).unwrap();
    txn.commit().unwrap();
    assert_eq!(catalog.ids(a.id).unwrap(), vec![(1, 1)]);
}

#[test]
fn state_and_checkpoint_lsn_persist_across_reopen() {
    let (_dir, path) = temp();
    let state = CollectionState {
        next_slot: 77,
        blob: vec![4, 5, 6],
    };
    let a = {
        let catalog = Catalog::open(&path).unwrap();
        let a = create(&catalog, "a", 3);
        assert_eq!(
            catalog.collection_state(a.id).unwrap(),
            CollectionState::default()
        );
        let mut txn = catalog.begin().unwrap();
        txn.set_collection_state(a.id, &state).unwrap();
        txn.set_checkpoint_lsn(12_345).unwrap();
        txn.put_ids(a.id, &[(1, 0)]).unwrap();
        txn.put_meta(a.id, &[(1, &b"m"[..])]).unwrap();
        txn.commit().unwrap();
        catalog.close().unwrap();
        a
    };
    let catalog = Catalog::open(&path).unwrap();
    assert_eq!(catalog.checkpoint_lsn().unwrap(), 12_345);
    assert_eq!(catalog.collection_state(a.id).unwrap(), state);
    assert_eq!(catalog.collections().unwrap(), vec![a.clone()]);
    assert_eq!(catalog.ids(a.id).unwrap(), vec![(1, 0)]);
    assert_eq!(catalog.meta(a.id, 1).unwrap(), Some(b"m".to_vec()));
    drop(catalog);
    // Dropping without close() also leaves a catalog that opens.
    let catalog = Catalog::open(&path).unwrap();
    assert_eq!(catalog.checkpoint_lsn().unwrap(), 12_345);
}

#[test]
fn an_uncommitted_transaction_leaves_nothing() {
    let (_dir, path) = temp();
    let catalog = Catalog::open(&path).unwrap();
    let a = create(&catalog, "a", 3);
    {
        let mut txn = catalog.begin().unwrap();
        let b = txn.create_collection("b", 3, b"").unwrap();
        txn.put_ids(a.id, &[(1, 1)]).unwrap();
        txn.put_ids(b.id, &[(1, 1)]).unwrap();
        txn.put_meta(a.id, &[(1, &b"x"[..])]).unwrap();
        txn.set_collection_state(
            a.id,
            &CollectionState {
                next_slot: 9,
                blob: vec![],
            },
        )
        .unwrap();
        txn.set_checkpoint_lsn(99).unwrap();
        txn.drop_collection("a").unwrap();
        // Dropped here, not committed.
    }
    let mut txn = catalog.begin().unwrap();
    txn.create_collection("aborted", 1, b"").unwrap();
    txn.abort().unwrap();

    assert_eq!(catalog.collections().unwrap(), vec![a.clone()]);
    assert_eq!(catalog.ids(a.id).unwrap(), vec![]);
    assert_eq!(catalog.meta(a.id, 1).unwrap(), None);
    assert_eq!(
        catalog.collection_state(a.id).unwrap(),
        CollectionState::default()
    );
    assert_eq!(catalog.checkpoint_lsn().unwrap(), 0);
    // The id the aborted transaction handed to "b" is handed out again: it was never
    // committed, so no directory can have been made durable under it.
    let b = create(&catalog, "b", 3);
    assert_eq!(b.id, CollectionId(a.id.0 + 1));
}

#[test]
fn collection_ids_are_not_reused_after_a_drop() {
    let (_dir, path) = temp();
    let mut seen = Vec::new();
    for round in 0..3 {
        let catalog = Catalog::open(&path).unwrap();
        let record = create(&catalog, "docs", 3);
        assert!(!seen.contains(&record.id), "round {round}: {:?}", record.id);
        let mut txn = catalog.begin().unwrap();
        txn.put_ids(record.id, &[(1, 2)]).unwrap();
        txn.put_meta(record.id, &[(1, &b"x"[..])]).unwrap();
        txn.set_collection_state(record.id, &CollectionState::default())
            .unwrap();
        txn.commit().unwrap();
        let mut txn = catalog.begin().unwrap();
        txn.drop_collection("docs").unwrap();
        txn.commit().unwrap();
        assert!(matches!(
            catalog.ids(record.id),
            Err(StorageError::InvalidArgument(_))
        ));
        seen.push(record.id);
        catalog.close().unwrap();
    }
    // The dropped collections' tables are gone from the file.
    let mut names = table_names(&path);
    names.sort();
    assert_eq!(
        names,
        [
            "collection_names",
            "collection_state",
            "collections",
            "globals"
        ]
    );
}

#[test]
fn a_file_that_is_not_a_redb_database_is_corruption() {
    let (_dir, path) = temp();
    for garbage in [
        &b"x"[..],
        &b"definitely not a redb database"[..],
        &[0u8; 9000][..],
    ] {
        std::fs::write(&path, garbage).unwrap();
        let err = Catalog::open(&path).unwrap_err();
        assert!(
            matches!(&err, StorageError::Corruption { file, .. } if file == &path),
            "{err:?}"
        );
    }
}

#[test]
fn a_redb_database_that_is_not_a_catalog_is_corruption() {
    let (_dir, path) = temp();
    {
        let db = redb::Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(TableDefinition::<&str, &str>::new("somebody_else"))
            .unwrap()
            .insert("k", "v")
            .unwrap();
        txn.commit().unwrap();
    }
    let err = Catalog::open(&path).unwrap_err();
    assert!(matches!(err, StorageError::Corruption { .. }), "{err:?}");
}

#[test]
fn a_newer_format_version_is_unsupported() {
    let (_dir, path) = temp();
    Catalog::open(&path).unwrap().close().unwrap();
    {
        let db = redb::Database::open(&path).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(TableDefinition::<&str, u64>::new("globals"))
            .unwrap()
            .insert("format_version", 2)
            .unwrap();
        txn.commit().unwrap();
    }
    let err = Catalog::open(&path).unwrap_err();
    assert!(
        matches!(
            err,
            StorageError::UnsupportedVersion {
                found: 2,
                supported: FORMAT_VERSION,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn a_damaged_record_is_corruption_not_a_panic() {
    let (_dir, path) = temp();
    let a = {
        let catalog = Catalog::open(&path).unwrap();
        let a = create(&catalog, "a", 3);
        catalog.close().unwrap();
        a
    };
    {
        let db = redb::Database::open(&path).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(TableDefinition::<u32, &[u8]>::new("collections"))
            .unwrap()
            .insert(a.id.0, &[1u8, 2, 3][..])
            .unwrap();
        txn.open_table(TableDefinition::<u32, &[u8]>::new("collection_state"))
            .unwrap()
            .insert(a.id.0, &[7u8][..])
            .unwrap();
        txn.commit().unwrap();
    }
    let catalog = Catalog::open(&path).unwrap();
    for err in [
        catalog.collections().unwrap_err(),
        catalog.collection("a").unwrap_err(),
        catalog.collection_state(a.id).unwrap_err(),
    ] {
        assert!(
            matches!(&err, StorageError::Corruption { file, .. } if file == &path),
            "{err:?}"
        );
    }
}

#[test]
fn a_missing_directory_is_an_io_error() {
    let (_dir, path) = temp();
    let path = path.join("no-such-dir").join("catalog.redb");
    let err = Catalog::open(&path).unwrap_err();
    assert!(
        matches!(&err, StorageError::Io { path: p, .. } if p == &path),
        "{err:?}"
    );
}

#[test]
fn a_second_handle_on_an_open_catalog_is_an_error() {
    let (_dir, path) = temp();
    let _catalog = Catalog::open(&path).unwrap();
    let err = Catalog::open(&path).unwrap_err();
    assert!(matches!(err, StorageError::Catalog(_)), "{err:?}");
}

#[test]
fn a_large_id_map_loads_back() {
    const N: u64 = 200_000;
    let (_dir, path) = temp();
    let catalog = Catalog::open(&path).unwrap();
    let a = create(&catalog, "a", 3);
    // Ids arrive in insertion (slot) order, scattered over the u64 range.
    let pairs: Vec<(u64, u32)> = (0..N)
        .map(|slot| (slot.wrapping_mul(0x9e37_79b9_7f4a_7c15), slot as u32))
        .collect();
    let mut txn = catalog.begin().unwrap();
    txn.put_ids(a.id, &pairs).unwrap();
    txn.commit().unwrap();
    catalog.close().unwrap();

    let catalog = Catalog::open(&path).unwrap();
    let loaded = catalog.ids(a.id).unwrap();
    let mut expected = pairs;
    expected.sort_unstable();
    assert_eq!(loaded.len(), N as usize);
    assert!(loaded == expected);
}

/// Everything a catalog holds, for comparing a damaged copy with the original.
type Snapshot = (
    Vec<CollectionRecord>,
    u64,
    Vec<(Vec<(u64, u32)>, CollectionState, Option<Vec<u8>>)>,
);

fn snapshot(path: &Path) -> crate::Result<Snapshot> {
    let catalog = Catalog::open(path)?;
    let collections = catalog.collections()?;
    let mut per = Vec::new();
    for c in &collections {
        per.push((
            catalog.ids(c.id)?,
            catalog.collection_state(c.id)?,
            catalog.meta(c.id, 5)?,
        ));
    }
    Ok((collections, catalog.checkpoint_lsn()?, per))
}

#[test]
fn a_damaged_file_is_refused_or_read_intact_never_a_panic() {
    let (_dir, path) = temp();
    {
        let catalog = Catalog::open(&path).unwrap();
        let mut txn = catalog.begin().unwrap();
        for name in ["a", "b"] {
            let c = txn.create_collection(name, 8, b"cfg").unwrap();
            let pairs: Vec<(u64, u32)> = (0..20_000u32).map(|s| (u64::from(s) * 3, s)).collect();
            txn.put_ids(c.id, &pairs).unwrap();
            txn.put_meta(c.id, &[(5, &[c.id.0 as u8; 100][..])])
                .unwrap();
            let state = CollectionState {
                next_slot: 20_000,
                blob: vec![1, 2],
            };
            txn.set_collection_state(c.id, &state).unwrap();
        }
        txn.set_checkpoint_lsn(777).unwrap();
        txn.commit().unwrap();
        catalog.close().unwrap();
    }
    let original = std::fs::read(&path).unwrap();
    let expected = snapshot(&path).unwrap();
    let len = original.len();
    let mut damaged = Vec::new();
    for cut in [1, 100, 4096, 4097, len / 3, len / 2, len - 4096, len - 1] {
        damaged.push(original[..cut].to_vec());
    }
    let mut x = 0x2545_f491_4f6c_dd1d_u64;
    for _ in 0..24 {
        let mut bytes = original.clone();
        for _ in 0..4 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let at = (x % len as u64) as usize;
            bytes[at] ^= 1 << (x >> 61);
        }
        damaged.push(bytes);
    }
    for (i, bytes) in damaged.iter().enumerate() {
        std::fs::write(&path, bytes).unwrap();
        let outcome = std::panic::catch_unwind(|| snapshot(&path));
        match outcome {
            Err(_) => panic!("damaged copy {i} made the catalog panic"),
            Ok(Ok(read)) => assert!(read == expected, "damaged copy {i} read back wrong data"),
            Ok(Err(StorageError::Corruption { file, .. })) => assert_eq!(file, path),
            Ok(Err(e)) => panic!("damaged copy {i}: unexpected error {e:?}"),
        }
    }
}

/// A process killed while creating a catalog leaves at most a temporary file, which the
/// next open replaces; the catalog itself appears whole or not at all.
#[test]
fn a_catalog_creation_cut_short_leaves_no_half_catalog() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.redb");
    std::fs::write(dir.path().join("catalog.redb.tmp"), b"half a header").unwrap();
    let catalog = Catalog::open(&path).unwrap();
    assert_eq!(catalog.checkpoint_lsn().unwrap(), 0);
    catalog.close().unwrap();
    assert!(!dir.path().join("catalog.redb.tmp").exists());
    let catalog = Catalog::open(&path).unwrap();
    assert!(catalog.collections().unwrap().is_empty());
}
