//! Payload inputs: metadata keys and values, documents, and which metadata a write
//! accepts (see the parent module).

use arbitrary::Arbitrary;
use fletchdb::{Metadata, Payload};
use serde_json::{json, Map, Value};

use crate::encode::{variant, Encode};

/// A metadata key: four ordinary ones, and one starting with `$` (refused in
/// metadata; an unknown operator in a filter).
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Key {
    A,
    B,
    N,
    Tags,
    Dollar,
}

impl Key {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Key::A => "a",
            Key::B => "b",
            Key::N => "n",
            Key::Tags => "tags",
            Key::Dollar => "$k",
        }
    }
}

/// A scalar: an integer, a half, a string or a boolean.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lit {
    /// `x % 4`, except: 127 is `i64::MAX`, -128 `i64::MIN`, 126 is 2^53 + 1 and 125 is
    /// 2^53 (equal as `f64`).
    Int(i8),
    /// `(x % 8) / 2`, so 1.0 equals the integer 1; -128 is -0.0, 127 is 1/11 and 126
    /// is 0.1 (floats JSON text holds only approximately).
    Float(i8),
    /// One of a few strings, "1" among them (not the number 1).
    Str(u8),
    Bool(bool),
}

const STRINGS: [&str; 5] = ["", "x", "y", "1", "é"];

impl Lit {
    pub(crate) fn json(self) -> Value {
        match self {
            Lit::Int(127) => json!(i64::MAX),
            Lit::Int(-128) => json!(i64::MIN),
            Lit::Int(126) => json!((1i64 << 53) + 1),
            Lit::Int(125) => json!(1i64 << 53),
            Lit::Int(x) => json!(x % 4),
            Lit::Float(-128) => json!(-0.0),
            Lit::Float(127) => json!(1.0 / 11.0),
            Lit::Float(126) => json!(0.1),
            Lit::Float(x) => json!(f64::from(x % 8) / 2.0),
            Lit::Str(i) => json!(STRINGS[usize::from(i) % STRINGS.len()]),
            Lit::Bool(b) => json!(b),
        }
    }
}

/// A metadata value.
#[derive(Arbitrary, Debug, Clone, PartialEq, Eq)]
pub(crate) enum Val {
    Null,
    Lit(Lit),
    List(Vec<Lit>),
    /// A value no record may carry.
    Bad(Bad),
}

/// Values a write refuses.
#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bad {
    Object,
    NullInList,
    ListInList,
    /// `u64::MAX`: outside `i64`.
    Big,
}

impl Val {
    fn json(&self) -> Value {
        match self {
            Val::Null => Value::Null,
            Val::Lit(l) => l.json(),
            Val::List(items) => items.iter().map(|l| l.json()).collect(),
            Val::Bad(Bad::Object) => json!({"x": 1}),
            Val::Bad(Bad::NullInList) => json!(["x", null]),
            Val::Bad(Bad::ListInList) => json!([1, [2]]),
            Val::Bad(Bad::Big) => json!(u64::MAX),
        }
    }
}

/// A payload: metadata as (key, value) pairs (a later pair of the same key replaces
/// the earlier one's value), and one of a few documents.
#[derive(Arbitrary, Debug, Clone, PartialEq, Eq)]
pub(crate) struct PayloadIn {
    pub(crate) meta: Option<MetaIn>,
    pub(crate) doc: Option<u8>,
}

/// Metadata as (key, value) pairs.
#[derive(Arbitrary, Debug, Clone, PartialEq, Eq)]
pub(crate) struct MetaIn(pub(crate) Vec<(Key, Val)>);

const DOCUMENTS: [&str; 4] = ["", "a document", "é文 ∑", "x"];

impl MetaIn {
    pub(crate) fn metadata(&self) -> Metadata {
        let mut m = Map::new();
        for (k, v) in &self.0 {
            m.insert(k.name().to_owned(), v.json());
        }
        m
    }
}

pub(crate) fn document(i: u8) -> String {
    DOCUMENTS[usize::from(i) % DOCUMENTS.len()].to_owned()
}

impl PayloadIn {
    pub(crate) fn payload(&self) -> Payload {
        Payload {
            metadata: self.meta.as_ref().map(MetaIn::metadata),
            document: self.doc.map(document),
        }
    }
}

/// Whether a write accepts `meta`, by the rules [`Metadata`] documents: no key starting
/// with `$`; values null, strings, integers within `i64`, finite numbers, booleans, or
/// lists of strings, numbers and booleans.
pub(crate) fn valid_metadata(meta: &Metadata) -> bool {
    let scalar = |v: &Value| match v {
        Value::String(_) | Value::Bool(_) => true,
        Value::Number(n) => n.as_i64().is_some() || (n.is_f64() && n.as_f64().is_some()),
        _ => false,
    };
    meta.iter().all(|(k, v)| {
        !k.starts_with('$')
            && match v {
                Value::Null => true,
                Value::Array(items) => items.iter().all(scalar),
                other => scalar(other),
            }
    })
}

impl Encode for Key {
    fn encode(&self, out: &mut Vec<u8>) {
        variant(out, *self as usize, 5);
    }
}

impl Encode for Lit {
    fn encode(&self, out: &mut Vec<u8>) {
        match *self {
            Lit::Int(x) => {
                variant(out, 0, 4);
                x.encode(out);
            }
            Lit::Float(x) => {
                variant(out, 1, 4);
                x.encode(out);
            }
            Lit::Str(x) => {
                variant(out, 2, 4);
                x.encode(out);
            }
            Lit::Bool(x) => {
                variant(out, 3, 4);
                x.encode(out);
            }
        };
    }
}

impl Encode for Bad {
    fn encode(&self, out: &mut Vec<u8>) {
        variant(out, *self as usize, 4);
    }
}

impl Encode for Val {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Val::Null => variant(out, 0, 4),
            Val::Lit(l) => {
                variant(out, 1, 4);
                l.encode(out);
            }
            Val::List(items) => {
                variant(out, 2, 4);
                items.encode(out);
            }
            Val::Bad(b) => {
                variant(out, 3, 4);
                b.encode(out);
            }
        }
    }
}

impl Encode for MetaIn {
    fn encode(&self, out: &mut Vec<u8>) {
        self.0.encode(out);
    }
}

impl Encode for PayloadIn {
    fn encode(&self, out: &mut Vec<u8>) {
        self.meta.encode(out);
        self.doc.encode(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::decodes_back;

    #[test]
    fn every_input_encodes_to_bytes_that_decode_to_it() {
        let lits = [Lit::Int(3), Lit::Float(-128), Lit::Str(4), Lit::Bool(true)];
        let keys = [Key::A, Key::B, Key::N, Key::Tags, Key::Dollar];
        let vals = [
            Val::Null,
            Val::Lit(Lit::Float(3)),
            Val::List(lits.to_vec()),
            Val::Bad(Bad::Object),
            Val::Bad(Bad::NullInList),
            Val::Bad(Bad::ListInList),
            Val::Bad(Bad::Big),
        ];
        for l in lits {
            decodes_back(&l);
        }
        for v in &vals {
            decodes_back(v);
        }
        let meta = MetaIn(keys.iter().copied().zip(vals.iter().cloned()).collect());
        decodes_back(&PayloadIn {
            meta: Some(meta),
            doc: Some(2),
        });
    }
}
