#!/usr/bin/env bash
# The Grafana dashboard and the Prometheus alert rules of docs/monitoring/
# (docs/monitoring.md) against the real tools and a real daemon:
#  1. promtool check rules on the rules, and on the dashboard's queries
#     written as recording rules (each must be valid PromQL);
#  2. promtool test rules on tests/monitoring/alerts_test.yml (each alert
#     fires when it should, and not when it should not);
#  3. a two-node cluster of maxsessd (so the cluster families are there,
#     peers and forwarding included) on the pg fixture's PostgreSQL, with the
#     Flussonic emulator as streamer 1 and a streamer whose API does not
#     answer as streamer 2, driven through a link, a denial, a play (auth
#     backend, webhooks), forwarded links, sync and kill jobs; then every
#     metric the rules and the dashboard name (found by scanning their
#     expressions, check_metrics.py) must have a sample in the nodes'
#     /metrics, with the labels the queries match and group on, and
#     promtool check metrics must accept those scrapes;
#  4. the check must fail once any one of those metrics is missing from the
#     scrapes (what a metric renamed in the daemon looks like).
#   monitoring_test.sh BUILD_DIR            (ctest -R monitoring; needs the pg fixture)
set -euo pipefail
build=$(cd "$1" && pwd)
cd "$(dirname "$0")/../.."
rules=docs/monitoring/maxsess-alerts.yml
dashboard=docs/monitoring/maxsess-dashboard.json
check=tests/monitoring/check_metrics.py
work=$(mktemp -d /tmp/maxsess-monitoring-XXXXXX)
pids=()
db=
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [[ -n "$db" ]]; then psql "$admin_dsn" -XAtqc "drop database if exists $db" >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  for f in "$work"/*.log; do [[ -f "$f" ]] && { echo "--- $f (last lines)" >&2; tail -n 20 "$f" >&2; }; done
  exit 1
}
note() { echo "monitoring_test: $*"; }

command -v promtool >/dev/null 2>&1 ||
  fail "promtool not found: run scripts/deps.sh (Debian package prometheus)"

# --- 1. the rules and the dashboard's queries are valid ----------------------
python3 "$check" selftest || fail "the PromQL scanner of check_metrics.py"
out=$(promtool check rules "$rules" 2>&1) || fail "promtool check rules: $out"
found=$(sed -n 's/.*SUCCESS: \([0-9]*\) rules found.*/\1/p' <<<"$out")
read_back=$(python3 "$check" rule-exprs "$rules" | wc -l)
# The scanner reads the same rules that promtool counted, none left out.
[[ -n "$found" && "$found" == "$read_back" ]] ||
  fail "promtool found ${found:-no} rules, check_metrics.py read $read_back expressions"
note "promtool check rules: $found rules"

python3 "$check" lint "$dashboard" || fail "dashboard lint"
{
  echo "groups:"
  echo "  - name: dashboard-queries"
  echo "    rules:"
  n=0
  while IFS= read -r expr; do
    n=$((n + 1))
    echo "      - record: dashboard:query_$n"
    echo "        expr: $expr"   # a JSON string is a YAML double-quoted string
  done < <(python3 "$check" dashboard-exprs "$dashboard")
} >"$work/dashboard-rules.yml"
out=$(promtool check rules "$work/dashboard-rules.yml" 2>&1) || fail "a dashboard query is not valid PromQL: $out"
note "dashboard: $(sed -n 's/.*SUCCESS: \([0-9]*\) rules found.*/\1/p' <<<"$out") queries valid"

# --- 2. each alert fires when it should -------------------------------------
out=$(promtool test rules tests/monitoring/alerts_test.yml 2>&1) || fail "promtool test rules: $out"
note "promtool test rules: $(grep -c 'alertname:' tests/monitoring/alerts_test.yml) alert checks passed"

