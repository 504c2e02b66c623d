//! The `where` filter: Chroma's metadata filter grammar, parsed from JSON into [`Where`]
//! and evaluated against one record's [`Metadata`].
//!
//! The grammar: `{"key": value}` is short for `{"key": {"$eq": value}}`; an operator dict
//! `{"key": {"$op": arg}}` takes `$eq $ne $gt $gte $lt $lte $in $nin $contains`;
//! `{"$and": [..]}` and `{"$or": [..]}` nest freely. Several keys in one dict, or several
//! operators in one operator dict, are an implicit `$and`.

use std::fmt;

use serde_json::{json, Value};

use super::value::{kind, Metadata, Scalar};
use crate::error::{Error, Result};

/// A metadata filter: which records a search or query may return.
///
/// Build one from JSON with [`Where::from_json`], test a record with
/// [`Where::matches`]. The grammar is Chroma's: `{"key": value}` is short for
/// `{"key": {"$eq": value}}`; an operator dict `{"key": {"$op": arg}}` takes `$eq`, `$ne`,
/// `$gt`, `$gte`, `$lt`, `$lte`, `$in`, `$nin` and `$contains`; `{"$and": [..]}` and
/// `{"$or": [..]}` nest freely. Several keys in one dict, or several operators in one
/// operator dict, are an implicit `$and`.
///
/// A condition on a key matches only records that have the key with
/// a non-null value, so `$ne` and `$nin` skip records without it. Values compare by the
/// rules of [`Scalar`]: `5` equals `5.0`, `true` is not `1`, `"5"` is not `5`.
///
/// ```
/// use fletchdb::{Metadata, Scalar, Where};
/// use serde_json::json;
///
/// let filter = Where::from_json(&json!({"genre": "jazz", "year": {"$lt": 1960}}))?;
/// assert_eq!(
///     filter,
///     Where::And(vec![
///         Where::Eq("genre".into(), Scalar::Str("jazz".into())),
///         Where::Lt("year".into(), 1960.0),
///     ])
/// );
/// # Ok::<(), fletchdb::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
pub enum Where {
    /// `{"key": {"$eq": v}}`: the key's value equals `v`.
    Eq(String, Scalar),
    /// `{"key": {"$ne": v}}`: the key holds a value (not a list) other than `v`.
    Ne(String, Scalar),
    /// `{"key": {"$gt": x}}`: the key holds a number greater than `x`.
    Gt(String, f64),
    /// `{"key": {"$gte": x}}`: the key holds a number greater than or equal to `x`.
    Gte(String, f64),
    /// `{"key": {"$lt": x}}`: the key holds a number less than `x`.
    Lt(String, f64),
    /// `{"key": {"$lte": x}}`: the key holds a number less than or equal to `x`.
    Lte(String, f64),
    /// `{"key": {"$in": [..]}}`: the key's value equals one of these.
    In(String, Vec<Scalar>),
    /// `{"key": {"$nin": [..]}}`: the key holds a value (not a list) equal to none of
    /// these.
    Nin(String, Vec<Scalar>),
    /// `{"key": {"$contains": v}}`: the key holds a list with an element equal to `v`.
    Contains(String, Scalar),
    /// `{"$and": [..]}`: every filter matches (an empty list matches every record).
    And(Vec<Where>),
    /// `{"$or": [..]}`: at least one filter matches (an empty list matches none).
    Or(Vec<Where>),
}

/// The operators allowed inside a key's operator dict.
const KEY_OPERATORS: &str = "$eq, $ne, $gt, $gte, $lt, $lte, $in, $nin, $contains";

