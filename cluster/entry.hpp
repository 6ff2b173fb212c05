#pragma once
// The node entry (see protocol.hpp): published on cluster.listen, it serves
// other nodes' requests for the shards owned here.
#include "actors/runtime_hooks.hpp"
#include "cluster/protocol.hpp"

namespace maxsess::cluster {

struct entry_args {
  wire::node_hello self;  // what this node answers to a hello
  std::chrono::milliseconds timeout{5000};
};

node_entry spawn_entry(actors::runtime_hooks& hooks, entry_args args);

}  // namespace maxsess::cluster
