#!/usr/bin/env bash
# `liverec import` of a data set into a fresh `liverec serve`, repeated: prints, per run, the
# import's summary (seconds until every batch was acknowledged, durable), the seconds until the
# server had learned every event (events_applied in /v1/stats), and whether /v1/stats agrees
# with the import's count; then the medians.
# Usage: bench/import_bench.sh DATA [BUILD_DIR=build/release] [RUNS=3] [--wait learned|durable]
set -euo pipefail
data=$1
build=${2:-build/release}
runs=${3:-3}
wait_mode=${4:-durable}
cli="$build/tools/liverec/liverec"
work=$(mktemp -d)
server_pid=
cleanup() {
  if [[ -n $server_pid ]]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

now() { date +%s.%N; }
imports=() learned=()
for run in $(seq "$runs"); do
  rm -rf "$work/data"
  "$cli" serve --host 127.0.0.1 --port 0 --data-dir "$work/data" >"$work/serve.out" 2>"$work/serve.err" &
  server_pid=$!
  until grep -q listening "$work/serve.out" 2>/dev/null; do
    kill -0 "$server_pid" || { cat "$work/serve.err"; exit 1; }
    sleep 0.1
  done
  url=$(grep -o 'http://[0-9.:]*' "$work/serve.out")
  start=$(now)
  summary=$("$cli" import "$data" --url "$url" --wait "$wait_mode" 2>/dev/null)
  read_count=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["read"])' "$summary")
  # The server learns behind the acknowledgements: poll its stats until it has applied them all.
  while true; do
    stats=$(curl -s "$url/v1/stats")
    applied=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["events_applied"])' "$stats")
    ((applied >= read_count)) && break
    sleep 0.05
  done
  end=$(now)
  accepted=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["events_accepted"])' "$stats")
  seconds=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["seconds"])' "$summary")
  total=$(python3 -c "print(round($end - $start, 2))")
  echo "run $run: $summary; learned all after ${total} s; /v1/stats events_accepted=$accepted"
  imports+=("$seconds") learned+=("$total")
  kill "$server_pid"; wait "$server_pid" || true; server_pid=
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "median: import acknowledged in $(median "${imports[@]}") s, learned in $(median "${learned[@]}") s ($runs runs, --wait $wait_mode)"
