#include "cluster/streamer_rank.hpp"

#include "domain/model.hpp"

namespace maxsess::cluster {

namespace {

// FNV-1a, then a 64-bit finaliser: plain FNV of "n1/7" and "n2/7" differ
// too little in their high bits to rank nodes fairly.
uint64_t rank_hash(const std::string& text) {
  uint64_t h = fnv1a64(text);
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  h ^= h >> 33;
  return h;
}

}  // namespace

std::string ranks_first(const std::vector<std::string>& nodes, int64_t streamer) {
  std::string best;
  uint64_t best_score = 0;
  for (auto& node : nodes) {
    auto score = rank_hash(node + "/" + std::to_string(streamer));
    if (best.empty() || score > best_score) {
      best = node;
      best_score = score;
    }
  }
  return best;
}

}  // namespace maxsess::cluster
