#!/usr/bin/env bash
# Issue 7's measurements on a bare 16-core machine (the device), in one call:
#   1. make bench's table there (scripts/bench.sh with BENCH_PREBUILT and
#      BENCH_DSN: nothing installed or built; the memory scenario left out,
#      it does not depend on cores; the cluster step is part 3),
#   2. a core sweep: one daemon pinned to 2, 4, 8 and 12 CPUs (zap and deny,
#      64 connections), the load threads and PostgreSQL on CPUs 12-15 — does
#      a node scale with its cores?
#   3. the pinned cluster comparison (tests/bench/cluster_device.sh: 1 node
#      on 4 cores vs 3 nodes on 4 cores each).
#
#   tests/bench/device.sh pack     here: build/devkit (cluster_device.sh pack
#                                  on build/, plus the load generator, the
#                                  Beast anchor and redis-cli); carry it
#   tests/bench/device.sh [run]    there, as root, from the repository root;
#                                  the logs and tables go to $OUT (else
#                                  /tmp/device-out)
# Every part is bounded (PART1_LIMIT, PART2_LIMIT, PART3_LIMIT seconds);
# one failing does not stop the others. Settings: CLIENT_THREADS (4),
# SWEEP ("0-1 0-3 0-7 0-11") or SWEEP_RUNS (see part 2), LOAD_PIN (12-15: the sweep's load threads and
# PostgreSQL), SKIP_PARTS (e.g. "2 3"), KIT (build/devkit); part 3 takes
# cluster_device.sh's NODE_PIN, CLIENT_PIN, PG_PIN.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
root=$(pwd)
mode=${1:-run}
KIT=${KIT:-build/devkit}

if [[ $mode == pack ]]; then
  set -e
  tests/bench/cluster_device.sh pack build
  cmake --build build -j2 --target maxsess_loadgen maxsess_beast_anchor
  mkdir -p "$KIT/bin"
  cp build/tests/bench/maxsess_loadgen build/tests/bench/maxsess_beast_anchor /usr/bin/redis-cli "$KIT/bin/"
  strip "$KIT/bin/maxsess_loadgen" "$KIT/bin/maxsess_beast_anchor"
  ln -sf ../maxsess_bench "$KIT/bin/maxsess_bench"
  tar -tJf "$KIT/devb.tar.xz" | sed -n 's|^devb/lib/||p' | sort >/tmp/device.libs.$$
  missing=$(for f in "$KIT"/bin/maxsess_loadgen "$KIT"/bin/maxsess_beast_anchor "$KIT"/bin/redis-cli; do
              ldd "$f" | awk '/=>/{print $1}'; done |
            grep -vE '^(libc|libm|libpthread|libdl|librt|libresolv|libstdc\+\+|libgcc_s)\.so' |
            sort -u | grep -vxFf /tmp/device.libs.$$ || true)
  rm -f /tmp/device.libs.$$
  [[ -z $missing ]] || { echo "device.sh: not in the bundle: $missing" >&2; exit 1; }
  du -sh "$KIT"
  echo "carry $KIT; run there: tests/bench/device.sh"
  exit 0
fi
[[ $mode == run ]] || { echo "usage: $0 [run] | pack" >&2; exit 2; }

OUT=${OUT:-/tmp/device-out}
export OUT  # cluster_device.sh copies its log there
mkdir -p "$OUT"
LOAD_PIN=${LOAD_PIN:-12-15}
CLIENT_THREADS=${CLIENT_THREADS:-4}
SWEEP=${SWEEP:-0-1 0-3 0-7 0-11}
SKIP_PARTS=" ${SKIP_PARTS:-} "
started=$(date +%s)
log=$OUT/device.log
say() { echo "== $(( $(date +%s) - started )) s: $*" | tee -a "$log"; }

{
  echo "machine: $(nproc --all) CPUs ($(nproc) usable), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
  echo "memory: $(awk '/MemTotal/{printf "%.1f GiB", $2/1048576}' /proc/meminfo); kernel $(uname -r); $(sed -n 's/^PRETTY_NAME=//p' /etc/os-release | tr -d '"')"
  echo "disk /tmp: $(df -h /tmp | awk 'NR==2 {print $2 " total, " $4 " free, " $1}')"
  echo "python3: $(command -v python3) $(python3 --version 2>&1); taskset: $(command -v taskset); runuser: $(command -v runuser)"
} | tee -a "$log"

