//! The storage engine's integration tests: one binary, one module per scenario.

mod common;
mod lock;
mod wal_basic;
mod wal_crash;
mod wal_damage;
mod wal_faults;
mod wal_size;
