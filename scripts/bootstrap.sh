#!/usr/bin/env bash
# Brings a clone up to date for running or testing: the npm packages (including the
# project's own Node 24, the `node` package) and the GCS emulator. Fast when nothing
# changed: npm runs only when package-lock.json differs from the last install.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
stamp="node_modules/.installed-lock-sha"
want="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [ ! -x node_modules/.bin/node ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "installing npm packages" >&2
  npm ci --no-audit --no-fund --loglevel=error
  echo "$want" > "$stamp"
fi
bash scripts/ensure-emulator.sh
