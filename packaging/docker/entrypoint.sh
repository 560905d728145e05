#!/bin/sh
# The container's entry point: an admin key on the first start of a data volume (the server
# listens on 0.0.0.0 here, and protected mode refuses that without a key), then the server
# itself as PID 1, so `docker stop` sends SIGTERM to it (drain, snapshot, exit 0).
set -e

data_dir=${LIVEREC_SERVE_DATA_DIR:-/var/lib/liverec}
if [ ! -e "$data_dir/auth/keys" ]; then
  umask 077
  /usr/bin/liverec keys add --role admin --name container --data-dir "$data_dir" \
    >"$data_dir/admin.key" 2>/dev/null
  echo "liverec: an admin API key was written to $data_dir/admin.key" \
    "(read it with: docker exec <container> cat $data_dir/admin.key)" >&2
fi
exec /usr/bin/liverec serve "$@"
