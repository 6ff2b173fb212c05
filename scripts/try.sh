#!/usr/bin/env bash
# The quick start's whole loop against a running `make run` (README): a link,
# the player plays it through the Flussonic emulator (auth backend call and
# play events to maxsess), the session seen active, a sync against the
# emulator's sessions API, then the portal evicting the device and maxsess
# closing the session on the streamer. Exits non-zero at the first step that
# does not do what it says.
set -euo pipefail
cd "$(dirname "$0")/.."
HTTP=${RUN_HTTP:-127.0.0.1:8080}
EMU=127.0.0.1:${RUN_EMU_PORT:-18081}
CONFIG=${CONFIG:-config/example.yaml}
BIN=${BUILD_DIR:-build}/maxsessd
ADMIN=${MAXSESS_ADMIN_TOKEN:-dev-admin-token-change-me}
ACCOUNT=${TRY_ACCOUNT:-acc1}
DEVICE=${TRY_DEVICE:-tv$$}
H="http://$HTTP"

step() { printf '\n== %s\n' "$*"; }
field() { python3 -c 'import json,sys; d=json.load(sys.stdin)
for k in sys.argv[1].split("."): d=d[k]
print(d)' "$1"; }
fail() { echo "try.sh: $*" >&2; exit 1; }

step "1. a playback link for device $DEVICE of account $ACCOUNT (POST /api/v1/links)"
link=$(curl -sS -X POST "$H/api/v1/links" -H 'Content-Type: application/json' \
  -d "{\"account_id\":\"$ACCOUNT\",\"device_id\":\"$DEVICE\",\"content\":{\"type\":\"live\",\"stream\":\"news\"}}")
echo "$link"
[[ $(field decision <<<"$link") == approved ]] || fail "the link was not approved"
token=$(field token <<<"$link")

step "2. the player opens it: Flussonic (the emulator) asks maxsess, then posts play events"
play=$(curl -sS "http://$EMU/_emu/play" -d "{\"name\":\"news\",\"token\":\"$token\"}")
echo "$play"
[[ $(field allowed <<<"$play") == True ]] || fail "maxsess's auth backend refused the session"
flussonic_id=$(field id <<<"$play")
curl -sS -o /dev/null "http://$EMU/_emu/flush" -d '{}'

step "3. the session, active (GET /api/v1/accounts/$ACCOUNT)"
account=$(curl -sS "$H/api/v1/accounts/$ACCOUNT" -H "Authorization: Bearer $ADMIN")
echo "$account"
python3 -c 'import json,sys
s=[x for x in json.load(sys.stdin)["sessions"] if x["device_id"]==sys.argv[1]]
sys.exit(0 if s and s[0]["status"]=="active" else 1)' "$DEVICE" <<<"$account" ||
  fail "the device's session is not active"

step "4. a sync against the streamer's sessions API (what cron runs every minute)"
MAXSESS_HTTP_LISTEN=$HTTP MAXSESS_ADMIN_TOKEN=$ADMIN "$BIN" playback-session:sync --config "$CONFIG"

step "5. the portal evicts the device: maxsess closes its session on the streamer"
curl -sS -f -X DELETE "$H/api/v1/accounts/$ACCOUNT/devices/$DEVICE/session?kill=true"
MAXSESS_HTTP_LISTEN=$HTTP MAXSESS_ADMIN_TOKEN=$ADMIN "$BIN" playback-session:kill --config "$CONFIG"
state=$(curl -sS "http://$EMU/_emu/state")
python3 -c 'import json,sys
s=[x for x in json.load(sys.stdin)["sessions"] if x["id"]==sys.argv[1]]
print("emulator: session", sys.argv[1], "open" if s[0]["open"] else "closed", s[0].get("close_reason"))
sys.exit(0 if s and not s[0]["open"] else 1)' "$flussonic_id" <<<"$state" ||
  fail "the session still plays on the streamer"
echo
echo "try.sh: the whole loop works"
