#!/usr/bin/env python3
"""Offline checks of the Helm charts under deploy/helm (no cluster, no helm CLI, no network).

1. yamllint (strict, default rules) on every YAML file of the charts outside templates/.
2. `helm lint` (Helm v4 SDK, strict, Kubernetes 1.30) of both charts, with the defaults and with
   values-production.yaml: any error-level finding fails.
3. Good renders (`helm template`): the defaults, the production example and a few variants
   that reach the other branches. Every object is validated with
   `kubernetes-validate --strict -k 1.30.0`, except the ServiceMonitor: kubernetes-validate has
   no schemas for CRDs (it only warns on an unknown kind), so that object is checked here
   against the fields of prometheus-operator's monitoring.coreos.com/v1 ServiceMonitor the
   chart uses, with unknown fields refused.
4. Properties of the good output: the locked-down securityContext, probe paths, SQLite and
   Postgres layouts, no Secret object and only references in the config in production.
5. Bad renders: each (values override, expected message) must fail to render with a message
   that contains the expected text.

One line per case; exit 1 on any mismatch. Run with the venv of deploy/checks/tools.sh:
    "$(deploy/checks/tools.sh)/python" deploy/checks/helm_check.py
"""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import helm_python as helm
import jsonschema
import yaml

ROOT = Path(__file__).resolve().parents[2]
HELM_DIR = ROOT / "deploy" / "helm"
GATEWAY = HELM_DIR / "open-cowork-gateway"
CLOUD = HELM_DIR / "open-cowork-cloud"
BIN = Path(sys.executable).parent
KUBE_VERSION = "1.30.0"
RELEASE, NAMESPACE = "oc", "open-cowork"
SECRETS_DIR = "/var/run/secrets/open-cowork/"

failures: list[str] = []


def report(ok: bool, what: str, detail: str = "") -> None:
    """Prints one result line and remembers failures."""
    print(f"{'ok  ' if ok else 'FAIL'} {what}{'' if ok or not detail else ': ' + detail}")
    if not ok:
        failures.append(what)


def merged(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Deep-merges override into a copy of base (maps merge, anything else replaces)."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merged(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def production(chart: Path) -> dict[str, Any]:
    return helm.values_from_yaml((chart / "values-production.yaml").read_text())


def render(chart: Path, values: dict[str, Any]) -> list[dict[str, Any]]:
    """`helm template`: the rendered objects (NOTES.txt excluded). Raises HelmRenderError."""
    with helm.Chart.load(chart) as loaded:
        manifests = loaded.render(values, name=RELEASE, namespace=NAMESPACE)
    docs: list[dict[str, Any]] = []
    for path, text in sorted(manifests.items()):
        if path.endswith("NOTES.txt"):
            continue
        docs.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return docs


# ---------------------------------------------------------------------------------------------
# 1 and 2: yamllint and helm lint

def check_yamllint() -> None:
    files = sorted(p for p in HELM_DIR.rglob("*.yaml") if "templates" not in p.parts)
    files.append(HELM_DIR / ".yamllint")
    result = subprocess.run([BIN / "yamllint", "--strict", "--format", "parsable", *files],
                            capture_output=True, text=True)
    report(result.returncode == 0, f"yamllint --strict ({len(files)} files outside templates/)",
           result.stdout.strip() or result.stderr.strip())


def check_lint() -> None:
    for chart in (GATEWAY, CLOUD):
        for label, values in (("defaults", None), ("production", production(chart))):
            result = helm.lint(chart, values, strict=True, kube_version=f"v{KUBE_VERSION}")
            problems = list(result.get("errors") or [])
            problems += [m["error"] for m in result["messages"] if m["severity"] >= 2]
            report(not problems, f"helm lint --strict {chart.name} ({label})", "; ".join(problems))


# ---------------------------------------------------------------------------------------------
# 3: good renders and schema validation

# The monitoring.coreos.com/v1 ServiceMonitor fields the gateway chart emits (names and types
# from prometheus-operator's CRD); unknown fields are refused as the API server would prune
# or reject them.
SERVICE_MONITOR_SCHEMA = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "additionalProperties": False,
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "kind": {"const": "ServiceMonitor"},
        "metadata": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        },
        "spec": {
            "type": "object",
            "required": ["selector", "endpoints"],
            "additionalProperties": False,
            "properties": {
                "selector": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"matchLabels": {"type": "object",
                                                   "additionalProperties": {"type": "string"}}},
                },
                "endpoints": {
                    "type": "array",
                    "minItems": 1,
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["port"],
                        "properties": {
                            "port": {"type": "string"},
                            "path": {"type": "string"},
                            "interval": {"type": "string", "pattern": "^[0-9]+(ms|s|m|h)$"},
                            "scrapeTimeout": {"type": "string", "pattern": "^[0-9]+(ms|s|m|h)$"},
                            "authorization": {
                                "type": "object",
                                "additionalProperties": False,
                                "properties": {
                                    "type": {"type": "string"},
                                    "credentials": {
                                        "type": "object",
                                        "additionalProperties": False,
                                        "required": ["key"],
                                        "properties": {"name": {"type": "string"},
                                                       "key": {"type": "string"},
                                                       "optional": {"type": "boolean"}},
                                    },
                                },
                            },
                        },
                    },
                },
            },
        },
    },
}

