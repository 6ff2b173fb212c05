#!/usr/bin/env python3
"""CPU of every thread of maxsessd and of every PostgreSQL process, sampled.

A node that does not go faster with more cores has a serial stage: one
thread (an HTTP I/O thread, a writer lane, one CAF worker) or one PostgreSQL
backend (a writer lane's connection) near 100 % of a core while the machine
idles. `perf` is not on every machine this runs on (the bare 16-core one);
/proc is. The daemon names its threads (domain/thread_name.hpp).

  threads_cpu.py sample OUT [INTERVAL]   until killed: one JSON line per
                                         interval, {"t": epoch, "cpu": [[proc,
                                         pid, tid, name, share of one core]]}
                                         for threads above 1 %
  threads_cpu.py summary OUT [FROM TO]   per busy window (the daemon above
                                         half a core for 2.5 s or more: a
                                         bench's measured windows) between
                                         FROM and TO (epoch seconds): the
                                         busiest threads, mean and peak share
                                         of one core
"""
import json
import os
import sys
import time

TICK = os.sysconf("SC_CLK_TCK")
WATCH = ("maxsessd", "postgres")
WATCH_BYTES = tuple(w.encode() for w in WATCH)


def read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def ticks_of(stat):
    # comm may hold spaces and parentheses: the fields follow the last ")".
    rest = stat[stat.rindex(b")") + 2:].split()
    return int(rest[11]) + int(rest[12])  # utime + stime


def snapshot():
    out = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        comm = read(f"/proc/{pid}/comm")
        # Bytes first: any process's name may be any bytes.
        if comm is None or comm.strip() not in WATCH_BYTES:
            continue
        proc = comm.strip().decode()
        if proc == "postgres":
            # A backend's title: "postgres: user db [local] UPDATE".
            title = (read(f"/proc/{pid}/cmdline") or b"").replace(b"\0", b" ").strip().decode(errors="replace")
            stat = read(f"/proc/{pid}/stat")
            if stat:
                prefix = "postgres: "
                title = title[len(prefix):] if title.startswith(prefix) else title
                out[(proc, int(pid), int(pid))] = (title, ticks_of(stat))
            continue
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            stat = read(f"/proc/{pid}/task/{tid}/stat")
            name = read(f"/proc/{pid}/task/{tid}/comm")
            if stat and name:
                out[(proc, int(pid), int(tid))] = (name.strip().decode(errors="replace"), ticks_of(stat))
    return out


def sample(path, interval):
    before, t0 = snapshot(), time.time()
    with open(path, "a") as f:
        while True:
            time.sleep(interval)
            now, t1 = snapshot(), time.time()
            rows = []
            for key, (name, ticks) in now.items():
                was = before.get(key)
                d = ticks - was[1] if was else 0
                share = d / TICK / (t1 - t0)
                if share >= 0.01:
                    rows.append([key[0], key[1], key[2], name, round(share, 3)])
            f.write(json.dumps({"t": round(t1, 2), "cpu": rows}) + "\n")
            f.flush()
            before, t0 = now, t1


def segments(samples, floor):
    """Runs of consecutive intervals with the daemon above `floor` cores: a
    bench's measured windows (its warm-ups are shorter)."""
    run = []
    for s in samples:
        if sum(r[4] for r in s["cpu"] if r[0] == "maxsessd") >= floor:
            run.append(s)
            continue
        if run:
            yield run
        run = []
    if run:
        yield run


def parsed(path):
    """The sampler's lines; its last one may be half written (it still runs)."""
    for line in open(path):
        if line.endswith("\n"):
            try:
                yield json.loads(line)
            except ValueError:
                pass


def summary(path, lo, hi, floor=0.5, min_s=2.5):
    samples = list(parsed(path))
    samples = [s for s in samples if lo <= s["t"] <= hi]
    for seg in segments(samples, floor):
        seconds = seg[-1]["t"] - seg[0]["t"]
        if seconds < min_s:
            continue
        per = {}
        for s in seg:
            for proc, pid, tid, name, share in s["cpu"]:
                e = per.setdefault((proc, tid), {"name": name, "sum": 0.0, "max": 0.0})
                e["sum"] += share
                e["max"] = max(e["max"], share)
        n = len(seg)
        cores = {p: sum(e["sum"] for k, e in per.items() if k[0] == p) / n for p in WATCH}
        print(f"{time.strftime('%H:%M:%S', time.gmtime(seg[0]['t']))} +{seconds:.1f} s, cores: "
              + ", ".join(f"{p} {cores[p]:.2f}" for p in WATCH))
        # Backends change their title with each statement: keyed by pid, the
        # first title seen is shown.
        for (proc, tid), e in sorted(per.items(), key=lambda kv: -kv[1]["sum"])[:14]:
            print(f"  {proc:9} {tid:>7} {e['name'][:44]:44} mean {e['sum'] / n:5.2f}  peak {e['max']:5.2f}")


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "sample":
        sample(sys.argv[2], float(sys.argv[3]) if len(sys.argv) > 3 else 0.5)
    elif len(sys.argv) >= 3 and sys.argv[1] == "summary":
        lo = float(sys.argv[3]) if len(sys.argv) > 3 else 0
        hi = float(sys.argv[4]) if len(sys.argv) > 4 else float("inf")
        summary(sys.argv[2], lo, hi)
    else:
        sys.exit(__doc__)
