#!/usr/bin/env bash
# Offline checks of deploy/observability/ (the Grafana dashboard and the Prometheus alert rules):
#
#   promtool          promtool check rules alerts.yaml; promtool test rules alerts_test.yaml.
#                     promtool comes from Debian's prometheus package, downloaded with
#                     `apt-get download` (after `apt-get update` only if the download fails) and
#                     unpacked with `dpkg-deb -x`: nothing is installed and no service starts.
#   check-jsonschema  the dashboard against grafana/dashboard.schema.json (check-jsonschema 0.39.0
#                     in a virtualenv)
#   dashboard PromQL  each panel's expression parses (promtool check rules) and returns data from a
#                     synthetic scrape of two replicas (promtool test rules)
#   metric names      every metric, label and listed label value the dashboard, the rules and their
#                     tests use is one the gateway exposes (observability/metrics.json), and every
#                     name there is still declared in gateway/src/metrics.rs, so renaming a metric
#                     breaks this check
#
# Before trusting a checker, each is run once on a deliberately wrong copy and must fail there for
# the expected reason, so a checker that silently checks nothing fails this script.
#
#   deploy/checks/observability.sh
#
# The tools are cached in target/observability-tools/ (OBSERVABILITY_TOOLS_DIR) and reused. Prints
# one line per check; stops at the first failure with the checker's output and a non-zero exit.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
deploy="$(cd "$here/.." && pwd)"
root="$(cd "$deploy/.." && pwd)"
obs="$deploy/observability"
rules="$obs/prometheus/alerts.yaml"
rule_tests="$obs/prometheus/alerts_test.yaml"
dashboard="$obs/grafana/open-cowork-gateway.json"
schema="$obs/grafana/dashboard.schema.json"
exposed="$obs/metrics.json"
metrics_source="$root/gateway/src/metrics.rs"

tools="${OBSERVABILITY_TOOLS_DIR:-$root/target/observability-tools}"
check_jsonschema_version="0.39.0"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# --- how a check is reported --------------------------------------------------------------------

# shellcheck source=report.sh
source "$(dirname "$0")/report.sh"

# mutate FILE FROM TO: a copy of FILE (in the scratch folder, under the same name) with the first
# FROM replaced by TO; fails if FROM is not there, so a bite cannot pass on an unchanged copy.
mutate() {
  local file="$1" from="$2" to="$3" copy
  copy="$work/wrong/$(basename "$file")"
  mkdir -p "$work/wrong"
  python3 - "$file" "$copy" "$from" "$to" <<'PY'
import sys
source, copy, old, new = sys.argv[1:]
text = open(source, encoding="utf-8").read()
if old not in text:
    sys.exit(f"mutate: {old!r} is not in {source}")
open(copy, "w", encoding="utf-8").write(text.replace(old, new, 1))
PY
  echo "$copy"
}

# --- the tools, cached ----------------------------------------------------------------------------

promtool="$tools/prometheus/usr/bin/promtool"
if ! "$promtool" --version >/dev/null 2>&1; then
  mkdir -p "$tools/debs"
  deb="$(find "$tools/debs" -maxdepth 1 -name 'prometheus_*.deb' | sort | tail -n 1)"
  if [ -z "$deb" ]; then
    if ! (cd "$tools/debs" && apt-get download prometheus) >"$work/apt.log" 2>&1; then
      # The package lists may be missing or stale (apt-get download needs a current candidate).
      if ! { apt-get update && (cd "$tools/debs" && apt-get download prometheus); } >>"$work/apt.log" 2>&1; then
        echo "FAIL  promtool: apt-get download prometheus"
        cat "$work/apt.log"
        exit 1
      fi
    fi
    deb="$(find "$tools/debs" -maxdepth 1 -name 'prometheus_*.deb' | sort | tail -n 1)"
  fi
  rm -rf "$tools/prometheus" "$tools/prometheus.partial"
  dpkg-deb -x "$deb" "$tools/prometheus.partial"
  # Only promtool is used; the server binary is not kept.
  rm -f "$tools/prometheus.partial/usr/bin/prometheus"
  mv "$tools/prometheus.partial" "$tools/prometheus"
fi
promtool_version="$("$promtool" --version 2>&1 | head -n 1)"
echo "ok    $promtool_version (Debian's prometheus package, in ${tools#"$root"/})"

