// The lease keeper and membership: the nodes table (heartbeats) says who is
// alive; the keeper connects to each live node of its protocol version and
// shard count (hello), keeps one peer actor per node, and looks again when
// an unreachable node's leases run out.
#include <algorithm>

#include "cluster/keeper_state.hpp"
#include "cluster/peer.hpp"
#include "config/config.hpp"

namespace maxsess::cluster::keeping {

void connect(keeper_self self, const std::string& key, const std::string& address) {
  auto& s = self->state;
  if (s.connecting.count(key)) return;
  // The address comes from the nodes table, which any node (or an
  // operator) writes: a bad one is that node's problem, never a reason for
  // this keeper to throw (that stops the daemon: actors/critical.hpp).
  std::string host;
  uint16_t port = 0;
  if (!config::split_host_port(address, host, port)) {
    s.args.log->error_repeated("cluster", "ignoring a node whose cluster address has no valid port or host",
                               {{"node", key}, {"address", address}});
    return;
  }
  s.connecting.insert(key);
  auto mm = self->system().middleman().actor_handle();
  auto timeout = s.args.opts.timing.renew_every * 2;
  auto handle = caf::actor_cast<keeper_impl>(self);
  self->request(mm, timeout, caf::connect_atom_v, host, port)
      .then(
          [self, key, address, timeout, handle](const caf::node_id&, caf::strong_actor_ptr& ptr,
                                                const std::set<std::string>&) {
            auto entry = caf::actor_cast<node_entry>(ptr);
            if (!entry) {
              self->state.connecting.erase(key);
              return;
            }
            self->request(entry, timeout, hello_atom_v, self->state.args.hello)
                .then(
                    [self, key, address, entry, handle](wire::node_hello& h) {
                      auto& s = self->state;
                      s.connecting.erase(key);
                      if (h.protocol_version != wire::protocol_version ||
                          h.shard_count != s.args.opts.shards) {
                        if (s.refused.insert(h.node_id).second)
                          s.args.log->error(
                              "cluster", "refusing a node of another protocol version or shard count",
                              {{"node", h.node_id}, {"address", address},
                               {"its_protocol", h.protocol_version},
                               {"our_protocol", wire::protocol_version},
                               {"its_shards", h.shard_count},
                               {"our_shards", s.args.opts.shards}});
                        return;
                      }
                      if (h.node_id == s.args.opts.node_id || s.peers.count(h.node_id)) return;
                      peer_args pa;
                      pa.node_id = h.node_id;
                      pa.entry = entry;
                      pa.timeout = s.args.opts.request_timeout;
                      pa.metrics = s.args.metrics;
                      pa.on_down = [handle](std::string node) {
                        caf::anon_send(handle, peer_atom_v, std::move(node));
                      };
                      auto peer = spawn_peer(self->system(), std::move(pa));
                      s.peers[h.node_id] = peer;
                      // 0 from the first connection on: increase() sees the first forward.
                      s.args.metrics->zero("maxsess_forwarded_requests_total", {{"peer", h.node_id}});
                      s.args.metrics->set("maxsess_cluster_peers_connected", {},
                                          static_cast<double>(s.peers.size()));
                      s.args.log->info("cluster", "peer connected",
                                       {{"node", h.node_id}, {"address", address}});
                    },
                    [self, key](caf::error&) { self->state.connecting.erase(key); });
          },
          [self, key](caf::error&) { self->state.connecting.erase(key); });
}

// Peers: every live node of our version we have no peer for.
std::vector<std::string> live_nodes(keeper_self self) {
  auto& s = self->state;
  std::vector<std::string> live;
  for (auto& n : s.nodes) {
    if (!n.alive || n.leaving) continue;
    if (n.protocol_version != wire::protocol_version) {
      if (s.refused.insert(n.node_id).second)
        s.args.log->error("cluster", "ignoring a node of another protocol version",
                          {{"node", n.node_id}, {"its_protocol", n.protocol_version},
                           {"our_protocol", wire::protocol_version}});
      continue;
    }
    live.push_back(n.node_id);
    if (n.node_id != s.args.opts.node_id && !s.peers.count(n.node_id))
      connect(self, n.node_id, n.cluster_address);
  }
  return live;
}

// Shards of owners we cannot reach free up when their leases run out: look
// right then (and once more a little later, to see who took them and route
// there) rather than up to a renew interval later.
void look_when_unreachable_leases_end(keeper_self self, const std::vector<std::string>& reachable) {
  auto& s = self->state;
  std::optional<sys_time> first;
  for (auto& l : s.lease_rows) {
    if (l.expires_in.count() <= 0 || l.owner == s.args.opts.node_id) continue;
    if (std::find(reachable.begin(), reachable.end(), l.owner) != reachable.end()) continue;
    auto at = s.rows_at + l.expires_in;
    if (!first || at < *first) first = at;
  }
  if (!first || (s.extra_look && *s.extra_look == *first)) return;
  s.extra_look = *first;
  auto delay = std::chrono::duration_cast<std::chrono::milliseconds>(*first - now_of(self));
  if (delay >= s.args.opts.timing.renew_every) return;  // the regular round comes first
  for (auto extra : {std::chrono::milliseconds(50), std::chrono::milliseconds(400)})
    self->delayed_send(self, std::max(delay + extra, std::chrono::milliseconds(1)), round_atom_v);
}

void on_peer_down(keeper_self self, const std::string& node) {
  auto& s = self->state;
  s.peers.erase(node);
  s.args.metrics->set("maxsess_cluster_peers_connected", {}, static_cast<double>(s.peers.size()));
  s.args.log->warn("cluster", "peer down", {{"node", node}});
  route_others(self);
  // Its shards free up when its leases run out: look right then.
  std::vector<std::string> reachable{s.args.opts.node_id};
  for (auto& kv : s.peers) reachable.push_back(kv.first);
  look_when_unreachable_leases_end(self, reachable);
}

}  // namespace maxsess::cluster::keeping
