// The webhook redelivery memory (actors/recent_events.hpp): remembers the
// last `kept` ids exactly, and takes its memory once, at the first id.
#include "actors/recent_events.hpp"

#include <gtest/gtest.h>

#include <deque>
#include <random>
#include <set>
#include <utility>

namespace maxsess::actors {
namespace {

TEST(RecentEvents, RemembersTheLastKeptIdsAndForgetsTheOldestFirst) {
  recent_events m(4);
  for (int64_t id = 1; id <= 4; ++id) m.add(7, id);
  for (int64_t id = 1; id <= 4; ++id) EXPECT_TRUE(m.contains(7, id)) << id;
  m.add(7, 5);
  EXPECT_FALSE(m.contains(7, 1));
  for (int64_t id = 2; id <= 5; ++id) EXPECT_TRUE(m.contains(7, id)) << id;
  EXPECT_EQ(m.size(), 4u);
}

TEST(RecentEvents, ARepeatedIdTakesNoSecondPlace) {
  recent_events m(3);
  m.add(1, 10);
  m.add(1, 11);
  m.add(1, 10);  // a redelivery: already there, evicts nothing
  m.add(1, 12);
  EXPECT_TRUE(m.contains(1, 10));
  EXPECT_TRUE(m.contains(1, 11));
  EXPECT_TRUE(m.contains(1, 12));
  EXPECT_EQ(m.size(), 3u);
}

TEST(RecentEvents, TheStreamerIsPartOfTheKeyAndNegativeIdsAreNotKept) {
  recent_events m(8);
  m.add(1, 42);
  EXPECT_TRUE(m.contains(1, 42));
  EXPECT_FALSE(m.contains(2, 42));
  m.add(1, -1);
  EXPECT_FALSE(m.contains(1, -1));
  EXPECT_EQ(m.size(), 1u);
}

// What the soak's leak check relies on: no allocation as the memory fills
// (the std::unordered_set this replaced allocated one node per id).
TEST(RecentEvents, TakesItsMemoryAtTheFirstIdAndNeverMore) {
  recent_events m(1024);
  EXPECT_EQ(m.heap_bytes(), 0u);  // a shard without webhooks pays nothing
  m.add(1, 0);
  const std::size_t at_first = m.heap_bytes();
  EXPECT_GT(at_first, 0u);
  EXPECT_LE(at_first, 1024u * 64);  // 48 bytes per id kept, plus rounding of the table
  for (int64_t id = 1; id < 100 * 1024; ++id) m.add(1 + id % 3, id);
  EXPECT_EQ(m.heap_bytes(), at_first);
  EXPECT_EQ(m.size(), 1024u);
}

// Against a plain model over many evictions: the table's backward-shift
// deletion must never lose a kept id nor keep a forgotten one. Ids from a
// small range collide and repeat, so probe runs wrap around the table.
TEST(RecentEvents, MatchesAModelThroughManyEvictions) {
  for (std::size_t kept : {1u, 2u, 5u, 64u, 100u}) {
    recent_events m(kept);
    std::deque<std::pair<int64_t, int64_t>> order;
    std::set<std::pair<int64_t, int64_t>> model;
    std::mt19937_64 rng(kept);
    for (int step = 0; step < 200000; ++step) {
      const int64_t streamer = static_cast<int64_t>(rng() % 3);
      const int64_t id = static_cast<int64_t>(rng() % (4 * kept + 7));
      const auto k = std::make_pair(streamer, id);
      ASSERT_EQ(m.contains(streamer, id), model.count(k) > 0) << "kept " << kept << " step " << step;
      m.add(streamer, id);
      if (model.insert(k).second) {
        order.push_back(k);
        if (order.size() > kept) {
          model.erase(order.front());
          order.pop_front();
        }
      }
      ASSERT_EQ(m.size(), model.size());
    }
    for (int64_t s = 0; s < 3; ++s)
      for (int64_t id = 0; id < static_cast<int64_t>(4 * kept + 7); ++id)
        ASSERT_EQ(m.contains(s, id), model.count({s, id}) > 0) << "kept " << kept;
  }
}

}  // namespace
}  // namespace maxsess::actors
