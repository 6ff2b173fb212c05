#!/usr/bin/env bash
# A private, throwaway PostgreSQL cluster for development and tests.
#
#   scripts/pg.sh start DIR [PORT] [--fast]   start (or keep running) a cluster
#   scripts/pg.sh stop DIR                    stop it and delete its data
#   scripts/pg.sh status DIR                  exit 0 when running, 3 when not
#   scripts/pg.sh halt DIR [--immediate]      stop the server, keep its data
#
# DIR is a state folder owned by the caller; after `start` it holds:
#   DIR/dsn      libpq DSN of the maintenance database, e.g.
#                "host=127.0.0.1 port=55432 dbname=maxsess user=maxsess"
#   DIR/socket_dsn  the same through the server's Unix socket (host= its
#                folder), the cheaper link for a client on this machine
#   DIR/port     the TCP port
#   DIR/datadir  the real data directory (a mktemp folder under /tmp, see below)
#   DIR/logfile  the server log
#
# The server listens on 127.0.0.1:PORT and on a unix socket in the temp
# folder; authentication is `trust` (local socket and loopback only). The
# bootstrap superuser is `maxsess`, and database `maxsess` is created.
# PORT defaults to a free port found on 127.0.0.1.
#
# --fast (tests): fsync=off, synchronous_commit=off, full_page_writes=off.
# A crash may then lose or corrupt data — fine for throwaway test databases,
# never for anything you keep. Without --fast the settings are PostgreSQL's
# durable defaults (what `make run` uses). MAXSESS_PG_FAST=1 in the
# environment is the same as --fast.
#
# Root: initdb/postgres refuse to run as root, so they run as the `postgres`
# system user (created by Debian's postgresql package). The data lives in a
# temp folder that user owns, because DIR may sit under a 0700 home (/root).
# Non-root: everything runs as the caller.
#
# `start` on a running DIR is a no-op; `start` after the server died restarts
# it on its data when the data is still there, else starts fresh. `stop` on a
# stopped DIR is a no-op. Both are safe to repeat.
set -euo pipefail

prog=$(basename "$0")
die() { echo "$prog: error: $*" >&2; exit 1; }
note() { echo "$prog: $*" >&2; }

