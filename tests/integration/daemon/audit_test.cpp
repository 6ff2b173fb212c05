// The audit trail end to end (docs/http_api.md "Audit events"): the real
// maxsessd on a real PostgreSQL. A denial and an eviction are on record
// with the holders and the deciding node, logged at info and counted; the
// events API pages, refuses bad input naming the field, and answers an
// unknown account with an empty list; the clear job applies events_keep.
// With the Flussonic emulator: a refused auth check and a sync's kill.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <thread>

#include "tests/support/daemon.hpp"
#include "tests/support/flussonic_emu.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/pg_test.hpp"

using namespace maxsess;
using namespace maxsess::test;
using nlohmann::json;

namespace {

class AuditTrail : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!server_dsn()) GTEST_SKIP() << "no test PostgreSQL (set MAXSESS_TEST_PG_DIR or MAXSESS_TEST_DSN)";
    dsn = create_migrated_database("audit");
    start({});
  }
  void TearDown() override {
    if (d && d->running()) {
      EXPECT_EQ(d->stop(), 0) << d->log();
    }
  }
  void start(const std::string& extra_yaml) {
    daemon_options o;
    o.dsn = dsn;
    o.extra_yaml = extra_yaml;
    d = std::make_unique<daemon_process>(o);
    d->start();
    client = std::make_unique<http_client>("127.0.0.1", d->port());
    // A streamer nothing listens on: kills pushed to it fail quietly, and
    // no name is looked up outside the machine.
    auto r = client->put_json("/api/v1/streamers/1", R"({"host":"s1.test","url":"http://127.0.0.1:9"})",
                              admin());
    ASSERT_EQ(r.status, 200) << r.body;
  }

  std::map<std::string, std::string> admin() { return {{"Authorization", "Bearer " + d->admin_token()}}; }
  http_reply link(const std::string& account, const std::string& device, const std::string& stream = "news") {
    json body = {{"account_id", account},
                 {"device_id", device},
                 {"client_ip", "192.0.2." + std::to_string(device.size())},
                 {"content", {{"type", "live"}, {"stream", stream}}}};
    return client->post_json("/api/v1/links", body.dump());
  }
  json get_json(const std::string& target, int want = 200) {
    auto r = client->get(target, admin());
    EXPECT_EQ(r.status, want) << target << " -> " << r.body;
    auto j = json::parse(r.body, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << r.body;
    return j;
  }
  std::string events_text() {
    return query_scalar(dsn, "select coalesce(string_agg(id::text || kind || device_id, ',' order by id), '') "
                             "from account_events");
  }
  // The daemon's output is read by another thread: wait (bounded) for a line.
  bool log_has(const std::string& needle) {
    for (int i = 0; i < 200; ++i) {
      if (d->log().find(needle) != std::string::npos) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }
  double metric(const std::string& series) {
    auto body = client->get("/metrics").body;
    auto at = body.find("\n" + series + " ");
    if (at == std::string::npos) return -1;
    return std::stod(body.substr(at + series.size() + 2));
  }

  std::string dsn;
  std::unique_ptr<daemon_process> d;
  std::unique_ptr<http_client> client;
};

TEST_F(AuditTrail, ADenialIsOnRecordWithTheHoldersAndTheNode) {
  EXPECT_EQ(metric(R"(maxsess_audit_events_total{kind="denied"})"), 0) << "a sample from the start";
  EXPECT_EQ(metric(R"(maxsess_audit_events_total{kind="would_deny"})"), 0);
  ASSERT_EQ(client->put_json("/api/v1/accounts/acc1", R"({"max_sessions":2})", admin()).status, 200);
  ASSERT_EQ(link("acc1", "tv", "sports").status, 200);
  ASSERT_EQ(link("acc1", "phone").status, 200);
  auto denied = link("acc1", "tablet");
  ASSERT_EQ(denied.status, 403) << denied.body;

  // Answered 403 only once on record: visible at once, from the database.
  auto j = get_json("/api/v1/accounts/acc1/events");
  EXPECT_EQ(j["account_id"], "acc1");
  EXPECT_EQ(j["more"], false);
  ASSERT_EQ(j["events"].size(), 1u) << j.dump();
  auto e = j["events"][0];
  EXPECT_GT(e["id"].get<int64_t>(), 0);
  EXPECT_EQ(e["kind"], "denied");
  EXPECT_EQ(e["reason"], "max_sessions_reached");
  EXPECT_EQ(e["account_id"], "acc1");
  EXPECT_EQ(e["device_id"], "tablet");
  EXPECT_EQ(e["node"], "test-node");
  EXPECT_EQ(e["max_sessions"], 2);
  EXPECT_EQ(e["stream"], "news");
  EXPECT_EQ(e["client_ip"], "192.0.2.6");
  EXPECT_TRUE(e["at"].get<std::string>().size() == 24 && e["at"].get<std::string>().back() == 'Z') << e["at"];
  ASSERT_EQ(e["holders"].size(), 2u);
  EXPECT_EQ(e["holders"][0]["device_id"], "tv");
  EXPECT_EQ(e["holders"][0]["stream"], "sports");
  EXPECT_EQ(e["holders"][0]["status"], "pending");
  EXPECT_EQ(e["holders"][0]["streamer_id"], 1);
  EXPECT_EQ(e["holders"][0]["client_ip"], "192.0.2.2");
  EXPECT_FALSE(e["holders"][0]["started_at"].get<std::string>().empty());
  EXPECT_EQ(e["holders"][1]["device_id"], "phone");

  // One info line, counted.
  EXPECT_TRUE(log_has("info  audit: denied account=acc1 device=tablet reason=max_sessions_reached "
                      "node=test-node max_sessions=2 holders_count=2 holders=tv,phone"))
      << d->log();
  EXPECT_EQ(metric(R"(maxsess_audit_events_total{kind="denied"})"), 1);
  // Every node answers the same: the listing across accounts has it too.
  auto all = get_json("/api/v1/events");
  ASSERT_EQ(all["events"].size(), 1u);
  EXPECT_EQ(all["events"][0]["id"], e["id"]);
  EXPECT_FALSE(all.contains("account_id"));
}

TEST_F(AuditTrail, AnEvictionIsOnRecordAndPagesFollowTheNextCursor) {
  ASSERT_EQ(client->put_json("/api/v1/accounts/acc1", R"({"max_sessions":1})", admin()).status, 200);
  ASSERT_EQ(link("acc1", "tv").status, 200);
  ASSERT_EQ(link("acc1", "phone").status, 403);
  EXPECT_EQ(client->del("/api/v1/accounts/acc1/devices/tv/session?kill=true").status, 204);
  ASSERT_EQ(link("acc1", "phone").status, 200);
  ASSERT_EQ(link("acc1", "tablet").status, 403);
  ASSERT_EQ(link("acc2", "tv").status, 200);  // another account: never in acc1's list

  // Page by page, one event each, following `next`.
  std::vector<std::string> seen;
  std::string target = "/api/v1/accounts/acc1/events?since=0&limit=1";
  for (int i = 0; i < 10 && !target.empty(); ++i) {
    auto page = get_json(target);
    ASSERT_LE(page["events"].size(), 1u);
    for (auto& ev : page["events"]) seen.push_back(ev["kind"].get<std::string>() + ":" + ev["device_id"].get<std::string>());
    target = page["more"].get<bool>() ? page["next"].get<std::string>() : "";
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"denied:phone", "evicted:tv", "denied:tablet"}));

  auto all = get_json("/api/v1/accounts/acc1/events");
  ASSERT_EQ(all["events"].size(), 3u);
  auto evicted = all["events"][1];
  EXPECT_EQ(evicted["kind"], "evicted");
  EXPECT_EQ(evicted["reason"], "killed_by_operator");
  EXPECT_EQ(evicted["streamer_id"], 1);
  EXPECT_EQ(evicted["node"], "test-node");
  EXPECT_TRUE(log_has("info  audit: evicted account=acc1 device=tv reason=killed_by_operator")) << d->log();
  EXPECT_EQ(metric(R"(maxsess_audit_events_total{kind="evicted"})"), 1);
  EXPECT_EQ(metric(R"(maxsess_audit_events_total{kind="denied"})"), 2);

  // The last page's next, polled later, shows what came after it only.
  auto last_next = all["next"].get<std::string>();
  EXPECT_TRUE(get_json(last_next)["events"].empty());
  ASSERT_EQ(link("acc1", "box").status, 403);
  auto later = get_json(last_next);
  ASSERT_EQ(later["events"].size(), 1u);
  EXPECT_EQ(later["events"][0]["device_id"], "box");
  // since in Unix seconds, a minute from now: nothing yet.
  auto future = std::chrono::duration_cast<std::chrono::seconds>(
                    std::chrono::system_clock::now().time_since_epoch() + std::chrono::minutes(1))
                    .count();
  EXPECT_TRUE(get_json("/api/v1/accounts/acc1/events?since=" + std::to_string(future))["events"].empty());
}

