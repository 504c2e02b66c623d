#!/usr/bin/env bash
# Open times of a database built by `db_bench`, warm and with the page cache dropped,
# and after a crash that leaves records to replay (README, "Open, recovery, memory"):
#   bash scripts/open_bench.sh DIR N DIM REPLAY...
# e.g. `bash scripts/open_bench.sh /tmp/open-1m 1000000 128 10000 100000`. DIR is built
# once (`db_bench build`) and reused; each crash case works on copies of it. Dropping
# the page cache needs root (`/proc/sys/vm/drop_caches`); without it the cold rows are
# skipped. Needs free disk for two copies of DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$1 n=$2 dim=$3
shift 3
cargo build --release -q -p fletchdb --example db_bench
bench=target/release/examples/db_bench
[ -d "$dir" ] || "$bench" build "$dir" "$n" "$dim"
drop_caches() { sync && echo 3 >/proc/sys/vm/drop_caches 2>/dev/null; }
echo "## $n x $dim: clean close"
"$bench" open "$dir" first >/dev/null # warm the page cache
for i in 1 2 3; do echo "warm: $("$bench" open "$dir")"; done
for i in 1 2; do
  if drop_caches; then echo "cold: $("$bench" open "$dir" first)"; else echo "cold: skipped (not root)"; fi
done
for r in "$@"; do
  echo "## $n x $dim: crash leaving $r records to replay"
  rm -rf "$dir.crashed" && cp -r "$dir" "$dir.crashed"
  ("$bench" crash "$dir.crashed" "$r"; true) >/dev/null 2>&1 # it aborts by design
  for i in 1 2; do
    # A fresh copy each time (an open links and checkpoints what it replayed); the
    # copy leaves its files in the page cache.
    rm -rf "$dir.copy" && cp -r "$dir.crashed" "$dir.copy"
    echo "warm: $("$bench" open "$dir.copy" first)"
  done
done
rm -rf "$dir.crashed" "$dir.copy"
