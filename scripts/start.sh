#!/usr/bin/env bash
# Sets everything up, then runs Tollgate on its embedded defaults: a SQLite store under
# tollgate-data/, the example policy, a demo PostgreSQL target with PII in it, the PostgreSQL
# listener on 127.0.0.1:6432 and the control-plane API on 127.0.0.1:8081.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

mkdir -p tollgate-data
# Keys and the store inside are 0600; the demo PostgreSQL (run as the postgres user when we are
# root) must be able to reach its own directory below this one.
chmod 711 tollgate-data
if [ ! -f tollgate-data/audit-ed25519.pem ]; then
  # The key that signs audit checkpoints; keep it (and back it up) to verify the log later.
  node -e "const c=require('crypto');const {privateKey}=c.generateKeyPairSync('ed25519');
require('fs').writeFileSync('tollgate-data/audit-ed25519.pem',privateKey.export({type:'pkcs8',format:'pem'}),{mode:0o600})"
fi
if [ ! -f tollgate-data/mask-key ]; then
  # The key of the hash and format masking styles (deploy/examples/tollgate.yaml reads it from
  # TOLLGATE_MASK_KEY): the same key keeps hashed values joinable across runs.
  (umask 077 && node -e "process.stdout.write(require('crypto').randomBytes(32).toString('hex'))" > tollgate-data/mask-key)
fi
TOLLGATE_MASK_KEY=$(cat tollgate-data/mask-key)
export TOLLGATE_MASK_KEY
store=sqlite:tollgate-data/tollgate.db
if ! npx tollgate service-accounts list --json --store "$store" | grep -q '"demo-admin"'; then
  echo "First start: an admin and reviewer for the control-plane API (its key is shown once):"
  npx tollgate service-accounts create demo-admin --groups platform-admins,dba-reviewers --store "$store"
  echo "and an agent for the demo database (its key is shown once):"
  npx tollgate service-accounts create demo-agent --groups demo-agents --store "$store"
fi

bash scripts/demo-target.sh start
trap 'bash scripts/demo-target.sh stop' EXIT

echo "Masking the demo export (deploy/examples/demo-export.csv):"
npx tollgate mask --report json deploy/examples/demo-export.csv | head -5

cat <<'HELP'
Starting the gateway (Ctrl-C stops it and the demo database). Try:
  PGPASSWORD=<demo-agent key> psql "host=127.0.0.1 port=6432 user=demo-agent dbname=demo-db" -c 'SELECT * FROM customers'
  PGPASSWORD=<demo-agent key> psql "host=127.0.0.1 port=6432 user=demo-agent dbname=demo-db" -c 'DROP TABLE customers'   # held
  TOLLGATE_TOKEN=<demo-admin key> npx tollgate approvals list
HELP
npx tollgate serve --config deploy/examples/tollgate.yaml
