#!/usr/bin/env python3
"""The table of `make bench` (scripts/bench.sh), from its JSON lines.

Each line: {"scenario", "metric", "value", "p50_ms", "p99_ms",
"cpu_us_per_op", "rss_mib", "note"} (maxsess_bench --json, maxsess_loadgen
--json, the anchor steps of bench.sh). Prints one markdown table: every
maxsess figure beside its anchor, the ratio, and the bar issue 7 sets for
it (a ratio measured side by side in one run, on one machine); then the
anchors themselves and the clients' own cost. Writes the merged figures to
--out (JSON) for later tools (make capacity).

  table.py --jsonl build/bench/results.jsonl [--machine machine.txt]
           [--out build/bench/results.json] [--elapsed S]
"""
import argparse
import json
import re
import sys


def load(path):
    figures = {}
    bad = 0
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                j = json.loads(line)
            except ValueError:
                bad += 1
                continue
            if isinstance(j, dict) and "scenario" in j:
                figures[j["scenario"]] = j  # the last line of a scenario wins
    return figures, bad


def num(v, digits=0):
    if v is None:
        return "–"
    if abs(v) >= 1000 and digits == 0:
        return f"{v:,.0f}".replace(",", " ")
    return f"{v:.{digits}f}"


def rate_text(j):
    if j is None or j.get("value") is None:
        return "–"
    v = j["value"]
    metric = j.get("metric", "")
    if metric in ("req/s", "decisions/s", "events/s"):
        return f"{num(v)} {metric}"
    if metric == "s":
        return f"{v:.2f} s"
    return f"{num(v, 2)} {metric}"


def best_nginx(figures):
    """nginx static, "the strongest HTTP answer this machine gives": the best
    of 1 worker and one per core, as either client (our loadgen or wrk) saw
    it. Taking wrk's figure when it is higher can only lower maxsess's ratio:
    on cores shared with other work the two clients, run seconds apart, have
    differed by 2x either way."""
    cands = [j for k, j in figures.items()
             if re.fullmatch(r"anchor:nginx-static-\d+w(-wrk)?", k) and j.get("value")]
    if not cands:
        return None
    j = dict(max(cands, key=lambda x: x["value"]))
    j["from"] = j["scenario"]
    j["scenario"] = "anchor:nginx-static"
    return j


def others(j):
    """The share of the cores other processes took during the window (the
    note says it; a large one means the figure is depressed by them)."""
    m = re.search(r"others (\d+)% of the cores", (j or {}).get("note", ""))
    return f"{m.group(1)} %" if m else ""


