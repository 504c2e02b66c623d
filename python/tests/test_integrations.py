"""What the LangChain and LlamaIndex stores share, tested without either framework: the
string keys' ids, MMR and relevance, that importing fletchdb imports no framework, and
that run_tests.sh installs the framework versions pyproject.toml's extras pin."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fletchdb.integrations import _keys, _scores

PYTHON = Path(__file__).resolve().parent.parent

# BLAKE2b-64 of b"doc-1", little-endian, shifted right once: fixed for good, since stored
# databases hold ids made this way (a salt of zeros is BLAKE2b unsalted).
_DOC_1 = 2376381282532555307


def test_key_ids_are_stable_63_bit_hashes():
    assert _keys.key_id("id-1") == _keys.key_id("id-1") != _keys.key_id("id-1", 1)
    assert _keys.key_id("doc-1") == _DOC_1
    assert all(0 <= _keys.key_id(str(i)) < 2**63 for i in range(1000))
    assert len({_keys.key_id(str(i)) for i in range(1000)}) == 1000


def test_mmr_picks_the_nearest_then_trades_similarity_for_diversity():
    rows = np.array([[1.0, 0.0], [0.99, 0.1], [0.6, 0.8], [0.0, 0.0]])
    assert _scores.mmr([1.0, 0.05], rows, 3, 1.0) == [0, 1, 2]  # similarity order
    assert _scores.mmr([1.0, 0.05], rows, 2, 0.5) == [0, 2]  # the near-duplicate waits
    assert _scores.mmr([1.0, 0.05], rows, 9, 0.5) == [0, 2, 1, 3]  # all, zero vector last
    assert _scores.mmr([1.0, 0.0], [], 3, 0.5) == []
    with pytest.raises(ValueError, match="lambda_mult"):
        _scores.mmr([1.0, 0.0], rows, 2, -0.1)


def test_relevance_per_metric():
    assert _scores.relevance_fn("cosine")(0.25) == 0.75
    assert _scores.relevance_fn("ip")(-0.5) == 1.5  # a dot product of 1.5
    assert _scores.relevance_fn("l2")(2.0) == pytest.approx(0.0)  # unit vectors at right angles
    assert _scores.relevance_fn("l2")(0.0) == 1.0


def test_importing_fletchdb_imports_no_framework(tmp_path):
    # Nor Ray: fletchdb.ray is imported only by name.
    code = (
        "import sys, fletchdb, fletchdb.integrations; "
        "print([m for m in sys.modules if m.split('.')[0] in ('langchain_core', 'llama_index', 'ray')])"
    )
    # From an empty directory: `-c` puts the cwd first on sys.path, and python/ holds the
    # source tree's fletchdb/ without its extension.
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path)
    assert out.stdout.strip() == "[]"


def test_run_tests_installs_the_pinned_extras():
    tomllib = pytest.importorskip("tomllib", reason="tomllib is in Python 3.11 and newer")
    extras = tomllib.loads((PYTHON / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    script = (PYTHON / "run_tests.sh").read_text()
    pins = [r for name in ("langchain", "llama-index", "test-integrations") for r in extras[name]]
    pins = [r for r in pins if not r.startswith("fletchdb[")]
    assert len(pins) == 3
    pins += extras["ray"]
    for requirement in pins + extras["test"]:
        assert f'"{requirement}"' in script, f"run_tests.sh does not install {requirement}"
