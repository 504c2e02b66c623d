"""The type stubs match the extension: mypy's stubtest must pass. mypy is a test
dependency (`pip install ./python[test]`, and run_tests.sh installs it), so its absence
is a failure, not a skip."""

import subprocess
import sys


def stubtest(cwd, *flags):
    # `-m` puts the cwd on sys.path: run from an empty directory, so that the installed
    # package is checked, not the source tree's fletchdb/ (which has no extension).
    return subprocess.run(
        [sys.executable, "-m", "mypy.stubtest", "fletchdb._fletchdb", *flags],
        capture_output=True, text=True, cwd=cwd,
    )


def test_stubtest(tmp_path):
    try:
        import mypy  # noqa: F401
    except ImportError:
        raise AssertionError("mypy is not installed: pip install './python[test]'") from None
    # Some stubtest versions report extension classes that are disjoint bases at runtime
    # (PEP 800) but not marked so in the stubs; the flag turns that off where it exists.
    out = stubtest(tmp_path, "--ignore-disjoint-bases")
    if "unrecognized arguments: --ignore-disjoint-bases" in out.stderr:
        out = stubtest(tmp_path)
    assert out.returncode == 0, f"stubtest exit {out.returncode}\n{out.stdout}{out.stderr}"
