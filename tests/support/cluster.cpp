#include "tests/support/cluster.hpp"

#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <sys/wait.h>
#include <unistd.h>

#include "domain/model.hpp"
#include "tests/support/daemon.hpp"
#include "tests/support/pg_test.hpp"

extern char** environ;

namespace maxsess::test {

using nlohmann::json;

namespace {

std::string tail_lines(const std::string& text, std::size_t lines) {
  std::size_t pos = text.size();
  if (pos > 0 && text[pos - 1] == '\n') --pos;
  for (std::size_t n = 0; n < lines; ++n) {
    if (pos == 0) return text;
    auto p = text.rfind('\n', pos - 1);
    if (p == std::string::npos) return text;
    pos = p;
  }
  return text.substr(pos + 1);
}

// 'R', 'S', 'T' (stopped), 'Z' (exited, not reaped), ... ; 0 when gone.
char process_state(pid_t pid) {
  if (pid <= 0) return 0;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return 0;
  auto close = line.rfind(')');
  if (close == std::string::npos || close + 2 >= line.size()) return 0;
  return line[close + 2];
}

std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  return out + "'";
}

void fill(op_result& r, const http_reply& rep) {
  r.status = rep.status;
  r.retry_after = rep.headers.count("retry-after") > 0;
  auto j = json::parse(rep.body, nullptr, false);
  if (j.is_object()) {
    if (j.contains("error") && j["error"].is_object() && j["error"].contains("code") &&
        j["error"]["code"].is_string())
      r.code = j["error"]["code"].get<std::string>();
    if (j.contains("token") && j["token"].is_string()) r.token = j["token"].get<std::string>();
  }
}

double seconds_since(time_ns t0, time_ns t) { return static_cast<double>(t - t0) / 1e9; }

}  // namespace

// --- cluster --------------------------------------------------------------------

struct cluster::node {
  std::string id;
  uint16_t http = 0;
  uint16_t cport = 0;
  std::unique_ptr<child_process> proc;
  bool frozen = false;
};

cluster::cluster(cluster_options opts) : opts_(std::move(opts)) {
  config_path_ = std::string(MAXSESS_SOURCE_DIR) + "/config/example.yaml";
  if (const char* src = std::getenv("MAXSESS_SOURCE_DIR"); src && *src)
    config_path_ = std::string(src) + "/config/example.yaml";
  dsn_ = create_database("cluster");
  for (int i = 0; i < opts_.nodes; ++i) add_node();
  // The schema, the way an operator creates it.
  std::string out;
  int rc = run_command("migrate", env_of(0), out);
  if (rc != 0) throw std::runtime_error("maxsessd migrate failed (" + std::to_string(rc) + "):\n" + out);
}

cluster::~cluster() {
  for (auto& n : nodes_) {
    if (n->proc && n->proc->running()) {
      if (n->frozen) ::kill(n->proc->pid(), SIGCONT);
      n->proc->kill9();
    }
  }
}

cluster::node& cluster::at(int i) const {
  if (i < 0 || i >= size()) throw std::out_of_range("cluster: no node " + std::to_string(i));
  return *nodes_[static_cast<std::size_t>(i)];
}

int cluster::add_node() {
  auto n = std::make_unique<node>();
  n->id = "n" + std::to_string(nodes_.size() + 1);
  std::set<uint16_t> taken;
  for (auto& o : nodes_) taken.insert({o->http, o->cport});
  do n->http = free_port(); while (taken.count(n->http));
  taken.insert(n->http);
  do n->cport = free_port(); while (taken.count(n->cport));
  n->proc = std::make_unique<child_process>("maxsessd-" + n->id);
  nodes_.push_back(std::move(n));
  return size() - 1;
}

