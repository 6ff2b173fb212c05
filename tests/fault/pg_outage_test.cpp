// PostgreSQL crashes (or hangs: SIGSTOP) under link and webhook load, then
// comes back (issue 8, fault tests). The server is private to the test (scripts/pg.sh
// on a folder of its own), so stopping it disturbs no other test.
//
// During the outage: links and webhooks get 503 + Retry-After, never a
// 200 that is not durable; /readyz is 503; Flussonic auth checks keep
// answering — a decision the account holds in memory (a killed device, a
// link reused from another address, a token for another stream, a forged
// token) is still refused, and a valid token whose binding cannot be
// written is allowed after node.request_timeout (docs/architecture.md, "A
// Flussonic auth call"). Afterwards every acknowledged approval and event
// is in the database.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <iostream>

#include "storage/store.hpp"
#include "tests/fault/fault_support.hpp"
#include "tests/support/daemon.hpp"
#include "tests/support/flussonic_emu.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/pg_test.hpp"

using namespace maxsess::test;
using namespace maxsess::test::fault;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

json link(http_client& c, const std::string& account, const std::string& device, int expect = 200) {
  json body = {{"account_id", account},
               {"device_id", device},
               {"content", {{"type", "live"}, {"stream", "news"}}},
               {"client_ip", "10.0.0.1"}};
  auto r = c.post_json("/api/v1/links", body.dump());
  EXPECT_EQ(r.status, expect) << r.body;
  return json::parse(r.body, nullptr, false);
}

// crash: the server goes away (connections reset, new ones refused).
// hang: the server stops answering (SIGSTOP): TCP still accepts, nothing
// comes back, until SIGCONT.
enum class outage { crash, hang };

