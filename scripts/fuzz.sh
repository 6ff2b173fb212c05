#!/usr/bin/env bash
# Runs the libFuzzer targets of tests/fuzz (built by `make fuzz-build` in
# build-fuzz, MAXSESS_FUZZ=ON); docs/testing.md.
#   scripts/fuzz.sh short NAME FUZZ_DIR SECONDS   one target for SECONDS (the
#                                                 fuzz_short_* tests of make test)
#   scripts/fuzz.sh long FUZZ_DIR [NAME...]       `make fuzz`: each target until
#                                                 FUZZ_RUNS executions (10 M) or
#                                                 FUZZ_MAX_SECONDS (7200), one after
#                                                 the other; a table of the figures
#                                                 in FUZZ_DIR/fuzz-report.txt
# Seeds are read from tests/fuzz/NAME/ (never written); what libFuzzer finds
# new goes to FUZZ_DIR/corpus/NAME/, a crashing input to
# FUZZ_DIR/artifacts/NAME/ (the path is printed). Exit status: 0 clean,
# 1 a crash, a leak or a failed property, 77 the target is not built.
set -euo pipefail
src="$(cd "$(dirname "$0")/.." && pwd)"
names=(link_request webhook_batch auth_query token_verify config_load playback_ini)

# run NAME FUZZ_DIR LOG FLAGS... -> libFuzzer's exit status; figures in LOG
run() {
  local name=$1 dir=$2 log=$3
  shift 3
  local bin="$dir/fuzz/fuzz_$name"
  mkdir -p "$dir/corpus/$name" "$dir/artifacts/$name"
  # -timeout: one input taking 10 s is a finding (a hang); -rss_limit_mb:
  # so is one that needs 2 GiB. Leaks are findings too (LeakSanitizer).
  "$bin" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$dir/artifacts/$name/" "$@" \
    "$dir/corpus/$name" "$src/tests/fuzz/$name" >"$log" 2>&1
}

# figures NAME LOG -> "NAME execs seconds execs/s"
figures() {
  local runs secs
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$2" | tail -1)
  secs=$(sed -n 's/^Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$2" | tail -1)
  [[ -n $secs && $secs -gt 0 ]] || secs=1
  echo "$1 ${runs:-0} $secs $(( ${runs:-0} / secs ))"
}

case "${1:-}" in
  short)
    name=$2 dir=$3 secs=$4
    if [[ ! -x "$dir/fuzz/fuzz_$name" ]]; then
      echo "fuzz.sh: $dir/fuzz/fuzz_$name is not built: run make fuzz-build (make test does)" >&2
      exit 77
    fi
    log="$dir/fuzz-short-$name.log"
    rc=0
    run "$name" "$dir" "$log" -max_total_time="$secs" || rc=$?
    if [[ $rc -ne 0 ]]; then
      tail -60 "$log"
      echo "fuzz.sh: fuzz_$name failed (exit $rc); the input is in $dir/artifacts/$name/, the log in $log" >&2
      exit 1
    fi
    read -r _ runs s rate < <(figures "$name" "$log")
    echo "fuzz_$name: $runs executions in ${s}s ($rate/s), no finding"
    ;;
  long)
    dir=$2
    shift 2
    [[ $# -gt 0 ]] && names=("$@")
    runs=${FUZZ_RUNS:-10000000}
    max=${FUZZ_MAX_SECONDS:-7200}  # config_load needs ~70 min for 10 M on a quiet core
    report="$dir/fuzz-report.txt"
    printf '%-14s %12s %8s %9s %s\n' target execs seconds execs/s result >"$report"
    failed=0
    for name in "${names[@]}"; do
      log="$dir/fuzz-long-$name.log"
      echo "fuzz.sh: fuzz_$name, up to $runs executions or ${max}s (log: $log)" >&2
      rc=0
      run "$name" "$dir" "$log" -runs="$runs" -max_total_time="$max" || rc=$?
      read -r _ n s rate < <(figures "$name" "$log")
      result=clean
      if [[ $rc -ne 0 ]]; then
        result="FAILED (exit $rc; $dir/artifacts/$name/)"
        failed=1
        tail -40 "$log" >&2
      fi
      printf '%-14s %12s %8s %9s %s\n' "$name" "$n" "$s" "$rate" "$result" | tee -a "$report"
    done
    echo "fuzz.sh: figures in $report" >&2
    exit $failed
    ;;
  *)
    sed -n '2,15p' "$0" >&2
    exit 2
    ;;
esac
