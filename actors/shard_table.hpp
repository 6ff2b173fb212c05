#pragma once
// The shard -> actor table that every request consults (from HTTP threads
// and actor threads alike). On a single node it is filled once; in cluster
// mode cluster/ rewrites entries as leases are taken, lost and handed off.
#include <atomic>
#include <limits>
#include <memory>
#include <shared_mutex>
#include <vector>

#include "actors/ownership.hpp"

namespace maxsess::actors {

class shard_table final : public shard_locator {
 public:
  // Every shard starts at `nobody` (answers unavailable).
  shard_table(int shards, shard_actor nobody);
  shard_actor locate(int shard) const override;
  bool serving(int shard, sys_time now) const override;
  // Cluster mode: the local deadline of this node's lease on the shard
  // (from the lease keeper); until first set, a shard is served without one.
  void serve_until(int shard, sys_time deadline);
  void route(int shard, shard_actor to);
  // A local owner: also what locate_local() answers.
  void route_local(int shard, local_shard_actor owner);
  void route_to_nobody(int shard);
  // The owner of `shard` when it runs on this node, else a null handle.
  local_shard_actor locate_local(int shard) const;
  const shard_actor& nobody() const { return nobody_; }
  int size() const { return static_cast<int>(routes_.size()); }

 private:
  shard_actor nobody_;
  mutable std::shared_mutex mutex_;
  std::vector<shard_actor> routes_;
  std::vector<local_shard_actor> local_;  // the same route when it is a local owner
  std::unique_ptr<std::atomic<int64_t>[]> until_ns_;  // per shard; max = no deadline
};

// The actor behind shards that have no live owner right now (failover,
// handoff): it answers every request `unavailable` at once, so callers get
// 503 + Retry-After rather than a timeout.
shard_actor spawn_nobody(caf::actor_system& sys);

}  // namespace maxsess::actors
