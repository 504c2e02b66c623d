#!/usr/bin/env bash
# Fuzzes FletchDB: runs each cargo-fuzz target for a while, one after another.
#
#   fuzz/run.sh [-t SECONDS] [-s SANITIZER] [TARGET...]
#
# -t  seconds per target (default 60, or $FUZZ_SECONDS). TARGET: any of
#     wal_records graph_file catalog_values open_damaged vector_segments id_map
#     payload_bytes where_json api_ops (default: all).
# -s  address (default) or none: about three times the executions per second
#     (api_ops, open_damaged), without memory-error detection.
#
# Works on the stable toolchain: cargo-fuzz needs nightly features, which
# RUSTC_BOOTSTRAP=1 unlocks. Installs cargo-fuzz from crates.io if it is missing.
# New corpus entries go to fuzz/target/corpus/<target>/ (not committed: copy the
# interesting ones, and every crash, into fuzz/corpus/<target>/); crashes to
# fuzz/artifacts/<target>/; logs to fuzz/target/logs/. Builds with debug assertions
# (overflow checks) and, unless -s none, AddressSanitizer. Exits non-zero if any target
# found a crash.
set -euo pipefail
cd "$(dirname "$0")"

seconds="${FUZZ_SECONDS:-60}"
sanitizer=address
while getopts "t:s:h" opt; do
    case "$opt" in
        t) seconds="$OPTARG" ;;
        s) sanitizer="$OPTARG" ;;
        *) sed -n '2,18p' "$0"; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
all=(wal_records graph_file catalog_values open_damaged vector_segments payload_bytes where_json api_ops id_map)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "==> installing cargo-fuzz"
    cargo install cargo-fuzz --locked
fi

export RUSTC_BOOTSTRAP=1
# Builds per sanitizer apart, so that switching does not rebuild everything.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target/$sanitizer}"
mkdir -p target/logs

echo "==> building (${targets[*]})"
cargo fuzz build --debug-assertions --sanitizer "$sanitizer"

failed=()
for t in "${targets[@]}"; do
    work="target/corpus/$t"
    mkdir -p "$work" "artifacts/$t"
    log="target/logs/$t.log"
    echo "==> $t for ${seconds}s (log: fuzz/$log)"
    # The first corpus directory receives new inputs; the committed one only seeds.
    if cargo fuzz run --debug-assertions --sanitizer "$sanitizer" "$t" "$work" "corpus/$t" -- \
        -max_total_time="$seconds" -timeout=30 -rss_limit_mb=4096 \
        -print_final_stats=1 >"$log" 2>&1; then
        status=ok
    else
        status=FAILED
        failed+=("$t")
    fi
    last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
    execs=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}' || true)
    echo "    $status: ${execs:-?} executions; last: ${last:-none}"
    if [ "$status" = FAILED ]; then
        grep -E 'panicked at|ERROR: AddressSanitizer|Test unit written to' "$log" | head -5 || true
    fi
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "==> findings in: ${failed[*]} (inputs in fuzz/artifacts/)"
    exit 1
fi
echo "==> no findings"
