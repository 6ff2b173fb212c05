// The audit trail as account_state produces it (domain/audit.hpp): each
// decision that refuses or stops playback appends one event to the writes
// of that decision, naming the device, the reason, this node, the limit and
// the sessions that held the slots; decisions that refuse nothing append
// none. Simulated time.
#include <gtest/gtest.h>

#include <set>

#include "actors/account_state.hpp"

using namespace maxsess;
using namespace maxsess::actors;
using std::chrono::seconds;

namespace {

class Audit : public ::testing::Test {
 protected:
  void SetUp() override {
    streamer s;
    s.id = 1;
    s.host = "s1";
    s.url = "http://s1";
    streamers.put(s);
    cfg.default_max_sessions = 2;
    cfg.node_id = "node-a";
    st = std::make_unique<account_state>("acc", 5, 9, cfg, signer, streamers, "node-a");
  }

  link_outcome link(const std::string& device, const std::string& stream = "news") {
    link_request r;
    r.account_id = "acc";
    r.device_id = device;
    r.content.stream = stream;
    r.client_ip = "10.0.0." + std::to_string(device.size());
    return st->request_link(r, clock.now(), fx.writes);
  }
  auth_outcome auth(const std::string& device, const std::string& sid, const std::string& ip = "1.1.1.1",
                    const std::string& stream = "news") {
    auth_request a;
    a.account_id = "acc";
    a.device_id = device;
    a.stream = stream;
    a.session_id = sid;
    a.ip = ip;
    a.new_session = true;
    a.token_issued_at = clock.now();
    return st->authorize(a, clock.now(), fx);
  }
  play_report listed(const std::string& sid, const std::string& ip = "1.1.1.1") {
    play_report r;
    r.what = play_report::kind::listed;
    r.session_id = sid;
    r.stream = "news";
    r.ip = ip;
    r.streamer_id = 1;
    r.token = "tok";
    return r;
  }
  // The events among the writes so far, and the writes of other kinds.
  std::vector<const storage::event_insert*> events() const {
    std::vector<const storage::event_insert*> out;
    for (auto& w : fx.writes)
      if (w.what == storage::write_op::kind::insert_event) out.push_back(&w.event());
    return out;
  }
  std::vector<std::string> holder_devices(const audit_event& e) const {
    std::vector<std::string> out;
    for (auto& h : e.holders) out.push_back(h.device_id);
    return out;
  }

