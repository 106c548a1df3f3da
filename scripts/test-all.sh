#!/usr/bin/env bash
# The whole test suite (`make test`): generated code, Rust, gateway and deploy files, contract and
# clients, then Python (last, so its summary closes the output). Any failing step stops the run.
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

step "gateway and deployment files"
scripts/check-deploy.sh

step "contract (buf) and the Go and TypeScript clients"
scripts/check-clients.sh

step "pytest"
pytest "$@"
