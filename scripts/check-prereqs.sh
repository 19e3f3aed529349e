#!/usr/bin/env bash
# Makes sure what the local cluster (`start`) or the tests (`test`, the default) need is there.
# As root on Debian, missing system packages are installed with apt-get (saying so), so the
# README's two commands work on a fresh machine; otherwise it fails, naming the fix. It never
# skips anything silently.
set -u
mode=${1:-test}
# redis-server: the demo's and the tests' global rate limits keep their counters in it (a pod).
commands=(ip iptables iptables-save iptables-restore nsenter g++ make redis-server)
packages=(iproute2 iptables nftables util-linux g++ make redis-server containernetworking-plugins)
# containernetworking-plugins: the CNI reference plugins each node's kubelet runs for its pods.
files=(/usr/lib/cni/bridge /usr/lib/cni/host-local /usr/lib/cni/loopback)
# fonts-dejavu-core: the text of the savings report's PNG charts (its smoke test renders them).
if [ "$mode" = test ]; then
  # mmdebstrap, umoci, strip: the container images' test builds them (scripts/images).
  commands+=(openssl python3 apt-get dpkg-deb tcpdump mmdebstrap umoci strip)
  packages+=(openssl python3 tcpdump fonts-dejavu-core mmdebstrap umoci binutils)
  files+=(/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf)
fi

if [ "$(id -u)" != 0 ]; then
  echo "the local cluster builds nodes and pods out of network namespaces and needs root: run this with sudo" >&2
  exit 1
fi

missing=()
for cmd in "${commands[@]}"; do command -v "$cmd" >/dev/null 2>&1 || missing+=("$cmd"); done
for f in "${files[@]}"; do [ -e "$f" ] || missing+=("$f"); done
if [ ${#missing[@]} -gt 0 ] && command -v apt-get >/dev/null 2>&1 && [ -z "${AMBIENT_NO_APT:-}" ]; then
  echo "missing ${missing[*]}: installing the system packages ${packages[*]} with apt-get (set AMBIENT_NO_APT=1 to refuse)" >&2
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${packages[@]}") >&2 || true
  missing=()
  for cmd in "${commands[@]}"; do command -v "$cmd" >/dev/null 2>&1 || missing+=("$cmd"); done
  for f in "${files[@]}"; do [ -e "$f" ] || missing+=("$f"); done
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "missing prerequisites: ${missing[*]}" >&2
  echo "install them with: apt-get update && apt-get install -y ${packages[*]}" >&2
  exit 1
fi

node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 24 ]; then
  echo "node $(node --version) is on PATH; the project pins Node 24: run through npm (npm test), which uses node_modules/.bin/node" >&2
  exit 1
fi
if [ ! -f "$(dirname "$0")/../ztunnel/native/build/Release/ztunnel_native.node" ]; then
  echo "ztunnel's native addon is not built: run 'npm install' (it needs g++ and make)" >&2
  exit 1
fi
