// maxsess_soak: `make soak` (scripts/soak.sh; not in CI, not a ctest test).
// One maxsessd on a durable PostgreSQL under a mixed open-loop load for a
// long time (30 minutes by default) at a fixed rate (half of the peak that
// `make bench` measures), sampling the daemon's memory and open files every
// minute into a CSV. The load (loadgen, open loop), per request number n:
//   n mod 20 in 0..9    POST /api/v1/links: account s<k> (k uniform over
//                       --accounts), device d0..d3; the default limit is 3,
//                       so 200 or 403 max_sessions_reached; the approved
//                       links are never played and end after pending_ttl,
//                       so accounts keep coming and going (load, passivate)
//   n mod 20 in 10..17  GET /flussonic/auth update_session for one of 2 000
//                       playing sessions (flows::make_links + open_sessions)
//   n mod 20 in 18..19  POST a webhook batch of 10 play_updated events for
//                       those sessions, unique event ids
// Before the load, every account x device the links can name gets the row a
// day of such traffic leaves behind (ended, never_started; clear deletes
// them only every clear_interval, 24 h). Without it the data set itself
// grows all through the run: each link to a pair not seen yet adds a row,
// and an account in memory holds its rows (ended ones too: the decisions
// need them), so the daemon's memory follows the table, ~0.5 KiB per row,
// towards accounts x 4 rows reached only after ~30 min at 1 500 req/s -- a
// growth a leak check cannot tell from a leak (docs/testing.md, "Soak").
// --no-history skips it, to see that growth.
// Pass: every answer the expected one (links 200/403, auth 200 allow,
// webhooks 200), no transport error, the daemon exits 0 on SIGTERM, and
// RSS grows less than 5 % between the sample at a sixth of the run (minute
// 5 of 30) and the last one. Exit 0 on pass, 1 on fail, 2 on bad usage.
#include <dirent.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "config/config.hpp"
#include "domain/model.hpp"
#include "tests/bench/flows.hpp"
#include "tests/bench/loadgen.hpp"
#include "tests/support/daemon.hpp"
#include "tests/support/pg_test.hpp"

