#!/usr/bin/env bash
# The Rust extension's lint gates (part of `make lint`): rustfmt, clippy with warnings as errors,
# and mypy's stubtest of the hand-written python/aitext/_native.pyi against the built module.
# stubtest imports the installed aitext._native, so rebuild it first after editing rust_ext/
# (`make install` does when the sources changed, or `.venv/bin/maturin develop --release -q`).
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n=== %s\n' "$*"; }

step "cargo fmt --check"
cargo fmt --manifest-path rust_ext/Cargo.toml --check

step "cargo clippy -D warnings"
cargo clippy --quiet --locked --manifest-path rust_ext/Cargo.toml --all-targets -- -D warnings

step "stubtest aitext._native"
.venv/bin/python -m mypy.stubtest aitext._native
