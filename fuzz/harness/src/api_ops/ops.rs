//! The operations of `api_ops` as the fuzzer's bytes decode them ([`arbitrary`]), and
//! written back ([`Encode`]) for seeds.

use arbitrary::Arbitrary;
use fletchdb::{CollectionConfig, Error, Metric};

use crate::encode::{variant, Encode};
use crate::meta::{MetaIn, PayloadIn, WhereIn};

/// One of the three collections.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Coll {
    A,
    B,
    C,
}

impl Coll {
    pub(super) fn name(self) -> &'static str {
        match self {
            Coll::A => "a",
            Coll::B => "b",
            Coll::C => "c",
        }
    }

    pub(super) fn config(self) -> CollectionConfig {
        let (dim, metric, m) = match self {
            Coll::A => (2, Metric::L2, 4),
            Coll::B => (3, Metric::Cosine, 8),
            Coll::C => (1, Metric::InnerProduct, 2),
        };
        CollectionConfig {
            m,
            ef_construction: 32,
            ..CollectionConfig::new(dim, metric)
        }
    }
}

/// Up to three components: `i8::MIN` is NaN, `i8::MAX` infinity, others `x / 8`.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Vector(pub(crate) [i8; 3]);

impl Vector {
    pub(super) fn floats(self, dim: usize) -> Vec<f32> {
        self.0[..dim]
            .iter()
            .map(|&x| match x {
                i8::MIN => f32::NAN,
                i8::MAX => f32::INFINITY,
                x => f32::from(x) / 8.0,
            })
            .collect()
    }
}

/// What an `update` is given.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UpdateWhat {
    Metadata,
    Documents,
    Both,
    /// Neither list: the payloads are logged again unchanged.
    Neither,
    /// The metadata list, one short (refused).
    ShortMetadata,
    /// The document list, one short (refused).
    ShortDocuments,
}

/// One operation.
#[derive(Arbitrary, Debug, Clone, PartialEq, Eq)]
pub(crate) enum Op {
    Create(Coll),
    Drop(Coll),
    Insert(Coll, u8, Vector),
    Upsert(Coll, u8, Vector),
    InsertBatch(Coll, Vec<(u8, Vector)>),
    UpsertBatch(Coll, Vec<(u8, Vector)>),
    /// `insert_with`: vectors with payloads.
    InsertWith(Coll, Vec<(u8, Vector, PayloadIn)>),
    /// `upsert_with`.
    UpsertWith(Coll, Vec<(u8, Vector, PayloadIn)>),
    /// `update`: each id's new metadata and document, passed as `what` says.
    Update {
        coll: Coll,
        items: Vec<(u8, Option<MetaIn>, Option<u8>)>,
        what: UpdateWhat,
    },
    Delete(Coll, u8),
    DeleteWhere(Coll, WhereIn),
    Get(Coll, u8),
    /// `count_where` and `ids_where`.
    CountWhere(Coll, WhereIn),
    Search {
        coll: Coll,
        query: Vector,
        k: u8,
        filter: Option<Vec<u8>>,
        matching: Option<WhereIn>,
    },
    Checkpoint,
    /// Checkpoint, close, open.
    Reopen,
    /// Close without a final checkpoint, open: the log is replayed.
    ReopenWithoutCheckpoint,
    /// Open a copy of the files as a killed process leaves them.
    Kill,
    /// Compact a collection: nothing any call returns may change.
    Compact(Coll),
}

/// The error variants the model predicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fail {
    NotFound,
    Exists,
    Duplicate,
    IdNotFound,
    InvalidVector,
    InvalidArgument,
}

pub(super) fn kind(e: &Error) -> Fail {
    match e {
        Error::CollectionNotFound { .. } => Fail::NotFound,
        Error::CollectionExists { .. } => Fail::Exists,
        Error::DuplicateId { .. } => Fail::Duplicate,
        Error::IdNotFound { .. } => Fail::IdNotFound,
        Error::InvalidVector { .. } => Fail::InvalidVector,
        Error::InvalidArgument(_) => Fail::InvalidArgument,
        other => panic!("an operation failed unexpectedly: {other}"),
    }
}

impl Encode for Coll {
    fn encode(&self, out: &mut Vec<u8>) {
        variant(out, *self as usize, 3);
    }
}

impl Encode for Vector {
    fn encode(&self, out: &mut Vec<u8>) {
        self.0.encode(out);
    }
}

