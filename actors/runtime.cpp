// The actor runtime: the CAF system, one owner actor per shard, and the two
// doors the HTTP side comes in by (account_service, streamer_side). On a
// single node every shard is owned here with epoch 1 for good.
#include "actors/runtime.hpp"

#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include "actors/account_actor.hpp"
#include "actors/context.hpp"
#include "actors/runtime_hooks.hpp"
#include "actors/shard_owner.hpp"
#include "actors/shard_table.hpp"
#include "domain/thread_name.hpp"

namespace maxsess::actors {

namespace {

// Asks `dest` from a short-lived actor of its own and hands the answer (or
// on_error's, when there is none in time) to the callback. One actor per call
// rather than a node-wide gateway: no mailbox that every request passes
// through (measured as cheap as a gateway, CAF-0.17.md).
template <class T, class Cb, class OnError, class... Ts>
void ask(caf::actor_system& sys, shard_actor dest, std::chrono::milliseconds timeout, Cb cb,
         OnError on_error, Ts... xs) {
  sys.spawn([=](caf::event_based_actor* self) mutable {
    self->request(dest, timeout, std::move(xs)...)
        .then([cb](T& v) { call_back(cb, std::move(v)); },
              [cb, on_error](caf::error& e) { call_back(cb, on_error(e)); });
  });
}

template <class T>
auto constant(T value) {
  return [value](const caf::error&) { return value; };
}

// A callback that is answered exactly once even when its message is lost: a
// direct request sent to an owner that quit meanwhile (a handoff) is dropped
// with its callback, and the last copy going away answers `on_drop`.
// `expire` (optional) receives a function that answers `on_drop` now unless
// an answer came first (a deadline).
template <class T>
std::function<void(T)> answered_once(std::function<void(T)> cb, T on_drop,
                                     std::function<void()>* expire = nullptr) {
  struct guard {
    guard(std::function<void(T)> c, T d) : cb(std::move(c)), on_drop(std::move(d)) {}
    guard(const guard&) = delete;  // one guard, one answer
    ~guard() {
      if (!done.exchange(true)) call_back(cb, std::move(on_drop));
    }
    std::function<void(T)> cb;
    T on_drop;
    std::atomic<bool> done{false};  // the owner's thread and the deadline's race for it
  };
  auto g = std::make_shared<guard>(std::move(cb), std::move(on_drop));
  if (expire)
    *expire = [w = std::weak_ptr<guard>(g)] {
      if (auto g = w.lock())
        if (!g->done.exchange(true)) call_back(g->cb, g->on_drop);
    };
  return [g](T v) {
    if (g->done.exchange(true)) return;
    call_back(g->cb, std::move(v));
  };
}

// Deadlines of direct auth requests: one thread for all of them, woken at
// the oldest one (all have the same length, so they expire in the order they
// were added), instead of a CAF request timeout each. An auth check without
// an answer by then must be answered `unavailable` (the HTTP side allows a
// valid token), not left to the HTTP server's 503.
class deadline_line {
 public:
  explicit deadline_line(std::chrono::milliseconds after) : after_(after) {
    thread_ = std::thread([this] {
      name_this_thread("auth-deadlines");
      run();
    });
  }
  ~deadline_line() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }
  void add(std::function<void()> expire) {
    std::lock_guard lock(mutex_);
    bool was_empty = line_.empty();
    line_.push_back({std::chrono::steady_clock::now() + after_, std::move(expire)});
    if (was_empty) wake_.notify_one();
  }

 private:
  void run() {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
      if (line_.empty()) {
        wake_.wait(lock);
        continue;
      }
      auto due = line_.front().first;
      if (std::chrono::steady_clock::now() < due) {
        wake_.wait_until(lock, due);
        continue;
      }
      auto expire = std::move(line_.front().second);
      line_.pop_front();
      lock.unlock();
      expire();  // a no-op when the answer came first
      lock.lock();
    }
  }

  std::chrono::milliseconds after_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::pair<std::chrono::steady_clock::time_point, std::function<void()>>> line_;
  bool stopping_ = false;
  std::thread thread_;
};

