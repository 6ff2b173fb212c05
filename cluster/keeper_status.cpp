// The lease keeper's view of the cluster as JSON (GET /api/v1/cluster,
// docs/cluster.md): nodes, shard leases, streamer leases, as of its last
// round.
#include "cluster/keeper_state.hpp"

namespace maxsess::cluster::keeping {

std::string status_json(keeper_self self) {
  auto& s = self->state;
  auto q = [](const std::string& x) {
    std::string out = "\"";
    for (char c : x) {
      if (c == '"' || c == '\\') out += '\\';
      if (static_cast<unsigned char>(c) >= 0x20) out += c;
    }
    return out + "\"";
  };
  std::map<std::string, int> per_node;
  std::string shards = "[";
  for (auto& l : s.lease_rows) {
    bool valid = l.expires_in.count() > 0;
    if (valid) ++per_node[l.owner];
    if (shards.size() > 1) shards += ",";
    shards += "{\"shard\":" + std::to_string(l.id) + ",\"owner\":" + q(valid ? l.owner : "") +
              ",\"epoch\":" + std::to_string(l.epoch) +
              ",\"expires_in_ms\":" + std::to_string(l.expires_in.count()) + "}";
  }
  shards += "]";
  std::string nodes = "[";
  for (auto& n : s.nodes) {
    if (nodes.size() > 1) nodes += ",";
    nodes += "{\"id\":" + q(n.node_id) + ",\"http\":" + q(n.http_address) +
             ",\"cluster\":" + q(n.cluster_address) + ",\"alive\":" + (n.alive ? "true" : "false") +
             ",\"leaving\":" + (n.leaving ? "true" : "false") +
             ",\"heartbeat_age_ms\":" + std::to_string(n.heartbeat_age.count()) +
             ",\"protocol_version\":" + std::to_string(n.protocol_version) +
             ",\"shards\":" + std::to_string(per_node[n.node_id]) +
             ",\"connected\":" + (n.node_id == s.args.opts.node_id || s.peers.count(n.node_id) ? "true" : "false") +
             "}";
  }
  nodes += "]";
  std::string streamers = "[";
  for (auto& l : s.streamer_rows) {
    if (streamers.size() > 1) streamers += ",";
    streamers += "{\"streamer\":" + std::to_string(l.id) + ",\"node\":" +
                 q(l.expires_in.count() > 0 ? l.owner : "") + ",\"epoch\":" + std::to_string(l.epoch) + "}";
  }
  streamers += "]";
  return "{\"node\":" + q(s.args.opts.node_id) + ",\"shard_count\":" + std::to_string(s.args.opts.shards) +
         ",\"protocol_version\":" + std::to_string(wire::protocol_version) +
         ",\"in_cluster\":" + (s.args.in_cluster->load() != 0 ? "true" : "false") +
         ",\"held\":" + std::to_string(s.leases->held().size()) + ",\"nodes\":" + nodes +
         ",\"shards\":" + shards + ",\"streamers\":" + streamers + "}";
}

}  // namespace maxsess::cluster::keeping
