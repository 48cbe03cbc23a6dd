#!/usr/bin/env bash
# The Debian package, for real, on this machine (root; called by .ci/run, or by hand):
# build it (or take the .deb given as $1), check its contents, `dpkg -i`, verify the unit, run the
# INSTALLED binary as the phone-proxy user on the installed policy, ask it `show version` (as root
# and as the phone-proxy group, through /run/phone-proxy), reload it live with `phone-proxy reload`
# and SIGHUP (same process, a live key applied, a restart-only key named, a bad policy refused),
# stop it, `dpkg -r` (conffile, state and user stay, program goes), `dpkg --purge` (nothing left). Refuses to run where phone-proxy is already installed, or its user, directories
# or default ports are in use; on any failure it stops what it started and purges the package,
# so the machine is left as it was. Every wait is bounded.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"

UNIT=/lib/systemd/system/phone-proxy.service
STATE=/var/lib/phone-proxy
POLICY=/etc/phone-proxy/policy.yaml
VERSION=$(node -p "require('./package.json').version")
T0=$(date +%s)
say() { printf '[deb %3ss] %s\n' "$(($(date +%s) - T0))" "$*"; }
die() { printf '[deb] FAIL: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root: this installs and purges the package"

# ---- the machine must not already have any of it ---------------------------------------
if dpkg-query -W -f='${Status}' phone-proxy 2>/dev/null | grep -qv 'not-installed'; then
  die "phone-proxy is already known to dpkg ($(dpkg-query -W -f='${Status}' phone-proxy)); not touching it"
fi
getent passwd phone-proxy >/dev/null && die "user phone-proxy already exists"
getent group phone-proxy >/dev/null && die "group phone-proxy already exists"
for p in /usr/lib/phone-proxy /usr/bin/phone-proxy /etc/phone-proxy "$STATE" /run/phone-proxy; do
  [ ! -e "$p" ] || die "$p already exists"
done
# The installed default policy's listeners: TFTP 10069/udp, SIP-TLS 15061, SCCP-TLS 12443,
# metrics 19464 (tcp), media 20000-29999/udp on 127.0.1.10 and 127.0.2.10.
# Those addresses, or a wildcard bind of those ports (other loopback addresses do not collide).
busy=$(ss -Hlntu | awk '{print $5}' |
  grep -E '^((127\.0\.1\.1|0\.0\.0\.0|\*|\[::\]):(10069|15061|12443)|(127\.0\.0\.1|0\.0\.0\.0|\*|\[::\]):19464)$' || true)
[ -z "$busy" ] || die "the default policy's ports are in use: $busy"

DAEMON_PID=
INSTALLED=
RUNTIME=/run/phone-proxy
MADE_RUNTIME=
cleanup() {
  local rc=$?
  if [ -n "$DAEMON_PID" ] && kill -0 "$DAEMON_PID" 2>/dev/null; then
    kill -TERM "$DAEMON_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$DAEMON_PID" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$DAEMON_PID" 2>/dev/null || true
  fi
  [ -z "$MADE_RUNTIME" ] || rm -rf "$RUNTIME"
  if [ -n "$INSTALLED" ] && dpkg-query -W -f='${Status}' phone-proxy 2>/dev/null | grep -qv 'not-installed'; then
    echo "[deb] cleaning up: dpkg --purge phone-proxy" >&2
    dpkg --purge phone-proxy >/dev/null 2>&1 || true
  fi
  [ -z "${WORK:-}" ] || rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
WORK=$(mktemp -d "${TMPDIR:-/tmp}/phone-proxy-deb-check.XXXXXX")
chmod 0755 "$WORK"

# ---- build and inspect ----------------------------------------------------------------
if [ $# -ge 1 ]; then
  DEB="$1"
else
  say "npm run package:deb"
  npm run --silent package:deb -- --out "$WORK"
  DEB="$WORK/phone-proxy_${VERSION}_$(dpkg --print-architecture).deb"
fi
[ -f "$DEB" ] || die "no package at $DEB"

dpkg-deb --field "$DEB" Package Version Architecture Depends
[ "$(dpkg-deb --field "$DEB" Version)" = "$VERSION" ] || die "package version is not package.json's $VERSION"
dpkg-deb --contents "$DEB" >"$WORK/contents"
# Column 6 on is the path (names may hold spaces), then " -> target" for a link.
sed -E 's/^([^ ]+ +){5}//; s/ -> .*$//; s#^\./#/#' "$WORK/contents" >"$WORK/paths"
# Owned by root: --root-owner-group.
awk '$2 != "root/root" {print}' "$WORK/contents" | sed -n 1,5p | grep . && die "files not owned by root/root"
# The project's test, bench, lab, docs and development files, and dev dependencies, must not be
# in it (the dependencies' own files are shipped as npm installs them).
grep -E '^/usr/lib/phone-proxy/(test|bench|lab|docs|src|ctl|dist-dev|policies|scripts|packaging|\.ci)(/|$)|^/usr/lib/phone-proxy/dist/(test|bench|lab)/|^/usr/lib/phone-proxy/dist/.*\.(map|ts)$|^/usr/lib/phone-proxy/node_modules/(jest|typescript|ts-jest|@biomejs|werift-rtp|@types)/' \
  "$WORK/paths" | sed -n 1,5p | grep . && die "development files in the package (above)"
for f in /usr/bin/phone-proxy /usr/lib/phone-proxy/package.json /usr/lib/phone-proxy/dist/src/cli.js \
  /usr/lib/phone-proxy/dist/src/media/worker.js /usr/lib/phone-proxy/dist/src/media/native/udp-batch.node \
  /usr/lib/phone-proxy/dist/ctl/index.js \
  /usr/lib/phone-proxy/dist/wasm/srtp.js /usr/lib/phone-proxy/wasm/srtp.wasm /usr/lib/phone-proxy/wasm/srtp.wasm.json \
  /usr/lib/phone-proxy/node_modules/pino/package.json "$POLICY" "$UNIT" /usr/share/doc/phone-proxy/copyright /usr/share/doc/phone-proxy/changelog.gz \
  /usr/share/bash-completion/completions/phone-proxy; do
  grep -qxF "$f" "$WORK/paths" || die "$f is not in the package"
done
dpkg-deb --ctrl-tarfile "$DEB" | tar -xO ./conffiles | grep -qxF "$POLICY" || die "$POLICY is not a conffile"
say "package $(basename "$DEB"): $(stat -c %s "$DEB") bytes, $(grep -c '^-' "$WORK/contents") files + $(grep -c '^l' "$WORK/contents") links + $(grep -c '^d' "$WORK/contents") directories, installed size $(dpkg-deb --field "$DEB" Installed-Size) KiB; no test/bench/lab/docs/dev files"

# ---- install -----------------------------------------------------------------------------
INSTALLED=yes
say "dpkg -i"
dpkg -i "$DEB" >"$WORK/dpkg-i.log" 2>&1 || { cat "$WORK/dpkg-i.log" >&2; die "dpkg -i failed"; }
[ "$(dpkg-query -W -f='${Status}' phone-proxy)" = "install ok installed" ] || die "not installed"
getent passwd phone-proxy | grep -q ":$STATE:/usr/sbin/nologin$" || die "user: $(getent passwd phone-proxy)"
[ "$(stat -c '%U:%G %a' "$STATE")" = "phone-proxy:phone-proxy 700" ] || die "$STATE is $(stat -c '%U:%G %a' "$STATE")"
[ "$(stat -c '%U %a' "$POLICY")" = "root 644" ] || die "$POLICY is $(stat -c '%U %a' "$POLICY")"
diff <(grep -v '^#' "$POLICY") <(grep -v '^#' policies/default.yaml) >/dev/null || die "$POLICY is not the default policy"
dpkg --verify phone-proxy || die "dpkg --verify: installed files differ from the package"
say "systemd-analyze verify $UNIT"
systemd-analyze verify "$UNIT" >"$WORK/verify.log" 2>&1 || { cat "$WORK/verify.log" >&2; die "systemd-analyze verify failed"; }
[ ! -s "$WORK/verify.log" ] || { cat "$WORK/verify.log" >&2; die "systemd-analyze verify printed warnings"; }
for want in 'User=phone-proxy' 'NoNewPrivileges=yes' 'ProtectSystem=strict' 'ProtectHome=yes' 'PrivateTmp=yes' \
  'ReadWritePaths=/var/lib/phone-proxy' 'RuntimeDirectory=phone-proxy' 'RuntimeDirectoryMode=0750' \
  'AmbientCapabilities=CAP_NET_BIND_SERVICE' \
  'CapabilityBoundingSet=CAP_NET_BIND_SERVICE' 'ExecReload=/bin/kill -HUP $MAINPID' 'Restart=on-failure'; do
  grep -qxF "$want" "$UNIT" || die "$UNIT lacks $want"
done
grep -qE '^LimitNOFILE=[0-9]+$' "$UNIT" || die "$UNIT lacks LimitNOFILE"
# Bash completion: the installed CLI's own script, loaded by bash-completion on demand.
COMPLETION=/usr/share/bash-completion/completions/phone-proxy
cmp -s "$COMPLETION" <(phone-proxy completion bash) || die "$COMPLETION is not what phone-proxy completion bash prints"
bash -c "source '$COMPLETION' && complete -p phone-proxy" | grep -q -- '-F _phone_proxy' ||
  die "$COMPLETION does not register a completion for phone-proxy"

# ---- run the installed binary ----------------------------------------------------------
# With systemd running, postinst started the unit: that is what is checked (hardening included).
# Without it (a container), the unit's ExecStart= runs as its User= from its WorkingDirectory=.
if [ -d /run/systemd/system ]; then
  MODE=systemd
  systemctl is-enabled --quiet phone-proxy.service || die "postinst did not enable phone-proxy.service"
  say "systemd: postinst started phone-proxy.service"
  alive() { case "$(systemctl show -p ActiveState --value phone-proxy.service)" in active | activating | reloading) ;; *) false ;; esac; }
  daemon_log() { journalctl -u phone-proxy.service --since "@$T0" --no-pager -o cat 2>/dev/null || true; }
else
  MODE=runuser
  EXEC=$(sed -n 's/^ExecStart=//p' "$UNIT")
  [[ "$EXEC" == /usr/bin/phone-proxy\ start\ * ]] || die "unexpected ExecStart=$EXEC"
  [ "$(sed -n 's/^User=//p' "$UNIT")" = phone-proxy ] || die "unexpected User="
  say "no systemd: as phone-proxy, $EXEC"
  # What RuntimeDirectory= does before ExecStart= (and undoes after the stop).
  [ "$(sed -n 's/^RuntimeDirectoryMode=//p' "$UNIT")" = 0750 ] || die "unexpected RuntimeDirectoryMode="
  install -d -o phone-proxy -g phone-proxy -m 0750 "$RUNTIME"
  MADE_RUNTIME=yes
  # shellcheck disable=SC2086 # the unit's command line, split as systemd splits it (no quotes in it)
  (cd "$STATE" && exec runuser -u phone-proxy -- $EXEC) >"$WORK/daemon.log" 2>&1 &
  DAEMON_PID=$!
  alive() { kill -0 "$DAEMON_PID" 2>/dev/null; }
  daemon_log() { cat "$WORK/daemon.log"; }
fi
field() { phone-proxy show version --json 2>/dev/null | node -p "JSON.parse(require('fs').readFileSync(0)).$1" 2>/dev/null; }

answered=
for _ in $(seq 60); do # 30 s at most
  if out=$(phone-proxy show version --state "$STATE" 2>/dev/null); then answered=yes; break; fi
  alive || { daemon_log | tail -20 >&2; die "the daemon exited"; }
  sleep 0.5
done
[ -n "$answered" ] || { daemon_log | tail -20 >&2; die "no answer to show version within 30 s"; }
echo "$out" | sed 's/^/    /'
echo "$out" | grep -qF "phone-proxy version $VERSION (" || die "show version does not name version $VERSION"
echo "$out" | grep -qxF "policy $POLICY" || die "show version does not name the installed policy"
# The wrapper's defaults: no --state needed once installed.
phone-proxy show version | grep -qxF "state directory $STATE" || die "phone-proxy without --state does not find $STATE"
NODE_PID=$(field pid)
[ "$(stat -c %U "/proc/$NODE_PID")" = phone-proxy ] || die "the daemon runs as $(stat -c %U "/proc/$NODE_PID")"
if [ "$MODE" = systemd ]; then
  [ "$(systemctl show -p MainPID --value phone-proxy.service)" = "$NODE_PID" ] || die "MainPID is not the node process"
fi
# Keys: the daemon's user's, private. The control socket: in the runtime directory (0750), for
# the phone-proxy group too; nothing of it in the state directory.
keys=$(grep -rl 'PRIVATE KEY' "$STATE" | sort)
[ "$(echo "$keys" | wc -l)" -ge 5 ] || die "expected at least 5 private keys in $STATE, found: $keys"
for k in $keys; do
  [ "$(stat -c '%U %a' "$k")" = "phone-proxy 600" ] || die "$k is $(stat -c '%U %a' "$k")"
done
[ "$(stat -c '%a' "$STATE")" = 700 ] || die "$STATE is no longer 0700"
[ -S "$RUNTIME/control.sock" ] || die "no control socket $RUNTIME/control.sock"
[ "$(stat -c '%U:%G %a' "$RUNTIME")" = "phone-proxy:phone-proxy 750" ] || die "$RUNTIME is $(stat -c '%U:%G %a' "$RUNTIME")"
[ "$(stat -c '%U:%G %a' "$RUNTIME/control.sock")" = "phone-proxy:phone-proxy 660" ] ||
  die "$RUNTIME/control.sock is $(stat -c '%U:%G %a' "$RUNTIME/control.sock")"
[ ! -e "$STATE/control.sock" ] && [ ! -e "$STATE/control.json" ] || die "control socket or endpoint in $STATE"
! daemon_log | grep -q 'PRIVATE KEY' || die "a private key reached the log"
# The installed addon loads in the installed daemon's workers (no %PPX-4-160020 dgram fallback).
! daemon_log | grep -q '160020' || { daemon_log | grep '160020' >&2; die "the media workers fell back to node:dgram"; }
# The phone-proxy group may manage it (no flags: the wrapper's default); others may not.
getent passwd nobody >/dev/null || die "no user nobody to check group access with"
runuser -u nobody -g phone-proxy -- phone-proxy show version | grep -qF "pid $NODE_PID" ||
  die "the phone-proxy group cannot run phone-proxy show version"
! runuser -u nobody -- phone-proxy show version >/dev/null 2>&1 || die "a user outside the phone-proxy group reached the control socket"
say "control socket $RUNTIME/control.sock (0660, dir 0750): root and the phone-proxy group, no one else"

# Reload (`phone-proxy reload`, and SIGHUP = ExecReload=): the same process, not restarted; a live
# key applied, a restart-only key named and left at its running value, a bad policy refused.
started=$(field started)
pfield() { phone-proxy show running-policy --json | node -p "JSON.parse(require('fs').readFileSync(0)).$1"; }
cp -p "$POLICY" "$WORK/policy.orig"
sed -i -e 's/^  # max-connections-per-source: 50 .*/  max-connections-per-source: 40/' \
  -e 's/^  rtp-min-port: 20000$/  rtp-min-port: 20002/' "$POLICY"
out=$(phone-proxy reload) || die "phone-proxy reload failed: $out"
echo "$out" | sed 's/^/    /'
echo "$out" | grep -qxF "applied live: tls-proxy.max-connections-per-source" || die "reload did not apply the live key"
echo "$out" | grep -qxF "needs a restart (still running the old values): media-termination.rtp-min-port" ||
  die "reload did not name the restart-only key"
[ "$(pfield "policy['tls-proxy']['max-connections-per-source']")" = 40 ] || die "the live key is not in effect"
[ "$(pfield "policy['media-termination']['rtp-min-port']")" = 20000 ] || die "the restart-only key was applied"
[ "$(pfield "pendingRestart.join()")" = media-termination.rtp-min-port ] || die "the pending key is not listed"
sed -i 's/^  # message-timeout: 5 .*/  message-timeout: 7/' "$POLICY"
if [ "$MODE" = systemd ]; then systemctl reload phone-proxy.service; else kill -HUP "$NODE_PID"; fi
reloaded=
for _ in $(seq 40); do # 20 s at most
  if [ "$(pfield "policy['tls-proxy']['message-timeout']" 2>/dev/null)" = 7 ]; then reloaded=yes; break; fi
  sleep 0.5
done
[ -n "$reloaded" ] || { daemon_log | tail -5 >&2; die "SIGHUP did not reload"; }
daemon_log | grep -qF 'SIGHUP: reloaded' || die "SIGHUP left no line in the log"
echo 'no-such-key: 1' >>"$POLICY"
if bad=$(phone-proxy reload 2>&1); then die "a bad policy was reloaded: $bad"; fi
echo "$bad" | grep -qF 'unknown key "no-such-key"' || die "the refusal does not say why: $bad"
cp -p "$WORK/policy.orig" "$POLICY"
[ "$(field pid)" = "$NODE_PID" ] && [ "$(field started)" = "$started" ] || die "reload restarted or replaced the process"
[ "$(pfield "policy['tls-proxy']['message-timeout']")" = 7 ] || die "the refused reload changed the running policy"
say "reloaded live (phone-proxy reload, SIGHUP) in the same process $NODE_PID; a bad policy refused"

if [ "$MODE" = systemd ]; then
  timeout 30 systemctl stop phone-proxy.service || die "systemctl stop failed"
  [ "$(systemctl show -p Result --value phone-proxy.service)" = success ] ||
    die "stop result: $(systemctl show -p Result --value phone-proxy.service)"
  [ "$(systemctl show -p ExecMainStatus --value phone-proxy.service)" = 0 ] || die "exit status not 0"
else
  kill -TERM "$NODE_PID"
  rc=
  for _ in $(seq 75); do # 15 s at most
    if ! alive; then wait "$DAEMON_PID" && rc=0 || rc=$?; break; fi
    sleep 0.2
  done
  [ -n "$rc" ] || die "the daemon did not stop within 15 s of SIGTERM"
  [ "$rc" = 0 ] || { daemon_log | tail -5 >&2; die "the daemon exited $rc on SIGTERM"; }
  DAEMON_PID=
fi
[ ! -e "$RUNTIME/control.sock" ] || die "control socket left behind after a clean stop"
if [ -n "$MADE_RUNTIME" ]; then rm -rf "$RUNTIME"; MADE_RUNTIME=; fi
say "stopped cleanly (exit 0)"

# ---- upgrade: a newer version over this one keeps the edited policy, the keys, the user ----
# The same package rebuilt as version $VERSION+ci1 (gzip: fast) stands in for a newer one.
say "upgrade to $VERSION+ci1"
mkdir "$WORK/up"
dpkg-deb -R "$DEB" "$WORK/up/tree"
sed -i "s/^Version: .*/Version: $VERSION+ci1/" "$WORK/up/tree/DEBIAN/control"
dpkg-deb --root-owner-group -Zgzip --build "$WORK/up/tree" "$WORK/up/new.deb" >/dev/null
echo "# edited by ci-check" >>"$POLICY"
uid=$(id -u phone-proxy)
dpkg -i "$WORK/up/new.deb" >"$WORK/dpkg-up.log" 2>&1 || { cat "$WORK/dpkg-up.log" >&2; die "upgrade failed"; }
[ "$(dpkg-query -W -f='${Version} ${Status}' phone-proxy)" = "$VERSION+ci1 install ok installed" ] || die "not upgraded"
tail -1 "$POLICY" | grep -qxF "# edited by ci-check" || die "the upgrade replaced the edited conffile"
[ "$(grep -rl 'PRIVATE KEY' "$STATE" | sort)" = "$keys" ] || die "the upgrade touched the keys"
[ "$(id -u phone-proxy)" = "$uid" ] || die "the upgrade changed the user"
[ "$(stat -c '%U:%G %a' "$STATE")" = "phone-proxy:phone-proxy 700" ] || die "$STATE after upgrade: $(stat -c '%U:%G %a' "$STATE")"
if [ "$MODE" = systemd ]; then
  for _ in $(seq 60); do phone-proxy show version >/dev/null 2>&1 && break; sleep 0.5; done
  phone-proxy show version >/dev/null || die "the upgraded service does not answer"
  timeout 30 systemctl stop phone-proxy.service || die "systemctl stop failed"
fi

# ---- remove: program gone, conffile + state + user kept ---------------------------------
say "dpkg -r phone-proxy"
dpkg -r phone-proxy >/dev/null
[ "$(dpkg-query -W -f='${Status}' phone-proxy)" = "deinstall ok config-files" ] || die "status after remove"
for gone in /usr/bin/phone-proxy /usr/lib/phone-proxy "$UNIT"; do [ ! -e "$gone" ] || die "$gone left after remove"; done
! command -v phone-proxy >/dev/null || die "phone-proxy still on PATH after remove"
[ -f "$POLICY" ] || die "remove deleted the conffile $POLICY"
[ "$(grep -rl 'PRIVATE KEY' "$STATE" | sort)" = "$keys" ] || die "remove touched the keys in $STATE"
getent passwd phone-proxy >/dev/null || die "remove deleted the phone-proxy user"

# ---- purge: nothing left ----------------------------------------------------------------
say "dpkg --purge phone-proxy"
dpkg --purge phone-proxy >/dev/null
INSTALLED=
dpkg-query -W -f='${Status}' phone-proxy 2>/dev/null | grep -qv 'not-installed' && die "dpkg still knows phone-proxy"
for gone in /etc/phone-proxy "$STATE" /run/phone-proxy /usr/lib/phone-proxy /usr/bin/phone-proxy \
  /usr/share/doc/phone-proxy /etc/systemd/system/phone-proxy.service \
  /etc/systemd/system/multi-user.target.wants/phone-proxy.service \
  /var/lib/systemd/deb-systemd-helper-enabled/phone-proxy.service \
  /var/lib/systemd/deb-systemd-helper-enabled/multi-user.target.wants/phone-proxy.service \
  /var/lib/systemd/deb-systemd-helper-masked/phone-proxy.service; do
  [ ! -e "$gone" ] && [ ! -L "$gone" ] || die "$gone left after purge"
done
! getent passwd phone-proxy >/dev/null || die "user phone-proxy left after purge"
! getent group phone-proxy >/dev/null || die "group phone-proxy left after purge"
say "purged: no user, no /etc/phone-proxy, /var/lib/phone-proxy, /usr/lib/phone-proxy; OK"
