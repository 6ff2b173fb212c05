#!/usr/bin/env bash
# Self-check of flussonic_emu.py against stub auth backend + webhook receiver
# (no maxsess needed). Usage: tests/flussonic/selftest.sh   (exit 0 = pass)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
exec env PYTHONDONTWRITEBYTECODE=1 python3 - "$here/flussonic_emu.py" <<'PY'
import base64, json, socket, subprocess, sys, threading, time, urllib.parse, urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

EMU = sys.argv[1]
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

# ---- stub maxsess: auth backend + webhook receiver ---------------------------
auth_reqs, hooks = [], []
fail_next = [0]
lock = threading.Lock()

class Stub(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def reply(self, status, body=b"", headers=()):
        self.send_response(status)
        for k, v in headers: self.send_header(k, v)
        self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
    def do_GET(self):
        u = urllib.parse.urlsplit(self.path)
        q = {k: v[0] for k, v in urllib.parse.parse_qs(u.query, keep_blank_values=True).items()}
        with lock: auth_reqs.append(q)
        tok = q.get("token", "")
        if tok.startswith("good"):
            return self.reply(200, headers=[("X-AuthDuration", "1"), ("X-UserId", "acc-" + tok)])
        if tok.startswith("upd-deny"):
            if q["request_type"] == "new_session":
                return self.reply(200, headers=[("X-AuthDuration", "1"), ("X-UserId", "u")])
            return self.reply(403)
        if tok.startswith("err"):
            return self.reply(500)
        return self.reply(403)
    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n)
        with lock:
            if fail_next[0] > 0:
                fail_next[0] -= 1
                hooks.append(("FAIL", body))
                return self.reply(500, b"boom")
            hooks.append((self.path, body))
        self.reply(200, b"ok")

stub_port = free_port()
stub = ThreadingHTTPServer(("127.0.0.1", stub_port), Stub); stub.daemon_threads = True
threading.Thread(target=stub.serve_forever, daemon=True).start()

port = free_port()
proc = subprocess.Popen([sys.executable, EMU, "--port", str(port),
    "--auth-url", "http://127.0.0.1:%d/flussonic/auth" % stub_port,
    "--webhook-url", "http://127.0.0.1:%d/webhook/playback-session/flussonic/s1.example.com" % stub_port,
    "--api-user", "admin", "--api-password", "pw", "--resend-timeout-ms", "200", "--throttle-ms", "50"],
    stdout=subprocess.PIPE, stderr=open("/tmp/flussonic-emu-selftest.log", "w"), text=True)
line = proc.stdout.readline()
assert line.strip() == "flussonic-emu listening on 127.0.0.1:%d" % port, line

def http(method, path, body=None, headers=None, raw=None):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), data=data, method=method,
                                 headers=headers or {})
    try:
        with opener.open(req, timeout=15) as r:
            t = r.read(); return r.status, (json.loads(t) if t else None)
    except urllib.error.HTTPError as e:
        t = e.read(); return e.code, (json.loads(t) if t else None)

def ctl(path, body=None):
    st, out = http("POST" if path != "/_emu/state" else "GET", path, body if path != "/_emu/state" else None)
    assert st == 200, (path, st, out); return out

BASIC = {"Authorization": "Basic " + base64.b64encode(b"admin:pw").decode()}
BEARER = {"Authorization": "Bearer " + base64.b64encode(b"admin:pw").decode()}
def events():
    out = []
    with lock:
        for path, body in hooks:
            if path == "FAIL": continue
            v = json.loads(body)
            out.extend(v if isinstance(v, list) else [v])
    return out

checks = 0
def check(cond, what):
    global checks
    if not cond:
        print("FAIL:", what); proc.terminate(); sys.exit(1)
    checks += 1

ctl("/_emu/config", {"auto_update": False})
# --- opening: allowed, refused (403), backend error, no auth ------------------
a = ctl("/_emu/play", {"name": "ch1", "token": "good1", "ip": "10.1.1.1", "user_agent": "VLC"})
check(a["allowed"] and a["status"] == 200 and a["user_id"] == "acc-good1" and a["auth_duration"] == 1, a)
q = auth_reqs[-1]
check(q["request_type"] == "new_session" and q["request_number"] == "1" and q["session_id"] == a["id"]
      and q["name"] == "ch1" and q["proto"] == "hls" and q["ip"] == "10.1.1.1" and q["qs"] == "token=good1"
      and q["user_agent"] == "VLC" and q["stream_clients"] == "0" and q["total_clients"] == "0", q)