usage() {
  sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

pg_bindir() {
  local d
  d=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
  [[ -n "$d" && -x "$d/initdb" && -x "$d/pg_ctl" ]] ||
    die "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin; run scripts/deps.sh (package: postgresql)"
  echo "$d"
}

# Runs a command as the owner of the cluster (postgres when we are root).
as_owner() {
  if [[ $(id -u) -eq 0 ]]; then
    id postgres >/dev/null 2>&1 ||
      die "running as root needs the 'postgres' system user (package: postgresql); run scripts/deps.sh"
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

free_port() {
  if command -v python3 >/dev/null 2>&1; then
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
    return
  fi
  local p
  for _ in $(seq 1 200); do
    p=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return
    fi
  done
  die "could not find a free TCP port on 127.0.0.1; pass one: $prog start DIR PORT"
}

port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Is the cluster recorded in DIR running?
is_running() {
  local dir=$1 datadir bindir
  [[ -f "$dir/datadir" ]] || return 1
  datadir=$(cat "$dir/datadir")
  [[ -d "$datadir" ]] || return 1
  bindir=$(pg_bindir)
  as_owner "$bindir/pg_ctl" status -D "$datadir" >/dev/null 2>&1
}

wait_ready() {
  local dsn=$1
  for _ in $(seq 1 100); do
    if psql "$dsn" -XAtqc 'select 1' >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.1
  done
  return 1
}

cmd_start() {
  local dir="" port="" fast=${MAXSESS_PG_FAST:-0}
  for a in "$@"; do
    case "$a" in
      --fast) fast=1 ;;
      -h|--help) usage ;;
      -*) die "unknown option '$a' (known: --fast)" ;;
      *)
        if [[ -z "$dir" ]]; then dir=$a
        elif [[ -z "$port" ]]; then
          [[ "$a" =~ ^[0-9]+$ && "$a" -ge 1 && "$a" -le 65535 ]] || die "PORT must be a number 1..65535, got '$a'"
          port=$a
        else die "too many arguments: '$a'"
        fi ;;
    esac
  done
  [[ -n "$dir" ]] || usage
  command -v psql >/dev/null 2>&1 || die "psql not found; run scripts/deps.sh (package: postgresql)"
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)

  # One start/stop at a time per DIR.
  exec 9>"$dir/.lock"
  flock -w 120 9 || die "another pg.sh holds $dir/.lock for over 120 s"

  if is_running "$dir"; then
    if [[ -n "$port" && -f "$dir/port" && "$(cat "$dir/port")" != "$port" ]]; then
      die "a cluster is already running in $dir on port $(cat "$dir/port"), not $port; stop it first: $prog stop $dir"
    fi
    note "already running: $(cat "$dir/dsn")"
    return 0
  fi

  local bindir datadir tmp
  bindir=$(pg_bindir)
  local opts=()
  if [[ "$fast" == 1 ]]; then
    opts=(-o "-c fsync=off -c synchronous_commit=off -c full_page_writes=off")
  fi

  # Restart a cluster that died but whose data is still there.
  if [[ -f "$dir/datadir" && -f "$dir/port" && -f "$(cat "$dir/datadir")/PG_VERSION" ]]; then
    datadir=$(cat "$dir/datadir")
    local old_port
    old_port=$(cat "$dir/port")
    if [[ -n "$port" && "$port" != "$old_port" ]]; then
      note "data in $datadir was set up for port $old_port; starting fresh on $port"
      cmd_stop "$dir" >/dev/null 2>&1 || true
    else
      port_in_use "$old_port" && die "port $old_port is taken by another process; stop it or run: $prog stop $dir && $prog start $dir OTHER_PORT"
      note "restarting the cluster in $datadir"
      as_owner "$bindir/pg_ctl" start -D "$datadir" -l "$(dirname "$datadir")/postgres.log" -w -t 60 "${opts[@]}" >/dev/null 9>&- ||
        die "postgres failed to start; see $(dirname "$datadir")/postgres.log"
      wait_ready "$(cat "$dir/dsn")" || die "postgres started but does not answer; see $(dirname "$datadir")/postgres.log"
      note "running: $(cat "$dir/dsn")"
      return 0
    fi
  fi
  rm -f "$dir/dsn" "$dir/socket_dsn" "$dir/port" "$dir/datadir" "$dir/logfile"

  if [[ -z "$port" ]]; then
    port=$(free_port)
  elif port_in_use "$port"; then
    die "port $port on 127.0.0.1 is already in use; stop what listens there or choose another port"
  fi

  tmp=$(mktemp -d /tmp/maxsess-pg.XXXXXX)
  chmod 0755 "$tmp"
  if [[ $(id -u) -eq 0 ]]; then
    id postgres >/dev/null 2>&1 ||
      { rm -rf "$tmp"; die "running as root needs the 'postgres' system user (package: postgresql); run scripts/deps.sh"; }
    chown postgres: "$tmp"
  fi
  datadir=$tmp/data
  local log=$tmp/postgres.log
  # Written before anything can fail, so `stop` always finds the temp folder.
  echo "$datadir" >"$dir/datadir"
  echo "$log" >"$dir/logfile"

  if ! as_owner "$bindir/initdb" -D "$datadir" -U maxsess --auth=trust -E UTF8 \
      --locale=C.UTF-8 --no-sync >"$tmp/initdb.log" 2>&1; then
    if ! as_owner "$bindir/initdb" -D "$datadir" -U maxsess --auth=trust -E UTF8 \
        --locale=C --no-sync >"$tmp/initdb.log" 2>&1; then
      cat "$tmp/initdb.log" >&2
      rm -rf "$tmp"
      rm -f "$dir/datadir" "$dir/logfile"
      die "initdb failed (output above)"
    fi
  fi
  as_owner tee -a "$datadir/postgresql.conf" >/dev/null <<EOF

