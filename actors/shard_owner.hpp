#pragma once
// The owner of one shard on this node: it holds the shard's lease epoch and
// routes each request to the account's actor, spawned on demand. One per
// shard, so no single mailbox on the node sees every request.
#include "actors/context.hpp"

namespace maxsess::actors {

struct shard_owner_args {
  int shard = 0;
  int64_t epoch = 1;  // single node: 1 for good; cluster: the lease's epoch
  // The shard's previous owner on this node, still draining (or gone):
  // this one serves only once it has finished.
  local_shard_actor predecessor;
};

local_shard_actor spawn_shard_owner(caf::actor_system& sys, const context* ctx, shard_owner_args args);

}  // namespace maxsess::actors
