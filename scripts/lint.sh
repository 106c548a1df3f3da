#!/usr/bin/env bash
# Every lint and type gate (`make lint`; `make test` and CI run it first): Python, then Rust and the
# extension's stub, then Go and TypeScript. Any finding fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$(go env GOPATH)/bin:$PATH"

echo "--- python: ruff format, ruff check, mypy --strict"
ruff format --check --quiet python tests bench frontend scripts
ruff check --quiet python tests bench frontend scripts
mypy

scripts/lint-rust.sh
scripts/lint-go-ts.sh
