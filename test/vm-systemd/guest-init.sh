#!/bin/sh
# /init of the systemd guest's initramfs (busybox sh, PID 1 until switch_root). Built by setup.sh.
# Loads the modules (the root file system has none), mounts the root disk (/dev/vda, ext4, a throwaway
# qemu snapshot of the cached image) and the project share at its host path, writes the run's
# coordinates for the runner unit (/etc/ffrtmp-vm/run.env), then hands PID 1 over to systemd.
export PATH=/bin:/sbin
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

msg() { echo "[ffrtmp-vm] $*" >/dev/ttyS0; }
fail() {
  msg "GUEST SETUP FAILED: $*"
  sync; poweroff -f; echo o >/proc/sysrq-trigger; sleep 5; exit 1
}

for m in $(cat /lib/modules/order); do
  insmod "/lib/modules/$m.ko" 2>/dev/ttyS0 || msg "insmod $m failed"
done

RUN="" PCACHE=loose
for a in $(cat /proc/cmdline); do
  case "$a" in
    ffrtmp.run=*) RUN="${a#ffrtmp.run=}" ;;
    ffrtmp.pcache=*) PCACHE="${a#ffrtmp.pcache=}" ;;
  esac
done
[ -n "$RUN" ] || fail "no ffrtmp.run= on the kernel command line"

i=0
while [ ! -b /dev/vda ] && [ $i -lt 200 ]; do i=$((i + 1)); sleep 0.05; done
mount -t ext4 -o rw,noatime /dev/vda /newroot || fail "cannot mount the root file system /dev/vda"

mount -t 9p -o "trans=virtio,version=9p2000.L,msize=262144,cache=$PCACHE" project /project \
  || fail "cannot mount the 'project' 9p share"
[ -f "/project/$RUN/config" ] || fail "missing /project/$RUN/config"
. "/project/$RUN/config"   # PROJECT_PATH
mkdir -p "/newroot$PROJECT_PATH" /newroot/etc/ffrtmp-vm
mount --move /project "/newroot$PROJECT_PATH" || fail "cannot mount the project at $PROJECT_PATH"
printf 'FFRTMP_VM_PROJECT_PATH=%s\nFFRTMP_VM_RUNDIR=%s\n' "$PROJECT_PATH" "$PROJECT_PATH/$RUN" >/newroot/etc/ffrtmp-vm/run.env

umount /proc /sys 2>/dev/null
umount /dev 2>/dev/null
exec switch_root /newroot /lib/systemd/systemd
