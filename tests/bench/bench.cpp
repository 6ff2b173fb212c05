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
#include <dirent.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/daemon.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/pg_test.hpp"

namespace {

using namespace maxsess::test;
using clk = std::chrono::steady_clock;

const char* const usage_text =
    "usage: maxsess_bench [options]\n"
    "  --scenario LIST      new, zap, deny, comma-separated, or all (default new)\n"
    "  --connections LIST   client connections (threads), comma-separated (default 8)\n"
    "  --seconds D          measured seconds per run (default 10)\n"
    "  --accounts N         accounts in play (default 1000)\n"
    "  --devices K          zap: devices per account asking again (default 2)\n"
    "  --dsn DSN            use this PostgreSQL server (maintenance DSN) instead of\n"
    "                       starting a private one; MAXSESS_TEST_DSN works the same\n"
    "  --fast               private server started with scripts/pg.sh --fast\n"
    "                       (fsync=off: NOT durable; default is durable)\n"
    "  --http-threads N     node.http_threads of the daemon (default: its own, 2)\n"
    "  --debug-log          keep the daemon at log level debug (default info)\n"
    "  --daemon-env N=V     extra environment for maxsessd, repeatable, e.g.\n"
    "                       MAXSESS__STORAGE__BATCH_MAX_DELAY=0ms\n"
    "maxsessd is $MAXSESS_BIN, else the maxsessd next to this build.\n";

struct options {
  std::vector<std::string> scenarios{"new"};
  std::vector<int> connections{8};
  int seconds = 10;
  int accounts = 1000;
  int devices = 2;
  std::string dsn;
  bool fast = false;
  int http_threads = 0;
  bool debug_log = false;
  std::map<std::string, std::string> daemon_env;
};

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ','))
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

options parse(int argc, char** argv) {
  options o;
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
        if (s != "new" && s != "zap" && s != "deny")
          throw std::invalid_argument("unknown scenario '" + s + "' (new, zap, deny, all)");
      if (o.scenarios.empty()) throw std::invalid_argument("--scenario is empty");
    } else if (a == "--connections") {
      o.connections.clear();
      for (auto& s : split(value())) o.connections.push_back(to_int(a, s, 1, 1024));
      if (o.connections.empty()) throw std::invalid_argument("--connections is empty");
    } else if (a == "--seconds") {
      o.seconds = to_int(a, value(), 1, 600);
    } else if (a == "--accounts") {
      o.accounts = to_int(a, value(), 1, 1000000);
    } else if (a == "--devices") {
      o.devices = to_int(a, value(), 1, 1000);
    } else if (a == "--dsn") {
      o.dsn = value();
    } else if (a == "--fast") {
      o.fast = true;
    } else if (a == "--http-threads") {
      o.http_threads = to_int(a, value(), 1, 64);
    } else if (a == "--debug-log") {
      o.debug_log = true;
    } else if (a == "--daemon-env") {
      auto v = value();
      auto eq = v.find('=');
      if (eq == std::string::npos || eq == 0 || v.compare(0, 8, "MAXSESS_") != 0)
        throw std::invalid_argument("--daemon-env wants MAXSESS_…=VALUE, got '" + v + "'");
      o.daemon_env[v.substr(0, eq)] = v.substr(eq + 1);
    } else {
      throw std::invalid_argument("unknown argument '" + a + "'");
    }
  }
  return o;
}

// ---------------------------------------------------------------- safety net

std::atomic<pid_t> g_daemon_pid{-1};  // the daemon currently running
std::string g_pg_dir;                 // private server's state folder, if any
std::atomic<bool> g_interrupted{false};
std::atomic<bool> g_done{false};

void on_signal(int) { g_interrupted = true; }

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  return out + "'";
}