std::map<std::string, std::string> cluster::env_of(int i) const {
  auto& n = at(i);
  std::map<std::string, std::string> env = {
      {"MAXSESS_PG_DSN", dsn_},
      {"MAXSESS_NODE_ID", n.id},
      {"MAXSESS_HTTP_LISTEN", "127.0.0.1:" + std::to_string(n.http)},
      {"MAXSESS_CLUSTER_ENABLED", "true"},
      {"MAXSESS_CLUSTER_LISTEN", "127.0.0.1:" + std::to_string(n.cport)},
      {"MAXSESS_ADMIN_TOKEN", opts_.admin_token},
      {"MAXSESS_TOKEN_SECRET", opts_.token_secret},
      {"MAXSESS__CLUSTER__LEASE_TTL", opts_.lease_ttl},
      {"MAXSESS__CLUSTER__SHARDS", std::to_string(opts_.shards)},
      // The history checker knows nothing of what the daemon ends on its own.
      {"MAXSESS__PLAYBACK_SESSION__PENDING_TTL", "10m"},
      // No periodic sync against streamers that do not exist.
      {"MAXSESS__PLAYBACK_SESSION__WEBHOOKS", "true"},
      {"MAXSESS__LOG__LEVEL", opts_.log_level},
  };
  for (auto& [k, v] : opts_.env) env[k] = v;
  if (auto j = opts_.node_env.find(i); j != opts_.node_env.end())
    for (auto& [k, v] : j->second) env[k] = v;
  return env;
}

void cluster::spawn(int i) {
  auto& n = at(i);
  n.frozen = false;
  n.proc->spawn({maxsessd_path(), "serve", "--config", config_path_}, env_of(i));
}

void cluster::wait_ready(int i, milliseconds limit) {
  auto& n = at(i);
  uint16_t port = n.http;
  n.proc->wait_ready([port] { return http_client("127.0.0.1", port).get("/readyz").status == 200; },
                     limit, "node " + n.id);
}

void cluster::start(int i) {
  spawn(i);
  wait_ready(i);
}

void cluster::start_all() {
  for (int i = 0; i < size(); ++i)
    if (!running(i)) spawn(i);
  for (int i = 0; i < size(); ++i) wait_ready(i);
}

void cluster::kill9(int i) {
  auto& n = at(i);
  n.proc->kill9();
  n.frozen = false;
}

void cluster::freeze(int i) {
  auto& n = at(i);
  if (!n.proc->running()) throw std::runtime_error("freeze: node " + n.id + " is not running");
  ::kill(n.proc->pid(), SIGSTOP);
  n.frozen = true;
  pid_t pid = n.proc->pid();
  if (!eventually([pid] { return process_state(pid) == 'T'; }, milliseconds(5000)))
    throw std::runtime_error("freeze: node " + n.id + " did not stop");
}

void cluster::thaw(int i) {
  auto& n = at(i);
  if (n.proc->running()) ::kill(n.proc->pid(), SIGCONT);
  n.frozen = false;
}

int cluster::stop(int i, milliseconds grace) {
  auto& n = at(i);
  if (n.frozen) thaw(i);
  return n.proc->stop(grace);
}

int cluster::restart(int i) {
  int code = running(i) ? stop(i) : -1;
  start(i);
  return code;
}

bool cluster::running(int i) const {
  auto& n = at(i);
  if (!n.proc->running()) return false;
  char st = process_state(n.proc->pid());
  return st != 0 && st != 'Z';
}

bool cluster::frozen(int i) const { return at(i).frozen; }

std::vector<int> cluster::serving_nodes() const {
  std::vector<int> out;
  for (int i = 0; i < size(); ++i)
    if (serving(i)) out.push_back(i);
  return out;
}

std::string cluster::node_id(int i) const { return at(i).id; }

int cluster::index_of(const std::string& id) const {
  for (int i = 0; i < size(); ++i)
    if (at(i).id == id) return i;
  return -1;
}

uint16_t cluster::http_port(int i) const { return at(i).http; }
uint16_t cluster::cluster_port(int i) const { return at(i).cport; }
std::string cluster::log(int i) const { return at(i).proc->log(); }

std::string cluster::log_tails(std::size_t lines) const {
  std::string out;
  for (int i = 0; i < size(); ++i) {
    out += "----- " + node_id(i) + (running(i) ? (frozen(i) ? " (frozen)" : " (running)") : " (not running)") +
           ", last " + std::to_string(lines) + " log lines -----\n";
    out += tail_lines(log(i), lines);
  }
  return out;
}

std::map<std::string, std::string> cluster::admin() const {
  return {{"Authorization", "Bearer " + opts_.admin_token}};
}

