"""A child process adding vectors is killed with SIGKILL at a random moment, over and
over; reopening must find every acknowledged id with its exact vector.

The child prints "ack FIRST END" after each `add` returns (durability "sync", so the ids
are on stable storage), and checkpoints run in the background every 64 KiB of log, so
kills land mid-write, mid-sync and mid-checkpoint. Ids of the batch in flight may be
found or not (a prefix of it), but any that is found has its exact vector.
"""

import os
import random
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import fletchdb

DIM = 16

CHILD = r"""
import sys
import numpy as np
import fletchdb

path, start, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])

def vectors(ids):
    ids = np.asarray(ids, dtype=np.float64)[:, None]
    return np.sin(ids * (np.arange(16) + 1) * 0.618 + 0.5).astype(np.float32)

db = fletchdb.open(path, checkpoint_bytes=64 << 10, wal_segment_size=1 << 20)
c = db.get_or_create_collection("c", dim=16, metric="l2", m=8, ef_construction=40)
print("ready", flush=True)
next_id = start
while True:
    if batch == 1:
        c.add(next_id, vectors([next_id])[0])
    else:
        c.add(np.arange(next_id, next_id + batch), vectors(np.arange(next_id, next_id + batch)))
    print(f"ack {next_id} {next_id + batch}", flush=True)
    next_id += batch
"""


def vectors(ids):
    """The vector of each id (the child computes the same)."""
    ids = np.asarray(ids, dtype=np.float64)[:, None]
    return np.sin(ids * (np.arange(DIM) + 1) * 0.618 + 0.5).astype(np.float32)


def run_child_and_kill(path, start, batch, acks_before_kill, delay):
    """Runs the child until it acknowledged `acks_before_kill` batches, waits `delay`
    seconds, kills it; returns every acknowledged [first, end) range."""
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path), str(start), str(batch)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=path.parent,  # not python/: `-c` puts the working directory on sys.path
    )
    acked = []
    try:
        line = child.stdout.readline()
        assert line == "ready\n", line + child.stderr.read()
        while len(acked) < acks_before_kill:
            line = child.stdout.readline()
            assert line.startswith("ack "), line + child.stderr.read()
            _, first, end = line.split()
            acked.append((int(first), int(end)))
        time.sleep(delay)
    finally:
        child.send_signal(signal.SIGKILL)
        # Not communicate(): it reads the pipes' descriptors directly and would miss the
        # lines already in child.stdout's buffer.
        rest, err = child.stdout.read(), child.stderr.read()
        child.wait()
    # Acknowledgements still in the pipe (or our buffer) count too.
    for line in rest.splitlines():
        if line.startswith("ack "):
            _, first, end = line.split()
            acked.append((int(first), int(end)))
    assert child.returncode == -signal.SIGKILL, err
    return acked


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_sigkill_mid_insert_keeps_acknowledged_ids(tmp_path):
    path = tmp_path / "db"
    rounds = int(os.environ.get("FLETCHDB_CRASH_ROUNDS", "6"))
    rnd = random.Random(int(os.environ.get("FLETCHDB_CRASH_SEED", "5")))
    acknowledged = set()
    next_id = 0
    for r in range(rounds):
        batch = [1, 7, 64][r % 3]
        acked = run_child_and_kill(
            path, next_id, batch, acks_before_kill=rnd.randint(2, 25), delay=rnd.random() * 0.02
        )
        for first, end in acked:
            acknowledged.update(range(first, end))
        in_flight_end = (acked[-1][1] if acked else next_id) + batch

        with fletchdb.open(path) as db:
            c = db.collection("c")
            ids = np.array(sorted(acknowledged), dtype=np.uint64)
            missing = [int(i) for i in ids if int(i) not in c]
            assert not missing, f"round {r}: acknowledged ids lost: {missing[:10]}"
            np.testing.assert_array_equal(c.get(ids), vectors(ids))
            # The batch in flight: a prefix may be there, each vector whole.
            flight = range(acked[-1][1] if acked else next_id, in_flight_end)
            present = [i for i in flight if i in c]
            assert present == list(flight)[: len(present)], f"round {r}: not a prefix"
            if present:
                np.testing.assert_array_equal(c.get(present), vectors(present))
                acknowledged.update(present)
            assert len(c) == len(acknowledged), f"round {r}: ids that were never written"
            probe = ids[:: max(1, len(ids) // 20)]
            found, dist = c.search(vectors(probe), k=1, ef=128)
            assert (found[:, 0] == probe).mean() > 0.9 and (dist[:, 0] == 0).mean() > 0.9
        next_id = in_flight_end
