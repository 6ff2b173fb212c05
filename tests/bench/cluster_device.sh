#!/usr/bin/env bash
# The pinned cluster comparison (docs/performance.md, "Cluster") in one go,
# on a bare 16-core Debian machine: 1 node on 4 cores against 3 nodes on 4
# cores each, the load generator (and PostgreSQL) on the remaining 4.
#
#   tests/bench/cluster_device.sh pack [BUILD_DIR]
#       here, on the build machine: builds maxsessd and maxsess_bench in
#       BUILD_DIR (default build-bench, configured if missing), makes the
#       device bundle (../shared/tools/device-bundle: PostgreSQL 15 and the
#       shared libraries) and adds a stripped maxsess_bench to it, as
#       build/devkit/ (about 27 MB; carry that folder).
#   tests/bench/cluster_device.sh [run]
#       there, from the repository root, as root: `source build/devkit/up.sh`
#       (unpacks to /tmp/devb, starts PostgreSQL on 127.0.0.1:15432, exports
#       MAXSESS_PG_DSN), then maxsess_bench --cluster-compare on that server;
#       prints the figures and copies the log to $OUT when $OUT is set.
#       Bounded: the whole run is killed after RUN_LIMIT seconds (default 280).
#
# Settings (environment), with the 16-core defaults:
#   NODE_PIN=0-3,4-7,8-11   taskset list per node (the 1-node runs use the first);
#                           empty: nodes not pinned
#   CLIENT_PIN=12-15        load threads; empty: not pinned
#   PG_PIN=12-15            PostgreSQL's processes; empty: not pinned
#   CONNS=64 WINDOW=8 SCENARIOS=new,deny
#   KIT=build/devkit        the bundle; SKIP_UP=1 uses $MAXSESS_PG_DSN and
#                           $MAXSESS_BIN/$BENCH as they are (tests on other machines)
#   BENCH                   the maxsess_bench binary (default $KIT/maxsess_bench)
# On a machine with fewer CPUs than the pin lists name, the run stops at once.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
root=$(pwd)
mode=${1:-run}

if [[ $mode == pack ]]; then
  build=${2:-build-bench}
  bundle=${DEVICE_BUNDLE:-$root/../shared/tools/device-bundle}
  [[ -x $bundle ]] || { echo "cluster_device.sh: $bundle not found (set DEVICE_BUNDLE)" >&2; exit 1; }
  [[ -f $build/CMakeCache.txt ]] ||
    cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo
  cmake --build "$build" -j2 --target maxsess_bench maxsessd
  "$bundle" "$build"
  if [[ $(cd "$build" && pwd) != "$root/build" ]]; then
    rm -rf build/devkit && mkdir -p build && mv "$build/devkit" build/devkit
  fi
  cp "$build/tests/bench/maxsess_bench" build/devkit/maxsess_bench
  strip build/devkit/maxsess_bench
  # The bundle's lib/ must cover the tool's libraries too (it covers
  # maxsessd's; the tool needs a subset): name any that it lacks.
  tar -tJf build/devkit/devb.tar.xz | sed -n 's|^devb/lib/||p' | sort >/tmp/cluster_device.libs.$$
  missing=$(ldd build/devkit/maxsess_bench | awk '/=>/{print $1}' |
            grep -vE '^(libc|libm|libpthread|libdl|librt|libresolv|libstdc\+\+|libgcc_s)\.so' |
            grep -vxFf /tmp/cluster_device.libs.$$ || true)
  rm -f /tmp/cluster_device.libs.$$
  [[ -z $missing ]] || { echo "cluster_device.sh: not in the bundle: $missing" >&2; exit 1; }
  du -sh build/devkit
  echo "carry build/devkit; run: tests/bench/cluster_device.sh"
  exit 0
fi
[[ $mode == run ]] || { echo "usage: $0 [run] | pack [BUILD_DIR]" >&2; exit 2; }

