// An account actor's life in simulated time (det_fixture.hpp): expiry of a
// pending session, passivation when idle and its race with a request on its
// way, and what a stopped owner does to a request waiting for its write.
#include <future>
#include "tests/unit/actors/det_fixture.hpp"

using namespace maxsess;
using namespace maxsess::actors;
using namespace maxsess::actors::det;
using namespace std::chrono_literals;

namespace {

struct Lifecycle : det_runtime {
  // Moves time by `d` and runs only the shard owner, whose timer fires: it
  // holds its accounts' deadlines (actors/wake_schedule.hpp) and queues the
  // account actor's wake, which has not run yet.
  void advance_to_account_wake(std::chrono::milliseconds d) {
    advance(d, /*then_run=*/false);
    ASSERT_EQ(sched->jobs.size(), 1u) << "only the shard owner has something to do";
    sched->run_once();
  }
};

TEST_F(Lifecycle, PendingSessionEndsAfterPendingTtlOfSimulatedTime) {
  runtime_options opts;
  opts.decisions.pending_ttl = 10s;
  opts.decisions.default_max_sessions = 1;
  start(opts);
  own(shard_of("a1"), 1);
  auto a = link("a1", "d1");
  run();
  ASSERT_EQ(a->value->result, link_result::approved);
  ASSERT_EQ(memory.session("a1", "d1")->status, session_status::pending);

  advance(9s);
  EXPECT_EQ(memory.session("a1", "d1")->status, session_status::pending) << "not yet";
  auto denied = link("a1", "d2");
  run();
  EXPECT_EQ(denied->value->result, link_result::denied) << "the pending session holds the slot";

  advance(2s);  // 11 s after the link
  auto s = memory.session("a1", "d1");
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->status, session_status::ended);
  EXPECT_EQ(s->reason, end_reason::never_started);
  auto b = link("a1", "d2");
  run();
  EXPECT_EQ(b->value->result, link_result::approved) << "the slot is free again";
}

TEST_F(Lifecycle, IdleAccountPassivatesAfterIdlePassivate) {
  runtime_options opts;
  opts.idle_passivate = 30s;
  start(opts);
  auto s = shard_of("a1");
  own(s, 1);
  auto g = get("a1");
  run();
  ASSERT_TRUE(g->value.has_value());
  EXPECT_EQ(live(s), 1u);
  advance(29s);
  EXPECT_EQ(live(s), 1u) << "not idle long enough";
  advance(2s);
  EXPECT_EQ(live(s), 0u);
  // Back from the store on the next request.
  auto again = get("a1");
  run();
  ASSERT_TRUE(again->value.has_value());
  EXPECT_EQ(store.loads_started(), 2u);
}

// The actor asks to passivate while a request is already on its way to it
// (forwarded by the owner, not yet handled): the owner refuses, the request is
// answered by the same actor, and it passivates later.
TEST_F(Lifecycle, PassivationIsRefusedWhileARequestIsOnItsWay) {
  runtime_options opts;
  opts.idle_passivate = 30s;
  start(opts);
  auto s = shard_of("a1");
  own(s, 1);
  auto first = get("a1");
  run();
  ASSERT_TRUE(first->value.has_value());
  ASSERT_FALSE(sched->has_job());

  // Time is up: the account actor's wake comes (its message is queued,
  // nothing else ran yet).
  advance_to_account_wake(31s);
  ASSERT_EQ(sched->jobs.size(), 1u) << "only the account actor has something to do";
  auto* account_job = sched->jobs.front();

  // A request comes in and reaches the account actor's mailbox, behind the
  // wake-up, before the actor runs.
  auto g = get("a1");
  sched->run_jobs_filtered([&](caf::resumable* job) { return job != account_job; });
  ASSERT_EQ(sched->jobs.size(), 1u);
  ASSERT_EQ(sched->jobs.front(), account_job);
  EXPECT_FALSE(g->done());

  // Now the actor wakes up, is idle, asks to go (not having seen the
  // request yet), then handles the request; the owner says no.
  run();
  ASSERT_TRUE(g->value.has_value());
  ASSERT_TRUE(g->value->has_value()) << "answered, not refused";
  EXPECT_EQ(live(s), 1u) << "the owner did not let the actor go";
  EXPECT_EQ(store.loads_started(), 1u) << "the same actor answered";

  // Idle again for idle_passivate after that request: now it goes.
  advance(31s);
  EXPECT_EQ(live(s), 0u);
}

