#include "cluster/keeper.hpp"

#include <algorithm>
#include <map>
#include <memory>
#include <set>

#include "cluster/balance.hpp"
#include "cluster/lease_clock.hpp"
#include "cluster/peer.hpp"
#include "cluster/shard_map.hpp"
#include "domain/worker.hpp"
#include "storage/shard_leases.hpp"

namespace maxsess::cluster {

namespace {

// One lease round as the database answered it (node-local message).
struct round_result {
  bool ok = false;
  std::string error;
  sys_time sent_at{};
  std::vector<shard_epoch> asked;  // what was sent for renewal
  std::vector<int64_t> renewed;
  std::vector<storage::node_row> nodes;
  std::vector<storage::lease> leases;
  std::vector<int64_t> streamers_asked;    // streamer leases sent for renewal
  std::vector<int64_t> streamers_renewed;
  std::vector<storage::lease> streamer_leases;
  std::map<int64_t, int64_t> streamer_sessions;  // live sessions per streamer, cluster-wide
};

struct taken_result {
  sys_time sent_at{};
  std::vector<storage::lease> taken;
  std::string error;
  bool streamers = false;  // streamer leases, not shard leases
};

}  // namespace
}  // namespace maxsess::cluster

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(maxsess::cluster::round_result)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(maxsess::cluster::taken_result)

