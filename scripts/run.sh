#!/usr/bin/env bash
# `make run`: the configuration checked first (a bad one starts nothing), a
# private PostgreSQL, the schema, the project's Flussonic emulator as the
# development streamer (so link -> auth -> webhook -> sync -> kill all work
# on one machine, with no outside name to resolve), then maxsessd in the
# foreground. The banner comes only once the daemon answers /readyz.
#   RUN_PG_DIR, RUN_PG_PORT   the private PostgreSQL (kept between runs)
#   RUN_HTTP                  maxsessd's HTTP address (overrides the config's)
#   RUN_EMU_PORT              the emulator's port on 127.0.0.1
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
CONFIG=${CONFIG:-config/example.yaml}
PG_DIR=${RUN_PG_DIR:-.local/pg}
PG_PORT=${RUN_PG_PORT:-55432}
HTTP=${RUN_HTTP:-127.0.0.1:8080}
EMU_PORT=${RUN_EMU_PORT:-18081}
BIN="$BUILD_DIR/maxsessd"

say() { echo "make run: $*" >&2; }
in_use() { (exec 3<>"/dev/tcp/${1%:*}/${1##*:}") 2>/dev/null; }

# make run owns the database and the address: they override the config's.
export MAXSESS_PG_DSN="host=127.0.0.1 port=$PG_PORT dbname=maxsess user=maxsess"
export MAXSESS_HTTP_LISTEN="$HTTP"
if ! "$BIN" check-config --config "$CONFIG" >/dev/null; then
  say "fix $CONFIG (problems above); nothing was started"
  exit 2
fi
for addr in "$HTTP" "127.0.0.1:$EMU_PORT"; do
  if in_use "$addr"; then
    say "$addr is already in use (another make run?); stop it, or set RUN_HTTP / RUN_EMU_PORT"
    exit 1
  fi
done

scripts/pg.sh start "$PG_DIR" "$PG_PORT"
dsn=$(cat "$PG_DIR/dsn")
if [[ "$dsn" != "$MAXSESS_PG_DSN" ]]; then
  say "$PG_DIR already runs PostgreSQL as '$dsn'; using it (make stop-db, then RUN_PG_PORT=$PG_PORT, to move it)"
  export MAXSESS_PG_DSN="$dsn"
fi
"$BIN" migrate --config "$CONFIG"

children=()
cleanup() {
  for pid in "${children[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The development streamer: the emulator, registered as streamer 1 (a real
# Flussonic replaces it: PUT /api/v1/streamers/1, docs/flussonic.md).
EMU="127.0.0.1:$EMU_PORT"
python3 tests/flussonic/flussonic_emu.py --port "$EMU_PORT" \
  --auth-url "http://$HTTP/flussonic/auth" \
  --webhook-url "http://$HTTP/webhook/playback-session/flussonic/$EMU" \
  --api-user flussonic --api-password secret --exit-with-parent >"$PG_DIR/../emulator.log" 2>&1 &
children+=($!)
psql "$dsn" -q -v ON_ERROR_STOP=1 -c \
  "INSERT INTO streamers (id, host, url, api_user, api_password) VALUES (1, '$EMU', 'http://$EMU', 'flussonic', 'secret')
   ON CONFLICT (id) DO UPDATE SET host = EXCLUDED.host, url = EXCLUDED.url,
     api_user = EXCLUDED.api_user, api_password = EXCLUDED.api_password" >/dev/null

"$BIN" serve --config "$CONFIG" &
daemon=$!
children+=("$daemon")
for _ in $(seq 1 300); do
  if ! kill -0 "$daemon" 2>/dev/null; then
    wait "$daemon" && rc=0 || rc=$?
    say "maxsessd exited ($rc) before it was ready; see its log above"
    exit "$rc"
  fi
  if curl -fsS -o /dev/null "http://$HTTP/readyz" 2>/dev/null; then break; fi
  sleep 0.1
done
curl -fsS -o /dev/null "http://$HTTP/readyz" || { say "maxsessd not ready after 30 s"; exit 1; }

cat <<MSG

maxsess: http://$HTTP   Flussonic emulator (streamer 1): http://$EMU
Status page: http://$HTTP/ (asks for the admin token; docs/status-page.md)
Ctrl-C stops both; \`make stop-db\` stops PostgreSQL ($dsn).
The whole loop, step by step, in another terminal:
  RUN_HTTP=$HTTP RUN_EMU_PORT=$EMU_PORT scripts/try.sh
or by hand (admin token of config/example.yaml, development only):
  curl -s -X POST http://$HTTP/api/v1/links -H 'Content-Type: application/json' -d '{"account_id":"acc1","device_id":"dev1","content":{"type":"live","stream":"news"}}'
  curl -s http://$HTTP/api/v1/accounts/acc1 -H 'Authorization: Bearer dev-admin-token-change-me'

MSG
wait "$daemon"
