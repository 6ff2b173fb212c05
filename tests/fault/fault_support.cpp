#include "tests/fault/fault_support.hpp"

#include <nlohmann/json.hpp>

#include <cstdlib>
#include <map>
#include <random>
#include <sstream>
#include <stdexcept>
#include <dirent.h>
#include <signal.h>
#include <sys/wait.h>

#include "tests/support/http_client.hpp"
#include "tests/support/pg_test.hpp"

namespace maxsess::test::fault {

using nlohmann::json;

namespace {

std::string source_dir() {
  if (const char* p = std::getenv("MAXSESS_SOURCE_DIR"); p && *p) return p;
  return MAXSESS_SOURCE_DIR;
}

int64_t wall_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

int64_t wall_ms() { return wall_us() / 1000; }

}  // namespace

bool eventually(const std::function<bool()>& cond, milliseconds limit) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    try {
      if (cond()) return true;
    } catch (const std::exception&) {
    }
    std::this_thread::sleep_for(milliseconds(50));
  }
  try {
    return cond();
  } catch (const std::exception&) {
    return false;
  }
}

// --- private_pg -------------------------------------------------------------------

private_pg::private_pg() : scratch_("fault-pg") {
  dir_ = scratch_.dir() + "/pg";
  port_ = free_port();
  std::string out;
  if (pg("start '" + dir_ + "' " + std::to_string(port_), out) != 0)
    throw std::runtime_error("scripts/pg.sh start failed:\n" + out);
  dsn_ = "host=127.0.0.1 port=" + std::to_string(port_) + " dbname=maxsess user=maxsess";
  // fsync is a reload-time setting: off for speed; synchronous_commit stays
  // on, which is what makes an acknowledged commit survive halt --immediate.
  query_scalar(dsn_, "ALTER SYSTEM SET fsync = off");
  query_scalar(dsn_, "SELECT pg_reload_conf()");
}

private_pg::~private_pg() {
  std::string out;
  try {
    thaw();  // a frozen server would hold pg.sh stop up for its 60 s
  } catch (const std::exception&) {
  }
  pg("stop '" + dir_ + "'", out);
}

void private_pg::halt(bool immediate) {
  std::string out;
  if (pg("halt '" + dir_ + "'" + (immediate ? " --immediate" : ""), out) != 0)
    throw std::runtime_error("scripts/pg.sh halt failed:\n" + out);
}

void private_pg::start() {
  std::string out;
  if (pg("start '" + dir_ + "' " + std::to_string(port_), out) != 0)
    throw std::runtime_error("scripts/pg.sh start (restart) failed:\n" + out);
}

bool private_pg::running() const {
  std::string out;
  return pg("status '" + dir_ + "'", out) == 0;
}

std::vector<int> private_pg::processes() const {
  // DIR/datadir names the data directory; its postmaster.pid's first line
  // is the postmaster. Backends are its children (ppid in /proc/PID/stat).
  std::string datadir = read_file(dir_ + "/datadir");
  while (!datadir.empty() && (datadir.back() == '\n' || datadir.back() == ' ')) datadir.pop_back();
  const int postmaster = std::atoi(read_file(datadir + "/postmaster.pid").c_str());
  if (postmaster <= 0) throw std::runtime_error("no postmaster.pid in " + datadir);
  std::vector<int> out{postmaster};
  DIR* proc = opendir("/proc");
  if (!proc) return out;
  while (auto* e = readdir(proc)) {
    const int pid = std::atoi(e->d_name);
    if (pid <= 0) continue;
    const std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
    auto rp = stat.rfind(')');
    if (rp == std::string::npos) continue;
    std::istringstream rest(stat.substr(rp + 2));
    std::string state;
    int ppid = 0;
    rest >> state >> ppid;
    if (ppid == postmaster) out.push_back(pid);
  }
  closedir(proc);
  return out;
}

void private_pg::freeze() {
  for (int pid : processes()) ::kill(pid, SIGSTOP);
}

void private_pg::thaw() {
  // The postmaster first, so a backend woken up finds it running.
  for (int pid : processes()) ::kill(pid, SIGCONT);
}

