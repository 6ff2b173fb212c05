// The actor side through its one routing interface (account_service), with
// an in-memory store: routing, serialised decisions under concurrency,
// answers only after writes, passivation, failure paths.
#include <gtest/gtest.h>

#include <future>
#include <sstream>
#include <thread>

#include "actors/runtime.hpp"

using namespace maxsess;
using namespace maxsess::actors;
using namespace std::chrono_literals;

namespace {

class Runtime : public ::testing::Test {
 protected:
  void SetUp() override {
    streamer s;
    s.id = 1;
    s.host = "s1";
    s.url = "http://s1";
    streamers.put(s);
  }

  void start(runtime_options opts = {}) {
    rt = std::make_unique<actor_runtime>(opts,
                                         runtime_deps{clock, signer, streamers, store, log, metrics});
  }

  link_outcome link(const std::string& account, const std::string& device) {
    std::promise<link_outcome> p;
    link_request r;
    r.account_id = account;
    r.device_id = device;
    r.content.stream = "news";
    rt->accounts().request_link(r, [&p](link_outcome o) { p.set_value(std::move(o)); });
    return wait(p);
  }

  template <class T>
  T wait(std::promise<T>& p) {
    auto f = p.get_future();
    if (f.wait_for(10s) != std::future_status::ready) throw std::runtime_error("no answer in 10 s");
    return f.get();
  }

  system_clock_source clock;
  link_signer signer = *link_signer::from_spec("k1:runtime-test");
  streamer_directory streamers;
  memory_account_store store;
  std::ostringstream log_out;
  logger log{log_out, log_level::debug, false, clock};
  metric_registry metrics;
  std::unique_ptr<actor_runtime> rt;
};

TEST_F(Runtime, RoutesEachAccountToItsOwnActor) {
  start();
  EXPECT_EQ(link("a1", "d1").result, link_result::approved);
  EXPECT_EQ(link("a1", "d2").result, link_result::approved);
  EXPECT_EQ(rt->live_accounts(), 1u);
  EXPECT_EQ(link("a2", "d1").result, link_result::approved);
  EXPECT_EQ(rt->live_accounts(), 2u);
  EXPECT_EQ(store.loads(), 2u) << "one load per account actor";
  ASSERT_TRUE(store.session("a1", "d2").has_value());
  EXPECT_EQ(store.session("a1", "d2")->status, session_status::pending);
}

TEST_F(Runtime, ConcurrentRequestsForOneAccountAreSerialised) {
  runtime_options opts;
  opts.decisions.default_max_sessions = 5;
  opts.scheduler_threads = 4;
  start(opts);
  constexpr int n = 200;
  std::vector<std::promise<link_outcome>> ps(n);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = t; i < n; i += 4) {
        link_request r;
        r.account_id = "busy";
        r.device_id = "dev" + std::to_string(i);
        r.content.stream = "news";
        rt->accounts().request_link(r, [&ps, i](link_outcome o) { ps[i].set_value(std::move(o)); });
      }
    });
  }
  for (auto& t : threads) t.join();
  int approved = 0, denied = 0;
  for (auto& p : ps) {
    auto o = wait(p);
    approved += o.result == link_result::approved;
    denied += o.result == link_result::denied;
  }
  EXPECT_EQ(approved, 5);
  EXPECT_EQ(denied, n - 5);
}

TEST_F(Runtime, EndAndAccountAdmin) {
  start();
  link("a1", "d1");
  std::promise<end_result> e1, e2;
  rt->accounts().end_session("a1", "d1", true, [&](end_result r) { e1.set_value(r); });
  EXPECT_EQ(wait(e1), end_result::ended);
  EXPECT_EQ(store.session("a1", "d1")->status, session_status::killed);
  rt->accounts().end_session("a1", "none", false, [&](end_result r) { e2.set_value(r); });
  EXPECT_EQ(wait(e2), end_result::not_found);

  std::promise<std::optional<account_view>> put, get, missing;
  rt->accounts().put_account({"a9", 2, true}, [&](auto v) { put.set_value(std::move(v)); });
  auto pv = wait(put);
  ASSERT_TRUE(pv.has_value());
  EXPECT_EQ(pv->settings.max_sessions, 2);
  EXPECT_TRUE(pv->settings.exempt);
  ASSERT_TRUE(store.settings("a9").has_value());
  EXPECT_EQ(store.settings("a9")->max_sessions, 2);
  rt->accounts().get_account("a1", [&](auto v) { get.set_value(std::move(v)); });
  auto gv = wait(get);
  ASSERT_TRUE(gv.has_value());
  EXPECT_TRUE(gv->found);
  ASSERT_EQ(gv->sessions.size(), 1u);
  rt->accounts().get_account("nobody", [&](auto v) { missing.set_value(std::move(v)); });
  auto mv = wait(missing);
  ASSERT_TRUE(mv.has_value());
  EXPECT_FALSE(mv->found);
}

