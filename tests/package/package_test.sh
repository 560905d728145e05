#!/usr/bin/env bash
# The Debian package and the Dockerfile, checked without root and without a Docker engine.
# Usage: tests/package/package_test.sh LIVEREC_BINARY WORK_DIR   (from the repository root)
#
# Package: scripts/package-deb packages LIVEREC_BINARY; `dpkg-deb -c` must list the binary,
# the unit and the conffile, `dpkg-deb -f` must give the name, the CMake version, this machine's
# architecture and the shared-library dependencies, the maintainer scripts must parse, the
# packaged config must pass `liverec config check`, and `systemd-analyze verify` must pass on
# the unit with nothing to say. It checks that ExecStart's binary exists, so it verifies a copy
# of the unit whose /usr/bin/liverec is the binary extracted from the package; everything else
# in the unit is as shipped. Then the unit's ExecStart runs: the packaged binary with the
# packaged config (its data directory moved to WORK_DIR) serves /healthz and exits 0 on SIGTERM.
#
# Dockerfile (not built here): the runtime stage installs every package the binary depends on
# (the Depends of the .deb, less what debian:bookworm-slim holds), the build stage only
# packages scripts/install-deps installs too, the last USER is not root, and STOPSIGNAL
# SIGTERM, a HEALTHCHECK on /healthz, a VOLUME for the data directory and EXPOSE are there.
set -euo pipefail
binary=$(realpath "$1")
work=$2
rm -rf "$work"
mkdir -p "$work"
work=$(realpath "$work")
failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

deb=$(scripts/package-deb --binary "$binary" --out "$work" 2>"$work/package.log") ||
  { cat "$work/package.log" >&2; exit 1; }
echo "built $deb"

# -- contents and metadata
listing=$(dpkg-deb -c "$deb")
for path in ./usr/bin/liverec ./lib/systemd/system/liverec.service ./etc/liverec/liverec.conf; do
  grep -qE " $path\$" <<<"$listing" || fail "dpkg-deb -c does not list $path"
done
field() { dpkg-deb -f "$deb" "$1"; }
[[ $(field Package) == liverec ]] || fail "Package: $(field Package)"
version=$(sed -nE 's/^project\(liverec VERSION ([0-9.]+).*/\1/p' CMakeLists.txt)
[[ $(field Version) == "$version" ]] || fail "Version: $(field Version), CMakeLists.txt: $version"
[[ $(field Architecture) == $(dpkg --print-architecture) ]] ||
  fail "Architecture: $(field Architecture)"
depends=$(field Depends)
# The package names of Depends, one a line, without versions.
depends_names=$(tr ',' '\n' <<<"$depends" | sed -E 's/\(.*\)//; s/ //g')
for needed in libc6 libstdc++6 libssl3; do
  grep -qxF "$needed" <<<"$depends_names" || fail "Depends lacks $needed: $depends"
done
[[ $(basename "$deb") == "liverec_${version}_$(dpkg --print-architecture).deb" ]] ||
  fail "file name $(basename "$deb")"
dpkg-deb -e "$deb" "$work/control"
grep -qx /etc/liverec/liverec.conf "$work/control/conffiles" || fail "conffiles: $(cat "$work/control/conffiles")"
for script in postinst prerm postrm; do
  [[ -x $work/control/$script ]] || fail "$script is missing or not executable"
  sh -n "$work/control/$script" || fail "$script does not parse"
done

# -- the packaged files
dpkg-deb -x "$deb" "$work/root"
packaged=$work/root/usr/bin/liverec
"$packaged" config check "$work/root/etc/liverec/liverec.conf" >/dev/null ||
  fail "the packaged liverec.conf fails config check"
unit=$work/root/lib/systemd/system/liverec.service
grep -qx "User=liverec" "$unit" || fail "the unit does not run as liverec"
grep -qx "KillSignal=SIGTERM" "$unit" || fail "the unit does not stop with SIGTERM"
grep -qx "ReadWritePaths=/var/lib/liverec" "$unit" || fail "the unit lacks ReadWritePaths"
mkdir -p "$work/verify"
sed "s|/usr/bin/liverec|$packaged|" "$unit" >"$work/verify/liverec.service"
if ! verify=$(systemd-analyze verify "$work/verify/liverec.service" 2>&1) || [[ -n $verify ]]; then
  fail "systemd-analyze verify: $verify"
fi

