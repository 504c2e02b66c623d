//! A collection's checkpoint files, through the storage crate's file seam
//! ([`StorageDir`]), so the crash-simulating `MemDir` covers them too: its graph,
//! `graph-<generation>.hnsw`, and its id map, `ids-<generation>.map` (the layout:
//! `fletchdb_storage::idmap`).
//!
//! A checkpoint at LSN X writes generation X of both with [`replace_file`] (temporary
//! name, sync, rename, sync the directory) and records X in the catalog's collection
//! state; the catalog commit makes it the one in force. Older generations are removed
//! after that commit, and at open; a crash in between leaves extra files, never a
//! missing one. Checkpoints before the id map file kept the map in the catalog
//! (`ids/<cid>`); their state says so (see [`State`]), and the next checkpoint moves it.

use std::io;
use std::path::Path;

use fletchdb_index::{Calibration, GraphMemory, Hnsw, HnswConfig, IndexError, VectorSource};
use fletchdb_storage::idmap::{self, IdMapFile};
use fletchdb_storage::io::{replace_file, temp_name, PrivateBytes, StorageDir};
use fletchdb_storage::StorageError;

use crate::error::{Error, Result};

/// The file name of generation `lsn`'s graph.
pub(crate) fn name(lsn: u64) -> String {
    format!("graph-{lsn:020}.hnsw")
}

/// The file name of generation `lsn`'s id map.
pub(crate) fn ids_name(lsn: u64) -> String {
    format!("ids-{lsn:020}.map")
}

/// The generation a file name stands for, if it is a graph or id map file.
fn parse(name: &str) -> Option<u64> {
    let digits = (name
        .strip_prefix("graph-")
        .and_then(|n| n.strip_suffix(".hnsw")))
    .or_else(|| {
        name.strip_prefix("ids-")
            .and_then(|n| n.strip_suffix(".map"))
    })?;
    (digits.len() == 20).then(|| digits.parse().ok()).flatten()
}

/// What a collection's state blob in the catalog records of its last checkpoint.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct State {
    /// The generation of its files.
    pub(crate) generation: u64,
    /// The calibration its `i8` codes use, once fitted.
    pub(crate) calibration: Option<Calibration>,
    /// Whether its id map is in `ids-<generation>.map` (else in the catalog).
    pub(crate) id_file: bool,
}

/// The flag byte of a state whose id map is in its file.
const ID_FILE: u8 = 1;

/// A collection's state blob: the generation (u64), then, once an `i8` collection has
/// fitted it, the calibration (offset and step, f32 each), little-endian, then the
/// byte [`ID_FILE`] (blobs of 8 and 16 bytes, without it, are from before the id map
/// file and keep the map in the catalog).
pub(crate) fn encode_state(state: &State) -> Vec<u8> {
    let mut b = state.generation.to_le_bytes().to_vec();
    if let Some(c) = state.calibration {
        b.extend_from_slice(&c.offset.to_le_bytes());
        b.extend_from_slice(&c.step.to_le_bytes());
    }
    if state.id_file {
        b.push(ID_FILE);
    }
    b
}

/// The state in a collection's state blob; `None` unless it is 8 or 9 bytes, or 16 or
/// 17 with a finite offset and a finite positive step, the ninth or seventeenth
/// [`ID_FILE`].
pub(crate) fn decode_state(blob: &[u8]) -> Option<State> {
    use fletchdb_storage::le::{u32_at, u64_at};
    let generation = u64_at(blob, 0)?;
    let (body, id_file) = match blob.len() {
        9 | 17 => (&blob[..blob.len() - 1], blob.last() == Some(&ID_FILE)),
        _ => (blob, false),
    };
    if blob.len() != body.len() && !id_file {
        return None;
    }
    let calibration = match body.len() {
        8 => None,
        16 => {
            let offset = f32::from_bits(u32_at(body, 8)?);
            let step = f32::from_bits(u32_at(body, 12)?);
            if !(offset.is_finite() && step.is_finite() && step > 0.0) {
                return None;
            }
            Some(Calibration { offset, step })
        }
        _ => return None,
    };
    Some(State {
        generation,
        calibration,
        id_file,
    })
}

/// Writes an id map's bytes (see [`idmap::encode`]) as generation `lsn`, crash-safely.
pub(crate) fn save_ids(dir: &dyn StorageDir, bytes: &[u8], lsn: u64) -> Result<()> {
    let name = ids_name(lsn);
    replace_file(dir, &name, |w| w.write_all(bytes)).map_err(|source| Error::Io {
        path: dir.path().join(temp_name(&name)),
        source,
    })
}

