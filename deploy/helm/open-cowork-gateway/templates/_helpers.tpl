{{/*
Names, labels and the small derived facts every template shares (which database, which secret,
whether the gateway is exposed). The cloud chart has its own copy: two short helper files are
easier to follow than a library chart that must be vendored into charts/ before every install.
*/}}

{{- define "open-cowork-gateway.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "open-cowork-gateway.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "open-cowork-gateway.selectorLabels" -}}
app.kubernetes.io/name: {{ include "open-cowork-gateway.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "open-cowork-gateway.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "open-cowork-gateway.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/component: gateway
app.kubernetes.io/part-of: open-cowork
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* repository:tag, repository@digest, or both (the digest is what the kubelet pulls). */}}
{{- define "open-cowork-gateway.image" -}}
{{- $ref := .Values.image.repository -}}
{{- if .Values.image.tag -}}{{- $ref = printf "%s:%s" $ref (toString .Values.image.tag) -}}{{- end -}}
{{- if .Values.image.digest -}}{{- $ref = printf "%s@%s" $ref .Values.image.digest -}}{{- end -}}
{{- $ref -}}
{{- end -}}

{{- define "open-cowork-gateway.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "open-cowork-gateway.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Where secret files are mounted; `file:` references and the *_REF variables point here. */}}
{{- define "open-cowork-gateway.secretsDir" -}}/var/run/secrets/open-cowork{{- end -}}

{{/* The Secret the pods read: the operator's own, or the one rendered from secrets.inline. */}}
{{- define "open-cowork-gateway.secretName" -}}
{{- if .Values.secrets.existingSecret -}}
{{- .Values.secrets.existingSecret -}}
{{- else -}}
{{- include "open-cowork-gateway.fullname" . -}}
{{- end -}}
{{- end -}}

{{/* "true" when some Secret is mounted. */}}
{{- define "open-cowork-gateway.hasSecret" -}}
{{- if or .Values.secrets.existingSecret .Values.secrets.inline -}}true{{- end -}}
{{- end -}}

{{/* "true" when the database is Postgres (its URL comes from the secret); else SQLite. */}}
{{- define "open-cowork-gateway.postgres" -}}
{{- if .Values.secrets.keys.databaseUrl -}}true{{- end -}}
{{- end -}}

{{/*
"true" when the fake provider runs: listed and enabled, or no provider listed at all (the
gateway then starts the fake one by itself).
*/}}
{{- define "open-cowork-gateway.fakeEnabled" -}}
{{- $fake := not .Values.providers -}}
{{- range .Values.providers -}}
{{- if and (eq (toString .kind) "fake") (ne (toString .enabled) "false") -}}{{- $fake = true -}}{{- end -}}
{{- end -}}
{{- if $fake -}}true{{- end -}}
{{- end -}}

{{/*
Why the gateway counts as reachable from outside the cluster, comma-separated; empty when it
is not. A public URL counts too: the binary itself treats one as exposure.
*/}}
{{- define "open-cowork-gateway.exposure" -}}
{{- $why := list -}}
{{- if has .Values.service.type (list "LoadBalancer" "NodePort") -}}
{{- $why = append $why (printf "service.type is %s" .Values.service.type) -}}
{{- end -}}
{{- if .Values.ingress.enabled -}}{{- $why = append $why "ingress.enabled is true" -}}{{- end -}}
{{- if .Values.publicUrl -}}{{- $why = append $why "publicUrl is set" -}}{{- end -}}
{{- join ", " $why -}}
{{- end -}}

{{/* The config file: the gateway section with the providers, and the cloud section. */}}
{{- define "open-cowork-gateway.configJson" -}}
{{- $gateway := deepCopy (default dict .Values.config.gateway) -}}
{{- if .Values.providers -}}
{{- $_ := set $gateway "providers" .Values.providers -}}
{{- end -}}
{{- $file := dict "gateway" $gateway -}}
{{- if .Values.config.cloud -}}
{{- $_ := set $file "cloud" .Values.config.cloud -}}
{{- end -}}
{{- toPrettyJson $file -}}
{{- end -}}
