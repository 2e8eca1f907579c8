#!/usr/bin/env bash
# Vendor the Compose Specification's JSON schema, pinned, from the check-jsonschema wheel on
# PyPI (it ships the schema as deploy tooling vendors it): deploy/vendor/compose-spec.json,
# LICENSE.compose-spec (Apache-2.0), COMPOSE_SPEC_VERSION (source + sha256).
# tests/ops/test_deploy_files.py validates deploy/compose.yaml against it.
# Usage: bash deploy/vendor/refresh-compose-spec.sh [CHECK_JSONSCHEMA_VERSION]
# To upgrade: run with a newer version (`pip index versions check-jsonschema`), run
# tests/ops, then update the pin here and commit the three files.
set -Eeuo pipefail
cd "$(dirname "$0")/../.."

readonly CHECK_JSONSCHEMA_VERSION=0.39.0
version=${1:-$CHECK_JSONSCHEMA_VERSION}
dest=deploy/vendor
python=${PYTHON:-.venv/bin/python}
[[ -x $python ]] || python=python3

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$python" -m pip download --quiet --no-deps --only-binary=:all: -d "$tmp" \
    "check-jsonschema==$version"
wheel=$(ls "$tmp"/check_jsonschema-"$version"-*.whl)
inner=check_jsonschema/builtin_schemas/vendor
"$python" - "$wheel" "$inner" "$dest" <<'PY'
import sys, zipfile
wheel, inner, dest = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    for name, out in ((f"{inner}/compose-spec.json", "compose-spec.json"),
                      (f"{inner}/licenses/LICENSE.compose-spec", "LICENSE.compose-spec")):
        with open(f"{dest}/{out}", "wb") as fh:
            fh.write(z.read(name))
PY
sha=$(sha256sum "$dest/compose-spec.json" | cut -d' ' -f1)
cat >"$dest/COMPOSE_SPEC_VERSION" <<INFO
compose-spec JSON schema, as vendored by check-jsonschema $version (PyPI)
sha256 $sha  compose-spec.json
source $inner/compose-spec.json in $(basename "$wheel")
upstream https://github.com/compose-spec/compose-spec (schema/compose-spec.json)
license Apache-2.0 (LICENSE.compose-spec)
refresh bash deploy/vendor/refresh-compose-spec.sh [VERSION]
INFO
echo "refresh-compose-spec: $dest/compose-spec.json from check-jsonschema $version (sha256 $sha)"
