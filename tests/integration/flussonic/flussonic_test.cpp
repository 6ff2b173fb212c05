// End to end with Flussonic: the real maxsessd, a real PostgreSQL, and the
// Flussonic emulator (tests/flussonic/flussonic_emu.py) playing sessions
// the way a streamer does: auth backend calls, event_sink batches, the
// sessions API.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <future>
#include <thread>

#include "tests/support/daemon.hpp"
#include "tests/support/flussonic_emu.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/pg_test.hpp"

using namespace maxsess::test;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

// Polls until `pred` holds (bounded); the assertion is on the outcome.
bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds limit = 10s) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (pred()) return true;
    std::this_thread::sleep_for(50ms);
  }
  return pred();
}

class Flussonic : public ::testing::Test {
 protected:
  // webhooks: the daemon is told webhooks are configured (no periodic sync)
  // and the emulator posts events; otherwise a sync-only deployment.
  // extra: more playback_session settings (YAML lines, two-space indent).
  void boot(bool webhooks, const std::string& link_mode = "auth_backend", bool auth = true,
            const std::string& extra = "") {
    if (!server_dsn()) GTEST_SKIP() << "no test PostgreSQL";
    if (!python3_available()) GTEST_SKIP() << "python3 is needed for the Flussonic emulator";
    dsn = create_migrated_database("fl");
    daemon_options o;
    o.dsn = dsn;
    o.extra_yaml = std::string("  webhooks: ") + (webhooks ? "true" : "false") + "\n" + extra;
    d = std::make_unique<daemon_process>(o);
    std::string base = "http://127.0.0.1:" + std::to_string(d->port());
    flussonic_emulator::options eo;
    if (auth) eo.auth_url = base + "/flussonic/auth";
    if (webhooks) eo.webhook_url = base + "/webhook/playback-session/flussonic/s1.test";
    emu = std::make_unique<flussonic_emulator>(eo);
    d->start();
    emu->start();
    emu->configure({{"auto_update", false}});
    client = std::make_unique<http_client>("127.0.0.1", d->port());
    json s = {{"host", "s1.test"},
              {"url", emu->api_url()},
              {"api_url", emu->api_url()},
              {"api_user", "flussonic"},
              {"api_password", "secret"},
              {"link_mode", link_mode}};
    if (link_mode == "securetoken") s["securetoken_secret"] = "st-secret";
    auto r = client->put_json("/api/v1/streamers/1", s.dump(), admin());
    ASSERT_EQ(r.status, 200) << r.body;
  }
  void TearDown() override {
    if (d && d->running()) {
      EXPECT_EQ(d->stop(), 0) << d->log();
    }
  }

  std::map<std::string, std::string> admin() { return {{"Authorization", "Bearer " + d->admin_token()}}; }

  json link(const std::string& account, const std::string& device, int expect = 200,
            const std::string& stream = "news", const std::string& ip = "10.0.0.1") {
    json body = {{"account_id", account},
                 {"device_id", device},
                 {"content", {{"type", "live"}, {"stream", stream}}},
                 {"client_ip", ip}};
    auto r = client->post_json("/api/v1/links", body.dump());
    EXPECT_EQ(r.status, expect) << r.body;
    return json::parse(r.body, nullptr, false);
  }
  std::string status(const std::string& account, const std::string& device) {
    return query_scalar(dsn, "select status from playback_sessions where account_id='" + account +
                                 "' and device_id='" + device + "'");
  }
  json job(const std::string& kind, const json& body = json::object()) {
    auto r = client->post_json("/api/v1/jobs/" + kind, body.dump(), admin());
    EXPECT_EQ(r.status, 200) << r.body;
    return json::parse(r.body, nullptr, false);
  }
  bool deleted_on_streamer(const std::string& id) {
    auto st = emu->state();  // keep the document alive while iterating it
    for (auto& x : st["deleted"])
      if (x == id) return true;
    return false;
  }

  std::string dsn;
  std::unique_ptr<daemon_process> d;
  std::unique_ptr<flussonic_emulator> emu;
  std::unique_ptr<http_client> client;
};

