#!/usr/bin/python3
"""docs/openapi.yaml against the daemon's real answers.

    openapi_test.py BUILD_DIR        (ctest -R openapi; needs the pg fixture)

Starts a real maxsessd on a database of its own (the ctest `pg` fixture's
server), the Flussonic emulator as streamer 1 (tests/flussonic), and a second
maxsessd in cluster mode (one node) for the cluster view. It calls every
operation of the spec with good and bad input (bad JSON, a missing or wrong
field, a wrong or missing token, an unknown id, a wrong Content-Type, a body
over the limit) and, for every answer:
  - the status is the one this test expects (so a check cannot pass by a
    route answering something else that happens to be documented),
  - the status is documented for that operation,
  - the Content-Type is one the spec lists for that status (none for a
    204), and the body validates against its schema (JSON Schema 2020-12,
    strict: additionalProperties false),
  - the response headers the spec marks required are there and match;
  - where the test says so, the JSON request body validates against the
    spec's request schema (good input) or does not (input the schema itself
    rules out: a missing field, a wrong type, a value out of range).
Answers outside any operation (404 unknown path, 405 with Allow, 400 without
Host) are checked against the generic error schema, and Allow against the
spec's methods of that path.

Coverage both ways:
  - every path+method of the spec was called at least once;
  - every route the daemon serves is in the spec. The routes are read from
    the source of http_api::route (net/http_api.cpp): each `if` whose
    condition tests the path (`parts.size()`, `parts[i] == "..."`,
    `c.path == "..."`, a `const bool` of those) and whose block starts with
    the method check (`if (method != http::verb::X && ...)
    return method_not_allowed(...)`) is a route; enclosing `if`s narrow it.
    A path test the reader does not understand fails the test, so a route
    added in a new style is not silently missed. HEAD is taken as GET.
Exit 0 on success; 1 with every failure listed.

A new endpoint: describe it in docs/openapi.yaml (paths, and its schemas
under components), then add calls to exercise() below: at least one that
succeeds (a 2xx is required for every operation) and the bad inputs it
refuses, each with the status it must answer. Tokens: the 401 round at the
top of exercise() covers every operation the spec marks as secured.
"""
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse

try:
    import jsonschema
    import yaml
except ImportError as e:  # pragma: no cover
    sys.exit("openapi_test: %s; install python3-yaml and python3-jsonschema (scripts/deps.sh)" % e)

SRC = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SPEC_PATH = os.path.join(SRC, "docs", "openapi.yaml")
ROUTER_SOURCE = os.path.join(SRC, "net", "http_api.cpp")
METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")

failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL: " + msg, flush=True)


# --- the spec -------------------------------------------------------------------

SPEC = yaml.safe_load(open(SPEC_PATH))


def deref(obj):
    """Follows a non-schema $ref (parameters, responses, request bodies, headers)."""
    seen = 0
    while isinstance(obj, dict) and "$ref" in obj:
        ref = obj["$ref"]
        if not ref.startswith("#/"):
            raise ValueError("only local $refs: " + ref)
        target = SPEC
        for part in ref[2:].split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        obj = target
        seen += 1
        if seen > 20:
            raise ValueError("$ref loop at " + ref)
    return obj


def validator(schema):
    # The schema is wrapped with the spec's components so its "#/components/
    # schemas/..." refs resolve against this document (no resolver API,
    # which differs between jsonschema releases).
    doc = {"$schema": "https://json-schema.org/draft/2020-12/schema",
           "components": SPEC.get("components", {}), "allOf": [schema]}
    return jsonschema.Draft202012Validator(doc)


def schema_errors(schema, value):
    return ["%s at /%s" % (e.message[:300], "/".join(str(p) for p in e.absolute_path))
            for e in validator(schema).iter_errors(value)]


def template_segments(template):
    return tuple("*" if re.fullmatch(r"\{[^}]+\}", s) else s for s in template.split("/") if s)


OPERATIONS = {}  # (template, METHOD) -> operation, path-level parameters merged in
for template, item in SPEC["paths"].items():
    item = deref(item)
    for m in METHODS:
        if m in item:
            op = dict(item[m])
            op["parameters"] = [deref(p) for p in item.get("parameters", [])] + \
                               [deref(p) for p in op.get("parameters", [])]
            OPERATIONS[(template, m.upper())] = op


def check_spec_itself():
    """Every schema is a valid 2020-12 schema and every $ref resolves."""
    for name, s in SPEC["components"]["schemas"].items():
        try:
            jsonschema.Draft202012Validator.check_schema(s)
        except jsonschema.SchemaError as e:
            fail("schema %s is not valid JSON Schema 2020-12: %s" % (name, e.message))

    def walk(node, where):
        if isinstance(node, dict):
            if "$ref" in node:
                try:
                    deref({"$ref": node["$ref"]})
                except (KeyError, ValueError) as e:
                    fail("%s: $ref %s does not resolve (%s)" % (where, node["$ref"], e))
            for k, v in node.items():
                walk(v, where + "/" + str(k))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, "%s[%d]" % (where, i))
    walk(SPEC, "#")
    ids = [op.get("operationId") for op in OPERATIONS.values() if op.get("operationId")]
    dup = {i for i in ids if ids.count(i) > 1}
    if dup:
        fail("operationId used twice: %s" % sorted(dup))
    # A few rules of OpenAPI 3.1 itself (Debian has no 3.1 meta-schema).
    if not str(SPEC.get("openapi", "")).startswith("3.1"):
        fail("openapi: %r, want 3.1.x" % SPEC.get("openapi"))
    for (template, method), op in OPERATIONS.items():
        where = "%s %s" % (method, template)
        if not op.get("responses"):
            fail("%s: no responses" % where)
        for code, r in op.get("responses", {}).items():
            if not re.fullmatch(r"[1-5][0-9][0-9]|default", str(code)):
                fail("%s: response key %r is not a status code" % (where, code))
            if "description" not in deref(r):
                fail("%s %s: a response needs a description" % (where, code))
        for p in op["parameters"]:
            if p.get("in") not in ("path", "query", "header", "cookie") or not p.get("name"):
                fail("%s: parameter %r needs a name and in: path|query|header|cookie" % (where, p))
            if p.get("in") == "path" and p.get("required") is not True:
                fail("%s: path parameter %s must be required: true" % (where, p.get("name")))
        for name in re.findall(r"\{([^}]+)\}", template):
            if not any(p["in"] == "path" and p["name"] == name for p in op["parameters"]):
                fail("%s %s: path parameter {%s} is not declared" % (method, template, name))
        for scheme in op.get("security", SPEC.get("security", [])):
            for s in scheme:
                if s not in SPEC["components"].get("securitySchemes", {}):
                    fail("%s %s: unknown security scheme %s" % (method, template, s))


