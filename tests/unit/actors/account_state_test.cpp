// Every row of the decision table (PRODUCT.md §2) and the expiry rules, on
// the plain state with simulated time.
#include <gtest/gtest.h>

#include "actors/account_state.hpp"

using namespace maxsess;
using namespace maxsess::actors;
using std::chrono::seconds;

namespace {

class AccountState : public ::testing::Test {
 protected:
  void SetUp() override {
    streamer s;
    s.id = 1;
    s.host = "s1.example.com";
    s.url = "http://s1.example.com:8080";
    streamers.put(s);
  }

  std::unique_ptr<account_state> make(decision_settings cfg = {}) {
    return std::make_unique<account_state>("acc1", 7, 3, cfg, signer, streamers);
  }

  link_request req(const std::string& device, content_type type = content_type::live,
                   const std::string& stream = "news") {
    link_request r;
    r.account_id = "acc1";
    r.device_id = device;
    r.content.type = type;
    r.content.stream = stream;
    r.client_ip = "10.0.0.1";
    return r;
  }

  link_outcome ask(account_state& st, const std::string& device,
                   content_type type = content_type::live) {
    return st.request_link(req(device, type), clock.now(), ops);
  }

  manual_clock clock;
  link_signer signer = *link_signer::from_spec("k1:unit-test-secret");
  streamer_directory streamers;
  std::vector<storage::write_op> ops;
};

TEST_F(AccountState, FreeSlotApprovesAndRecordsPending) {
  auto st = make();
  auto out = ask(*st, "d1");
  ASSERT_EQ(out.result, link_result::approved);
  EXPECT_EQ(out.session.status, session_status::pending);
  EXPECT_EQ(out.session.streamer_id, 1);
  EXPECT_EQ(out.url, "http://s1.example.com:8080/news/index.m3u8?token=" + out.token);
  EXPECT_EQ(out.expires_at, clock.now() + std::chrono::minutes(10));
  ASSERT_EQ(ops.size(), 1u);
  ASSERT_EQ(ops[0].what, storage::write_op::kind::upsert_session);
  EXPECT_EQ(ops[0].upsert().shard, 7);
  EXPECT_EQ(ops[0].upsert().epoch, 3);
  EXPECT_EQ(ops[0].upsert().session.device_id, "d1");
  // The token verifies and is bound to account, device, stream.
  auto claims = signer.verify(out.token, clock.now(), true);
  ASSERT_TRUE(std::holds_alternative<token_claims>(claims));
  EXPECT_EQ(std::get<token_claims>(claims).account_id, "acc1");
  EXPECT_EQ(std::get<token_claims>(claims).device_id, "d1");
  EXPECT_EQ(std::get<token_claims>(claims).stream, "news");
  EXPECT_EQ(streamers.load(1), 1);
}

TEST_F(AccountState, AtLimitDeniesAndListsHolders) {
  decision_settings cfg;
  cfg.default_max_sessions = 3;
  auto st = make(cfg);
  for (auto d : {"d1", "d2", "d3"}) {
    ASSERT_EQ(ask(*st, d).result, link_result::approved);
    clock.advance(seconds(1));
  }
  ops.clear();
  auto out = ask(*st, "d4");
  ASSERT_EQ(out.result, link_result::denied);
  EXPECT_EQ(out.max_sessions, 3);
  ASSERT_EQ(out.holders.size(), 3u);
  EXPECT_EQ(out.holders[0].device_id, "d1");  // oldest first
  EXPECT_EQ(out.holders[2].device_id, "d3");
  // A denial changes no session: it only writes its audit event.
  ASSERT_EQ(ops.size(), 1u);
  EXPECT_EQ(ops[0].what, storage::write_op::kind::insert_event);
  EXPECT_EQ(ops[0].event().event.kind, audit_kind::denied);
  EXPECT_EQ(st->find("d4"), nullptr);
}

TEST_F(AccountState, SameDeviceAgainKeepsItsSlot) {
  decision_settings cfg;
  cfg.default_max_sessions = 2;
  auto st = make(cfg);
  ask(*st, "d1");
  ask(*st, "d2");
  auto again = st->request_link(req("d1", content_type::live, "sports"), clock.now(), ops);
  ASSERT_EQ(again.result, link_result::approved);
  EXPECT_EQ(again.session.content.stream, "sports");
  EXPECT_EQ(st->slot_holders().size(), 2u);
  EXPECT_EQ(ask(*st, "d3").result, link_result::denied);
}

TEST_F(AccountState, ZeroMeansUnlimited) {
  auto st = make();
  std::vector<storage::write_op> w;
  st->put_settings({"acc1", 0, false}, w);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(ask(*st, "d" + std::to_string(i)).result, link_result::approved);
  EXPECT_EQ(st->slot_holders().size(), 50u);
}

TEST_F(AccountState, StoredSettingsOverrideDefault) {
  decision_settings cfg;
  cfg.default_max_sessions = 5;
  auto st = make(cfg);
  storage::account_snapshot snap;
  snap.settings = account_settings{"acc1", 1, false};
  st->load(snap, clock.now(), ops);
  EXPECT_EQ(st->max_sessions(), 1);
  EXPECT_EQ(ask(*st, "d1").result, link_result::approved);
  EXPECT_EQ(ask(*st, "d2").result, link_result::denied);
}

TEST_F(AccountState, RadioIsNeverCountedNorLimited) {
  decision_settings cfg;
  cfg.default_max_sessions = 1;
  auto st = make(cfg);
  ASSERT_EQ(ask(*st, "d1").result, link_result::approved);
  EXPECT_EQ(ask(*st, "r1", content_type::radio).result, link_result::approved);
  EXPECT_EQ(ask(*st, "r2", content_type::radio).result, link_result::approved);
  EXPECT_EQ(st->slot_holders().size(), 1u);
  // A device on radio asking for TV needs a free slot like any other.
  EXPECT_EQ(ask(*st, "r1", content_type::live).result, link_result::denied);
}

TEST_F(AccountState, ExemptAccountIsRecordedButNeverCounted) {
  decision_settings cfg;
  cfg.default_max_sessions = 1;
  auto st = make(cfg);
  std::vector<storage::write_op> w;
  st->put_settings({"acc1", 1, true}, w);
  for (auto d : {"d1", "d2", "d3"}) {
    auto out = ask(*st, d);
    ASSERT_EQ(out.result, link_result::approved);
    EXPECT_TRUE(out.session.exempt);
  }
  EXPECT_TRUE(st->slot_holders().empty());
  EXPECT_EQ(st->view().sessions.size(), 3u);
}

TEST_F(AccountState, FeatureOffApprovesEverythingAndStillRecords) {
  decision_settings cfg;
  cfg.enabled = false;
  cfg.default_max_sessions = 1;
  auto st = make(cfg);
  for (auto d : {"d1", "d2", "d3"}) ASSERT_EQ(ask(*st, d).result, link_result::approved);
  EXPECT_TRUE(st->slot_holders().empty());
  EXPECT_EQ(st->view().sessions.size(), 3u);
  EXPECT_FALSE(ask(*st, "d4").token.empty()) << "links are still signed";
}

TEST_F(AccountState, PendingEndsAfterPendingTtl) {
  decision_settings cfg;
  cfg.default_max_sessions = 1;
  cfg.pending_ttl = seconds(60);
  auto st = make(cfg);
  ASSERT_EQ(ask(*st, "d1").result, link_result::approved);
  EXPECT_EQ(st->next_deadline(), clock.now() + seconds(60));
  clock.advance(seconds(59));
  EXPECT_EQ(st->expire(clock.now(), ops), 0);
  EXPECT_EQ(ask(*st, "d2").result, link_result::denied);
  clock.advance(seconds(1));
  ops.clear();
  EXPECT_EQ(st->expire(clock.now(), ops), 1);
  ASSERT_EQ(ops.size(), 1u);
  auto* s = st->find("d1");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->status, session_status::ended);
  EXPECT_EQ(s->reason, end_reason::never_started);
  EXPECT_EQ(s->ended_at, clock.now());
  EXPECT_EQ(ask(*st, "d2").result, link_result::approved);
  EXPECT_EQ(streamers.load(1), 1);
}

