//! The `.jsonl` beside a vector file: one JSON object a row, with an optional `"id"`
//! (a non-negative integer), an optional `"document"` (a string) and the metadata: the
//! object under `"metadata"`, or, without that key, every other key of the row.
//! `export` writes `{"id", "metadata", "document"}` rows that `import` reads back.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;

use fletchdb::Payload;
use serde_json::{Map, Value};

use crate::failure::{Failure, Result};

/// One row: its id, if it gives one, and its payload.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The `"id"` field.
    pub id: Option<u64>,
    /// Metadata and document.
    pub payload: Payload,
}

/// Reads every row of `path`; blank lines are skipped.
pub fn read(path: &Path) -> Result<Vec<Row>> {
    let file = File::open(path).map_err(|e| Failure::io(path, e))?;
    let mut rows = Vec::new();
    for (n, line) in BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| Failure::io(path, e))?;
        if line.trim().is_empty() {
            continue;
        }
        let at = format!("line {}", n + 1);
        let value: Value = serde_json::from_str(&line).map_err(|e| Failure::input(path, &at, e))?;
        rows.push(row(value).map_err(|reason| Failure::input(path, &at, reason))?);
    }
    Ok(rows)
}

fn row(value: Value) -> Result<Row, String> {
    let Value::Object(mut object) = value else {
        return Err("a row must be a JSON object".into());
    };
    let id = match object.remove("id") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_u64()
                .ok_or_else(|| format!("\"id\" must be a non-negative integer, not {v}"))?,
        ),
    };
    let document = match object.remove("document") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(v) => return Err(format!("\"document\" must be a string, not {v}")),
    };
    let metadata = match object.remove("metadata") {
        Some(Value::Null) => None,
        Some(m @ Value::Object(_)) => Some(m),
        Some(v) => return Err(format!("\"metadata\" must be an object, not {v}")),
        None if object.is_empty() => None,
        None => Some(Value::Object(object)),
    };
    let mut payload = Payload::new();
    if let Some(m) = metadata {
        payload = payload.with_metadata(m);
    }
    if let Some(d) = document {
        payload = payload.with_document(d);
    }
    Ok(Row { id, payload })
}

/// Writes one row per `(id, payload)`: `{"id": .., "metadata": .., "document": ..}`, the
/// last two only when present.
pub fn write(path: &Path, rows: impl IntoIterator<Item = (u64, Payload)>) -> Result<()> {
    let file = File::create(path).map_err(|e| Failure::io(path, e))?;
    let mut w = BufWriter::new(file);
    for (id, p) in rows {
        let mut object = Map::new();
        object.insert("id".into(), id.into());
        if let Some(m) = p.metadata {
            object.insert("metadata".into(), Value::Object(m));
        }
        if let Some(d) = p.document {
            object.insert("document".into(), d.into());
        }
        writeln!(w, "{}", Value::Object(object)).map_err(|e| Failure::io(path, e))?;
    }
    w.flush().map_err(|e| Failure::io(path, e))
}
