#!/usr/bin/env bash
# Every check FletchDB has: formatting, lints, docs, all Rust tests (the fuzz corpora
# replay among them), every criterion bench run once, and the Python package's pytest suite.
# Installs what it needs (rustfmt, clippy, a virtualenv with maturin, pytest, numpy, and
# LangChain and LlamaIndex for the integrations' tests);
# works on a fresh machine of the project's kind.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

if ! command -v cargo >/dev/null; then
    echo "cargo is required (this machine kind ships it through rustup)" >&2
    exit 1
fi
for component in rustfmt clippy; do
    if ! rustup component list --installed 2>/dev/null | grep -q "^$component"; then
        step "installing $component"
        rustup component add "$component"
    fi
done

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (all targets, -D warnings)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo doc (-D warnings)"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --locked --quiet

step "cargo test"
cargo test --workspace --locked

step "cargo bench (each bench once)"
cargo bench --workspace --locked -- --test

step "Python: pip install ./python, then pytest"
bash python/run_tests.sh -q
