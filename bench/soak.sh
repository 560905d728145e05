#!/usr/bin/env bash
# Soak: mixed ingest, recommendations and malformed requests at about 80 % of capacity for a
# given time, with the server's resident memory sampled each minute.
#   bench/soak.sh [minutes] [build_dir]     (defaults: 30, build/release; needs wrk)
# Steps: generate 200 K synthetic events (20 K users, 20 K items) and load them; measure
# capacity for 10 s with wrk at full speed, recommendations and 1,000-event NDJSON posts at once
# (ingest capacity: the events learned per second);
# then for the given time drive 80 % of each measured rate (recommendations open-loop with
# liverec-http-load, ingest as paced posts of 1,000 events) plus a hostile client that cycles
# through malformed requests (invalid JSON, a gzip bomb, an oversized Content-Length, a 413
# batch, a form body, a cross-origin write, a far-future event, trickled headers, 405s). Prints
# the capacity, one RSS line per minute, the load generator's line and a summary: RSS after the
# first (warm-up) minute against the largest and last samples.
set -euo pipefail
minutes=${1:-30}
build=${2:-build/release}
liverec=$build/tools/liverec/liverec
load=$build/bench/liverec-http-load
work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"' EXIT

"$liverec" generate --out "$work/events.jsonl" --users 20000 --items 20000 --events 200000 \
  --new-items-per-day 0 >/dev/null
split -l 1000 "$work/events.jsonl" "$work/batch."
# No request log: a line per request would put gigabytes into $work over half an hour (its
# cost is measured by http_load.sh).
"$liverec" serve --port 0 --data-dir "$work/data" --set metrics.sample_rate=0.01 \
  --set log.sync=interval --set log.sync_interval=5ms --set log.requests=false \
  >"$work/server.out" 2>"$work/server.err" &
server_pid=$!
pids+=("$server_pid")
for _ in $(seq 1 600); do grep -q listening "$work/server.out" && break; sleep 0.1; done
port=$(sed -n 's/.*:\([0-9]*\)$/\1/p' "$work/server.out")
url=http://127.0.0.1:$port
ls "$work"/batch.* | xargs -P 2 -I{} curl -sf --retry 30 -o /dev/null \
  -H 'Content-Type: application/x-ndjson' --data-binary @{} "$url/v1/events"
rss_mb() { echo $(( $(sed -n 's/^VmRSS:[^0-9]*\([0-9]*\).*/\1/p' "/proc/$server_pid/status") / 1024 )); }

# Capacity: both kinds of request at full speed at once.
cat >"$work/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-ndjson"
local f = io.open("$work/batch.aa", "rb")
wrk.body = f:read("*a")
f:close()
LUA
cat >"$work/recs.lua" <<'LUA'
request = function()
  return wrk.format("GET", "/v1/recommendations?user=u" .. math.random(0, 19999) .. "&k=10")
