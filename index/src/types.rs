//! Small value types shared across the index.

/// The index's internal address of a vector: a dense, zero-based position in the
/// [`VectorSource`](crate::VectorSource). The database maps its external ids to slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Slot(pub u32);

impl Slot {
    /// The slot as an array index.
    #[inline(always)]
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// One search hit: a slot and its distance to the query (smaller is closer).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Neighbor {
    /// Where the vector lives.
    pub slot: Slot,
    /// Its distance to the query under the index's metric.
    pub distance: f32,
}
