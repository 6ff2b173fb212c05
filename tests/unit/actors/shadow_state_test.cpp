// Shadow mode (playback_session.mode: shadow, docs/shadow.md) on the plain
// account state with simulated time: every decision is made as in enforce,
// but what enforce refuses or kills for the limit is let through, flagged
// over_limit, never counted, and recorded as a would_deny / would_kill note.
#include <gtest/gtest.h>

#include "actors/account_state.hpp"

using namespace maxsess;
using namespace maxsess::actors;
using std::chrono::seconds;

namespace {

class ShadowState : public ::testing::Test {
 protected:
  void SetUp() override {
    streamer s;
    s.id = 1;
    s.host = "s1";
    s.url = "http://s1";
    streamers.put(s);
    cfg.default_max_sessions = 2;
    cfg.mode->set(playback_mode::shadow);
    st = std::make_unique<account_state>("acc", 0, 1, cfg, signer, streamers);
  }

  link_request req(const std::string& device, const std::string& stream = "news") {
    link_request r;
    r.account_id = "acc";
    r.device_id = device;
    r.content.stream = stream;
    return r;
  }
  link_outcome link(account_state& s, const std::string& device) { return s.request_link(req(device), clock.now(), fx); }
  link_outcome link(const std::string& device) { return link(*st, device); }
  auth_outcome auth(const std::string& device, const std::string& sid, const std::string& ip = "1.1.1.1") {
    auth_request a;
    a.account_id = "acc";
    a.device_id = device;
    a.stream = "news";
    a.session_id = sid;
    a.ip = ip;
    a.new_session = true;
    a.token_issued_at = clock.now();
    return st->authorize(a, clock.now(), fx);
  }
  play_report event(play_report::kind k, const std::string& sid, const std::string& ip = "1.1.1.1") {
    play_report r;
    r.what = k;
    r.session_id = sid;
    r.stream = "news";
    r.ip = ip;
    r.streamer_id = 1;
    r.token = "tok";
    return r;
  }
  std::vector<std::string> counted() {
    std::vector<std::string> out;
    for (auto* s : st->slot_holders()) out.push_back(s->device_id);
    return out;
  }
  const playback_session& row(const std::string& device) { return *st->find(device); }
  // The audit events among fx.writes (written with the decision's rows).
  std::vector<audit_event> events() const {
    std::vector<audit_event> out;
    for (auto& op : fx.writes)
      if (op.what == storage::write_op::kind::insert_event) out.push_back(op.event().event);
    return out;
  }

  manual_clock clock;
  link_signer signer = *link_signer::from_spec("k1:x");
  streamer_directory streamers;
  decision_settings cfg;
  std::unique_ptr<account_state> st;
  side_effects fx;
};

using strings = std::vector<std::string>;

TEST_F(ShadowState, LinkEnforceWouldDenyIsApprovedFlaggedAndNotCounted) {
  ASSERT_EQ(link("d1").result, link_result::approved);
  clock.advance(seconds(1));
  ASSERT_EQ(link("d2").result, link_result::approved);
  EXPECT_TRUE(fx.shadow.empty());
  fx = {};

  auto out = link("d3");
  ASSERT_EQ(out.result, link_result::approved);
  EXPECT_TRUE(out.would_deny);
  EXPECT_FALSE(out.url.empty());
  EXPECT_TRUE(out.session.over_limit);
  EXPECT_EQ(out.max_sessions, 2);
  ASSERT_EQ(out.holders.size(), 2u);  // what enforce's 403 would have listed
  EXPECT_EQ(out.holders[0].device_id, "d1");
  // Recorded and written like any approval, with the flag, and its audit
  // event beside it.
  ASSERT_EQ(fx.writes.size(), 2u);
  ASSERT_EQ(fx.writes[0].what, storage::write_op::kind::upsert_session);
  EXPECT_TRUE(fx.writes[0].upsert().session.over_limit);
  auto ev = events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, audit_kind::would_deny);
  EXPECT_EQ(ev[0].account_id, "acc");
  EXPECT_EQ(ev[0].device_id, "d3");
  EXPECT_EQ(ev[0].reason, "max_sessions_reached");
  EXPECT_EQ(ev[0].max_sessions, 2);
  EXPECT_EQ(ev[0].at, clock.now());
  EXPECT_EQ(ev[0].stream, "news");
  ASSERT_EQ(ev[0].holders.size(), 2u);
  EXPECT_EQ(ev[0].holders[0].device_id, "d1");
  EXPECT_EQ(ev[0].holders[1].device_id, "d2");
  EXPECT_EQ(fx.over_limit_attempts, 0) << "nothing was refused";
  ASSERT_EQ(fx.shadow.size(), 1u);
  EXPECT_EQ(fx.shadow[0].what, shadow_note::kind::would_deny);
  EXPECT_EQ(fx.shadow[0].device_id, "d3");
  EXPECT_EQ(fx.shadow[0].reason, "max_sessions_reached");
  EXPECT_EQ(fx.shadow[0].max_sessions, 2);
  EXPECT_EQ(fx.shadow[0].holders, (strings{"d1", "d2"}));
  // It does not count: the account still holds exactly its two slots.
  EXPECT_EQ(counted(), (strings{"d1", "d2"}));
  EXPECT_EQ(row("d3").status, session_status::pending);
  EXPECT_TRUE(st->view().sessions[2].over_limit);
}

