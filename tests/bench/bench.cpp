// maxsess_bench: closed-loop load on POST /api/v1/links against the real
// maxsessd and a real PostgreSQL (docs/performance.md).
//
// For every (scenario, connections) pair it makes a fresh migrated database
// and runs two daemons on it one after the other:
//   1. set-up daemon: registers streamer 1, PUTs the accounts' limits and
//      creates the sessions the scenario needs (zap: the devices to re-ask;
//      deny: the device holding each account's one slot); then SIGTERM.
//   2. measured daemon: loads every account actor (GET /api/v1/accounts/…,
//      no writes), runs C client threads (one keep-alive connection each)
//      for D seconds, then SIGTERM. Its "stopped commits=N rows=M" log line
//      therefore counts the writes of the measured window only.
// Scenarios:
//   new   every request a device never seen before, on unlimited accounts:
//         every approval inserts a row (the group-commit writer's path)
//   zap   a fixed set of devices asking again with another channel:
//         approved, the row updated
//   deny  every account holds its one slot; other devices ask: 403, no writes
//
// Everything is loopback and bounded in time (10 s per HTTP call, a watchdog
// on the whole run). Not a ctest test.
//
// The cluster modes (--cluster-compare, --failover, --freeze) live in
// cluster.cpp and share this file's set-up and load (bench_common.cpp).
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/bench/bench_common.hpp"
#include "tests/bench/cluster.hpp"
#include "tests/bench/flows.hpp"
#include "tests/bench/links.hpp"
#include "tests/support/daemon.hpp"
#include "tests/support/pg_test.hpp"

namespace maxsess::bench {

const char* const usage_text =
    "usage: maxsess_bench [options]\n"
    "  --scenario LIST      new, zap, deny, cold (every request a never-loaded account),\n"
    "                       comma-separated, or all = new,zap,deny (default new;\n"
    "                       --cluster-compare: new,deny); flows (flows.hpp): auth-new,\n"
    "                       auth-update, webhook, sync, memory; links = make bench's\n"
    "                       link figures (SQL-seeded accounts, zipf, open loop; links.cpp)\n"
    "  --json FILE          append one JSON object per measured figure to FILE\n"
    "  --connections LIST   client connections (threads), comma-separated (default 8)\n"
    "  --seconds D          measured seconds per run (default 10; --cluster-compare: 8)\n"
    "  --accounts N         accounts in play (default 1000)\n"
    "  --devices K          zap: devices per account asking again (default 2)\n"
    "  --dsn DSN            use this PostgreSQL server (maintenance DSN) instead of\n"
    "                       starting a private one; MAXSESS_TEST_DSN works the same\n"
    "  --fast               private server started with scripts/pg.sh --fast\n"
    "                       (fsync=off: NOT durable; default is durable)\n"
    "  --http-threads N     node.http_threads of the daemon (default: its own, 0 =\n"
    "                       one per two usable cores, at least 2)\n"
    "  --debug-log          keep the daemon at log level debug (default info)\n"
    "  --daemon-env N=V     extra environment for maxsessd, repeatable, e.g.\n"
    "                       MAXSESS__STORAGE__BATCH_MAX_DELAY=0ms\n"
    "cluster modes (docs/performance.md, \"Cluster\"):\n"
    "  --cluster-compare    per scenario and connections: 1 node cluster off, 1 node\n"
    "                       cluster on, N nodes with the clients spread over them, N\n"
    "                       nodes with every client on node 1; ratios to the 1-node runs\n"
    "  --failover K         N nodes; K times kill -9 the owner of a probed account and\n"
    "                       time the first 200 through a survivor; restart; rebalance\n"
    "  --freeze K           the same with SIGSTOP (SIGCONT after the measurement)\n"
    "  --nodes N            cluster size of these modes (default 3)\n"
    "  --lease-ttl DUR      cluster.lease_ttl of the nodes (default: theirs, 4s)\n"
    "  --probe-timeout-ms T failover probe's client timeout (default 1000)\n"
    "  --probe-gap-ms G     pause between failover probes (default 20)\n"
    "  --failover-load C    C threads writing through every node during each round\n"
    "                       (default 0: the probes alone)\n"
    "  --pin L1,L2,...      taskset CPU list per node (node i gets Li; within one\n"
    "                       list join ranges with +, e.g. 0-1+8-9); the 1-node runs\n"
    "                       use L1\n"
    "  --client-pin L       CPUs of the load threads (e.g. 12-15)\n"
    "  --pg-pin L           CPUs of PostgreSQL when its processes are on this machine\n"
    "  --log-dir DIR        keep the cluster nodes' logs there (appended)\n"
    "make bench (scripts/bench.sh):\n"
    "  --loadgen-threads N  event-loop threads of the load generator (default 1)\n"
    "  --zipf-s S           links: zipf exponent of account popularity (default 1.0)\n"
    "  --answer-sample FILE links: write one link answer's body there (the anchors'\n"
    "                       body)\n"
    "  --no-curl            sync: leave out the curl loop anchor (≈ 24 s on 2 cores;\n"
    "                       for alternating A/B rounds of the sync itself)\n"
    "maxsessd is $MAXSESS_BIN, else the maxsessd next to this build.\n";

namespace {

std::vector<std::string> split(const std::string& s, char sep = ',') {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, sep))
    if (!item.empty()) out.push_back(item);
  return out;
}

