#!/usr/bin/env bash
# The body of `make run`: a local certfleet stack in one terminal. It checks
# Postgres (starting Debian's local cluster if it is installed but stopped),
# starts a Temporal dev server whose history lives in .data/, applies
# migrations, starts `certfleet all`, waits until it is ready and prints where
# everything is. Ctrl-C, or SIGTERM to its process group (what `timeout` and
# supervisors send), stops everything this script started (see stack.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
STACK="make run"
source scripts/stack.sh

# 1. Postgres (scripts/postgres.sh, shared with `make test`).
source scripts/postgres.sh
ensure_postgres "$DATABASE_URL" DATABASE_URL

# 2. Temporal dev server, with its history in .data/ so a restart keeps it.
mkdir -p "$DATA_DIR"
if answers 127.0.0.1 "$TEMPORAL_PORT"; then
  say "something already listens on :$TEMPORAL_PORT; using it as the Temporal server"
else
  say "starting the Temporal dev server (log: $DATA_DIR/temporal.log)"
  logs+=("$DATA_DIR/temporal.log")
  start bin/temporal server start-dev \
    --db-filename "$DATA_DIR/temporal.db" \
    --port "$TEMPORAL_PORT" --ui-port "$TEMPORAL_UI_PORT" \
    --sqlite-pragma journal_mode=wal --sqlite-pragma synchronous=normal \
    --search-attribute CertJobId=Keyword \
    --search-attribute DeviceId=Keyword \
    --search-attribute CertStep=Keyword \
    --search-attribute CertProfile=Keyword \
    --search-attribute CertOutcome=Keyword \
    --log-level warn >>"$DATA_DIR/temporal.log" 2>&1
  wait_for 60 "the Temporal dev server" bin/temporal operator cluster health --address "$TEMPORAL_ADDRESS"
fi

# 3. Database, schema, namespace and search attributes, and a development
#    admin token for this session (shown once, below).
"$CERTFLEET" migrate
DEV_TOKEN=$(dev_token)

# 4. certfleet itself.
start "$CERTFLEET" all
wait_for 60 "certfleet" api_ready "$CERTFLEET_API_ADDR"

banner "$DEV_TOKEN" "the dev server; history in $DATA_DIR/temporal.db"

# Stop everything when any one process exits.
wait -n "${pids[@]}"
die "a process exited; stopping the rest"
