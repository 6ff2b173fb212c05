// maxsess_bench's cluster modes; see cluster.hpp and docs/performance.md.
//
// Nodes are real `maxsessd serve` processes (optionally started under
// `taskset -c`), configured like docs/cluster.md's environment example, on
// one database of the benchmark's PostgreSQL. "Balanced" means: every
// node's own GET /api/v1/cluster lists every node alive and connected, each
// holding exactly its fair share (floor or ceil of shards/nodes, the ceil to
// the lowest ids) and every shard owned.
#include "tests/bench/cluster.hpp"

#include <signal.h>
#include <sys/types.h>

#include <algorithm>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "domain/model.hpp"
#include "tests/support/child_process.hpp"
#include "tests/support/daemon.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/pg_test.hpp"

namespace maxsess::bench {

namespace {

using namespace maxsess::test;
using namespace std::chrono_literals;

const std::string admin_token = "bench-admin-token";

double secs(clk::duration d) { return std::chrono::duration<double>(d).count(); }
double ms(clk::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// ------------------------------------------------------------------ nodes

struct node_spec {
  std::string id;
  uint16_t http_port = 0;
  uint16_t cluster_port = 0;
  bool cluster = true;
  std::vector<int> cpus;  // empty: not pinned
};

class bench_node {
 public:
  bench_node(const options& o, const std::string& dsn, node_spec spec)
      : child_("maxsess-bench-" + spec.id), spec_(std::move(spec)) {
    if (spec_.http_port == 0) spec_.http_port = free_port();
    if (spec_.cluster && spec_.cluster_port == 0) spec_.cluster_port = free_port();
    config_ = child_.dir() + "/maxsess.yaml";
    std::ofstream cfg(config_);
    cfg << "node:\n  id: " << spec_.id << "\n  http_listen: \"127.0.0.1:" << spec_.http_port
        << "\"\nstorage:\n  dsn: \"" << dsn << "\"\n"
        << "security:\n  admin_token: \"" << admin_token << "\"\n"
        << "  token_secret: \"t1:bench-secret\"\n"
        << "playback_session:\n  default_max_sessions: 3\n"
        << "log:\n  level: debug\n";  // daemon_env() sets info unless --debug-log
    env_ = daemon_env(o);
    if (spec_.cluster) {
      env_["MAXSESS_NODE_ID"] = spec_.id;
      env_["MAXSESS_CLUSTER_ENABLED"] = "true";
      env_["MAXSESS_CLUSTER_LISTEN"] = "127.0.0.1:" + std::to_string(spec_.cluster_port);
      if (!o.lease_ttl.empty()) env_["MAXSESS__CLUSTER__LEASE_TTL"] = o.lease_ttl;
    }
  }
  ~bench_node() {
    if (child_.running()) {
      ::kill(child_.pid(), SIGCONT);
      untrack_pid(child_.pid());
    }
  }  // child_process SIGKILLs what still runs

  void spawn() {
    std::vector<std::string> argv;
    if (!spec_.cpus.empty()) argv = {"taskset", "-c", cpu_list_text(spec_.cpus)};
    for (auto& a : {maxsessd_path(), std::string("serve"), std::string("--config"), config_})
      argv.push_back(a);
    child_.spawn(argv, env_);
    track_pid(child_.pid());
    ++starts_;
  }
  // /readyz 200: the database answers and (cluster) the node is in the cluster.
  void wait_ready(std::chrono::seconds limit) {
    const pid_t pid = child_.pid();
    try {
      child_.wait_ready(
          [this] { return http_client("127.0.0.1", spec_.http_port).get("/readyz").status == 200; },
          limit, "maxsessd " + spec_.id);
    } catch (...) {
      untrack_pid(pid);
      throw;
    }
  }
  int stop() {
    const pid_t pid = child_.pid();
    ::kill(pid, SIGCONT);
    int rc = child_.stop(std::chrono::seconds(40));
    untrack_pid(pid);
    return rc;
  }
  void kill9() {
    const pid_t pid = child_.pid();
    child_.kill9();  // SIGKILL, then reaps it
    untrack_pid(pid);
  }
  void signal(int sig) const { ::kill(child_.pid(), sig); }
  // Exited (a zombie not reaped yet) or gone, without us stopping it.
  bool died() const {
    if (!child_.running()) return false;
    const char st = proc_state(child_.pid());
    return st == 0 || st == 'Z';
  }

  pid_t pid() const { return child_.pid(); }
  uint16_t port() const { return spec_.http_port; }
  const node_spec& spec() const { return spec_; }
  const std::string& id() const { return spec_.id; }
  std::string log() const { return child_.log(); }
  int starts() const { return starts_; }

 private:
  child_process child_;
  node_spec spec_;
  std::string config_;
  std::map<std::string, std::string> env_;
  int starts_ = 0;
};

using node_list = std::vector<std::unique_ptr<bench_node>>;

std::vector<int> cpus_of(const options& o, std::size_t i) {
  return i < o.pin.size() ? o.pin[i] : std::vector<int>{};
}

node_list make_nodes(const options& o, const std::string& dsn, int n, bool cluster) {
  node_list nodes;
  for (int i = 0; i < n; ++i) {
    node_spec s;
    s.id = "n" + std::to_string(i + 1);
    s.cluster = cluster;
    s.cpus = cpus_of(o, static_cast<std::size_t>(i));
    nodes.push_back(std::make_unique<bench_node>(o, dsn, s));
  }
  return nodes;
}

void start_all(node_list& nodes) {
  for (auto& n : nodes) n->spawn();  // in parallel: they find each other
  for (auto& n : nodes) n->wait_ready(60s);
}

// SIGTERM to every node at once (each hands its shards off), then waits
// for each: one slow exit does not add up over the nodes.
int stop_all(node_list& nodes) {
  int worst = 0;
  for (auto& n : nodes) {
    n->signal(SIGCONT);
    n->signal(SIGTERM);
  }
  for (auto& n : nodes)
    if (int rc = n->stop(); rc != 0) {
      std::cerr << "maxsess_bench: node " << n->id() << " exited " << rc << "; log tail:\n"
                << n->log().substr(n->log().size() > 3000 ? n->log().size() - 3000 : 0) << "\n";
      worst = rc;
    }
  return worst;
}

// ------------------------------------------------------- the cluster's view

struct node_row {
  bool alive = false, connected = false, leaving = false;
  int shards = 0;
};

struct cluster_view {
  std::string self;
  int shard_count = 0;
  bool in_cluster = false;
  int held = 0;
  std::map<std::string, node_row> nodes;
  std::vector<std::string> owner;  // by shard; "" while nobody holds a valid lease
};

std::optional<cluster_view> get_view(uint16_t port, std::string* why = nullptr) {
  try {
    http_client c("127.0.0.1", port);
    auto r = c.get("/api/v1/cluster", admin_headers(admin_token));
    if (r.status != 200) {
      if (why) *why = "GET /api/v1/cluster: HTTP " + std::to_string(r.status) + " " + r.body.substr(0, 200);
      return std::nullopt;
    }
    auto j = nlohmann::json::parse(r.body);
    cluster_view v;
    v.self = j.at("node").get<std::string>();
    v.shard_count = j.at("shard_count").get<int>();
    v.in_cluster = j.at("in_cluster").get<bool>();
    v.held = j.at("held").get<int>();
    for (auto& n : j.at("nodes")) {
      node_row row;
      row.alive = n.at("alive").get<bool>();
      row.connected = n.at("connected").get<bool>();
      row.leaving = n.at("leaving").get<bool>();
      row.shards = n.at("shards").get<int>();
      v.nodes[n.at("id").get<std::string>()] = row;
    }
    v.owner.assign(static_cast<std::size_t>(std::max(0, v.shard_count)), "");
    for (auto& s : j.at("shards")) {
      const int id = s.at("shard").get<int>();
      if (id >= 0 && id < v.shard_count) v.owner[static_cast<std::size_t>(id)] = s.at("owner").get<std::string>();
    }
    return v;
  } catch (const std::exception& e) {
    if (why) *why = std::string("GET /api/v1/cluster: ") + e.what();
    return std::nullopt;
  }
}

// Balanced as seen by `v`, for the live node ids `ids`; `why` says what is not.
bool balanced(const cluster_view& v, std::vector<std::string> ids, std::string& why) {
  std::sort(ids.begin(), ids.end());  // fair shares: the ceil goes to the lowest ids
  const int n = static_cast<int>(ids.size());
  std::ostringstream s;
  s << v.self << " sees";
  bool ok = v.in_cluster;
  if (!v.in_cluster) s << " (not in cluster)";
  for (int i = 0; i < n; ++i) {
    const int share = v.shard_count / n + (i < v.shard_count % n ? 1 : 0);
    auto it = v.nodes.find(ids[i]);
    if (it == v.nodes.end()) {
      s << " " << ids[i] << ":absent";
      ok = false;
      continue;
    }
    const auto& r = it->second;
    s << " " << ids[i] << ":" << r.shards << "/" << share;
    if (!r.alive) s << "(dead)";
    if (!r.connected) s << "(unconnected)";
    if (r.leaving) s << "(leaving)";
    if (r.shards != share || !r.alive || !r.connected || r.leaving) ok = false;
  }
  int owned = 0;
  for (auto& o : v.owner)
    if (!o.empty()) {
      ++owned;
      if (std::find(ids.begin(), ids.end(), o) == ids.end()) ok = false;
    }
  if (owned != v.shard_count) {
    s << " owned " << owned << "/" << v.shard_count;
    ok = false;
  }
  why = s.str();
  return ok;
}

// Polls every node's view until all agree the cluster is balanced; returns
// the seconds it took. Throws after `limit` or when a node dies.
double wait_balanced(const std::vector<bench_node*>& nodes, std::chrono::seconds limit) {
  const auto t0 = clk::now();
  std::vector<std::string> ids;
  for (auto* n : nodes) ids.push_back(n->id());
  std::string why;
  while (clk::now() - t0 < limit) {
    if (g_interrupted) throw std::runtime_error("interrupted");
    bool all = true;
    for (auto* n : nodes) {
      if (n->died()) throw std::runtime_error("node " + n->id() + " died while the cluster balanced");
      auto v = get_view(n->port(), &why);
      if (!v || !balanced(*v, ids, why)) {
        all = false;
        break;
      }
    }
    if (all) return secs(clk::now() - t0);
    std::this_thread::sleep_for(200ms);
  }
  throw std::runtime_error("cluster not balanced after " + std::to_string(limit.count()) +
                           " s; last view: " + why);
}

std::vector<bench_node*> raw(const node_list& nodes) {
  std::vector<bench_node*> out;
  for (auto& n : nodes) out.push_back(n.get());
  return out;
}

// maxsess_forwarded_requests_total summed over peers, -1 when unreadable.
long long forwarded_total(uint16_t port) {
  try {
    http_client c("127.0.0.1", port);
    auto r = c.get("/metrics", admin_headers(admin_token));
    if (r.status != 200) return -1;
    long long sum = 0;
    std::istringstream in(r.body);
    std::string line;
    const std::string name = "maxsess_forwarded_requests_total";
    while (std::getline(in, line))
      if (line.compare(0, name.size(), name) == 0) {
        auto sp = line.rfind(' ');
        if (sp != std::string::npos) sum += static_cast<long long>(std::stod(line.substr(sp + 1)));
      }
    return sum;
  } catch (const std::exception&) {
    return -1;
  }
}

long long forwarded_total(const std::vector<bench_node*>& nodes) {
  long long sum = 0;
  for (auto* n : nodes) {
    auto f = forwarded_total(n->port());
    if (f < 0) return -1;
    sum += f;
  }
  return sum;
}

// Warn and error lines of a node's log, grouped by "level component: message".
std::map<std::string, int> log_findings(const std::string& log) {
  std::map<std::string, int> out;
  static const std::regex re(R"(^\S+Z (warn|error)\s+(.*?)( \w+=.*)?$)");
  std::istringstream in(log);
  std::string line;
  std::smatch m;
  while (std::getline(in, line))
    if (std::regex_match(line, m, re)) ++out[m[1].str() + " " + m[2].str()];
  return out;
}

void print_log_findings(const std::vector<bench_node*>& nodes) {
  std::cout << "\nwarn/error lines in the node logs (whole run):\n";
  bool any = false;
  for (auto* n : nodes)
    for (auto& [what, count] : log_findings(n->log())) {
      std::cout << "  " << n->id() << "  " << count << " x  " << what << "\n";
      any = true;
    }
  if (!any) std::cout << "  none\n";
}

// --log-dir: each node's log as DIR/<what>-<node>.log.
void save_logs(const options& o, const std::vector<bench_node*>& nodes, const std::string& what) {
  if (o.log_dir.empty()) return;
  for (auto* n : nodes) {
    const std::string path = o.log_dir + "/" + what + "-" + n->id() + ".log";
    std::ofstream out(path, std::ios::app);
    out << n->log();
    if (!out) std::cerr << "maxsess_bench: cannot write " << path << "\n";
  }
}

// ------------------------------------------------------------- comparison

struct window_spec {
  std::string label;
  std::string scenario;
  int connections = 0;
  std::string device_tag;
  std::vector<bench_node*> nodes;   // all running nodes (their CPU is counted)
  std::vector<uint16_t> ports;      // where the clients go
};

run_result measure(const options& o, const std::string& server, const std::string& dsn,
                   const window_spec& w, int ncpu) {
  run_result res;
  res.label = w.label;
  res.nodes = static_cast<int>(w.nodes.size());
  res.rows_before = count_rows(dsn);
  const long long wal_before = wal_syncs(server);
  const bool cluster = w.nodes.front()->spec().cluster;
  const long long fwd_before = cluster ? forwarded_total(w.nodes) : -1;

  load_plan plan;
  plan.scenario = w.scenario;
  plan.connections = w.connections;
  plan.seconds = o.seconds;
  plan.accounts = o.accounts;
  plan.devices = o.devices;
  plan.device_tag = w.device_tag;
  plan.ports = w.ports;
  plan.client_cpus = o.client_pin;
  for (auto* n : w.nodes) plan.daemons.push_back(n->pid());
  run_load(plan, res);

  if (cluster) {
    const long long fwd_after = forwarded_total(w.nodes);
    if (fwd_before >= 0 && fwd_after >= 0) res.forwarded = fwd_after - fwd_before;
  }
  res.rows_after = count_rows(dsn);
  res.rows_written = res.rows_after - res.rows_before;
  if (const long long wal = wal_syncs(server); wal >= 0 && wal_before >= 0) res.wal_syncs = wal - wal_before;
  for (auto* n : w.nodes)
    if (n->died()) {
      res.exit_code = -1;
      std::cerr << "maxsess_bench: node " << n->id() << " died during the window\n";
    }
  print_detail(res, ncpu);
  return res;
}

// One node on a fresh, set-up database; cluster on or off.
run_result one_node(const options& o, const std::string& server, const std::string& scenario,
                    int conns, bool cluster, int ncpu) {
  const std::string dsn = create_migrated_database("bench_" + scenario);
  set_up_database(o, dsn, scenario);
  auto nodes = make_nodes(o, dsn, 1, cluster);
  start_all(nodes);
  if (cluster) std::cout << "\n1-node cluster balanced after " << fmt(wait_balanced(raw(nodes), 120s), 1) << " s\n";
  warm_accounts(o, {nodes[0]->port()}, admin_token);
  window_spec w;
  w.label = cluster ? "1 node, cluster on" : "1 node, cluster off";
  w.scenario = scenario;
  w.connections = conns;
  w.device_tag = cluster ? "on" : "off";
  w.nodes = raw(nodes);
  w.ports = {nodes[0]->port()};
  auto res = measure(o, server, dsn, w, ncpu);
  res.exit_code = stop_all(nodes) != 0 ? 1 : res.exit_code;
  save_logs(o, raw(nodes), scenario + "-" + std::to_string(conns) + (cluster ? "-1on" : "-1off"));
  const auto log = nodes[0]->log();
  res.commits = parse_log_counter(log, "commits");
  if (res.commits >= 0) res.rows_written = parse_log_counter(log, "rows");
  drop_database(server, dsn);
  return res;
}

// N nodes on one fresh database: the clients spread over all, then all on n1.
std::vector<run_result> n_nodes(const options& o, const std::string& server,
                                const std::string& scenario, int conns, int ncpu) {
  const std::string dsn = create_migrated_database("bench_" + scenario);
  set_up_database(o, dsn, scenario);
  auto nodes = make_nodes(o, dsn, o.nodes, true);
  start_all(nodes);
  std::cout << "\n" << o.nodes << "-node cluster balanced after "
            << fmt(wait_balanced(raw(nodes), 120s), 1) << " s\n";
  std::vector<uint16_t> ports;
  for (auto& n : nodes) ports.push_back(n->port());
  warm_accounts(o, ports, admin_token);
  std::vector<run_result> out;
  window_spec w;
  w.scenario = scenario;
  w.connections = conns;
  w.nodes = raw(nodes);
  w.label = std::to_string(o.nodes) + " nodes, clients spread";
  w.device_tag = "s";
  w.ports = ports;
  out.push_back(measure(o, server, dsn, w, ncpu));
  w.label = std::to_string(o.nodes) + " nodes, clients on n1";
  w.device_tag = "1";
  w.ports = {nodes[0]->port()};
  out.push_back(measure(o, server, dsn, w, ncpu));
  if (stop_all(nodes) != 0)
    for (auto& r : out) r.exit_code = 1;
  save_logs(o, raw(nodes), scenario + "-" + std::to_string(conns) + "-" + std::to_string(o.nodes) + "nodes");
  drop_database(server, dsn);
  return out;
}

}  // namespace

std::chrono::seconds cluster_budget(const options& o) {
  const int runs = static_cast<int>(o.scenarios.size() * o.connections.size());
  long long s = 120;
  if (o.cluster_compare) s += runs * (4LL * o.seconds + 900);
  const int rounds = o.failover_kills + o.failover_freezes;
  if (rounds > 0) s += 300 + rounds * 240LL;
  return std::chrono::seconds(s);
}

int run_cluster_compare(const options& o, const std::string& server, int ncpu) {
  int rc = 0;
  std::cout << "\ncluster comparison: " << o.nodes << " nodes";
  if (!o.pin.empty()) {
    std::cout << ", pinned:";
    for (std::size_t i = 0; i < o.pin.size(); ++i)
      std::cout << " n" << i + 1 << "=" << cpu_list_text(o.pin[i]);
    std::cout << " (the 1-node runs use n1's)";
  } else {
    std::cout << ", not pinned";
  }
  std::cout << "; lease_ttl " << (o.lease_ttl.empty() ? "default" : o.lease_ttl) << "\n";
  std::vector<run_result> all;
  for (const auto& sc : o.scenarios)
    for (int c : o.connections) {
      if (g_interrupted) break;
      all.push_back(one_node(o, server, sc, c, false, ncpu));
      all.push_back(one_node(o, server, sc, c, true, ncpu));
      for (auto& r : n_nodes(o, server, sc, c, ncpu)) all.push_back(r);
    }

  std::cout << "\nCPU columns: CPU-seconds per second of the window (1.00 = one core busy); "
               "ratios: req/s over the 1-node run of the same scenario and connections\n"
               "\n| scenario | conns | set-up | req/s | vs 1 node off | vs 1 node on | statuses "
               "| p50 ms | p90 ms | p99 ms | max ms | forwarded | CPU nodes | CPU PostgreSQL "
               "| CPU client | CPU other | node CPU µs/req | rows written | WAL fsyncs |\n"
               "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";
  const run_result* off = nullptr;
  const run_result* on = nullptr;
  for (const auto& r : all) {
    if (r.label == "1 node, cluster off") off = &r;
    if (r.label == "1 node, cluster on") on = &r;
    const double rate = r.requests / r.elapsed_s;
    auto ratio = [&](const run_result* base) {
      if (!base || base->scenario != r.scenario || base->connections != r.connections || base->requests == 0)
        return std::string("-");
      return "×" + fmt(rate / (base->requests / base->elapsed_s), 2);
    };
    auto per_s = [&](double cpu) { return cpu < 0 ? std::string("n/a") : fmt(cpu / r.elapsed_s, 2); };
    std::string fwd = "-";
    if (r.forwarded >= 0 && r.requests > 0) fwd = fmt(100.0 * r.forwarded / r.requests, 1) + " %";
    std::cout << "| " << r.scenario << " | " << r.connections << " | " << r.label << " | " << fmt(rate, 0)
              << " | " << ratio(off) << " | " << ratio(on) << " | " << statuses_text(r) << " | "
              << fmt(r.p50, 2) << " | " << fmt(r.p90, 2) << " | " << fmt(r.p99, 2) << " | "
              << fmt(r.max, 1) << " | " << fwd << " | " << per_s(r.daemon_cpu_s) << " | "
              << per_s(r.pg_cpu_s) << " | " << per_s(r.client_cpu_s) << " | "
              << per_s(std::max(0.0, other_cpu(r))) << " | "
              << fmt(r.requests ? r.daemon_cpu_s / r.requests * 1e6 : 0, 0) << " | " << r.rows_written
              << " | " << (r.wal_syncs >= 0 ? std::to_string(r.wal_syncs) : "n/a") << " |\n";
    if (r.exit_code != 0 || r.errors > 0) rc = 1;
    write_json(o, "cluster:" + r.scenario + ":" + r.label, r, "vs 1 node off " + ratio(off));
  }
  std::cout.flush();
  return rc;
}

// ---------------------------------------------------------------- failover

namespace {

struct probe {
  clk::time_point sent, done;
  int status = 0;  // HTTP status; -1 no answer in time; -2 connection failed
  std::string body;
};

probe probe_once(uint16_t port, const std::string& json, int timeout_ms) {
  probe p;
  p.sent = clk::now();
  const std::string req = "POST /api/v1/links HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                          "\r\nContent-Type: application/json\r\nContent-Length: " +
                          std::to_string(json.size()) + "\r\nConnection: close\r\n\r\n" + json;
  try {
    const auto out = raw_exchange("127.0.0.1", port, req, timeout_ms);
    p.done = clk::now();
    if (out.size() < 12 || out.compare(0, 5, "HTTP/") != 0) {
      p.status = -1;
      p.body = "no answer within " + std::to_string(timeout_ms) + " ms";
      return p;
    }
    p.status = std::stoi(out.substr(9, 3));
    auto b = out.find("\r\n\r\n");
    p.body = b == std::string::npos ? "" : out.substr(b + 4, 240);
  } catch (const std::exception& e) {
    p.done = clk::now();
    p.status = -2;
    p.body = e.what();
  }
  return p;
}

// Sends one account's link request to one node in a loop until stopped.
class prober {
 public:
  prober(uint16_t port, std::string account, int timeout_ms, int gap_ms)
      : port_(port), json_(link_body(account, "probe", "ch1")), timeout_ms_(timeout_ms),
        gap_(gap_ms), th_([this] { loop(); }) {}
  ~prober() { stop(); }
  void stop() {
    stop_ = true;
    if (th_.joinable()) th_.join();
  }
  std::vector<probe> records() const {
    std::lock_guard<std::mutex> l(m_);
    return recs_;
  }
  // The first 200 to a request sent at or after t.
  std::optional<probe> first_ok_since(clk::time_point t) const {
    std::lock_guard<std::mutex> l(m_);
    for (auto& r : recs_)
      if (r.sent >= t && r.status == 200) return r;
    return std::nullopt;
  }

