#!/usr/bin/env bash
# Tries the Debian package on this machine with dpkg, as an administrator would: install, enable
# the timer, upgrade to a newer package, remove, purge. Asserts at each step what must hold, and
# that the purge leaves nothing: the files under /etc, /usr, /var/lib (dpkg's own database and
# logs aside) are exactly those there before the install, so no unit, no enablement symlink of the
# timer, no deb-systemd-helper state, no /var/lib/idfed remains.
#
#   deploy/check-deb.sh OLD.deb NEW.deb     (as root; .ci/run runs it)
#
# It installs and purges the package `idfed` on this machine: run it where that is fine (CI, a
# scratch machine). An idfed package already installed is refused, not touched. Whether systemd
# runs as PID 1 or not (CI: usually not), the maintainer scripts must behave as Debian's do:
# deb-systemd-helper keeps the enablement state either way, and nothing is started.
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 OLD.deb NEW.deb" >&2
  exit 1
fi
old="$1"
new="$2"
pkg=idfed
timer=idfed-sync.timer
wants=/etc/systemd/system/timers.target.wants/$timer
dsh=/var/lib/systemd/deb-systemd-helper-enabled

fail() {
  echo "check-deb: $*" >&2
  exit 1
}
installed() {
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed"
}
known() {
  dpkg-query -W -f='${Status}' "$pkg" >/dev/null 2>&1 &&
    ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "not-installed"
}
# Every path under the trees a package may touch, with its type and link target; dpkg's database,
# apt's lists and logs change on any dpkg run and are left out.
snapshot() {
  find /etc /usr /var/lib /opt -xdev \
    \( -path /var/lib/dpkg -o -path /var/lib/apt -o -path /var/lib/ucf -o -path /etc/ld.so.cache \) -prune \
    -o -printf '%p %y %l\n' 2>/dev/null | LC_ALL=C sort
}

if known; then
  fail "a package \`$pkg\` is already known to dpkg here ($(dpkg-query -W -f='${Status} ${Version}' "$pkg")): purge it first (dpkg --purge $pkg); this check does not touch it"
fi
if [ -d /run/systemd/system ]; then
  echo "check-deb: systemd runs as PID 1: the scripts also talk to it"
else
  echo "check-deb: systemd is not PID 1 ($(ps -p 1 -o comm=)): the scripts only keep state, as Debian's do"
fi

before="$(mktemp)"
after="$(mktemp)"
cleanup() {
  local status=$?
  if known; then
    echo "check-deb: purging $pkg after a failed step" >&2
    dpkg --purge "$pkg" >/dev/null 2>&1 || true
  fi
  rm -f "$before" "$after"
  exit "$status"
}
trap cleanup EXIT
snapshot >"$before"

echo "check-deb: install $(basename "$old")"
dpkg -i "$old" >/dev/null
installed || fail "not installed after dpkg -i"
/usr/bin/idfed --version >/dev/null || fail "/usr/bin/idfed does not run"
for f in /usr/lib/systemd/system/idfed-sync.service /usr/lib/systemd/system/$timer; do
  [ -f "$f" ] || fail "$f missing after install"
done
# Installed, not enabled: the administrator writes the configuration first.
[ ! -e "$wants" ] && [ ! -L "$wants" ] || fail "the timer is enabled by the install: $wants"
# deb-systemd-helper knows the timer (postinst update-state), so a purge can undo an enable.
[ -f "$dsh/$timer.dsh-also" ] || fail "deb-systemd-helper has no state for $timer ($dsh/$timer.dsh-also)"

echo "check-deb: enable the timer, as the administrator does"
systemctl enable "$timer" >/dev/null 2>&1 || fail "systemctl enable $timer failed"
[ -L "$wants" ] || fail "systemctl enable made no $wants"
# What a run leaves: backups, cache, run state.
mkdir -p /var/lib/idfed/backup /var/lib/idfed/cache
echo "root:1005:1" >/var/lib/idfed/backup/subuid.1
chmod 700 /var/lib/idfed

echo "check-deb: upgrade to $(basename "$new")"
dpkg -i "$new" >/dev/null
want="$(dpkg-deb -f "$new" Version)"
have="$(dpkg-query -W -f='${Version}' "$pkg")"
[ "$have" = "$want" ] || fail "version $have after the upgrade, not $want"
[ -L "$wants" ] || fail "the upgrade disabled the timer ($wants gone)"
[ -f /var/lib/idfed/backup/subuid.1 ] || fail "the upgrade lost /var/lib/idfed"

echo "check-deb: remove"
dpkg --remove "$pkg" >/dev/null
[ ! -e /usr/bin/idfed ] || fail "/usr/bin/idfed left after remove"
[ ! -e /usr/lib/systemd/system/$timer ] || fail "$timer left after remove"
# A remove keeps this node's data (only a purge drops it).
[ -f /var/lib/idfed/backup/subuid.1 ] || fail "remove dropped /var/lib/idfed"

echo "check-deb: purge"
dpkg --purge "$pkg" >/dev/null
known && fail "dpkg still knows $pkg after the purge"
snapshot >"$after"
if ! diff -u "$before" "$after" >&2; then
  fail "the purge left the files above (+) or took them (-)"
fi
echo "check-deb: install, upgrade, remove and purge behave; the purge left nothing"