def match_template(path):
    """The spec template a concrete path belongs to (most literal segments win)."""
    segs = tuple(urllib.parse.unquote(s) for s in path.split("?")[0].split("/") if s)
    best, best_score = None, -1
    for template in SPEC["paths"]:
        t = template_segments(template)
        if len(t) != len(segs):
            continue
        if all(a == "*" or a == b for a, b in zip(t, segs)):
            score = sum(1 for a in t if a != "*")
            if score > best_score:
                best, best_score = template, score
    return best


def security_of(op):
    return op.get("security", SPEC.get("security", []))


def needs(op, scheme):
    """True when every alternative of the operation's security needs `scheme`."""
    sec = security_of(op)
    return bool(sec) and all(scheme in alt for alt in sec)


# --- calls ----------------------------------------------------------------------

exercised = {}  # (template, METHOD) -> set of statuses seen


def media_type(value):
    return (value or "").split(";")[0].strip().lower()


def check_answer(method, path, status, headers, body, request_body=None, request_ok=None):
    """Checks one answer against the spec; returns the parsed JSON body (or text)."""
    where = "%s %s -> %d" % (method, path, status)
    template = match_template(path)
    ctype = media_type(headers.get("content-type"))
    parsed = None
    if ctype == "application/json":
        try:
            parsed = json.loads(body.decode("utf-8"))
        except ValueError:
            fail("%s: Content-Type is application/json but the body is not JSON: %r" % (where, body[:200]))
            return None
    elif body:
        parsed = body.decode("utf-8", "replace")
    op = OPERATIONS.get((template, method)) if template else None
    if op is None:
        # Outside every operation: the generic error body, and a 405's Allow
        # names methods the spec has for this path.
        if status not in (400, 404, 405, 413):
            fail("%s: an answer outside the spec's operations that is not 400/404/405/413" % where)
        if ctype != "application/json":
            fail("%s: error with Content-Type %r" % (where, ctype))
        else:
            for e in schema_errors({"$ref": "#/components/schemas/Error"}, parsed):
                fail("%s: error body does not match Error: %s" % (where, e))
        if status == 405:
            allow = {m.strip().upper() for m in headers.get("allow", "").split(",") if m.strip()}
            spec_methods = {m for (t, m) in OPERATIONS if t == template}
            if not allow:
                fail("%s: 405 without Allow" % where)
            if template is None or not allow <= spec_methods | {"HEAD"}:
                fail("%s: Allow %s is not among the spec's methods %s of %s" %
                     (where, sorted(allow), sorted(spec_methods), template))
            if template is not None and not spec_methods <= allow:
                fail("%s: Allow %s misses methods the spec documents for %s: %s" %
                     (where, sorted(allow), template, sorted(spec_methods - allow)))
            if method in spec_methods:
                fail("%s: 405 for a method the spec documents" % where)
        return parsed
    exercised.setdefault((template, method), set()).add(status)
    responses = op.get("responses", {})
    spec_resp = responses.get(str(status), responses.get("default"))
    if spec_resp is None:
        fail("%s: status %d is not documented for %s %s (documented: %s)" %
             (where, status, method, template, sorted(responses)))
        return parsed
    spec_resp = deref(spec_resp)
    content = spec_resp.get("content")
    if not content:
        if body:
            fail("%s: the spec documents no body, got %r" % (where, body[:200]))
    else:
        if ctype not in content:
            fail("%s: Content-Type %r is not documented (%s)" % (where, ctype, sorted(content)))
        else:
            schema = content[ctype].get("schema")
            if schema is not None:
                for e in schema_errors(schema, parsed):
                    fail("%s: body does not match the spec: %s" % (where, e))
    for name, h in (spec_resp.get("headers") or {}).items():
        h = deref(h)
        value = headers.get(name.lower())
        if value is None:
            if h.get("required"):
                fail("%s: required header %s is missing" % (where, name))
            continue
        for e in schema_errors(h.get("schema", {}), value):
            fail("%s: header %s=%r: %s" % (where, name, value, e))
    if request_ok is not None and request_body is not None:
        rb = deref(op.get("requestBody") or {})
        schema = (rb.get("content") or {}).get("application/json", {}).get("schema")
        if schema is None:
            fail("%s: a JSON body was sent but the spec has no JSON request body" % where)
        else:
            try:
                doc = json.loads(request_body)
            except ValueError:
                doc = None  # not JSON at all: nothing for the schema to say
            if doc is not None:
                errs = schema_errors(schema, doc)
                if request_ok and errs:
                    fail("%s: the daemon accepted a body the spec's request schema refuses: %s" % (where, errs[0]))
                if not request_ok and not errs:
                    fail("%s: the daemon refused a body the spec's request schema accepts: %s" %
                         (where, request_body[:200]))
    return parsed


class Daemon:
    def __init__(self, name, port, conf_path):
        self.name, self.port, self.conf = name, port, conf_path
        self.proc = None


def call(d, method, path, expect, body=None, token=None, ctype="application/json", headers=None,
         request_ok=None, field=None):
    """One request on a fresh connection; asserts the status, the error's
    `field` when given, and the spec."""
    h = {"Host": "127.0.0.1:%d" % d.port}
    if token:
        h["Authorization"] = "Bearer " + token
    data = None
    if body is not None:
        data = body if isinstance(body, (bytes, str)) else json.dumps(body)
        if isinstance(data, str):
            data = data.encode("utf-8")
        if ctype:
            h["Content-Type"] = ctype
    h.update(headers or {})
    conn = http.client.HTTPConnection("127.0.0.1", d.port, timeout=120)
    try:
        conn.request(method, path, body=data, headers=h)
        r = conn.getresponse()
        raw = r.read()
        status, rh = r.status, {k.lower(): v for k, v in r.getheaders()}
    finally:
        conn.close()
    if expect is not None and status != expect:
        fail("%s %s: expected %d, got %d %r" % (method, path, expect, status, raw[:300]))
    req_text = data.decode("utf-8", "replace") if data is not None and ctype == "application/json" else None
    parsed = check_answer(method, path, status, rh, raw, req_text, request_ok)
    if field is not None:
        got = parsed.get("error", {}).get("field") if isinstance(parsed, dict) else None
        if got != field:
            fail("%s %s: error field %r, want %r" % (method, path, got, field))
    return status, rh, parsed


def raw_request(d, text):
    """Bytes as they are, for what http.client will not send (no Host)."""
    with socket.create_connection(("127.0.0.1", d.port), timeout=30) as s:
        s.sendall(text.encode())
        chunks = []
        while True:
            b = s.recv(65536)
            if not b:
                break
            chunks.append(b)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return status, headers, body


