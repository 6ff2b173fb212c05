#!/usr/bin/env bash
# `make deb` and `make install` as a packager and an operator meet them
# (docs/install.md): the package's files, conffiles, control fields and
# maintainer scripts; the unit through `systemd-analyze verify`; the package
# unpacked into a throwaway root, its binary's --version, its configuration
# accepted by check-config; that binary serving under a bound NOTIFY_SOCKET
# sends READY=1 once /readyz answers and STOPPING=1 on SIGTERM (Type=notify),
# logs with journald priorities when its stderr is the journal, and the
# shipped cron line, run with no environment, reaches it; the copyright and
# changelog files; dpkg -i, reinstall, remove and
# purge with the real maintainer scripts in a throwaway overlay root
# (package_dpkg_root.sh); `make install` into a DESTDIR with PREFIX and an
# operator's config kept.
#   package_test.sh BUILD_DIR VERSION      (ctest; needs the pg fixture)
set -euo pipefail
build=$(cd "$1" && pwd)
version=$2
cd "$(dirname "$0")/../.."
work=$(mktemp -d /tmp/maxsess-package-XXXXXX)
daemon_pid=
db=
cleanup() {
  if [[ -n "$daemon_pid" ]]; then kill "$daemon_pid" 2>/dev/null; wait "$daemon_pid" 2>/dev/null || true; fi
  if [[ -n "$db" ]]; then psql "$admin_dsn" -XAtqc "drop database if exists $db" >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
note() { echo "package_test: $*"; }

# --- the package ------------------------------------------------------------
(cd "$build" && cpack -G DEB -B "$work/deb") >"$work/cpack.log" 2>&1 || { cat "$work/cpack.log"; fail "cpack failed"; }
arch=$(dpkg --print-architecture)
deb=$work/deb/maxsess_${version}-1_${arch}.deb
[[ -f "$deb" ]] || { ls -R "$work/deb" | head; fail "no $deb"; }
note "built $(basename "$deb") ($(du -k "$deb" | cut -f1) KiB)"

# Files: these, and nothing outside the package's places.
dpkg-deb -c "$deb" >"$work/listing"
awk '{print $6}' "$work/listing" | sed 's|^\.||' >"$work/files"
for f in /usr/bin/maxsessd /etc/maxsess/maxsess.yaml /etc/cron.d/maxsess \
         /lib/systemd/system/maxsessd.service /usr/share/doc/maxsess/install.md \
         /usr/share/doc/maxsess/config.md /usr/share/doc/maxsess/examples/example.yaml \
         /usr/share/doc/maxsess/copyright /usr/share/doc/maxsess/changelog.Debian.gz; do
  grep -qx "$f" "$work/files" || { cat "$work/files"; fail "$f is not in the package"; }
done
stray=
while read -r f; do
  case "$f" in
    /|/etc/|/etc/maxsess/|/etc/cron.d/|/lib/|/lib/systemd/|/lib/systemd/system/) ;;
    /usr/|/usr/bin/|/usr/share/|/usr/share/doc/|/usr/share/doc/maxsess/*) ;;
    /usr/bin/maxsessd|/etc/maxsess/maxsess.yaml|/etc/cron.d/maxsess|/lib/systemd/system/maxsessd.service) ;;
    *) stray+=" $f" ;;
  esac
done <"$work/files"
[[ -z "$stray" ]] || fail "unexpected files in the package: $stray"
grep -q -- '-rwxr-xr-x root/root .* ./usr/bin/maxsessd$' "$work/listing" || fail "maxsessd is not 0755 root:root"
# The secrets are made by postinst, never shipped (a package is public).
grep -E -q 'admin\.token|token_secret$' "$work/files" && fail "the package ships a secret file"

# Control fields.
field() { dpkg-deb -f "$deb" "$1"; }
[[ $(field Package) == maxsess ]] || fail "Package: $(field Package)"
[[ $(field Version) == "${version}-1" ]] || fail "Version: $(field Version), want ${version}-1"
[[ $(field Architecture) == "$arch" ]] || fail "Architecture: $(field Architecture)"
depends=$(field Depends)
for d in adduser libc6 libpq5 libstdc++6 libyaml-cpp; do
  [[ "$depends" == *"$d"* ]] || fail "Depends lacks $d (dpkg-shlibdeps?): $depends"
done
[[ -n $(field Maintainer) && -n $(field Description) ]] || fail "Maintainer/Description missing"

# Conffiles and maintainer scripts.
mkdir "$work/control"
dpkg-deb -e "$deb" "$work/control"
diff <(sort "$work/control/conffiles") <(printf '/etc/cron.d/maxsess\n/etc/maxsess/maxsess.yaml\n') ||
  fail "conffiles are not exactly the configuration and the cron file"
for s in postinst prerm postrm; do
  [[ -x "$work/control/$s" ]] || fail "$s is not executable"
  sh -n "$work/control/$s" || fail "$s: syntax error"
done
grep -q 'adduser --system' "$work/control/postinst" || fail "postinst creates no maxsess system user"
grep -q 'deb-systemd-helper enable' "$work/control/postinst" || fail "postinst does not enable the unit"
# (commands only: comments and the messages to the operator name them)
if grep -v -E '^[[:space:]]*(#|echo)' "$work/control/postinst" |
   grep -E -q 'systemctl .*(start|restart)|deb-systemd-invoke .*(start|restart)'; then
  fail "postinst starts the daemon before the operator configured it"
fi

# --- unpacked into a throwaway root ------------------------------------------
root=$work/root
dpkg-deb -x "$deb" "$root"

# Debian policy 12.5 / 12.7: a machine-readable copyright file, plain, and
# the changelog compressed with gzip -9n (no name, no time: reproducible).
doc=$root/usr/share/doc/maxsess
grep -qx 'Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/' "$doc/copyright" ||
  fail "copyright does not start with the DEP-5 Format line"
for field in Upstream-Name: Files: Copyright: License:; do
  grep -q "^$field" "$doc/copyright" || fail "copyright has no $field field"
done
# Every license named in a Files paragraph has its text somewhere.
for l in $(awk '/^Files:/{f=1} f && /^License:/{print $2; f=0}' "$doc/copyright" | sort -u); do
  awk -v l="$l" '$0 == "License: " l {getline; if ($0 ~ /^ /) found=1} END {exit !found}' "$doc/copyright" ||
    fail "copyright: license $l has no text"
done
grep -q -- '-rw-r--r-- root/root .* ./usr/share/doc/maxsess/copyright$' "$work/listing" || fail "copyright is not 0644 root:root"
gzip -t "$doc/changelog.Debian.gz" || fail "changelog.Debian.gz is not gzip"
python3 - "$doc/changelog.Debian.gz" <<'PY' || fail "changelog.Debian.gz: not gzip -9n"
import sys
h = open(sys.argv[1], "rb").read(10)
flags, mtime, xfl = h[3], int.from_bytes(h[4:8], "little"), h[8]
assert not flags & 0x08, "carries a file name"
assert mtime == 0, "carries a time stamp"
assert xfl == 2, "not maximum compression"
PY
head=$(zcat "$doc/changelog.Debian.gz" | head -1)
[[ "$head" == "maxsess (${version}-1) unstable; urgency=medium" ]] || fail "changelog's first line: $head"
if command -v dpkg-parsechangelog >/dev/null 2>&1; then
  zcat "$doc/changelog.Debian.gz" >"$work/changelog"
  [[ $(dpkg-parsechangelog -l "$work/changelog" -S Version) == "${version}-1" ]] ||
    fail "dpkg-parsechangelog does not read version ${version}-1"
fi
note "copyright (DEP-5) and changelog.Debian.gz (gzip -9n, version ${version}-1)"
"$root/usr/bin/maxsessd" --version >"$work/version" || fail "the installed maxsessd --version failed"
grep -q "$version" "$work/version" || { cat "$work/version"; fail "--version does not name $version"; }
note "installed binary: $(head -1 "$work/version")"

# The shipped configuration holds no secret: it names the files postinst
# creates (security.admin_token_file, security.token_secret_file, relative
# to its folder). Without them check-config names both; with them, in the
# shape postinst writes, it passes with no environment at all, as a cron
# line runs it.
conf=$root/etc/maxsess/maxsess.yaml
clean_env=(env -i PATH=/usr/bin:/bin)
rc=0; "${clean_env[@]}" "$root/usr/bin/maxsessd" check-config --config "$conf" >"$work/cc1" 2>&1 || rc=$?
[[ $rc == 1 ]] && grep -q admin_token_file "$work/cc1" && grep -q token_secret_file "$work/cc1" ||
  { cat "$work/cc1"; fail "check-config of the shipped file without the secret files: rc $rc, want 1 naming both"; }
hex() { od -An -N32 -tx1 /dev/urandom | tr -d ' \n'; }
(umask 077 && printf '# admin\n%s\n' "$(hex)" >"$root/etc/maxsess/admin.token" &&
  printf '# keys\nk1:%s\n' "$(hex)" >"$root/etc/maxsess/token_secret")
"${clean_env[@]}" "$root/usr/bin/maxsessd" check-config --config "$conf" >"$work/cc2" 2>&1 ||
  { cat "$work/cc2"; fail "check-config rejects the shipped configuration with the secret files"; }
grep -q 'host=/run/postgresql' "$conf" || fail "the shipped DSN is not the local unix socket"
! grep -q -E 'MAXSESS_ADMIN_TOKEN|/etc/default' "$root/etc/cron.d/maxsess" ||
  fail "the cron lines still load the token from the environment"

# The unit, pointed at the unpacked binary (systemd-analyze checks that
# ExecStart exists); any complaint fails, since verify exits 0 on some.
unit=$root/lib/systemd/system/maxsessd.service
grep -qx 'ExecStart=/usr/bin/maxsessd serve' "$unit" || fail "ExecStart is not /usr/bin/maxsessd serve"
for line in Type=notify User=maxsess 'ExecReload=/bin/kill -HUP $MAINPID' Restart=on-failure \
            ProtectSystem=strict NoNewPrivileges=yes 'CapabilityBoundingSet=' \
            'RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX'; do
  grep -qxF "$line" "$unit" || fail "the unit lacks $line"
done
if command -v systemd-analyze >/dev/null 2>&1; then
  sed "s|=/usr/bin/maxsessd|=$root/usr/bin/maxsessd|" "$unit" >"$work/maxsessd.service"
  out=$(systemd-analyze verify "$work/maxsessd.service" 2>&1) || fail "systemd-analyze verify: $out"
  [[ -z "$out" ]] || fail "systemd-analyze verify complains: $out"
  note "systemd-analyze verify: clean"
else
  note "SKIPPED systemd-analyze verify: systemd-analyze not installed (package systemd)"
fi

# --- Type=notify: the unpacked binary serving under a bound NOTIFY_SOCKET ----
admin_dsn=$(cat "${MAXSESS_TEST_PG_DIR:?needs the pg fixture}/dsn")
db=pkg_test_$$
psql "$admin_dsn" -XAtqc "create database $db" >/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# The operator's edit of the conffile: this database, this port. Nothing
# comes from the environment from here on (cron has none).
python3 - "$conf" "${admin_dsn/dbname=maxsess/dbname=$db}" "127.0.0.1:$port" <<'PY'
import json, re, sys
conf, dsn, listen = sys.argv[1:]
text = open(conf).read()
text, n1 = re.subn(r'(?m)^  dsn: .*$', '  dsn: ' + json.dumps(dsn), text)
text, n2 = re.subn(r'(?m)^  http_listen: .*$', '  http_listen: ' + listen, text)
assert n1 == 1 and n2 == 1, (n1, n2)
open(conf, "w").write(text)
PY
"${clean_env[@]}" "$root/usr/bin/maxsessd" migrate --config "$conf" >/dev/null || fail "migrate with the shipped configuration failed"
# python3 binds the socket (abstract, like systemd's may be), starts serve,
# and reports each datagram with whether /readyz answered when it came.
# serve's stderr is a file named by JOURNAL_STREAM, as systemd names the
# journal's stream: its lines must carry journald priorities.
"${clean_env[@]}" python3 - "$root/usr/bin/maxsessd" "$conf" "$port" "$work" >"$work/notify.log" 2>&1 <<'PY' || { cat "$work/notify.log"; fail "Type=notify protocol"; }
import os, signal, socket, subprocess, sys, time, urllib.request
binary, conf, port, work = sys.argv[1:]
name = "@maxsess-package-test-%d" % os.getpid()
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("\0" + name[1:])
s.settimeout(90)  # bound: serve is ready within seconds on an idle machine
log_path = os.path.join(work, "serve.log")
with open(log_path, "w") as log:
    st = os.fstat(log.fileno())
    env = dict(os.environ, NOTIFY_SOCKET=name, JOURNAL_STREAM="%d:%d" % (st.st_dev, st.st_ino))
    p = subprocess.Popen([binary, "serve", "--config", conf], env=env, stderr=log)
def readyz():
    try:
        return urllib.request.urlopen("http://127.0.0.1:%s/readyz" % port, timeout=5).status == 200
    except Exception:
        return False
try:
    msg = s.recv(4096).decode()
    print("got:", repr(msg), "readyz:", readyz())
    assert msg.split("\n")[0] == "READY=1", msg
    assert readyz(), "READY=1 before /readyz answers"
    # The shipped cron lines, uncommented, with this root's paths, run with
    # no environment (as cron does): the configuration names the admin
    # token's file, so they need nothing else.
    cron_file = os.path.join(os.path.dirname(os.path.dirname(binary)), "..", "etc/cron.d/maxsess")
    for job in ("playback-session:sync", "playback-session:kill"):
        line = next(l for l in open(cron_file) if job in l)
        command = line.lstrip("#").split(None, 6)[6].strip()
        command = (command.replace("/usr/bin/maxsessd", binary).replace("/etc/maxsess/maxsess.yaml", conf)
                   .replace(">/dev/null", ""))
        cron = subprocess.run(["/bin/sh", "-c", command], env={"PATH": "/usr/bin:/bin"},
                              capture_output=True, text=True, timeout=60)
        print("cron line:", command, "rc:", cron.returncode, cron.stdout.strip(), cron.stderr.strip())
        assert cron.returncode == 0, "the cron line failed"
    p.send_signal(signal.SIGTERM)
    msg = s.recv(4096).decode()
    print("got:", repr(msg))
    assert msg.split("\n")[0] == "STOPPING=1", msg
    rc = p.wait(timeout=60)
    assert rc == 0, "serve exited %d after SIGTERM" % rc
    # journald: "<6>info  main: ..." -- a priority, no timestamp of ours.
    lines = [l for l in open(log_path).read().splitlines() if l]
    assert lines, "serve logged nothing"
    bad = [l for l in lines if not (l[:3] in ("<3>", "<4>", "<6>", "<7>") and l[3:8].strip() in ("error", "warn", "info", "debug"))]
    assert not bad, "lines without a journald priority: %r" % bad[:3]
    assert any(l.startswith("<6>info  ") for l in lines), lines[:3]
    print("journal lines:", len(lines), "first:", lines[0][:60])
finally:
    if p.poll() is None:
        p.kill()
        print(open(log_path).read())
PY
note "Type=notify: $(tr '\n' ' ' <"$work/notify.log")"

# --- dpkg -i / remove / purge with the real maintainer scripts --------------
# Needs root and a private mount namespace with overlayfs (a container may
# forbid them); nothing is installed on this machine itself.
if [[ $(id -u) == 0 ]] && unshare -m --propagation private true 2>/dev/null; then
  unshare -m --propagation private tests/scripts/package_dpkg_root.sh "$deb" "$work" >"$work/dpkg-root.log" 2>&1 ||
    { cat "$work/dpkg-root.log"; fail "the package in a throwaway root"; }
  note "$(tail -1 "$work/dpkg-root.log")"
else
  note "SKIPPED dpkg -i in a throwaway root: needs root and unshare -m (mount namespaces)"
fi

# --- make install: PREFIX and DESTDIR, an operator's files kept --------------
stage=$work/stage
DESTDIR=$stage cmake --install "$build" --prefix /opt/maxsess >/dev/null || fail "cmake --install failed"
for f in /opt/maxsess/bin/maxsessd /etc/maxsess/maxsess.yaml /etc/cron.d/maxsess \
         /opt/maxsess/lib/systemd/system/maxsessd.service /opt/maxsess/share/doc/maxsess/install.md; do
  [[ -f "$stage$f" ]] || fail "make install: no $f"
done
grep -qx 'ExecStart=/opt/maxsess/bin/maxsessd serve' "$stage/opt/maxsess/lib/systemd/system/maxsessd.service" ||
  fail "make install: the unit does not start /opt/maxsess/bin/maxsessd"
echo "# the operator's edit" >>"$stage/etc/maxsess/maxsess.yaml"
DESTDIR=$stage cmake --install "$build" --prefix /opt/maxsess >/dev/null || fail "second cmake --install failed"
grep -q "the operator's edit" "$stage/etc/maxsess/maxsess.yaml" || fail "make install overwrote /etc/maxsess/maxsess.yaml"
note "make install: PREFIX and DESTDIR honoured, existing configuration kept"
echo "PASS"
