#!/usr/bin/env bash
# HTTP load benchmark of `liverec serve` on loopback, with wrk as the load generator.
#   bench/http_load.sh [build_dir]     (default build/release; run scripts/install-deps first)
# Steps: generate 1 M synthetic events over 100 K items; start a server; load the events as
# NDJSON batches of 10 K (durable ingest, fsync every 5 ms); measure steady ingest with wrk
# (the same 10 K batch posted again and again), recommendations at 2 K requests/s during such
# a flood, then at a fixed 2 K requests/s
# with liverec-http-load (random users, open loop; the default model, then with diversity
# re-ranking and explanations, then popularity, then in an experiment with exploration), and
# freshness under that load with
# liverec-http-probe, first with fsync every 5 ms, then on the default (an fsync per group
# commit) after a SIGTERM and restart. Prints one line per figure.
set -euo pipefail
build=${1:-build/release}
liverec=$build/tools/liverec/liverec
probe=$build/bench/liverec-http-probe
load=$build/bench/liverec-http-load
work=$(mktemp -d)
trap 'kill $server_pid 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT

"$liverec" generate --out "$work/events.jsonl" --users 50000 --items 100000 --events 1000000 \
  --new-items-per-day 0 >/dev/null
split -l 10000 "$work/events.jsonl" "$work/batch."

# LIVEREC_SETS="engine.models=ensemble engine.default_model=ensemble" measures another setup.
extra_sets=()
for set in ${LIVEREC_SETS:-}; do extra_sets+=(--set "$set"); done
start_server() {
  "$liverec" serve --port 0 --data-dir "$work/data" --set metrics.sample_rate=0.01 \
    "${extra_sets[@]}" "$@" \
    >"$work/server.out" 2>"$work/server.err" &
  server_pid=$!
  for _ in $(seq 1 600); do grep -q listening "$work/server.out" && break; sleep 0.1; done
  port=$(sed -n 's/.*:\([0-9]*\)$/\1/p' "$work/server.out")
  url=http://127.0.0.1:$port
}
start_server --set log.sync=interval --set log.sync_interval=5ms

start=$(date +%s.%N)
ls "$work"/batch.* | xargs -P 4 -I{} curl -sf --retry 30 -o /dev/null -H 'Content-Type: application/x-ndjson' \
  --data-binary @{} "$url/v1/events"
curl -sf -o /dev/null -H 'Content-Type: application/json' -d '{"user":"sync","item":"i1"}' "$url/v1/events?wait=learned"
end=$(date +%s.%N)
echo "initial_load events=1000000 seconds=$(echo "$end - $start" | bc) events_per_s=$(echo "1000000 / ($end - $start)" | bc)"
curl -sf "$url/v1/stats" | head -c 400; echo

applied() { curl -sf "$url/v1/stats" | sed -n 's/.*"events_applied":\([0-9]*\).*/\1/p'; }
cat >"$work/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-ndjson"
local f = io.open("$work/batch.aa", "rb")
wrk.body = f:read("*a")
f:close()
LUA
before=$(applied)
start=$(date +%s.%N)
wrk -t2 -c4 -d10s --latency -s "$work/post.lua" "$url/v1/events" >"$work/wrk_ingest.txt"
curl -sf -o /dev/null -H 'Content-Type: application/json' -d '{"user":"sync","item":"i1"}' "$url/v1/events?wait=learned"
end=$(date +%s.%N)
after=$(applied)
echo "steady_ingest (wrk -c4, 10000-event NDJSON posts, 429s included) learned_events=$((after - before)) events_per_s=$(echo "($after - $before) / ($end - $start)" | bc)"
grep -E "Requests/sec|99%|Non-2xx" "$work/wrk_ingest.txt"

# Readers while learning is flooded: recommendations at 2 K/s while wrk keeps posting batches.
wrk -t1 -c2 -d12s -s "$work/post.lua" "$url/v1/events" >/dev/null &
flood_pid=$!
echo -n "recommendations exclude_seen=true rate=2000/s during an ingest flood (wrk -c2): "
"$load" --port "$port" --rate 2000 --seconds 10 --connections 8 \
  --path "/v1/recommendations?user=u{rand:50000}&k=10" || true
wait $flood_pid || true
curl -sf -o /dev/null -H 'Content-Type: application/json' -d '{"user":"sync","item":"i1"}' "$url/v1/events?wait=learned"

for query in exclude_seen=true "diversity=0.3&explain=true" model=popularity; do
  echo -n "recommendations $query rate=2000/s: "
  "$load" --port "$port" --rate 2000 --seconds 15 --connections 8 \
    --path "/v1/recommendations?user=u{rand:50000}&k=10&$query" || true
done

# An experiment on every user, one arm exploring: each answer is assigned by the hash, drawn
# at random from the pool, and recorded as a decision (as every answer is, by default).
curl -sf -o /dev/null -X PUT -H 'Content-Type: application/json' "$url/v1/experiments/load" -d \
  '{"arms": [{"name": "control", "model": "ensemble", "share": 0.5},
             {"name": "explore", "model": "ensemble", "share": 0.5, "explore": "epsilon:0.1"}]}' ||
  echo "(no ensemble live: the experiment was not started)"
echo -n "recommendations in an experiment (half the users exploring) rate=2000/s: "
"$load" --port "$port" --rate 2000 --seconds 15 --connections 8 \
  --path "/v1/recommendations?user=u{rand:50000}&k=10" || true
curl -sf -o /dev/null -X DELETE "$url/v1/experiments/load" || true
curl -sf "$url/v1/stats" | python3 -c 'import json,sys; f=json.load(sys.stdin)["feedback"]; print("decisions", f["decisions"], "dropped", f["decisions_dropped"])'

freshness() {
  echo -n "freshness ($1) under 2000/s recommendation load: "
  "$load" --port "$port" --rate 2000 --seconds 25 --connections 8 \
    --path "/v1/recommendations?user=u{rand:50000}&k=10" >"$work/load_during_probe.txt" &
  load_pid=$!
  "$probe" --port "$port" --item i1 --count 2000
  wait $load_pid || true
  echo -n "  (the load meanwhile: "; cat "$work/load_during_probe.txt"
}
freshness "log.sync=interval, 5ms"

# The same on the default durability, an fsync per group commit: SIGTERM (drain, snapshot),
# then a restart on the same data directory.
kill -TERM $server_pid
wait $server_pid || true
start_server
freshness "log.sync=always"
