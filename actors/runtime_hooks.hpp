#pragma once
// What cluster/ needs from the actor runtime: the actor system (to run its
// own actors and the middleman), the shard table (to route shards to local
// owners, peers or nobody) and how shards come to be owned here and go.
// Includes CAF: for cluster/ and actors/ only.
#include <functional>

#include "actors/context.hpp"
#include "actors/shard_table.hpp"

namespace maxsess::actors {

struct runtime_hooks {
  caf::actor_system& system;
  shard_table& table;
  const context& ctx;
  // Spawns the shard's owner with the lease's epoch and routes the shard to it.
  std::function<local_shard_actor(int shard, int64_t epoch)> own;
  // Routes the shard to nobody and returns its owner (null if none), which
  // the caller drains (drain_atom) before releasing the lease.
  std::function<local_shard_actor(int shard)> disown;
  // The shard's owner on this node; null when it is not owned here.
  std::function<local_shard_actor(int shard)> local_owner;
  // Which streamers' periodic jobs run here (from the streamer leases).
  streamer_placement& placement;
};

}  // namespace maxsess::actors
