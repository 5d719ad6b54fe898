#!/usr/bin/env bash
# schemathesis against a live cloud and a live gateway, each started here on its own SQLite
# database with valid credentials, driven by the OpenAPI document the server itself serves at
# /openapi.json. Fails on any 5xx and on any response (error bodies included) that does not
# conform to its documented status, content type, headers and schema.
#
#   tools/schemathesis/run.sh [BIN_DIR] [MAX_EXAMPLES]     (defaults: target/debug, 30)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bin="$(cd "${1:-$here/../../target/debug}" && pwd)"
examples="${2:-30}"
venv="${SCHEMATHESIS_DIR:-$here/../../target/schemathesis}"
stamp="$venv/.requirements"
if ! cmp -s "$here/requirements.txt" "$stamp" 2>/dev/null; then
  rm -rf "$venv"
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt" >&2
  cp "$here/requirements.txt" "$stamp"
fi

work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# Starts a server whose banner line ends in its URL and sets `url` to it (not in a subshell, so
# the server is remembered in `pids` and stopped on exit).
start() {
  local log="$1"; shift
  "$@" >"$log.out" 2>"$log.err" &
  pids+=("$!")
  for _ in $(seq 1 200); do
    url="$(sed -n 's/.*is listening on \(http[^ ]*\).*/\1/p' "$log.out" | head -n 1)"
    if [ -n "$url" ]; then return 0; fi
    sleep 0.05
  done
  echo "server did not start: $*" >&2
  cat "$log.err" >&2
  return 1
}

checks="not_a_server_error,status_code_conformance,content_type_conformance"
checks="$checks,response_headers_conformance,response_schema_conformance,unsupported_method"
# The two event streams never end; they are covered by the process tests.
streams='/events$|/deliveries/stream$'
run() {
  "$venv/bin/schemathesis" run "$1/openapi.json" --url "$1" --checks "$checks" \
    --max-examples "$examples" --seed 7 --request-timeout 10 --exclude-path-regex "$streams" \
    --generation-database none --no-color "${@:2}"
}

# The cloud: a binding, an admin token and a gateway token for the binding.
cloud_db="sqlite://$work/cloud.db?mode=rwc"
cloud_cli() { "$bin/open-cowork-cloud" "$@" --database-url "$cloud_db"; }
cloud_cli bindings create --provider fake --binding-id fake-binding >/dev/null
admin="$(cloud_cli tokens create --name schemathesis-admin --scope admin)"
gateway="$(cloud_cli tokens create --name schemathesis-gateway --scope gateway --binding fake-binding)"
start "$work/cloud" "$bin/open-cowork-cloud" serve --listen 127.0.0.1:0 --database-url "$cloud_db"
cloud="$url"

# The administration routes as an operator, the channel routes as the gateway.
run "$cloud" -H "Authorization: Bearer $admin" --exclude-path-regex '^/api/channels/(sessions|identities/resolve|cursor|interactions|deliveries|provider-events)'
run "$cloud" -H "Authorization: Bearer $gateway" --include-path-regex '^/api/channels/(sessions|identities/resolve|cursor|interactions|deliveries|provider-events)'

# The gateway, standalone, with its operator token.
token="schemathesis-operator-token-0123456789"
OPEN_COWORK_GATEWAY_ADMIN_TOKEN="$token" OPEN_COWORK_CLOUD_DEMO_DELTA_INTERVAL_MS=1 \
  start "$work/gateway" "$bin/open-cowork-gateway" standalone --listen 127.0.0.1:0 --database-url "sqlite://$work/gateway.db?mode=rwc"
gw="$url"
run "$gw" -H "Authorization: Bearer $token"
echo "schemathesis: cloud and gateway conform to their documents"