TEST_F(AccountState, RequestExpiresLazilyWithoutATimer) {
  decision_settings cfg;
  cfg.default_max_sessions = 1;
  auto st = make(cfg);
  ask(*st, "d1");
  clock.advance(cfg.pending_ttl);
  EXPECT_EQ(ask(*st, "d2").result, link_result::approved);
}

TEST_F(AccountState, ActiveSessionGoesStaleWithoutUpdates) {
  decision_settings cfg;
  cfg.default_max_sessions = 1;
  cfg.stale_after = seconds(180);
  auto st = make(cfg);
  storage::account_snapshot snap;
  playback_session a;
  a.account_id = "acc1";
  a.device_id = "d1";
  a.status = session_status::active;
  a.content.stream = "news";
  a.started_at = a.updated_at = clock.now();
  a.streamer_id = 1;
  snap.sessions.push_back(a);
  st->load(snap, clock.now(), ops);
  EXPECT_EQ(streamers.load(1), 1);
  EXPECT_EQ(ask(*st, "d2").result, link_result::denied);
  clock.advance(seconds(179));
  EXPECT_EQ(st->expire(clock.now(), ops), 0);
  clock.advance(seconds(1));
  EXPECT_EQ(st->expire(clock.now(), ops), 1);
  EXPECT_EQ(st->find("d1")->reason, end_reason::stale);
  EXPECT_EQ(streamers.load(1), 0);
}