TEST_F(AuditTrail, BadQueriesAre400NamingTheFieldAndUnknownAccountsAreEmpty) {
  ASSERT_EQ(client->put_json("/api/v1/accounts/acc1", R"({"max_sessions":1})", admin()).status, 200);
  ASSERT_EQ(link("acc1", "tv").status, 200);
  ASSERT_EQ(link("acc1", "phone").status, 403);
  auto before = events_text();
  ASSERT_FALSE(before.empty());
  struct bad_case {
    std::string target;
    std::string field;
  };
  std::vector<bad_case> cases = {
      {"/api/v1/accounts/acc1/events?since=yesterday", "since"},
      {"/api/v1/accounts/acc1/events?since=2026-13-01T00:00:00Z", "since"},
      {"/api/v1/accounts/acc1/events?since=2026-11-25", "since"},
      {"/api/v1/accounts/acc1/events?since=-5", "since"},
      {"/api/v1/accounts/acc1/events?since=", "since"},
      {"/api/v1/events?since=99999999999999999999", "since"},
      {"/api/v1/accounts/acc1/events?limit=0", "limit"},
      {"/api/v1/accounts/acc1/events?limit=1001", "limit"},
      {"/api/v1/accounts/acc1/events?limit=ten", "limit"},
      {"/api/v1/events?limit=-1", "limit"},
      {"/api/v1/accounts/acc1/events?after=3", "after"},
      {"/api/v1/accounts/acc1/events?since=0&after=x", "after"},
      {"/api/v1/accounts/-bad/events", "account_id"},
  };
  for (auto& c : cases) {
    auto j = get_json(c.target, 400);
    EXPECT_EQ(j["error"]["field"], c.field) << c.target << " -> " << j.dump();
    EXPECT_EQ(j["error"]["code"], "bad_request") << c.target;
  }
  EXPECT_EQ(client->get("/api/v1/accounts/acc1/events").status, 401) << "admin token required";
  EXPECT_EQ(client->get("/api/v1/events", {{"Authorization", "Bearer wrong"}}).status, 401);
  EXPECT_EQ(client->post_json("/api/v1/events", "{}", admin()).status, 405);

  auto unknown = get_json("/api/v1/accounts/nobody/events?since=2020-01-01T00:00:00%2B02:00&limit=1000");
  EXPECT_TRUE(unknown["events"].empty());
  EXPECT_TRUE(unknown["next"].is_null());
  EXPECT_EQ(unknown["more"], false);
  EXPECT_EQ(events_text(), before) << "reads change nothing";
  EXPECT_EQ(client->get("/healthz").status, 200);
}