 private:
  void loop() {
    while (!stop_ && !g_interrupted) {
      auto p = probe_once(port_, json_, timeout_ms_);
      {
        std::lock_guard<std::mutex> l(m_);
        recs_.push_back(std::move(p));
      }
      std::this_thread::sleep_for(gap_);
    }
  }
  uint16_t port_;
  std::string json_;
  int timeout_ms_;
  std::chrono::milliseconds gap_;
  std::atomic<bool> stop_{false};
  mutable std::mutex m_;
  std::vector<probe> recs_;
  std::thread th_;
};

std::string status_name(int s) {
  return s == -1 ? "timeout" : s == -2 ? "connect-error" : std::to_string(s);
}

// --failover-load: C threads writing through every node (round-robin, one
// fresh connection per request, the probe timeout) while a round runs, so
// the victim is killed or frozen with writes in flight. Accounts L0..L299,
// devices d0..d2 asking again with another channel: each answer 200 is a
// row updated.
class background_load {
 public:
  background_load(std::vector<uint16_t> ports, int threads, int timeout_ms) : ports_(std::move(ports)) {
    for (int t = 0; t < threads; ++t)
      th_.emplace_back([this, t, timeout_ms] {
        for (uint64_t n = static_cast<uint64_t>(t); !stop_ && !g_interrupted; n += 7919) {
          const auto port = ports_[n % ports_.size()];
          const auto k = (n / 3) % 300;
          auto p = probe_once(port, link_body("L" + std::to_string(k), "d" + std::to_string(n % 3),
                                              "ch" + std::to_string(n % 50)),
                              timeout_ms);
          std::lock_guard<std::mutex> l(m_);
          ++statuses_[port][p.status];
        }
      });
  }
  ~background_load() { stop(); }
  void stop() {
    stop_ = true;
    for (auto& t : th_)
      if (t.joinable()) t.join();
  }
  // "n1 200:812 503:40, n2 …"
  std::string summary(const std::vector<bench_node*>& nodes) const {
    std::lock_guard<std::mutex> l(m_);
    std::string out;
    for (auto* nd : nodes) {
      auto it = statuses_.find(nd->port());
      if (it == statuses_.end()) continue;
      out += (out.empty() ? "" : ", ") + nd->id();
      for (auto& [st, c] : it->second) out += " " + status_name(st) + ":" + std::to_string(c);
    }
    return out;
  }

