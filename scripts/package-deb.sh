#!/usr/bin/env bash
# `npm run package:deb`: builds dist/deb/phone-proxy_<version>_<arch>.deb from this checkout
# (<arch>: dpkg's, e.g. amd64: the package carries one native addon, the media workers' batched
# UDP path, src/media/native/udp-batch.c, compiled here).
#
#   /usr/lib/phone-proxy/          package.json (name, version: `show version` reads it),
#                                  dist/{src,ctl,wasm} (compiled by tsconfig.build.json, no source
#                                  maps; dist/src/media/native/udp-batch.node built from C by
#                                  scripts/build-native.sh), wasm/srtp.wasm + srtp.wasm.json (found as ../../wasm/
#                                  from dist/wasm; the manifest's SHA-256 is checked at load),
#                                  node_modules/ (production dependencies only, from the lock)
#   /usr/bin/phone-proxy           wrapper: exec /usr/bin/node …/dist/src/cli.js
#   /etc/phone-proxy/policy.yaml   policies/default.yaml (conffile)
#   /lib/systemd/system/phone-proxy.service
#   /usr/share/bash-completion/completions/phone-proxy   `phone-proxy completion bash`
#   /usr/share/doc/phone-proxy/    copyright, install.md, policy examples
#
# Options: --out DIR (default dist/deb). DEB_MAINTAINER overrides the Maintainer field.
# Fails if anything outside that list (tests, bench, lab, docs, TypeScript sources, dev
# dependencies, native addons other than our own udp-batch.node) would be packaged.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
OUT="$ROOT/dist/deb"
while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUT="$(mkdir -p "$2" && cd "$2" && pwd)"; shift 2 ;;
    *) echo "package-deb: unknown option $1" >&2; exit 2 ;;
  esac
done

NAME=$(node -p "require('./package.json').name")
VERSION=$(node -p "require('./package.json').version")
MAINTAINER="${DEB_MAINTAINER:-phone-proxy project <phone-proxy@invalid>}"
ARCH=$(dpkg --print-architecture)
DEB="$OUT/${NAME}_${VERSION}_${ARCH}.deb"
PKG=packaging/deb

