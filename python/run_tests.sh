#!/usr/bin/env bash
# Builds the fletchdb Python package and runs its pytest suite, on a fresh machine that has
# the Rust toolchain and python3 (3.9 or newer, with venv and pip).
#
#   bash python/run_tests.sh [pytest args...]
#
# Creates a virtualenv ($FLETCHDB_VENV, default <repo>/.venv, which .gitignore excludes),
# installs the build and test dependencies into it (maturin, pytest, pytest-asyncio, numpy,
# and mypy for the stub check; from PyPI the first time), then the LangChain and LlamaIndex
# packages the integrations' tests need and Ray for fletchdb.ray's (pyproject.toml's extras
# langchain, llama-index, test-integrations and ray, with the same pins, on Python 3.10 or
# newer; each set apart, so one that cannot be installed only makes its own tests skip), pip-installs ./python (a
# release build of the extension: about 2 minutes cold on 2 cores, seconds when cargo has
# it cached) and runs pytest on python/tests.
# CARGO_TARGET_DIR is honoured; by default the build shares the workspace's target/.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
venv="${FLETCHDB_VENV:-$root/.venv}"
python="${PYTHON:-python3}"

step() { printf '\n==> %s\n' "$*"; }

if [ ! -x "$venv/bin/python" ]; then
    step "creating the virtualenv $venv"
    "$python" -m venv "$venv"
fi
step "installing build and test dependencies"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    "maturin>=1.9,<2.0" "pytest>=7" "pytest-asyncio>=0.24" "numpy>=1.21" "mypy>=1.10"
step "installing LangChain, LlamaIndex and Ray for the integrations' tests"
extra() {
    local name=$1
    shift
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$@" ||
        echo "warning: $name could not be installed: tests/test_${name}.py will be skipped"
}
# Both need Python 3.10 or newer; on 3.9 pip finds llama-index-core releases whose
# dependencies no longer import there, so nothing is installed and the tests skip.
if "$venv/bin/python" -c 'import sys; sys.exit(sys.version_info < (3, 10))'; then
    extra langchain "langchain-core>=1.0,<2" "langchain-tests>=1.0,<2"
    extra llama_index "llama-index-core>=0.14,<0.15"
    extra ray "ray[data]>=2.60,<2.61"
else
    echo "warning: LangChain, LlamaIndex and Ray need Python 3.10 or newer: their tests will be skipped"
fi
step "building and installing ./python (release)"
start=$SECONDS
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    --no-build-isolation --force-reinstall --no-deps "$here"
echo "built and installed in $((SECONDS - start)) s"

step "pytest python/tests"
cd "$here"
# The venv's pytest script, not `python -m pytest`, which would put python/ on sys.path and
# import the source tree's fletchdb/ (without its extension) instead of the installed one.
exec "$venv/bin/pytest" -p no:cacheprovider tests "$@"
