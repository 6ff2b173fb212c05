// End to end: the real maxsessd binary, a real PostgreSQL (ctest fixture),
// real HTTP. What an operator and a portal see.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "storage/store.hpp"
#include "tests/support/daemon.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/pg_test.hpp"

using namespace maxsess;
using namespace maxsess::test;
using nlohmann::json;

namespace {

class Daemon : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!server_dsn()) GTEST_SKIP() << "no test PostgreSQL (set MAXSESS_TEST_PG_DIR or MAXSESS_TEST_DSN)";
    dsn = create_migrated_database("daemon");
    daemon_options o;
    o.dsn = dsn;
    d = std::make_unique<daemon_process>(o);
    d->start();
    client = std::make_unique<http_client>("127.0.0.1", d->port());
    put_streamer(1, R"({"host":"s1.example.com","url":"http://s1.example.com:8080","api_password":"pw"})");
  }
  void TearDown() override {
    if (d && d->running()) {
      EXPECT_EQ(d->stop(), 0) << d->log();
    }
  }

  std::map<std::string, std::string> admin() {
    return {{"Authorization", "Bearer " + d->admin_token()}};
  }
  void put_streamer(int id, const std::string& body) {
    auto r = client->put_json("/api/v1/streamers/" + std::to_string(id), body, admin());
    ASSERT_EQ(r.status, 200) << r.body;
  }
  http_reply link(const std::string& account, const std::string& device,
                  const std::string& stream = "news") {
    json body = {{"account_id", account},
                 {"device_id", device},
                 {"content", {{"type", "live"}, {"stream", stream}}}};
    return client->post_json("/api/v1/links", body.dump());
  }
  long long rows(const std::string& where = "true") {
    return std::stoll(query_scalar(dsn, "select count(*) from playback_sessions where " + where));
  }

  std::string dsn;
  std::unique_ptr<daemon_process> d;
  std::unique_ptr<http_client> client;
};

TEST_F(Daemon, FourthDeviceIsDeniedAndSameDeviceKeepsItsSlot) {
  for (auto dev : {"dev1", "dev2", "dev3"}) {
    auto r = link("acc1", dev);
    ASSERT_EQ(r.status, 200) << r.body;
    auto j = json::parse(r.body);
    EXPECT_EQ(j["decision"], "approved");
    EXPECT_EQ(j["session"]["status"], "pending");
    EXPECT_EQ(j["session"]["device_id"], dev);
    EXPECT_EQ(j["url"].get<std::string>(),
              "http://s1.example.com:8080/news/index.m3u8?token=" + j["token"].get<std::string>());
    EXPECT_FALSE(j["expires_at"].get<std::string>().empty());
  }
  auto denied = link("acc1", "dev4");
  ASSERT_EQ(denied.status, 403) << denied.body;
  auto e = json::parse(denied.body)["error"];
  EXPECT_EQ(e["code"], "max_sessions_reached");
  EXPECT_EQ(e["message"], "You have reached the maximum number of playback sessions");
  EXPECT_EQ(e["max_sessions"], 3);
  ASSERT_EQ(e["sessions"].size(), 3u);
  std::set<std::string> holders;
  for (auto& s : e["sessions"]) holders.insert(s["device_id"].get<std::string>());
  EXPECT_EQ(holders, (std::set<std::string>{"dev1", "dev2", "dev3"}));

  auto again = link("acc1", "dev2", "sports");
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(rows("account_id='acc1' and status in ('pending','active')"), 3);
  EXPECT_EQ(rows("account_id='acc1' and device_id='dev2' and stream='sports'"), 1);
  EXPECT_EQ(link("acc1", "dev4").status, 403);
}

TEST_F(Daemon, EndingASessionFreesTheSlotAndKillIsRecorded) {
  for (auto dev : {"dev1", "dev2", "dev3"}) ASSERT_EQ(link("acc1", dev).status, 200);
  EXPECT_EQ(client->del("/api/v1/accounts/acc1/devices/dev1/session").status, 204);
  EXPECT_EQ(client->del("/api/v1/accounts/acc1/devices/dev2/session?kill=true").status, 204);
  EXPECT_EQ(rows("device_id='dev1' and status='ended' and end_reason='user'"), 1);
  EXPECT_EQ(rows("device_id='dev2' and status='killed'"), 1);
  EXPECT_EQ(link("acc1", "dev4").status, 200);
  EXPECT_EQ(link("acc1", "dev5").status, 200);
  EXPECT_EQ(link("acc1", "dev6").status, 403);
  auto missing = client->del("/api/v1/accounts/acc1/devices/nodev/session");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(json::parse(missing.body)["error"]["code"], "not_found");
}

