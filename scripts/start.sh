#!/usr/bin/env bash
# Sets everything up, then runs Tollgate on its embedded defaults: a SQLite store under
# tollgate-data/, the example policy, and the control-plane API on 127.0.0.1:8081.
# (The PostgreSQL and SSH listeners join `tollgate serve` as their adapters land.)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

mkdir -p tollgate-data
chmod 700 tollgate-data
if [ ! -f tollgate-data/audit-ed25519.pem ]; then
  # The key that signs audit checkpoints; keep it (and back it up) to verify the log later.
  node -e "const c=require('crypto');const {privateKey}=c.generateKeyPairSync('ed25519');
require('fs').writeFileSync('tollgate-data/audit-ed25519.pem',privateKey.export({type:'pkcs8',format:'pem'}),{mode:0o600})"
fi
store=sqlite:tollgate-data/tollgate.db
if ! npx tollgate service-accounts list --json --store "$store" | grep -q '"demo-admin"'; then
  echo "First start: an admin service account for the control-plane API (its key is shown once):"
  npx tollgate service-accounts create demo-admin --groups platform-admins,dba-reviewers --store "$store"
fi

echo "Masking the demo export (deploy/examples/demo-export.csv):"
npx tollgate mask --report json deploy/examples/demo-export.csv | head -5

echo "Starting the gateway (Ctrl-C stops it). Try: curl -H \"Authorization: Bearer \$KEY\" http://127.0.0.1:8081/v1/whoami"
exec npx tollgate serve --config deploy/examples/tollgate.yaml
