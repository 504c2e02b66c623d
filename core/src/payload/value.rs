//! Metadata values: which JSON values a record may carry, and how scalars compare.
//!
//! A record's metadata is a JSON object whose values are strings, integers (within
//! `i64`), finite floats, booleans, null, or flat lists of the non-null scalars. The
//! comparison rules live on [`Scalar`] so the filter evaluator and the equality indexes
//! built later ([`ScalarKey`]) agree on what "equal" means.

use serde_json::Value;

use crate::error::{Error, Result};

/// A record's metadata: a JSON object, in the order its keys were given.
///
/// Each value must be a string, an integer that fits `i64`, a finite float, a boolean,
/// null, or a list whose elements are strings, numbers and booleans (no null, no nested
/// list or object). Keys may be any string except one starting with `$`, which marks
/// operators in a [`Where`](crate::Where) filter.
///
/// ```
/// use fletchdb::Metadata;
///
/// let meta: Metadata = serde_json::from_str(r#"{"genre": "jazz", "year": 1959, "tags": ["modal"]}"#)?;
/// assert_eq!(meta["year"], 1959);
/// # Ok::<(), serde_json::Error>(())
/// ```
pub type Metadata = serde_json::Map<String, Value>;

/// Checks that `meta` holds only values a record may carry (see [`Metadata`]).
///
/// # Errors
///
/// [`Error::InvalidArgument`] naming the first offending key and what is wrong with it:
/// a key starting with `$`, a nested object, an integer outside `i64`, a non-finite
/// float, or a list holding null, a list or an object.
pub(crate) fn validate_metadata(meta: &Metadata) -> Result<()> {
    for (key, value) in meta {
        if key.starts_with('$') {
            return Err(Error::InvalidArgument(format!(
                "metadata key {key:?}: a key may not start with '$', which marks operators in filters"
            )));
        }
        match value {
            Value::Null => {}
            Value::Array(items) => {
                for item in items {
                    match item {
                        Value::Null | Value::Array(_) | Value::Object(_) => {
                            return Err(Error::InvalidArgument(format!(
                                "metadata key {key:?}: a list may hold only strings, numbers and booleans, not {}",
                                kind(item)
                            )));
                        }
                        _ => check_scalar(key, item)?,
                    }
                }
            }
            Value::Object(_) => {
                return Err(Error::InvalidArgument(format!(
                    "metadata key {key:?}: a value must be a string, number, boolean, null or list, not an object"
                )));
            }
            _ => check_scalar(key, value)?,
        }
    }
    Ok(())
}

/// Checks one string, number or boolean: integers must fit `i64`, floats be finite.
fn check_scalar(key: &str, value: &Value) -> Result<()> {
    if let Value::Number(n) = value {
        if n.is_u64() && n.as_i64().is_none() {
            return Err(Error::InvalidArgument(format!(
                "metadata key {key:?}: the integer {n} does not fit a signed 64-bit integer"
            )));
        }
        if n.as_f64().is_none_or(|f| !f.is_finite()) {
            return Err(Error::InvalidArgument(format!(
                "metadata key {key:?}: the number {n} is not finite"
            )));
        }
    }
    Ok(())
}

/// What kind of JSON value `v` is, with its article, for error messages.
pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// One metadata value that filters compare: a string, integer, float or boolean.
///
/// Equality follows JSON's idea of a number rather than Rust's types: an `Int` and a
/// `Float` are equal when they are the same number, a `Str` equals only a `Str`, and a
/// `Bool` only a `Bool` (`true` is not `1`). Numbers compare as `f64`, so integers
/// beyond 2^53 compare as their nearest `f64` (2^53 + 1 equals 2^53).
///
/// ```
/// use fletchdb::Scalar;
///
/// assert_eq!(Scalar::Int(5), Scalar::Float(5.0));
/// assert_ne!(Scalar::Bool(true), Scalar::Int(1));
/// assert_ne!(Scalar::Str("5".into()), Scalar::Int(5));
/// assert_eq!(Scalar::from_json(&serde_json::json!(2.5)), Some(Scalar::Float(2.5)));
/// assert_eq!(Scalar::from_json(&serde_json::json!(null)), None);
/// ```
#[derive(Debug, Clone)]
pub enum Scalar {
    /// A string.
    Str(String),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A boolean.
    Bool(bool),
}

