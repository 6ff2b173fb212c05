#!/usr/bin/env python3
"""Every metric that the alert rules and the Grafana dashboard name must be
exported by a running maxsessd (tests/monitoring/monitoring_test.sh).

  check_metrics.py names RULES DASHBOARD         the metric names they use, one a line
  check_metrics.py rule-exprs RULES              the rules' expressions, one JSON string a line
  check_metrics.py dashboard-exprs DASHBOARD     the dashboard's, Grafana variables filled in
  check_metrics.py lint DASHBOARD                the dashboard's datasource and node variables
  check_metrics.py check RULES DASHBOARD SCRAPE...   the check itself
  check_metrics.py selftest                      the PromQL scanner on known expressions

The names come from the expressions themselves (a PromQL scanner below),
never from a list kept by hand: a metric renamed in the daemon, or a typo in
a query, fails the check. A metric counts as exported when a scrape has a
sample of it (a family announced by # HELP but without any sample does not
count), and every label a selector matches on must be on one of its samples
(a label renamed in the daemon fails too). Python 3 standard library only:
the rules file is read by a small reader of its `expr:` keys, and the caller
compares their number with what `promtool check rules` counted.
"""
import json
import re
import sys

# Series that Prometheus makes itself for every target, not the daemon.
PROMETHEUS_OWN = {"up"}
# Labels that Prometheus attaches to every scraped series (target labels).
TARGET_LABELS = {"job", "instance"}

KEYWORDS = {
    "by", "without", "on", "ignoring", "group_left", "group_right", "offset",
    "bool", "and", "or", "unless", "atan2", "inf", "nan", "start", "end",
}
# Clauses followed by a parenthesised list of label names, not expressions.
LABEL_LISTS = {"by", "without", "on", "ignoring", "group_left", "group_right"}
# Aggregations, which may come before their by/without clause.
AGGREGATIONS = {"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count",
                "count_values", "bottomk", "topk", "quantile"}

TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<comment>\#[^\n]*)
  | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`)
  | (?P<duration>\[[^\]]*\])
  | (?P<number>(?:0x[0-9a-fA-F]+|\d+\.?\d*(?:e[+-]?\d+)?|\.\d+)(?:ms|[smhdwy])*)
  | (?P<ident>[A-Za-z_:][A-Za-z0-9_:]*)
  | (?P<op>=~|!~|!=|==|>=|<=|[-+*/%^<>=,(){}@])
""", re.VERBOSE)


def tokens(expr):
    pos = 0
    while pos < len(expr):
        m = TOKEN.match(expr, pos)
        if not m:
            raise ValueError("cannot scan %r at %d: %r" % (expr, pos, expr[pos:pos + 20]))
        pos = m.end()
        kind = m.lastgroup
        if kind in ("ws", "comment"):
            continue
        yield kind, m.group()


def selectors(expr):
    """[(metric name, {label names matched})] for every vector selector."""
    toks = list(tokens(expr))
    out = []
    i = 0
    while i < len(toks):
        kind, text = toks[i]
        nxt = toks[i + 1][1] if i + 1 < len(toks) else None
        if kind == "ident" and text.lower() in LABEL_LISTS and nxt == "(":
            # by (a, b): label names up to the closing parenthesis.
            j = i + 2
            while toks[j][1] != ")":
                j += 1
            i = j + 1
            continue
        if kind == "ident" and (nxt == "(" or (text in AGGREGATIONS and nxt in LABEL_LISTS)):
            i += 1  # a function or an aggregation
            continue
        if kind == "ident" and text.lower() in KEYWORDS:
            i += 1
            continue
        if kind == "ident" or (kind == "op" and text == "{"):
            name = text if kind == "ident" else None
            labels = set()
            j = i + 1 if kind == "ident" else i
            if j < len(toks) and toks[j][1] == "{":
                # {a="x", b=~"y"}: the names before each matcher operator.
                j += 1
                while toks[j][1] != "}":
                    if toks[j][0] == "ident" and toks[j + 1][1] in ("=", "!=", "=~", "!~"):
                        labels.add(toks[j][1])
                    j += 1
                j += 1
            if name is None or "__name__" in labels:
                raise ValueError("selector without a plain metric name in %r: name the metric" % expr)
            out.append((name, labels))
            i = j
            continue
        i += 1
    return out


def grouping_labels(expr):
    """Label names of the by/without/on/ignoring/group_left/group_right
    lists of an expression."""
    toks = list(tokens(expr))
    out = set()
    for i, (kind, text) in enumerate(toks):
        if kind == "ident" and text.lower() in LABEL_LISTS and i + 1 < len(toks) and toks[i + 1][1] == "(":
            j = i + 2
            while toks[j][1] != ")":
                if toks[j][0] == "ident":
                    out.add(toks[j][1])
                j += 1
    return out


def rule_exprs(path):
    """The `expr:` values of a Prometheus rules file (one line, or a | or >
    block: the lines indented deeper than the key)."""
    lines = open(path, encoding="utf-8").read().split("\n")
    exprs = []
    i = 0
    while i < len(lines):
        m = re.match(r"^(\s*)(?:-\s+)?expr:\s*(.*)$", lines[i])
        if not m:
            i += 1
            continue
        indent, rest = len(m.group(1)), m.group(2).strip()
        if rest and rest[0] in "|>":
            block = []
            i += 1
            while i < len(lines) and (not lines[i].strip() or
                                      len(lines[i]) - len(lines[i].lstrip()) > indent):
                block.append(lines[i].strip())
                i += 1
            exprs.append("\n".join(block).strip())
            continue
        if rest[:1] in "\"'":
            rest = json.loads(rest) if rest[0] == '"' else rest[1:-1].replace("''", "'")
        exprs.append(rest)
        i += 1
    return exprs


def fill_grafana_variables(expr):
    """A Grafana query as Prometheus receives it: $__rate_interval and the
    dashboard's variables replaced by values of the right shape."""
    expr = re.sub(r"\$__(rate_)?interval|\$\{__(rate_)?interval\}|\$__range", "5m", expr)
    return re.sub(r"\$\{?(\w+)(?::\w+)?\}?", ".*", expr)


def dashboard_exprs(path):
    """Every PromQL expression of a Grafana dashboard: the panels' targets
    (rows' nested panels too) and the query variables (label_values(m, l),
    query_result(e))."""
    d = json.load(open(path, encoding="utf-8"))
    exprs = []

    def panels(ps):
        for p in ps:
            for t in p.get("targets", []):
                if t.get("expr"):
                    exprs.append(fill_grafana_variables(t["expr"]))
            panels(p.get("panels", []))

    panels(d.get("panels", []))
    for v in d.get("templating", {}).get("list", []):
        if v.get("type") != "query":
            continue
        q = v.get("query")
        q = q.get("query", "") if isinstance(q, dict) else (q or "")
        m = re.match(r"^\s*label_values\((.*),\s*\w+\s*\)\s*$", q)
        if m:
            exprs.append(fill_grafana_variables(m.group(1)))
            continue
        m = re.match(r"^\s*query_result\((.*)\)\s*$", q)
        if m:
            exprs.append(fill_grafana_variables(m.group(1)))
            continue
        raise ValueError("dashboard variable %s: query %r is not label_values() or query_result()"
                         % (v.get("name"), q))
    return exprs


def scraped(paths):
    """{sample name: set of label names} over the exposition texts."""
    seen = {}
    line_re = re.compile(r"^([A-Za-z_:][A-Za-z0-9_:]*)(\{(.*)\})?\s+\S+")
    for path in paths:
        for line in open(path, encoding="utf-8"):
            if line.startswith("#") or not line.strip():
                continue
            m = line_re.match(line)
            if not m:
                raise ValueError("%s: not a sample line: %r" % (path, line))
            labels = set(re.findall(r'([A-Za-z_][A-Za-z0-9_]*)="(?:[^"\\]|\\.)*"', m.group(3) or ""))
            seen.setdefault(m.group(1), set()).update(labels)
    return seen


def used(rules, dashboard):
    """[(where, metric, labels)] for every selector of the rules and the dashboard."""
    out = []
    for e in rule_exprs(rules):
        out += [(rules, n, l) for n, l in selectors(e)]
    for e in dashboard_exprs(dashboard):
        out += [(dashboard, n, l) for n, l in selectors(e)]
    return out


def expressions(rules, dashboard):
    return [(rules, e) for e in rule_exprs(rules)] + [(dashboard, e) for e in dashboard_exprs(dashboard)]


def check(rules, dashboard, scrapes):
    seen = scraped(scrapes)
    problems = []
    names = set()
    for where, name, labels in used(rules, dashboard):
        names.add(name)
        if name in PROMETHEUS_OWN:
            continue
        if name not in seen:
            problems.append("%s names %s, which no scrape has a sample of" % (where, name))
            continue
        for label in sorted(labels - TARGET_LABELS - seen[name]):
            problems.append("%s matches label %s of %s, which its samples do not have (they have: %s)"
                            % (where, label, name, ", ".join(sorted(seen[name])) or "none"))
    # Labels an expression groups or matches on (by, on, ...) must be on at
    # least one of the metrics it selects: a renamed label empties a panel.
    for where, e in expressions(rules, dashboard):
        sel = selectors(e)
        have = set().union(*[seen.get(n, set()) for n, _ in sel]) if sel else set()
        if any(n in PROMETHEUS_OWN for n, _ in sel):
            continue
        for label in sorted(grouping_labels(e) - TARGET_LABELS - have):
            problems.append("%s groups by label %s, which none of %s has: %s"
                            % (where, label, ", ".join(sorted({n for n, _ in sel})), e))
    for p in sorted(set(problems)):
        print("MISSING: " + p)
    if not problems:
        print("check_metrics: all %d metrics named by the rules and the dashboard are exported: %s"
              % (len(names), " ".join(sorted(names))))
    return 1 if problems else 0


def lint(path):
    """The dashboard works on any Prometheus and per node: its datasource is
    a variable that every query uses, and every maxsess_* selector of a panel
    filters on the node variable (instance=~"$instance")."""
    d = json.load(open(path, encoding="utf-8"))
    problems = []
    variables = {v.get("name"): v for v in d.get("templating", {}).get("list", [])}
    ds = variables.get("datasource", {})
    if ds.get("type") != "datasource" or ds.get("query") != "prometheus":
        problems.append("no datasource variable of type prometheus")
    if variables.get("instance", {}).get("type") != "query":
        problems.append("no instance (node) query variable")
    ids = []

    def panels(ps):
        for p in ps:
            ids.append(p.get("id"))
            targets = p.get("targets", [])
            if targets and p.get("datasource", {}).get("uid") != "${datasource}":
                problems.append("panel %r: its datasource is not ${datasource}" % p.get("title"))
            for t in targets:
                if t.get("datasource", {}).get("uid") != "${datasource}":
                    problems.append("panel %r: a target's datasource is not ${datasource}" % p.get("title"))
                if '$instance' not in t.get("expr", ""):
                    problems.append("panel %r: %r does not filter on $instance" % (p.get("title"), t.get("expr")))
                for name, labels in selectors(fill_grafana_variables(t.get("expr", ""))):
                    if "instance" not in labels:
                        problems.append("panel %r: %s is not filtered by instance" % (p.get("title"), name))
            panels(p.get("panels", []))

    panels(d.get("panels", []))
    if len(ids) != len(set(ids)):
        problems.append("panel ids are not unique")
    for p in problems:
        print("LINT: " + p)
    print("check_metrics lint: %s, %d panels" % ("ok" if not problems else "%d problems" % len(problems), len(ids)))
    return 1 if problems else 0


def selftest():
    cases = {
        'sum by (job) (rate(a_total{result=~"x|y", b!="(c)"}[5m] offset 1h)) / on (x) group_left (y) b':
            [("a_total", {"result", "b"}), ("b", set())],
        "histogram_quantile(0.99, sum by (le, route) (rate(h_bucket[$__rate_interval])))":
            [("h_bucket", set())],
        "time() - max by (s) (ts) > 600 and on (s) group by (s) (g)": [("ts", set()), ("g", set())],
        "absent(up{job=\"maxsess\"})": [("up", {"job"})],
        "count(c) - 1 > bool 0.5e3": [("c", set())],
        "resets(r[1h]) >= 2": [("r", set())],
    }
    bad = 0
    for expr, want in cases.items():
        got = selectors(fill_grafana_variables(expr))
        if got != want:
            print("selftest: %r: got %r, want %r" % (expr, got, want))
            bad += 1
    if grouping_labels("sum by (a, b) (x) / on (c) group_left (d) y") != {"a", "b", "c", "d"}:
        print("selftest: grouping_labels")
        bad += 1
    for expr in ['{__name__="x"}', 'a{__name__="x"}']:
        try:
            selectors(expr)
            print("selftest: %r accepted" % expr)
            bad += 1
        except ValueError:
            pass
    print("check_metrics selftest: %s" % ("ok" if not bad else "%d failed" % bad))
    return 1 if bad else 0


def main(argv):
    if argv[:1] == ["selftest"]:
        return selftest()
    if len(argv) >= 3 and argv[0] == "names":
        for n in sorted({n for _, n, _ in used(argv[1], argv[2])}):
            print(n)
        return 0
    if len(argv) == 2 and argv[0] in ("rule-exprs", "dashboard-exprs"):
        for e in (rule_exprs if argv[0] == "rule-exprs" else dashboard_exprs)(argv[1]):
            print(json.dumps(e))
        return 0
    if len(argv) == 2 and argv[0] == "lint":
        return lint(argv[1])
    if len(argv) >= 4 and argv[0] == "check":
        return check(argv[1], argv[2], argv[3:])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