STAGE=$(mktemp -d "${TMPDIR:-/tmp}/phone-proxy-deb.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT
TREE="$STAGE/tree"
APP="$TREE/usr/lib/phone-proxy"
umask 022
mkdir -p "$APP/wasm" "$TREE/usr/bin" "$TREE/etc/phone-proxy" "$TREE/lib/systemd/system" \
  "$TREE/usr/share/doc/phone-proxy/examples" "$TREE/usr/share/bash-completion/completions" "$TREE/DEBIAN"

step() { printf 'package-deb: %s\n' "$*"; }

step "compiling src/ ctl/ wasm/ (tsconfig.build.json) into the package"
node_modules/.bin/tsc -p tsconfig.build.json --outDir "$APP/dist" --sourceMap false
cp wasm/srtp.wasm wasm/srtp.wasm.json "$APP/wasm/"
step "building the batched UDP addon (src/media/native/udp-batch.c)"
PP_NATIVE_REQUIRED=1 sh scripts/build-native.sh "$APP/dist/src/media/native"
strip --strip-unneeded "$APP/dist/src/media/native/udp-batch.node" 2>/dev/null || true

step "production dependencies from package-lock.json"
mkdir "$STAGE/npm"
cp package.json package-lock.json "$STAGE/npm/"
NPM_FLAGS=(--omit=dev --ignore-scripts --no-audit --no-fund --prefer-offline --loglevel=error)
# `npm ci` first; this npm (11.19) may refuse its own lock (platform-specific optional packages
# of dev tools missing from it, see .ci/run), then `npm install`, which with an unchanged lock
# installs exactly the locked versions.
if ! (cd "$STAGE/npm" && npm ci "${NPM_FLAGS[@]}" >"$STAGE/npm.log" 2>&1); then
  step "npm ci refused the lock ($(grep -m1 -i 'npm error' "$STAGE/npm.log" || echo 'see log')); npm install"
  (cd "$STAGE/npm" && rm -rf node_modules && npm install "${NPM_FLAGS[@]}")
fi
(cd "$STAGE/npm" && npm ls --omit=dev --all >/dev/null) || { echo "package-deb: npm ls: dependency tree inconsistent" >&2; exit 1; }
mv "$STAGE/npm/node_modules" "$APP/node_modules"
rm -f "$APP/node_modules/.package-lock.json"

# What `show version` and the loaders need from package.json, nothing that refers to files
# the package does not carry (scripts, dev dependencies).
node -e '
  const p = require(process.argv[1]);
  const keep = { name: p.name, version: p.version, description: p.description, license: p.license,
    private: p.private, engines: p.engines, bin: p.bin, dependencies: p.dependencies };
  require("fs").writeFileSync(process.argv[2], JSON.stringify(keep, null, 2) + "\n");
' "$ROOT/package.json" "$APP/package.json"

install -m 0755 "$PKG/phone-proxy" "$TREE/usr/bin/phone-proxy"
{
  echo "# Installed by the phone-proxy Debian package as /etc/phone-proxy/policy.yaml (a conffile:"
  echo "# your changes survive upgrades). The service keeps its state in /var/lib/phone-proxy."
  echo "# Check edits with \`phone-proxy check\`, apply them with \`systemctl reload phone-proxy\`."
  cat policies/default.yaml
} >"$TREE/etc/phone-proxy/policy.yaml"
install -m 0644 "$PKG/phone-proxy.service" "$TREE/lib/systemd/system/phone-proxy.service"
# bash-completion loads it on demand (the file is named after the command); made by the CLI
# being packaged, from its command tree (src/cli/completion.ts).
node "$APP/dist/src/cli.js" completion bash >"$TREE/usr/share/bash-completion/completions/phone-proxy"
install -m 0644 "$PKG/copyright" "$TREE/usr/share/doc/phone-proxy/copyright"
install -m 0644 docs/install.md "$TREE/usr/share/doc/phone-proxy/install.md"
install -m 0644 policies/examples/* "$TREE/usr/share/doc/phone-proxy/examples/"

# ---- nothing but the product -------------------------------------------------------------
step "checking the tree"
fail=0
bad() { echo "package-deb: would package $1" >&2; fail=1; }
for entry in "$APP"/* "$APP"/dist/*; do
  case "${entry#"$APP"/}" in
    package.json | dist | dist/src | dist/ctl | dist/wasm | wasm | node_modules) ;;
    *) bad "unexpected /usr/lib/phone-proxy/${entry#"$APP"/}" ;;
  esac
done
[ "$(ls "$APP/wasm")" = "$(printf 'srtp.wasm\nsrtp.wasm.json')" ] || bad "wasm/: $(ls "$APP/wasm" | tr '\n' ' ')"
while IFS= read -r f; do bad "${f#"$TREE"}"; done < <(
  find "$APP/dist" -type f ! -name '*.js' ! -path "$APP/dist/src/media/native/udp-batch.node"
  find "$APP/dist" -path '*/test/*' -o -path '*/bench/*' -o -path '*/lab/*'
  find "$APP/node_modules" -name '*.node' -type f
)
for dev in $(node -p "Object.keys(require('./package.json').devDependencies).join(' ')"); do
  [ ! -e "$APP/node_modules/$dev" ] || bad "dev dependency node_modules/$dev"
done
for dep in $(node -p "Object.keys(require('./package.json').dependencies).join(' ')"); do
  [ -f "$APP/node_modules/$dep/package.json" ] || { echo "package-deb: dependency $dep missing" >&2; fail=1; }
done
for f in dist/src/cli.js dist/src/media/worker.js dist/src/media/native/udp-batch.node dist/wasm/srtp.js; do
  [ -f "$APP/$f" ] || { echo "package-deb: $f missing" >&2; fail=1; }
done
[ "$fail" = 0 ] || exit 1

# ---- metadata, modes, timestamps --------------------------------------------------------
# Version-control and publishing leftovers of the dependencies, never loaded.
find "$APP/node_modules" \( -name .github -o -name .husky \) -type d -prune -exec rm -rf {} +
find "$APP/node_modules" -type f \( -name .npmignore -o -name .gitignore -o -name .gitattributes -o -name .travis.yml \) -delete
# Files 0644 and directories 0755 whatever the checkout or the tarballs said (wasm/srtp.wasm is
# 0755 in git); executable: the wrapper, the CLI and the dependencies' bin scripts.
find "$TREE" -type d -exec chmod 0755 {} +
find "$TREE" -type f -exec chmod 0644 {} +
chmod 0755 "$TREE/usr/bin/phone-proxy" "$APP/dist/src/cli.js"
for bin in "$APP"/node_modules/.bin/*; do chmod 0755 "$(readlink -f "$bin")"; done
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}"
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD 2>/dev/null || COMMIT="$COMMIT + uncommitted changes"
printf '%s (%s) unstable; urgency=medium\n\n  * Built from commit %s.\n\n -- %s  %s\n' \
  "$NAME" "$VERSION" "$COMMIT" "$MAINTAINER" "$(LC_ALL=C date -u -R -d "@$SOURCE_DATE_EPOCH")" |
  gzip -9n >"$TREE/usr/share/doc/phone-proxy/changelog.gz"
chmod 0644 "$TREE/usr/share/doc/phone-proxy/changelog.gz"
for s in postinst prerm postrm; do install -m 0755 "$PKG/$s" "$TREE/DEBIAN/$s"; done
install -m 0644 "$PKG/conffiles" "$TREE/DEBIAN/conffiles"
INSTALLED_SIZE=$(du -sk --exclude=DEBIAN "$TREE" | cut -f1)
sed -e "s/@VERSION@/$VERSION/" -e "s/@ARCH@/$ARCH/" -e "s/@MAINTAINER@/$MAINTAINER/" -e "s/@INSTALLED_SIZE@/$INSTALLED_SIZE/" \
  "$PKG/control.in" >"$TREE/DEBIAN/control"
chmod 0644 "$TREE/DEBIAN/control"
(cd "$TREE" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 md5sum) \
  >"$TREE/DEBIAN/md5sums"
chmod 0644 "$TREE/DEBIAN/md5sums"
# Same sources, same bytes: every mtime is the last commit's time.
find "$TREE" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +

mkdir -p "$OUT"
dpkg-deb --root-owner-group -Zxz --build "$TREE" "$DEB" >/dev/null
dpkg-deb --contents "$DEB" >"$STAGE/contents"
step "built $DEB: $(stat -c %s "$DEB") bytes, $(grep -c '^-' "$STAGE/contents") files, $(grep -c '^l' "$STAGE/contents") links, installed size ${INSTALLED_SIZE} KiB"
