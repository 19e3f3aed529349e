#!/usr/bin/env bash
# Runs `npm start -- --once` N times in a row (default 20) in the default data directory while
# busy loops hog every core, and counts the passes: `npm start` must converge under load, run
# after run. Bounded: the hogs stop after the last run or after an hour, whichever comes first.
# Usage: bash scripts/start-soak.sh [N]   (as root, from the repository)
set -u
runs=${1:-20}
cd "$(dirname "$0")/.."
log_dir=$(mktemp -d /tmp/start-soak.XXXXXX)
hogs=()
for _ in $(seq "$(nproc)"); do
  timeout 3600 sh -c 'while :; do :; done' &
  hogs+=($!)
done
trap 'kill "${hogs[@]}" 2>/dev/null' EXIT
passed=0
failed=0
for i in $(seq "$runs"); do
  start=$(date +%s)
  if timeout 900 npm start -- --once >"$log_dir/run-$i.log" 2>&1; then
    passed=$((passed + 1)); outcome=pass
  else
    failed=$((failed + 1)); outcome="FAIL (see $log_dir/run-$i.log)"
  fi
  echo "run $i: $outcome in $(( $(date +%s) - start )) s"
done
echo "$passed passed, $failed failed (logs in $log_dir; $(nproc) CPU hogs beside them)"
[ "$failed" -eq 0 ]
