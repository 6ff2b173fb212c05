#include "cluster/startup.hpp"

#include "actors/wire.hpp"
#include "storage/shard_leases.hpp"

namespace maxsess::cluster {

int protocol_version() { return wire::protocol_version; }

std::string join_cluster(const node_options& o) {
  try {
    storage::shard_leases db(o.dsn);
    auto meta = db.ensure_cluster_meta(o.shards, wire::protocol_version);
    // Another shard count would give accounts two owners: refused. Another
    // protocol version is a rolling upgrade: nodes of different versions
    // never connect (the hello refuses them), so each serves only the
    // shards it holds a lease on, and new-version nodes take shards over
    // as old ones hand theirs off (docs/cluster.md, upgrades).
    if (!meta.matches && meta.stored.shards != o.shards)
      return "cluster.shards is " + std::to_string(o.shards) + " but this database's cluster runs with " +
             std::to_string(meta.stored.shards) +
             " shards (every node must use the same count, fixed at the cluster's first run); "
             "set cluster.shards: " + std::to_string(meta.stored.shards);
    storage::node_info self;
    self.node_id = o.node_id;
    self.http_address = o.http_address;
    self.cluster_address = o.listen_host + ":" + std::to_string(o.listen_port);
    self.protocol_version = wire::protocol_version;
    for (auto& n : db.list_nodes(o.timing.ttl)) {
      if (n.node_id == o.node_id && n.alive && n.cluster_address != self.cluster_address)
        return "node id " + o.node_id + " is in use by a live node at " + n.cluster_address +
               "; give every node its own node.id (MAXSESS_NODE_ID)";
    }
    db.join(self);
    return {};
  } catch (const std::exception& e) {
    return std::string("cannot use the database for the cluster: ") + e.what();
  }
}

std::string check_single_node(const std::string& dsn) {
  try {
    storage::shard_leases db(dsn);
    if (auto meta = db.read_cluster_meta())
      return "this database belongs to a cluster (" + std::to_string(meta->shards) +
             " shards): start this node with cluster.enabled: true (MAXSESS_CLUSTER_ENABLED=true), "
             "or use a database of its own";
    return {};
  } catch (const std::exception& e) {
    return std::string("cannot use the database: ") + e.what();
  }
}

}  // namespace maxsess::cluster