int private_pg::pg(const std::string& args, std::string& output) const {
  // MAXSESS_PG_FAST (set by `make test` for the shared server) would turn
  // synchronous_commit off here: this server must stay durable.
  const std::string out_path = scratch_.dir() + "/pg.out";
  const std::string cmd = "env -u MAXSESS_PG_FAST '" + source_dir() + "/scripts/pg.sh' " + args +
                          " > '" + out_path + "' 2>&1";
  int rc = std::system(cmd.c_str());
  output = read_file(out_path);
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

// --- link_webhook_load ------------------------------------------------------------

link_webhook_load::link_webhook_load(load_options opts)
    : opts_(std::move(opts)), next_event_id_(wall_us()) {
  if (opts_.accounts.empty()) throw std::invalid_argument("link_webhook_load: no accounts");
}

link_webhook_load::~link_webhook_load() { stop(); }

void link_webhook_load::start() {
  stop_ = false;
  for (int i = 0; i < opts_.threads; ++i) threads_.emplace_back([this, i] { worker(i); });
  for (int i = 0; i < opts_.webhook_threads; ++i) threads_.emplace_back([this] { webhook_worker(); });
}

void link_webhook_load::stop() {
  stop_ = true;
  for (auto& t : threads_) t.join();
  threads_.clear();
}

void link_webhook_load::error(const std::string& what) {
  std::lock_guard<std::mutex> lock(mutex_);
  ++error_count_;
  if (errors_.size() < 20) errors_.push_back(what);
}

bool link_webhook_load::transport_excused() {
  if (!down_) return false;
  std::lock_guard<std::mutex> lock(mutex_);
  ++counts_.transport;
  return true;
}

bool link_webhook_load::deliver(http_client& c, const std::string& body, bool closing) {
  while (!stop_) {
    http_reply r;
    try {
      r = c.post_json("/webhook/playback-session/flussonic/" + opts_.host, body);
    } catch (const std::exception& e) {
      if (!transport_excused()) error(std::string("webhook: transport error: ") + e.what());
      std::this_thread::sleep_for(milliseconds(50));
      continue;
    }
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ++counts_.batches;
    }
    if (r.status >= 200 && r.status < 300) {
      auto parsed = json::parse(r.body, nullptr, false);
      if (parsed.is_discarded() || parsed.value("accepted", 0) + parsed.value("duplicates", 0) != 1) {
        error("webhook 2xx that did not take the event: " + r.body);
        return false;
      }
      std::lock_guard<std::mutex> lock(mutex_);
      ++(closing ? counts_.closed_acked : counts_.opened_acked);
      return true;
    }
    if (r.status == 503 && r.headers.count("retry-after")) {
      std::lock_guard<std::mutex> lock(mutex_);
      ++counts_.events_503;
    } else {
      error("webhook: " + std::to_string(r.status) + " " + r.body);
    }
    std::this_thread::sleep_for(milliseconds(20));  // Flussonic resends after a pause
  }
  return false;
}

void link_webhook_load::worker(int index) {
  std::mt19937 rng(opts_.seed * 7919u + static_cast<unsigned>(index));
  http_client c("127.0.0.1", opts_.port);
  for (int n = 0; !stop_; ++n) {
    const auto& account = opts_.accounts[rng() % opts_.accounts.size()];
    const std::string device = opts_.prefix + std::to_string(index) + "-" + std::to_string(n);
    json body = {{"account_id", account},
                 {"device_id", device},
                 {"content", {{"type", "live"}, {"stream", "news"}}},
                 {"client_ip", "10.1.0.1"}};
    http_reply r;
    try {
      r = c.post_json("/api/v1/links", body.dump());
    } catch (const std::exception& e) {
      if (!transport_excused()) error(std::string("link: transport error: ") + e.what());
      std::this_thread::sleep_for(milliseconds(50));
      continue;
    }
    std::string token;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      ++counts_.links;
      if (r.status == 200) {
        auto parsed = json::parse(r.body, nullptr, false);
        if (!parsed.is_discarded() && parsed.contains("token")) token = parsed["token"];
        ++counts_.approved;
        approvals_.push_back({account, device, token});
      } else if (r.status == 403) {
        ++counts_.denied;
      } else if (r.status == 503 && r.headers.count("retry-after")) {
        ++counts_.links_503;
      }
    }
    if (r.status == 200 && token.empty()) error("link 200 without a token: " + r.body);
    if (r.status != 200 && r.status != 403 && !(r.status == 503 && r.headers.count("retry-after")))
      error("link: " + std::to_string(r.status) + " " + r.body);
    if (r.status == 503) std::this_thread::sleep_for(milliseconds(20));
  }
}

