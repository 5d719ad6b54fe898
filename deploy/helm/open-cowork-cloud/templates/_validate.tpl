{{/*
Render-time safety rules. Every template includes "open-cowork-cloud.validate" first, so a values
file that breaks a rule renders nothing at all (helm template, install, upgrade, and
--show-only of any single template). Each message starts with the value to change.

Why at render time: the cloud refuses several of these at startup too, but then the pods
crash-loop after the rollout began; others (several processes on SQLite, a literal secret in
the ConfigMap, auth mode none behind a LoadBalancer) are only visible here.
*/}}

{{- define "open-cowork-cloud.validate" -}}
{{- include "open-cowork-cloud.validate.image" . -}}
{{- include "open-cowork-cloud.validate.choices" . -}}
{{- include "open-cowork-cloud.validate.secrets" . -}}
{{- include "open-cowork-cloud.validate.exposure" . -}}
{{- include "open-cowork-cloud.validate.production" . -}}
{{- include "open-cowork-cloud.validate.auth" . -}}
{{- include "open-cowork-cloud.validate.config" . -}}
{{- include "open-cowork-cloud.validate.storage" . -}}
{{- end -}}

{{/*
Placeholders. A secret value is one when it starts with, or contains as a separate word, a
word that example files use (changeme, replace-me, example, password, secret, xxx...). A name
(of a Secret) is one when it starts with such a word or is exactly secret/password: names like
"cloud-secrets" are fine.
*/}}
{{- define "open-cowork-cloud.placeholderValueRegex" -}}
(?i)^(change[-_]?me|replace[-_]?(me|with)|example|placeholder|your[-_]|todo|dummy|xxx|password|passw0rd|secret|<)|(^|[^a-z0-9])(change[-_]?me|replace[-_]?(me|with)|example|placeholder|password|passw0rd|secret|x{3,})([^a-z0-9]|$)
{{- end -}}
{{- define "open-cowork-cloud.placeholderNameRegex" -}}
(?i)^(change[-_]?me|replace[-_]?(me|with)|example|placeholder|your[-_]|todo|dummy|x{3,}|<)|change[-_]?me|replace[-_]?me|^(secret|password)$
{{- end -}}

{{- define "open-cowork-cloud.validate.image" -}}
{{- $image := .Values.image -}}
{{- if not $image.repository -}}
{{- fail "image.repository: set the cloud image repository" -}}
{{- end -}}
{{- if and (not $image.tag) (not $image.digest) -}}
{{- fail "image.tag: set an image tag (e.g. 0.1.0) or image.digest; an unpinned image changes under a running release" -}}
{{- end -}}
{{- if eq (lower (toString $image.tag)) "latest" -}}
{{- fail "image.tag: `latest` is not allowed; pin a release (e.g. 0.1.0) or set image.digest, so every process and every rollback runs the same build" -}}
{{- end -}}
{{- if and $image.digest (not (regexMatch "^sha256:[a-f0-9]{64}$" (toString $image.digest))) -}}
{{- fail (printf "image.digest: %q is not sha256:<64 hex digits>" (toString $image.digest)) -}}
{{- end -}}
{{- end -}}

{{- define "open-cowork-cloud.validate.choices" -}}
{{- $tiers := list "local" "self_host_beta" "private_beta" "public_production" -}}
{{- if not (has .Values.deploymentTier $tiers) -}}
{{- fail (printf "deploymentTier: %q is not one of %s" (toString .Values.deploymentTier) (join ", " $tiers)) -}}
{{- end -}}
{{- if not (has .Values.auth.mode (list "token" "none" "header" "oidc")) -}}
{{- fail (printf "auth.mode: %q is not token, none, header or oidc" (toString .Values.auth.mode)) -}}
{{- end -}}
{{- if not (has .Values.secrets.passAs (list "files" "env")) -}}
{{- fail (printf "secrets.passAs: %q is not files or env" (toString .Values.secrets.passAs)) -}}
{{- end -}}
{{- if not (has .Values.service.type (list "ClusterIP" "LoadBalancer" "NodePort")) -}}
{{- fail (printf "service.type: %q is not ClusterIP, LoadBalancer or NodePort" (toString .Values.service.type)) -}}
{{- end -}}
{{- if .Values.splitRoles -}}
{{- if lt (int .Values.web.replicaCount) 1 -}}{{- fail "web.replicaCount: at least 1" -}}{{- end -}}
{{- if lt (int .Values.worker.replicaCount) 1 -}}{{- fail "worker.replicaCount: at least 1" -}}{{- end -}}
{{- else if lt (int .Values.replicaCount) 1 -}}
{{- fail "replicaCount: at least 1 (scale a release to zero with kubectl scale, not with the chart)" -}}
{{- end -}}
{{- if .Values.serviceMonitor.enabled -}}
{{- fail "serviceMonitor.enabled: open-cowork-cloud 0.1.0 serves no /metrics endpoint to scrape; watch /readyz, and the gateways' /metrics (open_cowork_gateway_session_commands_runnable in standalone)" -}}
{{- end -}}
{{- end -}}

