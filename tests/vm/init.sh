#!/bin/sh
# PID 1 of the test VM. First pass: the initramfs root (rootfs) cannot be pivot_root'ed away from,
# which gaol does, so copy it to a tmpfs and switch_root there. Second pass: set up and test.
if [ ! -e /.switched ]; then
  /bin/busybox mount -t tmpfs -o size=600m,mode=0755 tmpfs /newroot
  for d in bin sbin usr etc gaol lib lib64 init modules; do [ -e "/$d" ] && cp -a "/$d" /newroot/; done
  mkdir -p /newroot/proc /newroot/sys /newroot/dev /newroot/tmp
  touch /newroot/.switched
  exec /bin/busybox switch_root /newroot /init
fi
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs -o mode=1777 tmpfs /tmp
# Loopback up: the [vm] tests of gaol serve talk to it over 127.0.0.1.
ifconfig lo 127.0.0.1 up
mount -t cgroup2 cgroup2 /sys/fs/cgroup
# AppArmor (the kernel line enables it): its securityfs, and gaol's job profile loaded by root, as
# an admin would, for `--security-opt apparmor=gaol-job` in the [vm] tests.
mount -t securityfs securityfs /sys/kernel/security
aa_load=$(/sbin/apparmor_parser -r /etc/apparmor.d/gaol-job 2>&1) || aa_load="apparmor_parser failed: $aa_load"
# The scratch disk, for io.max: an ext2 at /data that uid 1000 may write.
for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_blk; do
  insmod /modules/$m.ko
done
sleep 1  # the disk appears asynchronously
if [ -b /dev/vda ]; then
  mke2fs -q /dev/vda && mkdir -p /data && mount /dev/vda /data && chown 1000:1000 /data
fi
# The cgroup tree of a systemd host, without systemd as PID 1 (too slow to boot under TCG):
#   user.slice/gaol                       delegated to uid 1000 by chown, every controller: the
#                                         runner's cgroup and the --cgroup-parent of the tests
#   user.slice/user-1000.slice            memory and pids only, as systemd gives users by default
#     user@1000.service                   delegated to uid 1000: systemd --user runs there
#     session-1.scope                     root's, as a login session's: gaol cannot write it
#                                         (only its cgroup.procs is uid 1000's, so that the
#                                         tests can start gaol there)
# On a systemd host the system manager moves a user's process into its user manager's units
# (AttachProcessesToUnit); here uid 1000 may write the cgroup.procs of user.slice and
# user-1000.slice, the common ancestors of such moves, so systemd --user moves gaol itself.
C=/sys/fs/cgroup
S=$C/user.slice
U=$S/user-1000.slice
G=$S/gaol
delegate() {
  for d in "$@"; do chown 1000:1000 $d $d/cgroup.procs $d/cgroup.subtree_control $d/cgroup.threads; done
}
echo "+cpu +cpuset +memory +pids +io" >$C/cgroup.subtree_control
mkdir $S $G $U
echo "+cpu +cpuset +memory +pids +io" >$S/cgroup.subtree_control
echo "+cpu +cpuset +memory +pids +io" >$G/cgroup.subtree_control
mkdir $G/runner $G/jobs
delegate $G $G/runner $G/jobs
echo "+memory +pids" >$U/cgroup.subtree_control
mkdir $U/user@1000.service $U/session-1.scope
delegate $U/user@1000.service
chown 1000:1000 $S/cgroup.procs $U/cgroup.procs $U/session-1.scope/cgroup.procs
# systemd --user in user@1000.service, as uid 1000, with its runtime directory: it listens on the
# user bus (dbus.socket) and starts dbus-daemon from dbus.service; only once that service runs
# does it connect to the bus and answer there (so it is started here, then awaited). It refuses
# to start unless /run/systemd/system exists, the mark systemd as PID 1 leaves (sd_booted());
# nothing else here reads it but `gaol check`, which then takes this for the systemd host it
# stands for.
R=/run/user/1000
mkdir -p $R /run/systemd/system && chown 1000:1000 $R && chmod 0700 $R
HOME=/tmp XDG_RUNTIME_DIR=$R /bin/sh -c "echo \$\$ >$U/user@1000.service/cgroup.procs &&
  exec /usr/bin/setpriv --reuid=1000 --regid=1000 --clear-groups /usr/lib/systemd/systemd --user" \
  >/tmp/systemd-user.log 2>&1 &
echo $$ >$G/runner/cgroup.procs
as_user() {
  HOME=/tmp XDG_RUNTIME_DIR=$R DBUS_SESSION_BUS_ADDRESS=unix:path=$R/bus \
    /usr/bin/setpriv --reuid=1000 --regid=1000 --clear-groups "$@"
}
up=""
for i in $(seq 1 100); do
  if [ -S $R/systemd/private ] && as_user /usr/bin/systemctl --user start dbus.service 2>/dev/null &&
     as_user /gaol/gaol check | grep -q "systemd --user answers"; then
    up=$i
    break
  fi
  sleep 0.2
done
if [ -z "$up" ]; then
  echo "systemd --user did not come up; its log:"
  cat /tmp/systemd-user.log
fi
echo "GAOL-VM-BEGIN kernel $(cat /proc/sys/kernel/osrelease), controllers: $(cat $G/cgroup.controllers)"
echo "LSMs: $(cat /sys/kernel/security/lsm); AppArmor: ${aa_load:+$aa_load; }profiles loaded: $(cat /sys/kernel/security/apparmor/profiles 2>&1 | tr '\n' ' ')"
echo "systemd --user: ${up:+up after $up tries; }$(as_user /gaol/gaol check | grep systemd_user)"
cd /tmp
if [ "@FILTER@" = figures ]; then
  HOME=/tmp GAOL_CGROUP_PARENT=$G/jobs /usr/bin/setpriv --reuid=1000 --regid=1000 --clear-groups \
    /bin/sh /gaol/figures.sh
else
  # The environment of a login on a systemd host: the user bus is there.
  GAOL_BIN=/gaol/gaol GAOL_PROBE_DIR=/gaol/probe GAOL_CGROUP_PARENT=$G/jobs \
    GAOL_SESSION_CGROUP=$U/session-1.scope as_user /gaol/gaol-integration-tests \
    --use-colour no "@FILTER@" 2>&1
fi
rc=$?
left=$(ls $G/jobs | grep -c gaol-job || true)
echo "leaves left in the delegated subtree: $left"
[ "$left" = 0 ] || rc=1
scopes=$(find $U -name 'gaol-*.scope' | wc -l)
echo "gaol scopes left under user-1000.slice: $scopes"
[ "$scopes" = 0 ] || rc=1
echo "GAOL-VM-END rc=$rc"
poweroff -f
