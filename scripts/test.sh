#!/usr/bin/env bash
# The whole test suite: installs what is missing, then type-checks, lints, runs the
# unit tests and the integration tests against fake-gcs-server.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
npm test
