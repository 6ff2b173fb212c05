// The lease keeper and streamer leases: a streamer's sync and kill run on
// the node holding its lease, the reachable node that ranks highest for it
// (streamer_rank.hpp); the placement tells the streamer side which ones run
// here and which peer runs the others.
#include <set>

#include "cluster/keeper_state.hpp"
#include "cluster/streamer_rank.hpp"

namespace maxsess::cluster::keeping {

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

// Streamer leases the database gave us (none kept while leaving: they
// expire on their own).
void on_taken_streamers(keeper_self self, const taken_result& r) {
  auto& s = self->state;
  for (auto& l : r.taken)
    if (!s.leaving) s.streamers_held[l.id] = l.epoch;
  publish_placement(self);
}

}  // namespace maxsess::cluster::keeping
