#!/usr/bin/env bash
# What open dashboards cost the server. Data: 1 M synthetic events over 100 K items, as
# bench/http_load.sh. Two measures:
# 1. CPU: the server's CPU time (utime + stime of /proc/PID/stat) over 30 s of no traffic, with
#    no stream open and with 32 GET /v1/stats/stream open (curl, the events read and dropped):
#    the difference per stream-second is what one dashboard costs, whatever else runs.
# 2. Latency: recommendations at a fixed 2 K requests/s (liverec-http-load, open loop, random
#    users) with no stream and with STREAMS streams open, ROUNDS pairs in ABBA order so that
#    both see the same noise (needs a quiet machine to mean anything).
#   bench/stream_cost.sh [build_dir] [rounds] [streams]   (default build/release 3 4)
# Prints one line per measure.
set -euo pipefail
build=${1:-build/release}
rounds=${2:-3}
streams=${3:-4}
liverec=$build/tools/liverec/liverec
load=$build/bench/liverec-http-load
work=$(mktemp -d)
stream_pids=()
trap 'kill "${stream_pids[@]}" $server_pid 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT

"$liverec" generate --out "$work/events.jsonl" --users 50000 --items 100000 --events 1000000 \
  --new-items-per-day 0 >/dev/null
split -l 10000 "$work/events.jsonl" "$work/batch."
"$liverec" serve --port 0 --data-dir "$work/data" --set metrics.sample_rate=0.01 \
  --set log.sync=interval --set log.sync_interval=5ms --set serve.max_streams=64 \
  >"$work/server.out" 2>"$work/server.err" &
server_pid=$!
for _ in $(seq 1 600); do grep -q listening "$work/server.out" && break; sleep 0.1; done
port=$(sed -n 's/.*:\([0-9]*\)$/\1/p' "$work/server.out")
url=http://127.0.0.1:$port
ls "$work"/batch.* | xargs -P 4 -I{} curl -sf --retry 30 -o /dev/null \
  -H 'Content-Type: application/x-ndjson' --data-binary @{} "$url/v1/events"
curl -sf -o /dev/null -H 'Content-Type: application/json' -d '{"user":"sync","item":"i1"}' \
  "$url/v1/events?wait=learned"

open_streams() {
  stream_pids=()
  for _ in $(seq 1 "$1"); do
    curl -sfN -o /dev/null "$url/v1/stats/stream" &
    stream_pids+=($!)
  done
  # The streams are open once the server counts them.
  until curl -sf "$url/v1/stats" | grep -q "\"streams_open\":$1"; do sleep 0.1; done
}
close_streams() {
  kill "${stream_pids[@]}"
  wait "${stream_pids[@]}" 2>/dev/null || true
  stream_pids=()
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$server_pid/stat"; }
cpu_seconds=30
cpu_streams=32
cpu_over() {
  local before after
  before=$(cpu_ticks)
  sleep "$cpu_seconds"
  after=$(cpu_ticks)
  echo "scale=3; ($after - $before) * 1000 / $(getconf CLK_TCK)" | bc
}
idle_ms=$(cpu_over)
open_streams "$cpu_streams"
streams_ms=$(cpu_over)
close_streams
echo "cpu over ${cpu_seconds}s: no stream ${idle_ms} ms, ${cpu_streams} streams ${streams_ms} ms," \
  "per stream-second $(echo "scale=4; ($streams_ms - $idle_ms) / ($cpu_streams * $cpu_seconds)" | bc) ms"

run() {
  echo -n "streams=$1 recommendations rate=2000/s: "
  "$load" --port "$port" --rate 2000 --seconds 15 --connections 8 \
    --path "/v1/recommendations?user=u{rand:50000}&k=10"
}
# ABBA order: a load that grows or fades during the runs falls on both sides alike.
for round in $(seq 1 "$rounds"); do
  if ((round % 2 == 1)); then
    run 0
    open_streams "$streams"
    run "$streams"
    close_streams
  else
    open_streams "$streams"
    run "$streams"
    close_streams
    run 0
  fi
done
