{{/*
Names, labels and the small derived facts every template shares. The gateway chart has its own
copy: two short helper files are easier to follow than a library chart that must be vendored
into charts/ before every install.
*/}}

{{- define "open-cowork-cloud.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "open-cowork-cloud.fullname" -}}
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

{{/* Every pod of the release (the NetworkPolicy selects these). */}}
{{- define "open-cowork-cloud.selectorLabels" -}}
app.kubernetes.io/name: {{ include "open-cowork-cloud.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Labels of objects that belong to no single role. */}}
{{- define "open-cowork-cloud.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "open-cowork-cloud.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: open-cowork
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* The role whose pods serve the API: all, or web when the roles are split. */}}
{{- define "open-cowork-cloud.apiRole" -}}
{{- ternary "web" "all" (.Values.splitRoles | default false) -}}
{{- end -}}

{{/*
The processes to run, one Deployment each, as a JSON list of {role, name, replicas, resources}:
`serve --role all`, or `--role web` (behind the Service) and `--role worker` (commands only)
that scale and restart apart.
*/}}
{{- define "open-cowork-cloud.processes" -}}
{{- $fullname := include "open-cowork-cloud.fullname" . -}}
{{- if .Values.splitRoles -}}
{{- list (dict "role" "web" "name" (printf "%s-web" $fullname | trunc 63 | trimSuffix "-") "replicas" .Values.web.replicaCount "resources" .Values.web.resources) (dict "role" "worker" "name" (printf "%s-worker" $fullname | trunc 63 | trimSuffix "-") "replicas" .Values.worker.replicaCount "resources" .Values.worker.resources) | toJson -}}
{{- else -}}
{{- list (dict "role" "all" "name" $fullname "replicas" .Values.replicaCount "resources" .Values.resources) | toJson -}}
{{- end -}}
{{- end -}}

{{/* repository:tag, repository@digest, or both (the digest is what the kubelet pulls). */}}
{{- define "open-cowork-cloud.image" -}}
{{- $ref := .Values.image.repository -}}
{{- if .Values.image.tag -}}{{- $ref = printf "%s:%s" $ref (toString .Values.image.tag) -}}{{- end -}}
{{- if .Values.image.digest -}}{{- $ref = printf "%s@%s" $ref .Values.image.digest -}}{{- end -}}
{{- $ref -}}
{{- end -}}

{{- define "open-cowork-cloud.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "open-cowork-cloud.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Where secret files are mounted; `file:` references and the *_REF variables point here. */}}
{{- define "open-cowork-cloud.secretsDir" -}}/var/run/secrets/open-cowork{{- end -}}

{{/* The Secret the pods read: the operator's own, or the one rendered from secrets.inline. */}}
{{- define "open-cowork-cloud.secretName" -}}
{{- if .Values.secrets.existingSecret -}}
{{- .Values.secrets.existingSecret -}}
{{- else -}}
{{- include "open-cowork-cloud.fullname" . -}}
{{- end -}}
{{- end -}}

{{/* "true" when some Secret is mounted. */}}
{{- define "open-cowork-cloud.hasSecret" -}}
{{- if or .Values.secrets.existingSecret .Values.secrets.inline -}}true{{- end -}}
{{- end -}}

{{/* "true" when the database is Postgres (its URL comes from the secret); else SQLite. */}}
{{- define "open-cowork-cloud.postgres" -}}
{{- if .Values.secrets.keys.databaseUrl -}}true{{- end -}}
{{- end -}}

{{/*
Why the cloud counts as reachable from outside the cluster, comma-separated; empty when it is
not. A public URL counts too: the binary itself treats one as exposure.
*/}}
{{- define "open-cowork-cloud.exposure" -}}
{{- $why := list -}}
{{- if has .Values.service.type (list "LoadBalancer" "NodePort") -}}
{{- $why = append $why (printf "service.type is %s" .Values.service.type) -}}
{{- end -}}
{{- if .Values.ingress.enabled -}}{{- $why = append $why "ingress.enabled is true" -}}{{- end -}}
{{- if .Values.publicUrl -}}{{- $why = append $why "publicUrl is set" -}}{{- end -}}
{{- join ", " $why -}}
{{- end -}}

{{/* The config file: the cloud section (the gateway section is the gateway's business). */}}
{{- define "open-cowork-cloud.configJson" -}}
{{- toPrettyJson (dict "cloud" (default dict .Values.config.cloud)) -}}
{{- end -}}
