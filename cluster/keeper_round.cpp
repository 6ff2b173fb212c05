// The lease keeper's round, every renew interval (and on demand): on the
// worker, one pass over the keeper's own database connection (heartbeat,
// renew what is held, read nodes and leases); back on the actor,
// what was lost is dropped, then the plan decides what to take and hand off.
#include <set>

#include "cluster/balance.hpp"
#include "cluster/keeper_state.hpp"
#include "cluster/shard_map.hpp"

namespace maxsess::cluster::keeping {

namespace {

storage::node_info self_info(const keeper_state& s) {
  storage::node_info n;
  n.node_id = s.args.opts.node_id;
  n.http_address = s.args.opts.http_address;
  n.cluster_address = s.args.opts.listen_host + ":" + std::to_string(s.args.opts.listen_port);
  n.protocol_version = wire::protocol_version;
  return n;
}

}  // namespace

void on_round(keeper_self self, round_result& r) {
  auto& s = self->state;
  s.round_running = false;
  auto now = now_of(self);
  if (!r.ok) {
    if (s.db_ok) s.args.log->error("cluster", "lease round failed", {{"error", r.error}});
    s.db_ok = false;
    s.args.in_cluster->store(0);
  } else {
    if (!s.db_ok) s.args.log->info("cluster", "lease rounds work again");
    s.db_ok = true;
    s.args.in_cluster->store(r.sent_at.time_since_epoch().count());
    std::vector<shard_epoch> renewed;
    std::set<int64_t> ok(r.renewed.begin(), r.renewed.end());
    std::vector<int> lost;
    for (auto& a : r.asked) {
      if (ok.count(a.shard))
        renewed.push_back(a);
      else if (s.leases->epoch_of(a.shard) == a.epoch)
        lost.push_back(a.shard);
    }
    for (int shard : s.leases->on_renewed(renewed, r.sent_at, now)) drop(self, shard, lost_late);
    s.leases->on_lost(lost);
    for (int shard : lost) drop(self, shard, lost_taken);
    s.args.metrics->inc("maxsess_lease_renewals_total", {}, static_cast<double>(renewed.size()));
    publish_deadlines(self);
    s.nodes = std::move(r.nodes);
    s.lease_rows = std::move(r.leases);
    s.rows_at = r.sent_at;
  }
  for (int shard : s.leases->expired_now(now)) drop(self, shard, lost_expired);
  if (!r.ok) {
    // Without the database nobody can confirm our streamer leases: stop
    // polling rather than risk a second poller once they expire.
    s.streamers_held.clear();
    publish_placement(self);
    return;
  }
  if (s.args.opts.each_round) s.args.opts.each_round();
  s.args.hooks->ctx.deps.streamers.set_cluster_load(r.streamer_sessions);

  std::vector<std::string> live = live_nodes(self);
  if (s.leaving) return route_others(self);
  // A node only plans with nodes it can reach: a shard it hands to a node it
  // cannot forward to would answer 503 here for nothing.
  std::vector<std::string> reachable;
  for (auto& id : live)
    if (id == s.args.opts.node_id || s.peers.count(id)) reachable.push_back(id);
  std::vector<lease_row> rows;
  for (auto& l : s.lease_rows)
    rows.push_back({static_cast<int>(l.id), l.owner, l.epoch, now + l.expires_in});
  auto map = shard_map::from_rows(s.args.opts.shards, rows);
  // Our own rows as we know them (the snapshot may predate an acquire).
  for (int shard : s.leases->held())
    map.set({shard, s.args.opts.node_id, *s.leases->epoch_of(shard), now + s.args.opts.timing.ttl});
  auto plan = plan_balance(s.args.opts.node_id, reachable, map, now, s.args.opts.max_handoffs);
  look_when_unreachable_leases_end(self, reachable);
  for (int shard : plan.release) hand_off(self, shard);
  take(self, std::vector<int64_t>(plan.acquire.begin(), plan.acquire.end()), false);
  route_others(self);
  place_streamers(self, r, reachable);
}

void start_round(keeper_self self) {
  auto& s = self->state;
  if (s.round_running) return;
  s.round_running = true;
  auto now = now_of(self);
  s.leases->on_renew_sent(now);
  auto asked = s.leases->to_renew();
  std::vector<storage::held_lease> streamers;
  for (auto& [id, epoch] : s.streamers_held) streamers.push_back({id, epoch});
  auto db = s.db;
  auto info = self_info(s);
  auto ttl = s.args.opts.timing.ttl;
  auto handle = caf::actor_cast<keeper_impl>(self);
  s.io->post([db, info, ttl, asked, streamers, now, handle] {
    round_result r;
    r.sent_at = now;
    r.asked = asked;
    for (auto& h : streamers) r.streamers_asked.push_back(h.id);
    try {
      auto& conn = db->get();
      conn.heartbeat(info);
      std::vector<storage::held_lease> held;
      for (auto& a : asked) held.push_back({a.shard, a.epoch});
      if (!held.empty()) r.renewed = conn.shards().renew(info.node_id, held, ttl);
      // A node is alive while its heartbeat is younger than one lease.
      r.nodes = conn.list_nodes(ttl);
      r.leases = conn.shards().list();
      if (!streamers.empty()) r.streamers_renewed = conn.streamers().renew(info.node_id, streamers, ttl);
      r.streamer_leases = conn.streamers().list();
      r.streamer_sessions = conn.live_sessions_per_streamer();
      r.ok = true;
    } catch (const std::exception& e) {
      db->conn.reset();
      r.error = e.what();
    }
    caf::anon_send(handle, round_atom_v, std::move(r));
  });
}

}  // namespace maxsess::cluster::keeping