TEST_F(Flussonic, LinkAuthActiveThenCloseFreesTheSlot) {
  boot(true);
  std::vector<std::string> ids;
  for (auto dev : {"tv1", "tv2", "tv3"}) {
    auto l = link("acc", dev);
    auto p = emu->play("news", l["token"], "10.0.0.1");
    ASSERT_TRUE(p["allowed"].get<bool>()) << p.dump();
    EXPECT_EQ(p["user_id"], "acc") << "X-UserId is the account";
    EXPECT_EQ(p["auth_duration"], 30);
    ids.push_back(p["id"]);
    EXPECT_EQ(status("acc", dev), "active");
  }
  link("acc", "tv4", 403);
  emu->close(ids[0]);
  emu->flush();
  ASSERT_TRUE(eventually([&] { return status("acc", "tv1") == "ended"; })) << status("acc", "tv1");
  EXPECT_EQ(query_scalar(dsn, "select end_reason from playback_sessions where device_id='tv1'"), "flussonic_closed");
  auto l4 = link("acc", "tv4");
  EXPECT_TRUE(emu->play("news", l4["token"], "10.0.0.4")["allowed"].get<bool>());
  // Updates keep it going and carry duration/bytes.
  auto u = emu->update(ids[1]);
  EXPECT_TRUE(u["allowed"].get<bool>());
  emu->flush();
  EXPECT_TRUE(eventually([&] {
    return query_scalar(dsn, "select bytes > 0 from playback_sessions where device_id='tv2'") == "t";
  })) << query_scalar(dsn, "select row_to_json(p)::text from playback_sessions p where device_id='tv2'");
}

TEST_F(Flussonic, ReusedLinkFromAnotherAddressIsRefused) {
  boot(true);
  auto l = link("acc", "tv1");
  ASSERT_TRUE(emu->play("news", l["token"], "10.0.0.1")["allowed"].get<bool>());
  auto other = emu->play("news", l["token"], "192.0.2.99");
  EXPECT_FALSE(other["allowed"].get<bool>());
  EXPECT_EQ(other["status"], 403);
  // The same address reconnecting is a player reconnect: allowed.
  EXPECT_TRUE(emu->play("news", l["token"], "10.0.0.1")["allowed"].get<bool>());
  // A tampered token never plays.
  std::string bad = l["token"];
  bad.back() = bad.back() == 'A' ? 'B' : 'A';
  EXPECT_FALSE(emu->play("news", bad, "10.0.0.1")["allowed"].get<bool>());
  auto metrics = client->get("/metrics").body;
  EXPECT_NE(metrics.find("maxsess_over_limit_attempts_total 1"), std::string::npos) << metrics;
}

TEST_F(Flussonic, PortalKillClosesOnTheStreamerAndIsRefusedAtNextUpdate) {
  boot(true);
  auto l = link("acc", "tv1");
  auto p = emu->play("news", l["token"], "10.0.0.1");
  std::string id = p["id"];
  ASSERT_EQ(client->del("/api/v1/accounts/acc/devices/tv1/session?kill=true").status, 204);
  EXPECT_EQ(status("acc", "tv1"), "killed");
  ASSERT_TRUE(eventually([&] { return deleted_on_streamer(id); })) << d->log() << emu->state().dump();
  // A player still holding the link is refused (the session was closed; a
  // new attempt with the same token is refused by the auth backend).
  auto again = emu->play("news", l["token"], "10.0.0.1");
  EXPECT_FALSE(again["allowed"].get<bool>());
}

TEST_F(Flussonic, KilledSessionIsRefusedAtItsNextUpdateSession) {
  boot(false);  // no webhooks: the DELETE's close is not reported back
  auto l = link("acc", "tv1");
  auto p = emu->play("news", l["token"], "10.0.0.1");
  std::string id = p["id"];
  // Kill without reaching the streamer first: stop its API for a moment.
  emu->configure({{"api_fail", true}});
  ASSERT_EQ(client->del("/api/v1/accounts/acc/devices/tv1/session?kill=true").status, 204);
  auto u = emu->update(id);
  EXPECT_FALSE(u["allowed"].get<bool>()) << u.dump();
  EXPECT_FALSE(u["open"].get<bool>());
  // The kill run closes what is still listed once the API answers again.
  emu->configure({{"api_fail", false}});
}

