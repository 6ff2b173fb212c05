#include "tests/bench/bench_common.hpp"

#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <memory>
#include <mutex>
#include <regex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "tests/support/daemon.hpp"
#include "tests/support/pg_test.hpp"

namespace maxsess::bench {

using namespace maxsess::test;

std::string& json_path() {
  static std::string path;
  return path;
}

int& loadgen_threads() {
  static int threads = 1;
  return threads;
}

// ---------------------------------------------------------------- safety net

std::atomic<bool> g_interrupted{false};
std::string g_pg_dir;
pid_t g_postmaster = -1;

namespace {

std::mutex g_pids_mutex;
std::set<pid_t> g_pids;
std::atomic<bool> g_done{false};
std::thread g_dog;

// Kills what we started when the whole run overstays its budget or ^C.
void watchdog(clk::time_point deadline) {
  while (!g_done) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    const bool late = clk::now() > deadline;
    if (!late && !g_interrupted) continue;
    std::cerr << "maxsess_bench: " << (late ? "time budget exceeded" : "interrupted")
              << ", cleaning up\n";
    {
      std::lock_guard<std::mutex> l(g_pids_mutex);
      for (pid_t p : g_pids) {
        ::kill(p, SIGCONT);  // a frozen node (--freeze) too
        ::kill(p, SIGKILL);
      }
    }
    stop_private_pg();
    std::_Exit(3);
  }
}

}  // namespace

void track_pid(pid_t pid) {
  if (pid <= 0) return;
  std::lock_guard<std::mutex> l(g_pids_mutex);
  g_pids.insert(pid);
}

void untrack_pid(pid_t pid) {
  std::lock_guard<std::mutex> l(g_pids_mutex);
  g_pids.erase(pid);
}

void start_watchdog(clk::time_point deadline) { g_dog = std::thread(watchdog, deadline); }

void stop_watchdog() {
  g_done = true;
  if (g_dog.joinable()) g_dog.join();
}

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

// ------------------------------------------------------------------ CPUs

std::vector<int> parse_cpu_list(const std::string& s) {
  std::vector<int> out;
  std::string item;
  auto bad = [&] { return std::invalid_argument("not a CPU list: '" + s + "' (e.g. 0-3 or 0-1+8-9)"); };
  auto num = [&](const std::string& t) {
    if (t.empty() || t.size() > 4 || !std::all_of(t.begin(), t.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }))
      throw bad();
    return std::stoi(t);
  };
  std::stringstream ss(s);
  while (std::getline(ss, item, '+')) {
    std::stringstream parts(item);
    std::string range;
    while (std::getline(parts, range, ',')) {
      auto dash = range.find('-');
      int lo = num(range.substr(0, dash));
      int hi = dash == std::string::npos ? lo : num(range.substr(dash + 1));
      if (hi < lo || hi >= CPU_SETSIZE) throw bad();
      for (int c = lo; c <= hi; ++c) out.push_back(c);
    }
  }
  if (out.empty()) throw bad();
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::string cpu_list_text(const std::vector<int>& cpus) {
  std::string out;
  for (int c : cpus) out += (out.empty() ? "" : ",") + std::to_string(c);
  return out;
}

namespace {
cpu_set_t to_set(const std::vector<int>& cpus) {
  cpu_set_t set;
  CPU_ZERO(&set);
  for (int c : cpus) CPU_SET(c, &set);
  return set;
}
}  // namespace

void pin_this_thread(const std::vector<int>& cpus) {
  if (cpus.empty()) return;
  auto set = to_set(cpus);
  if (int e = pthread_setaffinity_np(pthread_self(), sizeof set, &set); e != 0)
    throw std::runtime_error("pthread_setaffinity_np(" + cpu_list_text(cpus) +
                             ") failed: " + std::strerror(e));
}

