#!/usr/bin/env bash
# Builds the systemd guest's root file system; called by setup.sh under its lock. The image's cache key
# is a hash of this file (so of the package list) and of the host's node + npm version.
# Debian 12 from Debian packages with mmdebstrap, systemd as PID 1, node + npm (+ headers, so that
# node-gyp builds offline) copied from the host, as a sparse ext4 image.
#   build-rootfs.sh OUT.img NODE_BIN NPM_DIR NODE_INC|"" SUITE MIRROR
set -euo pipefail
ROOTFS="$1" NODE_BIN="$2" NPM_DIR="$3" NODE_INC="$4" SUITE="$5" MIRROR="$6"
CACHE="$(dirname "$ROOTFS")"
log() { echo "[vm-sd-setup] $*" >&2; }
die() { echo "[vm-sd-setup] ERROR: $*" >&2; exit 1; }
node_id="$("$NODE_BIN" --version)"

# What the product and its proofs need in the guest. Keep sorted; any change rebuilds the image.
PACKAGES=(
  ca-certificates curl dbus dbus-user-session g++ iproute2 jq kmod libpam-systemd make procps
  python3 redis-server systemd systemd-sysv util-linux
)

log "building the Debian $SUITE root file system with mmdebstrap (${PACKAGES[*]}; node $node_id from the host)"
t0=$(date +%s)
tree="$(mktemp -d "$CACHE/sd-rootfs.XXXXXX")"
trap 'rm -rf "$tree" "$ROOTFS.tmp"' EXIT
# The guest's own runner unit: starts the command of a run (test/vm-systemd/guest-run.sh, from the
# project share) once the system is up. Type=exec: it does not hold up boot, so the command itself can
# wait for `systemctl is-system-running --wait`.
cat >"$tree.unit" <<'EOF'
[Unit]
Description=ffrtmp VM test runner (test/vm-systemd)
ConditionPathExists=/etc/ffrtmp-vm/run.env
After=basic.target network.target redis-server.service

[Service]
Type=exec
EnvironmentFile=/etc/ffrtmp-vm/run.env
ExecStart=/bin/bash ${FFRTMP_VM_PROJECT_PATH}/test/vm-systemd/guest-run.sh ${FFRTMP_VM_RUNDIR}
StandardInput=null
StandardOutput=journal+console
StandardError=journal+console
TimeoutStartSec=infinity

[Install]
WantedBy=multi-user.target
EOF
rmdir "$tree"   # mmdebstrap wants to create the target directory itself
mmdebstrap --variant=apt --mode=root --format=directory \
  --include="$(IFS=,; echo "${PACKAGES[*]}")" \
  --aptopt='APT::Install-Recommends "false"' \
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --customize-hook="install -m 0755 '$NODE_BIN' \"\$1/usr/local/bin/node\"" \
  --customize-hook="mkdir -p \"\$1/usr/local/lib/node_modules\" && cp -a '$NPM_DIR' \"\$1/usr/local/lib/node_modules/npm\"" \
  --customize-hook="ln -s ../lib/node_modules/npm/bin/npm-cli.js \"\$1/usr/local/bin/npm\" && ln -s ../lib/node_modules/npm/bin/npx-cli.js \"\$1/usr/local/bin/npx\"" \
  --customize-hook="if [ -n '$NODE_INC' ]; then mkdir -p \"\$1/usr/local/include\" && cp -a '$NODE_INC' \"\$1/usr/local/include/node\"; fi" \
  --customize-hook="install -D -m 0644 '$tree.unit' \"\$1/etc/systemd/system/ffrtmp-vmtest.service\"" \
  --customize-hook='chroot "$1" systemctl enable ffrtmp-vmtest.service' \
  --customize-hook='echo ffrtmp-sd > "$1/etc/hostname"; echo "127.0.1.1 ffrtmp-sd" >> "$1/etc/hosts"' \
  --customize-hook='printf "/dev/vda / ext4 rw,noatime 0 0\n" > "$1/etc/fstab"' \
  --customize-hook='echo 5a0e4c5b7d7e4f0c9b1d2e3f4a5b6c7d > "$1/etc/machine-id"' \
  --customize-hook='chroot "$1" passwd -d root >/dev/null' \
  --customize-hook='for u in getty@tty1.service serial-getty@ttyS0.service apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer e2scrub_reap.service fstrim.timer man-db.timer dpkg-db-backup.timer systemd-timesyncd.service; do ln -sf /dev/null "$1/etc/systemd/system/$u"; done' \
  --customize-hook='mkdir -p "$1/var/log/journal" "$1/etc/ffrtmp-vm"' \
  "$SUITE" "$tree" "deb $MIRROR $SUITE main" >&2 || die "mmdebstrap failed"
rm -f "$tree.unit"
size_mb=$(( $(du -sm "$tree" | cut -f1) * 2 + 1024 ))
truncate -s "${size_mb}M" "$ROOTFS.tmp"
mkfs.ext4 -q -F -L ffrtmp-root -E root_owner=0:0 -d "$tree" "$ROOTFS.tmp" >&2 || die "mkfs.ext4 -d failed"
mv "$ROOTFS.tmp" "$ROOTFS"
rm -rf "$tree"; trap - EXIT
log "root file system: $ROOTFS (${size_mb} MiB sparse, $(du -sm "$ROOTFS" | cut -f1) MiB used) in $(( $(date +%s) - t0 )) s"