TEST_F(Flussonic, SyncOnlyReachesTheSameStatesAndKillsTheNewestOverLimit) {
  boot(false, "auth_backend", false);  // no webhooks, no auth backend: only sync sees sessions
  auto put = client->put_json("/api/v1/accounts/acc", R"({"max_sessions":2})", admin());
  ASSERT_EQ(put.status, 200);
  std::vector<std::string> ids;
  for (auto dev : {"tv1", "tv2"}) {
    auto l = link("acc", dev);
    ids.push_back(emu->play("news", l["token"], "10.0.0.1", false)["id"]);
  }
  EXPECT_EQ(status("acc", "tv1"), "pending");
  auto rep = job("sync");
  ASSERT_TRUE(rep["ok"].get<bool>()) << rep.dump();
  EXPECT_EQ(rep["streamers"][0]["listed"], 2);
  EXPECT_EQ(status("acc", "tv1"), "active");
  EXPECT_EQ(status("acc", "tv2"), "active");
  // A third device plays a link obtained before the limit was lowered...
  client->put_json("/api/v1/accounts/acc", R"({"max_sessions":3})", admin());
  auto l3 = link("acc", "tv3");
  client->put_json("/api/v1/accounts/acc", R"({"max_sessions":2})", admin());
  std::string id3 = emu->play("news", l3["token"], "10.0.0.3", false)["id"];
  rep = job("sync");
  EXPECT_EQ(rep["streamers"][0]["killed"], 1) << rep.dump();
  EXPECT_EQ(status("acc", "tv3"), "killed") << "the newest session is killed";
  EXPECT_EQ(status("acc", "tv1"), "active");
  ASSERT_TRUE(eventually([&] { return deleted_on_streamer(id3); })) << emu->state().dump();
  // A session that disappears from the streamer ends at the next sync.
  emu->close(ids[0]);
  job("sync");
  EXPECT_EQ(status("acc", "tv1"), "ended");
  EXPECT_EQ(query_scalar(dsn, "select end_reason from playback_sessions where device_id='tv1'"), "gone");
  // Sessions without a maxsess token are counted and left alone.
  auto foreign = emu->play("news", "not-a-maxsess-token", "10.9.9.9", false);
  rep = job("sync");
  EXPECT_EQ(rep["streamers"][0]["untracked"], 1);
  EXPECT_FALSE(deleted_on_streamer(foreign["id"]));
}

// Sessions that carry no maxsess token, opened at once on the emulator.
void fill(flussonic_emulator& emu, int count) {
  static int made = 0;
  json tokens = json::array();
  for (int i = 0; i < count; ++i) tokens.push_back("filler-" + std::to_string(made++));
  emu.control("POST", "/_emu/bulk", {{"tokens", tokens}, {"name", "filler"}});
}

TEST_F(Flussonic, SyncAcrossPagesEndsOnlyWhatTheWholeListingLacks) {
  boot(false, "auth_backend", false);
  auto l1 = link("acc", "tv1");
  std::string first = emu->play("news", l1["token"], "10.0.0.1", false)["id"];
  fill(*emu, 9);  // tv2's session comes after five pages of two
  auto l2 = link("acc", "tv2");
  emu->play("news", l2["token"], "10.0.0.2", false);
  auto rep = job("sync", {{"batch_size", 2}});
  ASSERT_TRUE(rep["ok"].get<bool>()) << rep.dump();
  EXPECT_EQ(rep["streamers"][0]["listed"], 11);
  EXPECT_EQ(rep["streamers"][0]["untracked"], 9);
  EXPECT_EQ(status("acc", "tv1"), "active");
  EXPECT_EQ(status("acc", "tv2"), "active");
  // tv1's session goes; tv2's, on the last page only, stays.
  emu->close(first);
  rep = job("sync", {{"batch_size", 2}});
  ASSERT_TRUE(rep["ok"].get<bool>()) << rep.dump();
  EXPECT_EQ(rep["streamers"][0]["ended"], 1) << rep.dump();
  EXPECT_EQ(status("acc", "tv1"), "ended");
  EXPECT_EQ(query_scalar(dsn, "select end_reason from playback_sessions where device_id='tv1'"), "gone");
  EXPECT_EQ(status("acc", "tv2"), "active") << "listed on a later page than the first one";
}

