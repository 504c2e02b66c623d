//! Tests of the `where` grammar: parsing, its errors, evaluation and the JSON round trip.

use serde_json::{json, Value};

use super::*;

fn meta(v: Value) -> Metadata {
    match v {
        Value::Object(m) => m,
        _ => panic!("not an object: {v}"),
    }
}

fn parse(v: Value) -> Where {
    Where::from_json(&v).unwrap_or_else(|e| panic!("{v} should parse: {e}"))
}

/// The message of the `InvalidArgument` that parsing `v` must fail with.
fn parse_err(v: Value) -> String {
    match Where::from_json(&v) {
        Err(Error::InvalidArgument(msg)) => msg,
        other => panic!("{v}: expected InvalidArgument, got {other:?}"),
    }
}

/// Asserts that parsing `v` fails with a message holding every one of `parts`.
fn assert_err(v: Value, parts: &[&str]) {
    let msg = parse_err(v.clone());
    for part in parts {
        assert!(msg.contains(part), "{v}: {msg:?} lacks {part:?}");
    }
}

/// Whether the filter `f` matches the record `m`.
fn hit(f: Value, m: Value) -> bool {
    parse(f).matches(&meta(m))
}

fn s(v: &str) -> Scalar {
    Scalar::Str(v.into())
}

mod parsing {
    use super::*;

    #[test]
    fn a_bare_value_is_eq() {
        assert_eq!(parse(json!({"a": "x"})), Where::Eq("a".into(), s("x")));
        assert_eq!(
            parse(json!({"a": 3})),
            Where::Eq("a".into(), Scalar::Int(3))
        );
        assert_eq!(
            parse(json!({"a": true})),
            Where::Eq("a".into(), Scalar::Bool(true))
        );
        assert!(matches!(
            parse(json!({"a": 2.5})),
            Where::Eq(_, Scalar::Float(f)) if f == 2.5
        ));
    }

    #[test]
    fn every_operator() {
        let k = || "k".to_string();
        let cases = [
            (json!({"$eq": "x"}), Where::Eq(k(), s("x"))),
            (json!({"$ne": 1}), Where::Ne(k(), Scalar::Int(1))),
            (json!({"$gt": 1}), Where::Gt(k(), 1.0)),
            (json!({"$gte": 1.5}), Where::Gte(k(), 1.5)),
            (json!({"$lt": -2}), Where::Lt(k(), -2.0)),
            (json!({"$lte": 0}), Where::Lte(k(), 0.0)),
            (
                json!({"$in": ["a", 1, true]}),
                Where::In(k(), vec![s("a"), Scalar::Int(1), Scalar::Bool(true)]),
            ),
            (
                json!({"$nin": [2.5]}),
                Where::Nin(k(), vec![Scalar::Float(2.5)]),
            ),
            (json!({"$contains": "t"}), Where::Contains(k(), s("t"))),
        ];
        for (ops, want) in cases {
            assert_eq!(parse(json!({ "k": ops })), want);
        }
    }

    #[test]
    fn implicit_and_of_keys_and_of_operators() {
        assert_eq!(
            parse(json!({"a": 1, "b": {"$ne": "x"}})),
            Where::And(vec![
                Where::Eq("a".into(), Scalar::Int(1)),
                Where::Ne("b".into(), s("x")),
            ])
        );
        assert_eq!(
            parse(json!({"age": {"$gt": 1, "$lt": 5}})),
            Where::And(vec![
                Where::Gt("age".into(), 1.0),
                Where::Lt("age".into(), 5.0)
            ])
        );
    }

    #[test]
    fn explicit_and_or_nest_and_mix_with_keys() {
        let f = parse(json!({
            "$and": [{"a": 1}, {"$or": [{"b": "x"}, {"c": {"$gte": 2}}]}],
            "d": false,
        }));
        assert_eq!(
            f,
            Where::And(vec![
                Where::And(vec![
                    Where::Eq("a".into(), Scalar::Int(1)),
                    Where::Or(vec![
                        Where::Eq("b".into(), s("x")),
                        Where::Gte("c".into(), 2.0),
                    ]),
                ]),
                Where::Eq("d".into(), Scalar::Bool(false)),
            ])
        );
    }

    #[test]
    fn a_single_element_and_stays_an_and() {
        assert_eq!(
            parse(json!({"$or": [{"a": 1}]})),
            Where::Or(vec![Where::Eq("a".into(), Scalar::Int(1))])
        );
    }

    #[test]
    fn odd_but_valid_keys() {
        assert_eq!(parse(json!({"": 1})), Where::Eq("".into(), Scalar::Int(1)));
        assert_eq!(
            parse(json!({"a.b": 1})),
            Where::Eq("a.b".into(), Scalar::Int(1))
        );
    }
}

