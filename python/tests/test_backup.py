"""Database.backup: a copy at one log position, taken while a thread writes."""

import threading

import numpy as np
import pytest

import fletchdb


def test_backup_under_writes_is_a_prefix_and_opens(tmp_path, open_db, rng):
    db = open_db(tmp_path / "db")
    c = db.create_collection("docs", dim=4, metric="l2")
    vectors = rng.standard_normal((600, 4)).astype(np.float32)
    acked = []
    stop = threading.Event()

    def writer():
        for i in range(600):
            if stop.is_set():
                return
            c.add([i], vectors[i : i + 1], metadatas=[{"i": i}])
            acked.append(i)

    t = threading.Thread(target=writer)
    t.start()
    while len(acked) < 100:
        pass
    before = len(acked)
    lsn = db.backup(tmp_path / "copy")
    after = len(acked)
    stop.set()
    t.join()
    assert lsn > 0
    db.close()

    with fletchdb.open(tmp_path / "copy") as copy:
        got = copy.collection("docs")
        n = len(got)
        assert before <= n <= after
        ids = list(range(n))
        np.testing.assert_array_equal(got.get(ids), vectors[:n])
        assert got.get_metadata(ids) == [{"i": i} for i in ids]


def test_backup_into_a_directory_with_files_is_refused(tmp_path, db):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "mine").write_text("keep")
    with pytest.raises(fletchdb.InvalidArgumentError) as e:
        db.backup(tmp_path / "full")
    assert e.value.path == str(tmp_path / "full")
    assert (tmp_path / "full" / "mine").read_text() == "keep"