TEST_F(Flussonic, SyncPastTheCapStopsAndEndsNothing) {
  boot(false, "auth_backend", false, "  sync_max_sessions: 10\n");
  auto l = link("acc", "tv1");
  std::string id = emu->play("news", l["token"], "10.0.0.1", false)["id"];
  ASSERT_TRUE(job("sync")["ok"].get<bool>());
  ASSERT_EQ(status("acc", "tv1"), "active");
  // tv1's session goes, and the streamer now lists more than the cap.
  emu->close(id);
  fill(*emu, 11);
  auto rep = job("sync", {{"batch_size", 4}});
  EXPECT_FALSE(rep["ok"].get<bool>()) << rep.dump();
  std::string error = rep["streamers"][0]["error"];
  EXPECT_NE(error.find("sync_max_sessions (10)"), std::string::npos) << error;
  EXPECT_EQ(rep["streamers"][0]["listed"], 8) << "stopped before the page past the cap";
  EXPECT_EQ(status("acc", "tv1"), "active") << "nothing ends on an incomplete listing";
  auto metrics = client->get("/metrics").body;
  EXPECT_NE(metrics.find("maxsess_sync_stopped_total{streamer=\"1\",reason=\"cap\"} 1"), std::string::npos)
      << metrics;
  EXPECT_NE(d->log().find("sync stopped before it was complete"), std::string::npos) << d->log();
}

TEST_F(Flussonic, ListingsThatNeverEndStopAndDecisionsGoOn) {
  boot(false, "auth_backend", false, "  sync_max_sessions: 2000\n");
  auto l = link("acc", "tv1");
  std::string id = emu->play("news", l["token"], "10.0.0.1", false)["id"];
  ASSERT_TRUE(job("sync")["ok"].get<bool>());
  emu->close(id);
  fill(*emu, 10);
  // "next" = cursor + 1 forever, every page the same sessions (issue 7).
  emu->configure({{"api_next", "increment"}});
  auto rep = job("sync", {{"batch_size", 10}});
  EXPECT_FALSE(rep["ok"].get<bool>()) << rep.dump();
  EXPECT_EQ(rep["streamers"][0]["listed"], 2000);
  EXPECT_NE(rep["streamers"][0]["error"].get<std::string>().find("sync_max_sessions"), std::string::npos)
      << rep.dump();
  EXPECT_EQ(status("acc", "tv1"), "active");
  // The same cursor again: stopped at once, nothing ended either.
  emu->configure({{"api_next", "repeat"}});
  rep = job("sync", {{"batch_size", 10}});
  EXPECT_FALSE(rep["ok"].get<bool>()) << rep.dump();
  EXPECT_EQ(rep["streamers"][0]["listed"], 20);
  EXPECT_NE(rep["streamers"][0]["error"].get<std::string>().find("cursor it was given"), std::string::npos)
      << rep.dump();
  EXPECT_EQ(status("acc", "tv1"), "active");
  link("acc", "tv2");  // the daemon still decides
  // Once the streamer pages properly again, the gone session ends.
  emu->configure({{"api_next", nullptr}});
  rep = job("sync");
  EXPECT_TRUE(rep["ok"].get<bool>()) << rep.dump();
  EXPECT_EQ(status("acc", "tv1"), "ended");
}