int cluster::run_command(const std::string& args, const std::map<std::string, std::string>& env,
                         std::string& output, std::chrono::seconds limit) const {
  char tmpl[] = "/tmp/maxsess-cmd-XXXXXX";
  if (!mkdtemp(tmpl)) throw std::runtime_error("run_command: mkdtemp failed");
  std::string dir = tmpl;
  std::string cmd = "env";
  for (char** e = environ; e && *e; ++e) {
    std::string var = *e;
    auto name = var.substr(0, var.find('='));
    if (name.rfind("MAXSESS", 0) == 0 && !env.count(name)) cmd += " -u " + name;
  }
  for (auto& [k, v] : env) cmd += " " + k + "=" + quote(v);
  cmd += " timeout -k 5 " + std::to_string(limit.count()) + " " + quote(maxsessd_path()) + " " + args +
         " --config " + quote(config_path_) + " > " + quote(dir + "/out") + " 2>&1";
  int rc = std::system(cmd.c_str());
  output = read_file(dir + "/out");
  std::system(("rm -rf " + quote(dir)).c_str());
  if (WIFEXITED(rc)) return WEXITSTATUS(rc);
  return -1;
}

http_reply cluster::request(int i, const std::string& method, const std::string& target,
                            const std::string& body, const std::map<std::string, std::string>& headers) const {
  http_client c("127.0.0.1", http_port(i));
  auto h = headers;
  if (!body.empty()) h.emplace("Content-Type", "application/json");
  return c.request(method, target, body, h);
}

json cluster::status(int i) const {
  auto r = request(i, "GET", "/api/v1/cluster", {}, admin());
  if (r.status != 200)
    throw std::runtime_error(node_id(i) + ": GET /api/v1/cluster answered " + std::to_string(r.status) + " " +
                             r.body);
  return json::parse(r.body);
}

std::map<std::string, double> cluster::metrics(int i) const {
  auto r = request(i, "GET", "/metrics");
  if (r.status != 200) throw std::runtime_error(node_id(i) + ": GET /metrics answered " + std::to_string(r.status));
  std::map<std::string, double> out;
  std::istringstream in(r.body);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    auto sp = line.rfind(' ');
    if (sp == std::string::npos) continue;
    try {
      out[line.substr(0, sp)] = std::stod(line.substr(sp + 1));
    } catch (const std::exception&) {
    }
  }
  return out;
}

double cluster::metric(int i, const std::string& name) const {
  double sum = 0;
  for (auto& [key, v] : metrics(i)) {
    auto base = key.substr(0, key.find('{'));
    if (base == name) sum += v;
  }
  return sum;
}

int cluster::shard_of(const std::string& account) const { return maxsess::shard_of(account, opts_.shards); }

std::vector<std::string> cluster::owners(int via) const {
  std::vector<std::string> out(static_cast<std::size_t>(opts_.shards));
  auto st = status(via);
  for (auto& s : st["shards"]) {
    int shard = s["shard"].get<int>();
    if (shard < 0 || shard >= opts_.shards) continue;
    if (s["expires_in_ms"].get<int64_t>() > 0) out[static_cast<std::size_t>(shard)] = s["owner"].get<std::string>();
  }
  return out;
}

int cluster::owner_of(const std::string& account, int via) const {
  return index_of(owners(via)[static_cast<std::size_t>(shard_of(account))]);
}

std::string cluster::account_owned_by(int owner, const std::string& prefix, int via) const {
  auto o = owners(via);
  for (int k = 0; k < 10000; ++k) {
    auto name = prefix + std::to_string(k);
    if (o[static_cast<std::size_t>(shard_of(name))] == node_id(owner)) return name;
  }
  throw std::runtime_error("no account " + prefix + "N is owned by " + node_id(owner));
}

bool cluster::eventually(const std::function<bool()>& cond, milliseconds limit) {
  auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    try {
      if (cond()) return true;
    } catch (const std::exception&) {
    }
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(milliseconds(50));
  }
}

