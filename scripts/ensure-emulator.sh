#!/usr/bin/env bash
# Installs fake-gcs-server (the GCS emulator the tests and the demo run against) into
# .tools/bin, with Go's module proxy. Does nothing when the right version is there.
# FAKE_GCS_SERVER_BIN, when set, names a binary to use instead.
set -euo pipefail
version="v1.56.1"
root="$(cd "$(dirname "$0")/.." && pwd)"
bin_dir="$root/.tools/bin"
stamp="$bin_dir/.fake-gcs-server-version"

if [ -n "${FAKE_GCS_SERVER_BIN:-}" ]; then
  [ -x "$FAKE_GCS_SERVER_BIN" ] || { echo "FAKE_GCS_SERVER_BIN=$FAKE_GCS_SERVER_BIN is not an executable file" >&2; exit 1; }
  exit 0
fi
if [ -x "$bin_dir/fake-gcs-server" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$version" ]; then
  exit 0
fi
command -v go >/dev/null || { echo "Go is needed to install fake-gcs-server $version (go install); install Go or set FAKE_GCS_SERVER_BIN" >&2; exit 1; }
echo "installing fake-gcs-server $version into .tools/bin (one time, about a minute)" >&2
mkdir -p "$bin_dir"
GOBIN="$bin_dir" go install "github.com/fsouza/fake-gcs-server@$version"
echo "$version" > "$stamp"