bool pin_process(pid_t pid, const std::vector<int>& cpus) {
  auto set = to_set(cpus);
  bool ok = true;
  std::unique_ptr<DIR, int (*)(DIR*)> dir(opendir(("/proc/" + std::to_string(pid) + "/task").c_str()),
                                          closedir);
  if (!dir) return errno == ENOENT;  // it exited meanwhile
  while (dirent* e = readdir(dir.get())) {
    if (!std::isdigit(static_cast<unsigned char>(e->d_name[0]))) continue;
    if (sched_setaffinity(static_cast<pid_t>(std::atol(e->d_name)), sizeof set, &set) != 0 &&
        errno != ESRCH)
      ok = false;
  }
  return ok;
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

namespace {
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
}  // namespace

char proc_state(pid_t pid) {
  auto f = stat_fields(pid);
  return f.empty() || f[0].empty() ? 0 : f[0][0];
}

// utime + stime of a process, seconds; `sys` gets stime alone.
double proc_cpu_seconds(pid_t pid, double* sys) {
  auto f = stat_fields(pid);
  if (f.size() < 13) return 0;
  const double tck = static_cast<double>(sysconf(_SC_CLK_TCK));
  if (sys) *sys = std::stod(f[12]) / tck;
  return (std::stod(f[11]) + std::stod(f[12])) / tck;
}

std::vector<pid_t> pg_processes() {
  std::vector<pid_t> out;
  if (g_postmaster <= 0) return out;
  out.push_back(g_postmaster);
  std::unique_ptr<DIR, int (*)(DIR*)> dir(opendir("/proc"), closedir);
  if (!dir) return out;
  const std::string parent = std::to_string(g_postmaster);
  while (dirent* e = readdir(dir.get())) {
    if (!std::isdigit(static_cast<unsigned char>(e->d_name[0]))) continue;
    const auto pid = static_cast<pid_t>(std::atol(e->d_name));
    auto c = stat_fields(pid);
    if (c.size() >= 2 && c[1] == parent) out.push_back(pid);
  }
  return out;
}

// The PostgreSQL server's CPU: the postmaster (with its reaped children) and
// every live child process. -1 when its processes are not known here.
double pg_cpu_seconds() {
  if (g_postmaster <= 0) return -1;
  const double tck = static_cast<double>(sysconf(_SC_CLK_TCK));
  double total = 0;
  auto f = stat_fields(g_postmaster);
  if (f.size() < 15) return -1;
  for (int i = 11; i <= 14; ++i) total += std::stod(f[i]);
  for (pid_t p : pg_processes()) {
    if (p == g_postmaster) continue;
    auto c = stat_fields(p);
    if (c.size() >= 13) total += std::stod(c[11]) + std::stod(c[12]);
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

pid_t postmaster_of(const std::string& server_dsn) {
  try {  // superuser only; the file is readable when we are root or its owner
    const auto datadir = query_scalar(server_dsn, "SHOW data_directory");
    std::ifstream p(datadir + "/postmaster.pid");
    long pid = -1;
    p >> pid;
    if (pid <= 0 || stat_fields(static_cast<pid_t>(pid)).empty()) return -1;
    return static_cast<pid_t>(pid);
  } catch (const std::exception&) {
    return -1;
  }
}

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

void run_load(const load_plan& p, run_result& res) {
  const int expected = p.scenario == "deny" ? 403 : 200;
  const long long fixed = static_cast<long long>(p.accounts) * p.devices;
  // The request of sequence number n (unique over the whole window).
  auto make = [&p, fixed](loadgen::request& r, const loadgen::gen_state& g) {
    const uint64_t n = g.seq;
    std::string account, device, stream;
    if (p.scenario == "new") {
      account = "a" + std::to_string(n % p.accounts);
      device = "n" + p.device_tag + std::to_string(n);
      stream = "ch" + std::to_string(n % 50);
    } else if (p.scenario == "cold") {
      // Every request for an account nobody asked about before: the
      // owner must load it (the cold path), then approve and write.
      account = "c" + p.device_tag + std::to_string(n);
      device = "d0";
      stream = "ch1";
    } else if (p.scenario == "zap") {
      const uint64_t slot = n % fixed;
      account = "a" + std::to_string(slot / p.devices);
      device = "d" + std::to_string(slot % p.devices);
      stream = "ch" + std::to_string(1 + (n / fixed) % 50);  // another channel each pass
    } else {
      account = "a" + std::to_string(n % p.accounts);
      device = "x" + p.device_tag + std::to_string(n);
      stream = "ch1";
    }
    r.method = "POST";
    r.target = "/api/v1/links";
    r.headers.emplace_back("Content-Type", "application/json");
    r.body = link_body(account, device, stream);
  };
  run_load_with(p, make, expected, res);
}

void run_load_with(const load_plan& p, const loadgen::request_fn& make, int expected,
                   run_result& res) {
  if (p.ports.empty()) throw std::invalid_argument("run_load: no ports");
  res.scenario = p.scenario;
  res.connections = p.connections;
  loadgen::options lo;
  lo.ports = p.ports;
  lo.connections = p.connections;
  lo.threads = std::max(1, p.loadgen_threads > 0 ? p.loadgen_threads : loadgen_threads());
  if (p.check) lo.check = p.check;
  lo.open_loop = p.open_loop;
  lo.rate = p.rate;
  lo.warmup = std::chrono::milliseconds(p.warmup_ms);
  lo.duration = std::chrono::milliseconds(p.seconds * 1000);
  lo.interrupted = &g_interrupted;
  lo.make_request = make;
  lo.on_thread_start = [&p](int) { pin_this_thread(p.client_cpus); };

  {
    std::ifstream la("/proc/loadavg");
    std::getline(la, res.loadavg);
  }
  auto daemons_cpu = [&](double* sys) {
    double all = 0, s_all = 0;
    for (pid_t pid : p.daemons) {
      double s = 0;
      all += proc_cpu_seconds(pid, &s);
      s_all += s;
    }
    *sys = s_all;
    return all;
  };
  // The counters are read when the window starts (after the warm-up) and
  // when it ends, by a thread of their own: loadgen::run blocks meanwhile.
  double sys_d0 = 0, cpu_d0 = 0, cpu_p0 = -1;
  cpu_sample sys0;
  std::thread sampler([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(p.warmup_ms + 2));
    cpu_d0 = daemons_cpu(&sys_d0);
    cpu_p0 = pg_cpu_seconds();
    sys0 = system_cpu();
  });
  loadgen::result lr;
  try {
    lr = loadgen::run(lo, {expected});
  } catch (...) {
    sampler.join();
    throw;
  }
  sampler.join();
  // Open loop: the drain after the window (answers still awaited) adds a
  // little to these CPU figures; the closed loop stops at the window's end.
  const auto sys1 = system_cpu();
  if (const double p1 = pg_cpu_seconds(); p1 >= 0 && cpu_p0 >= 0) res.pg_cpu_s = p1 - cpu_p0;
  res.client_cpu_s = lr.cpu_s;
  double sys_d1 = 0;
  res.daemon_cpu_s = daemons_cpu(&sys_d1) - cpu_d0;
  res.daemon_sys_s = sys_d1 - sys_d0;
  res.elapsed_s = lr.elapsed_s;
  res.system_busy = sys1.total > sys0.total
                        ? static_cast<double>(sys1.busy - sys0.busy) / (sys1.total - sys0.total)
                        : 0;
  res.system_busy_s = static_cast<double>(sys1.busy - sys0.busy) / sysconf(_SC_CLK_TCK);
  res.hwm_mib = res.rss_mib = 0;
  for (pid_t pid : p.daemons) {
    res.hwm_mib += kb_to_mib(proc_field(pid, "VmHWM"));
    res.rss_mib += kb_to_mib(proc_field(pid, "VmRSS"));
  }
  res.requests = lr.requests;
  res.late = lr.late;
  res.unexpected = lr.unexpected;
  for (auto& [s, n] : lr.statuses) res.statuses[s] += n;
  res.errors += lr.errors;
  res.first_error = lr.first_error;
  res.first_unexpected = lr.first_unexpected;
  res.sample_body = lr.sample_body;
  if (lr.latency.count() > 0) {
    res.p50 = lr.quantile_ms(0.50);
    res.p90 = lr.quantile_ms(0.90);
    res.p99 = lr.quantile_ms(0.99);
    res.max = lr.latency.max_ns() / 1e6;
    res.mean = lr.latency.mean_ns() / 1e6;
  }
}

void write_json(const options& o, const std::string& scenario, const run_result& r,
                const std::string& note) {
  loadgen::figure f;
  f.scenario = scenario;
  f.value = r.elapsed_s > 0 ? r.requests / r.elapsed_s : 0;
  f.p50_ms = r.p50;
  f.p99_ms = r.p99;
  f.cpu_us_per_op = r.requests ? r.daemon_cpu_s * 1e6 / r.requests : -1;
  f.rss_mib = r.rss_mib;
  std::string n = note;
  auto add = [&n](const std::string& t) { n += (n.empty() ? "" : "; ") + t; };
  add(std::to_string(r.connections) + " conns, statuses " + statuses_text(r));
  if (r.late) add(std::to_string(r.late) + " late (counted in the percentiles)");
  if (r.requests && r.pg_cpu_s >= 0) add("PostgreSQL " + fmt(r.pg_cpu_s * 1e6 / r.requests, 0) + " us/req");
  if (r.requests) add("client " + fmt(r.client_cpu_s * 1e6 / r.requests, 1) + " us/req");
  // What processes outside the measurement took (other agents' builds on a
  // shared machine): the table flags windows where it was large.
  const double ncpu = static_cast<double>(sysconf(_SC_NPROCESSORS_ONLN));
  if (r.elapsed_s > 0)
    add("machine " + fmt(r.system_busy * 100, 0) + "% busy, others " +
        fmt(std::max(0.0, other_cpu(r)) / r.elapsed_s / ncpu * 100, 0) + "% of the cores");
  f.note = n;
  loadgen::append_json(json_path(), f);
}

std::map<std::string, std::string> admin_headers(const std::string& token) {
  return {{"Authorization", "Bearer " + token}};
}

void expect(const http_reply& r, int status, const std::string& what) {
  if (r.status != status)
    throw std::runtime_error(what + ": HTTP " + std::to_string(r.status) + " " + r.body);
}

void parallel_for(const std::vector<uint16_t>& ports, int n, int threads,
                  const std::function<void(http_client&, int)>& fn) {
  std::atomic<int> next{0};
  std::mutex m;
  std::string failure;
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t)
    pool.emplace_back([&, t] {
      http_client c("127.0.0.1", ports[t % ports.size()]);
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

std::map<std::string, std::string> daemon_env(const options& o) {
  std::map<std::string, std::string> env;
  // daemon.cpp writes log level debug; a benchmark measures the daemon at
  // its default level.
  if (!o.debug_log) env["MAXSESS__LOG__LEVEL"] = "info";
  // The set-up sessions stay pending (no Flussonic here): keep them from
  // expiring (pending_ttl 60 s) before or during the window.
  env["MAXSESS__PLAYBACK_SESSION__PENDING_TTL"] = "1h";
  for (const auto& [k, v] : o.daemon_env) env[k] = v;
  if (o.http_threads >= 0) env["MAXSESS__NODE__HTTP_THREADS"] = std::to_string(o.http_threads);
  return env;
}

namespace {
int setup_threads(const options& o) {
  return std::min(*std::max_element(o.connections.begin(), o.connections.end()), 8);
}
}  // namespace

void set_up_database(const options& o, const std::string& dsn, const std::string& scenario) {
  daemon_options opts;
  opts.dsn = dsn;
  opts.env = daemon_env(o);
  daemon_process d(opts);
  d.start();
  track_pid(d.pid());
  const pid_t pid = d.pid();
  const std::vector<uint16_t> port{d.port()};
  const auto adm = admin_headers(d.admin_token());
  http_client admin("127.0.0.1", d.port());
  expect(admin.put_json("/api/v1/streamers/1", R"({"host":"s1","url":"http://s1"})", adm), 200,
         "PUT /api/v1/streamers/1");
  const int limit = scenario == "deny" ? 1 : 0;  // 0 = unlimited
  const auto body = "{\"max_sessions\":" + std::to_string(limit) + ",\"exempt\":false}";
  parallel_for(port, o.accounts, setup_threads(o), [&](http_client& c, int k) {
    expect(c.put_json("/api/v1/accounts/a" + std::to_string(k), body, adm), 200, "PUT account");
  });
  const int per_account = scenario == "zap" ? o.devices : scenario == "deny" ? 1 : 0;
  parallel_for(port, o.accounts * per_account, setup_threads(o), [&](http_client& c, int i) {
    auto r = c.post_json("/api/v1/links", link_body("a" + std::to_string(i / per_account),
                                                    "d" + std::to_string(i % per_account), "ch0"));
    expect(r, 200, "warm-up link");
  });
  int rc = d.stop();
  untrack_pid(pid);
  if (rc != 0) throw std::runtime_error("set-up daemon exited " + std::to_string(rc));
}

void warm_accounts(const options& o, const std::vector<uint16_t>& ports, const std::string& token) {
  const auto adm = admin_headers(token);
  parallel_for(ports, o.accounts, setup_threads(o), [&](http_client& c, int k) {
    expect(c.get("/api/v1/accounts/a" + std::to_string(k), adm), 200, "GET account");
  });
}

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

int parse_log_counter(const std::string& log, const std::string& key) {
  std::regex re("stopped.* " + key + "=\"?([0-9]+)");
  std::smatch m;
  if (std::regex_search(log, m, re)) return std::stoi(m[1]);
  return -1;
}

void drop_database(const std::string& server, const std::string& dsn) {
  // A private server is deleted as a whole; drop it on a shared one.
  if (!g_pg_dir.empty()) return;
  try {
    auto name_pos = dsn.rfind("dbname=");
    query_scalar(server, "DROP DATABASE IF EXISTS " + dsn.substr(name_pos + 7));
  } catch (const std::exception&) {
  }
}

std::string fmt(double v, int prec) {
  std::ostringstream ss;
  ss << std::fixed << std::setprecision(prec) << v;
  return ss.str();
}

std::string statuses_text(const run_result& r) {
  std::string st;
  for (auto& [s, n] : r.statuses)
    st += (st.empty() ? "" : " ") + std::to_string(s) + ":" + std::to_string(n);
  if (r.errors) st += " err:" + std::to_string(r.errors);
  return st;
}

double other_cpu(const run_result& r) {
  return r.system_busy_s - r.client_cpu_s - r.daemon_cpu_s - std::max(0.0, r.pg_cpu_s);
}

void print_detail(const run_result& r, int ncpu) {
  const std::string who = r.nodes > 1 ? "nodes (sum)" : "daemon     ";
  std::cout << "\n== scenario " << r.scenario << ", " << r.connections << " connections, "
            << (r.label.empty() ? "" : r.label + ", ") << fmt(r.elapsed_s, 2) << " s\n"
            << "requests     " << r.requests << "  (" << fmt(r.requests / r.elapsed_s, 0)
            << " req/s)\n"
            << "statuses    ";
  for (auto& [s, n] : r.statuses) std::cout << " " << s << ":" << n;
  std::cout << "  transport errors: " << r.errors;
  if (r.late) std::cout << "  late (open loop, unanswered at the end): " << r.late;
  std::cout << "\n"
            << "latency ms   mean " << fmt(r.mean, 2) << "  p50 " << fmt(r.p50, 2) << "  p90 "
            << fmt(r.p90, 2) << "  p99 " << fmt(r.p99, 2) << "  max " << fmt(r.max, 2) << "\n"
            << who << "  VmHWM " << fmt(r.hwm_mib) << " MiB, VmRSS " << fmt(r.rss_mib)
            << " MiB, CPU " << fmt(r.daemon_cpu_s, 2) << " s (" << fmt(r.daemon_cpu_s / r.elapsed_s * 100, 0)
            << "% of one core; kernel " << fmt(r.daemon_sys_s, 2) << " s), "
            << fmt(r.requests ? r.daemon_cpu_s / r.requests * 1e6 : 0, 1) << " us CPU/request, exit "
            << r.exit_code << "\n"
            << "client       CPU " << fmt(r.client_cpu_s, 2) << " s ("
            << fmt(r.client_cpu_s / r.elapsed_s * 100, 0) << "% of one core, "
            << fmt(r.requests ? r.client_cpu_s / r.requests * 1e6 : 0, 1) << " us/request)\n"
            << "PostgreSQL   CPU "
            << (r.pg_cpu_s >= 0 ? fmt(r.pg_cpu_s, 2) + " s (" + fmt(r.pg_cpu_s / r.elapsed_s * 100, 0) + "% of one core)" : "n/a (server processes not visible here)")
            << "\n"
            << "machine      " << fmt(r.system_busy * 100, 0) << "% of " << ncpu
            << " cores busy = " << fmt(r.system_busy_s, 2) << " CPU-s; not client/daemon/PostgreSQL: "
            << fmt(std::max(0.0, other_cpu(r)), 2) << " CPU-s (other processes, kernel)\n"
            << "loadavg      " << r.loadavg << " (before the window)\n"
            << "rows         playback_sessions " << r.rows_before << " -> " << r.rows_after
            << "\n";
  if (r.commits >= 0 || r.label.empty()) {  // cluster modes: only once the nodes stopped
    std::cout << "writer       commits " << r.commits << ", rows " << r.rows_written;
    if (r.commits > 0)
      std::cout << " (" << fmt(double(r.rows_written) / r.commits, 1) << " rows/commit, "
                << fmt(r.commits / r.elapsed_s, 0) << " commits/s)";
    std::cout << "\n";
  }
  std::cout << "WAL fsyncs   " << (r.wal_syncs >= 0 ? std::to_string(r.wal_syncs) : "n/a")
            << " (pg_stat_wal.wal_sync, whole server, "
            << (r.nodes > 1 || r.forwarded >= 0 ? "the window" : "measured daemon's lifetime") << ")\n";
  if (r.forwarded >= 0)
    std::cout << "forwarded    " << r.forwarded << " requests to the owner node ("
              << fmt(r.requests ? 100.0 * r.forwarded / r.requests : 0, 1) << "% of the requests)\n";
  if (!r.first_error.empty()) std::cout << "first error  " << r.first_error << "\n";
  if (!r.first_unexpected.empty()) std::cout << "unexpected   " << r.first_unexpected << "\n";
  std::cout.flush();
}

}  // namespace maxsess::bench
