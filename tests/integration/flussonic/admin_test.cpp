// The admin API that support uses (issue 9), end to end: the real maxsessd,
// a real PostgreSQL, the Flussonic emulator playing the links. The full
// session record wherever a session is shown, GET /api/v1/sessions paged
// across accounts, DELETE /api/v1/accounts/{id}.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <set>
#include <thread>

#include "tests/support/daemon.hpp"
#include "tests/support/flussonic_emu.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/pg_test.hpp"

using namespace maxsess::test;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

using key_set = std::set<std::pair<std::string, std::string>>;

bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds limit = 10s) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (pred()) return true;
    std::this_thread::sleep_for(50ms);
  }
  return pred();
}

// Every key of the session record (PRODUCT.md §1 less the token).
const char* const record_keys[] = {"account_id", "device_id",   "status",     "content",
                                   "streamer_id", "client_ip",  "flussonic_sessions",
                                   "started_at",  "updated_at", "duration_seconds",
                                   "bytes",       "exempt"};

class Admin : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!server_dsn()) GTEST_SKIP() << "no test PostgreSQL";
    if (!python3_available()) GTEST_SKIP() << "python3 is needed for the Flussonic emulator";
    dsn = create_migrated_database("admin");
    daemon_options o;
    o.dsn = dsn;
    o.extra_yaml = "  webhooks: true\n";  // no periodic sync: the emulator reports by events
    d = std::make_unique<daemon_process>(o);
    std::string base = "http://127.0.0.1:" + std::to_string(d->port());
    flussonic_emulator::options eo;
    eo.auth_url = base + "/flussonic/auth";
    eo.webhook_url = base + "/webhook/playback-session/flussonic/s1.test";
    emu = std::make_unique<flussonic_emulator>(eo);
    d->start();
    emu->start();
    emu->configure({{"auto_update", false}});
    client = std::make_unique<http_client>("127.0.0.1", d->port());
    json s = {{"host", "s1.test"},           {"url", emu->api_url()},     {"api_url", emu->api_url()},
              {"api_user", "flussonic"},     {"api_password", "secret"}};
    ASSERT_EQ(client->put_json("/api/v1/streamers/1", s.dump(), admin()).status, 200);
    // A second streamer that serves links but is never called (nothing on
    // it is killed, no periodic sync): the listing's streamer filter needs
    // two. Its address refuses at once should anything call it.
    json s2 = {{"host", "s2.test"}, {"url", "http://127.0.0.1:1"}};
    ASSERT_EQ(client->put_json("/api/v1/streamers/2", s2.dump(), admin()).status, 200);
  }
  void TearDown() override {
    if (d && d->running()) {
      EXPECT_EQ(d->stop(), 0) << d->log();
    }
  }

  std::map<std::string, std::string> admin() { return {{"Authorization", "Bearer " + d->admin_token()}}; }

  json link(const std::string& account, const std::string& device, int expect = 200, int streamer = 1,
            const std::string& ip = "10.0.0.1") {
    json body = {{"account_id", account},
                 {"device_id", device},
                 {"content", {{"type", "live"}, {"stream", "news"}}},
                 {"client_ip", ip},
                 {"streamer_id", streamer}};
    auto r = client->post_json("/api/v1/links", body.dump());
    EXPECT_EQ(r.status, expect) << r.body;
    return json::parse(r.body, nullptr, false);
  }
  json get_json(const std::string& target, int expect = 200) {
    auto r = client->get(target, admin());
    EXPECT_EQ(r.status, expect) << target << ": " << r.body;
    return json::parse(r.body, nullptr, false);
  }
  std::string sql(const std::string& q) { return query_scalar(dsn, q); }
  bool deleted_on_streamer(const std::string& id) {
    auto st = emu->state();
    for (auto& x : st["deleted"])
      if (x == id) return true;
    return false;
  }
  static void expect_record(const json& s) {
    for (auto key : record_keys) EXPECT_TRUE(s.contains(key)) << key << " missing in " << s.dump();
    EXPECT_FALSE(s.contains("token")) << "a token is a playback credential: " << s.dump();
  }

  std::string dsn;
  std::unique_ptr<daemon_process> d;
  std::unique_ptr<flussonic_emulator> emu;
  std::unique_ptr<http_client> client;
};

