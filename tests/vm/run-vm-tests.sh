#!/usr/bin/env bash
# The VM tier: cgroup v2 controllers this build machine lacks (memory, pids, cpu) tested for real
# in a small VM under qemu's software emulation (KVM does not work here). Debian's cloud kernel
# boots an initramfs holding busybox, setpriv, gaol, the probe and the integration tests with
# their libraries; its init mounts cgroup2, delegates a subtree to uid 1000 by chown (the kernel's
# documented model), runs the [vm] and [cgroup] tests as uid 1000, prints their summary on the
# console and powers off. The kernel boots with AppArmor enabled and init loads gaol's job profile
# (profiles/apparmor/gaol-job) with Debian's apparmor_parser, for the [vm] AppArmor tests. This side turns the console into a pass/fail.
# Usage: tests/vm/run-vm-tests.sh BUILD_DIR [catch2 filter | figures]
# `figures` runs tests/vm/figures.sh instead: each limit 10 times, summarised as limit vs measured.
set -euo pipefail
build=$(cd "$1" && pwd)
# [timing]: bounds that hold on real hardware but not under software emulation.
filter=${2:-"[vm],[cgroup]~[timing]"}
here=$(cd "$(dirname "$0")" && pwd)
cache="$build/vm-cache"
mkdir -p "$cache"

# apparmor_parser and its configuration, from Debian's apparmor package, unpacked the same way.
apparmor_pkg=$(ls "$cache"/apparmor_*.deb 2>/dev/null | head -n 1 || true)
if [ -z "$apparmor_pkg" ]; then
  (cd "$cache" && apt-get download apparmor >/dev/null 2>&1)
  apparmor_pkg=$(ls "$cache"/apparmor_*.deb | head -n 1)
fi
[ -x "$cache/apparmor/sbin/apparmor_parser" ] || dpkg -x "$apparmor_pkg" "$cache/apparmor"

# The kernel: Debian's linux-image-cloud-amd64, resolved to its versioned package and unpacked.
kernel_pkg=$(apt-cache depends linux-image-cloud-amd64 | awk '/Depends: linux-image-/ { print $2; exit }')
vmlinuz=$(ls "$cache"/kernel/boot/vmlinuz-* 2>/dev/null | head -n 1 || true)
if [ -z "$vmlinuz" ]; then
  (cd "$cache" && apt-get download "$kernel_pkg" >/dev/null 2>&1)
  dpkg -x "$cache"/"$kernel_pkg"_*.deb "$cache/kernel"
  vmlinuz=$(ls "$cache"/kernel/boot/vmlinuz-* | head -n 1)
fi

root=$(mktemp -d /tmp/gaol-vm.XXXXXX)
trap 'rm -rf "$root"' EXIT
chmod 0755 "$root"  # uid 1000 must be able to exec what is in it
mkdir -p "$root"/{bin,sbin,usr/bin,etc,proc,sys,dev,tmp,gaol/probe,newroot}
cp /bin/busybox "$root/bin/busybox"
for tool in sh mount mkdir cat echo chown chmod poweroff switch_root cp sleep ls grep true false dd mke2fs insmod \
            seq find wc ifconfig; do
  ln -sf busybox "$root/bin/$tool"
done
copy_with_libs() {
  local bin=$1 dest=$2
  install -D -m 0755 "$bin" "$root$dest"
  ldd "$bin" 2>/dev/null | grep -oE '/[^ ]+' | while read -r lib; do
    [ -e "$root$lib" ] || install -D -m 0755 "$(readlink -f "$lib")" "$root$lib"
  done
}
copy_with_libs /usr/bin/setpriv /usr/bin/setpriv
copy_with_libs "$build/sandbox/gaol" /gaol/gaol
copy_with_libs "$build/sandbox/gaol-serve" /gaol/gaol-serve
copy_with_libs "$build/sandbox/gaol-metrics.so" /gaol/gaol-metrics.so
copy_with_libs "$build/sandbox/gaol-bench" /gaol/gaol-bench
copy_with_libs "$build/tests/integration/gaol-integration-tests" /gaol/gaol-integration-tests
install -m 0755 "$build/tests/probe/gaol-probe" "$root/gaol/probe/gaol-probe"
# The figures' peers and micro-benchmarks: crun refuses this build machine's hybrid cgroups, so
# its start latency is measured here, beside bwrap and unshare, on a unified host.
if [ "$filter" = figures ]; then
  copy_with_libs /usr/bin/crun /usr/bin/crun
  copy_with_libs /usr/bin/bwrap /usr/bin/bwrap
  copy_with_libs /usr/bin/unshare /usr/bin/unshare
  copy_with_libs "$build/bench/gaol-micro-bench" /gaol/gaol-micro-bench
