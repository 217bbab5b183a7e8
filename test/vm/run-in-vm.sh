#!/usr/bin/env bash
# Run a command inside a throwaway KVM guest (Debian bookworm kernel 6.1, pure cgroup v2) whose
# userland is this host's root filesystem (read-only 9p + tmpfs overlay) and whose project directory
# is this project, shared read-write at the same path.
#
#   test/vm/run-in-vm.sh [--timeout SECS] -- CMD [ARGS...]
#
# Exit status: the command's exit status; 77 = skipped (no usable /dev/kvm); 124 = VM timed out;
# 125 = the VM/harness failed before the command reported a status.
# Env: FFRTMP_VM_TIMEOUT (s, default 900), FFRTMP_VM_MEM (default 2G), FFRTMP_VM_CPUS (default 2),
#      FFRTMP_VM_ALLOW_TCG=1 (allow slow software emulation without KVM), FFRTMP_VM_CGROUP (leaf cgroup
#      to run the command in, default: the root cgroup), FFRTMP_VM_KEEP=1 (keep .vm/run/<id>),
#      FFRTMP_VM_PASSENV (extra space-separated env var names to pass into the guest),
#      FFRTMP_VM_APPEND (extra kernel command-line arguments), FFRTMP_VM_PROJECT_CACHE (9p cache mode of
#      the project share: loose (default, fast) or mmap/none (coherent with host-side changes)).
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=test/vm/lib.sh
source "$HERE/lib.sh"
PROJECT="${FFRTMP_VM_PROJECT:-$(cd "$HERE/../.." && pwd)}"
CACHE="${FFRTMP_VM_CACHE:-$PROJECT/.vm}"
TIMEOUT="${FFRTMP_VM_TIMEOUT:-900}"
MEM="${FFRTMP_VM_MEM:-2G}"
CPUS="${FFRTMP_VM_CPUS:-2}"

usage() { sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }
while (($#)); do
  case "$1" in
    --timeout) TIMEOUT="$2"; shift 2 ;;
    --timeout=*) TIMEOUT="${1#*=}"; shift ;;
    -h|--help) usage ;;
    --) shift; break ;;
    *) break ;;
  esac