GATEWAY_ADMIN = {"secrets": {"inline": {"admin-token": "3f9a1c7e5b2d4f60a8e1c3b5d7f90a2c"},
                             "keys": {"adminToken": "admin-token"}}}

GOOD_CASES: list[tuple[str, Path, dict[str, Any]]] = [
    ("gateway defaults", GATEWAY, {}),
    ("gateway production example", GATEWAY, production(GATEWAY)),
    ("gateway split mode (inline service token, in-cluster http)", GATEWAY, {
        "mode": "split",
        "cloud": {"baseUrl": "http://oc-open-cowork-cloud:8787", "allowInsecureHttp": True},
        "secrets": {"inline": {"service-token": "occ_tok_Ab12Cd34Ef56Gh78_k2Jq9"},
                    "keys": {"serviceToken": "service-token"}},
    }),
    ("gateway NodePort, persistence, passAs env, env: credential, ServiceMonitor", GATEWAY,
     merged(GATEWAY_ADMIN, {
         "deploymentTier": "self_host_beta",
         "service": {"type": "NodePort", "nodePort": 30790},
         "persistence": {"enabled": True, "storageClass": "standard"},
         "serviceMonitor": {"enabled": True},
         "networkPolicy": {"enabled": True},
         "secrets": {"passAs": "env", "env": {"BRIDGE_SECRET": "bridge-secret"},
                     "inline": {"bridge-secret": "9c1e0b7a6d5f4e3c2b1a0f9e8d7c6b5a"}},
         "providers": [{"id": "webhook", "kind": "webhook",
                        "credentials": {"sharedSecret": ["env:BRIDGE_SECRET"]},
                        "settings": {"deliveryUrl": "https://bridge.internal.test/hook"}}],
     })),
    ("cloud defaults", CLOUD, {}),
    ("cloud production example", CLOUD, production(CLOUD)),
    ("cloud header auth, persistence, LoadBalancer", CLOUD, {
        "deploymentTier": "private_beta",
        # A large number: Helm reads values as float64, printed naively it is "3.6e+06".
        "auth": {"mode": "header", "header": {"maxSignatureAgeMs": 3600000}},
        "service": {"type": "LoadBalancer", "loadBalancerSourceRanges": ["203.0.113.0/24"]},
        "persistence": {"enabled": True},
        "secrets": {"inline": {"header-secret": "b7c1d9e3f5a7b9c1d3e5f7a9b1c3d5e7f9"},
                    "keys": {"headerAuthSecret": "header-secret"}},
    }),
    ("cloud oidc, passAs env, ingress, NetworkPolicy", CLOUD, {
        "deploymentTier": "self_host_beta",
        "publicUrl": "https://cloud.internal.test",
        "auth": {"mode": "oidc", "oidc": {"issuer": "https://login.internal.test",
                                          "clientId": "open-cowork",
                                          "allowedEmailDomains": ["internal.test"]}},
        "ingress": {"enabled": True, "hosts": [{"host": "cloud.internal.test",
                                                "paths": [{"path": "/api"}]}]},
        "networkPolicy": {"enabled": True},
        "secrets": {"existingSecret": "cowork-cloud", "passAs": "env",
                    "keys": {"databaseUrl": "database-url"}},
        "splitRoles": True,
    }),
    ("cloud auth none for a local try", CLOUD, {"auth": {"mode": "none",
                                                         "allowInsecureNone": True}}),
]