TEST_F(Flussonic, SyncPastItsDeadlineStopsAtTheNextPage) {
  boot(false, "auth_backend", false, "  sync_timeout: 3s\n");
  auto l = link("acc", "tv1");
  std::string id = emu->play("news", l["token"], "10.0.0.1", false)["id"];
  ASSERT_TRUE(job("sync")["ok"].get<bool>());
  emu->close(id);
  fill(*emu, 5);
  // Pages of 200 ms that never end: the 3 s deadline stops it after some
  // fifteen pages, long before the default cap.
  emu->configure({{"api_next", "increment"}, {"api_delay_ms", 200}});
  auto running = std::async(std::launch::async, [&] {
    http_client c("127.0.0.1", d->port());
    return c.post_json("/api/v1/jobs/sync", R"({"batch_size":5})", admin()).body;
  });
  auto asked = emu->state()["api_requests"].get<int>();
  ASSERT_TRUE(eventually([&] { return emu->state()["api_requests"].get<int>() > asked; }));
  // Decisions go on while the sync runs (it holds no actor while listing).
  link("acc", "tv2");
  EXPECT_EQ(running.wait_for(0s), std::future_status::timeout) << "the sync was over before the link";
  auto rep = json::parse(running.get(), nullptr, false);
  EXPECT_FALSE(rep["ok"].get<bool>()) << rep.dump();
  std::string error = rep["streamers"][0]["error"];
  EXPECT_NE(error.find("sync_timeout"), std::string::npos) << error;
  EXPECT_LT(rep["streamers"][0]["listed"].get<int>(), 200) << rep.dump();
  EXPECT_EQ(status("acc", "tv1"), "active");
  auto metrics = client->get("/metrics").body;
  EXPECT_NE(metrics.find("maxsess_sync_stopped_total{streamer=\"1\",reason=\"timeout\"} 1"),
            std::string::npos)
      << metrics;
}

TEST_F(Flussonic, ShutdownStopsAListingThatNeverEnds) {
  boot(false, "auth_backend", false, "  sync_timeout: 10m\n");
  fill(*emu, 5);
  emu->configure({{"api_next", "increment"}, {"api_delay_ms", 100}});
  auto pending = std::async(std::launch::async, [&] {
    http_client c("127.0.0.1", d->port());
    try {
      return c.post_json("/api/v1/jobs/sync", R"({"batch_size":5})", admin()).body;
    } catch (const std::exception& e) {
      return std::string(e.what());  // the daemon went away without answering
    }
  });
  auto asked = emu->state()["api_requests"].get<int>();
  ASSERT_TRUE(eventually([&] { return emu->state()["api_requests"].get<int>() > asked + 3; }));
  // Neither the cap (200 000 at 5 a page) nor the deadline is near: only
  // the shutdown stops the listing, at the next page, and the job is
  // answered before the HTTP server's 10 s drain would cut it off.
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(d->stop(), 0) << d->log();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 8s) << "the listing held the shutdown up";
  auto answer = pending.get();
  EXPECT_NE(answer.find("stopped"), std::string::npos) << answer;
  auto after = emu->state()["api_requests"].get<int>();
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(emu->state()["api_requests"].get<int>(), after) << "nothing lists after shutdown";
}

TEST_F(Flussonic, SyncsOfOneStreamerNeverOverlap) {
  boot(false, "auth_backend", false);
  fill(*emu, 3);
  emu->configure({{"api_delay_ms", 500}});
  auto before = emu->state()["api_requests"].get<int>();
  // A second request while the first runs joins it: one listing, one result.
  auto other = std::async(std::launch::async, [&] {
    http_client c("127.0.0.1", d->port());
    return c.post_json("/api/v1/jobs/sync", "{}", admin());
  });
  ASSERT_TRUE(eventually([&] { return emu->state()["api_requests"].get<int>() > before; }));
  auto rep = job("sync");
  auto first = json::parse(other.get().body);
  EXPECT_TRUE(rep["ok"].get<bool>()) << rep.dump();
  EXPECT_EQ(first, rep);
  EXPECT_EQ(emu->state()["api_requests"].get<int>(), before + 1) << "one page, asked once";
}

