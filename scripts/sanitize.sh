#!/usr/bin/env bash
# `make test-asan` / `make test-tsan` after their build (docs/testing.md):
#   scripts/sanitize.sh address BUILD_DIR JOBS   unit + integration under ASan + UBSan
#   scripts/sanitize.sh thread  BUILD_DIR JOBS   the CAF-free suites under TSan
# Every process the tests start (test binaries, maxsessd, helpers) writes
# its ASan/LSan/TSan reports to BUILD_DIR/sanitizer-logs/ rather than only
# to a stderr that a test may swallow; any report there fails the run, even
# when every test passed. gcc's UBSan ignores log_path and prints to
# stderr; halt_on_error makes it end the process, which fails its test.
set -euo pipefail
kind=$1 dir=$2 jobs=${3:-2}
logs="$(cd "$dir" && pwd)/sanitizer-logs"
rm -rf "$logs"
mkdir -p "$logs"
export MAXSESS_PG_FAST=1
case "$kind" in
  address)
    # halt_on_error: a UBSan finding stops the process (gcc's UBSan only
    # prints by default); LeakSanitizer stays on.
    export ASAN_OPTIONS="log_path=$logs/asan:detect_stack_use_after_return=1:strict_string_checks=1:check_initialization_order=1"
    # ubsan.supp: what is CAF's, not ours (one report, in its headers).
    supp="$(cd "$(dirname "$0")" && pwd)/sanitizers/ubsan.supp"
    export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:suppressions=$supp"
    labels='^(unit|integration)$'
    ;;
  thread)
    export TSAN_OPTIONS="log_path=$logs/tsan:halt_on_error=0:second_deadlock_stack=1"
    ;;
  *)
    echo "usage: $0 address|thread BUILD_DIR [JOBS]" >&2
    exit 2
    ;;
esac
rc=0
if [[ $kind == address ]]; then
  # Not the packaging and `make run` script tests (they build and run the
  # product as shipped, which a sanitizer build is not).
  (cd "$dir" && ctest --output-on-failure -j"$jobs" -L "$labels" -E '^(make_run|package)$') || rc=$?
else
  # The CAF-free test binaries, run directly (TSAN_TESTS in the Makefile
  # builds just these); actor code runs under ASan and the deterministic
  # scheduler tests instead. The storage tests get a throwaway PostgreSQL.
  pg="$(cd "$dir" && pwd)/test-pg"
  src="$(cd "$(dirname "$0")/.." && pwd)"
  "$src/scripts/pg.sh" start "$pg" --fast
  trap '"$src/scripts/pg.sh" stop "$pg"' EXIT
  export MAXSESS_TEST_PG_DIR="$pg" MAXSESS_SOURCE_DIR="$src"
  for t in unit_domain_tests unit_config_tests unit_net_tests unit_cluster_tests integration_storage_tests; do
    echo "sanitize.sh: $t" >&2
    "$dir/tests/$t" --gtest_brief=1 || rc=$?
  done
fi
shopt -s nullglob
reports=("$logs"/*)
if [[ ${#reports[@]} -gt 0 ]]; then
  echo "sanitize.sh: ${#reports[@]} sanitizer report(s) in $logs:" >&2
  for f in "${reports[@]}"; do
    echo "=== $f" >&2
    head -60 "$f" >&2
  done
  rc=1
fi
if [[ $rc -eq 0 ]]; then
  echo "sanitize.sh: $kind: every test passed, no sanitizer report"
fi
exit $rc
