// Nodes come and go under load: a fourth node joins and gets its share of
// the shards; every node is restarted in turn (SIGTERM, start again). The
// clients see nothing worse than 503 + Retry-After while shards move, and
// no account ever exceeds its limit.
#include <gtest/gtest.h>

#include <csignal>

#include "tests/support/cluster.hpp"

using namespace maxsess::test;
using namespace std::chrono_literals;

namespace {

class ClusterMembership : public cluster_test {};

double seconds_between(time_ns from, time_ns to) { return static_cast<double>(to - from) / 1e9; }

TEST_F(ClusterMembership, FourthNodeJoinsUnderLoadAndGetsItsShare) {
  cluster_options o;
  o.shards = 128;
  boot(o);
  history h;
  auto accounts = load_accounts(h, 2);
  load_driver load(*c, h, {accounts, 8, 6});
  load.start();
  load.run_for(2s);

  const int joiner = c->add_node();
  const time_ns joined_at = steady_now_ns();
  c->start(joiner);
  load.set_up(joiner, true);
  // Each of the four within ±20 % of 128/4 = 32 shards, all owned, all connected.
  c->wait_balanced(60s, 0.2);
  const time_ns fair_at = steady_now_ns();
  // The planner's own target: floor or ceil of S/N, i.e. exactly 32 each.
  c->wait_balanced(60s);
  const time_ns exact_at = steady_now_ns();
  load.run_for(2s);
  load.stop();
  std::cout << "[ load     ] " << load.summary() << "\n";
  std::cout << "[ join     ] " << c->node_id(joiner) << " started; within ±20 % after "
            << seconds_between(joined_at, fair_at) << " s, exactly balanced after "
            << seconds_between(joined_at, exact_at) << " s\n";

  auto owners = c->owners(joiner);
  std::map<std::string, int> held;
  for (auto& o : owners) ++held[o];
  for (int i = 0; i < c->size(); ++i) {
    EXPECT_GE(held[c->node_id(i)], 26) << c->node_id(i);
    EXPECT_LE(held[c->node_id(i)], 38) << c->node_id(i);
  }
  EXPECT_GT(c->metric(joiner, "maxsess_shard_takeovers_total"), 0);
  EXPECT_EQ(load.error_count(), 0u) << ::testing::PrintToString(load.errors());
  expect_safe(h);
}

// Every node in turn: clients stop sending to it, SIGTERM (it hands its
// shards over and exits 0, PRODUCT.md §5), start again under the same id.
TEST_F(ClusterMembership, RollingRestartOfEveryNodeUnderLoad) {
  boot();
  history h;
  auto accounts = load_accounts(h, 2);
  load_driver load(*c, h, {accounts, 8, 6});
  load.start();
  load.run_for(2s);
  std::vector<std::string> hung;  // nodes that did not exit within 10 s of SIGTERM
  for (int i = 0; i < c->size(); ++i) {
    // Clients stop sending to it first, as a load balancer would.
    load.set_up(i, false);
    ASSERT_TRUE(load.wait_idle(i));
    const time_ns t0 = steady_now_ns();
    const int code = c->stop(i, 10s);  // a clean stop takes well under a second here
    const time_ns stopped = steady_now_ns();
    if (code == 128 + SIGKILL) {
      hung.push_back(c->node_id(i));
    } else {
      EXPECT_EQ(code, 0) << c->log(i);
      EXPECT_NE(c->log(i).find("info  main: stopped"), std::string::npos) << c->node_id(i) << " did not log its clean stop";
    }
    // While it is down, the other two serve every shard.
    c->wait_settled(20s);
    c->start(i);
    load.set_up(i, true);
    c->wait_balanced(30s);
    const time_ns balanced = steady_now_ns();
    std::cout << "[ restart  ] " << c->node_id(i) << ": SIGTERM -> exit " << code << " after "
              << seconds_between(t0, stopped) << " s, back and balanced " << seconds_between(stopped, balanced)
              << " s later\n";
    load.run_for(1s);
  }
  load.stop();
  std::cout << "[ load     ] " << load.summary() << "\n";
  EXPECT_EQ(load.error_count(), 0u) << ::testing::PrintToString(load.errors());
  expect_safe(h);
  EXPECT_TRUE(hung.empty()) << ::testing::PrintToString(hung) << " did not exit within 10 s of SIGTERM";
}

}  // namespace
