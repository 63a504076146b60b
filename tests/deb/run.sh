#!/usr/bin/env bash
# Builds the gatehouse .deb with cargo-deb, installs it with dpkg, checks what
# it put where, starts the installed binary the way gatehouse.service does
# (no systemd runs here), waits for /readyz, stops it with SIGTERM, and
# removes and purges the package. Used by .ci/run; runnable by hand as root on
# a machine without a gatehouse package installed. Every wait is bounded, and
# the trap leaves the machine as it found it.
set -euo pipefail
cd "$(dirname "$0")/../.."

CARGO_DEB_VERSION=3.8.0
UNIT=/usr/lib/systemd/system/gatehouse.service
ENV_FILE=/etc/gatehouse/gatehouse.env

say() { printf '  %s\n' "$*"; }
die() { printf 'tests/deb: %s\n' "$*" >&2; exit 1; }

# Preconditions. Without root or dpkg this cannot run: skip, but fail under CI.
skip() {
  if [[ "${CI:-}" == true ]]; then die "$1 (required under CI=true)"; fi
  echo "SKIPPED: $1"; exit 0
}
[[ $(id -u) == 0 ]] || skip "installing a .deb needs root"
command -v dpkg >/dev/null 2>&1 || skip "no dpkg on this machine"
for tool in curl setpriv python3; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is required"
done
if dpkg-query -W -f='${Status}' gatehouse 2>/dev/null | grep -q 'installed'; then
  die "a gatehouse package is already installed here; this test would remove it"
fi

