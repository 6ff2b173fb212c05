#pragma once
// The lease keeper: one actor per node. Every renew interval it runs one
// round on its own database connection (a worker thread: never on an actor
// thread): heartbeat, renew held leases, read nodes and leases. Then it
// drops what it lost, plans with plan_balance(), takes free shards (spawning
// their owners), hands off extra ones (drain, then release), connects to
// nodes it has no peer for, and routes every other shard to its owner's
// peer or to nobody.
#include <atomic>

#include "actors/runtime_hooks.hpp"
#include "cluster/node.hpp"
#include "cluster/protocol.hpp"

namespace maxsess::cluster {

using keeper_actor = caf::typed_actor<
    caf::reacts_to<tick_atom>,
    caf::reacts_to<fenced_atom, int /*shard*/, int64_t /*epoch*/>,
    caf::replies_to<leave_atom>::with<bool>,   // hand everything off, then answer
    caf::replies_to<status_atom>::with<std::string>>;

struct keeper_args {
  node_options opts;
  actors::runtime_hooks* hooks = nullptr;
  logger* log = nullptr;
  metric_registry* metrics = nullptr;
  // Local time (ns) of the request of the last lease round that succeeded; 0: none.
  std::atomic<int64_t>* in_cluster = nullptr;
  wire::node_hello hello;
};

keeper_actor spawn_keeper(caf::actor_system& sys, keeper_args args);

}  // namespace maxsess::cluster