TEST_F(AccountState, LoadExpiresWhatExpiredWhileAway) {
  auto st = make();
  storage::account_snapshot snap;
  playback_session p;
  p.account_id = "acc1";
  p.device_id = "d1";
  p.status = session_status::pending;
  p.started_at = p.updated_at = clock.now() - std::chrono::minutes(5);
  snap.sessions.push_back(p);
  st->load(snap, clock.now(), ops);
  ASSERT_EQ(ops.size(), 1u);
  EXPECT_EQ(st->find("d1")->status, session_status::ended);
  EXPECT_FALSE(st->has_live_sessions());
  EXPECT_FALSE(st->next_deadline().has_value());
}

TEST_F(AccountState, EndAndKill) {
  auto st = make();
  ask(*st, "d1");
  ask(*st, "d2");
  side_effects fx;
  EXPECT_EQ(st->end_session("d1", false, clock.now(), fx), end_result::ended);
  EXPECT_EQ(st->find("d1")->status, session_status::ended);
  EXPECT_EQ(st->find("d1")->reason, end_reason::user);
  EXPECT_TRUE(fx.kills.empty());
  EXPECT_EQ(st->end_session("d2", true, clock.now(), fx), end_result::ended);
  EXPECT_EQ(st->find("d2")->status, session_status::killed);
  EXPECT_EQ(st->find("d2")->reason, end_reason::killed_by_operator);
  ASSERT_EQ(fx.writes.size(), 3u);  // two rows, and the eviction's audit event
  EXPECT_EQ(fx.writes[2].what, storage::write_op::kind::insert_event);
  ASSERT_EQ(fx.kills.size(), 1u) << "a kill is pushed to the streamer at once";
  EXPECT_EQ(fx.kills[0].device_id, "d2");
  EXPECT_EQ(fx.kills[0].streamer_id, 1);
  fx = {};
  EXPECT_EQ(st->end_session("d1", false, clock.now(), fx), end_result::ended);
  EXPECT_TRUE(fx.writes.empty()) << "ending an ended session changes nothing";
  EXPECT_EQ(st->end_session("nope", false, clock.now(), fx), end_result::not_found);
  EXPECT_EQ(streamers.load(1), 0);
}

