// The only translation unit of the actors library that includes CAF: the
// account actor, the account router and the gateway (callbacks <-> requests).
// Actors are written broker-style: a *_state struct plus a function returning
// the behaviour; the decisions themselves live in account_state (no CAF).
#include "actors/runtime.hpp"

#include "actors/messages.hpp"

#include <map>
#include <unordered_map>

namespace maxsess::actors {

using namespace maxsess::atoms;
using storage::write_op;
using storage::write_status;

namespace {

link_outcome unavailable_link(std::string why) {
  link_outcome o;
  o.result = link_result::unavailable;
  o.message = std::move(why);
  return o;
}

// --- account actor -------------------------------------------------------------

struct account_actor_state {
  const context* ctx = nullptr;
  caf::actor router;
  std::unique_ptr<account_state> logic;
  bool loaded = false;
  bool loading = false;
  // Requests that arrived while the state was loading; run (true) or
  // refused as unavailable (false) once the load finished.
  std::vector<std::function<void(bool)>> waiting;
  uint64_t handled = 0;  // requests received from the router (see passivation)
  uint64_t next_write = 1;
  std::map<uint64_t, std::function<void(write_status)>> writes_in_flight;
  sys_time last_activity{};
  std::optional<sys_time> wake_at;
  bool passivating = false;
  static inline const char* name = "maxsess.account";
};

using account_actor = caf::stateful_actor<account_actor_state>;

void start_load(account_actor* self, const std::string& account_id) {
  if (self->state.loading) return;
  // Never read the database while our own writes are still on their way:
  // the snapshot could miss a row whose approval is about to be answered.
  // The last write's answer starts the load (see written_atom).
  if (!self->state.writes_in_flight.empty()) return;
  self->state.loading = true;
  auto handle = caf::actor_cast<caf::actor>(self);
  self->state.ctx->deps.store.load(account_id, [handle](auto snap, std::string error) {
    if (snap)
      caf::anon_send(handle, loaded_atom_v, std::move(*snap));
    else
      caf::anon_send(handle, loadfail_atom_v, std::move(error));
  });
}

// Persists `ops`; `done` runs in the actor once they are durable (or not).
void submit(account_actor* self, std::vector<write_op> ops, std::function<void(write_status)> done) {
  auto id = self->state.next_write++;
  self->state.writes_in_flight.emplace(id, std::move(done));
  auto handle = caf::actor_cast<caf::actor>(self);
  self->state.ctx->deps.store.write(std::move(ops), [handle, id](write_status st) {
    caf::anon_send(handle, written_atom_v, id, st);
  });
}

// Carries out what a decision produced: rows to write, kills to push (once
// the rows are durable, so a kill is never pushed for a state we lost), and
// counters. `done` runs in the actor with the write's status (ok at once
// when there was nothing to write).
void push_kills(const context* ctx, std::vector<kill_order> kills) {
  if (kills.empty()) return;
  ctx->deps.metrics.inc("maxsess_kills_ordered_total", {}, static_cast<double>(kills.size()));
  if (ctx->supervisor) caf::anon_send(ctx->supervisor, kills_atom_v, std::move(kills));
}

void apply(account_actor* self, side_effects fx, std::function<void(write_status)> done) {
  auto* ctx = self->state.ctx;
  if (fx.over_limit_attempts > 0)
    ctx->deps.metrics.inc("maxsess_over_limit_attempts_total", {}, fx.over_limit_attempts);
  if (fx.writes.empty()) {
    push_kills(ctx, std::move(fx.kills));
    done(write_status::ok);
    return;
  }
  submit(self, std::move(fx.writes),
         [ctx, kills = std::move(fx.kills), done = std::move(done)](write_status st) mutable {
           if (st == write_status::ok) push_kills(ctx, std::move(kills));
           done(st);
         });
}

// What a sync changed, from every device's status before and after it.
sync_summary compare(const std::map<std::string, session_status>& before,
                     const std::map<std::string, session_status>& after) {
  sync_summary sum;
  for (auto& [device, now] : after) {
    auto i = before.find(device);
    bool was_live = i != before.end() && holds_slot(i->second);
    bool was_killed = i != before.end() && i->second == session_status::killed;
    if (!was_live && holds_slot(now)) ++sum.adopted;
    if (was_live && now == session_status::ended) ++sum.ended;
    if (!was_killed && now == session_status::killed) ++sum.killed;
  }
  return sum;
}

bool idle(account_actor* self) {
  auto& s = self->state;
  return s.loaded && s.waiting.empty() && s.writes_in_flight.empty() &&
         !s.logic->has_live_sessions();
}

// Arms one timer for the earliest thing to do: an expiry, or passivation.
void arm_wake(account_actor* self) {
  auto& s = self->state;
  if (!s.loaded || s.passivating) return;
  auto next = s.logic->next_deadline();
  if (idle(self)) {
    auto idle_at = s.last_activity + s.ctx->opts.idle_passivate;
    if (!next || idle_at < *next) next = idle_at;
  }
  if (!next || (s.wake_at && *s.wake_at <= *next)) return;
  s.wake_at = next;
  auto now = s.ctx->deps.clock.now();
  auto delay = std::chrono::duration_cast<std::chrono::milliseconds>(*next - now) +
               std::chrono::milliseconds(1);
  if (delay < std::chrono::milliseconds(1)) delay = std::chrono::milliseconds(1);
  self->delayed_send(self, delay, wake_atom_v);
}

// Asks the router to let this actor go. It agrees only if it forwarded us
// nothing we have not seen, so no request can be lost or reach a second
// actor. Refused: carry on (arm_wake is a no-op while unloaded).
void ask_to_passivate(account_actor* self) {
  self->state.passivating = true;
  self->request(self->state.router, caf::infinite, passivate_atom_v, self->state.handled)
      .then([self](bool agreed) {
        self->state.passivating = false;
        if (agreed)
          self->quit();
        else
          arm_wake(self);
      });
}

template <class T, class F>
void run(account_actor* self, caf::typed_response_promise<T> rp, F& f, const T& unavailable) {
  auto& s = self->state;
  side_effects fx;
  T value = f(*s.logic, s.ctx->deps.clock.now(), fx);
  apply(self, std::move(fx), [rp, value = std::move(value), unavailable](write_status st) mutable {
    // An approval (or any change) is answered only after its row is durable.
    rp.deliver(st == write_status::ok ? std::move(value) : unavailable);
  });
  arm_wake(self);
}

// Runs a request against the account's state now, or once it is loaded.
template <class T, class F>
caf::result<T> exec(account_actor* self, F f, T unavailable) {
  auto& s = self->state;
  ++s.handled;
  s.last_activity = s.ctx->deps.clock.now();
  auto rp = self->make_response_promise<T>();
  if (!s.loaded) {
    s.waiting.emplace_back([self, rp, f, unavailable](bool ok) mutable {
      if (ok)
        run(self, rp, f, unavailable);
      else
        rp.deliver(unavailable);
    });
    start_load(self, s.logic->account_id());  // no-op while a load runs
    return rp;
  }
  run(self, rp, f, unavailable);
  return rp;
}

void finish_load(account_actor* self, bool ok) {
  auto waiting = std::move(self->state.waiting);
  self->state.waiting.clear();
  for (auto& w : waiting) w(ok);
}

caf::behavior account_actor_fn(account_actor* self, const context* ctx, std::string account_id,
                               caf::actor router) {
  auto& s = self->state;
  s.ctx = ctx;
  s.router = std::move(router);
  s.last_activity = ctx->deps.clock.now();
  s.logic = std::make_unique<account_state>(
      account_id, shard_of(account_id, ctx->opts.shards), ctx->opts.epoch,
      ctx->opts.decisions, ctx->deps.signer, ctx->deps.streamers);
  start_load(self, account_id);
  return {
      [=](link_atom, link_request& req) -> caf::result<link_outcome> {
        return exec<link_outcome>(
            self,
            [req = std::move(req)](account_state& st, sys_time now, side_effects& fx) {
              return st.request_link(req, now, fx.writes);
            },
            unavailable_link("could not record the session; retry"));
      },
      [=](end_atom, std::string& device, bool kill) -> caf::result<end_result> {
        return exec<end_result>(
            self,
            [device = std::move(device), kill](account_state& st, sys_time now, side_effects& fx) {
              return st.end_session(device, kill, now, fx);
            },
            end_result::unavailable);
      },
      [=](get_atom) -> caf::result<std::optional<account_view>> {
        return exec<std::optional<account_view>>(
            self, [](account_state& st, sys_time, side_effects&) { return std::optional{st.view()}; },
            std::nullopt);
      },
      [=](put_atom, account_settings& settings) -> caf::result<std::optional<account_view>> {
        return exec<std::optional<account_view>>(
            self,
            [settings](account_state& st, sys_time, side_effects& fx) {
              st.put_settings(settings, fx.writes);
              return std::optional{st.view()};
            },
            std::nullopt);
      },
      [=](auth_atom, auth_request& req) -> caf::result<auth_outcome> {
        return exec<auth_outcome>(
            self,
            [req = std::move(req)](account_state& st, sys_time now, side_effects& fx) {
              return st.authorize(req, now, fx);
            },
            auth_outcome{auth_result::unavailable});
      },
      [=](play_atom, std::string& device, play_report& r) -> caf::result<bool> {
        return exec<bool>(
            self,
            [device = std::move(device), r = std::move(r)](account_state& st, sys_time now,
                                                           side_effects& fx) {
              st.on_play(device, r, now, fx);
              return true;
            },
            false);
      },
      [=](sync_atom, int64_t streamer_id, seen_list& seen, sys_time listed_at)
          -> caf::result<sync_summary> {
        return exec<sync_summary>(
            self,
            [streamer_id, seen = std::move(seen), listed_at](account_state& st, sys_time now,
                                                             side_effects& fx) {
              auto before = st.statuses();
              st.on_sync(streamer_id, seen, listed_at, now, fx);
              return compare(before, st.statuses());
            },
            sync_summary{});
      },
      [=](closed_atom, std::string& device, std::vector<std::string>& ids) -> caf::result<bool> {
        return exec<bool>(
            self,
            [device = std::move(device), ids = std::move(ids)](account_state& st, sys_time now,
                                                               side_effects& fx) {
              st.on_closed_by_streamer(device, ids, now, fx);
              return true;
            },
            false);
      },
      [=](forget_atom, std::chrono::milliseconds timeout) -> caf::result<bool> {
        return exec<bool>(
            self,
            [timeout](account_state& st, sys_time now, side_effects&) {
              st.clear(now, timeout);  // the rows are already deleted
              return true;
            },
            false);
      },
      // --- internals ---
      [=](loaded_atom, storage::account_snapshot& snap) {
        auto& s = self->state;
        std::vector<write_op> ops;
        s.logic->load(snap, s.ctx->deps.clock.now(), ops);
        s.loaded = true;
        s.loading = false;
        if (!ops.empty()) submit(self, std::move(ops), [](write_status) {});
        finish_load(self, true);
        arm_wake(self);
      },
      [=](loadfail_atom, std::string& error) {
        self->state.ctx->deps.log.error("account", "cannot load account state",
                                        {{"account", self->state.logic->account_id()},
                                         {"error", error}});
        // Refuse what waited (503, the caller retries); the next request
        // starts a new load rather than deciding on unknown state. With
        // nothing to decide on, the actor leaves memory if the router agrees
        // (no request on its way): a failed load must not pin an actor.
        auto& s = self->state;
        s.loading = false;
        finish_load(self, false);
        if (!s.passivating && s.writes_in_flight.empty()) ask_to_passivate(self);
      },
      [=](written_atom, uint64_t id, write_status st) {
        auto& s = self->state;
        auto i = s.writes_in_flight.find(id);
        if (i == s.writes_in_flight.end()) return;
        auto done = std::move(i->second);
        s.writes_in_flight.erase(i);
        done(st);
        if (st != write_status::ok) {
          // Memory and database may now disagree: reload from the database
          // (requests wait meanwhile) rather than decide on unsaved state.
          s.ctx->deps.log.warn("account", "write not applied; reloading account state",
                               {{"account", s.logic->account_id()},
                                {"status", storage::to_string(st)}});
          s.loaded = false;
        }
        // Reload once nothing of ours is in flight any more.
        if (!s.loaded) start_load(self, s.logic->account_id());
        arm_wake(self);
      },
      [=](wake_atom) {
        auto& s = self->state;
        s.wake_at.reset();
        if (!s.loaded || s.passivating) return;
        auto now = s.ctx->deps.clock.now();
        std::vector<write_op> ops;
        s.logic->expire(now, ops);
        if (!ops.empty()) submit(self, std::move(ops), [](write_status) {});
        if (idle(self) && now >= s.last_activity + s.ctx->opts.idle_passivate) {
          ask_to_passivate(self);
          return;
        }
        arm_wake(self);
      },
  };
}

// --- router --------------------------------------------------------------------

struct router_state {
  struct entry {
    caf::actor actor;
    uint64_t forwarded = 0;
  };
  const context* ctx = nullptr;
  std::unordered_map<std::string, entry> accounts;
  static inline const char* name = "maxsess.router";
};

using router_actor = caf::stateful_actor<router_state>;

caf::behavior router_fn(router_actor* self, const context* ctx) {
  self->state.ctx = ctx;
  self->set_down_handler([self](caf::down_msg& dm) {
    auto& accounts = self->state.accounts;
    for (auto i = accounts.begin(); i != accounts.end(); ++i) {
      if (i->second.actor.address() == dm.source) {
        if (dm.reason)
          self->state.ctx->deps.log.error("router", "account actor died",
                                          {{"account", i->first},
                                           {"reason", caf::to_string(dm.reason)}});
        accounts.erase(i);
        return;
      }
    }
  });
  // The owner of an account: its actor, spawned on demand. Every request
  // passes here, so the router knows how many it forwarded to each actor.
  auto owner = [self](const std::string& account_id) -> caf::actor {
    auto& e = self->state.accounts[account_id];
    if (!e.actor) {
      e.actor = self->spawn(account_actor_fn, self->state.ctx, account_id,
                            caf::actor_cast<caf::actor>(self));
      self->monitor(e.actor);
    }
    ++e.forwarded;
    return e.actor;
  };
  return {
      [=](link_atom a, link_request& req) {
        auto dest = owner(req.account_id);
        return self->delegate(dest, a, std::move(req));
      },
      [=](end_atom a, std::string& account_id, std::string& device, bool kill) {
        return self->delegate(owner(account_id), a, std::move(device), kill);
      },
      [=](get_atom a, std::string& account_id) {
        return self->delegate(owner(account_id), a);
      },
      [=](put_atom a, account_settings& settings) {
        auto dest = owner(settings.account_id);
        return self->delegate(dest, a, std::move(settings));
      },
      [=](auth_atom a, auth_request& req) {
        auto dest = owner(req.account_id);
        return self->delegate(dest, a, std::move(req));
      },
      [=](play_atom a, std::string& account_id, std::string& device, play_report& r) {
        return self->delegate(owner(account_id), a, std::move(device), std::move(r));
      },
      [=](sync_atom a, std::string& account_id, int64_t streamer_id, seen_list& seen,
          sys_time listed_at) {
        return self->delegate(owner(account_id), a, streamer_id, std::move(seen), listed_at);
      },
      [=](closed_atom a, std::string& account_id, std::string& device,
          std::vector<std::string>& ids) {
        return self->delegate(owner(account_id), a, std::move(device), std::move(ids));
      },
      // Cleared rows: only accounts in memory need to hear of it (a new
      // actor loads the database without them).
      [=](forget_atom a, std::string& account_id, std::chrono::milliseconds timeout)
          -> caf::result<caf::message> {
        if (!self->state.accounts.count(account_id)) return caf::make_message(true);
        return self->delegate(owner(account_id), a, timeout);
      },
      [=](passivate_atom, uint64_t handled) -> bool {
        auto& accounts = self->state.accounts;
        auto sender = self->current_sender();
        for (auto i = accounts.begin(); i != accounts.end(); ++i) {
          if (caf::actor_cast<caf::strong_actor_ptr>(i->second.actor) != sender) continue;
          if (i->second.forwarded != handled) return false;  // something is on its way
          self->demonitor(i->second.actor);
          accounts.erase(i);
          return true;
        }
        return true;  // unknown: already forgotten
      },
      [=](count_atom) -> uint64_t { return self->state.accounts.size(); },
      [=](stop_atom) {
        for (auto& kv : self->state.accounts)
          self->send_exit(kv.second.actor, caf::exit_reason::user_shutdown);
        self->state.accounts.clear();
        self->quit();
      },
  };
}

// --- gateway: callbacks from any thread -> requests to the router ------------------

caf::behavior gateway_fn(caf::event_based_actor* self, caf::actor router,
                         std::chrono::milliseconds timeout) {
  return {
      [=](link_atom a, link_request& req, account_service::link_cb& cb) {
        self->request(router, timeout, a, std::move(req))
            .then([cb](link_outcome& o) { call_back(cb, std::move(o)); },
                  [cb](caf::error& e) { call_back(cb, unavailable_link("no answer: " + caf::to_string(e))); });
      },
      [=](end_atom a, std::string& account_id, std::string& device, bool kill,
          account_service::end_cb& cb) {
        self->request(router, timeout, a, std::move(account_id), std::move(device), kill)
            .then([cb](end_result r) { call_back(cb, r); },
                  [cb](caf::error&) { call_back(cb, end_result::unavailable); });
      },
      [=](get_atom a, std::string& account_id, account_service::view_cb& cb) {
        self->request(router, timeout, a, std::move(account_id))
            .then([cb](std::optional<account_view>& v) { call_back(cb, std::move(v)); },
                  [cb](caf::error&) { call_back(cb, std::nullopt); });
      },
      [=](auth_atom a, auth_request& req, account_service::auth_cb& cb) {
        self->request(router, timeout, a, std::move(req))
            .then([cb](auth_outcome o) { call_back(cb, o); },
                  [cb](caf::error&) { call_back(cb, auth_outcome{auth_result::unavailable}); });
      },
      [=](put_atom a, account_settings& settings, account_service::view_cb& cb) {
        self->request(router, timeout, a, std::move(settings))
            .then([cb](std::optional<account_view>& v) { call_back(cb, std::move(v)); },
                  [cb](caf::error&) { call_back(cb, std::nullopt); });
      },
  };
}

class gateway_service final : public account_service {
 public:
  explicit gateway_service(caf::actor gateway) : gateway_(std::move(gateway)) {}
  void request_link(link_request req, link_cb done) override {
    caf::anon_send(gateway_, link_atom_v, std::move(req), std::move(done));
  }
  void end_session(std::string account_id, std::string device_id, bool kill, end_cb done) override {
    caf::anon_send(gateway_, end_atom_v, std::move(account_id), std::move(device_id), kill,
                   std::move(done));
  }
  void get_account(std::string account_id, view_cb done) override {
    caf::anon_send(gateway_, get_atom_v, std::move(account_id), std::move(done));
  }
  void put_account(account_settings settings, view_cb done) override {
    caf::anon_send(gateway_, put_atom_v, std::move(settings), std::move(done));
  }
  void authorize(auth_request req, auth_cb done) override {
    caf::anon_send(gateway_, auth_atom_v, std::move(req), std::move(done));
  }

