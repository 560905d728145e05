#!/usr/bin/env bash
# Live test-then-train quality of `liverec serve` on a real stream: posts a data set's events in
# time order through the HTTP API (small batches, ?wait=learned, one client) to a fresh server
# that ranks every event before learning it (metrics.sample_rate=1), then prints /v1/stats.
#   bench/serve_quality.sh NDJSON_FILE [batch_events] [build_dir]
# NDJSON_FILE holds one event object per line in time order, e.g. from MovieLens u.data:
#   sort -t$'\t' -k4,4n -s u.data | awk -F'\t' \
#     '{printf "{\"user\":\"%s\",\"item\":\"%s\",\"timestamp\":%d000}\n",$1,$2,$4}' > ml.ndjson
set -euo pipefail
events=$1
batch=${2:-20}
build=${3:-build/release}
work=$(mktemp -d)
trap 'kill $server_pid 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
"$build/tools/liverec/liverec" serve --port 0 --data-dir "$work/data" \
  --set metrics.sample_rate=1 --set log.sync=never >"$work/server.out" 2>"$work/server.err" &
server_pid=$!
for _ in $(seq 1 100); do grep -q listening "$work/server.out" && break; sleep 0.1; done
port=$(sed -n 's/.*:\([0-9]*\)$/\1/p' "$work/server.out")
split -l "$batch" -a 6 "$events" "$work/b."
for f in "$work"/b.*; do
  printf 'url = "http://127.0.0.1:%s/v1/events?wait=learned"\ndata-binary = "@%s"\n' "$port" "$f"
  printf 'header = "Content-Type: application/x-ndjson"\noutput = "/dev/null"\nnext\n'
done | sed '$d' >"$work/curl.conf"  # no "next" after the last request
start=$(date +%s.%N)
curl -sf -K "$work/curl.conf"
end=$(date +%s.%N)
echo "posted $(wc -l <"$events") events in batches of $batch in $(echo "$end - $start" | bc) s"
curl -sf "http://127.0.0.1:$port/v1/stats"
echo