// The heart of shadow mode: the same requests against an enforcing twin get
// the same decisions (denied there = would_deny here), also after slots free.
TEST_F(ShadowState, DecisionsStayWhatEnforceWouldHaveMade) {
  decision_settings enforce_cfg;
  enforce_cfg.default_max_sessions = 2;
  account_state enforce("acc", 0, 1, enforce_cfg, signer, streamers);
  std::vector<storage::write_op> w;
  side_effects ignored;
  auto both = [&](const std::string& device) {
    auto e = enforce.request_link(req(device), clock.now(), ignored);
    auto s = link(device);
    EXPECT_EQ(s.result, link_result::approved) << device;
    EXPECT_EQ(e.result == link_result::denied, s.would_deny) << device;
    clock.advance(seconds(1));
    return s.would_deny;
  };
  EXPECT_FALSE(both("d1"));
  EXPECT_FALSE(both("d2"));
  EXPECT_TRUE(both("d3"));
  EXPECT_TRUE(both("d4"));
  // d1 stops (both sides): one slot is free again, for the next one only.
  side_effects end_fx;
  ASSERT_EQ(enforce.end_session("d1", false, clock.now(), end_fx), end_result::ended);
  ASSERT_EQ(st->end_session("d1", false, clock.now(), end_fx), end_result::ended);
  EXPECT_FALSE(both("d5"));
  EXPECT_TRUE(both("d6"));
  // An over-limit device asking again is decided afresh: still full.
  EXPECT_TRUE(both("d3"));
  EXPECT_EQ(counted(), (strings{"d2", "d5"}));
}

TEST_F(ShadowState, OverLimitDeviceIsCountedOnceThereIsRoom) {
  link("d1");
  link("d2");
  ASSERT_TRUE(link("d3").would_deny);
  side_effects end_fx;
  st->end_session("d1", false, clock.now(), end_fx);
  fx = {};
  auto again = link("d3");  // the same device, its over-limit session still live
  EXPECT_FALSE(again.would_deny);
  EXPECT_FALSE(again.session.over_limit);
  EXPECT_TRUE(fx.shadow.empty());
  EXPECT_EQ(counted().size(), 2u);
}

TEST_F(ShadowState, AuthDecidedAfreshAtTheLimitIsAllowedOverTheLimit) {
  link("d1");
  link("d2");
  clock.advance(cfg.pending_ttl + seconds(1));  // both pending links expire
  link("d3");
  EXPECT_EQ(auth("d1", "f1").result, auth_result::allow);  // one slot left: taken
  fx = {};
  auto out = auth("d2", "f2");  // enforce: deny_limit
  EXPECT_EQ(out.result, auth_result::allow);
  EXPECT_TRUE(out.would_deny);
  EXPECT_EQ(fx.over_limit_attempts, 0);
  EXPECT_TRUE(fx.kills.empty());
  EXPECT_TRUE(row("d2").over_limit);
  EXPECT_EQ(row("d2").status, session_status::active);
  ASSERT_EQ(fx.shadow.size(), 1u);
  EXPECT_EQ(fx.shadow[0].what, shadow_note::kind::would_deny);
  EXPECT_EQ(fx.shadow[0].reason, "max_sessions_reached");
  EXPECT_EQ(fx.shadow[0].holders, (strings{"d1", "d3"}));
  EXPECT_EQ(counted(), (strings{"d1", "d3"}));
  auto ev = events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].kind, audit_kind::would_deny);
  EXPECT_EQ(ev[0].device_id, "d2");
  EXPECT_EQ(ev[0].client_ip, "1.1.1.1");
}

