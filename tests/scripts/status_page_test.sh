#!/usr/bin/env bash
# The status page (GET /, docs/status-page.md) in a real browser: a real
# maxsessd on the harness PostgreSQL with the Flussonic emulator as its
# streamer; links played through the emulator (auth backend), one account
# filled to its limit and refused once; then headless Chromium loads the page
# with the admin token in the fragment and the test reads what it shows
# (node, streamer and its sessions, the denial, the account at its limit,
# the audit events or "No events." before the audit trail exists), an
# account search, a wrong token and no token; then a node in cluster mode
# (its nodes and shards). /api/v1/status and the page's
# headers are checked with curl first.
#   status_page_test.sh BUILD_DIR       (ctest; needs the pg fixture)
# STATUS_PAGE_SCREENSHOT=FILE also writes the page as a 1280x900 PNG there
# (docs/status-page.png is made that way).
set -euo pipefail
build=$(cd "$1" && pwd)
cd "$(dirname "$0")/../.."
root=$(pwd)
work=$(mktemp -d /tmp/maxsess-status-page-XXXXXX)
daemon_pid= emu_pid= cluster_pid= db= cluster_db=
admin_dsn=$(cat "${MAXSESS_TEST_PG_DIR:?needs the pg fixture}/dsn")
cleanup() {
  for pid in $daemon_pid $emu_pid $cluster_pid; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  for d in $db $cluster_db; do psql "$admin_dsn" -XAtqc "drop database if exists $d" >/dev/null 2>&1 || true; done
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  for f in daemon.log emu.log cluster.log chromium.log; do [[ -f "$work/$f" ]] && { echo "--- $f (tail)" >&2; tail -20 "$work/$f" >&2; }; done
  exit 1
}
note() { echo "status_page_test: $*"; }
# shellcheck source=tests/scripts/wait_for.sh
. tests/scripts/wait_for.sh
command -v chromium >/dev/null || fail "chromium is not installed (scripts/deps.sh installs it)"

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
http_port=$(port) emu_port=$(port)
H=http://127.0.0.1:$http_port
EMU=127.0.0.1:$emu_port
admin=status-page-admin-$$-$RANDOM
db=status_page_$$
psql "$admin_dsn" -XAtqc "create database $db" >/dev/null
cat >"$work/maxsess.yaml" <<YAML
node:
  id: page-node-7
  http_listen: "127.0.0.1:$http_port"
storage:
  dsn: "${admin_dsn/dbname=maxsess/dbname=$db}"
security:
  admin_token: "$admin"
  token_secret: "t1:status-page-test-secret"
playback_session:
  default_max_sessions: 3
YAML
"$build/maxsessd" migrate --config "$work/maxsess.yaml" >/dev/null || fail "migrate"

python3 tests/flussonic/flussonic_emu.py --port "$emu_port" --auth-url "$H/flussonic/auth" \
  --webhook-url "$H/webhook/playback-session/flussonic/$EMU" \
  --api-user flussonic --api-password secret --exit-with-parent >"$work/emu.log" 2>&1 &
emu_pid=$!
"$build/maxsessd" serve --config "$work/maxsess.yaml" >"$work/daemon.log" 2>&1 &
daemon_pid=$!
wait_for "$daemon_pid" 30 "maxsessd ready" curl -fsS -o /dev/null "$H/readyz"
# The emulator is a Python process: beside a parallel test its start can
# take longer than the daemon's (one second was not always enough).
wait_for "$emu_pid" 30 "the emulator listening" grep -q "listening on" "$work/emu.log"

A="Authorization: Bearer $admin"
J="Content-Type: application/json"
api() { curl -sS -H "$A" -H "$J" "$@"; }
api -f -X PUT "$H/api/v1/streamers/1" \
  -d "{\"host\":\"$EMU\",\"url\":\"http://$EMU\",\"api_user\":\"flussonic\",\"api_password\":\"secret\"}" >/dev/null ||
  fail "registering the emulator as streamer 1"