# --- 3. a running cluster exports every metric named -----------------------
admin_dsn=$(cat "${MAXSESS_TEST_PG_DIR:?needs the pg fixture}/dsn")
db=monitoring_test_$$
psql "$admin_dsn" -XAtqc "create database $db" >/dev/null
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
http_a=127.0.0.1:$(port) http_b=127.0.0.1:$(port)
cl_a=127.0.0.1:$(port) cl_b=127.0.0.1:$(port)
emu=127.0.0.1:$(port) dead=127.0.0.1:$(port)  # nothing listens on $dead
admin=monitoring-test-admin-token
export MAXSESS_PG_DSN=${admin_dsn/dbname=maxsess/dbname=$db}
export MAXSESS_ADMIN_TOKEN=$admin MAXSESS_CLUSTER_ENABLED=true MAXSESS__CLUSTER__SHARDS=16
MAXSESS_CLUSTER_LISTEN=$cl_a "$build/maxsessd" migrate --config config/example.yaml >"$work/migrate.log" 2>&1 ||
  fail "migrate"

python3 tests/flussonic/flussonic_emu.py --port "${emu##*:}" \
  --auth-url "http://$http_a/flussonic/auth" \
  --webhook-url "http://$http_a/webhook/playback-session/flussonic/$emu" \
  --api-user flussonic --api-password secret --exit-with-parent >"$work/emulator.log" 2>&1 &
pids+=($!)
serve() {  # NODE HTTP CLUSTER SEED
  MAXSESS_NODE_ID=$1 MAXSESS_HTTP_LISTEN=$2 MAXSESS_CLUSTER_LISTEN=$3 MAXSESS_CLUSTER_SEEDS=$4 \
    "$build/maxsessd" serve --config config/example.yaml >"$work/$1.log" 2>&1 &
  pids+=($!)
}
serve node-a "$http_a" "$cl_a" "$cl_b"
serve node-b "$http_b" "$cl_b" "$cl_a"

# metric HTTP NAME: the value of an unlabelled sample ("" when absent).
metric() { curl -fsS "http://$1/metrics" 2>/dev/null | awk -v n="$2" '$1 == n {print $2}'; }
# Both ready and connected, both owning shards and between them all 16
# (maxsess_shards_owned counts leases). Bound: start-up and the shard split
# take seconds on an idle machine.
split() {
  owned_a=$(metric "$http_a" maxsess_shards_owned) owned_b=$(metric "$http_b" maxsess_shards_owned)
  [[ $(metric "$http_a" maxsess_cluster_peers_connected) == 1 &&
     $(metric "$http_b" maxsess_cluster_peers_connected) == 1 &&
     $(metric "$http_a" maxsess_ready) == 1 && $(metric "$http_b" maxsess_ready) == 1 &&
     ${owned_a:-0} -gt 0 && ${owned_b:-0} -gt 0 && $((${owned_a:-0} + ${owned_b:-0})) == 16 ]]
}
for _ in $(seq 1 600); do split && break; sleep 0.2; done
split ||
  fail "the two nodes did not connect and share the 16 shards within 120 s (owned: a=${owned_a:-?} b=${owned_b:-?})"
note "cluster: node-a owns $owned_a shards, node-b $owned_b, peers connected"

H="http://$http_a"
A="Authorization: Bearer $admin"
J='Content-Type: application/json'
call() {  # METHOD PATH [BODY]: the status code; the body in $work/answer
  curl -sS -o "$work/answer" -w '%{http_code}' -X "$1" "$H$2" -H "$A" -H "$J" ${3:+-d "$3"}
}
[[ $(call PUT /api/v1/streamers/1 "{\"host\":\"$emu\",\"url\":\"http://$emu\",\"api_user\":\"flussonic\",\"api_password\":\"secret\"}") == 200 ]] ||
  fail "PUT streamer 1: $(cat "$work/answer")"
[[ $(call PUT /api/v1/streamers/2 "{\"host\":\"$dead\",\"url\":\"http://$dead\"}") == 200 ]] ||
  fail "PUT streamer 2: $(cat "$work/answer")"
