//! The catalog's value types and their versioned byte encodings.
//!
//! Every struct stored in the catalog is encoded by hand, so the bytes on disk never depend
//! on a serialization library's choices: one leading version byte, then fixed-width
//! little-endian fields, with variable parts prefixed by their length as a `u32`. Decoders
//! accept any byte string and return [`StorageError::Corruption`] for anything they did not
//! write; they never panic.

use std::fmt;
use std::path::PathBuf;

use crate::{Result, StorageError};

/// The longest collection name, in bytes of UTF-8, that the catalog stores.
pub const MAX_NAME_LEN: usize = 1024;

/// Version byte of the [`CollectionRecord`] encoding this build writes and reads.
const RECORD_VERSION: u8 = 1;

/// Version byte of the [`CollectionState`] encoding this build writes and reads.
const STATE_VERSION: u8 = 1;

/// The catalog's internal number for a collection.
///
/// Allocated from a persistent counter when the collection is created and never reused, so
/// the directory `c/<id>` of a dropped collection never collides with a later one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CollectionId(pub u32);

impl fmt::Display for CollectionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

/// What the catalog knows about one collection.
///
/// Encoded (version 1) as:
///
/// | bytes | field |
/// | --- | --- |
/// | 1 | version = 1 |
/// | 4 | `id`, u32 LE |
/// | 4 | `dim`, u32 LE |
/// | 4 | name length `n`, u32 LE |
/// | n | `name`, UTF-8 |
/// | 4 | config length `c`, u32 LE |
/// | c | `config` |
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CollectionRecord {
    /// The collection's id, which names its directory `c/<id>`.
    pub id: CollectionId,
    /// The collection's name: non-empty UTF-8 of at most [`MAX_NAME_LEN`] bytes.
    pub name: String,
    /// Number of components of every vector in the collection; never 0.
    pub dim: u32,
    /// Configuration encoded by the database layer (metric, `m`, `ef_construction`, ...);
    /// opaque to storage.
    pub config: Vec<u8>,
}

impl CollectionRecord {
    /// Encodes the record in the current version of its byte layout.
    ///
    /// # Panics
    ///
    /// If the name or the config is longer than `u32::MAX` bytes. The catalog refuses such
    /// values with [`StorageError::InvalidArgument`] before it builds a record.
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(17 + self.name.len() + self.config.len());
        out.push(RECORD_VERSION);
        out.extend_from_slice(&self.id.0.to_le_bytes());
        out.extend_from_slice(&self.dim.to_le_bytes());
        put_bytes(&mut out, self.name.as_bytes());
        put_bytes(&mut out, &self.config);
        out
    }

    /// Decodes a record written by [`CollectionRecord::encode`].
    ///
    /// # Errors
    ///
    /// [`StorageError::Corruption`] if `bytes` is not exactly one record of a known version:
    /// truncated, with trailing bytes, an unknown version byte, a dimension of 0, or a name
    /// that is empty, too long or not UTF-8. The error's `file` is empty and its `offset` is
    /// the position in `bytes` where decoding failed.
    pub fn decode(bytes: &[u8]) -> Result<CollectionRecord> {
        let mut r = Reader::new(bytes, "collection record");
        let version = r.u8()?;
        if version != RECORD_VERSION {
            return Err(r.error_at(0, format!("unknown version {version}")));
        }
        let id = CollectionId(r.u32()?);
        let dim_at = r.pos;
        let dim = r.u32()?;
        if dim == 0 {
            return Err(r.error_at(dim_at, "dimension is 0"));
        }
        let name_at = r.pos;
        let name = r.bytes()?;
        if name.is_empty() || name.len() > MAX_NAME_LEN {
            return Err(r.error_at(name_at, format!("name of {} bytes", name.len())));
        }
        let name = std::str::from_utf8(name)
            .map_err(|_| r.error_at(name_at, "name is not UTF-8"))?
            .to_owned();
        let config = r.bytes()?.to_vec();
        r.finish()?;
        Ok(CollectionRecord {
            id,
            name,
            dim,
            config,
        })
    }
}