std::string cluster::not_settled() const {
  std::string problems;
  auto add = [&problems](const std::string& p) { problems += (problems.empty() ? "" : "; ") + p; };
  for (int i = 0; i < size(); ++i)
    if (at(i).proc->running() && !running(i)) add(node_id(i) + " exited");
  auto serving = serving_nodes();
  if (serving.empty()) add("no node is serving");
  std::set<std::string> ids;
  for (int i : serving) ids.insert(node_id(i));
  for (int i : serving) {
    json st;
    try {
      st = status(i);
    } catch (const std::exception& e) {
      add(node_id(i) + ": " + e.what());
      continue;
    }
    if (!st.value("in_cluster", false)) add(node_id(i) + " is not in the cluster");
    if (st.value("shard_count", -1) != opts_.shards) add(node_id(i) + " has another shard count");
    for (auto& id : ids) {
      if (id == node_id(i)) continue;
      bool ok = false;
      for (auto& n : st["nodes"])
        if (n["id"] == id) ok = n["alive"].get<bool>() && !n["leaving"].get<bool>() && n["connected"].get<bool>();
      if (!ok) add(node_id(i) + " does not see " + id + " alive and connected");
    }
    std::vector<bool> owned(static_cast<std::size_t>(opts_.shards), false);
    for (auto& s : st["shards"]) {
      int shard = s["shard"].get<int>();
      if (shard >= 0 && shard < opts_.shards && s["expires_in_ms"].get<int64_t>() > 0 &&
          ids.count(s["owner"].get<std::string>()))
        owned[static_cast<std::size_t>(shard)] = true;
    }
    auto missing = std::count(owned.begin(), owned.end(), false);
    if (missing > 0) {
      auto first = std::find(owned.begin(), owned.end(), false) - owned.begin();
      add(node_id(i) + " sees " + std::to_string(missing) + " shards without a serving owner (e.g. shard " +
          std::to_string(first) + ")");
    }
  }
  return problems;
}

std::string cluster::not_balanced(double tolerance) const {
  auto problems = not_settled();
  if (!problems.empty()) return problems;
  auto serving = serving_nodes();
  const double n = static_cast<double>(serving.size());
  const double fair = opts_.shards / n;
  int lo = static_cast<int>(std::floor(fair)), hi = static_cast<int>(std::ceil(fair));
  if (tolerance > 0) {
    lo = static_cast<int>(std::ceil(fair * (1 - tolerance)));
    hi = static_cast<int>(std::floor(fair * (1 + tolerance)));
  }
  for (int i : serving) {
    std::map<std::string, int> count;
    for (auto& o : owners(i)) ++count[o];
    for (int j : serving) {
      int c = count[node_id(j)];
      if (c < lo || c > hi)
        problems += (problems.empty() ? "" : "; ") + node_id(i) + " sees " + node_id(j) + " holding " +
                    std::to_string(c) + " shards (want " + std::to_string(lo) + ".." + std::to_string(hi) + ")";
    }
  }
  return problems;
}

std::string cluster::describe_views() const {
  std::string out;
  for (int i : serving_nodes()) {
    try {
      auto st = status(i);
      std::map<std::string, int> count;
      for (auto& o : owners(i)) ++count[o.empty() ? "(none)" : o];
      out += node_id(i) + " view: in_cluster=" + (st.value("in_cluster", false) ? "true" : "false") +
             " held=" + std::to_string(st.value("held", -1)) + " owners:";
      for (auto& [o, c] : count) out += " " + o + "=" + std::to_string(c);
      out += " nodes:";
      for (auto& n : st["nodes"])
        out += " " + n["id"].get<std::string>() + (n["alive"].get<bool>() ? "" : "(dead)") +
               (n["leaving"].get<bool>() ? "(leaving)" : "") + (n["connected"].get<bool>() ? "" : "(unconnected)");
      out += "\n";
    } catch (const std::exception& e) {
      out += node_id(i) + " view: " + e.what() + "\n";
    }
  }
  return out;
}

void cluster::wait_settled(milliseconds limit) {
  std::string last;
  if (eventually([&] { return (last = not_settled()).empty(); }, limit)) return;
  throw std::runtime_error("cluster not settled after " + std::to_string(limit.count()) + " ms: " + last +
                           "\n" + describe_views() + log_tails());
}

void cluster::wait_balanced(milliseconds limit, double tolerance) {
  std::string last;
  if (eventually([&] { return (last = not_balanced(tolerance)).empty(); }, limit)) return;
  throw std::runtime_error("cluster not balanced after " + std::to_string(limit.count()) + " ms: " + last +
                           "\n" + describe_views() + log_tails());
}

void cluster::put_streamer(int id, const json& body, int via, milliseconds limit) {
  auto target = "/api/v1/streamers/" + std::to_string(id);
  auto r = request(via, "PUT", target, body.dump(), admin());
  if (r.status != 200) throw std::runtime_error("PUT " + target + " answered " + std::to_string(r.status) + " " + r.body);
  std::string host = body.value("host", std::string());
  std::string missing;
  bool ok = eventually(
      [&] {
        for (int i : serving_nodes()) {
          auto g = request(i, "GET", target, {}, admin());
          if (g.status != 200 || json::parse(g.body).value("host", std::string()) != host) {
            missing = node_id(i);
            return false;
          }
        }
        return true;
      },
      limit);
  if (!ok) throw std::runtime_error("streamer " + std::to_string(id) + " never reached " + missing);
}

