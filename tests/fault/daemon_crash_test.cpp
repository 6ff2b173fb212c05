// The daemon killed (kill -9) and stopped (SIGTERM) under link and webhook
// load, then restarted on the same database and port (issue 8, fault
// tests). Whatever it acknowledged before going — a 200 link, a 2xx
// webhook batch — is in the database afterwards; while it is away clients
// see only transport errors, and while it stops only answers or 503 +
// Retry-After; SIGTERM ends with exit 0.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <iostream>
#include <thread>

#include "tests/fault/fault_support.hpp"
#include "tests/support/daemon.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/pg_test.hpp"

using namespace maxsess::test;
using namespace maxsess::test::fault;
using nlohmann::json;
using namespace std::chrono_literals;

TEST(FaultDaemon, KillNineAndSigtermUnderLoadLoseNothingAcknowledged) {
  if (!server_dsn()) GTEST_SKIP() << "no test PostgreSQL";
  const std::string dsn = create_migrated_database("fault_crash");
  daemon_options o;
  o.dsn = dsn;
  o.extra_yaml = "  webhooks: true\n  pending_ttl: 10m\n  stale_after: 10m\n";
  daemon_process d(o);
  d.start();
  http_client c("127.0.0.1", d.port());
  const std::map<std::string, std::string> admin = {{"Authorization", "Bearer " + d.admin_token()}};
  // The streamer's API is never called: webhooks are on (no sync) and
  // nothing is killed.
  json s1 = {{"host", "s1.test"}, {"url", "http://127.0.0.1:9"}};
  ASSERT_EQ(c.put_json("/api/v1/streamers/1", s1.dump(), admin).status, 200);
  std::vector<std::string> accounts;
  for (int i = 0; i < 8; ++i) {
    accounts.push_back("load" + std::to_string(i));
    ASSERT_EQ(c.put_json("/api/v1/accounts/" + accounts.back(), R"({"max_sessions":0})", admin).status, 200);
  }

  link_webhook_load load({d.port(), "s1.test", accounts, 2, 2, "d", 5});
  load.start();
  ASSERT_TRUE(load.wait_approvals(60, 30s)) << load.summary();

  // kill -9 mid-load: requests in flight die with the process.
  load.expect_down(true);
  d.kill9();
  d.start();
  ASSERT_TRUE(load.wait_approvals(60, 30s)) << "no approvals after the restart\n" << load.summary();
  load.expect_down(false);
  const auto after_kill = load.totals();
  ASSERT_TRUE(load.wait_approvals(30, 30s)) << load.summary();
  EXPECT_EQ(load.error_count(), 0u) << load.summary();
  EXPECT_GT(after_kill.transport, 0u) << "the kill cut no request off: not a test of it\n" << load.summary();

  // SIGTERM mid-load: the daemon answers what it holds, then exits 0.
  load.expect_down(true);
  EXPECT_EQ(d.stop(), 0) << d.log();
  d.start();
  ASSERT_TRUE(load.wait_approvals(60, 30s)) << "no approvals after the restart\n" << load.summary();
  load.expect_down(false);
  ASSERT_TRUE(load.wait_approvals(30, 30s)) << load.summary();
  load.stop();

  EXPECT_EQ(load.error_count(), 0u) << load.summary();
  auto t = load.totals();
  EXPECT_GT(t.opened_acked, 0u) << load.summary();
  EXPECT_GT(t.closed_acked, 0u) << load.summary();
  for (auto& m : load.missing_in(dsn)) ADD_FAILURE() << m;
  std::cout << "[ fault ] " << load.summary() << "\n";
  EXPECT_EQ(d.stop(), 0) << d.log();
}

