#!/usr/bin/env bash
# Burst of new conversations, as BENCHMARKS.md describes: the release gateway pinned to core 0 with
# one `webhook` provider delivering to a local receiver that answers 200 at once, the demo runtime
# unpaced; the load generator (pinned to core 1) sends N signed webhooks, each a new chat, from 16
# clients. Prints the ingress report, then the session commands done each second until all are
# done (or the time limit), and the seconds from the first webhook to the last command done.
#
#   scripts/bench-burst.sh sqlite|postgres [conversations] [time limit in seconds] [standalone|split]
#
# `split` runs the same load against `open-cowork-gateway serve` and `open-cowork-cloud serve`
# (both pinned to core 0, each on its own database, talking over loopback HTTP), with the
# cloud's quotas and gateway rate limit off.
#
# Postgres: OPEN_COWORK_TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test);
# a schema of its own is created and dropped. Needs python3 (the receiver), psql or sqlite3.
set -euo pipefail
cd "$(dirname "$0")/.."
BACKEND="${1:?usage: scripts/bench-burst.sh sqlite|postgres [conversations] [limit]}"
N="${2:-3000}"
LIMIT="${3:-300}"
MODE="${4:-standalone}"
CLOUD_PORT=8799
CLOUD_BIN="${CARGO_TARGET_DIR:-target}/release/open-cowork-cloud"
PORT=8797
RECEIVER_PORT=8798
PG_URL="${OPEN_COWORK_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
BIN="${CARGO_TARGET_DIR:-target}/release/open-cowork-gateway"
SECRET=bench-secret-not-for-production

cargo build --release -p cowork-gateway -p cowork-cloud --quiet
WORK=$(mktemp -d)
SCHEMA="burst_$$"
cleanup() {
  kill "${GW:-0}" "${CLOUD:-0}" "${RECEIVER:-0}" 2>/dev/null || true
  wait 2>/dev/null || true
  if [ "$BACKEND" = postgres ]; then
    psql "$PG_URL" -qc "DROP SCHEMA IF EXISTS $SCHEMA CASCADE; DROP SCHEMA IF EXISTS ${SCHEMA}_cloud CASCADE" >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

python3 scripts/receiver.py "$RECEIVER_PORT" &
RECEIVER=$!
until curl -sf -X POST -d '' "http://127.0.0.1:$RECEIVER_PORT/" >/dev/null; do sleep 0.05; done

# The sessions live in the gateway's database (standalone) or the cloud's (split).
SESSIONS_DB=gateway
SESSIONS_SCHEMA=$SCHEMA
[ "$MODE" = split ] && SESSIONS_DB=cloud && SESSIONS_SCHEMA="${SCHEMA}_cloud"
case "$BACKEND" in
  sqlite) URL="sqlite://$WORK/gateway.db"
          CLOUD_URL="sqlite://$WORK/cloud.db"
          count() { sqlite3 "file:$WORK/$SESSIONS_DB.db?mode=ro" "SELECT COUNT(*) FROM cloud_commands WHERE state = 'done'"; } ;;
  postgres) psql "$PG_URL" -qc "CREATE SCHEMA $SCHEMA; CREATE SCHEMA ${SCHEMA}_cloud" >/dev/null
            URL="$PG_URL?options=-c%20search_path%3D$SCHEMA"
            CLOUD_URL="$PG_URL?options=-c%20search_path%3D${SCHEMA}_cloud"
            count() { psql "$PG_URL" -Atc "SELECT COUNT(*) FROM $SESSIONS_SCHEMA.cloud_commands WHERE state = 'done'"; } ;;
  *) echo "unknown backend $BACKEND (sqlite or postgres)" >&2; exit 2 ;;
esac

GATEWAY_ARGS=(standalone)
GATEWAY_ENV=()
case "$MODE" in
  standalone) ;;
  split)
    "$CLOUD_BIN" bindings create --provider webhook --binding-id webhook --database-url "$CLOUD_URL" >/dev/null
    TOKEN=$("$CLOUD_BIN" tokens create --name bench --scope gateway --binding webhook --database-url "$CLOUD_URL")
    OPEN_COWORK_CLOUD_DEMO_DELTA_INTERVAL_MS=0 OPEN_COWORK_CLOUD_LOG_LEVEL=warn \
    OPEN_COWORK_CLOUD_PROMPTS_PER_HOUR=0 OPEN_COWORK_CLOUD_GATEWAY_PROMPTS_PER_HOUR=0 \
    OPEN_COWORK_CLOUD_MAX_QUEUED_COMMANDS_PER_SESSION=0 OPEN_COWORK_CLOUD_GATEWAY_RATE_LIMIT_MAX_REQUESTS=0 \
      taskset -c 0 "$CLOUD_BIN" serve --listen "127.0.0.1:$CLOUD_PORT" --database-url "$CLOUD_URL" \
      >"$WORK/cloud-out" 2>"$WORK/cloud-err" &
    CLOUD=$!
    until curl -sf "http://127.0.0.1:$CLOUD_PORT/readyz" >/dev/null; do sleep 0.01; done
    GATEWAY_ARGS=(serve)
    GATEWAY_ENV=(OPEN_COWORK_CLOUD_BASE_URL="http://127.0.0.1:$CLOUD_PORT" OPEN_COWORK_GATEWAY_SERVICE_TOKEN="$TOKEN") ;;
  *) echo "unknown mode $MODE (standalone or split)" >&2; exit 2 ;;
esac

PROVIDERS='[{"id":"webhook","kind":"webhook","credentials":{"sharedSecret":"'$SECRET'"},
             "settings":{"deliveryUrl":"http://127.0.0.1:'$RECEIVER_PORT'/in","allowPrivateDelivery":true}}]'
OPEN_COWORK_GATEWAY_PROVIDERS="$PROVIDERS" OPEN_COWORK_CLOUD_DEMO_DELTA_INTERVAL_MS=0 \
OPEN_COWORK_GATEWAY_TRUST_PROXY_HEADERS=true OPEN_COWORK_GATEWAY_TRUSTED_PROXY_CIDRS=127.0.0.1/32 \
OPEN_COWORK_GATEWAY_LOG_LEVEL=warn \
  env "${GATEWAY_ENV[@]}" taskset -c 0 "$BIN" "${GATEWAY_ARGS[@]}" --listen "127.0.0.1:$PORT" --database-url "$URL" \
  >"$WORK/out" 2>"$WORK/err" &
GW=$!
until curl -sf "http://127.0.0.1:$PORT/ready" >/dev/null; do sleep 0.01; done

start=$(date +%s%N)
taskset -c 1 "$BIN" bench ingress --url "http://127.0.0.1:$PORT/webhooks/webhook" --secret "$SECRET" \
  --requests "$N" --concurrency 16 --chats "$N" --forwarded-pool 1000
done=0
for second in $(seq 1 "$LIMIT"); do
  done=$(count 2>/dev/null || echo "$done")
  [ "$done" -ge "$N" ] && break
  echo "${second} s: ${done} of ${N} conversations done"
  sleep 1
done
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
if [ "$done" -ge "$N" ]; then
  echo "== $BACKEND $MODE: $N conversations done in ${elapsed_ms} ms ($(( N * 1000 / elapsed_ms ))/s)"
else
  echo "== $BACKEND $MODE: only $done of $N conversations done after ${LIMIT} s"
fi
for log in "$WORK/err" "$WORK/cloud-err"; do
  if [ -f "$log" ] && grep -q '"level":"WARN"' "$log"; then echo "warnings logged:"; grep '"level":"WARN"' "$log" | head -5; fi
done