TEST_F(ShadowState, SecondAddressOnOneTokenIsAllowedAndBothPlay) {
  link("d1");
  EXPECT_EQ(auth("d1", "f1", "1.1.1.1").result, auth_result::allow);
  fx = {};
  auto out = auth("d1", "f2", "2.2.2.2");  // enforce: deny_reused
  EXPECT_EQ(out.result, auth_result::allow);
  EXPECT_TRUE(out.would_deny);
  ASSERT_EQ(fx.shadow.size(), 1u);
  EXPECT_EQ(fx.shadow[0].reason, "reused");
  EXPECT_EQ(fx.over_limit_attempts, 0);
  ASSERT_EQ(events().size(), 1u);
  EXPECT_EQ(events()[0].reason, "reused");
  EXPECT_EQ(events()[0].client_ip, "2.2.2.2");
  ASSERT_EQ(row("d1").flussonic.size(), 2u);
  EXPECT_TRUE(row("d1").flussonic[0].open);
  EXPECT_TRUE(row("d1").flussonic[1].open);
  EXPECT_FALSE(row("d1").over_limit) << "the device keeps its own counted slot";
  // Its next checks are ordinary (bound): no note again.
  fx = {};
  EXPECT_EQ(auth("d1", "f2", "2.2.2.2").result, auth_result::allow);
  EXPECT_TRUE(fx.shadow.empty());
}

TEST_F(ShadowState, WebhookAdoptionAtTheLimitIsNotKilled) {
  st->on_play("d1", event(play_report::kind::started, "f1"), clock.now(), fx);
  st->on_play("d2", event(play_report::kind::started, "f2"), clock.now(), fx);
  fx = {};
  st->on_play("d3", event(play_report::kind::started, "f3"), clock.now(), fx);  // enforce: killed
  EXPECT_TRUE(fx.kills.empty());
  EXPECT_EQ(fx.over_limit_attempts, 0);
  ASSERT_NE(st->find("d3"), nullptr);
  EXPECT_EQ(row("d3").status, session_status::active);
  EXPECT_TRUE(row("d3").over_limit);
  ASSERT_EQ(fx.shadow.size(), 1u);
  EXPECT_EQ(fx.shadow[0].what, shadow_note::kind::would_kill);
  EXPECT_EQ(fx.shadow[0].reason, "max_sessions_reached");
  ASSERT_EQ(events().size(), 1u);
  EXPECT_EQ(events()[0].kind, audit_kind::would_kill);
  EXPECT_EQ(events()[0].streamer_id, 1);
  // Its later events are ordinary updates.
  fx = {};
  st->on_play("d3", event(play_report::kind::updated, "f3"), clock.now() + seconds(5), fx);
  EXPECT_TRUE(fx.shadow.empty());
  EXPECT_TRUE(fx.kills.empty());
}

TEST_F(ShadowState, WebhookSecondAddressIsNotKilled) {
  auto token = link("d1").token;
  auto first = event(play_report::kind::started, "f1", "1.1.1.1");
  auto second = event(play_report::kind::started, "f2", "2.2.2.2");
  first.token = second.token = token;
  st->on_play("d1", first, clock.now(), fx);
  fx = {};
  st->on_play("d1", second, clock.now(), fx);  // enforce: killed
  EXPECT_TRUE(fx.kills.empty());
  ASSERT_EQ(fx.shadow.size(), 1u);
  EXPECT_EQ(fx.shadow[0].what, shadow_note::kind::would_kill);
  EXPECT_EQ(fx.shadow[0].reason, "reused");
  EXPECT_EQ(row("d1").flussonic.size(), 2u);
}

