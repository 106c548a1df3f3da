#!/usr/bin/env bash
# The whole test suite (`make test`): generated-code staleness, Rust, Go, deploy config, then Python.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$(go env GOPATH)/bin:$PATH"

step() { printf '\n=== %s\n' "$*"; }

step "system dependencies"
scripts/install-system-deps.sh

step "generated code is up to date"
scripts/gen-proto.sh --check

step "cargo test (pure-Rust key spec)"
cargo test -q --manifest-path rust_ext/Cargo.toml

if [[ -x scripts/check-deploy.sh ]]; then
    step "gateway, Go client and deploy checks"
    scripts/check-deploy.sh
fi

step "pytest"
pytest "$@"