api -f -X PUT "$H/api/v1/accounts/acc-full" -d '{"max_sessions":2}' >/dev/null || fail "PUT acc-full"
# A link, played by the emulator: the auth backend makes the session active.
play() {  # play ACCOUNT DEVICE STREAM
  local out token
  out=$(curl -sS -H "$J" -X POST "$H/api/v1/links" \
    -d "{\"account_id\":\"$1\",\"device_id\":\"$2\",\"content\":{\"type\":\"live\",\"stream\":\"$3\"}}")
  token=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])' <<<"$out") || fail "link $1/$2: $out"
  out=$(curl -sS -X POST "http://$EMU/_emu/play" -d "{\"name\":\"$3\",\"token\":\"$token\"}")
  [[ $(python3 -c 'import json,sys; print(json.load(sys.stdin)["allowed"])' <<<"$out") == True ]] ||
    fail "the emulator's play of $1/$2 was refused: $out"
}
play acc-full tv news
play acc-full phone sports
play acc-room tv news
code=$(curl -sS -o "$work/denied.json" -w '%{http_code}' -H "$J" -X POST "$H/api/v1/links" \
  -d '{"account_id":"acc-full","device_id":"tablet","content":{"type":"live","stream":"news"}}')
[[ $code == 403 ]] && grep -q max_sessions_reached "$work/denied.json" || fail "the third device got $code, not 403"

# --- the API and the page's headers --------------------------------------------
[[ $(curl -sS -o /dev/null -w '%{http_code}' "$H/api/v1/status") == 401 ]] || fail "/api/v1/status without a token"
api -f "$H/api/v1/status" >"$work/status.json" || fail "GET /api/v1/status"
python3 - "$work/status.json" <<'PY' || fail "/api/v1/status: $(cat "$work/status.json")"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["node"] == "page-node-7", s["node"]
assert s["version"] and s["cluster"] is False and s["limits_enabled"] is True
assert s["sessions"]["active"] == 3 and s["sessions"]["pending"] == 0, s["sessions"]
[st] = s["streamers"]
assert (st["id"], st["active"], st["pending"]) == (1, 3, 0), st
d = s["denials"]
assert len(d["per_minute"]) == 60 and d["last_hour"] == 1 and sum(d["per_minute"]) == 1, d
assert s["accounts_at_limit"] == [{"account_id": "acc-full", "max_sessions": 2, "live": 2}], s["accounts_at_limit"]
assert s["accounts_at_limit_more"] is False
assert s.get("mode") == "enforce", s.get("mode")  # playback_session.mode's default
PY
curl -sS -D "$work/headers" -o "$work/page.html" "$H/" || fail "GET /"
grep -qi '^content-type: text/html' "$work/headers" || fail "GET / is not HTML: $(cat "$work/headers")"
grep -qi "^content-security-policy: default-src 'none'; script-src 'sha256-" "$work/headers" || fail "no CSP with a script hash"
grep -qi "frame-ancestors 'none'" "$work/headers" && grep -qi '^x-frame-options: DENY' "$work/headers" || fail "the page may be framed"
! grep -q "$admin" "$work/page.html" || fail "the page carries the admin token"
events_code=$(curl -sS -o "$work/events.json" -w '%{http_code}' -H "$A" "$H/api/v1/events?limit=20")

# --- in the browser ------------------------------------------------------------
# Each load gets its own profile (other tests may run Chromium at once);
# the virtual time budget lets the page's fetches finish before the DOM is
# dumped (the page's 10 s refresh is past it).
browse() {  # browse NAME URL [extra flags]: the DOM after the page ran
  local name=$1 url=$2
  shift 2
  timeout 120 chromium --headless --no-sandbox --disable-gpu --no-first-run --user-data-dir="$work/profile-$name" \
    --virtual-time-budget=5000 --window-size=1280,900 "$@" "$url" >"$work/$name.html" 2>>"$work/chromium.log" ||
    fail "chromium failed on $name"
}
browse page "$H/#token=$admin" --dump-dom
browse search "$H/#token=$admin&account=acc-full" --dump-dom
browse wrong "$H/#token=not-the-token" --dump-dom
browse none "$H/" --dump-dom
python3 - "$work" "$events_code" <<'PY' || fail "what the browser shows"
import html.parser, json, sys
work, events_code = sys.argv[1], sys.argv[2]

