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
mount -t cgroup2 cgroup2 /sys/fs/cgroup
# The scratch disk, for io.max: an ext2 at /data that uid 1000 may write.
for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_blk; do
  insmod /modules/$m.ko
done
sleep 1  # the disk appears asynchronously
if [ -b /dev/vda ]; then
  mke2fs -q /dev/vda && mkdir -p /data && mount /dev/vda /data && chown 1000:1000 /data
fi
# Delegate /sys/fs/cgroup/gaol to uid 1000: the controllers on for it, then chown of the
# directories and their cgroup.procs, cgroup.subtree_control and cgroup.threads.
echo "+cpu +cpuset +memory +pids +io" >/sys/fs/cgroup/cgroup.subtree_control
mkdir /sys/fs/cgroup/gaol
echo "+cpu +cpuset +memory +pids +io" >/sys/fs/cgroup/gaol/cgroup.subtree_control
mkdir /sys/fs/cgroup/gaol/runner /sys/fs/cgroup/gaol/jobs
for d in /sys/fs/cgroup/gaol /sys/fs/cgroup/gaol/runner /sys/fs/cgroup/gaol/jobs; do
  chown 1000:1000 $d $d/cgroup.procs $d/cgroup.subtree_control $d/cgroup.threads
done
echo $$ >/sys/fs/cgroup/gaol/runner/cgroup.procs
echo "GAOL-VM-BEGIN kernel $(cat /proc/sys/kernel/osrelease), controllers: $(cat /sys/fs/cgroup/gaol/cgroup.controllers)"
cd /tmp
if [ "@FILTER@" = figures ]; then
  HOME=/tmp /usr/bin/setpriv --reuid=1000 --regid=1000 --clear-groups /bin/sh /gaol/figures.sh
else
  GAOL_BIN=/gaol/gaol GAOL_PROBE_DIR=/gaol/probe GAOL_CGROUP_PARENT=/sys/fs/cgroup/gaol/jobs HOME=/tmp \
    /usr/bin/setpriv --reuid=1000 --regid=1000 --clear-groups /gaol/gaol-integration-tests \
    --use-colour no "@FILTER@" 2>&1
fi
rc=$?
left=$(ls /sys/fs/cgroup/gaol/jobs | grep -c gaol-job || true)
echo "leaves left in the delegated subtree: $left"
[ "$left" = 0 ] || rc=1
echo "GAOL-VM-END rc=$rc"
poweroff -f
