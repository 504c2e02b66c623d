//! Opening the database a command names: an existing one (never creating an empty
//! database where a path was mistyped), or, for `import`, a new one if need be.

use std::path::Path;

use fletchdb::{Database, Durability, Options};

use crate::failure::{Failure, Result};

/// The database at `path`, which must exist.
pub fn existing(path: &Path) -> Result<Database> {
    if !path.join("catalog.redb").is_file() {
        return Err(Failure(format!(
            "{}: no FletchDB database there (no catalog.redb)",
            path.display()
        )));
    }
    Ok(Database::open(path, Options::default())?)
}

/// The database at `path`, created if missing, for a bulk load: writes are acknowledged
/// once the operating system has them, and [`Database::flush`] makes them durable.
pub fn for_loading(path: &Path) -> Result<Database> {
    Ok(Database::open(
        path,
        Options::new().durability(Durability::None),
    )?)
}
