#!/usr/bin/env bash
# What the request log costs a recommendation: two `liverec serve` on loopback with the same
# 200 K synthetic events learned, one with log.requests=false and one with the default
# (log.requests=true, log.format=json: one JSON line per request, its stderr going to a file),
# then recommendations at 2 K requests/s (liverec-http-load: open loop, 8 connections, random
# users, k = 10) on each in turn, three rounds; prints one line per round, the CPU time each
# server spent per request over its rounds (utime + stime of /proc/PID/stat) and the log's size.
#   bench/request_log_load.sh [build_dir]     (default build/release)
set -euo pipefail
build=${1:-build/release}
liverec=$build/tools/liverec/liverec
load=$build/bench/liverec-http-load
work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"' EXIT

"$liverec" generate --out "$work/events.jsonl" --users 20000 --items 20000 --events 200000 \
  --new-items-per-day 0 >/dev/null
split -l 10000 "$work/events.jsonl" "$work/batch."
declare -A port pid cpu
# CPU time of a process so far, in clock ticks (user + system).
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
for setting in off on; do
  requests=$([[ $setting == on ]] && echo true || echo false)
  "$liverec" serve --port 0 --data-dir "$work/data.$setting" --set metrics.sample_rate=0.01 \
    --set log.requests="$requests" --set log.format=json \
    >"$work/server.$setting.out" 2>"$work/server.$setting.err" &
  pids+=($!)
  pid[$setting]=$!
  cpu[$setting]=0
  for _ in $(seq 1 600); do grep -q listening "$work/server.$setting.out" && break; sleep 0.1; done
  port[$setting]=$(sed -n 's/.*:\([0-9]*\)$/\1/p' "$work/server.$setting.out")
  url=http://127.0.0.1:${port[$setting]}
  for batch in "$work"/batch.*; do
    curl -sf --retry 30 -o /dev/null -H 'Content-Type: application/x-ndjson' \
      --data-binary @"$batch" "$url/v1/events"
  done
  curl -sf -o /dev/null -H 'Content-Type: application/json' -d '{"user":"sync","item":"i1"}' \
    "$url/v1/events?wait=learned"
done
for round in 1 2 3; do
  for setting in off on; do
    echo -n "round $round log.requests=$setting: "
    before=$(ticks "${pid[$setting]}")
    "$load" --port "${port[$setting]}" --rate 2000 --seconds 10 --connections 8 \
      --path "/v1/recommendations?user=u{rand:20000}&k=10" || true
    cpu[$setting]=$((cpu[$setting] + $(ticks "${pid[$setting]}") - before))
  done
done
hz=$(getconf CLK_TCK)
for setting in off on; do
  # 3 rounds of 10 s at 2,000 requests/s.
  echo "log.requests=$setting: server CPU $(echo "scale=1; ${cpu[$setting]} * 1000000 / $hz / 60000" | bc) us per request"
done
echo "request log: $(grep -c '"msg":"request"' "$work/server.on.err") lines," \
  "$(stat -c %s "$work/server.on.err") bytes"
