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