/// Generation `lsn`'s id map, checked (damage is [`Error::Corruption`] naming the file
/// and offset).
pub(crate) fn read_ids(dir: &dyn StorageDir, lsn: u64) -> Result<IdMapFile> {
    let name = ids_name(lsn);
    let path = dir.path().join(&name);
    let io = |source| Error::Io {
        path: path.clone(),
        source,
    };
    let bytes = dir.open(&name).and_then(|f| f.map_private()).map_err(io)?;
    idmap::open(bytes).map_err(|e| match e {
        StorageError::Corruption { offset, detail, .. } => Error::corruption(&path, offset, detail),
        StorageError::UnsupportedVersion {
            found, supported, ..
        } => Error::UnsupportedVersion {
            file: path.clone(),
            found,
            supported,
        },
        other => other.into(),
    })
}

/// Writes `index`'s graph as generation `lsn`, crash-safely.
pub(crate) fn save<V: VectorSource>(dir: &dyn StorageDir, index: &Hnsw<V>, lsn: u64) -> Result<()> {
    let name = name(lsn);
    replace_file(dir, &name, |w| {
        index.save(w).map_err(|e| match e {
            IndexError::Io(e) => e,
            other => io::Error::other(other),
        })
    })
    .map_err(|source| Error::Io {
        path: dir.path().join(temp_name(&name)),
        source,
    })
}

/// Generation `lsn`'s bytes, privately mapped (`Hnsw::load_in_place` uses its lists
/// where they lie; nothing it writes there reaches the file).
pub(crate) fn read(dir: &dyn StorageDir, lsn: u64) -> Result<PrivateBytes> {
    let name = name(lsn);
    dir.open(&name)
        .and_then(|f| f.map_private())
        .map_err(|source| Error::Io {
            path: dir.path().join(name),
            source,
        })
}

/// A graph file's mapping as memory a loaded graph keeps.
struct GraphFile(PrivateBytes);

// SAFETY: `PrivateBytes` gives the same pointer, aligned to 8, for its whole life and
// across moves (a mapping, or a `Vec`'s heap buffer), to memory private to it: a
// copy-on-write mapping or a copy.
#[allow(unsafe_code)]
unsafe impl GraphMemory for GraphFile {
    fn as_mut_ptr(&mut self) -> *mut u8 {
        self.0.as_mut_ptr()
    }
    fn len(&self) -> usize {
        self.0.len()
    }
    fn will_need(&self, range: std::ops::Range<usize>) {
        self.0.will_need(range);
    }
    fn random_access(&self, range: std::ops::Range<usize>) {
        self.0.random_access(range);
    }
}

/// Loads generation `lsn`'s bytes over `vectors`, refusing a graph of another
/// configuration than `config`; damage is [`Error::Corruption`] naming the file.
pub(crate) fn load<V: VectorSource>(
    dir: &dyn StorageDir,
    lsn: u64,
    bytes: PrivateBytes,
    vectors: V,
    config: &HnswConfig,
) -> Result<Hnsw<V>> {
    Hnsw::load_in_place(Box::new(GraphFile(bytes)), vectors, config)
        .map_err(|e| index_error(e, Some(&dir.path().join(name(lsn)))))
}

/// An index's error as the database reports it: damage in a graph loaded from
/// `loaded_from` (found by the load, or later where a list is first read, see
/// [`Hnsw::check_lists`]) is [`Error::Corruption`] naming that file.
pub(crate) fn index_error(e: IndexError, loaded_from: Option<&Path>) -> Error {
    match (e, loaded_from) {
        (IndexError::Corruption { offset, reason }, Some(file)) => {
            Error::corruption(file, offset as u64, reason)
        }
        (IndexError::UnsupportedVersion { found, supported }, Some(file)) => {
            Error::UnsupportedVersion {
                file: file.to_path_buf(),
                found,
                supported,
            }
        }
        (other, _) => other.into(),
    }
}

/// Removes graph and id map files (and leftover temporaries) other than generation
/// `keep`. Best
/// effort: a file left behind is removed by a later checkpoint or open.
pub(crate) fn remove_stale(dir: &dyn StorageDir, keep: Option<u64>) {
    let Ok(names) = dir.list() else { return };
    for name in names {
        let stale = match parse(&name) {
            Some(lsn) => Some(lsn) != keep,
            None => {
                (name.starts_with("graph-") && name.ends_with(".hnsw.tmp"))
                    || (name.starts_with("ids-") && name.ends_with(".map.tmp"))
            }
        };
        if stale {
            let _ = dir.remove(&name);
        }
    }
}

#[cfg(test)]
mod tests {
    use fletchdb_index::{InMemoryVectors, Metric};
    use fletchdb_storage::io::{Fault, MemDir};

    use super::*;