# --- the daemon's routes, read from its source ----------------------------------

class RouteParseError(Exception):
    pass


TOKEN_RE = re.compile(r'''
    (?P<ws>\s+) | (?P<comment>//[^\n]*|/\*.*?\*/) | (?P<pp>\#[^\n]*) |
    (?P<raw>R"(?P<delim>[^(\s]*)\(.*?\)(?P=delim)") |
    (?P<str>"(?:[^"\\\n]|\\.)*") | (?P<chr>'(?:[^'\\\n]|\\.)+') |
    (?P<num>\d+[\w.]*) | (?P<id>[A-Za-z_]\w*) |
    (?P<op>::|==|!=|>=|<=|&&|\|\||->|[-+*/%<>=!&|^~?:;,.(){}\[\]])
''', re.S | re.X)


def tokenize(text):
    out, i = [], 0
    while i < len(text):
        m = TOKEN_RE.match(text, i)
        if not m:
            raise RouteParseError("cannot tokenize at %r" % text[i:i + 40])
        kind = m.lastgroup
        if kind == "raw":
            kind = "str"  # never a path test here; kept as one token
        if kind not in ("ws", "comment", "pp"):
            out.append((kind, m.group(), text.count("\n", 0, i) + 1))
        i = m.end()
    return out


def matching(toks, i):
    """Index of the bracket closing the one at toks[i]."""
    pairs = {"(": ")", "{": "}", "[": "]"}
    open_, close = toks[i][1], pairs[toks[i][1]]
    depth = 0
    for j in range(i, len(toks)):
        if toks[j][1] == open_:
            depth += 1
        elif toks[j][1] == close:
            depth -= 1
            if depth == 0:
                return j
    raise RouteParseError("unbalanced %s at line %d" % (open_, toks[i][2]))


def parse_dnf(toks, bindings):
    """A path condition as a list of conjunctions of atoms (disjunctive normal form)."""
    pos = [0]

    def peek(k=0):
        return toks[pos[0] + k][1] if pos[0] + k < len(toks) else None

    def take(expected=None):
        t = toks[pos[0]]
        if expected is not None and t[1] != expected:
            raise RouteParseError("expected %r at line %d, got %r" % (expected, t[2], t[1]))
        pos[0] += 1
        return t

    def or_expr():
        terms = and_expr()
        while peek() == "||":
            take()
            terms = terms + and_expr()
        return terms

    def and_expr():
        terms = unary()
        while peek() == "&&":
            take()
            right = unary()
            terms = [a + b for a in terms for b in right]
        return terms

    def unary():
        if peek() == "!":
            # Only a dependency may be negated (`!deps_.status_page.empty()`):
            # a negated path test would need more than this reader knows.
            line = take()[2]
            inner = unary()
            if inner != [[("true",)]]:
                raise RouteParseError("line %d: a negated path test" % line)
            return inner
        if peek() == "(":
            take()
            e = or_expr()
            take(")")
            return e
        return [[atom()]]

    def atom():
        t = take()
        line = t[2]
        if t[1] == "parts":
            if peek() == "." and peek(1) == "size":
                for x in (".", "size", "(", ")"):
                    take(x)
                op = take()[1]
                n = take()
                if op not in ("==", ">=", ">") or n[0] != "num":
                    raise RouteParseError("line %d: parts.size() %s %s" % (line, op, n[1]))
                return ("size", op, int(n[1]))
            if peek() == "." and peek(1) == "empty":
                for x in (".", "empty", "(", ")"):
                    take(x)
                return ("size", "==", 0)
            if peek() == "[":
                take("[")
                n = take()
                take("]")
                take("==")
                s = take()
                if n[0] != "num" or s[0] != "str":
                    raise RouteParseError("line %d: parts[%s] == %s" % (line, n[1], s[1]))
                return ("seg", int(n[1]), json.loads(s[1]))
        if t[1] == "c" and peek() == "." and peek(1) == "path":
            take(".")
            take("path")
            take("==")
            s = take()
            if s[0] != "str":
                raise RouteParseError("line %d: c.path == %s" % (line, s[1]))
            return ("path", json.loads(s[1]))
        if t[1] in bindings:
            return ("bound", t[1])
        if t[1] == "deps_" and peek() == ".":
            # A route served only when the daemon wires a dependency
            # (deps_.cluster_status, deps_.x.empty()): maxsessd always does.
            while peek() in (".", "->"):
                take()
                take()
                if peek() == "(":
                    take("(")
                    take(")")
            return ("true",)
        raise RouteParseError("line %d: cannot read the path test starting at %r" % (line, t[1]))

    dnf = or_expr()
    if pos[0] != len(toks):
        raise RouteParseError("line %d: unexpected %r in a path test" % (toks[pos[0]][2], toks[pos[0]][1]))
    # Expand bound names (const bool x = ...) into their own DNF.
    out = []
    for conj in dnf:
        expanded = [[]]
        for a in conj:
            if a[0] == "bound":
                expanded = [e + b for e in expanded for b in bindings[a[1]]]
            else:
                expanded = [e + [a] for e in expanded]
        out.extend(expanded)
    return out


def conj_templates(conj, line):
    paths = {a[1] for a in conj if a[0] == "path"}
    if len(paths) > 1:
        return []
    if paths:
        return [tuple(s for s in paths.pop().split("/") if s)]
    exact, low = None, 0
    segs = {}
    for a in conj:
        if a[0] == "size":
            if a[1] == "==":
                if exact is not None and exact != a[2]:
                    return []
                exact = a[2]
            else:
                low = max(low, a[2] + (1 if a[1] == ">" else 0))
        elif a[0] == "seg":
            if segs.get(a[1], a[2]) != a[2]:
                return []
            segs[a[1]] = a[2]
    if exact is None:
        raise RouteParseError("line %d: a route whose path length is not fixed (parts.size() == N)" % line)
    if exact < low or any(k >= exact for k in segs):
        return []
    return [tuple(segs.get(k, "*") for k in range(exact))]


