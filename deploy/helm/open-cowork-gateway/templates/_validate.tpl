{{/*
Render-time safety rules. Every template includes "open-cowork-gateway.validate" first, so a
values file that breaks a rule renders nothing at all (helm template, install, upgrade, and
--show-only of any single template). Each message starts with the value to change.

Why at render time: the gateway refuses most of these at startup too, but then the pod
crash-loops after the rollout began; a few (SQLite with several replicas, a literal secret in
the ConfigMap, an unauthenticated fake provider behind a LoadBalancer) are only visible here.
*/}}

{{- define "open-cowork-gateway.validate" -}}
{{- include "open-cowork-gateway.validate.image" . -}}
{{- include "open-cowork-gateway.validate.choices" . -}}
{{- include "open-cowork-gateway.validate.secrets" . -}}
{{- include "open-cowork-gateway.validate.production" . -}}
{{- include "open-cowork-gateway.validate.exposure" . -}}
{{- include "open-cowork-gateway.validate.providers" . -}}
{{- include "open-cowork-gateway.validate.config" . -}}
{{- include "open-cowork-gateway.validate.storage" . -}}
{{- include "open-cowork-gateway.validate.split" . -}}
{{- end -}}

{{/*
Placeholders. A secret value is one when it starts with, or contains as a separate word, a
word that example files use (changeme, replace-me, example, password, secret, xxx...). A name
(of a Secret) is one when it starts with such a word or is exactly secret/password: names like
"gateway-secrets" are fine.
*/}}
{{- define "open-cowork-gateway.placeholderValueRegex" -}}
(?i)^(change[-_]?me|replace[-_]?(me|with)|example|placeholder|your[-_]|todo|dummy|xxx|password|passw0rd|secret|<)|(^|[^a-z0-9])(change[-_]?me|replace[-_]?(me|with)|example|placeholder|password|passw0rd|secret|x{3,})([^a-z0-9]|$)
{{- end -}}
{{- define "open-cowork-gateway.placeholderNameRegex" -}}
(?i)^(change[-_]?me|replace[-_]?(me|with)|example|placeholder|your[-_]|todo|dummy|x{3,}|<)|change[-_]?me|replace[-_]?me|^(secret|password)$
{{- end -}}

{{- define "open-cowork-gateway.validate.image" -}}
{{- $image := .Values.image -}}
{{- if not $image.repository -}}
{{- fail "image.repository: set the gateway image repository" -}}
{{- end -}}
{{- if and (not $image.tag) (not $image.digest) -}}
{{- fail "image.tag: set an image tag (e.g. 0.1.0) or image.digest; an unpinned image changes under a running release" -}}
{{- end -}}
{{- if eq (lower (toString $image.tag)) "latest" -}}
{{- fail "image.tag: `latest` is not allowed; pin a release (e.g. 0.1.0) or set image.digest, so every replica and every rollback runs the same build" -}}
{{- end -}}
{{- if and $image.digest (not (regexMatch "^sha256:[a-f0-9]{64}$" (toString $image.digest))) -}}
{{- fail (printf "image.digest: %q is not sha256:<64 hex digits>" (toString $image.digest)) -}}
{{- end -}}
{{- end -}}

{{- define "open-cowork-gateway.validate.choices" -}}
{{- $tiers := list "local" "self_host_beta" "private_beta" "public_production" -}}
{{- if not (has .Values.deploymentTier $tiers) -}}
{{- fail (printf "deploymentTier: %q is not one of %s" (toString .Values.deploymentTier) (join ", " $tiers)) -}}
{{- end -}}
{{- if not (has .Values.mode (list "standalone" "split")) -}}
{{- fail (printf "mode: %q is not standalone or split" (toString .Values.mode)) -}}
{{- end -}}
{{- if not (has .Values.secrets.passAs (list "files" "env")) -}}
{{- fail (printf "secrets.passAs: %q is not files or env" (toString .Values.secrets.passAs)) -}}
{{- end -}}
{{- if not (has .Values.service.type (list "ClusterIP" "LoadBalancer" "NodePort")) -}}
{{- fail (printf "service.type: %q is not ClusterIP, LoadBalancer or NodePort" (toString .Values.service.type)) -}}
{{- end -}}
{{- if lt (int .Values.replicaCount) 1 -}}
{{- fail "replicaCount: at least 1 (scale a release to zero with kubectl scale, not with the chart)" -}}
{{- end -}}
{{- end -}}

