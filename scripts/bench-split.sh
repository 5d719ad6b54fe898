#!/usr/bin/env bash
# Split mode, as BENCHMARKS.md describes: the release cloud (pinned to core 0, demo runtime
# unpaced, request limits and quotas off) on SQLite or Postgres; `open-cowork-cloud bench streams`
# (core 1) opens N session streams, reports the cloud's memory with them idle, then times
# prompts from sending to the first event on their stream. Then a release gateway in split mode
# (on SQLite, core 0 too, workers paused as in scripts/bench-ingress.sh) takes signed webhooks
# from `open-cowork-gateway bench ingress` (core 1), for the ingress figure beside standalone's.
#
#   scripts/bench-split.sh sqlite|postgres [streams] [prompts]
set -euo pipefail
cd "$(dirname "$0")/.."
BACKEND="${1:?usage: scripts/bench-split.sh sqlite|postgres [streams] [prompts]}"
STREAMS="${2:-1000}"
PROMPTS="${3:-200}"
CLOUD_PORT=8787
GW_PORT=8796
PG_URL="${OPEN_COWORK_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
DIR="${CARGO_TARGET_DIR:-target}/release"

cargo build --release -p cowork-cloud -p cowork-gateway --quiet
WORK=$(mktemp -d)
SCHEMA="split_$$"
cleanup() {
  kill "${CLOUD:-0}" "${GW:-0}" 2>/dev/null || true
  wait 2>/dev/null || true
  if [ "$BACKEND" = postgres ]; then psql "$PG_URL" -qc "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" >/dev/null 2>&1 || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

case "$BACKEND" in
  sqlite) URL="sqlite://$WORK/cloud.db" ;;
  postgres) psql "$PG_URL" -qc "CREATE SCHEMA $SCHEMA" >/dev/null
            URL="$PG_URL?options=-csearch_path%3D$SCHEMA" ;;
  *) echo "backend must be sqlite or postgres" >&2; exit 2 ;;
esac

"$DIR/open-cowork-cloud" bindings create --provider fake --binding-id fake-binding --database-url "$URL" >/dev/null
"$DIR/open-cowork-cloud" bindings create --provider webhook --binding-id webhook --database-url "$URL" >/dev/null
TOKEN=$("$DIR/open-cowork-cloud" tokens create --name bench --scope gateway --binding fake-binding \
  --binding webhook --database-url "$URL")
SECRET=bench-secret-not-for-production
PROVIDERS='[{"id":"webhook","kind":"webhook","credentials":{"sharedSecret":"'$SECRET'"},
             "settings":{"deliveryUrl":"http://127.0.0.1:9/unused","allowPrivateDelivery":true}}]'

OPEN_COWORK_CLOUD_DEMO_DELTA_INTERVAL_MS=0 OPEN_COWORK_CLOUD_RATE_LIMIT_MAX_REQUESTS=0 OPEN_COWORK_CLOUD_GATEWAY_RATE_LIMIT_MAX_REQUESTS=0 \
OPEN_COWORK_CLOUD_PROMPTS_PER_HOUR=0 OPEN_COWORK_CLOUD_GATEWAY_PROMPTS_PER_HOUR=0 \
OPEN_COWORK_CLOUD_LOG_LEVEL=warn \
  taskset -c 0 "$DIR/open-cowork-cloud" serve --listen "127.0.0.1:$CLOUD_PORT" --database-url "$URL" >"$WORK/cloud.out" &
CLOUD=$!
until curl -sf "http://127.0.0.1:$CLOUD_PORT/readyz" >/dev/null; do sleep 0.1; done

echo "== session streams ($BACKEND, $STREAMS streams, $PROMPTS prompts)"
OPEN_COWORK_BENCH_TOKEN="$TOKEN" taskset -c 1 "$DIR/open-cowork-cloud" bench streams \
  --url "http://127.0.0.1:$CLOUD_PORT" --binding fake-binding --streams "$STREAMS" --prompts "$PROMPTS" --cloud-pid "$CLOUD" ${BENCH_ARGS:-}

echo "== signed webhook ingress of a gateway in split mode (gateway on SQLite, workers paused)"
OPEN_COWORK_CLOUD_BASE_URL="http://127.0.0.1:$CLOUD_PORT" OPEN_COWORK_GATEWAY_SERVICE_TOKEN="$TOKEN" \
OPEN_COWORK_GATEWAY_PROVIDERS="$PROVIDERS" OPEN_COWORK_GATEWAY_PAUSE_WORKERS=true \
OPEN_COWORK_GATEWAY_TRUST_PROXY_HEADERS=true OPEN_COWORK_GATEWAY_TRUSTED_PROXY_CIDRS=127.0.0.1/32 \
OPEN_COWORK_GATEWAY_LOG_LEVEL=warn \
  taskset -c 0 "$DIR/open-cowork-gateway" serve --listen "127.0.0.1:$GW_PORT" --data-dir "$WORK/gw" >"$WORK/gw.out" &
GW=$!
until curl -sf "http://127.0.0.1:$GW_PORT/health" >/dev/null; do sleep 0.1; done
taskset -c 1 "$DIR/open-cowork-gateway" bench ingress --url "http://127.0.0.1:$GW_PORT/webhooks/webhook" \
  --secret "$SECRET" --requests 50000 --concurrency 64 --forwarded-pool 1000