TEST_F(Runtime, DeleteAccountKillsThroughTheOwnerAndDropsTheSettings) {
  start();
  link("a1", "d1");
  std::promise<std::optional<account_view>> put;
  rt->accounts().put_account({"a1", 7, false}, [&](auto v) { put.set_value(std::move(v)); });
  ASSERT_TRUE(wait(put).has_value());
  std::promise<end_result> gone, again, unknown;
  rt->accounts().delete_account("a1", [&](end_result r) { gone.set_value(r); });
  EXPECT_EQ(wait(gone), end_result::ended);
  EXPECT_EQ(store.session("a1", "d1")->status, session_status::killed);
  EXPECT_EQ(store.session("a1", "d1")->reason, end_reason::killed_by_operator);
  EXPECT_FALSE(store.settings("a1").has_value()) << "the settings row is deleted";
  rt->accounts().delete_account("a1", [&](end_result r) { again.set_value(r); });
  EXPECT_EQ(wait(again), end_result::ended) << "its killed row is still there";
  rt->accounts().delete_account("nobody", [&](end_result r) { unknown.set_value(r); });
  EXPECT_EQ(wait(unknown), end_result::not_found);
}

TEST_F(Runtime, FailedWriteIsNotApprovedAndNothingIsKept) {
  runtime_options opts;
  opts.decisions.default_max_sessions = 1;
  start(opts);
  store.fail_writes(true);
  EXPECT_EQ(link("a1", "d1").result, link_result::unavailable);
  store.fail_writes(false);
  // The unsaved pending session must not hold the only slot.
  EXPECT_EQ(link("a1", "d2").result, link_result::approved);
  EXPECT_FALSE(store.session("a1", "d1").has_value());
}

TEST_F(Runtime, AfterAFailedWriteTheStateReloadsOnlyOnceItsOtherWritesLanded) {
  runtime_options opts;
  opts.decisions.default_max_sessions = 2;
  start(opts);
  link("a1", "warm");  // loaded, one session
  store.hold_writes(true);
  std::promise<link_outcome> p1, p2;
  auto ask = [&](const std::string& device, std::promise<link_outcome>& p) {
    link_request r;
    r.account_id = "a1";
    r.device_id = device;
    r.content.stream = "news";
    rt->accounts().request_link(r, [&p](link_outcome o) { p.set_value(std::move(o)); });
  };
  ask("x", p1);  // W1
  // Wait for W1 to be in flight before sending the next request.
  for (int i = 0; i < 500 && store.held() < 1; ++i) std::this_thread::sleep_for(2ms);
  ASSERT_EQ(store.held(), 1u);
  rt->accounts().end_session("a1", "warm", false, [](end_result) {});  // W2: frees a slot
  for (int i = 0; i < 500 && store.held() < 2; ++i) std::this_thread::sleep_for(2ms);
  ASSERT_EQ(store.held(), 2u);
  auto loads = store.loads();
  store.release_one(false);  // W1 fails: memory must be reloaded ...
  EXPECT_EQ(wait(p1).result, link_result::unavailable);
  // ... but not before W2 landed: a request now waits for that.
  std::promise<std::optional<account_view>> view;
  rt->accounts().get_account("a1", [&](auto v) { view.set_value(std::move(v)); });
  auto f = view.get_future();
  EXPECT_EQ(f.wait_for(100ms), std::future_status::timeout);
  EXPECT_EQ(store.loads(), loads) << "no snapshot taken while a write of ours was in flight";
  store.hold_writes(false);
  store.release_one(true);  // W2 commits; now the reload runs and sees it
  ASSERT_EQ(f.wait_for(10s), std::future_status::ready);
  auto v = f.get();
  ASSERT_TRUE(v.has_value());
  ASSERT_EQ(v->sessions.size(), 1u);
  EXPECT_EQ(v->sessions[0].device_id, "warm");
  EXPECT_EQ(v->sessions[0].status, session_status::ended);
  EXPECT_EQ(store.loads(), loads + 1);
  EXPECT_EQ(link("a1", "y").result, link_result::approved);
  EXPECT_EQ(link("a1", "z").result, link_result::approved);
  EXPECT_EQ(link("a1", "w").result, link_result::denied);
}

