#!/usr/bin/env bash
# The backup-and-restore drill of deploy/runbooks/backup-restore.md, on a real Postgres server:
#
#   1. a recording webhook receiver (drill_receiver.py) stands in for the channel;
#   2. the gateway (standalone, demo runtime) answers 3 chats on a new source database; SIGTERM;
#   3. started again with its workers paused, it accepts 3 more messages, which wait in the inbox;
#   4. pg_dump --format=custom of the source, pg_restore --no-owner into a new database, the
#      outbox ids advanced, `open-cowork-gateway doctor` on the restored database;
#   5. the gateway on the restored database answers the 3 waiting messages, and the receiver's
#      record shows every delivery once: nothing of the first 3 chats is delivered again.
#
#   deploy/runbooks/backup-drill.sh [BIN_DIR]
#
# BIN_DIR holds the built open-cowork-gateway (default target/debug, under CARGO_TARGET_DIR when
# set). Postgres: OPEN_COWORK_TEST_DATABASE_URL (default postgres://postgres@127.0.0.1:5432/test)
# names the server and a database to connect to; the drill creates two databases of its own and
# drops them at exit, whatever happens. Needs python3, curl, psql, pg_dump and pg_restore.
# Every wait has a deadline; any failure stops the drill with a message and a non-zero exit.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bin_dir="${1:-${CARGO_TARGET_DIR:-$root/target}/debug}"
bin_dir="$(cd "$bin_dir" 2>/dev/null && pwd || echo "$bin_dir")"
gateway_bin="$bin_dir/open-cowork-gateway"
base_url="${OPEN_COWORK_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}"

# How long each kind of wait may take, in seconds.
READY_DEADLINE=30      # a start until GET /ready answers 200
REPLY_DEADLINE=30      # messages until their final replies reach the receiver
STOP_DEADLINE=30       # SIGTERM until the process has exited (the drain is 10 s)
QUIET_SECONDS=1.5      # how long "nothing more arrives" is watched for
COMMAND_TIMEOUT=60     # psql, pg_dump, pg_restore, doctor
# The jump given to the outbox ids after a restore (see the runbook, "Restore").
OUTBOX_ID_JUMP=1000000000

FINAL_TEXT="That is all for this turn."
OLD_CHATS=(before-1 before-2 before-3)
NEW_CHATS=(after-1 after-2 after-3)

now_ms() { echo $(($(date +%s%N) / 1000000)); }

started_at=$(now_ms)
step_started_at=$started_at
work=""
receiver_pid=""
gateway_pid=""
databases=()

fail() {
  echo "FAIL  $*" >&2
  exit 1
}

# running PID: the process exists and has not exited (a zombie not yet reaped has).
running() {
  kill -0 "$1" 2>/dev/null || return 1
  [ -r "/proc/$1/stat" ] || return 0
  [ "$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)" != Z ]
}

# elapsed START_MS: seconds since START_MS, one decimal.
elapsed() {
  local ms=$(($(now_ms) - $1))
  printf '%d.%d' $((ms / 1000)) $((ms % 1000 / 100))
}

# ok MESSAGE: one summary line for the step that just ended.
ok() {
  echo "ok    $* ($(elapsed "$step_started_at") s)"
  step_started_at=$(now_ms)
}

# --- cleanup ------------------------------------------------------------------------------------