void stop_private_pg() {
  if (g_pg_dir.empty()) return;
  std::string cmd = shell_quote(MAXSESS_PG_SCRIPT) + " stop " + shell_quote(g_pg_dir) +
                    " >/dev/null 2>&1; rm -rf " + shell_quote(g_pg_dir);
  if (std::system(cmd.c_str()) != 0) std::cerr << "maxsess_bench: pg.sh stop failed\n";
  g_pg_dir.clear();
}

// Kills what we started when the whole run overstays its budget or ^C.
void watchdog(clk::time_point deadline) {
  while (!g_done) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    const bool late = clk::now() > deadline;
    if (!late && !g_interrupted) continue;
    std::cerr << "maxsess_bench: " << (late ? "time budget exceeded" : "interrupted")
              << ", cleaning up\n";
    if (pid_t p = g_daemon_pid.load(); p > 0) ::kill(p, SIGKILL);
    stop_private_pg();
    std::_Exit(3);
  }
}

// ------------------------------------------------------------------ /proc

std::string proc_field(pid_t pid, const std::string& key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.compare(0, key.size() + 1, key + ":") == 0) {
      std::stringstream ss(line.substr(key.size() + 1));
      std::string v;
      ss >> v;
      return v;  // kB
    }
  return "";
}

double kb_to_mib(const std::string& kb) { return kb.empty() ? 0 : std::stod(kb) / 1024.0; }

// utime + stime of a process, seconds; `sys` gets stime alone.
double proc_cpu_seconds(pid_t pid, double* sys = nullptr) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto rp = all.rfind(')');
  if (rp == std::string::npos) return 0;
  std::stringstream ss(all.substr(rp + 2));
  std::vector<std::string> f;
  std::string tok;
  while (ss >> tok) f.push_back(tok);
  // after ")": field 3 is f[0]; utime is field 14 -> f[11], stime f[12]
  if (f.size() < 13) return 0;
  const double tck = static_cast<double>(sysconf(_SC_CLK_TCK));
  if (sys) *sys = std::stod(f[12]) / tck;
  return (std::stod(f[11]) + std::stod(f[12])) / tck;
}

// The private PostgreSQL's CPU: the postmaster (with its reaped children)
// and every live child process. -1 when there is no private server.
pid_t g_postmaster = -1;

std::vector<std::string> stat_fields(pid_t pid) {  // fields after "(comm)"
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::string> f;
  auto rp = all.rfind(')');
  if (rp == std::string::npos) return f;
  std::stringstream ss(all.substr(rp + 2));
  std::string tok;
  while (ss >> tok) f.push_back(tok);
  return f;  // f[0] = state (field 3), f[1] = ppid, f[11..14] = utime stime cutime cstime
}

double pg_cpu_seconds() {
  if (g_postmaster <= 0) return -1;
  const double tck = static_cast<double>(sysconf(_SC_CLK_TCK));
  double total = 0;
  auto f = stat_fields(g_postmaster);
  if (f.size() < 15) return -1;
  for (int i = 11; i <= 14; ++i) total += std::stod(f[i]);
  std::unique_ptr<DIR, int (*)(DIR*)> dir(opendir("/proc"), closedir);
  if (!dir) return -1;
  const std::string parent = std::to_string(g_postmaster);
  while (dirent* e = readdir(dir.get())) {
    if (!std::isdigit(static_cast<unsigned char>(e->d_name[0]))) continue;
    auto c = stat_fields(static_cast<pid_t>(std::atol(e->d_name)));
    if (c.size() >= 13 && c[1] == parent) total += std::stod(c[11]) + std::stod(c[12]);
  }
  return total / tck;
}

pid_t read_postmaster_pid(const std::string& pg_dir) {
  std::ifstream d(pg_dir + "/datadir");
  std::string datadir;
  std::getline(d, datadir);
  std::ifstream p(datadir + "/postmaster.pid");
  long pid = -1;
  p >> pid;
  return pid > 0 ? static_cast<pid_t>(pid) : -1;
}