TEST_F(Daemon, TwoHundredConcurrentDevicesOnOneAccountGetExactlyFiveSlots) {
  auto put = client->put_json("/api/v1/accounts/family", R"({"max_sessions":5})", admin());
  ASSERT_EQ(put.status, 200) << put.body;
  constexpr int devices = 200, threads = 8;
  std::atomic<int> approved{0}, denied{0}, other{0};
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      http_client c("127.0.0.1", d->port());
      for (int i = t; i < devices; i += threads) {
        json body = {{"account_id", "family"},
                     {"device_id", "tv-" + std::to_string(i)},
                     {"content", {{"type", "live"}, {"stream", "news"}}}};
        auto r = c.post_json("/api/v1/links", body.dump());
        (r.status == 200 ? approved : r.status == 403 ? denied : other)++;
      }
    });
  }
  for (auto& t : pool) t.join();
  EXPECT_EQ(approved.load(), 5);
  EXPECT_EQ(denied.load(), devices - 5);
  EXPECT_EQ(other.load(), 0);
  EXPECT_EQ(rows("account_id='family' and status='pending'"), 5);
}

TEST_F(Daemon, SessionsAndDecisionsSurviveARestart) {
  for (auto dev : {"dev1", "dev2", "dev3"}) ASSERT_EQ(link("acc1", dev).status, 200);
  auto put = client->put_json("/api/v1/accounts/acc2", R"({"max_sessions":1,"exempt":false})", admin());
  ASSERT_EQ(put.status, 200);
  ASSERT_EQ(d->stop(), 0) << d->log();
  EXPECT_NE(d->log().find("stopped"), std::string::npos);
  d->start();
  client = std::make_unique<http_client>("127.0.0.1", d->port());
  auto acc = client->get("/api/v1/accounts/acc1", admin());
  ASSERT_EQ(acc.status, 200) << acc.body;
  auto j = json::parse(acc.body);
  EXPECT_EQ(j["max_sessions"], 3);
  ASSERT_EQ(j["sessions"].size(), 3u);
  EXPECT_EQ(link("acc1", "dev4").status, 403);
  EXPECT_EQ(link("acc1", "dev1").status, 200);
  auto acc2 = client->get("/api/v1/accounts/acc2", admin());
  ASSERT_EQ(acc2.status, 200);
  EXPECT_EQ(json::parse(acc2.body)["max_sessions"], 1);
  EXPECT_EQ(link("acc2", "a").status, 200);
  EXPECT_EQ(link("acc2", "b").status, 403);
  // The streamer registered before the restart is still there, password hidden.
  auto s = client->get("/api/v1/streamers/1", admin());
  ASSERT_EQ(s.status, 200);
  EXPECT_EQ(json::parse(s.body).count("api_password"), 0u);
}