impl Where {
    /// Parses a filter written in Chroma's `where` grammar (see [`Where`]).
    ///
    /// ```
    /// use fletchdb::Where;
    /// use serde_json::json;
    ///
    /// let filter = Where::from_json(&json!({
    ///     "$or": [{"genre": {"$in": ["jazz", "blues"]}}, {"tags": {"$contains": "live"}}]
    /// }))?;
    /// assert!(matches!(filter, Where::Or(ref alts) if alts.len() == 2));
    ///
    /// let err = Where::from_json(&json!({"year": {"$regex": "19.."}})).unwrap_err();
    /// assert!(err.to_string().contains("$regex"));
    /// # Ok::<(), fletchdb::Error>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`], saying what is wrong and where (the path through
    /// `$and`/`$or`, the key and the operator): a filter or `$and`/`$or` element that is
    /// not a non-empty object; `$and`/`$or` without a non-empty list; an unknown
    /// operator; `$gt`, `$gte`, `$lt` or `$lte` without a finite number (a boolean is not
    /// a number); `$in` or `$nin` without a non-empty list of strings, numbers and
    /// booleans; `$eq`, `$ne`, `$contains` or a bare value that is null, a list or an
    /// object; an integer outside `i64`.
    pub fn from_json(v: &Value) -> Result<Where> {
        parse_dict(v, "where")
    }

    /// Whether a record with this metadata passes the filter.
    ///
    /// A condition on a key fails for a record without the key or with null there.
    /// `$eq`, `$ne`, `$gt`, `$gte`, `$lt`, `$lte`, `$in` and `$nin` look at scalar values
    /// only (a list fails them all, `$ne` and `$nin` included); `$gt` and its kin match
    /// numbers only (not booleans); `$contains` matches only a list with an equal
    /// element.
    ///
    /// ```
    /// use fletchdb::{Metadata, Where};
    /// use serde_json::json;
    ///
    /// let record: Metadata = serde_json::from_value(json!({
    ///     "genre": "jazz", "year": 1959, "tags": ["modal", "live"]
    /// }))?;
    /// let matches = |f| Where::from_json(&f).unwrap().matches(&record);
    ///
    /// assert!(matches(json!({"genre": "jazz", "year": {"$gte": 1950, "$lt": 1960.0}})));
    /// assert!(matches(json!({"tags": {"$contains": "live"}})));
    /// assert!(!matches(json!({"tags": {"$ne": "live"}}))); // a list fails $ne
    /// assert!(!matches(json!({"label": {"$ne": "Columbia"}}))); // so does a missing key
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    pub fn matches(&self, meta: &Metadata) -> bool {
        let field = |key: &String| meta.get(key).filter(|v| !v.is_null());
        let scalar = |key: &String| field(key).and_then(Scalar::from_json);
        let number = |key: &String| scalar(key).and_then(|s| s.as_f64());
        match self {
            Where::Eq(key, v) => scalar(key).is_some_and(|s| s == *v),
            Where::Ne(key, v) => scalar(key).is_some_and(|s| s != *v),
            Where::Gt(key, x) => number(key).is_some_and(|n| n > *x),
            Where::Gte(key, x) => number(key).is_some_and(|n| n >= *x),
            Where::Lt(key, x) => number(key).is_some_and(|n| n < *x),
            Where::Lte(key, x) => number(key).is_some_and(|n| n <= *x),
            Where::In(key, vs) => scalar(key).is_some_and(|s| vs.contains(&s)),
            Where::Nin(key, vs) => scalar(key).is_some_and(|s| !vs.contains(&s)),
            Where::Contains(key, v) => match field(key) {
                Some(Value::Array(items)) => items
                    .iter()
                    .any(|item| Scalar::from_json(item).is_some_and(|s| s == *v)),
                _ => false,
            },
            Where::And(all) => all.iter().all(|w| w.matches(meta)),
            Where::Or(any) => any.iter().any(|w| w.matches(meta)),
        }
    }