namespace {

// Streamer 1 (s1.test; its API is never called) and a link for acc/tv,
// whose token comes back.
void streamer_and_link(http_client& c, const std::string& admin_token, std::string& token) {
  const std::map<std::string, std::string> admin = {{"Authorization", "Bearer " + admin_token}};
  json s1 = {{"host", "s1.test"}, {"url", "http://127.0.0.1:9"}};
  ASSERT_EQ(c.put_json("/api/v1/streamers/1", s1.dump(), admin).status, 200);
  json link = {{"account_id", "acc"}, {"device_id", "tv"}, {"content", {{"type", "live"}, {"stream", "news"}}}};
  auto r = c.post_json("/api/v1/links", link.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  token = json::parse(r.body)["token"];
}

}  // namespace

// A webhook's progress of an active session is durable in the progress
// journal when the batch is answered; the row itself is written only within
// progress_write_delay (migration 011). Killed before that write, the
// restarted daemon folds the journal into the rows before it serves.
TEST(FaultDaemon, AcknowledgedProgressSurvivesKillNineBeforeItsRowIsWritten) {
  if (!server_dsn()) GTEST_SKIP() << "no test PostgreSQL";
  const std::string dsn = create_migrated_database("fault_progress");
  daemon_options o;
  o.dsn = dsn;
  // A delay no test waits for: the row is not written before the kill.
  o.extra_yaml = "  webhooks: true\n  progress_write_delay: 1h\n  stale_after: 2h\n";
  daemon_process d(o);
  d.start();
  http_client c("127.0.0.1", d.port());
  std::string token;
  ASSERT_NO_FATAL_FAILURE(streamer_and_link(c, d.admin_token(), token));
  auto event = [&](const char* name, int64_t id, int64_t bytes) {
    json e = {{"event", name}, {"event_id", id}, {"id", "fs-1"}, {"media", "news"}, {"token", token},
              {"ip", "10.0.0.1"}, {"bytes", bytes}, {"duration", bytes / 1000}};
    return c.post_json("/webhook/playback-session/flussonic/s1.test", json::array({e}).dump());
  };
  ASSERT_EQ(event("play_started", 1, 0).status, 200);  // binds: its row is written before the answer
  ASSERT_EQ(query_scalar(dsn, "SELECT status FROM playback_sessions"), "active");
  for (int64_t i = 2; i <= 5; ++i) {
    auto a = event("play_updated", i, i * 1'000'000);
    ASSERT_EQ(a.status, 200) << a.body;
  }
  // Acknowledged, and only in the journal: the row still has the start's.
  EXPECT_EQ(query_scalar(dsn, "SELECT bytes FROM playback_sessions"), "0");
  EXPECT_NE(query_scalar(dsn, "SELECT count(*) FROM progress_journal"), "0");

  d.kill9();
  d.start();
  // The shard owners load (and fold first) as the daemon starts; generous
  // bound, no timing asserted.
  std::string row;
  for (int i = 0; i < 200; ++i) {
    row = query_scalar(dsn, "SELECT bytes || '/' || duration_s || '/' || status FROM playback_sessions");
    if (row == "5000000/5000/active") break;
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(row, "5000000/5000/active");
  EXPECT_EQ(query_scalar(dsn, "SELECT count(*) FROM progress_journal"), "0");
  EXPECT_EQ(d.stop(), 0) << d.log();
}

// The journal does not grow: the jobs node's tick folds and deletes the
// rows older than progress_write_delay + 3 s, which the accounts have
// written by then (the fold repairs no row).
TEST(FaultDaemon, TheJournalTickEmptiesTheJournalWithoutRepairingRows) {
  if (!server_dsn()) GTEST_SKIP() << "no test PostgreSQL";
  const std::string dsn = create_migrated_database("fault_journal_tick");
  daemon_options o;
  o.dsn = dsn;
  o.extra_yaml = "  webhooks: true\n  progress_write_delay: 200ms\n";
  daemon_process d(o);
  d.start();
  http_client c("127.0.0.1", d.port());
  std::string token;
  ASSERT_NO_FATAL_FAILURE(streamer_and_link(c, d.admin_token(), token));
  json batch = json::array();
  for (int64_t i = 1; i <= 20; ++i)
    batch.push_back({{"event", i == 1 ? "play_started" : "play_updated"}, {"event_id", i}, {"id", "fs-1"},
                     {"media", "news"}, {"token", token}, {"ip", "10.0.0.1"}, {"bytes", i * 1000}});
  ASSERT_EQ(c.post_json("/webhook/playback-session/flussonic/s1.test", batch.dump()).status, 200);
  EXPECT_NE(query_scalar(dsn, "SELECT count(*) FROM progress_journal"), "0");
  // 0.2 s + 3 s old, then the next 2 s tick: generous bound, nothing timed.
  std::string left;
  for (int i = 0; i < 300; ++i) {
    left = query_scalar(dsn, "SELECT count(*) FROM progress_journal");
    if (left == "0") break;
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(left, "0");
  EXPECT_EQ(query_scalar(dsn, "SELECT bytes FROM playback_sessions"), "20000");  // written by the account
  // Counted once the fold's statement returned: polled too.
  std::string metrics;
  for (int i = 0; i < 100; ++i) {
    metrics = c.get("/metrics").body;
    if (metrics.find("maxsess_progress_journal_folded_total 20") != std::string::npos) break;
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_NE(metrics.find("maxsess_progress_journal_folded_total 20"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("maxsess_progress_journal_repaired_rows_total 0"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("maxsess_progress_journal_errors_total 0"), std::string::npos) << metrics;
  EXPECT_EQ(d.stop(), 0) << d.log();
}
