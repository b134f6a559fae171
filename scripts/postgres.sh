#!/usr/bin/env bash
# Makes sure the Postgres server of a URL answers, for `make run` (sourced, with
# DATABASE_URL) and `make test` (run, with CERTFLEET_TEST_ADMIN_URL): when
# nothing answers on a local address and Debian's postgresql package is
# installed, it starts the newest local cluster; otherwise it says what to start.
#
#   scripts/postgres.sh URL        or, sourced:   ensure_postgres URL WHO
#
# Sourced, it expects say, die and answers from its caller.

# pg_parse URL: sets PG_HOST, PG_PORT and PG_DB.
pg_parse() {
  local hostport=${1#*://}
  hostport=${hostport#*@}; hostport=${hostport%%/*}
  PG_HOST=${hostport%:*}; PG_PORT=${hostport##*:}
  [[ $PG_PORT == "$hostport" ]] && PG_PORT=5432
  [[ -z $PG_HOST ]] && PG_HOST=127.0.0.1
  PG_DB=${1#*://*/}; PG_DB=${PG_DB%%\?*}
}

# ensure_postgres URL VARIABLE: start Debian's local cluster if needed, or die
# saying what to start; VARIABLE names the setting the URL came from.
ensure_postgres() {
  pg_parse "$1"
  answers "$PG_HOST" "$PG_PORT" && return 0
  if command -v pg_ctlcluster >/dev/null && [[ -d /etc/postgresql ]] && [[ $PG_HOST == 127.0.0.1 || $PG_HOST == localhost ]]; then
    local version
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    say "Postgres is not answering on $PG_HOST:$PG_PORT; starting the local cluster $version/main"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || die "could not start Postgres $version/main (try: sudo pg_ctlcluster $version main start)"
    local deadline=$((SECONDS + 30))
    until answers "$PG_HOST" "$PG_PORT"; do
      ((SECONDS < deadline)) || die "Postgres $version/main did not answer on $PG_HOST:$PG_PORT within 30 seconds"
      sleep 0.5
    done
    return 0
  fi
  die "nothing answers at $PG_HOST:$PG_PORT ($2). Start Postgres, for example:
    docker compose up -d postgres                  # with a container engine
    sudo apt-get install postgresql                # Debian or Ubuntu; then run this again
    sudo pg_ctlcluster 15 main start               # Debian's postgresql package, installed but stopped
  or set $2 to a server you can reach."
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
  set -euo pipefail
  say() { printf '\033[1mpostgres:\033[0m %s\n' "$*"; }
  die() { printf '\033[1;31mpostgres:\033[0m %s\n' "$*" >&2; exit 1; }
  answers() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
  ensure_postgres "${1:?usage: scripts/postgres.sh URL}" "${2:-the URL given}"
fi