def method_check(toks, i, end):
    """If toks[i:] is `if (method != http::verb::X && ...) return method_not_allowed(...);`, the methods."""
    if toks[i][1] != "if" or toks[i + 1][1] != "(":
        return None
    close = matching(toks, i + 1)
    cond = [t[1] for t in toks[i + 2:close]]
    if "method" not in cond:
        return None
    if toks[close + 1][1] != "return" or toks[close + 2][1] != "method_not_allowed":
        raise RouteParseError("line %d: a method check that does not answer method_not_allowed" % toks[i][2])
    methods = set()
    k = 0
    while k < len(cond):
        if cond[k:k + 6] == ["method", "!=", "http", "::", "verb", "::"] and k + 6 < len(cond):
            methods.add(cond[k + 6].rstrip("_").upper())  # delete_ -> DELETE
            k += 7
            if k < len(cond):
                if cond[k] != "&&":
                    raise RouteParseError("line %d: method check joined by %r" % (toks[i][2], cond[k]))
                k += 1
        else:
            raise RouteParseError("line %d: cannot read the method check %s" % (toks[i][2], " ".join(cond)))
    return methods


def daemon_routes():
    """{(segments, METHOD)} served by http_api::route, from its source."""
    text = open(ROUTER_SOURCE).read()
    toks = tokenize(text)
    start = None
    for k in range(len(toks) - 6):
        if [t[1] for t in toks[k:k + 6]] == ["void", "http_api", "::", "route", "(", "call"]:
            start = k
            break
    if start is None:
        raise RouteParseError("void http_api::route(call& c) not found in " + ROUTER_SOURCE)
    k = start
    while toks[k][1] != "{":
        k += 1
    body_end = matching(toks, k)
    routes = set()
    bindings = {}

    def walk(i, end, ctx):
        while i < end:
            t = toks[i][1]
            if t == "const" and toks[i + 1][1] == "bool" and toks[i + 3][1] == "=":
                name = toks[i + 2][1]
                j = i + 4
                while toks[j][1] != ";":
                    j = matching(toks, j) + 1 if toks[j][1] in "([{" else j + 1
                bindings[name] = parse_dnf(toks[i + 4:j], bindings)
                i = j + 1
                continue
            if t == "if" and toks[i + 1][1] == "(":
                close = matching(toks, i + 1)
                cond = toks[i + 2:close]
                words = {c[1] for c in cond}
                is_path = bool(words & ({"parts", "path"} | set(bindings)))
                if toks[close + 1][1] == "{":
                    body_close = matching(toks, close + 1)
                    if is_path:
                        dnf = parse_dnf(cond, bindings)
                        full = [a + b for a in ctx for b in dnf]
                        methods = method_check(toks, close + 2, body_close)
                        if methods is None:
                            walk(close + 2, body_close, full)  # a group of routes
                        else:
                            if not methods:
                                raise RouteParseError("line %d: no method" % toks[i][2])
                            for conj in full:
                                for segs in conj_templates(conj, toks[i][2]):
                                    for m in methods:
                                        routes.add((segs, "GET" if m == "HEAD" else m))
                    i = body_close + 1
                    continue
                if is_path:
                    raise RouteParseError("line %d: a path test whose block does not start with the method "
                                          "check (if (method != ...) return method_not_allowed(...))" % toks[i][2])
                j = close + 1
                while toks[j][1] != ";":
                    j = matching(toks, j) + 1 if toks[j][1] in "([{" else j + 1
                i = j + 1
                continue
            if t in ("{", "(", "["):
                i = matching(toks, i) + 1  # lambdas, loops: no routes inside
                continue
            i += 1

    walk(k + 1, body_end, [[]])
    return routes


def check_route_coverage():
    try:
        served = daemon_routes()
    except RouteParseError as e:
        fail("cannot read the route table of http_api::route (%s): %s; teach daemon_routes() in %s the new "
             "form, or write the route like the others" % (ROUTER_SOURCE, e, __file__))
        return
    if len(served) < 10:
        fail("only %d routes read from http_api::route: the reader is broken" % len(served))
    documented = {(template_segments(t), m) for (t, m) in OPERATIONS}
    for segs, m in sorted(served - documented):
        fail("the daemon serves %s /%s but docs/openapi.yaml does not describe it" % (m, "/".join(segs)))
    for segs, m in sorted(documented - served):
        fail("docs/openapi.yaml describes %s /%s but the daemon does not serve it" % (m, "/".join(segs)))
    print("routes: %d served by http_api::route, %d operations in the spec" % (len(served), len(documented)))


# --- processes ------------------------------------------------------------------

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def psql(dsn, sql):
    env = dict(os.environ, PGOPTIONS="-c client_min_messages=warning")
    subprocess.run(["psql", dsn, "-XAtqc", sql], check=True, stdout=subprocess.DEVNULL, timeout=60, env=env)


def main():
    build = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(SRC, "build"))
    binary = os.environ.get("MAXSESS_BIN") or os.path.join(build, "maxsessd")
    check_spec_itself()
    check_route_coverage()

    pg_dir = os.environ.get("MAXSESS_TEST_PG_DIR")
    if not pg_dir:
        sys.exit("openapi_test: MAXSESS_TEST_PG_DIR is not set (run through ctest: the pg fixture)")
    admin_dsn = open(os.path.join(pg_dir, "dsn")).read().strip()
    work = tempfile.mkdtemp(prefix="maxsess-openapi-")
    procs = []
    dbs = []

    def make_db(suffix):
        name = "openapi_%s_%d" % (suffix, os.getpid())
        psql(admin_dsn, "drop database if exists %s" % name)
        psql(admin_dsn, "create database %s" % name)
        dbs.append(name)
        return admin_dsn + " dbname=" + name  # libpq keeps the last dbname

    def start_daemon(name, yaml_text):
        port = free_port()
        conf = os.path.join(work, name + ".yaml")
        with open(conf, "w") as f:
            f.write(yaml_text.replace("@PORT@", str(port)))
        d = Daemon(name, port, conf)
        subprocess.run([binary, "migrate", "--config", conf], check=True, timeout=120,
                       stdout=subprocess.DEVNULL)
        log = open(os.path.join(work, name + ".log"), "w")
        d.proc = subprocess.Popen([binary, "serve", "--config", conf], stdout=log, stderr=log)
        procs.append(d.proc)
        deadline = time.time() + 90  # generous: 2 shared cores under a full ctest -j
        while time.time() < deadline:
            if d.proc.poll() is not None:
                raise RuntimeError("%s exited %d; %s" % (name, d.proc.returncode,
                                                          open(os.path.join(work, name + ".log")).read()[-3000:]))
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                c.request("GET", "/readyz")
                if c.getresponse().status == 200:
                    return d
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError("%s not ready within 90 s" % name)

    try:
        emu = subprocess.Popen([sys.executable if os.path.exists(sys.executable) else "python3",
                                os.path.join(SRC, "tests", "flussonic", "flussonic_emu.py"),
                                "--port", "0", "--api-user", "flu", "--api-password", "flu-pass",
                                "--exit-with-parent"],
                               stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        procs.append(emu)
        line = emu.stdout.readline()
        m = re.search(r"listening on ([\d.]+):(\d+)", line)
        if not m:
            raise RuntimeError("the Flussonic emulator did not start: %r" % line)
        emu_url = "http://127.0.0.1:%s" % m.group(2)

        common = ("  http_listen: \"127.0.0.1:@PORT@\"\n  http_body_limit: 8192\n"
                  "security:\n  admin_token: openapi-admin-token\n  token_secret: \"k1:openapi-test-secret-0123456789\"\n")
        a = start_daemon("single", (
            "node:\n  id: openapi-a\n" + common +
            "  client_tokens: [openapi-client-token]\n"
            "storage:\n  dsn: \"%s\"\n"
            "playback_session:\n  default_max_sessions: 3\n"
            "log:\n  level: info\n") % make_db("a"))
        exercise(a, emu_url)
        # The database gone under the running daemon (dropped, its
        # connections ended): not ready, and the state routes answer 503.
        psql(admin_dsn, "drop database %s with (force)" % dbs[0])
        dbs.pop(0)
        exercise_without_database(a)
        b = start_daemon("cluster", (
            "node:\n  id: openapi-b\n" + common +
            "storage:\n  dsn: \"%s\"\n"
            "cluster:\n  enabled: true\n  listen: \"127.0.0.1:%d\"\n  shards: 8\n"
            "log:\n  level: info\n") % (make_db("b"), free_port()))
        exercise_cluster(b)
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=40)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for name in dbs:
            try:
                psql(admin_dsn, "drop database if exists %s" % name)
            except Exception:
                pass
        if failures:
            for name in ("single", "cluster"):
                path = os.path.join(work, name + ".log")
                if os.path.exists(path):
                    print("--- %s.log (last lines)" % name)
                    print("".join(open(path).readlines()[-30:]))
        subprocess.run(["rm", "-rf", work])

    check_operation_coverage()
    if failures:
        print("%d failure(s)" % len(failures))
        return 1
    print("PASS")
    return 0


