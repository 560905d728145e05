#!/usr/bin/env bash
# Installs the Debian package for real, without changing this machine: in a private mount
# namespace, an overlay of / (its writes go to a tmpfs that vanishes with the namespace) is the
# root of a chroot in which `dpkg -i` runs the maintainer scripts. Then: the liverec user and
# /var/lib/liverec exist, the admin key is in /etc/liverec/admin.key (root, 0600) and the data
# directory's key file, the server started as systemd would (the unit's ExecStart as liverec)
# answers that key with 200 and no key with 401 and exits 0 on SIGTERM, a reinstall keeps the
# key, and a purge removes the config and the key but keeps the data directory.
# Needs root (a mount namespace and chroot); .ci/run runs it.
# Usage: tests/package/install_test.sh DEB
set -euo pipefail
deb=$(realpath "$1")
if [[ $(id -u) -ne 0 ]]; then
  echo "install_test: needs root for a mount namespace and chroot" >&2
  exit 1
fi
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
cp "$deb" "$stage/liverec.deb"
mkdir "$stage/mnt"
cat >"$stage/in_chroot.sh" <<'CHROOT'
set -euo pipefail
fail() { echo "FAIL: $*" >&2; exit 1; }
dpkg -i /root/liverec.deb
getent passwd liverec >/dev/null || fail "no liverec user"
[[ $(stat -c %U:%a /var/lib/liverec) == liverec:750 ]] || fail "/var/lib/liverec: $(stat -c %U:%a /var/lib/liverec)"
[[ $(stat -c %U:%G:%a /etc/liverec/admin.key) == root:root:600 ]] || fail "admin.key: $(stat -c %U:%G:%a /etc/liverec/admin.key)"
[[ -s /var/lib/liverec/auth/keys ]] || fail "no key file in the data directory"
key=$(cat /etc/liverec/admin.key)
exec_start=$(sed -n 's/^ExecStart=//p' /lib/systemd/system/liverec.service)
read -r -a argv <<<"$exec_start"
coproc server { exec setpriv --reuid liverec --regid liverec --init-groups "${argv[@]}" --port 0 2>/tmp/err; }
pid=$server_PID
trap 'kill $pid 2>/dev/null || true' EXIT
read -r listening <&"${server[0]}" || fail "serve did not start: $(cat /tmp/err)"
port=${listening##*:}
status_of() {
  exec 3<>"/dev/tcp/127.0.0.1/$port"
  printf 'GET /v1/stats HTTP/1.1\r\nHost: localhost\r\n%sConnection: close\r\n\r\n' "$1" >&3
  head -n 1 <&3 | cut -d' ' -f2
  exec 3<&-
}
[[ $(status_of "Authorization: Bearer $key"$'\r\n') == 200 ]] || fail "the admin key is refused"
[[ $(status_of "") == 401 ]] || fail "no key is not refused"
kill -TERM $pid
status=0
wait $pid || status=$?
trap - EXIT
[[ $status -eq 0 ]] || fail "serve exited $status after SIGTERM: $(cat /tmp/err)"
dpkg -i /root/liverec.deb >/dev/null
[[ $(cat /etc/liverec/admin.key) == "$key" ]] || fail "a reinstall changed the admin key"
dpkg --purge liverec >/dev/null
[[ ! -e /etc/liverec/liverec.conf && ! -e /etc/liverec/admin.key ]] || fail "purge left the config or the key"
[[ -s /var/lib/liverec/auth/keys ]] || fail "purge removed the data directory"
echo "install, serve, reinstall and purge passed"
CHROOT
unshare --mount --propagation private bash -c '
  set -euo pipefail
  stage=$1
  mount -t tmpfs tmpfs "$stage"
  mkdir -p "$stage/upper" "$stage/work" "$stage/root"
  mount -t overlay overlay -o "lowerdir=/,upperdir=$stage/upper,workdir=$stage/work" "$stage/root"
  mount -t proc proc "$stage/root/proc"
  mount --rbind /dev "$stage/root/dev"
  mount -t tmpfs tmpfs "$stage/root/tmp"
  cp "$2/liverec.deb" "$2/in_chroot.sh" "$stage/root/root/"
  chroot "$stage/root" bash /root/in_chroot.sh
' _ "$stage/mnt" "$stage"
