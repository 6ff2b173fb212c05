// The shard owner (see shard_owner.hpp): the accounts of one shard, each to
// its actor. It counts what it forwarded to each actor, so that an actor
// asking to passivate is let go only when nothing is on its way to it.
#include "actors/shard_owner.hpp"

#include <vector>
#include <memory>
#include <optional>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "actors/account_actor.hpp"
#include "actors/critical.hpp"
#include "actors/recent_events.hpp"
#include "actors/wake_schedule.hpp"

namespace maxsess::actors {

namespace {

struct shard_owner_state {
  struct entry {
    account_actor actor;
    uint64_t forwarded = 0;
  };
  const context* ctx = nullptr;
  shard_owner_args args;
  std::unordered_map<std::string, entry> accounts;
  // Handing off: new requests go to ctx->nobody; answered once the last
  // account actor is gone.
  bool draining = false;
  // While the takeover load runs: accounts that got an actor meanwhile (their
  // own load is newer than the takeover's snapshot).
  bool preloading = false;
  bool waiting = false;  // for the predecessor's drain
  std::set<std::string> touched;
  // Accounts whose actor died (an exception) and has no successor yet: the
  // successor's first load waits for the writes it may have left in flight.
  std::unordered_set<std::string> died;
  recent_events applied;  // webhook events made durable here (redeliveries are skipped)
  // The account actors' deadlines; a timer for the earliest only.
  std::shared_ptr<shared_wake_schedule> wakes = std::make_shared<shared_wake_schedule>();
  std::vector<caf::typed_response_promise<bool>> drained;
  static inline const char* name = "maxsess.shard";
};

using shard_self = local_shard_actor::stateful_pointer<shard_owner_state>;

void finish_drain(shard_self self) {
  if (!self->state.accounts.empty()) return;
  for (auto& rp : self->state.drained) rp.deliver(true);
  self->quit();
}

// The account's actor, spawned on demand; counts the request it is about to get.
account_actor owner(shard_self self, const std::string& account_id) {
  auto& e = self->state.accounts[account_id];
  if (!e.actor) {
    auto& s = self->state;
    if (s.preloading) s.touched.insert(account_id);
    const bool after_death = !s.died.empty() && s.died.erase(account_id) > 0;
    e.actor = spawn_account_actor(self->system(), s.ctx,
                                  {account_id, s.args.shard, s.args.epoch, caf::actor_cast<shard_parent>(self),
                                   s.wakes, std::nullopt, after_death});
    self->monitor(e.actor);
  }
  ++e.forwarded;
  return e.actor;
}

// The timer armed for `fired` went off: the accounts whose deadlines came
// are woken (those still here: one that passivated has nothing left to do),
// and a timer is armed for the next deadline unless one in flight covers it.
void wake_due(shard_self self, sys_time fired) {
  auto& s = self->state;
  const auto now = s.ctx->deps.clock.now();
  std::optional<sys_time> next;
  for (auto& e : s.wakes->take_due(fired, now, next))
    if (auto i = s.accounts.find(e.account_id); i != s.accounts.end())
      self->send(i->second.actor, wake_atom_v, e.at.time_since_epoch().count());
  if (next) self->delayed_send(self, timer_delay(*next, now), tick_atom_v, next->time_since_epoch().count());
}

// The batch's events to their accounts' actors, one message per account
// with its events in order (a CAF request per event was a clock entry, a
// response promise and two messages each, and a write group per event;
// issue 7); the batch is answered once every fresh event is
// durable. An account's events are applied and written together, so they
// are remembered as applied together.
caf::result<int32_t> apply_events(shard_self self, play_batch batch) {
  struct tally {
    size_t left = 0;
    bool ok = true;
    int32_t duplicates = 0;
  };
  auto t = std::make_shared<tally>();
  std::vector<play_batch> groups;
  std::unordered_map<std::string, std::size_t> group_of;
  for (auto& it : batch) {
    if (it.event_id >= 0 && self->state.applied.contains(it.report.streamer_id, it.event_id)) {
      ++t->duplicates;
      continue;
    }
    auto [g, fresh] = group_of.try_emplace(it.account_id, groups.size());
    if (fresh) groups.emplace_back();
    groups[g->second].push_back(std::move(it));
  }
  if (groups.empty()) return t->duplicates;
  t->left = groups.size();
  auto rp = self->make_response_promise<int32_t>();
  auto finish = [t, rp]() mutable {
    if (--t->left == 0) rp.deliver(t->ok ? t->duplicates : int32_t{-1});
  };
  for (auto& events : groups) {
    std::vector<std::pair<int64_t, int64_t>> ids;  // (streamer, event id) to remember once durable
    for (auto& e : events)
      if (e.event_id >= 0) ids.emplace_back(e.report.streamer_id, e.event_id);
    auto account = events.front().account_id;
    // No timeout: the account actor is this node's and answers once its
    // write landed or failed, or quits (an error). A timeout here was a CAF
    // clock entry per account of each batch (issue 7); the sink's answer
    // has the HTTP handler deadline as its backstop.
    self->request(owner(self, account), caf::infinite, play_atom_v, std::move(events))
        .then(
            [self, t, finish, ids = std::move(ids)](bool durable) mutable {
              if (durable)
                for (auto& [streamer, id] : ids) self->state.applied.add(streamer, id);
              else
                t->ok = false;
              finish();
            },
            [t, finish](caf::error&) mutable {
              t->ok = false;
              finish();
            });
  }
  return rp;
}

// A direct request while the shard is not served here: nobody's answer
// (unavailable) goes to the callback.
template <class T, class... Ts>
void ask_nobody(shard_self self, const shard_actor& nobody, std::function<void(T)> cb, Ts&&... xs) {
  self->request(nobody, caf::infinite, std::forward<Ts>(xs)...)
      .then([cb](T& v) { call_back(cb, std::move(v)); },
            [cb](caf::error&) { call_back(cb, T{}); });  // T{}: unavailable
}

local_shard_actor::behavior_type shard_owner_fn(shard_self self, const context* ctx,
                                                shard_owner_args args) {
  guard_critical(self, *ctx, "shard " + std::to_string(args.shard) + " owner");
  self->state.ctx = ctx;
  self->state.args = args;
  self->set_down_handler([self](caf::down_msg& dm) {
    auto& accounts = self->state.accounts;
    for (auto i = accounts.begin(); i != accounts.end(); ++i) {
      if (i->second.actor.address() == dm.source) {
        if (dm.reason) {
          self->state.ctx->deps.log.error("shard", "account actor died",
                                          {{"account", i->first},
                                           {"reason", caf::to_string(dm.reason)}});
          self->state.died.insert(i->first);
        }
        accounts.erase(i);
        break;
      }
    }
    if (self->state.draining) finish_drain(self);
  });
  // Takeover: the accounts in play come up at once, so what expired while
  // nobody owned the shard ends now (not when the account is next touched)
  // and their first requests need no load.
  // A predecessor on this node (the shard was lost or handed off and comes
  // back) must have finished first: its writes in flight would otherwise
  // land after our load. Until then this owner answers like nobody.
  auto start = [self] {
    auto& s = self->state;
    s.waiting = false;
    s.preloading = true;
    auto handle = caf::actor_cast<local_shard_actor>(self);
    s.ctx->deps.store.load_live(s.args.shard, [handle](live_accounts accounts, std::string error) {
      if (!error.empty()) accounts.clear();  // they load on demand instead
      caf::anon_send(handle, loaded_atom_v, std::move(accounts));
    });
  };
  if (args.predecessor) {
    self->state.waiting = true;
    self->request(args.predecessor, caf::infinite, drain_atom_v)
        .then([start](bool) { start(); }, [start](caf::error&) { start(); });  // error: already gone
  } else {
    start();
  }
  // While draining (or waiting), requests go where requests for an unowned shard go.
  auto nobody = [self] {
    auto& s = self->state;
    return s.draining || s.waiting ? s.ctx->nobody : shard_actor{};
  };
  return {
      [=](link_atom a, link_request& req) -> caf::delegated<link_outcome> {
        if (auto n = nobody()) return self->delegate(n, a, std::move(req));
        auto dest = owner(self, req.account_id);
        return self->delegate(dest, a, std::move(req));
      },
      [=](end_atom a, std::string& account_id, std::string& device,
          bool kill) -> caf::delegated<end_result> {
        if (auto n = nobody()) return self->delegate(n, a, std::move(account_id), std::move(device), kill);
        return self->delegate(owner(self, account_id), a, std::move(device), kill);
      },
      [=](get_atom a, std::string& account_id) -> caf::delegated<account_answer> {
        if (auto n = nobody()) return self->delegate(n, a, std::move(account_id));
        return self->delegate(owner(self, account_id), a);
      },
      [=](put_atom a, account_settings& settings) -> caf::delegated<account_answer> {
        if (auto n = nobody()) return self->delegate(n, a, std::move(settings));
        auto dest = owner(self, settings.account_id);
        return self->delegate(dest, a, std::move(settings));
      },
      [=](del_atom a, std::string& account_id) -> caf::delegated<end_result> {
        if (auto n = nobody()) return self->delegate(n, a, std::move(account_id));
        return self->delegate(owner(self, account_id), a);
      },
      [=](auth_atom a, auth_request& req) -> caf::delegated<auth_outcome> {
        if (auto n = nobody()) return self->delegate(n, a, std::move(req));
        auto dest = owner(self, req.account_id);
        return self->delegate(dest, a, std::move(req));
      },
      // The direct forms (this node's HTTP side, a callback for the answer).
      [=](link_atom a, link_request& req, account_service::link_cb& cb) {
        if (auto n = nobody()) return ask_nobody<link_outcome>(self, n, std::move(cb), a, std::move(req));
        auto dest = owner(self, req.account_id);
        self->send(dest, a, std::move(req), std::move(cb));
      },
      [=](auth_atom a, auth_request& req, account_service::auth_cb& cb) {
        if (auto n = nobody()) return ask_nobody<auth_outcome>(self, n, std::move(cb), a, std::move(req));
        auto dest = owner(self, req.account_id);
        self->send(dest, a, std::move(req), std::move(cb));
      },
      [=](play_atom, play_batch& batch) -> caf::result<int32_t> {
        if (self->state.draining) return -1;
        return apply_events(self, std::move(batch));
      },
      [=](sync_atom a, std::string& account_id, int64_t streamer_id, seen_list& seen,
          string_list& listed, sys_time listed_at) -> caf::delegated<sync_summary> {
        if (auto n = nobody())
          return self->delegate(n, a, std::move(account_id), streamer_id, std::move(seen),
                                std::move(listed), listed_at);
        return self->delegate(owner(self, account_id), a, streamer_id, std::move(seen),
                              std::move(listed), listed_at);
      },
      [=](closed_atom a, std::string& account_id, std::string& device,
          string_list& ids) -> caf::delegated<bool> {
        if (auto n = nobody()) return self->delegate(n, a, std::move(account_id), std::move(device), std::move(ids));
        return self->delegate(owner(self, account_id), a, std::move(device), std::move(ids));
      },
      // Cleared rows: only accounts in memory need to hear of it (a new
      // actor loads the database without them).
      [=](forget_atom a, std::string& account_id, std::chrono::milliseconds timeout)
          -> caf::result<bool> {
        if (self->state.draining || !self->state.accounts.count(account_id)) return true;
        return self->delegate(owner(self, account_id), a, timeout);
      },
      [=](passivate_atom, uint64_t handled) -> bool {
        auto& accounts = self->state.accounts;
        auto sender = self->current_sender();
        for (auto i = accounts.begin(); i != accounts.end(); ++i) {
          if (caf::actor_cast<caf::strong_actor_ptr>(i->second.actor) != sender) continue;
          if (i->second.forwarded != handled) return false;  // something is on its way
          self->demonitor(i->second.actor.address());
          accounts.erase(i);
          if (self->state.draining) finish_drain(self);
          return true;
        }
        return true;  // unknown: already forgotten
      },
      [=](tick_atom, sys_time::rep fired) { wake_due(self, sys_time(sys_time::duration(fired))); },
      [=](count_atom) -> uint64_t { return self->state.accounts.size(); },
      [=](drain_atom) -> caf::result<bool> {
        auto& s = self->state;
        auto rp = self->make_response_promise<bool>();
        s.drained.push_back(rp);
        if (!s.draining) {
          s.draining = true;
          for (auto& kv : s.accounts) self->send(kv.second.actor, drain_atom_v);
        }
        finish_drain(self);
        return rp;
      },
      [=](loaded_atom, live_accounts& accounts) {
        auto& s = self->state;
        s.preloading = false;
        if (!s.draining)
          for (auto& [account, snap] : accounts) {
            if (s.touched.count(account) || s.accounts.count(account)) continue;
            auto& e = s.accounts[account];
            e.actor = spawn_account_actor(
                self->system(), s.ctx,
                {account, s.args.shard, s.args.epoch, caf::actor_cast<shard_parent>(self), s.wakes,
                 std::move(snap)});
            self->monitor(e.actor);
          }
        s.touched.clear();
      },
      // Shutdown: like a handoff, so what waits for its write is answered.
      [=](stop_atom) {
        auto& s = self->state;
        if (!s.draining) {
          s.draining = true;
          for (auto& kv : s.accounts) self->send(kv.second.actor, drain_atom_v);
        }
        finish_drain(self);
      },
  };
}

}  // namespace

local_shard_actor spawn_shard_owner(caf::actor_system& sys, const context* ctx, shard_owner_args args) {
  return sys.spawn(shard_owner_fn, ctx, args);
}

}  // namespace maxsess::actors
