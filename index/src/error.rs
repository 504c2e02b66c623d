//! The index's error type.

/// Everything that can go wrong in the index, with what a caller needs to act on it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IndexError {
    /// A vector's length differs from the index's dimension.
    #[error("dimension mismatch: expected {expected}, got {got}")]
    DimensionMismatch {
        /// The index's dimension.
        expected: usize,
        /// The length that was given.
        got: usize,
    },
    /// A vector cannot be indexed (NaN, infinity, zero norm for cosine).
    #[error("invalid vector: {reason}")]
    InvalidVector {
        /// Why it was refused.
        reason: &'static str,
    },
    /// The slot already holds a node.
    #[error("slot {0} is already in the index")]
    SlotOccupied(u32),
    /// The slot has no vector in the index's vector source.
    #[error("slot {slot} has no vector (the vector source holds {len})")]
    SlotOutOfRange {
        /// The slot that was asked for.
        slot: u32,
        /// How many slots the vector source holds.
        len: usize,
    },
    /// A move of [`Hnsw::relocate`](crate::Hnsw::relocate) cannot be made; nothing was
    /// moved.
    #[error("cannot move the node in slot {from} to slot {to}: {reason}")]
    InvalidMove {
        /// The slot the node would have left.
        from: u32,
        /// The slot it would have moved to.
        to: u32,
        /// Why not.
        reason: &'static str,
    },
    /// The index cannot address more slots.
    #[error("the index is full ({0} slots)")]
    Full(usize),
    /// A configuration value is out of range.
    #[error("invalid configuration: {0}")]
    InvalidConfig(&'static str),
    /// A serialized graph is damaged or not a graph file.
    #[error("corrupt graph data at byte {offset}: {reason}")]
    Corruption {
        /// Byte offset into the serialized graph where the problem was found.
        offset: usize,
        /// What was wrong.
        reason: String,
    },
    /// A serialized graph was written by an unknown format version.
    #[error("unsupported graph format version {found} (this build reads {supported})")]
    UnsupportedVersion {
        /// The version the data carries.
        found: u32,
        /// The version this build reads and writes.
        supported: u32,
    },
    /// Writing a serialized graph failed.
    #[error("i/o error while writing the graph: {0}")]
    Io(#[from] std::io::Error),
}
