#pragma once
// Cluster mode (PRODUCT.md §6, docs/cluster.md), as the daemon sees it: the
// node's entry published on cluster.listen, and the lease keeper that owns
// shards through PostgreSQL leases, spreads them over live nodes, connects
// the mesh and routes every shard (local owner, peer, or nobody). CAF stays
// behind this header.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "cluster/lease_clock.hpp"
#include "domain/log.hpp"
#include "domain/metrics.hpp"

namespace caf {
class actor_system_config;
}
namespace maxsess::actors {
struct runtime_hooks;
}

namespace maxsess::cluster {

struct node_options {
  std::string node_id;
  std::string http_address;  // host:port, for the node table and /api/v1/cluster
  std::string listen_host;   // cluster.listen
  uint16_t listen_port = 0;
  std::vector<std::string> seeds;  // host:port of other nodes' cluster.listen
  int shards = 256;
  lease_timing timing;
  std::string dsn;
  std::chrono::milliseconds request_timeout{5000};  // node -> node
  int max_handoffs = 16;  // shards a node hands off per round when another joins
  // Runs after every lease round (on an actor thread; must not block):
  // the daemon re-reads what other nodes may have changed (streamers).
  std::function<void()> each_round;
};

// Renew and safety margin for a lease TTL (config: cluster.lease_ttl): renew
// every ttl/4 (1 s at the 4 s default), count on no more than ttl - ttl/8.
lease_timing timing_for(std::chrono::milliseconds ttl);

// The CAF settings every node of a cluster must share: the middleman, the
// application identifier, identical heartbeat / connection timeout (without
// both, a frozen peer is never detected), and the wire types.
void configure_caf(caf::actor_system_config& cfg);

// The heartbeat settings above, for the node table check and the docs.
std::chrono::milliseconds heartbeat_interval();
std::chrono::milliseconds connection_timeout();

class node {
 public:
  node(node_options opts, actors::runtime_hooks& hooks, logger& log, metric_registry& metrics);
  ~node();  // stop()

  // Publishes the entry on cluster.listen and starts the keeper. Throws
  // std::runtime_error when the port cannot be bound.
  void start();
  uint16_t bound_port() const;

  // True while this node's lease rounds succeed (database reachable, row
  // in the node table fresh): /readyz.
  bool in_cluster() const;

  // A write of `shard` at `epoch` was fenced (runtime_options::on_fenced).
  void fenced(int shard, int64_t epoch);

  // /api/v1/cluster as JSON (on an actor thread); empty when no answer.
  void status(std::function<void(std::string json)> done);

  // SIGTERM: marks the node leaving and hands every shard off (drain,
  // flush, release) so survivors take them at once; blocks up to `timeout`.
  void leave(std::chrono::milliseconds timeout);
  void stop();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace maxsess::cluster
