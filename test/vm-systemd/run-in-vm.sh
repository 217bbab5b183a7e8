#!/usr/bin/env bash
# Run a command inside a throwaway qemu guest that boots a Debian 12 root file system (built from
# Debian packages with mmdebstrap, cached in .vm/) with systemd as PID 1, on Debian bookworm's 6.1
# kernel, pure cgroup v2. The project directory is shared read-write at its host path; the command
# runs as root from a system unit (ffrtmp-vmtest.service) once systemd has started it.
#
#   test/vm-systemd/run-in-vm.sh [--timeout SECS] -- CMD [ARGS...]
#
# Exit status: the command's exit status; 77 = skipped (no usable /dev/kvm and FFRTMP_VM_ALLOW_TCG is
# not 1); 124 = VM timed out; 125 = the VM/harness failed before the command reported a status.
# Env: FFRTMP_VM_TIMEOUT (s, default 1200), FFRTMP_VM_MEM (default 2G), FFRTMP_VM_CPUS (default 2),
#      FFRTMP_VM_ALLOW_TCG=1, FFRTMP_VM_KEEP=1 (keep .vm/run/<id>), FFRTMP_VM_PASSENV (extra env var
#      names), FFRTMP_VM_APPEND (extra kernel command-line arguments), FFRTMP_VM_PROJECT_CACHE (9p
#      cache mode of the project share: loose (default) or mmap/none).
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=test/vm/lib.sh
source "$HERE/../vm/lib.sh"
PROJECT="${FFRTMP_VM_PROJECT:-$(cd "$HERE/../.." && pwd)}"
CACHE="${FFRTMP_VM_CACHE:-$PROJECT/.vm}"
TIMEOUT="${FFRTMP_VM_TIMEOUT:-1200}"
MEM="${FFRTMP_VM_MEM:-2G}"
CPUS="${FFRTMP_VM_CPUS:-2}"

usage() { sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }
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
[[ $TIMEOUT =~ ^[0-9]+$ ]] || { echo "[ffrtmp-vm] --timeout must be a number of seconds, got '$TIMEOUT'" >&2; exit 2; }

# ------------------------------------------------------------ KVM availability (test/vm/lib.sh)
vm_choose_accel

# ------------------------------------------------------------ kernel, initramfs, root file system (cached)
setup_out="$("$HERE/setup.sh")" || { echo "[ffrtmp-vm] test/vm-systemd/setup.sh failed" >&2; exit 125; }
KVER="$(sed -n 's/^KVER=//p' <<<"$setup_out" | tail -1)"
ROOTFS="$(sed -n 's/^ROOTFS=//p' <<<"$setup_out" | tail -1)"
INITRD="$(sed -n 's/^INITRD=//p' <<<"$setup_out" | tail -1)"
KERNEL="$CACHE/kernel/$KVER/boot/vmlinuz-$KVER"
[[ $ACCEL == tcg && -f "$CACHE/kernel/$KVER/vmlinux" && "${FFRTMP_VM_BZIMAGE:-}" != 1 ]] && KERNEL="$CACHE/kernel/$KVER/vmlinux"
[[ -f $KERNEL && -f $INITRD && -f $ROOTFS ]] || { echo "[ffrtmp-vm] kernel/initramfs/rootfs missing after setup" >&2; exit 125; }

# ------------------------------------------------------------ run dir (in the project share)
mkdir -p "$CACHE/run"
find "$CACHE/run" -mindepth 1 -maxdepth 1 -mtime +1 -exec rm -rf {} + 2>/dev/null
RUNDIR="$(mktemp -d "$CACHE/run/sd.XXXXXXXX")"
chmod 0755 "$RUNDIR"
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
case "$PWD/" in "$PROJECT"/*) printf '%s' "$PWD" >"$RUNDIR/cwd" ;; *) printf '%s' "$PROJECT" >"$RUNDIR/cwd" ;; esac
{
  for v in CI TERM NO_COLOR FORCE_COLOR NODE_OPTIONS DEBUG ${FFRTMP_VM_PASSENV:-} $(compgen -e | grep -E '^(FFRTMP_|VITEST)' || true); do
    [[ $v == FFRTMP_VM_PROJECT || $v == FFRTMP_VM_CACHE ]] && continue
    [[ -n ${!v+x} ]] && printf 'export %s=%q\n' "$v" "${!v}"
  done
} >"$RUNDIR/env"
printf 'PROJECT_PATH=%q\n' "$PROJECT" >"$RUNDIR/config"

exec 3> >(exec cat) 4> >(exec cat >&2)
PIDS+=($!)

CPU=host; [[ $ACCEL == tcg ]] && CPU="${FFRTMP_VM_TCG_CPU:-max}"
QEMU=(qemu-system-x86_64
  -accel "$ACCEL" -cpu "$CPU" -smp "$CPUS" -m "$MEM"
  -machine pc -nodefaults -no-user-config -display none -vga none -no-reboot
  -bios /usr/share/qemu/qboot.rom
  -kernel "$KERNEL" -initrd "$INITRD"
  -append "console=ttyS0 panic=-1 quiet systemd.show_status=auto systemd.unified_cgroup_hierarchy=1 ${FFRTMP_VM_APPEND:-} ffrtmp.run=$RUNREL ffrtmp.pcache=${FFRTMP_VM_PROJECT_CACHE:-loose}"
  -serial "file:$RUNDIR/console.log"
  -device virtio-serial-pci
  -chardev "file,id=out,path=/proc/self/fd/3" -device virtserialport,chardev=out,name=out
  -chardev "file,id=err,path=/proc/self/fd/4" -device virtserialport,chardev=err,name=err
  -drive "file=$ROOTFS,format=raw,if=virtio,snapshot=on,cache=unsafe"
  -virtfs "local,path=$PROJECT,mount_tag=project,security_model=none,multidevs=remap"
  -device virtio-rng-pci
  -nic none
)
[[ -f /usr/share/qemu/qboot.rom ]] || unset 'QEMU[18]' 'QEMU[19]'

# qemu's snapshot=on overlay goes to $TMPDIR: keep it in the run dir, removed with it.
TMPDIR="$RUNDIR" timeout -k 10 "$TIMEOUT" "${QEMU[@]}" </dev/null >"$RUNDIR/qemu.log" 2>&1 &
QEMU_PID=$!
wait "$QEMU_PID"; qrc=$?
QEMU_PID=""
exec 3>&- 4>&-
for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
PIDS=()

if [[ -f "$RUNDIR/status" ]]; then
  rc="$(cat "$RUNDIR/status")"
  [[ $rc =~ ^[0-9]+$ ]] || rc=125
  if [[ $rc -ne 0 ]]; then
    KEEP_RUNDIR=1
    echo "[ffrtmp-vm] command failed ($rc); logs (console.log, journal.txt) kept in $RUNDIR" >&2
  fi
  exit "$rc"
fi
KEEP_RUNDIR=1
if [[ $qrc -eq 124 || $qrc -eq 137 ]]; then
  echo "[ffrtmp-vm] VM TIMED OUT after ${TIMEOUT}s (FFRTMP_VM_TIMEOUT); logs in $RUNDIR" >&2
  rc=124
else
  echo "[ffrtmp-vm] VM ended without a command status (qemu exit $qrc); logs in $RUNDIR" >&2
  rc=125
fi
echo "---- qemu.log" >&2; tail -n 20 "$RUNDIR/qemu.log" >&2
echo "---- console.log (tail)" >&2; tail -n 40 "$RUNDIR/console.log" >&2
exit "$rc"
