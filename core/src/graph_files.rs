//! A collection's graph files, `graph-<generation>.hnsw`, through the storage crate's
//! file seam ([`StorageDir`]), so the crash-simulating `MemDir` covers them too.
//!
//! A checkpoint at LSN X writes generation X with [`replace_file`] (temporary name,
//! sync, rename, sync the directory) and records X in the catalog's collection state;
//! the catalog commit makes it the one in force. Older generations are removed after
//! that commit, and at open; a crash in between leaves extra files, never a missing one.

use std::io;

use fletchdb_index::{Calibration, GraphMemory, Hnsw, HnswConfig, IndexError, VectorSource};
use fletchdb_storage::io::{replace_file, temp_name, PrivateBytes, StorageDir};

use crate::error::{Error, Result};

/// The file name of generation `lsn`.
pub(crate) fn name(lsn: u64) -> String {
    format!("graph-{lsn:020}.hnsw")
}

/// The generation a file name stands for, if it is a graph file.
fn parse(name: &str) -> Option<u64> {
    let digits = name.strip_prefix("graph-")?.strip_suffix(".hnsw")?;
    (digits.len() == 20).then(|| digits.parse().ok()).flatten()
}

/// A collection's state blob in the catalog: the generation of its graph file (u64),
/// then, once an `i8` collection has fitted it, the calibration its codes use (offset
/// and step, f32 each), little-endian.
pub(crate) fn encode_state(lsn: u64, calibration: Option<Calibration>) -> Vec<u8> {
    let mut b = lsn.to_le_bytes().to_vec();
    if let Some(c) = calibration {
        b.extend_from_slice(&c.offset.to_le_bytes());
        b.extend_from_slice(&c.step.to_le_bytes());
    }
    b
}

/// The graph generation and calibration in a collection's state blob; `None` unless
/// it is 8 bytes, or 16 with a finite offset and a finite positive step.
pub(crate) fn decode_state(blob: &[u8]) -> Option<(u64, Option<Calibration>)> {
    use fletchdb_storage::le::{u32_at, u64_at};
    let lsn = u64_at(blob, 0)?;
    match blob.len() {
        8 => Some((lsn, None)),
        16 => {
            let offset = f32::from_bits(u32_at(blob, 8)?);
            let step = f32::from_bits(u32_at(blob, 12)?);
            (offset.is_finite() && step.is_finite() && step > 0.0)
                .then_some((lsn, Some(Calibration { offset, step })))
        }
        _ => None,
    }
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
    Hnsw::load_in_place(Box::new(GraphFile(bytes)), vectors, config).map_err(|e| {
        let file = dir.path().join(name(lsn));
        match e {
            IndexError::Corruption { offset, reason } => {
                Error::corruption(file, offset as u64, reason)
            }
            IndexError::UnsupportedVersion { found, supported } => Error::UnsupportedVersion {
                file,
                found,
                supported,
            },
            other => other.into(),
        }
    })
}

/// Removes graph files (and leftover temporaries) other than generation `keep`. Best
/// effort: a file left behind is removed by a later checkpoint or open.
pub(crate) fn remove_stale(dir: &dyn StorageDir, keep: Option<u64>) {
    let Ok(names) = dir.list() else { return };
    for name in names {
        let stale = match parse(&name) {
            Some(lsn) => Some(lsn) != keep,
            None => name.starts_with("graph-") && name.ends_with(".hnsw.tmp"),
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
        assert_eq!(decode_state(&encode_state(7, None)), Some((7, None)));
        let cal = Calibration {
            offset: -0.5,
            step: 0.01,
        };
        assert_eq!(
            decode_state(&encode_state(7, Some(cal))),
            Some((7, Some(cal)))
        );
        assert_eq!(decode_state(&[]), None);
        assert_eq!(decode_state(&[1, 2, 3]), None);
        assert_eq!(decode_state(&[0; 9]), None);
        assert_eq!(decode_state(&[0; 16]), None); // step 0
        let mut nan = encode_state(7, Some(cal));
        nan[12..16].copy_from_slice(&f32::NAN.to_le_bytes());
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
}