# -- the unit's ExecStart with the packaged config, the data directory moved into $work
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
config=$work/liverec.conf
sed "s|^serve.data_dir = .*|serve.data_dir = $work/data|" "$work/root/etc/liverec/liverec.conf" \
  >"$config"
read -r -a argv <<<"${exec_start//\/etc\/liverec\/liverec.conf/$config}"
argv[0]=$packaged
coproc server { exec "${argv[@]}" --port 0 2>"$work/serve.err"; }
server_pid=$server_PID
read -r listening <&"${server[0]}" || true
port=${listening##*:}
if [[ $port =~ ^[0-9]+$ ]]; then
  exec 3<>"/dev/tcp/127.0.0.1/$port"
  printf 'GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' >&3
  answer=$(cat <&3)
  exec 3<&-
  [[ $answer == "HTTP/1.1 200 OK"* ]] || fail "GET /healthz from the packaged server: $answer"
else
  fail "the packaged server did not start: $listening $(cat "$work/serve.err")"
fi
kill -TERM "$server_pid"
status=0
wait "$server_pid" || status=$?
[[ $status -eq 0 ]] || fail "the packaged server exited $status after SIGTERM: $(cat "$work/serve.err")"

# -- the Dockerfile, statically
dockerfile=Dockerfile
runtime_from=$(grep -n '^FROM ' "$dockerfile" | tail -n 1 | cut -d: -f1)
[[ $(grep -c '^FROM ' "$dockerfile") -ge 2 ]] || fail "Dockerfile: not multi-stage"
grep -q '^FROM debian:bookworm' "$dockerfile" || fail "Dockerfile: not on Debian 12 (bookworm)"
# The packages of each stage's `apt-get install` (continuation lines joined).
stage_packages() {
  sed -n "$1" "$dockerfile" | sed ':a;/\\$/{N;s/\\\n//;ba}' | grep 'apt-get install' |
    sed -E 's/.*apt-get install//; s/&&.*//' | tr ' ' '\n' | grep -E '^[a-z0-9][a-z0-9.+-]+$' |
    sort -u
}
runtime=$(stage_packages "${runtime_from},\$p")
build=$(stage_packages "1,$((runtime_from - 1))p")
in_base_image="libc6 libgcc-s1 libstdc++6 passwd util-linux"
for dep in $depends_names; do
  [[ " $in_base_image " == *" $dep "* ]] && continue
  grep -qxF "$dep" <<<"$runtime" || fail "Dockerfile: the runtime stage lacks $dep (the binary needs it)"
done
for dev in $(grep -oE '[a-z0-9.+-]+-dev\b' <<<"$runtime"); do fail "Dockerfile: runtime installs $dev"; done
# install-deps' list, and the packages it adds when a command is missing (nodejs, npm).
deps_script=$( (sed -n '/^packages=(/,/^)/p' scripts/install-deps
  grep -oE 'packages\+=\([a-z0-9.+-]+\)' scripts/install-deps | sed -E 's/packages\+=\((.*)\)/\1/') |
  tr -s ' \n' '\n')
for pkg in $build; do
  grep -qxF "$pkg" <<<"$deps_script" || fail "Dockerfile: build stage installs $pkg, not in scripts/install-deps"
done
runtime_stage=$(sed -n "${runtime_from},\$p" "$dockerfile")
user=$(grep -E '^USER ' <<<"$runtime_stage" | tail -n 1 | awk '{print $2}')
[[ -n $user && $user != root && $user != 0 && $user != 0:* ]] || fail "Dockerfile: runs as '${user:-root}'"
grep -qx 'STOPSIGNAL SIGTERM' <<<"$runtime_stage" || fail "Dockerfile: no STOPSIGNAL SIGTERM"
grep -A2 '^HEALTHCHECK' <<<"$runtime_stage" | grep -q '/healthz' || fail "Dockerfile: no HEALTHCHECK on /healthz"
grep -qE '^VOLUME .*/var/lib/liverec' <<<"$runtime_stage" || fail "Dockerfile: no VOLUME for the data directory"
grep -qE '^EXPOSE [0-9]+' <<<"$runtime_stage" || fail "Dockerfile: no EXPOSE"
sh -n packaging/docker/entrypoint.sh || fail "packaging/docker/entrypoint.sh does not parse"

if ((failures > 0)); then
  echo "$failures check(s) failed" >&2
  exit 1
fi
echo "package and Dockerfile checks passed"
