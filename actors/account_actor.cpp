// The account actor (see account_actor.hpp). Written broker-style: a state
// struct plus a function returning the behaviour; the decisions themselves
// live in account_state (no CAF), this file only sequences them with loads,
// durable writes, timers and passivation.
#include "actors/account_actor.hpp"

#include <algorithm>
#include <atomic>
#include <map>

namespace maxsess::actors {

using storage::write_op;
using storage::write_status;

namespace {

struct account_actor_state {
  // A write of ours on its way to the database: what runs once it is
  // answered, and whether it carries audit events only (they change no
  // state, so memory and database still agree when one fails: no reload).
  struct write_in_flight {
    std::function<void(write_status)> done;
    bool events_only = false;
  };
  // A quarter-million of these fill a node (one per account in memory), so
  // the state keeps nothing that another member already holds (the
  // account id and shard are logic's): CAF's actor with this state fits
  // mimalloc's 1 280-byte size class instead of 1 536 (issue 7's memory bar).
  const context* ctx = nullptr;
  shard_parent parent;
  std::unique_ptr<account_state> logic;
  bool loaded = false;
  bool loading = false;
  bool passivating = false;
  bool draining = false;  // the shard is leaving this node
  bool on_board = false;  // the account has a page on the auth board now
  // Requests that arrived while the state was loading; run (true) or
  // refused as unavailable (false) once the load finished.
  std::vector<std::function<void(bool)>> waiting;
  uint64_t handled = 0;  // requests received from the shard owner (see passivation)
  uint64_t next_write = 1;
  std::map<uint64_t, write_in_flight> writes_in_flight;
  sys_time last_activity{};
  // The times of the wakes in flight (asked of the shard owner, see
  // schedule_wake), earliest first. One cannot be taken back: a wake asked
  // for a later deadline comes anyway, so a new one is asked for only when
  // none in flight comes at or before the next deadline. Forgetting them
  // (one optional, reset at each wake) left one stale_after timer behind per
  // progress flush: ~50 bytes per auth update_session held for stale_after
  // (the soak's RSS growth, docs/faults.md).
  std::vector<sys_time> wakes;
  std::shared_ptr<shared_wake_schedule> schedule;  // the shard owner's
  // This actor instance's id on the auth board (auth_board.hpp), and what
  // tells the actor to take progress from there (made by the first publish
  // that reaches the board, see publish).
  uint64_t board_id = 0;
  std::function<void()> board_notify;
  // Nothing stays published for an actor that is gone, however it ended.
  ~account_actor_state() {
    if (on_board && ctx != nullptr && ctx->board != nullptr && logic)
      ctx->board->withdraw(logic->shard(), logic->account_id(), board_id);
  }
  static inline const char* name = "maxsess.account";
};

// Board ids grow, so a successor's page is told from its predecessor's.
std::atomic<uint64_t> next_board_id{1};

// The public interface plus the actor's own messages to itself.
using account_actor_impl = account_actor::extend<
    caf::reacts_to<progress_atom>,
    caf::reacts_to<loaded_atom, storage::account_snapshot>,
    caf::reacts_to<loadfail_atom, std::string>,
    caf::reacts_to<written_atom, uint64_t, write_status>>;
using account_self = account_actor_impl::stateful_pointer<account_actor_state>;

void start_load(account_self self, const std::string& account_id) {
  if (self->state.loading) return;
  // Never read the database while our own writes are still on their way:
  // the snapshot could miss a row whose approval is about to be answered.
  // The last write's answer starts the load (see written_atom).
  if (!self->state.writes_in_flight.empty()) return;
  self->state.loading = true;
  auto handle = caf::actor_cast<account_actor_impl>(self);
  self->state.ctx->deps.store.load(account_id, [handle](auto snap, std::string error) {
    if (snap)
      caf::anon_send(handle, loaded_atom_v, std::move(*snap));
    else
      caf::anon_send(handle, loadfail_atom_v, std::move(error));
  });
}

// Persists `ops`; `done` runs in the actor once they are durable (or not).
void submit(account_self self, std::vector<write_op> ops, std::function<void(write_status)> done,
            bool events_only = false) {
  auto id = self->state.next_write++;
  self->state.writes_in_flight.emplace(id, account_actor_state::write_in_flight{std::move(done), events_only});
  auto handle = caf::actor_cast<account_actor_impl>(self);
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

// The audit events among `writes` (domain/audit.hpp), for their log lines
// and counter once they are on record.
std::vector<audit_event> audit_events_of(const std::vector<write_op>& writes) {
  std::vector<audit_event> out;
  for (auto& w : writes)
    if (w.what == write_op::kind::insert_event) out.push_back(w.event().event);
  return out;
}

// One info line per recorded event (what support greps for), and the counter.
void report_events(const context* ctx, const std::vector<audit_event>& events) {
  for (auto& e : events) {
    ctx->deps.metrics.inc("maxsess_audit_events_total", {{"kind", to_string(e.kind)}});
    std::string holders;
    for (auto& h : e.holders) holders += (holders.empty() ? "" : ",") + h.device_id;
    ctx->deps.log.info("audit", to_string(e.kind),
                       {{"account", e.account_id},
                        {"device", e.device_id},
                        {"reason", e.reason},
                        {"node", e.node},
                        {"max_sessions", e.max_sessions},
                        {"holders_count", static_cast<int64_t>(e.holders.size())},
                        {"holders", holders},
                        {"stream", e.stream},
                        {"streamer_id", e.streamer_id},
                        {"client_ip", e.client_ip}});
  }
}

// Shadow mode's would_deny / would_kill (docs/shadow.md): counted by
// reason once their rows are durable, like the decision they stand for (the
// audit event beside them gives the log line).
void record_shadow(const context* ctx, const std::vector<shadow_note>& notes) {
  for (const auto& n : notes)
    ctx->deps.metrics.inc("maxsess_shadow_decisions_total", {{"decision", to_string(n.what)}, {"reason", n.reason}});
}

void apply(account_self self, side_effects fx, std::function<void(write_status)> done) {
  auto* ctx = self->state.ctx;
  if (fx.over_limit_attempts > 0)
    ctx->deps.metrics.inc("maxsess_over_limit_attempts_total", {}, fx.over_limit_attempts);
  if (!fx.shadow.empty()) {
    // A shadow note always comes with the row it flags (over_limit, a bound
    // second session): recorded once that row is durable.
    done = [ctx, notes = std::move(fx.shadow), done = std::move(done)](write_status st) {
      if (st == write_status::ok) record_shadow(ctx, notes);
      done(st);
    };
  }
  if (fx.writes.empty()) {
    push_kills(ctx, std::move(fx.kills));
    done(write_status::ok);
    return;
  }
  // Logged and counted only once committed: a line is a decision on record
  // (a failed write answers 503 and the caller asks again).
  auto events = audit_events_of(fx.writes);
  const bool events_only = events.size() == fx.writes.size();
  submit(self, std::move(fx.writes),
         [ctx, kills = std::move(fx.kills), events = std::move(events),
          done = std::move(done)](write_status st) mutable {
           if (st == write_status::ok) {
             report_events(ctx, events);
             push_kills(ctx, std::move(kills));
           }
           done(st);
         },
         events_only);
}

// What a sync changed, from every device's status before and after it:
// the first nb and na entries of two lists in device order.
sync_summary compare(const account_state::status_list& before, std::size_t nb,
                     const account_state::status_list& after, std::size_t na) {
  sync_summary sum;
  std::size_t b = 0;
  for (std::size_t a = 0; a < na; ++a) {
    const auto& [device, now] = after[a];
    while (b < nb && before[b].first < device) ++b;
    const bool known = b < nb && before[b].first == device;
    bool was_live = known && holds_slot(before[b].second);
    bool was_killed = known && before[b].second == session_status::killed;
    if (!was_live && holds_slot(now)) ++sum.adopted;
    if (was_live && now == session_status::ended) ++sum.ended;
    if (!was_killed && now == session_status::killed) ++sum.killed;
  }
  return sum;
}

bool idle(account_self self) {
  auto& s = self->state;
  return s.loaded && s.waiting.empty() && s.writes_in_flight.empty() &&
         !s.logic->has_live_sessions();
}

// A wake at `at`, remembered until it comes: an entry in the shard owner's
// schedule (wake_schedule.hpp), whose timer is armed here only when `at`
// comes before every one in flight. A CAF timer per account woke CAF's
// clock thread at every push (issue 7).
void schedule_wake(account_self self, sys_time at) {
  auto& s = self->state;
  s.wakes.insert(std::lower_bound(s.wakes.begin(), s.wakes.end(), at), at);
  if (auto t = s.schedule->add(s.logic->account_id(), at))
    self->delayed_send(s.parent, timer_delay(*t, s.ctx->deps.clock.now()), tick_atom_v,
                       t->time_since_epoch().count());
}

// Arms a timer for the earliest thing to do (an expiry, a progress write, or
// passivation) unless one in flight comes at or before it.
void arm_wake(account_self self) {
  auto& s = self->state;
  if (!s.loaded || s.passivating) return;
  auto next = s.logic->next_deadline();
  if (idle(self)) {
    auto idle_at = s.last_activity + s.ctx->opts.idle_passivate;
    if (!next || idle_at < *next) next = idle_at;
  }
  if (!next || (!s.wakes.empty() && s.wakes.front() <= *next)) return;
  schedule_wake(self, *next);
}

// The auth board: takes the progress of the checks allowed there since the
// last take, before anything else is decided for the account (so every
// decision sees it, as if those checks had come through the mailbox).
void take_progress(account_self self) {
  auto& s = self->state;
  if (!s.on_board || !s.loaded) return;
  auto notes = s.ctx->board->take(s.logic->shard(), s.logic->account_id(), s.board_id);
  if (notes.empty()) return;
  const auto now = s.ctx->deps.clock.now();
  for (auto& n : notes) s.logic->absorb_progress(n, now);
}

// Publishes what the account's state allows from the board now; called at
// the end of every step that may have changed it. Nothing while the state
// is not loaded (or being reloaded after a failed write) or the shard
// leaves: those checks come to the actor.
void publish(account_self self) {
  auto& s = self->state;
  auto* board = s.ctx->board;
  if (board == nullptr) return;
  if (!s.loaded || s.draining) {
    if (s.on_board) board->withdraw(s.logic->shard(), s.logic->account_id(), s.board_id);
    s.on_board = false;
    return;
  }
  // One list per worker thread, written over (never shrunk): once its
  // strings have room, building it allocates nothing; the board copies the
  // first n into the account's page, whose strings keep their room too.
  // board->publish calls nothing back, so the list is not in use twice.
  thread_local std::vector<auth_pass> passes;
  const std::size_t n = s.logic->auth_passes(s.ctx->deps.clock.now(), passes);
  if (n == 0 && !s.on_board) return;  // links and idle accounts: nothing to do
  // What tells this actor to take progress (the board keeps it with a new
  // page): made once, by the first publish that reaches the board, so an
  // account that never plays has none (a std::function holding an actor
  // handle allocates: the handle is not trivially copyable).
  if (!s.board_notify)
    s.board_notify = [handle = caf::actor_cast<caf::actor>(self)] { caf::anon_send(handle, progress_atom_v); };
  auto r = board->publish(s.logic->shard(), s.logic->account_id(), s.board_id, passes.data(), n,
                          s.logic->progress_pending(), s.board_notify);
  s.on_board = r.page;
  if (r.take_now) self->send(self, progress_atom_v);  // progress came meanwhile
}

// Asks the shard owner to let this actor go. It agrees only if it forwarded us
// nothing we have not seen, so no request can be lost or reach a second
// actor. Refused: carry on (arm_wake is a no-op while unloaded).
void ask_to_passivate(account_self self) {
  self->state.passivating = true;
  self->request(self->state.parent, caf::infinite, passivate_atom_v, self->state.handled)
      .then([self](bool agreed) {
        self->state.passivating = false;
        auto& s = self->state;
        if (agreed) return self->quit();
        // Refused: a request was on its way. An actor that holds nothing
        // (its load failed, maybe again for that request while we asked)
        // asks again shortly, or it would stay in memory for good: arm_wake
        // does nothing while unloaded.
        if (!s.loaded && !s.loading && !s.draining && s.writes_in_flight.empty())
          schedule_wake(self, s.ctx->deps.clock.now() + std::chrono::milliseconds(10));
        else
          arm_wake(self);
      });
}

// `deliver` takes the answer: a response promise's, or the HTTP side's
// callback (the direct form of link and auth requests).
template <class T, class F, class D>
void run(account_self self, D deliver, F& f, const T& unavailable) {
  auto& s = self->state;
  side_effects fx;
  T value = f(*s.logic, s.ctx->deps.clock.now(), fx);
  if constexpr (std::is_same_v<T, auth_outcome>) {
    // An auth refusal changes no state; only its audit event is written.
    // Flussonic's answer comes from memory and does not wait for it: with
    // the database down a killed or reused token is still refused
    // (FLUSSONIC.md, docs/operations.md), and the event is lost then
    // (counted in maxsess_audit_events_lost_total).
    const bool events_only =
        !fx.writes.empty() && std::all_of(fx.writes.begin(), fx.writes.end(), [](const write_op& w) {
          return w.what == write_op::kind::insert_event;
        });
    if (events_only) {
      deliver(std::move(value));
      apply(self, std::move(fx), [](write_status) {});
      arm_wake(self);
      return;
    }
  }
  apply(self, std::move(fx),
        [deliver = std::move(deliver), value = std::move(value), unavailable](write_status st) mutable {
          // An approval (or any change) is answered only after its row is durable.
          deliver(st == write_status::ok ? std::move(value) : unavailable);
        });
  arm_wake(self);
}

// Runs a request against the account's state now, or once it is loaded.
template <class T, class F, class D>
void exec_with(account_self self, F f, T unavailable, D deliver) {
  auto& s = self->state;
  ++s.handled;
  s.last_activity = s.ctx->deps.clock.now();
  if (s.draining || !s.ctx->shards->serving(s.logic->shard(), s.last_activity)) {
    deliver(std::move(unavailable));
    return;
  }
  if (!s.loaded) {
    s.waiting.emplace_back([self, deliver, f, unavailable](bool ok) mutable {
      if (ok)
        run(self, std::move(deliver), f, unavailable);
      else
        deliver(std::move(unavailable));
    });
    start_load(self, s.logic->account_id());  // no-op while a load runs
    return;
  }
  take_progress(self);
  run(self, std::move(deliver), f, unavailable);
  publish(self);
}

template <class T, class F>
caf::result<T> exec(account_self self, F f, T unavailable) {
  auto rp = self->make_response_promise<T>();
  exec_with(self, std::move(f), std::move(unavailable), [rp](T v) mutable { rp.deliver(std::move(v)); });
  return rp;
}

template <class T, class F>
void exec_cb(account_self self, F f, T unavailable, std::function<void(T)> cb) {
  exec_with(self, std::move(f), std::move(unavailable),
            [cb = std::move(cb)](T v) { call_back(cb, std::move(v)); });
}

link_outcome link_unavailable() { return unavailable_link("could not record the session; retry"); }

auto link_fn(link_request req) {
  return [req = std::move(req)](account_state& st, sys_time now, side_effects& fx) {
    return st.request_link(req, now, fx);
  };
}

auto auth_fn(auth_request req) {
  return [req = std::move(req)](account_state& st, sys_time now, side_effects& fx) {
    return st.authorize(req, now, fx);
  };
}

// Draining: the actor goes once its last write has an answer (a load still
// running is abandoned; its answer finds no one).
void quit_when_written(account_self self) {
  if (self->state.writes_in_flight.empty()) self->quit();
}

void finish_load(account_self self, bool ok) {
  auto waiting = std::move(self->state.waiting);
  self->state.waiting.clear();
  for (auto& w : waiting) w(ok);
}

account_actor_impl::behavior_type account_actor_fn(account_self self, const context* ctx,
                                                    account_actor_args args) {
  auto& s = self->state;
  s.ctx = ctx;
  s.parent = std::move(args.parent);
  s.schedule = std::move(args.wakes);
  s.last_activity = ctx->deps.clock.now();
  s.board_id = next_board_id.fetch_add(1, std::memory_order_relaxed);
  s.logic = std::make_unique<account_state>(args.account_id, args.shard, args.epoch, ctx->accounts);
  if (args.after_death) {
    // Counted as a write of ours in flight, so start_load waits for it like
    // for our own (whatever the barrier's status: what it waited for was
    // answered), and the last write's answer starts the load.
    const auto id = s.next_write++;
    s.writes_in_flight.emplace(id, account_actor_state::write_in_flight{[](write_status) {}});
    ctx->deps.store.after_writes(args.account_id,
                                 [handle = caf::actor_cast<account_actor_impl>(self), id](write_status) {
                                   caf::anon_send(handle, written_atom_v, id, write_status::ok);
                                 });
  }
  if (args.preloaded) {
    s.loading = true;  // requests wait for this message, first in the mailbox
    self->send(self, loaded_atom_v, std::move(*args.preloaded));
  } else {
    start_load(self, args.account_id);
  }
  return {
      [=](link_atom, link_request& req) -> caf::result<link_outcome> {
        return exec<link_outcome>(self, link_fn(std::move(req)), link_unavailable());
      },
      [=](link_atom, link_request& req, account_service::link_cb& cb) {
        exec_cb<link_outcome>(self, link_fn(std::move(req)), link_unavailable(), std::move(cb));
      },
      [=](end_atom, std::string& device, bool kill) -> caf::result<end_result> {
        return exec<end_result>(
            self,
            [device = std::move(device), kill](account_state& st, sys_time now, side_effects& fx) {
              return st.end_session(device, kill, now, fx);
            },
            end_result::unavailable);
      },
      [=](get_atom) -> caf::result<account_answer> {
        return exec<account_answer>(
            self, [](account_state& st, sys_time, side_effects&) { return std::optional{st.view()}; },
            std::nullopt);
      },
      [=](put_atom, account_settings& settings) -> caf::result<account_answer> {
        return exec<account_answer>(
            self,
            [settings](account_state& st, sys_time, side_effects& fx) {
              st.put_settings(settings, fx.writes);
              return std::optional{st.view()};
            },
            std::nullopt);
      },
      [=](del_atom) -> caf::result<end_result> {
        return exec<end_result>(
            self,
            [](account_state& st, sys_time now, side_effects& fx) { return st.remove_account(now, fx); },
            end_result::unavailable);
      },
      [=](auth_atom, auth_request& req) -> caf::result<auth_outcome> {
        return exec<auth_outcome>(self, auth_fn(std::move(req)), auth_outcome{auth_result::unavailable});
      },
      [=](auth_atom, auth_request& req, account_service::auth_cb& cb) {
        exec_cb<auth_outcome>(self, auth_fn(std::move(req)), auth_outcome{auth_result::unavailable},
                              std::move(cb));
      },
      [=](play_atom, play_batch& events) -> caf::result<bool> {
        // One step for all of them: one write group, one durable answer.
        return exec<bool>(
            self,
            [events = std::move(events)](account_state& st, sys_time now, side_effects& fx) {
              for (auto& e : events) st.on_play(e.device_id, e.report, now, fx);
              return true;
            },
            false);
      },
      [=](sync_atom, int64_t streamer_id, seen_list& seen, string_list& listed, sys_time listed_at)
          -> caf::result<sync_summary> {
        return exec<sync_summary>(
            self,
            [streamer_id, seen = std::move(seen), listed = std::move(listed), listed_at](
                account_state& st, sys_time now, side_effects& fx) {
              // Reused per worker thread: a step's lists allocate nothing
              // once their strings have room (issue 7: two maps of copied
              // device ids per account were 4 % of a sync's CPU).
              thread_local account_state::status_list before, after;
              const std::size_t nb = st.statuses(before);
              st.on_sync(streamer_id, seen, listed, listed_at, now, fx);
              return compare(before, nb, after, st.statuses(after));
            },
            sync_summary{});
      },
      [=](closed_atom, std::string& device, string_list& ids) -> caf::result<bool> {
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
      [=](progress_atom) {
        // Checks allowed from the board left progress: into the state now,
        // written within progress_write_delay like any other.
        take_progress(self);
        arm_wake(self);
        publish(self);
      },
      [=](loaded_atom, storage::account_snapshot& snap) {
        auto& s = self->state;
        if (s.draining) return quit_when_written(self);
        std::vector<write_op> ops;
        s.logic->load(snap, s.ctx->deps.clock.now(), ops);
        s.loaded = true;
        s.loading = false;
        if (!ops.empty()) submit(self, std::move(ops), [](write_status) {});
        finish_load(self, true);
        arm_wake(self);
        publish(self);
      },
      [=](loadfail_atom, std::string& error) {
        // One line per interval, not per request, while the database is down.
        self->state.ctx->deps.log.error_repeated("account", "cannot load account state",
                                        {{"account", self->state.logic->account_id()},
                                         {"error", error}});
        // Refuse what waited (503, the caller retries); the next request
        // starts a new load rather than deciding on unknown state. With
        // nothing to decide on, the actor leaves memory if the shard owner agrees
        // (no request on its way): a failed load must not pin an actor.
        auto& s = self->state;
        s.loading = false;
        if (s.draining) return quit_when_written(self);
        finish_load(self, false);
        if (!s.passivating && s.writes_in_flight.empty()) ask_to_passivate(self);
      },
      [=](written_atom, uint64_t id, write_status st) {
        auto& s = self->state;
        auto i = s.writes_in_flight.find(id);
        if (i == s.writes_in_flight.end()) return;
        auto done = std::move(i->second.done);
        const bool events_only = i->second.events_only;
        s.writes_in_flight.erase(i);
        done(st);
        if (st == write_status::fenced) {
          // Another node holds the shard's lease now: this node must stop
          // deciding for it. The shard owner hears of it and lets it go.
          s.ctx->deps.metrics.inc("maxsess_fenced_writes_total");
          if (s.ctx->opts.on_fenced) s.ctx->opts.on_fenced(s.logic->shard(), s.logic->epoch());
        }
        if (s.draining) return quit_when_written(self);
        if (st == write_status::failed && events_only) {
          // Only audit events were lost; the state is unchanged.
          s.ctx->deps.metrics.inc("maxsess_audit_events_lost_total");
          s.ctx->deps.log.warn_repeated("audit", "audit event not recorded (database unavailable)",
                                        {{"account", s.logic->account_id()}});
        } else if (st != write_status::ok) {
          // Memory and database may now disagree: reload from the database
          // (requests wait meanwhile) rather than decide on unsaved state.
          s.ctx->deps.log.warn_repeated("account", "write not applied; reloading account state",
                               {{"account", s.logic->account_id()},
                                {"status", storage::to_string(st)}});
          s.loaded = false;
        }
        // Reload once nothing of ours is in flight any more.
        if (!s.loaded) start_load(self, s.logic->account_id());
        arm_wake(self);
        publish(self);  // withdrawn while the state reloads
      },
      [=](drain_atom) {
        auto& s = self->state;
        if (s.loaded && !s.draining) {
          take_progress(self);
          // What waited in memory lands before the shard goes.
          std::vector<write_op> ops;
          s.logic->flush_progress(ops);
          if (!ops.empty()) submit(self, std::move(ops), [](write_status) {});
        }
        s.draining = true;
        publish(self);  // withdrawn: checks go where the shard's requests go now
        finish_load(self, false);  // what waits for a load is refused
        quit_when_written(self);
      },
      [=](wake_atom, sys_time::rep at) {
        auto& s = self->state;
        auto& w = s.wakes;
        if (auto i = std::find(w.begin(), w.end(), sys_time(sys_time::duration(at))); i != w.end())
          w.erase(i);
        if (!s.loaded && !s.loading && !s.passivating && !s.draining && s.writes_in_flight.empty())
          return ask_to_passivate(self);  // a failed load, see ask_to_passivate
        if (!s.loaded || s.passivating || s.draining) return;
        take_progress(self);  // last seen, before stale_after is judged
        auto now = s.ctx->deps.clock.now();
        std::vector<write_op> ops;
        s.logic->expire(now, ops);
        if (!ops.empty()) submit(self, std::move(ops), [](write_status) {});
        publish(self);
        if (idle(self) && now >= s.last_activity + s.ctx->opts.idle_passivate) {
          ask_to_passivate(self);
          return;
        }
        arm_wake(self);
      },
  };
}

}  // namespace

// One of these per account in memory: its size class is most of what an
// account costs beside its sessions (docs/performance.md, "Twentieth
// round"). 1 280 is mimalloc's size class it fits now (1 240 bytes with
// CAF 0.17.6 on Debian 12); the next is 1 536, 64 bytes more per held
// session at four devices per account.
static_assert(sizeof(caf::actor_storage<std::remove_pointer_t<account_self>>) <= 1280,
              "an account actor outgrew its allocation size class: see docs/performance.md, Twentieth round");

account_actor spawn_account_actor(caf::actor_system& sys, const context* ctx, account_actor_args args) {
  return sys.spawn(account_actor_fn, ctx, std::move(args));
}

}  // namespace maxsess::actors
