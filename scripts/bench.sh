#!/usr/bin/env bash
# make bench (issue 7): maxsess's figures beside their anchors, in one run,
# on this machine, printed as one table.
#
#   scripts/bench.sh            (what `make bench` runs)
#
# 1. installs what it needs (scripts/deps.sh, then nginx-light, redis-server,
#    wrk: apt-get as root or through `sudo -n`, like deps.sh);
# 2. builds maxsessd, maxsess_bench, maxsess_loadgen, maxsess_beast_anchor;
# 3. starts a private DURABLE PostgreSQL (scripts/pg.sh without --fast),
#    reached through its Unix socket;
# 4. maxsess: the link figures (maxsess_bench --scenario links: 1 M accounts
#    seeded by SQL, zipf closed-loop peak, open loop at half of it, zap,
#    deny, cold), the flow figures when the binary has them (auth-new,
#    auth-update, webhook, sync, memory), a short cluster 1 vs 3 nodes;
# 5. the anchors, with the same client where one fits: nginx serving a static
#    200 of the link answer's bytes (1 worker and one per core; wrk against
#    it too, for the client's cost), a bare Boost.Beast server answering the
#    same bytes, Redis 7 with a Lua limiter script (redis-benchmark);
# 6. prints the table (tests/bench/table.py) and writes
#    $BUILD_DIR/bench/results.json (figures) and results.jsonl (raw lines).
# Everything it starts is stopped on exit, ^C included; the run after the
# build has a time budget (BENCH_BUDGET seconds, default 570) and every step
# a bound.
#
# Environment: BUILD_DIR (build), BENCH_BUDGET (570), BENCH_WINDOW (seconds
# per measured window, 6), BENCH_ACCOUNTS (1000000), BENCH_CONNS (64),
# BENCH_CLIENT_THREADS (2),
# BENCH_SKIP (space-separated: links flows cluster nginx beast redis),
# BENCH_FLOWS (auth-new,auth-update,webhook,sync,memory),
# BENCH_HTTP_THREADS (the daemons' node.http_threads; default theirs).
# On another machine without packages or a compiler (the 16-core device,
# tests/bench/device.sh): BENCH_PREBUILT=DIR takes maxsess_bench,
# maxsess_loadgen and maxsess_beast_anchor from DIR and the daemon from
# $MAXSESS_BIN, and installs and builds nothing; BENCH_DSN=DSN uses that
# (durable) PostgreSQL server instead of starting a private one.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$(pwd)
BUILD_DIR=${BUILD_DIR:-build}
BUDGET=${BENCH_BUDGET:-570}
WINDOW=${BENCH_WINDOW:-6}
ACCOUNTS=${BENCH_ACCOUNTS:-1000000}
CONNS=${BENCH_CONNS:-64}
# Load threads of our client, maxsess and anchors alike: with one thread on
# a machine that others load too, the client got a visibly smaller share of
# the cores than wrk -t2 did (measured: 16 k vs 42 k req/s against one nginx
# worker, back to back), so both clients run two.
CLIENT_THREADS=${BENCH_CLIENT_THREADS:-2}
SKIP=" ${BENCH_SKIP:-} "
OUT_DIR=$BUILD_DIR/bench
START=$SECONDS

say() { echo "bench.sh: $*" >&2; }
die() { say "error: $*"; exit 1; }
left() { echo $((BUDGET - (SECONDS - START))); }
skipped() { [[ $SKIP == *" $1 "* ]]; }

# ------------------------------------------------------------ clean-up
WORK=""
CHILD=""       # the bounded step running now (its `timeout`)
NGINX_PID=""
BEAST_PID=""
REDIS_PID=""
PG_DIR=""

