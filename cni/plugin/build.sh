#!/usr/bin/env bash
# Builds the ambient-cni plugin: a static executable, because the container runtime runs it
# on the node itself, where no Node.js runtime can be assumed. Usage: build.sh OUT_DIR
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:?usage: build.sh OUT_DIR}"
mkdir -p "$out"
cc -std=c11 -O2 -Wall -Wextra -Werror -static -o "$out/ambient-cni" "$here/ambient-cni.c"