[[ $(call PUT /api/v1/accounts/acc1 '{"max_sessions":1}') == 200 ]] || fail "PUT account: $(cat "$work/answer")"
link() { call POST /api/v1/links "{\"account_id\":\"$1\",\"device_id\":\"$2\",\"content\":{\"type\":\"live\",\"stream\":\"news\"},\"streamer_id\":1}"; }
# The owner of acc1's shard may be node-b, which learns of the streamers put
# through node-a at its next lease round (about a second): until then 400
# "streamer 1 is not registered". Bound: 30 s.
for _ in $(seq 1 60); do
  code=$(link acc1 tv)
  [[ $code == 400 ]] && grep -q 'not registered' "$work/answer" || break
  sleep 0.5
done
[[ $code == 200 ]] || fail "the first link: $code $(cat "$work/answer")"
token=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["token"])' "$work/answer")
# The player opens it: the auth backend answers, play events come as webhooks.
curl -fsS "http://$emu/_emu/play" -d "{\"name\":\"news\",\"token\":\"$token\"}" >"$work/play" || fail "emulator play"
grep -q '"allowed": *true' "$work/play" || fail "the auth backend refused the play: $(cat "$work/play")"
curl -fsS "http://$emu/_emu/flush" -d '{}' >/dev/null || fail "emulator flush"
[[ $(link acc1 phone) == 403 ]] || fail "the second device was not denied: $(cat "$work/answer")"
# Accounts of node-b's shards, asked of node-a, are forwarded.
for i in $(seq 1 16); do link "acc-$i" tv >/dev/null; done
# Sync until both streamers are placed on a node and run: streamer 1 lists
# the emulator's sessions, streamer 2's API refuses the connection.
synced=
for _ in $(seq 1 60); do
  [[ $(call POST /api/v1/jobs/sync '{}') == 200 ]] || fail "sync job: $(cat "$work/answer")"
  if python3 - "$work/answer" <<'PY'
import json, sys
s = {x["streamer_id"]: x for x in json.load(open(sys.argv[1]))["streamers"]}
sys.exit(0 if s.get(1, {}).get("ok") and "connect" in s.get(2, {}).get("error", "") else 1)
PY
  then synced=1; break; fi
  sleep 0.5
done
[[ -n "$synced" ]] || fail "no sync of streamer 1 that worked and of streamer 2 that failed to connect within 30 s: $(cat "$work/answer")"
[[ $(call POST /api/v1/jobs/kill '{}') == 200 ]] || fail "kill job: $(cat "$work/answer")"

curl -fsS "http://$http_a/metrics" >"$work/metrics-a.txt" || fail "GET /metrics of node-a"
curl -fsS "http://$http_b/metrics" >"$work/metrics-b.txt" || fail "GET /metrics of node-b"
scrapes=("$work/metrics-a.txt" "$work/metrics-b.txt")
# Prometheus's own parser and linter accept what the daemon serves.
for s in "${scrapes[@]}"; do
  out=$(promtool check metrics <"$s" 2>&1) || fail "promtool check metrics $(basename "$s"): $out"
done
python3 "$check" check "$rules" "$dashboard" "${scrapes[@]}" ||
  fail "metrics named by the rules or the dashboard are not exported (above)"

# --- 4. a metric gone from the daemon fails the check ------------------------
names=$(python3 "$check" names "$rules" "$dashboard" | grep '^maxsess_')
n=0
for name in $names; do
  for s in "${scrapes[@]}"; do
    grep -v -E "^${name}(\{| )" "$s" >"$s.without" || true
  done
  if python3 "$check" check "$rules" "$dashboard" "${scrapes[0]}.without" "${scrapes[1]}.without" >/dev/null; then
    fail "the check passes with $name missing from /metrics"
  fi
  n=$((n + 1))
done
[[ $n -ge 20 ]] || fail "only $n maxsess metrics named by the rules and the dashboard"
note "each of the $n metrics, removed from the scrapes, fails the check"
echo "monitoring_test: all checks passed"
