#!/usr/bin/env bash
# The whole test suite (`make test`): generated code, Rust, gateway and deploy files, contract and
# clients, then Python (last, so its summary closes the output). Any failing step stops the run.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$(go env GOPATH)/bin:$PATH"

# Hermetic: the caller's service settings (AITEXT_API_KEYS, AITEXT_REDIS_URL, ...) never reach the
# servers the tests start; tests set what they need. AITEXT_BREAKING_BASE is a knob of this run
# (scripts/check-clients.sh), not a service setting. tests/conftest.py does the same for bare pytest.
for name in $(compgen -e | grep '^AITEXT_' | grep -vx AITEXT_BREAKING_BASE || true); do unset "$name"; done

step() { printf '\n=== %s\n' "$*"; }

step "system dependencies"
scripts/install-system-deps.sh

step "lint and type gates (make lint)"
scripts/lint.sh

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