// The other order: the owner hears the passivation first and lets the actor
// go; the request that arrives right after goes to a fresh actor (no request
// is lost, none reaches the departing actor).
TEST_F(Lifecycle, RequestRightAfterAGrantedPassivationGoesToAFreshActor) {
  runtime_options opts;
  opts.idle_passivate = 30s;
  start(opts);
  auto s = shard_of("a1");
  own(s, 1);
  auto first = get("a1");
  run();
  ASSERT_TRUE(first->value.has_value());

  advance_to_account_wake(31s);
  ASSERT_EQ(sched->jobs.size(), 1u);
  sched->run_once();  // the account actor: wakes, asks the owner to passivate
  auto g = get("a1");  // queued behind the passivation request
  run();
  ASSERT_TRUE(g->value.has_value());
  ASSERT_TRUE(g->value->has_value());
  EXPECT_EQ(store.loads_started(), 2u) << "a new actor loaded the account";
  EXPECT_EQ(live(s), 1u);
}

// A drain and a passivation cross: whichever the owner hears first, the
// drain is answered and nothing is left behind.
TEST_F(Lifecycle, DrainAfterThePassivationRequestIsAnswered) {
  runtime_options opts;
  opts.idle_passivate = 30s;
  start(opts);
  auto s = shard_of("a1");
  auto old = own(s, 1);
  auto g = get("a1");
  run();
  ASSERT_TRUE(g->value.has_value());
  advance_to_account_wake(31s);
  ASSERT_EQ(sched->jobs.size(), 1u);
  sched->run_once();  // the account actor asks the owner to let it go
  disown(s);
  auto drained = drain(old);  // reaches the owner after the passivation request
  run();
  ASSERT_TRUE(drained->value.has_value()) << drained->error.value_or("");
  EXPECT_TRUE(*drained->value);
}

TEST_F(Lifecycle, DrainBeforeThePassivationRequestIsAnswered) {
  runtime_options opts;
  opts.idle_passivate = 30s;
  start(opts);
  auto s = shard_of("a1");
  auto old = own(s, 1);
  auto g = get("a1");
  run();
  ASSERT_TRUE(g->value.has_value());
  advance_to_account_wake(31s);
  ASSERT_EQ(sched->jobs.size(), 1u);
  auto* account_job = sched->jobs.front();
  disown(s);
  auto drained = drain(old);
  // The owner starts draining (and tells the account actor) before the
  // actor, woken up, asks to passivate.
  sched->run_jobs_filtered([&](caf::resumable* job) { return job != account_job; });
  EXPECT_FALSE(drained->done());
  run();
  ASSERT_TRUE(drained->value.has_value()) << drained->error.value_or("");
  EXPECT_TRUE(*drained->value);
}

