#!/usr/bin/env bash
# `make run`: a private PostgreSQL, the schema, a development streamer so a
# link can be handed out at once, then maxsessd in the foreground.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
CONFIG=${CONFIG:-config/example.yaml}
PG_DIR=${RUN_PG_DIR:-.local/pg}
PG_PORT=${RUN_PG_PORT:-55432}

scripts/pg.sh start "$PG_DIR" "$PG_PORT"
"$BUILD_DIR/maxsessd" migrate --config "$CONFIG"

# A development streamer (id 1) so the curl below gets a link; replace it
# through the admin API (PUT /api/v1/streamers/1) with your real Flussonic.
psql "$(cat "$PG_DIR/dsn")" -q -v ON_ERROR_STOP=1 -c \
  "INSERT INTO streamers (id, host, url) VALUES (1, 'streamer.example.com', 'http://streamer.example.com:8080') ON CONFLICT DO NOTHING" >/dev/null

cat <<MSG

maxsess: http://127.0.0.1:8080   (Ctrl-C stops it; \`make stop-db\` stops PostgreSQL)
Get a playback link:
  curl -s -X POST http://127.0.0.1:8080/api/v1/links -H 'Content-Type: application/json' -d '{"account_id":"acc1","device_id":"dev1","content":{"type":"live","stream":"news"}}'
See the account (admin token of config/example.yaml, development only):
  curl -s http://127.0.0.1:8080/api/v1/accounts/acc1 -H 'Authorization: Bearer dev-admin-token-change-me'

MSG
exec "$BUILD_DIR/maxsessd" serve --config "$CONFIG"