d = ctl("/_emu/play", {"name": "ch1", "token": "bad"})
check(not d["allowed"] and d["status"] == 403, d)
e = ctl("/_emu/play", {"name": "ch1", "token": "err1"})
check(not e["allowed"] and e["status"] == 500, e)
n = ctl("/_emu/play", {"name": "ch2", "token": "securetoken-x", "auth": False})
check(n["allowed"] and n["status"] == 0, n)
ids = [a["id"], n["id"]]
for i in range(3):
    r = ctl("/_emu/play", {"name": "ch%d" % i, "token": "good-p%d" % i}); check(r["allowed"], r)
    ids.append(r["id"])
check(auth_reqs[-1]["total_clients"] == "4", auth_reqs[-1])

# auth backend unreachable: new sessions refused, open ones keep playing
good_auth = ctl("/_emu/config", {})["auth_url"]
ctl("/_emu/config", {"auth_url": "http://127.0.0.1:%d/flussonic/auth" % free_port()})
r = ctl("/_emu/play", {"name": "ch1", "token": "good-down"})
check(not r["allowed"] and r["status"] == 0 and "error" in r, r)
u = ctl("/_emu/update", {"id": a["id"]})
check(u == {"allowed": True, "status": 0, "open": True}, u)
ctl("/_emu/config", {"auth_url": good_auth})

# --- Sessions API: auth, paging, one, delete ---------------------------------
check(http("GET", "/streamer/api/v3/sessions")[0] == 401, "no auth -> 401")
check(http("GET", "/streamer/api/v3/sessions", headers={"Authorization": "Basic " +
      base64.b64encode(b"admin:nope").decode()})[0] == 401, "bad pw -> 401")
for prefix, hdr in (("/streamer/api/v3", BASIC), ("/flussonic/api/v3", BEARER)):
    got, cursor, pages = [], None, 0
    while True:
        path = prefix + "/sessions?limit=2&select=id,name&sort=id" + ("&cursor=" + urllib.parse.quote(cursor) if cursor else "")
        st, page = http("GET", path, headers=hdr)
        check(st == 200 and page["estimated_count"] == 5 and len(page["sessions"]) <= 2, (st, page))
        got += [s["id"] for s in page["sessions"]]; pages += 1
        cursor = page["next"]
        if cursor is None: break
    check(pages == 3 and got == ids, (pages, got, ids))
st, one = http("GET", "/streamer/api/v3/sessions/" + a["id"], headers=BASIC)
check(st == 200 and one["type"] == "play" and one["user_id"] == "acc-good1" and one["token"] == "good1"
      and one["closed_at"] is None and "soft_limitation" in one and one["opened_at"] > 10**12, one)
check(http("GET", "/streamer/api/v3/sessions/" + d["id"], headers=BASIC)[0] == 404, "refused not listed")
check(http("GET", "/streamer/api/v3/sessions/nope", headers=BASIC)[0] == 404, "404")
st, _ = http("DELETE", "/streamer/api/v3/sessions/" + a["id"], headers=BASIC)
check(st == 204, st)
check(http("DELETE", "/streamer/api/v3/sessions/" + a["id"], headers=BASIC)[0] == 404, "2nd delete 404")
check(ctl("/_emu/flush")["pending"] == 0, "flushed")
evs = events()
closed = [x for x in evs if x["event"] == "play_closed" and x["id"] == a["id"]]
check(len(closed) == 1 and closed[0]["reason"] == {"type": "api_delete"} and closed[0]["closed_at"] > 10**12, closed)
check([x["event"] for x in evs if x["id"] == a["id"]] == ["play_opened", "play_started", "play_updated", "play_closed"], evs)
check(all(hooks[0][0] == "/webhook/playback-session/flussonic/s1.example.com" for _ in [0]), hooks[0][0])
check(isinstance(json.loads(hooks[0][1]), list), "array batch")
ev_ids = [x["event_id"] for x in evs]
check(ev_ids == sorted(ev_ids) and len(set(ev_ids)) == len(ev_ids), ev_ids)
st_ = ctl("/_emu/state")
check(st_["deleted"] == [a["id"]] and len(st_["sessions"]) == 8 and st_["api_requests"] >= 10, st_["deleted"])
check([c["status"] for c in st_["auth_calls"]][:3] == [200, 403, 500], st_["auth_calls"])