# stop_pid PID SECONDS: SIGTERM, then SIGKILL after SECONDS; reaps it.
stop_pid() {
  local pid="$1" seconds="$2" waited=0
  kill -TERM "$pid" 2>/dev/null || true
  while running "$pid"; do
    if [ "$waited" -ge $((seconds * 10)) ]; then
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.1
    waited=$((waited + 1))
  done
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local status=$?
  set +e
  trap - EXIT INT TERM
  [ -n "$gateway_pid" ] && stop_pid "$gateway_pid" 5
  [ -n "$receiver_pid" ] && stop_pid "$receiver_pid" 2
  if [ "$status" -ne 0 ] && [ -n "$work" ] && [ -d "$work" ]; then
    for log in "$work"/gateway-*.log; do
      [ -s "$log" ] || continue
      echo "----- last lines of $(basename "$log") -----" >&2
      tail -n 30 "$log" >&2
    done
    if [ -s "$work/receiver.jsonl" ]; then
      echo "----- last deliveries at the receiver -----" >&2
      tail -n 10 "$work/receiver.jsonl" | cut -c1-300 >&2
    fi
    [ -s "$work/receiver.err" ] && { echo "----- receiver errors -----" >&2; tail -n 20 "$work/receiver.err" >&2; }
  fi
  for db in "${databases[@]}"; do
    # WITH (FORCE) (Postgres 13+) also ends connections a killed process may have left.
    if ! psql_at "$base_url" -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null 2>"$work/drop.err" &&
      ! psql_at "$base_url" -c "DROP DATABASE IF EXISTS \"$db\"" >/dev/null 2>"$work/drop.err"; then
      echo "FAIL  cleanup: could not drop database $db: $(cat "$work/drop.err" 2>/dev/null)" >&2
      [ "$status" -eq 0 ] && status=1
    fi
  done
  [ -n "$work" ] && rm -rf "$work"
  if [ "$status" -ne 0 ]; then
    echo "backup drill FAILED (exit $status)" >&2
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- helpers ------------------------------------------------------------------------------------

# psql_at URL ARGS...: psql, unaligned, quiet, stopping at the first error, bounded in time.
psql_at() {
  local url="$1"
  shift
  PGCONNECT_TIMEOUT=10 PGOPTIONS="-c client_min_messages=warning" \
    timeout "$COMMAND_TIMEOUT" psql "$url" -X -q -A -t -v ON_ERROR_STOP=1 "$@"
}

# database_url NAME: the server's URL with the database NAME (query parameters kept).
database_url() {
  python3 -c '
import sys, urllib.parse as u
parts = u.urlsplit(sys.argv[1])
print(u.urlunsplit(parts._replace(path="/" + sys.argv[2])))' "$base_url" "$1"
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# receiver_lines: how many deliveries the receiver has recorded.
receiver_lines() { wc -l <"$work/receiver.jsonl" | tr -d ' '; }

# start_gateway NAME DB_URL [VAR=VALUE...]: starts the gateway (its log in $work/gateway-NAME.log)
# and waits for GET /ready = 200; sets gateway_pid and gateway_url. A port taken between picking
# and binding is retried with another one.
start_gateway() {
  local name="$1" db_url="$2" attempt port log waited
  shift 2
  log="$work/gateway-$name.log"
  for attempt in 1 2 3; do
    port=$(free_port)
    env "$@" OPEN_COWORK_GATEWAY_INSTANCE_ID="drill-$name" \
      "$gateway_bin" standalone --listen "127.0.0.1:$port" --database-url "$db_url" >>"$log" 2>&1 &
    gateway_pid=$!
    gateway_url="http://127.0.0.1:$port"
    waited=0
    while :; do
      if [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$gateway_url/ready" || true)" = 200 ]; then
        return 0
      fi
      if ! running "$gateway_pid"; then
        local status=0
        wait "$gateway_pid" || status=$?
        gateway_pid=""
        if grep -qi 'address already in use\|addrinuse' "$log" && [ "$attempt" -lt 3 ]; then
          continue 2
        fi
        fail "the gateway ($name) exited with status $status before it was ready; see its log below"
      fi
      [ "$waited" -ge $((READY_DEADLINE * 10)) ] && fail "the gateway ($name) was not ready within $READY_DEADLINE s"
      sleep 0.1
      waited=$((waited + 1))
    done
  done
}

# stop_gateway NAME: SIGTERM; it must drain and exit 0 within the deadline.
stop_gateway() {
  local name="$1" waited=0 status=0
  kill -TERM "$gateway_pid"
  while running "$gateway_pid"; do
    if [ "$waited" -ge $((STOP_DEADLINE * 10)) ]; then
      fail "the gateway ($name) did not exit within $STOP_DEADLINE s of SIGTERM"
    fi
    sleep 0.1
    waited=$((waited + 1))
  done
  wait "$gateway_pid" || status=$?
  gateway_pid=""
  [ "$status" -eq 0 ] || fail "the gateway ($name) exited with status $status after SIGTERM (expected 0)"
}

# send EXPECT EVENT_ID|CHAT|TEXT...: signed webhooks to the running gateway. EXPECT is
# `accepted` (202, a new event) or `duplicate` (2xx, `"duplicate": true`).
send() {
  timeout "$COMMAND_TIMEOUT" python3 - "$gateway_url" "$secret" "$@" <<'PY'
import hashlib, hmac, json, sys, time, urllib.error, urllib.request

url, secret, expect = sys.argv[1], sys.argv[2].encode(), sys.argv[3]
for spec in sys.argv[4:]:
    event_id, chat, text = spec.split("|", 2)
    body = json.dumps({"id": event_id, "target": {"chatId": chat}, "sender": {"userId": "u1"},
                       "text": text}).encode()
    timestamp = str(int(time.time()))
    signature = "v1=" + hmac.new(secret, b"v1:" + timestamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    request = urllib.request.Request(url + "/webhooks/webhook", data=body, method="POST", headers={
        "content-type": "application/json",
        "x-open-cowork-gateway-webhook-timestamp": timestamp,
        "x-open-cowork-gateway-webhook-signature": signature,
    })
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, answer = response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        status, answer = error.code, error.read().decode()
    except OSError as error:
        sys.exit(f"FAIL  {event_id}: no answer from the gateway: {error}")
    try:
        duplicate = json.loads(answer).get("duplicate") is True
    except ValueError:
        duplicate = None
    if expect == "accepted" and (status != 202 or duplicate is not False):
        sys.exit(f"FAIL  {event_id} (chat {chat}): expected 202 for a new event, got {status} {answer}")
    if expect == "duplicate" and (not 200 <= status < 300 or duplicate is not True):
        sys.exit(f"FAIL  {event_id} (chat {chat}): expected a 2xx duplicate, got {status} {answer}")
PY
}

# wait_final_replies CHAT...: until each chat has a delivery whose text ends with the demo's
# last sentence, while the gateway and the receiver run, within the deadline.
wait_final_replies() {
  timeout $((REPLY_DEADLINE + 10)) python3 - "$work/receiver.jsonl" "$gateway_pid" "$receiver_pid" \
    "$REPLY_DEADLINE" "$FINAL_TEXT" "$@" <<'PY'
import json, os, sys, time

log, gateway, receiver, deadline_s, final = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
chats = sys.argv[6:]
deadline = time.monotonic() + deadline_s


def running(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False
    except OSError:
        try:
            os.kill(pid, 0)
            return True
        except OSError:
            return False


while True:
    done, seen = set(), {}
    with open(log, encoding="utf-8") as f:
        for line in f:
            if not line.endswith("\n"):
                break
            record = json.loads(line)
            chat = record.get("chatId")
            seen[chat] = seen.get(chat, 0) + 1
            if chat in chats and (record.get("text") or "").endswith(final):
                done.add(chat)
    missing = [chat for chat in chats if chat not in done]
    if not missing:
        sys.exit(0)
    for pid, name in ((gateway, "gateway"), (receiver, "receiver")):
        if not running(pid):
            sys.exit(f"FAIL  the {name} exited before the final replies of {missing} arrived")
    if time.monotonic() > deadline:
        sys.exit(f"FAIL  no final reply within {deadline_s:.0f} s for chats {missing} "
                 f"(deliveries so far per chat: {seen})")
    time.sleep(0.05)
PY
}

# state_counts URL: `gw_inbox done 3, new 3; gw_outbox sent 21` for the database at URL.
state_counts() {
  psql_at "$1" -c "
    SELECT 'gw_inbox ' || coalesce((SELECT string_agg(state || ' ' || n, ', ' ORDER BY state)
                                    FROM (SELECT state, count(*) AS n FROM gw_inbox GROUP BY state) s), 'empty')
        || '; gw_outbox ' || coalesce((SELECT string_agg(state || ' ' || n, ', ' ORDER BY state)
                                       FROM (SELECT state, count(*) AS n FROM gw_outbox GROUP BY state) s), 'empty')"
}

# table_counts URL: `table rows` for every table of the public schema.
table_counts() {
  psql_at "$1" -F ' ' -c "
    SELECT table_name,
           (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM public.%I', table_name),
                                                false, true, '')))[1]::text
    FROM information_schema.tables
    WHERE table_schema = 'public' AND table_type = 'BASE TABLE'
    ORDER BY table_name"
}

# open_rows URL: inbox and outbox rows not finished (anything but done / sent).
open_rows() {
  psql_at "$1" -c "
    SELECT (SELECT count(*) FROM gw_inbox WHERE state <> 'done')
         + (SELECT count(*) FROM gw_outbox WHERE state <> 'sent')"
}

# --- preflight ----------------------------------------------------------------------------------

[ -x "$gateway_bin" ] || fail "no open-cowork-gateway in $bin_dir (build it first, or pass its directory)"
for tool in python3 curl psql pg_dump pg_restore timeout; do
  command -v "$tool" >/dev/null 2>&1 || fail "$tool is needed and not installed"
done
[ -f "$here/drill_receiver.py" ] || fail "drill_receiver.py is missing next to this script"

# Only the drill's settings reach the gateway: no stray OPEN_COWORK_* variable, no config file.
while IFS= read -r name; do
  [ "$name" = OPEN_COWORK_TEST_DATABASE_URL ] || unset "$name"
done < <(compgen -e | grep '^OPEN_COWORK_' || true)

work="$(mktemp -d "${TMPDIR:-/tmp}/backup-drill.XXXXXX")"
cd "$work"
read -r suffix secret admin_token < <(python3 -c '
import secrets; print(secrets.token_hex(3), secrets.token_hex(24), secrets.token_hex(24))') &&
  [ -n "${admin_token:-}" ] || fail "python3 could not make the drill's names and secrets"
suffix="$$_$suffix"
src_db="drill_src_$suffix"
dst_db="drill_dst_$suffix"
src_url="$(database_url "$src_db")"
dst_url="$(database_url "$dst_db")"

psql_at "$base_url" -c 'SELECT 1' >/dev/null 2>"$work/psql.err" ||
  fail "Postgres is not reachable at $base_url: $(cat "$work/psql.err")"
psql_at "$base_url" -c "CREATE DATABASE \"$src_db\"" >/dev/null
databases+=("$src_db")
echo "backup drill: $gateway_bin, Postgres $(psql_at "$base_url" -c 'SHOW server_version'), source database $src_db"

# --- 1. the receiver ----------------------------------------------------------------------------

python3 "$here/drill_receiver.py" "$work/receiver.port" "$work/receiver.jsonl" "$secret" \
  >"$work/receiver.out" 2>"$work/receiver.err" &
receiver_pid=$!
for _ in $(seq 1 100); do
  [ -s "$work/receiver.port" ] && break
  kill -0 "$receiver_pid" 2>/dev/null || fail "the receiver exited at start: $(cat "$work/receiver.err")"
  sleep 0.1
done
[ -s "$work/receiver.port" ] || fail "the receiver did not listen within 10 s"
receiver_port="$(cat "$work/receiver.port")"

export OPEN_COWORK_GATEWAY_PROVIDERS="[{\"id\":\"webhook\",\"kind\":\"webhook\",\"credentials\":{\"sharedSecret\":\"$secret\"},\"settings\":{\"deliveryUrl\":\"http://127.0.0.1:$receiver_port/in\",\"allowPrivateDelivery\":true}}]"
export OPEN_COWORK_GATEWAY_ADMIN_TOKEN="$admin_token"
export OPEN_COWORK_GATEWAY_LOG_LEVEL=warn
export OPEN_COWORK_CLOUD_DEMO_DELTA_INTERVAL_MS=1
ok "1 receiver listening on 127.0.0.1:$receiver_port"

# --- 2. the source gateway answers 3 chats ------------------------------------------------------

start_gateway source "$src_url"
send accepted "evt-before-1|before-1|hello from the first chat" \
  "evt-before-2|before-2|hello from the second chat" "evt-before-3|before-3|hello from the third chat"
wait_final_replies "${OLD_CHATS[@]}"
stop_gateway source
[ "$(open_rows "$src_url")" = 0 ] ||
  fail "the source database has unfinished inbox or outbox rows after the drain: $(state_counts "$src_url")"
lines_before=$(receiver_lines)
ok "2 source gateway: 3 chats answered ($lines_before deliveries), SIGTERM, exit 0"

# --- 3. paused workers: 3 accepted messages wait in the inbox -----------------------------------

start_gateway paused "$src_url" OPEN_COWORK_GATEWAY_PAUSE_WORKERS=true
send accepted "evt-after-1|after-1|hello from the fourth chat" \
  "evt-after-2|after-2|hello from the fifth chat" "evt-after-3|after-3|hello from the sixth chat"
sleep "$QUIET_SECONDS"
stop_gateway paused
[ "$(receiver_lines)" = "$lines_before" ] ||
  fail "deliveries arrived while the workers were paused ($lines_before before, $(receiver_lines) after)"
waiting=$(psql_at "$src_url" -c "SELECT count(*) FROM gw_inbox WHERE provider_event_id LIKE 'evt-after-%' AND state <> 'done'")
[ "$waiting" = 3 ] || fail "expected the 3 paused messages waiting in the inbox, found $waiting: $(state_counts "$src_url")"
restore_point=$(receiver_lines)
ok "3 paused gateway: 3 messages accepted (202), 0 delivered, SIGTERM, exit 0"

# --- 4. back up, restore into a new database ----------------------------------------------------

dump="$work/gateway.dump"
timeout "$COMMAND_TIMEOUT" pg_dump --format=custom --file="$dump" --dbname="$src_url" ||
  fail "pg_dump of $src_db failed"
psql_at "$base_url" -c "CREATE DATABASE \"$dst_db\"" >/dev/null
databases+=("$dst_db")
timeout "$COMMAND_TIMEOUT" pg_restore --no-owner --exit-on-error --single-transaction \
  --dbname="$dst_url" "$dump" || fail "pg_restore into $dst_db failed"
# Deliveries made from now on get ids no receiver can have seen (the runbook's restore step).
first_new_id=$(psql_at "$dst_url" -c "SELECT setval(s::regclass, nextval(s::regclass) + $OUTBOX_ID_JUMP) + 1
                                      FROM pg_get_serial_sequence('gw_outbox', 'id') AS s")
[[ "$first_new_id" =~ ^[0-9]+$ ]] || fail "could not advance the outbox ids of $dst_db (got: $first_new_id)"

table_counts "$src_url" >"$work/tables.src"
table_counts "$dst_url" >"$work/tables.dst"
if ! diff -u "$work/tables.src" "$work/tables.dst" >"$work/tables.diff"; then
  fail "row counts differ between $src_db and $dst_db: $(cat "$work/tables.diff")"
fi
tables=$(wc -l <"$work/tables.src" | tr -d ' ')
rows=$(awk '{n += $2} END {print n + 0}' "$work/tables.src")
dump_bytes=$(wc -c <"$dump" | tr -d ' ')
echo "      backup:  $dump_bytes bytes (pg_dump --format=custom); source database $(psql_at "$src_url" -c "SELECT pg_size_pretty(pg_database_size(current_database()))")"
echo "      source:  $(state_counts "$src_url")"
echo "      restore: $(state_counts "$dst_url"); $tables tables, $rows rows, the same counts as the source"
echo "      restore: new outbox ids start at $first_new_id"

doctor_json="$(timeout "$COMMAND_TIMEOUT" "$gateway_bin" doctor --json --database-url "$dst_url")" ||
  fail "open-cowork-gateway doctor failed on $dst_db: $doctor_json"
python3 - "$doctor_json" <<'PY' || fail "open-cowork-gateway doctor does not find the restored database ready"
import json, sys
# Warnings are fine; the exit status already excludes failures. The schema must be current.
report = json.loads(sys.argv[1])
checks = {check["name"]: check for check in report["checks"]}
for check in report["checks"]:
    print(f"      doctor:  {check['outcome']:4}  {check['name']}: {check['detail']}")
database = checks.get("database")
if database is None or database["outcome"] != "pass":
    sys.exit("FAIL  doctor: the database check did not pass (a restored database must have this build's schema)")
PY
ok "4 pg_dump --format=custom, pg_restore --no-owner into $dst_db, doctor passes"

# --- 5. the gateway on the restored database ----------------------------------------------------

start_gateway restored "$dst_url"
wait_final_replies "${NEW_CHATS[@]}"
# Events the restored inbox already holds are recognised, whether answered or not.
send duplicate "evt-before-1|before-1|hello from the first chat" "evt-after-1|after-1|hello from the fourth chat"
sleep "$QUIET_SECONDS"
stop_gateway restored
[ "$(open_rows "$dst_url")" = 0 ] ||
  fail "the restored database has unfinished inbox or outbox rows after the drain: $(state_counts "$dst_url")"
psql_at "$dst_url" -c "SELECT 'dlv_' || id FROM gw_outbox WHERE state = 'sent'" >"$work/sent-ids"

python3 - "$work/receiver.jsonl" "$restore_point" "$work/sent-ids" "$first_new_id" "$FINAL_TEXT" \
  "${OLD_CHATS[*]}" "${NEW_CHATS[*]}" <<'PY' || fail "the receiver's record does not show a clean resume"
import collections, json, sys

log, restore_point, sent_ids, first_new_id, final = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5]
old_chats, new_chats = sys.argv[6].split(), sys.argv[7].split()
with open(log, encoding="utf-8") as f:
    records = [json.loads(line) for line in f]
with open(sent_ids, encoding="utf-8") as f:
    sent = {line.strip() for line in f if line.strip()}
problems = []

for index, r in enumerate(records):
    if r["type"] not in ("text", "edit"):
        problems.append(f"delivery {index}: unexpected type {r['type']!r}")
    if not r["signatureOk"]:
        problems.append(f"delivery {r['deliveryId']}: the signature does not verify")
    if not (r["deliveryId"] == r["headerDeliveryId"] == r["idempotencyKey"]):
        problems.append(f"delivery {index}: delivery id {r['deliveryId']!r}, header {r['headerDeliveryId']!r}, "
                        f"Idempotency-Key {r['idempotencyKey']!r} differ")
    if r["deliveryId"] not in sent:
        problems.append(f"delivery {r['deliveryId']}: not a sent row of the restored outbox")

repeats = {d: n for d, n in collections.Counter(r["deliveryId"] for r in records).items() if n > 1}
if repeats:
    problems.append(f"delivery ids received more than once: {repeats}")

before, after = records[:restore_point], records[restore_point:]
stray = sorted({r["chatId"] for r in before} - set(old_chats))
if stray:
    problems.append(f"before the restore, deliveries for chats {stray}")
again = [r["deliveryId"] for r in after if r["chatId"] in old_chats]
if again:
    problems.append(f"after the restore, deliveries for the chats answered before the backup: {again}")
stray = sorted({r["chatId"] for r in after} - set(new_chats))
if stray:
    problems.append(f"after the restore, deliveries for unexpected chats {stray}")
low = [r["deliveryId"] for r in after if int(r["deliveryId"].removeprefix("dlv_")) < first_new_id]
if low:
    problems.append(f"after the restore, delivery ids below the advanced outbox ids ({first_new_id}): {low}")

for chat in old_chats + new_chats:
    mine = [r for r in records if r["chatId"] == chat]
    sends = [r for r in mine if r["type"] == "text"]
    finals = [r for r in mine if (r["text"] or "").endswith(final)]
    if len(sends) != 1:
        problems.append(f"chat {chat}: {len(sends)} new messages, expected 1 (edited in place)")
    elif any(r["messageId"] != sends[0]["messageId"] for r in mine):
        problems.append(f"chat {chat}: edits of a message other than its reply {sends[0]['messageId']}")
    if len(finals) != 1:
        problems.append(f"chat {chat}: {len(finals)} final replies, expected exactly 1")
    elif mine[-1] is not finals[0]:
        problems.append(f"chat {chat}: deliveries after its final reply")

if problems:
    print("FAIL  " + "\n      ".join(problems), file=sys.stderr)
    sys.exit(1)
print(f"      receiver: {len(records)} deliveries, {len(records)} distinct delivery ids; "
      f"{len(before)} before the restore ({len(old_chats)} chats), {len(after)} after ({len(new_chats)} chats, none of the others)")
print(f"      receiver: {len(old_chats) + len(new_chats)} chats, each one message edited in place "
      f"to exactly one final reply")
PY
echo "      restore: $(state_counts "$dst_url") after the run"
ok "5 restored gateway: the 3 waiting messages answered, duplicates recognised, nothing delivered twice, SIGTERM, exit 0"

echo "backup drill passed ($(elapsed "$started_at") s)"
