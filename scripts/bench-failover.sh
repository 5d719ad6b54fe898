#!/usr/bin/env bash
# Failover of replicas on one Postgres, as BENCHMARKS.md describes: two release gateways
# (`gw-a`, `gw-b`) share eight fake bindings; `gw-b` is killed with `kill -9`, a message for one
# of its bindings is posted to `gw-a` at once, and the time until its first reply message is
# delivered (by `gw-a`, the new owner) is measured. Then a third replica joins, and the time until
# it holds its share is measured. Repeats RUNS times and prints each figure, then p50 and max.
#
#   scripts/bench-failover.sh [runs] [ownership lease ms]
#
# Postgres: OPEN_COWORK_TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test);
# a schema of its own per run is created and dropped. Needs python3 and psql.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${1:-5}"
LEASE_MS="${2:-15000}"
# At least three heartbeats per lease (the default heartbeat is 5 s).
HEARTBEAT_MS=$(( LEASE_MS / 3 < 5000 ? LEASE_MS / 3 : 5000 ))
export PGOPTIONS="-c client_min_messages=warning"
PG_URL="${OPEN_COWORK_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
BIN="${CARGO_TARGET_DIR:-target}/release/open-cowork-gateway"
TOKEN=bench-operator-token-0123456789
BINDINGS="b1 b2 b3 b4 b5 b6 b7 b8"

cargo build --release -p cowork-gateway --quiet
WORK=$(mktemp -d)
PIDS=()
SCHEMA=""
cleanup() {
  for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -n "$SCHEMA" ] && psql "$PG_URL" -qc "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

PROVIDERS=$(python3 -c "import json,sys; print(json.dumps([{'id': 'fake-'+b, 'kind': 'fake', 'channelBindingId': b} for b in sys.argv[1:]]))" $BINDINGS)

# Starts replica $1 on port $2 and waits for it to answer.
start() {
  OPEN_COWORK_GATEWAY_INSTANCE_ID="$1" OPEN_COWORK_GATEWAY_PROVIDERS="$PROVIDERS" \
    OPEN_COWORK_GATEWAY_ADMIN_TOKEN="$TOKEN" OPEN_COWORK_GATEWAY_OWNERSHIP_LEASE_MS="$LEASE_MS" \
    OPEN_COWORK_GATEWAY_HEARTBEAT_INTERVAL_MS="$HEARTBEAT_MS" \
    OPEN_COWORK_GATEWAY_LOG_LEVEL=error OPEN_COWORK_CLOUD_DEMO_DELTA_INTERVAL_MS=1 \
    "$BIN" standalone --listen "127.0.0.1:$2" --database-url "$DB_URL" >"$WORK/$1.log" 2>&1 &
  PIDS+=($!)
  LAST_PID=$!
  until curl -sf "http://127.0.0.1:$2/ready" >/dev/null; do
    kill -0 "$LAST_PID" 2>/dev/null || { echo "replica $1 exited:" >&2; cat "$WORK/$1.log" >&2; exit 1; }
    sleep 0.05
  done
}

# Prints `binding owner` lines from replica port $1's /ownership.
owners() {
  curl -sf -H "authorization: Bearer $TOKEN" "http://127.0.0.1:$1/ownership" |
    python3 -c "import json,sys; [print(b['channelBindingId'], b['owner']) for b in json.load(sys.stdin)['bindings']]"
}

now_ms() { python3 -c 'import time; print(int(time.time()*1000))'; }

FAILOVER=()
JOIN=()
for run in $(seq 1 "$RUNS"); do
  SCHEMA="failover_$$_$run"
  psql "$PG_URL" -qc "CREATE SCHEMA $SCHEMA" >/dev/null
  DB_URL="$PG_URL?options=-c%20search_path%3D$SCHEMA"
  PIDS=()
  start gw-a 8791; A=$LAST_PID
  start gw-b 8792; B=$LAST_PID
  # Wait until gw-b holds a share.
  until owners 8791 | grep ' gw-b$' >/dev/null; do sleep 0.05; done
  VICTIM=$(owners 8791 | awk '$2 == "gw-b" && !v {v = $1} END {print v}')
  T0=$(now_ms)
  kill -9 "$B"
  curl -sf -o /dev/null -X POST "http://127.0.0.1:8791/webhooks/fake-$VICTIM" \
    -H 'content-type: application/json' -d "{\"id\": \"m-$run\", \"chatId\": \"failover\", \"text\": \"after the kill\"}"
  until curl -sf "http://127.0.0.1:8791/fake/fake-$VICTIM/transcript?chatId=failover" | grep '"text"' >/dev/null; do sleep 0.02; done
  T1=$(now_ms)
  FAILOVER+=($((T1 - T0)))

  T2=$(now_ms)
  start gw-c 8793
  until owners 8791 | grep ' gw-c$' >/dev/null; do sleep 0.02; done
  T3=$(now_ms)
  JOIN+=($((T3 - T2)))
  echo "run $run: kill -9 to the new owner's first delivery ${FAILOVER[-1]} ms; a joining replica holds its first binding after ${JOIN[-1]} ms (from its start)"
  for pid in "${PIDS[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  psql "$PG_URL" -qc "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" >/dev/null
  SCHEMA=""
done

summary() {
  python3 -c "import sys,statistics; v=sorted(int(x) for x in sys.argv[2:]); print(f'{sys.argv[1]}: p50 {statistics.median(v):.0f} ms, max {v[-1]} ms over {len(v)} runs')" "$@"
}
summary "kill -9 to first delivery by the new owner (lease ${LEASE_MS} ms)" "${FAILOVER[@]}"
summary "joining replica to its first binding" "${JOIN[@]}"