# shellcheck disable=SC1091
source "$KIT/up.sh" >>"$log" 2>&1 || { say "up.sh failed"; cat /tmp/devpg/initdb.log /tmp/devpg/log >>"$log" 2>&1; exit 1; }
export PATH=$root/$KIT/bin:$PATH
mkdir -p /var/log/nginx /var/lib/nginx  # nginx's built-in paths, on a bare machine
MAXSESS_BIN=$(command -v maxsessd)
export MAXSESS_BIN
unset MAXSESS_PG_DSN  # maxsessd would take it over each daemon's config
DSN="host=/tmp/devpg port=15432 user=postgres dbname=postgres"
psql "$DSN" -XAtc 'select version()' >>"$log" 2>&1 || { say "PostgreSQL does not answer"; exit 1; }
"$MAXSESS_BIN" --version >>"$log" 2>&1 || say "maxsessd --version failed"
stop_pg() { runuser -u nobody -- env LD_LIBRARY_PATH=/tmp/devb/lib pg_ctl -D /tmp/devpg/data -m fast stop >/dev/null 2>&1 || true; }
trap stop_pg EXIT

# ---- 1. make bench's table
if [[ $SKIP_PARTS != *" 1 "* ]]; then
  say "part 1: scripts/bench.sh (client threads $CLIENT_THREADS)"
  BUILD_DIR=/tmp/devbench BENCH_PREBUILT=$root/$KIT/bin BENCH_DSN=$DSN BENCH_SKIP=cluster \
    BENCH_FLOWS=auth-new,auth-update,webhook,sync BENCH_CLIENT_THREADS=$CLIENT_THREADS \
    BENCH_BUDGET=$(( ${PART1_LIMIT:-270} - 20 )) \
    timeout -s INT -k 15 "${PART1_LIMIT:-270}" scripts/bench.sh >>"$log" 2>&1
  say "part 1 exit $?"
  for f in results.json results.jsonl bench.log; do cp /tmp/devbench/bench/$f "$OUT/" 2>/dev/null; done
fi

