#!/bin/bash
# debian_root.sh ROOT COMMAND [ARG...]: runs COMMAND with ROOT made into a
# throwaway Debian system in which the package's maintainer scripts can run for
# real (dpkg --root=ROOT chroots into it), without touching this machine's
# package database, users or /usr.
#
# The first call makes the skeleton: ROOT/etc with only root in passwd, group,
# shadow and gshadow (plus this machine's adduser.conf, login.defs and
# nsswitch.conf), an empty dpkg database in ROOT/var/lib/dpkg, ROOT/run, ROOT/tmp.
# Every call then enters a private mount namespace (unshare -m; needs root, as
# dpkg --root's chroot and adduser's chown do) in which ROOT/usr is an overlay: this
# machine's /usr read-only below, ROOT.usr-upper above, so dpkg, adduser, perl
# and sh are there and whatever the package installs lands in ROOT.usr-upper.
# /dev/null, /dev/urandom and /proc are bound in. The mounts die with COMMAND.
set -euo pipefail
root=$1
shift
if [ ! -e "$root/.skeleton" ]; then
    mkdir -p "$root"/{etc,run,tmp,dev,proc,usr,var/lib/dpkg/updates,var/lib/dpkg/info,var/log} \
        "$root.usr-upper" "$root.usr-work"
    chmod 0755 "$root"
    chmod 1777 "$root/tmp"
    ln -s usr/bin "$root/bin"
    ln -s usr/sbin "$root/sbin"
    ln -s usr/lib "$root/lib"
    [ -e /lib64 ] && ln -s usr/lib64 "$root/lib64"
    printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
    printf 'root:x:0:\n' >"$root/etc/group"
    printf 'root:*:20000:0:99999:7:::\n' >"$root/etc/shadow"
    printf 'root:*::\n' >"$root/etc/gshadow"
    chmod 0640 "$root/etc/shadow" "$root/etc/gshadow"
    # chfn (adduser --gecos) goes through PAM.
    cp -r /etc/pam.d /etc/security "$root/etc/"
    for file in adduser.conf login.defs nsswitch.conf pam.conf; do
        if [ -e "/etc/$file" ]; then
            cp "/etc/$file" "$root/etc/$file"
        fi
    done
    : >"$root/var/lib/dpkg/status"
    : >"$root/var/lib/dpkg/available"
    : >"$root/dev/null"
    : >"$root/dev/urandom"
    touch "$root/.skeleton"
fi
# In the new namespace: mount, then exec COMMAND (same PID as this script's exec).
exec unshare --mount --propagation private bash -euc '
root=$1
shift
mount -t overlay overlay -o "lowerdir=/usr,upperdir=$root.usr-upper,workdir=$root.usr-work" "$root/usr"
mount --bind /dev/null "$root/dev/null"
mount --bind /dev/urandom "$root/dev/urandom"
mount --rbind /proc "$root/proc"
exec "$@"
' debian_root "$root" "$@"
