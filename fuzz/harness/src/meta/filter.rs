//! Filter inputs: conditions, their JSON, whether the grammar accepts them, and what
//! they match (see the parent module).

use arbitrary::Arbitrary;
use fletchdb::Metadata;
use serde_json::{json, Map, Value};

use super::payload::{Key, Lit};
use crate::encode::{variant, Encode};

/// A filter argument: a scalar, or null or a list (refused where a scalar is due).
#[derive(Arbitrary, Debug, Clone, PartialEq, Eq)]
pub(crate) enum Arg {
    Lit(Lit),
    Null,
    List(Vec<Lit>),
}

impl Arg {
    fn json(&self) -> Value {
        match self {
            Arg::Lit(l) => l.json(),
            Arg::Null => Value::Null,
            Arg::List(items) => items.iter().map(|l| l.json()).collect(),
        }
    }

    fn scalar(&self) -> Option<Value> {
        match self {
            Arg::Lit(l) => Some(l.json()),
            _ => None,
        }
    }

    /// The number a range compares with, if the argument is one.
    fn number(&self) -> Option<f64> {
        match self {
            Arg::Lit(l @ (Lit::Int(_) | Lit::Float(_))) => l.json().as_f64(),
            _ => None,
        }
    }
}

/// One condition on one key.
#[derive(Arbitrary, Debug, Clone, PartialEq, Eq)]
pub(crate) enum Cond {
    /// `{"key": arg}`, short for `$eq`.
    Short(Key, Arg),
    Eq(Key, Arg),
    Ne(Key, Arg),
    Gt(Key, Arg),
    Gte(Key, Arg),
    Lt(Key, Arg),
    Lte(Key, Arg),
    In(Key, Vec<Arg>),
    Nin(Key, Vec<Arg>),
    Contains(Key, Arg),
    /// `{"key": {"$gte": a, "$ne": b}}`: two operators in one dict.
    Two(Key, Arg, Arg),
}

/// A condition, or a list of them joined.
#[derive(Arbitrary, Debug, Clone, PartialEq, Eq)]
pub(crate) enum Node {
    Cond(Cond),
    And(Vec<Cond>),
    Or(Vec<Cond>),
    /// Two conditions in one dict (an implicit `$and`; as `$and` if on one key).
    Both(Cond, Cond),
}

/// A whole filter: a node, or a list of nodes joined.
#[derive(Arbitrary, Debug, Clone, PartialEq, Eq)]
pub(crate) enum WhereIn {
    Node(Node),
    And(Vec<Node>),
    Or(Vec<Node>),
}

impl Cond {
    fn key(&self) -> Key {
        match self {
            Cond::Short(k, _)
            | Cond::Eq(k, _)
            | Cond::Ne(k, _)
            | Cond::Gt(k, _)
            | Cond::Gte(k, _)
            | Cond::Lt(k, _)
            | Cond::Lte(k, _)
            | Cond::In(k, _)
            | Cond::Nin(k, _)
            | Cond::Contains(k, _)
            | Cond::Two(k, _, _) => *k,
        }
    }

    /// The condition's entry in a filter dict: its key and what the key maps to.
    fn entry(&self) -> (String, Value) {
        let list = |args: &[Arg]| Value::Array(args.iter().map(Arg::json).collect());
        let value = match self {
            Cond::Short(_, a) => a.json(),
            Cond::Eq(_, a) => json!({"$eq": a.json()}),
            Cond::Ne(_, a) => json!({"$ne": a.json()}),
            Cond::Gt(_, a) => json!({"$gt": a.json()}),
            Cond::Gte(_, a) => json!({"$gte": a.json()}),
            Cond::Lt(_, a) => json!({"$lt": a.json()}),
            Cond::Lte(_, a) => json!({"$lte": a.json()}),
            Cond::In(_, args) => json!({"$in": list(args)}),
            Cond::Nin(_, args) => json!({"$nin": list(args)}),
            Cond::Contains(_, a) => json!({"$contains": a.json()}),
            Cond::Two(_, a, b) => json!({"$gte": a.json(), "$ne": b.json()}),
        };
        (self.key().name().to_owned(), value)
    }