end
LUA
applied() { curl -sf "$url/v1/stats" | sed -n 's/.*"events_applied":\([0-9]*\).*/\1/p'; }
sync_learned() {
  curl -sf -o /dev/null -H 'Content-Type: application/json' -d '{"user":"sync","item":"i1"}' \
    "$url/v1/events?wait=learned"
}
# Ingest capacity is what is learned (wrk also counts the 429s of a full queue as requests).
before=$(applied)
start_ns=$(date +%s%N)
wrk -t1 -c2 -d10s -s "$work/post.lua" "$url/v1/events" >/dev/null &
wrk -t1 -c8 -d10s -s "$work/recs.lua" "$url/" >"$work/cap_recs.txt"
wait $!
sync_learned
events_per_s=$(( ($(applied) - before) * 1000000000 / ($(date +%s%N) - start_ns) ))
recs_per_s=$(sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p' "$work/cap_recs.txt")
post_rate=$(echo "$events_per_s * 0.8 / 1000" | bc -l)
rec_rate=$(echo "$recs_per_s * 0.8 / 1" | bc)
echo "capacity recommendations_per_s=$recs_per_s events_learned_per_s=$events_per_s (both at full speed, together)"
echo "soak minutes=$minutes recommendations_per_s=$rec_rate ingest_events_per_s=$(echo "$post_rate * 1000 / 1" | bc) rss_mb_start=$(rss_mb)"
soak_before=$(applied)

seconds=$((minutes * 60))
"$load" --port "$port" --rate "$rec_rate" --seconds "$seconds" --connections 8 \
  --path "/v1/recommendations?user=u{rand:20000}&k=10" >"$work/load.txt" || true &
pids+=($!)
load_pid=$!

# Ingest at post_rate: each post re-sends one of the batches (the events carry no ids, so every
# one is learned again).
(
  # Paced by the clock: post number i goes out at i / post_rate seconds (no catching up).
  batches=("$work"/batch.*)
  start_ns=$(date +%s%N)
  end=$((SECONDS + seconds))
  i=0
  while [ $SECONDS -lt $end ]; do
    curl -s -o /dev/null -H 'Content-Type: application/x-ndjson' \
      --data-binary "@${batches[$((i % ${#batches[@]}))]}" "$url/v1/events" || true
    i=$((i + 1))
    wait_s=$(echo "$i / $post_rate - ($(date +%s%N) - $start_ns) / 1000000000" | bc -l)
    case $wait_s in -*) ;; *) sleep "$wait_s" ;; esac
  done
) &
pids+=($!)

# The hostile client: a few malformed requests a second, each a case of issue 14.
head -c 200000000 /dev/zero | tr '\0' ' ' | gzip -1 >"$work/bomb.gz"
(
  end=$((SECONDS + seconds))
  big=$(printf '{"user":"u","item":"i"}\n%.0s' $(seq 1 1000))
  while [ $SECONDS -lt $end ]; do
    curl -s -o /dev/null -H 'Content-Type: application/json' -d '{"user": [' "$url/v1/events" || true
    curl -s -o /dev/null -H 'Content-Type: application/json' -H 'Content-Encoding: gzip' \
      --data-binary @"$work/bomb.gz" "$url/v1/events" || true
    curl -s -o /dev/null -H 'Content-Type: application/json' -H 'Content-Length: 2000000000' \
      -d '[]' "$url/v1/events" || true
    curl -s -o /dev/null -d "x=$big" "$url/v1/events" || true
    curl -s -o /dev/null -H 'Origin: http://evil.example' -H 'Content-Type: application/json' \
      -d '{"seq":1}' "$url/v1/admin/rollback" || true
    curl -s -o /dev/null -H 'Content-Type: application/json' \
      -d '{"user":"evil","item":"i","timestamp":9007199254740991}' "$url/v1/events" || true
    curl -s -o /dev/null -X DELETE "$url/v1/stats" || true
    # Trickled headers, cut off by serve.request_timeout.
    { printf 'GET /v1/stats HTTP/1.1\r\nHost: x\r\n'; sleep 2; } | \
      timeout 3 bash -c "exec 3<>/dev/tcp/127.0.0.1/$port; cat >&3; cat <&3 >/dev/null" || true
  done
) &
pids+=($!)

samples=()
for m in $(seq 1 "$minutes"); do
  sleep 60
  samples+=("$(rss_mb)")
  echo "minute $m rss_mb=${samples[-1]}"
done
wait "$load_pid" || true
sync_learned
echo "ingest events_learned_per_s=$(( ($(applied) - soak_before) / seconds ))"
cat "$work/load.txt"
warm=${samples[0]}
max=$warm
for s in "${samples[@]}"; do [ "$s" -gt "$max" ] && max=$s; done
last=${samples[-1]}
echo "soak_summary rss_mb_after_warmup=$warm rss_mb_max=$max rss_mb_last=$last growth_pct=$(echo "scale=1; ($max - $warm) * 100 / $warm" | bc)"
