#!/bin/sh
# /init of the test VM's initramfs (busybox sh, PID 1). Built into the initramfs by setup.sh.
# Kernel console (ttyS0) goes to a log file on the host; the command's stdout and stderr are the
# virtio serial ports named "out" and "err" (forwarded to the host's stdout / stderr by run-in-vm.sh).
export PATH=/bin:/sbin
/bin/busybox --install -s /bin

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

OUT=/dev/ttyS0 ERR=/dev/ttyS0   # until the virtio ports exist
msg() { echo "[ffrtmp-vm] $*" >"$ERR"; [ "$ERR" = /dev/ttyS0 ] || echo "[ffrtmp-vm] $*" >/dev/ttyS0; }
halt() {
  sync
  sleep 0.3   # let qemu drain the virtio serial queues to the host before the power goes
  poweroff -f
  echo o >/proc/sysrq-trigger
  sleep 5
  exit 1  # kernel panics -> panic=-1 reboots -> qemu -no-reboot exits
}
fail() { msg "GUEST SETUP FAILED: $*"; echo "VM-EXIT-STATUS=125" >"$ERR"; halt; }

for m in $(cat /lib/modules/order); do
  insmod "/lib/modules/$m.ko" 2>/dev/ttyS0 || echo "insmod $m failed" >/dev/ttyS0
done

# The named virtio ports appear asynchronously after virtio_console is loaded: wait for them.
i=0
while [ $i -lt 300 ]; do
  for p in /sys/class/virtio-ports/*; do
    [ -f "$p/name" ] || continue
    case "$(cat "$p/name")" in out) OUT="/dev/${p##*/}" ;; err) ERR="/dev/${p##*/}" ;; esac
  done
  [ "$OUT" != /dev/ttyS0 ] && [ "$ERR" != /dev/ttyS0 ] && [ -c "$OUT" ] && [ -c "$ERR" ] && break
  i=$((i + 1)); sleep 0.05
done
[ "$OUT" != /dev/ttyS0 ] || echo "[ffrtmp-vm] virtio port 'out' not found; output goes to the console log" >/dev/ttyS0

RUN=""
for a in $(cat /proc/cmdline); do
  case "$a" in
    ffrtmp.run=*) RUN="${a#ffrtmp.run=}" ;;
    ffrtmp.pcache=*) PROJECT_CACHE="${a#ffrtmp.pcache=}" ;;
  esac
done
[ -n "$RUN" ] || fail "no ffrtmp.run= on the kernel command line"

MOPT="trans=virtio,version=9p2000.L,msize=262144"
mount -t 9p -o "$MOPT,cache=${PROJECT_CACHE:-mmap}" project /project || fail "cannot mount the 'project' 9p share"
RUNDIR="/project/$RUN"
[ -f "$RUNDIR/config" ] || fail "missing $RUNDIR/config"
. "$RUNDIR/config"   # sets PROJECT_PATH

# Guest root: the host's / (read-only 9p) under a tmpfs overlay, so writes succeed and are discarded.
mkdir -p /lower /upper
mount -t 9p -o "$MOPT,ro,cache=loose" hostroot /lower || fail "cannot mount the 'hostroot' 9p share"
mount -t tmpfs -o mode=0755 tmpfs /upper
mkdir -p /upper/u /upper/w
if mount -t overlay -o "lowerdir=/lower,upperdir=/upper/u,workdir=/upper/w" overlay /newroot 2>/dev/ttyS0; then
  ROOTMODE=overlay
else
  ROOTMODE=ro-9p
  mount --bind /lower /newroot || fail "cannot bind the host root"
  mount -t tmpfs -o mode=0700 tmpfs /newroot/root
fi

R=/newroot
mount -t proc proc $R/proc
mount -t sysfs sysfs $R/sys
mount -t cgroup2 -o nsdelegate cgroup2 $R/sys/fs/cgroup || fail "cannot mount cgroup2"
mount -t devtmpfs devtmpfs $R/dev
mkdir -p $R/dev/pts $R/dev/shm $R/dev/mqueue
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts $R/dev/pts
mount -t tmpfs -o mode=1777 tmpfs $R/dev/shm
mount -t mqueue mqueue $R/dev/mqueue 2>/dev/null
ln -sf /proc/self/fd $R/dev/fd; ln -sf fd/0 $R/dev/stdin; ln -sf fd/1 $R/dev/stdout; ln -sf fd/2 $R/dev/stderr
mount -t tmpfs -o mode=1777 tmpfs $R/tmp
mount -t tmpfs -o mode=0755 tmpfs $R/run
mkdir -p $R/run/lock $R/run/shm
[ -d $R/var/tmp ] && mount -t tmpfs -o mode=1777 tmpfs $R/var/tmp
mount -t debugfs debugfs $R/sys/kernel/debug 2>/dev/null
mount -t tracefs tracefs $R/sys/kernel/tracing 2>/dev/null

# Project share at its host path (read-write, changes land on the host).
mkdir -p "$R$PROJECT_PATH" 2>/dev/null
mount --move /project "$R$PROJECT_PATH" || fail "cannot mount the project at $PROJECT_PATH"

# Pure cgroup v2: delegate every available controller from the root.
ctrls=""
for c in $(cat $R/sys/fs/cgroup/cgroup.controllers); do ctrls="$ctrls +$c"; done
echo "$ctrls" >$R/sys/fs/cgroup/cgroup.subtree_control 2>/dev/ttyS0 \
  || for c in $ctrls; do echo "$c" >$R/sys/fs/cgroup/cgroup.subtree_control 2>/dev/ttyS0; done

hostname ffrtmp-vm
ip link set lo up 2>/dev/null || ifconfig lo 127.0.0.1 up 2>/dev/null

export ROOTMODE
RUNSH="$PROJECT_PATH/test/vm/guest-run.sh"
GUEST_RUNDIR="$PROJECT_PATH/$RUN"
chroot $R /bin/bash "$RUNSH" "$GUEST_RUNDIR" <$R/dev/null >"$OUT" 2>"$ERR"
[ -f "$R$GUEST_RUNDIR/status" ] || { msg "command produced no status file"; echo "VM-EXIT-STATUS=125" >"$ERR"; }
halt
