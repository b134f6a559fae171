#!/usr/bin/env bash
# The body of `make run`: a local certfleet stack in one terminal. It checks
# Postgres (starting Debian's local cluster if it is installed but stopped),
# starts a Temporal dev server whose history lives in .data/, applies
# migrations, starts `certfleet all`, waits until it is ready and prints where
# everything is. Ctrl-C, or SIGTERM to its process group (what `timeout` and
# supervisors send), stops everything this script started; a second Ctrl-C
# kills what is still stopping.
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
export CERTFLEET_SCEP_ADDR=${CERTFLEET_SCEP_ADDR-:8081}
SCEP_PORT=${CERTFLEET_SCEP_ADDR##*:}
# CERTFLEET_DATA_DIR and CERTFLEET_BIN let tests run this script on a
# temporary folder and a freshly built binary.
DATA_DIR=${CERTFLEET_DATA_DIR:-.data}
CERTFLEET=${CERTFLEET_BIN:-bin/certfleet}
export CERTFLEET_KEK_FILE=${CERTFLEET_KEK_FILE:-$DATA_DIR/certfleet.kek}

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
      if ! kill -0 "$pid" 2>/dev/null; then
        [[ -s $DATA_DIR/temporal.log ]] && tail -n 15 "$DATA_DIR/temporal.log" >&2
        die "a process exited while waiting for $what (see the output above and $DATA_DIR/)"
      fi
    done
    ((SECONDS < deadline)) || die "$what did not come up within $1 seconds"
    sleep 0.5
  done
}

command -v curl >/dev/null || die "curl is needed to check readiness: apt-get install curl"

# Children run in their own sessions (setsid), so Ctrl-C and a signal to the
# process group reach only this script, which then stops them in order:
# certfleet drains before Temporal goes. A signal while stopping (the second
# Ctrl-C) kills whatever is left at once; nothing outlives this script.
pids=()
kill_all() {
  local pid
  for pid in "${pids[@]}"; do
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  done
}
stop_all() {
  trap '' EXIT
  trap 'say "killing what is left"; kill_all' INT TERM
  if ((${#pids[@]})); then
    say "stopping (${#pids[@]} processes)"
    local pid i
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
      pid=${pids[i]}
      kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
      # wait returns early when a trapped signal arrives; wait again until gone.
      while kill -0 "$pid" 2>/dev/null; do wait "$pid" 2>/dev/null || true; done
    done
  fi
  trap - INT TERM
}
trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# 1. Postgres (scripts/postgres.sh, shared with `make test`).
source scripts/postgres.sh
ensure_postgres "$DATABASE_URL" DATABASE_URL

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
    --search-attribute CertOutcome=Keyword \
    --log-level warn >>"$DATA_DIR/temporal.log" 2>&1 &
  pids+=($!)
  wait_for 60 "the Temporal dev server" bin/temporal operator cluster health --address "$TEMPORAL_ADDRESS"
fi

# 3. Database, schema, namespace and search attributes, and a development
#    admin token for this session (shown once, below).
"$CERTFLEET" migrate
DEV_TOKEN=$("$CERTFLEET" token create -name "make-run-$(date +%Y%m%d-%H%M%S)" -role admin)

# 4. certfleet itself.
setsid "$CERTFLEET" all &
pids+=($!)
wait_for 60 "certfleet" curl -fsS "${PROBE_TLS[@]}" "$API_SCHEME://$API_PROBE_HOST:$API_PORT/readyz"

cat <<BANNER

  certfleet is ready.

    API           $API_URL        (GET /healthz, GET /readyz; listening on $CERTFLEET_API_ADDR)
    Console       $API_URL/        (sign in with the admin token below)
    EST           https://localhost:$EST_PORT/.well-known/est/   (server certificate from the built-in CA)
    SCEP          http://localhost:$SCEP_PORT/scep/<label>   (and under /scep on the EST port)
    Metrics       http://${CERTFLEET_METRICS_ADDR:-127.0.0.1:9464}/metrics   (Prometheus; alert rules and a Grafana dashboard in deploy/)
    Temporal UI   http://localhost:$TEMPORAL_UI_PORT
    Temporal      $TEMPORAL_ADDRESS, namespace ${TEMPORAL_NAMESPACE:-default}
    Postgres      $PG_HOST:$PG_PORT, database $PG_DB
    Data          $DATA_DIR/ (Temporal history, logs, the key-encryption key: keep it with the database)

  Admin token (development; shown once):
    export CERTFLEET_TOKEN=$DEV_TOKEN
    export CERTFLEET_API=$API_URL

  Try:  curl -s $API_URL/readyz
        curl -s -H "Authorization: Bearer \$CERTFLEET_TOKEN" $API_URL/api/v1/devices

  Ctrl-C stops everything this command started.
  Next: the README's quickstart, or 'make demo' in another terminal.

BANNER

# Stop everything when any one process exits.
wait -n "${pids[@]}"
die "a process exited; stopping the rest"
