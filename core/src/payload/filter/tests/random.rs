//! Random records against random filters: [`Where::matches`] (after parsing) agrees with
//! a straightforward evaluator that reads the filter's JSON directly.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Map, Value};

use super::*;

const KEYS: [&str; 3] = ["a", "b", "c"];
const OPS: [&str; 9] = [
    "$eq",
    "$ne",
    "$gt",
    "$gte",
    "$lt",
    "$lte",
    "$in",
    "$nin",
    "$contains",
];

/// A string, number or boolean from a small pool, so that values often collide.
fn scalar(rng: &mut StdRng) -> Value {
    match rng.random_range(0..4) {
        0 => json!(["a", "b", "1", ""][rng.random_range(0..4)]),
        1 => json!(rng.random_range(-2i64..=2)),
        2 => json!([-1.5, 0.0, -0.0, 0.5, 1.0, 2.0][rng.random_range(0..6)]),
        _ => json!(rng.random_bool(0.5)),
    }
}

fn number(rng: &mut StdRng) -> Value {
    if rng.random_bool(0.5) {
        json!(rng.random_range(-2i64..=2))
    } else {
        json!([-1.5, 0.0, -0.0, 0.5, 1.0][rng.random_range(0..5)])
    }
}

fn list(rng: &mut StdRng, min: usize) -> Value {
    let n = rng.random_range(min..4);
    Value::Array((0..n).map(|_| scalar(rng)).collect())
}

/// A record: each key missing, null, a scalar or a list.
fn record(rng: &mut StdRng) -> Metadata {
    let mut m = Map::new();
    for key in KEYS {
        let value = match rng.random_range(0..8) {
            0 => continue,
            1 => Value::Null,
            2 | 3 => list(rng, 0),
            _ => scalar(rng),
        };
        m.insert(key.into(), value);
    }
    m
}

/// One key's condition: a bare value or a dict of one or two operators.
fn condition(rng: &mut StdRng) -> Value {
    if rng.random_bool(0.25) {
        return scalar(rng);
    }
    let mut ops = Map::new();
    for _ in 0..rng.random_range(1..=2) {
        let op = OPS[rng.random_range(0..OPS.len())];
        let arg = match op {
            "$gt" | "$gte" | "$lt" | "$lte" => number(rng),
            "$in" | "$nin" => list(rng, 1),
            _ => scalar(rng),
        };
        ops.insert(op.into(), arg);
    }
    Value::Object(ops)
}

/// A filter dict: some keys' conditions, maybe an `$and` or `$or`, at most `depth` deep.
fn filter(rng: &mut StdRng, depth: u32) -> Value {
    let mut dict = Map::new();
    for _ in 0..rng.random_range(0..=2) {
        let key = KEYS[rng.random_range(0..KEYS.len())];
        dict.insert(key.into(), condition(rng));
    }
    if depth > 0 && (dict.is_empty() || rng.random_bool(0.3)) {
        let op = if rng.random_bool(0.3) { "$and" } else { "$or" };
        let n = rng.random_range(1..=3);
        let children = (0..n).map(|_| filter(rng, depth - 1)).collect();
        dict.insert(op.into(), Value::Array(children));
    }
    if dict.is_empty() {
        let key = KEYS[rng.random_range(0..KEYS.len())];
        dict.insert(key.into(), condition(rng));
    }
    Value::Object(dict)
}

/// Whether two JSON scalars are equal: numbers by value, otherwise same type and value.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::String(x), Value::String(y)) => x == y,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        _ => false,
    }
}

/// The oracle: evaluates the filter JSON against a record as the grammar reads.
fn oracle(filter: &Value, m: &Metadata) -> bool {
    filter
        .as_object()
        .unwrap()
        .iter()
        .all(|(key, arg)| match key.as_str() {
            "$and" => arg.as_array().unwrap().iter().all(|f| oracle(f, m)),
            "$or" => arg.as_array().unwrap().iter().any(|f| oracle(f, m)),
            _ => match arg {
                Value::Object(ops) => ops.iter().all(|(op, a)| test(m.get(key), op, a)),
                v => test(m.get(key), "$eq", v),
            },
        })
}

/// Whether a field's value (if any) passes `op a`.
fn test(field: Option<&Value>, op: &str, a: &Value) -> bool {
    let v = match field {
        None | Some(Value::Null) => return false,
        Some(v) => v,
    };
    if op == "$contains" {
        return match v {
            Value::Array(items) => items.iter().any(|x| same(x, a)),
            _ => false,
        };
    }
    if v.is_array() {
        return false;
    }
    let x = if v.is_number() { v.as_f64() } else { None };
    let bound = a.as_f64().unwrap_or(f64::NAN);
    let any = || a.as_array().unwrap().iter().any(|y| same(v, y));
    match op {
        "$eq" => same(v, a),
        "$ne" => !same(v, a),
        "$gt" => x.is_some_and(|x| x > bound),
        "$gte" => x.is_some_and(|x| x >= bound),
        "$lt" => x.is_some_and(|x| x < bound),
        "$lte" => x.is_some_and(|x| x <= bound),
        "$in" => any(),
        "$nin" => !any(),
        _ => unreachable!("{op}"),
    }
}

#[test]
fn matches_agrees_with_a_direct_evaluation() {
    let mut rng = StdRng::seed_from_u64(0x5eed_f17e);
    let records: Vec<Metadata> = (0..40).map(|_| record(&mut rng)).collect();
    let (mut yes, mut no) = (0, 0);
    for _ in 0..3000 {
        let json = filter(&mut rng, 3);
        let parsed = Where::from_json(&json).unwrap_or_else(|e| panic!("{json}: {e}"));
        assert_eq!(
            Where::from_json(&parsed.to_json()).unwrap(),
            parsed,
            "{json} round trip"
        );
        for m in &records {
            let want = oracle(&json, m);
            assert_eq!(parsed.matches(m), want, "filter {json} on {m:?}");
            if want {
                yes += 1;
            } else {
                no += 1;
            }
        }
    }
    // Both outcomes are common, so the comparison tests something.
    assert!(yes > 3_000 && no > 3_000, "{yes} matches, {no} misses");
}
