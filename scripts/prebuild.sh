#!/usr/bin/env bash
# npm run prebuild: the addon and the keeper for linux-x64 and linux-arm64 (glibc), into
# prebuilds/linux-<arch>/, the way the package ships them (docs/shipping.md).
#
# - The addon is built with prebuildify (N-API: one build serves every Node version), the
#   keeper by the same binding.gyp; both land side by side, because the keeper is looked up
#   beside whichever addon node-gyp-build loaded (src/native/keeper-path.ts).
# - arm64 is cross-compiled with Debian's g++-aarch64-linux-gnu; the keeper links -static, so it
#   also needs libc6-dev-arm64-cross. Missing tools: one line, exit 1, prebuilds/ untouched.
# - build/ (the developer's own source build, which node-gyp-build prefers) is set aside and put
#   back: a cross build never leaves an arm64 addon where the x64 tests would load it.
# - Nothing is written to prebuilds/ until both arches are built (built in a temp dir, then
#   swapped in).
set -euo pipefail
cd "$(dirname "$0")/.."

CROSS=aarch64-linux-gnu
for tool in g++ make python3 "$CROSS-gcc" "$CROSS-g++" "$CROSS-strip" strip; do
  command -v "$tool" >/dev/null 2>&1 || {
    echo "prebuild: $tool not found (apt-get install g++ make python3 g++-$CROSS libc6-dev-arm64-cross)" >&2
    exit 1
  }
done
[ -f "/usr/$CROSS/lib/libc.a" ] || {
  echo "prebuild: /usr/$CROSS/lib/libc.a not found: the arm64 keeper links -static (apt-get install libc6-dev-arm64-cross)" >&2
  exit 1
}

out=$(mktemp -d "${TMPDIR:-/tmp}/ffrtmp-prebuild.XXXXXX")
kept=""
restore() {
  rm -rf build
  if [ -n "$kept" ] && [ -d "$kept" ]; then mv "$kept" build; fi
  rm -rf "$out"
}
trap restore EXIT
if [ -d build ]; then
  kept="build.prebuild-kept.$$"
  mv build "$kept"
fi

# node-gyp needs the Node headers: from npm's nodedir setting when there is one (npm passes it
# as npm_config_nodedir to scripts), else node-gyp's own cache or download.
if [ -z "${npm_config_nodedir:-}" ]; then
  nodedir=$(npm config get nodedir 2>/dev/null || true)
  case "$nodedir" in "" | undefined | null) ;; *) export npm_config_nodedir=$nodedir ;; esac
fi
build_one() { # arch, then env assignments for the compilers
  local arch=$1
  shift
  rm -rf build
  echo "== prebuild linux-$arch"
  env "$@" node_modules/.bin/prebuildify --napi --strip --tag-libc --arch "$arch" --out "$out" \
    >&2
  local dir="$out/prebuilds/linux-$arch"
  cp build/Release/ffrtmp-keeper "$dir/ffrtmp-keeper"
  chmod 755 "$dir/ffrtmp-keeper"
}

build_one x64
build_one arm64 CC="$CROSS-gcc" CXX="$CROSS-g++" LINK="$CROSS-g++" AR="$CROSS-ar" \
  CC_host=gcc CXX_host=g++ PREBUILD_STRIP_BIN="$CROSS-strip"

# What we ship must be what we think it is: the right machine in every ELF header.
check_elf() { # file, expected machine (read from the ELF header: file(1) may not be installed)
  # shellcheck disable=SC2016 # JavaScript, not shell
  node -e '
    const fs = require("fs");
    const [file, want] = process.argv.slice(1);
    const b = fs.readFileSync(file);
    const m = b.readUInt16LE(18);
    const names = { 62: "x86-64", 183: "aarch64" };
    if (b.readUInt32BE(0) !== 0x7f454c46 || names[m] !== want) {
      console.error(`prebuild: ${file} is ${names[m] ?? "machine " + m}, not ${want}`);
      process.exit(1);
    }' "$1" "$2"
}
for pair in x64:x86-64 arm64:aarch64; do
  arch=${pair%%:*}
  for f in "$out/prebuilds/linux-$arch"/*; do check_elf "$f" "${pair#*:}"; done
  [ -x "$out/prebuilds/linux-$arch/ffrtmp-keeper" ] || { echo "prebuild: no keeper for linux-$arch" >&2; exit 1; }
done

rm -rf prebuilds
mv "$out/prebuilds" prebuilds
find prebuilds -type f -printf '%p %s bytes\n' | sort
