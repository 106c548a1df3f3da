#!/usr/bin/env bash
# Regenerates every stub from proto/. With --check, fails if the committed ones are stale.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}

generate() {  # $1: output root for the Python stubs
    "$PY" -m grpc_tools.protoc -I proto \
        --python_out="$1" --pyi_out="$1" --grpc_python_out="$1" \
        proto/aitext/v1/aitext.proto
}

if [[ "${1:-}" == "--check" ]]; then
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    generate "$tmp"
    for f in aitext_pb2.py aitext_pb2.pyi aitext_pb2_grpc.py; do
        if ! diff -u "python/aitext/v1/$f" "$tmp/aitext/v1/$f"; then
            echo "python/aitext/v1/$f is stale: run 'make proto' and commit the result" >&2
            exit 1
        fi
    done
    echo "generated code is up to date"
else
    generate python
fi