TEST_F(Admin, TheFullSessionRecordIsShownWhereverASessionIs) {
  auto l = link("acc", "tv", 200, 1, "203.0.113.7");
  expect_record(l["session"]);
  EXPECT_EQ(l["session"]["account_id"], "acc");
  EXPECT_EQ(l["session"]["client_ip"], "203.0.113.7");
  EXPECT_EQ(l["session"]["flussonic_sessions"], json::array());
  auto p = emu->play("news", l["token"], "203.0.113.7");
  ASSERT_TRUE(p["allowed"].get<bool>()) << p.dump();
  const std::string fid = p["id"];
  ASSERT_TRUE(emu->update(fid)["allowed"].get<bool>());  // progress: bytes, duration
  emu->flush();

  // GET of the account: what the owner holds in memory.
  json shown;
  ASSERT_TRUE(eventually([&] {
    shown = get_json("/api/v1/accounts/acc")["sessions"][0];
    return shown["bytes"].get<long long>() > 0;
  })) << shown.dump();
  expect_record(shown);
  EXPECT_EQ(shown["status"], "active");
  ASSERT_EQ(shown["flussonic_sessions"].size(), 1u) << shown.dump();
  EXPECT_EQ(shown["flussonic_sessions"][0]["id"], fid);
  EXPECT_EQ(shown["flussonic_sessions"][0]["open"], true);
  EXPECT_EQ(shown["flussonic_sessions"][0]["ip"], "203.0.113.7");
  EXPECT_EQ(shown["flussonic_sessions"][0]["stream"], "news");
  // The same numbers the database holds once written.
  ASSERT_TRUE(eventually([&] {
    return sql("SELECT bytes FROM playback_sessions WHERE device_id = 'tv'") ==
           std::to_string(shown["bytes"].get<long long>());
  }));
  EXPECT_EQ(std::to_string(shown["duration_seconds"].get<long long>()),
            sql("SELECT duration_s FROM playback_sessions WHERE device_id = 'tv'"));

  // The holders of a 403 carry the same record.
  ASSERT_EQ(client->put_json("/api/v1/accounts/acc", R"({"max_sessions":1})", admin()).status, 200);
  auto denied = link("acc", "phone", 403);
  ASSERT_EQ(denied["error"]["sessions"].size(), 1u);
  auto holder = denied["error"]["sessions"][0];
  expect_record(holder);
  EXPECT_EQ(holder["flussonic_sessions"][0]["id"], fid);
  EXPECT_EQ(holder["client_ip"], "203.0.113.7");

  // The listing reads the committed row: the same record once written.
  json listed;
  ASSERT_TRUE(eventually([&] {
    listed = get_json("/api/v1/sessions?status=active")["sessions"];
    return listed.size() == 1 && listed[0]["bytes"] == shown["bytes"];
  })) << listed.dump();
  expect_record(listed[0]);
  EXPECT_EQ(listed[0]["flussonic_sessions"], shown["flussonic_sessions"]);
  EXPECT_EQ(listed[0]["started_at"], shown["started_at"]);
}

TEST_F(Admin, SessionsArePagedAcrossAccountsAndFiltered) {
  // 3 accounts x 3 devices on streamer 1, 2 accounts x 2 devices on
  // streamer 2; one of them ended by its portal.
  key_set all;
  for (auto a : {"acc-b", "acc-a", "Zed"})
    for (auto dev : {"tv", "box", "phone"}) {
      link(a, dev);
      all.emplace(a, dev);
    }
  for (auto a : {"acc-c", "other"})
    for (auto dev : {"tv", "box"}) {
      link(a, dev, 200, 2);
      all.emplace(a, dev);
    }
  ASSERT_EQ(client->del("/api/v1/accounts/other/devices/box/session").status, 204);

  std::vector<std::pair<std::string, std::string>> seen;
  std::string cursor;
  int pages = 0;
  for (;; ++pages) {
    ASSERT_LT(pages, 20) << "paging never ended";
    auto page = get_json("/api/v1/sessions?limit=4" + (cursor.empty() ? "" : "&cursor=" + cursor));
    ASSERT_TRUE(page.contains("sessions")) << page.dump();
    EXPECT_LE(page["sessions"].size(), 4u);
    for (auto& s : page["sessions"]) {
      expect_record(s);
      seen.emplace_back(s["account_id"], s["device_id"]);
    }
    if (!page.contains("next")) break;
    cursor = page["next"];
  }
  EXPECT_EQ(pages + 1, 4) << "13 sessions in pages of 4";
  EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end())) << "(account, device) in byte order";
  EXPECT_EQ(key_set(seen.begin(), seen.end()), all);
  EXPECT_EQ(seen.size(), all.size()) << "no row twice";

  auto on2 = get_json("/api/v1/sessions?streamer_id=2")["sessions"];
  EXPECT_EQ(on2.size(), 4u);
  for (auto& s : on2) EXPECT_EQ(s["streamer_id"], 2);
  auto ended = get_json("/api/v1/sessions?status=ended&streamer_id=2")["sessions"];
  ASSERT_EQ(ended.size(), 1u);
  EXPECT_EQ(ended[0]["device_id"], "box");
  EXPECT_EQ(ended[0]["end_reason"], "user");
  EXPECT_EQ(get_json("/api/v1/sessions?status=pending")["sessions"].size(),
            std::stoul(sql("SELECT count(*) FROM playback_sessions WHERE status = 'pending'")));
  auto acc = get_json("/api/v1/sessions?account_id_prefix=acc-")["sessions"];
  EXPECT_EQ(acc.size(), 8u);
  for (auto& s : acc) EXPECT_EQ(s["account_id"].get<std::string>().rfind("acc-", 0), 0u);

  // Bad input: 400 naming the parameter; no token: 401.
  for (auto [q, field] : std::vector<std::pair<std::string, std::string>>{
           {"status=playing", "status"}, {"streamer_id=x", "streamer_id"}, {"limit=1001", "limit"},
           {"limit=0", "limit"}, {"cursor=bogus", "cursor"}, {"account_id_prefix=%2Fx", "account_id_prefix"},
           {"page=2", "page"}}) {
    auto r = client->get("/api/v1/sessions?" + q, admin());
    EXPECT_EQ(r.status, 400) << q << ": " << r.body;
    EXPECT_EQ(json::parse(r.body, nullptr, false)["error"]["field"], field) << q << ": " << r.body;
  }
  EXPECT_EQ(client->get("/api/v1/sessions").status, 401);
  EXPECT_EQ(get_json("/api/v1/sessions?limit=1000")["sessions"].size(), all.size());
}