class actor_account_service final : public account_service {
 public:
  actor_account_service(caf::actor_system& sys, const context& ctx, const shard_table& table)
      : sys_(sys), ctx_(ctx), table_(table), auth_deadlines_(ctx.opts.request_timeout) {}
  // Link and auth requests go straight to a local owner (see
  // local_shard_actor); a remote owner is asked.
  void request_link(link_request req, link_cb done) override {
    const int shard = shard_of(req.account_id, ctx_.opts.shards);
    if (auto local = table_.locate_local(shard)) {
      auto cb = answered_once<link_outcome>(std::move(done), unavailable_link("owner gone; retry"));
      caf::anon_send(local, link_atom_v, std::move(req), std::move(cb));
      return;
    }
    ask<link_outcome>(sys_, table_.locate(shard), timeout(), std::move(done),
                      [](const caf::error& e) { return unavailable_link("no answer: " + caf::to_string(e)); },
                      link_atom_v, std::move(req));
  }
  void end_session(std::string account_id, std::string device_id, bool kill, end_cb done) override {
    auto dest = ctx_.owner_of(account_id);
    ask<end_result>(sys_, dest, timeout(), std::move(done), constant(end_result::unavailable),
                    end_atom_v, std::move(account_id), std::move(device_id), kill);
  }
  void get_account(std::string account_id, view_cb done) override {
    auto dest = ctx_.owner_of(account_id);
    ask<account_answer>(sys_, dest, timeout(), std::move(done), constant(account_answer{}),
                        get_atom_v, std::move(account_id));
  }
  void put_account(account_settings settings, view_cb done) override {
    auto dest = ctx_.owner_of(settings.account_id);
    ask<account_answer>(sys_, dest, timeout(), std::move(done), constant(account_answer{}),
                        put_atom_v, std::move(settings));
  }
  void delete_account(std::string account_id, end_cb done) override {
    auto dest = ctx_.owner_of(account_id);
    ask<end_result>(sys_, dest, timeout(), std::move(done), constant(end_result::unavailable),
                    del_atom_v, std::move(account_id));
  }
  void authorize(auth_request req, auth_cb done) override {
    const int shard = shard_of(req.account_id, ctx_.opts.shards);
    if (auto local = table_.locate_local(shard)) {
      // A check that decides nothing new (a session playing on) is allowed
      // from what its account actor published (auth_board.hpp): no hop to
      // the actor and back, no deadline. Not while the shard's lease is not
      // served here (the actor would answer unavailable).
      const auto now = ctx_.deps.clock.now();
      std::function<void()> notify;
      if (table_.serving(shard, now) && ctx_.board->try_allow(shard, req, now, notify)) {
        if (notify) notify();
        call_back(done, auth_outcome{auth_result::allow});
        return;
      }
      std::function<void()> expire;
      auto cb = answered_once<auth_outcome>(std::move(done), auth_outcome{auth_result::unavailable},
                                            &expire);
      auth_deadlines_.add(std::move(expire));
      caf::anon_send(local, auth_atom_v, std::move(req), std::move(cb));
      return;
    }
    ask<auth_outcome>(sys_, table_.locate(shard), timeout(), std::move(done),
                      constant(auth_outcome{auth_result::unavailable}), auth_atom_v, std::move(req));
  }

 private:
  std::chrono::milliseconds timeout() const { return ctx_.opts.request_timeout; }
  caf::actor_system& sys_;
  const context& ctx_;
  const shard_table& table_;
  deadline_line auth_deadlines_;
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
  void stop_jobs() override { caf::anon_send(supervisor_, stop_atom_v, true); }

 private:
  caf::actor webhook_;
  caf::actor supervisor_;
};

// CAF's own threads as caf-0, caf-1... and caf-clock. CAF 0.17.6 names them
// itself just before calling the hook, but gives its scheduler workers and
// the middleman's network loop the same name ("caf.multiplexer"), so only its
// clock's name says what the thread is.
class name_caf_threads final : public caf::thread_hook {
 public:
  void init(caf::actor_system&) override {}
  void thread_started() override {
    name_this_thread(this_thread_name() == "caf.clock" ? "caf-clock" : "caf-" + std::to_string(next_++));
  }
  void thread_terminates() override {}

 private:
  std::atomic<int> next_{0};
};

caf::actor_system_config make_config(const runtime_options& opts) {
  caf::actor_system_config cfg;
  cfg.add_thread_hook<name_caf_threads>();
  cfg.set("scheduler.max-threads", static_cast<size_t>(std::max(1, opts.scheduler_threads)));
  cfg.set("scheduler.policy",
          opts.scheduler_policy == "sharing" ? caf::atom("sharing") : caf::atom("stealing"));
  if (opts.configure) opts.configure(cfg);  // cluster: the middleman; tests: the scheduler
  return cfg;
}

}  // namespace

