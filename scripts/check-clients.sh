#!/usr/bin/env bash
# Contract and client checks: buf lint, buf breaking against the previous commit's proto/,
# then the Go and TypeScript clients' tests against a real server (and the real gateway).
# Needs: `make install` (.venv with the aitext server), go, node >= 20 with npm, git.
# With --contract, only buf lint and buf breaking.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n=== %s\n' "$*"; }
need() {
    command -v "$1" >/dev/null || { echo "check-clients: '$1' is required but not installed ($2)" >&2; exit 1; }
}
need git "apt-get install git"
need go "https://go.dev/dl or apt-get install golang"
need node "Node.js >= 20: apt-get install nodejs npm"
need npm "apt-get install npm"
[[ -x .venv/bin/aitext ]] || { echo "check-clients: .venv/bin/aitext missing: run 'make install' first" >&2; exit 1; }
node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' ||
    { echo "check-clients: Node >= 20 is required, found $(node --version)" >&2; exit 1; }

step "npm ci (clients/ts: buf, protoc-gen-es, Connect-ES, TypeScript)"
(cd clients/ts && npm ci --no-audit --no-fund)
BUF=$PWD/clients/ts/node_modules/.bin/buf

step "buf lint"
"$BUF" lint

# buf breaking compares proto/ with proto/ of AITEXT_BREAKING_BASE (default HEAD~1, the
# previous commit). A CI that lands several commits at once should set it to the commit it
# started from. Without that commit we cannot know what clients were built against:
# - first commit of the repository: nothing to break, said and skipped;
# - shallow clone: deepened by one commit; if that fails, this check fails (a silent skip
#   would let an incompatible change through);
# - proto/aitext/v1 absent at the base (the contract is new): said and skipped.
step "buf breaking"
base=${AITEXT_BREAKING_BASE:-HEAD~1}
if ! git rev-parse -q --verify "$base^{commit}" >/dev/null; then
    if [[ "$(git rev-parse --is-shallow-repository)" == true ]]; then
        echo "shallow clone: fetching one more commit to find $base"
        git fetch -q --deepen=1 || true
    fi
fi
if git rev-parse -q --verify "$base^{commit}" >/dev/null; then
    if git cat-file -e "$base:proto/aitext/v1" 2>/dev/null; then
        against=$(mktemp -d)
        trap 'rm -rf "$against"' EXIT
        git archive "$base" proto | tar -x -C "$against"
        "$BUF" breaking proto --against "$against/proto"
        echo "proto/ is compatible with $(git rev-parse --short "$base")"
    else
        echo "proto/aitext/v1 does not exist at $base: a new contract, nothing to break"
    fi
elif [[ -z "${AITEXT_BREAKING_BASE:-}" && "$(git rev-parse --is-shallow-repository)" == false ]]; then
    # Not shallow and HEAD~1 does not exist: HEAD has no parent.
    echo "HEAD is the repository's first commit: no previous contract, nothing to break"
else
    echo "check-clients: cannot find $base to run buf breaking against (shallow clone?);" \
        "fetch more history or set AITEXT_BREAKING_BASE" >&2
    exit 1
fi

[[ "${1:-}" == "--contract" ]] && exit 0

step "Go client: go vet, go test"
(cd clients/go && go vet ./... && go test -count=1 ./...)

step "TypeScript client: tsc, node --test (real server, real gateway)"
(cd clients/ts && npm test)
