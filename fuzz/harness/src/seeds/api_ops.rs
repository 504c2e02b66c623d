//! Seeds of `api_ops`: pseudo-random bytes, and operation lists written out with
//! `Encode` (payloads replayed around a checkpoint, every filter operator, refused
//! input), and the operations of finding F5.

use crate::api_ops::{Coll, Op, UpdateWhat, Vector};
use crate::encode::encode_all;
use crate::meta::{Arg, Bad, Cond, Key, Lit, MetaIn, Node, PayloadIn, Val, WhereIn};

/// F5: a collection written to and dropped before any checkpoint, then the log
/// replayed (`FINDINGS.md`).
pub(super) fn f5_catalog_lost() -> Vec<Op> {
    vec![
        Op::Insert(Coll::A, 1, Vector([8, 8, 0])),
        Op::Drop(Coll::A),
        Op::ReopenWithoutCheckpoint,
    ]
}

/// Operation sequences for `api_ops`: pseudo-random bytes (any bytes decode).
pub(super) fn api_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let bytes = |seed: u64, len: usize| {
        let mut x = seed;
        (0..len)
            .map(|_| {
                // xorshift64*
                x ^= x >> 12;
                x ^= x << 25;
                x ^= x >> 27;
                (x.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 56) as u8
            })
            .collect::<Vec<u8>>()
    };
    vec![
        ("random-1", bytes(1, 256)),
        ("random-2", bytes(2, 512)),
        ("random-3", bytes(3, 1024)),
        ("random-4", bytes(4, 2048)),
        ("payloads-replayed", encode_all(&payloads_replayed())),
        ("payloads-where", encode_all(&payloads_where())),
        ("payloads-refused", encode_all(&payloads_refused())),
    ]
}

fn lit_arg(l: Lit) -> Arg {
    Arg::Lit(l)
}

fn cond(c: Cond) -> WhereIn {
    WhereIn::Node(Node::Cond(c))
}

fn meta(pairs: &[(Key, Val)]) -> Option<MetaIn> {
    Some(MetaIn(pairs.to_vec()))
}

/// Payloads written, updated and cleared around a checkpoint, then replayed and
/// checkpointed again (the two ways the checkpoint after a replaying open lost them:
/// an update in `a`; in `c`, the only payload, cleared by a plain upsert).
fn payloads_replayed() -> Vec<Op> {
    let p = |m, doc| PayloadIn { meta: m, doc };
    let v = |x| Vector([x, 1, 2]);
    let f = |x| (Key::N, Val::Lit(Lit::Float(x)));
    vec![
        Op::Create(Coll::C),
        Op::InsertWith(
            Coll::C,
            vec![(
                1,
                v(1),
                p(
                    meta(&[f(127), (Key::A, Val::Lit(Lit::Float(126)))]),
                    Some(1),
                ),
            )],
        ),
        Op::InsertWith(
            Coll::A,
            vec![
                (
                    1,
                    v(1),
                    p(
                        meta(&[
                            (Key::A, Val::Lit(Lit::Int(1))),
                            (Key::Tags, Val::List(vec![Lit::Str(1)])),
                        ]),
                        Some(1),
                    ),
                ),
                (
                    2,
                    v(2),
                    p(meta(&[(Key::B, Val::Lit(Lit::Bool(true)))]), None),
                ),
                (3, v(3), p(None, Some(2))),
                (
                    4,
                    v(4),
                    p(meta(&[(Key::N, Val::Lit(Lit::Float(3)))]), Some(3)),
                ),
            ],
        ),
        Op::Checkpoint,
        Op::Update {
            coll: Coll::A,
            items: vec![
                (1, meta(&[(Key::A, Val::Lit(Lit::Int(2)))]), None),
                (3, None, Some(0)),
            ],
            what: UpdateWhat::Both,
        },
        Op::Upsert(Coll::A, 2, v(5)),
        Op::Delete(Coll::A, 4),
        Op::Upsert(Coll::C, 1, v(2)),
        Op::ReopenWithoutCheckpoint,
        Op::Reopen,
        Op::CountWhere(Coll::A, cond(Cond::Gte(Key::A, lit_arg(Lit::Int(0))))),
        Op::Insert(Coll::A, 4, v(6)),
        Op::InsertWith(Coll::C, vec![(2, v(3), p(meta(&[f(127)]), None))]),
        Op::CountWhere(Coll::C, cond(Cond::Eq(Key::N, lit_arg(Lit::Float(127))))),
        Op::Reopen,
        Op::Kill,
        Op::Search {
            coll: Coll::A,
            query: v(0),
            k: 5,
            filter: None,
            matching: Some(cond(Cond::Contains(Key::Tags, lit_arg(Lit::Str(1))))),
        },
    ]
}