TEST_F(AuditTrail, TheClearJobDeletesEventsOlderThanEventsKeep) {
  ASSERT_EQ(client->put_json("/api/v1/accounts/acc1", R"({"max_sessions":1})", admin()).status, 200);
  ASSERT_EQ(link("acc1", "tv").status, 200);
  ASSERT_EQ(link("acc1", "phone").status, 403);
  // Older events, as a month and more of operation would have left them.
  query_scalar(dsn,
               "insert into account_events (account_id, device_id, at, kind, reason, node)"
               " select 'old' || g, 'tv', now() - interval '31 days' - g * interval '1 hour', 'denied',"
               " 'max_sessions_reached', 'node-x' from generate_series(1, 7) g");
  query_scalar(dsn,
               "insert into account_events (account_id, device_id, at, kind, node)"
               " values ('recent', 'tv', now() - interval '29 days', 'killed', 'node-x')");
  auto r = client->post_json("/api/v1/jobs/clear", "{}", admin());
  ASSERT_EQ(r.status, 200) << r.body;
  auto j = json::parse(r.body);
  EXPECT_EQ(j["ok"], true) << r.body;
  EXPECT_EQ(j["cleared_events"], 7) << r.body;
  EXPECT_EQ(query_scalar(dsn, "select count(*) from account_events"), "2");
  EXPECT_EQ(query_scalar(dsn, "select count(*) from account_events where account_id like 'old%'"), "0");
  // The command line says so too.
  std::string out;
  EXPECT_EQ(d->run_command("playback-session:clear", out), 0) << out;
  EXPECT_NE(out.find("0 audit events"), std::string::npos) << out;
}