 private:
  caf::actor gateway_;
};

class actor_streamer_side final : public streamer_side {
 public:
  actor_streamer_side(caf::actor webhook, caf::actor supervisor)
      : webhook_(std::move(webhook)), supervisor_(std::move(supervisor)) {}
  void post_events(std::string host, std::string body, webhook_cb done) override {
    caf::anon_send(webhook_, hook_atom_v, std::move(host), std::move(body), std::move(done));
  }
  void run_job(job_request req, job_cb done) override {
    caf::anon_send(supervisor_, job_atom_v, std::move(req), std::move(done));
  }
  void streamers_changed() override { caf::anon_send(supervisor_, refresh_atom_v); }

 private:
  caf::actor webhook_;
  caf::actor supervisor_;
};

caf::actor_system_config make_config(const runtime_options& opts) {
  caf::actor_system_config cfg;
  cfg.set("scheduler.max-threads", static_cast<size_t>(std::max(1, opts.scheduler_threads)));
  // Measured on 2 cores: work sharing roughly halves latency (CAF-0.17.md).
  cfg.set("scheduler.policy", caf::atom("sharing"));
  return cfg;
}

}  // namespace

struct actor_runtime::impl {
  impl(runtime_options opts, runtime_deps deps)
      : ctx{std::move(opts), deps, {}, {}}, cfg(make_config(ctx.opts)), system(cfg) {
    router = system.spawn(router_fn, &ctx);
    ctx.router = router;
    supervisor = spawn_streamer_supervisor(system, &ctx);
    ctx.supervisor = supervisor;
    webhook = spawn_webhook_actor(system, &ctx);
    gateway = system.spawn(gateway_fn, router, ctx.opts.request_timeout);
    service = std::make_unique<gateway_service>(gateway);
    streamer_service = std::make_unique<actor_streamer_side>(webhook, supervisor);
  }
  context ctx;
  caf::actor_system_config cfg;
  caf::actor_system system;
  caf::actor router;
  caf::actor gateway;
  caf::actor supervisor;
  caf::actor webhook;
  std::unique_ptr<gateway_service> service;
  std::unique_ptr<actor_streamer_side> streamer_service;
  bool stopped = false;
};

actor_runtime::actor_runtime(runtime_options opts, runtime_deps deps)
    : impl_(std::make_unique<impl>(std::move(opts), deps)) {}

actor_runtime::~actor_runtime() { shutdown(); }

account_service& actor_runtime::accounts() { return *impl_->service; }

streamer_side& actor_runtime::streamers() { return *impl_->streamer_service; }

std::size_t actor_runtime::live_accounts() {
  if (impl_->stopped) return 0;
  caf::scoped_actor self{impl_->system};
  std::size_t n = 0;
  self->request(impl_->router, std::chrono::seconds(5), count_atom_v)
      .receive([&](uint64_t count) { n = count; }, [&](caf::error&) { n = 0; });
  return n;
}

void actor_runtime::shutdown() {
  if (impl_->stopped) return;
  impl_->stopped = true;
  caf::anon_send(impl_->supervisor, stop_atom_v);
  caf::anon_send_exit(impl_->webhook, caf::exit_reason::user_shutdown);
  caf::anon_send(impl_->router, stop_atom_v);
  caf::anon_send_exit(impl_->gateway, caf::exit_reason::user_shutdown);
  impl_->system.await_all_actors_done();
}

}  // namespace maxsess::actors
