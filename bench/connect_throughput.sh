#!/usr/bin/env bash
# Durable appends and ordered reads through each stream engine liverec scales out on: starts a
# redis-server (appendonly yes, appendfsync always) and a nats-server (JetStream, file storage)
# on free ports of 127.0.0.1 with their data in a temporary directory, and runs
# liverec-connect-bench against each (or the bench LIVEREC_BENCH names, from the build dir).
#   bench/connect_throughput.sh [build_dir] [bench flags ...]
#   (default build/release; e.g. --batch 10000 --bytes 120 --batches 40 --appenders 2)
#   LIVEREC_BENCH=liverec-cluster-bench bench/connect_throughput.sh build/release --nodes 2
set -euo pipefail
build=${1:-build/release}
shift || true
bench=$build/bench/${LIVEREC_BENCH:-liverec-connect-bench}
work=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() {  # file, text
  for _ in $(seq 1 300); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  echo "connect_throughput: the engine did not start:" >&2; cat "$1" >&2; exit 1
}

redis_port=$(free_port)
mkdir -p "$work/redis"
redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$work/redis" --appendonly yes \
  --appendfsync always --save "" --logfile "" >"$work/redis.log" 2>&1 &
pids+=($!)
wait_for "$work/redis.log" "Ready to accept connections"

nats_port=$(free_port)
nats-server --addr 127.0.0.1 --port "$nats_port" --jetstream --store_dir "$work/nats" \
  >"$work/nats.log" 2>&1 &
pids+=($!)
wait_for "$work/nats.log" "Server is ready"

echo "# $(date -u +%F) $(nproc) cores, $(redis-server --version | cut -d' ' -f1-3), nats-server $(nats-server --version | sed 's/.*v//')"
"$bench" --url "redis://127.0.0.1:$redis_port" "$@"
"$bench" --url "nats://127.0.0.1:$nats_port" "$@"