{{- define "open-cowork-cloud.validate.secrets" -}}
{{- $secrets := .Values.secrets -}}
{{- $valueRegex := include "open-cowork-cloud.placeholderValueRegex" . -}}
{{- $nameRegex := include "open-cowork-cloud.placeholderNameRegex" . -}}
{{- if and $secrets.existingSecret (regexMatch $nameRegex (toString $secrets.existingSecret)) -}}
{{- fail (printf "secrets.existingSecret: %q looks like a placeholder; name the Secret you created (kubectl create secret generic ...)" (toString $secrets.existingSecret)) -}}
{{- end -}}
{{- if and $secrets.existingSecret $secrets.inline -}}
{{- fail "secrets.inline: set either secrets.existingSecret or secrets.inline, not both" -}}
{{- end -}}
{{- range $key, $value := $secrets.inline -}}
{{- if not (regexMatch "^[-._a-zA-Z0-9]+$" $key) -}}
{{- fail (printf "secrets.inline.%s: a Secret key is letters, digits, '-', '_' and '.'" $key) -}}
{{- end -}}
{{- if not (toString $value) -}}
{{- fail (printf "secrets.inline.%s: is empty" $key) -}}
{{- end -}}
{{- if regexMatch $valueRegex (toString $value) -}}
{{- fail (printf "secrets.inline.%s: looks like a placeholder (changeme, replace-me, example, password, secret, xxx...); generate a real value, e.g. openssl rand -hex 32" $key) -}}
{{- end -}}
{{- end -}}
{{- $used := dict -}}
{{- range $setting, $key := $secrets.keys -}}
{{- if $key -}}{{- $_ := set $used (printf "secrets.keys.%s" $setting) (toString $key) -}}{{- end -}}
{{- end -}}
{{- range $var, $key := $secrets.env -}}
{{- if not (regexMatch "^[A-Za-z_][A-Za-z0-9_]*$" $var) -}}
{{- fail (printf "secrets.env.%s: not a valid environment variable name" $var) -}}
{{- end -}}
{{- $_ := set $used (printf "secrets.env.%s" $var) (toString $key) -}}
{{- end -}}
{{- range $path, $key := $used -}}
{{- if not (include "open-cowork-cloud.hasSecret" $) -}}
{{- fail (printf "%s: names Secret key %q, but neither secrets.existingSecret nor secrets.inline is set" $path $key) -}}
{{- end -}}
{{- if and $secrets.inline (not (hasKey $secrets.inline $key)) -}}
{{- fail (printf "%s: key %q is not in secrets.inline" $path $key) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "open-cowork-cloud.validate.exposure" -}}
{{- if and .Values.publicUrl (not (hasPrefix "https://" (toString .Values.publicUrl))) -}}
{{- fail (printf "publicUrl: %q must be an https:// URL: gateway tokens and people's bearer tokens are sent to it" (toString .Values.publicUrl)) -}}
{{- end -}}
{{- if and .Values.ingress.enabled (not .Values.ingress.hosts) -}}
{{- fail "ingress.hosts: list at least one host for the ingress" -}}
{{- end -}}
{{- end -}}