def check_good_renders() -> dict[str, list[dict[str, Any]]]:
    rendered: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="helm-check-") as tmp:
        files: dict[str, Path] = {}
        for index, (label, chart, values) in enumerate(GOOD_CASES):
            try:
                docs = render(chart, values)
            except helm.HelmError as error:
                report(False, f"render {label}", getattr(error, "detail", str(error)))
                continue
            rendered[label] = docs
            kinds = sorted({doc["kind"] for doc in docs})
            report(True, f"render {label} ({len(docs)} objects: {', '.join(kinds)})")
            core = [doc for doc in docs if doc["kind"] != "ServiceMonitor"]
            for monitor in (doc for doc in docs if doc["kind"] == "ServiceMonitor"):
                try:
                    jsonschema.validate(monitor, SERVICE_MONITOR_SCHEMA)
                    report(True, f"ServiceMonitor schema ({label})")
                except jsonschema.ValidationError as error:
                    report(False, f"ServiceMonitor schema ({label})", error.message)
            path = Path(tmp) / f"case{index}.yaml"
            path.write_text(yaml.safe_dump_all(core, sort_keys=False))
            files[label] = path
        # One kubernetes-validate run for every case (it starts slowly). --quiet prints only
        # failures and warnings; a warning means an object had no schema, so it counts too.
        result = subprocess.run(
            [BIN / "kubernetes-validate", "--strict", "--quiet", "-k", KUBE_VERSION,
             *map(str, files.values())], capture_output=True, text=True)
        output = (result.stdout + result.stderr).strip()
        for label, path in files.items():
            lines = [line for line in output.splitlines() if str(path) in line]
            report(result.returncode == 0 and not lines,
                   f"kubernetes-validate --strict -k {KUBE_VERSION} ({label})", "; ".join(lines))
        if result.returncode != 0 and not any(str(p) in output for p in files.values()):
            report(False, "kubernetes-validate", output)
    return rendered


# ---------------------------------------------------------------------------------------------
# 4: properties of the good output

def of_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [doc for doc in docs if doc["kind"] == kind]


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["name"]: item for item in container.get("env", [])}


