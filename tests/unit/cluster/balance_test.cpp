#include "cluster/balance.hpp"

#include <gtest/gtest.h>

#include <set>

namespace maxsess::cluster {
namespace {

using std::chrono::seconds;

const sys_time t0 = from_unix_ms(1'700'000'000'000);
const sys_time valid = t0 + seconds(4);
const sys_time expired = t0 - seconds(1);

// A map where `owner` holds shards [from, to) until `until`.
void hold(shard_map& m, const std::string& owner, int from, int to, sys_time until = valid) {
  for (int s = from; s < to; ++s)
    m.set({s, owner, 1, until});
}

std::vector<int> range(int from, int to) {
  std::vector<int> v;
  for (int s = from; s < to; ++s)
    v.push_back(s);
  return v;
}

TEST(fair_share, ceil_goes_to_the_lowest_ids) {
  const std::vector<std::string> live{"c", "a", "b"};
  EXPECT_EQ(fair_share(10, live, "a"), 4);
  EXPECT_EQ(fair_share(10, live, "b"), 3);
  EXPECT_EQ(fair_share(10, live, "c"), 3);
  EXPECT_EQ(fair_share(10, live, "d"), 0);
  EXPECT_EQ(fair_share(2, live, "c"), 0);
  EXPECT_EQ(fair_share(256, {"n1", "n2", "n3", "n4", "n5"}, "n1"), 52);
  EXPECT_EQ(fair_share(256, {"n1", "n2", "n3", "n4", "n5"}, "n2"), 51);
}

TEST(plan_balance, fresh_cluster_splits_the_free_shards_without_overlap) {
  shard_map m(10);
  const std::vector<std::string> live{"a", "b", "c"};
  auto a = plan_balance("a", live, m, t0, 2);
  auto b = plan_balance("b", live, m, t0, 2);
  auto c = plan_balance("c", live, m, t0, 2);
  EXPECT_EQ(a.acquire, range(0, 4));
  EXPECT_EQ(b.acquire, range(4, 7));
  EXPECT_EQ(c.acquire, range(7, 10));
  EXPECT_TRUE(a.release.empty() && b.release.empty() && c.release.empty());
}

TEST(plan_balance, a_joining_node_waits_for_handoffs_instead_of_taking) {
  shard_map m(10);
  hold(m, "b", 0, 10);
  const std::vector<std::string> live{"a", "b"};
  auto a = plan_balance("a", live, m, t0, 2);
  EXPECT_TRUE(a.empty());  // everything is validly held by b
  auto b = plan_balance("b", live, m, t0, 2);
  EXPECT_TRUE(b.acquire.empty());
  EXPECT_EQ(b.release, (std::vector<int>{8, 9}));  // K = 2 per round
}

TEST(plan_balance, releases_no_more_than_the_others_miss) {
  shard_map m(10);
  hold(m, "a", 0, 6);
  hold(m, "b", 6, 10);
  // a's share is 5: it gives one, though K would allow more.
  auto a = plan_balance("a", {"a", "b"}, m, t0, 4);
  EXPECT_EQ(a.release, std::vector<int>{5});
  EXPECT_TRUE(plan_balance("b", {"a", "b"}, m, t0, 4).empty());
}

TEST(plan_balance, free_shards_fill_the_gap_before_anyone_releases) {
  shard_map m(12);
  hold(m, "a", 0, 6);
  hold(m, "b", 6, 10);  // 10, 11 free; c joins: shares 4/4/4
  const std::vector<std::string> live{"a", "b", "c"};
  auto a = plan_balance("a", live, m, t0, 4);
  auto c = plan_balance("c", live, m, t0, 4);
  EXPECT_EQ(c.acquire, (std::vector<int>{10, 11}));
  EXPECT_TRUE(a.acquire.empty());
  EXPECT_EQ(a.release, (std::vector<int>{4, 5}));  // c still misses 2
}

TEST(plan_balance, surplus_nodes_take_turns_in_id_order) {
  shard_map m(9);
  hold(m, "a", 0, 4);
  hold(m, "b", 4, 8);
  hold(m, "c", 8, 9);  // shares 3/3/3: c misses 2, a and b each have 1 extra
  const std::vector<std::string> live{"a", "b", "c"};
  EXPECT_EQ(plan_balance("a", live, m, t0, 1).release, std::vector<int>{3});
  EXPECT_EQ(plan_balance("b", live, m, t0, 1).release, std::vector<int>{7});
  hold(m, "c", 3, 4);  // say a's handoff landed: now b alone gives
  hold(m, "b", 4, 7);
  m.clear(7);
  EXPECT_EQ(plan_balance("c", live, m, t0, 1).acquire, std::vector<int>{7});
  EXPECT_TRUE(plan_balance("b", live, m, t0, 1).release.empty());
}

TEST(plan_balance, expired_leases_of_a_dead_node_are_free) {
  shard_map m(6);
  hold(m, "a", 0, 3);
  hold(m, "dead", 3, 6, expired);
  auto a = plan_balance("a", {"a"}, m, t0, 1);
  EXPECT_EQ(a.acquire, range(3, 6));
  EXPECT_TRUE(a.release.empty());
}

TEST(plan_balance, unexpired_leases_of_a_node_gone_from_the_list_are_waited_for) {
  shard_map m(6);
  hold(m, "a", 0, 3, t0 + seconds(10));
  hold(m, "gone", 3, 6);
  EXPECT_TRUE(plan_balance("a", {"a"}, m, t0, 1).empty());
  EXPECT_EQ(plan_balance("a", {"a"}, m, t0 + seconds(4), 1).acquire, range(3, 6));
}

TEST(plan_balance, own_expired_lease_is_taken_again) {
  shard_map m(2);
  hold(m, "a", 0, 1);
  hold(m, "a", 1, 2, expired);
  EXPECT_EQ(plan_balance("a", {"a"}, m, t0, 1).acquire, std::vector<int>{1});
}

TEST(plan_balance, a_leaving_node_acquires_nothing_and_hands_off_everything_at_once) {
  shard_map m(10);
  hold(m, "a", 0, 8);
  hold(m, "a", 8, 9, expired);  // already lost: nothing to hand off
  const std::vector<std::string> live{"b"};  // a is leaving
  auto a = plan_balance("a", live, m, t0, 2);
  EXPECT_TRUE(a.acquire.empty());
  EXPECT_EQ(a.release, range(0, 8));
  auto b = plan_balance("b", live, m, t0, 2);
  EXPECT_EQ(b.acquire, range(8, 10));  // the rest waits for a's releases
}

TEST(plan_balance, nobody_live_and_no_shards) {
  shard_map m(4);
  hold(m, "a", 0, 4);
  EXPECT_EQ(plan_balance("a", {}, m, t0, 1).release, range(0, 4));
  EXPECT_TRUE(plan_balance("a", {"a"}, shard_map(0), t0, 1).empty());
}

TEST(plan_balance, balanced_cluster_has_nothing_to_do) {
  shard_map m(256);
  const std::vector<std::string> live{"n1", "n2", "n3", "n4", "n5"};
  int from = 0;
  for (const auto& n : live) {
    int share = fair_share(256, live, n);
    hold(m, n, from, from + share);
    from += share;
  }
  for (const auto& n : live)
    EXPECT_TRUE(plan_balance(n, live, m, t0, 4).empty()) << n;
}

}  // namespace
}  // namespace maxsess::cluster