int to_int(const std::string& flag, const std::string& v, int lo, int hi) {
  char* end = nullptr;
  long n = std::strtol(v.c_str(), &end, 10);
  if (v.empty() || *end || n < lo || n > hi)
    throw std::invalid_argument(flag + " wants a number " + std::to_string(lo) + ".." +
                                std::to_string(hi) + ", got '" + v + "'");
  return static_cast<int>(n);
}

}  // namespace

options parse(int argc, char** argv) {
  options o;
  bool seconds_given = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(a + " needs a value");
      return argv[++i];
    };
    if (a == "-h" || a == "--help") {
      std::cout << usage_text;
      std::exit(0);
    } else if (a == "--scenario") {
      auto v = value();
      o.scenarios = v == "all" ? std::vector<std::string>{"new", "zap", "deny"} : split(v);
      for (auto& s : o.scenarios)
        if (s != "new" && s != "zap" && s != "deny" && s != "cold" && s != "links" &&
            !is_flow_scenario(s))
          throw std::invalid_argument("unknown scenario '" + s + "' (new, zap, deny, cold, links, all, or a flow)");
      if (o.scenarios.empty()) throw std::invalid_argument("--scenario is empty");
      o.scenarios_given = true;
    } else if (a == "--json") {
      json_path() = value();
    } else if (a == "--connections") {
      o.connections.clear();
      for (auto& s : split(value())) o.connections.push_back(to_int(a, s, 1, 1024));
      if (o.connections.empty()) throw std::invalid_argument("--connections is empty");
    } else if (a == "--seconds") {
      o.seconds = to_int(a, value(), 1, 600);
      seconds_given = true;
    } else if (a == "--accounts") {
      o.accounts = to_int(a, value(), 1, 1000000);
    } else if (a == "--devices") {
      o.devices = to_int(a, value(), 1, 1000);
    } else if (a == "--dsn") {
      o.dsn = value();
    } else if (a == "--fast") {
      o.fast = true;
    } else if (a == "--http-threads") {
      o.http_threads = to_int(a, value(), 0, 64);
    } else if (a == "--debug-log") {
      o.debug_log = true;
    } else if (a == "--daemon-env") {
      auto v = value();
      auto eq = v.find('=');
      if (eq == std::string::npos || eq == 0 || v.compare(0, 8, "MAXSESS_") != 0)
        throw std::invalid_argument("--daemon-env wants MAXSESS_…=VALUE, got '" + v + "'");
      o.daemon_env[v.substr(0, eq)] = v.substr(eq + 1);
    } else if (a == "--cluster-compare") {
      o.cluster_compare = true;
    } else if (a == "--failover") {
      o.failover_kills = to_int(a, value(), 1, 1000);
    } else if (a == "--freeze") {
      o.failover_freezes = to_int(a, value(), 1, 1000);
    } else if (a == "--nodes") {
      o.nodes = to_int(a, value(), 2, 9);
    } else if (a == "--lease-ttl") {
      o.lease_ttl = value();
    } else if (a == "--probe-timeout-ms") {
      o.probe_timeout_ms = to_int(a, value(), 50, 60000);
    } else if (a == "--failover-load") {
      o.failover_load = to_int(a, value(), 0, 256);
    } else if (a == "--probe-gap-ms") {
      o.probe_gap_ms = to_int(a, value(), 0, 10000);
    } else if (a == "--pin") {
      o.pin.clear();
      for (auto& l : split(value())) o.pin.push_back(parse_cpu_list(l));
      if (o.pin.empty()) throw std::invalid_argument("--pin is empty");
    } else if (a == "--client-pin") {
      o.client_pin = parse_cpu_list(value());
    } else if (a == "--log-dir") {
      o.log_dir = value();
    } else if (a == "--pg-pin") {
      o.pg_pin = parse_cpu_list(value());
    } else if (a == "--loadgen-threads") {
      loadgen_threads() = to_int(a, value(), 1, 64);
    } else if (a == "--zipf-s") {
      const auto v = value();
      char* end = nullptr;
      o.zipf_s = std::strtod(v.c_str(), &end);
      if (v.empty() || *end || !(o.zipf_s >= 0 && o.zipf_s <= 5))
        throw std::invalid_argument("--zipf-s wants a number 0..5, got '" + v + "'");
    } else if (a == "--answer-sample") {
      o.answer_sample = value();
    } else if (a == "--no-curl") {
      o.sync_curl = false;
    } else {
      throw std::invalid_argument("unknown argument '" + a + "'");
    }
  }
  const bool cluster_mode = o.cluster_compare || o.failover_kills > 0 || o.failover_freezes > 0;
  if (o.cluster_compare && !o.scenarios_given) o.scenarios = {"new", "deny"};
  if (o.cluster_compare && !seconds_given) o.seconds = 8;
  if (!o.pin.empty() && static_cast<int>(o.pin.size()) != o.nodes)
    throw std::invalid_argument("--pin names " + std::to_string(o.pin.size()) +
                                " CPU lists for --nodes " + std::to_string(o.nodes) +
                                " (one per node, comma-separated)");
  if (!o.pin.empty() && !cluster_mode)
    throw std::invalid_argument("--pin applies to the cluster modes (--cluster-compare, --failover, --freeze)");
  return o;
}

