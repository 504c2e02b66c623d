//! `fletchdb verify`: reads and checks every file of a database.
//!
//! Opening checks the catalog (every page's checksum, its format, its records), every
//! log record from the first segment on (length, checksum, sequence; a torn tail is the
//! normal end of a crash, damage before durable records is not), every vector segment's
//! header and length, each id map in force (checksum and layout) and each graph in force
//! (checksum, then every structural field and upper-layer link). Opening reads neither
//! the graphs' layer-0 lists (each run of them is checked where first read) nor the
//! stored vectors: this then checks every list not read yet (`Collection::check_graph`),
//! and reads every live vector with its checksum and every payload. The first damage found ends it with the
//! file and byte offset the database names.

use std::path::Path;

use crate::failure::{Failure, Result};
use crate::open;

/// Ids read per batch.
const BATCH: usize = 4_096;

pub fn run(path: &Path) -> Result<()> {
    let db = open::existing(path)?;
    let mut vectors = 0usize;
    for name in db.list_collections() {
        let c = db.collection(&name)?;
        c.check_graph()?;
        let ids = c.ids()?;
        for chunk in ids.chunks(BATCH) {
            let got = c.get_batch(chunk)?;
            c.get_payloads(chunk)?;
            if let Some(i) = got.iter().position(Option::is_none) {
                return Err(Failure(format!(
                    "collection {name:?}: id {} is listed but has no vector",
                    chunk[i]
                )));
            }
            vectors += chunk.len();
        }
    }
    db.close()?;
    println!(
        "{}: ok (catalog, log, graphs and {vectors} vectors checked)",
        path.display()
    );
    Ok(())
}