# --- manual update, update deny ---------------------------------------------
u = ctl("/_emu/update", {"id": ids[2]})
check(u == {"allowed": True, "status": 200, "open": True}, u)
check(auth_reqs[-1]["request_type"] == "update_session" and auth_reqs[-1]["request_number"] == "2"
      and auth_reqs[-1]["session_id"] == ids[2]
      and "duration" in auth_reqs[-1] and auth_reqs[-1]["bytes"] == "1000000", auth_reqs[-1])
x = ctl("/_emu/play", {"name": "ch9", "token": "upd-deny1"})
u = ctl("/_emu/update", {"id": x["id"]})
check(u == {"allowed": False, "status": 403, "open": False}, u)
ctl("/_emu/flush")
check([y["reason"] for y in events() if y["id"] == x["id"] and y["event"] == "play_closed"] == [{"type": "denied"}], "denied")
check(http("POST", "/_emu/update", {"id": "nope"})[0] == 404, "update unknown")

# --- automatic updates (X-AuthDuration 1 s) ----------------------------------
y = ctl("/_emu/play", {"name": "ch9", "token": "upd-deny2"})
ctl("/_emu/config", {"auto_update": True, "event_interval_ms": 300})
deadline = time.time() + 5
while time.time() < deadline:
    s = [s for s in ctl("/_emu/state")["sessions"] if s["id"] == y["id"]][0]
    if not s["open"]: break
    time.sleep(0.1)
check(not s["open"] and s["close_reason"] == {"type": "denied"}, s)
ctl("/_emu/flush")
upd = [e for e in events() if e["event"] == "play_updated" and e["id"] == n["id"]]
check(len(upd) >= 2 and upd[-1]["bytes"] > upd[0]["bytes"], upd)
ctl("/_emu/config", {"auto_update": False})

# --- resend after failures ---------------------------------------------------
before = ctl("/_emu/state")["webhook_failures"]
with lock: fail_next[0] = 2; mark = len(hooks)
check(ctl("/_emu/close", {"id": ids[2]}) == {"closed": True}, "close")
check(ctl("/_emu/flush")["pending"] == 0, "flushed after failures")
with lock: tail = hooks[mark:]
check([p for p, _ in tail][:2] == ["FAIL", "FAIL"] and tail[0][1] == tail[1][1] == tail[2][1], tail)
check(ctl("/_emu/state")["webhook_failures"] == before + 2, "failures counted")
check(ctl("/_emu/close", {"id": ids[2]}) == {"closed": False}, "close twice")

# --- legacy and odd shapes ---------------------------------------------------
def shapes(cfg):
    ctl("/_emu/config", cfg)
    with lock: mark = len(hooks)
    r = ctl("/_emu/play", {"name": "lg", "token": "good-lg", "auth": False})
    ctl("/_emu/update", {"id": r["id"]}); ctl("/_emu/close", {"id": r["id"]}); ctl("/_emu/flush")
    with lock: bodies = [json.loads(b) for p, b in hooks[mark:]]
    ctl("/_emu/reset", {"keep_config": False})
    return bodies
b = shapes({"legacy_events": True, "legacy_single": True})
check(all(isinstance(x, dict) for x in b) and [x["event"] for x in b] == ["session_opened", "session_closed"]
      and b[1]["deleted_at"] > 10**12 and "bytes_sent" in b[1] and "session_id" in b[1], b)
b = shapes({"play_update_name": True, "seconds_timestamps": True, "null_fields": True, "omit_fields": ["utc_ms"]})
flat = [e for batch in b for e in batch]
check([e["event"] for e in flat] == ["play_opened", "play_started", "play_update", "play_closed"], flat)
check(all(e["opened_at"] < 10**11 and e["ip"] is None and "utc_ms" not in e for e in flat), flat)
b = shapes({"duplicate_batches": True})
check(len(b) % 2 == 0 and all(b[i] == b[i + 1] for i in range(0, len(b), 2)), b)
check(ctl("/_emu/config", {})["legacy_events"] is False, "reset restores config")
check(http("POST", "/_emu/config", {"nonsense": 1})[0] == 400, "unknown config key")

