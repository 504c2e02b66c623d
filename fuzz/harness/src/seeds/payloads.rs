//! Seeds of the payload decoders: stored payloads for `payload_bytes` and
//! `catalog_values`, and filters as JSON text for `where_json`.

use fletchdb::Payload;
use serde_json::json;

/// A payload with metadata of every kind of value, and a document.
pub(super) fn sample_payload() -> Payload {
    Payload::new()
        .with_metadata(json!({
            "s": "x", "i": -3, "big": i64::MAX, "f": 1.0 / 11.0, "z": -0.0, "b": true,
            "n": null, "list": ["a", 1, 2.5, false], "empty": [], "": "é"
        }))
        .with_document("The text the vector came from.")
}

/// Stored payloads as they are written, cut, and framed by the harness around JSON text
/// (see `payload.rs`).
pub(super) fn payload_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let full = sample_payload().to_bytes();
    let framed = |flags: u8, json: &str, doc: &[u8]| {
        let mut b = vec![0x80 | flags];
        b.extend_from_slice(&(json.len() as u16).to_le_bytes());
        b.extend_from_slice(json.as_bytes());
        b.extend_from_slice(doc);
        b
    };
    vec![
        ("empty", Vec::new()),
        ("full", full.clone()),
        ("full-cut", full[..full.len() / 2].to_vec()),
        (
            "metadata",
            Payload::new()
                .with_metadata(json!({"k": [1, "v"]}))
                .to_bytes(),
        ),
        ("document", Payload::new().with_document("é").to_bytes()),
        (
            "empty-document",
            Payload::new().with_document("").to_bytes(),
        ),
        (
            "framed",
            framed(3, r#"{"a":1,"b":[2.5,"x",true],"c":null}"#, b"doc"),
        ),
        (
            "framed-spellings",
            framed(1, r#"{ "a" : 1e2, "a": -0, "b": 0.1000 }"#, b""),
        ),
        ("framed-nested", framed(1, r#"{"a":{"b":1}}"#, b"")),
        ("framed-dollar", framed(3, r#"{"$eq":1}"#, b"x")),
        (
            "framed-big",
            framed(1, r#"{"n":18446744073709551615,"f":1e400}"#, b""),
        ),
        ("framed-bad-utf8", framed(2, "", &[0xff, 0xfe])),
    ]
}

/// `where` filters as JSON text: every operator and form, and some the parser refuses.
pub(super) fn where_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let filters: [(&'static str, &str); 12] = [
        ("short", r#"{"a": 1}"#),
        ("ops", r#"{"a": {"$gte": 0, "$lt": 2.5, "$ne": 1}}"#),
        (
            "keys",
            r#"{"a": "x", "b": {"$in": [1, "x", true]}, "tags": {"$contains": 1}}"#,
        ),
        (
            "and-or",
            r#"{"$and": [{"a": {"$nin": [0]}}, {"$or": [{"b": true}, {"n": {"$lte": -1}}]}]}"#,
        ),
        (
            "numbers",
            r#"{"n": {"$gt": -9.223372036854776e18, "$eq": 9007199254740993}}"#,
        ),
        (
            "floats",
            r#"{"a": {"$eq": -0.0}, "n": {"$in": [0.5, 1e-7, 0.1]}}"#,
        ),
        ("empty", r#"{}"#),
        ("empty-and", r#"{"$and": []}"#),
        ("unknown-op", r#"{"a": {"$regex": "x"}}"#),
        ("bare-op", r#"{"$eq": 1}"#),
        ("null", r#"{"a": null, "b": {"$in": [null]}}"#),
        ("list", r#"{"a": [1, 2], "b": {"$gt": true}}"#),
    ];
    filters
        .into_iter()
        .map(|(n, f)| (n, f.as_bytes().to_vec()))
        .collect()
}