def check_pod_basics(deployment: dict[str, Any], paths: tuple[str, str, str],
                     data_dir: str) -> list[str]:
    """What every Deployment of both charts must have; returns the problems."""
    problems: list[str] = []
    spec = deployment["spec"]["template"]["spec"]
    pod_security = spec.get("securityContext", {})
    for key, want in (("runAsNonRoot", True), ("runAsUser", 65532),
                      ("seccompProfile", {"type": "RuntimeDefault"})):
        if pod_security.get(key) != want:
            problems.append(f"pod securityContext.{key} is {pod_security.get(key)!r}")
    if spec.get("automountServiceAccountToken") is not False:
        problems.append("the service account token is mounted")
    if not spec.get("topologySpreadConstraints"):
        problems.append("no topologySpreadConstraints")
    (container,) = spec["containers"]
    security = container.get("securityContext", {})
    for key, want in (("readOnlyRootFilesystem", True), ("allowPrivilegeEscalation", False),
                      ("runAsNonRoot", True), ("capabilities", {"drop": ["ALL"]}),
                      ("seccompProfile", {"type": "RuntimeDefault"})):
        if security.get(key) != want:
            problems.append(f"container securityContext.{key} is {security.get(key)!r}")
    for probe, path in zip(("startupProbe", "livenessProbe", "readinessProbe"), paths):
        got = container.get(probe, {}).get("httpGet", {}).get("path")
        if got != path:
            problems.append(f"{probe} path is {got!r}, not {path}")
    requests = container.get("resources", {}).get("requests", {})
    if not {"cpu", "memory"} <= requests.keys():
        problems.append("resources.requests lacks cpu or memory")
    mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    if "emptyDir" not in volumes.get(mounts.get("/tmp", ""), {}):
        problems.append("/tmp is not an emptyDir")
    env = env_of(container)
    config_path = env.get("OPEN_COWORK_CONFIG_PATH", {}).get("value", "")
    config_dir = config_path.rsplit("/", 1)[0]
    if "configMap" not in volumes.get(mounts.get(config_dir, ""), {}):
        problems.append(f"OPEN_COWORK_CONFIG_PATH {config_path!r} is not on the ConfigMap")
    postgres = any(name.endswith("DATABASE_URL") or name.endswith("DATABASE_URL_REF")
                   for name in env)
    strategy = deployment["spec"]["strategy"]["type"]
    if postgres:
        if data_dir in mounts or strategy != "RollingUpdate":
            problems.append(f"Postgres, yet a data volume or strategy {strategy}")
    else:
        data = volumes.get(mounts.get(data_dir, ""), {})
        if not ({"emptyDir", "persistentVolumeClaim"} & data.keys()) or strategy != "Recreate":
            problems.append(f"SQLite without a data volume at {data_dir} or with {strategy}")
    for name, item in env.items():
        if re.fullmatch(r"[0-9.]+e[+-][0-9]+", str(item.get("value", ""))):
            problems.append(f"{name} is {item['value']!r}, a float in exponent form")
        if name.endswith("_REF") and not item.get("value", "").startswith("file:" + SECRETS_DIR):
            problems.append(f"{name} does not point into {SECRETS_DIR}")
        secretish = any(word in name for word in ("TOKEN", "SECRET", "PASSWORD", "DATABASE_URL",
                                                  "API_KEY", "HASH_KEY"))
        if secretish and not name.endswith("_REF") and "value" in item:
            problems.append(f"{name} is a literal value")
    return problems


def check_properties(rendered: dict[str, list[dict[str, Any]]]) -> None:
    for label, docs in rendered.items():
        gateway = label.startswith("gateway")
        paths = ("/health", "/health", "/ready") if gateway else ("/livez", "/livez", "/readyz")
        data_dir = "/var/lib/open-cowork"
        problems: list[str] = []
        deployments = of_kind(docs, "Deployment")
        for deployment in deployments:
            problems += check_pod_basics(deployment, paths, data_dir)
        if not of_kind(docs, "PodDisruptionBudget"):
            problems.append("no PodDisruptionBudget")
        (config_map,) = of_kind(docs, "ConfigMap")
        config = json.loads(config_map["data"]["open-cowork.config.json"])
        for provider in config.get("gateway", {}).get("providers", []):
            for name, value in provider.get("credentials", {}).items():
                for item in value if isinstance(value, list) else [value]:
                    if not item.startswith(("file:" + SECRETS_DIR, "env:", "{env:")):
                        problems.append(f"credential {provider['id']}.{name} is a literal")
        if gateway:
            (container,) = deployments[0]["spec"]["template"]["spec"]["containers"]
            env = env_of(container)
            field = env.get("OPEN_COWORK_GATEWAY_INSTANCE_ID", {}).get("valueFrom", {})
            if field.get("fieldRef", {}).get("fieldPath") != "metadata.name":
                problems.append("OPEN_COWORK_GATEWAY_INSTANCE_ID is not the pod name")
            if "OPEN_COWORK_GATEWAY_DEPLOYMENT_TIER" not in env:
                problems.append("no OPEN_COWORK_GATEWAY_DEPLOYMENT_TIER")
        else:
            for deployment in deployments:
                (container,) = deployment["spec"]["template"]["spec"]["containers"]
                if "OPEN_COWORK_CLOUD_DEPLOYMENT_TIER" not in env_of(container):
                    problems.append("no OPEN_COWORK_CLOUD_DEPLOYMENT_TIER")
                if container["args"][:2] != ["serve", "--role"]:
                    problems.append(f"args {container['args']} do not start serve --role")
        if "production" in label:
            problems += check_production(label, docs, deployments)
        report(not problems, f"properties of {label}", "; ".join(problems))