impl Encode for UpdateWhat {
    fn encode(&self, out: &mut Vec<u8>) {
        variant(out, *self as usize, 6);
    }
}

impl Encode for Op {
    fn encode(&self, out: &mut Vec<u8>) {
        let tag = |out: &mut Vec<u8>, index| variant(out, index, 19);
        match self {
            Op::Create(c) => {
                tag(out, 0);
                c.encode(out);
            }
            Op::Drop(c) => {
                tag(out, 1);
                c.encode(out);
            }
            Op::Insert(c, id, v) => {
                tag(out, 2);
                (c, id, v).encode(out);
            }
            Op::Upsert(c, id, v) => {
                tag(out, 3);
                (c, id, v).encode(out);
            }
            Op::InsertBatch(c, items) => {
                tag(out, 4);
                (c, items).encode(out);
            }
            Op::UpsertBatch(c, items) => {
                tag(out, 5);
                (c, items).encode(out);
            }
            Op::InsertWith(c, items) => {
                tag(out, 6);
                (c, items).encode(out);
            }
            Op::UpsertWith(c, items) => {
                tag(out, 7);
                (c, items).encode(out);
            }
            Op::Update { coll, items, what } => {
                tag(out, 8);
                (coll, items, what).encode(out);
            }
            Op::Delete(c, id) => {
                tag(out, 9);
                (c, id).encode(out);
            }
            Op::DeleteWhere(c, w) => {
                tag(out, 10);
                (c, w).encode(out);
            }
            Op::Get(c, id) => {
                tag(out, 11);
                (c, id).encode(out);
            }
            Op::CountWhere(c, w) => {
                tag(out, 12);
                (c, w).encode(out);
            }
            Op::Search {
                coll,
                query,
                k,
                filter,
                matching,
            } => {
                tag(out, 13);
                (coll, query, k).encode(out);
                (filter, matching).encode(out);
            }
            Op::Checkpoint => tag(out, 14),
            Op::Reopen => tag(out, 15),
            Op::ReopenWithoutCheckpoint => tag(out, 16),
            Op::Kill => tag(out, 17),
            Op::Compact(c) => {
                tag(out, 18);
                c.encode(out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::decodes_back;
    use crate::meta::{Arg, Cond, Key, Lit, Node, Val};

    #[test]
    fn every_operation_encodes_to_bytes_that_decode_to_it() {
        let v = Vector([1, -2, 3]);
        let p = PayloadIn {
            meta: Some(MetaIn(vec![(Key::A, Val::Lit(Lit::Int(1)))])),
            doc: Some(1),
        };
        let w = WhereIn::Node(Node::Cond(Cond::Eq(Key::A, Arg::Lit(Lit::Int(1)))));
        let ops = [
            Op::Create(Coll::B),
            Op::Drop(Coll::C),
            Op::Insert(Coll::A, 5, v),
            Op::Upsert(Coll::B, 6, v),
            Op::InsertBatch(Coll::C, vec![(1, v), (2, v)]),
            Op::UpsertBatch(Coll::A, vec![(3, v)]),
            Op::InsertWith(Coll::A, vec![(1, v, p.clone())]),
            Op::UpsertWith(Coll::B, vec![(2, v, p.clone()), (3, v, p.clone())]),
            Op::Update {
                coll: Coll::A,
                items: vec![(1, p.meta.clone(), None), (2, None, Some(3))],
                what: UpdateWhat::ShortDocuments,
            },
            Op::Delete(Coll::A, 9),
            Op::DeleteWhere(Coll::B, w.clone()),
            Op::Get(Coll::C, 4),
            Op::CountWhere(Coll::A, w.clone()),
            Op::Search {
                coll: Coll::B,
                query: v,
                k: 7,
                filter: Some(vec![1, 2]),
                matching: Some(w),
            },
            Op::Checkpoint,
            Op::Reopen,
            Op::ReopenWithoutCheckpoint,
            Op::Kill,
            Op::Compact(Coll::C),
        ];
        for op in &ops {
            decodes_back(op);
        }
        for what in [
            UpdateWhat::Metadata,
            UpdateWhat::Documents,
            UpdateWhat::Both,
            UpdateWhat::Neither,
            UpdateWhat::ShortMetadata,
        ] {
            decodes_back(&what);
        }
    }
}
