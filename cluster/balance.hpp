#pragma once
// The rebalancer as a pure function: every node runs it on the same lease
// snapshot and, being deterministic, they agree on who takes what without
// talking to each other. The plan is advice: the lease statements in the
// database (take only a free or expired row, epoch + 1) are what keep one
// owner per shard when two nodes read different snapshots.
#include <string>
#include <vector>

#include "cluster/shard_map.hpp"
#include "domain/clock.hpp"

namespace maxsess::cluster {

struct balance_plan {
  std::vector<int> acquire;  // ascending: free shards to take
  std::vector<int> release;  // ascending: shards to hand off (stop, flush, release)
  bool empty() const { return acquire.empty() && release.empty(); }
};

// How many shards `node` should own: floor(S/N) or ceil(S/N), the ceil going
// to the lowest ids so every node computes the same split. 0 for a node not
// in `live_nodes`.
int fair_share(int shard_count, const std::vector<std::string>& live_nodes, const std::string& node);

// The plan for node `self`.
//   live_nodes: nodes that may own shards (any order, duplicates ignored). A
//     node that is leaving is left out: it acquires nothing and releases
//     every lease it holds, at once.
//   leases, now: the shard_leases snapshot and the database's clock read with
//     it (a lease expired at `now` counts as free, whoever wrote it).
//   max_handoffs: at most this many releases per round for a live node, so a
//     join moves shards a few at a time instead of pausing many at once.
// A live node never plans to take a shard another node holds unexpired: it
// waits until the holder releases it. Free shards are dealt, ascending, to
// the nodes below their share in id order, so two nodes planning from one
// snapshot never want the same shard. A node above its share releases only
// as many as the nodes below their share still miss after the free shards,
// the nodes above their share taking turns in id order.
balance_plan plan_balance(const std::string& self, const std::vector<std::string>& live_nodes,
                          const shard_map& leases, sys_time now, int max_handoffs);

}  // namespace maxsess::cluster
