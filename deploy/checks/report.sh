# How the deploy checks report, sourced by static.sh and observability.sh.

# check NAME COMMAND...: COMMAND must succeed; otherwise its output is shown and the script stops.
check() {
  local name="$1" out
  shift
  if out="$("$@" 2>&1)"; then
    echo "ok    $name"
  else
    echo "FAIL  $name"
    printf '%s\n' "$out"
    exit 1
  fi
}

# bites NAME PATTERN COMMAND...: COMMAND, run on a broken file, must fail and say PATTERN (so a
# checker that fails for another reason, a missing file say, does not count).
bites() {
  local name="$1" pattern="$2" out
  shift 2
  if out="$("$@" 2>&1)"; then
    echo "FAIL  $name: the checker accepted a broken file"
    printf '%s\n' "$out"
    exit 1
  elif ! grep -q -- "$pattern" <<<"$out"; then
    echo "FAIL  $name: the checker failed, but not with \"$pattern\""
    printf '%s\n' "$out"
    exit 1
  fi
  echo "ok    $name"
}
