//! `fletchdb info`: what each collection holds and costs, as text or JSON.

use std::path::Path;
use std::time::UNIX_EPOCH;

use fletchdb::{Collection, CollectionStats, Database};
use serde_json::{json, Value};

use crate::failure::Result;
use crate::open;

pub fn run(path: &Path, as_json: bool) -> Result<()> {
    let db = open::existing(path)?;
    let report = describe(&db)?;
    if as_json {
        println!("{report:#}");
    } else {
        print!("{}", text(&report));
    }
    Ok(())
}

/// The report as JSON: the database's log and checkpoint, then one object per
/// collection.
fn describe(db: &Database) -> Result<Value> {
    let mut collections = Vec::new();
    let health = db.health();
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
    let mut database = json!({
        "path": db.path().display().to_string(),
        "log_bytes": 0,
        "last_checkpoint_lsn": 0,
        "last_checkpoint_unix_ms": null,
        "replayed_at_open": health.replayed_at_open,
        "opened_ms": ms(health.opened_in),
        "open_steps_ms": health
            .open
            .named()
            .iter()
            .map(|&(name, d)| (name.to_string(), Value::from(ms(d))))
            .collect::<serde_json::Map<_, _>>(),
    });
    for name in db.list_collections() {
        let c = db.collection(&name)?;
        let s = c.stats()?;
        database["log_bytes"] = s.log_bytes.into();
        database["last_checkpoint_lsn"] = s.last_checkpoint_lsn.into();
        database["last_checkpoint_unix_ms"] = s
            .last_checkpoint_at
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(Value::Null, |d| (d.as_millis() as u64).into());
        collections.push(collection(&c, &s));
    }
    database["collections"] = collections.into();
    Ok(database)
}

fn collection(c: &Collection, s: &CollectionStats) -> Value {
    let config = c.config();
    json!({
        "name": c.name(),
        "dim": config.dim,
        "metric": config.metric.name(),
        "quantization": config.quantization.name(),
        "m": config.m,
        "ef_construction": config.ef_construction,
        "live": s.live,
        "unlinked": s.unlinked,
        "tombstones": s.tombstones,
        "free_slots": s.free_slots,
        "slots": s.slots,
        "bytes": {
            "vectors": s.vector_bytes,
            "graph": s.graph_bytes,
            "id_map": s.id_map_bytes,
            "other": s.other_bytes,
        },
    })
}

fn text(r: &Value) -> String {
    let mut out = format!("database {}\n", r["path"].as_str().unwrap_or("?"));
    out += &format!("  log: {}\n", bytes(&r["log_bytes"]));
    let at = r["last_checkpoint_unix_ms"].as_u64().map_or_else(
        || "time unknown".to_string(),
        |ms| format!("at unix ms {ms}"),
    );
    out += &format!(
        "  last checkpoint: LSN {} ({at})\n",
        r["last_checkpoint_lsn"]
    );
    let ms = |v: &Value| v.as_f64().unwrap_or(0.0);
    let steps: Vec<String> = r["open_steps_ms"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, t)| format!("{name} {:.1} ms", ms(t)))
        .collect();
    out += &format!(
        "  opened in {:.1} ms, {} log records replayed ({})\n",
        ms(&r["opened_ms"]),
        r["replayed_at_open"],
        steps.join(", ")
    );
    let empty = Vec::new();
    let collections = r["collections"].as_array().unwrap_or(&empty);
    if collections.is_empty() {
        out += "  no collections\n";
    }
    for c in collections {
        out += &format!(
            "collection {}\n  dim {}, metric {}, quantization {}, m {}, ef_construction {}\n",
            plain(&c["name"]),
            c["dim"],
            plain(&c["metric"]),
            plain(&c["quantization"]),
            c["m"],
            c["ef_construction"]
        );
        out += &format!(
            "  vectors: {} live ({} not yet in the graph), {} tombstones, {} free slots, {} slots\n",
            c["live"], c["unlinked"], c["tombstones"], c["free_slots"], c["slots"]
        );
        let b = &c["bytes"];
        out += &format!(
            "  bytes: vectors {}, graph {}, id map {}, other {}\n",
            bytes(&b["vectors"]),
            bytes(&b["graph"]),
            bytes(&b["id_map"]),
            bytes(&b["other"])
        );
    }
    out
}

/// A JSON string without its quotes.
fn plain(v: &Value) -> &str {
    v.as_str().unwrap_or("?")
}

/// A byte count the way people read it.
fn bytes(v: &Value) -> String {
    let n = v.as_u64().unwrap_or(0);
    match n {
        0..1_024 => format!("{n} B"),
        1_024..1_048_576 => format!("{:.1} KiB", n as f64 / 1_024.0),
        _ => format!("{:.1} MiB", n as f64 / 1_048_576.0),
    }
}