// The caller's request_timeout ends a call whose write is still in flight:
// answered unavailable once, at the timeout; the late approval is dropped
// (the row it wrote is a pending session that pending_ttl ends).
// A link request to a local owner goes direct (no CAF request, so no CAF
// timeout: the HTTP server's per-request deadline answers 503 meanwhile, see
// net/http_server.hpp handler_timeout_for): a slow write delays the answer,
// which comes exactly once when the write lands.
TEST_F(Lifecycle, DirectCallWaitsForItsWritePastRequestTimeoutAndIsAnsweredOnce) {
  runtime_options opts;
  opts.request_timeout = 2s;
  opts.decisions.pending_ttl = 10s;
  start(opts);
  own(shard_of("a1"), 1);
  store.hold_writes(true);
  auto a = link("a1", "d1");
  run();
  ASSERT_EQ(store.held(), 1u);
  advance(3s);
  EXPECT_FALSE(a->done());
  store.hold_writes(false);
  store.release_one(write_status::ok);
  run();
  ASSERT_TRUE(a->value.has_value());
  EXPECT_EQ(a->value->result, link_result::approved);
  EXPECT_EQ(a->times, 1);
  ASSERT_TRUE(memory.session("a1", "d1").has_value());
  EXPECT_EQ(memory.session("a1", "d1")->status, session_status::pending);
  advance(10s);
  EXPECT_EQ(memory.session("a1", "d1")->status, session_status::ended);
  EXPECT_EQ(a->times, 1);
}

// A direct auth check whose account cannot answer (its state is still
// loading, or a write hangs) is answered `unavailable` at request_timeout by
// the runtime's own deadline (the HTTP side then allows a valid token), not
// left to the HTTP server's 503; a late answer from the actor is dropped.
// The deadline runs on real time (its own thread), so this test waits for
// it, with a generous bound.
TEST_F(Lifecycle, DirectAuthWithoutAnAnswerIsUnavailableAtRequestTimeout) {
  runtime_options opts;
  opts.request_timeout = 200ms;
  start(opts);
  own(shard_of("a1"), 1);
  run();
  store.hold_loads(true);  // the account's state cannot be read in time
  auto answered = std::make_shared<std::promise<auth_outcome>>();
  auto times = std::make_shared<std::atomic<int>>(0);
  auto a = auth_req("a1", "d1");
  rt->accounts().authorize(a, [answered, times](auth_outcome o) {
    if (times->fetch_add(1) == 0) answered->set_value(o);
  });
  run();
  auto f = answered->get_future();
  ASSERT_EQ(f.wait_for(std::chrono::seconds(10)), std::future_status::ready);
  EXPECT_EQ(f.get().result, auth_result::unavailable);
  // The load finishing later does not answer a second time.
  store.hold_loads(false);
  store.release_load();
  run();
  EXPECT_EQ(times->load(), 1);
}

// A direct call whose owner is gone before the message arrives (a handoff
// raced it) is answered unavailable when its callback is dropped, not never.
TEST_F(Lifecycle, DirectCallToAnOwnerThatQuitIsAnsweredUnavailable) {
  start({});
  auto s = shard_of("a1");
  auto owner = own(s, 1);
  caf::anon_send_exit(owner, caf::exit_reason::kill);
  run();
  auto a = link("a1", "d1");
  run();
  ASSERT_TRUE(a->value.has_value());
  EXPECT_EQ(a->value->result, link_result::unavailable);
  EXPECT_EQ(a->times, 1);
}

// Stopping an owner (what shutdown() sends each one) while an approval waits
// for its write: every request must be answered (CAF 0.17 does not report a
// dropped response promise; the caller would only time out).
//
// Stopping (shutdown) finishes like a handoff: a request whose write is in
// flight gets its real answer once the write lands (the writer is flushed
// after the actors), not silence until its timeout.
TEST_F(Lifecycle, StoppedOwnerAnswersTheRequestWaitingForItsWrite) {
  runtime_options opts;
  opts.request_timeout = 5s;
  start(opts);
  auto s = shard_of("a1");
  auto owner = own(s, 1);
  store.hold_writes(true);
  auto mid = link("a1", "d1");
  run();
  ASSERT_EQ(store.held(), 1u);
  caf::anon_send(owner, stop_atom_v);
  run();
  EXPECT_FALSE(mid->done()) << "answered before its write landed";
  store.release_one(write_status::ok);
  run();
  ASSERT_TRUE(mid->done()) << "no answer once the write landed (no time passed)";
  ASSERT_TRUE(mid->value.has_value());
  EXPECT_EQ(mid->value->result, link_result::approved);
  auto gone = count(owner);
  run();
  EXPECT_FALSE(gone->value.has_value()) << "the stopped owner is gone";
}

}  // namespace