TEST_F(Flussonic, SecuretokenStreamerWorksEndToEndThroughWebhooks) {
  boot(true, "securetoken", false);  // Flussonic checks the link itself
  auto put = client->put_json("/api/v1/accounts/acc", R"({"max_sessions":1})", admin());
  ASSERT_EQ(put.status, 200);
  auto l = link("acc", "tv1", 200, "news", "10.0.0.1");
  std::string token = l["token"];
  ASSERT_EQ(std::count(token.begin(), token.end(), '-'), 3) << token;
  auto p = emu->play("news", token, "10.0.0.1", false);
  emu->flush();
  ASSERT_TRUE(eventually([&] { return status("acc", "tv1") == "active"; })) << status("acc", "tv1");
  // The same link played from a second address: closed on the streamer.
  auto second = emu->play("news", token, "198.51.100.7", false);
  emu->flush();
  std::string second_id = second["id"];
  ASSERT_TRUE(eventually([&] { return deleted_on_streamer(second_id); })) << emu->state().dump();
  // Closing ends it.
  emu->close(p["id"]);
  emu->flush();
  EXPECT_TRUE(eventually([&] { return status("acc", "tv1") == "ended"; }));
}

TEST_F(Flussonic, DuplicatedAndLegacyBatches) {
  boot(true);
  auto l = link("acc", "tv1");
  std::string token = l["token"];
  json opened = {{"event", "play_opened"}, {"event_id", 1001}, {"id", "f-1"}, {"media", "news"},
                 {"token", token}, {"ip", "10.0.0.1"}, {"utc_ms", 1764000000000LL}};
  json updated = {{"event", "play_update"}, {"event_id", 1002}, {"id", "f-1"}, {"media", "news"},
                  {"token", token}, {"bytes", 5000}, {"duration", 12}, {"updated_at", nullptr}};
  auto r = emu->post_events(json::array({opened, updated}));
  ASSERT_EQ(r["status"], 200) << r.dump();
  auto again = emu->post_events(json::array({opened, updated}));
  ASSERT_EQ(again["status"], 200);
  EXPECT_EQ(json::parse(again["body"].get<std::string>())["duplicates"], 2);
  EXPECT_TRUE(eventually([&] { return status("acc", "tv1") == "active"; }));
  EXPECT_TRUE(eventually([&] {
    return query_scalar(dsn, "select bytes from playback_sessions where device_id='tv1'") == "5000";
  }));
  // Legacy single object, seconds timestamps.
  json legacy = {{"event", "session_closed"}, {"session_id", "f-1"}, {"name", "news"}, {"token", token},
                 {"deleted_at", 1764000100}};
  ASSERT_EQ(emu->post_events(legacy)["status"], 200);
  EXPECT_TRUE(eventually([&] { return status("acc", "tv1") == "ended"; }));
  // Malformed entries inside a valid batch are skipped and counted; not JSON is 400;
  // an unknown host is 404.
  auto mixed = emu->post_events(json::array({1, json::object(), {{"event", "play_closed"}}}));
  EXPECT_EQ(mixed["status"], 200);
  EXPECT_EQ(json::parse(mixed["body"].get<std::string>())["malformed"], 3);
  EXPECT_EQ(emu->post_raw("this is not json")["status"], 400);
  auto unknown = client->post_json("/webhook/playback-session/flussonic/nobody.test", "[]");
  EXPECT_EQ(unknown.status, 404);
  // Redelivery by the emulator's own sender (duplicate_batches) changes nothing twice.
  emu->configure({{"duplicate_batches", true}});
  auto l2 = link("acc", "tv2");
  auto p2 = emu->play("news", l2["token"], "10.0.0.2");
  emu->close(p2["id"]);
  emu->flush();
  EXPECT_TRUE(eventually([&] { return status("acc", "tv2") == "ended"; }));
}