def check_production(label: str, docs: list[dict[str, Any]],
                     deployments: list[dict[str, Any]]) -> list[str]:
    problems: list[str] = []
    if of_kind(docs, "Secret"):
        problems.append("a Secret object is rendered (production takes existingSecret only)")
    for kind in ("Ingress", "NetworkPolicy", "PodDisruptionBudget"):
        if not of_kind(docs, kind):
            problems.append(f"no {kind}")
    for ingress in of_kind(docs, "Ingress"):
        if not ingress["spec"].get("tls"):
            problems.append("the ingress has no TLS")
    if label.startswith("gateway"):
        (deployment,) = deployments
        if deployment["spec"]["replicas"] != 3:
            problems.append("the production gateway does not run 3 replicas")
        env = env_of(deployment["spec"]["template"]["spec"]["containers"][0])
        for name in ("OPEN_COWORK_GATEWAY_ADMIN_TOKEN_REF", "OPEN_COWORK_GATEWAY_DATABASE_URL_REF"):
            if name not in env:
                problems.append(f"no {name}")
        if env.get("OPEN_COWORK_GATEWAY_DEPLOYMENT_TIER", {}).get("value") != "public_production":
            problems.append("the tier is not public_production")
        public_url = env.get("OPEN_COWORK_GATEWAY_PUBLIC_URL", {}).get("value", "")
        if not public_url.startswith("https://"):
            problems.append("no https public URL")
    else:
        roles = sorted(d["spec"]["template"]["spec"]["containers"][0]["args"][2]
                       for d in deployments)
        if roles != ["web", "worker"]:
            problems.append(f"roles {roles}, not web and worker")
        (service,) = of_kind(docs, "Service")
        if service["spec"]["selector"].get("app.kubernetes.io/component") != "web":
            problems.append("the Service does not select the web pods")
    return problems


# ---------------------------------------------------------------------------------------------
# 5: bad renders

GATEWAY_PROVIDER_CASES = [
    ([{"id": "bridge", "kind": "webhook",
       "settings": {"deliveryUrl": "https://bridge.internal.test/hook"}}],
     "providers[0].credentials.sharedSecret: webhook provider \"bridge\""),
    ([{"id": "slack", "kind": "slack", "credentials": {"botToken": "env:SLACK_BOT_TOKEN"}}],
     "providers[0].credentials.signingSecret: slack provider \"slack\""),
    ([{"id": "mail", "kind": "email", "settings": {"smtpHost": "smtp.internal.test"}}],
     "providers[0].settings.from: email provider \"mail\""),
    ([{"id": "mail", "kind": "email", "settings": {"from": "agent@internal.test"}}],
     "providers[0].settings.smtpHost: email provider \"mail\""),
    ([{"id": "slack", "kind": "slack", "credentials": {"botToken": "xoxb-1234-5678-abcd",
                                                       "signingSecret": "env:SLACK_SIGN"}}],
     "providers[0].credentials.botToken: must be a reference"),
    ([{"id": "slack", "kind": "slack", "credentials": {"botToken": "env:SLACK_BOT_TOKEN",
                                                       "signingSecret": "env:SLACK_SIGN"}}],
     "providers[0].credentials.botToken: \"env:SLACK_BOT_TOKEN\" names a variable the pod"),
    ([{"id": "bridge", "kind": "webhook",
       "credentials": {"sharedSecret": "file:/etc/passwd"}}],
     "providers[0].credentials.sharedSecret: \"file:/etc/passwd\" must point into"),
    ([{"id": "tg", "kind": "telegram"}], "providers[0].kind: \"telegram\" is not implemented"),
    ([{"id": "fake", "kind": "fake"}, {"id": "fake", "kind": "fake"}],
     "providers[1].id: \"fake\" is listed twice"),
]

PROD_NO_DB = {"replicaCount": 1, "serviceMonitor": {"enabled": False},
              "secrets": {"keys": {"databaseUrl": ""}}}

# A bad case's values are (PRODUCTION, override) when the override applies to the chart's
# values-production.yaml; else the override alone (over the defaults).
PRODUCTION = "values-production.yaml +"

