// Auth backend gaps of issue 8 (defect 6), decided by one account's state
// with real signed tokens and simulated time: a link issued before a kill
// in the same second, an expired link on update_session, a device with no
// session row.
#include <gtest/gtest.h>

#include "actors/account_state.hpp"

using namespace maxsess;
using namespace maxsess::actors;
using std::chrono::milliseconds;
using std::chrono::seconds;

namespace {

class AuthGaps : public ::testing::Test {
 protected:
  void SetUp() override {
    streamer s;
    s.id = 7;
    s.host = "s7";
    s.url = "http://s7";
    streamers.put(s);
    cfg.default_max_sessions = 2;
    st = std::make_unique<account_state>("acc", 0, 1, cfg, signer, streamers);
  }

  std::string link(const std::string& device, const std::string& stream = "news") {
    link_request r;
    r.account_id = "acc";
    r.device_id = device;
    r.content.stream = stream;
    auto out = st->request_link(r, clock.now(), fx.writes);
    EXPECT_EQ(out.result, link_result::approved);
    return out.token;
  }

  // What the HTTP layer hands the account for a Flussonic call carrying
  // `token`: its claims as verified (expiry not checked: the HTTP layer
  // refuses expired links on new_session itself).
  auth_result auth(const std::string& token, const std::string& sid, bool fresh) {
    auto v = signer.verify(token, clock.now(), false);
    EXPECT_TRUE(std::holds_alternative<token_claims>(v));
    if (!std::holds_alternative<token_claims>(v)) return auth_result::unavailable;
    auto& c = std::get<token_claims>(v);
    auth_request a;
    a.account_id = c.account_id;
    a.device_id = c.device_id;
    a.stream = c.stream;
    a.session_id = sid;
    a.ip = "1.1.1.1";
    a.new_session = fresh;
    a.token_issued_at = issued_at(c, cfg.link_ttl);
    return st->authorize(a, clock.now(), fx).result;
  }

  // A second's start plus 100 ms, so that everything below stays inside it.
  manual_clock clock{sys_time{} + seconds(1795602277) + milliseconds(100)};
  link_signer signer = *link_signer::from_spec("k1:x");
  streamer_directory streamers;
  decision_settings cfg;
  std::unique_ptr<account_state> st;
  side_effects fx;
};

TEST_F(AuthGaps, LinkFromBeforeAKillIsStaleEvenInTheSameSecond) {
  auto before = link("d1");
  ASSERT_EQ(auth(before, "f1", true), auth_result::allow);
  clock.advance(milliseconds(200));
  ASSERT_EQ(st->end_session("d1", true, clock.now(), fx), end_result::ended);
  clock.advance(milliseconds(200));
  auto after = link("d1");  // the device's new session, in the same second
  EXPECT_EQ(auth(before, "f2", true), auth_result::deny_stale_token)
      << "the pre-kill link opened a new Flussonic session";
  EXPECT_EQ(auth(before, "f1", false), auth_result::deny_stale_token);
  EXPECT_EQ(auth(after, "f3", true), auth_result::allow) << "the new link plays";
}

TEST_F(AuthGaps, OwnLinkIsNeverStaleAtMillisecondResolution) {
  // The clock has sub-millisecond parts the token cannot carry.
  clock.advance(std::chrono::microseconds(999));
  auto t = link("d1");
  EXPECT_EQ(auth(t, "f1", true), auth_result::allow);
  // A second link of the live session is newer than the session's start.
  clock.advance(milliseconds(1));
  auto zap = link("d1", "sports");
  EXPECT_EQ(auth(zap, "f2", true), auth_result::allow);
}

TEST_F(AuthGaps, WholeSecondLinksFromBeforeTheUpgradeStillPlay) {
  // An m1 link issued in this second (its expiry rounded down to the
  // second): taken as issued at the end of that second, so it still opens
  // the session it was issued for.
  auto m2 = link("d1");
  auto v = signer.verify(m2, clock.now(), false);
  ASSERT_TRUE(std::holds_alternative<token_claims>(v));
  auto c = std::get<token_claims>(v);
  c.whole_seconds = true;
  c.expires_ms = c.expires * 1000;
  auth_request a;
  a.account_id = "acc";
  a.device_id = "d1";
  a.stream = "news";
  a.session_id = "f1";
  a.ip = "1.1.1.1";
  a.token_issued_at = issued_at(c, cfg.link_ttl);
  EXPECT_EQ(st->authorize(a, clock.now(), fx).result, auth_result::allow);
}

TEST_F(AuthGaps, ExpiredLinkOnUpdateSessionNeverOpensAFlussonicSession) {
  auto t = link("d1");
  clock.advance(cfg.link_ttl + std::chrono::hours(1));  // pending long gone, link expired an hour ago
  fx.writes.clear();
  EXPECT_EQ(auth(t, "never-seen", false), auth_result::deny_expired);
  EXPECT_NE(st->find("d1")->status, session_status::active);
}

TEST_F(AuthGaps, ExpiredLinkStillCarriesTheFilmItOpened) {
  cfg.stale_after = std::chrono::hours(10);  // no update needed in between here
  st = std::make_unique<account_state>("acc", 0, 1, cfg, signer, streamers);
  auto t = link("d1");
  ASSERT_EQ(auth(t, "f1", true), auth_result::allow);
  clock.advance(cfg.link_ttl + std::chrono::hours(1));
  EXPECT_EQ(auth(t, "f1", false), auth_result::allow) << "a long film is never cut off";
}

TEST_F(AuthGaps, DeviceWithoutAnySessionIsDeniedAndNoRowIsCreated) {
  // A valid link for a device this account has no row for (none was issued
  // here, or its row is gone): nothing is bound, least of all to streamer 0.
  auto ghost = signer.sign("acc", "ghost", "news", clock.now() + cfg.link_ttl);
  auto expired = signer.sign("acc", "ghost", "news", clock.now() - std::chrono::hours(1));
  EXPECT_EQ(auth(ghost, "f1", true), auth_result::deny_unknown_session);
  EXPECT_EQ(auth(ghost, "f1", false), auth_result::deny_unknown_session);
  EXPECT_EQ(auth(expired, "f2", false), auth_result::deny_unknown_session);
  EXPECT_EQ(st->find("ghost"), nullptr);
  for (auto& w : fx.writes) {
    if (w.what == storage::write_op::kind::upsert_session) {
      EXPECT_NE(w.upsert().session.streamer_id, 0) << w.upsert().session.device_id;
    }
  }
  EXPECT_STREQ(to_string(auth_result::deny_unknown_session), "unknown_session");
  EXPECT_STREQ(to_string(auth_result::deny_expired), "token_expired");
}

}  // namespace