# --- /_emu/events, legacy API, failures, reset --------------------------------
r = ctl("/_emu/events", {"body": [{"event": "play_closed", "id": "x"}]})
check(r == {"status": 200, "body": "ok"}, r)
with lock: fail_next[0] = 1
r = ctl("/_emu/events", {"raw": "not json"})
check(r["status"] == 500 and r["body"] == "boom", r)
check(hooks[-1] == ("FAIL", b"not json"), hooks[-1])
g = ctl("/_emu/play", {"name": "ch1", "token": "good-legacy"})
st, lg = http("GET", "/flussonic/api/sessions", headers=BASIC)
check(st == 200 and [s["session_id"] for s in lg["sessions"]] == [g["id"]] and "bytes_sent" in lg["sessions"][0], lg)
st, lc = http("POST", "/flussonic/api/close_sessions", raw=(g["id"] + "\n").encode(), headers=BASIC)
check(st == 200 and lc["closed"] == [g["id"]], lc)
ctl("/_emu/config", {"api_fail": True})
check(http("GET", "/streamer/api/v3/sessions", headers=BASIC)[0] == 500, "api_fail")
ctl("/_emu/config", {"api_fail": False, "api_garbage": True})
with opener.open(urllib.request.Request("http://127.0.0.1:%d/streamer/api/v3/sessions" % port,
                                        headers=BASIC), timeout=15) as r:
    check(r.status == 200 and r.read().startswith(b'{"sessions": [{"id": "x", "na'), "api_garbage")
ctl("/_emu/config", {"api_garbage": '{"sessions": 5}'})
check(http("GET", "/streamer/api/v3/sessions", headers=BASIC) == (200, {"sessions": 5}), "api_garbage string")
ctl("/_emu/config", {"api_garbage": False, "api_fail": 503, "api_delay_ms": 400})
t0 = time.time(); st, _ = http("GET", "/streamer/api/v3/sessions", headers=BASIC)
check(st == 503 and time.time() - t0 >= 0.4, "api_delay")
ctl("/_emu/reset")
s = ctl("/_emu/state")
check(s["sessions"] == [] and s["auth_calls"] == [] and s["webhook_posts"] == 0 and s["config"]["api_fail"] is False, s)

# --- bulk sessions, broken paging ---------------------------------------------
b = ctl("/_emu/bulk", {"tokens": ["t%d" % i for i in range(5)], "name": "bulk"})
check(b["open"] == 5, b)
ctl("/_emu/bulk", {"tokens": ["u0", "u1"]})
got, cursor = [], None
while True:
    st, page = http("GET", "/streamer/api/v3/sessions?limit=3" + ("&cursor=" + cursor if cursor else ""), headers=BASIC)
    check(st == 200 and page["estimated_count"] == 7, page)
    got += [x["token"] for x in page["sessions"]]; cursor = page["next"]
    if cursor is None: break
check(got[:5] == ["t%d" % i for i in range(5)] and len(got) == 7, got)
ctl("/_emu/config", {"api_next": "increment"})
st, p1 = http("GET", "/streamer/api/v3/sessions?limit=2", headers=BASIC)
st, p2 = http("GET", "/streamer/api/v3/sessions?limit=2&cursor=" + p1["next"], headers=BASIC)
check(p1["next"] == "1" and p2["next"] == "2" and [x["token"] for x in p2["sessions"]] == ["t0", "t1"], (p1, p2))
ctl("/_emu/config", {"api_next": "repeat"})
st, p3 = http("GET", "/streamer/api/v3/sessions?limit=2&cursor=7", headers=BASIC)
check(p3["next"] == "7", p3)
check(ctl("/_emu/state")["api_listings"] == 2, "api_listings counts listings begun (no cursor), not pages")
ctl("/_emu/reset")

# --- SIGTERM ------------------------------------------------------------------
proc.terminate()
check(proc.wait(timeout=5) == 0, "clean exit on SIGTERM")
print("selftest ok: %d checks" % checks)
PY
