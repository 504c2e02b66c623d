//! `fletchdb backup` and `fletchdb compact`.

use std::path::Path;

use crate::failure::Result;
use crate::open;

pub fn backup(path: &Path, dest: &Path) -> Result<()> {
    let db = open::existing(path)?;
    let done = db.backup(dest)?;
    println!(
        "backed up {} to {}: {} files, {} bytes, at LSN {}",
        path.display(),
        dest.display(),
        done.files,
        done.bytes,
        done.lsn
    );
    Ok(())
}

pub fn compact(path: &Path, collection: Option<&str>) -> Result<()> {
    let db = open::existing(path)?;
    let names = match collection {
        Some(name) => vec![name.to_string()],
        None => db.list_collections(),
    };
    for name in names {
        let done = db.collection(&name)?.compact()?;
        println!(
            "{name}: {} vectors moved, slots {} -> {}, {} files removed, bytes {} -> {}",
            done.moved,
            done.slots_before,
            done.slots_after,
            done.files_removed,
            done.bytes_before,
            done.bytes_after
        );
    }
    Ok(())
}
