#!/usr/bin/env bash
# Build wasm/srtp.wasm (libsrtp + wasm/shim.c) from public sources on Debian 12:
#   libsrtp: Debian's source package (apt-get source libsrtp2=$LIBSRTP_DEB, pinned,
#            orig tarball SHA-256 checked), with Debian's patches applied
#   toolchain: Debian's emscripten package (emcc 3.1.6, clang-14, binaryen 108)
# libsrtp's autoconf configure refuses emscripten, so it is built with its CMake
# (emcmake cmake ... && emmake make srtp2), then linked with the shim as a standalone
# module: no emscripten JS glue, explicit exports, fixed memory that never grows.
#
# Usage:
#   bash wasm/build.sh            build, write wasm/srtp.wasm and wasm/srtp.wasm.json
#   bash wasm/build.sh --check    rebuild in wasm/build/check, fail if the bytes differ
#                                 from the committed wasm/srtp.wasm (CI)
#   bash wasm/build.sh --variants build the flag variants compared by bench/srtp.ts
#                                 into wasm/build/variants/
#   bash wasm/build.sh --native   build native baselines for bench/srtp.ts (gcc, same
#                                 libsrtp source: OpenSSL backend and built-in crypto;
#                                 plus Debian's libsrtp2 (NSS) if libsrtp2-dev is installed)
#   bash wasm/build.sh --setup    (root) add deb-src entries if missing and install
#                                 the build dependencies; combine with the others
# Work happens in wasm/build/ (gitignored): libsrtp sources are never committed.
set -euo pipefail

LIBSRTP_DEB=2.5.0-3
LIBSRTP_ORIG_SHA256=8a43ef8e9ae2b665292591af62aa1a4ae41e468b6d98d8258f91478735da4e09
EMSCRIPTEN_EXPECTED=3.1.6
# gcc + libsrtp2-dev: the native libsrtp peer of test/wasm/native-interop.test.ts (not the module)
APT_PACKAGES="emscripten cmake make dpkg-dev gcc libsrtp2-dev"

# Release flags of the committed module (bench/results/srtp.md records what each bought).
CFLAGS_RELEASE="-O3 -flto"
MEMORY_BYTES=67108864 # 64 MiB, fixed (INITIAL = MAXIMUM, no growth)
STACK_BYTES=65536

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
WORK="$HERE/build"
EXPORTS="_pp_init,_pp_slot_base,_pp_slot_size,_pp_slot_count,_pp_max_in,_pp_key_buf,_pp_state_buf,_pp_max_sessions,_pp_heap_used,_pp_session_create,_pp_session_destroy,_pp_session_update,_pp_protect_rtp,_pp_unprotect_rtp,_pp_protect_rtcp,_pp_unprotect_rtcp,_pp_stream_state,_pp_xfer_buf,_pp_session_export,_pp_stream_import,_pp_aes_cm_kat,_pp_kat_session_keys"

# Debian's emscripten runs its JS tools with the system node; a node that is not
# Debian's own (e.g. NodeSource) does not search /usr/share/nodejs for node-acorn.
export NODE_PATH="/usr/share/nodejs${NODE_PATH:+:$NODE_PATH}"
# Reproducibility: no timestamps, stable locale and sort order.
export SOURCE_DATE_EPOCH=0 LC_ALL=C TZ=UTC

log() { echo "build.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

has_deb_src() {
  grep -rqsE '^[[:space:]]*(Types:.*\bdeb-src\b|deb-src[[:space:]])' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null
}

# Idempotent: add deb-src twins of the machine's Debian entries if there are none.
ensure_deb_src() {
  has_deb_src && return 0
  [ "$(id -u)" = 0 ] || die "no deb-src line in /etc/apt; run as root once: bash wasm/build.sh --setup"
  local f out=/etc/apt/sources.list.d/phone-proxy-deb-src.sources
  : >"$out.tmp"
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -e "$f" ] || continue
    grep -qE '^URIs:.*debian' "$f" || continue
    sed -E 's/^Types:[[:space:]]*deb[[:space:]]*$/Types: deb-src/' "$f" >>"$out.tmp"
    echo >>"$out.tmp"
  done
  if [ -s "$out.tmp" ]; then mv "$out.tmp" "$out"; else rm -f "$out.tmp"; fi
  if [ -f /etc/apt/sources.list ] && grep -qE '^deb[[:space:]]' /etc/apt/sources.list; then
    sed -nE 's/^deb[[:space:]]+/deb-src /p' /etc/apt/sources.list >/etc/apt/sources.list.d/phone-proxy-deb-src.list
  fi
  has_deb_src || die "no deb-src entry could be derived from /etc/apt"
  log "added deb-src entries for the machine's Debian archives"
  apt-get update -q >&2
}