void cluster::put_account(const std::string& account, int64_t max_sessions, int via) {
  json body = {{"max_sessions", max_sessions}};
  http_reply last;
  bool ok = eventually(
      [&] {
        last = request(via, "PUT", "/api/v1/accounts/" + account, body.dump(), admin());
        if (last.status == 503) return false;
        return true;
      },
      milliseconds(15000));
  if (!ok || last.status != 200)
    throw std::runtime_error("PUT /api/v1/accounts/" + account + " answered " + std::to_string(last.status) + " " +
                             last.body);
}

// --- recorded operations --------------------------------------------------------

op_result recorded_link(history& h, http_client& client, const std::string& account, const std::string& device,
                        const std::string& stream) {
  json body = {{"account_id", account}, {"device_id", device}, {"content", {{"type", "live"}, {"stream", stream}}}};
  op_result r;
  r.sent = steady_now_ns();
  try {
    auto rep = client.post_json("/api/v1/links", body.dump());
    r.received = steady_now_ns();
    fill(r, rep);
  } catch (const std::exception& e) {
    r.received = steady_now_ns();
    r.error = e.what();
  }
  link_op op;
  op.account = account;
  op.device = device;
  op.sent = r.sent;
  op.received = r.received;
  if (r.status == 200)
    op.answer = link_answer::approved;
  else if (r.status == 403 && r.code == "max_sessions_reached")
    op.answer = link_answer::denied;
  else
    op.answer = link_answer::indeterminate;
  h.record(op);
  return r;
}

op_result recorded_end(history& h, http_client& client, const std::string& account, const std::string& device) {
  op_result r;
  r.sent = steady_now_ns();
  try {
    auto rep = client.del("/api/v1/accounts/" + account + "/devices/" + device + "/session");
    r.received = steady_now_ns();
    fill(r, rep);
  } catch (const std::exception& e) {
    r.received = steady_now_ns();
    r.error = e.what();
  }
  end_op op;
  op.account = account;
  op.device = device;
  op.sent = r.sent;
  op.received = r.received;
  op.acknowledged = r.status == 204 || r.status == 404;
  h.record(op);
  return r;
}

std::vector<device_ref> without_live_row(const std::string& dsn, const std::vector<device_ref>& holders) {
  auto rows = query_scalar(dsn,
                           "select string_agg(account_id || '/' || device_id, E'\\n') from playback_sessions "
                           "where status in ('pending', 'active')");
  std::set<std::string> live;
  std::istringstream in(rows);
  std::string line;
  while (std::getline(in, line)) live.insert(line);
  std::vector<device_ref> out;
  for (auto& d : holders)
    if (!live.count(d.account + "/" + d.device)) out.push_back(d);
  return out;
}

// --- load driver ------------------------------------------------------------------

load_driver::load_driver(cluster& c, history& h, load_options opts) : c_(c), h_(h), opts_(std::move(opts)) {
  for (auto& a : opts_.accounts)
    for (int k = 0; k < opts_.devices; ++k) slots_[a + "/" + std::to_string(k)] = std::make_unique<slot>();
  for (int i = 0; i < c_.size(); ++i) set_up(i, c_.serving(i));
}

load_driver::~load_driver() { stop(); }

void load_driver::start() {
  stop_ = false;
  for (int t = 0; t < opts_.threads; ++t) threads_.emplace_back([this, t] { worker(t); });
}

void load_driver::stop() {
  stop_ = true;
  for (auto& t : threads_) t.join();
  threads_.clear();
}

void load_driver::set_up(int i, bool up) {
  std::lock_guard lock(mutex_);
  auto n = static_cast<std::size_t>(i) + 1;
  if (up_.size() < n) {
    up_.resize(n, false);
    excused_.resize(n, false);
    in_flight_.resize(n, 0);
  }
  up_[static_cast<std::size_t>(i)] = up;
  if (up) excused_[static_cast<std::size_t>(i)] = false;
}

void load_driver::excuse(int i) {
  set_up(i, up_at(i));
  std::lock_guard lock(mutex_);
  excused_[static_cast<std::size_t>(i)] = true;
}

bool load_driver::up_at(int i) const {
  std::lock_guard lock(mutex_);
  return static_cast<std::size_t>(i) < up_.size() && up_[static_cast<std::size_t>(i)];
}

