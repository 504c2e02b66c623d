//! The index's integration tests: one binary, one module per scenario.

#[path = "../common/mod.rs"]
mod common;

mod alloc;
mod api;
mod concurrent;
mod deletes;
mod exact;
mod filtered;
mod heal;
mod linked;
mod persist;
mod quantized;
mod recall;
mod relocate;