# --- maxsess scripts/pg.sh ---
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$tmp'
max_connections = 200
timezone = 'UTC'
log_timezone = 'UTC'
logging_collector = off
EOF

  if ! as_owner "$bindir/pg_ctl" start -D "$datadir" -l "$log" -w -t 60 "${opts[@]}" >/dev/null 9>&-; then
    tail -n 20 "$log" >&2 || true
    die "postgres failed to start (log: $log); the data is kept, '$prog stop $dir' removes it"
  fi

  local admin="host=127.0.0.1 port=$port dbname=postgres user=maxsess"
  wait_ready "$admin" || die "postgres started but does not answer on 127.0.0.1:$port (log: $log)"
  psql "$admin" -XAtq -v ON_ERROR_STOP=1 -c 'CREATE DATABASE maxsess' >/dev/null ||
    die "could not create database maxsess (log: $log)"

  echo "$port" >"$dir/port"
  echo "host=127.0.0.1 port=$port dbname=maxsess user=maxsess" >"$dir/dsn"
  echo "host=$tmp port=$port dbname=maxsess user=maxsess" >"$dir/socket_dsn"
  note "running: $(cat "$dir/dsn")$([[ "$fast" == 1 ]] && echo ' (fast, not durable)')"
}

cmd_stop() {
  [[ $# -eq 1 ]] || usage
  local dir=$1
  [[ -d "$dir" ]] || { note "nothing to stop in $dir"; return 0; }
  dir=$(cd "$dir" && pwd)
  exec 8>"$dir/.lock"
  flock -w 120 8 || die "another pg.sh holds $dir/.lock for over 120 s"
  if [[ ! -f "$dir/datadir" ]]; then
    rm -f "$dir/dsn" "$dir/socket_dsn" "$dir/port" "$dir/logfile"
    note "nothing to stop in $dir"
    return 0
  fi
  local datadir tmp bindir
  datadir=$(cat "$dir/datadir")
  tmp=$(dirname "$datadir")
  if [[ -f "$datadir/PG_VERSION" ]]; then
    bindir=$(pg_bindir)
    if as_owner "$bindir/pg_ctl" status -D "$datadir" >/dev/null 2>&1; then
      as_owner "$bindir/pg_ctl" stop -D "$datadir" -m fast -w -t 60 >/dev/null ||
        die "pg_ctl stop failed for $datadir"
    fi
  fi
  # Only ever delete a folder this script created.
  case "$tmp" in
    /tmp/maxsess-pg.*) rm -rf "$tmp" ;;
    *) note "not deleting unexpected data path $tmp" ;;
  esac
  rm -f "$dir/dsn" "$dir/socket_dsn" "$dir/port" "$dir/datadir" "$dir/logfile"
  note "stopped"
}

# The server goes away but its data stays, so `start DIR` brings the same
# cluster back (fault tests: a database outage). --immediate is a crash
# (no shutdown checkpoint; with --fast, commits not yet flushed are lost).
cmd_halt() {
  local dir="" mode=fast
  for a in "$@"; do
    case "$a" in
      --immediate) mode=immediate ;;
      -*) die "unknown option '$a' (known: --immediate)" ;;
      *) [[ -z "$dir" ]] || die "too many arguments: '$a'"; dir=$a ;;
    esac
  done
  [[ -n "$dir" ]] || usage
  [[ -d "$dir" && -f "$dir/datadir" ]] || { note "nothing to halt in $dir"; return 0; }
  dir=$(cd "$dir" && pwd)
  exec 8>"$dir/.lock"
  flock -w 120 8 || die "another pg.sh holds $dir/.lock for over 120 s"
  local datadir bindir
  datadir=$(cat "$dir/datadir")
  bindir=$(pg_bindir)
  if is_running "$dir"; then
    as_owner "$bindir/pg_ctl" stop -D "$datadir" -m "$mode" -w -t 60 >/dev/null ||
      die "pg_ctl stop -m $mode failed for $datadir"
  fi
  note "halted ($mode); data kept in $datadir"
}

cmd_status() {
  [[ $# -eq 1 ]] || usage
  local dir=$1
  if [[ -d "$dir" ]] && is_running "$dir"; then
    echo "running: $(cat "$dir/dsn" 2>/dev/null || echo '?') (data: $(cat "$dir/datadir"))"
    return 0
  fi
  echo "not running"
  return 3
}

[[ $# -ge 1 ]] || usage
action=$1
shift
case "$action" in
  start) cmd_start "$@" ;;
  stop) cmd_stop "$@" ;;
  status) cmd_status "$@" ;;
  halt) cmd_halt "$@" ;;
  -h|--help|help) usage ;;
  *) note "unknown command '$action'"; usage ;;
esac
