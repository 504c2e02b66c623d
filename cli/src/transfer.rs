//! `fletchdb export`: a collection's vectors, in id order, to a `.fvecs` or `.npy`
//! file, and its ids, metadata and documents to a `.jsonl` (see `records.rs`).
//! Cosine collections hold their vectors normalised, and that is what is written.

use std::path::Path;

use crate::failure::{Failure, Result};
use crate::matrix::{self, Matrix};
use crate::{open, records};

/// Ids read per batch.
const BATCH: usize = 4_096;

pub fn export(path: &Path, collection: &str, file: &Path, meta: Option<&Path>) -> Result<()> {
    matrix::Format::of(file)?;
    let db = open::existing(path)?;
    let c = db.collection(collection)?;
    let ids = c.ids()?;
    let dim = c.config().dim;
    let mut data = Vec::with_capacity(ids.len() * dim);
    let mut payloads = Vec::new();
    for chunk in ids.chunks(BATCH) {
        for (id, v) in chunk.iter().zip(c.get_batch(chunk)?) {
            let v = v.ok_or_else(|| Failure(format!("id {id} was deleted during the export")))?;
            data.extend_from_slice(&v);
        }
        if meta.is_some() {
            payloads.extend(
                c.get_payloads(chunk)?
                    .into_iter()
                    .map(Option::unwrap_or_default),
            );
        }
    }
    matrix::write(file, &Matrix { dim, data })?;
    if let Some(meta) = meta {
        records::write(meta, ids.iter().copied().zip(payloads))?;
    }
    println!(
        "exported {} vectors of {collection:?} to {}{}",
        ids.len(),
        file.display(),
        meta.map_or(String::new(), |m| format!(" and {}", m.display()))
    );
    Ok(())
}
