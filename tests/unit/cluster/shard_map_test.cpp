#include "cluster/shard_map.hpp"

#include <gtest/gtest.h>

namespace maxsess::cluster {
namespace {

using std::chrono::seconds;

const sys_time t0 = from_unix_ms(1'700'000'000'000);

TEST(shard_map, built_from_rows) {
  auto m = shard_map::from_rows(8, {{0, "a", 3, t0 + seconds(4)},
                                    {5, "b", 1, t0 + seconds(4)},
                                    {2, "a", 7, t0 - seconds(1)}});
  EXPECT_EQ(m.shard_count(), 8);
  EXPECT_EQ(m.skipped(), 0);
  auto o = m.owner_of(0);
  ASSERT_TRUE(o);
  EXPECT_EQ(o->node, "a");
  EXPECT_EQ(o->epoch, 3);
  EXPECT_EQ(o->expires_at, t0 + seconds(4));
  EXPECT_FALSE(m.owner_of(1));
  EXPECT_FALSE(m.owner_of(-1));
  EXPECT_FALSE(m.owner_of(8));
  EXPECT_EQ(m.shards_of("a"), (std::vector<int>{0, 2}));
  EXPECT_EQ(m.shards_of("a", t0), (std::vector<int>{0}));
  EXPECT_EQ(m.shards_of("nobody"), std::vector<int>{});
}

TEST(shard_map, counts_rows_and_valid_leases) {
  auto m = shard_map::from_rows(8, {{0, "a", 1, t0 + seconds(4)},
                                    {1, "a", 1, t0},  // expires exactly now: expired
                                    {2, "b", 1, t0 + seconds(1)}});
  EXPECT_EQ(m.counts(), (std::map<std::string, int>{{"a", 2}, {"b", 1}}));
  EXPECT_EQ(m.counts(t0), (std::map<std::string, int>{{"a", 1}, {"b", 1}}));
  EXPECT_EQ(m.counts(t0 + seconds(2)), (std::map<std::string, int>{{"a", 1}}));
  EXPECT_EQ(m.free_at(t0), (std::vector<int>{1, 3, 4, 5, 6, 7}));
}

TEST(shard_map, skips_rows_out_of_range) {
  auto m = shard_map::from_rows(4, {{4, "a", 1, t0}, {-1, "a", 1, t0}, {3, "b", 1, t0}});
  EXPECT_EQ(m.skipped(), 2);
  EXPECT_EQ(m.counts(), (std::map<std::string, int>{{"b", 1}}));
}

TEST(shard_map, set_replaces_and_clear_frees) {
  shard_map m(4);
  EXPECT_TRUE(m.set({1, "a", 1, t0 + seconds(4)}));
  EXPECT_TRUE(m.set({1, "b", 2, t0 + seconds(8)}));
  EXPECT_FALSE(m.set({9, "b", 2, t0}));
  EXPECT_EQ(m.owner_of(1)->node, "b");
  EXPECT_EQ(m.owner_of(1)->epoch, 2);
  m.clear(1);
  m.clear(99);  // out of range: nothing to do
  EXPECT_FALSE(m.owner_of(1));
  EXPECT_EQ(m.free_at(t0).size(), 4u);
}

TEST(shard_map, no_shards_is_empty_not_broken) {
  shard_map m(0);
  EXPECT_EQ(m.shard_count(), 0);
  EXPECT_FALSE(m.set({0, "a", 1, t0}));
  EXPECT_TRUE(m.free_at(t0).empty());
}

}  // namespace
}  // namespace maxsess::cluster