venv="$tools/venv"
if ! [ "$("$venv/bin/check-jsonschema" --version 2>/dev/null || true)" = "check-jsonschema, version $check_jsonschema_version" ]; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "check-jsonschema==$check_jsonschema_version" \
    >"$work/pip.log" 2>&1 || { echo "FAIL  pip install check-jsonschema==$check_jsonschema_version"; cat "$work/pip.log"; exit 1; }
fi
echo "ok    $("$venv/bin/check-jsonschema" --version) (in ${venv#"$root"/})"
python="$venv/bin/python"

# --- the metric-name check ------------------------------------------------------------------------

# metric_check DASHBOARD RULES RULE_TESTS: every metric reference in the three files is an exposed
# series with its own labels; prints a summary. Runs in the check-jsonschema virtualenv, whose
# ruamel.yaml (a dependency of check-jsonschema) reads the rules.
cat >"$work/metric_check.py" <<'PY'
import json, re, sys
from ruamel.yaml import YAML

exposed_path, source_path, dashboard_path, rules_path, tests_path = sys.argv[1:]
exposed = json.load(open(exposed_path, encoding="utf-8"))
metrics = exposed["metrics"]
scrape = set(exposed["scrape_labels"])
errors = []

# The list must still match the gateway's declarations (names, label names, listed values).
source = open(source_path, encoding="utf-8").read()
declared = set(re.findall(r'"(open_cowork_gateway_[a-z0-9_]+)"', source))
# Counters are declared without the _total the encoder adds, the histogram without its suffixes.
SUFFIX = {"counter": r"_total$", "histogram": r"_(bucket|sum|count)$"}
listed = {re.sub(SUFFIX[m["type"]], "", name) if m["type"] in SUFFIX else name for name, m in metrics.items()}
for name in sorted(listed - declared):
    errors.append(f"metrics.json: {name} is not declared in {source_path} (renamed or removed?)")
for name in sorted(declared - listed):
    errors.append(f"metrics.json: {source_path} declares {name}, which is missing here")
for name, m in metrics.items():
    for label, values in m["labels"].items():
        if label != "le" and not re.search(rf"\b{label}: String,", source):
            errors.append(f"metrics.json: label {label} of {name} is no label field in {source_path}")
        for value in values or []:
            if f'"{value}"' not in source:
                errors.append(f"metrics.json: value {value!r} of {name}{{{label}}} is not in {source_path}")

NAME = re.compile(r"\bopen_cowork_gateway_[A-Za-z0-9_]*")
SELECTOR = re.compile(r"\b(open_cowork_gateway_[A-Za-z0-9_]*)\s*\{([^}]*)\}")
MATCHER = re.compile(r"""([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*("(?:[^"\\]|\\.)*"|'[^']*')""")
GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
LABEL_VALUES = re.compile(r"label_values\(\s*(open_cowork_gateway_[A-Za-z0-9_]*)[^,]*,\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)")
references = 0

def labels_of(name):
    return set(metrics[name]["labels"]) | scrape if name in metrics else scrape

def check_promql(where, text):
    """A PromQL expression (or series notation, or a Grafana variable query)."""
    global references
    used = set(NAME.findall(text))
    for name in used:
        references += 1
        if name not in metrics:
            errors.append(f"{where}: unknown metric {name}")
    for name, body in SELECTOR.findall(text):
        for label, op, quoted in MATCHER.findall(body):
            if label == "__name__":
                continue
            if label not in labels_of(name):
                errors.append(f"{where}: {name} has no label {label}")
                continue
            values = metrics.get(name, {}).get("labels", {}).get(label)
            value = quoted[1:-1]
            if values and re.fullmatch(r"[A-Za-z0-9_|]+", value):
                for one in value.split("|") if op in ("=~", "!~") else [value]:
                    if one not in values:
                        errors.append(f"{where}: {name}{{{label}}} is never {one!r} (it is one of {values})")
    allowed = set().union(*(labels_of(n) for n in used)) if used else set()
    for group in GROUPING.findall(text):
        for label in filter(None, (l.strip() for l in group.split(","))):
            if label not in allowed:
                errors.append(f"{where}: grouping by {label}, which none of {sorted(used)} has")
    for name, label in LABEL_VALUES.findall(text):
        if label not in labels_of(name):
            errors.append(f"{where}: label_values of {name} by {label}, which it does not have")

def walk(where, node, visit):
    if isinstance(node, dict):
        for key, value in node.items():
            walk(f"{where}.{key}", value, visit)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            walk(f"{where}[{i}]", value, visit)
    elif isinstance(node, str):
        visit(where, node)

