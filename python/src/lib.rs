//! # fletchdb-python (not built yet)
//!
//! Will hold the `fletchdb` Python package: pyo3 bindings over the `fletchdb` crate,
//! built with maturin, numpy in and out, the GIL released during work. It holds no
//! bindings yet.
#![deny(unsafe_code)]
