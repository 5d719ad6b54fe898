#!/usr/bin/env bash
# Whole conversations end to end, as BENCHMARKS.md describes: the release gateway (standalone,
# demo runtime unpaced: six streamed snapshots per reply) pinned to core 0 with one `webhook`
# provider; `open-cowork-gateway bench conversations`, pinned to core 1, sends N signed webhooks
# (each a new chat) and runs the receiver the provider delivers to. A conversation is complete
# when its reply's final text has arrived. Prints conversations/s, deliveries per conversation,
# the ack latency, the gateway's CPU time per conversation, and the durable writes per
# conversation: on SQLite the gateway's own counters (SQLite's commit and update hooks), on
# Postgres the server's statistics for the run's schema, read after the gateway has stopped (its
# connections report their statistics as they close).
#
#   scripts/bench-conversations.sh sqlite|postgres [conversations] [runs]
#
# GATEWAY_BIN runs that gateway binary instead of building the release one (to compare two
# builds; the load generator is still the release build's `bench conversations`).
# Postgres: OPEN_COWORK_TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test);
# a schema of its own is created and dropped per run. Needs curl, and psql for Postgres.
set -euo pipefail
cd "$(dirname "$0")/.."
BACKEND="${1:?usage: scripts/bench-conversations.sh sqlite|postgres [conversations] [runs]}"
N="${2:-3000}"
RUNS="${3:-1}"
PORT=8797
RECEIVER_PORT=8798
PG_URL="${OPEN_COWORK_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
BIN="${GATEWAY_BIN:-${CARGO_TARGET_DIR:-target}/release/open-cowork-gateway}"
SECRET=bench-secret-not-for-production
export OPEN_COWORK_GATEWAY_ADMIN_TOKEN="bench-admin-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"

cargo build --release -p cowork-gateway --quiet
WORK=$(mktemp -d)
SCHEMA="conv_$$"
stop_gateway() {
  if [ -n "${GW:-}" ]; then
    kill "$GW" 2>/dev/null || true
    wait "$GW" 2>/dev/null || true
    GW=
  fi
}
cleanup() {
  stop_gateway
  [ "$BACKEND" = postgres ] && psql "$PG_URL" -qc "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" >/dev/null 2>&1
  rm -rf "$WORK"
}
trap cleanup EXIT

# Postgres: commits, WAL flushes and bytes of the whole server, rows written per table of the schema.
pg_totals() {
  psql "$PG_URL" -Atc "SELECT 'commits ' || xact_commit FROM pg_stat_database WHERE datname = current_database()
    UNION ALL SELECT 'wal_syncs ' || wal_sync FROM pg_stat_wal
    UNION ALL SELECT 'wal_bytes ' || wal_bytes FROM pg_stat_wal
    UNION ALL SELECT 'rows:' || relname || ' ' || (n_tup_ins + n_tup_upd + n_tup_del)
      FROM pg_stat_user_tables WHERE schemaname = '$SCHEMA'"
}

# The gateway's CPU time so far (user + system of all its threads, in clock ticks).
gateway_cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$GW/stat"; }

PROVIDERS='[{"id":"webhook","kind":"webhook","credentials":{"sharedSecret":"'$SECRET'"},
             "settings":{"deliveryUrl":"http://127.0.0.1:'$RECEIVER_PORT'/in","allowPrivateDelivery":true}}]'
for run in $(seq 1 "$RUNS"); do
  rm -f "$WORK"/gateway.db*
  case "$BACKEND" in
    sqlite) URL="sqlite://$WORK/gateway.db" ;;
    postgres) psql "$PG_URL" -qc "DROP SCHEMA IF EXISTS $SCHEMA CASCADE; CREATE SCHEMA $SCHEMA" >/dev/null
              URL="$PG_URL?options=-c%20search_path%3D$SCHEMA" ;;
    *) echo "unknown backend $BACKEND (sqlite or postgres)" >&2; exit 2 ;;
  esac
  OPEN_COWORK_GATEWAY_PROVIDERS="$PROVIDERS" OPEN_COWORK_CLOUD_DEMO_DELTA_INTERVAL_MS=0 \
  OPEN_COWORK_GATEWAY_TRUST_PROXY_HEADERS=true OPEN_COWORK_GATEWAY_TRUSTED_PROXY_CIDRS=127.0.0.1/32 \
  OPEN_COWORK_GATEWAY_LOG_LEVEL=warn \
    taskset -c 0 "$BIN" standalone --listen "127.0.0.1:$PORT" --database-url "$URL" >"$WORK/out" 2>"$WORK/err" &
  GW=$!
  until curl -sf "http://127.0.0.1:$PORT/ready" >/dev/null; do sleep 0.01; done
  [ "$BACKEND" = postgres ] && { before=$(pg_totals); }
  echo "== run $run of $RUNS: $BACKEND, $N conversations"
  status=0
  cpu_before=$(gateway_cpu_ticks)
  taskset -c 1 "${CARGO_TARGET_DIR:-target}/release/open-cowork-gateway" bench conversations --url "http://127.0.0.1:$PORT/webhooks/webhook" --secret "$SECRET" \
    --conversations "$N" --concurrency 16 --forwarded-pool 1000 --receiver "127.0.0.1:$RECEIVER_PORT" \
    --metrics-url "http://127.0.0.1:$PORT/metrics" || status=$?
  awk -v ticks=$(( $(gateway_cpu_ticks) - cpu_before )) -v hz="$(getconf CLK_TCK)" -v n="$N" \
    'BEGIN { printf "gateway CPU per conversation (user + system, all threads): %.2f ms\n", ticks * 1000 / hz / n }'
  stop_gateway
  if [ "$BACKEND" = postgres ]; then
    sleep 1 # the closing connections' statistics reach the server's view
    # Totals before and after, side by side, as "name before after"; prints the per-conversation delta.
    join -a2 -e0 -o 0,1.2,2.2 <(sort <<<"$before" | tr ' ' '\t' | sort) <(pg_totals | tr ' ' '\t' | sort) -t $'\t' |
      awk -F'\t' -v n="$N" '
        /^rows:/ { sub(/^rows:/, "", $1); if ($3 == $2) next; rows += $3 - $2; detail = detail sprintf("%s %.2f, ", $1, ($3 - $2) / n); next }
        { total[$1] = $3 - $2 }
        END {
          printf "transactions committed per conversation (server-wide, reads included): %.2f\n", total["commits"] / n
          printf "WAL flushes per conversation (server-wide): %.2f, WAL bytes per conversation: %.0f\n", total["wal_syncs"] / n, total["wal_bytes"] / n
          sub(/, $/, "", detail)
          printf "row writes per conversation: %.2f (%s)\n", rows / n, detail
        }'
  fi
  if grep -q '"level":"WARN"' "$WORK/err"; then echo "warnings logged:"; grep '"level":"WARN"' "$WORK/err" | head -5; fi
  [ "$status" -eq 0 ] || { echo "run $run failed"; exit "$status"; }
done