{{- define "open-cowork-gateway.validate.secrets" -}}
{{- $secrets := .Values.secrets -}}
{{- $valueRegex := include "open-cowork-gateway.placeholderValueRegex" . -}}
{{- $nameRegex := include "open-cowork-gateway.placeholderNameRegex" . -}}
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
{{- if not (include "open-cowork-gateway.hasSecret" $) -}}
{{- fail (printf "%s: names Secret key %q, but neither secrets.existingSecret nor secrets.inline is set" $path $key) -}}
{{- end -}}
{{- if and $secrets.inline (not (hasKey $secrets.inline $key)) -}}
{{- fail (printf "%s: key %q is not in secrets.inline" $path $key) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "open-cowork-gateway.validate.exposure" -}}
{{- $exposure := include "open-cowork-gateway.exposure" . -}}
{{- if and .Values.ingress.enabled (not .Values.ingress.hosts) -}}
{{- fail "ingress.hosts: list at least one host for the ingress" -}}
{{- end -}}
{{- if and .Values.publicUrl (not (hasPrefix "https://" (toString .Values.publicUrl))) -}}
{{- fail (printf "publicUrl: %q must be an https:// URL: Slack, relays and webhook senders post credentials and signed bodies to it" (toString .Values.publicUrl)) -}}
{{- end -}}
{{- if and $exposure (not .Values.secrets.keys.adminToken) -}}
{{- fail (printf "secrets.keys.adminToken: the gateway is exposed (%s), so the operator API needs an admin token; put one in secrets.existingSecret and name its key here" $exposure) -}}
{{- end -}}
{{- if and $exposure (include "open-cowork-gateway.fakeEnabled" .) (not .Values.allowPublicFakeProvider) -}}
{{- fail (printf "allowPublicFakeProvider: the fake provider has no authentication (anyone may prompt agents and read transcripts) and the gateway is exposed (%s); list real providers under providers, or set allowPublicFakeProvider=true to accept that" $exposure) -}}
{{- end -}}
{{- if and .Values.trustProxyHeaders (not .Values.trustedProxyCidrs) -}}
{{- fail "trustedProxyCidrs: trustProxyHeaders needs the address ranges of the proxies whose X-Forwarded-For is believed (e.g. the ingress controller's pods)" -}}
{{- end -}}
{{- if and .Values.serviceMonitor.enabled (not .Values.secrets.keys.adminToken) -}}
{{- fail "serviceMonitor.enabled: /metrics is an operator route that needs the admin token; set secrets.keys.adminToken" -}}
{{- end -}}
{{- end -}}

