// The node entry: wire in, local shard owner, wire out. Only shards owned
// here are served (never forwarded again: two nodes with different views of
// the leases must not bounce a request between them).
#include "cluster/entry.hpp"

#include <map>
#include <memory>

#include "actors/critical.hpp"

namespace maxsess::cluster {

namespace {

struct entry_state {
  actors::runtime_hooks* hooks = nullptr;
  entry_args args;
  static inline const char* name = "maxsess.entry";
};

using entry_self = node_entry::stateful_pointer<entry_state>;

// The answer of a local owner, in wire form.
wire::link_outcome wire_of(const link_outcome& x) { return wire::to_wire(x); }
wire::end_result wire_of(end_result x) { return wire::to_wire(x); }
wire::account_answer wire_of(const account_answer& x) { return wire::to_wire(x); }
wire::auth_outcome wire_of(const auth_outcome& x) { return wire::to_wire(x); }
wire::sync_summary wire_of(const sync_summary& x) { return wire::summary_to_wire(x); }
bool wire_of(bool x) { return x; }

// Asks the local owner of `account`'s shard; `unavailable` when it is not
// owned here, the request is malformed, or no answer comes in time.
template <class T, class W, class... Ts>
caf::result<W> ask_local(entry_self self, const std::string& account, W unavailable, Ts&&... xs) {
  auto& s = self->state;
  auto owner = s.hooks->local_owner(shard_of(account, s.hooks->ctx.opts.shards));
  if (!owner) return unavailable;
  auto rp = self->make_response_promise<W>();
  self->request(owner, s.args.timeout, std::forward<Ts>(xs)...)
      .then([rp](T& v) mutable { rp.deliver(wire_of(v)); },
            [rp, unavailable](caf::error&) mutable { rp.deliver(unavailable); });
  return rp;
}

// The sender split its batch per node: here it splits per shard. Every
// shard must be owned here, or the whole batch fails (-1) and the sink
// resends it once the sender's map caught up.
caf::result<int32_t> play_local(entry_self self, std::vector<wire::play_event>& events) {
  auto& s = self->state;
  std::map<int, play_batch> by_shard;
  for (auto& w : events) {
    auto report = wire::from_wire(w.report);
    if (!report) return int32_t{-1};
    by_shard[shard_of(w.account_id, s.hooks->ctx.opts.shards)].push_back(
        {w.account_id, w.device_id, std::move(*report), w.event_id});
  }
  std::vector<std::pair<local_shard_actor, play_batch>> sends;
  for (auto& [shard, batch] : by_shard) {
    auto owner = s.hooks->local_owner(shard);
    if (!owner) return int32_t{-1};
    sends.emplace_back(owner, std::move(batch));
  }
  if (sends.empty()) return int32_t{0};
  struct tally {
    size_t left = 0;
    int32_t total = 0;
  };
  auto t = std::make_shared<tally>();
  t->left = sends.size();
  auto rp = self->make_response_promise<int32_t>();
  for (auto& [owner, batch] : sends) {
    self->request(owner, s.args.timeout, play_atom_v, std::move(batch))
        .then(
            [t, rp](int32_t n) mutable {
              t->total = t->total < 0 || n < 0 ? -1 : t->total + n;
              if (--t->left == 0) rp.deliver(t->total);
            },
            [t, rp](caf::error&) mutable {
              t->total = -1;
              if (--t->left == 0) rp.deliver(t->total);
            });
  }
  return rp;
}

wire::link_outcome no_link() { return wire::to_wire(unavailable_link("owner not reachable; retry")); }

node_entry::behavior_type entry_fn(entry_self self, actors::runtime_hooks* hooks, entry_args args) {
  // The other nodes' way in: without it their requests for this node's
  // shards would fail until a restart.
  actors::guard_critical(self, hooks->ctx, "cluster entry");
  self->state.hooks = hooks;
  self->state.args = std::move(args);
  const auto no_answer = wire::to_wire(account_answer{});
  const auto no_end = wire::to_wire(end_result::unavailable);
  const auto no_auth = wire::to_wire(auth_outcome{auth_result::unavailable});
  return {
      [=](hello_atom, wire::node_hello&) { return self->state.args.self; },
      [=](link_atom a, wire::link_request& w) -> caf::result<wire::link_outcome> {
        auto req = wire::from_wire(w);
        if (!req) return no_link();
        return ask_local<link_outcome>(self, req->account_id, no_link(), a, std::move(*req));
      },
      [=](end_atom a, wire::end_request& w) -> caf::result<wire::end_result> {
        return ask_local<end_result>(self, w.account_id, no_end, a, w.account_id, w.device_id, w.kill);
      },
      [=](get_atom a, std::string& account) -> caf::result<wire::account_answer> {
        return ask_local<account_answer>(self, account, no_answer, a, account);
      },
      [=](put_atom a, wire::account_settings& w) -> caf::result<wire::account_answer> {
        auto settings = wire::from_wire(w);
        return ask_local<account_answer>(self, settings.account_id, no_answer, a, std::move(settings));
      },
      [=](del_atom a, std::string& account) -> caf::result<wire::end_result> {
        return ask_local<end_result>(self, account, no_end, a, account);
      },
      [=](auth_atom a, wire::auth_request& w) -> caf::result<wire::auth_outcome> {
        auto req = wire::from_wire(w);
        return ask_local<auth_outcome>(self, req.account_id, no_auth, a, std::move(req));
      },
      [=](play_atom, std::vector<wire::play_event>& events) { return play_local(self, events); },
      [=](sync_atom a, wire::sync_request& w) -> caf::result<wire::sync_summary> {
        auto seen = wire::from_wire(w.seen);
        if (!seen) return caf::make_error(caf::sec::invalid_argument);
        auto err = caf::make_error(caf::sec::request_receiver_down);
        auto& s = self->state;
        auto owner = s.hooks->local_owner(shard_of(w.account_id, s.hooks->ctx.opts.shards));
        if (!owner) return err;
        auto rp = self->make_response_promise<wire::sync_summary>();
        self->request(owner, s.args.timeout, a, w.account_id, w.streamer_id, std::move(*seen),
                      std::move(w.listed), wire::from_wire_ms(w.listed_at_ms))
            .then([rp](sync_summary& v) mutable { rp.deliver(wire_of(v)); },
                  [rp](caf::error& e) mutable { rp.deliver(std::move(e)); });
        return rp;
      },
      [=](closed_atom a, wire::closed_by_streamer& w) -> caf::result<bool> {
        return ask_local<bool>(self, w.account_id, false, a, w.account_id, w.device_id, w.session_ids);
      },
      [=](job_atom, wire::job_request& w) -> caf::result<wire::job_report> {
        auto req = wire::from_wire(w);
        auto supervisor = self->state.hooks->ctx.supervisor;
        if (!req || !supervisor) {
          job_report r;
          r.ok = false;
          r.error = "cannot run the job on this node";
          return wire::to_wire(r);
        }
        req->here_only = true;
        auto rp = self->make_response_promise<wire::job_report>();
        streamer_side::job_cb done = [rp](job_report r) mutable { rp.deliver(wire::to_wire(r)); };
        caf::anon_send(supervisor, job_atom_v, std::move(*req), std::move(done));
        return rp;
      },
      [=](kills_atom a, std::vector<wire::kill_order>& w) {
        if (auto supervisor = self->state.hooks->ctx.supervisor)
          caf::anon_send(supervisor, a, wire::from_wire(w), true);
      },
      [=](forget_atom a, wire::forget_request& w) -> caf::result<bool> {
        return ask_local<bool>(self, w.account_id, false, a, w.account_id,
                               std::chrono::milliseconds(w.timeout_ms));
      },
  };
}

}  // namespace

node_entry spawn_entry(actors::runtime_hooks& hooks, entry_args args) {
  return hooks.system.spawn(entry_fn, &hooks, std::move(args));
}

}  // namespace maxsess::cluster
