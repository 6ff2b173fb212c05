// The streamer access rules with the Flussonic emulator calling as Flussonic
// does (docs/security.md): the per-streamer secret rides in the path of the
// auth_backend / event_sink URL, which Flussonic keeps whatever it does with
// a query string of its own in that URL (undocumented: the emulator plays
// both readings).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <functional>
#include <thread>

#include "tests/support/daemon.hpp"
#include "tests/support/flussonic_emu.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/pg_test.hpp"

using namespace maxsess::test;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds limit = 10s) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (pred()) return true;
    std::this_thread::sleep_for(50ms);
  }
  return pred();
}

const std::string secret = "fl-access-3d9a0c1b7e";

class FlussonicAccess : public ::testing::Test {
 protected:
  // The emulator is configured with the URLs an operator writes into
  // flussonic.conf (docs/flussonic.md), including a query of its own.
  void boot(const std::string& url_secret) {
    if (!server_dsn()) GTEST_SKIP() << "no test PostgreSQL";
    if (!python3_available()) GTEST_SKIP() << "python3 is needed for the Flussonic emulator";
    dsn = create_migrated_database("fla");
    daemon_options o;
    o.dsn = dsn;
    o.extra_yaml = "  webhooks: true\n";
    o.env = {{"MAXSESS__SECURITY__STREAMER_CALLS", "registered"}};
    d = std::make_unique<daemon_process>(o);
    const std::string base = "http://127.0.0.1:" + std::to_string(d->port());
    flussonic_emulator::options eo;
    eo.auth_url = base + "/flussonic/auth/s1.test/" + url_secret + "?origin=flussonic";
    eo.webhook_url = base + "/webhook/playback-session/flussonic/s1.test/" + url_secret;
    emu = std::make_unique<flussonic_emulator>(eo);
    d->start();
    emu->start();
    emu->configure({{"auto_update", false}});
    client = std::make_unique<http_client>("127.0.0.1", d->port());
    put_streamer({{"access_secrets", {secret}}});
  }
  void TearDown() override {
    if (d && d->running()) {
      EXPECT_EQ(d->stop(), 0) << d->log();
    }
  }
  void put_streamer(const json& access) {
    json s = {{"host", "s1.test"}, {"url", emu->api_url()}, {"api_url", emu->api_url()},
              {"api_user", "flussonic"}, {"api_password", "secret"}};
    s.update(access);
    auto r = client->put_json("/api/v1/streamers/1", s.dump(),
                              {{"Authorization", "Bearer " + d->admin_token()}});
    ASSERT_EQ(r.status, 200) << r.body;
  }
  std::string token(const std::string& device) {
    json body = {{"account_id", "acc"}, {"device_id", device}, {"content", {{"type", "live"}, {"stream", "news"}}}};
    auto r = client->post_json("/api/v1/links", body.dump());
    EXPECT_EQ(r.status, 200) << r.body;
    return json::parse(r.body)["token"];
  }
  std::string status(const std::string& device) {
    return query_scalar(dsn, "select status from playback_sessions where account_id='acc' and device_id='" +
                                 device + "'");
  }

  std::string dsn;
  std::unique_ptr<daemon_process> d;
  std::unique_ptr<flussonic_emulator> emu;
  std::unique_ptr<http_client> client;
};

TEST_F(FlussonicAccess, PathSecretWorksWhateverFlussonicDoesWithItsQuery) {
  boot(secret);
  int n = 0;
  for (const char* mode : {"append", "drop"}) {
    emu->configure({{"configured_query", mode}});
    const std::string dev = std::string("tv-") + mode;
    auto p = emu->play("news", token(dev));
    ASSERT_TRUE(p["allowed"].get<bool>()) << mode << " " << p.dump() << "\n" << d->log();
    EXPECT_EQ(status(dev), "active");
    emu->close(p["id"]);
    emu->flush();  // play_closed reached the webhook, through the path secret
    ++n;
    EXPECT_TRUE(eventually([&] { return status(dev) == "ended"; })) << mode << " " << status(dev);
  }
  EXPECT_EQ(n, 2);
  auto st = emu->state();
  EXPECT_EQ(st["webhook_failures"], 0) << st["webhook_statuses"].dump();
}

TEST_F(FlussonicAccess, WrongSecretIsRefusedUntilTheStreamerAcceptsIt) {
  const std::string other = "fl-other-secret-77a1c0";
  boot(other);
  auto p = emu->play("news", token("tv"));
  EXPECT_FALSE(p["allowed"].get<bool>()) << p.dump();
  EXPECT_EQ(p["status"], 403);
  auto posted = emu->post_events(json::array());
  EXPECT_EQ(posted["status"], 403) << posted.dump();
  auto m = client->get("/metrics").body;
  EXPECT_NE(m.find("maxsess_streamer_calls_refused_total{endpoint=\"auth\",reason=\"bad_secret\"}"),
            std::string::npos);
  // Rotation: the streamer takes the new secret next to the old one; the
  // emulator (Flussonic) already sends the new one. No restart.
  put_streamer({{"access_secrets", {other, secret}}});
  auto again = emu->play("news", token("tv2"));
  EXPECT_TRUE(again["allowed"].get<bool>()) << again.dump();
  EXPECT_EQ(emu->post_events(json::array())["status"], 200);
}

TEST_F(FlussonicAccess, AllowListFollowsTheRegistryWithoutARestart) {
  boot(secret);
  // The emulator calls from 127.0.0.1.
  put_streamer({{"access_secrets", {secret}}, {"allowed_sources", {"192.0.2.0/24"}}});
  auto p = emu->play("news", token("tv"));
  EXPECT_FALSE(p["allowed"].get<bool>()) << p.dump();
  put_streamer({{"access_secrets", {secret}}, {"allowed_sources", {"127.0.0.1"}}});
  auto q = emu->play("news", token("tv2"));
  EXPECT_TRUE(q["allowed"].get<bool>()) << q.dump();
}

}  // namespace
