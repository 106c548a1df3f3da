#!/usr/bin/env bash
# `make run`: the docker-compose shape with local processes, on the offline default model.
# Redis when redis-server is installed, the server workers, the gateway when Go is there, the UI when it exists.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"
state=.run
mkdir -p "$state"

pids=()
cleanup() {
    trap - EXIT INT TERM
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

redis_port=${AITEXT_LOCAL_REDIS_PORT:-6379}
if [[ -z "${AITEXT_REDIS_URL:-}" && -z "${AITEXT_REDIS_CLUSTER_NODES:-}" ]]; then
    if redis-cli -p "$redis_port" ping >/dev/null 2>&1; then
        echo "using the Redis already running on port $redis_port"
        export AITEXT_REDIS_URL="redis://127.0.0.1:$redis_port/0"
    elif command -v redis-server >/dev/null; then
        redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no \
            --dir "$state" --logfile "$PWD/$state/redis.log" &
        pids+=($!)
        export AITEXT_REDIS_URL="redis://127.0.0.1:$redis_port/0"
        echo "started redis-server on port $redis_port"
    else
        echo "NOTICE: redis-server is not installed: the cache is memory-only (apt-get install redis-server to add Redis)"
    fi
fi

# Secure by default: the server needs an API key. Make one local key (kept in .run/api-key) for the
# UI and the command-line client, unless keys are configured already.
if [[ -z "${AITEXT_API_KEYS:-}" && -z "${AITEXT_API_KEYS_FILE:-}" && "${AITEXT_ALLOW_UNAUTHENTICATED:-}" != "true" ]]; then
    [[ -s $state/api-key ]] || python3 -c 'import secrets; print(secrets.token_urlsafe(24))' > "$state/api-key"
    local_key=$(cat "$state/api-key")
    # ops: the one local key is the operator too, so the UI's cache page shows the whole deployment.
    export AITEXT_API_KEYS="$local_key:process+admin+ops@local"
    export AITEXT_UI_API_KEY=${AITEXT_UI_API_KEY:-$local_key}
    export AITEXT_CLIENT_API_KEY=${AITEXT_CLIENT_API_KEY:-$local_key}
    echo "local API key (tenant local, ops): .run/api-key — e.g. -H \"authorization: Bearer \$(cat .run/api-key)\""
fi

# The secret that binds each Redis entry to its key (kept in .run/cache-secret), unless one is configured.
if [[ -z "${AITEXT_CACHE_SECRET:-}" ]]; then
    [[ -s $state/cache-secret ]] || python3 -c 'import secrets; print(secrets.token_urlsafe(32))' > "$state/cache-secret"
    AITEXT_CACHE_SECRET=$(cat "$state/cache-secret")
    export AITEXT_CACHE_SECRET
fi

export AITEXT_WORKERS=${AITEXT_WORKERS:-2}
aitext serve --ready-file "$state/server.port" &
pids+=($!)
for _ in $(seq 1 600); do [[ -s $state/server.port ]] && break; sleep 0.1; done
[[ -s $state/server.port ]] || { echo "the server did not start" >&2; exit 1; }
server_port=$(cat "$state/server.port")
rm -f "$state/server.port"
echo "aitext gRPC server: localhost:$server_port ($AITEXT_WORKERS workers, model ${AITEXT_MODEL:-local})"

gateway_address=""
if [[ -d gateway ]] && command -v go >/dev/null; then
    (cd gateway && go build -o "../$state/aitext-gateway" .)
    gateway_listen=${AITEXT_GATEWAY_LISTEN:-:8080}
    "$state/aitext-gateway" --listen "$gateway_listen" --backends "localhost:$server_port" &
    pids+=($!)
    gateway_address="localhost:${gateway_listen##*:}"
    echo "gateway (gRPC, gRPC-Web, Connect, REST): http://$gateway_address"
else
    echo "NOTICE: Go is not installed: no gateway; call the server directly on localhost:$server_port"
fi

if [[ -f frontend/app.py ]]; then
    AITEXT_UI_SERVICE_ADDRESS=${gateway_address:-localhost:$server_port} AITEXT_UI_FALLBACK_ADDRESS=localhost:$server_port \
        streamlit run frontend/app.py --server.port 8501 --server.headless true --browser.gatherUsageStats false &
    pids+=($!)
    echo "UI: http://localhost:8501"
fi

echo "Ctrl-C stops everything."
wait -n "${pids[@]}"
