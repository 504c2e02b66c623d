//! What a database, a collection and a search can be told: [`Options`],
//! [`CollectionConfig`], [`SearchOptions`].

use std::time::Duration;

pub use fletchdb_index::{Metric, Quantization};
pub use fletchdb_storage::wal::Durability;

use fletchdb_storage::le;

use crate::payload::Where;

use crate::error::{Error, Result};

/// How [`Database::open`](crate::Database::open) opens a database.
///
/// ```
/// use std::time::Duration;
/// use fletchdb::{Durability, Options};
/// let opts = Options {
///     durability: Durability::Buffered { interval: Duration::from_millis(10) },
///     ..Options::default()
/// };
/// assert_eq!(opts.checkpoint_bytes, 256 << 20);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// When a write counts as done: [`Durability::Sync`] (the default) acknowledges after
    /// `fdatasync`, so an acknowledged write survives power loss; `Buffered` once the
    /// operating system has it (it survives the process being killed), syncing every
    /// interval; `None` syncs only at checkpoints and `flush`.
    pub durability: Durability,
    /// The longest a group commit waits for more writers to join (see
    /// [`WalOptions::commit_window`](fletchdb_storage::wal::WalOptions::commit_window)).
    /// Zero, the default, never waits.
    pub commit_window: Duration,
    /// Log bytes written since the last checkpoint that make the background thread take
    /// one, so the log never grows without bound. Zero turns this trigger off (with
    /// `checkpoint_interval` `None` too, only `checkpoint` and closing take them).
    pub checkpoint_bytes: u64,
    /// The longest the background thread lets writes go without a checkpoint. Opening
    /// after a crash replays what the log holds past the last checkpoint, and replay
    /// re-inserts each vector into the graph at about the speed it was first inserted,
    /// so this bounds recovery to about this much writing. `None` checkpoints on log
    /// size alone.
    pub checkpoint_interval: Option<Duration>,
    /// The largest write-ahead log segment file. Segments are sized by what is written:
    /// the first is 1/64 of this (at most 1 MiB, at least 4 KiB), and each one that
    /// fills is followed by one twice its size, up to this (see
    /// [`WalOptions::segment_size`](fletchdb_storage::wal::WalOptions::segment_size)).
    pub wal_segment_size: u64,
    /// Checkpoint when the database is closed (or dropped), so that the next open has
    /// nothing to replay. On by default.
    pub checkpoint_on_close: bool,
    /// The share of a collection's slots, in percent, that deleted and replaced vectors
    /// (tombstones and free slots) must reach for the background thread to compact it
    /// ([`Collection::compact`](crate::Collection::compact)), after a checkpoint, if that
    /// would shrink its files. 20 by default, as Qdrant's vacuum threshold; 0 turns
    /// background compaction off (`compact` still works).
    pub compaction_threshold_percent: u8,
    /// Open returns as soon as the log is read, with the vectors it replayed searchable
    /// at once (scanned exactly beside the graph) and inserted into the graph by the
    /// background thread; checkpoints wait until that is done. The same thread encodes
    /// the collections' compact codes ([`Quantization`](crate::Quantization)), and
    /// searches walk the `f32` vectors until it has. On by default: at 1,000,000 ×
    /// 128-d a crash that leaves 100,000 records to replay then costs the next open
    /// about half a second rather than the two minutes their inserts take, and a clean
    /// open about 0.3 s rather than 0.6. Off, open does both before it returns.
    pub background_linking: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            durability: Durability::Sync,
            commit_window: Duration::ZERO,
            checkpoint_bytes: 256 << 20,
            checkpoint_interval: Some(Duration::from_secs(30)),
            wal_segment_size: 64 << 20,
            checkpoint_on_close: true,
            compaction_threshold_percent: 20,
            background_linking: true,
        }
    }
}

impl Options {
    /// The default options: synchronous durability, a checkpoint every 256 MiB of log or
    /// 30 s of writing, whichever comes first.
    pub fn new() -> Self {
        Options::default()
    }

    /// These options with another durability mode.
    #[must_use]
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }
}

/// How a collection is built. `dim` and `metric` have no default; the rest follow
/// hnswlib (`m` 16, `ef_construction` 200).
///
/// ```
/// use fletchdb::{CollectionConfig, Metric};
/// let config = CollectionConfig { m: 32, ..CollectionConfig::new(384, Metric::Cosine) };
/// assert_eq!(config.ef_construction, 200);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CollectionConfig {
    /// Components per vector, 1 to 65,536.
    pub dim: usize,
    /// The distance: squared L2, inner product (`1 - dot`) or cosine.
    pub metric: Metric,
    /// HNSW links per node (up to `2 * m` on the bottom layer), 2 to 128.
    pub m: usize,
    /// Candidates considered while inserting, 1 to 65,536: larger builds slower and
    /// searches better.
    pub ef_construction: usize,
    /// Seed of the HNSW level assignment.
    pub seed: u64,
    /// The compact copy of the vectors that searches walk (their best candidates are
    /// re-scored from the full-precision vectors): `None`, `F16` or `I8` (a quarter of
    /// the memory traffic of `f32`; its scale is fitted on the first 1,024 vectors and
    /// kept with the checkpoints). [`new`](Self::new) sets
    /// [`Quantization::default_for`] the dimension: `I8` from 32 components up.
    pub quantization: Quantization,
}

/// Version of [`CollectionConfig`]'s stored encoding: 2 adds the quantization byte
/// (version 1, without it, reads as `Quantization::None`).
const CONFIG_VERSION: u8 = 2;

