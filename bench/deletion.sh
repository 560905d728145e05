#!/usr/bin/env bash
# What a user's deletion costs on ml-100k-sized state (the default models): DELETE
# /v1/users/{id} on a server that learned MovieLens 100K (`liverec import` of u.data), then the
# time to data_erased and to complete as GET /v1/deletions/{id} reports them. The users are
# taken from the start, the middle and the end of the stream's first appearances, so the replay
# starts from the newest snapshot before each (with snapshot.interval_events=20000: 0 to 4 of
# them before the user). ROUNDS deletions per position; a line per deletion.
#   bench/deletion.sh DATA_DIR [build_dir] [rounds]   (DATA_DIR holds ml-100k/u.data)
set -euo pipefail
data=$1
build=${2:-build/release}
rounds=${3:-3}
liverec=$build/tools/liverec/liverec
work=$(mktemp -d)
trap 'kill $server_pid 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT

"$liverec" serve --port 0 --data-dir "$work/data" --set snapshot.interval_events=20000 \
  >"$work/server.out" 2>"$work/server.err" &
server_pid=$!
for _ in $(seq 1 600); do grep -q listening "$work/server.out" && break; sleep 0.1; done
port=$(sed -n 's/.*:\([0-9]*\)$/\1/p' "$work/server.out")
url=http://127.0.0.1:$port
"$liverec" import "$data/ml-100k/u.data" --url "$url" >/dev/null
curl -sf -o /dev/null -H 'Content-Type: application/json' -d '{"user":"sync","item":"1"}' \
  "$url/v1/events?wait=learned"
# u.data is not in time order: the users in order of their first event.
users=$(sort -t$'\t' -k4,4n "$data/ml-100k/u.data" | awk -F'\t' '!seen[$1]++ {print $1}')
n=$(echo "$users" | wc -l)
for position in start middle end; do
  case $position in
    start) from=1 ;; middle) from=$((n / 2)) ;; end) from=$((n - rounds)) ;;
  esac
  for user in $(echo "$users" | sed -n "${from},$((from + rounds - 1))p"); do
    id=$(curl -sf -X DELETE "$url/v1/users/$user" | python3 -c 'import json,sys; print(json.load(sys.stdin)["deletion"])')
    curl -sf "$url/v1/deletions/$id?wait_ms=60000" | python3 -c "
import json, sys
d = json.load(sys.stdin)
print(f'$position user $user state {d[\"state\"]} data_erased_ms {d[\"data_erased_ms\"]} complete_ms {d[\"complete_ms\"]}')"
  done
done
grep -c "snapshot written" "$work/server.err" | sed 's/^/snapshots written: /'
grep "models replayed" "$work/server.err" | sed 's/.*from_snapshot/from_snapshot/'
