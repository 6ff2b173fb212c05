#include "cluster/peer.hpp"

#include <map>

namespace maxsess::cluster {

namespace {

struct peer_state {
  peer_args args;
  bool down = false;
  uint64_t next = 1;
  std::map<uint64_t, std::function<void()>> pending;  // id -> fail it
  static inline const char* name = "maxsess.peer";
};

using peer_self = peer_actor::stateful_pointer<peer_state>;

link_outcome from(wire::link_outcome& w) {
  auto v = wire::from_wire(w);
  return v ? std::move(*v) : unavailable_link("malformed answer from the owner; retry");
}
end_result from(wire::end_result& w) { return wire::from_wire(w).value_or(end_result::unavailable); }
account_answer from(wire::account_answer& w) { return wire::from_wire(w); }
auth_outcome from(wire::auth_outcome& w) {
  return wire::from_wire(w).value_or(auth_outcome{auth_result::unavailable});
}
bool from(bool x) { return x; }
int32_t from(int32_t x) { return x; }
job_report from(wire::job_report& w) {
  if (auto r = wire::from_wire(w)) return std::move(*r);
  job_report r;
  r.ok = false;
  r.error = "malformed answer from the node running the streamer";
  return r;
}

sync_summary from(wire::sync_summary& w) { return wire::summary_from_wire<sync_summary>(w); }

// Sends `xs` to the peer's entry; the answer (W on the wire, T here) goes
// to the caller, or `unavailable` when the peer is down or silent.
template <class T, class W, class... Ts>
caf::result<T> forward(peer_self self, T unavailable, Ts&&... xs) {
  auto& s = self->state;
  if (s.down) return unavailable;
  if (s.args.metrics) s.args.metrics->inc("maxsess_forwarded_requests_total", {{"peer", s.args.node_id}});
  auto rp = self->make_response_promise<T>();
  auto id = s.next++;
  s.pending.emplace(id, [rp, unavailable]() mutable { rp.deliver(unavailable); });
  self->request(s.args.entry, s.args.timeout, std::forward<Ts>(xs)...)
      .then(
          [self, rp, id](W& w) mutable {
            if (self->state.pending.erase(id)) rp.deliver(from(w));
          },
          [self, id](caf::error&) {
            auto i = self->state.pending.find(id);
            if (i == self->state.pending.end()) return;
            auto fail = std::move(i->second);
            self->state.pending.erase(i);
            fail();
          });
  return rp;
}

peer_actor::behavior_type peer_fn(peer_self self, peer_args args) {
  self->state.args = std::move(args);
  self->monitor(self->state.args.entry);
  self->set_down_handler([self](caf::down_msg&) {
    auto& s = self->state;
    s.down = true;
    auto pending = std::move(s.pending);
    s.pending.clear();
    for (auto& kv : pending) kv.second();
    if (s.args.on_down) s.args.on_down(s.args.node_id);
    self->quit();
  });
  const auto no_answer = account_answer{};
  return {
      [=](link_atom a, link_request& req) {
        return forward<link_outcome, wire::link_outcome>(
            self, unavailable_link("owner not reachable; retry"), a, wire::to_wire(req));
      },
      [=](end_atom a, std::string& account, std::string& device, bool kill) {
        return forward<end_result, wire::end_result>(self, end_result::unavailable, a,
                                                     wire::end_request{account, device, kill});
      },
      [=](get_atom a, std::string& account) {
        return forward<account_answer, wire::account_answer>(self, no_answer, a, account);
      },
      [=](put_atom a, account_settings& settings) {
        return forward<account_answer, wire::account_answer>(self, no_answer, a, wire::to_wire(settings));
      },
      [=](del_atom a, std::string& account) {
        return forward<end_result, wire::end_result>(self, end_result::unavailable, a, account);
      },
      [=](auth_atom a, auth_request& req) {
        return forward<auth_outcome, wire::auth_outcome>(self, auth_outcome{auth_result::unavailable}, a,
                                                         wire::to_wire(req));
      },
      [=](play_atom a, play_batch& batch) {
        std::vector<wire::play_event> events;
        events.reserve(batch.size());
        for (auto& it : batch)
          events.push_back(wire::to_wire(it.account_id, it.device_id, it.report, it.event_id));
        return forward<int32_t, int32_t>(self, -1, a, std::move(events));
      },
      [=](sync_atom a, std::string& account, int64_t streamer, seen_list& seen, string_list& listed,
          sys_time listed_at) -> caf::result<sync_summary> {
        auto& s = self->state;
        if (s.down) return caf::make_error(caf::sec::request_receiver_down);
        auto rp = self->make_response_promise<sync_summary>();
        auto id = s.next++;
        s.pending.emplace(id, [rp]() mutable { rp.deliver(caf::make_error(caf::sec::request_receiver_down)); });
        self->request(s.args.entry, s.args.timeout, a, wire::to_wire(account, streamer, seen, std::move(listed), listed_at))
            .then(
                [self, rp, id](wire::sync_summary& w) mutable {
                  if (self->state.pending.erase(id)) rp.deliver(from(w));
                },
                [self, rp, id](caf::error& e) mutable {
                  if (self->state.pending.erase(id)) rp.deliver(std::move(e));
                });
        return rp;
      },
      [=](closed_atom a, std::string& account, std::string& device, string_list& ids) {
        return forward<bool, bool>(self, false, a, wire::closed_by_streamer{account, device, ids});
      },
      [=](forget_atom a, std::string& account, std::chrono::milliseconds timeout) {
        return forward<bool, bool>(self, false, a, wire::forget_request{account, timeout.count()});
      },
      [=](kills_atom a, std::vector<kill_order>& orders) {
        if (!self->state.down) self->send(self->state.args.entry, a, wire::to_wire(orders));
      },
      [=](job_atom a, job_request& req) {
        job_report down;
        down.what = req.what;
        down.ok = false;
        for (auto id : req.streamer_ids) {
          streamer_run r;
          r.streamer_id = id;
          r.ok = false;
          r.error = "the node running this streamer went down; retry";
          down.streamers.push_back(r);
        }
        return forward<job_report, wire::job_report>(self, down, a, wire::to_wire(req));
      },
  };
}

}  // namespace

peer_actor spawn_peer(caf::actor_system& sys, peer_args args) { return sys.spawn(peer_fn, std::move(args)); }

}  // namespace maxsess::cluster