done
(($#)) || usage

# ------------------------------------------------------------ KVM availability (test/vm/lib.sh)
vm_choose_accel

# ------------------------------------------------------------ kernel + initramfs (cached)
setup_out="$("$HERE/setup.sh")" || { echo "[ffrtmp-vm] setup.sh failed" >&2; exit 125; }
KVER="$(sed -n 's/^KVER=//p' <<<"$setup_out" | tail -1)"
KERNEL="$CACHE/kernel/$KVER/boot/vmlinuz-$KVER"
# Under TCG boot the pre-decompressed vmlinux (PVH entry): saves 10-20 s of in-guest xz decompression.
[[ $ACCEL == tcg && -f "$CACHE/kernel/$KVER/vmlinux" && "${FFRTMP_VM_BZIMAGE:-}" != 1 ]] && KERNEL="$CACHE/kernel/$KVER/vmlinux"
INITRD="$CACHE/initramfs-$KVER.cpio.gz"
[[ -f $KERNEL && -f $INITRD ]] || { echo "[ffrtmp-vm] kernel/initramfs missing after setup" >&2; exit 125; }

# ------------------------------------------------------------ run dir (in the project share)
mkdir -p "$CACHE/run"
find "$CACHE/run" -mindepth 1 -maxdepth 1 -mtime +1 -exec rm -rf {} + 2>/dev/null  # stale kept run dirs
RUNDIR="$(mktemp -d "$CACHE/run/XXXXXXXX")"
RUNREL="${RUNDIR#"$PROJECT"/}"
[[ $RUNREL != "$RUNDIR" ]] || { echo "[ffrtmp-vm] cache dir $CACHE must be inside the project $PROJECT" >&2; exit 125; }
QEMU_PID=""
PIDS=()
cleanup() {
  [[ -n $QEMU_PID ]] && kill "$QEMU_PID" 2>/dev/null
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
  if [[ "${FFRTMP_VM_KEEP:-}" != 1 && ${KEEP_RUNDIR:-0} != 1 ]]; then rm -rf "$RUNDIR"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

printf '%s\0' "$@" >"$RUNDIR/args"
# cwd: the caller's directory if it is inside the project, else the project root
case "$PWD/" in "$PROJECT"/*) printf '%s' "$PWD" >"$RUNDIR/cwd" ;; *) printf '%s' "$PROJECT" >"$RUNDIR/cwd" ;; esac
{
  for v in CI TERM NO_COLOR FORCE_COLOR NODE_OPTIONS DEBUG ${FFRTMP_VM_PASSENV:-} $(compgen -e | grep -E '^(FFRTMP_|VITEST)' || true); do
    [[ $v == FFRTMP_VM_PROJECT || $v == FFRTMP_VM_CACHE ]] && continue
    [[ -n ${!v+x} ]] && printf 'export %s=%q\n' "$v" "${!v}"
  done
} >"$RUNDIR/env"
printf 'PROJECT_PATH=%q\n' "$PROJECT" >"$RUNDIR/config"

# Output channels: guest virtio serial ports "out"/"err" -> our stdout/stderr, ttyS0 (kernel console)
# -> console.log. qemu writes the ports to pipes (fds 3/4, opened by path), drained by two cats; virtio
# serial is flow-controlled, so nothing is lost.
exec 3> >(exec cat) 4> >(exec cat >&2)
PIDS+=($!)
# A blank 256 MiB scratch disk (/dev/vda in the guest): a real block device for io.max / io.stat tests.
truncate -s 256M "$RUNDIR/scratch.img"

CPU=host; [[ $ACCEL == tcg ]] && CPU="${FFRTMP_VM_TCG_CPU:-max}"
QEMU=(qemu-system-x86_64
  -accel "$ACCEL" -cpu "$CPU" -smp "$CPUS" -m "$MEM"
  -machine pc -nodefaults -no-user-config -display none -vga none -no-reboot
  -bios /usr/share/qemu/qboot.rom
  -kernel "$KERNEL" -initrd "$INITRD"
  -append "console=ttyS0 quiet panic=-1 ${FFRTMP_VM_APPEND:-} ffrtmp.run=$RUNREL ffrtmp.pcache=${FFRTMP_VM_PROJECT_CACHE:-loose}"
  -serial "file:$RUNDIR/console.log"
  -device virtio-serial-pci
  -chardev "file,id=out,path=/proc/self/fd/3" -device virtserialport,chardev=out,name=out
  -chardev "file,id=err,path=/proc/self/fd/4" -device virtserialport,chardev=err,name=err
  -virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap"
  -virtfs "local,path=$PROJECT,mount_tag=project,security_model=none,multidevs=remap"
  -device virtio-rng-pci
  -drive "file=$RUNDIR/scratch.img,format=raw,if=virtio,cache=unsafe"
  -nic none
)
[[ -f /usr/share/qemu/qboot.rom ]] || unset 'QEMU[18]' 'QEMU[19]'  # fall back to SeaBIOS

timeout -k 10 "$TIMEOUT" "${QEMU[@]}" </dev/null >"$RUNDIR/qemu.log" 2>&1 &
QEMU_PID=$!
wait "$QEMU_PID"; qrc=$?
QEMU_PID=""
exec 3>&- 4>&-   # let the cats see EOF and finish
for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
PIDS=()

if [[ -f "$RUNDIR/status" ]]; then
  rc="$(cat "$RUNDIR/status")"
  [[ $rc =~ ^[0-9]+$ ]] || rc=125
  exit "$rc"
fi
KEEP_RUNDIR=1
rm -f "$RUNDIR/scratch.img"
if [[ $qrc -eq 124 || $qrc -eq 137 ]]; then
  echo "[ffrtmp-vm] VM TIMED OUT after ${TIMEOUT}s (FFRTMP_VM_TIMEOUT); logs in $RUNDIR" >&2
  rc=124
else
  echo "[ffrtmp-vm] VM ended without a command status (qemu exit $qrc); logs in $RUNDIR" >&2
  rc=125
fi
echo "---- qemu.log" >&2; tail -n 20 "$RUNDIR/qemu.log" >&2
echo "---- console.log (tail)" >&2; tail -n 30 "$RUNDIR/console.log" >&2
exit "$rc"
