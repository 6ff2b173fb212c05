#pragma once
// The start-up checks of cluster mode, before anything serves. Each returns
// an empty string when the node may start, else what to log (and exit 1).
#include <string>

#include "cluster/node.hpp"

namespace maxsess::cluster {

int protocol_version();

// Cluster on: stores the cluster's shape (shards, protocol version) on its
// first run and refuses another; refuses a node id that a live node uses
// from another address; then records this node in the node table.
std::string join_cluster(const node_options& opts);

// Cluster off: refuses a database that a cluster ran on (a single node would
// decide for accounts whose shards other nodes own).
std::string check_single_node(const std::string& dsn);

}  // namespace maxsess::cluster