    #[test]
    fn names_and_generations_round_trip() {
        assert_eq!(parse(&name(42)), Some(42));
        assert_eq!(parse("graph-42.hnsw"), None);
        assert_eq!(parse(&ids_name(42)), Some(42));
        assert_eq!(parse("ids-42.map"), None);
        let cal = Calibration {
            offset: -0.5,
            step: 0.01,
        };
        for calibration in [None, Some(cal)] {
            for id_file in [false, true] {
                let state = State {
                    generation: 7,
                    calibration,
                    id_file,
                };
                assert_eq!(decode_state(&encode_state(&state)), Some(state));
            }
        }
        assert_eq!(decode_state(&[]), None);
        assert_eq!(decode_state(&[1, 2, 3]), None);
        assert_eq!(decode_state(&[0; 9]), None); // flag byte 0
        assert_eq!(decode_state(&[0; 10]), None);
        assert_eq!(decode_state(&[0; 16]), None); // step 0
        let mut nan = encode_state(&State {
            generation: 7,
            calibration: Some(cal),
            id_file: true,
        });
        nan[12..16].copy_from_slice(&f32::NAN.to_le_bytes());
        assert_eq!(decode_state(&nan), None);
        nan.pop();
        assert_eq!(decode_state(&nan), None);
    }

    fn graph(n: usize) -> Hnsw<InMemoryVectors> {
        let index = Hnsw::in_memory(2, HnswConfig::new(Metric::L2)).unwrap();
        for i in 0..n {
            index.add(&[i as f32, (i % 7) as f32]).unwrap();
        }
        index
    }

    fn vectors(n: usize) -> InMemoryVectors {
        let v = InMemoryVectors::new(2).unwrap();
        for i in 0..n {
            v.push(&[i as f32, (i % 7) as f32]).unwrap();
        }
        v
    }

    /// A checkpoint's graph write, crashed at each sync: the file of the generation in
    /// force (the older one until the new one is durable) always loads whole.
    #[test]
    fn a_crash_at_any_sync_leaves_a_loadable_generation() {
        let config = HnswConfig::new(Metric::L2);
        for after in 0..4 {
            let dir = MemDir::new();
            save(&dir, &graph(30), 1).unwrap();
            dir.inject(Fault::CrashAtSync { after });
            let saved = save(&dir, &graph(60), 2).is_ok();
            let dir = dir.crash();
            let generation = if saved { 2 } else { 1 };
            let n = if saved { 60 } else { 30 };
            let bytes = read(&dir, generation).unwrap();
            let index = load(&dir, generation, bytes, vectors(n), &config).unwrap();
            assert_eq!(index.len(), n, "crash at sync {after}");
            remove_stale(&dir, Some(generation));
            assert_eq!(dir.list().unwrap(), [name(generation)]);
        }
    }

    #[test]
    fn damage_names_the_file_and_offset() {
        let dir = MemDir::new();
        save(&dir, &graph(10), 5).unwrap();
        dir.with_file(&name(5), |b| b[20] ^= 1).unwrap();
        let bytes = read(&dir, 5).unwrap();
        let err = load(&dir, 5, bytes, vectors(10), &HnswConfig::new(Metric::L2)).unwrap_err();
        match err {
            Error::Corruption { file, .. } => assert!(file.ends_with(name(5))),
            other => panic!("{other:?}"),
        }
        let other = HnswConfig {
            m: 8,
            ..HnswConfig::new(Metric::L2)
        };
        dir.with_file(&name(5), |b| b[20] ^= 1).unwrap();
        let bytes = read(&dir, 5).unwrap();
        let err = load(&dir, 5, bytes, vectors(10), &other).unwrap_err();
        assert!(
            matches!(err, Error::Corruption { offset: 12, .. }),
            "{err:?}"
        );
    }

    /// An id map write, crashed at each sync: the generation in force reads back whole,
    /// and damage to it is `Corruption` naming the file and offset.
    #[test]
    fn id_maps_survive_a_crash_at_any_sync_and_damage_is_named() {
        let first: Vec<u64> = (0..100).map(|s| s * 3 + 1).collect();
        let second: Vec<u64> = (0..300).map(|s| s * 7 + 2).collect();
        for after in 0..4 {
            let dir = MemDir::new();
            save_ids(&dir, &idmap::encode(&first, &[u64::MAX, u64::MAX]), 1).unwrap();
            dir.inject(Fault::CrashAtSync { after });
            let saved = save_ids(&dir, &idmap::encode(&second, &[u64::MAX; 5]), 2).is_ok();
            let dir = dir.crash();
            let (generation, want) = if saved { (2, &second) } else { (1, &first) };
            let map = read_ids(&dir, generation).unwrap();
            assert_eq!(&map.ids[..], &want[..], "crash at sync {after}");
            remove_stale(&dir, Some(generation));
            assert_eq!(dir.list().unwrap(), [ids_name(generation)]);
        }
        let dir = MemDir::new();
        save_ids(&dir, &idmap::encode(&first, &[u64::MAX, u64::MAX]), 3).unwrap();
        dir.with_file(&ids_name(3), |b| b[40] ^= 1).unwrap();
        match read_ids(&dir, 3).unwrap_err() {
            Error::Corruption { file, offset, .. } => {
                assert!(file.ends_with(ids_name(3)));
                assert_eq!(offset, 32 + 800 + 16, "the checksum's offset");
            }
            other => panic!("{other:?}"),
        }
    }
}
