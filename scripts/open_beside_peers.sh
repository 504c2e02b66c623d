#!/usr/bin/env bash
# FletchDB's open beside the peers', interleaved (README, "Open, recovery, memory"):
#   bash scripts/open_beside_peers.sh DB PEER_DIR [WARM_ROUNDS] [COLD_ROUNDS]
# DB is a database built by `db_bench build DB N DIM`; PEER_DIR holds the peers'
# indexes of the same size, built by `python scripts/peer_open.py build PEER_DIR N DIM`
# with the peers' virtualenv (`bash ../shared/peers/setup.sh`, at /tmp/fletchdb-peers
# unless PEERS_PYTHON names its python). Each round opens FletchDB, then USearch's
# view and load and hnswlib's load, each in a fresh process with its first query.
# The cold rounds drop the page cache before each open (needs root).
set -euo pipefail
cd "$(dirname "$0")/.."
db=$1 peers=$2 warm=${3:-6} cold=${4:-4}
python=${PEERS_PYTHON:-/tmp/fletchdb-peers/bin/python}
cargo build --release -q -p fletchdb --example db_bench
bench=target/release/examples/db_bench
drop_caches() { sync && echo 3 >/proc/sys/vm/drop_caches; }
round() {
  [ "$1" = cold ] && drop_caches
  echo "fletchdb: $("$bench" open "$db" first | cut -d';' -f1)"
  for lib in usearch-view usearch-load hnswlib; do
    [ "$1" = cold ] && drop_caches
    "$python" scripts/peer_open.py open "$peers" "$lib"
  done
}
"$bench" open "$db" first >/dev/null # warm the page cache
for lib in usearch-view hnswlib; do "$python" scripts/peer_open.py open "$peers" "$lib" >/dev/null; done
echo "## warm"
for _ in $(seq "$warm"); do round warm; done
echo "## cold"
for _ in $(seq "$cold"); do round cold; done
