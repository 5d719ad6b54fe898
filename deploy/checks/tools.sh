#!/usr/bin/env bash
# Installs the offline checkers of deploy/ (pinned) into a virtualenv and prints its bin folder.
# The virtualenv is reused while its requirements are unchanged.
#
#   BIN=$(deploy/checks/tools.sh)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="${DEPLOY_TOOLS_DIR:-$here/../../target/deploy-tools}"
stamp="$venv/.requirements"
if ! cmp -s "$here/requirements.txt" "$stamp" 2>/dev/null; then
  rm -rf "$venv"
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt" >&2
  cp "$here/requirements.txt" "$stamp"
fi
echo "$(cd "$venv/bin" && pwd)"
