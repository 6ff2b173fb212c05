#pragma once
// Which node runs a streamer's sync and kill (no CAF, no database):
// rendezvous hashing over the nodes a node can reach, so a node joining or
// leaving moves only its own share of the streamers and every node that
// sees the same nodes picks the same one.
#include <cstdint>
#include <string>
#include <vector>

namespace maxsess::cluster {

// The node that ranks highest for the streamer; "" when there is none.
std::string ranks_first(const std::vector<std::string>& nodes, int64_t streamer);

}  // namespace maxsess::cluster