BAD_CASES: list[tuple[str, Path, Any, str]] = [
    # image
    ("no tag, no digest", GATEWAY, {"image": {"tag": ""}}, "image.tag: set an image tag"),
    ("tag latest", GATEWAY, {"image": {"tag": "latest"}}, "image.tag: `latest` is not allowed"),
    ("bad digest", GATEWAY, {"image": {"digest": "sha256:abc"}}, "image.digest:"),
    # exposure without an admin token
    ("LoadBalancer, no admin token", GATEWAY, {"service": {"type": "LoadBalancer"}},
     "secrets.keys.adminToken: the gateway is exposed (service.type is LoadBalancer"),
    ("NodePort, no admin token", GATEWAY, {"service": {"type": "NodePort"}},
     "secrets.keys.adminToken: the gateway is exposed (service.type is NodePort"),
    ("ingress, no admin token", GATEWAY,
     {"ingress": {"enabled": True, "hosts": [{"host": "gw.internal.test",
                                              "paths": [{"path": "/webhooks"}]}]}},
     "secrets.keys.adminToken: the gateway is exposed (ingress.enabled is true"),
    ("ingress without hosts", GATEWAY, merged(GATEWAY_ADMIN, {"ingress": {"enabled": True},
                                                              "providers": []}),
     "ingress.hosts:"),
    ("publicUrl over http", GATEWAY, {"publicUrl": "http://gw.internal.test"},
     "publicUrl: \"http://gw.internal.test\" must be an https:// URL"),
    # the fake provider on an exposed gateway
    ("fake provider on a LoadBalancer", GATEWAY,
     merged(GATEWAY_ADMIN, {"service": {"type": "LoadBalancer"}}),
     "allowPublicFakeProvider: the fake provider has no authentication"),
    ("fake provider behind an ingress", GATEWAY,
     merged(GATEWAY_ADMIN, {"ingress": {"enabled": True, "hosts": [{"host": "gw.internal.test",
                                                                    "paths": [{"path": "/"}]}]}}),
     "allowPublicFakeProvider: the fake provider has no authentication"),
    ("implicit fake provider (no providers) with a public URL", GATEWAY,
     merged(GATEWAY_ADMIN, {"providers": [], "publicUrl": "https://gw.internal.test"}),
     "allowPublicFakeProvider:"),
    # provider rules
    *[(f"provider: {expected.split(':')[0]}", GATEWAY, {"providers": providers}, expected)
      for providers, expected in GATEWAY_PROVIDER_CASES],
    # placeholders
    *[(f"placeholder inline value {value!r}", GATEWAY,
       {"secrets": {"inline": {"admin-token": value}, "keys": {"adminToken": "admin-token"}}},
       "secrets.inline.admin-token: looks like a placeholder")
      for value in ("changeme", "CHANGE-ME-please", "replace-me", "replace-with-a-token",
                    "example-token", "password", "secret", "xxxxxxxxxxxx", "your-token-here",
                    "postgres://cowork:password@db:5432/cowork")],
    *[(f"placeholder existingSecret {name!r}", GATEWAY, {"secrets": {"existingSecret": name}},
       "secrets.existingSecret:") for name in ("changeme", "example-secret", "replace-me", "xxx")],
    ("existingSecret and inline together", GATEWAY,
     {"secrets": {"existingSecret": "gw", "inline": {"a": "9d8c7b6a5f4e3d2c1b0a"}}},
     "secrets.inline: set either secrets.existingSecret or secrets.inline"),
    ("a key with no Secret", GATEWAY, {"secrets": {"keys": {"adminToken": "admin-token"}}},
     "secrets.keys.adminToken: names Secret key \"admin-token\", but neither"),
    # storage
    ("3 replicas on SQLite", GATEWAY, {"replicaCount": 3},
     "replicaCount: 3 replicas need Postgres"),
    ("persistence with Postgres", GATEWAY,
     {"persistence": {"enabled": True},
      "secrets": {"existingSecret": "gw", "keys": {"databaseUrl": "database-url"}}},
     "persistence.enabled:"),
    # split mode
    ("split without the cloud URL", GATEWAY, {"mode": "split"}, "cloud.baseUrl: mode split"),
    ("split without a service token", GATEWAY,
     {"mode": "split", "cloud": {"baseUrl": "https://cloud.internal.test"}},
     "secrets.keys.serviceToken: mode split"),
    ("split over plain http", GATEWAY,
     {"mode": "split", "cloud": {"baseUrl": "http://cloud:8787"},
      "secrets": {"existingSecret": "gw", "keys": {"serviceToken": "service-token"}}},
     "cloud.baseUrl: the gateway refuses plain http"),
    # config and choices
    ("unknown tier", GATEWAY, {"deploymentTier": "prod"}, "deploymentTier: \"prod\" is not one of"),
    ("admin token in the config file", GATEWAY,
     {"config": {"gateway": {"server": {"adminToken": "9f8e7d6c5b4a3f2e1d0c"}}}},
     "config.gateway.server.adminToken:"),
    ("literal OpenAI key in the config file", GATEWAY,
     {"config": {"cloud": {"openai": {"apiKey": "sk-abc123"}}}}, "config.cloud.openai.apiKey:"),
    ("trusted proxy headers without proxy ranges", GATEWAY, {"trustProxyHeaders": True},
     "trustedProxyCidrs: trustProxyHeaders needs"),
    ("ServiceMonitor without an admin token", GATEWAY, {"serviceMonitor": {"enabled": True}},
     "serviceMonitor.enabled: /metrics is an operator route"),
    ("grace period shorter than the drain", GATEWAY, {"terminationGracePeriodSeconds": 10},
     "terminationGracePeriodSeconds: 10 is too short"),
    # public_production (from the production example, one requirement removed)
    ("public_production without Postgres", GATEWAY, (PRODUCTION, PROD_NO_DB),
     "deploymentTier: public_production needs Postgres"),
    ("public_production without a public URL", GATEWAY,
     (PRODUCTION, {"publicUrl": ""}),
     "deploymentTier: public_production needs publicUrl"),
    ("public_production with an http public URL", GATEWAY,
     (PRODUCTION, {"publicUrl": "http://gateway.internal.test"}),
     "deploymentTier: public_production needs publicUrl"),
    ("public_production without an admin token", GATEWAY,
     (PRODUCTION, {"secrets": {"keys": {"adminToken": ""}},
                                  "serviceMonitor": {"enabled": False}}),
     "deploymentTier: public_production needs an admin token"),
    ("public_production with inline secrets", GATEWAY,
     (PRODUCTION, {"secrets": {"existingSecret": "", "inline": {
         "admin-token": "4e5f6a7b8c9d0e1f2a3b", "database-url": "postgres://cw:Zq81x@pg/cw"}}}),
     "secrets.inline: deploymentTier public_production takes secrets only by reference"),
    # the cloud
    ("cloud: tag latest", CLOUD, {"image": {"tag": "latest"}}, "image.tag: `latest`"),
    ("cloud: no tag, no digest", CLOUD, {"image": {"tag": None}}, "image.tag: set an image tag"),
    ("cloud: publicUrl over http", CLOUD, {"publicUrl": "http://cloud.internal.test"},
     "publicUrl: \"http://cloud.internal.test\" must be an https:// URL"),
    ("cloud: auth none without the override", CLOUD, {"auth": {"mode": "none"}},
     "auth.allowInsecureNone:"),
    ("cloud: auth none on a LoadBalancer", CLOUD,
     {"auth": {"mode": "none", "allowInsecureNone": True}, "service": {"type": "LoadBalancer"}},
     "auth.mode: none makes every request without a token the owner, and the cloud is exposed"),
    ("cloud: auth none behind an ingress", CLOUD,
     {"auth": {"mode": "none", "allowInsecureNone": True},
      "ingress": {"enabled": True, "hosts": [{"host": "c.internal.test",
                                              "paths": [{"path": "/api"}]}]}},
     "auth.mode: none"),
    ("cloud: header auth without a secret", CLOUD, {"auth": {"mode": "header"}},
     "secrets.keys.headerAuthSecret:"),
    ("cloud: oidc without an issuer", CLOUD, {"auth": {"mode": "oidc"}}, "auth.oidc.issuer:"),
    ("cloud: oidc with an http issuer", CLOUD,
     {"auth": {"mode": "oidc", "oidc": {"issuer": "http://login", "clientId": "c"}}},
     "auth.oidc.issuer:"),
    ("cloud: oidc without a client id", CLOUD,
     {"auth": {"mode": "oidc", "oidc": {"issuer": "https://login.internal.test"}}},
     "auth.oidc.clientId:"),
    ("cloud: unknown auth mode", CLOUD, {"auth": {"mode": "basic"}}, "auth.mode: \"basic\""),
    ("cloud: split roles on SQLite", CLOUD, {"splitRoles": True}, "splitRoles: web and worker"),
    ("cloud: 2 replicas on SQLite", CLOUD, {"replicaCount": 2},
     "replicaCount: 2 replicas need Postgres"),
    ("cloud: placeholder inline value", CLOUD,
     {"secrets": {"inline": {"token-hash-key": "replace-me-with-32-bytes"},
                  "keys": {"tokenHashKey": "token-hash-key"}}},
     "secrets.inline.token-hash-key: looks like a placeholder"),
    ("cloud: placeholder existingSecret", CLOUD, {"secrets": {"existingSecret": "changeme"}},
     "secrets.existingSecret:"),
    ("cloud: ServiceMonitor", CLOUD, {"serviceMonitor": {"enabled": True}},
     "serviceMonitor.enabled: open-cowork-cloud 0.1.0 serves no /metrics"),
    ("cloud: literal OpenAI key in the config file", CLOUD,
     {"config": {"cloud": {"openai": {"apiKey": "sk-abc123"}}}}, "config.cloud.openai.apiKey:"),
    ("cloud: unknown tier", CLOUD, {"deploymentTier": "production"}, "deploymentTier:"),
    ("cloud: public_production without Postgres", CLOUD,
     (PRODUCTION, {"splitRoles": False, "secrets": {"keys": {"databaseUrl": ""}}}),
     "deploymentTier: public_production needs Postgres"),
    ("cloud: public_production without a public URL", CLOUD,
     (PRODUCTION, {"publicUrl": None}),
     "deploymentTier: public_production needs publicUrl"),
    ("cloud: public_production with auth none", CLOUD,
     (PRODUCTION, {"auth": {"mode": "none", "allowInsecureNone": True}}),
     "auth.mode: public_production needs authentication"),
    ("cloud: public_production without a token-hashing key", CLOUD,
     (PRODUCTION, {"secrets": {"keys": {"tokenHashKey": ""}}}),
     "secrets.keys.tokenHashKey"),
    ("cloud: public_production with inline secrets", CLOUD,
     (PRODUCTION, {"secrets": {"existingSecret": "", "inline": {
         "database-url": "postgres://cw:Zq81x@pg/cw", "token-hash-key": "1a2b3c4d5e6f7a8b9c0d",
         "openai-api-key": "sk-9a8b7c6d"}}}),
     "secrets.inline: deploymentTier public_production takes secrets only by reference"),
]


