//! # fletchdb-python
//!
//! The `fletchdb` Python package: pyo3 bindings over the [`fletchdb`] crate, built with
//! maturin into the extension module `fletchdb._fletchdb` (the pure-Python package in
//! `fletchdb/` re-exports it and carries the type stubs).
//!
//! ```python
//! import numpy as np, fletchdb
//!
//! with fletchdb.open("my.db") as db:
//!     docs = db.create_collection("docs", dim=384, metric="cosine")
//!     docs.add(np.arange(1000), np.random.rand(1000, 384))
//!     ids, distances = docs.search(np.random.rand(384), k=10)
//! ```
//!
//! One file per concept, each with its `register(m)`: `database.rs` (`open`, `Database`),
//! `collection.rs` (`Collection`), `errors.rs` (the `fletchdb.Error` tree), `convert.rs`
//! (numpy in and out); `payload.rs` translates metadata, documents and `where` filters
//! between Python values and JSON; `handle.rs` lets `Database.close()` revoke the core handles held by
//! Python objects; `threads.rs` reads the `threads=` argument and keeps a rayon pool per
//! thread count. Every call that does work runs inside `Python::detach`, so Python
//! threads search and write in parallel; numpy inputs are borrowed read-only (no copy for
//! C-contiguous float32 and uint64 arrays) and the borrows outlive the GIL release, as the
//! `numpy` crate documents.
#![deny(unsafe_code)]

mod collection;
mod convert;
mod database;
mod errors;
mod handle;
mod payload;
mod threads;

use pyo3::prelude::*;

/// FletchDB's native module; import `fletchdb` instead.
#[pymodule(name = "_fletchdb")]
fn fletchdb_native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    errors::register(m)?;
    convert::register(m)?;
    database::register(m)?;
    collection::register(m)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
