#!/usr/bin/env bash
# `make demo`: the README's quickstart, end to end, against a running
# `make run`. It runs the sh block that follows the `<!-- quickstart` marker in
# README.md exactly as it stands (what TestQuickstart runs too), so the README
# cannot drift from what works.
#
# Reads CERTFLEET_API (default http://localhost:8080), CERTFLEET_TOKEN (printed
# by `make run`; without it, demo makes a development admin token with
# bin/certfleet token create), CERTFLEET_SIM_ADDR (default 127.0.0.1:9444), and
# CERTFLEET_DEMO_DIR, the folder to run the commands in (default: the
# repository, whose bin/certfleet the commands use).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
say() { printf '\033[1mmake demo:\033[0m %s\n' "$*"; }
die() { printf '\033[1;31mmake demo:\033[0m %s\n' "$*" >&2; exit 1; }

command -v jq >/dev/null || die "jq is needed: sudo apt-get install jq"
command -v curl >/dev/null || die "curl is needed: sudo apt-get install curl"
command -v openssl >/dev/null || die "openssl is needed: sudo apt-get install openssl"

export CERTFLEET_API=${CERTFLEET_API:-http://localhost:8080}
if ! curl -fs -o /dev/null --max-time 5 "$CERTFLEET_API/readyz"; then
  die "certfleet is not ready at $CERTFLEET_API ($CERTFLEET_API/readyz does not answer 200).
  Start it with 'make run' in another terminal and wait for 'certfleet is ready',
  or set CERTFLEET_API to where yours listens."
fi

cd "${CERTFLEET_DEMO_DIR:-$repo}"
[[ -x bin/certfleet ]] || die "no bin/certfleet in $PWD: run 'make build'"
if [[ -z ${CERTFLEET_TOKEN:-} ]]; then
  say "CERTFLEET_TOKEN is not set; creating a development admin token (bin/certfleet token create, on DATABASE_URL)"
  CERTFLEET_TOKEN=$(bin/certfleet token create -name "make-demo-$(date +%Y%m%d-%H%M%S)" -role admin) ||
    die "could not create a token: set CERTFLEET_TOKEN to the one 'make run' printed"
  export CERTFLEET_TOKEN
fi
status=$(curl -sS -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $CERTFLEET_TOKEN" "$CERTFLEET_API/api/v1/credentials/simfleet")
case $status in
  404) ;;
  200) die "the quickstart already ran against this stack (credential simfleet exists). For a fresh one:
  stop 'make run', then 'make reset' (development data only) and 'make run' again." ;;
  401) die "the API refuses CERTFLEET_TOKEN (401): use the token this 'make run' printed" ;;
  *) die "GET $CERTFLEET_API/api/v1/credentials/simfleet answered $status" ;;
esac

# The quickstart: the first sh block after the marker.
quickstart=$(awk '/^<!-- quickstart/ { armed = 1; next }
  armed && /^```sh$/ { inside = 1; next }
  inside && /^```$/ { exit }
  inside { print }' "$repo/README.md")
[[ -n $quickstart ]] || die "README.md has no quickstart block after a '<!-- quickstart' marker"

# The quickstart starts the simulated fleet in the background; stop it on exit.
trap 'kill $(jobs -p) 2>/dev/null || true' EXIT
say "running the README's quickstart against $CERTFLEET_API"
eval "$quickstart"
say "done: the job's outcomes are above (revoke_na: a first certificate, installed; nothing to revoke)"