struct cpu_sample {
  unsigned long long busy = 0, total = 0;
};
cpu_sample system_cpu() {
  std::ifstream in("/proc/stat");
  std::string cpu;
  in >> cpu;
  unsigned long long v[10] = {};
  for (auto& x : v) in >> x;
  cpu_sample s;
  for (auto x : v) s.total += x;
  s.total -= v[8] + v[9];  // guest time is already in user/nice
  s.busy = s.total - v[3] - v[4];  // minus idle, iowait
  return s;
}

double self_cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
         (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// ------------------------------------------------------------- the load

std::string link_body(const std::string& account, const std::string& device,
                      const std::string& stream) {
  return "{\"account_id\":\"" + account + "\",\"device_id\":\"" + device +
         "\",\"content\":{\"type\":\"live\",\"stream\":\"" + stream +
         "\"},\"client_ip\":\"203.0.113.7\"}";
}

struct thread_result {
  std::vector<uint32_t> latency_us;
  std::map<int, uint64_t> statuses;
  uint64_t errors = 0;
  std::string first_error;
  std::string first_unexpected;  // body of the first answer other than expected
};

struct run_result {
  std::string scenario;
  int connections = 0;
  double elapsed_s = 0;
  uint64_t requests = 0;
  std::map<int, uint64_t> statuses;
  uint64_t errors = 0;
  std::string first_error, first_unexpected;
  double p50 = 0, p90 = 0, p99 = 0, max = 0, mean = 0;  // ms
  double hwm_mib = 0, rss_mib = 0;
  double daemon_cpu_s = 0, daemon_sys_s = 0, client_cpu_s = 0, pg_cpu_s = -1;
  double system_busy_s = 0;  // CPU-seconds used by everything on the machine
  double system_busy = 0;    // the same as a fraction of all cores
  std::string loadavg;       // /proc/loadavg before the window
  long long rows_before = 0, rows_after = 0;
  long long commits = -1, rows_written = -1;
  long long wal_syncs = -1;
  int exit_code = 0;
};

long long count_rows(const std::string& dsn) {
  return std::stoll(query_scalar(dsn, "SELECT count(*) FROM playback_sessions"));
}

long long wal_syncs(const std::string& server) {
  try {  // pg_stat_wal: PostgreSQL 14+; cluster-wide
    auto v = query_scalar(server, "SELECT wal_sync FROM pg_stat_wal");
    return v.empty() ? -1 : std::stoll(v);
  } catch (const std::exception&) {
    return -1;
  }
}

std::map<std::string, std::string> admin_headers(const daemon_process& d) {
  return {{"Authorization", "Bearer " + d.admin_token()}};
}

// Runs fn(i) for i in [0, n) on `threads` threads, each with its own client.
template <class Fn>
void parallel_setup(const daemon_process& d, int n, int threads, Fn fn) {
  std::atomic<int> next{0};
  std::mutex m;
  std::string failure;
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&] {
      http_client c("127.0.0.1", d.port());
      for (int i; (i = next++) < n;) {
        try {
          fn(c, i);
        } catch (const std::exception& e) {
          std::lock_guard<std::mutex> l(m);
          if (failure.empty()) failure = e.what();
          next = n;
        }
      }
    });
  for (auto& t : pool) t.join();
  if (!failure.empty()) throw std::runtime_error("set-up failed: " + failure);
}

void expect(const http_reply& r, int status, const std::string& what) {
  if (r.status != status)
    throw std::runtime_error(what + ": HTTP " + std::to_string(r.status) + " " + r.body);
}