struct actor_runtime::impl {
  impl(runtime_options opts, runtime_deps deps)
      : ctx{std::move(opts), deps, nullptr, {}, {}, nullptr, nullptr, {}},
        board(ctx.opts.shards, ctx.opts.decisions.stale_after),
        placement(!ctx.opts.cluster),
        cfg(make_config(ctx.opts)),
        system(cfg),
        table(ctx.opts.shards, spawn_nobody(system)),
        hooks{system, table, ctx, [this](int shard, int64_t epoch) { return own(shard, epoch); },
              [this](int shard) { return disown(shard); },
              [this](int shard) { return local_owner(shard); }, placement} {
    ctx.shards = &table;
    ctx.board = &board;
    ctx.accounts = std::make_shared<const account_common>(
        account_common{ctx.opts.decisions, ctx.deps.signer, ctx.deps.streamers,
                       ctx.opts.cluster ? ctx.opts.node_id : std::string{}});
    ctx.placement = &placement;
    ctx.nobody = table.nobody();
    // Single node: every shard is owned here for good.
    if (!ctx.opts.cluster)
      for (int shard = 0; shard < ctx.opts.shards; ++shard) own(shard, ctx.opts.epoch);
    supervisor = spawn_streamer_supervisor(system, &ctx);
    ctx.supervisor = supervisor;
    webhook = spawn_webhook_actor(system, &ctx);
    service = std::make_unique<actor_account_service>(system, ctx, table);
    streamer_service = std::make_unique<actor_streamer_side>(webhook, supervisor);
  }

  local_shard_actor own(int shard, int64_t epoch) {
    local_shard_actor predecessor;
    {
      std::lock_guard lock(mutex);
      auto i = retired.find(shard);
      if (i != retired.end()) {
        predecessor = i->second;
        retired.erase(i);
      }
    }
    auto owner = spawn_shard_owner(system, &ctx, {shard, epoch, predecessor});
    {
      std::lock_guard lock(mutex);
      owners[shard] = owner;
    }
    table.route_local(shard, owner);
    return owner;
  }

  // Requests go to nobody from now on; the caller drains the old owner.
  local_shard_actor disown(int shard) {
    table.route_to_nobody(shard);
    std::lock_guard lock(mutex);
    auto i = owners.find(shard);
    if (i == owners.end()) return {};
    auto owner = i->second;
    owners.erase(i);
    retired[shard] = owner;  // a later own() of the shard waits for it
    return owner;
  }

  local_shard_actor local_owner(int shard) {
    std::lock_guard lock(mutex);
    auto i = owners.find(shard);
    return i == owners.end() ? local_shard_actor{} : i->second;
  }

  std::vector<local_shard_actor> all_owners() {
    std::lock_guard lock(mutex);
    std::vector<local_shard_actor> out;
    for (auto& kv : owners) out.push_back(kv.second);
    return out;
  }

  context ctx;
  auth_board board;  // before the actor system: account actors withdraw from it as they go
  streamer_placement placement;
  caf::actor_system_config cfg;
  caf::actor_system system;
  shard_table table;
  runtime_hooks hooks;
  std::mutex mutex;
  std::map<int, local_shard_actor> owners;   // shards owned here now
  std::map<int, local_shard_actor> retired;  // their last owner, draining or gone
  caf::actor supervisor;
  caf::actor webhook;
  std::unique_ptr<actor_account_service> service;
  std::unique_ptr<actor_streamer_side> streamer_service;
  bool stopped = false;
};

actor_runtime::actor_runtime(runtime_options opts, runtime_deps deps)
    : impl_(std::make_unique<impl>(std::move(opts), deps)) {}

actor_runtime::~actor_runtime() { shutdown(); }

account_service& actor_runtime::accounts() { return *impl_->service; }

streamer_side& actor_runtime::streamers() { return *impl_->streamer_service; }

runtime_hooks& actor_runtime::hooks() { return impl_->hooks; }

std::size_t actor_runtime::live_accounts() {
  if (impl_->stopped) return 0;
  caf::scoped_actor self{impl_->system};
  std::size_t n = 0;
  for (auto& owner : impl_->all_owners())
    self->request(owner, std::chrono::seconds(5), count_atom_v)
        .receive([&](uint64_t count) { n += count; }, [&](caf::error&) {});
  return n;
}

uint64_t actor_runtime::auth_checks_from_board() const { return impl_->board.allowed(); }

void actor_runtime::shutdown() {
  if (impl_->stopped) return;
  impl_->stopped = true;
  caf::anon_send(impl_->supervisor, stop_atom_v);
  caf::anon_send_exit(impl_->webhook, caf::exit_reason::user_shutdown);
  for (auto& owner : impl_->all_owners()) caf::anon_send(owner, stop_atom_v);
  caf::anon_send_exit(impl_->table.nobody(), caf::exit_reason::user_shutdown);
  impl_->system.await_all_actors_done();
}

}  // namespace maxsess::actors
