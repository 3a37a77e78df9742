#!/usr/bin/env bash
# Sets everything up, then runs Tollgate on its embedded defaults. Until the gateway listener
# lands, this masks the demo file with the default entity set and prints the per-entity report.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
npx tollgate mask --report json deploy/examples/demo-export.csv
