//! `id_map`: bytes as an id map file (`fletchdb_storage::idmap`, `ids-<lsn>.map`).
//!
//! The first byte chooses: odd, the rest is taken as it is (the checksum must hold by
//! chance); even, the harness writes the checksum over the rest first (when it is long
//! enough to have one), so the fuzzer reaches every rule past it.
//!
//! Checked: [`decode`] returns `Corruption`, `UnsupportedVersion` or a map, never
//! panics; a map it returns has one id per slot, ids only in mapped slots, its count
//! of mapped slots, and re-encodes to exactly the bytes decoded. [`open`], which reads
//! the ids where they lie in the file's bytes, gives the same map or the same error.

use fletchdb_storage::idmap::{decode, encode, open};
use fletchdb_storage::io::{MemDir, StorageDir};
use fletchdb_storage::StorageError;

/// The body of the `id_map` fuzz target; see the module documentation.
pub fn id_map(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let mut bytes = rest.to_vec();
    if mode % 2 == 0 && bytes.len() >= 8 {
        let end = bytes.len() - 8;
        let crc = crc32c::crc32c(&bytes[..end]);
        bytes[end..end + 4].copy_from_slice(&crc.to_le_bytes());
    }
    let decoded = decode(&bytes);
    if let Ok(file) = MemDir::new().create("ids.map") {
        if file.write_all_at(&bytes, 0).is_ok() {
            if let Ok(private) = file.map_private() {
                match (open(private), &decoded) {
                    (Ok(a), Ok(b)) => assert_eq!(&a, b, "open and decode disagree"),
                    (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
                    (a, b) => panic!("open gave {a:?}, decode {b:?}"),
                }
            }
        }
    }
    match decoded {
        Ok(map) => {
            assert_eq!(map.mapped.len(), map.ids.len().div_ceil(64));
            let mut count = 0;
            for (s, &id) in map.ids.iter().enumerate() {
                let bit = map.mapped[s / 64] & (1 << (s % 64)) != 0;
                assert!(bit || id == 0, "slot {s} holds {id} but is not mapped");
                count += u64::from(bit);
            }
            assert_eq!(count, map.count);
            assert_eq!(encode(&map.ids, &map.mapped), bytes, "re-encodes otherwise");
        }
        Err(e) => assert!(
            matches!(
                e,
                StorageError::Corruption { .. } | StorageError::UnsupportedVersion { .. }
            ),
            "{e:?}"
        ),
    }
}
