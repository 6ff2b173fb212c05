#pragma once
// A peer: this node's stand-in for another node's entry. It implements
// shard_actor, so the shard table routes a shard owned elsewhere to it and
// callers cannot tell a remote owner from a local one. It converts to wire
// form, remembers every request it sent, and fails them all at once
// (`unavailable`) when the peer goes down: CAF 0.17 silently drops requests
// in flight to a dead node, which would otherwise end only by their
// timeout (CAF-0.17.md).
#include <functional>

#include "cluster/protocol.hpp"
#include "domain/metrics.hpp"

namespace maxsess::cluster {

struct peer_args {
  std::string node_id;  // the peer's cluster node id
  node_entry entry;     // its published entry (a CAF proxy)
  std::chrono::milliseconds timeout{5000};
  metric_registry* metrics = nullptr;
  std::function<void(std::string node_id)> on_down;  // called in the peer actor
};

peer_actor spawn_peer(caf::actor_system& sys, peer_args args);

}  // namespace maxsess::cluster