 private:
  std::vector<uint16_t> ports_;
  std::atomic<bool> stop_{false};
  mutable std::mutex m_;
  std::map<uint16_t, std::map<int, uint64_t>> statuses_;
  std::vector<std::thread> th_;
};


std::string account_owned_by(const cluster_view& v, const std::string& owner, const std::string& prefix) {
  for (int k = 0; k < 1000000; ++k) {
    auto a = prefix + std::to_string(k);
    const int s = shard_of(a, v.shard_count);
    if (s >= 0 && static_cast<std::size_t>(s) < v.owner.size() && v.owner[static_cast<std::size_t>(s)] == owner) return a;
  }
  throw std::runtime_error("no account owned by " + owner + " found in " + v.self + "'s view");
}

// One line per other session on the database: state, wait, transaction
// age, who blocks it, the query.
std::string pg_activity(const std::string& dsn) {
  try {
    return query_scalar(
        dsn,
        "SELECT string_agg(format('     pid %s %s wait %s xact %ss blocked by %s: %s', pid, state, "
        "coalesce(wait_event_type || ':' || wait_event, '-'), "
        "coalesce(round(extract(epoch FROM now() - xact_start)::numeric, 1)::text, '-'), "
        "pg_blocking_pids(pid)::text, left(regexp_replace(query, '\\s+', ' ', 'g'), 110)), "
        "E'\\n' ORDER BY pid) || E'\\n' FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()");
  } catch (const std::exception& e) {
    return std::string("     (") + e.what() + ")\n";
  }
}

struct round_result {
  int round = 0;
  std::string how;  // kill | freeze
  std::string victim, survivor, bystander;
  std::string account, bystander_account;
  double failover_ms = -1;       // kill/stop -> first 200 (request sent after it)
  double last_ok_before_ms = -1; // kill -> the last 200 answered before it
  std::map<std::string, int> after;         // statuses of the victim probes sent after the kill
  std::map<std::string, int> before;        // statuses of the victim probes before it
  std::map<std::string, int> by_statuses;   // statuses of the bystander probes
  std::vector<std::string> odd;             // anything but 200/503, with its body
  double restart_ready_s = -1;   // kill: spawn -> /readyz 200
  double rebalance_s = -1;       // restart or SIGCONT -> balanced
  std::string timeline;          // the victim-account probes, runs of equal answers
  std::string taken_by;          // the shard's owner right after the recovery
  std::string diagnosis;         // no recovery: PostgreSQL's sessions, the nodes' views
  std::string load;              // --failover-load: answers per node
};

std::optional<probe> wait_ok(uint16_t port, const std::string& account, int timeout_ms,
                             std::chrono::seconds limit, std::string& last) {
  const auto t0 = clk::now();
  const auto json = link_body(account, "probe", "ch1");
  while (clk::now() - t0 < limit && !g_interrupted) {
    auto p = probe_once(port, json, timeout_ms);
    if (p.status == 200) return p;
    last = status_name(p.status) + " " + p.body;
    std::this_thread::sleep_for(100ms);
  }
  return std::nullopt;
}

void print_stats(const std::string& what, std::vector<double> v, const std::string& unit) {
  if (v.empty()) return;
  std::sort(v.begin(), v.end());
  const double med = v.size() % 2 ? v[v.size() / 2] : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
  const int prec = unit == "s" ? 1 : 0;
  std::cout << what << " (n=" << v.size() << "): min " << fmt(v.front(), prec) << " " << unit
            << ", median " << fmt(med, prec) << " " << unit << ", max " << fmt(v.back(), prec) << " "
            << unit << "\n";
}

}  // namespace

int run_failover(const options& o, const std::string& server) {
  int rc = 0;
  const std::string dsn = create_migrated_database("bench_failover");
  auto nodes = make_nodes(o, dsn, o.nodes, true);
  std::cout << "\nfailover: " << o.nodes << " nodes, lease_ttl "
            << (o.lease_ttl.empty() ? "default (4s)" : o.lease_ttl) << ", probes every "
            << o.probe_gap_ms << " ms with a " << o.probe_timeout_ms
            << " ms client timeout, one fresh connection each";
  if (o.failover_load > 0)
    std::cout << "; background load: " << o.failover_load << " threads writing through every node";
  std::cout << "\n";
  for (auto& n : nodes)
    std::cout << "  " << n->id() << " http 127.0.0.1:" << n->port() << " cluster 127.0.0.1:"
              << n->spec().cluster_port
              << (n->spec().cpus.empty() ? "" : " CPUs " + cpu_list_text(n->spec().cpus)) << "\n";
  start_all(nodes);
  std::cout << "balanced after " << fmt(wait_balanced(raw(nodes), 120s), 1) << " s (from ready)\n";
  {
    http_client c("127.0.0.1", nodes[0]->port());
    expect(c.put_json("/api/v1/streamers/1", R"({"host":"s1","url":"http://s1"})",
                      admin_headers(admin_token)),
           200, "PUT /api/v1/streamers/1");
  }

  std::vector<round_result> rounds;
  const int total = o.failover_kills + o.failover_freezes;
  const int n = static_cast<int>(nodes.size());
  for (int i = 0; i < total && !g_interrupted; ++i) {
    round_result rr;
    rr.round = i + 1;
    rr.how = i < o.failover_kills ? "kill" : "freeze";
    auto& victim = *nodes[static_cast<std::size_t>(i % n)];
    auto& survivor = *nodes[static_cast<std::size_t>((i + 1) % n)];
    bench_node* third = n >= 3 ? nodes[static_cast<std::size_t>((i + 2) % n)].get() : nullptr;
    rr.victim = victim.id();
    rr.survivor = survivor.id();
    std::string why;
    auto view = get_view(survivor.port(), &why);
    if (!view) throw std::runtime_error("round " + std::to_string(rr.round) + ": " + why);
    const std::string prefix = "f" + std::to_string(rr.round) + "_";
    rr.account = account_owned_by(*view, victim.id(), prefix);
    if (third) {
      rr.bystander = third->id();
      rr.bystander_account = account_owned_by(*view, third->id(), prefix + "b");
    }
    // The path works before the kill: the survivor forwards to the victim,
    // and the victim knows the streamer.
    std::string last;
    if (!wait_ok(survivor.port(), rr.account, o.probe_timeout_ms, 15s, last))
      throw std::runtime_error("round " + std::to_string(rr.round) + ": " + rr.account +
                               " through " + survivor.id() + " never got 200 before the " + rr.how +
                               ": " + last);
    if (third && !wait_ok(survivor.port(), rr.bystander_account, o.probe_timeout_ms, 15s, last))
      throw std::runtime_error("round " + std::to_string(rr.round) + ": bystander " +
                               rr.bystander_account + " never got 200: " + last);

    std::unique_ptr<background_load> bg;
    if (o.failover_load > 0) {
      std::vector<uint16_t> ports;
      for (auto& nd : nodes) ports.push_back(nd->port());
      bg = std::make_unique<background_load>(ports, o.failover_load, o.probe_timeout_ms);
    }
    std::unique_ptr<prober> by;
    if (third) by = std::make_unique<prober>(survivor.port(), rr.bystander_account, o.probe_timeout_ms, o.probe_gap_ms);
    prober pr(survivor.port(), rr.account, o.probe_timeout_ms, o.probe_gap_ms);
    std::this_thread::sleep_for(300ms);
    const auto t_kill = clk::now();
    if (rr.how == "kill")
      victim.kill9();
    else
      victim.signal(SIGSTOP);
    std::optional<probe> ok;
    while (!ok && clk::now() - t_kill < 30s && !g_interrupted) {
      std::this_thread::sleep_for(5ms);
      ok = pr.first_ok_since(t_kill);
    }
    // Who took the shard over: its lease row (the nodes' views lag a round).
    if (ok) {
      try {
        rr.taken_by = query_scalar(dsn, "SELECT owner FROM shard_leases WHERE shard = " +
                                            std::to_string(shard_of(rr.account, view->shard_count)));
      } catch (const std::exception&) {
      }
    }
    if (!ok) {
      // Still down: what PostgreSQL and the live nodes see, before SIGCONT.
      rr.diagnosis = "   pg_stat_activity of the cluster's database (other sessions):\n" +
                     pg_activity(dsn) + "   views of the other nodes:";
      std::vector<std::string> ids;
      for (auto& nd : nodes) ids.push_back(nd->id());
      for (auto& nd : nodes) {
        if (nd.get() == &victim) continue;
        std::string why;
        auto v = get_view(nd->port(), &why);
        if (v) balanced(*v, ids, why);
        rr.diagnosis += "\n     " + why;
      }
      rr.diagnosis += "\n";
    }
    std::this_thread::sleep_for(200ms);  // a few answers after the recovery
    pr.stop();
    if (by) by->stop();
    if (bg) {
      bg->stop();
      rr.load = bg->summary(raw(nodes));
    }
    if (ok) rr.failover_ms = ms(ok->done - t_kill);
    const auto recs = pr.records();
    for (auto& p : recs) {
      const bool after = p.sent >= t_kill;
      if (after && ok && p.sent >= ok->sent) continue;  // the recovery and after: checked below
      auto& bucket = after ? rr.after : rr.before;
      bucket[status_name(p.status)]++;
      if (!after && p.status == 200) rr.last_ok_before_ms = ms(p.done - t_kill);
      // A request in flight at the kill may fail with 503 too.
      const bool expected = p.status == 200 || (p.done >= t_kill && p.status == 503);
      if (!expected && rr.odd.size() < 5)
        rr.odd.push_back("victim-account probe " + std::string(after ? "after" : "before") + " the " +
                         rr.how + " at " + fmt(ms(p.sent - t_kill), 0) + " ms: " + status_name(p.status) +
                         " " + p.body);
    }
    // Timeline: runs of equal answers, from the last probe sent before the kill.
    {
      std::size_t i = 0;
      for (std::size_t k = 0; k < recs.size(); ++k)
        if (recs[k].sent < t_kill) i = k;
      while (i < recs.size()) {
        std::size_t j = i;
        while (j + 1 < recs.size() && recs[j + 1].status == recs[i].status) ++j;
        rr.timeline += (rr.timeline.empty() ? "" : ", ") + status_name(recs[i].status) +
                       (j > i ? "×" + std::to_string(j - i + 1) : "") + " sent " +
                       fmt(ms(recs[i].sent - t_kill), 0) +
                       (j > i ? ".." + fmt(ms(recs[j].sent - t_kill), 0) : "") + " ms";
        i = j + 1;
      }
    }
    for (auto& p : recs)
      if (ok && p.sent > ok->sent && p.status != 200 && rr.odd.size() < 8)
        rr.odd.push_back("victim-account probe after the recovery, at " + fmt(ms(p.sent - t_kill), 0) +
                         " ms: " + status_name(p.status) + " " + p.body);
    if (by)
      for (auto& p : by->records()) {
        rr.by_statuses[status_name(p.status)]++;
        if (p.status != 200 && rr.odd.size() < 10)
          rr.odd.push_back("bystander " + rr.bystander_account + " (owner " + rr.bystander + ") at " +
                           fmt(ms(p.sent - t_kill), 0) + " ms: " + status_name(p.status) + " " + p.body);
      }

    // Back to a balanced cluster of all nodes.
    const auto t_back = clk::now();
    if (rr.how == "kill") {
      victim.spawn();
      victim.wait_ready(60s);
      rr.restart_ready_s = secs(clk::now() - t_back);
    } else {
      victim.signal(SIGCONT);
    }
    try {
      wait_balanced(raw(nodes), 120s);
      rr.rebalance_s = secs(clk::now() - t_back);
    } catch (const std::exception& e) {
      rr.odd.push_back(std::string("no balance after the round: ") + e.what());
      rr.rebalance_s = -1;
    }

    std::cout << "\n-- round " << rr.round << " (" << rr.how << "): victim " << rr.victim << ", probes for "
              << rr.account << " through " << rr.survivor;
    if (third) std::cout << ", bystander " << rr.bystander_account << " (owner " << rr.bystander << ")";
    std::cout << "\n   timeline (ms from the " << rr.how << "): " << rr.timeline;
    std::cout << "\n   first 200 after the " << rr.how << ": "
              << (rr.failover_ms >= 0 ? fmt(rr.failover_ms, 0) + " ms" : std::string("NEVER (30 s)"))
              << "; last 200 before it " << fmt(rr.last_ok_before_ms, 0) << " ms; shard taken by "
              << (rr.taken_by.empty() ? "?" : rr.taken_by) << "\n   victim-account probes between:";
    for (auto& [s, c] : rr.after) std::cout << " " << s << ":" << c;
    if (third) {
      std::cout << "\n   bystander probes (whole round):";
      for (auto& [s, c] : rr.by_statuses) std::cout << " " << s << ":" << c;
    }
    if (!rr.load.empty()) std::cout << "\n   background load (until the recovery): " << rr.load;
    std::cout << "\n   " << (rr.how == "kill" ? "restart: ready after " + fmt(rr.restart_ready_s, 1) + " s, " : std::string("SIGCONT: "))
              << "balanced after " << (rr.rebalance_s >= 0 ? fmt(rr.rebalance_s, 1) + " s" : std::string("NEVER")) << "\n";
    for (auto& s : rr.odd) std::cout << "   ODD: " << s << "\n";
    std::cout << rr.diagnosis;
    std::cout.flush();
    if (rr.failover_ms < 0) rc = 1;
    rounds.push_back(rr);
    if (rr.rebalance_s < 0) {
      rc = 1;
      break;  // the cluster is not in a state to go on
    }
  }

  std::cout << "\n| round | signal | victim | probes via | taken by | first 200 after ms | probes between "
               "| bystander non-200 | rebalance s | odd |\n|---|---|---|---|---|---|---|---|---|---|\n";
  std::vector<double> kill_ms, freeze_ms, kill_rebalance, freeze_rebalance;
  for (auto& r : rounds) {
    std::string between;
    for (auto& [s, c] : r.after) between += (between.empty() ? "" : " ") + s + ":" + std::to_string(c);
    int by_bad = 0;
    for (auto& [s, c] : r.by_statuses)
      if (s != "200") by_bad += c;
    std::cout << "| " << r.round << " | " << (r.how == "kill" ? "SIGKILL" : "SIGSTOP") << " | " << r.victim
              << " | " << r.survivor << " | " << (r.taken_by.empty() ? "?" : r.taken_by)
              << " | " << (r.failover_ms >= 0 ? fmt(r.failover_ms, 0) : "never") << " | " << between << " | "
              << (r.by_statuses.empty() ? "-" : std::to_string(by_bad)) << " | "
              << (r.rebalance_s >= 0 ? fmt(r.rebalance_s, 1) : "never") << " | " << r.odd.size() << " |\n";
    if (r.failover_ms >= 0) (r.how == "kill" ? kill_ms : freeze_ms).push_back(r.failover_ms);
    if (r.rebalance_s >= 0) (r.how == "kill" ? kill_rebalance : freeze_rebalance).push_back(r.rebalance_s);
  }
  std::cout << "\n";
  print_stats("kill -9: first 200 after the kill", kill_ms, "ms");
  print_stats("SIGSTOP: first 200 after the freeze", freeze_ms, "ms");
  print_stats("kill -9: restart until balanced", kill_rebalance, "s");
  print_stats("SIGSTOP: SIGCONT until balanced", freeze_rebalance, "s");
  print_log_findings(raw(nodes));
  if (stop_all(nodes) != 0) rc = 1;
  save_logs(o, raw(nodes), "failover");
  drop_database(server, dsn);
  return rc;
}

}  // namespace maxsess::bench
