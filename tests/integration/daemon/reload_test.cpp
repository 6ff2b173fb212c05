// SIGHUP (`systemctl reload`) on a real daemon: what it applies without a
// restart (log.level, the streamers table, playback_session.mode; the
// tokens are in security_test.cpp) and what it only names.
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

std::size_t count_of(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

class Reload : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!server_dsn()) GTEST_SKIP() << "no test PostgreSQL";
    dsn = create_migrated_database("reload");
  }
  void TearDown() override {
    if (d && d->running()) {
      EXPECT_EQ(d->stop(), 0) << d->log();
    }
  }
  void boot(const std::string& extra_yaml = "  webhooks: true\n") {
    daemon_options o;
    o.dsn = dsn;
    o.extra_yaml = extra_yaml;
    d = std::make_unique<daemon_process>(o);
    edit("level: debug", "level: info");  // the harness writes debug
    d->start();
    client = std::make_unique<http_client>("127.0.0.1", d->port());
  }
  // Replaces `from` with `to` in the daemon's config file.
  void edit(const std::string& from, const std::string& to) {
    std::string cfg;
    {
      std::ifstream in(d->config_path());
      cfg.assign(std::istreambuf_iterator<char>(in), {});
    }
    auto at = cfg.find(from);
    ASSERT_NE(at, std::string::npos) << from << " not in\n" << cfg;
    cfg.replace(at, from.size(), to);
    std::ofstream(d->config_path()) << cfg;
  }
  // Sends SIGHUP and waits until the daemon logged that it applied it (the
  // n-th "configuration reloaded" line, counted over the whole log).
  void hup_and_wait() {
    const auto before = count_of(d->log(), "SIGHUP: configuration reloaded");
    ASSERT_EQ(::kill(d->pid(), SIGHUP), 0);
    ASSERT_TRUE(eventually([&] { return count_of(d->log(), "SIGHUP: configuration reloaded") > before; }))
        << d->log();
  }
  std::map<std::string, std::string> admin() const { return {{"Authorization", "Bearer " + d->admin_token()}}; }
  // A webhook event whose token maxsess does not know: the daemon logs it
  // at debug only ("event without a known token").
  void post_unknown_event(const std::string& session) {
    json batch = json::array({{{"event", "play_opened"}, {"event_id", 1}, {"id", session}, {"media", "news"},
                               {"token", "not-a-maxsess-token"}, {"ip", "10.0.0.1"}}});
    auto r = client->post_json("/webhook/playback-session/flussonic/s1.test", batch.dump());
    ASSERT_EQ(r.status, 200) << r.body;
  }

  std::string dsn;
  std::unique_ptr<daemon_process> d;
  std::unique_ptr<http_client> client;
};

TEST_F(Reload, LogLevelChangesWithoutARestart) {
  boot();
  const pid_t pid = d->pid();
  ASSERT_EQ(client->put_json("/api/v1/streamers/1", R"({"host":"s1.test","url":"http://s1.test"})", admin()).status,
            200);
  // The webhook answers once the event was handled (and logged, or not).
  post_unknown_event("sess-at-info");
  EXPECT_EQ(d->log().find("sess-at-info"), std::string::npos) << d->log();

  edit("level: info", "level: debug");
  hup_and_wait();
  post_unknown_event("sess-at-debug");
  EXPECT_NE(d->log().find("session=sess-at-debug"), std::string::npos) << d->log();

  edit("level: debug", "level: info");
  hup_and_wait();
  post_unknown_event("sess-back-at-info");
  EXPECT_EQ(d->log().find("sess-back-at-info"), std::string::npos) << d->log();

  // Nothing else changed: no key is named as needing a restart.
  EXPECT_EQ(d->log().find("take effect only after a restart"), std::string::npos) << d->log();
  EXPECT_EQ(d->pid(), pid) << "no restart";
}

TEST_F(Reload, StreamersTableIsReReadAtOnce) {
  boot();
  auto listed = [&] { return json::parse(client->get("/api/v1/streamers", admin()).body); };
  ASSERT_EQ(listed()["streamers"].size(), 0u) << listed();
  // A row written behind the daemon's back (another tool, a restore): a
  // single node otherwise sees it only after a restart.
  query_scalar(dsn, "INSERT INTO streamers (id, host, url) VALUES (7, 's7.test', 'http://s7.test')");
  EXPECT_EQ(listed()["streamers"].size(), 0u);
  ASSERT_EQ(::kill(d->pid(), SIGHUP), 0);
  ASSERT_TRUE(eventually([&] { return listed()["streamers"].size() == 1; })) << d->log();
  EXPECT_EQ(listed()["streamers"][0]["host"], "s7.test");
  EXPECT_TRUE(eventually([&] { return d->log().find("SIGHUP: streamers re-read") != std::string::npos; }));
  EXPECT_NE(d->log().find("changed=true"), std::string::npos) << d->log();
  // The new streamer serves links right away.
  json body = {{"account_id", "acc"}, {"device_id", "tv"}, {"content", {{"type", "live"}, {"stream", "news"}}}};
  auto r = client->post_json("/api/v1/links", body.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["session"]["streamer_id"], 7);
}

TEST_F(Reload, KeysThatNeedARestartAreNamedAndABrokenFileChangesNothing) {
  boot();
  edit("default_max_sessions: 3", "default_max_sessions: 5");
  hup_and_wait();
  EXPECT_TRUE(eventually([&] {
    return d->log().find("take effect only after a restart keys=playback_session.default_max_sessions") !=
           std::string::npos;
  })) << d->log();

  // A broken file: nothing applied, the level stays info.
  edit("level: info", "level: chatty");
  ASSERT_EQ(::kill(d->pid(), SIGHUP), 0);
  ASSERT_TRUE(eventually([&] { return d->log().find("configuration not reloaded") != std::string::npos; }))
      << d->log();
  EXPECT_NE(d->log().find("log.level"), std::string::npos);
  ASSERT_EQ(client->put_json("/api/v1/streamers/1", R"({"host":"s1.test","url":"http://s1.test"})", admin()).status,
            200);
  post_unknown_event("sess-after-broken");
  EXPECT_EQ(d->log().find("sess-after-broken"), std::string::npos) << d->log();
}

}  // namespace
