#!/usr/bin/env bash
# Wall time of a build as one process (the engine on every core) against N shards at 1 thread each
# run at once on this machine, then of their merge:
#   bash bench/shards.sh [config] [shards] [rounds]      (default: config/default.yaml 2 1)
# Rounds alternate the order (one, shards, shards, one, ...) so that a machine shared with other jobs
# weighs on both alike. Writes under a temporary folder, prints one line per run.
set -euo pipefail
cd "$(dirname "$0")/.."
config=${1:-config/default.yaml}
shards=${2:-2}
rounds=${3:-1}
work=$(mktemp -d "${TMPDIR:-/tmp}/filter-atlas-shards.XXXXXX")
cli() { node bin/filter-atlas.js "$@"; }
now() { date +%s.%N; }
# The load averages (1, 5, 15 min) as `uptime` prints them, next to every time: the machine is shared.
load() { cut -d' ' -f1-3 /proc/loadavg; }

one() {
  local out=$work/one-$1 start
  start=$(now)
  cli build "$config" --output "$out" --json > "$out.json" 2> "$out.log"
  echo "round $1: one process: $(echo "$(now) - $start" | bc) s (load $(load))"
}

sharded() {
  local out=$work/shards-$1 start pids=() k
  start=$(now)
  for k in $(seq 1 "$shards"); do
    cli build "$config" --shard "$k/$shards" --threads 1 --output "$out/$k" --json > "$out-$k.json" 2> "$out-$k.log" &
    pids+=($!)
  done
  for k in "${pids[@]}"; do wait "$k"; done
  echo "round $1: $shards shards x 1 thread: $(echo "$(now) - $start" | bc) s (load $(load))"
  start=$(now)
  cli merge "$out"/* --output "$out/merged" > "$out-merge.log"
  echo "round $1: merge: $(echo "$(now) - $start" | bc) s (load $(load)): $(grep -o 'in [0-9.]* s from .*' "$out-merge.log")"
}

echo "config $config, $(nproc) cores, results in $work"
for round in $(seq 1 "$rounds"); do
  if [ $((round % 2)) -eq 1 ]; then one "$round"; sharded "$round"; else sharded "$round"; one "$round"; fi
done
