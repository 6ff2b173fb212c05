#!/usr/bin/env python3
"""A Flussonic Media Server emulator for maxsess tests (standard library only).

It behaves like one Flussonic streamer as docs in FLUSSONIC.md describe it:
  * plays sessions the way a player would, asking the authorization backend
    (GET new_session, then update_session every X-AuthDuration seconds);
  * posts play events (play_opened/started/updated/closed) in JSON array
    batches to an event sink, resending failed batches;
  * answers the Sessions API (/streamer/api/v3 and /flussonic/api/v3, plus the
    legacy /flussonic/api/sessions and /flussonic/api/close_sessions).
A control API under /_emu/ (JSON, no auth) drives it from tests; see
tests/flussonic/README.md.
"""

import argparse
import base64
import binascii
import bisect
import copy
import json
import os
import signal
import ssl
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

API_PREFIXES = ("/streamer/api/v3", "/flussonic/api/v3")
LEGACY_SESSIONS = "/flussonic/api/sessions"
LEGACY_CLOSE = "/flussonic/api/close_sessions"

DEFAULT_CONFIG = {
    # Auth updates every X-AuthDuration seconds and periodic play_updated.
    "auto_update": True,
    # When set (ms), replaces X-AuthDuration for the auto update schedule.
    "update_interval_ms": None,
    # Period of the automatic play_updated events (0: none).
    "event_interval_ms": 5000,
    # Event sink on/off (off: events are dropped, not queued).
    "webhooks": True,
    "duplicate_batches": False,
    "legacy_single": False,
    "legacy_events": False,
    "play_update_name": False,
    # true: a default set of optional fields is sent as null; a list: those.
    "null_fields": False,
    # List of field names left out of events entirely.
    "omit_fields": [],
    # Event timestamps (opened_at, ...) in seconds instead of milliseconds.
    "seconds_timestamps": False,
    # Refused sessions also emit play_opened + play_closed (reason denied).
    "refused_events": False,
    # Add the old `type` and `media_request` parameters to auth requests.
    "legacy_auth_params": False,
    "api_delay_ms": 0,
    # false, true (500) or an HTTP status for every Sessions API request.
    "api_fail": False,
    # A broken paging for tests: "increment" answers every page with the
    # first `limit` open sessions and "next" = the cursor + 1, forever;
    # "repeat" answers "next" = the cursor it was given ("0" on the first
    # page). null: the real paging.
    "api_next": None,
    # A Sessions API that answers 200 with a body no client can use (fault
    # tests): true → a truncated JSON document; a string → that exact body
    # (say "<html>" or '{"sessions": 5}'). Checked after api_fail.
    "api_garbage": False,
    "auth_timeout_ms": 3000,
    "webhook_timeout_ms": 5000,
    # Bytes added to a session on every update.
    "bytes_per_update": 1000000,
    # What happens to a query string written in the configured auth_url /
    # webhook_url. Flussonic documents that it keeps the address (scheme,
    # host, port, path: every documented backend and sink is written that
    # way) and adds its own parameters to the auth call; it does not say
    # what happens to a query of its own in that URL. "append" keeps it and
    # adds the parameters after '&'; "drop" sends the path alone. maxsess
    # carries the streamer's access secret in the path, so it works with
    # both (docs/security.md).
    "configured_query": "append",
}

# Also accepted by /_emu/config: they replace the command line's URLs.
URL_KEYS = ("auth_url", "webhook_url")

NULLABLE_DEFAULT = ["user_name", "user_id", "country", "referer", "user_agent",
                    "query_string", "proto", "ip", "bytes", "duration",
                    "started_at", "reason"]

MAX_LOG = 5000

# Never through an http_proxy from the environment: everything is loopback.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def now_ms():
    return int(time.time() * 1000)