TEST_F(Daemon, BadInputIs400WithTheFieldAndChangesNothing) {
  ASSERT_EQ(link("acc1", "dev1").status, 200);
  auto before = rows();
  auto before_text = query_scalar(dsn, "select string_agg(account_id||device_id||status||updated_at::text, ',') from playback_sessions");
  struct bad_case {
    std::string body;
    std::string field;
  };
  std::string long_id(65, 'a');
  std::vector<bad_case> cases = {
      {"{not json", "body"},
      {"[1,2]", "body"},
      {R"({"device_id":"d","content":{"type":"live","stream":"s"}})", "account_id"},
      {R"({"account_id":"a","content":{"type":"live","stream":"s"}})", "device_id"},
      {R"({"account_id":"a","device_id":"d"})", "content"},
      {R"({"account_id":7,"device_id":"d","content":{"type":"live","stream":"s"}})", "account_id"},
      {R"({"account_id":"a","device_id":"d","content":"live"})", "content"},
      {R"({"account_id":"a","device_id":"d","content":{"type":"tv","stream":"s"}})", "content.type"},
      {R"({"account_id":"a","device_id":"d","content":{"type":"live"}})", "content.stream"},
      {R"({"account_id":"a","device_id":"d","content":{"type":"live","stream":"a b"}})", "content.stream"},
      {R"({"account_id":")" + long_id + R"(","device_id":"d","content":{"type":"live","stream":"s"}})", "account_id"},
      {R"({"account_id":"-a","device_id":"d","content":{"type":"live","stream":"s"}})", "account_id"},
      {R"({"account_id":"a","device_id":"d","content":{"type":"live","stream":"s"},"streamer_id":"1"})", "streamer_id"},
      {R"({"account_id":"a","device_id":"d","content":{"type":"live","stream":"s"},"client_ip":"999.1.1.1"})", "client_ip"},
      {R"({"account_id":"a","device_id":"d","content":{"type":"catchup","stream":"s","start":-5}})", "content.start"},
      {R"({"account_id":"a","device_id":"d","content":{"type":"live","stream":"s"},"streamer_id":42})", "streamer_id"},
  };
  for (auto& c : cases) {
    auto r = client->post_json("/api/v1/links", c.body);
    ASSERT_EQ(r.status, 400) << c.body << " -> " << r.body;
    auto j = json::parse(r.body, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << r.body;
    EXPECT_EQ(j["error"]["field"], c.field) << c.body << " -> " << r.body;
    EXPECT_FALSE(j["error"]["message"].get<std::string>().empty());
  }
  auto multicast = client->post_json(
      "/api/v1/links", R"({"account_id":"a","device_id":"d","content":{"type":"multicast","stream":"s"}})");
  EXPECT_EQ(multicast.status, 400);
  EXPECT_EQ(json::parse(multicast.body)["error"]["code"], "unsupported_content");
  auto form = client->request("POST", "/api/v1/links", "account_id=a", {{"Content-Type", "application/x-www-form-urlencoded"}});
  EXPECT_EQ(form.status, 415);
  EXPECT_EQ(json::parse(form.body)["error"]["field"], "Content-Type");
  EXPECT_EQ(client->put_json("/api/v1/accounts/acc1", R"({"max_sessions":-1})", admin()).status, 400);
  EXPECT_EQ(client->put_json("/api/v1/accounts/acc1", R"({"max_sessions":"3"})", admin()).status, 400);
  EXPECT_EQ(client->put_json("/api/v1/accounts/acc1", R"({"exempt":true})", admin()).status, 400);
  EXPECT_EQ(client->del("/api/v1/accounts/acc1/devices/dev1/session?kill=maybe").status, 400);
  EXPECT_EQ(client->put_json("/api/v1/streamers/0", R"({"host":"x"})", admin()).status, 400);
  EXPECT_EQ(client->put_json("/api/v1/streamers/2", R"({"host":"a/b"})", admin()).status, 400);
  EXPECT_EQ(client->put_json("/api/v1/streamers/2", R"({"host":"x","link_mode":"securetoken"})", admin()).status, 400);
  EXPECT_EQ(client->put_json("/api/v1/streamers/2", R"({"host":"s1.example.com"})", admin()).status, 409);
  // A body over the limit is refused before it is read whole.
  auto huge = client->post_json("/api/v1/links", std::string(200 * 1024, ' '));
  EXPECT_EQ(huge.status, 413);

  EXPECT_EQ(rows(), before);
  EXPECT_EQ(query_scalar(dsn, "select string_agg(account_id||device_id||status||updated_at::text, ',') from playback_sessions"),
            before_text);
  EXPECT_EQ(query_scalar(dsn, "select count(*) from accounts"), "0");
  EXPECT_EQ(query_scalar(dsn, "select count(*) from streamers"), "1");
  // Still serving.
  EXPECT_EQ(client->get("/healthz").status, 200);
}

TEST_F(Daemon, AdminApiNeedsTheBearerToken) {
  EXPECT_EQ(client->get("/api/v1/streamers").status, 401);
  EXPECT_EQ(client->get("/api/v1/accounts/acc1", {{"Authorization", "Bearer wrong"}}).status, 401);
  auto r = client->put_json("/api/v1/accounts/acc1", R"({"max_sessions":2})");
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(json::parse(r.body)["error"]["code"], "unauthorized");
  EXPECT_EQ(query_scalar(dsn, "select count(*) from accounts"), "0");
}

TEST_F(Daemon, AccountAndStreamerAdmin) {
  EXPECT_EQ(client->get("/api/v1/accounts/nobody", admin()).status, 404);
  auto put = client->put_json("/api/v1/accounts/acc1", R"({"max_sessions":0,"exempt":true})", admin());
  ASSERT_EQ(put.status, 200) << put.body;
  auto pj = json::parse(put.body);
  EXPECT_EQ(pj["account_id"], "acc1");
  EXPECT_EQ(pj["max_sessions"], 0);
  EXPECT_EQ(pj["exempt"], true);
  EXPECT_EQ(query_scalar(dsn, "select max_sessions||':'||exempt from accounts where account_id='acc1'"), "0:true");

  put_streamer(2, R"({"host":"s2.example.com","url":"https://s2.example.com","capacity":10,"enabled":false})");
  auto list = client->get("/api/v1/streamers", admin());
  ASSERT_EQ(list.status, 200);
  auto lj = json::parse(list.body)["streamers"];
  ASSERT_EQ(lj.size(), 2u);
  EXPECT_EQ(lj[1]["host"], "s2.example.com");
  EXPECT_EQ(lj[1]["enabled"], false);
  EXPECT_EQ(list.body.find("\"pw\""), std::string::npos) << "passwords are never returned";
  EXPECT_EQ(client->del("/api/v1/streamers/2", admin()).status, 204);
  EXPECT_EQ(client->get("/api/v1/streamers/2", admin()).status, 404);
  EXPECT_EQ(client->del("/api/v1/streamers/2", admin()).status, 404);
  // Without a usable streamer there is no link.
  EXPECT_EQ(client->del("/api/v1/streamers/1", admin()).status, 204);
  auto r = link("acc9", "d1");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(json::parse(r.body)["error"]["code"], "no_streamer");
  put_streamer(3, R"({"host":"s3.example.com"})");  // no url
  EXPECT_EQ(link("acc9", "d1").status, 503);
}

TEST_F(Daemon, UnknownRoutesAndMethods) {
  auto r = client->get("/nope");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(json::parse(r.body)["error"]["code"], "not_found");
  EXPECT_EQ(client->get("/api/v1/links").status, 405);
  EXPECT_EQ(client->get("/readyz").status, 200);
}

TEST(DaemonStartup, RefusesAnUnknownSchemaAndBadConfig) {
  if (!server_dsn()) GTEST_SKIP() << "no test PostgreSQL";
  auto dsn = create_database("noschema");
  daemon_options o;
  o.dsn = dsn;
  daemon_process d(o);
  EXPECT_THROW(d.start(), std::runtime_error);
  EXPECT_NE(d.log().find("maxsessd migrate"), std::string::npos) << d.log();

  std::string out;
  EXPECT_EQ(d.run_command("migrate", out), 0) << out;
  EXPECT_EQ(query_scalar(dsn, "select max(version) from schema_version"),
            std::to_string(storage::latest_schema_version()));
  EXPECT_EQ(d.run_command("migrate", out), 0) << out;  // idempotent
  EXPECT_NE(out.find("up to date"), std::string::npos) << out;
  EXPECT_EQ(d.run_command("check-config", out), 0) << out;

  daemon_options bad = o;
  bad.extra_yaml = "  pending_ttl: soon\n  bogus_key: 1\n";
  daemon_process b(bad);
  EXPECT_EQ(b.run_command("check-config", out), 1) << out;
  EXPECT_NE(out.find("playback_session.pending_ttl"), std::string::npos) << out;
  EXPECT_NE(out.find("playback_session.bogus_key"), std::string::npos) << out;
}

// `top -H -p $(pidof maxsessd)` and perf name each kind of thread
// (docs/operations.md), instead of "maxsessd" for all of them.
TEST_F(Daemon, ItsThreadsAreNamedByWhatTheyDo) {
  ASSERT_EQ(link("acc", "d1").status, 200);  // every kind of thread has run (streamer 1: "st-1")
  std::multiset<std::string> names;
  for (const auto& t : std::filesystem::directory_iterator("/proc/" + std::to_string(d->pid()) + "/task")) {
    std::ifstream in(t.path() / "comm");
    std::string name;
    std::getline(in, name);
    auto dash = name.find_last_of('-');  // "write-lane-0" -> "write-lane"
    if (dash != std::string::npos && name.find_first_not_of("0123456789", dash + 1) == std::string::npos)
      name.resize(dash);
    names.insert(name);
  }
  std::string all;
  for (const auto& n : names) all += n + " ";
  for (const char* kind : {"http-io", "write-lane", "reader", "caf", "st", "db-health", "auth-deadlines", "status-sampler"})
    EXPECT_GE(names.count(kind), 1u) << kind << " not among " << all;
  EXPECT_EQ(names.count("maxsessd"), 1u) << "only the main thread keeps the program's name: " << all;
  // Its PostgreSQL backends carry the name of the thread that opened them.
  const auto apps = query_scalar(dsn, "SELECT string_agg(DISTINCT application_name, ',') FROM pg_stat_activity"
                                      " WHERE datname = current_database()");
  EXPECT_NE(apps.find("maxsessd write-lane-"), std::string::npos) << apps;
  EXPECT_NE(apps.find("maxsessd reader-"), std::string::npos) << apps;
}

TEST(DaemonStartup, FeatureSwitchOffApprovesEverything) {
  if (!server_dsn()) GTEST_SKIP() << "no test PostgreSQL";
  daemon_options o;
  o.dsn = create_migrated_database("off");
  o.extra_yaml = "  enabled: false\n";
  daemon_process d(o);
  d.start();
  http_client c("127.0.0.1", d.port());
  ASSERT_EQ(c.put_json("/api/v1/streamers/1", R"({"host":"s1","url":"http://s1"})",
                       {{"Authorization", "Bearer " + d.admin_token()}}).status, 200);
  for (int i = 0; i < 6; ++i) {
    json body = {{"account_id", "acc"}, {"device_id", "d" + std::to_string(i)},
                 {"content", {{"type", "live"}, {"stream", "s"}}}};
    EXPECT_EQ(c.post_json("/api/v1/links", body.dump()).status, 200);
  }
  EXPECT_EQ(query_scalar(o.dsn, "select count(*) from playback_sessions"), "6") << "still recorded";
  EXPECT_EQ(d.stop(), 0);
}

}  // namespace
