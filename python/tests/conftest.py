"""Shared fixtures: a fresh database directory per test and a seeded generator."""

import numpy as np
import pytest

import fletchdb


@pytest.fixture
def path(tmp_path):
    """A directory for a new database."""
    return tmp_path / "db"


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


# The default 64 MiB log segments are preallocated (zero-filled and synced) by the first
# write, which costs about half a second per database; tests use small ones.
SMALL_SEGMENTS = 1 << 20


@pytest.fixture
def open_db():
    """fletchdb.open with small log segments unless told otherwise."""

    def open_(path, **kwargs):
        kwargs.setdefault("wal_segment_size", SMALL_SEGMENTS)
        return fletchdb.open(path, **kwargs)

    return open_


@pytest.fixture
def db(path, open_db):
    """An open database with durability "none" (fast; persistence tests use their own)."""
    with open_db(path, durability="none") as database:
        yield database
