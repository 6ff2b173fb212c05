#include "cluster/streamer_rank.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>

namespace maxsess::cluster {
namespace {

const std::vector<std::string> three{"node-a", "node-b", "node-c"};

TEST(streamer_rank, no_nodes_no_owner) { EXPECT_EQ(ranks_first({}, 7), ""); }

TEST(streamer_rank, one_node_runs_everything) {
  for (int64_t id = 1; id <= 50; ++id) EXPECT_EQ(ranks_first({"solo"}, id), "solo");
}

// Every node computes the placement on its own: the answer may not depend
// on the order in which it lists the nodes.
TEST(streamer_rank, order_of_the_nodes_does_not_matter) {
  auto reversed = three;
  std::reverse(reversed.begin(), reversed.end());
  for (int64_t id = 1; id <= 200; ++id) EXPECT_EQ(ranks_first(three, id), ranks_first(reversed, id)) << id;
}

// The finaliser spreads streamers fairly: 3000 streamers over 3 nodes, each
// within ±15 % of its share (plain FNV put most on one node).
TEST(streamer_rank, spreads_streamers_over_the_nodes) {
  std::map<std::string, int> count;
  for (int64_t id = 1; id <= 3000; ++id) ++count[ranks_first(three, id)];
  ASSERT_EQ(count.size(), 3u);
  for (auto& [node, n] : count) {
    EXPECT_GT(n, 850) << node;
    EXPECT_LT(n, 1150) << node;
  }
}

// Rendezvous hashing: a node leaving moves only its own streamers, and a
// node joining takes streamers only for itself.
TEST(streamer_rank, a_node_leaving_or_joining_moves_only_its_share) {
  const std::vector<std::string> two{"node-a", "node-b"};
  int moved_to_c = 0;
  for (int64_t id = 1; id <= 1000; ++id) {
    auto before = ranks_first(two, id);
    auto after = ranks_first(three, id);
    if (after == "node-c")
      ++moved_to_c;
    else
      EXPECT_EQ(after, before) << "streamer " << id << " moved between nodes that stayed";
  }
  EXPECT_GT(moved_to_c, 0);
}

}  // namespace
}  // namespace maxsess::cluster