TEST_F(Runtime, FailedLoadAnswersUnavailableThenRecovers) {
  start();
  store.fail_loads(true);
  EXPECT_EQ(link("a1", "d1").result, link_result::unavailable);
  // The actor with nothing loaded does not stay in memory.
  for (int i = 0; i < 200 && rt->live_accounts() != 0; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(rt->live_accounts(), 0u);
  store.fail_loads(false);
  EXPECT_EQ(link("a1", "d1").result, link_result::approved);
}

TEST_F(Runtime, IdleAccountsPassivateAndComeBackFromTheStore) {
  runtime_options opts;
  opts.idle_passivate = 50ms;
  opts.decisions.default_max_sessions = 1;
  start(opts);
  link("a1", "d1");
  std::promise<end_result> e;
  rt->accounts().end_session("a1", "d1", false, [&](end_result r) { e.set_value(r); });
  ASSERT_EQ(wait(e), end_result::ended);
  // Generous bound: passivation after ~50 ms of idleness.
  for (int i = 0; i < 200 && rt->live_accounts() != 0; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_EQ(rt->live_accounts(), 0u);
  auto loads = store.loads();
  EXPECT_EQ(link("a1", "d2").result, link_result::approved);
  EXPECT_EQ(store.loads(), loads + 1) << "state is loaded again from the store";
  EXPECT_EQ(link("a1", "d3").result, link_result::denied);
}

TEST_F(Runtime, AccountsWithLiveSessionsStayLoaded) {
  runtime_options opts;
  opts.idle_passivate = 20ms;
  start(opts);
  link("a1", "d1");
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(rt->live_accounts(), 1u);
}

TEST_F(Runtime, ShutdownIsIdempotent) {
  start();
  link("a1", "d1");
  rt->shutdown();
  rt->shutdown();
  EXPECT_EQ(rt->live_accounts(), 0u);
}

}  // namespace

namespace {
std::string play_event_json(int64_t id, const std::string& token, const std::string& session) {
  return "{\"event\":\"play_started\",\"event_id\":" + std::to_string(id) + ",\"session_id\":\"" + session +
         "\",\"token\":\"" + token + "\",\"name\":\"news\",\"ip\":\"10.0.0.1\"}";
}
}  // namespace

// A webhook batch is acknowledged only once its events are durable: during a
// storage outage the sink gets `unavailable` (a 5xx, so Flussonic resends),
// and the resent batch is applied then, not dropped as a duplicate.
TEST_F(Runtime, WebhookBatchIsAcknowledgedOnlyWhenDurableAndAResendIsApplied) {
  start();
  auto o = link("a1", "d1");
  ASSERT_EQ(o.result, link_result::approved);
  auto body = "[" + play_event_json(7, o.token, "fs-1") + "]";
  auto post = [&] {
    std::promise<webhook_result> p;
    rt->streamers().post_events("s1", body, [&p](webhook_result r) { p.set_value(r); });
    return wait(p);
  };
  store.fail_writes(true);
  auto first = post();
  EXPECT_EQ(first.result, webhook_result::status::unavailable);
  store.fail_writes(false);
  auto resent = post();
  EXPECT_EQ(resent.result, webhook_result::status::accepted);
  EXPECT_EQ(resent.duplicates, 0) << "an event that was never applied is not a duplicate";
  ASSERT_TRUE(store.session("a1", "d1").has_value());
  EXPECT_EQ(store.session("a1", "d1")->status, session_status::active);
  auto again = post();
  EXPECT_EQ(again.result, webhook_result::status::accepted);
  EXPECT_EQ(again.duplicates, 1) << "an applied event is recognised when redelivered";
}

// The progress a batch reports is journaled (one write for the batch) before
// any account sees it; the account then answers a progress-only event from
// memory and writes its row within progress_write_delay. A batch whose
// journal write failed reaches no account (unavailable: the sink resends).
TEST_F(Runtime, WebhookProgressIsJournaledBeforeTheAccountsSeeIt) {
  runtime_options opts;
  opts.decisions.progress_write_delay = std::chrono::hours(1);  // rows written at shutdown only
  start(opts);
  auto o = link("a1", "d1");
  ASSERT_EQ(o.result, link_result::approved);
  auto post = [&](const std::string& body) {
    std::promise<webhook_result> p;
    rt->streamers().post_events("s1", "[" + body + "]", [&p](webhook_result r) { p.set_value(r); });
    return wait(p).result;
  };
  auto updated = [&](int64_t id, int64_t bytes) {
    return "{\"event\":\"play_updated\",\"event_id\":" + std::to_string(id) + ",\"id\":\"fs-1\",\"token\":\"" +
           o.token + "\",\"media\":\"news\",\"ip\":\"10.0.0.1\",\"bytes\":" + std::to_string(bytes) + "}";
  };
  ASSERT_EQ(post(play_event_json(1, o.token, "fs-1")), webhook_result::status::accepted);  // binds: a row
  ASSERT_EQ(store.session("a1", "d1")->status, session_status::active);
  const auto writes = store.writes();
  const auto journaled = store.journaled();

  ASSERT_EQ(post(updated(2, 5000)), webhook_result::status::accepted);
  EXPECT_EQ(store.journaled(), journaled + 1);
  EXPECT_EQ(store.writes(), writes + 1) << "the journal row only: no row write per progress event";
  EXPECT_EQ(store.session("a1", "d1")->bytes, 5000) << "durable (the memory store folds the journal at once)";

  store.fail_writes(true);
  EXPECT_EQ(post(updated(3, 9000)), webhook_result::status::unavailable);
  store.fail_writes(false);
  ASSERT_EQ(post(updated(4, 7000)), webhook_result::status::accepted);
  // The shutdown writes what waits in memory: 7000, not the 9000 of the
  // batch that was never journaled (an account that had applied it would
  // hold 9000, and the row keeps the larger counter of the same session).
  rt->shutdown();
  EXPECT_EQ(store.session("a1", "d1")->bytes, 7000);
}

namespace {

// The audit trail through the actors: an event is written with its
// decision, then logged at info and counted; one whose write failed is
// neither (the caller was answered 503 and asks again).
TEST_F(Runtime, AnAuditEventIsLoggedAndCountedOnceWritten) {
  runtime_options opts;
  opts.decisions.default_max_sessions = 1;
  opts.decisions.node_id = "node-x";
  start(opts);
  ASSERT_EQ(link("a1", "tv").result, link_result::approved);
  ASSERT_EQ(link("a1", "phone").result, link_result::denied);
  auto events = store.events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind, audit_kind::denied);
  EXPECT_EQ(events[0].device_id, "phone");
  EXPECT_EQ(events[0].node, "node-x");
  EXPECT_EQ(metrics.value("maxsess_audit_events_total", {{"kind", "denied"}}), 1);
  EXPECT_NE(log_out.str().find("info  audit: denied account=a1 device=phone reason=max_sessions_reached "
                               "node=node-x max_sessions=1 holders_count=1 holders=tv"),
            std::string::npos)
      << log_out.str();

  store.fail_writes(true);
  EXPECT_EQ(link("a1", "tablet").result, link_result::unavailable) << "a denial not on record is not answered";
  EXPECT_EQ(metrics.value("maxsess_audit_events_total", {{"kind", "denied"}}), 1);
  EXPECT_EQ(log_out.str().find("device=tablet"), std::string::npos);
  store.fail_writes(false);
  EXPECT_EQ(link("a1", "tablet").result, link_result::denied);
  EXPECT_EQ(store.events().size(), 2u);
}

}  // namespace
