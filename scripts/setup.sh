#!/usr/bin/env bash
# Sets up everything Tollgate needs on a fresh Debian 12 machine with Node 20 and Rust:
# Debian packages (when run as root), npm packages, the native addon and the TypeScript build.
# Idempotent: a second run only rebuilds what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

# --- Debian packages -------------------------------------------------------------------------
# libhyperscan-dev: the masking engine (Hyperscan 5.4.0, pkg-config libhs; not vectorscan).
# postgresql: the integration targets. pkg-config/build-essential: the addon build.
need=()
dpkg -s libhyperscan-dev >/dev/null 2>&1 || need+=(libhyperscan-dev)
dpkg -s pkg-config >/dev/null 2>&1 || need+=(pkg-config)
dpkg -s build-essential >/dev/null 2>&1 || need+=(build-essential)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v psql >/dev/null 2>&1 || need+=(postgresql-client)
# libclang-dev/clang: bindgen inside the pg_query crate (libpg_query, the SQL classifier).
dpkg -s libclang-dev >/dev/null 2>&1 && command -v clang >/dev/null 2>&1 || need+=(libclang-dev clang)
# openssl: the test CA and server certificates of the PostgreSQL TLS suites.
command -v openssl >/dev/null 2>&1 || need+=(openssl)
# pgbouncer: the PgBouncer side of the PostgreSQL benchmark; python3-psycopg: the psycopg 3 client suite.
dpkg -s pgbouncer >/dev/null 2>&1 || need+=(pgbouncer)
dpkg -s python3-psycopg >/dev/null 2>&1 || need+=(python3-psycopg)
# openssh-server/-client: sshd as the SSH suites' target; ssh and ssh-keygen as their clients.
[ -x /usr/sbin/sshd ] || need+=(openssh-server)
command -v ssh >/dev/null 2>&1 && command -v ssh-keygen >/dev/null 2>&1 || need+=(openssh-client)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    log "installing Debian packages: ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    # the postgresql package starts a cluster of its own; the tests start their own clusters
    if command -v pg_lsclusters >/dev/null 2>&1; then
      pg_lsclusters -h 2>/dev/null | awk '{print $1, $2}' | while read -r v c; do
        pg_ctlcluster "$v" "$c" stop >/dev/null 2>&1 || true
      done
    fi
  else
    echo "missing Debian packages: ${need[*]}; run as root, or: sudo apt-get install ${need[*]}" >&2
    exit 1
  fi
fi

command -v node >/dev/null || { echo "Node.js 20 is required" >&2; exit 1; }
command -v cargo >/dev/null || { echo "Rust (cargo) is required" >&2; exit 1; }
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || { echo "Node.js >= 20 is required (found $(node --version))" >&2; exit 1; }

# --- npm packages ----------------------------------------------------------------------------
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi

# --- native addon ----------------------------------------------------------------------------
log "building the native addon (release)"
(cd native && npx napi build --platform --release --manifest-path crates/binding/Cargo.toml \
  --output-dir . --package-json-path package.json --js index.js --dts index.d.ts >/dev/null)

# --- TypeScript --------------------------------------------------------------------------------
log "building TypeScript (tsc -b)"
npx tsc -b
log "ready"
