#!/usr/bin/env bash
# End-to-end throughput of several standalone replicas on one Postgres, as BENCHMARKS.md
# describes: R release gateways (all pinned to core 0, so one and three replicas get the same CPU)
# share B `webhook` bindings delivering to a local receiver that answers 200 at once, the demo
# runtime unpaced. One load generator per binding (pinned to core 1) sends N/B signed webhooks,
# each a new chat, to the replicas in turn. Prints the seconds from the first webhook to the last
# conversation done, and how the bindings were spread.
#
#   scripts/bench-replicas.sh [replicas] [conversations] [bindings] [time limit in seconds]
#
# Postgres: OPEN_COWORK_TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test);
# a schema of its own is created and dropped. Needs python3 (the receiver), curl and psql.
set -euo pipefail
cd "$(dirname "$0")/.."
REPLICAS="${1:-3}"
N="${2:-2000}"
BINDINGS="${3:-6}"
LIMIT="${4:-300}"
BASE_PORT=8800
RECEIVER_PORT=8798
PG_URL="${OPEN_COWORK_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
BIN="${CARGO_TARGET_DIR:-target}/release/open-cowork-gateway"
SECRET=bench-secret-not-for-production
TOKEN=bench-operator-token-0123456789
export PGOPTIONS="-c client_min_messages=warning"

cargo build --release -p cowork-gateway --quiet
WORK=$(mktemp -d)
SCHEMA="replicas_$$"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  psql "$PG_URL" -qc "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

python3 scripts/receiver.py "$RECEIVER_PORT" &
PIDS+=($!)
until curl -sf -X POST -d '' "http://127.0.0.1:$RECEIVER_PORT/" >/dev/null; do sleep 0.05; done

psql "$PG_URL" -qc "CREATE SCHEMA $SCHEMA" >/dev/null
URL="$PG_URL?options=-c%20search_path%3D$SCHEMA"
PROVIDERS=$(python3 -c "
import json, sys
print(json.dumps([{'id': f'webhook-{i}', 'kind': 'webhook', 'channelBindingId': f'b{i}',
  'credentials': {'sharedSecret': sys.argv[1]},
  'settings': {'deliveryUrl': f'http://127.0.0.1:{sys.argv[2]}/in', 'allowPrivateDelivery': True}}
  for i in range(int(sys.argv[3]))]))" "$SECRET" "$RECEIVER_PORT" "$BINDINGS")

for r in $(seq 1 "$REPLICAS"); do
  OPEN_COWORK_GATEWAY_PROVIDERS="$PROVIDERS" OPEN_COWORK_CLOUD_DEMO_DELTA_INTERVAL_MS=0 \
  OPEN_COWORK_GATEWAY_INSTANCE_ID="gw-$r" OPEN_COWORK_GATEWAY_ADMIN_TOKEN="$TOKEN" \
  OPEN_COWORK_GATEWAY_TRUST_PROXY_HEADERS=true OPEN_COWORK_GATEWAY_TRUSTED_PROXY_CIDRS=127.0.0.1/32 \
  OPEN_COWORK_GATEWAY_LOG_LEVEL=warn \
    taskset -c 0 "$BIN" standalone --listen "127.0.0.1:$((BASE_PORT + r))" --database-url "$URL" \
    >"$WORK/out-$r" 2>"$WORK/err-$r" &
  PIDS+=($!)
  until curl -sf "http://127.0.0.1:$((BASE_PORT + r))/ready" >/dev/null; do sleep 0.01; done
done
# Wait until the bindings are spread over every replica (rendezvous hashing).
owners() {
  curl -sf -H "authorization: Bearer $TOKEN" "http://127.0.0.1:$((BASE_PORT + 1))/ownership" |
    python3 -c "import json,sys; print(' '.join(sorted(set(str(b['owner']) for b in json.load(sys.stdin)['bindings']))))"
}
for _ in $(seq 1 200); do
  [ "$(owners | wc -w)" -ge "$(( REPLICAS < BINDINGS ? REPLICAS : BINDINGS ))" ] && break
  sleep 0.1
done
echo "owners: $(owners)"

count() { psql "$PG_URL" -Atc "SELECT COUNT(*) FROM $SCHEMA.cloud_commands WHERE state = 'done'"; }
start=$(date +%s%N)
LOADS=()
for i in $(seq 0 $((BINDINGS - 1))); do
  port=$((BASE_PORT + 1 + i % REPLICAS))
  taskset -c 1 "$BIN" bench ingress --url "http://127.0.0.1:$port/webhooks/webhook-$i" --secret "$SECRET" \
    --requests $((N / BINDINGS)) --concurrency 4 --chats $((N / BINDINGS)) --forwarded-pool 1000 >"$WORK/load-$i" 2>&1 &
  LOADS+=($!)
done
wait "${LOADS[@]}"
TOTAL=$(( (N / BINDINGS) * BINDINGS ))
done=0
for _ in $(seq 1 $((LIMIT * 5))); do
  done=$(count 2>/dev/null || echo "$done")
  [ "$done" -ge "$TOTAL" ] && break
  sleep 0.2
done
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
if [ "$done" -ge "$TOTAL" ]; then
  echo "== $REPLICAS replica(s), $BINDINGS bindings: $TOTAL conversations done in ${elapsed_ms} ms ($(( TOTAL * 1000 / elapsed_ms ))/s)"
else
  echo "== $REPLICAS replica(s): only $done of $TOTAL conversations done after ${LIMIT} s"
fi
for r in $(seq 1 "$REPLICAS"); do
  if grep -q '"level":"WARN"' "$WORK/err-$r"; then echo "warnings logged by gw-$r:"; grep '"level":"WARN"' "$WORK/err-$r" | head -3; fi
done
