{{/*
The chart renders deploy/'s own manifests (files/ links to them: one source for
`kubectl apply -k deploy/`, the overlays and this chart) with the values applied to them.
*/}}

{{/*
The effective settings, as YAML (read with `include "ambient.settings" . | fromYaml`): the
selected profile's, with every non-null component value of .Values over it. One place decides,
so no template reads .Values.<component>.replicas/enabled/resources or .Values.global.logLevel.
*/}}
{{- define "ambient.settings" -}}
{{- $v := .Values -}}
{{- $p := index $v.profiles $v.profile -}}
{{- if not $p -}}
{{- fail (printf "profile %q is not one of profiles: %s" $v.profile (keys $v.profiles | sortAlpha | join ", ")) -}}
{{- end -}}
{{- $logLevel := $v.global.logLevel -}}
{{- if kindIs "invalid" $logLevel }}{{ $logLevel = $p.logLevel }}{{ end -}}
{{- $out := dict "logLevel" $logLevel -}}
{{- range $c := list "istiodLite" "ztunnel" "cni" -}}
{{- $user := index $v $c -}}
{{- $prof := index $p $c | default dict -}}
{{- $eff := dict -}}
{{- range $k := list "replicas" "enabled" "resources" -}}
{{- $val := index $user $k -}}
{{- if kindIs "invalid" $val }}{{ $val = index $prof $k }}{{ end -}}
{{- if not (kindIs "invalid" $val) }}{{ $_ := set $eff $k $val }}{{ end -}}
{{- end -}}
{{- $_ := set $out $c $eff -}}
{{- end -}}
{{- toYaml $out -}}
{{- end -}}

{{/*
One file of deploy/ (under files/), every object of it, with a component's values applied to
its Deployment or DaemonSet (the first container):
  include "ambient.manifests" (dict "root" $ "file" "files/ztunnel.yaml" "component" "ztunnel")
image (<hub>/<name>:<tag>) and imagePullPolicy from .Values.<component>.image and global;
TRUST_DOMAIN, where the container has it, from global.trustDomain; LOG_LEVEL when the level is
not info (every component's default); resources when there are any; a Deployment's replicas.
"component" "" passes the file through unchanged.
*/}}
{{- define "ambient.manifests" -}}
{{- $root := .root -}}
{{- $s := include "ambient.settings" $root | fromYaml -}}
{{- $settings := dict -}}
{{- $image := dict -}}
{{- if .component }}
{{- $settings = index $s .component -}}
{{- $image = index $root.Values .component "image" -}}
{{- end -}}
{{- range $doc := regexSplit "(?m)^---[ \\t]*$" ($root.Files.Get .file) -1 }}
{{- $o := fromYaml $doc -}}
{{- if $o.kind }}
{{- if and $settings (has $o.kind (list "Deployment" "DaemonSet")) }}
{{- $g := $root.Values.global -}}
{{- $c := index $o.spec.template.spec.containers 0 -}}
{{- $_ := set $c "image" (printf "%s/%s:%s" ($image.hub | default $g.hub) $image.name ($image.tag | default $g.tag | toString)) -}}
{{- with $image.pullPolicy | default $g.imagePullPolicy }}{{ $_ := set $c "imagePullPolicy" . }}{{ end -}}
{{- range $e := $c.env }}{{ if eq $e.name "TRUST_DOMAIN" }}{{ $_ := set $e "value" $g.trustDomain }}{{ end }}{{ end -}}
{{- if ne $s.logLevel "info" }}{{ $_ := set $c "env" (append ($c.env | default list) (dict "name" "LOG_LEVEL" "value" $s.logLevel)) }}{{ end -}}
{{- with $settings.resources }}{{ $_ := set $c "resources" . }}{{ end -}}
{{- if eq $o.kind "Deployment" }}{{ $_ := set $o.spec "replicas" (int $settings.replicas) }}{{ end -}}
{{- end }}
---
{{ toYaml $o }}
{{- end }}
{{- end }}
{{- end -}}