  manual_clock clock;
  link_signer signer = *link_signer::from_spec("k1:x");
  streamer_directory streamers;
  decision_settings cfg;
  std::unique_ptr<account_state> st;
  side_effects fx;
};

TEST_F(Audit, ApprovalsRecordNothing) {
  ASSERT_EQ(link("tv").result, link_result::approved);
  ASSERT_EQ(auth("tv", "f1").result, auth_result::allow);
  ASSERT_EQ(link("phone").result, link_result::approved);
  EXPECT_TRUE(events().empty());
  EXPECT_FALSE(fx.writes.empty());
}

TEST_F(Audit, ALinkDeniedForTheLimitRecordsWhoHeldTheSlots) {
  ASSERT_EQ(link("tv", "sports").result, link_result::approved);
  clock.advance(seconds(1));
  ASSERT_EQ(auth("tv", "f1", "10.9.9.9", "sports").result, auth_result::allow);
  ASSERT_EQ(link("phone").result, link_result::approved);
  clock.advance(seconds(7));
  fx = {};
  auto out = link("tablet");
  ASSERT_EQ(out.result, link_result::denied);

  ASSERT_EQ(fx.writes.size(), 1u) << "a denial writes its event and nothing else";
  auto ev = events();
  ASSERT_EQ(ev.size(), 1u);
  const auto& e = ev[0]->event;
  EXPECT_EQ(e.kind, audit_kind::denied);
  EXPECT_EQ(e.account_id, "acc");
  EXPECT_EQ(e.device_id, "tablet");
  EXPECT_EQ(e.at, clock.now());
  EXPECT_EQ(e.reason, "max_sessions_reached");
  EXPECT_EQ(e.node, "node-a");
  EXPECT_EQ(e.max_sessions, 2);
  EXPECT_EQ(e.stream, "news");
  EXPECT_EQ(e.client_ip, "10.0.0.6");
  EXPECT_EQ(e.streamer_id, 0) << "none was chosen";
  ASSERT_EQ(e.holders.size(), 2u);
  EXPECT_EQ(e.holders[0].device_id, "tv");  // oldest first, like the 403's list
  EXPECT_EQ(e.holders[0].status, session_status::active);
  EXPECT_EQ(e.holders[0].stream, "sports");
  EXPECT_EQ(e.holders[0].streamer_id, 1);
  EXPECT_EQ(e.holders[0].started_at, clock.now() - seconds(8));
  EXPECT_EQ(e.holders[1].device_id, "phone");
  EXPECT_EQ(e.holders[1].status, session_status::pending);
  // Fenced like the rows: this node's shard, epoch and lease owner.
  EXPECT_EQ(ev[0]->shard, 5);
  EXPECT_EQ(ev[0]->epoch, 9);
  EXPECT_EQ(ev[0]->owner, "node-a");
}

TEST_F(Audit, AnAuthCheckDeniedForTheLimitIsRecorded) {
  link("d1");
  link("d2");
  clock.advance(cfg.pending_ttl + seconds(1));  // both pending links expire
  link("d3");
  clock.advance(seconds(1));
  ASSERT_EQ(auth("d1", "f1").result, auth_result::allow);  // takes the last slot
  fx = {};
  ASSERT_EQ(auth("d2", "f2", "2.2.2.2").result, auth_result::deny_limit);
  auto ev = events();
  ASSERT_EQ(ev.size(), 1u);
  const auto& e = ev[0]->event;
  EXPECT_EQ(e.kind, audit_kind::denied);
  EXPECT_EQ(e.device_id, "d2");
  EXPECT_EQ(e.reason, "max_sessions_reached");
  EXPECT_EQ(e.client_ip, "2.2.2.2");
  EXPECT_EQ(e.stream, "news");
  EXPECT_EQ(e.streamer_id, 1);
  EXPECT_EQ(holder_devices(e), (std::vector<std::string>{"d3", "d1"}));
}

TEST_F(Audit, ATokenReusedFromASecondAddressIsRecordedAsADenial) {
  link("d1");
  ASSERT_EQ(auth("d1", "f1", "1.1.1.1").result, auth_result::allow);
  fx = {};
  ASSERT_EQ(auth("d1", "f2", "6.6.6.6").result, auth_result::deny_reused);
  auto ev = events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0]->event.kind, audit_kind::denied);
  EXPECT_EQ(ev[0]->event.reason, "reused");
  EXPECT_EQ(ev[0]->event.client_ip, "6.6.6.6");
}

TEST_F(Audit, RefusalsThatAreNotDecisionsAboutTheLimitRecordNothing) {
  // A killed device's player asking again, an unknown device: the rules of
  // links, already on record (or nothing to record).
  link("d1");
  ASSERT_EQ(auth("d1", "f1").result, auth_result::allow);
  ASSERT_EQ(st->end_session("d1", true, clock.now(), fx), end_result::ended);
  fx = {};
  ASSERT_EQ(auth("d1", "f9").result, auth_result::deny_killed);
  ASSERT_EQ(auth("nobody", "f8").result, auth_result::deny_unknown_session);
  EXPECT_TRUE(events().empty());
}

