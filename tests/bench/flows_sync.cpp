// sync: POST /api/v1/jobs/sync of one streamer whose Flussonic API (the
// emulator, tests/flussonic/flussonic_emu.py) lists 100 000 open sessions,
// each playing the signed token of a pending device session of the database
// (25 000 accounts x 4 devices, inserted with SQL). Timed end to end: from
// the POST until the job's answer (the job answers once every account
// applied what was listed). Every listed session must be tracked and none
// ended or killed; afterwards all 100 000 rows are active (SQL).
// Anchors in the same run, over the very same pages (page size = the
// daemon's batch_size):
//   anchor:curl-pages   a bash loop of one curl per page following "next"
//                       (includes curl's process start, tens of ms here)
//   anchor:fetch-pages  the same loop in this process, a fresh connection
//                       per page like the daemon's client: the emulator's
//                       own serving time, the floor under a sync
#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>

#include "domain/model.hpp"
#include "domain/token.hpp"
#include "tests/bench/flows.hpp"
#include "tests/support/daemon.hpp"
#include "tests/support/flussonic_emu.hpp"
#include "tests/support/pg_test.hpp"

namespace maxsess::bench::flows {

using maxsess::test::daemon_options;
using maxsess::test::daemon_process;
using maxsess::test::flussonic_emulator;
using maxsess::test::http_client;
using maxsess::test::query_scalar;
using maxsess::test::update_counts;

namespace {

constexpr int sync_accounts = 25000;
constexpr int sync_devices = 4;
constexpr int sync_sessions = sync_accounts * sync_devices;
constexpr int sync_page = 100;  // playback_session.batch_size's default, set explicitly below
constexpr int shard_count = 256;  // cluster.shards' default, set explicitly below

struct fetch_result {
  int pages = 0;
  long listed = 0;
  double seconds = 0;
};

// Every page of the listing, following "next", a fresh connection per page.
fetch_result fetch_pages(uint16_t port) {
  const std::map<std::string, std::string> auth{
      {"Authorization", "Basic " + maxsess::base64_encode("flussonic:secret")}};
  fetch_result out;
  std::string cursor;
  const auto t0 = clk::now();
  for (;;) {
    http_client c("127.0.0.1", port);
    auto r = c.get("/streamer/api/v3/sessions?limit=" + std::to_string(sync_page) +
                       (cursor.empty() ? "" : "&cursor=" + query_escape(cursor)),
                   auth);
    expect(r, 200, "emulator listing");
    ++out.pages;
    for (auto at = r.body.find("\"type\": \"play\""); at != std::string::npos;
         at = r.body.find("\"type\": \"play\"", at + 1))
      ++out.listed;
    const auto at = r.body.rfind("\"next\": ");
    if (at == std::string::npos) throw std::runtime_error("emulator page without next");
    if (r.body.compare(at + 8, 4, "null") == 0) break;
    const auto q1 = at + 9, q2 = r.body.find('"', q1);
    cursor = r.body.substr(q1, q2 - q1);
    if (out.pages > 10 * sync_sessions / sync_page) throw std::runtime_error("emulator listing does not end");
  }
  out.seconds = std::chrono::duration<double>(clk::now() - t0).count();
  return out;
}

// The same loop as a shell user would write it: one curl per page.
fetch_result curl_pages(uint16_t port) {
  const std::string script =
      "base=http://127.0.0.1:" + std::to_string(port) + "; cursor=; pages=0\n"
      "while :; do\n"
      "  body=$(curl -sf -u flussonic:secret \"$base/streamer/api/v3/sessions?limit=" +
      std::to_string(sync_page) + "${cursor:+&cursor=$cursor}\") || { echo curl failed >&2; exit 1; }\n"
      "  pages=$((pages+1))\n"
      "  tail=${body: -400}\n"  // the cursor sits at the end: no pattern over the whole page
      "  case $tail in *'\"next\": null'*) break;; esac\n"
      "  cursor=${tail##*\\\"next\\\": \\\"}; cursor=${cursor%%\\\"*}\n"
      "done\n"
      "echo $pages\n";
  char path[] = "/tmp/maxsess-bench-curl-XXXXXX";
  const int fd = mkstemp(path);
  if (fd < 0) throw std::runtime_error("mkstemp failed");
  close(fd);
  {
    std::ofstream f(path);
    f << script;
  }
  const std::string out_path = std::string(path) + ".out";
  const auto t0 = clk::now();
  const int rc = std::system(("bash " + shell_quote(path) + " > " + shell_quote(out_path)).c_str());
  fetch_result out;
  out.seconds = std::chrono::duration<double>(clk::now() - t0).count();
  std::ifstream in(out_path);
  in >> out.pages;
  std::remove(path);
  std::remove(out_path.c_str());
  if (rc != 0) throw std::runtime_error("the curl loop failed (is curl installed?)");
  out.listed = -1;  // not counted by the shell loop
  return out;
}

// POST /api/v1/jobs/sync with no client timeout of 10 s (the HTTP client's):
// one connection, closed by the daemon after its answer.
std::pair<int, std::string> post_job(uint16_t port, const std::string& admin_token, const std::string& body) {
  const std::string req = "POST /api/v1/jobs/sync HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " +
                          admin_token + "\r\nContent-Type: application/json\r\nContent-Length: " +
                          std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
  const auto raw = maxsess::test::raw_exchange("127.0.0.1", port, req, 180000);
  int status = 0;
  if (raw.compare(0, 9, "HTTP/1.1 ") == 0) status = std::atoi(raw.c_str() + 9);
  const auto head_end = raw.find("\r\n\r\n");
  return {status, head_end == std::string::npos ? raw : raw.substr(head_end + 4)};
}

}  // namespace

int run_sync(const options& o, const std::string& server) {
  const std::string dsn = maxsess::test::create_migrated_database("bench_sync");
  if (!maxsess::test::python3_available()) throw std::runtime_error("sync needs python3 (the emulator)");
  flussonic_emulator emu({});
  emu.start();
  emu.configure({{"auto_update", false}});

  // The rows, their signed tokens, and the emulator's listing of them.
  const auto t_setup = clk::now();
  auto signer = maxsess::link_signer::from_spec(token_secret_spec);
  if (!signer) throw std::runtime_error("bad token secret spec");
  const auto expires = std::chrono::time_point_cast<std::chrono::seconds>(std::chrono::system_clock::now()) +
                       std::chrono::minutes(10);
  std::vector<std::string> tokens;
  tokens.reserve(sync_sessions);
  std::string shards = "{", token_array = "{";
  for (int k = 0; k < sync_accounts; ++k) {
    const std::string account = "y" + std::to_string(k);
    shards += (k ? "," : "") + std::to_string(maxsess::shard_of(account, shard_count));
    for (int d = 0; d < sync_devices; ++d) {
      tokens.push_back(signer->sign(account, "d" + std::to_string(d), "ch1", expires));
      token_array += (tokens.size() > 1 ? ",\"" : "\"") + tokens.back() + "\"";
    }
  }
  shards += "}";
  token_array += "}";
  query_scalar(dsn,
               "INSERT INTO streamers (id, host, url, api_url, api_user, api_password) VALUES (1, 's1', "
               "'http://s1', '" + emu.api_url() + "', 'flussonic', 'secret')");
  query_scalar(dsn, "INSERT INTO accounts (account_id, max_sessions) SELECT 'y' || k, " +
                        std::to_string(sync_devices) + " FROM generate_series(0, " +
                        std::to_string(sync_accounts - 1) + ") k");
  query_scalar(dsn,
               "INSERT INTO playback_sessions (account_id, device_id, shard, shard_epoch, status,"
               " content_type, stream, streamer_id, client_ip, token, started_at, updated_at)"
               " SELECT 'y' || ((i - 1) / " + std::to_string(sync_devices) + "), 'd' || ((i - 1) % " +
                   std::to_string(sync_devices) + "), ('" + shards + "'::int[])[(i - 1) / " +
                   std::to_string(sync_devices) + " + 1], 1, 'pending', 'live', 'ch1', 1, '10.0.0.1', t,"
                   " now(), now() FROM unnest('" + token_array + "'::text[]) WITH ORDINALITY AS u(t, i)");
  // In slices: each call stays far below the HTTP client's 10 s.
  nlohmann::json listed_open;
  for (std::size_t i = 0; i < tokens.size(); i += 20000) {
    const auto end = std::min(tokens.size(), i + 20000);
    listed_open = emu.control("POST", "/_emu/bulk",
                              {{"name", "ch1"}, {"tokens", std::vector<std::string>(tokens.begin() + i, tokens.begin() + end)}});
  }
  if (listed_open.value("open", 0) != sync_sessions)
    throw std::runtime_error("the emulator lists " + listed_open.dump() + ", not " + std::to_string(sync_sessions));
  const double setup_s = std::chrono::duration<double>(clk::now() - t_setup).count();

  // Warm the emulator (it serialises each session once, on the first
  // listing), then the anchors over the same pages.
  const auto warm = fetch_pages(emu.port());
  const auto fetched = fetch_pages(emu.port());
  const auto curled = o.sync_curl ? curl_pages(emu.port()) : fetch_result{};
  if (fetched.listed != sync_sessions || warm.listed != sync_sessions)
    throw std::runtime_error("the emulator listed " + std::to_string(fetched.listed) + " sessions");

  daemon_options opts;
  opts.dsn = dsn;
  opts.env = daemon_env(o);
  opts.env["MAXSESS__PLAYBACK_SESSION__BATCH_SIZE"] = std::to_string(sync_page);
  opts.env["MAXSESS__CLUSTER__SHARDS"] = std::to_string(shard_count);
  // No periodic sync during the run: only the one the bench starts.
  opts.env["MAXSESS__PLAYBACK_SESSION__SYNC_INTERVAL"] = "10m";
  opts.env["MAXSESS__PLAYBACK_SESSION__STALE_AFTER"] = "30m";
  daemon_process d(opts);
  d.start();
  track_pid(d.pid());
  // The shard owners load the 25 000 accounts at start; the sync finds
  // them in memory (as a node that has run for a while would).
  wait_settled(d.pid(), dsn, 1500, 120);
  const double hwm0 = kb_to_mib(proc_field(d.pid(), "VmHWM"));
  const double rss0 = kb_to_mib(proc_field(d.pid(), "VmRSS"));
  const double cpu0 = proc_cpu_seconds(d.pid());
  const double pg0 = pg_cpu_seconds();
  const double emu0 = proc_cpu_seconds(emu.pid());
  const auto t0 = clk::now();
  const int64_t t0_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
  const auto [status, answer] = post_job(d.port(), d.admin_token(), "{\"streamer_ids\":[1]}");
  const double sync_s = std::chrono::duration<double>(clk::now() - t0).count();
  const double cpu = proc_cpu_seconds(d.pid()) - cpu0;
  // Who else used the two cores during the sync: PostgreSQL (-1 when its
  // processes are not on this machine) and the emulator serving the pages.
  const double pg_cpu = pg0 < 0 ? -1 : pg_cpu_seconds() - pg0;
  const double emu_cpu = proc_cpu_seconds(emu.pid()) - emu0;
  const double hwm1 = kb_to_mib(proc_field(d.pid(), "VmHWM"));
  const double rss1 = kb_to_mib(proc_field(d.pid(), "VmRSS"));
  const auto active = query_scalar(dsn, "SELECT count(*) FROM playback_sessions WHERE status = 'active'");
  const int exit_code = d.stop();
  untrack_pid(d.pid());
  // How many of the sync's row updates were HOT (no index entry written):
  // "updates/HOT", once the daemon's closed connections have reported them.
  const std::string hot = update_counts(dsn, "playback_sessions", sync_sessions);
  // When the daemon asked for its last page: listing vs applying.
  int daemon_pages = 0;
  int64_t last_page_ms = 0;
  for (const auto& e : emu.control("GET", "/_emu/api_log").value("api_log", nlohmann::json::array()))
    if (e.value("utc_ms", int64_t{0}) >= t0_ms && e.value("method", "") == "GET") {
      ++daemon_pages;
      last_page_ms = std::max(last_page_ms, e.value("utc_ms", int64_t{0}));
    }
  const double listing_s = last_page_ms > 0 ? (last_page_ms - t0_ms) / 1000.0 : -1;
  emu.stop();

  long listed = -1, untracked = -1, ended = -1, killed = -1, adopted = -1;
  bool job_ok = false;
  std::string job_error;
  auto j = nlohmann::json::parse(answer, nullptr, false);
  if (status == 200 && j.is_object() && j.contains("streamers") && j["streamers"].is_array() &&
      j["streamers"].size() == 1 && j["streamers"][0].is_object()) {
    const auto& s = j["streamers"][0];
    job_error = s.value("error", std::string{});
    listed = s.value("listed", -1L);
    untracked = s.value("untracked", -1L);
    ended = s.value("ended", -1L);
    killed = s.value("killed", -1L);
    adopted = s.value("adopted", -1L);
    job_ok = s.value("ok", false);
  }
  const bool ok = job_ok && listed == sync_sessions && untracked == 0 && ended == 0 && killed == 0 &&
                  active == std::to_string(sync_sessions) && exit_code == 0;
  const std::string curl_seen =
      o.sync_curl ? fmt(curled.seconds, 2) + " s for " + std::to_string(curled.pages) + " pages (" +
                        fmt(curled.seconds / std::max(1, curled.pages) * 1000, 1) + " ms/page)"
                  : std::string("left out (--no-curl)");
  const std::string curl_ratio = o.sync_curl ? fmt(sync_s / curled.seconds, 2) : std::string("-");
  std::cout << "\n== scenario sync, " << sync_sessions << " sessions listed by the emulator ("
            << sync_accounts << " accounts x " << sync_devices << " devices), pages of " << sync_page << "\n"
            << "set-up       " << fmt(setup_s, 1) << " s (SQL rows, signed tokens, emulator listing)\n"
            << "sync         " << fmt(sync_s, 2) << " s end to end (POST /api/v1/jobs/sync -> answer), HTTP "
            << status << "\n"
            << "phases       listing: the daemon asked for its last of " << daemon_pages << " pages "
            << fmt(listing_s, 2) << " s in; applying what was listed: the remaining "
            << fmt(sync_s - listing_s, 2) << " s\n"
            << "job          listed " << listed << ", adopted " << adopted << ", untracked " << untracked
            << ", ended " << ended << ", killed " << killed << "; rows active after: " << active << "\n"
            << "daemon       CPU " << fmt(cpu, 2) << " s (" << fmt(cpu / sync_sessions * 1e6, 1)
            << " us/session), VmHWM " << fmt(hwm0) << " -> " << fmt(hwm1) << " MiB (+" << fmt(hwm1 - hwm0)
            << "), VmRSS " << fmt(rss0) << " -> " << fmt(rss1) << " MiB, exit " << exit_code << "\n"
            << "others       CPU PostgreSQL "
            << (pg_cpu < 0 ? std::string("unknown") : fmt(pg_cpu, 2) + " s (" + fmt(pg_cpu / sync_sessions * 1e6, 1) + " us/session)")
            << ", emulator " << fmt(emu_cpu, 2) << " s; row updates/HOT " << hot << "\n"
            << "anchors      fetch (fresh connection per page, this process) " << fmt(fetched.seconds, 2)
            << " s for " << fetched.pages << " pages (first, cold listing: " << fmt(warm.seconds, 2)
            << " s); curl loop " << curl_seen << "\n"
            << "ratio        sync / curl loop " << curl_ratio << ", sync / fetch "
            << fmt(sync_s / fetched.seconds, 2) << " (target <= 1.5 and <= 2 s)\n"
            << "result       " << (ok ? "ok" : "FAILED: " + answer.substr(0, 400)) << "\n";
  if (!job_error.empty()) job_error = "; job error: " + job_error;
  nlohmann::ordered_json line;
  line["scenario"] = "sync";
  line["metric"] = "s";
  line["value"] = std::round(sync_s * 1000) / 1000;
  line["p50_ms"] = nullptr;
  line["p99_ms"] = nullptr;
  line["cpu_us_per_op"] = std::round(cpu / sync_sessions * 1e7) / 10;
  line["rss_mib"] = std::round(rss1 * 10) / 10;
  line["note"] = std::to_string(sync_sessions) + " sessions listed, pages of " + std::to_string(sync_page) +
                 ", VmHWM +" + fmt(hwm1 - hwm0) + " MiB during the sync; listed " + std::to_string(listed) +
                 ", untracked " + std::to_string(untracked) + ", rows active " + active + job_error;
  line["ok"] = ok;
  line["listed"] = listed;
  line["hwm_growth_mib"] = std::round((hwm1 - hwm0) * 10) / 10;
  line["listing_s"] = std::round(listing_s * 1000) / 1000;
  if (pg_cpu >= 0) line["pg_cpu_us_per_op"] = std::round(pg_cpu / sync_sessions * 1e7) / 10;
  line["emulator_cpu_s"] = std::round(emu_cpu * 100) / 100;
  emit(line);
  auto anchor = [sync_s = sync_s](const char* name, const fetch_result& f, const std::string& note) {
    nlohmann::ordered_json a;
    a["scenario"] = name;
    a["metric"] = "s";
    a["value"] = std::round(f.seconds * 1000) / 1000;
    a["note"] = note + ", " + std::to_string(f.pages) + " pages of " + std::to_string(sync_page);
    a["ratio"] = std::round(sync_s / f.seconds * 100) / 100;  // sync / anchor
    emit(a);
  };
  if (o.sync_curl)
    anchor("anchor:curl-pages", curled, "bash loop, one curl per page following next (process start included)");
  anchor("anchor:fetch-pages", fetched, "the same pages, a fresh connection per page, no process start");
  drop_database(server, dsn);
  return ok ? 0 : 1;
}

}  // namespace maxsess::bench::flows