setup() {
  [ "$(id -u)" = 0 ] || die "--setup needs root"
  ensure_deb_src
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q $APT_PACKAGES
}

need_tools() {
  local t
  for t in emcc emcmake emmake cmake make dpkg-source apt-get sha256sum; do
    command -v "$t" >/dev/null || die "$t not found (run: sudo bash wasm/build.sh --setup)"
  done
  local v
  v="$(emcc --version | sed -n 1p)"
  case "$v" in
    *" $EMSCRIPTEN_EXPECTED "*|*" $EMSCRIPTEN_EXPECTED") ;;
    *) log "warning: expected emscripten $EMSCRIPTEN_EXPECTED, found: $v (output will differ)";;
  esac
}

# Fetch and unpack libsrtp's Debian source once into $WORK/libsrtp2-$LIBSRTP_DEB.
fetch_source() {
  local src="$WORK/libsrtp2-$LIBSRTP_DEB"
  if [ -f "$src/.unpacked" ]; then echo "$src"; return; fi
  mkdir -p "$WORK/dl"
  (
    cd "$WORK/dl"
    if [ ! -f "libsrtp2_${LIBSRTP_DEB}.dsc" ]; then
      ensure_deb_src
      apt-get source --download-only "libsrtp2=$LIBSRTP_DEB" >&2 ||
        die "apt-get source libsrtp2=$LIBSRTP_DEB failed (deb-src missing, or the version left the archive)"
    fi
    echo "$LIBSRTP_ORIG_SHA256  libsrtp2_${LIBSRTP_DEB%-*}.orig.tar.gz" | sha256sum -c - >&2 ||
      die "libsrtp orig tarball checksum mismatch"
    rm -rf "$src"
    dpkg-source --no-check -x "libsrtp2_${LIBSRTP_DEB}.dsc" "$src" >&2
  )
  touch "$src/.unpacked"
  echo "$src"
}

# build_variant NAME "CFLAGS" OUTFILE: CMake-build libsrtp with CFLAGS, link with the shim.
build_variant() {
  local name="$1" cflags="$2" out="$3" src bld
  src="$(fetch_source)"
  bld="$WORK/cmake-$name"
  rm -rf "$bld"
  mkdir -p "$bld"
  log "[$name] cmake ($cflags)"
  (
    cd "$bld"
    # -ffile-prefix-map keeps build paths out of the output.
    emcmake cmake "$src" \
      -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_C_FLAGS_RELEASE="$cflags -DNDEBUG -ffile-prefix-map=$src=libsrtp -ffile-prefix-map=$HERE=wasm" \
      -DTEST_APPS=OFF -DBUILD_SHARED_LIBS=OFF -DBUILD_WITH_WARNINGS=OFF \
      -DENABLE_OPENSSL=OFF -DENABLE_MBEDTLS=OFF -DENABLE_NSS=OFF \
      -DENABLE_DEBUG_LOGGING=OFF >cmake.log 2>&1 || { tail -n 30 cmake.log >&2; die "cmake failed"; }
    emmake make srtp2 -j"${JOBS:-2}" >make.log 2>&1 || { tail -n 30 make.log >&2; die "make failed"; }
  )
  log "[$name] link"
  # shellcheck disable=SC2086
  emcc $cflags -DNDEBUG -DHAVE_CONFIG_H \
    -ffile-prefix-map="$src"=libsrtp -ffile-prefix-map="$HERE"=wasm \
    -I"$bld" -I"$src/include" -I"$src/crypto/include" \
    "$HERE/shim.c" "$bld/libsrtp2.a" \
    -sSTANDALONE_WASM --no-entry \
    -sEXPORTED_FUNCTIONS="$EXPORTS" \
    -sINITIAL_MEMORY=$MEMORY_BYTES -sALLOW_MEMORY_GROWTH=0 -sTOTAL_STACK=$STACK_BYTES \
    -sERROR_ON_UNDEFINED_SYMBOLS=1 \
    -o "$out"
}

