#!/usr/bin/env bash
# Checks what `make run` and `make test` need, and says how to get what is
# missing. Postgres itself is checked (and started) by scripts/postgres.sh.
#
#   scripts/prereqs.sh run|test
set -uo pipefail
what=${1:-run}
missing=()

need() { # need COMMAND HOW
  command -v "$1" >/dev/null 2>&1 || missing+=("$1: $2")
}

need go "install Go from https://go.dev/dl/ (1.26 or later, as go.mod asks; 1.21 or later fetches it by itself) and put it on PATH"
need curl "sudo apt-get install curl"
need openssl "sudo apt-get install openssl"
need jq "sudo apt-get install jq   (the quickstart reads the API's answers with it)"
need npm "install Node.js 20 or later with npm   (the web console, console/, is built with it, and its browser test runs on it)"
if [[ $what == test ]] || [[ ! -x bin/sqlc ]]; then
  # sqlc is built with cgo (its Postgres parser is C).
  [[ -x bin/sqlc ]] || need gcc "sudo apt-get install gcc   (sqlc, which 'make test' builds, needs cgo)"
fi
# Test clients from Debian's packages, installed when root can: the ssh
# driver's tests log in to a real OpenSSH server they start on a loopback port
# (installing the package does not start Debian's own sshd where services are
# not started: containers, CI), and the SCEP server's tests enroll with
# micromdm's scepclient (Debian's scep package), the console's in Chromium,
# and the monitoring tests with Prometheus and its promtool.
test_package() { # test_package FILE PACKAGE WHY
  [[ $what == test ]] && [[ ! -x $1 ]] || return 0
  if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "installing $2 for $3" >&2
    { apt-get install -y -q "$2" || { apt-get update -q && apt-get install -y -q "$2"; }; } >/dev/null ||
      missing+=("$1: apt-get install $2 failed")
  else
    missing+=("$1: sudo apt-get install $2   ($3)")
  fi
}
test_package /usr/sbin/sshd openssh-server "the ssh driver's tests"
test_package /usr/bin/scepclient scep "the SCEP server's interoperability tests"
test_package /usr/bin/chromium chromium "the web console's browser tests"
test_package /usr/bin/promtool prometheus "the monitoring tests (promtool checks the alert rules; a real Prometheus evaluates them)"
if ! command -v psql >/dev/null 2>&1 && ! command -v pg_ctlcluster >/dev/null 2>&1 && [[ -z ${DATABASE_URL:-}${CERTFLEET_TEST_ADMIN_URL:-} ]]; then
  missing+=("Postgres: sudo apt-get install postgresql, or docker compose up -d postgres, or set DATABASE_URL (make run) / CERTFLEET_TEST_ADMIN_URL (make test) to a server you can reach")
fi

if ((${#missing[@]})); then
  printf '\033[1;31mmake %s:\033[0m missing prerequisites (see README, Prerequisites):\n' "$what" >&2
  printf '  - %s\n' "${missing[@]}" >&2
  exit 1
fi
