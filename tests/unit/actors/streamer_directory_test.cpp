// Streamer load for placement: this node's sessions plus the other nodes'
// share as last read from PostgreSQL (cluster mode).
#include <gtest/gtest.h>

#include "actors/streamer_directory.hpp"

using namespace maxsess;
using namespace maxsess::actors;

namespace {

streamer make(int64_t id, int64_t capacity) {
  streamer s;
  s.id = id;
  s.host = "s" + std::to_string(id);
  s.url = "http://s" + std::to_string(id);
  s.capacity = capacity;
  return s;
}

TEST(StreamerDirectory, OtherNodesSessionsCountTowardsLoadAndCapacity) {
  streamer_directory d;
  d.put(make(1, 10));
  d.put(make(2, 10));
  d.add_load(1, 2);  // this node: 2 on streamer 1, none on 2
  EXPECT_EQ(d.pick(0).chosen->id, 2);
  // PostgreSQL: 3 on streamer 1 (2 of them ours), 9 on streamer 2 (others').
  d.set_cluster_load({{1, 3}, {2, 9}});
  EXPECT_EQ(d.load(1), 3);
  EXPECT_EQ(d.load(2), 9);
  EXPECT_EQ(d.pick(0).chosen->id, 1) << "streamer 2 is fuller cluster-wide";
  d.set_cluster_load({{1, 10}, {2, 10}});
  EXPECT_FALSE(d.pick(0).chosen.has_value()) << "both full cluster-wide";
  EXPECT_EQ(d.pick(1).error, streamer_directory::pick_error::unusable);
  // Our own sessions are never counted twice: the others' share is the rest.
  d.set_cluster_load({{1, 2}});
  EXPECT_EQ(d.load(1), 2);
  EXPECT_EQ(d.load(2), 0);
}


// A reload that read the table before an admin PUT landed must not undo
// it (Reload.KeysThatNeedARestartAreNamedAndABrokenFileChangesNothing saw
// the streamer just PUT answer its webhook 404: a SIGHUP's reload had read
// the table before the PUT committed and replaced the directory after).
TEST(StreamerDirectory, AReplaceFromASnapshotOlderThanAPutOrRemoveIsRefused) {
  streamer_directory d;
  d.put(make(1, 10));
  auto before = d.version();
  d.put(make(2, 10));  // lands while a reload reads a table without it
  const auto after_put = d.version();
  EXPECT_FALSE(d.replace_all_if(before, {make(1, 10)}));
  ASSERT_TRUE(d.find_by_host("s2").has_value());
  EXPECT_EQ(d.version(), after_put) << "a refused replace changes nothing";
  before = d.version();
  EXPECT_TRUE(d.remove(1));
  EXPECT_FALSE(d.replace_all_if(before, {make(1, 10), make(2, 10)}));
  EXPECT_FALSE(d.get(1).has_value());
  // Read again after the change: the replace goes through and moves the version.
  before = d.version();
  EXPECT_TRUE(d.replace_all_if(before, {make(2, 10), make(3, 10)}));
  EXPECT_NE(d.version(), before);
  EXPECT_TRUE(d.get(3).has_value());
  // Removing what is not there changes nothing, and no reload reads again for it.
  before = d.version();
  EXPECT_FALSE(d.remove(1));
  EXPECT_EQ(d.version(), before);
}

}  // namespace