def log(msg):
    sys.stderr.write("[emu %s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


class Session:
    def __init__(self, seq, name, token, ip, proto, auth, user_agent, referer, query_string):
        self.seq = seq
        self.id = str(uuid.uuid4())
        self.name = name
        self.token = token
        self.ip = ip
        self.proto = proto
        self.auth = auth
        self.user_agent = user_agent
        self.referer = referer
        self.query_string = query_string
        self.user_id = None
        self.bytes = 0
        self.opened_at = now_ms()
        self.started_at = None
        self.updated_at = self.opened_at
        self.closed_at = None
        self.open = False
        self.refused = False
        self.close_reason = None
        self.request_number = 0
        self.auth_duration = None
        self.next_update_at = None   # monotonic seconds, auth updates
        self.next_event_at = None    # monotonic seconds, play_updated
        self.update_lock = threading.Lock()
        self._api_cache = None      # (fields it was made from, JSON text)

    def duration(self):
        end = self.closed_at if self.closed_at is not None else now_ms()
        return max(0, (end - self.opened_at) // 1000)

    def api_object(self):
        return {
            "id": self.id, "type": "play", "name": self.name, "token": self.token,
            "user_id": self.user_id, "ip": self.ip, "proto": self.proto,
            "bytes": self.bytes, "opened_at": self.opened_at,
            "started_at": self.started_at, "updated_at": self.updated_at,
            "closed_at": None, "country": None, "user_agent": self.user_agent,
            "referer": self.referer, "query_string": self.query_string,
            "max_sessions": None, "soft_limitation": None,
        }

    def api_json(self):
        """api_object() as JSON text, cached until one of its fields changes:
        a large listing serialises each unchanged session once, not per page."""
        key = (self.id, self.name, self.token, self.user_id, self.ip, self.proto, self.bytes,
               self.opened_at, self.started_at, self.updated_at, self.user_agent,
               self.referer, self.query_string)
        if self._api_cache is None or self._api_cache[0] != key:
            self._api_cache = (key, json.dumps(self.api_object()))
        return self._api_cache[1]

    def legacy_api_object(self):
        return {
            "id": self.id, "session_id": self.id, "name": self.name, "token": self.token,
            "user_id": self.user_id, "ip": self.ip, "type": "play",
            "bytes_sent": self.bytes, "created_at": self.opened_at,
        }

    def state_object(self):
        o = self.api_object()
        o.update({
            "closed_at": self.closed_at, "open": self.open, "refused": self.refused,
            "auth": self.auth, "duration": self.duration(),
            "request_number": self.request_number, "auth_duration": self.auth_duration,
            "close_reason": self.close_reason,
        })
        return o


class Emulator:
    def __init__(self, args):
        self.auth_url = args.auth_url or ""
        self.webhook_url = args.webhook_url or ""
        self.api_user = args.api_user
        self.api_password = args.api_password
        self.resend_timeout = args.resend_timeout_ms / 1000.0
        self.throttle = args.throttle_ms / 1000.0
        self.lock = threading.RLock()
        self.cond = threading.Condition(self.lock)
        self.stopping = False
        # Unique across emulator runs, so a restarted streamer's events are
        # never taken for redeliveries of an earlier run's.
        self.next_event_id = time.time_ns() // 1000
        self._reset_state(keep_config=False)
        threading.Thread(target=self._sender_loop, name="sender", daemon=True).start()
        threading.Thread(target=self._ticker_loop, name="ticker", daemon=True).start()

    # ----- state -------------------------------------------------------------

    def _reset_state(self, keep_config):
        with self.lock:
            if not keep_config:
                self.config = copy.deepcopy(DEFAULT_CONFIG)
            self.sessions = {}          # id -> Session, insertion = open order
            self.seq = 0
            # Open sessions in open order and their seqs, rebuilt only after
            # a session opened or closed: a listing of 100 000 sessions pages
            # by bisection instead of sorting them all for every page.
            self._open_cache = None
            self.deleted = []
            self.auth_calls = []
            self.api_log = []
            self.events = []            # every event queued (as sent)
            self.queue = []             # events waiting for the sender
            self.inflight = None        # the batch being (re)sent
            self.generation = getattr(self, "generation", 0) + 1
            self.webhook_posts = 0
            self.webhook_failures = 0
            self.webhook_statuses = []
            self.events_delivered = 0
            self.api_requests = 0
            # Listings begun: GET of the sessions list without a cursor (a
            # sync or kill run starting), however many pages follow.
            self.api_listings = 0
            self.cond.notify_all()

    def state(self):
        with self.lock:
            return {
                "sessions": [s.state_object() for s in self.sessions.values()],
                "deleted": list(self.deleted),
                "auth_calls": list(self.auth_calls),
                "api_requests": self.api_requests,
                "api_listings": self.api_listings,
                "api_log": list(self.api_log),
                "webhook_posts": self.webhook_posts,
                "webhook_failures": self.webhook_failures,
                "webhook_statuses": list(self.webhook_statuses),
                "events_delivered": self.events_delivered,
                "events": list(self.events),
                "pending": self._pending_locked(),
                "config": self.config_view(),
            }

    def config_view(self):
        with self.lock:
            out = copy.deepcopy(self.config)
            out.update({"auth_url": self.auth_url, "webhook_url": self.webhook_url})
            return out

    def open_sessions(self):
        with self.lock:
            return list(self._open_index()[0])

    def _open_index(self):
        """(open sessions in seq order, their seqs); lock held. Insertion
        order of self.sessions is seq order, so no sort is needed."""
        if self._open_cache is None:
            live = [s for s in self.sessions.values() if s.open]
            self._open_cache = (live, [s.seq for s in live])
        return self._open_cache

    def bulk_open(self, body):
        """Opens many sessions at once, as a streamer that already plays
        them: no auth request, no events, no updates scheduled (a listing for
        load tests, e.g. a sync of 100 000 sessions)."""
        name = str(body.get("name") or "stream")
        ip = str(body.get("ip") or "10.0.0.1")
        proto = str(body.get("proto") or "hls")
        tokens = body.get("tokens")
        if not isinstance(tokens, list):
            raise ValueError("tokens must be a list")
        t = now_ms()
        with self.lock:
            for token in tokens:
                self.seq += 1
                token = str(token)
                s = Session(self.seq, name, token, ip, proto, False, None, None,
                            urllib.parse.urlencode({"token": token}) if token else "")
                s.open = True
                s.opened_at = s.started_at = s.updated_at = t
                self.sessions[s.id] = s
            self._open_cache = None
            return len(self._open_index()[0])

    def _append(self, lst, item):
        lst.append(item)
        if len(lst) > MAX_LOG:
            del lst[: len(lst) - MAX_LOG]

    # ----- the authorization backend ----------------------------------------

    def _auth_request(self, s, request_type):
        """GET the auth backend; returns (status, headers dict, error text)."""
        with self.lock:
            s.request_number += 1
            name_clients = sum(1 for x in self.sessions.values() if x.open and x.name == s.name)
            total = sum(1 for x in self.sessions.values() if x.open)
            params = [
                ("name", s.name), ("proto", s.proto), ("ip", s.ip),
                ("request_type", request_type), ("request_number", str(s.request_number)),
                ("session_id", s.id), ("token", s.token),
                ("stream_clients", str(name_clients)), ("total_clients", str(total)),
                ("qs", s.query_string),
            ]
            if s.user_agent is not None:
                params.append(("user_agent", s.user_agent))
            if s.referer is not None:
                params.append(("referer", s.referer))
            if request_type == "update_session":
                params.append(("duration", str(s.duration())))
                params.append(("bytes", str(s.bytes)))
            if self.config.get("legacy_auth_params"):
                params.append(("type", "play"))
                params.append(("media_request", "/%s/index.m3u8" % s.name))
            timeout = float(self.config.get("auth_timeout_ms") or 3000) / 1000.0
        base = self.configured_url(self.auth_url)
        sep = "&" if "?" in base else "?"
        url = base + sep + urllib.parse.urlencode(params)
        status, headers, error = 0, {}, None
        try:
            req = urllib.request.Request(url, method="GET")
            with OPENER.open(req, timeout=timeout) as resp:
                resp.read()
                status = resp.status
                headers = {k.lower(): v for k, v in resp.headers.items()}
        except urllib.error.HTTPError as e:
            status = e.code
            headers = {k.lower(): v for k, v in (e.headers or {}).items()}
            try:
                e.read()
            except Exception:
                pass
        except Exception as e:  # refused, timeout, ...
            error = str(e)
        with self.lock:
            entry = {"request_type": request_type, "session_id": s.id, "token": s.token,
                     "name": s.name, "ip": s.ip, "request_number": s.request_number,
                     "status": status, "utc_ms": now_ms()}
            if error:
                entry["error"] = error
            self._append(self.auth_calls, entry)
        log("auth %s %s token=%s -> %s%s" % (request_type, s.id, s.token, status,
                                             " (%s)" % error if error else ""))
        return status, headers, error

    @staticmethod
    def _auth_duration(headers):
        try:
            v = int(headers.get("x-authduration", "30"))
            return v if v > 0 else 30
        except ValueError:
            return 30

    def _schedule_update(self, s):
        override = self.config.get("update_interval_ms")
        period = (float(override) / 1000.0) if override else float(s.auth_duration or 30)
        s.next_update_at = time.monotonic() + period

    def _schedule_event(self, s):
        period = self.config.get("event_interval_ms") or 0
        s.next_event_at = time.monotonic() + float(period) / 1000.0 if period else None

    # ----- playing -----------------------------------------------------------

    def play(self, body):
        name = str(body.get("name") or "stream")
        token = body.get("token")
        if token is None or token == "":
            token = uuid.uuid4().hex  # Flussonic invents one
            qs_default = ""
        else:
            token = str(token)
            qs_default = urllib.parse.urlencode({"token": token})
        qs = body.get("query_string", qs_default)
        auth = bool(body.get("auth", True)) and bool(self.auth_url)
        with self.lock:
            if body.get("id") and body["id"] in self.sessions:
                return {"id": body["id"], "allowed": False, "status": 0, "user_id": None,
                        "auth_duration": None, "error": "duplicate id"}
            self.seq += 1
            s = Session(self.seq, name, token, str(body.get("ip") or "10.0.0.1"),
                        str(body.get("proto") or "hls"), auth, body.get("user_agent"),
                        body.get("referer"), qs)
            if body.get("id"):
                s.id = str(body["id"])
            self.sessions[s.id] = s
        status, error = 0, None
        if auth:
            status, headers, error = self._auth_request(s, "new_session")
            if status != 200:
                with self.lock:
                    s.refused = True
                    s.closed_at = now_ms()
                    s.close_reason = {"type": "denied"}
                    if self.config.get("refused_events"):
                        self._emit("play_opened", s)
                        self._emit("play_closed", s, reason={"type": "denied"})
                out = {"id": s.id, "allowed": False, "status": status, "user_id": None,
                       "auth_duration": None}
                if error:
                    out["error"] = error
                return out
            with self.lock:
                s.auth_duration = self._auth_duration(headers)
                if headers.get("x-userid"):
                    s.user_id = headers["x-userid"]
        with self.lock:
            s.open = True
            self._open_cache = None
            s.opened_at = now_ms()
            s.updated_at = s.opened_at
            self._emit("play_opened", s)
            s.started_at = now_ms()
            self._emit("play_started", s)
            if auth:
                self._schedule_update(s)
            self._schedule_event(s)
        return {"id": s.id, "allowed": True, "status": status, "user_id": s.user_id,
                "auth_duration": s.auth_duration}

    def update(self, s):
        """One update: update_session (auth sessions) plus play_updated."""
        with s.update_lock:
            with self.lock:
                if not s.open:
                    return {"allowed": False, "status": 0, "open": False}
                s.bytes += int(self.config.get("bytes_per_update") or 0)
                s.updated_at = now_ms()
            status, allowed = 0, True
            if s.auth:
                status, headers, _ = self._auth_request(s, "update_session")
                with self.lock:
                    if not s.open:
                        return {"allowed": status == 200, "status": status, "open": False}
                    if status == 200:
                        s.auth_duration = self._auth_duration(headers)
                        if headers.get("x-userid"):
                            s.user_id = headers["x-userid"]
                    elif 400 <= status < 500:
                        # 403 (any 4xx): the streamer closes the session.
                        allowed = False
                        self._close_locked(s, {"type": "denied"})
                        return {"allowed": False, "status": status, "open": False}
                    # 5xx / unreachable: keep playing, ask again later.
                    self._schedule_update(s)
            with self.lock:
                if s.open:
                    self._emit("play_updated", s)
                    self._schedule_event(s)
                return {"allowed": allowed, "status": status, "open": s.open}

    def _close_locked(self, s, reason, silent=False):
        if not s.open:
            return False
        s.open = False
        self._open_cache = None
        s.closed_at = now_ms()
        s.updated_at = s.closed_at
        s.close_reason = reason
        s.next_update_at = None
        s.next_event_at = None
        if not silent:
            self._emit("play_closed", s, reason=reason)
        return True

    def close(self, sid, reason):
        with self.lock:
            s = self.sessions.get(sid)
            if s is None:
                return None
            return self._close_locked(s, reason)

    def delete(self, sid):
        with self.lock:
            s = self.sessions.get(sid)
            if s is None or not s.open:
                return False
            self._close_locked(s, {"type": "api_delete"})
            self._append(self.deleted, sid)
            return True

    def reauth(self, name):
        targets = [s for s in self.open_sessions() if s.auth and (not name or s.name == name)]

        def run():
            for s in targets:
                self.update(s)
        threading.Thread(target=run, daemon=True).start()
        return len(targets)

    def reset(self, keep_config):
        with self.lock:
            for s in self.sessions.values():
                self._close_locked(s, None, silent=True)
        self._reset_state(keep_config)

    def _ticker_loop(self):
        while not self.stopping:
            time.sleep(0.05)
            with self.lock:
                if not self.config.get("auto_update"):
                    continue
                t = time.monotonic()
                auth_due = [s for s in self.sessions.values()
                            if s.open and s.auth and s.next_update_at is not None
                            and s.next_update_at <= t]
                for s in auth_due:
                    s.next_update_at = None  # rescheduled by update()
                event_due = [s for s in self.sessions.values()
                             if s.open and s.next_event_at is not None
                             and s.next_event_at <= t and s not in auth_due]
                for s in event_due:
                    s.bytes += int(self.config.get("bytes_per_update") or 0)
                    s.updated_at = now_ms()
                    self._emit("play_updated", s)
                    self._schedule_event(s)
            for s in auth_due:
                try:
                    self.update(s)
                except Exception as e:  # keep the ticker alive
                    log("auto update failed: %r" % e)

    # ----- events ------------------------------------------------------------

    def _ts(self, v):
        if v is None:
            return None
        return v // 1000 if self.config.get("seconds_timestamps") else v

    def _emit(self, kind, s, reason=None):
        """Builds an event for session s and queues it (lock held)."""
        if not self.webhook_url or not self.config.get("webhooks"):
            return
        legacy = self.config.get("legacy_events")
        if legacy and kind not in ("play_opened", "play_closed"):
            return
        self.next_event_id += 1
        if legacy:
            ev = {
                "event": "session_opened" if kind == "play_opened" else "session_closed",
                "event_id": self.next_event_id, "session_id": s.id, "token": s.token,
                "user_id": s.user_id, "name": s.name, "ip": s.ip, "bytes_sent": s.bytes,
                "created_at": self._ts(s.opened_at),
                "deleted_at": self._ts(s.closed_at) if kind == "play_closed" else None,
            }
        else:
            name = kind
            if kind == "play_updated" and self.config.get("play_update_name"):
                name = "play_update"
            ev = {
                "event": name, "event_id": self.next_event_id, "utc_ms": now_ms(),
                "id": s.id, "media": s.name, "user_id": s.user_id, "user_name": None,
                "token": s.token, "ip": s.ip, "proto": s.proto, "country": None,
                "user_agent": s.user_agent, "referer": s.referer,
                "query_string": s.query_string, "bytes": s.bytes,
                "duration": s.duration(), "opened_at": self._ts(s.opened_at),
                "started_at": self._ts(s.started_at), "updated_at": self._ts(s.updated_at),
                "closed_at": self._ts(s.closed_at) if kind == "play_closed" else None,
            }
            if kind == "play_closed":
                ev["reason"] = reason
        nf = self.config.get("null_fields")
        if nf:
            for f in (nf if isinstance(nf, list) else NULLABLE_DEFAULT):
                if f in ev:
                    ev[f] = None
        for f in self.config.get("omit_fields") or []:
            ev.pop(f, None)
        self._append(self.events, ev)
        self.queue.append(ev)
        self.cond.notify_all()

    def configured_url(self, url):
        """The URL as configured, less its query under configured_query=drop."""
        if self.config.get("configured_query") == "drop":
            return url.split("?", 1)[0]
        return url

    def _pending_locked(self):
        return len(self.queue) + (len(self.inflight) if self.inflight else 0)

    def post_webhook(self, data, url=None):
        """POSTs raw bytes; returns (status, body text, error)."""
        url = url or self.configured_url(self.webhook_url)
        timeout = float(self.config.get("webhook_timeout_ms") or 5000) / 1000.0
        try:
            req = urllib.request.Request(url, data=data, method="POST",
                                         headers={"Content-Type": "application/json",
                                                  "User-Agent": "Flussonic-emu"})
            with OPENER.open(req, timeout=timeout) as resp:
                return resp.status, resp.read().decode("utf-8", "replace"), None
        except urllib.error.HTTPError as e:
            try:
                text = e.read().decode("utf-8", "replace")
            except Exception:
                text = ""
            return e.code, text, None
        except Exception as e:
            return 0, "", str(e)

    def _deliver(self, batch, generation):
        """Sends one batch as configured; True when every post got a 2xx."""
        with self.lock:
            single = self.config.get("legacy_single")
            times = 2 if self.config.get("duplicate_batches") else 1
        bodies = [json.dumps(e).encode() for e in batch] if single else [json.dumps(batch).encode()]
        for body in bodies:
            for _ in range(times):
                status, text, error = self.post_webhook(body)
                ok = 200 <= status < 300
                with self.lock:
                    if generation != self.generation:
                        return True  # reset meanwhile: drop
                    self.webhook_posts += 1
                    self._append(self.webhook_statuses, status)
                    if not ok:
                        self.webhook_failures += 1
                if not ok:
                    log("webhook post failed: %s %s %s" % (status, error or "", text[:200]))
                    return False
        return True

    def _sender_loop(self):
        while True:
            with self.lock:
                while not self.stopping and not self.queue and not self.inflight:
                    self.cond.wait(0.5)
                if self.stopping:
                    return
                if not self.inflight:
                    self.inflight, self.queue = self.queue, []
                batch, generation = list(self.inflight), self.generation
            ok = self._deliver(batch, generation)
            with self.lock:
                if generation == self.generation:
                    if ok:
                        self.events_delivered += len(batch)
                        self.inflight = None
                    self.cond.notify_all()
            time.sleep(self.throttle if ok else self.resend_timeout)

    def flush(self, timeout):
        deadline = time.monotonic() + timeout
        with self.lock:
            while self._pending_locked() and time.monotonic() < deadline:
                self.cond.wait(min(0.1, max(0.0, deadline - time.monotonic())))
            return self._pending_locked()

    def stop(self):
        with self.lock:
            self.stopping = True
            self.cond.notify_all()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "Flussonic-emu/1.0"
    # Headers and body go out in two writes: without this, a keep-alive
    # client waits for the delayed ACK (~40 ms) on every answer.
    disable_nagle_algorithm = True
    emu = None       # set in main()
    verbose = False

    def log_message(self, fmt, *args):
        if self.verbose:
            log("%s %s" % (self.address_string(), fmt % args))

    # ----- plumbing ----------------------------------------------------------

    def _send(self, status, obj=None, raw=None, headers=None):
        data = raw if raw is not None else (b"" if obj is None else json.dumps(obj).encode())
        self.send_response(status)
        if data or status not in (204, 304):
            self.send_header("Content-Type", "application/json")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if status not in (204, 304):
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data and status not in (204, 304):
            self.wfile.write(data)

    def _error(self, status, message):
        self._send(status, {"error": message, "errors": [{"status": str(status),
                                                           "title": message}]})

    def _read_body(self):
        n = int(self.headers.get("Content-Length") or 0)
        self.body = self.rfile.read(n) if n > 0 else b""

    def _json_body(self):
        data = self.body
        if not data.strip():
            return {}
        return json.loads(data)

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_DELETE(self):
        self._dispatch("DELETE")

    def do_PUT(self):
        self._dispatch("PUT")

    def _dispatch(self, method):
        url = urllib.parse.urlsplit(self.path)
        path = url.path.rstrip("/") or "/"
        query = urllib.parse.parse_qs(url.query)
        try:
            self._read_body()
            if path.startswith("/_emu/"):
                return self._control(method, path[len("/_emu/"):])
            for prefix in API_PREFIXES:
                if path == prefix + "/sessions" or path.startswith(prefix + "/sessions/"):
                    return self._api(method, path[len(prefix + "/sessions"):], query)
            if path in (LEGACY_SESSIONS, LEGACY_CLOSE):
                return self._api(method, path, query, legacy=True)
            self._error(404, "not found")
        except (BrokenPipeError, ConnectionResetError):
            pass
        except json.JSONDecodeError as e:
            self._error(400, "bad json: %s" % e)
        except Exception as e:
            log("handler error %s %s: %r" % (method, self.path, e))
            self._error(500, repr(e))

    # ----- Sessions API ------------------------------------------------------

    def _authorized(self):
        h = self.headers.get("Authorization") or ""
        scheme, _, cred = h.partition(" ")
        if scheme.lower() not in ("basic", "bearer"):
            return False
        try:
            user, _, pw = base64.b64decode(cred.strip(), validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError, ValueError):
            return False
        return user == self.emu.api_user and pw == self.emu.api_password

    def _api(self, method, rest, query, legacy=False):
        emu = self.emu
        body = self.body
        with emu.lock:
            emu.api_requests += 1
            if method == "GET" and rest in ("", LEGACY_SESSIONS) and not query.get("cursor"):
                emu.api_listings += 1
            delay = int(emu.config.get("api_delay_ms") or 0)
            fail = emu.config.get("api_fail")
            garbage = emu.config.get("api_garbage")
        entry = {"method": method, "path": self.path, "status": 0, "utc_ms": now_ms()}
        with emu.lock:
            emu._append(emu.api_log, entry)
        if delay > 0:
            time.sleep(delay / 1000.0)
        if garbage and not fail:
            raw = garbage if isinstance(garbage, str) else '{"sessions": [{"id": "x", "na'
            self._send(200, raw=raw.encode())
            status = 200
        else:
            status = self._api_answer(method, rest, query, legacy, body, fail)
        with emu.lock:
            entry["status"] = status

    def _api_answer(self, method, rest, query, legacy, body, fail):
        emu = self.emu
        if fail:
            code = fail if isinstance(fail, int) and not isinstance(fail, bool) else 500
            self._error(code, "emulated failure")
            return code
        if not self._authorized():
            self._error(401, "unauthorized")  # no WWW-Authenticate: keep clients quiet
            return 401
        if legacy:
            if rest == LEGACY_SESSIONS and method == "GET":
                self._send(200, {"sessions": [s.legacy_api_object() for s in emu.open_sessions()]})
                return 200
            if rest == LEGACY_CLOSE and method == "POST":
                ids = [x.strip() for x in body.decode("utf-8", "replace").splitlines() if x.strip()]
                closed = [i for i in ids if emu.delete(i)]
                self._send(200, {"closed": closed})
                return 200
            self._error(405, "method not allowed")
            return 405
        if rest == "":
            if method != "GET":
                self._error(405, "method not allowed")
                return 405
            return self._list(query)
        sid = urllib.parse.unquote(rest.lstrip("/"))
        if sid == "reauth" and method == "POST":
            name = (query.get("name") or [""])[0]
            n = emu.reauth(name)
            self._send(200, {"sessions": n})
            return 200
        if method == "GET":
            with emu.lock:
                s = emu.sessions.get(sid)
                obj = s.api_object() if s is not None and s.open else None
            if obj is None:
                self._error(404, "session not found")
                return 404
            self._send(200, obj)
            return 200
        if method == "DELETE":
            if emu.delete(sid):
                self._send(204)
                return 204
            self._error(404, "session not found")
            return 404
        self._error(405, "method not allowed")
        return 405

    def _list(self, query):
        emu = self.emu
        try:
            limit = int((query.get("limit") or ["100"])[0])
        except ValueError:
            limit = 100
        if limit <= 0:
            limit = 100
        after = 0
        cursor = (query.get("cursor") or [""])[0]
        with emu.lock:
            mode = emu.config.get("api_next")
            if mode in ("increment", "repeat"):
                return self._broken_page(limit, cursor, mode)
        if cursor:
            try:
                tag, _, value = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
                if tag != "after":
                    raise ValueError(tag)
                after = int(value)
            except (binascii.Error, UnicodeDecodeError, ValueError):
                self._error(400, "bad cursor")
                return 400
        with emu.lock:
            all_open, seqs = emu._open_index()
            first = bisect.bisect_right(seqs, after)
            page = all_open[first:first + limit]
            nxt = None
            if len(all_open) - first > limit:
                nxt = base64.urlsafe_b64encode(("after:%d" % page[-1].seq).encode()).decode()
            # The same text json.dumps would give for the whole object.
            raw = ('{"sessions": [%s], "next": %s, "prev": null, "estimated_count": %d}'
                   % (", ".join(s.api_json() for s in page), json.dumps(nxt), len(all_open)))
        self._send(200, raw=raw.encode())
        return 200

    def _broken_page(self, limit, cursor, mode):
        if mode == "increment":
            try:
                nxt = str(int(cursor or "0") + 1)
            except ValueError:
                nxt = "1"
        else:
            nxt = cursor or "0"
        with self.emu.lock:
            page = self.emu._open_index()[0][:limit]
            raw = ('{"sessions": [%s], "next": %s, "prev": null, "estimated_count": %d}'
                   % (", ".join(s.api_json() for s in page), json.dumps(nxt), len(page)))
        self._send(200, raw=raw.encode())
        return 200

    # ----- control API -------------------------------------------------------

    def _control(self, method, what):
        emu = self.emu
        if what == "state" and method == "GET":
            return self._send(200, emu.state())
        if what == "api_log" and method == "GET":
            # The Sessions API requests alone: small even when 100 000
            # sessions are open (state lists them all).
            with emu.lock:
                return self._send(200, {"api_requests": emu.api_requests,
                                        "api_listings": emu.api_listings,
                                        "api_log": list(emu.api_log)})
        if method != "POST":
            return self._error(405, "method not allowed")
        body = self._json_body()
        if what == "play":
            if not isinstance(body, dict):
                return self._error(400, "object expected")
            return self._send(200, emu.play(body))
        if what == "bulk":
            if not isinstance(body, dict) or not isinstance(body.get("tokens"), list):
                return self._error(400, "tokens (a list) expected")
            return self._send(200, {"open": emu.bulk_open(body)})
        if what in ("update", "close"):
            sid = body.get("id") if isinstance(body, dict) else None
            with emu.lock:
                s = emu.sessions.get(sid)
            if s is None:
                return self._error(404, "no such session")
            if what == "update":
                return self._send(200, emu.update(s))
            reason = body.get("reason", {"type": "timeout"})
            return self._send(200, {"closed": bool(emu.close(sid, reason))})
        if what == "events":
            if not isinstance(body, dict) or ("body" not in body and "raw" not in body):
                return self._error(400, "body or raw expected")
            data = body["raw"].encode() if "raw" in body else json.dumps(body["body"]).encode()
            if not (body.get("url") or emu.webhook_url):
                return self._error(409, "no webhook url")
            status, text, error = emu.post_webhook(data, body.get("url"))
            out = {"status": status, "body": text}
            if error:
                out["error"] = error
            return self._send(200, out)
        if what == "config":
            if not isinstance(body, dict):
                return self._error(400, "object expected")
            unknown = [k for k in body if k not in DEFAULT_CONFIG and k not in URL_KEYS]
            if unknown:
                return self._error(400, "unknown config keys: %s" % ", ".join(unknown))
            with emu.lock:
                for k in URL_KEYS:
                    if k in body:
                        setattr(emu, k, str(body.pop(k) or ""))
                emu.config.update(body)
                # A new schedule takes effect at once.
                for s in emu.sessions.values():
                    if s.open:
                        if s.auth and ("update_interval_ms" in body or "auto_update" in body):
                            emu._schedule_update(s)
                        if "event_interval_ms" in body or "auto_update" in body:
                            emu._schedule_event(s)
                return self._send(200, emu.config_view())
        if what == "flush":
            timeout = 10.0
            if isinstance(body, dict) and body.get("timeout_ms") is not None:
                timeout = float(body["timeout_ms"]) / 1000.0
            return self._send(200, {"pending": emu.flush(timeout)})
        if what == "reset":
            emu.reset(bool(isinstance(body, dict) and body.get("keep_config")))
            return self._send(200, {"ok": True})
        return self._error(404, "unknown control call")


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def main():
    p = argparse.ArgumentParser(description="Flussonic Media Server emulator for maxsess tests")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--auth-url", default="")
    p.add_argument("--webhook-url", default="")
    p.add_argument("--api-user", default="flussonic")
    p.add_argument("--api-password", default="secret")
    p.add_argument("--resend-timeout-ms", type=int, default=200)
    p.add_argument("--throttle-ms", type=int, default=50)
    p.add_argument("--exit-with-parent", action="store_true",
                   help="exit when the process that started us goes away")
    p.add_argument("--verbose", action="store_true", help="log every request")
    p.add_argument("--tls-port", type=int, default=None,
                   help="also serve the streamer API over https on this port (0: a free one)")
    p.add_argument("--tls-cert", default="", help="PEM certificate chain for --tls-port")
    p.add_argument("--tls-key", default="", help="PEM private key for --tls-port")
    args = p.parse_args()

    emu = Emulator(args)
    Handler.emu = emu
    Handler.verbose = args.verbose
    server = Server((args.host, args.port), Handler)
    done = threading.Event()

    def on_signal(signum, frame):
        done.set()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    if args.exit_with_parent:
        parent = os.getppid()

        def watch():
            while not done.is_set():
                if os.getppid() != parent:
                    done.set()
                time.sleep(0.5)
        threading.Thread(target=watch, daemon=True).start()

    # Real fleets serve the API over https: the same handler behind TLS on a
    # second port (the control API stays on the plain one for the tests).
    tls_server = None
    if args.tls_port is not None:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
        tls_server = Server((args.host, args.tls_port), Handler)
        tls_server.socket = ctx.wrap_socket(tls_server.socket, server_side=True)
        threading.Thread(target=tls_server.serve_forever, kwargs={"poll_interval": 0.1},
                         daemon=True).start()
        print("flussonic-emu https on %s:%d" % tls_server.server_address[:2], flush=True)
    # The plain port last: the control API answering means both listen.
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1},
                     daemon=True).start()
    host, port = server.server_address[:2]
    print("flussonic-emu listening on %s:%d" % (host, port), flush=True)
    while not done.wait(0.5):
        pass
    emu.stop()
    server.shutdown()
    server.server_close()
    if tls_server:
        tls_server.shutdown()
        tls_server.server_close()
    log("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
