#!/usr/bin/env bash
# Burst of new conversations, as BENCHMARKS.md describes: the release gateway pinned to core 0 with
# one `webhook` provider delivering to a local receiver that answers 200 at once, the demo runtime
# unpaced; the load generator (pinned to core 1) sends N signed webhooks, each a new chat, from 16
# clients. Prints the ingress report, then the session commands done each second until all are
# done (or the time limit), and the seconds from the first webhook to the last command done.
#
#   scripts/bench-burst.sh sqlite|postgres [conversations] [time limit in seconds]
#
# Postgres: OPEN_COWORK_TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test);
# a schema of its own is created and dropped. Needs python3 (the receiver), psql or sqlite3.
set -euo pipefail
cd "$(dirname "$0")/.."
BACKEND="${1:?usage: scripts/bench-burst.sh sqlite|postgres [conversations] [limit]}"
N="${2:-3000}"
LIMIT="${3:-300}"
PORT=8797
RECEIVER_PORT=8798
PG_URL="${OPEN_COWORK_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"
BIN="${CARGO_TARGET_DIR:-target}/release/open-cowork-gateway"
SECRET=bench-secret-not-for-production

cargo build --release -p cowork-gateway --quiet
WORK=$(mktemp -d)
SCHEMA="burst_$$"
cleanup() {
  kill "${GW:-0}" "${RECEIVER:-0}" 2>/dev/null || true
  wait 2>/dev/null || true
  if [ "$BACKEND" = postgres ]; then psql "$PG_URL" -qc "DROP SCHEMA IF EXISTS $SCHEMA CASCADE" >/dev/null 2>&1 || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

python3 - "$RECEIVER_PORT" <<'PY' &
import http.server, sys
class Receiver(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200); self.send_header("content-length", "2"); self.end_headers(); self.wfile.write(b"{}")
    def log_message(self, *args): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Receiver).serve_forever()
PY
RECEIVER=$!
until curl -sf -X POST -d '' "http://127.0.0.1:$RECEIVER_PORT/" >/dev/null; do sleep 0.05; done

case "$BACKEND" in
  sqlite) URL="sqlite://$WORK/gateway.db"
          count() { sqlite3 "file:$WORK/gateway.db?mode=ro" "SELECT COUNT(*) FROM cloud_commands WHERE state = 'done'"; } ;;
  postgres) psql "$PG_URL" -qc "CREATE SCHEMA $SCHEMA" >/dev/null
            URL="$PG_URL?options=-c%20search_path%3D$SCHEMA"
            count() { psql "$PG_URL" -Atc "SELECT COUNT(*) FROM $SCHEMA.cloud_commands WHERE state = 'done'"; } ;;
  *) echo "unknown backend $BACKEND (sqlite or postgres)" >&2; exit 2 ;;
esac

PROVIDERS='[{"id":"webhook","kind":"webhook","credentials":{"sharedSecret":"'$SECRET'"},
             "settings":{"deliveryUrl":"http://127.0.0.1:'$RECEIVER_PORT'/in","allowPrivateDelivery":true}}]'
OPEN_COWORK_GATEWAY_PROVIDERS="$PROVIDERS" OPEN_COWORK_CLOUD_DEMO_DELTA_INTERVAL_MS=0 \
OPEN_COWORK_GATEWAY_TRUST_PROXY_HEADERS=true OPEN_COWORK_GATEWAY_TRUSTED_PROXY_CIDRS=127.0.0.1/32 \
OPEN_COWORK_GATEWAY_LOG_LEVEL=warn \
  taskset -c 0 "$BIN" standalone --listen "127.0.0.1:$PORT" --database-url "$URL" >"$WORK/out" 2>"$WORK/err" &
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
  echo "== $BACKEND: $N conversations done in ${elapsed_ms} ms ($(( N * 1000 / elapsed_ms ))/s)"
else
  echo "== $BACKEND: only $done of $N conversations done after ${LIMIT} s"
fi
if grep -q '"level":"WARN"' "$WORK/err"; then echo "warnings logged:"; grep '"level":"WARN"' "$WORK/err" | head -5; fi
