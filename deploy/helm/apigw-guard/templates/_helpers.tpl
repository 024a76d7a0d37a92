{{- define "apigw-guard.labels" -}}
app.kubernetes.io/name: apigw-guard
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end }}

{{- define "apigw-guard.selector" -}}
app.kubernetes.io/name: apigw-guard
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}