void run_outage(outage kind) {
  private_pg pg;
  maxsess::storage::migrate(pg.dsn());

  daemon_options o;
  o.dsn = pg.dsn();
  // Nothing expires during the test: the ledger check expects every
  // approved device still pending or active unless it sent a close.
  o.extra_yaml = "  webhooks: true\n  pending_ttl: 10m\n  stale_after: 10m\n";
  o.env = {{"MAXSESS__NODE__REQUEST_TIMEOUT", "2s"}};
  daemon_process d(o);
  d.start();
  flussonic_emulator::options eo;
  eo.auth_url = "http://127.0.0.1:" + std::to_string(d.port()) + "/flussonic/auth";
  flussonic_emulator emu(eo);
  emu.start();
  // The emulator's own auth timeout (3 s) must not decide for the daemon.
  emu.configure({{"auto_update", false}, {"auth_timeout_ms", 9000}});

  http_client c("127.0.0.1", d.port());
  const std::map<std::string, std::string> admin = {{"Authorization", "Bearer " + d.admin_token()}};
  json s1 = {{"host", "s1.test"}, {"url", emu.api_url()}, {"api_url", emu.api_url()},
             {"api_user", "flussonic"}, {"api_password", "secret"}};
  ASSERT_EQ(c.put_json("/api/v1/streamers/1", s1.dump(), admin).status, 200);
  std::vector<std::string> accounts;
  for (int i = 0; i < 8; ++i) {
    accounts.push_back("load" + std::to_string(i));
    ASSERT_EQ(c.put_json("/api/v1/accounts/" + accounts.back(), R"({"max_sessions":0})", admin).status, 200);
  }

  // Decisions held in memory before the outage: `reused` plays from
  // 10.0.0.1, `killed` was killed by the portal, `fresh` (another account,
  // so a failed write there cannot drop the first account's memory) has a
  // link Flussonic has not opened yet.
  const std::string reused = link(c, "authacc", "reused")["token"];
  auto playing = emu.play("news", reused, "10.0.0.1");
  ASSERT_TRUE(playing["allowed"].get<bool>()) << playing.dump();
  const std::string killed = link(c, "authacc", "killed")["token"];
  ASSERT_TRUE(emu.play("news", killed, "10.0.0.1")["allowed"].get<bool>());
  ASSERT_EQ(c.del("/api/v1/accounts/authacc/devices/killed/session?kill=true", admin).status, 204);
  const std::string fresh = link(c, "authacc2", "fresh")["token"];
  const std::string hooked = link(c, "hookacc", "hooked")["token"];

  link_webhook_load load({d.port(), "s1.test", accounts, 2, 2, "d", 11});
  load.start();
  ASSERT_TRUE(load.wait_approvals(60, 30s)) << load.summary();

  if (kind == outage::crash)
    pg.halt(/*immediate=*/true);  // no shutdown checkpoint
  else
    pg.freeze();
  EXPECT_TRUE(eventually([&] { return http_client("127.0.0.1", d.port()).get("/readyz").status == 503; }, 10s))
      << "/readyz still 200 with the database down";
  EXPECT_TRUE(load.wait_503s(6, 15s)) << "links are not refused with 503 + Retry-After\n" << load.summary();

  // Auth checks keep answering, within the daemon's own deadline (2 s)
  // plus a generous margin for a loaded machine.
  auto timed_play = [&](const std::string& stream, const std::string& token, const std::string& ip) {
    auto t0 = std::chrono::steady_clock::now();
    auto p = emu.play(stream, token, ip);
    auto took = std::chrono::steady_clock::now() - t0;
    EXPECT_LT(took, 6s) << "auth check of " << token << " took too long during the outage";
    return p;
  };
  // The periodic check of a session already playing: answered from
  // memory (its progress waits for progress_write_delay, not for a commit).
  auto t0 = std::chrono::steady_clock::now();
  auto u = emu.update(playing["id"]);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 6s);
  EXPECT_TRUE(u["allowed"].get<bool>()) << "update_session of a playing session: " << u.dump();
  EXPECT_EQ(u["status"], 200) << u.dump();
  auto p = timed_play("news", reused, "198.51.100.9");
  EXPECT_FALSE(p["allowed"].get<bool>()) << "a link playing elsewhere is refused from memory: " << p.dump();
  EXPECT_EQ(p["status"], 403) << p.dump();
  p = timed_play("news", killed, "10.0.0.1");
  EXPECT_FALSE(p["allowed"].get<bool>()) << "a killed device is refused from memory: " << p.dump();
  EXPECT_EQ(p["status"], 403) << p.dump();
  p = timed_play("sports", fresh, "10.0.0.3");
  EXPECT_EQ(p["status"], 403) << "a token for another stream: " << p.dump();
  p = timed_play("news", "m1.forged.1999999999.YWNjMQB0djEAbmV3cw.AAAA", "10.0.0.3");
  EXPECT_EQ(p["status"], 403) << "a forged token: " << p.dump();
  p = timed_play("news", fresh, "10.0.0.3");
  EXPECT_TRUE(p["allowed"].get<bool>()) << "a valid token plays when its binding cannot be written: " << p.dump();
  EXPECT_EQ(p["status"], 200) << p.dump();

  // A webhook batch that cannot be made durable is 503 + Retry-After, so
  // Flussonic resends it; after the outage the resend lands.
  json opened = json::array({{{"event", "play_opened"}, {"event_id", 42}, {"id", "fs-hooked"},
                              {"media", "news"}, {"token", hooked}, {"ip", "10.0.0.1"},
                              {"utc_ms", 1764000000000LL}}});
  auto w = c.post_json("/webhook/playback-session/flussonic/s1.test", opened.dump());
  EXPECT_EQ(w.status, 503) << w.body;
  EXPECT_EQ(w.headers.count("retry-after"), 1u) << w.body;

  if (kind == outage::crash)
    pg.start();
  else
    pg.thaw();
  EXPECT_TRUE(eventually([&] { return http_client("127.0.0.1", d.port()).get("/readyz").status == 200; }, 30s))
      << "/readyz did not come back\n" << d.log();
  EXPECT_TRUE(load.wait_approvals(60, 30s)) << "links did not come back\n" << load.summary();
  load.stop();
  w = c.post_json("/webhook/playback-session/flussonic/s1.test", opened.dump());
  EXPECT_EQ(w.status, 200) << w.body;

  EXPECT_EQ(load.error_count(), 0u) << load.summary();
  auto t = load.totals();
  EXPECT_GT(t.opened_acked, 0u) << load.summary();
  EXPECT_GT(t.closed_acked, 0u) << load.summary();
  for (auto& m : load.missing_in(pg.dsn())) ADD_FAILURE() << m;
  EXPECT_EQ(query_scalar(pg.dsn(), "select status from playback_sessions where device_id='hooked'"), "active");
  EXPECT_EQ(query_scalar(pg.dsn(), "select status from playback_sessions where device_id='killed'"), "killed");
  std::cout << "[ fault ] " << load.summary() << "\n";
  EXPECT_EQ(d.stop(), 0) << d.log();
}

}  // namespace

TEST(FaultPostgres, CrashUnderLinkAndWebhookLoadLosesNothingAcknowledged) {
  if (!python3_available()) GTEST_SKIP() << "python3 is needed for the Flussonic emulator";
  run_outage(outage::crash);
}

TEST(FaultPostgres, HangUnderLinkAndWebhookLoadLosesNothingAcknowledged) {
  if (!python3_available()) GTEST_SKIP() << "python3 is needed for the Flussonic emulator";
  run_outage(outage::hang);
}
