#!/usr/bin/env bash
# npm run bench [-- --quick] [-- --backend memory|emulator|both] [-- --rounds N]:
# bench/run.ts with every option given, then the query benchmark (quick when asked).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/ensure-emulator.sh
node bench/run.ts "$@"
query_args=(--skip-build)
for arg in "$@"; do [[ "$arg" == "--quick" ]] && query_args+=(--quick); done
node bench/query.ts "${query_args[@]}"