namespace {

run_result run_one(const options& o, const std::string& server, const std::string& scenario,
                   int conns) {
  using namespace maxsess::test;
  run_result res;
  const std::string dsn = create_migrated_database("bench_" + scenario);

  // ---- 1. set-up daemon
  set_up_database(o, dsn, scenario);
  res.rows_before = count_rows(dsn);
  const long long wal_before = wal_syncs(server);

  // ---- 2. measured daemon
  daemon_options opts;
  opts.dsn = dsn;
  opts.env = daemon_env(o);
  daemon_process d(opts);
  d.start();
  track_pid(d.pid());
  const pid_t pid = d.pid();
  // Load every account actor first (reads only), so the window measures
  // decisions, not first loads; `cold` measures exactly those first loads.
  if (scenario != "cold") warm_accounts(o, {d.port()}, d.admin_token());

  load_plan plan;
  plan.scenario = scenario;
  plan.connections = conns;
  plan.seconds = o.seconds;
  plan.accounts = o.accounts;
  plan.devices = o.devices;
  plan.ports = {d.port()};
  plan.client_cpus = o.client_pin;
  plan.daemons = {pid};
  run_load(plan, res);

  res.exit_code = d.stop();
  untrack_pid(pid);
  const auto log = d.log();
  res.commits = parse_log_counter(log, "commits");
  res.rows_written = parse_log_counter(log, "rows");
  res.rows_after = count_rows(dsn);
  if (const long long w = wal_syncs(server); w >= 0 && wal_before >= 0)
    res.wal_syncs = w - wal_before;
  if (res.exit_code != 0) std::cerr << "daemon log tail:\n" << log.substr(log.size() > 3000 ? log.size() - 3000 : 0);
  drop_database(server, dsn);
  return res;
}

void on_signal(int) { g_interrupted = true; }

}  // namespace

}  // namespace maxsess::bench

