#!/bin/sh
# Builds the media workers' batched UDP addon (src/media/native/udp-batch.c, Node-API, C) into
# OUT (default dist/src/media/native), from Node's own headers: no download, no node-gyp.
# Without a C compiler or Node's headers it says so and stops with status 0: the workers then
# use node:dgram (media-termination.socket-io: auto). PP_NATIVE_REQUIRED=1 makes that an error.
set -eu
cd "$(dirname "$0")/.."
OUT="${1:-dist/src/media/native}"
SRC=src/media/native/udp-batch.c
CC="${CC:-cc}"
skip() {
  echo "build-native: $1; the media workers will use node:dgram" >&2
  [ "${PP_NATIVE_REQUIRED:-0}" = 1 ] && exit 1
  exit 0
}
command -v "$CC" >/dev/null 2>&1 || skip "no C compiler ($CC)"
INC=""
PREFIX=$(node -p 'require("path").resolve(process.execPath, "../..")')
for d in "$PREFIX/include/node" /usr/include/node /usr/local/include/node; do
  if [ -f "$d/node_api.h" ] && [ -f "$d/uv.h" ]; then INC="$d"; break; fi
done
[ -n "$INC" ] || skip "Node's headers (node_api.h, uv.h) not found"
mkdir -p "$OUT"
"$CC" -O2 -std=gnu11 -Wall -Wextra -Wno-unused-parameter -fPIC -shared -fvisibility=hidden \
  -I"$INC" -o "$OUT/udp-batch.node.tmp" "$SRC"
mv "$OUT/udp-batch.node.tmp" "$OUT/udp-batch.node"