STATE="" LOG="" PID="" INSTALLED=""
cleanup() {
  local status=$?
  if [[ -n "$PID" ]] && kill -0 "$PID" 2>/dev/null; then
    kill -TERM "$PID" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
  fi
  if [[ -n "$INSTALLED" ]]; then
    timeout 120 dpkg --purge gatehouse >/dev/null 2>&1 || echo "tests/deb: dpkg --purge gatehouse failed" >&2
  fi
  [[ -n "$STATE" ]] && rm -rf "$STATE"
  [[ -n "$LOG" ]] && rm -f "$LOG"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "cargo-deb"
if ! cargo deb --version >/dev/null 2>&1; then
  timeout 1200 cargo install -q cargo-deb --version "$CARGO_DEB_VERSION" --locked \
    || die "cargo install cargo-deb failed"
fi
say "$(cargo deb --version)"

echo "build the package (the release profile, as \`cargo build --release -p gatehouse-server\`)"
started=$SECONDS
# --fast: lighter compression, same contents (xz of the debug symbols alone
# takes most of a minute on two cores).
out=$(timeout 3600 cargo deb -p gatehouse-server --fast 2>&1) || { echo "$out"; die "cargo deb failed"; }
DEB=$(printf '%s\n' "$out" | grep -E '/gatehouse_[^/]*\.deb$' | tail -1)
[[ -f "$DEB" ]] || { echo "$out"; die "cargo deb printed no .deb path"; }
say "$DEB ($(du -h "$DEB" | cut -f1), built in $((SECONDS - started)) s)"

echo "install it with dpkg"
INSTALLED=1
timeout 300 dpkg -i "$DEB" >/dev/null || die "dpkg -i failed"
[[ $(dpkg-query -W -f='${Status}' gatehouse) == "install ok installed" ]] || die "gatehouse is not installed"
[[ $(command -v gatehouse) == /usr/bin/gatehouse ]] || die "gatehouse on PATH is $(command -v gatehouse || echo nothing), not /usr/bin/gatehouse"
version=$(gatehouse --version) || die "gatehouse --version failed"
[[ $version == "gatehouse $(dpkg-query -W -f='${Version}' gatehouse | sed 's/-[^-]*$//')" ]] \
  || die "gatehouse --version says '$version'"
say "$version at /usr/bin/gatehouse"
[[ -f $UNIT ]] || die "$UNIT is missing"
[[ $(stat -c '%a %U:%G' "$ENV_FILE") == "640 root:root" ]] \
  || die "$ENV_FILE is $(stat -c '%a %U:%G' "$ENV_FILE" 2>/dev/null || echo missing), not 640 root:root"
dpkg-query -W -f='${Conffiles}\n' gatehouse | grep -q " $ENV_FILE " || die "$ENV_FILE is not a conffile"
[[ -f /usr/share/doc/gatehouse/packaging.md ]] || die "the docs are not in /usr/share/doc/gatehouse"
if [[ -L /etc/systemd/system/multi-user.target.wants/gatehouse.service ]]; then
  die "the package enabled the service; it must leave that to the operator"
fi
say "unit $UNIT, conffile $ENV_FILE (640 root:root), docs, not enabled"
if command -v systemd-analyze >/dev/null 2>&1; then
  timeout 60 systemd-analyze verify "$UNIT" || die "systemd-analyze verify $UNIT failed"
  say "systemd-analyze verify: clean"
fi

echo "start it as the unit does"
# What the unit says, read from the installed file so the test follows it.
unit_value() { sed -n "s/^$1=//p" "$UNIT" | tail -1; }
exec_start=$(unit_value ExecStart)
umask_value=$(unit_value UMask)
[[ $(unit_value DynamicUser) == yes ]] || die "the unit no longer uses DynamicUser"
[[ $(unit_value EnvironmentFile) == "$ENV_FILE" ]] || die "the unit's EnvironmentFile is not $ENV_FILE"
[[ $exec_start == /usr/bin/gatehouse* ]] || die "unexpected ExecStart: $exec_start"
[[ -n $umask_value ]] || die "the unit sets no UMask"
# DynamicUser: an unused uid from systemd's dynamic range (61184-65519), with
# no passwd entry, no groups, no capabilities, no new privileges.
uid=""
for candidate in $(shuf -i 61184-65519 -n 50); do
  getent passwd "$candidate" >/dev/null || getent group "$candidate" >/dev/null || { uid=$candidate; break; }
done
[[ -n "$uid" ]] || die "no free uid in the dynamic range"
# StateDirectory= and WorkingDirectory=: a fresh directory, 0700, owned by it.
STATE=$(mktemp -d /tmp/gatehouse-deb-state.XXXXXX)
chown "$uid:$uid" "$STATE"
chmod 0700 "$STATE"
LOG=$(mktemp /tmp/gatehouse-deb-log.XXXXXX)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
SECRET=$(head -c 32 /dev/urandom | base64)
# systemd starts the service with a clean environment plus the EnvironmentFile
# (read by root); the test adds a master key and a free loopback port.
# shellcheck disable=SC2086 # ExecStart is split into words, as systemd does
env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
  bash -c '
    set -a; . "$1"; set +a
    export GATEHOUSE_ADDR="127.0.0.1:$2" GATEHOUSE_SECRET_KEY="$3"
    umask "$4"; cd "$5"; uid=$6; shift 6
    exec setpriv --reuid="$uid" --regid="$uid" --clear-groups --no-new-privs \
      --inh-caps=-all --bounding-set=-all "$@"
  ' _ "$ENV_FILE" "$PORT" "$SECRET" "$umask_value" "$STATE" "$uid" $exec_start \
  >"$LOG" 2>&1 </dev/null &
PID=$!
BASE="http://127.0.0.1:$PORT"
ready=""
for _ in $(seq 1 600); do
  if curl -fsS --max-time 2 "$BASE/readyz" >/dev/null 2>&1; then ready=1; break; fi
  kill -0 "$PID" 2>/dev/null || { cat "$LOG"; die "gatehouse exited before it was ready"; }
  sleep 0.1
done
[[ -n "$ready" ]] || { cat "$LOG"; die "/readyz did not answer 200 within 60 s"; }
say "$(curl -fsS --max-time 5 "$BASE/readyz") from $BASE/readyz, pid $PID as uid $uid"
[[ $(stat -c %u "/proc/$PID") == "$uid" ]] || die "the server does not run as uid $uid"
issuer=$(curl -fsS --max-time 5 "$BASE/.well-known/oauth-authorization-server/api/v1/oauth" | python3 -c 'import json,sys; print(json.load(sys.stdin)["issuer"])')
[[ $issuer == "$BASE/api/v1/oauth" ]] || die "issuer is $issuer"
grep -q '^{.*"message":"Gatehouse is listening"' "$LOG" || { cat "$LOG"; die "no JSON 'listening' line: the env file's GATEHOUSE_LOG_FORMAT=json was not applied"; }
grep -q 'Gatehouse created the first administrator' "$LOG" || { cat "$LOG"; die "no first-administrator notice on stdout"; }
[[ -f "$STATE/gatehouse.db" ]] || { ls -la "$STATE"; die "no gatehouse.db in the working directory"; }
for f in "$STATE"/*; do
  [[ $(stat -c '%a %u' "$f") == "600 $uid" ]] || { ls -lan "$STATE"; die "$(basename "$f") is $(stat -c '%a %u' "$f"), not 600 $uid"; }
done
say "$(cd "$STATE" && stat -c '%n %a uid=%u' -- * | paste -sd ',' | sed 's/,/, /g')"

echo "stop it with SIGTERM"
kill -TERM "$PID"
stop_started=$SECONDS
for _ in $(seq 1 450); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$PID" 2>/dev/null; then cat "$LOG"; die "gatehouse still running 45 s (TimeoutStopSec) after SIGTERM"; fi
status=0; wait "$PID" || status=$?
PID=""
[[ $status == 0 ]] || { cat "$LOG"; die "gatehouse exited $status on SIGTERM, not 0"; }
say "exited 0 after $((SECONDS - stop_started)) s"

echo "remove and purge the package"
timeout 120 dpkg -r gatehouse >/dev/null || die "dpkg -r failed"
[[ ! -e /usr/bin/gatehouse && ! -e $UNIT ]] || die "dpkg -r left the binary or the unit"
[[ -f $ENV_FILE ]] || die "dpkg -r removed the conffile (only purge should)"
timeout 120 dpkg --purge gatehouse >/dev/null || die "dpkg --purge failed"
INSTALLED=""
[[ ! -e $ENV_FILE && ! -e /etc/gatehouse ]] || die "dpkg --purge left /etc/gatehouse"
dpkg-query -W gatehouse >/dev/null 2>&1 && die "dpkg still knows gatehouse after purge"
say "removed (conffile kept), then purged (nothing left)"
echo "the gatehouse .deb builds, installs, serves /readyz as the unit would, stops cleanly and uninstalls"
