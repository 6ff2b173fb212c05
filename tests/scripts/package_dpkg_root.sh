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

# Install: the user, the secrets, the unit enabled, nothing started.
in_root dpkg -i /tmp/maxsess.deb >"$work/dpkg-i.log" 2>&1 || { cat "$work/dpkg-i.log"; fail "dpkg -i failed"; }
grep -q "enabled but not started" "$work/dpkg-i.log" || { cat "$work/dpkg-i.log"; fail "postinst did not tell the operator what to do next"; }
uid=$(in_root id -u maxsess) || fail "no maxsess user"
(( uid < 1000 )) || fail "maxsess is not a system user (uid $uid)"
[[ $(in_root getent passwd maxsess | cut -d: -f7) == */nologin ]] || fail "maxsess has a login shell"
[[ $(in_root stat -c '%a %U %G' /etc/default/maxsess) == "640 root maxsess" ]] ||
  fail "/etc/default/maxsess is $(in_root stat -c '%a %U %G' /etc/default/maxsess), not 640 root maxsess"
[[ -L "$root/etc/systemd/system/multi-user.target.wants/maxsessd.service" ]] || fail "the unit is not enabled"
# The generated secrets are valid and the maxsess user can read them: the
# shipped configuration checks clean as the unit and the cron lines load it.
in_root runuser -u maxsess -- sh -c 'set -a; . /etc/default/maxsess; exec maxsessd check-config' \
  >"$work/cc-root.log" 2>&1 || { cat "$work/cc-root.log"; fail "check-config as maxsess with /etc/default/maxsess failed"; }
secrets=$(md5sum <"$root/etc/default/maxsess")

# Reinstall (an upgrade's path through postinst): the operator's edit of the
# conffile and the secrets stay; the unit stays enabled.
echo "# the operator's edit" >>"$root/etc/maxsess/maxsess.yaml"
in_root dpkg -i /tmp/maxsess.deb >"$work/dpkg-i2.log" 2>&1 || { cat "$work/dpkg-i2.log"; fail "reinstall failed"; }
grep -q "the operator's edit" "$root/etc/maxsess/maxsess.yaml" || fail "reinstall replaced the edited configuration"
[[ $(md5sum <"$root/etc/default/maxsess") == "$secrets" ]] || fail "reinstall changed /etc/default/maxsess"
[[ -L "$root/etc/systemd/system/multi-user.target.wants/maxsessd.service" ]] || fail "reinstall disabled the unit"

# Remove keeps the configuration; purge removes it and the secrets.
in_root dpkg -r maxsess >"$work/dpkg-r.log" 2>&1 || { cat "$work/dpkg-r.log"; fail "dpkg -r failed"; }
[[ ! -e "$root/usr/bin/maxsessd" ]] || fail "remove left /usr/bin/maxsessd"
[[ -f "$root/etc/maxsess/maxsess.yaml" && -f "$root/etc/default/maxsess" ]] || fail "remove deleted the configuration"
in_root dpkg --purge maxsess >"$work/dpkg-p.log" 2>&1 || { cat "$work/dpkg-p.log"; fail "dpkg --purge failed"; }
for f in /etc/maxsess /etc/default/maxsess /etc/cron.d/maxsess /etc/systemd/system/multi-user.target.wants/maxsessd.service; do
  [[ ! -e "$root$f" && ! -L "$root$f" ]] || fail "purge left $f"
done
! in_root dpkg-statoverride --list /etc/default/maxsess >/dev/null || fail "purge left the statoverride"
echo "dpkg -i, reinstall, remove, purge in a throwaway root: OK (maxsess uid $uid)"