class Dom(html.parser.HTMLParser):
    """The dumped DOM as a tree of (tag, attrs, children, text)."""
    def __init__(self, text):
        super().__init__()
        self.root = {"tag": "#root", "attrs": {}, "kids": [], "text": []}
        self.stack = [self.root]
        self.feed(text)
    def handle_starttag(self, tag, attrs):
        node = {"tag": tag, "attrs": dict(attrs), "kids": [], "text": []}
        self.stack[-1]["kids"].append(node)
        if tag not in ("meta", "link", "input", "br", "img"):
            self.stack.append(node)
    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, 0, -1):
            if self.stack[i]["tag"] == tag:
                del self.stack[i:]
                break
    def handle_data(self, data):
        self.stack[-1]["text"].append(data)
    def all(self, pred, node=None):
        node = node or self.root
        out = [node] if pred(node) else []
        for k in node["kids"]:
            out += self.all(pred, k)
        return out
    def by_id(self, id):
        found = self.all(lambda n: n["attrs"].get("id") == id)
        assert found, "no element #" + id
        return found[0]
    def find(self, pred, within):
        return self.all(pred, within)

def text(n):
    return " ".join((" ".join(n["text"]) + " " + " ".join(text(k) for k in n["kids"])).split())
def cells(tr):
    return [text(td) for td in tr["kids"] if td["tag"] == "td"]
def hidden(n):
    return "hidden" in n["attrs"]
def load(name):
    return Dom(open(f"{work}/{name}.html").read())

page = load("page")
assert text(page.by_id("node")) == "page-node-7", text(page.by_id("node"))
assert not hidden(page.by_id("dashboard")), "dashboard hidden with the right token"
assert hidden(page.by_id("login")) and hidden(page.by_id("auth-message"))
assert hidden(page.by_id("error")), text(page.by_id("error"))
status = json.load(open(f"{work}/status.json"))
mode = page.by_id("mode")
# the badge shows the mode in force
assert not hidden(mode) and text(mode) == status["mode"].upper() == "ENFORCE", text(mode)
assert "Single node page-node-7" in text(page.by_id("cluster")), text(page.by_id("cluster"))
assert "3 active" in text(page.by_id("sessions-active")).replace("\n", " "), text(page.by_id("sessions-active"))
[st] = page.find(lambda n: n["tag"] == "tr" and "data-streamer" in n["attrs"], page.by_id("streamers"))
c = cells(st)
assert c[0] == "1" and c[1].startswith("127.0.0.1:") and c[2] == "enabled" and c[3:] == ["0", "3"], c
assert text(page.by_id("denials-hour")) == "1", text(page.by_id("denials-hour"))
bars = page.find(lambda n: n["tag"] == "rect" and n["attrs"].get("class") == "bar", page.by_id("denials-chart"))
assert len(bars) == 1, "one minute with denials, got %d bars" % len(bars)
rows = page.find(lambda n: n["tag"] == "tr" and "data-account" in n["attrs"], page.by_id("at-limit"))
assert [cells(r) for r in rows] == [["acc-full", "2", "2"]], [cells(r) for r in rows]
events = text(page.by_id("events"))
if events_code == "404":
    assert events == "No events.", events
else:  # the audit trail exists: the denial is on record
    assert "denied" in events and "acc-full" in events and "tablet" in events, events

search = load("search")
summary = text(search.by_id("account-summary"))
assert summary.startswith("acc-full") and "2 live of max_sessions 2" in summary, summary
devices = [n["attrs"]["data-device"] for n in search.find(lambda n: "data-device" in n["attrs"], search.by_id("account"))]
assert sorted(devices) == ["phone", "tv"], devices

