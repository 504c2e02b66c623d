#!/usr/bin/env bash
# The write-ahead log's SIGKILL test with many rounds (cargo test runs 50):
#   bash scripts/crash_wal.sh [ROUNDS]      (default 1000)
# Each round a child process appends with Sync durability from 4 threads and is killed
# at a random moment; every acknowledged record must be there, intact, after reopening.
set -euo pipefail
cd "$(dirname "$0")/.."
FLETCHDB_CRASH_ROUNDS=${1:-1000} cargo test --release -p fletchdb-storage --test storage \
    wal_crash -- --nocapture