{{- define "open-cowork-cloud.validate.auth" -}}
{{- $auth := .Values.auth -}}
{{- $exposure := include "open-cowork-cloud.exposure" . -}}
{{- if eq $auth.mode "none" -}}
{{- if $exposure -}}
{{- fail (printf "auth.mode: none makes every request without a token the owner, and the cloud is exposed (%s); use token, header or oidc" $exposure) -}}
{{- end -}}
{{- if not $auth.allowInsecureNone -}}
{{- fail "auth.allowInsecureNone: auth.mode none makes every client that reaches the Service the owner (the pod cannot bind loopback only); set auth.allowInsecureNone=true to accept that for a try, or use token" -}}
{{- end -}}
{{- end -}}
{{- if and (eq $auth.mode "header") (not .Values.secrets.keys.headerAuthSecret) (not $auth.header.allowUnsigned) -}}
{{- fail "secrets.keys.headerAuthSecret: auth.mode header needs the proxy's signing secret (at least 32 bytes) on a non-loopback bind; or set auth.header.allowUnsigned=true (members only)" -}}
{{- end -}}
{{- if eq $auth.mode "oidc" -}}
{{- if not (hasPrefix "https://" (toString $auth.oidc.issuer)) -}}
{{- fail (printf "auth.oidc.issuer: auth.mode oidc needs the issuer's https:// URL (got %q)" (toString $auth.oidc.issuer)) -}}
{{- end -}}
{{- if not $auth.oidc.clientId -}}
{{- fail "auth.oidc.clientId: auth.mode oidc needs the client id tokens must carry as audience" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "open-cowork-cloud.validate.config" -}}
{{- $cloud := default dict .Values.config.cloud -}}
{{- $openai := dig "openai" dict $cloud -}}
{{- if hasKey $openai "apiKey" -}}
{{- $key := toString $openai.apiKey -}}
{{- $name := trimSuffix "}" (trimPrefix "{env:" (trimPrefix "env:" $key)) -}}
{{- $envNames := keys (default dict .Values.secrets.env) -}}
{{- range .Values.env -}}{{- $envNames = append $envNames .name -}}{{- end -}}
{{- if not (or (hasPrefix "env:" $key) (hasPrefix "{env:" $key)) -}}
{{- fail "config.cloud.openai.apiKey: the config file is a ConfigMap; put the key in the Secret and set secrets.keys.openaiApiKey" -}}
{{- end -}}
{{- if not (has $name $envNames) -}}
{{- fail (printf "config.cloud.openai.apiKey: %q names a variable the pod does not have; map it from the Secret in secrets.env" $key) -}}
{{- end -}}
{{- end -}}
{{- $needed := add (div (int64 .Values.shutdownDrainTimeoutMs) 1000) (int64 .Values.preStopSleepSeconds) 5 -}}
{{- if lt (int64 .Values.terminationGracePeriodSeconds) $needed -}}
{{- fail (printf "terminationGracePeriodSeconds: %d is too short for the preStop sleep (%ds) plus the shutdown drain (shutdownDrainTimeoutMs %d) plus 5s; use at least %d, or the kubelet kills the cloud mid-drain" (int64 .Values.terminationGracePeriodSeconds) (int64 .Values.preStopSleepSeconds) (int64 .Values.shutdownDrainTimeoutMs) $needed) -}}
{{- end -}}
{{- end -}}

{{- define "open-cowork-cloud.validate.storage" -}}
{{- $postgres := include "open-cowork-cloud.postgres" . -}}
{{- if not $postgres -}}
{{- if .Values.splitRoles -}}
{{- fail "splitRoles: web and worker are separate processes and need Postgres (secrets.keys.databaseUrl): SQLite serves one process" -}}
{{- end -}}
{{- if gt (int .Values.replicaCount) 1 -}}
{{- fail (printf "replicaCount: %d replicas need Postgres (secrets.keys.databaseUrl): SQLite serves one process, and each pod would keep its own database" (int .Values.replicaCount)) -}}
{{- end -}}
{{- else if .Values.persistence.enabled -}}
{{- fail "persistence.enabled: the volume holds the SQLite file, and this release uses Postgres (secrets.keys.databaseUrl); turn persistence off" -}}
{{- end -}}
{{- end -}}

{{- define "open-cowork-cloud.validate.production" -}}
{{- if eq .Values.deploymentTier "public_production" -}}
{{- if not (include "open-cowork-cloud.postgres" .) -}}
{{- fail "deploymentTier: public_production needs Postgres: put the database URL in the Secret and set secrets.keys.databaseUrl" -}}
{{- end -}}
{{- if not (hasPrefix "https://" (toString .Values.publicUrl)) -}}
{{- fail "deploymentTier: public_production needs publicUrl, the cloud's https:// address" -}}
{{- end -}}
{{- if eq .Values.auth.mode "none" -}}
{{- fail "auth.mode: public_production needs authentication (token, header or oidc), not none" -}}
{{- end -}}
{{- if not .Values.secrets.keys.tokenHashKey -}}
{{- fail "deploymentTier: public_production keeps the token-hashing key outside the database: put 32+ random bytes in the Secret and set secrets.keys.tokenHashKey" -}}
{{- end -}}
{{- if .Values.secrets.inline -}}
{{- fail "secrets.inline: deploymentTier public_production takes secrets only by reference; create the Secret yourself and set secrets.existingSecret" -}}
{{- end -}}
{{- end -}}
{{- end -}}