stop_pid() {  # pid [signal]: signal it, wait up to 5 s, then SIGKILL
  local pid=$1 sig=${2:-TERM}
  [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 0
  kill -s "$sig" "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -s KILL "$pid" 2>/dev/null || true
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  # The running step first: timeout passes SIGINT on to maxsess_bench,
  # which stops its daemons itself.
  if [[ -n $CHILD ]]; then
    kill -s INT "$CHILD" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$CHILD" 2>/dev/null || break; sleep 0.1; done
    stop_pid "$CHILD" KILL
  fi
  stop_pid "$NGINX_PID"
  stop_pid "$BEAST_PID"
  stop_pid "$REDIS_PID"
  if [[ -n $PG_DIR ]]; then scripts/pg.sh stop "$PG_DIR" >/dev/null 2>&1 || true; fi
  if [[ -n $WORK ]]; then rm -rf "$WORK"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT TERM

# Runs a command bounded by min(cap, what the budget has left minus a
# reserve for the steps after it), in the background so that ^C reaches the
# trap at once. Returns the command's status (124: it ran out of time).
bounded() {
  local cap=$1 reserve=$2
  shift 2
  local t
  t=$(( $(left) - reserve ))
  (( t > cap )) && t=$cap
  if (( t < 5 )); then
    say "no time left in the budget for: $*"
    return 124
  fi
  timeout -s INT -k 10 "$t" "$@" &
  CHILD=$!
  local rc=0
  wait "$CHILD" || rc=$?
  CHILD=""
  return "$rc"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

wait_port() {  # port [pid]: until something accepts on it (10 s; not once pid is gone)
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    [[ -z ${2:-} ]] || kill -0 "$2" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

# "busy total" jiffies of all cores (/proc/stat), for the share of the
# cores other processes took during an anchor's window.
machine_jiffies() {
  awk '/^cpu / { t = 0; for (i = 2; i <= 9; i++) t += $i; print t - $5 - $6, t; exit }' /proc/stat
}
# others_pct "B0 T0" "B1 T1" client_s server_s
others_pct() {
  python3 -c 'import os, sys
b0, t0 = map(float, sys.argv[1].split()); b1, t1 = map(float, sys.argv[2].split())
hz = os.sysconf("SC_CLK_TCK"); total = (t1 - t0) / hz
print(round(max(0.0, (b1 - b0) / hz - float(sys.argv[3]) - float(sys.argv[4])) / total * 100) if total > 0 else 0)' "$@"
}

# CPU seconds (utime+stime) of processes, summed; RSS MiB likewise.
cpu_of() {
  local total=0 p
  for p in "$@"; do
    [[ -r /proc/$p/stat ]] || continue
    total=$(awk -v t="$total" -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); print t + ($12 + $13) / hz }' "/proc/$p/stat")
  done
  echo "$total"
}
rss_of() {
  local total=0 p
  for p in "$@"; do
    [[ -r /proc/$p/status ]] || continue
    total=$(awk -v t="$total" '/^VmRSS:/ { print t + $2 / 1024 }' "/proc/$p/status")
  done
  echo "$total"
}

PREBUILT=${BENCH_PREBUILT:-}
if [[ -z $PREBUILT ]]; then
# ------------------------------------------------------------ 1. packages
  scripts/deps.sh
  scripts/deps.sh nginx-light redis-server redis-tools wrk

# ------------------------------------------------------------ 2. build
  if [[ ! -f $BUILD_DIR/CMakeCache.txt ]]; then
    cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo
  fi
  cmake --build "$BUILD_DIR" -j"${JOBS:-2}" --target maxsessd maxsess_bench maxsess_loadgen maxsess_beast_anchor
  BENCH=$BUILD_DIR/tests/bench/maxsess_bench
  LOADGEN=$BUILD_DIR/tests/bench/maxsess_loadgen
  BEAST=$BUILD_DIR/tests/bench/maxsess_beast_anchor
  say "built in $((SECONDS - START)) s"
else
  BENCH=$PREBUILT/maxsess_bench
  LOADGEN=$PREBUILT/maxsess_loadgen
  BEAST=$PREBUILT/maxsess_beast_anchor
  export MAXSESS_BIN  # maxsess_bench reads it (a shell variable alone would not reach it)
  for t in "$BENCH" "$LOADGEN" "$BEAST" "${MAXSESS_BIN:-}"; do
    [[ -x $t ]] || die "BENCH_PREBUILT: '$t' is not an executable (MAXSESS_BIN names the daemon)"
  done
  for t in nginx wrk redis-server redis-cli redis-benchmark python3; do
    command -v "$t" >/dev/null || die "BENCH_PREBUILT: $t is not on the PATH"
  done
fi
FLOWS=${BENCH_FLOWS:-auth-new,auth-update,webhook,sync,memory}
EXTRA=()
[[ -n ${BENCH_HTTP_THREADS:-} ]] && EXTRA+=(--http-threads "$BENCH_HTTP_THREADS")
# The budget counts from here: a first build (minutes on 2 cores) must not
# eat the measurement's time.
START=$SECONDS

mkdir -p "$OUT_DIR"
WORK=$(mktemp -d /tmp/maxsess-makebench-XXXXXX)
# nginx's workers (user nobody when started as root) read the body from here.
chmod 755 "$WORK"
JSON=$OUT_DIR/results.jsonl
: >"$JSON"
LOG=$OUT_DIR/bench.log
: >"$LOG"
say "full output: $LOG"

# ------------------------------------------------------------ machine
{
  echo "machine: nproc $(nproc), $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //'), $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)"
  echo "kernel: $(uname -r); $(. /etc/os-release && echo "$PRETTY_NAME")"
  echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' (+ uncommitted changes)')"
  echo "loadavg at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "date: $(date -u +%FT%TZ)"
} >"$OUT_DIR/machine.txt"
cat "$OUT_DIR/machine.txt" >&2

# ------------------------------------------------------------ 3. PostgreSQL
if [[ -n ${BENCH_DSN:-} ]]; then
  DSN=$BENCH_DSN
  echo "PostgreSQL: $DSN (BENCH_DSN)" >>"$OUT_DIR/machine.txt"
else
  PG_DIR=$WORK/pg
  MAXSESS_PG_FAST=0 scripts/pg.sh start "$PG_DIR" >>"$LOG" 2>&1 || die "scripts/pg.sh start failed (see $LOG)"
  # The daemons and the bench reach this local server through its Unix socket,
  # as a PostgreSQL on the same host is usually reached: per hot approval the
  # daemon spent ≈ 4 µs less than over loopback TCP (zap and denials +10 %,
  # zipf, sync and webhooks within the noise; docs/performance.md, "Fourteenth
  # round").
  DSN=$(cat "$PG_DIR/socket_dsn")
fi
# maxsess_bench would ignore these (they would override every daemon's config).
unset MAXSESS_PG_DSN MAXSESS_TEST_DSN || true

# ------------------------------------------------------------ 4. maxsess
ANSWER=$WORK/answer.json
step_failed=()
if ! skipped links; then
  say "links: ${ACCOUNTS} accounts x 4 devices, ${CONNS} connections, ${WINDOW} s windows"
  bounded 240 120 "$BENCH" --dsn "$DSN" --scenario links --accounts "$ACCOUNTS" --devices 4 \
    --connections "$CONNS" --seconds "$WINDOW" --loadgen-threads "$CLIENT_THREADS" --json "$JSON" \
    --answer-sample "$ANSWER" "${EXTRA[@]}" >>"$LOG" 2>&1 ||
    step_failed+=("links (exit $?)")
fi

# The flow scenarios are there when --help names them (auth-update is
# specific enough; "sync" alone would match "fsync").
flows=()
if "$BENCH" --help 2>&1 | grep -q -- 'auth-update'; then
  IFS=, read -r -a flows <<<"$FLOWS"
fi
if (( ${#flows[@]} )) && ! skipped flows; then
  list=$(IFS=,; echo "${flows[*]}")
  say "flows: $list"
  bounded 240 100 "$BENCH" --dsn "$DSN" --scenario "$list" --connections "$CONNS" \
    --seconds "$WINDOW" --loadgen-threads "$CLIENT_THREADS" --json "$JSON" "${EXTRA[@]}" >>"$LOG" 2>&1 || step_failed+=("flows (exit $?)")
elif (( ${#flows[@]} == 0 )); then
  say "flows: not in this maxsess_bench (auth, webhook, sync, memory skipped)"
fi

if ! skipped cluster; then
  say "cluster: 1 node vs 3 nodes (new, ${CONNS} connections, 4 s windows)"
  bounded 150 70 "$BENCH" --dsn "$DSN" --cluster-compare --scenario new --connections "$CONNS" \
    --seconds 4 --loadgen-threads "$CLIENT_THREADS" --json "$JSON" "${EXTRA[@]}" >>"$LOG" 2>&1 || step_failed+=("cluster (exit $?)")
fi
if [[ -n $PG_DIR ]]; then scripts/pg.sh stop "$PG_DIR" >>"$LOG" 2>&1 || true; fi
PG_DIR=""

# ------------------------------------------------------------ 5. anchors
# The body the anchors answer: a link answer maxsess gave in this run.
if [[ ! -s $ANSWER ]]; then
  say "no link answer sampled; the anchors answer a 400-byte stand-in"
  python3 -c 'import json; print(json.dumps({"decision": "approved", "pad": "x" * 370}), end="")' >"$ANSWER"
fi
BODY_BYTES=$(stat -c %s "$ANSWER")
LINK_BODY=$WORK/request.json
printf '{"account_id":"a1","device_id":"d1","content":{"type":"live","stream":"ch1"},"client_ip":"203.0.113.7"}' >"$LINK_BODY"
AWIN=$(( WINDOW < 5 ? WINDOW : 5 ))

# Client cost: a command's own CPU per request (wrk), from its rusage
# (a file, not a shell function: `timeout` runs programs).
cat >"$WORK/cpu_run.py" <<'EOF'
import resource, subprocess, sys
p = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, text=True)
r = resource.getrusage(resource.RUSAGE_CHILDREN)
sys.stdout.write(p.stdout)
print("CPU_S %.3f" % (r.ru_utime + r.ru_stime))
sys.exit(p.returncode)
EOF

if ! skipped nginx; then
  mkdir -p "$WORK/nginx/html" "$WORK/nginx/tmp"
  cp "$ANSWER" "$WORK/nginx/html/link.json"
  chmod -R a+rX "$WORK/nginx"
  worker_counts=(1)
  (( $(nproc) > 1 )) && worker_counts+=("$(nproc)")
  for workers in "${worker_counts[@]}"; do
    port=$(free_port)
    cat >"$WORK/nginx/nginx.conf" <<EOF
worker_processes $workers;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  server_tokens off;
  etag off;
  keepalive_requests 10000000;
  keepalive_timeout 120s;
  client_body_temp_path $WORK/nginx/tmp/body;
  proxy_temp_path $WORK/nginx/tmp/proxy;
  fastcgi_temp_path $WORK/nginx/tmp/fastcgi;
  uwsgi_temp_path $WORK/nginx/tmp/uwsgi;
  scgi_temp_path $WORK/nginx/tmp/scgi;
  open_file_cache max=16 inactive=60s;
  types { }
  default_type application/json;
  server {
    listen 127.0.0.1:$port;
    root $WORK/nginx/html;
  }
}
EOF
    nginx -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" -e "$WORK/nginx/error.log" >>"$LOG" 2>&1 &
    NGINX_PID=$!
    wait_port "$port" "$NGINX_PID" || { say "nginx did not start (see $WORK/nginx/error.log)"; cat "$WORK/nginx/error.log" >>"$LOG"; stop_pid "$NGINX_PID"; NGINX_PID=""; continue; }
    sleep 0.3  # the workers
    pids=$(pgrep -P "$NGINX_PID" | paste -sd, -)
    say "nginx, $workers worker(s), port $port: loadgen, then wrk"
    bounded 30 40 "$LOADGEN" --port "$port" --target /link.json --connections "$CONNS" \
      --threads "$CLIENT_THREADS" --seconds "$AWIN" \
      --pids "$pids" --scenario "anchor:nginx-static-${workers}w" \
      --note "$workers worker(s), static $BODY_BYTES-byte JSON" --json "$JSON" >>"$LOG" 2>&1 ||
      step_failed+=("nginx ${workers}w (exit $?)")
    tail -n 3 "$LOG" >&2
    # wrk, same connections: its req/s and its own CPU per request.
    c0=$(cpu_of ${pids//,/ })
    m0=$(machine_jiffies)
    # (to a file, not $(...): a subshell would leave wrk running on ^C)
    if bounded 30 35 python3 "$WORK/cpu_run.py" wrk -t2 -c"$CONNS" -d"${AWIN}s" "http://127.0.0.1:$port/link.json" >"$WORK/wrk.out"; then
      m1=$(machine_jiffies)
      c1=$(cpu_of ${pids//,/ })
      out=$(cat "$WORK/wrk.out")
      echo "$out" >>"$LOG"
      others=$(others_pct "$m0" "$m1" "$(awk '/^CPU_S/ {print $2}' "$WORK/wrk.out")" "$(python3 -c "print($c1 - $c0)")")
      python3 - "$out" "$workers" "$c0" "$c1" "$(rss_of ${pids//,/ })" "$CONNS" "$AWIN" "$others" >>"$JSON" <<'EOF'
import json, re, sys
out, workers, c0, c1, rss, conns, win, others = sys.argv[1:]
rps = float(re.search(r"Requests/sec:\s*([\d.]+)", out).group(1))
n = int(re.search(r"(\d+) requests in", out).group(1))
cpu = float(re.search(r"CPU_S ([\d.]+)", out).group(1))
print(json.dumps({"scenario": "anchor:nginx-static-%sw-wrk" % workers, "metric": "req/s", "value": rps,
                  "p50_ms": None, "p99_ms": None,
                  "cpu_us_per_op": (float(c1) - float(c0)) * 1e6 / n if n else None,
                  "rss_mib": float(rss),
                  "note": "wrk -t2 -c%s %ss, %s worker(s); wrk's own CPU %.1f us/req; others %s%% of the cores"
                          % (conns, win, workers, cpu * 1e6 / n if n else 0, others)}))
EOF
      tail -n 1 "$JSON" >&2
    else
      step_failed+=("wrk ${workers}w")
    fi
    stop_pid "$NGINX_PID"  # TERM: the master stops its workers at once
    NGINX_PID=""
  done
fi

if ! skipped beast; then
  "$BEAST" --port 0 --body-file "$ANSWER" >"$WORK/beast.out" 2>&1 &
  BEAST_PID=$!
  for _ in $(seq 1 50); do grep -q listening "$WORK/beast.out" && break; sleep 0.1; done
  port=$(awk '/listening on/ {print $3}' "$WORK/beast.out")
  if [[ -n $port ]]; then
    say "beast anchor, 1 I/O thread, port $port"
    bounded 30 25 "$LOADGEN" --port "$port" --method POST --target /api/v1/links \
      --header 'Content-Type: application/json' --body-file "$LINK_BODY" --connections "$CONNS" \
      --threads "$CLIENT_THREADS" \
      --seconds "$AWIN" --pids "$BEAST_PID" --scenario anchor:beast \
      --note "bare Boost.Beast, 1 I/O thread, the same $BODY_BYTES bytes" --json "$JSON" >>"$LOG" 2>&1 ||
      step_failed+=("beast (exit $?)")
    tail -n 1 "$LOG" >&2
  else
    step_failed+=("beast (did not start)")
  fi
  stop_pid "$BEAST_PID"
  BEAST_PID=""
fi

if ! skipped redis; then
  port=$(free_port)
  mkdir -p "$WORK/redis"
  redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$WORK/redis" \
    --protected-mode no --daemonize no --logfile "$WORK/redis/redis.log" &
  REDIS_PID=$!
  if wait_port "$port" "$REDIS_PID"; then
    # A session limiter as such scripts go: a ZSET per account of its
    # devices scored by last-seen time; drop the expired, refresh a known
    # device, refuse a new one above the limit, keep the key's TTL fresh.
    sha=$(redis-cli -p "$port" SCRIPT LOAD "
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - ttl)
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  redis.call('ZADD', KEYS[1], now, ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ttl)
  return 1
end
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('PEXPIRE', KEYS[1], ttl)
return 1")
    say "redis + Lua limiter, port $port, script $sha"
    # redis-benchmark counts requests, not seconds: a short probe sizes the
    # measured run to about AWIN seconds (it also fills the accounts).
    n=50000
    if bounded 20 10 redis-benchmark -h 127.0.0.1 -p "$port" -c "$CONNS" -n "$n" -r 1000000 --csv \
          EVALSHA "$sha" 1 acct:__rand_int__ dev:__rand_int__ 4 600000 >"$WORK/redis.out" 2>>"$LOG"; then
      n=$(python3 -c 'import csv, sys
rows = [r for r in csv.reader(open(sys.argv[1])) if r and r[0] != "test"]
print(max(20000, int(float(rows[-1][1]) * float(sys.argv[2]))))' "$WORK/redis.out" "$AWIN" 2>/dev/null || echo 200000)
    fi
    c0=$(cpu_of "$REDIS_PID")
    t0=$(date +%s.%N)
    m0=$(machine_jiffies)
    if bounded 40 10 python3 "$WORK/cpu_run.py" redis-benchmark -h 127.0.0.1 -p "$port" -c "$CONNS" -n "$n" \
          -r 1000000 --csv EVALSHA "$sha" 1 acct:__rand_int__ dev:__rand_int__ 4 600000 >"$WORK/redis.out" 2>>"$LOG"; then
      m1=$(machine_jiffies)
      t1=$(date +%s.%N)
      c1=$(cpu_of "$REDIS_PID")
      out=$(grep -v '^CPU_S' "$WORK/redis.out")
      echo "$out" >>"$LOG"
      others=$(others_pct "$m0" "$m1" "$(awk '/^CPU_S/ {print $2}' "$WORK/redis.out")" "$(python3 -c "print($c1 - $c0)")")
      python3 - "$out" "$c0" "$c1" "$(rss_of "$REDIS_PID")" "$n" "$t0" "$t1" "$others" >>"$JSON" <<'EOF'
import csv, io, json, sys
out, c0, c1, rss, n, t0, t1, others = sys.argv[1:]
rows = [r for r in csv.reader(io.StringIO(out)) if r and r[0] != "test"]
r = rows[-1]
rps, p50, p99 = float(r[1]), float(r[4]), float(r[6])
print(json.dumps({"scenario": "anchor:redis-lua", "metric": "decisions/s", "value": rps,
                  "p50_ms": p50, "p99_ms": p99,
                  "cpu_us_per_op": (float(c1) - float(c0)) * 1e6 / int(n),
                  "rss_mib": float(rss),
                  "note": "Redis 7 EVALSHA ZSET limiter (limit 4, random account and device over 1 M), "
                          "no persistence, redis-benchmark -c 64 -n %s (%.1f s); others %s%% of the cores"
                          % (n, float(t1) - float(t0), others)}))
EOF
      tail -n 1 "$JSON" >&2
    else
      step_failed+=("redis-benchmark")
    fi
  else
    step_failed+=("redis (did not start)")
  fi
  stop_pid "$REDIS_PID"
  REDIS_PID=""
fi

# ------------------------------------------------------------ 6. the table
say "done in $((SECONDS - START)) s (budget $BUDGET s)"
python3 tests/bench/table.py --jsonl "$JSON" --machine "$OUT_DIR/machine.txt" \
  --out "$OUT_DIR/results.json" --elapsed "$((SECONDS - START))"
if (( ${#step_failed[@]} )); then
  say "steps that failed or ran out of time: ${step_failed[*]} (see $LOG)"
  exit 1
fi
