#!/usr/bin/env bash
# What keys cost a recommendation: one `liverec serve` on loopback with 200 K synthetic events
# learned, then recommendations at 2 K requests/s (liverec-http-load: open loop, 8 connections,
# random users, k = 10), alternately without a key file (the server runs open) and with one
# (each request carries a read key: a stat of the key file, a SHA-256 and a constant-time
# compare), three rounds each on the same server and state; then one user's list with a read
# key against the same with that user's token (an HMAC-SHA256), two rounds each.
#   bench/auth_load.sh [build_dir]     (default build/release)
set -euo pipefail
build=${1:-build/release}
liverec=$build/tools/liverec/liverec
load=$build/bench/liverec-http-load
work=$(mktemp -d)
trap 'kill $server_pid 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT

"$liverec" generate --out "$work/events.jsonl" --users 20000 --items 20000 --events 200000 \
  --new-items-per-day 0 >/dev/null
split -l 10000 "$work/events.jsonl" "$work/batch."
"$liverec" serve --port 0 --data-dir "$work/data" --set metrics.sample_rate=0.01 \
  >"$work/server.out" 2>"$work/server.err" &
server_pid=$!
for _ in $(seq 1 600); do grep -q listening "$work/server.out" && break; sleep 0.1; done
port=$(sed -n 's/.*:\([0-9]*\)$/\1/p' "$work/server.out")
url=http://127.0.0.1:$port
for batch in "$work"/batch.*; do
  curl -sf --retry 30 -o /dev/null -H 'Content-Type: application/x-ndjson' --data-binary @"$batch" \
    "$url/v1/events"
done
curl -sf -o /dev/null -H 'Content-Type: application/json' -d '{"user":"sync","item":"i1"}' \
  "$url/v1/events?wait=learned"

read_key=$("$liverec" keys add --data-dir "$work/data" --role read --name bench 2>/dev/null)
admin_key=$("$liverec" keys add --data-dir "$work/data" --role admin --name bench 2>/dev/null)
# Without its key file the server on loopback runs open; it notices the file come and go.
mv "$work/data/auth/keys" "$work/keys.off"
recommend() {
  "$load" --port "$port" --rate 2000 --seconds 10 --connections 8 --path "$1" "${@:2}" || true
}
for round in 1 2 3; do
  echo -n "round $round open, random users: "
  recommend "/v1/recommendations?user=u{rand:20000}&k=10"
  mv "$work/keys.off" "$work/data/auth/keys"
  echo -n "round $round read key, random users: "
  recommend "/v1/recommendations?user=u{rand:20000}&k=10" --bearer "$read_key"
  mv "$work/data/auth/keys" "$work/keys.off"
done
mv "$work/keys.off" "$work/data/auth/keys"
token=$(curl -sf -H "Authorization: Bearer $admin_key" -H 'Content-Type: application/json' \
  -d '{"user":"u1","ttl_s":3600}' "$url/v1/tokens" | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
for round in 1 2; do
  echo -n "round $round read key, user u1: "
  recommend "/v1/recommendations?user=u1&k=10" --bearer "$read_key"
  echo -n "round $round user token, user u1: "
  recommend "/v1/recommendations?user=u1&k=10" --bearer "$token"
done
