#!/usr/bin/env bash
# One-time (cached) preparation for test/vm-systemd/run-in-vm.sh:
#   - the kernel: test/vm/setup.sh (Debian bookworm's linux-image-amd64, 6.1, unpacked into .vm/kernel/)
#   - a busybox initramfs (.vm/sd-initramfs-<kver>.cpio.gz) that loads the virtio/ext4/9p modules, mounts
#     the root disk and the project share and hands over to systemd (switch_root)
#   - a Debian 12 root file system built from Debian packages with mmdebstrap, systemd as PID 1, as an
#     ext4 image (.vm/sd-rootfs-<key>.img, <key> = hash of build-rootfs.sh, so of the package list, and of
#     the host's node + npm, which are copied in: Debian 12's nodejs is too old)
# Re-running is cheap: everything is cached under <project>/.vm/. --refresh-rootfs rebuilds the image.
# Prints "KVER=<version>", "ROOTFS=<path>" and "INITRD=<path>" (consumed by run-in-vm.sh).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PROJECT="${FFRTMP_VM_PROJECT:-$(cd "$HERE/../.." && pwd)}"
CACHE="${FFRTMP_VM_CACHE:-$PROJECT/.vm}"
REFRESH=0
[[ "${1:-}" == "--refresh-rootfs" ]] && REFRESH=1

log() { echo "[vm-sd-setup] $*" >&2; }
die() { echo "[vm-sd-setup] ERROR: $*" >&2; exit 1; }

# The kernel (and qemu, busybox-static, cpio) come from the plain VM harness; it takes its own lock.
kout="$("$HERE/../vm/setup.sh")" || die "test/vm/setup.sh failed"
KVER="$(sed -n 's/^KVER=//p' <<<"$kout" | tail -1)"
[[ -n $KVER ]] || die "test/vm/setup.sh gave no KVER"
KDIR="$CACHE/kernel/$KVER"
MODROOT="$KDIR/lib/modules/$KVER"

mkdir -p "$CACHE"
exec 9>"$CACHE/.sd-setup.lock"
flock 9

# ---------------------------------------------------------------- host packages
need_pkgs=()
command -v mmdebstrap >/dev/null 2>&1 || need_pkgs+=(mmdebstrap)
command -v mkfs.ext4 >/dev/null 2>&1 || need_pkgs+=(e2fsprogs)
if ((${#need_pkgs[@]})); then
  [[ $(id -u) -eq 0 ]] || die "missing packages ${need_pkgs[*]}; install them as root: apt-get install --no-install-recommends ${need_pkgs[*]}"
  log "installing ${need_pkgs[*]} (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends "${need_pkgs[@]}" >&2 \
    || { apt-get update -q >&2 || true; apt-get install -y -q --no-install-recommends "${need_pkgs[@]}" >&2; } \
    || die "apt-get install ${need_pkgs[*]} failed"
fi
NODE_BIN="$(command -v node)" || die "node not found on the host"
NODE_BIN="$(readlink -f "$NODE_BIN")"
NPM_DIR="$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")"   # .../lib/node_modules/npm
[[ -f $NPM_DIR/package.json ]] || die "cannot locate npm's directory (got $NPM_DIR)"
NODE_INC="$(dirname "$(dirname "$NODE_BIN")")/include/node"   # headers, so that node-gyp builds offline
[[ -f $NODE_INC/node_api.h ]] || NODE_INC=""

# ---------------------------------------------------------------- initramfs
# Modules the guest needs before (and after: the root file system has no modules) switch_root.
WANTED_MODULES=(virtio_pci virtio_blk crc32c_generic ext4 9pnet_virtio 9p virtio_console virtio_rng autofs4 binfmt_misc)
INITRD="$CACHE/sd-initramfs-$KVER.cpio.gz"
stamp_src="$(cat "$HERE/guest-init.sh" "$HERE/setup.sh" /bin/busybox | sha256sum | cut -c1-16)"
if [[ ! -f $INITRD || ! -f $INITRD.stamp || "$(cat "$INITRD.stamp")" != "$stamp_src" ]]; then
  log "building initramfs for $KVER"
  declare -A MODPATH=()
  while IFS= read -r -d '' f; do
    b="${f##*/}"; b="${b%%.ko*}"; MODPATH[${b//-/_}]="$f"
  done < <(find "$MODROOT/kernel" -name '*.ko*' -print0)
  modcat() { case "$1" in *.ko.xz) xz -dc "$1" ;; *.ko.zst) zstd -qdc "$1" ;; *.ko.gz) gzip -dc "$1" ;; *) cat "$1" ;; esac; }
  declare -A SEEN=(); ORDER=()
  visit() {
    local m="${1//-/_}"
    [[ -n ${SEEN[$m]:-} ]] && return 0
    SEEN[$m]=1
    if [[ -z ${MODPATH[$m]:-} ]]; then
      grep -q "/${m}.ko\|/${m//_/-}.ko" "$MODROOT/modules.builtin" 2>/dev/null && return 0
      die "module $m not found in $MODROOT"
    fi
    local d; for d in $(modcat "${MODPATH[$m]}" | tr '\0' '\n' | sed -n 's/^depends=//p' | head -1 | tr ',' ' '); do visit "$d"; done
    ORDER+=("$m")
  }
  for m in "${WANTED_MODULES[@]}"; do visit "$m"; done
  work="$(mktemp -d "$CACHE/sd-initramfs.XXXXXX")"
  trap 'rm -rf "$work"' EXIT
  mkdir -p "$work"/{bin,sbin,proc,sys,dev,run,tmp,newroot,project,lib/modules}
  cp /bin/busybox "$work/bin/busybox"
  ln -s busybox "$work/bin/sh"
  for m in "${ORDER[@]}"; do modcat "${MODPATH[$m]}" >"$work/lib/modules/$m.ko"; echo "$m" >>"$work/lib/modules/order"; done
  install -m 0755 "$HERE/guest-init.sh" "$work/init"
  (cd "$work" && find . -print0 | cpio --null -o -H newc --quiet --owner=0:0) | gzip -1 >"$work.cpio.gz"
  mv "$work.cpio.gz" "$INITRD"
  echo "$stamp_src" >"$INITRD.stamp"
  rm -rf "$work"; trap - EXIT
  log "initramfs: $INITRD (modules: ${ORDER[*]})"
fi

# ---------------------------------------------------------------- root file system
SUITE=bookworm
MIRROR="${FFRTMP_VM_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
node_id="$("$NODE_BIN" --version) npm-$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$NPM_DIR/package.json" | head -1)"
KEY="$( { cat "$HERE/build-rootfs.sh"; echo "$SUITE $MIRROR $node_id ${NODE_INC:+headers}"; } | sha256sum | cut -c1-16)"
ROOTFS="$CACHE/sd-rootfs-$KEY.img"
if [[ $REFRESH -eq 1 ]]; then rm -f "$ROOTFS"; fi
if [[ ! -f $ROOTFS ]]; then
  "$HERE/build-rootfs.sh" "$ROOTFS" "$NODE_BIN" "$NPM_DIR" "$NODE_INC" "$SUITE" "$MIRROR" || die "building the root file system failed"
  for old in "$CACHE"/sd-rootfs-*.img; do [[ $old == "$ROOTFS" ]] || rm -f "$old"; done
fi

echo "KVER=$KVER"
echo "ROOTFS=$ROOTFS"
echo "INITRD=$INITRD"
