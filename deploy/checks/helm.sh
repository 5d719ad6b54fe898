#!/usr/bin/env bash
# Offline checks of the Helm charts in deploy/helm: yamllint, helm lint, renders validated
# against the Kubernetes 1.30 schemas, and every render rule that must refuse bad values.
# Needs no cluster, no helm CLI and no network once deploy/checks/tools.sh has installed the
# pinned checkers (Helm v4 through helm-python-sdk, kubernetes-validate, yamllint).
#
#   deploy/checks/helm.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bin="$("$here/tools.sh")"
exec "$bin/python" "$here/helm_check.py"