TEST_F(ShadowState, SyncOverTheLimitKillsNothingAndFlagsTheNewestOnce) {
  cfg.default_max_sessions = 5;
  st = std::make_unique<account_state>("acc", 0, 1, cfg, signer, streamers);
  std::vector<std::pair<std::string, play_report>> seen;
  for (auto d : {"d1", "d2", "d3"}) {
    link(d);
    auth(d, std::string("f") + d);
    seen.push_back({d, event(play_report::kind::listed, std::string("f") + d)});
    clock.advance(seconds(1));
  }
  std::vector<storage::write_op> w;
  st->put_settings({"acc", 2, false}, w);  // the operator lowered the limit
  fx = {};
  st->on_sync(1, seen, clock.now(), clock.now(), fx);  // enforce: d3 killed
  EXPECT_TRUE(fx.kills.empty());
  EXPECT_EQ(row("d3").status, session_status::active);
  EXPECT_TRUE(row("d3").over_limit);
  ASSERT_EQ(fx.shadow.size(), 1u);
  EXPECT_EQ(fx.shadow[0].what, shadow_note::kind::would_kill);
  EXPECT_EQ(fx.shadow[0].device_id, "d3");
  EXPECT_EQ(fx.shadow[0].holders, (strings{"d1", "d2"}));
  ASSERT_EQ(events().size(), 1u);
  EXPECT_EQ(events()[0].kind, audit_kind::would_kill);
  EXPECT_EQ(events()[0].device_id, "d3");
  bool flagged_written = false;
  for (auto& op : fx.writes)
    if (op.what == storage::write_op::kind::upsert_session && op.upsert().session.device_id == "d3")
      flagged_written = op.upsert().session.over_limit;
  EXPECT_TRUE(flagged_written);
  // The next sync finds the account within its limit: nothing more.
  fx = {};
  clock.advance(seconds(1));
  st->on_sync(1, seen, clock.now(), clock.now(), fx);
  EXPECT_TRUE(fx.shadow.empty());
  EXPECT_TRUE(fx.kills.empty());
}

// Switched to enforce (SIGHUP) while over-limit sessions play: they play on
// until they end, never counted and never killed for the limit; new requests
// are decided on the counted sessions only (docs/shadow.md).
TEST_F(ShadowState, SwitchedToEnforceOverLimitSessionsPlayOnAndNewRequestsAreDenied) {
  std::vector<std::pair<std::string, play_report>> seen;
  for (auto d : {"d1", "d2", "d3"}) {
    link(d);
    auth(d, std::string("f") + d);
    seen.push_back({d, event(play_report::kind::listed, std::string("f") + d)});
    clock.advance(seconds(1));
  }
  ASSERT_TRUE(row("d3").over_limit);
  cfg.mode->set(playback_mode::enforce);  // the same switch the state reads
  fx = {};
  auto denied = link("d4");
  EXPECT_EQ(denied.result, link_result::denied);
  ASSERT_EQ(denied.holders.size(), 2u) << "the over-limit session holds no slot";
  st->on_sync(1, seen, clock.now(), clock.now(), fx);
  EXPECT_TRUE(fx.kills.empty());
  EXPECT_EQ(row("d3").status, session_status::active);
  EXPECT_TRUE(fx.shadow.empty());
  // The over-limit device asking again gets enforce's answer too.
  EXPECT_EQ(link("d3").result, link_result::denied);
  EXPECT_EQ(row("d3").status, session_status::active) << "a refused link does not stop what plays";
  // Once a counted session ends, the next request takes the slot.
  side_effects end_fx;
  st->end_session("d1", false, clock.now(), end_fx);
  auto approved = link("d4");
  EXPECT_EQ(approved.result, link_result::approved);
  EXPECT_FALSE(approved.session.over_limit);
}

TEST_F(ShadowState, NotesAreNamed) {
  EXPECT_STREQ(to_string(shadow_note::kind::would_deny), "would_deny");
  EXPECT_STREQ(to_string(shadow_note::kind::would_kill), "would_kill");
  EXPECT_STREQ(to_string(playback_mode::enforce), "enforce");
  EXPECT_STREQ(to_string(playback_mode::shadow), "shadow");
}

}  // namespace