mod errors {
    use super::*;

    #[test]
    fn not_an_object_or_empty() {
        for v in [json!(null), json!(1), json!("a"), json!([{"a": 1}])] {
            assert_err(v, &["where:", "must be an object"]);
        }
        assert_err(json!({}), &["where:", "empty object"]);
        assert_err(
            json!({"$and": [{"a": 1}, {}]}),
            &["where.$and[1]", "empty object"],
        );
    }

    #[test]
    fn unknown_operators() {
        assert_err(
            json!({"a": {"$regex": "x"}}),
            &[r#"key "a""#, r#""$regex""#, "unknown operator", "$contains"],
        );
        assert_err(
            json!({"$not": {"a": 1}}),
            &[r#""$not""#, "unknown operator", "$and, $or"],
        );
        assert_err(json!({"$eq": 1}), &[r#""$eq""#, "needs a key"]);
        assert_err(
            json!({"a": {"b": 1}}),
            &[r#"key "a""#, r#""b" is not an operator"#],
        );
        assert_err(json!({"a": {}}), &[r#"key "a""#, "at least one of"]);
    }

    #[test]
    fn and_or_need_a_non_empty_list_of_objects() {
        for op in ["$and", "$or"] {
            assert_err(
                json!({ op: [] }),
                &[&format!("where.{op}"), "non-empty list", "[]"],
            );
            assert_err(
                json!({ op: {"a": 1} }),
                &[&format!("where.{op}"), "an object"],
            );
            assert_err(json!({ op: null }), &[&format!("where.{op}"), "null"]);
            assert_err(
                json!({ op: [{"a": 1}, "b"] }),
                &[&format!("where.{op}[1]"), "must be an object", "a string"],
            );
        }
        assert_err(
            json!({"$or": [{"$and": [{"a": {"$gt": "x"}}]}]}),
            &["where.$or[0].$and[0]", r#"key "a""#, r#""$gt""#],
        );
    }

    #[test]
    fn range_operators_need_a_number() {
        for op in ["$gt", "$gte", "$lt", "$lte"] {
            for (arg, what) in [
                (json!("5"), "a string"),
                (json!(true), "a boolean"),
                (json!(null), "null"),
                (json!([1]), "a list"),
                (json!({"x": 1}), "an object"),
                (json!(u64::MAX), "outside the signed 64-bit range"),
            ] {
                assert_err(
                    json!({"age": { op: arg }}),
                    &[
                        r#"key "age""#,
                        &format!("{op:?}"),
                        "expected a number",
                        what,
                    ],
                );
            }
        }
    }

    #[test]
    fn in_and_nin_need_a_non_empty_scalar_list() {
        for op in ["$in", "$nin"] {
            for (arg, what) in [
                (json!("a"), "a string"),
                (json!([]), "[]"),
                (json!(null), "null"),
                (json!({"a": 1}), "an object"),
            ] {
                assert_err(
                    json!({"g": { op: arg }}),
                    &[r#"key "g""#, &format!("{op:?}"), "non-empty list", what],
                );
            }
            for (elem, what) in [
                (json!(null), "null"),
                (json!([1]), "a list"),
                (json!({}), "an object"),
                (json!(u64::MAX), "64-bit"),
            ] {
                assert_err(
                    json!({"g": { op: ["ok", elem] }}),
                    &[r#"key "g""#, &format!("{op:?}"), "element 1", what],
                );
            }
        }
    }

    #[test]
    fn eq_ne_contains_need_a_scalar() {
        for op in ["$eq", "$ne", "$contains"] {
            for (arg, what) in [
                (json!(null), "null"),
                (json!(["a"]), "a list"),
                (json!({"a": 1}), "an object"),
                (json!(u64::MAX), "outside the signed 64-bit range"),
            ] {
                assert_err(
                    json!({"t": { op: arg }}),
                    &[r#"key "t""#, &format!("{op:?}"), what],
                );
            }
        }
        assert_err(json!({"t": null}), &[r#"key "t""#, "got null"]);
        assert_err(json!({"t": ["a", "b"]}), &[r#"key "t""#, "a list", "$in"]);
        assert_err(json!({"t": u64::MAX}), &[r#"key "t""#, "64-bit"]);
    }

    #[test]
    fn the_first_error_in_order_is_reported() {
        assert_err(
            json!({"a": {"$gt": 1, "$bad": 2}, "b": {"$worse": 3}}),
            &[r#"key "a""#, r#""$bad""#],
        );
    }
}

mod evaluation {
    use super::*;

    #[test]
    fn eq_and_ne() {
        let m = json!({"s": "x", "i": 5, "f": 2.5, "b": true});
        assert!(hit(json!({"s": "x"}), m.clone()));
        assert!(!hit(json!({"s": "y"}), m.clone()));
        assert!(hit(json!({"i": 5.0}), m.clone()));
        assert!(hit(json!({"f": {"$eq": 2.5}}), m.clone()));
        assert!(hit(json!({"b": true}), m.clone()));
        assert!(!hit(json!({"b": 1}), m.clone()));
        assert!(!hit(json!({"i": "5"}), m.clone()));
        assert!(hit(json!({"s": {"$ne": "y"}}), m.clone()));
        assert!(!hit(json!({"s": {"$ne": "x"}}), m.clone()));
        // Different types are never equal, so $ne holds.
        assert!(hit(json!({"s": {"$ne": 5}}), m.clone()));
        assert!(hit(json!({"b": {"$ne": 1}}), m.clone()));
        assert!(!hit(json!({"i": {"$ne": 5.0}}), m));
    }

    #[test]
    fn missing_keys_and_nulls_match_nothing() {
        for m in [json!({}), json!({"k": null})] {
            for f in [
                json!({"k": 1}),
                json!({"k": {"$ne": 1}}),
                json!({"k": {"$gt": 0}}),
                json!({"k": {"$lte": 0}}),
                json!({"k": {"$in": [1]}}),
                json!({"k": {"$nin": [1]}}),
                json!({"k": {"$contains": 1}}),
            ] {
                assert!(!hit(f.clone(), m.clone()), "{f} on {m}");
            }
        }
    }

    #[test]
    fn ranges_compare_numbers_only() {
        let m = json!({"i": 5, "f": 2.5, "b": true, "s": "9"});
        assert!(hit(json!({"i": {"$gt": 4.5}}), m.clone()));
        assert!(!hit(json!({"i": {"$gt": 5}}), m.clone()));
        assert!(hit(json!({"i": {"$gte": 5.0}}), m.clone()));
        assert!(hit(json!({"f": {"$lt": 3}}), m.clone()));
        assert!(!hit(json!({"f": {"$lt": 2.5}}), m.clone()));
        assert!(hit(json!({"f": {"$lte": 2.5}}), m.clone()));
        for op in ["$gt", "$gte", "$lt", "$lte"] {
            assert!(!hit(json!({"b": { op: 0 }}), m.clone()), "{op} on a bool");
            assert!(!hit(json!({"s": { op: 0 }}), m.clone()), "{op} on a string");
        }
        assert!(hit(json!({"i": {"$gt": 1, "$lt": 9}}), m.clone()));
        assert!(!hit(json!({"i": {"$gt": 1, "$lt": 5}}), m));
    }

    #[test]
    fn in_and_nin() {
        let m = json!({"g": "jazz", "n": 3, "b": false});
        assert!(hit(json!({"g": {"$in": ["rock", "jazz"]}}), m.clone()));
        assert!(!hit(json!({"g": {"$in": ["rock"]}}), m.clone()));
        assert!(hit(json!({"n": {"$in": [3.0]}}), m.clone()));
        assert!(!hit(json!({"b": {"$in": [0]}}), m.clone()));
        assert!(hit(json!({"g": {"$nin": ["rock"]}}), m.clone()));
        assert!(!hit(json!({"g": {"$nin": ["rock", "jazz"]}}), m.clone()));
        assert!(hit(json!({"b": {"$nin": [0, "false"]}}), m.clone()));
        assert!(!hit(json!({"n": {"$nin": [3.0]}}), m));
    }

    #[test]
    fn lists_fail_every_scalar_operator_and_pass_contains() {
        let m = json!({"t": ["a", 1, 2.5, true]});
        for f in [
            json!({"t": "a"}),
            json!({"t": {"$ne": "zzz"}}),
            json!({"t": {"$gt": 0}}),
            json!({"t": {"$gte": 0}}),
            json!({"t": {"$lt": 9}}),
            json!({"t": {"$lte": 9}}),
            json!({"t": {"$in": ["a"]}}),
            json!({"t": {"$nin": ["zzz"]}}),
        ] {
            assert!(!hit(f.clone(), m.clone()), "{f}");
        }
        assert!(hit(json!({"t": {"$contains": "a"}}), m.clone()));
        assert!(hit(json!({"t": {"$contains": 1.0}}), m.clone()));
        assert!(hit(json!({"t": {"$contains": 2.5}}), m.clone()));
        assert!(hit(json!({"t": {"$contains": true}}), m.clone()));
        assert!(!hit(json!({"t": {"$contains": "b"}}), m.clone()));
        assert!(!hit(json!({"t": {"$contains": false}}), m));
        assert!(!hit(
            json!({"t": {"$contains": 1}}),
            json!({"t": [true, "1"]})
        ));
        assert!(!hit(json!({"t": {"$contains": "a"}}), json!({"t": []})));
    }

    #[test]
    fn contains_needs_a_list() {
        assert!(!hit(json!({"s": {"$contains": "a"}}), json!({"s": "abc"})));
        assert!(!hit(json!({"s": {"$contains": 1}}), json!({"s": 1})));
    }

    #[test]
    fn and_or_nesting() {
        let m = json!({"a": 1, "b": "x", "c": 2.5});
        assert!(hit(json!({"a": 1, "b": "x"}), m.clone()));
        assert!(!hit(json!({"a": 1, "b": "y"}), m.clone()));
        assert!(hit(
            json!({"$and": [{"a": 1}, {"c": {"$gt": 2}}]}),
            m.clone()
        ));
        assert!(!hit(
            json!({"$and": [{"a": 1}, {"c": {"$gt": 3}}]}),
            m.clone()
        ));
        assert!(hit(json!({"$or": [{"a": 2}, {"b": "x"}]}), m.clone()));
        assert!(!hit(json!({"$or": [{"a": 2}, {"b": "y"}]}), m.clone()));
        assert!(hit(
            json!({"$or": [{"z": 1}, {"$and": [{"a": {"$in": [1, 2]}}, {"b": {"$ne": "y"}}]}]}),
            m.clone()
        ));
        assert!(!hit(
            json!({"$and": [{"$or": [{"a": 1}, {"z": 1}]}], "b": "no"}),
            m
        ));
    }

    #[test]
    fn hand_built_empty_and_or() {
        let m = meta(json!({"a": 1}));
        assert!(Where::And(vec![]).matches(&m));
        assert!(!Where::Or(vec![]).matches(&m));
        assert!(!Where::In("a".into(), vec![]).matches(&m));
        assert!(Where::Nin("a".into(), vec![]).matches(&m));
    }

    #[test]
    fn unvalidated_metadata_does_not_panic() {
        let m = json!({"o": {"a": 1}, "big": u64::MAX, "l": [null, [1], {"a": 1}]});
        assert!(!hit(json!({"o": {"$ne": 1}}), m.clone()));
        assert!(!hit(json!({"big": {"$gt": 0}}), m.clone()));
        assert!(!hit(json!({"l": {"$contains": 1}}), m));
    }
}

mod printing {
    use super::*;

    #[test]
    fn to_json_is_explicit() {
        let f = parse(json!({"a": 1, "b": {"$gt": 1, "$lt": 5}, "$or": [{"c": {"$in": ["x"]}}]}));
        assert_eq!(
            f.to_json(),
            json!({"$and": [
                {"a": {"$eq": 1}},
                {"$and": [{"b": {"$gt": 1.0}}, {"b": {"$lt": 5.0}}]},
                {"$or": [{"c": {"$in": ["x"]}}]},
            ]})
        );
        assert_eq!(
            f.to_string(),
            r#"{"$and":[{"a":{"$eq":1}},{"$and":[{"b":{"$gt":1.0}},{"b":{"$lt":5.0}}]},{"$or":[{"c":{"$in":["x"]}}]}]}"#
        );
    }

    #[test]
    fn every_form_round_trips() {
        for v in [
            json!({"a": "x"}),
            json!({"a": {"$ne": 2.5}}),
            json!({"a": {"$gte": -1}, "b": {"$lte": 1e300}}),
            json!({"a": {"$in": ["x", 1, 1.5, false]}, "b": {"$nin": [i64::MIN, i64::MAX]}}),
            json!({"a": {"$contains": true}}),
            json!({"$or": [{"a": 1}, {"$and": [{"b": 2}, {"c": {"$gt": 0, "$lt": 1}}]}]}),
            json!({"$and": [{"a": 1}], "$or": [{"b": 1}], "c": 1}),
        ] {
            let f = parse(v.clone());
            let printed = f.to_json();
            assert_eq!(parse(printed.clone()), f, "{v} printed as {printed}");
            let reread: Value = serde_json::from_str(&f.to_string()).unwrap();
            assert_eq!(parse(reread), f, "{v} displayed as {f}");
        }
    }

    #[test]
    fn integers_keep_their_type_through_the_round_trip() {
        let f = parse(json!({"a": i64::MAX}));
        assert!(matches!(
            parse(f.to_json()),
            Where::Eq(_, Scalar::Int(i64::MAX))
        ));
        let f = parse(json!({"a": 3.0}));
        assert!(matches!(parse(f.to_json()), Where::Eq(_, Scalar::Float(_))));
    }
}

mod random;