TEST_F(Audit, ASyncKillOverTheLimitNamesTheSessionsKept) {
  cfg.default_max_sessions = 5;
  st = std::make_unique<account_state>("acc", 5, 9, cfg, signer, streamers);
  for (auto d : {"d1", "d2", "d3", "d4"}) {
    link(d);
    auth(d, std::string("f") + d);
    clock.advance(seconds(1));
  }
  std::vector<storage::write_op> w;
  st->put_settings({"acc", 2, false}, w);  // the operator lowered the limit
  std::vector<std::pair<std::string, play_report>> seen;
  for (auto d : {"d1", "d2", "d3", "d4"}) seen.push_back({d, listed(std::string("f") + d)});
  fx = {};
  st->on_sync(1, seen, clock.now(), clock.now(), fx);
  auto ev = events();
  ASSERT_EQ(ev.size(), 2u);
  std::set<std::string> killed;
  for (auto* e : ev) {
    EXPECT_EQ(e->event.kind, audit_kind::killed);
    EXPECT_EQ(e->event.reason, "killed_over_limit");
    EXPECT_EQ(e->event.max_sessions, 2);
    EXPECT_EQ(e->event.streamer_id, 1);
    EXPECT_EQ(e->event.node, "node-a");
    EXPECT_TRUE(e->owner.empty()) << "single node: no lease to check";
    // Both name the two oldest, which were kept (not each other).
    EXPECT_EQ(holder_devices(e->event), (std::vector<std::string>{"d1", "d2"}));
    killed.insert(e->event.device_id);
  }
  EXPECT_EQ(killed, (std::set<std::string>{"d3", "d4"}));
  // Listed again while the kill takes effect: pushed again, not recorded again.
  fx = {};
  st->on_sync(1, seen, clock.now(), clock.now(), fx);
  EXPECT_FALSE(fx.kills.empty());
  EXPECT_TRUE(events().empty());
}

TEST_F(Audit, ASessionRefusedAdoptionIsRecordedAsKilled) {
  // Sync-only: a third device plays with our token on a full account; it is
  // closed on the streamer as soon as it is seen.
  st->on_play("d1", listed("f1"), clock.now(), fx);
  st->on_play("d2", listed("f2"), clock.now(), fx);
  ASSERT_TRUE(events().empty());
  st->on_play("d3", listed("f3", "3.3.3.3"), clock.now(), fx);
  ASSERT_EQ(fx.kills.size(), 1u);
  auto ev = events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0]->event.kind, audit_kind::killed);
  EXPECT_EQ(ev[0]->event.device_id, "d3");
  EXPECT_EQ(ev[0]->event.reason, "killed_over_limit");
  EXPECT_EQ(ev[0]->event.client_ip, "3.3.3.3");
  EXPECT_EQ(holder_devices(ev[0]->event), (std::vector<std::string>{"d1", "d2"}));
}

TEST_F(Audit, APortalEvictionIsRecordedAndAPlainStopIsNot) {
  link("tv");
  link("phone");
  ASSERT_EQ(auth("phone", "f2", "4.4.4.4").result, auth_result::allow);
  fx = {};
  ASSERT_EQ(st->end_session("tv", false, clock.now(), fx), end_result::ended);
  EXPECT_TRUE(events().empty()) << "the user stopped: nothing was forced";
  ASSERT_EQ(st->end_session("phone", true, clock.now(), fx), end_result::ended);
  auto ev = events();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0]->event.kind, audit_kind::evicted);
  EXPECT_EQ(ev[0]->event.device_id, "phone");
  EXPECT_EQ(ev[0]->event.reason, "killed_by_operator");
  EXPECT_EQ(ev[0]->event.client_ip, "10.0.0.5") << "the address the link was asked from";
  EXPECT_EQ(ev[0]->event.streamer_id, 1);
  EXPECT_TRUE(ev[0]->event.holders.empty());
  // Evicting what is already over changes and records nothing.
  fx = {};
  ASSERT_EQ(st->end_session("phone", true, clock.now(), fx), end_result::ended);
  EXPECT_TRUE(events().empty());
}

TEST_F(Audit, TheWireNamesOfTheKindsRoundTrip) {
  std::set<std::string> names;
  for (auto k : all_audit_kinds) {
    names.insert(to_string(k));
    EXPECT_EQ(parse_audit_kind(to_string(k)), k);
  }
  EXPECT_EQ(names, (std::set<std::string>{"denied", "killed", "evicted", "ended_by_admin",
                                          "would_deny", "would_kill"}));
  EXPECT_FALSE(parse_audit_kind("Denied").has_value());
}

}  // namespace