int main(int argc, char** argv) {
  using namespace maxsess::bench;
  using maxsess::test::query_scalar;
  options o;
  try {
    o = parse(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "maxsess_bench: " << e.what() << "\n\n" << usage_text;
    return 2;
  }
  // Lines out at once (also through a pipe): nothing sits in stdio's buffer
  // when a daemon is forked.
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  // maxsessd's own environment overrides win over the config every daemon
  // gets (MAXSESS_PG_DSN would point every node at one database): the
  // daemons get only what --daemon-env and the tool set.
  for (char** e = environ; *e;) {
    const std::string kv = *e;
    const std::string name = kv.substr(0, kv.find('='));
    const bool named = name == "MAXSESS_PG_DSN" || name == "MAXSESS_HTTP_LISTEN" ||
                       name == "MAXSESS_ADMIN_TOKEN" || name == "MAXSESS_TOKEN_SECRET" ||
                       name == "MAXSESS_NODE_ID" || name.rfind("MAXSESS_CLUSTER_", 0) == 0 ||
                       name.rfind("MAXSESS__", 0) == 0;
    if (named) {
      std::cerr << "maxsess_bench: ignoring " << name
                << " from the environment (it would override every daemon's config; "
                   "use --dsn or --daemon-env)\n";
      unsetenv(name.c_str());  // environ shifts: look at the same slot again
    } else {
      ++e;
    }
  }
  struct sigaction sa{};
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  const int runs = static_cast<int>(o.scenarios.size() * o.connections.size());
  // Per run: set-up, two daemon start/stops (<= 30 s + 40 s each by
  // daemon_process), the window; plus the server start. The cluster modes
  // add their own (cluster.cpp).
  auto budget = std::chrono::seconds(120 + runs * (o.seconds + 180));
  if (o.cluster_compare || o.failover_kills > 0 || o.failover_freezes > 0) budget = cluster_budget(o);
  start_watchdog(clk::now() + budget);

  int rc = 0;
  std::vector<run_result> results;
  std::string server_settings;
  try {
    if (!o.dsn.empty()) {
      setenv("MAXSESS_TEST_DSN", o.dsn.c_str(), 1);
    } else if (const char* env = std::getenv("MAXSESS_TEST_DSN"); env && *env) {
      o.dsn = env;
    } else {
      char tmpl[] = "/tmp/maxsess-bench-XXXXXX";
      if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
      g_pg_dir = tmpl;
      std::string cmd = std::string(o.fast ? "" : "MAXSESS_PG_FAST=0 ") +
                        shell_quote(MAXSESS_PG_SCRIPT) + " start " + shell_quote(g_pg_dir) +
                        (o.fast ? " --fast" : "");
      std::cerr << "maxsess_bench: starting PostgreSQL: " << cmd << "\n";
      if (std::system(cmd.c_str()) != 0) throw std::runtime_error("scripts/pg.sh start failed");
      unsetenv("MAXSESS_TEST_DSN");
      setenv("MAXSESS_TEST_PG_DIR", g_pg_dir.c_str(), 1);
      g_postmaster = read_postmaster_pid(g_pg_dir);
    }
    const auto server = maxsess::test::server_dsn();
    if (!server) throw std::runtime_error("no PostgreSQL DSN");
    // A server given by DSN: its processes are counted (and pinned) when it
    // runs on this machine and its data directory is readable.
    if (g_postmaster <= 0) g_postmaster = postmaster_of(*server);
    for (const char* s : {"server_version", "fsync", "synchronous_commit", "full_page_writes",
                          "wal_sync_method", "shared_buffers", "commit_delay", "max_connections"})
      server_settings += std::string(" ") + s + "=" + query_scalar(*server, std::string("SHOW ") + s);
    if (!o.pg_pin.empty()) {
      auto procs = pg_processes();
      if (procs.empty())
        throw std::runtime_error("--pg-pin: PostgreSQL's processes are not visible here");
      for (pid_t p : procs)
        if (!pin_process(p, o.pg_pin))
          throw std::runtime_error("--pg-pin: cannot pin PostgreSQL process " + std::to_string(p) +
                                   ": " + std::strerror(errno));
      // New backends are forked by the postmaster and inherit its CPUs.
      std::cout << "PostgreSQL pinned to CPUs " << cpu_list_text(o.pg_pin) << " (" << procs.size()
                << " processes)\n";
    }

    const int ncpu = static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN));
    std::cout << "maxsess_bench: " << ncpu << " CPUs online (shared by this client, maxsessd and "
              << "PostgreSQL)\nserver:" << server_settings << "\nmaxsessd: " << maxsess::test::maxsessd_path()
              << "\naccounts " << o.accounts << ", window " << o.seconds << " s\n";
    for (const auto& [k, v] : daemon_env(o)) std::cout << "daemon env " << k << "=" << v << "\n";
    if (!o.client_pin.empty()) std::cout << "client threads pinned to CPUs " << cpu_list_text(o.client_pin) << "\n";

    if (o.cluster_compare || o.failover_kills > 0 || o.failover_freezes > 0) {
      if (o.cluster_compare) rc = std::max(rc, run_cluster_compare(o, *server, ncpu));
      if (o.failover_kills > 0 || o.failover_freezes > 0)
        rc = std::max(rc, run_failover(o, *server));
    } else {
      for (const auto& sc : o.scenarios)
        if (is_flow_scenario(sc) && !g_interrupted) rc = std::max(rc, run_flow(o, *server, sc, ncpu));
      for (const auto& sc : o.scenarios)
        for (int c : is_flow_scenario(sc) ? std::vector<int>{} : o.connections) {
          if (g_interrupted) break;
          if (sc == "links") {  // its own windows and figures
            if (c == o.connections.front()) rc = std::max(rc, run_links(o, *server, ncpu));
            continue;
          }
          results.push_back(run_one(o, *server, sc, c));
          print_detail(results.back(), ncpu);
          write_json(o, "matrix:" + sc + "/" + std::to_string(c), results.back(),
                     std::to_string(o.accounts) + " accounts");
        }

      if (!results.empty())
        std::cout << "\nCPU columns: CPU-seconds per second of the window (1.00 = one core busy)\n"
                     "\n| scenario | conns | req/s | statuses | p50 ms | p90 ms | p99 ms | max ms "
                     "| daemon VmHWM MiB | CPU client | CPU daemon | CPU PostgreSQL | CPU other "
                     "| rows after | commits | rows/commit |\n"
                     "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";
      for (const auto& r : results) {
        auto per_s = [&](double cpu) { return cpu < 0 ? std::string("n/a") : fmt(cpu / r.elapsed_s, 2); };
        std::cout << "| " << r.scenario << " | " << r.connections << " | "
                  << fmt(r.requests / r.elapsed_s, 0) << " | " << statuses_text(r) << " | " << fmt(r.p50, 2)
                  << " | " << fmt(r.p90, 2) << " | " << fmt(r.p99, 2) << " | " << fmt(r.max, 1)
                  << " | " << fmt(r.hwm_mib) << " | " << per_s(r.client_cpu_s) << " | "
                  << per_s(r.daemon_cpu_s) << " | " << per_s(r.pg_cpu_s) << " | "
                  << per_s(std::max(0.0, other_cpu(r))) << " | " << r.rows_after << " | "
                  << r.commits << " | "
                  << (r.commits > 0 ? fmt(double(r.rows_written) / r.commits, 1) : "-") << " |\n";
        if (r.exit_code != 0 || r.errors > 0) rc = 1;
      }
    }
  } catch (const std::exception& e) {
    std::cerr << "maxsess_bench: " << e.what() << "\n";
    rc = 1;
  }
  stop_private_pg();
  stop_watchdog();
  return rc;
}