namespace {

using namespace maxsess;
using clk = std::chrono::steady_clock;

const char* const usage =
    "usage: maxsess_soak [--minutes M] [--sample-seconds S] [--rate R] [--accounts N]\n"
    "                    [--connections C] [--csv FILE] [--baseline-minute B]\n"
    "                    [--no-webhooks] [--no-links] [--no-history]\n"
    "  --minutes M          length of the run (default 30)\n"
    "  --sample-seconds S   RSS and open files every S seconds (default 60)\n"
    "  --rate R             requests/s, all kinds together (default 3400: half the\n"
    "                       links peak of make bench, docs/performance.md)\n"
    "  --accounts N         accounts the link requests spread over (default 100000)\n"
    "  --connections C      keep-alive connections (default 64)\n"
    "  --csv FILE           samples (default soak.csv)\n"
    "  --baseline-minute B  RSS growth is measured from minute B (default M/6)\n"
    "  --no-webhooks        auth updates instead of the webhook batches (to tell\n"
    "                       whether a growth comes from the webhook path)\n"
    "  --no-links           auth updates instead of the link requests (the same)\n"
    "  --no-history         no ended row per account x device before the load: the\n"
    "                       table (and the accounts' memory) then grows all run long\n"
    "Needs MAXSESS_TEST_DSN: a PostgreSQL server (scripts/soak.sh starts one).\n";

std::atomic<bool> g_interrupted{false};
void on_signal(int) { g_interrupted = true; }

long status_kib(pid_t pid, const std::string& key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  for (std::string line; std::getline(in, line);)
    if (line.rfind(key + ":", 0) == 0) return std::atol(line.c_str() + key.size() + 1);
  return -1;
}

int open_files(pid_t pid) {
  DIR* d = opendir(("/proc/" + std::to_string(pid) + "/fd").c_str());
  if (!d) return -1;
  int n = 0;
  while (auto* e = readdir(d))
    if (e->d_name[0] != '.') ++n;
  closedir(d);
  return n;
}

struct sample {
  double elapsed_s = 0;
  long rss_kib = 0, hwm_kib = 0, threads = 0;
  int fds = 0;
  uint64_t answers = 0, unexpected = 0;
};

// The history (see the top of this file): one ended row per account x
// device, shaped like the rows the link requests leave (never played, a
// token of a real one's length, unique), in statements of 5 000 rows.
void seed_history(const std::string& dsn, int accounts, std::size_t token_len) {
  const std::string cols =
      "INSERT INTO playback_sessions (account_id, device_id, shard, shard_epoch, status, content_type, "
      "stream, streamer_id, client_ip, token, started_at, updated_at, ended_at, end_reason) VALUES ";
  const std::string at = "now() - interval '1 hour'";
  std::string sql;
  int rows = 0;
  for (int k = 0; k < accounts; ++k) {
    const std::string account = "s" + std::to_string(k);
    const int shard = shard_of(account, config::daemon_config{}.cluster.shards);
    for (int dev = 0; dev < 4; ++dev) {
      std::string token = "seed." + account + ".d" + std::to_string(dev) + ".";
      if (token.size() < token_len) token.append(token_len - token.size(), 'x');
      sql += rows % 5000 ? "," : cols;
      sql += "('" + account + "','d" + std::to_string(dev) + "'," + std::to_string(shard) +
             ",1,'ended','live','ch" + std::to_string(k % 50) + "',1,'10.1.0.1','" + token + "'," + at + "," +
             at + "," + at + ",'never_started')";
      if (++rows % 5000 == 0) {
        test::query_scalar(dsn, sql);
        sql.clear();
      }
    }
  }
  if (!sql.empty()) test::query_scalar(dsn, sql);
  // A day-old table has planner statistics; a freshly filled one would be
  // planned as empty until autovacuum gets to it.
  test::query_scalar(dsn, "ANALYZE playback_sessions");
}

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

int main(int argc, char** argv) {
  double minutes = 30, sample_s = 60, rate = 3400, baseline_minute = -1;
  bool webhooks = true, links = true, history = true;
  int accounts = 100000, connections = 64;
  std::string csv = "soak.csv";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << a << " needs a value\n" << usage;
        std::exit(2);
      }
      return argv[++i];
    };
    try {
      if (a == "--minutes") minutes = std::stod(next());
      else if (a == "--sample-seconds") sample_s = std::stod(next());
      else if (a == "--rate") rate = std::stod(next());
      else if (a == "--accounts") accounts = std::stoi(next());
      else if (a == "--connections") connections = std::stoi(next());
      else if (a == "--csv") csv = next();
      else if (a == "--baseline-minute") baseline_minute = std::stod(next());
      else if (a == "--no-webhooks") webhooks = false;
      else if (a == "--no-links") links = false;
      else if (a == "--no-history") history = false;
      else if (a == "-h" || a == "--help") {
        std::cout << usage;
        return 0;
      } else {
        std::cerr << "unknown option " << a << "\n" << usage;
        return 2;
      }
    } catch (const std::exception&) {
      std::cerr << a << ": not a number\n" << usage;
      return 2;
    }
  }
  if (minutes <= 0 || sample_s <= 0 || rate <= 0 || accounts < 1 || connections < 1) {
    std::cerr << "--minutes, --sample-seconds, --rate, --accounts and --connections must be positive\n";
    return 2;
  }
  auto server = test::server_dsn();
  if (!server) {
    std::cerr << "maxsess_soak: set MAXSESS_TEST_DSN to a PostgreSQL server\n";
    return 2;
  }
  signal(SIGINT, on_signal);
  signal(SIGTERM, on_signal);

  const std::string dsn = test::create_migrated_database("soak");
  test::daemon_options opts;
  opts.dsn = dsn;
  // daemon.cpp's config logs at debug: thirty minutes of that is gigabytes.
  opts.env = {{"MAXSESS__LOG__LEVEL", "info"}, {"MAXSESS__PLAYBACK_SESSION__WEBHOOKS", "true"}};
  test::daemon_process d(opts);
  d.start();
  const pid_t pid = d.pid();
  const auto devices = bench::flows::make_links(d.port(), d.admin_token(), bench::flows::playing_accounts);
  bench::flows::open_sessions(d.port(), devices);
  // No s<k> account has been asked for yet, so none is in memory: each
  // loads its rows with its first request.
  if (history && links) {
    const auto seed_start = clk::now();
    seed_history(dsn, accounts, devices.front().token.size());
    std::cout << "soak: history of " << accounts * 4 << " ended rows written in " << std::fixed
              << std::setprecision(1) << std::chrono::duration<double>(clk::now() - seed_start).count()
              << " s" << std::endl;
  }
  const uint64_t n_dev = devices.size();
  const int64_t t0_ms = wall_ms();

  std::atomic<uint64_t> answers{0}, unexpected{0};
  std::mutex first_mutex;
  std::string first_unexpected;

  loadgen::options lo;
  lo.ports = {d.port()};
  lo.connections = connections;
  lo.open_loop = true;
  lo.rate = rate;
  lo.duration = std::chrono::milliseconds(static_cast<int64_t>(minutes * 60000));
  lo.drain = std::chrono::milliseconds(5000);
  lo.interrupted = &g_interrupted;
  lo.make_request = [&](loadgen::request& q, const loadgen::gen_state& g) {
    const uint64_t n = g.seq;
    const uint64_t kind = n % 20;
    q.headers.clear();
    q.body.clear();
    if (kind < 10 && links) {
      q.method = "POST";
      q.target = "/api/v1/links";
      q.headers = {{"Content-Type", "application/json"}};
      auto r = (*g.rng)();
      q.body = bench::link_body("s" + std::to_string(r % accounts), "d" + std::to_string((r >> 32) % 4),
                                "ch" + std::to_string((r >> 40) % 50));
    } else if (kind < 18 || !webhooks) {
      const auto& dev = devices[(n / 20 * 10 + (kind - 10)) % n_dev];
      q.method = "GET";
      q.target = bench::flows::auth_target(dev, false, dev.session_id, n, static_cast<int64_t>(n / 100),
                                           static_cast<int64_t>(n * 1000));
    } else {
      q.method = "POST";
      q.target = "/webhook/playback-session/flussonic/s1";
      q.headers = {{"Content-Type", "application/json"}};
      std::string& body = q.body;
      body += '[';
      const int64_t now = wall_ms();
      for (int j = 0; j < 10; ++j) {
        const uint64_t k = (n / 20 * 2 + (kind - 18)) * 10 + static_cast<uint64_t>(j);
        const auto& dev = devices[k % n_dev];
        if (j) body += ',';
        body += "{\"event\":\"play_updated\",\"event_id\":" + std::to_string(1000000 + k) +
                ",\"utc_ms\":" + std::to_string(now) + ",\"id\":\"" + dev.session_id +
                "\",\"media\":\"" + dev.stream + "\",\"token\":\"" + dev.token + "\",\"ip\":\"" + dev.ip +
                "\",\"bytes\":" + std::to_string(n * 1000) + ",\"duration\":" + std::to_string(n / 100) +
                ",\"opened_at\":" + std::to_string(t0_ms) + ",\"updated_at\":" + std::to_string(now) + "}";
      }
      body += ']';
    }
  };
  lo.check = [&](uint64_t n, int status, std::string_view body) {
    const uint64_t kind = n % 20;
    bool ok = kind < 10 && links ? status == 200 || (status == 403 && body.find("max_sessions_reached") != body.npos)
              : kind < 18 || !webhooks ? status == 200 && body.find("allow") != body.npos
                          : status == 200;
    answers.fetch_add(1, std::memory_order_relaxed);
    if (!ok && unexpected.fetch_add(1) == 0) {
      std::lock_guard<std::mutex> lock(first_mutex);
      first_unexpected = "request " + std::to_string(n) + ": " + std::to_string(status) + " " +
                         std::string(body.substr(0, 300));
    }
    return ok;
  };

  std::vector<sample> samples;
  std::mutex samples_mutex;
  std::atomic<bool> done{false};
  std::ofstream out(csv);
  out << "minute,elapsed_s,rss_kib,hwm_kib,open_files,threads,answers,unexpected\n";
  const auto start = clk::now();
  auto take = [&] {
    sample s;
    s.elapsed_s = std::chrono::duration<double>(clk::now() - start).count();
    s.rss_kib = status_kib(pid, "VmRSS");
    s.hwm_kib = status_kib(pid, "VmHWM");
    s.threads = status_kib(pid, "Threads");
    s.fds = open_files(pid);
    s.answers = answers.load();
    s.unexpected = unexpected.load();
    out << std::fixed << std::setprecision(2) << s.elapsed_s / 60 << ',' << std::setprecision(1) << s.elapsed_s
        << ',' << s.rss_kib << ',' << s.hwm_kib << ',' << s.fds << ',' << s.threads << ',' << s.answers << ','
        << s.unexpected << '\n'
        << std::flush;
    std::cout << "soak: " << std::fixed << std::setprecision(1) << s.elapsed_s << " s  rss " << s.rss_kib
              << " KiB  files " << s.fds << "  answers " << s.answers << "  unexpected " << s.unexpected
              << std::endl;
    std::lock_guard<std::mutex> lock(samples_mutex);
    samples.push_back(s);
  };
  // Samples on a fixed schedule (k · S after the start) and a last one
  // just before the load ends, all while the load runs (its connections
  // count among the open files).
  std::thread sampler([&] {
    const double end_s = minutes * 60 - 0.5;
    for (int k = 0;; ++k) {
      const double t = std::min(k * sample_s, end_s);
      auto at = start + std::chrono::milliseconds(static_cast<int64_t>(t * 1000));
      while (clk::now() < at && !done && !g_interrupted) std::this_thread::sleep_for(std::chrono::milliseconds(100));
      if (done || g_interrupted) return;
      take();
      if (t >= end_s) return;
    }
  });
  const auto res = loadgen::run(lo, {200, 403});
  done = true;
  sampler.join();
  const int exit_code = d.stop();

  bool pass = true;
  std::ostringstream why;
  if (g_interrupted) {
    pass = false;
    why << " interrupted;";
  }
  if (unexpected > 0) {
    pass = false;
    why << " " << unexpected << " unexpected answers (first: " << first_unexpected << ");";
  }
  if (res.errors > 0) {
    pass = false;
    why << " " << res.errors << " transport errors (first: " << res.first_error << ");";
  }
  if (exit_code != 0) {
    pass = false;
    why << " the daemon exited " << exit_code << ";";
  }
  // Minute 5 of 30: the first sample at or after a sixth of the run (or
  // --baseline-minute: a short check must start after the warm-up, about
  // pending_ttl + idle_passivate, before accounts start leaving memory).
  const double base_at = (baseline_minute >= 0 ? baseline_minute : minutes / 6) * 60;
  const sample* base = nullptr;
  for (auto& s : samples)
    if (s.elapsed_s >= base_at - 0.5) {
      base = &s;
      break;
    }
  if (samples.empty()) {
    std::cout << "soak: no sample taken\n";
    return 1;
  }
  const sample& last = samples.back();
  double growth = 0;
  if (!base || base == &last || base->rss_kib <= 0) {
    pass = false;
    why << " too few samples to compare RSS (take at least two after minute " << base_at / 60 << ");";
  } else {
    growth = static_cast<double>(last.rss_kib - base->rss_kib) / static_cast<double>(base->rss_kib);
    if (growth >= 0.05) {
      pass = false;
      why << " RSS grew " << std::fixed << std::setprecision(1) << growth * 100 << " % from " << base->elapsed_s / 60
          << " min to the end;";
    }
  }
  std::cout << std::fixed << std::setprecision(1) << "soak: " << minutes << " min at " << rate << " req/s ("
            << res.rate() << " answered/s in the window, p50 " << res.quantile_ms(0.5) << " ms, p99 "
            << res.quantile_ms(0.99) << " ms, late " << res.late << "); RSS "
            << (base ? base->rss_kib : 0) << " KiB at " << (base ? base->elapsed_s / 60 : 0) << " min -> "
            << last.rss_kib << " KiB at the end (" << std::setprecision(2) << growth * 100
            << " %), open files " << (base ? base->fds : 0) << " -> " << last.fds << "; statuses";
  for (auto& [st, n] : res.statuses) std::cout << " " << st << ":" << n;
  std::cout << "\nsoak: " << (pass ? "PASS" : "FAIL") << why.str() << "\nsoak: samples in " << csv << "\n";
  try {
    test::query_scalar(*server, "DROP DATABASE IF EXISTS " + bench::flows::db_name(dsn));
  } catch (const std::exception&) {
  }
  return pass ? 0 : 1;
}
