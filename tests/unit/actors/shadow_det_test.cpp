// Shadow mode through the account actor, in simulated time (det_fixture.hpp):
// the over-limit approval reaches the store flagged, its record is counted
// and logged once written, and a mode switch on the runtime's shared switch
// (what SIGHUP does) reaches an actor that is already running.
#include "tests/unit/actors/det_fixture.hpp"

using namespace maxsess;
using namespace maxsess::actors;
using namespace maxsess::actors::det;
using namespace std::chrono_literals;

namespace {

using ShadowActor = det_runtime;

TEST_F(ShadowActor, WouldDenyIsApprovedStoredFlaggedCountedAndLogged) {
  runtime_options opts;
  opts.decisions.default_max_sessions = 1;
  opts.decisions.mode->set(playback_mode::shadow);
  opts.decisions.node_id = "node-test";
  start(opts);
  own(shard_of("a1"), 1);
  auto first = link("a1", "d1");
  run();
  ASSERT_EQ(first->value->result, link_result::approved);
  EXPECT_FALSE(first->value->would_deny);

  auto second = link("a1", "d2");
  run();
  ASSERT_EQ(second->value->result, link_result::approved);
  EXPECT_TRUE(second->value->would_deny);
  auto row = memory.session("a1", "d2");
  ASSERT_TRUE(row.has_value());
  EXPECT_TRUE(row->over_limit);
  EXPECT_FALSE(memory.session("a1", "d1")->over_limit);
  EXPECT_EQ(metrics.value("maxsess_shadow_decisions_total",
                          {{"decision", "would_deny"}, {"reason", "max_sessions_reached"}}),
            1);
  EXPECT_EQ(metrics.value("maxsess_over_limit_attempts_total"), 0);
  // The audit trail holds it, committed with the row.
  auto events = memory.events();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].kind, audit_kind::would_deny);
  EXPECT_EQ(events[0].device_id, "d2");
  EXPECT_EQ(events[0].reason, "max_sessions_reached");
  EXPECT_EQ(events[0].node, "node-test");
  ASSERT_EQ(events[0].holders.size(), 1u);
  EXPECT_EQ(events[0].holders[0].device_id, "d1");
  const auto text = log_out.str();
  // Its log line is the audit trail's, like every recorded decision's.
  auto at = text.find("audit: would_deny");
  ASSERT_NE(at, std::string::npos) << text;
  auto line = text.substr(at, text.find('\n', at) - at);
  EXPECT_NE(line.find("account=a1"), std::string::npos) << line;
  EXPECT_NE(line.find("device=d2"), std::string::npos) << line;
  EXPECT_NE(line.find("holders=d1"), std::string::npos) << line;
}

TEST_F(ShadowActor, ASwitchReachesARunningAccountsNextDecision) {
  runtime_options opts;
  opts.decisions.default_max_sessions = 1;
  const auto mode = opts.decisions.mode;  // main keeps this one for SIGHUP
  start(opts);
  own(shard_of("a1"), 1);
  auto a = link("a1", "d1");
  run();
  ASSERT_EQ(a->value->result, link_result::approved);
  auto denied = link("a1", "d2");
  run();
  EXPECT_EQ(denied->value->result, link_result::denied);

  mode->set(playback_mode::shadow);
  auto shadowed = link("a1", "d2");
  run();
  EXPECT_EQ(shadowed->value->result, link_result::approved);
  EXPECT_TRUE(shadowed->value->would_deny);

  mode->set(playback_mode::enforce);
  auto again = link("a1", "d3");
  run();
  EXPECT_EQ(again->value->result, link_result::denied);
  ASSERT_EQ(again->value->holders.size(), 1u) << "d2 plays on, uncounted";
  EXPECT_EQ(again->value->holders[0].device_id, "d1");
  EXPECT_EQ(memory.session("a1", "d2")->status, session_status::pending);
}

}  // namespace
