#include "cluster/lease_clock.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

namespace maxsess::cluster {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

// ttl 4 s, renew every 1 s, margin 0.5 s: a lease counts for 3.5 s after
// the request that took or renewed it was sent.
class lease_clock_test : public ::testing::Test {
 protected:
  manual_clock clock;
  lease_clock leases{lease_timing{}};
  sys_time now() const { return clock.now(); }
};

TEST_F(lease_clock_test, acquired_lease_counts_from_the_request_not_the_answer) {
  const auto sent = now();
  clock.advance(milliseconds(300));
  ASSERT_TRUE(leases.on_acquired({7, 2}, sent, now()));
  EXPECT_EQ(leases.epoch_of(7), 2);
  EXPECT_EQ(leases.deadline_of(7), sent + milliseconds(3500));
  EXPECT_TRUE(leases.serving(7, now()));
  EXPECT_FALSE(leases.serving(8, now()));
}

TEST_F(lease_clock_test, acquire_answered_after_the_deadline_is_not_held) {
  const auto sent = now();
  clock.advance(milliseconds(3500));
  EXPECT_FALSE(leases.on_acquired({7, 2}, sent, now()));
  EXPECT_TRUE(leases.held().empty());
}

TEST_F(lease_clock_test, renew_moves_the_deadline) {
  ASSERT_TRUE(leases.on_acquired({1, 1}, now(), now()));
  clock.advance(seconds(1));
  const auto sent = now();
  leases.on_renew_sent(sent);
  clock.advance(milliseconds(200));
  EXPECT_TRUE(leases.on_renewed({{1, 1}}, sent, now()).empty());
  EXPECT_EQ(leases.deadline_of(1), sent + milliseconds(3500));
}

TEST_F(lease_clock_test, renew_failing_drops_the_shard_at_the_deadline_not_before) {
  const auto start = now();
  ASSERT_TRUE(leases.on_acquired({3, 5}, start, now()));
  // Three renews go out and none is answered (database unreachable).
  for (int i = 0; i < 3; ++i) {
    clock.advance(seconds(1));
    ASSERT_TRUE(leases.renew_due(now()));
    leases.on_renew_sent(now());
    EXPECT_TRUE(leases.expired_now(now()).empty());
  }
  clock.set(start + milliseconds(3499));
  EXPECT_TRUE(leases.expired_now(now()).empty());
  EXPECT_TRUE(leases.serving(3, now()));
  clock.set(start + milliseconds(3500));
  EXPECT_FALSE(leases.serving(3, now()));
  EXPECT_EQ(leases.expired_now(now()), std::vector<int>{3});
  EXPECT_TRUE(leases.held().empty());
  EXPECT_FALSE(leases.renew_due(now()));  // nothing left to renew
}

TEST_F(lease_clock_test, renew_answer_arriving_late_drops_the_shard) {
  const auto start = now();
  ASSERT_TRUE(leases.on_acquired({3, 5}, start, now()));
  ASSERT_TRUE(leases.on_acquired({4, 5}, start + seconds(1), now() + seconds(1)));
  clock.advance(seconds(3));
  const auto sent = now();  // before shard 3's deadline (start + 3.5 s)
  leases.on_renew_sent(sent);
  clock.advance(milliseconds(700));  // answered after it
  // Though the database did extend it, the node had to stop serving shard 3
  // at its deadline; it takes it again rather than carry on.
  EXPECT_EQ(leases.on_renewed({{3, 5}, {4, 5}}, sent, now()), std::vector<int>{3});
  EXPECT_FALSE(leases.epoch_of(3));
  EXPECT_TRUE(leases.serving(4, now()));
  EXPECT_EQ(leases.deadline_of(4), sent + milliseconds(3500));
}

TEST_F(lease_clock_test, frozen_node_waking_up_serves_nothing_before_any_timer_runs) {
  ASSERT_TRUE(leases.on_acquired({1, 1}, now(), now()));
  ASSERT_TRUE(leases.on_acquired({2, 1}, now(), now()));
  clock.advance(seconds(30));  // SIGSTOP, GC pause, stalled VM
  EXPECT_FALSE(leases.serving(1, now()));
  EXPECT_FALSE(leases.serving(2, now()));
  EXPECT_TRUE(leases.renew_due(now()));
  EXPECT_EQ(leases.expired_now(now()), (std::vector<int>{1, 2}));
}

TEST_F(lease_clock_test, answers_out_of_order_keep_the_later_deadline) {
  ASSERT_TRUE(leases.on_acquired({1, 1}, now(), now()));
  const auto first = now() + seconds(1);
  const auto second = now() + seconds(2);
  clock.set(second + milliseconds(100));
  leases.on_renewed({{1, 1}}, second, now());
  leases.on_renewed({{1, 1}}, first, now());
  EXPECT_EQ(leases.deadline_of(1), second + milliseconds(3500));
}

TEST_F(lease_clock_test, renew_for_another_epoch_or_unknown_shard_is_ignored) {
  const auto start = now();
  ASSERT_TRUE(leases.on_acquired({1, 4}, start, now()));
  clock.advance(seconds(1));
  EXPECT_TRUE(leases.on_renewed({{1, 3}, {9, 1}}, now(), now()).empty());
  EXPECT_EQ(leases.deadline_of(1), start + milliseconds(3500));
  EXPECT_FALSE(leases.epoch_of(9));
}

TEST_F(lease_clock_test, refused_renew_loses_the_shard_at_once) {
  ASSERT_TRUE(leases.on_acquired({1, 1}, now(), now()));
  ASSERT_TRUE(leases.on_acquired({2, 1}, now(), now()));
  leases.on_lost({1});
  EXPECT_FALSE(leases.serving(1, now()));
  EXPECT_EQ(leases.held(), std::vector<int>{2});
}

TEST_F(lease_clock_test, renew_due_every_interval_while_something_is_held) {
  EXPECT_FALSE(leases.renew_due(now()));
  ASSERT_TRUE(leases.on_acquired({1, 1}, now(), now()));
  EXPECT_TRUE(leases.renew_due(now()));  // never renewed yet
  leases.on_renew_sent(now());
  EXPECT_FALSE(leases.renew_due(now() + milliseconds(999)));
  EXPECT_TRUE(leases.renew_due(now() + seconds(1)));
}

TEST_F(lease_clock_test, handoff_stops_serving_but_keeps_renewing_until_released) {
  ASSERT_TRUE(leases.on_acquired({1, 1}, now(), now()));
  ASSERT_TRUE(leases.on_acquired({2, 1}, now(), now()));
  leases.begin_release(1);
  EXPECT_FALSE(leases.serving(1, now()));
  EXPECT_TRUE(leases.serving(2, now()));
  ASSERT_EQ(leases.to_renew().size(), 2u);
  EXPECT_EQ(leases.to_renew()[0].shard, 1);
  leases.on_released(1);
  EXPECT_EQ(leases.held(), std::vector<int>{2});
}

TEST_F(lease_clock_test, next_deadline_is_the_earliest) {
  EXPECT_FALSE(leases.next_deadline());
  const auto start = now();
  ASSERT_TRUE(leases.on_acquired({5, 1}, start + seconds(1), now() + seconds(1)));
  ASSERT_TRUE(leases.on_acquired({6, 1}, start, now()));
  EXPECT_EQ(leases.next_deadline(), start + milliseconds(3500));
}

TEST(lease_timing, refuses_timings_that_lapse_between_renews) {
  using ms = milliseconds;
  EXPECT_THROW(lease_clock(lease_timing{ms(4000), ms(3500), ms(500)}), std::invalid_argument);
  EXPECT_THROW(lease_clock(lease_timing{ms(4000), ms(0), ms(500)}), std::invalid_argument);
  EXPECT_THROW(lease_clock(lease_timing{ms(4000), ms(1000), ms(-1)}), std::invalid_argument);
  EXPECT_THROW(lease_clock(lease_timing{ms(1000), ms(100), ms(1000)}), std::invalid_argument);
  EXPECT_NO_THROW(lease_clock(lease_timing{ms(4000), ms(1000), ms(0)}));
}

}  // namespace
}  // namespace maxsess::cluster
