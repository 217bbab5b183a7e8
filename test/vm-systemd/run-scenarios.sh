#!/usr/bin/env bash
# Host side of the deployment proof (issue 12): packs this project (`npm pack`), fills an npm cache with
# its runtime dependencies (the guest has no network), and runs test/vm-systemd/scenarios.sh in the
# systemd guest (test/vm-systemd/run-in-vm.sh). Exit status: that of run-in-vm.sh (77 = skipped).
#
# The tarball is the release tarball (`npm pack`, whose prepack check wants current prebuilds for x64
# and arm64: .ci/run builds them in its ship block, before this suite; `npm run build:prebuilds` by
# hand), so the guest's `npm install` loads the shipped prebuild and compiles nothing (compiling C++
# under software emulation took 13 min, the suite's whole budget).
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
(cd "$PROJECT" && npm pack --silent --pack-destination "$PACK" >/dev/null) || { log "npm pack failed (prebuilds missing or stale? npm run build:prebuilds)"; exit 125; }
TGZ="$(ls "$PACK"/*.tgz)"
entries="$(tar -tzf "$TGZ")"   # not piped into grep -q: under pipefail, tar's SIGPIPE would fail it
grep -qx 'package/prebuilds/linux-x64/ffrtmp-keeper' <<<"$entries" || { log "$TGZ has no x64 prebuild"; exit 125; }
# The dependencies, into a cache the guest's npm reads offline.
tmp="$(mktemp -d "$PACK/deps.XXXXXX")"
npm install --silent --prefix "$tmp" --omit=dev --ignore-scripts --no-audit --no-fund --cache "$CACHE/npm-cache" "$TGZ" >/dev/null \
  || { rm -rf "$tmp"; log "npm install (filling the npm cache) failed"; exit 125; }
rm -rf "$tmp"
log "packed $(basename "$TGZ") (with its prebuilds) and its dependencies in $((SECONDS - t0)) s"

exec "$HERE/run-in-vm.sh" --timeout "${FFRTMP_VM_TIMEOUT:-1500}" -- "$HERE/scenarios.sh" "$TGZ" "$CACHE/npm-cache"