    fn json(&self) -> Value {
        let (k, v) = self.entry();
        Value::Object(Map::from_iter([(k, v)]))
    }

    fn valid(&self) -> bool {
        let scalars = |args: &[Arg]| !args.is_empty() && args.iter().all(|a| a.scalar().is_some());
        self.key() != Key::Dollar
            && match self {
                Cond::Short(_, a) | Cond::Eq(_, a) | Cond::Ne(_, a) | Cond::Contains(_, a) => {
                    a.scalar().is_some()
                }
                Cond::Gt(_, a) | Cond::Gte(_, a) | Cond::Lt(_, a) | Cond::Lte(_, a) => {
                    a.number().is_some()
                }
                Cond::In(_, args) | Cond::Nin(_, args) => scalars(args),
                Cond::Two(_, a, b) => a.number().is_some() && b.scalar().is_some(),
            }
    }

    fn matches(&self, meta: &Metadata) -> bool {
        let Some(v) = meta.get(self.key().name()).filter(|v| !v.is_null()) else {
            return false;
        };
        let is_scalar = !matches!(v, Value::Array(_) | Value::Object(_));
        let eq = |a: &Arg| a.scalar().is_some_and(|a| is_scalar && same(v, &a));
        let cmp = |a: &Arg, f: fn(f64, f64) -> bool| match (v, a.number()) {
            (Value::Number(n), Some(x)) => n.as_f64().is_some_and(|n| f(n, x)),
            _ => false,
        };
        match self {
            Cond::Short(_, a) | Cond::Eq(_, a) => eq(a),
            Cond::Ne(_, a) => is_scalar && !eq(a),
            Cond::Gt(_, a) => cmp(a, |n, x| n > x),
            Cond::Gte(_, a) => cmp(a, |n, x| n >= x),
            Cond::Lt(_, a) => cmp(a, |n, x| n < x),
            Cond::Lte(_, a) => cmp(a, |n, x| n <= x),
            Cond::In(_, args) => args.iter().any(eq),
            Cond::Nin(_, args) => is_scalar && !args.iter().any(eq),
            Cond::Contains(_, a) => match (v, a.scalar()) {
                (Value::Array(items), Some(a)) => items.iter().any(|x| same(x, &a)),
                _ => false,
            },
            Cond::Two(_, a, b) => cmp(a, |n, x| n >= x) && is_scalar && !eq(b),
        }
    }
}

/// Equality of two scalars: numbers as `f64`, strings and booleans as themselves,
/// never across kinds.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        _ => false,
    }
}

impl Node {
    fn json(&self) -> Value {
        let list = |cs: &[Cond]| Value::Array(cs.iter().map(Cond::json).collect());
        match self {
            Node::Cond(c) => c.json(),
            Node::And(cs) => json!({ "$and": list(cs) }),
            Node::Or(cs) => json!({ "$or": list(cs) }),
            Node::Both(a, b) if a.key() != b.key() => {
                Value::Object(Map::from_iter([a.entry(), b.entry()]))
            }
            Node::Both(a, b) => json!({ "$and": [a.json(), b.json()] }),
        }
    }

    fn valid(&self) -> bool {
        match self {
            Node::Cond(c) => c.valid(),
            Node::And(cs) | Node::Or(cs) => !cs.is_empty() && cs.iter().all(Cond::valid),
            Node::Both(a, b) => a.valid() && b.valid(),
        }
    }

    fn matches(&self, meta: &Metadata) -> bool {
        match self {
            Node::Cond(c) => c.matches(meta),
            Node::And(cs) => cs.iter().all(|c| c.matches(meta)),
            Node::Or(cs) => cs.iter().any(|c| c.matches(meta)),
            Node::Both(a, b) => a.matches(meta) && b.matches(meta),
        }
    }
}

