#!/usr/bin/env bash
# The body of `make cluster`: certfleet in a production shape on this machine,
# without containers. Temporal runs on Postgres with each of its services
# (frontend, history with several shards, matching, the internal worker) a
# process of its own, configured by deploy/temporal/config/cluster.yaml as in
# docker-compose.yml, with the Temporal UI pointed at its frontend; certfleet
# runs as two API replicas (`certfleet serve`, on two sets of ports) and two
# workers (`certfleet worker`). Once the stack is ready, a process that
# exits or is killed is restarted, as Kubernetes or compose's restart policy
# would (the chaos test kills them); Ctrl-C stops everything (see stack.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
STACK="make cluster"
declare -A ports
source scripts/stack.sh

# The second API replica's listeners, and the metrics of all four certfleet
# processes (API 1, API 2, worker 1, worker 2).
API2_ADDR=${CERTFLEET_API2_ADDR:-127.0.0.1:8090}
EST2_ADDR=${CERTFLEET_EST2_ADDR-:8444}
SCEP2_ADDR=${CERTFLEET_SCEP2_ADDR-:8082}
read -r -a METRICS <<<"${CERTFLEET_CLUSTER_METRICS_ADDRS:-127.0.0.1:9464 127.0.0.1:9465 127.0.0.1:9466 127.0.0.1:9467}"
# CERTFLEET_CLUSTER_WORKERS: 1 or 2 workers (make bench CLUSTER=1 measures both).
WORKERS=${CERTFLEET_CLUSTER_WORKERS:-2}
[[ $WORKERS == [12] ]] || die "CERTFLEET_CLUSTER_WORKERS is $WORKERS; it may be 1 or 2"
((${#METRICS[@]} == 4)) || die "CERTFLEET_CLUSTER_METRICS_ADDRS lists ${#METRICS[@]} addresses; it needs 4 (API 1, API 2, worker 1, worker 2)"
export CERTFLEET_METRICS_ADDR=${METRICS[0]}

# supervise LOG CMD...: start CMD with its output in LOG. Before the stack is
# ready its exit fails the start (see wait_for); afterwards it is restarted a
# second later. A stop (SIGTERM to its group) waits for CMD to drain.
READY=$DATA_DIR/.cluster-ready
rm -f "$READY"
supervise() {
  local log=$1; shift
  logs+=("$log")
  READY=$READY STACK=$STACK start bash -c '
    trap "stopping=1" TERM INT
    while :; do
      "$@" &
      child=$!
      wait "$child"; status=$?
      while kill -0 "$child" 2>/dev/null; do wait "$child"; status=$?; done
      [[ -n ${stopping:-} ]] && exit 0
      [[ -e $READY ]] || exit "$status"
      kill -0 "$PPID" 2>/dev/null || exit "$status" # make cluster itself is gone
      echo "$STACK: $* exited ($status); restarting it" >&2
      sleep 1
    done' supervise "$@" >>"$log" 2>&1
}

# 1. Postgres, for certfleet and for Temporal's two databases.
source scripts/postgres.sh
ensure_postgres "$DATABASE_URL" DATABASE_URL
export TEMPORAL_POSTGRES_ADDR=${TEMPORAL_POSTGRES_ADDR:-$PG_HOST:$PG_PORT}
export TEMPORAL_POSTGRES_USER=${TEMPORAL_POSTGRES_USER:-postgres}
export TEMPORAL_POSTGRES_PASSWORD=${TEMPORAL_POSTGRES_PASSWORD:-}
export TEMPORAL_DB=${TEMPORAL_DB:-temporal} TEMPORAL_VISIBILITY_DB=${TEMPORAL_VISIBILITY_DB:-temporal_visibility}
export TEMPORAL_FRONTEND_PORT=$TEMPORAL_PORT TEMPORAL_UI_PORT TEMPORAL_NAMESPACE=${TEMPORAL_NAMESPACE:-default}
# Fixed when the cluster is first made; see deploy/temporal/config/cluster.yaml.
export TEMPORAL_HISTORY_SHARDS=${TEMPORAL_HISTORY_SHARDS:-4}

for tool in temporal-server temporal-sql-tool temporal-ui; do
  [[ -x bin/$tool ]] || die "bin/$tool is missing: run 'make cluster-tools'"
done
answers 127.0.0.1 "$TEMPORAL_PORT" && die "something already listens on :$TEMPORAL_PORT (a 'make run'?); stop it first"
mkdir -p "$DATA_DIR"

# 2. Temporal's schemas, from the server module's own files: the databases
#    are created once, and each start brings them up to the server's version.
say "applying Temporal's schemas to $TEMPORAL_DB and $TEMPORAL_VISIBILITY_DB on $TEMPORAL_POSTGRES_ADDR"
for db in "$TEMPORAL_DB" "$TEMPORAL_VISIBILITY_DB"; do
  schema=temporal; [[ $db == "$TEMPORAL_VISIBILITY_DB" ]] && schema=visibility
  sql=(bin/temporal-sql-tool --plugin postgres12 --ep "${TEMPORAL_POSTGRES_ADDR%:*}" -p "${TEMPORAL_POSTGRES_ADDR##*:}"
    -u "$TEMPORAL_POSTGRES_USER" --db "$db")
  [[ -n $TEMPORAL_POSTGRES_PASSWORD ]] && sql+=(--pw "$TEMPORAL_POSTGRES_PASSWORD")
  {
    "${sql[@]}" create-database || true # fails once it exists
    if ! "${sql[@]}" update-schema --schema-name "postgresql/v12/$schema" 2>/dev/null; then
      "${sql[@]}" setup-schema -v 0.0
      "${sql[@]}" update-schema --schema-name "postgresql/v12/$schema"
    fi
  } >>"$DATA_DIR/temporal-schema.log" 2>&1 || { tail -n 20 "$DATA_DIR/temporal-schema.log" >&2; die "Temporal's schema could not be applied to $db"; }
done

# 3. Temporal's services, one process each, all from the same configuration.
#    The first one to start writes the cluster's metadata into a new
#    database; the others start once it answers, or they would race to
#    write it too.
ports=([history]=${TEMPORAL_HISTORY_PORT:-7234} [matching]=${TEMPORAL_MATCHING_PORT:-7235} [frontend]=$TEMPORAL_PORT [worker]=${TEMPORAL_WORKER_PORT:-7239})
for service in history matching frontend worker; do
  say "starting Temporal's $service service (log: $DATA_DIR/temporal-$service.log)"
  supervise "$DATA_DIR/temporal-$service.log" \
    bin/temporal-server --root . --config deploy/temporal/config --env cluster --allow-no-auth start --service "$service"
  [[ $service == history ]] && wait_for 60 "Temporal's history service" answers 127.0.0.1 "${ports[history]}"
done
wait_for 120 "Temporal's frontend" bin/temporal operator cluster health --address "$TEMPORAL_ADDRESS"
say "starting the Temporal UI on :$TEMPORAL_UI_PORT (log: $DATA_DIR/temporal-ui.log)"
supervise "$DATA_DIR/temporal-ui.log" bin/temporal-ui --root . --config deploy/temporal/ui --env cluster start

# 4. Database, schema, namespace and search attributes, and an admin token.
"$CERTFLEET" migrate
DEV_TOKEN=$(dev_token)

# 5. certfleet: the first API replica makes the built-in CA if there is none
#    yet; the second replica and the two workers start once it is ready.
say "starting certfleet: API 1 (log: $DATA_DIR/api-1.log)"
supervise "$DATA_DIR/api-1.log" "$CERTFLEET" serve
wait_for 60 "certfleet's first API replica" api_ready "$CERTFLEET_API_ADDR"
say "starting certfleet: API 2 (log: $DATA_DIR/api-2.log)"
CERTFLEET_API_ADDR=$API2_ADDR CERTFLEET_EST_ADDR=$EST2_ADDR CERTFLEET_SCEP_ADDR=$SCEP2_ADDR CERTFLEET_METRICS_ADDR=${METRICS[1]} \
  supervise "$DATA_DIR/api-2.log" "$CERTFLEET" serve
for ((i = 1; i <= WORKERS; i++)); do
  say "starting certfleet: worker $i (log: $DATA_DIR/worker-$i.log)"
  CERTFLEET_METRICS_ADDR=${METRICS[i + 1]} supervise "$DATA_DIR/worker-$i.log" "$CERTFLEET" worker
done
wait_for 60 "certfleet's second API replica" api_ready "$API2_ADDR"
# A worker serves its metrics once it polls its task queue.
wait_for 60 "certfleet's first worker" curl -fsS "http://${METRICS[2]}/metrics"
((WORKERS < 2)) || wait_for 60 "certfleet's second worker" curl -fsS "http://${METRICS[3]}/metrics"

banner "$DEV_TOKEN" "a cluster on Postgres: frontend, history ($TEMPORAL_HISTORY_SHARDS shards), matching and worker processes" \
  "API 2         $(api_url "$API2_ADDR")        (a second replica; EST on :${EST2_ADDR##*:}, SCEP on :${SCEP2_ADDR##*:})" \
  "Workers       $WORKERS 'certfleet worker' process(es) (metrics on ${METRICS[*]:2:WORKERS})" \
  "Logs          $DATA_DIR/temporal-*.log, api-*.log, worker-*.log"

# From here on a process that exits is restarted; this waits for Ctrl-C.
touch "$READY"
wait -n "${pids[@]}"
die "a supervisor exited; stopping the rest"
