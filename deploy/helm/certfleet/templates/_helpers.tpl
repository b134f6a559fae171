{{/* The release's name for certfleet's objects, at most 63 characters. */}}
{{- define "certfleet.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "certfleet.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* selector labels of one component: api, worker or migrate */}}
{{- define "certfleet.selector" -}}
app.kubernetes.io/name: {{ .root.Chart.Name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "certfleet.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}

{{- define "certfleet.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{ .Values.serviceAccount.name | default (include "certfleet.fullname" .) }}
{{- else -}}
{{ .Values.serviceAccount.name | default "default" }}
{{- end -}}
{{- end -}}

{{/*
The environment every certfleet container shares. Secrets arrive only as
references to Secrets made outside the chart.
*/}}
{{- define "certfleet.env" -}}
- name: DATABASE_URL
  valueFrom:
    secretKeyRef:
      name: {{ required "database.existingSecret names the Secret with the Postgres URL" .Values.database.existingSecret }}
      key: {{ .Values.database.urlKey }}
- name: CERTFLEET_KEK
  valueFrom:
    secretKeyRef:
      name: {{ required "kek.existingSecret names the Secret with the key-encryption key" .Values.kek.existingSecret }}
      key: {{ .Values.kek.key }}
- name: TEMPORAL_ADDRESS
  value: {{ required "temporal.address is the Temporal frontend's host:port" .Values.temporal.address | quote }}
- name: TEMPORAL_NAMESPACE
  value: {{ .Values.temporal.namespace | quote }}
- name: CERTFLEET_TASK_QUEUE
  value: {{ .Values.temporal.taskQueue | quote }}
{{- with .Values.temporal.tls }}
{{- if .enabled }}
- name: TEMPORAL_TLS
  value: "true"
{{- if .existingSecret }}
- name: TEMPORAL_TLS_CERT
  value: /etc/certfleet/temporal-tls/tls.crt
- name: TEMPORAL_TLS_KEY
  value: /etc/certfleet/temporal-tls/tls.key
{{- end }}
{{- if .caSecret }}
- name: TEMPORAL_TLS_CA
  value: /etc/certfleet/temporal-ca/{{ .caKey }}
{{- end }}
{{- if .serverName }}
- name: TEMPORAL_TLS_SERVER_NAME
  value: {{ .serverName | quote }}
{{- end }}
{{- end }}
{{- end }}
- name: CERTFLEET_LOG_FORMAT
  value: json
- name: CERTFLEET_LOG_LEVEL
  value: {{ .Values.logLevel | quote }}
- name: CERTFLEET_METRICS_ADDR
  value: {{ printf ":%v" .Values.metrics.port | quote }}
{{- with .Values.otlpEndpoint }}
- name: CERTFLEET_OTLP_ENDPOINT
  value: {{ . | quote }}
{{- end }}
{{- range $name, $value := .Values.extraEnv }}
- name: {{ $name }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- end -}}

{{/* Temporal's TLS files, mounted where certfleet.env says they are. */}}
{{- define "certfleet.temporalVolumes" -}}
{{- with .Values.temporal.tls }}
{{- if and .enabled .existingSecret }}
- name: temporal-tls
  secret:
    secretName: {{ .existingSecret }}
{{- end }}
{{- if and .enabled .caSecret }}
- name: temporal-ca
  secret:
    secretName: {{ .caSecret }}
{{- end }}
{{- end }}
{{- end -}}

{{- define "certfleet.temporalVolumeMounts" -}}
{{- with .Values.temporal.tls }}
{{- if and .enabled .existingSecret }}
- name: temporal-tls
  mountPath: /etc/certfleet/temporal-tls
  readOnly: true
{{- end }}
{{- if and .enabled .caSecret }}
- name: temporal-ca
  mountPath: /etc/certfleet/temporal-ca
  readOnly: true
{{- end }}
{{- end }}
{{- end -}}
