#!/usr/bin/env bash
# `make reset`: throw away development data, so that the next `make run`
# starts afresh: drops the database of DATABASE_URL (default: the local
# `certfleet` database) and removes .data/ (Temporal history, logs and the
# key-encryption key). Every certificate, device, job and CA key is lost.
# Asks first; YES=1 skips the question. Stop `make run` before.
set -euo pipefail
cd "$(dirname "$0")/.."
DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/certfleet?sslmode=disable}
DATA_DIR=${CERTFLEET_DATA_DIR:-.data}
say() { printf '\033[1mmake reset:\033[0m %s\n' "$*"; }
die() { printf '\033[1;31mmake reset:\033[0m %s\n' "$*" >&2; exit 1; }

db=${DATABASE_URL#*://*/}; db=${db%%\?*}
[[ -n $db && $db != "$DATABASE_URL" ]] || die "DATABASE_URL names no database: $DATABASE_URL"
[[ $db != postgres && $db != template0 && $db != template1 ]] || die "refusing to drop the maintenance database $db"
# The server's maintenance database, reached with the same user and options.
admin_url=${DATABASE_URL%%\?*}; admin_url=${admin_url%/*}/postgres
[[ $DATABASE_URL == *\?* ]] && admin_url+="?${DATABASE_URL#*\?}"

if [[ ${YES:-} != 1 ]]; then
  printf 'This drops database "%s" and removes %s/ (development data only; the CA keys and every certificate record are lost).\nType yes to go on: ' "$db" "$DATA_DIR"
  read -r answer
  [[ $answer == yes ]] || die "nothing changed"
fi
command -v psql >/dev/null || die "psql is needed to drop the database: sudo apt-get install postgresql-client (or drop \"$db\" yourself, then run this again)"
psql -q -v ON_ERROR_STOP=1 "$admin_url" -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" || die "could not drop database $db"
say "dropped database $db"
rm -rf -- "$DATA_DIR"
say "removed $DATA_DIR/; the next 'make run' creates both afresh"
