#include "cluster/node.hpp"

#include <stdexcept>

#include "actors/runtime_hooks.hpp"
#include "cluster/entry.hpp"
#include "cluster/keeper.hpp"

namespace maxsess::cluster {

namespace {
// Identical on every node (a build constant, not a setting): CAF detects a
// frozen peer only when both sides use the same values (CAF-0.17.md).
constexpr std::chrono::milliseconds heartbeat{500};
constexpr std::chrono::milliseconds conn_timeout{2000};
}  // namespace

lease_timing timing_for(std::chrono::milliseconds ttl) {
  lease_timing t;
  t.ttl = ttl;
  t.renew_every = ttl / 4;
  t.safety_margin = ttl / 8;
  return t;
}

std::chrono::milliseconds heartbeat_interval() { return heartbeat; }
std::chrono::milliseconds connection_timeout() { return conn_timeout; }

void configure_caf(caf::actor_system_config& cfg) {
  cfg.load<caf::io::middleman>();
  cfg.set("middleman.app-identifiers", std::vector<std::string>{"maxsess"});
  cfg.set("middleman.heartbeat-interval", caf::timespan{heartbeat});
  cfg.set("middleman.connection-timeout", caf::timespan{conn_timeout});
  cfg.add_message_types<caf::id_block::maxsess_cluster>();
  wire::add_wire_types(cfg);
}

struct node::impl {
  node_options opts;
  actors::runtime_hooks& hooks;
  logger& log;
  metric_registry& metrics;
  std::atomic<int64_t> in_cluster{0};  // see keeper_args
  node_entry entry;
  keeper_actor keeper;
  uint16_t port = 0;
  bool stopped = false;
};

node::node(node_options opts, actors::runtime_hooks& hooks, logger& log, metric_registry& metrics)
    : impl_(new impl{std::move(opts), hooks, log, metrics, {}, {}, {}, 0, false}) {}

node::~node() { stop(); }

void node::start() {
  auto& o = impl_->opts;
  auto bad = wire::wire_self_test(impl_->hooks.system);
  if (!bad.empty()) {
    std::string names;
    for (auto& n : bad) names += (names.empty() ? "" : ", ") + n;
    throw std::runtime_error("wire types do not survive a round trip: " + names);
  }
  wire::node_hello hello;
  hello.node_id = o.node_id;
  hello.protocol_version = wire::protocol_version;
  hello.shard_count = o.shards;
  hello.http_address = o.http_address;
  impl_->entry = spawn_entry(impl_->hooks, {hello, o.request_timeout});
  auto port = impl_->hooks.system.middleman().publish(impl_->entry, o.listen_port, o.listen_host.c_str(), true);
  if (!port) {
    caf::anon_send_exit(impl_->entry, caf::exit_reason::user_shutdown);
    throw std::runtime_error("cannot listen on cluster.listen " + o.listen_host + ":" +
                             std::to_string(o.listen_port) + ": " +
                             impl_->hooks.system.render(port.error()));
  }
  impl_->port = *port;
  keeper_args ka{o, &impl_->hooks, &impl_->log, &impl_->metrics, &impl_->in_cluster, hello};
  impl_->keeper = spawn_keeper(impl_->hooks.system, std::move(ka));
}

uint16_t node::bound_port() const { return impl_->port; }

bool node::in_cluster() const {
  // In the cluster while lease rounds succeed: the last one no older than a
  // lease (a node that froze is out until it has renewed again).
  auto last = impl_->in_cluster.load();
  auto now = impl_->hooks.ctx.deps.clock.now().time_since_epoch().count();
  return last != 0 && now - last < std::chrono::nanoseconds(impl_->opts.timing.ttl).count();
}

void node::fenced(int shard, int64_t epoch) {
  if (impl_->keeper) caf::anon_send(impl_->keeper, fenced_atom_v, shard, epoch);
}

void node::status(std::function<void(std::string)> done) {
  auto keeper = impl_->keeper;
  auto timeout = impl_->opts.request_timeout;
  impl_->hooks.system.spawn([keeper, timeout, done](caf::event_based_actor* self) {
    self->request(keeper, timeout, status_atom_v)
        .then([done](std::string& json) { actors::call_back(done, std::move(json)); },
              [done](caf::error&) { actors::call_back(done, std::string{}); });
  });
}

void node::leave(std::chrono::milliseconds timeout) {
  if (!impl_->keeper) return;
  caf::scoped_actor self{impl_->hooks.system};
  self->request(impl_->keeper, timeout, leave_atom_v)
      .receive([](bool) {},
               [this](caf::error& e) {
                 impl_->log.warn("cluster", "handoff at shutdown did not finish",
                                 {{"error", caf::to_string(e)}});
               });
}

void node::stop() {
  if (impl_->stopped) return;
  impl_->stopped = true;
  if (impl_->keeper) caf::anon_send_exit(impl_->keeper, caf::exit_reason::user_shutdown);
  if (impl_->entry) {
    impl_->hooks.system.middleman().unpublish(impl_->entry, impl_->port);
    caf::anon_send_exit(impl_->entry, caf::exit_reason::user_shutdown);
  }
}

}  // namespace maxsess::cluster