{{/*
A credential value in the config file (a string or a list of strings, for rotation) must be a
reference: the file is a ConfigMap, which is neither encrypted nor access-controlled like a
Secret. Arguments: (list $ "providers[0].credentials.botToken" $value).
*/}}
{{- define "open-cowork-gateway.validate.reference" -}}
{{- $ := index . 0 -}}
{{- $path := index . 1 -}}
{{- $values := index . 2 -}}
{{- if not (kindIs "slice" $values) -}}{{- $values = list $values -}}{{- end -}}
{{- if not $values -}}{{- fail (printf "%s: is empty" $path) -}}{{- end -}}
{{- $dir := printf "%s/" (include "open-cowork-gateway.secretsDir" $) -}}
{{- $envNames := keys (default dict $.Values.secrets.env) -}}
{{- range $.Values.env -}}{{- $envNames = append $envNames .name -}}{{- end -}}
{{- range $values -}}
{{- $ref := toString . -}}
{{- if hasPrefix "file:" $ref -}}
{{- $file := trimPrefix "file:" $ref -}}
{{- if not (hasPrefix $dir $file) -}}
{{- fail (printf "%s: %q must point into %s, where the Secret is mounted" $path $ref $dir) -}}
{{- end -}}
{{- if not (include "open-cowork-gateway.hasSecret" $) -}}
{{- fail (printf "%s: %q needs a Secret; set secrets.existingSecret" $path $ref) -}}
{{- end -}}
{{- $key := trimPrefix $dir $file -}}
{{- if and $.Values.secrets.inline (not (hasKey $.Values.secrets.inline $key)) -}}
{{- fail (printf "%s: key %q is not in secrets.inline" $path $key) -}}
{{- end -}}
{{- else if or (hasPrefix "env:" $ref) (and (hasPrefix "{env:" $ref) (hasSuffix "}" $ref)) -}}
{{- $name := trimSuffix "}" (trimPrefix "{env:" (trimPrefix "env:" $ref)) -}}
{{- if not (has $name $envNames) -}}
{{- fail (printf "%s: %q names a variable the pod does not have; map it from the Secret in secrets.env (%s: <key>)" $path $ref $name) -}}
{{- end -}}
{{- else -}}
{{- fail (printf "%s: must be a reference (file:%s<key> or env:NAME), not a literal: the config file is a ConfigMap" $path $dir) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "open-cowork-gateway.validate.providers" -}}
{{- $kinds := list "fake" "webhook" "slack" "email" -}}
{{- $seen := dict -}}
{{- range $i, $p := .Values.providers -}}
{{- $at := printf "providers[%d]" $i -}}
{{- if not (kindIs "map" $p) -}}{{- fail (printf "%s: a provider is an object {id, kind, ...}" $at) -}}{{- end -}}
{{- if not $p.id -}}{{- fail (printf "%s.id: required" $at) -}}{{- end -}}
{{- if hasKey $seen (toString $p.id) -}}
{{- fail (printf "%s.id: %q is listed twice" $at (toString $p.id)) -}}
{{- end -}}
{{- $_ := set $seen (toString $p.id) true -}}
{{- if not (has $p.kind $kinds) -}}
{{- fail (printf "%s.kind: %q is not implemented by this gateway (%s)" $at (toString $p.kind) (join ", " $kinds)) -}}
{{- end -}}
{{- $credentials := default dict $p.credentials -}}
{{- $settings := default dict $p.settings -}}
{{- if and (eq $p.kind "webhook") $settings.deliveryUrl (not $credentials.sharedSecret) -}}
{{- fail (printf "%s.credentials.sharedSecret: webhook provider %q delivers to settings.deliveryUrl but has no shared secret to sign deliveries and verify inbound requests" $at (toString $p.id)) -}}
{{- end -}}
{{- if and (eq $p.kind "slack") $credentials.botToken (not $credentials.signingSecret) -}}
{{- fail (printf "%s.credentials.signingSecret: slack provider %q has a botToken but no signingSecret; without it nothing proves a request came from Slack" $at (toString $p.id)) -}}
{{- end -}}
{{- if eq $p.kind "email" -}}
{{- if not $settings.from -}}
{{- fail (printf "%s.settings.from: email provider %q needs the address replies come from (settings.from) and an SMTP server (settings.smtpHost)" $at (toString $p.id)) -}}
{{- end -}}
{{- if not $settings.smtpHost -}}
{{- fail (printf "%s.settings.smtpHost: email provider %q needs the SMTP server that sends replies" $at (toString $p.id)) -}}
{{- end -}}
{{- end -}}
{{- range $name, $value := $credentials -}}
{{- include "open-cowork-gateway.validate.reference" (list $ (printf "%s.credentials.%s" $at $name) $value) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "open-cowork-gateway.validate.config" -}}
{{- $gateway := default dict .Values.config.gateway -}}
{{- $server := default dict $gateway.server -}}
{{- if hasKey $gateway "providers" -}}
{{- fail "config.gateway.providers: list providers under `providers`, where the chart checks them" -}}
{{- end -}}
{{- if hasKey $server "adminToken" -}}
{{- fail "config.gateway.server.adminToken: the config file is a ConfigMap; set the admin token through secrets.keys.adminToken" -}}
{{- end -}}
{{- if hasKey $server "publicBaseUrl" -}}
{{- fail "config.gateway.server.publicBaseUrl: set publicUrl instead, which the chart checks and passes on" -}}
{{- end -}}
{{- $openai := dig "openai" dict (default dict .Values.config.cloud) -}}
{{- if hasKey $openai "apiKey" -}}
{{- $key := toString $openai.apiKey -}}
{{- if not (or (hasPrefix "env:" $key) (hasPrefix "{env:" $key)) -}}
{{- fail "config.cloud.openai.apiKey: the config file is a ConfigMap; put the key in the Secret and set secrets.keys.openaiApiKey" -}}
{{- end -}}
{{- include "open-cowork-gateway.validate.reference" (list . "config.cloud.openai.apiKey" $key) -}}
{{- end -}}
{{- $drainMs := dig "timeouts" "shutdownDrainMs" 10000 $gateway -}}
{{- $needed := add (div (int64 $drainMs) 1000) (int64 .Values.preStopSleepSeconds) 5 -}}
{{- if lt (int64 .Values.terminationGracePeriodSeconds) $needed -}}
{{- fail (printf "terminationGracePeriodSeconds: %d is too short for the preStop sleep (%ds) plus the shutdown drain (%dms) plus 5s; use at least %d, or the kubelet kills the gateway mid-drain" (int64 .Values.terminationGracePeriodSeconds) (int64 .Values.preStopSleepSeconds) (int64 $drainMs) $needed) -}}
{{- end -}}
{{- end -}}

