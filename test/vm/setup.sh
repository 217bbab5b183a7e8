#!/usr/bin/env bash
# One-time (cached) preparation for test/vm/run-in-vm.sh:
#   - installs host packages (qemu-system-x86, busybox-static, cpio) via apt-get if missing
#   - downloads Debian bookworm's linux-image-amd64 kernel (6.1) and unpacks it into .vm/kernel/
#   - builds a tiny busybox initramfs (.vm/initramfs-<kver>.cpio.gz) with the 9p/virtio/overlay modules
# Re-running is cheap: everything is cached under <project>/.vm/. Use --refresh to re-resolve the kernel.
# Prints "KVER=<version>" on its last line (consumed by run-in-vm.sh).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PROJECT="${FFRTMP_VM_PROJECT:-$(cd "$HERE/../.." && pwd)}"
CACHE="${FFRTMP_VM_CACHE:-$PROJECT/.vm}"
REFRESH=0
[[ "${1:-}" == "--refresh" ]] && REFRESH=1

mkdir -p "$CACHE"
# Several runs may start at once (parallel test jobs): serialize the preparation.
exec 9>"$CACHE/.setup.lock"
flock 9

log() { echo "[vm-setup] $*" >&2; }
die() { echo "[vm-setup] ERROR: $*" >&2; exit 1; }

# Modules the guest needs, in the names modinfo uses; dependencies are resolved from each .ko's
# "depends=" field and loaded first.
WANTED_MODULES=(virtio_pci 9pnet_virtio 9p overlay virtio_rng virtio_console virtio_blk)

