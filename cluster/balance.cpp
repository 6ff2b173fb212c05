#include "cluster/balance.hpp"

#include <algorithm>

namespace maxsess::cluster {

namespace {

std::vector<std::string> sorted_unique(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}

int share_at(int shard_count, int nodes, int index) {
  return shard_count / nodes + (index < shard_count % nodes ? 1 : 0);
}

}  // namespace

int fair_share(int shard_count, const std::vector<std::string>& live_nodes, const std::string& node) {
  auto live = sorted_unique(live_nodes);
  auto it = std::find(live.begin(), live.end(), node);
  if (it == live.end() || shard_count <= 0)
    return 0;
  return share_at(shard_count, static_cast<int>(live.size()), static_cast<int>(it - live.begin()));
}

balance_plan plan_balance(const std::string& self, const std::vector<std::string>& live_nodes,
                          const shard_map& leases, sys_time now, int max_handoffs) {
  balance_plan plan;
  const auto live = sorted_unique(live_nodes);
  const auto me = std::find(live.begin(), live.end(), self);
  if (me == live.end()) {
    plan.release = leases.shards_of(self, now);
    return plan;
  }
  const int n = static_cast<int>(live.size());
  const int self_index = static_cast<int>(me - live.begin());
  const auto held = leases.counts(now);
  auto held_by = [&](const std::string& node) {
    auto it = held.find(node);
    return it == held.end() ? 0 : it->second;
  };

  // Deal the free shards to the nodes below their share, in id order.
  const auto free = leases.free_at(now);
  std::size_t next_free = 0;
  int missing_after_free = 0;
  for (int i = 0; i < n; ++i) {
    const int missing = std::max(0, share_at(leases.shard_count(), n, i) - held_by(live[i]));
    const std::size_t dealt = std::min(static_cast<std::size_t>(missing), free.size() - next_free);
    if (i == self_index)
      plan.acquire.assign(free.begin() + static_cast<long>(next_free),
                          free.begin() + static_cast<long>(next_free + dealt));
    next_free += dealt;
    missing_after_free += missing - static_cast<int>(dealt);
  }

  // Release only what the others still miss, surplus nodes in id order.
  for (int i = 0; i < n && missing_after_free > 0; ++i) {
    const int surplus = std::max(0, held_by(live[i]) - share_at(leases.shard_count(), n, i));
    const int give = std::min({surplus, std::max(0, max_handoffs), missing_after_free});
    if (i == self_index && give > 0) {
      // The highest-numbered ones: any choice works, a fixed one is easier
      // to follow in logs.
      auto mine = leases.shards_of(self, now);
      plan.release.assign(mine.end() - give, mine.end());
    }
    missing_after_free -= give;
  }
  return plan;
}

}  // namespace maxsess::cluster
