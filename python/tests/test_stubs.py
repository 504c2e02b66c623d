"""The type stubs match the extension (mypy's stubtest; run_tests.sh installs mypy, a
plain `pip install ./python[test]` does not, and then this is skipped)."""

import subprocess
import sys

import pytest


def test_stubtest(tmp_path):
    pytest.importorskip("mypy")
    out = subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "fletchdb._fletchdb",
         "--ignore-disjoint-bases"],
        capture_output=True, text=True, cwd=tmp_path,  # `-m` puts the cwd on sys.path
    )
    if "unrecognized arguments: --ignore-disjoint-bases" in out.stderr:
        out = subprocess.run([sys.executable, "-m", "mypy.stubtest", "fletchdb._fletchdb"],
                             capture_output=True, text=True, cwd=tmp_path)
    errors = [line for line in out.stdout.splitlines()
              if line.startswith("error:") and "disjoint base" not in line]
    assert not errors, out.stdout