TEST_F(AccountState, KilledDeviceMayAskAgainWhenASlotIsFree) {
  decision_settings cfg;
  cfg.default_max_sessions = 1;
  auto st = make(cfg);
  ask(*st, "d1");
  side_effects fx;
  st->end_session("d1", true, clock.now(), fx);
  auto out = ask(*st, "d1");
  ASSERT_EQ(out.result, link_result::approved);
  EXPECT_EQ(out.session.status, session_status::pending);
  EXPECT_FALSE(out.session.reason.has_value());
}

TEST_F(AccountState, StreamerChoice) {
  auto st = make();
  EXPECT_EQ(st->request_link([&] { auto r = req("d1"); r.streamer_id = 9; return r; }(),
                             clock.now(), ops).result,
            link_result::unknown_streamer);
  streamer nourl;
  nourl.id = 2;
  nourl.host = "s2";
  streamers.put(nourl);
  EXPECT_EQ(st->request_link([&] { auto r = req("d1"); r.streamer_id = 2; return r; }(),
                             clock.now(), ops).result,
            link_result::no_streamer);
  streamers.remove(1);
  EXPECT_EQ(ask(*st, "d1").result, link_result::no_streamer)
      << "a streamer without a url cannot serve links";
}

TEST_F(AccountState, LowestLoadStreamerIsChosenAndFullOnesSkipped) {
  streamer s2;
  s2.id = 2;
  s2.host = "s2";
  s2.url = "http://s2";
  s2.capacity = 1;
  streamers.put(s2);
  decision_settings cfg;
  cfg.default_max_sessions = 0;
  auto st = make(cfg);
  // s1 (capacity 0) ranks by count, s2 by ratio: both 0 -> lowest id wins.
  EXPECT_EQ(ask(*st, "d1").session.streamer_id, 1);
  EXPECT_EQ(ask(*st, "d2").session.streamer_id, 2);  // s1 has 1, s2 has 0
  EXPECT_EQ(ask(*st, "d3").session.streamer_id, 1);  // s2 is full
  streamers.remove(1);
  EXPECT_EQ(ask(*st, "d4").result, link_result::no_streamer);
}

TEST_F(AccountState, TimeshiftLinkUsesStartAndDuration) {
  streamer s;
  s.url = "http://s/";
  content_ref c;
  c.type = content_type::catchup;
  c.stream = "ch1";
  c.start = 1700000000;
  c.duration = 3600;
  EXPECT_EQ(build_link_url(s, c, "T"), "http://s/ch1/index-1700000000-3600.m3u8?token=T");
  s.link_template = "{url}/{stream}/mono.m3u8?token={token}&x=1";
  EXPECT_EQ(build_link_url(s, c, "T"), "http://s/ch1/mono.m3u8?token=T&x=1");
}

TEST_F(AccountState, SecuretokenStreamerSignsWithFlussonicScheme) {
  streamer s;
  s.id = 5;
  s.host = "s5";
  s.url = "http://s5";
  s.mode = link_mode::securetoken;
  s.securetoken_secret = "sekret";
  streamers.put(s);
  auto st = make();
  auto r = req("d1");
  r.streamer_id = 5;
  auto out = st->request_link(r, clock.now(), ops);
  ASSERT_EQ(out.result, link_result::approved);
  // hash-salt-endtime-starttime
  EXPECT_EQ(std::count(out.token.begin(), out.token.end(), '-'), 3);
  EXPECT_EQ(out.token.size() > 40, true);
  auto end = out.token.substr(out.token.find('-', 41) + 1);
  EXPECT_EQ(std::stoll(end.substr(0, end.find('-'))), to_unix_seconds(out.expires_at));
}

}  // namespace