impl WhereIn {
    /// The filter as JSON, for [`fletchdb::Where::from_json`].
    pub(crate) fn json(&self) -> Value {
        let list = |ns: &[Node]| Value::Array(ns.iter().map(Node::json).collect());
        match self {
            WhereIn::Node(n) => n.json(),
            WhereIn::And(ns) => json!({ "$and": list(ns) }),
            WhereIn::Or(ns) => json!({ "$or": list(ns) }),
        }
    }

    /// Whether the grammar accepts it.
    pub(crate) fn valid(&self) -> bool {
        match self {
            WhereIn::Node(n) => n.valid(),
            WhereIn::And(ns) | WhereIn::Or(ns) => !ns.is_empty() && ns.iter().all(Node::valid),
        }
    }

    /// Whether a record with this metadata (`None`: none) matches (for a valid filter).
    pub(crate) fn matches(&self, meta: Option<&Metadata>) -> bool {
        let empty = Metadata::new();
        let meta = meta.unwrap_or(&empty);
        match self {
            WhereIn::Node(n) => n.matches(meta),
            WhereIn::And(ns) => ns.iter().all(|n| n.matches(meta)),
            WhereIn::Or(ns) => ns.iter().any(|n| n.matches(meta)),
        }
    }
}

impl Encode for Arg {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Arg::Lit(l) => {
                variant(out, 0, 3);
                l.encode(out);
            }
            Arg::Null => variant(out, 1, 3),
            Arg::List(items) => {
                variant(out, 2, 3);
                items.encode(out);
            }
        }
    }
}

impl Encode for Cond {
    fn encode(&self, out: &mut Vec<u8>) {
        let n = 11;
        match self {
            Cond::Short(k, a) => {
                variant(out, 0, n);
                k.encode(out);
                a.encode(out);
            }
            Cond::Eq(k, a) => {
                variant(out, 1, n);
                k.encode(out);
                a.encode(out);
            }
            Cond::Ne(k, a) => {
                variant(out, 2, n);
                k.encode(out);
                a.encode(out);
            }
            Cond::Gt(k, a) => {
                variant(out, 3, n);
                k.encode(out);
                a.encode(out);
            }
            Cond::Gte(k, a) => {
                variant(out, 4, n);
                k.encode(out);
                a.encode(out);
            }
            Cond::Lt(k, a) => {
                variant(out, 5, n);
                k.encode(out);
                a.encode(out);
            }
            Cond::Lte(k, a) => {
                variant(out, 6, n);
                k.encode(out);
                a.encode(out);
            }
            Cond::In(k, a) => {
                variant(out, 7, n);
                k.encode(out);
                a.encode(out);
            }
            Cond::Nin(k, a) => {
                variant(out, 8, n);
                k.encode(out);
                a.encode(out);
            }
            Cond::Contains(k, a) => {
                variant(out, 9, n);
                k.encode(out);
                a.encode(out);
            }
            Cond::Two(k, a, b) => {
                variant(out, 10, n);
                k.encode(out);
                a.encode(out);
                b.encode(out);
            }
        }
    }
}

impl Encode for Node {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Node::Cond(c) => {
                variant(out, 0, 4);
                c.encode(out);
            }
            Node::And(cs) => {
                variant(out, 1, 4);
                cs.encode(out);
            }
            Node::Or(cs) => {
                variant(out, 2, 4);
                cs.encode(out);
            }
            Node::Both(a, b) => {
                variant(out, 3, 4);
                a.encode(out);
                b.encode(out);
            }
        }
    }
}

