#!/usr/bin/env bash
# The database's SIGKILL test with many rounds (cargo test runs 50):
#   bash scripts/crash_db.sh [ROUNDS]      (default 1000)
# Each round a child process upserts, deletes and batch-upserts from 3 threads with Sync
# durability and a background checkpoint every 48 KiB of log, and is killed at a random
# moment (mid-write or mid-checkpoint); every acknowledged write must be there with its
# exact vector, in-flight ones whole or absent, and exhaustive searches exact.
set -euo pipefail
cd "$(dirname "$0")/.."
FLETCHDB_CRASH_ROUNDS=${1:-1000} cargo test --release -p fletchdb --test db crash -- --nocapture