void link_webhook_load::webhook_worker() {
  http_client c("127.0.0.1", opts_.port);
  while (!stop_) {
    approval a;
    std::size_t n = 0;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (next_to_post_ < approvals_.size()) {
        n = next_to_post_++;
        a = approvals_[n];
      }
    }
    if (a.token.empty()) {
      std::this_thread::sleep_for(milliseconds(5));
      continue;
    }
    const std::string& account = a.account;
    const std::string& device = a.device;
    const std::string& token = a.token;
    const std::string fsid = "fs-" + device;
    json opened = json::array({{{"event", "play_opened"},
                                {"event_id", next_event_id_++},
                                {"id", fsid},
                                {"media", "news"},
                                {"token", token},
                                {"ip", "10.1.0.1"},
                                {"utc_ms", wall_ms()}}});
    if (!deliver(c, opened.dump(), false)) continue;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      opened_.push_back({account, device, fsid});
    }
    if (n % 2 == 1) continue;  // half of the devices stay open
    json closed = json::array({{{"event", "play_closed"},
                                {"event_id", next_event_id_++},
                                {"id", fsid},
                                {"media", "news"},
                                {"token", token},
                                {"ip", "10.1.0.1"},
                                {"utc_ms", wall_ms()},
                                {"reason", {{"type", "timeout"}}}}});
    {
      std::lock_guard<std::mutex> lock(mutex_);
      close_sent_.insert({account, device});
    }
    if (!deliver(c, closed.dump(), true)) continue;
    std::lock_guard<std::mutex> lock(mutex_);
    closed_.push_back({account, device, fsid});
  }
}

link_webhook_load::counts link_webhook_load::totals() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return counts_;
}

std::vector<std::string> link_webhook_load::errors() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return errors_;
}

uint64_t link_webhook_load::error_count() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return error_count_;
}

std::string link_webhook_load::summary() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::ostringstream o;
  o << "links " << counts_.links << " (approved " << counts_.approved << ", denied " << counts_.denied
    << ", 503+Retry-After " << counts_.links_503 << "), webhook batches " << counts_.batches
    << " (play_opened acked " << counts_.opened_acked << ", play_closed acked " << counts_.closed_acked
    << ", 503+Retry-After " << counts_.events_503 << "), excused transport errors " << counts_.transport
    << ", errors " << error_count_;
  for (auto& e : errors_) o << "\n  " << e;
  return o.str();
}

bool link_webhook_load::wait_approvals(uint64_t n, milliseconds limit) {
  const auto base = totals().approved;
  return eventually([&] { return totals().approved >= base + n; }, limit);
}

bool link_webhook_load::wait_503s(uint64_t n, milliseconds limit) {
  const auto base = totals().links_503;
  return eventually([&] { return totals().links_503 >= base + n; }, limit);
}

std::vector<std::string> link_webhook_load::missing_in(const std::string& dsn) const {
  struct row {
    std::string status, token, flussonic;
  };
  std::map<std::pair<std::string, std::string>, row> rows;
  // One scalar (query_scalar reads one value): every row, tab-separated.
  const std::string all = query_scalar(
      dsn,
      "select coalesce(string_agg(account_id || chr(9) || device_id || chr(9) || status || chr(9) || "
      "token || chr(9) || flussonic::text, chr(10)), '') from playback_sessions");
  std::istringstream in(all);
  for (std::string line; std::getline(in, line);) {
    std::vector<std::string> f;
    std::size_t at = 0;
    for (int i = 0; i < 4; ++i) {
      auto tab = line.find('\t', at);
      if (tab == std::string::npos) break;
      f.push_back(line.substr(at, tab - at));
      at = tab + 1;
    }
    if (f.size() != 4) continue;
    rows[{f[0], f[1]}] = {f[2], f[3], line.substr(at)};
  }
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<std::string> out;
  auto note = [&](const std::string& what) {
    if (out.size() < 30) out.push_back(what);
  };
  for (auto& a : approvals_) {
    auto i = rows.find({a.account, a.device});
    if (i == rows.end()) {
      note("approved link of " + a.account + "/" + a.device + " has no row");
      continue;
    }
    if (i->second.token != a.token)
      note("row of " + a.account + "/" + a.device + " has another token than its approval");
    const bool closing = close_sent_.count({a.account, a.device}) > 0;
    const auto& st = i->second.status;
    if (!(st == "pending" || st == "active" || (closing && st == "ended")))
      note("approved " + a.account + "/" + a.device + " is " + st);
  }
  for (auto& e : opened_) {
    auto i = rows.find({e.account, e.device});
    if (i == rows.end() || i->second.flussonic.find("\"" + e.token + "\"") == std::string::npos)
      note("acknowledged play_opened of " + e.account + "/" + e.device + " (" + e.token +
           ") is not in the row: " + (i == rows.end() ? "no row" : i->second.flussonic));
  }
  for (auto& e : closed_) {
    auto i = rows.find({e.account, e.device});
    if (i == rows.end() || i->second.status != "ended")
      note("acknowledged play_closed of " + e.account + "/" + e.device + " left it " +
           (i == rows.end() ? "without a row" : i->second.status));
  }
  return out;
}

}  // namespace maxsess::test::fault