/// Per-collection state that the database layer saves at each checkpoint.
///
/// Encoded (version 1) as:
///
/// | bytes | field |
/// | --- | --- |
/// | 1 | version = 1 |
/// | 4 | `next_slot`, u32 LE |
/// | 4 | blob length `b`, u32 LE |
/// | b | `blob` |
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CollectionState {
    /// High-water mark of the collection's vector store as of the last checkpoint: slots
    /// `0..next_slot` had been handed out.
    pub next_slot: u32,
    /// Opaque bytes the database layer keeps with the checkpoint (for example the
    /// generation of the graph file).
    pub blob: Vec<u8>,
}

impl CollectionState {
    /// Encodes the state in the current version of its byte layout.
    ///
    /// # Panics
    ///
    /// If the blob is longer than `u32::MAX` bytes. The catalog refuses such a state with
    /// [`StorageError::InvalidArgument`] before it encodes it.
    #[must_use]
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(9 + self.blob.len());
        out.push(STATE_VERSION);
        out.extend_from_slice(&self.next_slot.to_le_bytes());
        put_bytes(&mut out, &self.blob);
        out
    }

    /// Decodes a state written by [`CollectionState::encode`].
    ///
    /// # Errors
    ///
    /// [`StorageError::Corruption`] if `bytes` is not exactly one state of a known version
    /// (truncated, trailing bytes, unknown version byte). The error's `file` is empty and its
    /// `offset` is the position in `bytes` where decoding failed.
    pub fn decode(bytes: &[u8]) -> Result<CollectionState> {
        let mut r = Reader::new(bytes, "collection state");
        let version = r.u8()?;
        if version != STATE_VERSION {
            return Err(r.error_at(0, format!("unknown version {version}")));
        }
        let next_slot = r.u32()?;
        let blob = r.bytes()?.to_vec();
        r.finish()?;
        Ok(CollectionState { next_slot, blob })
    }
}

/// Appends `bytes` with its length as a u32 LE prefix.
fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    let len = u32::try_from(bytes.len()).expect("variable field longer than u32::MAX bytes");
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(bytes);
}