# ---- 2. the core sweep
# Each run: CPUS/HTTP/POLICY/SCENARIOS[/ENV[/CONNS]]. CPUS: the daemon's taskset list, the
# load threads and PostgreSQL then on LOAD_PIN; "all": nothing pinned (the
# flows pin no load thread: run them unpinned). HTTP: node.http_threads
# ("-": the default). POLICY: node.scheduler_policy ("-": the default).
# "links" needs its own run (1 M accounts seeded). ENV: more daemon
# settings, NAME=VALUE joined by "+" (e.g. MAXSESS__STORAGE__WRITE_CONNECTIONS=8;
# "-": none; PG:NAME=VALUE is a PostgreSQL setting for that run alone, set
# with ALTER SYSTEM and a reload, e.g. PG:synchronous_commit=off to see what
# the daemon does when a commit waits for no flush). CONNS: client connections, comma-separated (default 64; links
# takes the first). Every thread of the daemon and every PostgreSQL process
# is sampled meanwhile (threads_cpu.py): $OUT/threads.txt has each run's
# busiest threads per measured window — the serial stage, if one thread is it.
if [[ $SKIP_PARTS != *" 2 "* ]]; then
  if [[ -z ${SWEEP_RUNS:-} ]]; then
    SWEEP_RUNS=""
    for l in $SWEEP; do SWEEP_RUNS+="$l/-/-/zap,deny "; done
    SWEEP_RUNS+="${SWEEP##* }/4/-/zap,deny"  # the widest with 4 HTTP I/O threads
  fi
  say "part 2: $SWEEP_RUNS; load and PostgreSQL on $LOAD_PIN"
  # taskset and the pins fail on CPUs the machine lacks: say so once.
  for l in ${LOAD_PIN//,/ } $(for r in $SWEEP_RUNS; do echo "${r%%/*}"; done); do
    [[ $l == all ]] && continue
    hi=${l##*-}
    (( hi < $(nproc --all) )) || say "part 2: CPU $hi named ($l) but this machine has $(nproc --all): those runs fail"
  done
  : >"$OUT/sweep.jsonl"
  : >"$OUT/threads.txt"
  # The WAL flushes' time (pg_stat_wal.wal_sync_time), read around each run:
  # what a durable answer cannot be quicker than.
  pg_set() {
    psql "$DSN" -XAtq -v ON_ERROR_STOP=1 -c "ALTER SYSTEM $1" -c "select pg_reload_conf()" >/dev/null 2>>"$log" ||
      say "part 2: ALTER SYSTEM $1 failed"
  }
  wal_syncs() { psql "$DSN" -XAtc "select wal_sync || ' ' || wal_sync_time from pg_stat_wal"; }
  pg_set "SET track_wal_io_timing = on"
  python3 tests/bench/threads_cpu.py sample "$OUT/threads.jsonl" 0.5 >/dev/null 2>>"$OUT/threads.err" &
  sampler=$!
  trap 'kill "$sampler" 2>/dev/null; stop_pg' EXIT
  end=$(( $(date +%s) + ${PART2_LIMIT:-100} ))
  for r in $SWEEP_RUNS; do
    IFS=/ read -r cpus http policy scen extra conns <<<"$r"
    [[ $extra == - ]] && extra=""
    left=$(( end - $(date +%s) ))
    (( left > 10 )) || { say "part 2: no time left for $r"; break; }
    args=(--dsn "$DSN" --scenario "$scen" --connections "${conns:-64}" --seconds 4 --loadgen-threads "$CLIENT_THREADS"
          --json /tmp/sweep.jsonl)
    [[ $http != - ]] && args+=(--http-threads "$http")
    [[ $policy != - ]] && args+=(--daemon-env "MAXSESS__NODE__SCHEDULER_POLICY=$policy")
    [[ $scen == links ]] && args+=(--accounts 1000000 --devices 4 --seconds 5)
    pg_settings=()
    for e in ${extra//+/ }; do
      if [[ $e == PG:* ]]; then pg_settings+=("${e#PG:}"); else args+=(--daemon-env "$e"); fi
    done
    for e in "${pg_settings[@]}"; do
      pg_set "SET ${e%%=*} = '${e#*=}'"
      # A setting that needs a restart would be written and not in force.
      [[ $(psql "$DSN" -XAtc "select pending_restart from pg_settings where name = '${e%%=*}'") == f ]] ||
        say "part 2: ${e%%=*} is not in force after a reload"
    done
    pin=()
    if [[ $cpus != all ]]; then
      args+=(--client-pin "$LOAD_PIN" --pg-pin "$LOAD_PIN")
      pin=(taskset -c "$cpus")
    fi
    rm -f /tmp/sweep.jsonl
    echo "-- run $r" >>"$OUT/sweep.log"
    t0=$(date +%s.%N)
    read -r syncs0 sync_ms0 <<<"$(wal_syncs)"
    timeout -s INT -k 10 "$left" "${pin[@]}" "$KIT/maxsess_bench" "${args[@]}" >>"$OUT/sweep.log" 2>&1
    say "part 2: $r: exit $?"
    sleep 1  # backends report their WAL statistics at most once a second
    read -r syncs1 sync_ms1 <<<"$(wal_syncs)"
    for e in "${pg_settings[@]}"; do pg_set "RESET ${e%%=*}"; done
    { echo "-- run $r"
      python3 -c 'import sys; n = int(sys.argv[2]) - int(sys.argv[1]); ms = float(sys.argv[4]) - float(sys.argv[3])
print("WAL flushes in the run (set-up included): %d, mean %.3f ms" % (n, ms / n if n else 0))' \
        "${syncs0:-0}" "${syncs1:-0}" "${sync_ms0:-0}" "${sync_ms1:-0}"
      python3 tests/bench/threads_cpu.py summary "$OUT/threads.jsonl" "$t0" "$(date +%s.%N)"; } \
      >>"$OUT/threads.txt" 2>&1
    python3 - "$cpus" "$http" "$policy" "${extra:-}" "${conns:-64}" <<'EOF' >>"$OUT/sweep.jsonl"
import json, sys
try:
    for line in open("/tmp/sweep.jsonl"):
        d = json.loads(line)
        d["daemon_cpus"], d["http_threads"], d["policy"], d["env"], d["connections"] = sys.argv[1:6]
        print(json.dumps(d))
except FileNotFoundError:
    pass
EOF
  done
  kill "$sampler" 2>/dev/null
  trap stop_pg EXIT
  pg_set "RESET track_wal_io_timing"  # part 3 measures as before
  python3 - "$OUT/sweep.jsonl" <<'EOF' | tee -a "$log"
import json, sys
for line in open(sys.argv[1]):
    d = json.loads(line)
    print("%-6s http %-2s %-9s conns %-7s %-22s %9.0f %-10s p50 %s p99 %s cpu/op %s %s" % (
          d["daemon_cpus"], d["http_threads"], d["policy"], d.get("connections", ""), d.get("scenario"),
          d.get("value") or 0,
          d.get("metric"), d.get("p50_ms"), d.get("p99_ms"), d.get("cpu_us_per_op"), d.get("env", "")))
EOF
fi

# ---- 3. the pinned cluster comparison
if [[ $SKIP_PARTS != *" 3 "* ]]; then
  say "part 3: cluster_device.sh"
  SKIP_UP=1 MAXSESS_PG_DSN=$DSN BENCH=$KIT/maxsess_bench SCENARIOS=${CLUSTER_SCENARIOS:-new} WINDOW=5 \
    RUN_LIMIT=${PART3_LIMIT:-120} tests/bench/cluster_device.sh >>"$log" 2>&1
  say "part 3 exit $?"
fi
say "done"
