#!/usr/bin/env bash
# What `make run` (scripts/run.sh) and `make cluster` (scripts/cluster.sh)
# share, sourced by both after they set STACK (the name their messages carry):
# the addresses of certfleet's listeners, starting processes in their own
# sessions, waiting for readiness, stopping everything in order on Ctrl-C or
# SIGTERM (a second signal kills what is still stopping), and the banner.

export DATABASE_URL=${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/certfleet?sslmode=disable}
TEMPORAL_PORT=${TEMPORAL_PORT:-7233}
TEMPORAL_UI_PORT=${TEMPORAL_UI_PORT:-8233}
export TEMPORAL_ADDRESS=${TEMPORAL_ADDRESS:-127.0.0.1:$TEMPORAL_PORT}
# The API answers on loopback only unless told otherwise: a development
# stack with a printed admin token is no service for the whole network.
export CERTFLEET_API_ADDR=${CERTFLEET_API_ADDR:-127.0.0.1:8080}
export CERTFLEET_EST_ADDR=${CERTFLEET_EST_ADDR-:8443}
export CERTFLEET_SCEP_ADDR=${CERTFLEET_SCEP_ADDR-:8081}
# CERTFLEET_DATA_DIR and CERTFLEET_BIN let tests run these scripts on a
# temporary folder and a freshly built binary.
DATA_DIR=${CERTFLEET_DATA_DIR:-.data}
CERTFLEET=${CERTFLEET_BIN:-bin/certfleet}
export CERTFLEET_KEK_FILE=${CERTFLEET_KEK_FILE:-$DATA_DIR/certfleet.kek}

say() { printf '\033[1m%s:\033[0m %s\n' "$STACK" "$*"; }
die() { printf '\033[1;31m%s:\033[0m %s\n' "$STACK" "$*" >&2; exit 1; }

# answers HOST PORT: true when something accepts TCP connections there.
answers() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

# api_url ADDR: the URL the banner shows for an API listening on ADDR; a
# wildcard address is reached on loopback, a specific one at itself.
api_url() {
  local host=${1%:*} port=${1##*:} scheme=http
  [[ -n ${CERTFLEET_API_TLS_CERT:-} ]] && scheme=https
  case $host in
    "" | 0.0.0.0 | "[::]" | 127.0.0.1 | localhost | "[::1]") host=localhost ;;
  esac
  echo "$scheme://$host:$port"
}

# api_ready ADDR: true when the API listening on ADDR answers /readyz. The
# probe asks our own process and sends no token, so over HTTPS it does not
# verify the certificate, which may be self-signed.
api_ready() {
  local host=${1%:*} port=${1##*:} scheme=http tls=()
  case $host in "" | 0.0.0.0 | "[::]") host=127.0.0.1 ;; esac
  [[ -n ${CERTFLEET_API_TLS_CERT:-} ]] && scheme=https tls=(--insecure)
  curl -fsS "${tls[@]}" "$scheme://$host:$port/readyz"
}
API_URL=$(api_url "$CERTFLEET_API_ADDR")

# Logs to show when a process exits while the script waits (see wait_for).
logs=()

# wait_for SECONDS WHAT CMD...: retry CMD until it succeeds; give up when time
# runs out or when a process this script started has exited.
wait_for() {
  local deadline=$((SECONDS + $1)) what=$2 pid log; shift 2
  until "$@" >/dev/null 2>&1; do
    for pid in "${pids[@]}"; do
      if ! kill -0 "$pid" 2>/dev/null; then
        for log in "${logs[@]}"; do
          [[ -s $log ]] && { echo "== $log" >&2; tail -n 15 "$log" | cut -c1-300 >&2; }
        done
        die "a process exited while waiting for $what (see the output above and $DATA_DIR/)"
      fi
    done
    ((SECONDS < deadline)) || die "$what did not come up within $1 seconds"
    sleep 0.5
  done
}

command -v curl >/dev/null || die "curl is needed to check readiness: apt-get install curl"

# Children run in their own sessions (setsid), so Ctrl-C and a signal to the
# process group reach only this script, which then stops them in reverse
# order of start: certfleet drains before Temporal goes. A signal while
# stopping (the second Ctrl-C) kills whatever is left at once; nothing
# outlives this script.
pids=()
# start CMD...: run CMD in its own session, in the background.
start() {
  setsid "$@" &
  pids+=($!)
}
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
    say "stopping (${#pids[@]} processes)" || true # the terminal may be gone
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
# A closed terminal must not cut the orderly stop short.
trap '' PIPE
trap 'exit 130' INT
trap 'exit 143' TERM

# dev_token: a development admin token for this session (shown once).
dev_token() {
  "$CERTFLEET" token create -name "${STACK// /-}-$(date +%Y%m%d-%H%M%S)" -role admin
}

# banner TOKEN TEMPORAL_DESCRIPTION [EXTRA_LINE...]: where everything is.
banner() {
  local token=$1 temporal=$2; shift 2
  cat <<BANNER

  certfleet is ready.

    API           $API_URL        (GET /healthz, GET /readyz; listening on $CERTFLEET_API_ADDR)
    Console       $API_URL/        (sign in with the admin token below)
    EST           https://localhost:${CERTFLEET_EST_ADDR##*:}/.well-known/est/   (server certificate from the built-in CA)
    SCEP          http://localhost:${CERTFLEET_SCEP_ADDR##*:}/scep/<label>   (and under /scep on the EST port)
    Metrics       http://${CERTFLEET_METRICS_ADDR:-127.0.0.1:9464}/metrics   (Prometheus; alert rules and a Grafana dashboard in deploy/)
BANNER
  local line
  for line in "$@"; do printf '    %s\n' "$line"; done
  cat <<BANNER
    Temporal UI   http://localhost:$TEMPORAL_UI_PORT
    Temporal      $TEMPORAL_ADDRESS, namespace ${TEMPORAL_NAMESPACE:-default} ($temporal)
    Postgres      $PG_HOST:$PG_PORT, database $PG_DB
    Data          $DATA_DIR/ (logs, the key-encryption key: keep it with the database)

  Admin token (development; shown once):
    export CERTFLEET_TOKEN=$token
    export CERTFLEET_API=$API_URL

  Try:  curl -s $API_URL/readyz
        curl -s -H "Authorization: Bearer \$CERTFLEET_TOKEN" $API_URL/api/v1/devices

  Ctrl-C stops everything this command started.
  Next: the README's quickstart, or 'make demo' in another terminal.

BANNER
}
