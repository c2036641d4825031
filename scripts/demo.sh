#!/usr/bin/env bash
# The main job, locally: installs what is missing, starts fake-gcs-server, creates a
# bucket, runs the connector on a socket under run/, and shows a short demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec npm run --silent dev -- "$@"
