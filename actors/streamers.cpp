// The streamer side (PRODUCT.md §3, §6): the webhook actor, one streamer
// actor per registered streamer (sync, kill, pushed kills), and the
// supervisor that starts/stops them and runs jobs. Blocking work (the
// Flussonic API, database reads) runs on each streamer's own worker thread;
// results come back to the actor as continuations, so actor threads never
// block and one slow streamer stalls nobody else.
#include <algorithm>
#include <cstdio>
#include <deque>
#include <future>
#include <map>
#include <optional>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "actors/context.hpp"
#include "actors/critical.hpp"
#include "actors/streamer_backoff.hpp"
#include "actors/sync_fanout.hpp"
#include "actors/sync_listing.hpp"
#include "actors/webhook_events.hpp"
#include "domain/worker.hpp"

namespace maxsess::actors {

using namespace maxsess::atoms;

namespace {

constexpr auto account_timeout = std::chrono::seconds(10);

// Runs a database job from a worker thread and waits for it (the worker may
// block; actors may not).
template <class T>
T db_call(const context* ctx, std::function<T(storage::session_store&)> f) {
  if (!ctx->deps.db) throw storage::storage_error("no database configured");
  auto p = std::make_shared<std::promise<T>>();
  auto fut = p->get_future();
  ctx->deps.db->post(
      [p, f](storage::session_store& s) {
        try {
          p->set_value(f(s));
        } catch (...) {
          p->set_exception(std::current_exception());
        }
      },
      [p](const std::string& e) {
        try {
          throw storage::storage_error(e);
        } catch (...) {
          p->set_exception(std::current_exception());
        }
      });
  if (fut.wait_for(std::chrono::seconds(30)) != std::future_status::ready)
    throw storage::storage_error("database did not answer in 30 s");
  return fut.get();
}

// Who a token belongs to: our signed tokens say it themselves; securetoken
// links are looked up in the database (their token is stored in the row).
struct token_owner {
  std::string account_id;
  std::string device_id;
  std::optional<sys_time> issued_at;  // signed tokens only
};

std::optional<token_owner> owner_of_signed(const context* ctx, const std::string& token) {
  if (!is_signed_token(token)) return std::nullopt;
  auto v = ctx->deps.signer.verify(token, ctx->deps.clock.now(), false);
  if (auto* c = std::get_if<token_claims>(&v))
    return token_owner{c->account_id, c->device_id, issued_at(*c, ctx->opts.decisions.link_ttl)};
  return std::nullopt;
}

play_report report_of(listed_session&& l, int64_t streamer_id) {
  play_report r;
  r.what = play_report::kind::listed;
  r.session_id = std::move(l.id);
  r.stream = std::move(l.name);
  r.ip = std::move(l.ip);
  r.token = std::move(l.token);
  r.bytes = l.bytes;
  r.duration = l.duration;
  r.at = l.updated_at;
  r.streamer_id = streamer_id;
  return r;
}

// Shutdown must not wait for a row of kills to finish.
void check_stop(const worker* io) {
  if (io != nullptr && io->stopping()) throw flussonic_error("stopping");
}

// The limits every listing of a streamer runs under (sync and kill alike):
// the cap, the deadline, and the worker being told to stop (shutdown, the
// streamer removed).
listing_limits limits_of(const context* ctx, int batch, std::chrono::steady_clock::time_point deadline,
                         const worker* io) {
  listing_limits l;
  l.batch = batch;
  l.max_sessions = ctx->opts.sync_max_sessions;
  l.deadline = deadline;
  l.stopping = [io] { return io != nullptr && io->stopping(); };
  return l;
}

std::chrono::steady_clock::time_point deadline_of(const context* ctx) {
  auto t = ctx->opts.sync_timeout;
  if (t.count() <= 0) return std::chrono::steady_clock::time_point::max();
  return std::chrono::steady_clock::now() + t;
}

// --- webhook actor -----------------------------------------------------------

struct webhook_state {
  const context* ctx = nullptr;
  std::map<std::string, std::optional<token_owner>> cache;  // securetoken -> owner
  // Our signed tokens already verified -> their owner. A playing session
  // posts the same token in every event, and its HMAC check (with the
  // base64 decoding around it) was 8 % of the daemon's CPU per webhook
  // event (issue 7). Safe to remember: a token's claims never change, the
  // signing keys are not reloaded (SIGHUP keeps them), and expiry is not
  // checked for events. Bounded like `cache`.
  std::unordered_map<std::string, token_owner> verified;
  static inline const char* name = "maxsess.webhook";
};

constexpr std::size_t webhook_cache_max = 100000;

std::optional<token_owner> owner_of_event_token(webhook_state& st, const std::string& token) {
  if (!is_signed_token(token)) return std::nullopt;
  if (auto i = st.verified.find(token); i != st.verified.end()) return i->second;
  auto who = owner_of_signed(st.ctx, token);
  if (who) {
    if (st.verified.size() >= webhook_cache_max) st.verified.clear();
    st.verified.emplace(token, *who);
  }
  return who;
}

using webhook_actor = caf::stateful_actor<webhook_state>;

// A batch's answer, counted down by its owners' answers.
struct webhook_tally {
  size_t left = 0;
  bool ok = true;
  webhook_result res;
  streamer_side::webhook_cb cb;
};
using owner_batches = std::map<caf::actor_addr, std::pair<shard_actor, play_batch>>;

void route(webhook_actor* self, owner_batches by_owner, std::shared_ptr<webhook_tally> t);

// Journals the batch's progress, then routes its events to their accounts'
// owners, one message per owner (a shard owner here, or a peer node), and
// answers the sink only once every owner made its events durable: a 5xx
// otherwise, so that Flussonic resends (the owners skip what they already
// applied).
void dispatch(webhook_actor* self, int64_t streamer_id, std::vector<webhook_event> events,
              webhook_result res, streamer_side::webhook_cb cb) {
  auto* ctx = self->state.ctx;
  owner_batches by_owner;
  std::map<std::string, double> per_type;  // counted once per batch, not per event
  // The progress every event reports, durable before any account sees it
  // (migration 011): an account may then answer a progress-only event from
  // memory and write its row later, coalesced.
  std::vector<storage::write_op> journal;
  journal.reserve(events.size());  // a write_op is large: no reallocation
  const sys_time received = ctx->deps.clock.now();
  for (auto& ev : events) {
    std::optional<token_owner> who = owner_of_event_token(self->state, ev.report.token);
    if (!who && !ev.report.token.empty()) {
      auto i = self->state.cache.find(ev.report.token);
      if (i != self->state.cache.end()) who = i->second;
    }
    if (!who) {
      ++res.untracked;
      ctx->deps.metrics.inc("maxsess_untracked_sessions_total", {{"source", "webhook"}});
      if (ctx->deps.log.enabled(log_level::debug))
        ctx->deps.log.debug("webhook", "event without a known token", {{"event", ev.name}, {"session", ev.report.session_id}});
      continue;
    }
    if (ctx->deps.log.enabled(log_level::debug))
      ctx->deps.log.debug("webhook", "event", {{"event", ev.name}, {"account", who->account_id},
                                              {"device", who->device_id}, {"session", ev.report.session_id},
                                              {"bytes", ev.report.bytes}});
    ev.report.streamer_id = streamer_id;
    ev.report.token_issued_at = who->issued_at;
    ++res.events;
    per_type[ev.name] += 1;
    // Journaled whatever this node's progress_write_delay: the owner may be
    // another node, which coalesces by its own (protocol 3 says a routed
    // batch was journaled).
    if (ev.report.what != play_report::kind::closed)
      journal.push_back(storage::write_op::of(storage::progress_entry{
          who->account_id, who->device_id, ev.report.session_id, std::min(ev.report.at.value_or(received), received),
          ev.report.bytes, ev.report.duration}));
    auto owner = ctx->owner_of(who->account_id);
    auto& slot = by_owner[owner.address()];
    slot.first = owner;
    slot.second.push_back({who->account_id, who->device_id, std::move(ev.report), ev.event_id});
  }
  for (auto& [type, n] : per_type) ctx->deps.metrics.inc("maxsess_webhook_events_total", {{"type", type}}, n);
  if (by_owner.empty()) return call_back(cb, res);
  using tally = webhook_tally;
  auto t = std::make_shared<tally>();
  t->left = by_owner.size();
  t->res = res;
  t->cb = std::move(cb);
  if (!journal.empty()) {
    // Routed once the journal row committed; not at all when it failed
    // (503: the sink resends the batch).
    auto handle = caf::actor_cast<caf::actor>(self);
    auto owners = std::make_shared<decltype(by_owner)>(std::move(by_owner));
    ctx->deps.store.write(std::move(journal), [handle, self, t, owners](storage::write_status st) {
      std::function<void()> k = [self, t, owners, st] {
        if (st != storage::write_status::ok) {
          t->res.result = webhook_result::status::unavailable;
          return call_back(t->cb, t->res);
        }
        route(self, std::move(*owners), t);
      };
      caf::anon_send(handle, run_atom_v, std::move(k));
    });
    return;
  }
  route(self, std::move(by_owner), t);
}

void route(webhook_actor* self, owner_batches by_owner, std::shared_ptr<webhook_tally> t) {
  auto* ctx = self->state.ctx;
  auto answered = [ctx, t](int32_t duplicates) {
    if (duplicates < 0)
      t->ok = false;
    else
      t->res.duplicates += duplicates;
    if (--t->left > 0) return;
    if (!t->ok) t->res.result = webhook_result::status::unavailable;
    t->res.events -= t->res.duplicates;
    if (t->res.duplicates > 0)
      ctx->deps.metrics.inc("maxsess_webhook_events_duplicate_total", {}, t->res.duplicates);
    call_back(t->cb, t->res);
  };
  // A local owner answers or quits (an error then), so no CAF timeout: a
  // request timeout is a clock entry and a wake-up of CAF's clock thread
  // for each owner of each batch (≈ 17 % of the daemon's CPU on webhooks,
  // issue 7). The HTTP server's handler deadline still answers the sink
  // 503 when an answer is late. A peer node may hang: its requests keep
  // their timeout.
  for (auto& [addr, slot] : by_owner) {
    const bool local = slot.first.node() == self->node();
    self->request(slot.first, local ? caf::duration{caf::infinite} : caf::duration{account_timeout}, play_atom_v,
                  std::move(slot.second))
        .then(answered, [answered](caf::error&) { answered(-1); });
  }
}

caf::behavior webhook_fn(webhook_actor* self, const context* ctx) {
  guard_critical(self, *ctx, "webhook actor");
  self->state.ctx = ctx;
  return {
      [=](hook_atom, std::string& host, std::string& body, streamer_side::webhook_cb& cb) {
        webhook_result res;
        auto st = ctx->deps.streamers.find_by_host(host);
        if (!st) {
          res.result = webhook_result::status::unknown_host;
          return call_back(cb, res);
        }
        auto batch = parse_webhook_batch(body);
        if (!batch.json) {
          res.result = webhook_result::status::not_json;
          return call_back(cb, res);
        }
        res.malformed = batch.malformed;
        res.ignored = batch.ignored;
        if (batch.malformed > 0)
          ctx->deps.metrics.inc("maxsess_webhook_events_malformed_total", {}, batch.malformed);
        // Redeliveries are recognised by the owners (they remember what they
        // applied), not here: an event is forgotten unless it was applied.
        std::vector<webhook_event> fresh = std::move(batch.events);
        // Tokens that are neither ours nor cached: one database look-up for
        // the batch, then dispatch (in this actor again). The HTTP answer
        // goes out only once the events are durable, so a sink that posts
        // batch after batch (Flussonic's event_sink waits for each answer)
        // keeps its order.
        std::vector<std::string> unknown;
        for (auto& ev : fresh)
          if (!ev.report.token.empty() && !is_signed_token(ev.report.token) &&
              !self->state.cache.count(ev.report.token))
            unknown.push_back(ev.report.token);
        if (unknown.empty() || !ctx->deps.db) return dispatch(self, st->id, std::move(fresh), res, cb);
        auto handle = caf::actor_cast<caf::actor>(self);
        ctx->deps.db->post(
            [=](storage::session_store& db) mutable {
              auto found = db.resolve_tokens(unknown);
              std::function<void()> k = [=]() mutable {
                auto& cache = self->state.cache;
                if (cache.size() > webhook_cache_max) cache.clear();
                for (auto& t : unknown) {
                  auto i = found.find(t);
                  cache[t] = i == found.end() ? std::nullopt
                                              : std::optional<token_owner>{{i->second.first, i->second.second, std::nullopt}};
                }
                dispatch(self, st->id, std::move(fresh), res, cb);
              };
              caf::anon_send(handle, run_atom_v, std::move(k));
            },
            [=](const std::string&) mutable {
              std::function<void()> k = [=]() mutable { dispatch(self, st->id, std::move(fresh), res, cb); };
              caf::anon_send(handle, run_atom_v, std::move(k));
            });
      },
      [=](run_atom, std::function<void()>& k) { k(); },
  };
}

// --- streamer actor ----------------------------------------------------------

enum run_kind : int { sync_run = 0, kill_run = 1 };

// What a sync's listing hands to the streamer actor at its end (the pages
// went before it, one message each): how it ended, and the accounts that
// believed they play here when it started (each is told the end even if
// the streamer lists nothing for it: that is how "gone" is found).
struct sync_listing {
  std::vector<std::string> believers;
  listing_outcome listing;
  int untracked = 0;
};

// At most this many accounts are being told a sync's result at once: each
// answer lets the next one go, so the shard owners and account actors never
// hold a whole sync in their mailboxes and link decisions keep their turn.
constexpr std::size_t sync_window = 2048;

struct streamer_state {
  const context* ctx = nullptr;
  streamer s;
  // Blocking calls (Flussonic API, database) run here. Owned by the
  // supervisor, which outlives every streamer actor: an actor must never
  // join a thread that may be inside a 5 s HTTP timeout.
  worker* io = nullptr;
  // The one failure state of this streamer: fed by every real API call
  // (sync, kill run, pushed kill), nothing else.
  streamer_backoff backoff;
  // When each timer ticks next (armed: the timer runs at all), so that the
  // retry time logged is the one the timers will really make.
  sys_time next_tick[2] = {};
  bool armed[2] = {false, false};
  bool running[2] = {false, false};
  std::vector<caf::typed_response_promise<streamer_run>> waiters[2];
  // Pushed kills: at most one push on the worker at a time; orders that
  // come meanwhile wait here and go together in the next one. Without
  // this, each kill of a hanging streamer queued one more API timeout
  // (5 s) ahead of every sync and kill job of that streamer.
  bool pushing = false;
  std::vector<kill_order> to_push;
  static inline const char* name = "maxsess.streamer";
};

using streamer_actor = caf::stateful_actor<streamer_state>;

// Posts blocking work; `then` runs back in the actor with its result.
// `failed` learns why, and whether it was the Flussonic API that failed
// (flussonic_error) rather than, say, the database.
template <class T>
void offload(streamer_actor* self, std::function<T()> work, std::function<void(T)> then,
             std::function<void(std::string, bool api)> failed) {
  // A stopped worker drops what is posted: answer now, or a job would wait
  // for a run that never comes.
  if (self->state.io->stopping()) return failed("stopped: the daemon is shutting down", false);
  auto handle = caf::actor_cast<caf::actor>(self);
  self->state.io->post([handle, self, work, then, failed] {
    std::function<void()> k;
    try {
      auto value = std::make_shared<T>(work());
      k = [then, value] { then(std::move(*value)); };
    } catch (const flussonic_error& e) {
      std::string why = e.what();
      k = [failed, why] { failed(why, true); };
    } catch (const std::exception& e) {
      std::string why = e.what();
      k = [failed, why] { failed(why, false); };
    }
    caf::anon_send(handle, run_atom_v, std::move(k));
  });
}


std::string seconds_text(std::chrono::milliseconds d) {
  auto ms = d.count();
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3fs", static_cast<double>(ms) / 1000.0);
  return buf;
}

// A real API call failed: the back-off grows, and (first failure, or a new
// error) one line says when the timer of that job (`kind`; a pushed kill is
// retried by the kill run) will really call the streamer again.
void api_failed(streamer_actor* self, int kind, const char* job, const std::string& error) {
  auto& st = self->state;
  auto* ctx = st.ctx;
  auto now = ctx->deps.clock.now();
  auto f = st.backoff.failed(error, now);
  const metric_registry::labels streamer{{"streamer", std::to_string(st.s.id)}};
  ctx->deps.metrics.set("maxsess_streamer_api_up", streamer, 0);
  ctx->deps.metrics.set("maxsess_streamer_last_error_timestamp_seconds", streamer,
                        static_cast<double>(to_unix_ms(now)) / 1000.0);
  if (!f.worth_a_line) return;
  logger::fields kv = {{"streamer", st.s.id}, {"host", st.s.host}, {"job", job},
                       {"error", error}, {"failures", std::to_string(f.failures)}};
  if (st.armed[kind]) {
    auto every = kind == sync_run ? ctx->opts.sync_interval : ctx->opts.kill_interval;
    auto next = st.backoff.next_attempt(st.next_tick[kind], every);
    auto in = std::chrono::duration_cast<std::chrono::milliseconds>(next - now);
    kv.push_back({"retry_in", seconds_text(std::max(in, std::chrono::milliseconds(0)))});
    kv.push_back({"retry_by", kind == sync_run ? "sync" : "kill"});
  } else {
    // No timer runs this job here (webhooks: no sync; timers off): only a
    // job asked for calls again.
    kv.push_back({"retry_in", "on the next job request"});
  }
  ctx->deps.log.warn("streamer", "Flussonic API failed; backing off", kv);
}

void api_answered(streamer_actor* self) {
  auto& st = self->state;
  st.ctx->deps.metrics.set("maxsess_streamer_api_up", {{"streamer", std::to_string(st.s.id)}}, 1);
  if (st.backoff.answered())
    st.ctx->deps.log.info("streamer", "Flussonic API answers again",
                          {{"streamer", st.s.id}, {"host", st.s.host}});
}

void finish(streamer_actor* self, int kind, streamer_run run, api_calls api) {
  auto& st = self->state;
  auto* ctx = st.ctx;
  const char* job = kind == sync_run ? "sync" : "kill";
  // The label is `run`, not `job`: Prometheus owns `job` (the scrape job) and
  // would rename ours to exported_job.
  const metric_registry::labels run_labels = {{"streamer", std::to_string(st.s.id)}, {"run", job}};
  ctx->deps.metrics.inc("maxsess_streamer_runs_total", run_labels);
  // Errors show 0 from the first run: an increase() alert sees the first failure.
  ctx->deps.metrics.zero("maxsess_streamer_errors_total", run_labels);
  if (!run.ok) ctx->deps.metrics.inc("maxsess_streamer_errors_total", run_labels);
  else if (kind == sync_run)
    ctx->deps.metrics.set("maxsess_streamer_last_sync_timestamp_seconds", {{"streamer", std::to_string(st.s.id)}},
                          static_cast<double>(to_unix_ms(ctx->deps.clock.now())) / 1000.0);
  if (api == api_calls::failed) {
    api_failed(self, kind, job, run.error);
  } else {
    if (api == api_calls::answered) api_answered(self);
    // Failed elsewhere (the database, an account): not the streamer's
    // fault, so no back-off; one line per kind of failure and interval.
    if (!run.ok)
      ctx->deps.log.warn_repeated("streamer", "run failed (not the Flussonic API)",
                                  {{"streamer", st.s.id}, {"job", job}, {"error", run.error}});
  }
  st.running[kind] = false;
  auto waiters = std::move(st.waiters[kind]);
  st.waiters[kind].clear();
  for (auto& w : waiters) w.deliver(run);
}

// What a run that could not talk to the streamer (or the database) reports.
std::function<void(std::string, bool)> failed_run(streamer_actor* self, int kind) {
  return [self, kind](std::string why, bool api) {
    streamer_run run;
    run.streamer_id = self->state.s.id;
    run.ok = false;
    run.error = std::move(why);
    finish(self, kind, run, api ? api_calls::failed : api_calls::none);
  };
}

// The glue between a sync's fan-out (sync_fanout.hpp: what to tell whom,
// when the run is over) and CAF: its messages go to the accounts' owners,
// their answers come back into it.
//
// A local owner answers or quits (an error then): its requests go without a
// CAF timeout, which would be a clock entry, its cancellation and two
// wake-ups of CAF's clock thread per account (25 000 accounts in the
// bench's sync, issue 7). One backstop per sync bounds a stuck answer
// instead: nothing is sent after the deadline, so every request sent would
// have timed out account_timeout after it at the latest; if answers are
// still missing then (an account stuck behind a hung database), the run
// finishes without them. A peer node may hang: its requests keep their
// timeout, and so do all of them when the sync has no deadline.
void arm_backstop(streamer_actor* self, const std::shared_ptr<sync_fanout>& f,
                  std::chrono::steady_clock::duration after) {
  std::function<void()> k = [self, f] {
    // The listing still runs: its own deadline (and its API calls') ends it.
    if (f->backstop(std::chrono::steady_clock::now())) arm_backstop(self, f, account_timeout);
  };
  self->delayed_send(self, std::chrono::duration_cast<std::chrono::milliseconds>(after) + std::chrono::milliseconds(1),
                     run_atom_v, std::move(k));
}

void start_sync(streamer_actor* self, int batch) {
  auto& st = self->state;
  auto* ctx = st.ctx;
  st.running[sync_run] = true;
  auto s = st.s;
  const auto started = std::chrono::steady_clock::now();
  const auto deadline = deadline_of(ctx);
  const bool backstop = deadline != std::chrono::steady_clock::time_point::max();
  sync_fanout::hooks hooks{
      [self, backstop](sync_fanout& fan, sync_message m) {
        // Each request's handlers keep the fan-out alive until they ran.
        auto f = fan.shared_from_this();
        auto dest = self->state.ctx->owner_of(m.account);
        const bool local = backstop && dest.node() == self->node();
        self->request(dest, local ? caf::duration{caf::infinite} : caf::duration{account_timeout}, sync_atom_v,
                      std::move(m.account), self->state.s.id, std::move(m.seen), std::move(m.listed), m.listed_at)
            .then([f](sync_summary sum) { f->answered(sum, std::chrono::steady_clock::now()); },
                  [f](caf::error& e) { f->failed(caf::to_string(e), std::chrono::steady_clock::now()); });
      },
      [self](const sync_fanout& f, listing_end why, const std::string& error) {
        auto* ctx = self->state.ctx;
        ctx->deps.metrics.inc("maxsess_sync_stopped_total",
                              {{"streamer", std::to_string(self->state.s.id)}, {"reason", to_string(why)}});
        ctx->deps.log.warn("streamer", "sync stopped before it was complete",
                           {{"streamer", self->state.s.id}, {"host", self->state.s.host},
                            {"reason", to_string(why)}, {"listed", f.run().listed}, {"error", error}});
      },
      [self](const sync_fanout& f) {
        // A sync slower than a second says where its time went (listing the
        // streamer, while the accounts are told the pages, vs. the rest).
        using ms = std::chrono::milliseconds;
        auto end = std::chrono::steady_clock::now();
        if (end - f.started() > std::chrono::seconds(1))
          self->state.ctx->deps.log.info(
              "streamer", "slow sync",
              {{"streamer", self->state.s.id},
               {"listed", f.run().listed},
               {"pages", f.pages()},
               {"accounts", f.accounts()},
               {"listing_ms", std::chrono::duration_cast<ms>(f.listed_until() - f.started()).count()},
               {"telling_ms", std::chrono::duration_cast<ms>(end - f.listed_until()).count()}});
        finish(self, sync_run, f.run(), f.api());
      }};
  auto f = std::make_shared<sync_fanout>(s.id, ctx->deps.clock.now(), started, deadline, sync_window,
                                         std::move(hooks));
  if (backstop) arm_backstop(self, f, deadline - started + account_timeout);
  const worker* io = st.io;
  auto handle = caf::actor_cast<caf::actor>(self);
  offload<sync_listing>(
      self,
      [ctx, s, batch, io, deadline, handle, f] {
        sync_listing g;
        g.believers = db_call<std::vector<std::string>>(
            ctx, [id = s.id](storage::session_store& db) { return db.accounts_on_streamer(id); });
        // Page by page: each page's sessions are tied to their accounts and
        // handed to the actor, which tells the accounts while the next page
        // is fetched; what stays is the ids, bounded by sync_max_sessions.
        g.listing = list_pages(
            *ctx->deps.flussonic, s, limits_of(ctx, batch, deadline, io),
            [&](std::vector<listed_session>& page) {
              std::vector<std::string> foreign;
              for (auto& l : page)
                if (!l.token.empty() && !is_signed_token(l.token)) foreign.push_back(l.token);
              std::map<std::string, std::pair<std::string, std::string>> resolved;
              if (!foreign.empty())
                resolved = db_call<decltype(resolved)>(
                    ctx, [foreign](storage::session_store& db) { return db.resolve_tokens(foreign); });
              std::vector<std::pair<std::string, seen_list>> groups;
              std::unordered_map<std::string, std::size_t> group_of;
              for (auto& l : page) {
                std::optional<token_owner> who = owner_of_signed(ctx, l.token);
                if (!who && !resolved.empty()) {
                  auto i = resolved.find(l.token);
                  if (i != resolved.end()) who = token_owner{i->second.first, i->second.second, std::nullopt};
                }
                if (!who) {
                  ++g.untracked;  // not ours: counted, left alone
                  continue;
                }
                auto r = report_of(std::move(l), s.id);
                r.token_issued_at = who->issued_at;
                auto [i, fresh] = group_of.try_emplace(who->account_id, groups.size());
                if (fresh) groups.emplace_back(who->account_id, seen_list{});
                groups[i->second].second.emplace_back(std::move(who->device_id), std::move(r));
              }
              if (groups.empty()) return;
              std::function<void()> k = [f, groups = std::move(groups)]() mutable {
                f->page(std::move(groups), std::chrono::steady_clock::now());
              };
              caf::anon_send(handle, run_atom_v, std::move(k));
            });
        return g;
      },
      [ctx, f](sync_listing g) {
        ctx->deps.metrics.inc("maxsess_untracked_sessions_total", {{"source", "sync"}}, g.untracked);
        f->listed(g.listing, g.untracked, g.believers, std::chrono::steady_clock::now());
      },
      [f](std::string why, bool api) { f->listing_failed(std::move(why), api, std::chrono::steady_clock::now()); });
}

// (account, device, closed Flussonic session ids)
using closed_list = std::vector<std::tuple<std::string, std::string, std::vector<std::string>>>;

struct kill_outcome {
  closed_list closed;
  int calls = 0;  // API calls made (0: there was nothing to ask the streamer)
};

// Closes sessions on the streamer: by id, or (no id known) every listed
// session playing the token. A failing call throws flussonic_error.
kill_outcome close_on_streamer(const context* ctx, const streamer& s,
                               const std::vector<kill_order>& orders, int batch, const worker* io) {
  kill_outcome result;
  closed_list& out = result.closed;
  // Orders without a session id close whatever plays their token: one
  // bounded listing keeps only the ids of those tokens' sessions.
  std::unordered_map<std::string, std::vector<std::string>> by_token;
  for (auto& o : orders)
    if (o.session_id.empty() && !o.token.empty()) by_token[o.token];
  if (!by_token.empty()) {
    auto outcome = list_pages(*ctx->deps.flussonic, s, limits_of(ctx, batch, deadline_of(ctx), io),
                              [&](std::vector<listed_session>& page) {
                                for (auto& l : page)
                                  if (auto i = by_token.find(l.token); i != by_token.end())
                                    i->second.push_back(std::move(l.id));
                              });
    result.calls += outcome.pages;
    // What an incomplete listing found is still closed; the rest waits for
    // the next kill run.
    if (!outcome.complete())
      ctx->deps.log.warn("streamer", "kill: listing the streamer stopped early",
                         {{"streamer", s.id}, {"error", outcome.error}});
  }
  for (auto& o : orders) {
    check_stop(io);
    std::vector<std::string> ids;
    if (!o.session_id.empty()) {
      ids.push_back(o.session_id);
    } else if (!o.token.empty()) {
      ids = by_token[o.token];
    }
    std::vector<std::string> closed;
    for (auto& id : ids) {
      ++result.calls;
      if (ctx->deps.flussonic->close_session(s, id)) closed.push_back(id);
    }
    if (!closed.empty()) out.emplace_back(o.account_id, o.device_id, std::move(closed));
  }
  return result;
}

void report_closed(streamer_actor* self, const closed_list& closed) {
  for (auto& [account, device, ids] : closed)
    self->request(self->state.ctx->owner_of(account), account_timeout, closed_atom_v, account, device, ids)
        .then([](bool) {}, [](caf::error&) {});
}

int count_ids(const closed_list& c) {
  int n = 0;
  for (auto& e : c) n += static_cast<int>(std::get<2>(e).size());
  return n;
}

void start_kill(streamer_actor* self) {
  auto& st = self->state;
  auto* ctx = st.ctx;
  st.running[kill_run] = true;
  auto s = st.s;
  int batch = ctx->opts.batch_size;
  const worker* io = st.io;
  offload<kill_outcome>(
      self,
      [ctx, s, batch, io] {
        auto killed = db_call<std::vector<playback_session>>(
            ctx, [id = s.id](storage::session_store& db) { return db.killed_on_streamer(id); });
        std::vector<kill_order> orders;
        for (auto& k : killed) {
          bool any = false;
          for (auto& f : k.flussonic)
            if (f.open) {
              orders.push_back({s.id, k.account_id, k.device_id, f.id, k.token});
              any = true;
            }
          if (!any) orders.push_back({s.id, k.account_id, k.device_id, {}, k.token});
        }
        return close_on_streamer(ctx, s, orders, batch, io);
      },
      [self](kill_outcome k) {
        report_closed(self, k.closed);
        streamer_run run;
        run.streamer_id = self->state.s.id;
        run.closed = count_ids(k.closed);
        // Nothing to close: nothing was asked, and the failure state stays
        // as it is (issue 8: such a run used to reset it, so the log flapped).
        finish(self, kill_run, run, k.calls > 0 ? api_calls::answered : api_calls::none);
      },
      failed_run(self, kill_run));
}

// Sends what waits in to_push, unless a push is on its way (its end sends
// the rest) or the streamer is backing off: then the kill run closes them
// later (they are durable `killed` rows) and the auth backend refuses them
// meanwhile.
void push_kills(streamer_actor* self) {
  auto& st = self->state;
  if (st.pushing || st.to_push.empty()) return;
  auto* ctx = st.ctx;
  if (!st.backoff.may_call(ctx->deps.clock.now())) {
    // Debug: during an outage every portal kill would log a line; the
    // back-off itself is logged once per change of error.
    ctx->deps.log.debug("streamer", "streamer backing off; its kill run closes the killed sessions",
                        {{"streamer", st.s.id},
                         {"kills", st.to_push.size()}});
    st.to_push.clear();
    return;
  }
  st.pushing = true;
  auto orders = std::move(st.to_push);
  st.to_push.clear();
  auto s = st.s;
  const worker* io = st.io;
  offload<kill_outcome>(
      self, [ctx, s, orders, io] { return close_on_streamer(ctx, s, orders, ctx->opts.batch_size, io); },
      [self](kill_outcome k) {
        self->state.ctx->deps.metrics.inc("maxsess_kills_pushed_total", {}, count_ids(k.closed));
        if (k.calls > 0) api_answered(self);
        report_closed(self, k.closed);
        self->state.pushing = false;
        push_kills(self);
      },
      [self](std::string why, bool api) {
        // The kill timer closes it later; the auth backend refuses it meanwhile.
        self->state.pushing = false;
        if (api) {
          api_failed(self, kill_run, "pushed kill", why);
        } else {
          self->state.ctx->deps.log.warn_repeated("streamer", "pushing a kill failed; the kill run retries",
                                                  {{"streamer", self->state.s.id},
                                                   {"error", why}});
        }
        push_kills(self);
      });
}

caf::behavior streamer_fn(streamer_actor* self, const context* ctx, streamer s, worker* io) {
  // Nothing watches it: dead, its streamer would silently get no sync or kill.
  guard_critical(self, *ctx, "streamer " + std::to_string(s.id) + " actor");
  auto& st = self->state;
  st.ctx = ctx;
  st.s = std::move(s);
  st.io = io;
  auto arm = [self](int kind) {
    auto* ctx = self->state.ctx;
    auto every = kind == sync_run ? ctx->opts.sync_interval : ctx->opts.kill_interval;
    self->state.armed[kind] = true;
    self->state.next_tick[kind] = ctx->deps.clock.now() + every;
    self->delayed_send(self, every, tick_atom_v, kind);
  };
  if (ctx->opts.timers) {
    if (!ctx->opts.webhooks) arm(sync_run);  // webhooks: true turns sync off
    arm(kill_run);
  }
  return {
      [=](refresh_atom, streamer& updated) { self->state.s = std::move(updated); },
      [=](run_atom, int kind, int batch) -> caf::result<streamer_run> {
        auto& st = self->state;
        auto rp = self->make_response_promise<streamer_run>();
        st.waiters[kind].push_back(rp);
        if (!st.running[kind]) {
          if (kind == sync_run)
            start_sync(self, batch > 0 ? batch : st.ctx->opts.batch_size);
          else
            start_kill(self);
        }
        return rp;
      },
      [=](tick_atom, int kind) {
        auto& st = self->state;
        // A failing streamer is retried with backoff, not at every tick;
        // in cluster mode only the node holding its lease polls it.
        if (!st.running[kind] && st.ctx->placement->runs_streamer(st.s.id) &&
            st.backoff.may_call(st.ctx->deps.clock.now())) {
          if (kind == sync_run)
            start_sync(self, st.ctx->opts.batch_size);
          else
            start_kill(self);
        }
        arm(kind);
      },
      [=](kills_atom, std::vector<kill_order>& orders) {
        // A kill decided now is pushed at once (PRODUCT.md §3).
        auto& q = self->state.to_push;
        q.insert(q.end(), std::make_move_iterator(orders.begin()), std::make_move_iterator(orders.end()));
        push_kills(self);
      },
      [=](run_atom, std::function<void()>& k) { k(); },
  };
}

// --- supervisor ------------------------------------------------------------------

struct supervisor_state {
  const context* ctx = nullptr;
  bool folding = false;  // a journal fold is on the reader pool
  std::map<int64_t, caf::actor> streamers;
  std::map<int64_t, std::unique_ptr<worker>> workers;  // one per streamer actor
  // Workers of removed streamers, told to stop; joined when the supervisor
  // ends (destroying the state), never while serving messages.
  std::vector<std::unique_ptr<worker>> retired;
  static inline const char* name = "maxsess.streamers";
};

using supervisor_actor = caf::stateful_actor<supervisor_state>;

void refresh(supervisor_actor* self) {
  auto* ctx = self->state.ctx;
  if (!ctx->deps.flussonic) return;
  auto& mine = self->state.streamers;
  std::set<int64_t> present;
  for (auto& s : ctx->deps.streamers.list()) {
    present.insert(s.id);
    auto i = mine.find(s.id);
    if (i == mine.end()) {
      auto& w = self->state.workers[s.id] = std::make_unique<worker>("st-" + std::to_string(s.id));
      mine[s.id] = self->spawn(streamer_fn, ctx, s, w.get());
    } else
      self->send(i->second, refresh_atom_v, s);
  }
  for (auto i = mine.begin(); i != mine.end();) {
    if (present.count(i->first)) {
      ++i;
      continue;
    }
    self->send_exit(i->second, caf::exit_reason::user_shutdown);
    auto w = self->state.workers.find(i->first);
    if (w != self->state.workers.end()) {
      w->second->request_stop(true);
      self->state.retired.push_back(std::move(w->second));
      self->state.workers.erase(w);
    }
    i = mine.erase(i);
  }
}

void run_clear(supervisor_actor* self, std::chrono::milliseconds timeout,
               std::function<void(job_report)> done) {
  auto* ctx = self->state.ctx;
  job_report rep;
  rep.what = job_request::kind::clear;
  if (!ctx->deps.db) {
    rep.ok = false;
    rep.error = "no database configured";
    return call_back(done, rep);
  }
  auto handle = caf::actor_cast<caf::actor>(self);
  ctx->deps.db->post(
      [=](storage::session_store& db) {
        auto gone = db.clear_sessions(timeout, std::max(timeout, ctx->opts.decisions.link_ttl));
        // The audit trail's retention goes with it (on the job's own clock,
        // which also stamped the events).
        int64_t events = ctx->opts.events_keep.count() > 0
                             ? db.clear_events(ctx->deps.clock.now() - ctx->opts.events_keep)
                             : 0;
        std::function<void()> k = [=] {
          std::set<std::string> accounts;
          for (auto& [account, device] : gone) accounts.insert(account);
          for (auto& a : accounts)
            self->request(ctx->owner_of(a), account_timeout, forget_atom_v, a, timeout)
                .then([](bool) {}, [](caf::error&) {});
          ctx->deps.metrics.inc("maxsess_clear_runs_total");
          ctx->deps.metrics.inc("maxsess_cleared_rows_total", {}, static_cast<double>(gone.size()));
          job_report r;
          r.what = job_request::kind::clear;
          r.cleared = static_cast<int64_t>(gone.size());
          r.cleared_events = events;
          ctx->deps.metrics.inc("maxsess_cleared_events_total", {}, static_cast<double>(events));
          call_back(done, r);
        };
        caf::anon_send(handle, run_atom_v, std::move(k));
      },
      [=](const std::string& error) {
        std::function<void()> k = [=] {
          ctx->deps.metrics.inc("maxsess_clear_errors_total");
          job_report r;
          r.what = job_request::kind::clear;
          r.ok = false;
          r.error = error;
          call_back(done, r);
        };
        caf::anon_send(handle, run_atom_v, std::move(k));
      });
}

// The progress journal (migration 011) is emptied by this tick: rows older
// than progress_write_delay + journal_fold_slack are folded into the session
// rows and deleted. By then the accounts have written those rows themselves
// (coalesced progress), so the fold finds nothing to update unless an owner
// died or failed to write; the slack covers writer queues under load. A
// takeover folds the whole journal anyway before it loads its shard.
constexpr std::chrono::milliseconds journal_fold_interval{2000};
constexpr std::chrono::milliseconds journal_fold_slack{3000};

void fold_journal(supervisor_actor* self) {
  auto* ctx = self->state.ctx;
  // One at a time: a slow fold must not pile up on the pool the loads use.
  if (!ctx->deps.db || self->state.folding) return;
  self->state.folding = true;
  auto handle = caf::actor_cast<caf::actor>(self);
  std::function<void()> done = [self] { self->state.folding = false; };
  const auto min_age = std::chrono::duration_cast<std::chrono::milliseconds>(
                           ctx->opts.decisions.progress_write_delay) +
                       journal_fold_slack;
  // Metrics and logs are thread-safe: reported from the pool thread.
  ctx->deps.db->post(
      [ctx, min_age, handle, done](storage::session_store& db) {
        auto [entries, rows] = db.fold_progress(min_age);
        ctx->deps.metrics.inc("maxsess_progress_journal_folded_total", {}, static_cast<double>(entries));
        ctx->deps.metrics.inc("maxsess_progress_journal_repaired_rows_total", {}, static_cast<double>(rows));
        caf::anon_send(handle, run_atom_v, done);
      },
      [ctx, handle, done](const std::string& error) {
        ctx->deps.metrics.inc("maxsess_progress_journal_errors_total");
        ctx->deps.log.warn_repeated("storage", "progress journal not folded (tried again at the next tick)",
                                    {{"error", error}});
        caf::anon_send(handle, run_atom_v, done);
      });
}

caf::behavior supervisor_fn(supervisor_actor* self, const context* ctx) {
  guard_critical(self, *ctx, "streamer supervisor");
  self->state.ctx = ctx;
  refresh(self);
  if (ctx->opts.timers) {
    self->delayed_send(self, ctx->opts.clear_interval, tick_atom_v);
    self->delayed_send(self, journal_fold_interval, fold_atom_v);
  }
  return {
      [=](refresh_atom) { refresh(self); },
      [=](kills_atom a, std::vector<kill_order>& orders) {
        self->send(self, a, std::move(orders), false);
      },
      // here_only: pushed by another node; never forwarded again.
      [=](kills_atom, std::vector<kill_order>& orders, bool here_only) {
        auto* ctx = self->state.ctx;
        std::map<int64_t, std::vector<kill_order>> by_streamer;
        for (auto& o : orders) by_streamer[o.streamer_id].push_back(std::move(o));
        for (auto& [id, list] : by_streamer) {
          // Cluster mode: the node that runs the streamer pushes its kills
          // (if none is known right now, this node does: any node can).
          if (!here_only && !ctx->placement->runs_streamer(id))
            if (auto peer = ctx->placement->remote_for(id)) {
              caf::anon_send(*peer, kills_atom_v, std::move(list));
              continue;
            }
          auto i = self->state.streamers.find(id);
          if (i == self->state.streamers.end()) {
            self->state.ctx->deps.log.warn("streamer", "kill for an unknown streamer; the kill run retries",
                                           {{"streamer", id}});
            continue;
          }
          self->send(i->second, kills_atom_v, std::move(list));
        }
      },
      [=](job_atom, job_request& req, streamer_side::job_cb& cb) {
        auto* ctx = self->state.ctx;
        if (req.what == job_request::kind::clear)
          return run_clear(self, req.timeout.value_or(ctx->opts.clear_timeout), cb);
        auto rep = std::make_shared<job_report>();
        rep->what = req.what;
        std::vector<int64_t> ids = req.streamer_ids;
        if (ids.empty())
          for (auto& [id, a] : self->state.streamers) ids.push_back(id);
        auto pending = std::make_shared<size_t>(0);
        std::vector<std::pair<int64_t, caf::actor>> targets;
        // Cluster mode: a streamer whose lease another node holds runs there
        // (one forwarded job per node), so each streamer runs once.
        std::map<caf::actor_addr, std::pair<job_actor, std::vector<int64_t>>> remote;
        for (auto id : ids) {
          if (!req.here_only && !ctx->placement->runs_streamer(id)) {
            if (auto peer = ctx->placement->remote_for(id)) {
              auto& slot = remote[peer->address()];
              slot.first = *peer;
              slot.second.push_back(id);
            } else {
              streamer_run r;
              r.streamer_id = id;
              r.ok = false;
              r.error = "no node runs this streamer right now (its lease is moving); retry";
              rep->streamers.push_back(r);
              rep->ok = false;
            }
            continue;
          }
          auto i = self->state.streamers.find(id);
          if (i == self->state.streamers.end()) {
            streamer_run r;
            r.streamer_id = id;
            r.ok = false;
            r.error = ctx->deps.flussonic ? "streamer is not registered" : "no Flussonic client";
            rep->streamers.push_back(r);
            rep->ok = false;
          } else {
            targets.emplace_back(id, i->second);
          }
        }
        *pending = targets.size() + remote.size();
        if (*pending == 0) return call_back(cb, *rep);
        for (auto& [addr, slot] : remote) {
          job_request part = req;
          part.streamer_ids = slot.second;
          self->request(slot.first, ctx->opts.job_timeout, job_atom_v, std::move(part))
              .then(
                  [rep, pending, cb](job_report& r) {
                    if (!r.ok) rep->ok = false;
                    for (auto& run : r.streamers) rep->streamers.push_back(std::move(run));
                    if (--*pending == 0) call_back(cb, *rep);
                  },
                  [rep, pending, cb, ids = slot.second](caf::error& e) {
                    for (auto id : ids) {
                      streamer_run r;
                      r.streamer_id = id;
                      r.ok = false;
                      r.error = "the node running it did not answer: " + caf::to_string(e);
                      rep->streamers.push_back(std::move(r));
                    }
                    rep->ok = false;
                    if (--*pending == 0) call_back(cb, *rep);
                  });
        }
        if (targets.empty()) return;
        int kind = req.what == job_request::kind::sync ? sync_run : kill_run;
        for (auto& [id, actor] : targets) {
          self->request(actor, ctx->opts.job_timeout, run_atom_v, kind, req.batch_size)
              .then(
                  [rep, pending, cb](streamer_run r) {
                    if (!r.ok) rep->ok = false;
                    rep->streamers.push_back(std::move(r));
                    if (--*pending == 0) call_back(cb, *rep);
                  },
                  [rep, pending, cb, id = id](caf::error& e) {
                    streamer_run r;
                    r.streamer_id = id;
                    r.ok = false;
                    r.error = "no answer in time: " + caf::to_string(e);
                    rep->ok = false;
                    rep->streamers.push_back(std::move(r));
                    if (--*pending == 0) call_back(cb, *rep);
                  });
        }
      },
      [=](tick_atom) {
        if (self->state.ctx->placement->runs_cluster_jobs())
          run_clear(self, self->state.ctx->opts.clear_timeout, [](job_report) {});
        self->delayed_send(self, self->state.ctx->opts.clear_interval, tick_atom_v);
      },
      [=](fold_atom) {
        if (self->state.ctx->placement->runs_cluster_jobs()) fold_journal(self);
        self->delayed_send(self, journal_fold_interval, fold_atom_v);
      },
      [=](run_atom, std::function<void()>& k) { k(); },
      // Shutdown begins (jobs only): every worker stops taking work, so a
      // listing stops at its next page and its job is answered.
      [=](stop_atom, bool) {
        for (auto& [id, w] : self->state.workers) w->request_stop(true);
      },
      [=](stop_atom) {
        for (auto& [id, a] : self->state.streamers) self->send_exit(a, caf::exit_reason::user_shutdown);
        self->state.streamers.clear();
        for (auto& [id, w] : self->state.workers) w->request_stop(true);
        self->quit();  // the state's destructor joins the workers (shutdown only)
      },
  };
}

}  // namespace

caf::actor spawn_streamer_supervisor(caf::actor_system& sys, const context* ctx) {
  return sys.spawn(supervisor_fn, ctx);
}

caf::actor spawn_webhook_actor(caf::actor_system& sys, const context* ctx) {
  return sys.spawn(webhook_fn, ctx);
}

}  // namespace maxsess::actors
