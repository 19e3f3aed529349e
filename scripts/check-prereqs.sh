#!/usr/bin/env bash
# Fails loudly, naming the fix, when something the tests need is missing. Never skips.
set -u
missing=()
for cmd in ip iptables iptables-save iptables-restore nsenter openssl python3 apt-get dpkg-deb redis-server g++ make tcpdump; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("$cmd")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "missing prerequisites: ${missing[*]}" >&2
  echo "install them with: apt-get update && apt-get install -y iproute2 iptables nftables util-linux openssl python3 redis-server g++ make tcpdump" >&2
  exit 1
fi
if [ "$(id -u)" != 0 ]; then
  echo "the tests create network namespaces and need root: run them with sudo (or as root in CI)" >&2
  exit 1
fi
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 24 ]; then
  echo "node $(node --version) is on PATH; the project pins Node 24: run through npm (npm test), which uses node_modules/.bin/node" >&2
  exit 1
fi
