#!/usr/bin/env bash
# The shipping suites of issue 11 (docs/shipping.md), run by .ci/run after npm ci and npm test:
#   1. the system packages they need, if missing: Debian's cross compiler and arm64 libc (the
#      arm64 prebuild; the keeper links -static) and qemu-user-static (the arm64 suite);
#   2. npm run build:prebuilds: prebuilds/linux-x64 and linux-arm64, each addon with its keeper;
#   3. test/package: the packed tarball's files, installed without a compiler, its types;
#   4. test/node-versions/run.sh: the native and fast unit suites on Node 22 and 24 (one addon);
#   5. test/arm64/run.sh: the native watch/spawn/keeper suites in the arm64 Node under qemu-user.
# About 10 minutes on 2 cores. Exit non-zero if any part fails (all parts run).
set -euo pipefail
cd "$(dirname "$0")/../.."
export DEBIAN_FRONTEND=noninteractive

need=()
command -v aarch64-linux-gnu-g++ >/dev/null || need+=(g++-aarch64-linux-gnu)
[ -f /usr/aarch64-linux-gnu/lib/libc.a ] || need+=(libc6-dev-arm64-cross)
[ -x /usr/bin/qemu-aarch64-static ] || need+=(qemu-user-static)
command -v unshare >/dev/null || need+=(util-linux)
if [ ${#need[@]} -gt 0 ]; then
  echo "== ship: apt-get install ${need[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

failed=()
part() { # name, command...
  local name=$1 start rc
  shift
  echo "== ship: $name"
  start=$(date +%s)
  set +e
  "$@"
  rc=$?
  set -e
  if [ "$rc" -eq 77 ]; then
    echo "!! ship: $name SKIPPED" >&2
    case "${CI:-}" in true | TRUE | True | 1) failed+=("$name (skipped under CI)") ;; esac
  elif [ "$rc" -ne 0 ]; then
    echo "!! ship: $name FAILED (status $rc)" >&2
    failed+=("$name")
  fi
  echo "== ship: $name: $(($(date +%s) - start)) s"
  return 0
}

part "prebuilds" npm run build:prebuilds
if [ ${#failed[@]} -gt 0 ]; then
  echo "!! ship: no prebuilds, so no package, version or arm64 suite" >&2
  exit 1
fi
part "package" node node_modules/vitest/vitest.mjs run --config test/package/vitest.config.mts
part "node versions" bash test/node-versions/run.sh
part "arm64 under qemu-user" bash test/arm64/run.sh

if [ ${#failed[@]} -gt 0 ]; then
  printf '!! ship: failed: %s\n' "${failed[@]}" >&2
  exit 1
fi
echo "== ship: all passed"
