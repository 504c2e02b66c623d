"""The README's Python quick start, run as a test.

QUICKSTART below is the snippet of the README's "Quick start (Python)" section, verbatim;
the second test checks that the README still shows exactly this snippet.
"""

import re
from pathlib import Path

import pytest

QUICKSTART = '''\
import numpy as np
import fletchdb

rng = np.random.default_rng(0)
vectors = rng.random((2_000, 384), dtype=np.float32)   # your embeddings
ids = np.arange(2_000)                                 # any non-negative integers

with fletchdb.open("my.db") as db:                     # a directory, created if needed
    docs = db.create_collection("docs", dim=384, metric="cosine")  # m=16, ef_construction=200
    docs.add(ids, vectors)                             # durable when it returns
    labels, distances = docs.search(vectors[:5], k=10)  # (5, 10) arrays, closest first
    assert (labels[:, 0] == ids[:5]).all()
    labels, _ = docs.search(vectors[0], k=3, filter_ids=[7, 8, 9])  # only these ids
    assert sorted(labels) == [7, 8, 9]

with fletchdb.open("my.db") as db:                     # reopen: everything is there
    docs = db.collection("docs")
    assert len(docs) == 2_000 and 42 in docs
'''


def test_quickstart_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exec(compile(QUICKSTART, "quickstart.py", "exec"), {"__name__": "quickstart"})


def quickstart_block(readme, heading):
    """The ```python block of section `heading` of `readme`, or None."""
    section = re.search(rf"## {re.escape(heading)}\n(.*?)(?=\n## |\Z)", readme.read_text(), re.S)
    if section is None:
        return None
    block = re.search(r"```python\n(.*?)```", section.group(1), re.S)
    assert block is not None, f"{readme}: section {heading!r} has no ```python block"
    return block.group(1)


def run_readme_block(heading, tmp_path, monkeypatch):
    """Runs the ```python block of the repository README's section `heading` in
    `tmp_path`; skips where the package is tested without the repository around it."""
    readme = Path(__file__).resolve().parents[2] / "README.md"
    if not readme.exists():
        pytest.skip("installed without the repository around python/")
    monkeypatch.chdir(tmp_path)
    exec(compile(quickstart_block(readme, heading), "README.md", "exec"), {"__name__": "readme"})


def test_readme_shows_this_quickstart():
    readme = Path(__file__).resolve().parents[2] / "README.md"
    if not readme.exists():
        pytest.skip("installed without the repository around python/")
    assert quickstart_block(readme, "Quick start (Python)") == QUICKSTART


def test_package_readme_shows_this_quickstart():
    readme = Path(__file__).resolve().parents[1] / "README.md"
    assert quickstart_block(readme, "Quick start") == QUICKSTART
