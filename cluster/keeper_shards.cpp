// The lease keeper and shard leases: taking free shards (spawning their
// owners), handing extra ones off (drain, then release), dropping lost ones,
// and routing every shard not held here to its owner's peer or to nobody.
// take() and post_release() serve the streamer leases too.
#include "cluster/keeper_state.hpp"

namespace maxsess::cluster::keeping {

namespace {

void set_route(keeper_self self, int shard, const std::string& to, const shard_actor& actor) {
  auto& s = self->state;
  if (s.routed[static_cast<size_t>(shard)] == to) return;
  s.routed[static_cast<size_t>(shard)] = to;
  s.args.hooks->table.route(shard, actor);
}

}  // namespace

// The shard stops being served here at once; its owner finishes what it
// holds (writes land or are fenced) in the background.
void drop(keeper_self self, int shard, const char* why) {
  auto& s = self->state;
  s.args.log->warn("cluster", "shard lost", {{"shard", std::to_string(shard)}, {"why", why}});
  s.args.metrics->inc("maxsess_lease_losses_total", {{"why", why}});
  s.routed[static_cast<size_t>(shard)] = "";
  if (auto owner = s.args.hooks->disown(shard)) caf::anon_send(owner, drain_atom_v);
  count_owned(self);
}

void count_owned(keeper_self self) {
  auto& s = self->state;
  s.args.metrics->set("maxsess_shards_owned", {}, static_cast<double>(s.leases->held().size()));
}

// Every decision checks the shard's local lease deadline (shard_table), so
// a node that froze past it answers `unavailable` even before this actor
// runs again.
void publish_deadlines(keeper_self self) {
  auto& s = self->state;
  for (int shard : s.leases->held())
    if (auto d = s.leases->deadline_of(shard)) s.args.hooks->table.serve_until(shard, *d);
}

void maybe_finish_leave(keeper_self self) {
  auto& s = self->state;
  if (!s.leaving || s.releasing > 0 || !s.leases->held().empty()) return;
  for (auto& rp : s.left) rp.deliver(true);
  s.left.clear();
}

void post_release(keeper_self self, bool streamer, int64_t id, int64_t epoch, std::function<void()> then) {
  auto& s = self->state;
  auto db = s.db;
  auto node = s.args.opts.node_id;
  s.io->post([db, node, streamer, id, epoch, then] {
    try {
      (streamer ? db->get().streamers() : db->get().shards()).release(id, node, epoch);
    } catch (const std::exception&) {
      db->conn.reset();
    }
    if (then) then();
  });
}

// Graceful handoff of one shard: nobody serves it from now on, its owner
// drains (answers what it holds, lands its writes), then the lease goes.
void hand_off(keeper_self self, int shard) {
  auto& s = self->state;
  auto epoch = s.leases->epoch_of(shard);
  if (!epoch) return;
  s.leases->begin_release(shard);
  set_route(self, shard, "", s.args.hooks->table.nobody());
  ++s.releasing;
  auto owner = s.args.hooks->disown(shard);
  auto release = [self, shard, epoch = *epoch] {
    auto handle = caf::actor_cast<keeper_impl>(self);
    post_release(self, false, shard, epoch, [handle, shard] { caf::anon_send(handle, released_atom_v, shard); });
  };
  if (!owner) return release();
  self->request(owner, s.args.opts.timing.ttl, drain_atom_v)
      .then([release](bool) { release(); }, [release](caf::error&) { release(); });
}

// Every shard not held here goes to its owner's peer, or to nobody.
void route_others(keeper_self self) {
  auto& s = self->state;
  std::vector<const storage::lease*> by_shard(static_cast<size_t>(s.args.opts.shards), nullptr);
  for (auto& l : s.lease_rows)
    if (l.id >= 0 && l.id < s.args.opts.shards) by_shard[static_cast<size_t>(l.id)] = &l;
  for (int shard = 0; shard < s.args.opts.shards; ++shard) {
    if (s.leases->epoch_of(shard)) continue;  // ours (served or being handed off)
    auto* l = by_shard[static_cast<size_t>(shard)];
    auto peer = l && l->expires_in.count() > 0 ? s.peers.find(l->owner) : s.peers.end();
    if (peer == s.peers.end())
      set_route(self, shard, "", s.args.hooks->table.nobody());
    else
      set_route(self, shard, peer->first, peer->second);
  }
}

void take(keeper_self self, std::vector<int64_t> ids, bool streamers) {
  auto& s = self->state;
  auto& busy = streamers ? s.acquiring_streamers : s.acquiring;
  if (ids.empty() || busy) return;
  busy = true;
  auto db = s.db;
  auto node = s.args.opts.node_id;
  auto ttl = s.args.opts.timing.ttl;
  auto sent_at = now_of(self);
  auto handle = caf::actor_cast<keeper_impl>(self);
  s.io->post([db, node, ttl, sent_at, handle, ids, streamers] {
    taken_result r;
    r.sent_at = sent_at;
    r.streamers = streamers;
    try {
      auto& table = streamers ? db->get().streamers() : db->get().shards();
      r.taken = table.acquire_many(ids, node, ttl);
    } catch (const std::exception& e) {
      db->conn.reset();
      r.error = e.what();
    }
    caf::anon_send(handle, taken_atom_v, std::move(r));
  });
}

// Shards the database gave us: each gets its owner and is served here
// until its local deadline. One taken while leaving simply expires.
void on_taken_shards(keeper_self self, const taken_result& r) {
  auto& s = self->state;
  auto now = now_of(self);
  for (auto& l : r.taken) {
    int shard = static_cast<int>(l.id);
    if (s.leaving) continue;  // expires on its own
    if (!s.leases->on_acquired({shard, l.epoch}, r.sent_at, now)) continue;
    s.args.metrics->inc("maxsess_shard_takeovers_total");
    s.routed[static_cast<size_t>(shard)] = "@";
    if (auto d = s.leases->deadline_of(shard)) s.args.hooks->table.serve_until(shard, *d);
    s.args.hooks->own(shard, l.epoch);
  }
  count_owned(self);
  publish_placement(self);
  if (!r.taken.empty())
    s.args.log->info("cluster", "shards taken", {{"count", std::to_string(r.taken.size())},
                                                 {"held", std::to_string(s.leases->held().size())}});
}

}  // namespace maxsess::cluster::keeping
