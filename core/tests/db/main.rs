//! The database's integration tests: one binary, one module per scenario.

mod common;

mod api;
mod backup;
mod bad_input;
mod churn;
mod compact;
mod concurrent;
mod crash;
mod lifecycle;
mod linking;
mod payload;
mod quantized;
mod recovery;
mod size;
