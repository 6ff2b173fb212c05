#!/usr/bin/env bash
# make soak (not in CI): one maxsessd on a private, durable PostgreSQL under
# a mixed open-loop load (links, auth update_session, webhook batches) for
# SOAK_MINUTES (30) at SOAK_RATE requests/s (3400: half the links peak of
# `make bench`, docs/performance.md), its RSS and open files sampled every
# SOAK_SAMPLE_SECONDS (60) into $OUT/soak.csv, then plotted to $OUT/soak.png
# (gnuplot). Pass (exit 0): no unexpected answer, no transport error, a
# clean SIGTERM, and RSS growing < 5 % between minute 5 (a sixth of the run)
# and the end. tests/bench/soak.cpp says what the load is.
#
#   make soak                                   the real run (30 min)
#   SOAK_MINUTES=6 SOAK_SAMPLE_SECONDS=20 SOAK_RATE=600 SOAK_BASELINE_MINUTE=3 make soak
#                                               a short check (after the warm-up:
#                                               pending_ttl + idle_passivate)
set -euo pipefail

cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-2}
MINUTES=${SOAK_MINUTES:-30}
SAMPLE=${SOAK_SAMPLE_SECONDS:-60}
RATE=${SOAK_RATE:-3400}
ACCOUNTS=${SOAK_ACCOUNTS:-100000}
BASELINE=${SOAK_BASELINE_MINUTE:-}  # default: a sixth of the run
WEBHOOKS=${SOAK_WEBHOOKS:-1}        # 0: auth updates instead of webhook batches
LINKS=${SOAK_LINKS:-1}              # 0: auth updates instead of link requests
HISTORY=${SOAK_HISTORY:-1}          # 0: no ended row per account x device before the load
OUT=${SOAK_OUT:-$BUILD_DIR/soak}

say() { echo "soak.sh: $*" >&2; }

scripts/deps.sh
scripts/deps.sh gnuplot-nox
cmake -S . -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-RelWithDebInfo}" >/dev/null
cmake --build "$BUILD_DIR" -j"$JOBS" --target maxsessd maxsess_soak

mkdir -p "$OUT"
PG_DIR=$OUT/pg
cleanup() { scripts/pg.sh stop "$PG_DIR" >/dev/null 2>&1 || true; }
trap cleanup EXIT
# Durable (fsync and synchronous_commit on), like a deployment and make bench.
MAXSESS_PG_FAST=0 scripts/pg.sh start "$PG_DIR"

# The run is bounded: its length, plus set-up and drain, plus a margin.
limit=$(python3 -c "import math; print(math.ceil(float('$MINUTES') * 60) + 300)")
rc=0
timeout -s INT -k 30 "$limit" env MAXSESS_TEST_DSN="$(cat "$PG_DIR/dsn")" \
  "$BUILD_DIR/tests/bench/maxsess_soak" --minutes "$MINUTES" --sample-seconds "$SAMPLE" \
  --rate "$RATE" --accounts "$ACCOUNTS" --csv "$OUT/soak.csv" ${BASELINE:+--baseline-minute "$BASELINE"} \
  $([[ $WEBHOOKS == 0 ]] && echo --no-webhooks) $([[ $LINKS == 0 ]] && echo --no-links) \
  $([[ $HISTORY == 0 ]] && echo --no-history) 2>&1 | tee "$OUT/soak.log" || rc=$?
if [[ -s $OUT/soak.csv ]]; then
  scripts/soak_plot.sh "$OUT/soak.csv" "$OUT/soak.png" "maxsess soak: $MINUTES min at $RATE req/s" "$BASELINE" || say "plot failed"
fi
say "csv $OUT/soak.csv, plot $OUT/soak.png, log $OUT/soak.log"
exit "$rc"
