#!/usr/bin/env bash
# The package's maintainer scripts for real, in a throwaway root: this
# machine's / under an overlay whose writes go to a tmpfs, in a private
# mount namespace (nothing reaches the real system; it all vanishes when
# the namespace ends). dpkg -i, a reinstall, remove and purge run in a
# chroot of it, as an operator would run them (package_test.sh).
#   unshare -m --propagation private package_dpkg_root.sh DEB WORKDIR
set -euo pipefail
deb=$1
work=$2
fail() { echo "FAIL (dpkg root): $*" >&2; exit 1; }
mkdir -p "$work/ovl"
mount -t tmpfs maxsess-ovl "$work/ovl"
mkdir "$work/ovl/upper" "$work/ovl/work" "$work/ovl/root"
root=$work/ovl/root
mount -t overlay overlay -o "lowerdir=/,upperdir=$work/ovl/upper,workdir=$work/ovl/work" "$root"
mount --rbind /proc "$root/proc"
mount --rbind /dev "$root/dev"
# An empty /run: no systemd runs here, so the scripts only enable/disable.
mount -t tmpfs run "$root/run"
mount -t tmpfs tmp "$root/tmp"
cp "$deb" "$root/tmp/maxsess.deb"
in_root() { chroot "$root" "$@"; }

# Install: the user, the secret files, the unit enabled, nothing started.
in_root dpkg -i /tmp/maxsess.deb >"$work/dpkg-i.log" 2>&1 || { cat "$work/dpkg-i.log"; fail "dpkg -i failed"; }
grep -q "enabled but not started" "$work/dpkg-i.log" || { cat "$work/dpkg-i.log"; fail "postinst did not tell the operator what to do next"; }
uid=$(in_root id -u maxsess) || fail "no maxsess user"
(( uid < 1000 )) || fail "maxsess is not a system user (uid $uid)"
[[ $(in_root getent passwd maxsess | cut -d: -f7) == */nologin ]] || fail "maxsess has a login shell"
secret_files="/etc/maxsess/admin.token /etc/maxsess/token_secret"
for f in $secret_files; do
  [[ $(in_root stat -c '%a %U %G' "$f") == "640 root maxsess" ]] ||
    fail "$f is $(in_root stat -c '%a %U %G' "$f" 2>&1), not 640 root maxsess"
  [[ $(grep -v '^#' "$root$f" | grep -c .) == 1 ]] || fail "$f does not hold one generated value"
done
[[ ! -e "$root/etc/default/maxsess" ]] || fail "postinst still writes /etc/default/maxsess"
[[ -L "$root/etc/systemd/system/multi-user.target.wants/maxsessd.service" ]] || fail "the unit is not enabled"
# The generated secrets are valid and found through the configuration
# alone: check-config passes as maxsess and as root with no environment,
# and a job command (as cron runs it) gets as far as calling the daemon
# (none runs here: exit 3, not 2 for a configuration problem). Another
# user cannot read the secrets.
for user in maxsess root; do
  in_root runuser -u $user -- env -i PATH=/usr/bin:/bin maxsessd check-config >"$work/cc-root.log" 2>&1 ||
    { cat "$work/cc-root.log"; fail "check-config as $user with no environment failed"; }
  rc=0
  in_root runuser -u $user -- env -i PATH=/usr/bin:/bin MAXSESS_HTTP_LISTEN=127.0.0.1:1 \
    maxsessd playback-session:sync >"$work/job-root.log" 2>&1 || rc=$?
  [[ $rc == 3 ]] || { cat "$work/job-root.log"; fail "playback-session:sync as $user: exit $rc, want 3 (no daemon)"; }
done
rc=0; in_root runuser -u nobody -- env -i PATH=/usr/bin:/bin maxsessd check-config >"$work/cc-nobody.log" 2>&1 || rc=$?
[[ $rc == 1 ]] && grep -q 'cannot read' "$work/cc-nobody.log" ||
  { cat "$work/cc-nobody.log"; fail "user nobody read the secret files (check-config rc $rc)"; }
secrets=$(cat "$root/etc/maxsess/admin.token" "$root/etc/maxsess/token_secret" | md5sum)

# Reinstall (an upgrade's path through postinst): the operator's edit of the
# conffile and the secrets stay; the unit stays enabled.
echo "# the operator's edit" >>"$root/etc/maxsess/maxsess.yaml"
in_root dpkg -i /tmp/maxsess.deb >"$work/dpkg-i2.log" 2>&1 || { cat "$work/dpkg-i2.log"; fail "reinstall failed"; }
grep -q "the operator's edit" "$root/etc/maxsess/maxsess.yaml" || fail "reinstall replaced the edited configuration"
[[ $(cat "$root/etc/maxsess/admin.token" "$root/etc/maxsess/token_secret" | md5sum) == "$secrets" ]] ||
  fail "reinstall changed the secret files"
[[ -L "$root/etc/systemd/system/multi-user.target.wants/maxsessd.service" ]] || fail "reinstall disabled the unit"

# Remove keeps the configuration; purge removes it and the secrets.
in_root dpkg -r maxsess >"$work/dpkg-r.log" 2>&1 || { cat "$work/dpkg-r.log"; fail "dpkg -r failed"; }
[[ ! -e "$root/usr/bin/maxsessd" ]] || fail "remove left /usr/bin/maxsessd"
[[ -f "$root/etc/maxsess/maxsess.yaml" && -f "$root/etc/maxsess/admin.token" ]] || fail "remove deleted the configuration"
in_root dpkg --purge maxsess >"$work/dpkg-p.log" 2>&1 || { cat "$work/dpkg-p.log"; fail "dpkg --purge failed"; }
for f in /etc/maxsess /etc/cron.d/maxsess /etc/systemd/system/multi-user.target.wants/maxsessd.service; do
  [[ ! -e "$root$f" && ! -L "$root$f" ]] || fail "purge left $f"
done
for f in $secret_files; do
  ! in_root dpkg-statoverride --list "$f" >/dev/null || fail "purge left the statoverride of $f"
done
echo "dpkg -i, reinstall, remove, purge in a throwaway root: OK (maxsess uid $uid)"
