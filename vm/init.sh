#!/bin/busybox sh
# /init of the test VM (busybox): mount the pseudo filesystems, load the modules, mount the
# shares, run the script named by vmcmd= on the kernel command line, report its exit code
# as `VM-EXIT rc=N`, power off.
/bin/busybox mkdir -p /bin /sbin /usr/bin /usr/sbin
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mkdir -p /proc /sys /dev /tmp /mnt /run
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
mount -t tmpfs run /run
mount -t bpf bpf /sys/fs/bpf
mount -t tracefs tracefs /sys/kernel/tracing
mount -t debugfs debugfs /sys/kernel/debug
for m in $(cat /lib/modules/load-order); do
	insmod /lib/modules/$m || echo "VM: insmod $m failed"
done
ip link set lo up
arg() { sed -n "s/.*$1=\([^ ]*\).*/\1/p" /proc/cmdline; }
tag() { cat /sys/bus/virtio/drivers/9pnet_virtio/*/mount_tag 2>/dev/null | tr '\0' '\n' | grep -qx "$1"; }
p9=trans=virtio,version=9p2000.L,msize=512000
tag host0 && { mount -t 9p -o $p9 host0 /mnt || echo "VM: 9p mount of host0 failed"; }
# The host's root, read-only, so that dynamically linked host binaries (cargo test binaries,
# ip, tc, ping, bpftool) run unchanged under `chroot /host`. Writable there: /tmp, /run
# (ip netns add needs /run/netns), /dev/shm and the host0 share at its host path.
if tag hostroot; then
	mkdir -p /host
	mount -t 9p -o $p9,ro,cache=loose hostroot /host || echo "VM: 9p mount of hostroot failed"
	for d in proc sys dev; do mount --rbind /$d /host/$d; done
	# A workspace under /tmp or /run (a CI clone, say) would vanish under the tmpfs below:
	# hold it aside and put it back at its path afterwards.
	ws=$(arg wspath)
	[ -n "$ws" ] && mkdir -p /ws && mount --bind "/host$ws" /ws
	mount -t tmpfs tmp /host/tmp
	mount -t tmpfs run /host/run
	mkdir -p /dev/shm && mount -t tmpfs shm /host/dev/shm
	[ -n "$ws" ] && mkdir -p "/host$ws" && mount --bind /ws "/host$ws"
	sp=$(arg sharepath)
	if [ -n "$sp" ] && grep -qs ' /mnt 9p' /proc/mounts; then mount --bind /mnt "/host$sp"; fi
fi
echo "VM-READY uptime=$(cut -d' ' -f1 /proc/uptime)"
cmd=$(arg vmcmd)
if [ -n "$cmd" ]; then
	sh "$cmd"
	echo "VM-EXIT rc=$?"
else
	setsid cttyhack sh
fi
echo "VM-POWEROFF uptime=$(cut -d' ' -f1 /proc/uptime)"
poweroff -f