# The dashboard: every string (expressions, variable queries, descriptions).
dashboard = json.load(open(dashboard_path, encoding="utf-8"))
panels = 0
def visit_dashboard(where, text):
    check_promql(f"{dashboard_path}: {where}", text)
    if where.endswith(".legendFormat"):
        for label in re.findall(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}", text):
            if label not in set().union(scrape, *(m["labels"] for m in metrics.values())):
                errors.append(f"{dashboard_path}: {where}: legend label {label} is no exposed label")
walk("$", dashboard, visit_dashboard)

# The rules and their tests: every string (expressions, annotation queries, input series).
yaml = YAML(typ="safe")
for path in (rules_path, tests_path):
    walk("$", yaml.load(open(path, encoding="utf-8")), lambda where, text: check_promql(f"{path}: {where}", text))
    # Comments too: a metric named in prose must exist as well.
    for name in set(NAME.findall(open(path, encoding="utf-8").read())) - set(metrics):
        errors.append(f"{path}: unknown metric {name}")

if errors:
    print("\n".join(dict.fromkeys(errors)))
    sys.exit(1)
print(f"{references} metric references, all among the {len(metrics)} exposed series")
PY

metric_check() {
  "$python" "$work/metric_check.py" "$exposed" "$metrics_source" "$@"
}

# --- the checks -----------------------------------------------------------------------------------

# promtool: a test whose expectation is wrong (the dead-letter count) must fail on that alert.
wrong_tests="$(mutate "$rule_tests" "1 deliveries through provider slack" "2 deliveries through provider slack")"
cp "$rules" "$work/wrong/alerts.yaml"
bites "promtool test rules fails a wrong expectation" "alertname: OpenCoworkGatewayDeadLetters" \
  "$promtool" test rules "$wrong_tests"
check "promtool check rules alerts.yaml" "$promtool" check rules "$rules"
check "promtool test rules alerts_test.yaml" "$promtool" test rules "$rule_tests"

