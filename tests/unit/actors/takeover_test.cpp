// Cluster mode on one runtime: shards are owned only when taken (hooks), a
// handed-off shard answers `unavailable`, and a takeover loads the shard's
// accounts in play, ending what expired while nobody owned it with the
// ended_at it was due.
#include <gtest/gtest.h>

#include <sstream>
#include <thread>

#include "tests/unit/actors/runtime_calls.hpp"

using namespace maxsess;
using namespace maxsess::actors;
using namespace std::chrono_literals;

namespace {

class Takeover : public ::testing::Test {
 protected:
  void SetUp() override {
    streamers.put(test::one_streamer());
    runtime_options opts;
    opts.cluster = true;
    opts.node_id = "n1";
    opts.shards = 1;  // every account in shard 0
    opts.decisions.pending_ttl = 60s;
    rt = std::make_unique<actor_runtime>(opts, runtime_deps{clock, signer, streamers, store, log, metrics});
  }

  link_outcome link(const std::string& account, const std::string& device) {
    return test::link_and_wait(*rt, account, device);
  }
  void hand_off() { test::hand_off(*rt, 0); }

  manual_clock clock;
  link_signer signer = *link_signer::from_spec("k1:takeover-test");
  streamer_directory streamers;
  memory_account_store store;
  std::ostringstream log_out;
  logger log{log_out, log_level::debug, false, clock};
  metric_registry metrics;
  std::unique_ptr<actor_runtime> rt;
};

TEST_F(Takeover, NothingIsServedBeforeTheShardIsTaken) {
  EXPECT_EQ(link("a1", "d1").result, link_result::unavailable);
  EXPECT_EQ(store.writes(), 0u);
  rt->hooks().own(0, 1);
  EXPECT_EQ(link("a1", "d1").result, link_result::approved);
}

TEST_F(Takeover, AHandedOffShardAnswersUnavailableAndItsWritesCarryTheNewEpoch) {
  rt->hooks().own(0, 1);
  ASSERT_EQ(link("a1", "d1").result, link_result::approved);
  ASSERT_NO_FATAL_FAILURE(hand_off());
  EXPECT_EQ(link("a1", "d2").result, link_result::unavailable);
  rt->hooks().own(0, 2);
  // The new owner serves once it has heard its predecessor is done (one
  // message); until then it answers unavailable, like nobody.
  link_result r = link_result::unavailable;
  for (int i = 0; i < 200 && (r = link("a1", "d2").result) == link_result::unavailable; ++i)
    std::this_thread::sleep_for(5ms);
  ASSERT_EQ(r, link_result::approved);
  auto d1 = store.session("a1", "d1");
  ASSERT_TRUE(d1.has_value()) << "the first owner's approval survives the handoff";
}

TEST_F(Takeover, WhatExpiredWhileNobodyOwnedTheShardEndsAtTakeoverWithItsDueTime) {
  rt->hooks().own(0, 1);
  auto o = link("a1", "d1");
  ASSERT_EQ(o.result, link_result::approved);
  auto started = store.session("a1", "d1")->started_at;
  ASSERT_NO_FATAL_FAILURE(hand_off());
  clock.advance(10min);  // nobody owns the shard meanwhile: no timer can end it
  EXPECT_EQ(store.session("a1", "d1")->status, session_status::pending);
  rt->hooks().own(0, 2);
  // No request touches the account: the takeover load alone must end it.
  for (int i = 0; i < 500 && store.session("a1", "d1")->status == session_status::pending; ++i)
    std::this_thread::sleep_for(10ms);
  auto s = store.session("a1", "d1");
  ASSERT_EQ(s->status, session_status::ended);
  ASSERT_TRUE(s->reason.has_value());
  EXPECT_EQ(*s->reason, end_reason::never_started);
  ASSERT_TRUE(s->ended_at.has_value());
  EXPECT_EQ(*s->ended_at, started + 60s) << "ended when it was due, not at takeover";
}

}  // namespace