bool load_driver::is_excused(int i) const {
  std::lock_guard lock(mutex_);
  return static_cast<std::size_t>(i) < excused_.size() && excused_[static_cast<std::size_t>(i)];
}

bool load_driver::wait_idle(int i, milliseconds limit) {
  return cluster::eventually(
      [&] {
        std::lock_guard lock(mutex_);
        return static_cast<std::size_t>(i) >= in_flight_.size() || in_flight_[static_cast<std::size_t>(i)] == 0;
      },
      limit);
}

void load_driver::run_for(milliseconds d) { std::this_thread::sleep_for(d); }

int load_driver::pick_node(unsigned& rr) {
  std::lock_guard lock(mutex_);
  std::vector<int> up;
  for (std::size_t i = 0; i < up_.size(); ++i)
    if (up_[i]) up.push_back(static_cast<int>(i));
  if (up.empty()) return -1;
  int node = up[rr++ % up.size()];
  ++in_flight_[static_cast<std::size_t>(node)];
  return node;
}

std::string load_driver::device_name(const std::string& account, int k) const {
  int gen = slots_.at(account + "/" + std::to_string(k))->generation.load();
  return "d" + std::to_string(k) + (gen == 0 ? "" : "-g" + std::to_string(gen));
}

void load_driver::note_error(const std::string& what) {
  std::lock_guard lock(mutex_);
  ++error_count_;
  if (errors_.size() < 100) errors_.push_back(what);
}

void load_driver::worker(int index) {
  std::mt19937 rng(opts_.seed + static_cast<unsigned>(index) * 7919u);
  std::map<int, std::unique_ptr<http_client>> clients;
  std::vector<std::pair<std::string, std::string>> in_doubt;  // ends to repeat until acknowledged
  unsigned rr = static_cast<unsigned>(index);
  const time_ns t0 = steady_now_ns();

  struct pending_op {
    std::string account, device;
    int slot = -1;  // device index, -1 for an end of a device in doubt
    bool end = false;
  };
  std::optional<pending_op> retry;

  while (!stop_) {
    int node = pick_node(rr);
    if (node < 0) {
      std::this_thread::sleep_for(milliseconds(10));
      continue;
    }
    auto& client = clients[node];
    if (!client) client = std::make_unique<http_client>("127.0.0.1", c_.http_port(node));

    pending_op op;
    if (retry) {
      op = *retry;
      retry.reset();
    } else if (!in_doubt.empty() && rng() % 4 == 0) {
      op.account = in_doubt.back().first;
      op.device = in_doubt.back().second;
      in_doubt.pop_back();
      op.end = true;
    } else {
      op.account = opts_.accounts[rng() % opts_.accounts.size()];
      op.slot = static_cast<int>(rng() % static_cast<unsigned>(opts_.devices));
      op.device = device_name(op.account, op.slot);
      op.end = std::uniform_real_distribution<double>(0, 1)(rng) < opts_.end_share;
    }

    op_result r = op.end ? recorded_end(h_, *client, op.account, op.device)
                         : recorded_link(h_, *client, op.account, op.device, rng() % 2 ? "news" : "sports");
    {
      std::lock_guard lock(mutex_);
      --in_flight_[static_cast<std::size_t>(node)];
    }
    if (r.status == 0) client.reset();  // reconnect next time

    const std::string what = std::string(op.end ? "end " : "link ") + op.account + "/" + op.device + " via " +
                             c_.node_id(node) + " at " + std::to_string(seconds_since(t0, r.sent)) + "s: ";
    bool ok = op.end ? (r.status == 204 || r.status == 404)
                     : (r.status == 200 || (r.status == 403 && r.code == "max_sessions_reached"));
    {
      std::lock_guard lock(mutex_);
      auto& k = counts_;
      if (op.end) {
        ++k.ends;
        if (ok) ++k.ends_acked;
        else if (r.retryable()) ++k.ends_retryable;
        else ++k.other_ends;
      } else {
        ++k.links;
        if (r.status == 200) ++k.approved;
        else if (ok) ++k.denied;
        else if (r.retryable()) ++k.retryable;
        else ++k.other_links;
        if (ok) decisions_[op.account].push_back({r.sent, r.received});
      }
    }
    if (!ok && !r.retryable()) {
      if (r.status == 0 && is_excused(node)) {
        std::lock_guard lock(mutex_);
        ++counts_.excused;
      } else {
        note_error(what + (r.status == 0 ? r.error : "HTTP " + std::to_string(r.status) + " " + r.code));
      }
    }
    if (op.end && !ok) {
      // In doubt: it may still land. Repeat it until acknowledged, and let
      // the slot go on under a new device name.
      if (op.slot >= 0) {
        auto& s = *slots_.at(op.account + "/" + std::to_string(op.slot));
        int gen = s.generation.load();
        if (op.device == device_name(op.account, op.slot)) s.generation.compare_exchange_strong(gen, gen + 1);
      }
      in_doubt.emplace_back(op.account, op.device);
    } else if (!op.end && r.retryable()) {
      retry = op;  // the same request again, as a new operation
    }
    if (r.retryable() || r.status == 0) std::this_thread::sleep_for(milliseconds(20));
  }
}

