#!/bin/bash
# perf over one bench sync, the sync alone (docs/performance.md, "Eighteenth
# round"): starts maxsess_bench --scenario sync --no-curl, waits for the
# daemon to go quiet after its start-up load and busy again (the sync's
# POST), then records the whole machine for DUR seconds.
#   DSN=...            a server (maintenance DSN), e.g. scripts/pg.sh's dsn file
#   EVENT="-F 1999"    perf's event options (e.g. "-e page-faults -c 1")
#   OUT=perf.sync.data DUR=2.3
# Then e.g.: perf report -i perf.sync.data --comms caf.multiplexer,maxsessd
#   --percentage relative --children --sort sym --stdio -g none
set -euo pipefail
cd "$(dirname "$0")/../.."
: "${DSN:?DSN=maintenance DSN of a PostgreSQL server}"
BENCH=${BENCH:-build/tests/bench/maxsess_bench}
LOG=$(mktemp /tmp/maxsess-profile-sync-XXXXXX)
"$BENCH" --dsn "$DSN" --scenario sync --no-curl > "$LOG" 2>&1 &
B=$!
P=
for _ in $(seq 1 3000); do P=$(pgrep -n -x maxsessd) && break; sleep 0.02; done
[ -n "$P" ] || { echo "no maxsessd started" >&2; exit 1; }
cpu() { awk '{print $14+$15}' "/proc/$P/stat" 2>/dev/null || echo 0; }
prev=$(cpu); quiet=0; phase=load
while kill -0 "$P" 2>/dev/null; do
  sleep 0.05; c=$(cpu); d=$((c - prev)); prev=$c
  if [ $phase = load ]; then
    if [ $d -le 1 ]; then quiet=$((quiet + 1)); else quiet=0; fi
    [ $quiet -ge 6 ] && phase=wait
  elif [ $d -ge 3 ]; then
    break
  fi
done
echo "daemon $P busy again: recording ${DUR:-2.3} s"
# shellcheck disable=SC2086
perf record ${EVENT:--F 1999} -a -g --call-graph dwarf,16384 -o "${OUT:-perf.sync.data}" -- sleep "${DUR:-2.3}" > /dev/null
wait $B || true
grep -E "^sync|^phases|^daemon|^others" "$LOG"
rm -f "$LOG"
