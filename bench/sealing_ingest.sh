#!/usr/bin/env bash
# Encryption at rest on the server's ingest path: `liverec import` of a data set into a fresh
# `liverec serve`, batches acknowledged durable (log.sync=always, so every batch is sealed,
# written and fsynced before its answer), alternately without a key and with storage.key_file
# (which goes first alternates too). Prints each run's seconds until every batch was
# acknowledged, the medians, and the ratio of sealed to plain throughput (plain seconds / sealed
# seconds, per pair and the median of the pairs).
# Usage: bench/sealing_ingest.sh DATA [BUILD_DIR=build/release] [PAIRS=5]
set -euo pipefail
data=$1
build=${2:-build/release}
pairs=${3:-5}
cli="$build/tools/liverec/liverec"
work=$(mktemp -d)
server_pid=
cleanup() {
  if [[ -n $server_pid ]]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
python3 -c 'import secrets; print(secrets.token_hex(32))' > "$work/storage.key"

# One import into a fresh server; prints the import's seconds. $1: plain|sealed.
run() {
  local args=()
  [[ $1 == sealed ]] && args=(--set "storage.key_file=$work/storage.key")
  rm -rf "$work/data" "$work/serve.out"
  "$cli" serve --host 127.0.0.1 --port 0 --data-dir "$work/data" "${args[@]}" \
    >"$work/serve.out" 2>"$work/serve.err" &
  server_pid=$!
  until grep -q listening "$work/serve.out" 2>/dev/null; do
    kill -0 "$server_pid" || { cat "$work/serve.err" >&2; exit 1; }
    sleep 0.1
  done
  local url summary
  url=$(grep -o 'http://[0-9.:]*' "$work/serve.out")
  summary=$("$cli" import "$data" --url "$url" --wait durable 2>/dev/null)
  kill "$server_pid"; wait "$server_pid" || true; server_pid=
  python3 -c 'import json,sys; s=json.loads(sys.argv[1]); assert s["accepted"] == s["read"], s; print(s["seconds"])' "$summary"
}

plain=() sealed=() ratios=()
for pair in $(seq "$pairs"); do
  if ((pair % 2)); then p=$(run plain); s=$(run sealed); else s=$(run sealed); p=$(run plain); fi
  ratio=$(python3 -c "print(round($p / $s, 3))")
  echo "pair $pair: plain ${p} s, sealed ${s} s, sealed/plain throughput ${ratio}"
  plain+=("$p") sealed+=("$s") ratios+=("$ratio")
done
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "median: plain $(median "${plain[@]}") s, sealed $(median "${sealed[@]}") s, sealed/plain throughput $(median "${ratios[@]}") ($pairs pairs)"
