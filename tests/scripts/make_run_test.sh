#!/usr/bin/env bash
# `make run` as a new user meets it (scripts/run.sh), on private ports:
# the ready banner only once the daemon answers, the whole quick-start loop
# (scripts/try.sh) against the emulator streamer, RUN_PG_PORT honoured by
# migrate and serve, a second run refused before any banner, and a bad
# CONFIG refused before PostgreSQL starts.
#   make_run_test.sh BUILD_DIR
set -euo pipefail
cd "$(dirname "$0")/../.."
export BUILD_DIR=$1
work=$(mktemp -d /tmp/maxsess-make-run-XXXXXX)
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
export RUN_PG_DIR=$work/pg RUN_PG_PORT=$(port) RUN_HTTP=127.0.0.1:$(port) RUN_EMU_PORT=$(port)
run_pid=
cleanup() {
  if [[ -n "$run_pid" ]]; then kill "$run_pid" 2>/dev/null; wait "$run_pid" 2>/dev/null || true; fi
  scripts/pg.sh stop "$RUN_PG_DIR" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; echo "--- run.log" >&2; cat "$work/run.log" >&2 || true; exit 1; }
# shellcheck source=tests/scripts/wait_for.sh
. tests/scripts/wait_for.sh

# A bad CONFIG: rc 2, the problem named, and no PostgreSQL started.
rc=0; CONFIG=$work/missing.yaml scripts/run.sh >"$work/bad.log" 2>&1 || rc=$?
[[ $rc == 2 ]] || { cat "$work/bad.log"; fail "bad CONFIG exited $rc, not 2"; }
grep -q "cannot read the configuration file" "$work/bad.log" || fail "bad CONFIG: no reason given"
[[ ! -e "$RUN_PG_DIR" ]] || fail "bad CONFIG started PostgreSQL"

scripts/run.sh >"$work/run.log" 2>&1 &
run_pid=$!
wait_for "$run_pid" 60 "make run's ready banner" grep -q "scripts/try.sh" "$work/run.log"
# The banner came after the daemon answered, and serve used RUN_PG_PORT.
curl -fsS "http://$RUN_HTTP/readyz" >/dev/null || fail "banner printed but /readyz does not answer"
grep -q "port=$RUN_PG_PORT " "$RUN_PG_DIR/dsn" || fail "PostgreSQL not on RUN_PG_PORT"
psql "$(cat "$RUN_PG_DIR/dsn")" -XAtqc "select 1 from schema_version limit 1" | grep -q 1 ||
  fail "the schema is not in the database on RUN_PG_PORT"

# The whole loop: link -> auth -> webhook -> sync -> kill.
scripts/try.sh >"$work/try.log" 2>&1 || { cat "$work/try.log"; fail "try.sh failed"; }
grep -q "sync: streamer 1: listed" "$work/try.log" || { cat "$work/try.log"; fail "sync did not list streamer 1"; }

# A second make run on the same addresses: refused, and no banner.
rc=0; scripts/run.sh >"$work/second.log" 2>&1 || rc=$?
[[ $rc != 0 ]] || fail "a second make run succeeded"
grep -q "already in use" "$work/second.log" || { cat "$work/second.log"; fail "second run: no reason"; }
! grep -q "scripts/try.sh" "$work/second.log" || fail "second run printed the ready banner"
curl -fsS "http://$RUN_HTTP/readyz" >/dev/null || fail "the second run disturbed the first"
echo "make run: all checks passed"