load_driver::counts load_driver::totals() const {
  std::lock_guard lock(mutex_);
  return counts_;
}

std::vector<std::string> load_driver::errors() const {
  std::lock_guard lock(mutex_);
  return errors_;
}

uint64_t load_driver::error_count() const {
  std::lock_guard lock(mutex_);
  return error_count_;
}

std::string load_driver::summary() const {
  auto k = totals();
  std::ostringstream os;
  os << "links " << k.links << " (approved " << k.approved << ", denied " << k.denied << ", 503+Retry-After "
     << k.retryable << ", other " << k.other_links << "), ends " << k.ends << " (acknowledged " << k.ends_acked
     << ", 503+Retry-After " << k.ends_retryable << ", other " << k.other_ends << "), excused transport errors "
     << k.excused << ", errors " << error_count();
  return os.str();
}

time_ns load_driver::first_decision_after(const std::vector<std::string>& accounts, time_ns since) const {
  std::lock_guard lock(mutex_);
  time_ns best = 0;
  for (auto& a : accounts) {
    auto it = decisions_.find(a);
    if (it == decisions_.end()) continue;
    for (auto& [sent, received] : it->second)
      if (sent >= since && (best == 0 || received < best)) best = received;
  }
  return best;
}

// --- fixture ------------------------------------------------------------------------

bool run_known_bugs() {
  const char* run = std::getenv("MAXSESS_RUN_KNOWN_BUGS");
  return run && std::string(run) == "1";
}

void cluster_test::SetUp() {
  if (!server_dsn()) GTEST_SKIP() << "no test PostgreSQL (set MAXSESS_TEST_PG_DIR or MAXSESS_TEST_DSN)";
}

void cluster_test::TearDown() {
  if (c && HasFailure()) std::cerr << c->log_tails(60);
  c.reset();
}

cluster& cluster_test::boot(cluster_options o) {
  c = std::make_unique<cluster>(std::move(o));
  c->start_all();
  c->put_streamer(1, {{"host", "s1.test"}, {"url", "http://s1.test:8080"}});
  c->wait_balanced(std::chrono::seconds(60));
  return *c;
}

std::vector<std::string> cluster_test::load_accounts(history& h, int64_t max_sessions, int extra,
                                                     const std::string& prefix) {
  auto serving = c->serving_nodes();
  std::vector<std::string> out;
  for (std::size_t k = 0; k < serving.size() + static_cast<std::size_t>(extra); ++k) {
    int owner = serving[k % serving.size()];
    // Distinct names: a prefix per round.
    auto name = c->account_owned_by(owner, prefix + std::to_string(k) + "-", serving.front());
    out.push_back(name);
  }
  for (auto& a : out) {
    c->put_account(a, max_sessions, serving.front());
    h.set_limit(a, max_sessions);
  }
  return out;
}

void cluster_test::expect_safe(const history& h) {
  auto v = h.check();
  EXPECT_TRUE(v.empty()) << v.size() << " violations:\n" << describe(v);
  auto holders = h.certain_holders_at_end();
  auto missing = without_live_row(c->dsn(), holders);
  std::string list;
  for (auto& d : missing) list += " " + d.account + "/" + d.device;
  EXPECT_TRUE(missing.empty()) << missing.size() << " of " << holders.size()
                               << " acknowledged sessions have no pending/active row:" << list;
  std::cout << "[ history  ] " << h.size() << " operations, " << holders.size()
            << " devices certainly holding at the end, " << v.size() << " violations\n";
}

}  // namespace maxsess::test