    /// The filter in the grammar's explicit form: every condition as
    /// `{"key": {"$op": arg}}`, every conjunction as `{"$and": [..]}`.
    ///
    /// [`Where::from_json`] reads it back to an equal `Where`. (A hand-built `Where` may
    /// hold what the grammar cannot: an empty `And`, `Or`, `In` or `Nin` prints as an
    /// empty list, which `from_json` refuses, and a non-finite number prints as null.)
    ///
    /// ```
    /// use fletchdb::Where;
    /// use serde_json::json;
    ///
    /// let filter = Where::from_json(&json!({"genre": "jazz"}))?;
    /// assert_eq!(filter.to_json(), json!({"genre": {"$eq": "jazz"}}));
    /// assert_eq!(Where::from_json(&filter.to_json())?, filter);
    /// # Ok::<(), fletchdb::Error>(())
    /// ```
    pub fn to_json(&self) -> Value {
        let cond = |key: &str, op: &str, arg: Value| json!({ key: { op: arg } });
        let list = |vs: &[Scalar]| Value::Array(vs.iter().map(Scalar::to_json).collect());
        match self {
            Where::Eq(key, v) => cond(key, "$eq", v.to_json()),
            Where::Ne(key, v) => cond(key, "$ne", v.to_json()),
            Where::Gt(key, x) => cond(key, "$gt", Value::from(*x)),
            Where::Gte(key, x) => cond(key, "$gte", Value::from(*x)),
            Where::Lt(key, x) => cond(key, "$lt", Value::from(*x)),
            Where::Lte(key, x) => cond(key, "$lte", Value::from(*x)),
            Where::In(key, vs) => cond(key, "$in", list(vs)),
            Where::Nin(key, vs) => cond(key, "$nin", list(vs)),
            Where::Contains(key, v) => cond(key, "$contains", v.to_json()),
            Where::And(all) => {
                json!({ "$and": all.iter().map(Where::to_json).collect::<Vec<_>>() })
            }
            Where::Or(any) => json!({ "$or": any.iter().map(Where::to_json).collect::<Vec<_>>() }),
        }
    }
}

/// Prints [`Where::to_json`] as compact JSON.
impl fmt::Display for Where {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.to_json())
    }
}

/// An [`Error::InvalidArgument`] at `path` in the filter.
fn bad(path: &str, what: String) -> Error {
    Error::InvalidArgument(format!("{path}: {what}"))
}

/// Several conditions as one: the one itself, or their `And`.
fn conjunction(clauses: Vec<Where>) -> Where {
    match <[Where; 1]>::try_from(clauses) {
        Ok([one]) => one,
        Err(all) => Where::And(all),
    }
}

/// A filter dict: `$and`, `$or` and metadata keys, all ANDed.
fn parse_dict(v: &Value, path: &str) -> Result<Where> {
    let Value::Object(dict) = v else {
        return Err(bad(
            path,
            format!("a filter must be an object, not {}", kind(v)),
        ));
    };
    if dict.is_empty() {
        return Err(bad(
            path,
            "an empty object is not a filter; leave the filter out to match every record".into(),
        ));
    }
    let mut clauses = Vec::with_capacity(dict.len());
    for (key, arg) in dict {
        let clause = match key.as_str() {
            "$and" => Where::And(parse_list(arg, &format!("{path}.$and"))?),
            "$or" => Where::Or(parse_list(arg, &format!("{path}.$or"))?),
            op if KEY_OPERATORS.split(", ").any(|k| k == op) => {
                return Err(bad(
                    path,
                    format!("operator {op:?} needs a key: write {{\"key\": {{{op:?}: value}}}}"),
                ))
            }
            op if op.starts_with('$') => {
                return Err(bad(
                    path,
                    format!("unknown operator {op:?}; expected $and, $or or a metadata key"),
                ))
            }
            _ => parse_key(key, arg, path)?,
        };
        clauses.push(clause);
    }
    Ok(conjunction(clauses))
}

/// The list of an `$and` or `$or`: a non-empty array of filter dicts.
fn parse_list(v: &Value, path: &str) -> Result<Vec<Where>> {
    let Value::Array(items) = v else {
        return Err(bad(
            path,
            format!("expected a non-empty list of filters, got {}", kind(v)),
        ));
    };
    if items.is_empty() {
        return Err(bad(
            path,
            "expected a non-empty list of filters, got []".into(),
        ));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| parse_dict(item, &format!("{path}[{i}]")))
        .collect()
}

