#!/usr/bin/env python3
"""Writes the seed corpora of tests/fuzz/<target>/seed-* (docs/testing.md).

Run once when a target or its input format changes; the seeds are
committed. Files named crash-* or regress-* in those folders are inputs
that once broke a target, kept by hand: this script never touches them.
The auth_query tokens are signed as domain/token.cpp signs, under
api_harness::secret ("k1:fuzz-secret") to expire 10 minutes after
fixed_now_s (tests/fuzz/api_harness.hpp), so they verify in the fuzzer.
"""
import base64
import hashlib
import hmac
import os
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
NOW = 1767225600


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def token(account, device, stream, kid="k1", secret=b"fuzz-secret", expires=NOW + 600):
    head = "m1.%s.%d.%s" % (kid, expires, b64url(b"\0".join(x.encode() for x in (account, device, stream))))
    return head + "." + b64url(hmac.new(secret, head.encode(), hashlib.sha256).digest())


def write(target, seeds):
    d = os.path.join(HERE, target)
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):
        if f.startswith("seed-"):
            os.remove(os.path.join(d, f))
    for i, s in enumerate(seeds):
        with open(os.path.join(d, "seed-%02d" % i), "wb") as f:
            # latin-1: "\xff" in a seed is the byte 0xff (invalid UTF-8 on purpose)
            f.write(s if isinstance(s, bytes) else s.encode("latin-1"))


write("link_request", [
    '{"account_id":"acc1","device_id":"tv","content":{"type":"live","stream":"news"}}',
    '{"account_id":"acc.1@x:y-z_","device_id":"d1","content":{"type":"catchup","stream":"ch/1","start":1764000000,"duration":3600},"streamer_id":2,"client_ip":"10.0.0.1"}',
    '{"account_id":"a","device_id":"b","content":{"type":"timeshift","stream":"s","start":0},"client_ip":"::1"}',
    '{"account_id":"a","device_id":"b","content":{"type":"vod","stream":"movies/x.mp4"},"streamer_id":0}',
    '{"account_id":"a","device_id":"b","content":{"type":"multicast","stream":"s"}}',
    '{"account_id":"","device_id":"b","content":{"type":"live","stream":"s"}}',
    '{"account_id":"a","device_id":"b","content":{"type":"live","stream":"has space"}}',
    '{"account_id":"a","device_id":"b","content":[]}',
    '{"account_id":1,"device_id":null,"content":{"type":"radio","stream":"r","duration":-1}}',
    '{"account_id":"a","account_id":"b","device_id":"c","content":{"type":"npvr","stream":"s","start":1e3}}',
    '{"account_id":"e\\u0000vil","device_id":"b","content":{"type":"live","stream":"s"}}',
    '{"account_id":"a","device_id":"b","content":{"type":"live","stream":"s"},"streamer_id":18446744073709551616}',
    '[[[[[[[[[[]]]]]]]]]]', '', '"x"', '\xef\xbb\xbf{}', '{"account_id":"\xff"}',
])

write("webhook_batch", [
    '[{"event":"play_opened","event_id":1,"utc_ms":1764000000000,"id":"s1","media":"news","token":"t","ip":"1.2.3.4"},'
    '{"event":"play_updated","event_id":2,"id":"s1","media":"news","bytes":1000,"duration":10,"updated_at":1764000010},'
    '{"event":"play_closed","event_id":3,"id":"s1","media":"news","closed_at":1764000020000,"reason":null},'
    '{"event":"stream_started","event_id":4}]',
    '{"event":"session_opened","session_id":"x","name":"ch","bytes_sent":"77","created_at":1764000000}',
    '[{"event":"session_closed","id":"y","media":"m","deleted_at":1764000000123}]',
    '[{"event":"play_update","id":1234,"bytes":1.5e3,"duration":"12"}]',
    '[{"event":"play_started","id":"s","started_at":-5,"event_id":-7,"bytes":-1}]',
    '[1,"x",null,{},{"event":""},{"event":"play_closed"}]',
    '[]', '{}', 'null', 'not json', '[{"event":"play_opened","id":"s","opened_at":99999999999999999999}]',
])

tok = token("acc1", "tv", "news")
tok_old = token("acc1", "tv", "news", kid="k1", expires=NOW - 3600)
tok_other = token("acc.1@x", "d-2", "ch/1")
q = urllib.parse.quote
write("auth_query", [
    "token=%s&name=news&request_type=new_session&session_id=abc&ip=1.2.3.4" % tok,
    "token=%s&name=news&request_type=update_session&session_id=abc&ip=1.2.3.4&duration=10&bytes=1000" % tok,
    "token=%s&name=news&request_type=update_session&session_id=abc" % tok_old,
    "token=%s&name=news" % tok_old,
    "token=%s&name=other" % tok,
    "token=%s" % tok,
    "name=%s&token=%s&ip=%s&session_id=%s" % (q("ch/1"), q(tok_other), q("::1"), q("a b%c")),
    "token=%s&bytes=999999999999999999&duration=-1" % tok,
    "token=%s&token=x" % tok, "token=&name=", "%zz=1&token=%41", "", "&&&==&", "token=m1.k1.0.AA.AA",
])

write("token_verify", [
    b"\0" + tok.encode(), b"\0" + tok_old.encode(), b"\0" + token("a", "b", "c", kid="k0", secret=b"old-secret").encode(),
    b"\0" + token("a", "b", "c", kid="k9").encode(), b"\0m1.k1.x.y.z", b"\0....", b"\0m1..0..",
    b"\1k1:fuzz-secret,k2:other", b"\1bare-secret", b"\1k1:", b"\1k1:a,k1:b", b"\1,,,", b"\1:x",
    b"\2acc1\ntv\nnews", b"\2a\nb\nc/d.m3u8", b"\2\n\n", b"\2a\0b\nc\nd",
])

write("config_load", [
    open(os.path.join(HERE, "..", "..", "config", "example.yaml"), "rb").read(),
    "storage:\n  dsn: host=/tmp dbname=x\nsecurity:\n  admin_token: a\n  token_secret: k1:s\n",
    "storage:\n  dsn: x\nsecurity:\n  admin_token: a\n  token_secret: s\n  client_tokens: [c1, c2]\n"
    "node:\n  http_listen: '[::1]:8080'\n  http_read_timeout: 1h30m\nplayback_session:\n  pending_ttl: 250ms\n"
    "  enabled: off\ncluster:\n  enabled: true\n  listen: 127.0.0.1:9000\n  seeds: [a:1, 'b:2']\nlog:\n  level: DEBUG\n  format: json\n",
    "storage:\n  dsn: x\n\0MAXSESS_SECURITY_ADMIN_TOKEN=a\nMAXSESS_SECURITY_TOKEN_SECRET=k1:s\n"
    "MAXSESS_PLAYBACK_SESSION_LINK_TTL=5m\nMAXSESS_NODE_HTTP_THREADS=4\n",
    "node: [1, 2]\n", "storage: {dsn: 'a', unknown: 1}\n", "{{{", "- - - -\n", "a: &x 1\nb: *x\n", "",
    "node:\n  http_threads: 99999999999999999999\n",
])

write("playback_ini", [
    "playback_session_enabled = true\n",
    "; comment\n[section]\nplayback_session_enabled = \"off\" ; why\nother = 1\n",
    "\xef\xbb\xbfplayback_session_enabled=0\r\n",
    "playback_session_enabled = 'yes\n", "playback_session_enabled = maybe\n", "[broken\n= x\nnovalue\n",
    "playback_session_enabled = on # c\nplayback_session_enabled = no\n", "", "\n\n\n",
])
print("seeds written under", HERE)