{{- define "open-cowork-gateway.validate.storage" -}}
{{- $postgres := include "open-cowork-gateway.postgres" . -}}
{{- if and (gt (int .Values.replicaCount) 1) (not $postgres) -}}
{{- fail (printf "replicaCount: %d replicas need Postgres (secrets.keys.databaseUrl): SQLite serves one process, and each pod would keep its own database" (int .Values.replicaCount)) -}}
{{- end -}}
{{- if and .Values.persistence.enabled $postgres -}}
{{- fail "persistence.enabled: the volume holds the SQLite file, and this release uses Postgres (secrets.keys.databaseUrl); turn persistence off" -}}
{{- end -}}
{{- end -}}

{{- define "open-cowork-gateway.validate.split" -}}
{{- $url := toString .Values.cloud.baseUrl -}}
{{- if eq .Values.mode "split" -}}
{{- if not $url -}}
{{- fail "cloud.baseUrl: mode split needs the cloud's URL, e.g. http://open-cowork-cloud:8787" -}}
{{- end -}}
{{- if not (regexMatch "^https?://[^/]+" $url) -}}
{{- fail (printf "cloud.baseUrl: %q is not an http(s) URL" $url) -}}
{{- end -}}
{{- if not .Values.secrets.keys.serviceToken -}}
{{- fail "secrets.keys.serviceToken: mode split needs a gateway token from the cloud (open-cowork-cloud tokens create --scope gateway --binding ...)" -}}
{{- end -}}
{{- $loopback := regexMatch "^http://(localhost|127\\.[0-9.]+|\\[::1\\])(:[0-9]+)?(/|$)" $url -}}
{{- if and (hasPrefix "http://" $url) (not $loopback) (not .Values.cloud.allowInsecureHttp) -}}
{{- fail (printf "cloud.baseUrl: the gateway refuses plain http to %q (the service token would cross the network in clear); use https, or set cloud.allowInsecureHttp=true for traffic that stays inside the cluster" $url) -}}
{{- end -}}
{{- else if $url -}}
{{- fail "cloud.baseUrl: only mode split talks to a cloud; mode standalone runs the sessions in-process" -}}
{{- end -}}
{{- end -}}

{{- define "open-cowork-gateway.validate.production" -}}
{{- if eq .Values.deploymentTier "public_production" -}}
{{- if not (include "open-cowork-gateway.postgres" .) -}}
{{- fail "deploymentTier: public_production needs Postgres: put the database URL in the Secret and set secrets.keys.databaseUrl" -}}
{{- end -}}
{{- if not (hasPrefix "https://" (toString .Values.publicUrl)) -}}
{{- fail "deploymentTier: public_production needs publicUrl, the gateway's https:// address" -}}
{{- end -}}
{{- if not .Values.secrets.keys.adminToken -}}
{{- fail "deploymentTier: public_production needs an admin token for the operator API: set secrets.keys.adminToken" -}}
{{- end -}}
{{- if .Values.secrets.inline -}}
{{- fail "secrets.inline: deploymentTier public_production takes secrets only by reference; create the Secret yourself and set secrets.existingSecret" -}}
{{- end -}}
{{- end -}}
{{- end -}}