/// The conditions on one metadata key: a bare value or an operator dict.
fn parse_key(key: &str, v: &Value, path: &str) -> Result<Where> {
    let Value::Object(ops) = v else {
        if v.is_null() || v.is_array() {
            let hint = if v.is_array() {
                " (to match any of several values use $in)"
            } else {
                ""
            };
            return Err(bad(
                path,
                format!(
                    "key {key:?}: expected a string, number, boolean or operator dict, got {}{hint}",
                    kind(v)
                ),
            ));
        }
        return Ok(Where::Eq(key.to_owned(), scalar_arg(v, path, key, "$eq")?));
    };
    if ops.is_empty() {
        return Err(bad(
            path,
            format!("key {key:?}: an operator dict needs at least one of {KEY_OPERATORS}"),
        ));
    }
    let clauses = ops
        .iter()
        .map(|(op, arg)| parse_op(key, op, arg, path))
        .collect::<Result<Vec<_>>>()?;
    Ok(conjunction(clauses))
}

/// One `"$op": arg` of `key`'s operator dict.
fn parse_op(key: &str, op: &str, arg: &Value, path: &str) -> Result<Where> {
    let k = key.to_owned();
    Ok(match op {
        "$eq" => Where::Eq(k, scalar_arg(arg, path, key, op)?),
        "$ne" => Where::Ne(k, scalar_arg(arg, path, key, op)?),
        "$contains" => Where::Contains(k, scalar_arg(arg, path, key, op)?),
        "$gt" => Where::Gt(k, number_arg(arg, path, key, op)?),
        "$gte" => Where::Gte(k, number_arg(arg, path, key, op)?),
        "$lt" => Where::Lt(k, number_arg(arg, path, key, op)?),
        "$lte" => Where::Lte(k, number_arg(arg, path, key, op)?),
        "$in" => Where::In(k, list_arg(arg, path, key, op)?),
        "$nin" => Where::Nin(k, list_arg(arg, path, key, op)?),
        _ if op.starts_with('$') => {
            return Err(bad(
                path,
                format!("key {key:?}: unknown operator {op:?}; expected one of {KEY_OPERATORS}"),
            ))
        }
        _ => {
            return Err(bad(
                path,
                format!(
                    "key {key:?}: {op:?} is not an operator; an operator dict holds only \
                     {KEY_OPERATORS} (metadata has no nested objects)"
                ),
            ))
        }
    })
}

/// The argument of `$eq`, `$ne` or `$contains`: a string, number or boolean.
fn scalar_arg(v: &Value, path: &str, key: &str, op: &str) -> Result<Scalar> {
    Scalar::from_json(v).ok_or_else(|| {
        bad(
            path,
            format!(
                "key {key:?}, operator {op:?}: expected a string, number or boolean, got {}",
                not_scalar(v)
            ),
        )
    })
}

/// What a value that is not a [`Scalar`] is, for error messages.
fn not_scalar(v: &Value) -> &'static str {
    if v.is_number() {
        "an integer outside the signed 64-bit range"
    } else {
        kind(v)
    }
}

/// The argument of `$gt`, `$gte`, `$lt` or `$lte`: a finite number.
fn number_arg(v: &Value, path: &str, key: &str, op: &str) -> Result<f64> {
    let what = match Scalar::from_json(v) {
        Some(s) => match s.as_f64() {
            Some(x) if x.is_finite() => return Ok(x),
            Some(_) => "a number that is not finite",
            None => kind(v),
        },
        None => not_scalar(v),
    };
    Err(bad(
        path,
        format!("key {key:?}, operator {op:?}: expected a number, got {what}"),
    ))
}

/// The argument of `$in` or `$nin`: a non-empty list of strings, numbers and booleans.
fn list_arg(v: &Value, path: &str, key: &str, op: &str) -> Result<Vec<Scalar>> {
    let Value::Array(items) = v else {
        return Err(bad(
            path,
            format!(
                "key {key:?}, operator {op:?}: expected a non-empty list, got {}",
                kind(v)
            ),
        ));
    };
    if items.is_empty() {
        return Err(bad(
            path,
            format!("key {key:?}, operator {op:?}: expected a non-empty list, got []"),
        ));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            Scalar::from_json(item).ok_or_else(|| {
                bad(
                    path,
                    format!(
                        "key {key:?}, operator {op:?}: element {i} must be a string, number or boolean, not {}",
                        not_scalar(item)
                    ),
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests;
