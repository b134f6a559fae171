#!/usr/bin/env bash
# The body of `make run`: a local certfleet stack in one terminal. It checks
# Postgres (starting Debian's local cluster if it is installed but stopped),
# starts a Temporal dev server whose history lives in .data/, applies
# migrations, starts `certfleet all`, waits until it is ready and prints where
# everything is. Ctrl-C stops everything this script started.
set -euo pipefail
cd "$(dirname "$0")/.."

export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/certfleet?sslmode=disable}
TEMPORAL_PORT=${TEMPORAL_PORT:-7233}
TEMPORAL_UI_PORT=${TEMPORAL_UI_PORT:-8233}
export TEMPORAL_ADDRESS=${TEMPORAL_ADDRESS:-127.0.0.1:$TEMPORAL_PORT}
# The API answers on loopback only unless told otherwise: a development
# stack with a printed admin token is no service for the whole network.
export CERTFLEET_API_ADDR=${CERTFLEET_API_ADDR:-127.0.0.1:8080}
API_PORT=${CERTFLEET_API_ADDR##*:}
API_HOST=${CERTFLEET_API_ADDR%:*}
# Where the readiness probe and the banner reach the API: a wildcard address
# is reached on loopback, a specific one at itself.
case $API_HOST in
  "" | 0.0.0.0 | "[::]") API_PROBE_HOST=127.0.0.1 API_SHOWN_HOST=localhost ;;
  127.0.0.1 | localhost | "[::1]") API_PROBE_HOST=$API_HOST API_SHOWN_HOST=localhost ;;
  *) API_PROBE_HOST=$API_HOST API_SHOWN_HOST=$API_HOST ;;
esac
API_SCHEME=http PROBE_TLS=()
if [[ -n ${CERTFLEET_API_TLS_CERT:-} ]]; then
  # HTTPS only. The probe asks our own process whether it is ready and sends
  # no token, so it does not verify the certificate, which may be self-signed.
  API_SCHEME=https PROBE_TLS=(--insecure)
fi
API_URL=$API_SCHEME://$API_SHOWN_HOST:$API_PORT
export CERTFLEET_EST_ADDR=${CERTFLEET_EST_ADDR-:8443}
EST_PORT=${CERTFLEET_EST_ADDR##*:}
DATA_DIR=.data

say() { printf '\033[1mmake run:\033[0m %s\n' "$*"; }
die() { printf '\033[1;31mmake run:\033[0m %s\n' "$*" >&2; exit 1; }

# answers HOST PORT: true when something accepts TCP connections there.
answers() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# wait_for SECONDS WHAT CMD...: retry CMD until it succeeds; give up when time
# runs out or when a process this script started has exited.
wait_for() {
  local deadline=$((SECONDS + $1)) what=$2 pid; shift 2
  until "$@" >/dev/null 2>&1; do
    for pid in "${pids[@]}"; do
      kill -0 "$pid" 2>/dev/null || die "a process exited while waiting for $what (see the output above and $DATA_DIR/)"
    done
    ((SECONDS < deadline)) || die "$what did not come up within $1 seconds"
    sleep 0.5
  done
}

command -v curl >/dev/null || die "curl is needed to check readiness: apt-get install curl"

# Children run in their own sessions (setsid), so Ctrl-C reaches only this
# script, which then stops them in order: certfleet drains before Temporal goes.
pids=()
stop_all() {
  trap - INT TERM EXIT
  if ((${#pids[@]})); then
    say "stopping (${#pids[@]} processes)"
    local pid
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
      pid=${pids[i]}
      kill -TERM "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    done
  fi
}
trap stop_all EXIT
trap 'exit 130' INT TERM

# 1. Postgres.
pg_hostport=${DATABASE_URL#*://}; pg_hostport=${pg_hostport#*@}; pg_hostport=${pg_hostport%%/*}
PG_HOST=${pg_hostport%:*}; PG_PORT=${pg_hostport##*:}
[[ $PG_PORT == "$pg_hostport" ]] && PG_PORT=5432
PG_DB=${DATABASE_URL#*://*/}; PG_DB=${PG_DB%%\?*}
if ! answers "$PG_HOST" "$PG_PORT"; then
  if command -v pg_ctlcluster >/dev/null && [[ -d /etc/postgresql ]] && [[ $PG_HOST == 127.0.0.1 || $PG_HOST == localhost ]]; then
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    say "Postgres is not answering on $PG_HOST:$PG_PORT; starting the local cluster $version/main"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || die "could not start Postgres $version/main"
    wait_for 30 "Postgres" answers "$PG_HOST" "$PG_PORT"
  else
    die "nothing answers at $PG_HOST:$PG_PORT (DATABASE_URL). Start Postgres, for example:
    docker compose up -d postgres                  # with a container engine
    sudo pg_ctlcluster 15 main start               # Debian's postgresql package
  or set DATABASE_URL to a server you can reach, then run 'make run' again."
  fi
fi

# 2. Temporal dev server, with its history in .data/ so a restart keeps it.
mkdir -p "$DATA_DIR"
if answers 127.0.0.1 "$TEMPORAL_PORT"; then
  say "something already listens on :$TEMPORAL_PORT; using it as the Temporal server"
else
  say "starting the Temporal dev server (log: $DATA_DIR/temporal.log)"
  setsid bin/temporal server start-dev \
    --db-filename "$DATA_DIR/temporal.db" \
    --port "$TEMPORAL_PORT" --ui-port "$TEMPORAL_UI_PORT" \
    --sqlite-pragma journal_mode=wal --sqlite-pragma synchronous=normal \
    --search-attribute CertJobId=Keyword \
    --search-attribute DeviceId=Keyword \
    --search-attribute CertStep=Keyword \
    --search-attribute CertProfile=Keyword \
    --log-level warn >>"$DATA_DIR/temporal.log" 2>&1 &
  pids+=($!)
  wait_for 60 "the Temporal dev server" bin/temporal operator cluster health --address "$TEMPORAL_ADDRESS"
fi

# 3. Database, schema, namespace and search attributes, and a development
#    admin token for this session (shown once, below).
bin/certfleet migrate
DEV_TOKEN=$(bin/certfleet token create -name "make-run-$(date +%Y%m%d-%H%M%S)" -role admin)

# 4. certfleet itself.
setsid bin/certfleet all &
pids+=($!)
wait_for 60 "certfleet" curl -fsS "${PROBE_TLS[@]}" "$API_SCHEME://$API_PROBE_HOST:$API_PORT/readyz"

cat <<BANNER

  certfleet is ready.

    API           $API_URL        (GET /healthz, GET /readyz; listening on $CERTFLEET_API_ADDR)
    EST           https://localhost:$EST_PORT/.well-known/est/   (server certificate from the built-in CA)
    Temporal UI   http://localhost:$TEMPORAL_UI_PORT
    Temporal      $TEMPORAL_ADDRESS, namespace ${TEMPORAL_NAMESPACE:-default}
    Postgres      $PG_HOST:$PG_PORT, database $PG_DB
    Data          $DATA_DIR/ (Temporal history and logs)

  Admin token (development; shown once):
    export CERTFLEET_TOKEN=$DEV_TOKEN

  Try:  curl -s $API_URL/readyz
        curl -s -H "Authorization: Bearer \$CERTFLEET_TOKEN" $API_URL/api/v1/devices

  Ctrl-C stops everything this command started.

BANNER

# Stop everything when any one process exits.
wait -n "${pids[@]}"
die "a process exited; stopping the rest"