TEST_F(Flussonic, SlowStreamerDoesNotBlockTheOther) {
  boot(false, "auth_backend", false);
  // A second streamer whose API hangs longer than the client timeout.
  flussonic_emulator::options so;
  flussonic_emulator slow(so);
  slow.start();
  slow.configure({{"api_delay_ms", 8000}});
  json s2 = {{"host", "slow.test"}, {"url", slow.api_url()}, {"api_url", slow.api_url()},
             {"api_user", "flussonic"}, {"api_password", "secret"}};
  ASSERT_EQ(client->put_json("/api/v1/streamers/2", s2.dump(), admin()).status, 200);
  link("acc", "tv1", 200, "news");
  // Sync streamer 1 while streamer 2 hangs.
  auto slow_job = std::async(std::launch::async, [&] {
    http_client c("127.0.0.1", d->port());
    return c.post_json("/api/v1/jobs/sync", R"({"streamer_ids":[2]})", admin());
  });
  std::this_thread::sleep_for(200ms);
  auto rep = job("sync", {{"streamer_ids", {1}}});
  ASSERT_TRUE(rep["ok"].get<bool>()) << rep.dump();
  // Streamer 1's sync completed while streamer 2's was still waiting on its
  // 5 s API timeout (a causal check, not a speed check).
  EXPECT_EQ(slow_job.wait_for(0s), std::future_status::timeout) << "streamer 1 waited for streamer 2";
  auto slow_rep = json::parse(slow_job.get().body);
  EXPECT_FALSE(slow_rep["ok"].get<bool>()) << slow_rep.dump();
  EXPECT_NE(slow_rep["streamers"][0]["error"].get<std::string>().find("timed out"), std::string::npos)
      << slow_rep.dump();
  EXPECT_NE(d->log().find("backing off"), std::string::npos);
}

TEST_F(Flussonic, ClearRemovesOnlyOldRows) {
  boot(true);
  ASSERT_EQ(client->put_json("/api/v1/accounts/acc", R"({"max_sessions":0})", admin()).status, 200);
  for (auto dev : {"old", "fresh", "live", "killed"}) link("acc", dev);
  client->del("/api/v1/accounts/acc/devices/old/session");
  client->del("/api/v1/accounts/acc/devices/fresh/session");
  client->del("/api/v1/accounts/acc/devices/killed/session?kill=true");
  // Age two rows past clear_timeout (the database's clock decides).
  query_scalar(dsn, "update playback_sessions set updated_at = now() - interval '11 minutes' where device_id in ('old','killed')");
  auto rep = job("clear", {{"timeout", 120}});
  ASSERT_TRUE(rep["ok"].get<bool>()) << rep.dump();
  EXPECT_EQ(rep["cleared"], 2) << "the old ended row, and the killed one (nothing bound: nothing open)";
  EXPECT_EQ(query_scalar(dsn, "select string_agg(device_id, ',' order by device_id) from playback_sessions"),
            "fresh,live");
}

TEST_F(Flussonic, CliCommandsAskTheRunningDaemon) {
  boot(true);
  auto l = link("acc", "tv1");
  emu->play("news", l["token"], "10.0.0.1");
  std::string out;
  EXPECT_EQ(d->run_command("playback-session:sync --batch-size=50 --streamer-ids=1", out), 0) << out;
  EXPECT_NE(out.find("streamer 1"), std::string::npos) << out;
  EXPECT_EQ(d->run_command("playback-session:kill --streamer-ids=1", out), 0) << out;
  EXPECT_EQ(d->run_command("playback-session:clear --timeout=120", out), 0) << out;
  EXPECT_NE(out.find("cleared"), std::string::npos) << out;
  EXPECT_NE(d->run_command("playback-session:sync --streamer-ids=99", out), 0) << out;
  EXPECT_NE(d->run_command("playback-session:sync --batch-size=abc", out), 0) << out;
  ASSERT_EQ(d->stop(), 0);
  EXPECT_NE(d->run_command("playback-session:sync", out), 0);
  EXPECT_NE(out.find("cannot reach"), std::string::npos) << out;
}

}  // namespace
