#!/usr/bin/env bash
# What open dashboards cost the recommendation path: recommendations at a fixed 2 K requests/s
# (liverec-http-load, open loop, random users) with no GET /v1/stats/stream open and with
# STREAMS of them open (curl, the events read and dropped), alternating ROUNDS times so that
# both see the same noise. Data: 1 M synthetic events over 100 K items, as bench/http_load.sh.
#   bench/stream_cost.sh [build_dir] [rounds] [streams]   (default build/release 3 4)
# Prints one line per run: streams=N and the load tool's figures.
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
  --set log.sync=interval --set log.sync_interval=5ms >"$work/server.out" 2>"$work/server.err" &
server_pid=$!
for _ in $(seq 1 600); do grep -q listening "$work/server.out" && break; sleep 0.1; done
port=$(sed -n 's/.*:\([0-9]*\)$/\1/p' "$work/server.out")
url=http://127.0.0.1:$port
ls "$work"/batch.* | xargs -P 4 -I{} curl -sf --retry 30 -o /dev/null \
  -H 'Content-Type: application/x-ndjson' --data-binary @{} "$url/v1/events"
curl -sf -o /dev/null -H 'Content-Type: application/json' -d '{"user":"sync","item":"i1"}' \
  "$url/v1/events?wait=learned"

run() {
  echo -n "streams=$1 recommendations rate=2000/s: "
  "$load" --port "$port" --rate 2000 --seconds 15 --connections 8 \
    --path "/v1/recommendations?user=u{rand:50000}&k=10"
}
for _ in $(seq 1 "$rounds"); do
  run 0
  stream_pids=()
  for _ in $(seq 1 "$streams"); do
    curl -sfN -o /dev/null "$url/v1/stats/stream" &
    stream_pids+=($!)
  done
  # The streams are open once the server counts them.
  until curl -sf "$url/v1/stats" | grep -q "\"streams_open\":$streams"; do sleep 0.1; done
  run "$streams"
  kill "${stream_pids[@]}"
  wait "${stream_pids[@]}" 2>/dev/null || true
done
