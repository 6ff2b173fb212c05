// The auth hot path through the whole runtime (det_fixture.hpp): an
// update_session of a playing session is allowed from what its account
// actor published, with no actor running (the answer is there before run()),
// its progress reaches the row within progress_write_delay, and everything
// the actor would decide differently — a kill, a replaced or stale
// session, a shard handed off — goes to the actor again.
#include "tests/unit/actors/det_fixture.hpp"

using namespace maxsess;
using namespace maxsess::actors;
using namespace maxsess::actors::det;
using namespace std::chrono_literals;

namespace {

class AuthBoardRuntime : public det_runtime {
 protected:
  answer_ptr<auth_outcome> auth(const std::string& account, const std::string& device, const std::string& session,
                                bool fresh, int64_t bytes = -1) {
    auth_request a;
    a.account_id = account;
    a.device_id = device;
    a.stream = "news";
    a.session_id = session;
    a.ip = "1.1.1.1";
    a.new_session = fresh;
    a.bytes = bytes;
    a.duration = bytes < 0 ? -1 : bytes / 1000;
    a.token_issued_at = issued;
    auto out = track(std::make_shared<answer<auth_outcome>>());
    rt->accounts().authorize(a, [out](auth_outcome o) { out->set(o); });
    return out;
  }
  // a1/d1 linked, then its Flussonic session f1 opened (bound, active).
  void playing() {
    own(shard_of("a1"), 1);
    auto l = link("a1", "d1");
    run();
    ASSERT_EQ(l->value->result, link_result::approved);
    issued = clock.now();
    auto first = auth("a1", "d1", "f1", true, 0);
    run();
    ASSERT_TRUE(first->value.has_value());
    ASSERT_EQ(first->value->result, auth_result::allow);
    ASSERT_EQ(memory.session("a1", "d1")->status, session_status::active);
  }
  sys_time issued{};
};

TEST_F(AuthBoardRuntime, UpdateOfAPlayingSessionIsAllowedWithoutTheActorAndItsProgressIsWritten) {
  start({});
  playing();
  const auto before = rt->auth_checks_from_board();
  auto u = auth("a1", "d1", "f1", false, 5000);
  ASSERT_TRUE(u->value.has_value()) << "answered before any actor ran";
  EXPECT_EQ(u->value->result, auth_result::allow);
  EXPECT_EQ(rt->auth_checks_from_board(), before + 1);
  run();
  EXPECT_EQ(u->times, 1);
  auto more = auth("a1", "d1", "f1", false, 9000);
  ASSERT_TRUE(more->value.has_value());
  EXPECT_EQ(memory.session("a1", "d1")->bytes, 0) << "progress waits up to progress_write_delay";
  advance(1100ms);
  auto row = memory.session("a1", "d1");
  EXPECT_EQ(row->bytes, 9000) << "the progress of the allowed checks was written";
  EXPECT_EQ(row->duration_s, 9);
  EXPECT_EQ(row->status, session_status::active);
}

TEST_F(AuthBoardRuntime, PlayingSessionStaysActivePastStaleAfterOnBoardChecksAlone) {
  runtime_options opts;
  opts.decisions.stale_after = 30s;
  start(opts);
  playing();
  for (int i = 1; i <= 10; ++i) {
    advance(10s);
    auto u = auth("a1", "d1", "f1", false, i * 1000);
    ASSERT_TRUE(u->value.has_value()) << "check " << i << " not answered from the board";
    ASSERT_EQ(u->value->result, auth_result::allow);
  }
  advance(2s);
  auto row = memory.session("a1", "d1");
  EXPECT_EQ(row->status, session_status::active) << "last seen came from the board's checks";
  EXPECT_EQ(row->bytes, 10000);
}

TEST_F(AuthBoardRuntime, KilledSessionIsRefusedByTheActorNotAllowedFromTheBoard) {
  start({});
  playing();
  auto k = end("a1", "d1", /*kill=*/true);
  run();
  ASSERT_EQ(k->value, end_result::ended);
  auto u = auth("a1", "d1", "f1", false, 100);
  EXPECT_FALSE(u->value.has_value()) << "answered from the board after the kill";
  run();
  ASSERT_TRUE(u->value.has_value());
  EXPECT_EQ(u->value->result, auth_result::deny_killed);
}

TEST_F(AuthBoardRuntime, ReplacedFlussonicSessionGoesToTheActor) {
  start({});
  playing();
  // The same player reconnects: f2 replaces f1.
  auto f2 = auth("a1", "d1", "f2", true, 0);
  EXPECT_FALSE(f2->value.has_value()) << "a new Flussonic session is the actor's to bind";
  run();
  ASSERT_EQ(f2->value->result, auth_result::allow);
  auto old = auth("a1", "d1", "f1", false, 100);
  EXPECT_FALSE(old->value.has_value());
  run();
  ASSERT_TRUE(old->value.has_value());
  EXPECT_EQ(old->value->result, auth_result::deny_replaced);
  auto cur = auth("a1", "d1", "f2", false, 100);
  ASSERT_TRUE(cur->value.has_value()) << "the new one is published";
  EXPECT_EQ(cur->value->result, auth_result::allow);
}

TEST_F(AuthBoardRuntime, StaleSessionIsDecidedAfreshByTheActor) {
  runtime_options opts;
  opts.decisions.stale_after = 30s;
  start(opts);
  playing();
  advance(31s);  // no check for longer than stale_after
  auto u = auth("a1", "d1", "f1", false, 100);
  EXPECT_FALSE(u->value.has_value()) << "a stale session is not the board's to allow";
  run();
  ASSERT_TRUE(u->value.has_value());
  auto row = memory.session("a1", "d1");
  ASSERT_TRUE(row.has_value());
  EXPECT_GT(row->started_at, issued) << "a new session was started for it";
}

TEST_F(AuthBoardRuntime, DrainedShardAllowsNothingFromTheBoard) {
  start({});
  playing();
  auto u = auth("a1", "d1", "f1", false, 7000);
  ASSERT_TRUE(u->value.has_value());
  auto owner = disown(shard_of("a1"));
  auto d = drain(owner);
  run();
  ASSERT_TRUE(d->value.has_value());
  EXPECT_EQ(memory.session("a1", "d1")->bytes, 7000) << "the drain wrote the board's progress";
  auto after = auth("a1", "d1", "f1", false, 8000);
  run();
  ASSERT_TRUE(after->value.has_value());
  EXPECT_EQ(after->value->result, auth_result::unavailable) << "nobody owns the shard here";
  EXPECT_EQ(rt->auth_checks_from_board(), 1u);
}

// A write that fails makes the actor reload its state: until it has, what
// it published is withdrawn (its memory may not be what the database holds).
TEST_F(AuthBoardRuntime, FailedWriteWithdrawsUntilTheStateIsReloaded) {
  start({});
  playing();
  auto u = auth("a1", "d1", "f1", false, 100);
  ASSERT_TRUE(u->value.has_value());
  run();  // the actor takes the progress: written 1 s from now
  store.hold_loads(true);
  store.answer_next(write_status::failed);
  advance(1100ms);  // the progress write fails: reload (held)
  auto during = auth("a1", "d1", "f1", false, 200);
  run();
  EXPECT_FALSE(during->value.has_value()) << "allowed from the board while the state reloads";
  store.hold_loads(false);
  store.release_load();
  run();
  ASSERT_TRUE(during->value.has_value());
  EXPECT_EQ(during->value->result, auth_result::allow) << "decided by the reloaded actor";
  auto after = auth("a1", "d1", "f1", false, 300);
  ASSERT_TRUE(after->value.has_value()) << "published again once loaded";
}

TEST_F(AuthBoardRuntime, NothingIsPublishedWithoutDelayedProgressWrites) {
  runtime_options opts;
  opts.decisions.progress_write_delay = 0ms;  // every check written before its answer
  start(opts);
  playing();
  auto u = auth("a1", "d1", "f1", false, 100);
  EXPECT_FALSE(u->value.has_value());
  run();
  ASSERT_TRUE(u->value.has_value());
  EXPECT_EQ(u->value->result, auth_result::allow);
  EXPECT_EQ(memory.session("a1", "d1")->bytes, 100) << "written before the answer";
  EXPECT_EQ(rt->auth_checks_from_board(), 0u);
}

}  // namespace
