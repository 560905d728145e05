#!/usr/bin/env bash
# Crash loop: SIGKILL `liverec serve` under ingest, restart it, and check after every cycle that
# no acknowledged event was lost or doubled and no refused one came back; every 10th cycle and
# after the last, also that the recovered state is bit-identical to a fresh replay of the log.
#   bench/crash_loop.sh [cycles] [build_dir]     (defaults: 100, build/release)
# Each cycle: start the server on the same data directory, post NDJSON batches of 20 events with
# ids (two clients) plus, every fifth batch, one the server must refuse (400: every timestamp
# beyond engine.max_future), kill -9 after a random 0.2-1.0 s, then run liverec-crash-check.
# An answer lost with the kill is neither acknowledged nor refused: either outcome is allowed.
# Prints one line per cycle and a summary; exits 1 on the first violation.
set -euo pipefail
cycles=${1:-100}
build=${2:-build/release}
liverec=$build/tools/liverec/liverec
check=$build/bench/liverec-crash-check
work=$(mktemp -d)
server_pid=
trap '[ -n "$server_pid" ] && kill -9 $server_pid 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"' EXIT

sets=(--set snapshot.interval_events=2000 --set log.sync=always --set mf.dim=16)
far_future_ms=9007199254740991
: >"$work/acknowledged"
: >"$work/refused"

# client NAME: posts batches until the server is gone; appends the ids of each answered batch
# to acknowledged (200) or refused (4xx, 5xx).
client() {
  local name=$1 b=0 code body ids
  while true; do
    b=$((b + 1))
    body= ids=
    local refuse=$((b % 5 == 0))
    for e in $(seq 1 20); do
      local id="$name-$b-$e" ts=$((1700000000000 + b * 20 + e))
      [ $refuse = 1 ] && ts=$far_future_ms
      body+="{\"user\":\"u$((RANDOM % 300))\",\"item\":\"i$((RANDOM % 500))\",\"timestamp\":$ts,\"id\":\"$id\"}"$'\n'
      ids+="$id"$'\n'
    done
    code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/x-ndjson' \
      --data-binary "$body" "$url/v1/events" || true)
    case $code in
      200) printf '%s' "$ids" >>"$work/acknowledged" ;;
      4??|5??) printf '%s' "$ids" >>"$work/refused" ;;
      *) return 0 ;;  # no answer: the server was killed
    esac
  done
}

total_start_ns=$(date +%s%N)
for cycle in $(seq 1 "$cycles"); do
  : >"$work/server.out"
  "$liverec" serve --port 0 --data-dir "$work/data" "${sets[@]}" \
    >"$work/server.out" 2>>"$work/server.err" &
  server_pid=$!
  for _ in $(seq 1 600); do grep -q listening "$work/server.out" && break; sleep 0.1; done
  port=$(sed -n 's/.*:\([0-9]*\)$/\1/p' "$work/server.out")
  if [ -z "$port" ]; then
    echo "cycle $cycle FAILED: the server did not start"
    tail -n 20 "$work/server.err"
    exit 1
  fi
  url=http://127.0.0.1:$port
  client "a$cycle" &
  client_a=$!
  client "b$cycle" &
  client_b=$!
  sleep "0.$((RANDOM % 9 + 2))"
  if ! kill -9 "$server_pid" 2>/dev/null; then
    echo "cycle $cycle FAILED: the server exited before it was killed"
    tail -n 20 "$work/server.err"
    exit 1
  fi
  wait "$server_pid" 2>/dev/null || true
  server_pid=
  wait "$client_a" "$client_b"
  fingerprint=()
  if [ $((cycle % 10)) = 0 ] || [ "$cycle" = "$cycles" ]; then fingerprint=(--fingerprint); fi
  if ! verdict=$("$check" --data-dir "$work/data" --acknowledged "$work/acknowledged" \
      --refused "$work/refused" "${fingerprint[@]}" "${sets[@]}"); then
    echo "cycle $cycle FAILED: $verdict"
    tail -n 20 "$work/server.err"
    exit 1
  fi
  echo "cycle $cycle $verdict"
done
seconds=$(( ($(date +%s%N) - total_start_ns) / 1000000000 ))
echo "crash_loop cycles=$cycles seconds=$seconds acknowledged=$(wc -l <"$work/acknowledged") refused=$(wc -l <"$work/refused") lost=0 resurrected=0"
