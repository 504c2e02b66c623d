//! # fletchdb-storage (not built yet)
//!
//! The durability half of FletchDB, to be built: a write-ahead log with group commit,
//! a memory-mapped vector store of fixed-size slots, and a redb catalog, as laid out in
//! the project's DESIGN.md. It will depend on neither `fletchdb-index` nor `fletchdb`.
//!
//! This crate holds no code yet; nothing here stores anything.