TEST_F(AuditTrail, EventsKeepZeroKeepsEventsForEver) {
  ASSERT_EQ(d->stop(), 0) << d->log();
  start("  events_keep: 0s\n");
  query_scalar(dsn,
               "insert into account_events (account_id, device_id, at, kind)"
               " values ('old', 'tv', now() - interval '3 years', 'denied')");
  auto r = client->post_json("/api/v1/jobs/clear", "{}", admin());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["cleared_events"], 0) << r.body;
  EXPECT_EQ(query_scalar(dsn, "select count(*) from account_events"), "1");
}

TEST(AuditTrailFlussonic, AReusedTokenAndASyncKillAreOnRecord) {
  if (!server_dsn()) GTEST_SKIP() << "no test PostgreSQL";
  if (!python3_available()) GTEST_SKIP() << "python3 is needed for the Flussonic emulator";
  auto dsn = create_migrated_database("auditfl");
  daemon_options o;
  o.dsn = dsn;
  o.extra_yaml = "  webhooks: false\n";
  daemon_process d(o);
  flussonic_emulator::options eo;
  eo.auth_url = "http://127.0.0.1:" + std::to_string(d.port()) + "/flussonic/auth";
  flussonic_emulator emu(eo);
  d.start();
  emu.start();
  emu.configure({{"auto_update", false}});
  http_client client("127.0.0.1", d.port());
  std::map<std::string, std::string> admin = {{"Authorization", "Bearer " + d.admin_token()}};
  json s = {{"host", "s1.test"}, {"url", emu.api_url()}, {"api_url", emu.api_url()},
            {"api_user", "flussonic"}, {"api_password", "secret"}};
  ASSERT_EQ(client.put_json("/api/v1/streamers/1", s.dump(), admin).status, 200);
  ASSERT_EQ(client.put_json("/api/v1/accounts/acc", R"({"max_sessions":3})", admin).status, 200);
  auto link = [&](const std::string& device) {
    json body = {{"account_id", "acc"}, {"device_id", device}, {"content", {{"type", "live"}, {"stream", "news"}}}};
    auto r = client.post_json("/api/v1/links", body.dump());
    EXPECT_EQ(r.status, 200) << r.body;
    return json::parse(r.body, nullptr, false)["token"].get<std::string>();
  };

  // tv1's link plays, then the same link from a second address: refused by
  // the auth backend (one token, one session).
  auto t1 = link("tv1");
  ASSERT_EQ(emu.play("news", t1, "10.0.0.1")["allowed"], true);
  ASSERT_EQ(emu.play("news", t1, "10.0.0.99")["allowed"], false);
  ASSERT_EQ(emu.play("news", link("tv2"), "10.0.0.2")["allowed"], true);
  // tv3 got its link under the old limit and plays where no auth check sees
  // it; the limit is lowered: the next sync kills the newest.
  auto t3 = link("tv3");
  ASSERT_EQ(client.put_json("/api/v1/accounts/acc", R"({"max_sessions":2})", admin).status, 200);
  emu.play("news", t3, "10.0.0.3", false);
  auto r = client.post_json("/api/v1/jobs/sync", "{}", admin);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["streamers"][0]["killed"], 1) << r.body;

  auto page = client.get("/api/v1/accounts/acc/events", admin);
  ASSERT_EQ(page.status, 200) << page.body;
  auto events = json::parse(page.body)["events"];
  ASSERT_EQ(events.size(), 2u) << page.body;
  EXPECT_EQ(events[0]["kind"], "denied");
  EXPECT_EQ(events[0]["reason"], "reused");
  EXPECT_EQ(events[0]["device_id"], "tv1");
  EXPECT_EQ(events[0]["client_ip"], "10.0.0.99");
  EXPECT_EQ(events[1]["kind"], "killed");
  EXPECT_EQ(events[1]["reason"], "killed_over_limit");
  EXPECT_EQ(events[1]["device_id"], "tv3");
  EXPECT_EQ(events[1]["streamer_id"], 1);
  EXPECT_EQ(events[1]["node"], "test-node");
  EXPECT_EQ(events[1]["max_sessions"], 2);
  ASSERT_EQ(events[1]["holders"].size(), 2u) << "the sessions kept";
  EXPECT_EQ(events[1]["holders"][0]["device_id"], "tv1");
  EXPECT_EQ(events[1]["holders"][0]["status"], "active");
  EXPECT_EQ(events[1]["holders"][1]["device_id"], "tv2");
  EXPECT_EQ(d.stop(), 0) << d.log();
}

}  // namespace
