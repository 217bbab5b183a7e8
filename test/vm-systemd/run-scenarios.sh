#!/usr/bin/env bash
# Host side of the deployment proof (issue 12): packs this project (`npm pack`), fills an npm cache with
# its runtime dependencies (the guest has no network), and runs test/vm-systemd/scenarios.sh in the
# systemd guest (test/vm-systemd/run-in-vm.sh). Exit status: that of run-in-vm.sh (77 = skipped).
#
# The tarball gets a prebuild of the addon and the keeper (this host's build/Release, same glibc as the
# guest's Debian 12), so that the guest's `npm install` does not compile C++ under software emulation
# (measured: 13 min, against the whole suite's budget of 15). FFRTMP_SD_COMPILE=1 installs the tarball
# exactly as packed instead: the addon and the keeper are then built in the guest (python3, make, g++).
# Env: FFRTMP_SD_SCENARIOS ("1 2 3 4 5 6", a subset to run), FFRTMP_VM_TIMEOUT (default 1500 s), and
# those of run-in-vm.sh.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PROJECT="${FFRTMP_VM_PROJECT:-$(cd "$HERE/../.." && pwd)}"
CACHE="${FFRTMP_VM_CACHE:-$PROJECT/.vm}"
log() { echo "[vm-sd] $*" >&2; }

PACK="$CACHE/sd-pack"
rm -rf "$PACK"; mkdir -p "$PACK"
t0=$SECONDS
(cd "$PROJECT" && npm pack --silent --pack-destination "$PACK" >/dev/null) || { log "npm pack failed"; exit 125; }
TGZ="$(ls "$PACK"/*.tgz)"
if [[ ${FFRTMP_SD_COMPILE:-} != 1 ]]; then
  rel="$PROJECT/build/Release"
  [[ -f $rel/ffrtmp.node && -x $rel/ffrtmp-keeper ]] || { log "no $rel/ffrtmp.node + ffrtmp-keeper: run npm ci first (or FFRTMP_SD_COMPILE=1)"; exit 125; }
  work="$(mktemp -d "$PACK/repack.XXXXXX")"
  tar -xzf "$TGZ" -C "$work"
  mkdir -p "$work/package/prebuilds/linux-x64"
  cp "$rel/ffrtmp.node" "$work/package/prebuilds/linux-x64/ffrtmp.napi.glibc.node"
  cp "$rel/ffrtmp-keeper" "$work/package/prebuilds/linux-x64/ffrtmp-keeper"
  tar -czf "$TGZ" -C "$work" --owner=0 --group=0 package
  rm -rf "$work"
fi
# The dependencies, into a cache the guest's npm reads offline.
tmp="$(mktemp -d "$PACK/deps.XXXXXX")"
npm install --silent --prefix "$tmp" --omit=dev --ignore-scripts --no-audit --no-fund --cache "$CACHE/npm-cache" "$TGZ" >/dev/null \
  || { rm -rf "$tmp"; log "npm install (filling the npm cache) failed"; exit 125; }
rm -rf "$tmp"
log "packed $(basename "$TGZ")${FFRTMP_SD_COMPILE:+ (no prebuild: compiled in the guest)} and its dependencies in $((SECONDS - t0)) s"

exec "$HERE/run-in-vm.sh" --timeout "${FFRTMP_VM_TIMEOUT:-1500}" -- "$HERE/scenarios.sh" "$TGZ" "$CACHE/npm-cache"
