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

# Go stubs (clients/go/aitextv1) and the descriptor set Envoy's grpc_json_transcoder
# loads (deploy/envoy/aitext.pb), under the output root $1. Plugins pinned, built locally.
PROTOC_GEN_GO=v1.36.12 PROTOC_GEN_GO_GRPC=v1.6.2 GOBIN_DIR=$PWD/.tools/bin
generate_go() {
    [[ "$("$GOBIN_DIR/protoc-gen-go" --version 2>/dev/null)" == *" $PROTOC_GEN_GO" ]] ||
        GOBIN=$GOBIN_DIR go install "google.golang.org/protobuf/cmd/protoc-gen-go@$PROTOC_GEN_GO"
    [[ "$("$GOBIN_DIR/protoc-gen-go-grpc" --version 2>/dev/null)" == *" ${PROTOC_GEN_GO_GRPC#v}" ]] ||
        GOBIN=$GOBIN_DIR go install "google.golang.org/grpc/cmd/protoc-gen-go-grpc@$PROTOC_GEN_GO_GRPC"
    mkdir -p "$1/clients/go" "$1/deploy/envoy"
    "$PY" -m grpc_tools.protoc -I proto \
        --plugin="$GOBIN_DIR/protoc-gen-go" --plugin="$GOBIN_DIR/protoc-gen-go-grpc" \
        --go_out="$1/clients/go" --go_opt=module=github.com/aitext/aitext/clients/go \
        --go-grpc_out="$1/clients/go" --go-grpc_opt=module=github.com/aitext/aitext/clients/go \
        proto/aitext/v1/aitext.proto
    # error_details too: the transcoder prints google.rpc.Status details (BadRequest, RetryInfo) as JSON.
    "$PY" -m grpc_tools.protoc -I proto --descriptor_set_out="$1/deploy/envoy/aitext.pb" --include_imports \
        proto/aitext/v1/aitext.proto proto/google/rpc/error_details.proto
}

# TypeScript (clients/ts/src/gen) with protoc-gen-es, pinned by clients/ts/package-lock.json.
# google/rpc/error_details is generated too, so clients can decode BadRequest and RetryInfo.
PROTOC_GEN_ES=clients/ts/node_modules/.bin/protoc-gen-es
TS_PROTOS=(aitext/v1/aitext.proto google/api/annotations.proto google/api/http.proto
           google/rpc/status.proto google/rpc/error_details.proto)
generate_ts() {
    local want
    want=$(node -p 'require("./clients/ts/package.json").devDependencies["@bufbuild/protoc-gen-es"]')
    [[ "$("$PROTOC_GEN_ES" --version 2>/dev/null)" == *" v$want" ]] ||
        npm ci --prefix clients/ts --no-audit --no-fund >&2
    mkdir -p "$1/clients/ts/src/gen"
    "$PY" -m grpc_tools.protoc -I proto \
        --plugin=protoc-gen-es="$PROTOC_GEN_ES" \
        --es_out="$1/clients/ts/src/gen" --es_opt=target=ts,import_extension=js \
        "${TS_PROTOS[@]}"
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
    generate_go "$tmp"
    for f in clients/go/aitextv1/aitext.pb.go clients/go/aitextv1/aitext_grpc.pb.go deploy/envoy/aitext.pb; do
        if ! cmp -s "$f" "$tmp/$f"; then
            diff -u "$f" "$tmp/$f" >&2 || true
            echo "$f is stale: run 'make proto' and commit the result" >&2
            exit 1
        fi
    done
    generate_ts "$tmp"
    if ! diff -ru clients/ts/src/gen "$tmp/clients/ts/src/gen" >&2; then
        echo "clients/ts/src/gen is stale: run 'make proto' and commit the result" >&2
        exit 1
    fi
    echo "generated code is up to date"
else
    generate python
    generate_go .
    rm -rf clients/ts/src/gen
    generate_ts .
fi
