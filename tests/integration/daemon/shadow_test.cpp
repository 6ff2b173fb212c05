// Shadow mode end to end (docs/shadow.md) on a real daemon and PostgreSQL:
// an over-limit link is approved with the flag, stored, counted, logged and
// on the audit trail;
// the mode is shown; SIGHUP switches to enforce without a restart and the
// next over-limit request is refused while the over-limit session plays on.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <csignal>
#include <fstream>
#include <functional>
#include <iterator>
#include <thread>

#include "tests/support/daemon.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/pg_test.hpp"

using namespace maxsess::test;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds limit = 15s) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (pred()) return true;
    std::this_thread::sleep_for(50ms);
  }
  return pred();
}

class Shadow : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!server_dsn()) GTEST_SKIP() << "no test PostgreSQL";
    dsn = create_migrated_database("shadow");
    daemon_options o;
    o.dsn = dsn;
    o.extra_yaml = "  mode: shadow\n";
    d = std::make_unique<daemon_process>(o);
    d->start();
    client = std::make_unique<http_client>("127.0.0.1", d->port());
    ASSERT_EQ(client->put_json("/api/v1/streamers/1", R"({"host":"s1.test","url":"http://s1.test"})", admin()).status,
              200);
    ASSERT_EQ(client->put_json("/api/v1/accounts/acc", R"({"max_sessions":1})", admin()).status, 200);
  }
  void TearDown() override {
    if (d && d->running()) {
      EXPECT_EQ(d->stop(), 0) << d->log();
    }
  }
  std::map<std::string, std::string> admin() const { return {{"Authorization", "Bearer " + d->admin_token()}}; }
  http_reply link(const std::string& device) {
    json body = {{"account_id", "acc"}, {"device_id", device}, {"content", {{"type", "live"}, {"stream", "news"}}}};
    return client->post_json("/api/v1/links", body.dump());
  }
  std::string metrics() { return client->get("/metrics").body; }
  static bool has(const std::string& text, const std::string& what) { return text.find(what) != std::string::npos; }
  std::string mode() { return json::parse(client->get("/api/v1/cluster", admin()).body).value("mode", "?"); }
  json session_of(const std::string& device) {
    auto account = json::parse(client->get("/api/v1/accounts/acc", admin()).body);
    for (auto& s : account["sessions"])
      if (s["device_id"] == device) return s;
    return json();
  }

  std::string dsn;
  std::unique_ptr<daemon_process> d;
  std::unique_ptr<http_client> client;
};

TEST_F(Shadow, OverLimitLinkIsApprovedFlaggedAndSighupSwitchesToEnforce) {
  const pid_t pid = d->pid();
  EXPECT_EQ(mode(), "shadow");
  EXPECT_TRUE(has(metrics(), "maxsess_playback_mode{mode=\"shadow\"} 1")) << metrics();
  EXPECT_TRUE(has(metrics(), "maxsess_playback_mode{mode=\"enforce\"} 0")) << metrics();
  EXPECT_TRUE(has(d->log(), "playback_session.mode=shadow")) << d->log();  // the ready line

  auto tv = link("tv");
  ASSERT_EQ(tv.status, 200) << tv.body;
  EXPECT_EQ(json::parse(tv.body)["session"]["over_limit"], false);

  // Enforce would answer 403: shadow approves, flags, records.
  auto phone = link("phone");
  ASSERT_EQ(phone.status, 200) << phone.body;
  auto pj = json::parse(phone.body);
  EXPECT_EQ(pj["decision"], "approved");
  EXPECT_EQ(pj["session"]["over_limit"], true);
  EXPECT_FALSE(pj.value("url", "").empty());
  EXPECT_EQ(session_of("phone")["over_limit"], true);
  EXPECT_EQ(session_of("tv")["over_limit"], false);
  EXPECT_EQ(query_scalar(dsn, "SELECT over_limit FROM playback_sessions WHERE device_id = 'phone'"), "t");
  auto m = metrics();
  EXPECT_TRUE(has(m, "maxsess_link_decisions_total{result=\"would_deny\"} 1")) << m;
  EXPECT_TRUE(has(m, "maxsess_link_decisions_total{result=\"approved\"} 1")) << m;
  EXPECT_FALSE(has(m, "maxsess_link_decisions_total{result=\"denied\"}")) << m;
  EXPECT_TRUE(has(m, "maxsess_shadow_decisions_total{decision=\"would_deny\",reason=\"max_sessions_reached\"} 1")) << m;
  EXPECT_TRUE(has(d->log(), "info  audit: would_deny account=acc device=phone reason=max_sessions_reached")) << d->log();
  // The audit trail, committed with the row (the events API reads this table).
  EXPECT_EQ(query_scalar(dsn, "SELECT kind || ' ' || reason || ' ' || node || ' ' || (holders->0->>'device_id')"
                              " FROM account_events WHERE account_id = 'acc' AND device_id = 'phone'"),
            "would_deny max_sessions_reached test-node tv");

  // The over-limit session is not counted: a third device is another
  // would_deny (not a third counted slot), listing only tv as the holder.
  auto tablet = link("tablet");
  ASSERT_EQ(tablet.status, 200) << tablet.body;
  EXPECT_EQ(json::parse(tablet.body)["session"]["over_limit"], true);
  EXPECT_TRUE(has(d->log(), "device=tablet reason=max_sessions_reached node=test-node max_sessions=1 holders_count=1 holders=tv ")) << d->log();

  // SIGHUP to enforce: no restart, the mode shows, the next one is refused.
  {
    std::string cfg;
    {
      std::ifstream in(d->config_path());
      cfg.assign(std::istreambuf_iterator<char>(in), {});
    }
    auto at = cfg.find("mode: shadow");
    ASSERT_NE(at, std::string::npos) << cfg;
    cfg.replace(at, 12, "mode: enforce");
    std::ofstream(d->config_path()) << cfg;
  }
  ASSERT_EQ(::kill(d->pid(), SIGHUP), 0);
  ASSERT_TRUE(eventually([&] { return has(d->log(), "SIGHUP: playback mode switched from=shadow to=enforce"); }))
      << d->log();
  EXPECT_FALSE(has(d->log(), "take effect only after a restart")) << d->log();
  EXPECT_EQ(mode(), "enforce");
  EXPECT_TRUE(has(metrics(), "maxsess_playback_mode{mode=\"enforce\"} 1")) << metrics();
  EXPECT_TRUE(has(metrics(), "maxsess_playback_mode{mode=\"shadow\"} 0")) << metrics();

  auto refused = link("laptop");
  ASSERT_EQ(refused.status, 403) << refused.body;
  auto rj = json::parse(refused.body);
  EXPECT_EQ(rj["error"]["code"], "max_sessions_reached");
  ASSERT_EQ(rj["error"]["sessions"].size(), 1u) << "only the counted session holds the slot";
  EXPECT_EQ(rj["error"]["sessions"][0]["device_id"], "tv");
  EXPECT_TRUE(has(metrics(), "maxsess_link_decisions_total{result=\"denied\"} 1")) << metrics();
  EXPECT_EQ(query_scalar(dsn, "SELECT count(*) FROM account_events WHERE kind = 'would_deny'"), "2")
      << "enforce writes no would_deny";
  // The over-limit sessions play on until they end (docs/shadow.md).
  EXPECT_EQ(session_of("phone")["status"], "pending");
  EXPECT_EQ(session_of("phone")["over_limit"], true);
  EXPECT_EQ(d->pid(), pid) << "no restart";
}

}  // namespace
