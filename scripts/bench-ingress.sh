#!/usr/bin/env bash
# Ingress benchmark, as BENCHMARKS.md describes: the release gateway pinned to core 0 with its
# workers paused (ingress alone: every 202 is still a durable commit), the load generator pinned
# to core 1; for SQLite and for Postgres. Also measures start-to-ready time and idle RSS.
#
#   scripts/bench-ingress.sh [requests] [concurrency]
#
# GATEWAY_BIN runs that gateway binary instead of the release build (to compare two builds; the
# load generator is still the release build's `bench ingress`).
# Postgres: OPEN_COWORK_TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test);
# a schema of its own is created and dropped.
set -euo pipefail
cd "$(dirname "$0")/.."
REQUESTS="${1:-100000}"
CONCURRENCY="${2:-64}"
PORT=8797
PG_URL="${OPEN_COWORK_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
BIN="${CARGO_TARGET_DIR:-target}/release/open-cowork-gateway"
GATEWAY="${GATEWAY_BIN:-$BIN}"
SECRET=bench-secret-not-for-production

cargo build --release -p cowork-gateway --quiet
WORK=$(mktemp -d)
trap 'kill "${GW:-0}" 2>/dev/null || true; rm -rf "$WORK"' EXIT

PROVIDERS='[{"id":"webhook","kind":"webhook","credentials":{"sharedSecret":"'$SECRET'"},
             "settings":{"deliveryUrl":"http://127.0.0.1:9/unused","allowPrivateDelivery":true}}]'

run() { # $1 = label, $2 = database URL
  local start ready_ms
  start=$(date +%s%N)
  OPEN_COWORK_GATEWAY_PROVIDERS="$PROVIDERS" OPEN_COWORK_GATEWAY_PAUSE_WORKERS=true \
  OPEN_COWORK_GATEWAY_TRUST_PROXY_HEADERS=true OPEN_COWORK_GATEWAY_TRUSTED_PROXY_CIDRS=127.0.0.1/32 \
  OPEN_COWORK_GATEWAY_LOG_LEVEL=warn \
    taskset -c 0 "$GATEWAY" standalone --listen "127.0.0.1:$PORT" --database-url "$2" >"$WORK/out" 2>"$WORK/err" &
  GW=$!
  until curl -sf "http://127.0.0.1:$PORT/ready" >/dev/null; do sleep 0.002; done
  ready_ms=$(( ($(date +%s%N) - start) / 1000000 ))
  sleep 1
  echo "== $1: start to ready ${ready_ms} ms; idle RSS $(ps -o rss= -p $GW | tr -d ' ') KiB"
  taskset -c 1 "$BIN" bench ingress --url "http://127.0.0.1:$PORT/webhooks/webhook" --secret "$SECRET" \
    --requests "$REQUESTS" --concurrency "$CONCURRENCY" --forwarded-pool 1000
  kill -TERM $GW; wait $GW || true
}

run "SQLite (ingress alone)" "sqlite://$WORK/gateway.db"
SCHEMA="bench_$$"
psql "$PG_URL" -qc "CREATE SCHEMA $SCHEMA" >/dev/null
run "Postgres (ingress alone)" "$PG_URL?options=-c%20search_path%3D$SCHEMA"
psql "$PG_URL" -qc "DROP SCHEMA $SCHEMA CASCADE" >/dev/null 2>&1