# check-jsonschema: a dashboard with an empty expression, and one with a fixed data source.
rm -rf "$work/wrong"
wrong_dashboard="$(mutate "$dashboard" '"expr": "sum(rate(open_cowork_gateway_inbound_accepted_total' '"expr": " ", "was": "sum(rate(open_cowork_gateway_inbound_accepted_total')"
bites "check-jsonschema fails an empty target expression" "expr" \
  "$venv/bin/check-jsonschema" --schemafile "$schema" "$wrong_dashboard"
rm -rf "$work/wrong"
# shellcheck disable=SC2016 # the Grafana variable, literally
wrong_dashboard="$(mutate "$dashboard" '"uid": "${DS_PROMETHEUS}"' '"uid": "P1809F7CD0C75ACF3"')"
bites "check-jsonschema fails a data source that is not templated" "DS_PROMETHEUS" \
  "$venv/bin/check-jsonschema" --schemafile "$schema" "$wrong_dashboard"
check "dashboard.schema.json is a valid JSON schema" "$venv/bin/check-jsonschema" --check-metaschema "$schema"
panel_count="$("$python" -c 'import json, sys; print(len(json.load(open(sys.argv[1]))["panels"]))' "$dashboard")"
check "open-cowork-gateway.json matches dashboard.schema.json ($panel_count panels and rows)" \
  "$venv/bin/check-jsonschema" --schemafile "$schema" "$dashboard"

# The dashboard's expressions, with the Grafana variables filled in: each becomes a recording rule
# for `promtool check rules` (they parse), and each must return data in a `promtool test rules`
# over a synthetic scrape of two replicas (absent(expr) is empty), so a panel whose selectors or
# joins match nothing fails. Both files are written as JSON, which is YAML.
cat >"$work/dashboard_exprs.py" <<'PY'
import itertools, json, sys
dashboard_path, exposed_path, out = sys.argv[1:]
dashboard = json.load(open(dashboard_path, encoding="utf-8"))
metrics = json.load(open(exposed_path, encoding="utf-8"))["metrics"]
fill = {"$__rate_interval": "5m", "$job": "open-cowork-gateway", "$instance": ".*", "$binding": ".*"}

def panels(items):
    for panel in items:
        yield panel
        yield from panels(panel.get("panels", []))

exprs = []
for panel in panels(dashboard["panels"]):
    for target in panel.get("targets", []):
        expr = target["expr"]
        for variable, value in fill.items():
            expr = expr.replace(variable, value)
        exprs.append((f"dashboard:panel_{panel['id']}:{target['refId']}", expr))
rules = {"groups": [{"name": "dashboard", "rules": [{"record": r, "expr": e} for r, e in exprs]}]}
json.dump(rules, open(f"{out}/dashboard-rules.yaml", "w"), indent=1)

# Two replicas, one provider and one binding; every counter grows, every listed label value is
# there, one-hot provider state healthy, gw-a owns the binding.
example = {"provider": ["slack"], "kind": ["slack"], "reason": ["invalid_payload"], "binding": ["b1"],
           "table": ["gw_inbox"],
           "le": ["0.5", "2.5", "+Inf"]}
series = []
for instance in ("gw-a:8080", "gw-b:8080"):
    for name, metric in metrics.items():
        names = list(metric["labels"])
        for values in itertools.product(*(metric["labels"][n] or example[n] for n in names)):
            labels = dict(zip(names, values), job="open-cowork-gateway", instance=instance)
            if metric["type"] in ("counter", "histogram"):
                samples = "0+1x30"
            elif name == "open_cowork_gateway_provider_state":
                samples = "1x30" if labels["state"] == "healthy" else "0x30"
            elif name == "open_cowork_gateway_owned_bindings":
                samples = "1x30" if instance == "gw-a:8080" else "0x30"
            else:
                samples = "1x30"
            text = ",".join(f'{k}="{v}"' for k, v in labels.items())
            series.append({"series": f"{name}{{{text}}}", "values": samples})
tests = {"rule_files": [], "evaluation_interval": "1m", "tests": [{
    "name": "every dashboard expression returns data", "interval": "1m", "input_series": series,
    "promql_expr_test": [{"expr": f"absent({e})", "eval_time": "20m", "exp_samples": []} for _, e in exprs]}]}
json.dump(tests, open(f"{out}/dashboard-tests.yaml", "w"), indent=1)
print(len(exprs))
PY
dashboard_parses() {
  "$python" "$work/dashboard_exprs.py" "$1" "$exposed" "$work" >/dev/null
  "$promtool" check rules "$work/dashboard-rules.yaml"
}
dashboard_returns_data() {
  "$python" "$work/dashboard_exprs.py" "$1" "$exposed" "$work" >/dev/null
  "$promtool" test rules "$work/dashboard-tests.yaml"
}
rm -rf "$work/wrong"
wrong_dashboard="$(mutate "$dashboard" '"expr": "sum(rate(open_cowork_gateway_inbound_accepted_total' '"expr": "sum(rate((open_cowork_gateway_inbound_accepted_total')"
bites "promtool fails a dashboard expression that does not parse" "parse error" dashboard_parses "$wrong_dashboard"
rm -rf "$work/wrong"
wrong_dashboard="$(mutate "$dashboard" 'open_cowork_gateway_inbound_accepted_total{' 'open_cowork_gateway_inbound_accepted_total{provider=\"nobody\",')"
bites "promtool fails a dashboard expression that returns nothing" 'nobody.*, time: 20m' \
  dashboard_returns_data "$wrong_dashboard"
expr_count="$("$python" "$work/dashboard_exprs.py" "$dashboard" "$exposed" "$work")"
check "the dashboard's $expr_count expressions parse (promtool check rules)" dashboard_parses "$dashboard"
check "the dashboard's $expr_count expressions return data from two replicas (promtool test rules)" \
  dashboard_returns_data "$dashboard"

# The metric-name check: a renamed metric in the rules, and a label the metric does not have.
rm -rf "$work/wrong"
wrong_rules="$(mutate "$rules" "open_cowork_gateway_owned_bindings" "open_cowork_gateway_owned_binding")"
bites "metric check fails a renamed metric" "unknown metric open_cowork_gateway_owned_binding\b" \
  metric_check "$dashboard" "$wrong_rules" "$rule_tests"
rm -rf "$work/wrong"
# shellcheck disable=SC2016 # the Grafana variable, literally
wrong_dashboard="$(mutate "$dashboard" 'binding=~\"$binding\"' 'binding_id=~\"$binding\"')"
bites "metric check fails a label the metric does not have" "has no label binding_id" \
  metric_check "$wrong_dashboard" "$rules" "$rule_tests"
if summary="$(metric_check "$dashboard" "$rules" "$rule_tests" 2>&1)"; then
  echo "ok    metric names and labels in the dashboard, rules and tests: $summary"
else
  echo "FAIL  metric names and labels in the dashboard, rules and tests"
  printf '%s\n' "$summary"
  exit 1
fi

echo "observability checks passed"
