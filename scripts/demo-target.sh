#!/usr/bin/env bash
# The demo target for scripts/start.sh: a local PostgreSQL in tollgate-data/demo-pg on
# 127.0.0.1:55432 with a seeded `customers` table (names, emails, cards, SSNs, IBANs).
# Usage: scripts/demo-target.sh start|stop
set -euo pipefail
cd "$(dirname "$0")/.."
data=tollgate-data/demo-pg
pwfile=tollgate-data/demo-pg-password
port=55432
bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$bindir/initdb" ] || { echo "PostgreSQL server binaries not found (scripts/setup.sh installs them)" >&2; exit 1; }
# PostgreSQL refuses to run as root: run it as the postgres user then.
as_server() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

case "${1:-}" in
  start)
    mkdir -p tollgate-data
    if [ ! -f "$data/PG_VERSION" ]; then
      umask 077
      [ -f "$pwfile" ] || node -e "process.stdout.write(require('crypto').randomBytes(18).toString('base64url'))" > "$pwfile"
      mkdir -p "$data"
      [ "$(id -u)" = 0 ] && chown postgres "$data"
      tmp_pw=$(mktemp) && cp "$pwfile" "$tmp_pw" && chmod 644 "$tmp_pw"
      as_server "$bindir/initdb" -D "$data" -U tollgate_demo --auth=scram-sha-256 --pwfile="$tmp_pw" >/dev/null
      rm -f "$tmp_pw"
      fresh=1
    fi
    if ! as_server "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; then
      as_server "$bindir/pg_ctl" -D "$data" -l "$data/server.log" -w \
        -o "-p $port -c listen_addresses=127.0.0.1 -k $(realpath "$data")" start >/dev/null
    fi
    if [ "${fresh:-0}" = 1 ]; then
      PGPASSWORD=$(cat "$pwfile") psql -X -q -h 127.0.0.1 -p "$port" -U tollgate_demo -d postgres -c 'CREATE DATABASE demo' >/dev/null
      PGPASSWORD=$(cat "$pwfile") psql -X -q -h 127.0.0.1 -p "$port" -U tollgate_demo -d demo -v ON_ERROR_STOP=1 <<'SQL' >/dev/null
CREATE TABLE customers (id int PRIMARY KEY, name text, email text, card text, ssn text, iban text, city text);
INSERT INTO customers VALUES
 (1, 'Ann Lee', 'ann.lee@example.com', '4111 1111 1111 1111', '123-45-6789', 'DE89370400440532013000', 'Berlin'),
 (2, 'Bob Ray', 'bob.ray@example.org', '5500-0000-0000-0004', '234-56-7890', 'GB82WEST12345698765432', 'Leeds'),
 (3, 'Cy Tan', 'cy.tan@example.net', '340000000000009', '345-67-8901', 'FR1420041010050500013M02606', 'Lyon');
SQL
    fi
    echo "demo target: PostgreSQL on 127.0.0.1:$port (database demo, table customers)"
    ;;
  stop)
    if [ -f "$data/PG_VERSION" ]; then as_server "$bindir/pg_ctl" -D "$data" -m fast stop >/dev/null 2>&1 || true; fi
    ;;
  *)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
