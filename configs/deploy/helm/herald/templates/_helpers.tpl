{{/* The chart's name. */}}
{{- define "herald.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 40 | trimSuffix "-" }}
{{- end }}

{{/*
The release's full name, at most 40 characters: the k8s cluster provider looks its own pod up
by host name, which Kubernetes cuts at 63 characters, and a Deployment's pods are named
FULLNAME-<10-character hash>-<5 characters>.
*/}}
{{- define "herald.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "herald.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels of every object. */}}
{{- define "herald.labels" -}}
helm.sh/chart: {{ include "herald.chart" . }}
{{ include "herald.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Labels that select the pods (the Deployment, the Services, the PodDisruptionBudget). */}}
{{- define "herald.selectorLabels" -}}
app.kubernetes.io/name: {{ include "herald.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "herald.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "herald.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The Secret with the apps' credentials: the user's or the chart's. */}}
{{- define "herald.secretName" -}}
{{- default (printf "%s-apps" (include "herald.fullname" .)) .Values.existingSecret }}
{{- end }}

{{- define "herald.clusterName" -}}
{{- default (include "herald.fullname" .) .Values.cluster.name }}
{{- end }}

{{/*
herald.yaml: what the chart owns (listen addresses, shutdown grace, cluster, the apps' options
without their credentials) over the user's `config`.
*/}}
{{- define "herald.config" -}}
{{- range $k := list "listen" "metrics_listen" "shutdown_grace" "cluster" "apps" }}
{{- if hasKey $.Values.config $k }}
{{- fail (printf "config.%s is set by the chart: use the chart's values for it (ports, shutdownGraceSeconds, cluster, apps)" $k) }}
{{- end }}
{{- end }}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.cluster.enabled) }}
{{- fail "replicaCount > 1 needs cluster.enabled: herald pods that are not one cluster are separate servers" }}
{{- end }}
{{- if not .Values.apps }}
{{- fail "apps: at least one app is needed" }}
{{- end }}
{{- $apps := list }}
{{- range $i, $app := .Values.apps }}
{{- if not $app.id }}
{{- fail (printf "apps[%d].id is required (it is in the HTTP API's paths, /apps/{id}/events)" $i) }}
{{- end }}
{{- $apps = append $apps (omit $app "id" "key" "secret") }}
{{- end }}
{{- $own := dict
  "listen" (printf "0.0.0.0:%d" (int .Values.ports.http))
  "metrics_listen" (printf "0.0.0.0:%d" (int .Values.ports.metrics))
  "shutdown_grace" (printf "%ds" (int .Values.shutdownGraceSeconds))
  "cluster" (dict "enabled" .Values.cluster.enabled "provider" "k8s" "name" (include "herald.clusterName" .))
  "apps" $apps }}
{{- toYaml (mustMergeOverwrite (deepCopy .Values.config) $own) }}
{{- end }}
