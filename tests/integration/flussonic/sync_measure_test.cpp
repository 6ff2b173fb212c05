// Measures a sync of many listed sessions end to end (issue 7: 100 k
// sessions in ≤ 2 s, ≤ 1.5 × curl fetching the same pages, bounded memory):
// the real maxsessd and PostgreSQL, the emulator listing N sessions with our
// signed tokens (2 devices per account), one POST /api/v1/jobs/sync timed
// from the outside. Skipped unless MAXSESS_SYNC_MEASURE=N is set (it takes a
// while and loads the machine); MAXSESS_SYNC_BATCH sets the page size
// (default 1000). Prints the figures; asserts only what must hold.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <iterator>
#include <sstream>
#include <thread>
#include <unistd.h>

#include "domain/token.hpp"
#include "tests/support/daemon.hpp"
#include "tests/support/flussonic_emu.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/pg_test.hpp"

using namespace maxsess;
using namespace maxsess::test;
using nlohmann::json;

namespace {

// VmRSS / VmHWM of a process, in KiB.
long proc_kib(pid_t pid, const char* field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(field, 0) == 0) return std::atol(line.c_str() + std::string(field).size() + 1);
  return -1;
}

// CPU seconds a process used so far (user + system).
double cpu_seconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto p = stat.rfind(')');
  if (p == std::string::npos) return -1;
  std::istringstream rest(stat.substr(p + 2));
  std::string f;
  double utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> f; ++i) {
    if (i == 14) utime = std::atof(f.c_str());
    if (i == 15) stime = std::atof(f.c_str());
  }
  return (utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

std::string run(const std::string& cmd) {
  std::string out;
  if (FILE* p = ::popen(cmd.c_str(), "r")) {
    char buf[512];
    while (std::fgets(buf, sizeof buf, p)) out += buf;
    ::pclose(p);
  }
  return out;
}

TEST(SyncMeasure, ManyListedSessions) {
  const char* n_env = std::getenv("MAXSESS_SYNC_MEASURE");
  if (!n_env) GTEST_SKIP() << "set MAXSESS_SYNC_MEASURE=100000 to measure";
  if (!server_dsn()) GTEST_SKIP() << "no test PostgreSQL";
  if (!python3_available()) GTEST_SKIP() << "python3 is needed for the Flussonic emulator";
  const int n = std::atoi(n_env);
  const int batch = std::getenv("MAXSESS_SYNC_BATCH") ? std::atoi(std::getenv("MAXSESS_SYNC_BATCH")) : 1000;

  daemon_options o;
  o.dsn = create_migrated_database("syncm");
  // No periodic sync during the measurement; stale_after follows the rule.
  o.extra_yaml = "  webhooks: false\n  sync_interval: 1h\n  stale_after: 3h\n";
  o.env["MAXSESS__LOG__LEVEL"] = "info";  // as deployed: no line per session
  daemon_process d(o);
  flussonic_emulator emu({});
  d.start();
  emu.start();
  emu.configure({{"auto_update", false}});
  http_client client("127.0.0.1", d.port());
  std::map<std::string, std::string> admin{{"Authorization", "Bearer " + d.admin_token()}};
  json s = {{"host", "s1.test"}, {"url", emu.api_url()}, {"api_url", emu.api_url()},
            {"api_user", "flussonic"}, {"api_password", "secret"}};
  ASSERT_EQ(client.put_json("/api/v1/streamers/1", s.dump(), admin).status, 200);

  // Our signed tokens, as links would carry them: 2 devices per account.
  auto signer = link_signer::from_spec("t1:integration-test-secret");
  ASSERT_TRUE(signer);
  auto expires = std::chrono::time_point_cast<std::chrono::milliseconds>(std::chrono::system_clock::now()) +
                 std::chrono::minutes(10);
  json tokens = json::array();
  for (int i = 0; i < n; ++i) {
    tokens.push_back(signer->sign("acc" + std::to_string(i / 2), "tv" + std::to_string(i % 2), "news",
                                  sys_time{expires}));
    if (tokens.size() == 10000 || i == n - 1) {
      emu.control("POST", "/_emu/bulk", {{"tokens", tokens}, {"name", "news"}});
      tokens = json::array();
    }
  }

  std::printf("daemon pid %d\n", static_cast<int>(d.pid()));
  auto curl = run("bash -c 'time " + std::string(MAXSESS_SOURCE_DIR) + "/tests/flussonic/curl_pages.sh " +
                  emu.api_url() + "/streamer/api/v3 " + std::to_string(batch) + "' 2>&1 | tr '\\n' ' '");
  std::printf("curl: %s\n", curl.c_str());
  std::fflush(stdout);

  for (int round = 1; round <= 2; ++round) {
    long rss0 = proc_kib(d.pid(), "VmRSS:");
    double cpu0 = cpu_seconds(d.pid());
    // curl, not http_client: a first sync (every session adopted) may take
    // longer than http_client's 10 s on a loaded machine.
    auto t0 = std::chrono::steady_clock::now();
    auto body = run("curl -s -m 120 -H 'Authorization: Bearer " + d.admin_token() +
                    "' -H 'Content-Type: application/json' -d '{\"batch_size\":" + std::to_string(batch) +
                    "}' http://127.0.0.1:" + std::to_string(d.port()) + "/api/v1/jobs/sync");
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    auto rep = json::parse(body, nullptr, false);
    ASSERT_TRUE(rep.is_object()) << body;
    ASSERT_TRUE(rep["ok"].get<bool>()) << body;
    EXPECT_EQ(rep["streamers"][0]["listed"], n);
    if (round == 1) {
      EXPECT_EQ(rep["streamers"][0]["adopted"], n);
    }
    std::printf("sync %d (%s): %.3f s, daemon CPU %.3f s, %s; RSS %ld -> %ld KiB (peak %ld KiB)\n", round,
                round == 1 ? "all adopted" : "all known", secs, cpu_seconds(d.pid()) - cpu0,
                rep["streamers"][0].dump().c_str(), rss0,
                proc_kib(d.pid(), "VmRSS:"), proc_kib(d.pid(), "VmHWM:"));
    std::fflush(stdout);
    if (round == 1 && std::getenv("MAXSESS_SYNC_PAUSE"))  // time to attach perf to the daemon
      std::this_thread::sleep_for(std::chrono::seconds(std::atoi(std::getenv("MAXSESS_SYNC_PAUSE"))));
  }
  // Then the API from issue 7 ("next" = cursor + 1 forever, the same
  // sessions on every page): the sync stops at sync_max_sessions.
  emu.configure({{"api_next", "increment"}});
  {
    long hwm0 = proc_kib(d.pid(), "VmHWM:");
    auto t0 = std::chrono::steady_clock::now();
    auto body = run("curl -s -m 300 -H 'Authorization: Bearer " + d.admin_token() +
                    "' -H 'Content-Type: application/json' -d '{\"batch_size\":" + std::to_string(batch) +
                    "}' http://127.0.0.1:" + std::to_string(d.port()) + "/api/v1/jobs/sync");
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    auto rep = json::parse(body, nullptr, false);
    ASSERT_TRUE(rep.is_object()) << body;
    EXPECT_FALSE(rep["ok"].get<bool>()) << body;
    std::printf("endless listing: %.3f s, %s; peak RSS %ld -> %ld KiB\n", secs, rep["streamers"][0].dump().c_str(),
                hwm0, proc_kib(d.pid(), "VmHWM:"));
  }
  auto log = d.log();
  for (auto at = log.find("slow sync"); at != std::string::npos; at = log.find("slow sync", at + 1))
    std::printf("%s\n", log.substr(at, log.find('\n', at) - at).c_str());
  EXPECT_EQ(d.stop(), 0);
}

}  // namespace
