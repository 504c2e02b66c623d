//! `where_json`: bytes parsed as JSON, then as a `where` filter ([`Where::from_json`]).
//!
//! The input is JSON text; bytes that are not JSON end the run (seeds are filters).
//!
//! Checked: `from_json` never panics and refuses with [`Error::InvalidArgument`]; an
//! accepted filter prints ([`Where::to_json`], and `Display` as text) to JSON that
//! parses back to an equal `Where`, and [`Where::matches`] agrees, on a few fixed
//! records, with an evaluator that reads the JSON filter directly by the grammar's
//! rules ([`eval`], written here without the library's code).

use fletchdb::{Error, Metadata, Where};
use serde_json::{json, Value};

/// The body of the `where_json` fuzz target; see the module documentation.
pub fn where_json(data: &[u8]) {
    let Ok(json) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let filter = match Where::from_json(&json) {
        Ok(f) => f,
        Err(e) => {
            assert!(
                matches!(e, Error::InvalidArgument(_)),
                "{json} refused with {e:?}"
            );
            return;
        }
    };
    let back = Where::from_json(&filter.to_json())
        .unwrap_or_else(|e| panic!("{json} printed as {filter}, which is refused: {e}"));
    assert_eq!(back, filter, "{json}: to_json reads back otherwise");
    let text: Value = serde_json::from_str(&filter.to_string()).expect("Display is JSON");
    let back = Where::from_json(&text).expect("Display's JSON parses");
    assert_eq!(back, filter, "{json}: Display reads back otherwise");
    for meta in records() {
        assert_eq!(
            filter.matches(&meta),
            eval(&json, &meta),
            "{json} on {meta:?}"
        );
    }
}

/// Records to evaluate filters on: each key in several kinds of value, missing, null.
fn records() -> Vec<Metadata> {
    [
        json!({}),
        json!({"a": 1, "b": "x", "tags": ["x", 1, true], "n": null}),
        json!({"a": 1.0, "b": true, "tags": [], "n": 0.5}),
        json!({"a": "1", "b": false, "tags": "x", "n": -3}),
        json!({"a": [1, "x"], "b": 0, "tags": [2.5, "y"], "n": 9_007_199_254_740_993_i64}),
        json!({"a": -0.0, "b": "", "tags": [false], "n": i64::MIN}),
    ]
    .into_iter()
    .map(|v| match v {
        Value::Object(m) => m,
        _ => unreachable!("records are objects"),
    })
    .collect()
}

/// Evaluates a filter `from_json` accepted, reading its JSON directly: every entry of a
/// dict must hold; `$and`/`$or` take lists of dicts; a key maps to a bare value (`$eq`)
/// or an operator dict whose every operator must hold.
pub(crate) fn eval(w: &Value, meta: &Metadata) -> bool {
    let Value::Object(dict) = w else {
        unreachable!("an accepted filter is an object")
    };
    let list = |v: &Value| v.as_array().cloned().unwrap_or_default();
    dict.iter().all(|(k, v)| match k.as_str() {
        "$and" => list(v).iter().all(|w| eval(w, meta)),
        "$or" => list(v).iter().any(|w| eval(w, meta)),
        key => match v {
            Value::Object(ops) => ops.iter().all(|(op, arg)| condition(meta, key, op, arg)),
            bare => condition(meta, key, "$eq", bare),
        },
    })
}

/// One operator on one key.
fn condition(meta: &Metadata, key: &str, op: &str, arg: &Value) -> bool {
    let Some(v) = meta.get(key).filter(|v| !v.is_null()) else {
        return false;
    };
    let scalar = !matches!(v, Value::Array(_) | Value::Object(_));
    let same = |a: &Value, b: &Value| match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        _ => false,
    };
    let range = |f: fn(f64, f64) -> bool| match (v, arg) {
        (Value::Number(n), Value::Number(x)) => match (n.as_f64(), x.as_f64()) {
            (Some(n), Some(x)) => f(n, x),
            _ => false,
        },
        _ => false,
    };
    let list = || arg.as_array().into_iter().flatten();
    match op {
        "$eq" => scalar && same(v, arg),
        "$ne" => scalar && !same(v, arg),
        "$gt" => range(|n, x| n > x),
        "$gte" => range(|n, x| n >= x),
        "$lt" => range(|n, x| n < x),
        "$lte" => range(|n, x| n <= x),
        "$in" => scalar && list().any(|x| same(v, x)),
        "$nin" => scalar && !list().any(|x| same(v, x)),
        "$contains" => v.as_array().is_some_and(|l| l.iter().any(|x| same(x, arg))),
        other => unreachable!("{other} in an accepted filter"),
    }
}
