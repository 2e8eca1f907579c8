#!/usr/bin/env bash
# Vendor axe-core (accessibility checks for the browser tests) from npm, pinned:
#   tests/browser/vendor/axe.min.js, LICENSE (MPL-2.0), AXE_VERSION (version + sha256).
# Usage: bash deploy/vendor/refresh-axe.sh [VERSION]   (default: the pin below)
# To upgrade: look at `npm view axe-core version`, run with that version, check the browser
# tests still pass, then update AXE_CORE_VERSION here and commit all four files.
set -Eeuo pipefail
cd "$(dirname "$0")/../.."

readonly AXE_CORE_VERSION=4.14.1
version=${1:-$AXE_CORE_VERSION}
dest=tests/browser/vendor

command -v npm >/dev/null || { echo "refresh-axe: npm is needed (apt-get install npm)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

tarball=$(cd "$tmp" && npm pack --silent "axe-core@$version")
tar -xzf "$tmp/$tarball" -C "$tmp"
pkg=$tmp/package
got=$(node -p "require('$pkg/package.json').version" 2>/dev/null ||
    sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$pkg/package.json" | head -n1)
[[ $got == "$version" ]] || { echo "refresh-axe: npm gave axe-core $got, not $version" >&2; exit 1; }
[[ -s $pkg/axe.min.js ]] || { echo "refresh-axe: axe.min.js missing in $tarball" >&2; exit 1; }

mkdir -p "$dest"
cp "$pkg/axe.min.js" "$dest/axe.min.js"
cp "$pkg/LICENSE" "$dest/LICENSE"
sha=$(sha256sum "$dest/axe.min.js" | cut -d' ' -f1)
cat >"$dest/AXE_VERSION" <<INFO
axe-core $version
sha256 $sha  axe.min.js
source https://registry.npmjs.org/axe-core/-/axe-core-$version.tgz (npm pack axe-core@$version)
license MPL-2.0 (LICENSE)
refresh bash deploy/vendor/refresh-axe.sh [VERSION]
INFO
echo "refresh-axe: $dest/axe.min.js = axe-core $version (sha256 $sha)"