namespace maxsess::cluster {

namespace {

using keeper_impl = keeper_actor::extend<caf::reacts_to<round_atom>,  // an extra round now
                                         caf::reacts_to<round_atom, round_result>,
                                         caf::reacts_to<taken_atom, taken_result>,
                                         caf::reacts_to<released_atom, int>,
                                         caf::reacts_to<peer_atom, std::string, peer_actor>,
                                         caf::reacts_to<peer_atom, std::string>>;

// The keeper's database connection, used on its worker thread only;
// rebuilt after a failure.
struct lease_db {
  std::string dsn;
  std::chrono::milliseconds lock_timeout{0};  // half a renew interval: rounds keep their pace
  std::unique_ptr<storage::shard_leases> conn;
  storage::shard_leases& get() {
    if (!conn) conn = std::make_unique<storage::shard_leases>(dsn, lock_timeout);
    return *conn;
  }
};

struct keeper_state {
  keeper_args args;
  std::unique_ptr<lease_clock> leases;
  std::shared_ptr<lease_db> db;
  std::unique_ptr<worker> io;  // last member: joined first
  // CAF 0.17 destroys the state when the actor exits (before any attached
  // functor runs): the worker is told to drop what is queued, then joined.
  // The peers go with it (they watch their remote entries, so they would
  // otherwise live on and keep the actor system from shutting down).
  ~keeper_state() {
    if (io) io->request_stop(true);
    for (auto& kv : peers) caf::anon_send_exit(kv.second, caf::exit_reason::user_shutdown);
  }
  std::vector<storage::node_row> nodes;
  std::vector<storage::lease> lease_rows;
  sys_time rows_at{};  // local time the rows were read (their expires_in count from there)
  std::optional<sys_time> extra_look;  // when look_when_unreachable_leases_end last aimed
  std::map<std::string, peer_actor> peers;  // node id -> its peer actor
  std::set<std::string> connecting;          // node ids (or seed addresses)
  std::set<std::string> refused;             // logged once: other version / shard count
  std::vector<std::string> routed;           // shard -> "" nobody, "@" here, node id
  bool round_running = false;
  bool acquiring = false;
  bool acquiring_streamers = false;
  std::map<int64_t, int64_t> streamers_held;  // streamer id -> lease epoch
  std::vector<storage::lease> streamer_rows;  // for /api/v1/cluster
  bool leaving = false;
  bool db_ok = true;
  std::vector<caf::typed_response_promise<bool>> left;  // leave() waiting
  int releasing = 0;
  static inline const char* name = "maxsess.keeper";
};

using keeper_self = keeper_impl::stateful_pointer<keeper_state>;

sys_time now_of(keeper_self self) { return self->state.args.hooks->ctx.deps.clock.now(); }

storage::node_info self_info(const keeper_state& s) {
  storage::node_info n;
  n.node_id = s.args.opts.node_id;
  n.http_address = s.args.opts.http_address;
  n.cluster_address = s.args.opts.listen_host + ":" + std::to_string(s.args.opts.listen_port);
  n.protocol_version = wire::protocol_version;
  return n;
}

void set_route(keeper_self self, int shard, const std::string& to, const shard_actor& actor) {
  auto& s = self->state;
  if (s.routed[static_cast<size_t>(shard)] == to) return;
  s.routed[static_cast<size_t>(shard)] = to;
  s.args.hooks->table.route(shard, actor);
}

// Why a lease was lost: the `why` label of maxsess_lease_losses_total. Each
// is shown as 0 from start-up (an increase() alert sees the first loss).
constexpr const char* lost_late = "renewed too late";
constexpr const char* lost_taken = "taken by another node";
constexpr const char* lost_expired = "lease expired";
constexpr const char* lost_fenced = "write fenced";

// maxsess_shards_owned: the account shards this node holds a lease on.
void count_owned(keeper_self self) {
  auto& s = self->state;
  s.args.metrics->set("maxsess_shards_owned", {}, static_cast<double>(s.leases->held().size()));
}

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

// Gives a lease back on the worker (best effort: a lease that is not
// released simply expires); `then` runs there afterwards.
void post_release(keeper_self self, bool streamer, int64_t id, int64_t epoch,
                  std::function<void()> then = {}) {
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

void connect(keeper_self self, const std::string& key, const std::string& address) {
  auto& s = self->state;
  auto colon = address.rfind(':');
  if (colon == std::string::npos || s.connecting.count(key)) return;
  auto host = address.substr(0, colon);
  if (host.size() > 1 && host.front() == '[') host = host.substr(1, host.size() - 2);
  auto port = static_cast<uint16_t>(std::stoi(address.substr(colon + 1)));
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
                               {"its_protocol", std::to_string(h.protocol_version)},
                               {"our_protocol", std::to_string(wire::protocol_version)},
                               {"its_shards", std::to_string(h.shard_count)},
                               {"our_shards", std::to_string(s.args.opts.shards)}});
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

// FNV-1a, then a 64-bit finaliser: plain FNV of "n1/7" and "n2/7" differ
// too little in their high bits to rank nodes fairly.
uint64_t rank_hash(const std::string& text) {
  uint64_t h = fnv1a64(text);
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  h ^= h >> 33;
  return h;
}

// The node that ranks highest for a streamer (rendezvous hashing).
std::string ranks_first(const std::vector<std::string>& nodes, int64_t streamer) {
  std::string best;
  uint64_t best_score = 0;
  for (auto& node : nodes) {
    auto score = rank_hash(node + "/" + std::to_string(streamer));
    if (best.empty() || score > best_score) {
      best = node;
      best_score = score;
    }
  }
  return best;
}

void publish_placement(keeper_self self) {
  auto& s = self->state;
  std::set<int64_t> here;
  for (auto& kv : s.streamers_held) here.insert(kv.first);
  // Jobs asked here for other nodes' streamers go to their peers.
  std::map<int64_t, job_actor> remote;
  for (auto& l : s.streamer_rows) {
    if (l.expires_in.count() <= 0 || l.owner == s.args.opts.node_id || here.count(l.id)) continue;
    auto p = s.peers.find(l.owner);
    if (p != s.peers.end()) remote.emplace(l.id, p->second);
  }
  // One node runs the cluster-wide periodic jobs (clear): the owner of shard 0.
  s.args.hooks->placement.set(std::move(here), s.leases->epoch_of(0).has_value() && !s.leaving,
                              std::move(remote));
}

// Streamers' sync and kill run where their lease is: each streamer goes to
// the reachable node that ranks highest for it (rendezvous hashing, so a
// node joining or leaving moves only its share); leases taken only when free.
void place_streamers(keeper_self self, const round_result& r, const std::vector<std::string>& reachable) {
  auto& s = self->state;
  std::set<int64_t> renewed(r.streamers_renewed.begin(), r.streamers_renewed.end());
  for (auto id : r.streamers_asked)
    if (!renewed.count(id)) s.streamers_held.erase(id);
  std::vector<int64_t> wanted;
  std::set<int64_t> registered;
  for (auto& st : s.args.hooks->ctx.deps.streamers.list()) {
    registered.insert(st.id);
    if (ranks_first(reachable, st.id) == s.args.opts.node_id && !s.streamers_held.count(st.id))
      wanted.push_back(st.id);
  }
  // Hand back what is no longer ours (another node ranks higher now, or the
  // streamer is gone): its lease expires now, the new node takes it.
  for (auto i = s.streamers_held.begin(); i != s.streamers_held.end();) {
    bool mine = registered.count(i->first) && ranks_first(reachable, i->first) == s.args.opts.node_id;
    if (mine && !s.leaving) {
      ++i;
      continue;
    }
    post_release(self, true, i->first, i->second);
    i = s.streamers_held.erase(i);
  }
  s.streamer_rows = r.streamer_leases;
  if (!s.leaving) take(self, wanted, true);
  publish_placement(self);
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

  // Peers: every live node of our version we have no peer for.
  std::vector<std::string> live;
  for (auto& n : s.nodes) {
    if (!n.alive || n.leaving) continue;
    if (n.protocol_version != wire::protocol_version) {
      if (s.refused.insert(n.node_id).second)
        s.args.log->error("cluster", "ignoring a node of another protocol version",
                          {{"node", n.node_id}, {"its_protocol", std::to_string(n.protocol_version)},
                           {"our_protocol", std::to_string(wire::protocol_version)}});
      continue;
    }
    live.push_back(n.node_id);
    if (n.node_id != s.args.opts.node_id && !s.peers.count(n.node_id))
      connect(self, n.node_id, n.cluster_address);
  }
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

std::string status_json(keeper_self self);

keeper_impl::behavior_type keeper_fn(keeper_self self, keeper_args args) {
  auto& s = self->state;
  s.args = std::move(args);
  s.leases = std::make_unique<lease_clock>(s.args.opts.timing);
  s.db = std::make_shared<lease_db>();
  s.db->dsn = s.args.opts.dsn;
  s.db->lock_timeout = s.args.opts.timing.renew_every / 2;
  s.io = std::make_unique<worker>();
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
        if (r.streamers) {
          for (auto& l : r.taken)
            if (!s.leaving) s.streamers_held[l.id] = l.epoch;
          publish_placement(self);
          return;
        }
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
      [=](peer_atom, std::string& node) {
        auto& s = self->state;
        s.peers.erase(node);
        s.args.metrics->set("maxsess_cluster_peers_connected", {}, static_cast<double>(s.peers.size()));
        s.args.log->warn("cluster", "peer down", {{"node", node}});
        route_others(self);
        // Its shards free up when its leases run out: look right then.
        std::vector<std::string> reachable{s.args.opts.node_id};
        for (auto& kv : s.peers) reachable.push_back(kv.first);
        look_when_unreachable_leases_end(self, reachable);
      },
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

}  // namespace

keeper_actor spawn_keeper(caf::actor_system& sys, keeper_args args) {
  return sys.spawn(keeper_fn, std::move(args));
}

}  // namespace maxsess::cluster