TEST_F(Admin, DeletedAccountIsKilledOnItsStreamerAndFallsBackToTheDefaults) {
  ASSERT_EQ(client->put_json("/api/v1/accounts/gone", R"({"max_sessions":5,"exempt":true})", admin()).status,
            200);
  auto l1 = link("gone", "tv");
  auto p1 = emu->play("news", l1["token"], "10.0.0.1");
  ASSERT_TRUE(p1["allowed"].get<bool>()) << p1.dump();
  const std::string fid = p1["id"];
  link("gone", "phone");  // pending: never played
  link("gone", "old");
  ASSERT_EQ(client->del("/api/v1/accounts/gone/devices/old/session").status, 204);
  link("stays", "tv");
  emu->flush();

  EXPECT_EQ(client->del("/api/v1/accounts/gone").status, 401);
  EXPECT_EQ(sql("SELECT count(*) FROM accounts WHERE account_id = 'gone'"), "1") << "refused: nothing changed";
  auto r = client->del("/api/v1/accounts/gone", admin());
  ASSERT_EQ(r.status, 204) << r.body;

  // Answered once durable: the rows are already there.
  EXPECT_EQ(sql("SELECT count(*) FROM accounts WHERE account_id = 'gone'"), "0");
  EXPECT_EQ(sql("SELECT string_agg(device_id || ':' || status || ':' || coalesce(end_reason, ''), ',' "
                "ORDER BY device_id) FROM playback_sessions WHERE account_id = 'gone'"),
            "old:ended:user,phone:killed:killed_by_operator,tv:killed:killed_by_operator");
  EXPECT_EQ(sql("SELECT status FROM playback_sessions WHERE account_id = 'stays'"), "pending");
  // Closed on the streamer, refused at the next auth check.
  ASSERT_TRUE(eventually([&] { return deleted_on_streamer(fid); })) << d->log() << emu->state().dump();
  EXPECT_FALSE(emu->play("news", l1["token"], "10.0.0.1")["allowed"].get<bool>());

  // The defaults apply now (config: 3, not exempt); its rows are still shown.
  auto v = get_json("/api/v1/accounts/gone");
  EXPECT_EQ(v["max_sessions"], 3);
  EXPECT_EQ(v["exempt"], false);
  EXPECT_EQ(v["sessions"].size(), 3u);
  // The subscriber may come back as a new one.
  EXPECT_EQ(link("gone", "tv")["session"]["status"], "pending");

  EXPECT_EQ(client->del("/api/v1/accounts/never-seen", admin()).status, 404);
  EXPECT_EQ(sql("SELECT count(*) FROM playback_sessions WHERE account_id = 'never-seen'"), "0");
  auto bad = client->del("/api/v1/accounts/-bad", admin());
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(json::parse(bad.body, nullptr, false)["error"]["field"], "account_id");
}

}  // namespace