// A playing device's auth update_session every second sets a progress write
// 1 s ahead of its stale_after expiry (180 s): the account actor wakes for
// the one, then for the other. CAF 0.17 cannot cancel a delayed_send, and
// the actor once forgot the timers in flight at each wake, so each progress
// flush left one more timer in the actor clock -- and each of those re-armed
// another when it fired: ~50 bytes per update, without bound (the 30-minute
// soak's RSS growth, docs/faults.md). Through 400 updates (more than
// stale_after) the clock must hold only a couple of this actor's timers.
TEST_F(Lifecycle, ProgressWritesLeaveNoTimersBehindInTheActorClock) {
  start({});
  own(shard_of("a1"), 1);
  auto l = link("a1", "d1");
  run();
  ASSERT_EQ(l->value->result, link_result::approved);
  auto auth = [&](bool fresh, int64_t bytes) {
    auto a = auth_req("a1", "d1");
    a.new_session = fresh;
    a.bytes = bytes;
    a.duration = bytes;
    auto out = track(std::make_shared<answer<auth_outcome>>());
    rt->accounts().authorize(a, [out](auth_outcome o) { out->set(o); });
    run();
    return out;
  };
  auto first = auth(true, 0);
  ASSERT_TRUE(first->value.has_value());
  ASSERT_EQ(first->value->result, auth_result::allow);
  std::size_t most = 0;
  for (int i = 1; i <= 400; ++i) {
    auto u = auth(false, i * 1000);
    ASSERT_TRUE(u->value.has_value());
    ASSERT_EQ(u->value->result, auth_result::allow) << "update " << i;
    advance(1100ms);
    most = std::max(most, sched->clock().schedule().size());
  }
  EXPECT_LE(most, 4u) << "timers pile up in the actor clock";
  EXPECT_EQ(memory.session("a1", "d1")->status, session_status::active);
  EXPECT_EQ(memory.session("a1", "d1")->bytes, 400 * 1000) << "the progress was written";
}

// The deadlines of a shard's accounts are held by its owner
// (actors/wake_schedule.hpp): twenty accounts whose pending sessions expire
// at the same moment put one timer into CAF's clock, not twenty (each push
// woke CAF's clock thread: 13.5 % of the daemon's CPU during a sync), and
// each of them still ends on time.
TEST_F(Lifecycle, TheAccountsOfAShardShareTheirOwnersTimer) {
  runtime_options opts;
  opts.decisions.pending_ttl = 10s;
  start(opts);
  const int shard = shard_of("a0");
  std::vector<std::string> accounts;
  for (int i = 0; accounts.size() < 20 && i < 100000; ++i)
    if (shard_of("a" + std::to_string(i)) == shard) accounts.push_back("a" + std::to_string(i));
  ASSERT_EQ(accounts.size(), 20u);
  own(shard, 1);
  for (auto& a : accounts) {
    auto l = link(a, "d1");
    run();
    ASSERT_EQ(l->value->result, link_result::approved) << a;
  }
  EXPECT_EQ(sched->clock().schedule().size(), 1u) << "one timer for the shard, at the earliest deadline";
  advance(9s);
  for (auto& a : accounts) EXPECT_EQ(memory.session(a, "d1")->status, session_status::pending) << a;
  advance(2s);
  for (auto& a : accounts) {
    auto s = memory.session(a, "d1");
    ASSERT_TRUE(s.has_value()) << a;
    EXPECT_EQ(s->status, session_status::ended) << a;
    EXPECT_EQ(s->reason, end_reason::never_started) << a;
  }
}