impl Scalar {
    /// The scalar a JSON value holds: `None` for null, a list, an object, or an integer
    /// outside `i64`.
    ///
    /// ```
    /// use fletchdb::Scalar;
    /// use serde_json::json;
    ///
    /// assert_eq!(Scalar::from_json(&json!("a")), Some(Scalar::Str("a".into())));
    /// assert_eq!(Scalar::from_json(&json!(7)), Some(Scalar::Int(7)));
    /// assert_eq!(Scalar::from_json(&json!(u64::MAX)), None);
    /// assert_eq!(Scalar::from_json(&json!([1])), None);
    /// ```
    pub fn from_json(v: &Value) -> Option<Scalar> {
        match v {
            Value::String(s) => Some(Scalar::Str(s.clone())),
            Value::Bool(b) => Some(Scalar::Bool(*b)),
            Value::Number(n) => {
                if let Some(i) = n.as_i64() {
                    Some(Scalar::Int(i))
                } else if n.is_u64() {
                    None
                } else {
                    n.as_f64().map(Scalar::Float)
                }
            }
            Value::Null | Value::Array(_) | Value::Object(_) => None,
        }
    }

    /// The scalar as JSON (a non-finite float, which JSON cannot hold, becomes null).
    pub(crate) fn to_json(&self) -> Value {
        match self {
            Scalar::Str(s) => Value::String(s.clone()),
            Scalar::Int(i) => Value::from(*i),
            Scalar::Float(f) => Value::from(*f),
            Scalar::Bool(b) => Value::Bool(*b),
        }
    }

    /// The number this scalar holds, as `f64`; `None` for a string or boolean.
    ///
    /// ```
    /// use fletchdb::Scalar;
    ///
    /// assert_eq!(Scalar::Int(3).as_f64(), Some(3.0));
    /// assert_eq!(Scalar::Bool(true).as_f64(), None);
    /// ```
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Scalar::Int(i) => Some(*i as f64),
            Scalar::Float(f) => Some(*f),
            Scalar::Str(_) | Scalar::Bool(_) => None,
        }
    }

    /// The key of this scalar in an equality index: equal scalars have equal keys.
    pub(crate) fn key(&self) -> ScalarKey {
        match self {
            Scalar::Str(s) => ScalarKey::Str(s.clone()),
            Scalar::Bool(b) => ScalarKey::Bool(*b),
            Scalar::Int(_) | Scalar::Float(_) => {
                let f = self.as_f64().unwrap_or(f64::NAN);
                // -0.0 == 0.0, so both get 0.0's bits; every NaN gets one bit pattern.
                let canonical = if f == 0.0 {
                    0.0
                } else if f.is_nan() {
                    f64::NAN
                } else {
                    f
                };
                ScalarKey::Num(canonical.to_bits())
            }
        }
    }
}

impl PartialEq for Scalar {
    fn eq(&self, other: &Scalar) -> bool {
        match (self, other) {
            (Scalar::Str(a), Scalar::Str(b)) => a == b,
            (Scalar::Bool(a), Scalar::Bool(b)) => a == b,
            _ => match (self.as_f64(), other.as_f64()) {
                (Some(a), Some(b)) => a == b,
                _ => false,
            },
        }
    }
}