write_manifest() {
  local wasm="$1" manifest="$2" sha bytes em
  sha="$(sha256sum "$wasm" | cut -d' ' -f1)"
  bytes="$(stat -c %s "$wasm")"
  em="$(emcc --version | sed -n 1p | sed -E 's/.* ([0-9]+[.][0-9]+[.][0-9]+) .*/\1/')"
  cat >"$manifest" <<EOF
{
  "file": "srtp.wasm",
  "sha256": "$sha",
  "bytes": $bytes,
  "libsrtp": "${LIBSRTP_DEB%-*}",
  "debian_source": "libsrtp2 $LIBSRTP_DEB (orig.tar.gz sha256 $LIBSRTP_ORIG_SHA256)",
  "emscripten": "$em (Debian emscripten $(dpkg-query -W -f='${Version}' emscripten 2>/dev/null), clang $(dpkg-query -W -f='${Version}' clang-14 2>/dev/null), binaryen $(dpkg-query -W -f='${Version}' binaryen 2>/dev/null))",
  "flags": "$CFLAGS_RELEASE -sSTANDALONE_WASM --no-entry -sINITIAL_MEMORY=$MEMORY_BYTES -sALLOW_MEMORY_GROWTH=0 -sTOTAL_STACK=$STACK_BYTES"
}
EOF
}

MODE=build
DO_SETUP=0
for arg in "$@"; do
  case "$arg" in
    --setup) DO_SETUP=1 ;;
    --check) MODE=check ;;
    --variants) MODE=variants ;;
    --native) MODE=native ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) die "unknown argument $arg" ;;
  esac
done

[ "$DO_SETUP" = 1 ] && setup
need_tools
mkdir -p "$WORK"

case "$MODE" in
  build)
    build_variant release "$CFLAGS_RELEASE" "$WORK/srtp.wasm"
    cp "$WORK/srtp.wasm" "$HERE/srtp.wasm"
    write_manifest "$HERE/srtp.wasm" "$HERE/srtp.wasm.json"
    log "wrote wasm/srtp.wasm ($(stat -c %s "$HERE/srtp.wasm") bytes, sha256 $(sha256sum "$HERE/srtp.wasm" | cut -d' ' -f1))"
    ;;
  check)
    mkdir -p "$WORK/check"
    build_variant check "$CFLAGS_RELEASE" "$WORK/check/srtp.wasm"
    want="$(sed -nE 's/.*"sha256": "([0-9a-f]+)".*/\1/p' "$HERE/srtp.wasm.json")"
    got="$(sha256sum "$WORK/check/srtp.wasm" | cut -d' ' -f1)"
    committed="$(sha256sum "$HERE/srtp.wasm" | cut -d' ' -f1)"
    [ "$committed" = "$want" ] || die "wasm/srtp.wasm ($committed) does not match its manifest ($want)"
    if [ "$got" != "$want" ]; then
      log "rebuilt module differs: $got, committed $want"
      exit 1
    fi
    log "rebuilt module is byte-identical to wasm/srtp.wasm ($got)"
    ;;
  variants)
    mkdir -p "$WORK/variants"
    build_variant O2 "-O2" "$WORK/variants/O2.wasm"
    build_variant O3 "-O3" "$WORK/variants/O3.wasm"
    build_variant O3-flto "-O3 -flto" "$WORK/variants/O3-flto.wasm"
    build_variant O3-simd "-O3 -msimd128" "$WORK/variants/O3-simd.wasm"
    build_variant O3-flto-simd "-O3 -flto -msimd128" "$WORK/variants/O3-flto-simd.wasm"
    ls -l "$WORK/variants" >&2
    ;;
  native)
    # Native baselines only (not shipped): needs gcc, cmake, libssl-dev.
    src="$(fetch_source)"
    for v in openssl builtin; do
      bld="$WORK/native-$v"
      rm -rf "$bld" && mkdir -p "$bld"
      opt=OFF; [ "$v" = openssl ] && opt=ON
      (cd "$bld" && cmake "$src" -DCMAKE_BUILD_TYPE=Release -DTEST_APPS=OFF -DBUILD_WITH_WARNINGS=OFF \
        -DENABLE_OPENSSL=$opt >cmake.log 2>&1 && make srtp2 -j"${JOBS:-2}" >make.log 2>&1) || die "native $v build failed"
      libs="$bld/libsrtp2.a"; [ "$v" = openssl ] && libs="$libs -lcrypto"
      # shellcheck disable=SC2086
      gcc -O2 -DPP_LOCAL_SRTP_H -I"$src/include" -I"$bld" -o "$WORK/native-bench-$v" "$HERE/native-bench.c" $libs
    done
    if [ -f /usr/include/srtp2/srtp.h ]; then
      gcc -O2 -o "$WORK/native-bench-debian-nss" "$HERE/native-bench.c" -lsrtp2
    fi
    ls -l "$WORK"/native-bench-* >&2
    ;;
esac
