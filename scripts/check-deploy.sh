#!/usr/bin/env bash
# Go code and deployment files: the gateway (vet, tests), then
# deploy/envoy/envoy.yaml against Envoy's v3 API, docker-compose.yml against the
# Compose Specification and deploy/k8s against the Kubernetes API types (deploy/validate;
# Docker, Envoy, kubectl and a cluster need not be installed).
# Needs Go; modules come from the Go module proxy.
set -euo pipefail
cd "$(dirname "$0")/.."

for module in gateway deploy/validate; do  # clients/go: scripts/check-clients.sh
    echo "--- $module: go vet, go test"
    (cd "$module" && go vet ./... && go test -count=1 ./...)
done

echo "--- deployment files"
(cd deploy/validate && go run . envoy ../envoy/envoy.yaml && go run . compose ../../docker-compose.yml && go run . k8s ../k8s)