impl Encode for WhereIn {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            WhereIn::Node(n) => {
                variant(out, 0, 3);
                n.encode(out);
            }
            WhereIn::And(ns) => {
                variant(out, 1, 3);
                ns.encode(out);
            }
            WhereIn::Or(ns) => {
                variant(out, 2, 3);
                ns.encode(out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::encode::decodes_back;
    use crate::meta::{valid_metadata, Bad, MetaIn, Val};

    #[test]
    fn every_filter_encodes_to_bytes_that_decode_to_it() {
        let lits = [Lit::Int(3), Lit::Float(-128), Lit::Str(4), Lit::Bool(true)];
        let args = [Arg::Lit(Lit::Int(1)), Arg::Null, Arg::List(lits.to_vec())];
        for a in &args {
            decodes_back(a);
        }
        let a = args[0].clone();
        let conds = [
            Cond::Short(Key::A, a.clone()),
            Cond::Eq(Key::B, a.clone()),
            Cond::Ne(Key::N, a.clone()),
            Cond::Gt(Key::Tags, a.clone()),
            Cond::Gte(Key::Dollar, a.clone()),
            Cond::Lt(Key::A, a.clone()),
            Cond::Lte(Key::A, a.clone()),
            Cond::In(Key::A, args.to_vec()),
            Cond::Nin(Key::A, args.to_vec()),
            Cond::Contains(Key::A, a.clone()),
            Cond::Two(Key::B, a.clone(), args[2].clone()),
        ];
        let nodes = [
            Node::Cond(conds[10].clone()),
            Node::And(conds.to_vec()),
            Node::Or(conds.to_vec()),
            Node::Both(conds[0].clone(), conds[1].clone()),
        ];
        for w in [
            WhereIn::Node(nodes[3].clone()),
            WhereIn::And(nodes.to_vec()),
            WhereIn::Or(nodes.to_vec()),
        ] {
            decodes_back(&w);
        }
    }

    #[test]
    fn the_model_agrees_with_the_documented_examples() {
        let meta: Metadata = serde_json::from_value(json!({
            "a": 1, "b": "x", "tags": ["x", 2.0, true], "n": null
        }))
        .expect("object");
        let a1 = Arg::Lit(Lit::Int(1));
        let f1 = Arg::Lit(Lit::Float(2)); // 1.0
        let x = Arg::Lit(Lit::Str(1));
        let s1 = Arg::Lit(Lit::Str(3)); // "1"
        let yes = |c: Cond| WhereIn::Node(Node::Cond(c)).matches(Some(&meta));
        assert!(yes(Cond::Short(Key::A, f1.clone())));
        assert!(!yes(Cond::Eq(Key::A, s1.clone())));
        assert!(!yes(Cond::Eq(Key::A, Arg::Lit(Lit::Bool(true)))));
        assert!(yes(Cond::Ne(Key::B, s1)));
        assert!(!yes(Cond::Ne(Key::Tags, x.clone())), "a list fails $ne");
        assert!(!yes(Cond::Ne(Key::N, x.clone())), "null fails $ne");
        assert!(!yes(Cond::Nin(Key::N, vec![x.clone()])));
        assert!(yes(Cond::Contains(Key::Tags, Arg::Lit(Lit::Int(2)))));
        assert!(!yes(Cond::Contains(Key::B, x.clone())), "not a list");
        assert!(!yes(Cond::Gt(Key::B, a1.clone())), "not a number");
        assert!(yes(Cond::Gte(Key::A, a1.clone())));
        assert!(!yes(Cond::Gt(Key::Tags, Arg::Lit(Lit::Int(0)))), "a list");
        assert!(!yes(Cond::Eq(Key::Dollar, a1.clone())));
        assert!(!Cond::Gt(Key::A, Arg::Lit(Lit::Bool(true))).valid());
        assert!(!Cond::In(Key::A, vec![]).valid());
        assert!(!Cond::Short(Key::A, Arg::List(vec![])).valid());
        assert!(!Cond::Eq(Key::Dollar, a1).valid());
        assert!(valid_metadata(&meta));
        let bad = MetaIn(vec![(Key::A, Val::Bad(Bad::Big))]).metadata();
        assert!(!valid_metadata(&bad));
    }
}