def check_operation_coverage():
    # Called = answered with success at least once: the 401 round above
    # reaches every secured operation, and a check of refusals alone would
    # leave the documented answer untested.
    for key in sorted(OPERATIONS):
        if not any(200 <= st < 300 for st in exercised.get(key, ())):
            fail("%s %s is in docs/openapi.yaml but this test never got a 2xx answer from it (seen: %s)" %
                 (key[1], key[0], sorted(exercised.get(key, ()))))
    # What was seen, per operation: the documented statuses left unexercised
    # are printed (not failed: some need a database that hangs).
    for (template, method), op in sorted(OPERATIONS.items()):
        seen = exercised.get((template, method), set())
        unseen = sorted(set(op.get("responses", {})) - {str(s) for s in seen})
        print("  %-7s %-58s seen %s%s" % (method, template, sorted(seen),
                                          ("  (not produced: %s)" % ", ".join(unseen)) if unseen else ""))


# --- the calls ------------------------------------------------------------------

ADMIN = "openapi-admin-token"
CLIENT = "openapi-client-token"
SECRET = "openapi-access-secret-0123"


def exercise(d, emu_url):
    q = urllib.parse.quote
    # Probes.
    call(d, "GET", "/healthz", 200)
    call(d, "GET", "/readyz", 200)
    call(d, "GET", "/metrics", 200)

    # Every admin operation without a token and with a wrong one, every device
    # operation without one (client tokens are set here): 401. Operations
    # that the spec says need no token must not answer 401 without one.
    samples = {"account_id": "acc-x", "device_id": "dev-x", "id": "1", "job": "clear",
               "host": "emu.test", "secret": SECRET}
    for (template, method), op in sorted(OPERATIONS.items()):
        path = re.sub(r"\{([^}]+)\}", lambda m: samples[m.group(1)], template)
        body = {} if method in ("PUT", "POST") else None
        if needs(op, "adminBearer"):
            call(d, method, path, 401, body=body)
            call(d, method, path, 401, body=body, token="wrong-" + ADMIN)
            call(d, method, path, 401, body=body, token=CLIENT)
        elif needs(op, "clientBearer") or any("clientBearer" in alt for alt in security_of(op)):
            call(d, method, path, 401, body=body)
            call(d, method, path, 401, body=body, token="wrong-" + CLIENT)

    # Streamers.
    call(d, "GET", "/api/v1/streamers", 200, token=ADMIN)
    emu_streamer = {"host": "emu.test", "url": emu_url, "api_url": emu_url, "api_user": "flu",
                    "api_password": "flu-pass", "access_secrets": [SECRET], "allowed_sources": ["127.0.0.1"]}
    call(d, "PUT", "/api/v1/streamers/1", 200, body=emu_streamer, token=ADMIN, request_ok=True)
    # 2: reachable by nobody (its API does not listen; sources elsewhere).
    call(d, "PUT", "/api/v1/streamers/2", 200, token=ADMIN, request_ok=True,
         body={"host": "far.test", "url": "http://127.0.0.1:9", "allowed_sources": ["192.0.2.0/24"],
               "link_mode": "securetoken", "securetoken_secret": "st-secret", "capacity": 5,
               "link_template": "{url}/{stream}/x.m3u8?t={token}", "api_tls_verify": False})
    call(d, "PUT", "/api/v1/streamers/3", 200, token=ADMIN, request_ok=True,
         body={"id": 3, "host": "off.test", "url": "http://127.0.0.1:9", "enabled": False})
    call(d, "PUT", "/api/v1/streamers/4", 409, body={"host": "emu.test"}, token=ADMIN)
    for bad, field in (({}, "host"), ({"host": 7}, "host"), ({"host": "a b"}, "host"),
                       ({"host": "ok.test", "url": "ftp://x"}, "url"),
                       ({"host": "ok.test", "api_url": "http://u:p@x"}, "api_url"),
                       ({"host": "ok.test", "capacity": -1}, "capacity"),
                       ({"host": "ok.test", "allowed_sources": ["10.0.0.0/8", "10.0.0.1/8"]}, "allowed_sources[1]"),
                       ({"host": "ok.test", "access_secrets": ["short"]}, "access_secrets[0]"),
                       ({"host": "ok.test", "link_mode": "other"}, "link_mode"),
                       ({"host": "ok.test", "link_template": "{url}/{stream}"}, "link_template"),
                       ({"id": 5, "host": "ok.test"}, "id"),
                       ({"host": "ok.test", "link_mode": "securetoken"}, "securetoken_secret"),
                       ({"host": "ok.test", "enabled": "yes"}, "enabled"),
                       ({"host": "ok\u0000.test"}, "host")):
        call(d, "PUT", "/api/v1/streamers/4", 400, body=bad, token=ADMIN, field=field)
    call(d, "PUT", "/api/v1/streamers/4", 400, body='{"host": "a.test", "host": "b.test"}', token=ADMIN,
         field="host")
    call(d, "PUT", "/api/v1/streamers/4", 400, body="{not json", token=ADMIN, field="body")
    call(d, "PUT", "/api/v1/streamers/4", 400, body="[1]", token=ADMIN, field="body")
    call(d, "PUT", "/api/v1/streamers/4", 415, body={"host": "ok.test"}, token=ADMIN, ctype="text/plain")
    call(d, "PUT", "/api/v1/streamers/4", 413, body={"host": "ok.test", "pad": "x" * 10000}, token=ADMIN)
    call(d, "PUT", "/api/v1/streamers/abc", 400, body={"host": "ok.test"}, token=ADMIN, field="id")
    _, _, s = call(d, "GET", "/api/v1/streamers/1", 200, token=ADMIN)
    if s and (s.get("api_password_set") is not True or s.get("access_secrets_count") != 1):
        fail("GET streamer 1 does not show what PUT stored: %r" % s)
    call(d, "GET", "/api/v1/streamers/99", 404, token=ADMIN)
    call(d, "GET", "/api/v1/streamers/0", 400, token=ADMIN, field="id")
    _, _, lst = call(d, "GET", "/api/v1/streamers", 200, token=ADMIN)
    if lst and [x["id"] for x in lst["streamers"]] != [1, 2, 3]:
        fail("GET /api/v1/streamers: %r" % lst)

    # Accounts.
    call(d, "PUT", "/api/v1/accounts/acc1", 200, body={"max_sessions": 1}, token=ADMIN, request_ok=True)
    call(d, "PUT", "/api/v1/accounts/acc2", 200, body={"account_id": "acc2", "max_sessions": 0, "exempt": True},
         token=ADMIN, request_ok=True)
    for bad, field in (({}, "max_sessions"), ({"max_sessions": -1}, "max_sessions"),
                       ({"max_sessions": "2"}, "max_sessions"), ({"max_sessions": 1.5}, "max_sessions"),
                       ({"max_sessions": 1, "exempt": "yes"}, "exempt")):
        call(d, "PUT", "/api/v1/accounts/acc1", 400, body=bad, token=ADMIN, request_ok=False, field=field)
    call(d, "PUT", "/api/v1/accounts/acc1", 400, body={"max_sessions": 1, "account_id": "other"}, token=ADMIN,
         field="account_id")
    call(d, "PUT", "/api/v1/accounts/acc1", 400, body="", token=ADMIN, field="body")
    call(d, "PUT", "/api/v1/accounts/acc1", 400, body='{"max_sessions": 1', token=ADMIN, field="body")
    call(d, "PUT", "/api/v1/accounts/acc1", 415, body={"max_sessions": 1}, token=ADMIN, ctype=None)
    call(d, "PUT", "/api/v1/accounts/acc1", 413, body={"max_sessions": 1, "pad": "x" * 10000}, token=ADMIN)
    call(d, "PUT", "/api/v1/accounts/-bad", 400, body={"max_sessions": 1}, token=ADMIN, field="account_id")
    call(d, "GET", "/api/v1/accounts/acc1", 200, token=ADMIN)
    call(d, "GET", "/api/v1/accounts/nobody", 404, token=ADMIN)
    call(d, "GET", "/api/v1/accounts/" + "a" * 65, 400, token=ADMIN, field="account_id")

    # Links.
    link = {"account_id": "acc1", "device_id": "tv", "content": {"type": "live", "stream": "news"},
            "streamer_id": 1, "client_ip": "203.0.113.7"}
    _, _, ok = call(d, "POST", "/api/v1/links", 200, body=link, token=CLIENT, request_ok=True)
    token = ok["token"] if ok else ""
    d.link_token = token
    call(d, "POST", "/api/v1/links", 403, token=CLIENT, request_ok=True,
         body=dict(link, device_id="phone"))
    call(d, "POST", "/api/v1/links", 200, token=CLIENT, request_ok=True,
         body={"account_id": "acc2", "device_id": "tv", "streamer_id": 1,
               "content": {"type": "catchup", "stream": "films/one", "start": 1790000000, "duration": 3600}})
    call(d, "POST", "/api/v1/links", 503, token=CLIENT, request_ok=True, body=dict(link, streamer_id=3))
    call(d, "POST", "/api/v1/links", 400, token=CLIENT, request_ok=True, body=dict(link, streamer_id=77),
         field="streamer_id")
    _, _, e = call(d, "POST", "/api/v1/links", 400, token=CLIENT, request_ok=True,
                   body=dict(link, content={"type": "multicast", "stream": "news"}), field="content.type")
    if e and e["error"]["code"] != "unsupported_content":
        fail("multicast: %r" % e)
    # (body, whether the spec's request schema refuses it too: some rules,
    # such as an IP address or a stream name's characters, are the daemon's)
    for bad, field, schema_refuses in (
            ({"device_id": "tv", "content": {"type": "live", "stream": "news"}}, "account_id", True),
            (dict(link, account_id=""), "account_id", True), (dict(link, device_id=5), "device_id", True),
            (dict(link, content="news"), "content", True),
            (dict(link, content={"type": "tv", "stream": "news"}), "content.type", True),
            (dict(link, content={"type": "live"}), "content.stream", True),
            (dict(link, content={"type": "live", "stream": "news", "start": -5}), "content.start", True),
            (dict(link, streamer_id=-1), "streamer_id", True),
            (dict(link, client_ip="not-an-ip"), "client_ip", False),
            (dict(link, content={"type": "live", "stream": "a b"}), "content.stream", False),
            # (no schema check: Python's re lets `$` match before a final
            # newline, where the spec's ECMA-262 pattern does not)
            (dict(link, device_id="tv\n"), "device_id", None),
            (dict(link, account_id="a/b"), "account_id", True)):
        call(d, "POST", "/api/v1/links", 400, body=bad, token=CLIENT, field=field,
             request_ok=False if schema_refuses else None)
    call(d, "POST", "/api/v1/links", 400, body="nope", token=CLIENT, field="body")
    call(d, "POST", "/api/v1/links", 415, body=link, token=CLIENT, ctype="application/x-www-form-urlencoded")
    call(d, "POST", "/api/v1/links", 413, body=dict(link, pad="x" * 10000), token=CLIENT)

    # The auth backend, at all five paths, GET and POST.
    good = "token=%s&name=news&ip=10.0.0.1&session_id=s1&request_type=%s&duration=0&bytes=0"
    _, h, _ = call(d, "GET", "/flussonic/auth?" + good % (q(token), "new_session"), 200)
    if h.get("x-userid") != "acc1":
        fail("auth 200: X-UserId %r, want acc1" % h.get("x-userid"))
    upd = good % (q(token), "update_session")
    for path in ("/flussonic/auth", "/server/api/chk_flussonic_tmp_link.php",
                 "/stalker_portal/server/api/chk_flussonic_tmp_link.php",
                 "/flussonic/auth/emu.test/" + SECRET):
        for method in ("GET", "POST"):
            call(d, method, path + "?" + upd, 200)
            _, _, r = call(d, method, path + "?name=news", 403)
            if r and r.get("reason") != "no_token":
                fail("auth without a token: %r" % r)
    for method in ("GET", "POST"):
        # A streamer without access secrets may name itself without one.
        call(d, method, "/flussonic/auth/off.test?" + upd, 200)
        _, _, r = call(d, method, "/flussonic/auth/emu.test?" + upd, 403)  # a secret is required
        if r and r.get("reason") != "bad_secret":
            fail("auth without the secret: %r" % r)
        _, _, r = call(d, method, "/flussonic/auth/far.test/x?" + upd, 403)
        if r and r.get("reason") != "source_not_allowed":
            fail("auth from a source not allowed: %r" % r)
        call(d, method, "/flussonic/auth/%zz?" + upd, 400, field="path")
        call(d, method, "/flussonic/auth/%zz/x?" + upd, 400, field="path")
    for query, reason in (("name=news", "no_token"), ("token=garbage&name=news", "token_malformed"),
                          ("token=%s" % q(token), "no_name"), ("token=%s&name=other" % q(token), "other_stream"),
                          ("token=%s&name=news&session_id=%%00" % q(token), "malformed")):
        _, _, r = call(d, "GET", "/flussonic/auth?" + query, 403)
        if r and r.get("reason") != reason:
            fail("auth %s: reason %r, want %s" % (query, r.get("reason"), reason))
    _, _, r = call(d, "GET", "/flussonic/auth/nobody.test/x?" + upd, 403)
    if r and r.get("reason") != "unknown_streamer":
        fail("auth as an unknown streamer: %r" % r)

    # The event sink.
    now_ms = int(time.time() * 1000)
    ev = {"event": "play_started", "event_id": now_ms * 1000, "utc_ms": now_ms, "id": "s1", "media": "news",
          "token": token, "ip": "10.0.0.1", "opened_at": now_ms, "started_at": now_ms, "updated_at": now_ms,
          "bytes": 1, "duration": 0, "proto": "hls", "user_id": None}
    hook = "/webhook/playback-session/flussonic/emu.test"
    _, _, r = call(d, "POST", hook + "/" + SECRET, 200, body=[ev, dict(ev, event="stream_opened", event_id=ev["event_id"] + 1)],
                   request_ok=True)
    if r and (r.get("accepted"), r.get("ignored")) != (1, 1):
        fail("webhook: %r, want 1 accepted and 1 ignored" % r)
    _, _, r = call(d, "POST", hook + "/" + SECRET, 200, body=ev, request_ok=True)
    if r and r.get("duplicates") != 1:
        fail("webhook resent: %r, want 1 duplicate" % r)
    _, _, r = call(d, "POST", "/webhook/playback-session/flussonic/off.test", 200, body=[], request_ok=True)
    if r and r.get("accepted") != 0:
        fail("an empty batch: %r" % r)
    call(d, "POST", "/webhook/playback-session/flussonic/off.test", 413, body=[ev] * 40)
    call(d, "POST", hook + "/" + SECRET, 400, body="{oops", field="body")
    call(d, "POST", "/webhook/playback-session/flussonic/off.test", 400, body="{oops", field="body")
    call(d, "POST", hook + "/" + SECRET, 413, body=[ev] * 40)
    call(d, "POST", hook, 403, body=[ev])                 # no secret
    call(d, "POST", hook + "/wrong-secret-000000", 403, body=[ev])
    call(d, "POST", "/webhook/playback-session/flussonic/nobody.test", 404, body=[ev])
    call(d, "POST", "/webhook/playback-session/flussonic/nobody.test/x", 404, body=[ev])
    call(d, "POST", "/webhook/playback-session/flussonic/%zz", 400, body=[ev], field="path")
    call(d, "POST", "/webhook/playback-session/flussonic/%zz/x", 400, body=[ev], field="path")

    # Jobs: a sync against the emulator, a kill against a streamer whose API
    # does not answer, a clear; then bad input.
    emu_play = json.dumps({"name": "news", "token": token, "auth": False}).encode()
    c = http.client.HTTPConnection(*urllib.parse.urlsplit(emu_url).netloc.split(":"), timeout=10)
    c.request("POST", "/_emu/play", body=emu_play, headers={"Content-Type": "application/json"})
    c.getresponse().read()
    c.close()
    # A session killed on streamer 2, whose API does not answer: the kill job
    # and the sync report it.
    call(d, "PUT", "/api/v1/accounts/acc3", 200, body={"max_sessions": 2}, token=ADMIN, request_ok=True)
    call(d, "POST", "/api/v1/links", 200, token=CLIENT, request_ok=True,
         body={"account_id": "acc3", "device_id": "box", "streamer_id": 2, "client_ip": "2001:db8::7",
               "content": {"type": "vod", "stream": "films/two.mp4"}})
    call(d, "DELETE", "/api/v1/accounts/acc3/devices/box/session?kill=1", 204, token=CLIENT)
    _, _, r = call(d, "POST", "/api/v1/jobs/sync", 200, body={"batch_size": 50, "streamer_ids": [1, 2]},
                   token=ADMIN, request_ok=True)
    by_id = {x["streamer_id"]: x for x in (r or {}).get("streamers", [])}
    if r and not (r["ok"] is False and by_id.get(1, {}).get("listed", 0) >= 1 and "error" in by_id.get(2, {})):
        fail("sync of the emulator and of a streamer whose API is down: %r" % r)
    _, _, r = call(d, "POST", "/api/v1/jobs/kill", 200, body={"streamer_ids": [2]}, token=ADMIN, request_ok=True)
    if r and (r.get("ok") is not False or "error" not in r["streamers"][0]):
        fail("kill on a streamer whose API is down: %r" % r)
    call(d, "POST", "/api/v1/jobs/clear", 200, body={"timeout": 3600}, token=ADMIN, request_ok=True)
    call(d, "POST", "/api/v1/jobs/clear", 200, body=b"", token=ADMIN, ctype=None)
    for bad in ({"batch_size": 0}, {"batch_size": 10001}, {"streamer_ids": "1"}, {"streamer_ids": [0]},
                {"timeout": -1}, {"timeout": 10 ** 12}):
        call(d, "POST", "/api/v1/jobs/sync", 400, body=bad, token=ADMIN, request_ok=False, field=next(iter(bad)))
    call(d, "POST", "/api/v1/jobs/sync", 400, body="[", token=ADMIN, field="body")
    call(d, "POST", "/api/v1/jobs/sync", 415, body={}, token=ADMIN, ctype="text/plain")
    call(d, "POST", "/api/v1/jobs/sync", 413, body={"pad": "x" * 10000}, token=ADMIN)
    call(d, "POST", "/api/v1/jobs/nope", 404, token=ADMIN)

    # The device's session.
    base = "/api/v1/accounts/acc1/devices/%s/session"
    call(d, "DELETE", base % "tv" + "?kill=maybe", 400, token=CLIENT, field="kill")
    call(d, "DELETE", base % "-bad", 400, token=CLIENT, field="device_id")
    call(d, "DELETE", "/api/v1/accounts/%s/devices/tv/session" % ("x" * 65), 400, token=CLIENT, field="account_id")
    call(d, "DELETE", base % "nobody", 404, token=CLIENT)
    call(d, "DELETE", base % "tv", 204, token=CLIENT)
    call(d, "DELETE", base % "tv" + "?kill=true", 204, token=CLIENT)
    _, _, acc = call(d, "GET", "/api/v1/accounts/acc1", 200, token=ADMIN)
    if acc and not any(s["device_id"] == "tv" and s["status"] == "ended" and s.get("end_reason") == "user"
                       for s in acc["sessions"]):
        fail("after DELETE, acc1's tv session is not ended (user): %r" % acc)

    # Cluster view, single node.
    call(d, "GET", "/api/v1/cluster", 200, token=ADMIN)

    # Streamer deletion last (the kill job above used 2).
    call(d, "DELETE", "/api/v1/streamers/2", 204, token=ADMIN)
    call(d, "DELETE", "/api/v1/streamers/2", 404, token=ADMIN)
    call(d, "DELETE", "/api/v1/streamers/x", 400, token=ADMIN, field="id")

    # Outside the operations: unknown path, wrong method, no Host.
    call(d, "GET", "/api/v1/nothing-here", 404)
    call(d, "GET", "/nope", 404)
    call(d, "PATCH", "/api/v1/accounts/acc1", 405, token=ADMIN, body={})
    call(d, "GET", "/api/v1/links", 405, token=CLIENT)
    call(d, "POST", "/healthz", 405)
    call(d, "PUT", "/flussonic/auth", 405, body={})
    call(d, "GET", "/webhook/playback-session/flussonic/emu.test", 405)
    # HEAD, which the spec folds into GET (info.description): the status GET
    # answers, no body.
    for path, want in (("/healthz", 200), ("/readyz", 200), ("/flussonic/auth?name=news", 403),
                       ("/flussonic/auth/off.test?" + good % (q(token), "update_session"), 200)):
        conn = http.client.HTTPConnection("127.0.0.1", d.port, timeout=60)
        conn.request("HEAD", path)
        r = conn.getresponse()
        raw = r.read()
        conn.close()
        if r.status != want or raw:
            fail("HEAD %s: %d with %d body bytes, want %d and none" % (path, r.status, len(raw), want))
    status, headers, body = raw_request(d, "GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n")
    if status != 400:
        fail("HTTP/1.1 without Host: %d, want 400" % status)
    parsed = check_answer("GET", "/no-host", status, headers, body)
    if not (isinstance(parsed, dict) and parsed.get("error", {}).get("field") == "Host"):
        fail("HTTP/1.1 without Host: %r, want field Host" % parsed)


