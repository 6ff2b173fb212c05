#include "cluster/keeper.hpp"

#include "actors/critical.hpp"
#include "cluster/keeper_state.hpp"

namespace maxsess::cluster {

namespace keeping {
namespace {

// The handlers only dispatch: what each does is in the file of its
// responsibility (keeper_state.hpp lists them).
keeper_impl::behavior_type keeper_fn(keeper_self self, keeper_args args) {
  // Its death would stop the lease rounds: the node's shards would expire
  // under it and be served by no one here.
  actors::guard_critical(self, args.hooks->ctx, "lease keeper");
  auto& s = self->state;
  s.args = std::move(args);
  s.leases = std::make_unique<lease_clock>(s.args.opts.timing);
  s.db = std::make_shared<lease_db>();
  s.db->dsn = s.args.opts.dsn;
  s.db->lock_timeout = s.args.opts.timing.renew_every / 2;
  s.io = std::make_unique<worker>("lease-keeper");
  s.routed.assign(static_cast<size_t>(s.args.opts.shards), "");
  for (const char* why : {lost_late, lost_taken, lost_expired, lost_fenced})
    s.args.metrics->zero("maxsess_lease_losses_total", {{"why", why}});
  s.args.metrics->set("maxsess_cluster_peers_connected", {}, 0);
  count_owned(self);
  for (auto& seed : s.args.opts.seeds) connect(self, "seed:" + seed, seed);
  self->send(self, tick_atom_v);
  return {
      [=](tick_atom) {
        start_round(self);
        self->delayed_send(self, self->state.args.opts.timing.renew_every, tick_atom_v);
      },
      [=](round_atom) { start_round(self); },
      [=](round_atom, round_result& r) { on_round(self, r); },
      [=](taken_atom, taken_result& r) {
        auto& s = self->state;
        (r.streamers ? s.acquiring_streamers : s.acquiring) = false;
        if (!r.error.empty()) {
          s.args.log->warn("cluster", "taking leases failed", {{"error", r.error}});
          return;
        }
        if (r.streamers)
          on_taken_streamers(self, r);
        else
          on_taken_shards(self, r);
      },
      [=](released_atom, int shard) {
        auto& s = self->state;
        s.leases->on_released(shard);
        count_owned(self);
        --s.releasing;
        maybe_finish_leave(self);
      },
      [=](fenced_atom, int shard, int64_t epoch) {
        auto& s = self->state;
        if (s.leases->epoch_of(shard) != epoch) return;
        s.leases->on_lost({shard});
        drop(self, shard, lost_fenced);
      },
      [=](peer_atom, std::string& node, peer_actor& peer) { self->state.peers[node] = peer; },
      [=](peer_atom, std::string& node) { on_peer_down(self, node); },
      [=](leave_atom) -> caf::result<bool> {
        auto& s = self->state;
        auto rp = self->make_response_promise<bool>();
        s.left.push_back(rp);
        if (!s.leaving) {
          s.leaving = true;
          auto db = s.db;
          auto node = s.args.opts.node_id;
          s.io->post([db, node] {
            try {
              db->get().mark_leaving(node);
            } catch (const std::exception&) {
              db->conn.reset();
            }
          });
          for (int shard : s.leases->held()) hand_off(self, shard);
          for (auto& [id, epoch] : s.streamers_held) post_release(self, true, id, epoch);
          s.streamers_held.clear();
          publish_placement(self);
        }
        maybe_finish_leave(self);
        return rp;
      },
      [=](status_atom) { return status_json(self); },
  };
}

}  // namespace
}  // namespace keeping

keeper_actor spawn_keeper(caf::actor_system& sys, keeper_args args) {
  return sys.spawn(keeping::keeper_fn, std::move(args));
}

}  // namespace maxsess::cluster