daemon_options daemon_opts(const options& o, const std::string& dsn) {
  daemon_options d;
  d.dsn = dsn;
  // daemon.cpp writes log level debug; a benchmark measures the daemon at
  // its default level.
  if (!o.debug_log) d.env["MAXSESS__LOG__LEVEL"] = "info";
  // The set-up sessions stay pending (no Flussonic here): keep them from
  // expiring (pending_ttl 60 s) before or during the window.
  d.env["MAXSESS__PLAYBACK_SESSION__PENDING_TTL"] = "1h";
  for (const auto& [k, v] : o.daemon_env) d.env[k] = v;
  if (o.http_threads > 0) d.env["MAXSESS__NODE__HTTP_THREADS"] = std::to_string(o.http_threads);
  return d;
}

int parse_log_counter(const std::string& log, const std::string& key) {
  std::regex re("stopped.* " + key + "=\"?([0-9]+)");
  std::smatch m;
  if (std::regex_search(log, m, re)) return std::stoi(m[1]);
  return -1;
}

run_result run_one(const options& o, const std::string& server, const std::string& scenario,
                   int conns) {
  run_result res;
  res.scenario = scenario;
  res.connections = conns;
  const int setup_threads = std::min(conns, 8);
  const std::string dsn = create_migrated_database("bench_" + scenario);

  // ---- 1. set-up daemon
  {
    daemon_process d(daemon_opts(o, dsn));
    d.start();
    g_daemon_pid = d.pid();
    http_client admin("127.0.0.1", d.port());
    expect(admin.put_json("/api/v1/streamers/1", R"({"host":"s1","url":"http://s1"})",
                          admin_headers(d)),
           200, "PUT /api/v1/streamers/1");
    const int limit = scenario == "deny" ? 1 : 0;  // 0 = unlimited
    const auto body = "{\"max_sessions\":" + std::to_string(limit) + ",\"exempt\":false}";
    parallel_setup(d, o.accounts, setup_threads, [&](http_client& c, int k) {
      expect(c.put_json("/api/v1/accounts/a" + std::to_string(k), body, admin_headers(d)), 200,
             "PUT account");
    });
    const int per_account = scenario == "zap" ? o.devices : scenario == "deny" ? 1 : 0;
    parallel_setup(d, o.accounts * per_account, setup_threads, [&](http_client& c, int i) {
      auto r = c.post_json("/api/v1/links", link_body("a" + std::to_string(i / per_account),
                                                      "d" + std::to_string(i % per_account),
                                                      "ch0"));
      expect(r, 200, "warm-up link");
    });
    int rc = d.stop();
    g_daemon_pid = -1;
    if (rc != 0) throw std::runtime_error("set-up daemon exited " + std::to_string(rc));
  }
  res.rows_before = count_rows(dsn);
  const long long wal_before = wal_syncs(server);

  // ---- 2. measured daemon
  daemon_process d(daemon_opts(o, dsn));
  d.start();
  g_daemon_pid = d.pid();
  // Load every account actor first (reads only), so the window measures
  // decisions, not first loads.
  parallel_setup(d, o.accounts, setup_threads, [&](http_client& c, int k) {
    expect(c.get("/api/v1/accounts/a" + std::to_string(k), admin_headers(d)), 200,
           "GET account");
  });

  const int expected = scenario == "deny" ? 403 : 200;
  const long long fixed = static_cast<long long>(o.accounts) * o.devices;
  std::atomic<uint64_t> seq{0};
  std::atomic<bool> go{false};
  std::vector<thread_result> results(conns);
  std::vector<std::thread> threads;
  clk::time_point start, stop_at;
  for (int t = 0; t < conns; ++t)
    threads.emplace_back([&, t] {
      auto& r = results[t];
      r.latency_us.reserve(1 << 16);
      auto client = std::make_unique<http_client>("127.0.0.1", d.port());
      while (!go) std::this_thread::yield();
      while (clk::now() < stop_at && !g_interrupted) {
        const uint64_t n = seq++;
        std::string account, device, stream;
        if (scenario == "new") {
          account = "a" + std::to_string(n % o.accounts);
          device = "n" + std::to_string(n);
          stream = "ch" + std::to_string(n % 50);
        } else if (scenario == "zap") {
          const uint64_t slot = n % fixed;
          account = "a" + std::to_string(slot / o.devices);
          device = "d" + std::to_string(slot % o.devices);
          stream = "ch" + std::to_string(1 + (n / fixed) % 50);  // another channel each pass
        } else {
          account = "a" + std::to_string(n % o.accounts);
          device = "x" + std::to_string(n);
          stream = "ch1";
        }
        const auto body = link_body(account, device, stream);
        const auto t0 = clk::now();
        try {
          auto reply = client->post_json("/api/v1/links", body);
          const auto us = std::chrono::duration_cast<std::chrono::microseconds>(clk::now() - t0);
          r.latency_us.push_back(static_cast<uint32_t>(us.count()));
          r.statuses[reply.status]++;
          if (reply.status != expected && r.first_unexpected.empty())
            r.first_unexpected = std::to_string(reply.status) + " " + reply.body.substr(0, 300);
        } catch (const std::exception& e) {
          r.errors++;
          if (r.first_error.empty()) r.first_error = e.what();
          client = std::make_unique<http_client>("127.0.0.1", d.port());
        }
      }
    });

  {
    std::ifstream la("/proc/loadavg");
    std::getline(la, res.loadavg);
  }
  double sys_d0 = 0;
  const double cpu_d0 = proc_cpu_seconds(d.pid(), &sys_d0);
  const double cpu_c0 = self_cpu_seconds();
  const double cpu_p0 = pg_cpu_seconds();
  const auto sys0 = system_cpu();
  start = clk::now();
  stop_at = start + std::chrono::seconds(o.seconds);
  go = true;
  for (auto& t : threads) t.join();
  const auto end = clk::now();
  const auto sys1 = system_cpu();
  if (const double p1 = pg_cpu_seconds(); p1 >= 0 && cpu_p0 >= 0) res.pg_cpu_s = p1 - cpu_p0;
  res.client_cpu_s = self_cpu_seconds() - cpu_c0;
  double sys_d1 = 0;
  res.daemon_cpu_s = proc_cpu_seconds(d.pid(), &sys_d1) - cpu_d0;
  res.daemon_sys_s = sys_d1 - sys_d0;
  res.elapsed_s = std::chrono::duration<double>(end - start).count();
  res.system_busy = sys1.total > sys0.total
                        ? static_cast<double>(sys1.busy - sys0.busy) / (sys1.total - sys0.total)
                        : 0;
  res.system_busy_s = static_cast<double>(sys1.busy - sys0.busy) / sysconf(_SC_CLK_TCK);
  res.hwm_mib = kb_to_mib(proc_field(d.pid(), "VmHWM"));
  res.rss_mib = kb_to_mib(proc_field(d.pid(), "VmRSS"));

  res.exit_code = d.stop();
  g_daemon_pid = -1;
  const auto log = d.log();
  res.commits = parse_log_counter(log, "commits");
  res.rows_written = parse_log_counter(log, "rows");
  res.rows_after = count_rows(dsn);
  if (const long long w = wal_syncs(server); w >= 0 && wal_before >= 0)
    res.wal_syncs = w - wal_before;

  std::vector<uint32_t> all;
  for (auto& r : results) {
    all.insert(all.end(), r.latency_us.begin(), r.latency_us.end());
    for (auto& [s, n] : r.statuses) res.statuses[s] += n;
    res.errors += r.errors;
    if (res.first_error.empty()) res.first_error = r.first_error;
    if (res.first_unexpected.empty()) res.first_unexpected = r.first_unexpected;
  }
  res.requests = all.size();
  if (!all.empty()) {
    std::sort(all.begin(), all.end());
    auto pct = [&](double p) {
      auto i = static_cast<std::size_t>(p * (all.size() - 1) + 0.5);
      return all[std::min(i, all.size() - 1)] / 1000.0;
    };
    res.p50 = pct(0.50);
    res.p90 = pct(0.90);
    res.p99 = pct(0.99);
    res.max = all.back() / 1000.0;
    double sum = 0;
    for (auto v : all) sum += v;
    res.mean = sum / all.size() / 1000.0;
  }
  if (res.exit_code != 0) std::cerr << "daemon log tail:\n" << log.substr(log.size() > 3000 ? log.size() - 3000 : 0);
  // The database stays until the server is stopped (a private one is
  // deleted as a whole); drop it on a shared server.
  if (g_pg_dir.empty()) {
    try {
      auto name_pos = dsn.rfind("dbname=");
      query_scalar(server, "DROP DATABASE IF EXISTS " + dsn.substr(name_pos + 7));
    } catch (const std::exception&) {
    }
  }
  return res;
}

