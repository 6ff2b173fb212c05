# Sourced by the test scripts here. wait_for PID SECONDS WHAT CMD...: runs
# CMD every 0.1 s until it succeeds; calls the script's own fail() when the
# process PID exited first or SECONDS passed (a process that is still
# starting is waited for, one that died is reported at once).
wait_for() {
  local pid=$1 secs=$2 what=$3 i
  shift 3
  for ((i = 0; i < secs * 10; i++)); do
    "$@" 2>/dev/null && return 0
    kill -0 "$pid" 2>/dev/null || fail "$what: the process exited first"
    sleep 0.1
  done
  "$@" 2>/dev/null || fail "$what: not within $secs s"
}