/// A bounds-checked cursor over an encoded value.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8], what: &'static str) -> Self {
        Reader {
            bytes,
            pos: 0,
            what,
        }
    }

    fn error_at(&self, offset: usize, detail: impl fmt::Display) -> StorageError {
        StorageError::corruption(
            PathBuf::new(),
            offset as u64,
            format!("{}: {detail}", self.what),
        )
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        let rest = &self.bytes[self.pos..];
        if rest.len() < n {
            return Err(self.error_at(
                self.pos,
                format!(
                    "truncated: needs {n} bytes, {} left of {}",
                    rest.len(),
                    self.bytes.len()
                ),
            ));
        }
        let (head, _) = rest.split_at(n);
        self.pos += n;
        Ok(head)
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn u32(&mut self) -> Result<u32> {
        let mut le = [0u8; 4];
        le.copy_from_slice(self.take(4)?);
        Ok(u32::from_le_bytes(le))
    }

    /// A u32 LE length, then that many bytes.
    fn bytes(&mut self) -> Result<&'a [u8]> {
        let len = self.u32()?;
        // A length that does not fit in usize cannot fit in the input either.
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        self.take(len)
    }

    fn finish(&self) -> Result<()> {
        if self.pos == self.bytes.len() {
            Ok(())
        } else {
            Err(self.error_at(
                self.pos,
                format!("{} trailing bytes", self.bytes.len() - self.pos),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> CollectionRecord {
        CollectionRecord {
            id: CollectionId(7),
            name: "docs-é".to_owned(),
            dim: 768,
            config: vec![1, 2, 3, 0, 255],
        }
    }

    fn state() -> CollectionState {
        CollectionState {
            next_slot: 123_456,
            blob: vec![9, 8, 7],
        }
    }

    fn is_corruption(r: Result<impl fmt::Debug>) -> bool {
        matches!(r, Err(StorageError::Corruption { .. }))
    }

    /// xorshift64*: deterministic bytes without a dependency.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
    }

    #[test]
    fn record_round_trips() {
        for r in [
            record(),
            CollectionRecord {
                id: CollectionId(u32::MAX),
                name: "x".to_owned(),
                dim: 1,
                config: Vec::new(),
            },
        ] {
            assert_eq!(CollectionRecord::decode(&r.encode()).unwrap(), r);
        }
    }

    #[test]
    fn record_layout_is_stable() {
        let r = CollectionRecord {
            id: CollectionId(0x0102_0304),
            name: "ab".to_owned(),
            dim: 3,
            config: vec![0xee],
        };
        assert_eq!(
            r.encode(),
            [1, 4, 3, 2, 1, 3, 0, 0, 0, 2, 0, 0, 0, b'a', b'b', 1, 0, 0, 0, 0xee]
        );
    }

    #[test]
    fn state_round_trips() {
        for s in [state(), CollectionState::default()] {
            assert_eq!(CollectionState::decode(&s.encode()).unwrap(), s);
        }
        assert_eq!(
            CollectionState::default().encode(),
            [1, 0, 0, 0, 0, 0, 0, 0, 0]
        );
    }

    #[test]
    fn every_truncation_is_an_error() {
        let bytes = record().encode();
        for n in 0..bytes.len() {
            assert!(is_corruption(CollectionRecord::decode(&bytes[..n])), "{n}");
        }
        let bytes = state().encode();
        for n in 0..bytes.len() {
            assert!(is_corruption(CollectionState::decode(&bytes[..n])), "{n}");
        }
    }

    #[test]
    fn trailing_bytes_and_bad_fields_are_errors() {
        let mut bytes = record().encode();
        bytes.push(0);
        assert!(is_corruption(CollectionRecord::decode(&bytes)));
        let mut bytes = state().encode();
        bytes.push(0);
        assert!(is_corruption(CollectionState::decode(&bytes)));

        let mut bad_version = record().encode();
        bad_version[0] = 2;
        assert!(is_corruption(CollectionRecord::decode(&bad_version)));
        let mut zero_dim = record().encode();
        zero_dim[5..9].fill(0);
        assert!(is_corruption(CollectionRecord::decode(&zero_dim)));
        let mut bad_utf8 = record().encode();
        bad_utf8[13] = 0xff;
        assert!(is_corruption(CollectionRecord::decode(&bad_utf8)));
        let empty_name = [1, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        assert!(is_corruption(CollectionRecord::decode(&empty_name)));
        let huge_len = [1, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff];
        assert!(is_corruption(CollectionState::decode(&huge_len)));
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let valid_record = record().encode();
        let valid_state = state().encode();
        for i in 0..20_000 {
            let len = (rng.next() % 48) as usize;
            let mut bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            // Half the inputs start with a valid version byte, so the decoders get past it.
            if i % 2 == 0 && !bytes.is_empty() {
                bytes[0] = 1;
            }
            let _ = CollectionRecord::decode(&bytes);
            let _ = CollectionState::decode(&bytes);
            // Single-byte mutations of valid encodings either decode or fail cleanly.
            let mut mutated = valid_record.clone();
            let at = (rng.next() as usize) % mutated.len();
            mutated[at] = rng.next() as u8;
            if let Ok(r) = CollectionRecord::decode(&mutated) {
                assert_eq!(CollectionRecord::decode(&r.encode()).unwrap(), r);
            }
            let mut mutated = valid_state.clone();
            let at = (rng.next() as usize) % mutated.len();
            mutated[at] = rng.next() as u8;
            if let Ok(s) = CollectionState::decode(&mutated) {
                assert_eq!(CollectionState::decode(&s.encode()).unwrap(), s);
            }
        }
        // Pure random inputs with a wrong version byte are always rejected.
        assert!(is_corruption(CollectionRecord::decode(&[0; 40])));
        assert!(is_corruption(CollectionState::decode(&[0; 40])));
    }
}