std::string fmt(double v, int prec = 1) {
  std::ostringstream ss;
  ss << std::fixed << std::setprecision(prec) << v;
  return ss.str();
}

double other_cpu(const run_result& r) {
  return r.system_busy_s - r.client_cpu_s - r.daemon_cpu_s - std::max(0.0, r.pg_cpu_s);
}

void print_detail(const run_result& r, int ncpu) {
  std::cout << "\n== scenario " << r.scenario << ", " << r.connections << " connections, "
            << fmt(r.elapsed_s, 2) << " s\n"
            << "requests     " << r.requests << "  (" << fmt(r.requests / r.elapsed_s, 0)
            << " req/s)\n"
            << "statuses    ";
  for (auto& [s, n] : r.statuses) std::cout << " " << s << ":" << n;
  std::cout << "  transport errors: " << r.errors << "\n"
            << "latency ms   mean " << fmt(r.mean, 2) << "  p50 " << fmt(r.p50, 2) << "  p90 "
            << fmt(r.p90, 2) << "  p99 " << fmt(r.p99, 2) << "  max " << fmt(r.max, 2) << "\n"
            << "daemon       VmHWM " << fmt(r.hwm_mib) << " MiB, VmRSS " << fmt(r.rss_mib)
            << " MiB, CPU " << fmt(r.daemon_cpu_s, 2) << " s (" << fmt(r.daemon_cpu_s / r.elapsed_s * 100, 0)
            << "% of one core; kernel " << fmt(r.daemon_sys_s, 2) << " s), "
            << fmt(r.requests ? r.daemon_cpu_s / r.requests * 1e6 : 0, 1) << " us CPU/request, exit "
            << r.exit_code << "\n"
            << "client       CPU " << fmt(r.client_cpu_s, 2) << " s ("
            << fmt(r.client_cpu_s / r.elapsed_s * 100, 0) << "% of one core)\n"
            << "PostgreSQL   CPU "
            << (r.pg_cpu_s >= 0 ? fmt(r.pg_cpu_s, 2) + " s (" + fmt(r.pg_cpu_s / r.elapsed_s * 100, 0) + "% of one core)" : "n/a (not a private server)")
            << "\n"
            << "machine      " << fmt(r.system_busy * 100, 0) << "% of " << ncpu
            << " cores busy = " << fmt(r.system_busy_s, 2) << " CPU-s; not client/daemon/PostgreSQL: "
            << fmt(std::max(0.0, other_cpu(r)), 2) << " CPU-s (other processes, kernel)\n"
            << "loadavg      " << r.loadavg << " (before the window)\n"
            << "rows         playback_sessions " << r.rows_before << " -> " << r.rows_after
            << "\n"
            << "writer       commits " << r.commits << ", rows " << r.rows_written;
  if (r.commits > 0) std::cout << " (" << fmt(double(r.rows_written) / r.commits, 1) << " rows/commit, "
                               << fmt(r.commits / r.elapsed_s, 0) << " commits/s)";
  std::cout << "\nWAL fsyncs   " << (r.wal_syncs >= 0 ? std::to_string(r.wal_syncs) : "n/a")
            << " (pg_stat_wal.wal_sync, whole server, measured daemon's lifetime)\n";
  if (!r.first_error.empty()) std::cout << "first error  " << r.first_error << "\n";
  if (!r.first_unexpected.empty()) std::cout << "unexpected   " << r.first_unexpected << "\n";
  std::cout.flush();
}

}  // namespace