/// A hashable stand-in for a [`Scalar`], the key of equality indexes: `Int(5)` and
/// `Float(5.0)` share a key, as they are equal.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum ScalarKey {
    /// A string.
    Str(String),
    /// A number: the bits of its `f64`, with -0.0 as 0.0.
    Num(u64),
    /// A boolean.
    Bool(bool),
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn meta(v: Value) -> Metadata {
        match v {
            Value::Object(m) => m,
            _ => panic!("not an object"),
        }
    }

    fn invalid(v: Value) -> String {
        match validate_metadata(&meta(v)) {
            Err(Error::InvalidArgument(msg)) => msg,
            other => panic!("expected InvalidArgument, got {other:?}"),
        }
    }

    #[test]
    fn accepts_every_allowed_value() {
        let m = meta(json!({
            "s": "x", "i": -3, "big": i64::MAX, "small": i64::MIN, "f": 2.5, "b": false,
            "n": null, "list": ["a", 1, 2.5, true], "empty": [], "": "empty key is fine",
        }));
        validate_metadata(&m).unwrap();
    }

    #[test]
    fn rejects_a_nested_object() {
        let msg = invalid(json!({"ok": 1, "doc": {"a": 1}}));
        assert!(
            msg.contains(r#""doc""#) && msg.contains("not an object"),
            "{msg}"
        );
    }

    #[test]
    fn rejects_bad_list_elements() {
        for (elem, what) in [
            (json!(null), "not null"),
            (json!([1]), "not a list"),
            (json!({"a": 1}), "not an object"),
        ] {
            let msg = invalid(json!({"tags": ["a", elem]}));
            assert!(msg.contains(r#""tags""#) && msg.contains(what), "{msg}");
            assert!(msg.contains("strings, numbers and booleans"), "{msg}");
        }
        let msg = invalid(json!({"tags": [u64::MAX]}));
        assert!(msg.contains(r#""tags""#) && msg.contains("64-bit"), "{msg}");
    }

    #[test]
    fn rejects_integers_outside_i64() {
        let msg = invalid(json!({"n": i64::MAX as u64 + 1}));
        assert!(
            msg.contains(r#""n""#) && msg.contains("9223372036854775808"),
            "{msg}"
        );
    }

    #[test]
    fn rejects_dollar_keys() {
        let msg = invalid(json!({"$eq": 1}));
        assert!(msg.contains(r#""$eq""#) && msg.contains("'$'"), "{msg}");
    }

    #[test]
    fn from_json_maps_each_kind() {
        assert_eq!(
            Scalar::from_json(&json!("s")),
            Some(Scalar::Str("s".into()))
        );
        assert_eq!(Scalar::from_json(&json!(true)), Some(Scalar::Bool(true)));
        assert!(matches!(
            Scalar::from_json(&json!(i64::MIN)),
            Some(Scalar::Int(i64::MIN))
        ));
        assert!(matches!(Scalar::from_json(&json!(5.0)), Some(Scalar::Float(f)) if f == 5.0));
        for v in [json!(null), json!([1]), json!({}), json!(u64::MAX)] {
            assert_eq!(Scalar::from_json(&v), None, "{v}");
        }
    }

    #[test]
    fn equality_rules() {
        use Scalar::*;
        assert_eq!(Int(5), Float(5.0));
        assert_eq!(Float(5.0), Int(5));
        assert_eq!(Float(0.0), Float(-0.0));
        assert_ne!(Int(5), Float(5.5));
        assert_ne!(Bool(true), Int(1));
        assert_ne!(Bool(false), Float(0.0));
        assert_ne!(Str("1".into()), Int(1));
        assert_ne!(Str("true".into()), Bool(true));
        assert_eq!(Str("a".into()), Str("a".into()));
        assert_ne!(Float(f64::NAN), Float(f64::NAN));
        // Beyond 2^53 integers compare as their nearest f64.
        assert_eq!(Int((1 << 53) + 1), Int(1 << 53));
    }

    #[test]
    fn keys_agree_with_equality() {
        use Scalar::*;
        let values = [
            Int(5),
            Float(5.0),
            Float(5.5),
            Int(0),
            Float(0.0),
            Float(-0.0),
            Int(-1),
            Int((1 << 53) + 1),
            Int(1 << 53),
            Str("5".into()),
            Str("".into()),
            Bool(true),
            Bool(false),
            Int(1),
        ];
        for a in &values {
            for b in &values {
                assert_eq!(a == b, a.key() == b.key(), "{a:?} vs {b:?}");
            }
        }
    }

    #[test]
    fn as_f64_is_for_numbers_only() {
        assert_eq!(Scalar::Int(-2).as_f64(), Some(-2.0));
        assert_eq!(Scalar::Float(0.5).as_f64(), Some(0.5));
        assert_eq!(Scalar::Str("1".into()).as_f64(), None);
        assert_eq!(Scalar::Bool(true).as_f64(), None);
    }
}
