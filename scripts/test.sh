#!/usr/bin/env bash
# Sets everything up, then runs every check and test: lint, generated-file drift, Rust unit
# tests, TypeScript unit tests and the integration suites against real targets.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

log() { printf '\033[1m[test]\033[0m %s\n' "$*"; }

log "drift: the committed native/index.d.ts must match what the build generates"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  git diff --exit-code -- native/index.d.ts native/index.js
fi

log "drift: the committed policy.schema.json and openapi.json must match what the code generates"
node packages/control-plane/dist/policy/write-schema.js
node packages/control-plane/dist/api/write-openapi.js
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  git diff --exit-code -- packages/control-plane/policy.schema.json packages/control-plane/openapi.json
fi

log "lint: Biome, rustfmt, clippy"
npx biome check .
(cd native && cargo fmt --all --check && cargo clippy --workspace --all-targets --release --quiet -- -D warnings)

log "Rust unit tests"
(cd native && cargo test --workspace --release --quiet)

log "TypeScript unit and integration tests"
mapfile -t files < <(find packages/*/dist bench/dist integration/dist -name '*.test.js' | sort)
node --test --test-concurrency=2 --test-timeout=600000 "${files[@]}"