int main(int argc, char** argv) {
  options o;
  try {
    o = parse(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "maxsess_bench: " << e.what() << "\n\n" << usage_text;
    return 2;
  }
  struct sigaction sa{};
  sa.sa_handler = on_signal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  const int runs = static_cast<int>(o.scenarios.size() * o.connections.size());
  // Per run: set-up, two daemon start/stops (<= 30 s + 40 s each by
  // daemon_process), the window; plus the server start.
  const auto budget = std::chrono::seconds(120 + runs * (o.seconds + 180));
  std::thread dog(watchdog, clk::now() + budget);

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
    const auto server = server_dsn();
    if (!server) throw std::runtime_error("no PostgreSQL DSN");
    for (const char* s : {"server_version", "fsync", "synchronous_commit", "full_page_writes",
                          "wal_sync_method", "shared_buffers", "commit_delay"})
      server_settings += std::string(" ") + s + "=" + query_scalar(*server, std::string("SHOW ") + s);

    const int ncpu = static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN));
    std::cout << "maxsess_bench: " << ncpu << " CPUs online (shared by this client, maxsessd and "
              << "PostgreSQL)\nserver:" << server_settings << "\nmaxsessd: " << maxsessd_path()
              << "\naccounts " << o.accounts << ", window " << o.seconds << " s\n";
    for (const auto& [k, v] : daemon_opts(o, "").env) std::cout << "daemon env " << k << "=" << v << "\n";
    for (const auto& sc : o.scenarios)
      for (int c : o.connections) {
        if (g_interrupted) break;
        results.push_back(run_one(o, *server, sc, c));
        print_detail(results.back(), ncpu);
      }

    std::cout << "\nCPU columns: CPU-seconds per second of the window (1.00 = one core busy)\n"
                 "\n| scenario | conns | req/s | statuses | p50 ms | p90 ms | p99 ms | max ms "
                 "| daemon VmHWM MiB | CPU client | CPU daemon | CPU PostgreSQL | CPU other "
                 "| rows after | commits | rows/commit |\n"
                 "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";
    for (const auto& r : results) {
      std::string st;
      for (auto& [s, n] : r.statuses) st += (st.empty() ? "" : " ") + std::to_string(s) + ":" + std::to_string(n);
      if (r.errors) st += " err:" + std::to_string(r.errors);
      auto per_s = [&](double cpu) { return cpu < 0 ? std::string("n/a") : fmt(cpu / r.elapsed_s, 2); };
      std::cout << "| " << r.scenario << " | " << r.connections << " | "
                << fmt(r.requests / r.elapsed_s, 0) << " | " << st << " | " << fmt(r.p50, 2)
                << " | " << fmt(r.p90, 2) << " | " << fmt(r.p99, 2) << " | " << fmt(r.max, 1)
                << " | " << fmt(r.hwm_mib) << " | " << per_s(r.client_cpu_s) << " | "
                << per_s(r.daemon_cpu_s) << " | " << per_s(r.pg_cpu_s) << " | "
                << per_s(std::max(0.0, other_cpu(r))) << " | " << r.rows_after << " | "
                << r.commits << " | "
                << (r.commits > 0 ? fmt(double(r.rows_written) / r.commits, 1) : "-") << " |\n";
      if (r.exit_code != 0 || r.errors > 0) rc = 1;
    }
  } catch (const std::exception& e) {
    std::cerr << "maxsess_bench: " << e.what() << "\n";
    rc = 1;
  }
  stop_private_pg();
  g_done = true;
  dog.join();
  return rc;
}