fi
# systemd's user manager, for the [systemd] tests, and the D-Bus daemon it starts from its
# dbus.socket and dbus.service units (Debian's dbus-user-session), as on a login of a systemd host.
# libsystemd.so.0, which gaol loads with dlopen, comes with dbus-daemon.
copy_with_libs /lib/systemd/systemd /usr/lib/systemd/systemd
copy_with_libs /usr/bin/systemctl /usr/bin/systemctl
ln -sf /usr/bin/systemctl "$root/bin/systemctl"  # dbus.socket's ExecStartPost runs /bin/systemctl
copy_with_libs /usr/bin/dbus-daemon /usr/bin/dbus-daemon
install -D -m 0644 /usr/share/dbus-1/session.conf "$root/usr/share/dbus-1/session.conf"
units="$root/usr/lib/systemd/user"
mkdir -p "$units/sockets.target.wants"
for unit in default.target basic.target sockets.target timers.target paths.target shutdown.target \
            exit.target systemd-exit.service app.slice background.slice session.slice \
            dbus.socket dbus.service; do
  cp "/usr/lib/systemd/user/$unit" "$units/"
done
ln -s ../dbus.socket "$units/sockets.target.wants/dbus.socket"
echo 6761616c766d74696572000000000001 >"$root/etc/machine-id"
install -m 0755 "$here/figures.sh" "$root/gaol/figures.sh"
# AppArmor: the parser (init loads profiles/apparmor/gaol-job with it, as root, before the tests),
# the package's /etc/apparmor.d (abi, tunables) and its pinned policy features.
copy_with_libs "$cache/apparmor/sbin/apparmor_parser" /sbin/apparmor_parser
cp -a "$cache/apparmor/etc/apparmor" "$cache/apparmor/etc/apparmor.d" "$root/etc/"
mkdir -p "$root/usr/share"
cp -a "$cache/apparmor/usr/share/apparmor-features" "$root/usr/share/"
install -m 0644 "$here/../../profiles/apparmor/gaol-job" "$root/etc/apparmor.d/gaol-job"
# The virtio block driver for the scratch disk is a module in the cloud kernel: in load order.
mkdir -p "$root/modules"
for m in virtio/virtio_ring virtio/virtio virtio/virtio_pci_legacy_dev virtio/virtio_pci_modern_dev \
         virtio/virtio_pci block/virtio_blk; do
  cp "$(ls "$cache"/kernel/lib/modules/*/kernel/drivers/$m.ko)" "$root/modules/"
done
echo "root:x:0:0:root:/root:/bin/sh" >"$root/etc/passwd"
echo "user:x:1000:1000:user:/tmp:/bin/sh" >>"$root/etc/passwd"
printf 'root:x:0:\nuser:x:1000:\n' >"$root/etc/group"
sed "s|@FILTER@|$filter|" "$here/init.sh" >"$root/init"
chmod 0755 "$root/init"
(cd "$root" && find . | cpio -H newc -o 2>/dev/null | gzip -1) >"$cache/initrd.gz"

console="$cache/console.log"
# A scratch disk for the io.max tests (/dev/vda in the VM).
rm -f "$cache/disk.img"
truncate -s 64M "$cache/disk.img"
timeout 900 qemu-system-x86_64 -accel tcg -cpu max -smp 2 -m 1024 -nographic -no-reboot \
  -kernel "$vmlinuz" -initrd "$cache/initrd.gz" \
  -drive file="$cache/disk.img",if=virtio,format=raw \
  -append "console=ttyS0 quiet panic=-1 rdinit=/init apparmor=1 lsm=landlock,lockdown,yama,apparmor" </dev/null >"$console" 2>&1 || true
tr -d '\r' <"$console" | sed -n '/GAOL-VM-BEGIN/,/GAOL-VM-END/p'
rc=$(tr -d '\r' <"$console" | sed -n 's/^GAOL-VM-END rc=\([0-9]*\).*/\1/p' | tail -n 1)
if [ -z "$rc" ]; then
  echo "vm tier: the VM gave no result; the console's end:" >&2
  tail -n 40 "$console" >&2
  exit 1
fi
if [ "$filter" = figures ]; then
  tr -d '\r' <"$console" | grep -o 'GAOL-FIG .*' | python3 "$here/summarise-figures.py"
  echo "gaol bench enforce --repeat 5 --cgroup-parent (cgroup v2 delegated, under TCG):"
  tr -d '\r' <"$console" | sed -n 's/^.*GAOL-ENFORCE //p'
  echo "gaol bench start --rounds 30 --cgroup-parent (unified cgroup v2, under TCG):"
  tr -d '\r' <"$console" | sed -n 's/^.*GAOL-START //p'
  echo "gaol-micro-bench, cgroup leaf and whole launch (GAOL_BENCH_CGROUP_PARENT, under TCG):"
  tr -d '\r' <"$console" | sed -n 's/^.*GAOL-MICRO //p'
fi
exit "$rc"