def exercise_without_database(d):
    deadline = time.time() + 60  # the probe runs every second; generous for a loaded machine
    while True:
        status, _, _ = call(d, "GET", "/readyz", None)
        if status == 503 or time.time() > deadline:
            break
        time.sleep(0.2)
    if status != 503:
        fail("/readyz still answers %d 60 s after the database was dropped" % status)
    call(d, "GET", "/api/v1/accounts/fresh1", 503, token=ADMIN)
    call(d, "PUT", "/api/v1/accounts/fresh2", 503, body={"max_sessions": 1}, token=ADMIN, request_ok=True)
    call(d, "POST", "/api/v1/links", 503, token=CLIENT, request_ok=True,
         body={"account_id": "fresh3", "device_id": "d", "streamer_id": 1, "content": {"type": "live", "stream": "s"}})
    call(d, "DELETE", "/api/v1/accounts/fresh4/devices/d/session", 503, token=CLIENT)
    call(d, "PUT", "/api/v1/streamers/9", 503, body={"host": "nine.test"}, token=ADMIN, request_ok=True)
    call(d, "DELETE", "/api/v1/streamers/1", 503, token=ADMIN)
    _, _, r = call(d, "POST", "/api/v1/jobs/clear", 200, token=ADMIN)
    if r and (r.get("ok") is not False or not r.get("error")):
        fail("clear without a database: %r, want ok false and an error" % r)
    # Events of an account whose state cannot be read: Flussonic must resend.
    now_ms = int(time.time() * 1000)
    ev = {"event": "play_updated", "event_id": now_ms * 1000 + 7, "utc_ms": now_ms, "id": "s1", "media": "news",
          "token": d.link_token, "ip": "10.0.0.1", "opened_at": now_ms, "started_at": now_ms,
          "updated_at": now_ms, "bytes": 2, "duration": 1}
    for path in ("/webhook/playback-session/flussonic/off.test",
                 "/webhook/playback-session/flussonic/emu.test/" + SECRET):
        call(d, "POST", path, 503, body=[ev], request_ok=True)
    # Probes and the metrics still answer.
    call(d, "GET", "/healthz", 200)
    call(d, "GET", "/metrics", 200)


def exercise_cluster(d):
    call(d, "PUT", "/api/v1/streamers/1", 200, body={"host": "b.test", "url": "http://127.0.0.1:9"},
         token=ADMIN, request_ok=True)
    _, _, r = call(d, "GET", "/api/v1/cluster", 200, token=ADMIN)
    if r and "shard_count" not in r:
        fail("cluster mode: the cluster view is %r" % r)
    # Client tokens are not set here: the device routes are open.
    call(d, "POST", "/api/v1/links", 200, request_ok=True,
         body={"account_id": "open1", "device_id": "d", "content": {"type": "radio", "stream": "r1"}})


if __name__ == "__main__":
    sys.exit(main())