# ---------------------------------------------------------------- host packages
need_pkgs=()
command -v qemu-system-x86_64 >/dev/null 2>&1 || need_pkgs+=(qemu-system-x86)
dpkg -s busybox-static >/dev/null 2>&1 || need_pkgs+=(busybox-static)
command -v cpio >/dev/null 2>&1 || need_pkgs+=(cpio)
if ((${#need_pkgs[@]})); then
  [[ $(id -u) -eq 0 ]] || die "missing packages ${need_pkgs[*]}; install them as root: apt-get install --no-install-recommends ${need_pkgs[*]}"
  log "installing ${need_pkgs[*]} (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends "${need_pkgs[@]}" >"$CACHE.apt.log" 2>&1 || {
    log "apt-get install failed, retrying after apt-get update"
    apt-get update -q >>"$CACHE.apt.log" 2>&1 || true
    apt-get install -y -q --no-install-recommends "${need_pkgs[@]}" >>"$CACHE.apt.log" 2>&1 \
      || { tail -20 "$CACHE.apt.log" >&2; die "apt-get install ${need_pkgs[*]} failed"; }
  }
  rm -f "$CACHE.apt.log"
fi
BUSYBOX=/bin/busybox
[[ -x $BUSYBOX ]] || die "$BUSYBOX missing (package busybox-static)"

# ---------------------------------------------------------------- kernel
mkdir -p "$CACHE/kernel"
KVER=""
if [[ $REFRESH -eq 0 && -f "$CACHE/kernel/current" ]]; then
  KVER="$(cat "$CACHE/kernel/current")"
  [[ -f "$CACHE/kernel/$KVER/boot/vmlinuz-$KVER" ]] || KVER=""
fi
if [[ -z $KVER ]]; then
  pkg="${FFRTMP_VM_KERNEL_PKG:-}"
  if [[ -z $pkg ]]; then
    pkg="$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')"
    if [[ -z $pkg ]]; then
      log "apt-cache knows no linux-image-amd64; running apt-get update"
      apt-get update -q >/dev/null 2>&1 || true
      pkg="$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')"
    fi
    [[ -n $pkg ]] || die "cannot resolve linux-image-amd64 (is a Debian bookworm apt source configured?)"
  fi
  KVER="${pkg#linux-image-}"
  dest="$CACHE/kernel/$KVER"
  if [[ ! -f "$dest/boot/vmlinuz-$KVER" ]]; then
    log "downloading $pkg"
    tmp="$(mktemp -d "$CACHE/kernel/dl.XXXXXX")"
    (cd "$tmp" && apt-get download -q "$pkg" >/dev/null 2>&1) || { rm -rf "$tmp"; die "apt-get download $pkg failed"; }
    rm -rf "$dest.tmp"; mkdir -p "$dest.tmp"
    dpkg -x "$tmp"/*.deb "$dest.tmp"
    rm -rf "$tmp" "$dest"; mv "$dest.tmp" "$dest"
  fi
  echo "$KVER" >"$CACHE/kernel/current"
fi
KDIR="$CACHE/kernel/$KVER"

# Uncompressed ELF vmlinux (booted through its PVH entry point): under TCG, decompressing the xz bzImage
# inside the guest alone takes 10-20 s.
VMLINUZ="$KDIR/boot/vmlinuz-$KVER"
if [[ ! -f "$KDIR/vmlinux" ]] && grep -q '^CONFIG_PVH=y' "$KDIR/boot/config-$KVER" 2>/dev/null; then
  off="$(LC_ALL=C grep -obUaP '\xfd\x37\x7a\x58\x5a\x00' "$VMLINUZ" | head -1 | cut -d: -f1)"
  # (xz stops after the stream; the tail feeding it then dies of SIGPIPE, hence the process substitution)
  if [[ -n $off ]] && xz -dc --single-stream < <(tail -c +$((off + 1)) "$VMLINUZ") >"$KDIR/vmlinux.tmp" 2>/dev/null \
      && [[ "$(head -c 4 "$KDIR/vmlinux.tmp" | tr -d '\177')" == ELF ]]; then
    mv "$KDIR/vmlinux.tmp" "$KDIR/vmlinux"
  else
    rm -f "$KDIR/vmlinux.tmp"; log "could not extract vmlinux from $VMLINUZ (will boot the bzImage)"
  fi
fi
MODROOT="$KDIR/lib/modules/$KVER"
[[ -d $MODROOT ]] || die "no modules in $MODROOT"

# ---------------------------------------------------------------- initramfs
INITRD="$CACHE/initramfs-$KVER.cpio.gz"
stamp_src="$(cat "$HERE/guest-init.sh" "$HERE/setup.sh" "$BUSYBOX" | sha256sum | cut -c1-16)"
if [[ -f $INITRD && -f $INITRD.stamp && "$(cat "$INITRD.stamp")" == "$stamp_src" ]]; then
  echo "KVER=$KVER"; exit 0
fi
log "building initramfs for $KVER"

declare -A MODPATH=()
while IFS= read -r -d '' f; do
  b="${f##*/}"; b="${b%%.ko*}"; MODPATH[${b//-/_}]="$f"
done < <(find "$MODROOT/kernel" -name '*.ko*' -print0)

modinfo_depends() { # $1 = path to .ko / .ko.xz / .ko.zst
  case "$1" in
    *.ko.xz) xz -dc "$1" ;; *.ko.zst) zstd -qdc "$1" ;; *.ko.gz) gzip -dc "$1" ;; *) cat "$1" ;;
  esac | tr '\0' '\n' | sed -n 's/^depends=//p' | head -1 | tr ',' ' '
}
declare -A SEEN=(); ORDER=()
visit() {
  local m="${1//-/_}"
  [[ -n ${SEEN[$m]:-} ]] && return 0
  SEEN[$m]=1
  if [[ -z ${MODPATH[$m]:-} ]]; then
    grep -q "/${m}.ko" "$MODROOT/modules.builtin" 2>/dev/null && return 0
    grep -q "/${m//_/-}.ko" "$MODROOT/modules.builtin" 2>/dev/null && return 0
    die "module $m not found in $MODROOT"
  fi
  local d; for d in $(modinfo_depends "${MODPATH[$m]}"); do visit "$d"; done
  ORDER+=("$m")
}
for m in "${WANTED_MODULES[@]}"; do visit "$m"; done

work="$(mktemp -d "$CACHE/initramfs.XXXXXX")"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work"/{bin,sbin,proc,sys,dev,run,tmp,newroot,project,lib/modules}
cp "$BUSYBOX" "$work/bin/busybox"
ln -s busybox "$work/bin/sh"
for m in "${ORDER[@]}"; do
  src="${MODPATH[$m]}"
  case "$src" in
    *.ko.xz) xz -dc "$src" ;; *.ko.zst) zstd -qdc "$src" ;; *.ko.gz) gzip -dc "$src" ;; *) cat "$src" ;;
  esac >"$work/lib/modules/$m.ko"
  echo "$m" >>"$work/lib/modules/order"
done
install -m 0755 "$HERE/guest-init.sh" "$work/init"
(cd "$work" && find . -print0 | cpio --null -o -H newc --quiet --owner=0:0) | gzip -1 >"$work.cpio.gz"
mv "$work.cpio.gz" "$INITRD"
echo "$stamp_src" >"$INITRD.stamp"
log "initramfs: $INITRD (modules: ${ORDER[*]})"
echo "KVER=$KVER"
