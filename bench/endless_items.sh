#!/usr/bin/env bash
# Endless new items: a server with its default settings learns a stream in which most events
# name an item never seen before, and its memory is sampled as the stream goes, once with
# engine.item_idle_ttl set and once without.
#   bench/endless_items.sh [events] [ttl] [build_dir] [off_events] [users] [key=value ...]
#   (defaults: 10000000, 1h (0 skips the run with it), build/release, the same as events (0
#   skips the run without), 100000; settings after the fifth argument go to both servers)
# The stream: 100 events per second of stream time, ending two hours before now (the server
# refuses events past its clock); each event by one of `users` users, on one of 1,000 popular
# items with probability 0.2 (skewed toward the first), else on a new item (10 M events: about
# 8 M distinct items). Posted as 10,000-event NDJSON batches, two at a time, by curl, which
# retries a 429 after its Retry-After. Every 500,000 events (after each batch posted has been
# learned) one line: events, the server's RSS and peak RSS (VmHWM), the models' memory
# (the sum of liverec_model_memory_bytes), items known and forgotten.
set -euo pipefail
events=${1:-10000000}
ttl=${2:-1h}
build=${3:-build/release}
off_events=${4:-$events}
users=${5:-100000}
extra=()
for setting in "${@:6}"; do extra+=(--set "$setting"); done
liverec=$build/tools/liverec/liverec
batch=10000
sample_every=500000
work=$(mktemp -d)
server_pid=
trap '[ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"' EXIT

# Batch number b (events b*batch .. b*batch+batch-1) as NDJSON on stdout. Event e is at
# start_ms + e * 10 ms; new items are numbered by the event that names them.
start_ms=$(( $(date +%s) * 1000 - 2 * 3600 * 1000 - events * 10 ))
emit_batch() {
  awk -v b="$1" -v n="$batch" -v t0="$start_ms" -v users="$users" 'BEGIN {
    srand(b + 1)
    for (k = 0; k < n; k++) {
      e = b * n + k
      if (rand() < 0.2) {
        a = int(rand() * 1000); c = int(rand() * 1000)
        item = "p" (a < c ? a : c)
      } else {
        item = "n" e
      }
      printf "{\"user\":\"u%d\",\"item\":\"%s\",\"timestamp\":%.0f}\n", int(rand() * users), item, t0 + e * 10
    }
  }'
}

# One run: a fresh server with `$@` as extra settings, fed `$1` events.
run() {
  local n=$1 label=$2
  shift 2
  rm -rf "$work/data"
  "$liverec" serve --port 0 --data-dir "$work/data" --set log.requests=false "${extra[@]}" "$@" \
    >"$work/server.out" 2>"$work/server.err" &
  server_pid=$!
  for _ in $(seq 1 600); do grep -q listening "$work/server.out" && break; sleep 0.1; done
  local port url
  port=$(sed -n 's/.*:\([0-9]*\)$/\1/p' "$work/server.out")
  url=http://127.0.0.1:$port
  local batches=$(( n / batch )) per_sample=$(( sample_every / batch )) b=0 start_s=$SECONDS
  echo "run $label events=$n settings: ${extra[*]} ${*:-defaults}"
  while [ "$b" -lt "$batches" ]; do
    local end=$(( b + per_sample < batches ? b + per_sample : batches ))
    seq "$b" 2 $(( end - 1 )) | while read -r i; do
      emit_batch "$i" | curl -sf --retry 100 --retry-max-time 600 -o /dev/null \
        -H 'Content-Type: application/x-ndjson' --data-binary @- "$url/v1/events" &
      if [ $(( i + 1 )) -lt "$end" ]; then
        emit_batch $(( i + 1 )) | curl -sf --retry 100 --retry-max-time 600 -o /dev/null \
          -H 'Content-Type: application/x-ndjson' --data-binary @- "$url/v1/events"
      fi
      wait
    done
    b=$end
    # Everything posted is learned once an event sent with wait=learned is answered.
    curl -sf -o /dev/null -H 'Content-Type: application/json' \
      -d "{\"user\":\"sync\",\"item\":\"p0\",\"timestamp\":$(( start_ms + b * batch * 10 ))}" \
      "$url/v1/events?wait=learned"
    local stats rss hwm models
    stats=$(curl -sf "$url/v1/stats")
    rss=$(sed -n 's/^VmRSS:[^0-9]*\([0-9]*\).*/\1/p' "/proc/$server_pid/status")
    hwm=$(sed -n 's/^VmHWM:[^0-9]*\([0-9]*\).*/\1/p' "/proc/$server_pid/status")
    models=$(curl -sf "$url/metrics" | awk '/^liverec_model_memory_bytes/ { s += $2 } END { printf "%.0f", s / 1048576 }')
    echo "$label events=$(( b * batch )) rss_mib=$(( rss / 1024 )) peak_rss_mib=$(( hwm / 1024 ))" \
      "models_mib=$models num_items=$(sed -n 's/.*"num_items":\([0-9]*\).*/\1/p' <<<"$stats")" \
      "items_forgotten=$(sed -n 's/.*"items_forgotten":\([0-9]*\).*/\1/p' <<<"$stats")" \
      "events_per_s=$(( b * batch / (SECONDS - start_s + 1) ))"
  done
  kill "$server_pid"
  wait "$server_pid" 2>/dev/null || true
  server_pid=
}

if [ "$ttl" != 0 ]; then run "$events" "ttl_$ttl" --set "engine.item_idle_ttl=$ttl"; fi
if [ "$off_events" -gt 0 ]; then run "$off_events" "no_ttl"; fi