def check_bad_renders() -> None:
    for label, chart, values, expected in BAD_CASES:
        shown = json.dumps(values[1] if isinstance(values, tuple) else values, sort_keys=True)
        base = PRODUCTION + " " if isinstance(values, tuple) else ""
        if isinstance(values, tuple):
            values = merged(production(chart), values[1])
        shown = shown if len(shown) <= 80 else shown[:80] + "..."
        what = f"refuses {label} [{chart.name}: {base}{shown}]"
        try:
            render(chart, values)
        except helm.HelmRenderError as error:
            message = getattr(error, "detail", str(error))
            report(expected in message, what,
                   f"expected {expected!r} in the message, got {message!r}")
            continue
        except helm.HelmError as error:
            report(False, what, f"failed outside the render rules: {error}")
            continue
        report(False, what, f"rendered, expected a failure with {expected!r}")


def main() -> int:
    helm.disable_logging()  # `fail` is logged by the library as well as raised
    check_yamllint()
    check_lint()
    check_properties(check_good_renders())
    check_bad_renders()
    if failures:
        print(f"\nhelm_check: {len(failures)} failed: " + "; ".join(failures))
        return 1
    print(f"\nhelm_check: all passed ({len(GOOD_CASES)} good renders, "
          f"{len(BAD_CASES)} refused renders)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