wrong = load("wrong")
assert "The admin token was refused (HTTP 401)" in text(wrong.by_id("auth-message")), text(wrong.by_id("auth-message"))
assert not hidden(wrong.by_id("auth-message")) and not hidden(wrong.by_id("login"))
assert hidden(wrong.by_id("dashboard")) and text(wrong.by_id("node")) == "?"

none = load("none")
assert "No admin token given" in text(none.by_id("auth-message")), text(none.by_id("auth-message"))
assert hidden(none.by_id("dashboard"))
print("browser: node, streamer, sessions, denial, account at its limit, events (%s), search, wrong and no token" % events_code)
PY

browse shot "$H/#token=$admin&account=acc-full" --screenshot="$work/shot.png" --hide-scrollbars
python3 - "$work/shot.png" <<'PY' || fail "the screenshot"
import struct, sys
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
w, h = struct.unpack(">II", data[16:24])
assert (w, h) == (1280, 900), (w, h)
PY
if [[ -n "${STATUS_PAGE_SCREENSHOT:-}" ]]; then
  cp "$work/shot.png" "$STATUS_PAGE_SCREENSHOT"
  note "screenshot written to $STATUS_PAGE_SCREENSHOT"
fi

# --- a node in cluster mode: nodes and shards ------------------------------------
cluster_port=$(port) cluster_listen=$(port)
cluster_db=status_page_c_$$
psql "$admin_dsn" -XAtqc "create database $cluster_db" >/dev/null
sed -e "s/page-node-7/page-c1/" -e "s/127.0.0.1:$http_port/127.0.0.1:$cluster_port/" \
    -e "s/dbname=$db/dbname=$cluster_db/" "$work/maxsess.yaml" >"$work/cluster.yaml"
printf 'cluster:\n  enabled: true\n  listen: "127.0.0.1:%s"\n  shards: 16\n' "$cluster_listen" >>"$work/cluster.yaml"
"$build/maxsessd" migrate --config "$work/cluster.yaml" >/dev/null || fail "migrate (cluster)"
"$build/maxsessd" serve --config "$work/cluster.yaml" >"$work/cluster.log" 2>&1 &
cluster_pid=$!
C=http://127.0.0.1:$cluster_port
held=
# Ready, every shard leased (a lease round or two), and the node list
# showing them too: it comes from the lease rows the next round reads, so
# "held" can be 16 while this node's row still says 0.
for _ in $(seq 1 300); do
  held=$(curl -sS -H "$A" "$C/api/v1/cluster" 2>/dev/null | python3 -c '
import json, sys
c = json.load(sys.stdin)
listed = [n.get("shards") for n in c.get("nodes", []) if n.get("id", n.get("node")) == "page-c1"]
print(c.get("held") if listed == [16] else "listed %s" % listed)' 2>/dev/null || true)
  [[ "$held" == 16 ]] && break
  kill -0 "$cluster_pid" 2>/dev/null || fail "the cluster node exited"
  sleep 0.1
done
[[ "$held" == 16 ]] || fail "the cluster node holds $held of 16 shards after 30 s"
browse cluster "$C/#token=$admin" --dump-dom
python3 - "$work/cluster.html" <<'PY' || fail "what the browser shows in cluster mode"
import re, sys
page = open(sys.argv[1]).read()
box = re.search(r'<div id="cluster">(.*?)</div>', page, re.S).group(1)
plain = " ".join(re.sub(r"<[^>]+>", " ", box).split())
assert "In the cluster. 16 shards, 16 held by this node." in plain, plain
row = re.search(r'<tr data-node="page-c1">(.*?)</tr>', box, re.S)
assert row, box
cells = re.findall(r"<td[^>]*>(.*?)</td>", row.group(1))
assert cells[0] == "page-c1" and cells[2] == "alive" and cells[3] == "16" and cells[5] == "this node", cells
print("cluster: " + plain)
PY
echo "PASS"