impl CollectionConfig {
    /// A configuration for `dim`-component vectors under `metric`, with the default
    /// graph parameters.
    pub fn new(dim: usize, metric: Metric) -> Self {
        let hnsw = fletchdb_index::HnswConfig::new(metric);
        CollectionConfig {
            dim,
            metric,
            m: hnsw.m,
            ef_construction: hnsw.ef_construction,
            seed: hnsw.seed,
            quantization: Quantization::default_for(dim),
        }
    }

    /// [`Error::InvalidArgument`] for a dimension out of range or graph parameters
    /// the index refuses (its checks, not a copy of them).
    pub(crate) fn check(&self) -> Result<()> {
        if !(1..=65_536).contains(&self.dim) {
            return Err(Error::InvalidArgument(format!(
                "dim must be between 1 and 65536, not {}",
                self.dim
            )));
        }
        self.hnsw().check().map_err(|e| {
            Error::InvalidArgument(format!(
                "{e} (m {}, ef_construction {})",
                self.m, self.ef_construction
            ))
        })
    }

    pub(crate) fn hnsw(&self) -> fletchdb_index::HnswConfig {
        fletchdb_index::HnswConfig {
            metric: self.metric,
            m: self.m,
            ef_construction: self.ef_construction,
            seed: self.seed,
        }
    }

    /// The stored form (the dimension is stored beside it by the catalog):
    /// `version u8, metric u8, m u32, ef_construction u32, seed u64, quantization u8`,
    /// little-endian.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(19);
        b.push(CONFIG_VERSION);
        b.push(self.metric.code());
        b.extend_from_slice(&(self.m as u32).to_le_bytes());
        b.extend_from_slice(&(self.ef_construction as u32).to_le_bytes());
        b.extend_from_slice(&self.seed.to_le_bytes());
        b.push(self.quantization.code());
        b
    }

    /// Decodes what [`encode`](Self::encode) wrote (or version 1); `None` for anything
    /// else.
    pub(crate) fn decode(dim: u32, b: &[u8]) -> Option<CollectionConfig> {
        let quantization = match (b.first()?, b.len()) {
            (1, 18) => Quantization::None,
            (2, 19) => Quantization::from_code(b[18])?,
            _ => return None,
        };
        let config = CollectionConfig {
            dim: dim as usize,
            metric: Metric::from_code(b[1])?,
            m: le::u32_at(b, 2)? as usize,
            ef_construction: le::u32_at(b, 6)? as usize,
            seed: le::u64_at(b, 10)?,
            quantization,
        };
        config.check().ok().map(|_| config)
    }
}

/// Which ids a search may return.
#[derive(Clone, Copy)]
pub enum IdFilter<'a> {
    /// Only these ids (unknown ids are ignored).
    Ids(&'a [u64]),
    /// Only ids for which this returns true.
    Predicate(&'a (dyn Fn(u64) -> bool + Sync)),
}

impl std::fmt::Debug for IdFilter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IdFilter::Ids(ids) => write!(f, "Ids({} ids)", ids.len()),
            IdFilter::Predicate(_) => write!(f, "Predicate(..)"),
        }
    }
}

/// How a search runs.
///
/// ```
/// use fletchdb::{IdFilter, SearchOptions, Where};
/// let allowed = [3u64, 7, 11];
/// let recent = Where::from_json(&serde_json::json!({"year": {"$gte": 2020}}))?;
/// let opts = SearchOptions {
///     ef: 128,
///     filter: Some(IdFilter::Ids(&allowed)),
///     matching: Some(&recent),
/// };
/// assert_eq!(SearchOptions::default().ef, 64);
/// # let _ = opts;
/// # Ok::<(), fletchdb::Error>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct SearchOptions<'a> {
    /// Candidates explored (at least `k` are): larger is slower and more accurate.
    pub ef: usize,
    /// Restrict the results to some ids. When the filter admits few vectors the search
    /// scans them exactly, so recall does not collapse at low selectivity.
    pub filter: Option<IdFilter<'a>>,
    /// Restrict the results to records whose metadata matches (with `filter`, to
    /// those both admit). Evaluated on the metadata indexes; few matches are scanned
    /// exactly, many walked in the graph.
    pub matching: Option<&'a Where>,
}

impl Default for SearchOptions<'_> {
    fn default() -> Self {
        SearchOptions {
            ef: 64,
            filter: None,
            matching: None,
        }
    }
}

/// One search result.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hit {
    /// The id the vector was inserted with.
    pub id: u64,
    /// Its distance to the query (smaller is closer).
    pub distance: f32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_round_trips_and_rejects_damage() {
        let c = CollectionConfig {
            m: 24,
            seed: 99,
            ..CollectionConfig::new(128, Metric::InnerProduct)
        };
        let b = c.encode();
        assert_eq!(CollectionConfig::decode(128, &b), Some(c));
        for cut in 0..b.len() {
            assert_eq!(CollectionConfig::decode(128, &b[..cut]), None);
        }
        let mut bad = b.clone();
        bad[1] = 9;
        assert_eq!(CollectionConfig::decode(128, &bad), None);
        let mut bad = b.clone();
        bad[2] = 1; // m = 1
        assert_eq!(CollectionConfig::decode(128, &bad), None);
        let mut bad = b.clone();
        bad[18] = 7; // no such quantization
        assert_eq!(CollectionConfig::decode(128, &bad), None);
        // Version 1, from before quantization: no compact copy.
        let mut v1 = b[..18].to_vec();
        v1[0] = 1;
        let plain = CollectionConfig {
            quantization: Quantization::None,
            ..c
        };
        assert_eq!(CollectionConfig::decode(128, &v1), Some(plain));
        let i8 = CollectionConfig {
            quantization: Quantization::I8,
            ..c
        };
        assert_eq!(CollectionConfig::decode(128, &i8.encode()), Some(i8));
        assert_eq!(CollectionConfig::decode(0, &c.encode()), None);
    }
}
