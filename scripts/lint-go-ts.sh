#!/usr/bin/env bash
# Static checks of the Go modules (gofmt, go vet, staticcheck) and of the TypeScript
# client (tsc --noEmit). No tests run here: scripts/check-deploy.sh and check-clients.sh do that.
# Needs Go and Node >= 20; staticcheck is built from the Go module proxy into GOPATH/bin
# when missing, and clients/ts gets `npm ci` when it has no node_modules.
set -euo pipefail
cd "$(dirname "$0")/.."

# Pinned so a new release cannot turn the gate red on its own; bump deliberately.
STATICCHECK_VERSION=v0.8.2
staticcheck=$(go env GOPATH)/bin/staticcheck
if [[ ! -x $staticcheck ]] || ! "$staticcheck" -version | grep -qF "(${STATICCHECK_VERSION#v})"; then
    echo "installing staticcheck $STATICCHECK_VERSION"
    GOBIN=$(go env GOPATH)/bin go install "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION"
fi

status=0
for module in gateway deploy/validate clients/go bench/load/bareproxy; do
    echo "--- $module: gofmt, go vet, staticcheck"
    unformatted=$(cd "$module" && gofmt -l .)
    if [[ -n $unformatted ]]; then
        echo "gofmt would change these files in $module (run: gofmt -w $module):" >&2
        echo "$unformatted" >&2
        status=1
    fi
    (cd "$module" && go vet ./... && "$staticcheck" ./...) || status=1
done

echo "--- clients/ts: tsc --noEmit"
if [[ ! -d clients/ts/node_modules ]]; then
    (cd clients/ts && npm ci --no-audit --no-fund)
fi
(cd clients/ts && npx --no-install tsc --noEmit -p .) || status=1

exit $status