/// Metadata of every kind in collection `b`, asked about with every operator, deleted
/// by filter, compacted and killed.
fn payloads_where() -> Vec<Op> {
    let vals = [
        Val::Lit(Lit::Int(1)),
        Val::Lit(Lit::Float(2)),
        Val::Lit(Lit::Str(3)),
        Val::Lit(Lit::Bool(true)),
        Val::List(vec![Lit::Int(1), Lit::Str(1), Lit::Bool(false)]),
        Val::Null,
        Val::Lit(Lit::Int(126)),
        Val::Lit(Lit::Float(-128)),
    ];
    let items = (0..8u8)
        .map(|i| {
            let pairs = [
                (Key::A, vals[usize::from(i)].clone()),
                (Key::Tags, vals[usize::from(7 - i)].clone()),
            ];
            let v = Vector([i as i8 + 1, 2, -(i as i8)]);
            (
                i,
                v,
                PayloadIn {
                    meta: meta(&pairs),
                    doc: Some(i),
                },
            )
        })
        .collect();
    let one = lit_arg(Lit::Int(1));
    vec![
        Op::Create(Coll::B),
        Op::UpsertWith(Coll::B, items),
        Op::CountWhere(Coll::B, cond(Cond::Short(Key::A, one.clone()))),
        Op::CountWhere(Coll::B, cond(Cond::Ne(Key::A, one.clone()))),
        Op::CountWhere(
            Coll::B,
            cond(Cond::Nin(Key::A, vec![one.clone(), lit_arg(Lit::Str(3))])),
        ),
        Op::CountWhere(
            Coll::B,
            cond(Cond::Contains(Key::Tags, lit_arg(Lit::Str(1)))),
        ),
        Op::CountWhere(Coll::B, cond(Cond::Eq(Key::A, lit_arg(Lit::Int(125))))),
        Op::CountWhere(
            Coll::B,
            WhereIn::Or(vec![
                Node::Both(
                    Cond::Lt(Key::A, lit_arg(Lit::Float(3))),
                    Cond::Gte(Key::Tags, lit_arg(Lit::Int(0))),
                ),
                Node::And(vec![Cond::Two(Key::A, lit_arg(Lit::Int(0)), one.clone())]),
            ]),
        ),
        Op::Search {
            coll: Coll::B,
            query: Vector([1, 1, 1]),
            k: 4,
            filter: Some(vec![0, 1, 2, 3, 4]),
            matching: Some(cond(Cond::In(
                Key::A,
                vec![one.clone(), lit_arg(Lit::Bool(true))],
            ))),
        },
        Op::DeleteWhere(Coll::B, cond(Cond::Eq(Key::A, lit_arg(Lit::Bool(true))))),
        Op::Compact(Coll::B),
        Op::Kill,
        Op::CountWhere(Coll::B, cond(Cond::Lte(Key::A, lit_arg(Lit::Int(3))))),
    ]
}

/// Payloads and filters the library must refuse, and an update of an absent id.
fn payloads_refused() -> Vec<Op> {
    let v = Vector([1, 2, 3]);
    let bad = |b| PayloadIn {
        meta: meta(&[(Key::A, Val::Lit(Lit::Int(1))), (Key::B, Val::Bad(b))]),
        doc: None,
    };
    vec![
        Op::InsertWith(
            Coll::A,
            vec![
                (
                    1,
                    v,
                    PayloadIn {
                        meta: None,
                        doc: Some(1),
                    },
                ),
                (2, v, bad(Bad::Object)),
            ],
        ),
        Op::UpsertWith(Coll::A, vec![(1, v, bad(Bad::NullInList))]),
        Op::UpsertWith(Coll::A, vec![(1, v, bad(Bad::ListInList))]),
        Op::UpsertWith(Coll::A, vec![(1, v, bad(Bad::Big))]),
        Op::UpsertWith(
            Coll::A,
            vec![(
                1,
                v,
                PayloadIn {
                    meta: meta(&[(Key::Dollar, Val::Null)]),
                    doc: None,
                },
            )],
        ),
        Op::UpsertWith(
            Coll::A,
            vec![(
                1,
                v,
                PayloadIn {
                    meta: None,
                    doc: Some(2),
                },
            )],
        ),
        Op::Update {
            coll: Coll::A,
            items: vec![(1, None, None), (2, None, None)],
            what: UpdateWhat::Metadata,
        },
        Op::Update {
            coll: Coll::A,
            items: vec![(1, None, Some(1))],
            what: UpdateWhat::ShortDocuments,
        },
        Op::Update {
            coll: Coll::A,
            items: vec![(1, meta(&[(Key::A, Val::Bad(Bad::Object))]), None)],
            what: UpdateWhat::Metadata,
        },
        Op::CountWhere(Coll::A, cond(Cond::Gt(Key::A, lit_arg(Lit::Bool(true))))),
        Op::CountWhere(Coll::A, WhereIn::And(vec![])),
        Op::CountWhere(Coll::A, cond(Cond::In(Key::A, vec![Arg::Null]))),
        Op::CountWhere(
            Coll::A,
            cond(Cond::Short(Key::Dollar, lit_arg(Lit::Int(1)))),
        ),
        Op::Search {
            coll: Coll::A,
            query: v,
            k: 3,
            filter: None,
            matching: Some(cond(Cond::Eq(Key::A, Arg::List(vec![])))),
        },
        Op::ReopenWithoutCheckpoint,
    ]
}