KIT=${KIT:-build/devkit}
NODE_PIN=${NODE_PIN-0-3,4-7,8-11}
CLIENT_PIN=${CLIENT_PIN-12-15}
PG_PIN=${PG_PIN-12-15}
CONNS=${CONNS:-64}
WINDOW=${WINDOW:-8}
SCENARIOS=${SCENARIOS:-new,deny}
RUN_LIMIT=${RUN_LIMIT:-280}
started=$(date +%s)

# Every CPU the pin lists name must exist here.
max_cpu=-1
for l in ${NODE_PIN//,/ } ${CLIENT_PIN//,/ } ${PG_PIN//,/ }; do
  for r in ${l//+/ }; do
    hi=${r#*-}
    (( hi > max_cpu )) && max_cpu=$hi
  done
done
if (( max_cpu >= $(nproc --all) )); then
  echo "cluster_device.sh: the pin lists name CPU $max_cpu, this machine has $(nproc --all) (set NODE_PIN, CLIENT_PIN, PG_PIN)" >&2
  exit 1
fi
command -v taskset >/dev/null || { echo "cluster_device.sh: taskset (util-linux) missing" >&2; exit 1; }

if [[ ${SKIP_UP:-0} != 1 ]]; then
  [[ -f $KIT/up.sh && -f $KIT/devb.tar.xz ]] ||
    { echo "cluster_device.sh: $KIT/up.sh missing: run '$0 pack' on the build machine and carry $KIT" >&2; exit 1; }
  # shellcheck disable=SC1091
  source "$KIT/up.sh"  # PATH, LD_LIBRARY_PATH, MAXSESS_PG_DSN; PostgreSQL on 15432
  MAXSESS_BIN=$(command -v maxsessd)
  export MAXSESS_BIN
  BENCH=${BENCH:-$KIT/maxsess_bench}
  pg_dsn=$MAXSESS_PG_DSN
  unset MAXSESS_PG_DSN  # maxsessd would take it over its config: --dsn instead
  MAXSESS_PG_DSN_SERVER=$pg_dsn
  # shellcheck disable=SC2317  # called by the trap
  stop_pg() { runuser -u nobody -- env LD_LIBRARY_PATH=/tmp/devb/lib pg_ctl -D /tmp/devpg/data -m fast stop >/dev/null 2>&1 || true; }
  trap stop_pg EXIT
fi
server=${MAXSESS_PG_DSN_SERVER:-${MAXSESS_PG_DSN:-}}
unset MAXSESS_PG_DSN
: "${server:?no PostgreSQL: MAXSESS_PG_DSN}" "${MAXSESS_BIN:?no MAXSESS_BIN}" "${BENCH:?no BENCH}"

args=(--dsn "$server" --cluster-compare --scenario "$SCENARIOS" --connections "$CONNS"
      --seconds "$WINDOW")
[[ -n $NODE_PIN ]] && args+=(--pin "$NODE_PIN")
[[ -n $CLIENT_PIN ]] && args+=(--client-pin "$CLIENT_PIN")
[[ -n $PG_PIN ]] && args+=(--pg-pin "$PG_PIN")

log=$(mktemp /tmp/cluster_device.XXXXXX.log)
{
  echo "== machine: $(nproc --all) CPUs ($(nproc) usable here), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')"
  echo "== memory: $(awk '/MemTotal/{printf "%.1f GiB", $2/1048576}' /proc/meminfo); kernel $(uname -r); $(sed -n 's/^PRETTY_NAME=//p' /etc/os-release | tr -d '"')"
  echo "== maxsessd: $MAXSESS_BIN; PostgreSQL: $server"
  echo "== command: $BENCH ${args[*]}"
} | tee "$log"
rc=0
timeout -k 10 "$RUN_LIMIT" "$BENCH" "${args[@]}" 2>&1 | tee -a "$log" || rc=${PIPESTATUS[0]}
echo "== exit $rc after $(( $(date +%s) - started )) s" | tee -a "$log"
if [[ -n ${OUT:-} ]]; then cp "$log" "$OUT/cluster_device.log"; fi
exit "$rc"