def ratio(a, b):
    if not a or not b or a.get("value") in (None, 0) or b.get("value") in (None, 0):
        return None
    return a["value"] / b["value"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--jsonl", required=True)
    ap.add_argument("--machine")
    ap.add_argument("--out")
    ap.add_argument("--elapsed", type=float)
    a = ap.parse_args()

    figures, bad = load(a.jsonl)
    nginx = best_nginx(figures)
    if nginx:
        figures["anchor:nginx-static"] = nginx
    nginx_label = "nginx: not measured"
    if nginx:
        m = re.fullmatch(r"anchor:nginx-static-(\d+)w(-wrk)?", nginx["from"])
        nginx_label = f"nginx static ({m.group(1)} worker{'s' if m.group(1) != '1' else ''}, " \
                      f"{'wrk' if m.group(2) else 'loadgen'})"
    redis = figures.get("anchor:redis-lua")
    beast = figures.get("anchor:beast")
    machine = []
    if a.machine:
        with open(a.machine) as f:
            machine = [line.rstrip("\n") for line in f if line.strip()]

    rows = []  # scenario, figure, anchor name, anchor figure, ratio, bar, meets, p50, p99, cpu, rss
    checks = {}

    def row(label, j, anchor_name="", anchor=None, r=None, bar="", meets=None, first=True):
        rows.append([
            label,
            rate_text(j) if first else "〃",
            anchor_name,
            rate_text(anchor) if anchor else "",
            f"{r:.2f} ×" if r is not None else "",
            bar,
            "" if meets is None else ("yes" if meets else "no"),
            num(j.get("p50_ms"), 2) if first and j else "",
            num(j.get("p99_ms"), 2) if first and j else "",
            num(j.get("cpu_us_per_op"), 1) if first and j else "",
            num(j.get("rss_mib"), 1) if first and j else "",
            others(j) if first else "",
        ])

    def vs_nginx(name, label, bar_ratio=None, goal=None):
        j = figures.get(name)
        if not j:
            return
        r = ratio(j, nginx)
        bar = ""
        meets = None
        if bar_ratio is not None:
            bar = f"≥ {bar_ratio} × nginx" + (f" (goal {goal})" if goal else "")
            meets = r is not None and r >= bar_ratio
            checks[name + " vs nginx"] = {"ratio": r, "bar": bar_ratio, "meets": meets}
        row(label, j, nginx_label, nginx, r, bar, meets)
        return j

    # ---- links
    shape = re.match(r"(\d+) accounts x (\d+) devices", (figures.get("links-zipf") or {}).get("note", ""))
    accounts = f"{int(shape.group(1)):,} accounts × {shape.group(2)} devices".replace(",", " ") if shape else "accounts"
    j = vs_nginx("links-zipf", f"links, {accounts}, zipf (closed-loop peak)", 0.25, 0.5)
    if j:
        r = ratio(j, redis)
        meets = None if r is None else r >= 0.8
        row("", j, "Redis + Lua limiter", redis, r, "goal ≥ 0.8 × Redis", meets, first=False)
        checks["links-zipf vs redis"] = {"ratio": r, "bar": 0.8, "meets": meets}
        row("", j, "bare Beast server", beast, ratio(j, beast), "", None, first=False)
    j = figures.get("links-zipf-open")
    if j:
        p99 = j.get("p99_ms")
        meets = p99 is not None and p99 <= 5
        checks["links-zipf-open p99"] = {"p99_ms": p99, "bar_ms": 5, "meets": meets}
        row("links, open loop at half the peak", j, "", None, None, "p99 ≤ 5 ms", meets)
    vs_nginx("links-zap", "links, 1 000 hot accounts zapping")
    vs_nginx("links-deny", "links, denials (account full)")
    vs_nginx("links-cold", "links, cold (each account loaded first)")
    for k in sorted(figures):
        if k.startswith("matrix:"):
            vs_nginx(k, k)
    # ---- auth backend
    vs_nginx("auth-new", "auth new_session")
    vs_nginx("auth-update", "auth update_session, 2 000 playing", 0.35, 0.7)
    # ---- webhooks: an absolute target
    j = figures.get("webhook")
    if j:
        v = j.get("value") or 0
        meets = v >= 100000
        checks["webhook"] = {"value": v, "bar": 100000, "meets": meets}
        row("webhook batches of 100 play_updated", j, "target 200 k events/s",
            {"value": 200000, "metric": "events/s"}, v / 200000, "≥ 100 k events/s", meets)
    # ---- sync: seconds, against curl over the same pages
    j = figures.get("sync")
    if j:
        curl = figures.get("anchor:curl-pages")
        r = ratio(j, curl)
        v = j.get("value")
        meets = v is not None and v <= 2 and (r is None or r <= 1.5)
        checks["sync"] = {"seconds": v, "vs_curl": r, "meets": meets}
        row("sync of 100 k listed sessions", j, "curl fetch of the pages", curl, r,
            "≤ 2 s and ≤ 1.5 × curl", meets)
    # ---- memory
    def kib_of(j):  # the figure in KiB per session (the JSON line gives bytes)
        return j["value"] / 1024 if j.get("metric", "").startswith("bytes") else j["value"]

    j = figures.get("memory")
    if j and j.get("value") is not None:
        kib = kib_of(j)
        meets = kib <= 1.5
        checks["memory"] = {"kib_per_session": kib, "bar": 1.5, "meets": meets}
        shown = dict(j, value=kib, metric="KiB/session")
        row("memory, 1 M pending sessions", shown, "", None, None, "≤ 1.5 KiB (goal 1)", meets)
    # The same million playing (one Flussonic session each): no bar of its
    # own; docs/capacity.md sizes the nodes by it.
    j = figures.get("memory-active")
    if j and j.get("value") is not None:
        kib = kib_of(j)
        checks["memory_active"] = {"kib_per_session": kib}
        row("memory, 1 M active sessions", dict(j, value=kib, metric="KiB/session"), "", None, None, "–", None)
    # ---- cluster
    base = next((v for k, v in figures.items() if k.startswith("cluster:") and k.endswith("1 node, cluster off")), None)
    for k in sorted(figures):
        if k.startswith("cluster:") and not k.endswith("1 node, cluster off"):
            row(k.replace("cluster:", "cluster ", 1), figures[k], "1 node, cluster off", base,
                ratio(figures[k], base), "3 nodes ≥ 2.5 × (16 cores)" if "3 nodes" in k else "", None)
    # ---- errors the scenarios reported
    for k, j in sorted(figures.items()):
        if j.get("metric") == "error":
            rows.append([k, "error", "", "", "", "", "no", "", "", "", "", j.get("note", "")[:60]])

    head = ["scenario", "maxsess", "anchor", "anchor figure", "ratio", "bar (issue 7)", "meets",
            "p50 ms", "p99 ms", "CPU µs/op", "RSS MiB", "others' CPU"]
    out = []
    out.append("")
    for m in machine:
        out.append(f"    {m}")
    if a.elapsed:
        out.append(f"    run: {a.elapsed:.0f} s")
    out.append("")
    out.append("| " + " | ".join(head) + " |")
    out.append("|" + "---|" * len(head))
    for r in rows:
        out.append("| " + " | ".join(r) + " |")

    # ---- the anchors, and what the clients cost
    out.append("")
    out.append("| anchor | figure | p50 ms | p99 ms | server CPU µs/op | RSS MiB | others' CPU | note |")
    out.append("|---|---|---|---|---|---|---|---|")
    for k in sorted(figures):
        if k.startswith("anchor:") and k != "anchor:nginx-static":
            j = figures[k]
            out.append(f"| {k[7:]} | {rate_text(j)} | {num(j.get('p50_ms'), 2)} | {num(j.get('p99_ms'), 2)} | "
                       f"{num(j.get('cpu_us_per_op'), 1)} | {num(j.get('rss_mib'), 1)} | {others(j)} | {j.get('note', '')} |")
    clients = []
    for k in sorted(figures):
        m = re.fullmatch(r"anchor:nginx-static-(\d+)w", k)
        if not m:
            continue
        wrk = figures.get(k + "-wrk")
        lg = re.search(r"client ([\d.]+) us/req", figures[k].get("note", ""))
        wk = re.search(r"wrk's own CPU ([\d.]+) us/req", (wrk or {}).get("note", ""))
        clients.append(f"nginx {m.group(1)} worker(s): loadgen {rate_text(figures[k])}"
                       f" at {lg.group(1) if lg else '?'} µs CPU/req; wrk {rate_text(wrk)}"
                       f" at {wk.group(1) if wk else '?'} µs CPU/req")
    if clients:
        out.append("")
        out.append("Clients against the same nginx: " + "; ".join(clients) + ".")
    if bad:
        out.append(f"\n({bad} unreadable JSON lines skipped)")
    print("\n".join(out))

    if a.out:
        with open(a.out, "w") as f:
            json.dump({"machine": machine, "elapsed_s": a.elapsed, "figures": figures,
                       "checks": checks}, f, indent=1, ensure_ascii=False)
            f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
