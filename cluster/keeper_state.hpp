#pragma once
// The lease keeper's inside, shared by its files (not for other callers:
// keeper.hpp is the interface). One file per responsibility:
//   keeper.cpp           the actor: its behaviour, leave, spawn
//   keeper_round.cpp     one lease round: heartbeat, renewals, reading nodes
//                        and leases on the worker; applying the answer
//   keeper_shards.cpp    shard leases: take, hand off, drop, route
//   keeper_streamers.cpp streamer leases: which streamers run here
//   keeper_peers.cpp     membership: connecting to the nodes, peers going down
//   keeper_status.cpp    the JSON of /api/v1/cluster
// All of them are free functions over the actor's `self` and its state, run
// on the keeper's actor thread; only what they post to `io` runs elsewhere.
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "cluster/keeper.hpp"
#include "cluster/lease_clock.hpp"
#include "domain/worker.hpp"
#include "storage/shard_leases.hpp"

namespace maxsess::cluster::keeping {

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

}  // namespace maxsess::cluster::keeping

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(maxsess::cluster::keeping::round_result)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(maxsess::cluster::keeping::taken_result)

namespace maxsess::cluster::keeping {

// The keeper's own messages on top of its interface (to itself, or from
// its worker and peers).
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

inline sys_time now_of(keeper_self self) { return self->state.args.hooks->ctx.deps.clock.now(); }

// keeper_round.cpp
void start_round(keeper_self self);
void on_round(keeper_self self, round_result& r);

// keeper_shards.cpp
// Asks the worker for free leases (shards, or streamers); the answer comes
// back as a taken_result.
void take(keeper_self self, std::vector<int64_t> ids, bool streamers);
// Gives a lease back on the worker (best effort: a lease that is not
// released simply expires); `then` runs there afterwards.
void post_release(keeper_self self, bool streamer, int64_t id, int64_t epoch,
                  std::function<void()> then = {});
void on_taken_shards(keeper_self self, const taken_result& r);
void drop(keeper_self self, int shard, const char* why);
// maxsess_shards_owned: the account shards this node holds a lease on.
void count_owned(keeper_self self);
// Why a lease was lost: the `why` label of maxsess_lease_losses_total. Each
// is shown as 0 from start-up (an increase() alert sees the first loss).
inline constexpr const char* lost_late = "renewed too late";
inline constexpr const char* lost_taken = "taken by another node";
inline constexpr const char* lost_expired = "lease expired";
inline constexpr const char* lost_fenced = "write fenced";
void publish_deadlines(keeper_self self);
void hand_off(keeper_self self, int shard);
void route_others(keeper_self self);
void maybe_finish_leave(keeper_self self);

// keeper_streamers.cpp
void publish_placement(keeper_self self);
void place_streamers(keeper_self self, const round_result& r, const std::vector<std::string>& reachable);
void on_taken_streamers(keeper_self self, const taken_result& r);

// keeper_peers.cpp
void connect(keeper_self self, const std::string& key, const std::string& address);
// The live nodes of our protocol version (ours included); connects to each
// one it has no peer for.
std::vector<std::string> live_nodes(keeper_self self);
void look_when_unreachable_leases_end(keeper_self self, const std::vector<std::string>& reachable);
void on_peer_down(keeper_self self, const std::string& node);

// keeper_status.cpp
std::string status_json(keeper_self self);

}  // namespace maxsess::cluster::keeping
