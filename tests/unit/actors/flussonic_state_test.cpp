// What the streamers report, applied to one account's state: auth backend
// calls, webhook events, sync listings, kills (PRODUCT.md §2–§3).
#include <gtest/gtest.h>

#include <algorithm>

#include "actors/account_state.hpp"
#include "actors/auth_board.hpp"

using namespace maxsess;
using namespace maxsess::actors;
using std::chrono::seconds;

namespace {

class FlussonicState : public ::testing::Test {
 protected:
  void SetUp() override {
    streamer s;
    s.id = 1;
    s.host = "s1";
    s.url = "http://s1";
    streamers.put(s);
    cfg.default_max_sessions = 2;
    st = std::make_unique<account_state>("acc", 0, 1, cfg, signer, streamers);
  }

  link_outcome link(const std::string& device, const std::string& stream = "news") {
    link_request r;
    r.account_id = "acc";
    r.device_id = device;
    r.content.stream = stream;
    auto out = st->request_link(r, clock.now(), fx.writes);
    EXPECT_EQ(out.result, link_result::approved);
    return out;
  }
  auth_outcome auth(const std::string& device, const std::string& sid, const std::string& ip = "1.1.1.1",
                    bool fresh = true, const std::string& stream = "news") {
    auth_request a;
    a.account_id = "acc";
    a.device_id = device;
    a.stream = stream;
    a.session_id = sid;
    a.ip = ip;
    a.new_session = fresh;
    a.token_issued_at = clock.now();
    return st->authorize(a, clock.now(), fx);
  }
  play_report event(play_report::kind k, const std::string& sid, const std::string& stream = "news",
                    const std::string& ip = "1.1.1.1") {
    play_report r;
    r.what = k;
    r.session_id = sid;
    r.stream = stream;
    r.ip = ip;
    r.streamer_id = 1;
    r.token = "tok";
    return r;
  }
  session_status status(const std::string& device) { return st->find(device)->status; }
  // d1, d2, d3 play (fd1, fd2, fd3), a second apart, under a limit of 5.
  void three_playing() {
    cfg.default_max_sessions = 5;
    st = std::make_unique<account_state>("acc", 0, 1, cfg, signer, streamers);
    for (auto d : {"d1", "d2", "d3"}) {
      link(d);
      auth(d, std::string("f") + d);
      clock.advance(seconds(1));
    }
  }
  // ... then the operator lowers the limit to 2.
  void three_playing_then_limit_lowered_to_two() {
    three_playing();
    std::vector<storage::write_op> w;
    st->put_settings({"acc", 2, false}, w);
  }

  manual_clock clock;
  link_signer signer = *link_signer::from_spec("k1:x");
  streamer_directory streamers;
  decision_settings cfg;
  std::unique_ptr<account_state> st;
  side_effects fx;
};

TEST_F(FlussonicState, AuthBindsAndActivates) {
  link("d1");
  EXPECT_EQ(auth("d1", "f1").result, auth_result::allow);
  EXPECT_EQ(status("d1"), session_status::active);
  ASSERT_EQ(st->find("d1")->flussonic.size(), 1u);
  EXPECT_EQ(st->find("d1")->flussonic[0].id, "f1");
  clock.advance(seconds(30));
  EXPECT_EQ(auth("d1", "f1", "1.1.1.1", false).result, auth_result::allow);
  EXPECT_EQ(st->find("d1")->updated_at, clock.now());
}

TEST_F(FlussonicState, UpdateSessionProgressIsWrittenWithinTheDelayNotPerCheck) {
  // progress_write_delay (default 1 s): an update_session of an active,
  // bound session changes nothing decided, so it waits in memory.
  link("d1");
  ASSERT_EQ(auth("d1", "f1").result, auth_result::allow);  // binds, pending -> active: written
  fx.writes.clear();
  clock.advance(std::chrono::milliseconds(300));
  EXPECT_EQ(auth("d1", "f1", "1.1.1.1", false).result, auth_result::allow);
  EXPECT_TRUE(fx.writes.empty());
  EXPECT_TRUE(st->progress_pending());
  // The deadline is the first unwritten check's + delay.
  ASSERT_TRUE(st->next_deadline().has_value());
  EXPECT_EQ(*st->next_deadline(), clock.now() + std::chrono::seconds(1));
  clock.advance(std::chrono::milliseconds(500));
  EXPECT_EQ(auth("d1", "f1", "1.1.1.1", false).result, auth_result::allow);
  const auto last_seen = clock.now();
  EXPECT_TRUE(fx.writes.empty());
  std::vector<storage::write_op> ops;
  st->expire(clock.now(), ops);
  EXPECT_TRUE(ops.empty()) << "not due yet";
  clock.advance(std::chrono::milliseconds(500));
  st->expire(clock.now(), ops);
  ASSERT_EQ(ops.size(), 1u);  // one row with everything since
  ASSERT_EQ(ops[0].what, storage::write_op::kind::upsert_session);
  EXPECT_EQ(ops[0].upsert().session.updated_at, last_seen);
  EXPECT_FALSE(st->progress_pending());
}

TEST_F(FlussonicState, AnyOtherWriteOfTheSessionCarriesItsProgress) {
  link("d1");
  ASSERT_EQ(auth("d1", "f1").result, auth_result::allow);
  clock.advance(seconds(5));
  ASSERT_EQ(auth("d1", "f1", "1.1.1.1", false).result, auth_result::allow);
  ASSERT_TRUE(st->progress_pending());
  fx.writes.clear();
  // A decision on the same device (a second Flussonic session) is written
  // before its answer, and its row has the progress too.
  ASSERT_EQ(auth("d1", "f2").result, auth_result::allow);
  ASSERT_EQ(fx.writes.size(), 1u);
  EXPECT_FALSE(st->progress_pending());
  // Handing the shard off writes what waits.
  clock.advance(seconds(5));
  ASSERT_EQ(auth("d1", "f2", "1.1.1.1", false).result, auth_result::allow);
  std::vector<storage::write_op> ops;
  st->flush_progress(ops);
  ASSERT_EQ(ops.size(), 1u);
  ASSERT_EQ(ops[0].what, storage::write_op::kind::upsert_session);
  EXPECT_EQ(ops[0].upsert().session.updated_at, clock.now());
}

TEST_F(FlussonicState, ZeroProgressDelayWritesEveryCheck) {
  cfg.progress_write_delay = std::chrono::milliseconds(0);
  st = std::make_unique<account_state>("acc", 0, 1, cfg, signer, streamers);
  link("d1");
  ASSERT_EQ(auth("d1", "f1").result, auth_result::allow);
  fx.writes.clear();
  EXPECT_EQ(auth("d1", "f1", "1.1.1.1", false).result, auth_result::allow);
  EXPECT_EQ(fx.writes.size(), 1u);
  EXPECT_FALSE(st->progress_pending());
}

TEST_F(FlussonicState, SecondAddressWithTheSameTokenIsRefused) {
  link("d1");
  EXPECT_EQ(auth("d1", "f1", "1.1.1.1").result, auth_result::allow);
  EXPECT_EQ(auth("d1", "f2", "2.2.2.2").result, auth_result::deny_reused);
  EXPECT_EQ(fx.over_limit_attempts, 1);
  // The same address reconnecting replaces the old Flussonic session.
  EXPECT_EQ(auth("d1", "f3", "1.1.1.1").result, auth_result::allow);
  EXPECT_EQ(auth("d1", "f1", "1.1.1.1", false).result, auth_result::deny_replaced);
}

TEST_F(FlussonicState, KilledSessionIsRefusedAtItsNextCheck) {
  link("d1");
  auth("d1", "f1");
  EXPECT_EQ(st->end_session("d1", true, clock.now(), fx), end_result::ended);
  ASSERT_EQ(fx.kills.size(), 1u);
  EXPECT_EQ(fx.kills[0].session_id, "f1");
  EXPECT_EQ(auth("d1", "f1", "1.1.1.1", false).result, auth_result::deny_killed);
  EXPECT_EQ(auth("d1", "f9").result, auth_result::deny_killed);
}

// DELETE /api/v1/accounts/{id}: every live session is killed like a portal
// eviction (closed on the streamer, refused at its next auth check), ended
// ones stay as they are, the settings row goes (defaults from now on).
TEST_F(FlussonicState, RemovedAccountKillsItsLiveSessionsAndForgetsItsSettings) {
  st->put_settings({"acc", 5, true}, fx.writes);
  link("d1");
  auth("d1", "f1");
  link("d2");  // pending: no Flussonic session yet, closed by its token
  link("d3");
  EXPECT_EQ(st->end_session("d3", false, clock.now(), fx), end_result::ended);
  fx = {};
  clock.advance(seconds(1));
  EXPECT_EQ(st->remove_account(clock.now(), fx), end_result::ended);
  EXPECT_EQ(status("d1"), session_status::killed);
  EXPECT_EQ(status("d2"), session_status::killed);
  EXPECT_EQ(st->find("d1")->reason, end_reason::killed_by_operator);
  EXPECT_EQ(status("d3"), session_status::ended) << "an ended session stays ended";
  EXPECT_EQ(st->find("d3")->reason, end_reason::user);
  ASSERT_EQ(fx.kills.size(), 2u);
  EXPECT_EQ(fx.kills[0].session_id, "f1");
  EXPECT_EQ(fx.kills[1].session_id, "");
  EXPECT_FALSE(fx.kills[1].token.empty());
  int session_rows = 0, account_deletes = 0;
  std::vector<std::string> ended_by_admin;  // the audit trail: one event per live session
  for (auto& w : fx.writes) {
    session_rows += w.what == storage::write_op::kind::upsert_session;
    if (w.what == storage::write_op::kind::delete_account) {
      ++account_deletes;
      EXPECT_EQ(w.account().settings.account_id, "acc");
    }
    if (w.what == storage::write_op::kind::insert_event) {
      EXPECT_EQ(w.event().event.kind, audit_kind::ended_by_admin);
      EXPECT_EQ(w.event().event.reason, "account_deleted");
      ended_by_admin.push_back(w.event().event.device_id);
    }
  }
  EXPECT_EQ(session_rows, 2);
  EXPECT_EQ(account_deletes, 1);
  EXPECT_EQ(ended_by_admin, (std::vector<std::string>{"d1", "d2"}));
  auto v = st->view();
  EXPECT_TRUE(v.found) << "its session rows are still shown";
  EXPECT_EQ(v.settings.max_sessions, cfg.default_max_sessions) << "the defaults apply again";
  EXPECT_FALSE(v.settings.exempt);
  EXPECT_EQ(auth("d1", "f1", "1.1.1.1", false).result, auth_result::deny_killed);
  EXPECT_FALSE(st->has_live_sessions());
  // Again: nothing live, no settings: nothing to write, still "done".
  fx = {};
  EXPECT_EQ(st->remove_account(clock.now(), fx), end_result::ended);
  EXPECT_TRUE(fx.writes.empty());
  EXPECT_TRUE(fx.kills.empty());
}

TEST_F(FlussonicState, RemovingAnUnknownAccountIsNotFoundAndWritesNothing) {
  EXPECT_EQ(st->remove_account(clock.now(), fx), end_result::not_found);
  EXPECT_TRUE(fx.writes.empty());
  st->put_settings({"acc", 1, false}, fx.writes);
  fx = {};
  EXPECT_EQ(st->remove_account(clock.now(), fx), end_result::ended) << "settings alone are an account";
  ASSERT_EQ(fx.writes.size(), 1u);
  EXPECT_EQ(fx.writes[0].what, storage::write_op::kind::delete_account);
  fx = {};
  EXPECT_EQ(st->remove_account(clock.now(), fx), end_result::not_found);
}

TEST_F(FlussonicState, OldTokenCannotReopenAfterANewLink) {
  link("d1");
  auth("d1", "f1");
  st->end_session("d1", true, clock.now(), fx);
  clock.advance(seconds(5));
  link("d1");  // a new session for the device, started now
  auth_request a;
  a.account_id = "acc";
  a.device_id = "d1";
  a.stream = "news";
  a.session_id = "f2";
  a.ip = "1.1.1.1";
  a.token_issued_at = clock.now() - seconds(5);  // the link from before the kill
  EXPECT_EQ(st->authorize(a, clock.now(), fx).result, auth_result::deny_stale_token);
  // The killed player going on with update_session is not re-bound either.
  a.session_id = "f1";
  a.new_session = false;
  EXPECT_EQ(st->authorize(a, clock.now(), fx).result, auth_result::deny_stale_token);
}

TEST_F(FlussonicState, FirstAuthAfterPendingTtlIsDecidedAfresh) {
  link("d1");
  link("d2");
  clock.advance(cfg.pending_ttl + seconds(1));  // both pending links expire
  link("d3");
  EXPECT_EQ(auth("d1", "f1").result, auth_result::allow);  // one slot left: taken
  EXPECT_EQ(auth("d2", "f2").result, auth_result::deny_limit);
  EXPECT_EQ(status("d1"), session_status::active);
}

TEST_F(FlussonicState, PlayClosedEndsTheDeviceSessionWhenNothingIsOpen) {
  link("d1");
  auth("d1", "f1");
  st->on_play("d1", event(play_report::kind::updated, "f1"), clock.now(), fx);
  st->on_play("d1", event(play_report::kind::closed, "f1"), clock.now(), fx);
  EXPECT_EQ(status("d1"), session_status::ended);
  EXPECT_EQ(st->find("d1")->reason, end_reason::flussonic_closed);
  // Redelivered: changes nothing.
  auto writes = fx.writes.size();
  st->on_play("d1", event(play_report::kind::closed, "f1"), clock.now(), fx);
  EXPECT_EQ(fx.writes.size(), writes);
}

TEST_F(FlussonicState, ZappingOldSessionClosingLateNeverCostsASlot) {
  link("d1", "news");
  auth("d1", "f1", "1.1.1.1", true, "news");
  link("d1", "sports");  // channel switch: new link, same slot
  auth("d1", "f2", "1.1.1.1", true, "sports");
  st->on_play("d1", event(play_report::kind::closed, "f1", "news"), clock.now(), fx);
  EXPECT_EQ(status("d1"), session_status::active);
  EXPECT_EQ(st->slot_holders().size(), 1u);
}

TEST_F(FlussonicState, EventsAdoptUnknownSessionsAndKillWhenFull) {
  st->on_play("d1", event(play_report::kind::started, "f1"), clock.now(), fx);
  st->on_play("d2", event(play_report::kind::started, "f2"), clock.now(), fx);
  EXPECT_EQ(status("d1"), session_status::active);
  EXPECT_EQ(status("d2"), session_status::active);
  EXPECT_TRUE(fx.kills.empty());
  st->on_play("d3", event(play_report::kind::started, "f3"), clock.now(), fx);
  ASSERT_EQ(fx.kills.size(), 1u);
  EXPECT_EQ(fx.kills[0].session_id, "f3");
  EXPECT_EQ(st->find("d3"), nullptr);
}

TEST_F(FlussonicState, ReportedProgressOfAnActiveSessionWaitsInMemoryButDecisionsAreWrittenAtOnce) {
  // A webhook's play_updated (journaled before it came, migration 011) or a
  // listing of an active, bound session decides nothing: its row is written
  // within progress_write_delay, like an auth check's progress.
  link("d1");
  fx.writes.clear();
  auto first = event(play_report::kind::started, "f1");
  first.token.clear();                          // no token to compare: the device's session
  st->on_play("d1", first, clock.now(), fx);  // bound: pending -> active
  ASSERT_EQ(status("d1"), session_status::active);
  ASSERT_EQ(fx.writes.size(), 1u);
  fx.writes.clear();
  for (auto k : {play_report::kind::updated, play_report::kind::listed}) {
    clock.advance(std::chrono::milliseconds(200));
    auto r = event(k, "f1");
    r.token.clear();
    r.bytes = st->find("d1")->bytes + 1000;
    r.at = clock.now();
    st->on_play("d1", r, clock.now(), fx);
  }
  EXPECT_TRUE(fx.writes.empty());
  EXPECT_TRUE(st->progress_pending());
  EXPECT_EQ(st->find("d1")->bytes, 2000);
  clock.advance(seconds(1));
  std::vector<storage::write_op> ops;
  st->expire(clock.now(), ops);
  ASSERT_EQ(ops.size(), 1u);
  ASSERT_EQ(ops[0].what, storage::write_op::kind::upsert_session);
  EXPECT_EQ(ops[0].upsert().session.bytes, 2000);

  // A second Flussonic session of the device binds: a decision, written now.
  auto second = event(play_report::kind::updated, "f2");
  second.token.clear();
  st->on_play("d1", second, clock.now(), fx);
  EXPECT_EQ(fx.writes.size(), 1u);
  fx.writes.clear();
  // So is a close.
  second.what = play_report::kind::closed;
  st->on_play("d1", second, clock.now(), fx);
  EXPECT_EQ(fx.writes.size(), 1u);
  fx.writes.clear();
  // And a late report of the closed one (the device plays on with f1).
  clock.advance(seconds(1));
  second.what = play_report::kind::updated;
  second.bytes = 1'000'000;
  second.at = clock.now();
  st->on_play("d1", second, clock.now(), fx);
  EXPECT_EQ(fx.writes.size(), 1u);

  // Without a delay every report is written.
  cfg.progress_write_delay = std::chrono::milliseconds(0);
  st = std::make_unique<account_state>("acc", 0, 1, cfg, signer, streamers);
  link("d2");
  auto g = event(play_report::kind::started, "g1");
  g.token.clear();
  st->on_play("d2", g, clock.now(), fx);
  fx.writes.clear();
  auto r = g;
  r.what = play_report::kind::updated;
  r.bytes = 10;
  st->on_play("d2", r, clock.now(), fx);
  EXPECT_EQ(fx.writes.size(), 1u);
}

TEST_F(FlussonicState, OlderUpdateNeverOverwritesNewer) {
  link("d1");
  auth("d1", "f1");
  auto r = event(play_report::kind::updated, "f1");
  r.bytes = 5000;
  r.duration = 50;
  r.at = clock.now();
  st->on_play("d1", r, clock.now(), fx);
  auto old = event(play_report::kind::updated, "f1");
  old.bytes = 100;
  old.duration = 1;
  old.at = clock.now() - seconds(60);
  st->on_play("d1", old, clock.now(), fx);
  EXPECT_EQ(st->find("d1")->bytes, 5000);
  EXPECT_EQ(st->find("d1")->duration_s, 50);
  EXPECT_EQ(st->find("d1")->updated_at, clock.now());
}

TEST_F(FlussonicState, SyncEndsGoneSessionsAndKillsNewestOverLimit) {
  link("d1");
  auth("d1", "f1");
  clock.advance(seconds(1));
  // Two more devices play (no auth check saw them: sync-only deployment).
  std::vector<std::pair<std::string, play_report>> seen = {
      {"d1", event(play_report::kind::listed, "f1")},
      {"d2", event(play_report::kind::listed, "f2")},
  };
  st->on_sync(1, seen, clock.now(), clock.now(), fx);
  EXPECT_EQ(status("d2"), session_status::active);
  clock.advance(seconds(1));
  seen.push_back({"d3", event(play_report::kind::listed, "f3")});
  fx = {};
  st->on_sync(1, seen, clock.now(), clock.now(), fx);
  // d3 was adopted over the limit of 2 -> closed on the streamer right away.
  ASSERT_EQ(fx.kills.size(), 1u);
  EXPECT_EQ(fx.kills[0].session_id, "f3");
  // f1 disappears from the streamer: d1 ended (gone).
  clock.advance(seconds(1));
  fx = {};
  st->on_sync(1, {{"d2", event(play_report::kind::listed, "f2")}}, clock.now(), clock.now(), fx);
  EXPECT_EQ(status("d1"), session_status::ended);
  EXPECT_EQ(st->find("d1")->reason, end_reason::gone);
  EXPECT_EQ(status("d2"), session_status::active);
}

TEST_F(FlussonicState, SyncInPartsEndsOnlyWhatTheWholeListingMissed) {
  three_playing();
  const auto listed_at = clock.now();  // the listing starts
  clock.advance(seconds(1));
  // Page 1 shows d1 only: a part while the listing runs ends nothing.
  fx = {};
  st->on_sync(1, {{"d1", event(play_report::kind::listed, "fd1")}}, {}, sys_time{}, clock.now(), fx);
  EXPECT_EQ(status("d2"), session_status::active);
  EXPECT_EQ(status("d3"), session_status::active);
  // Page 2 adopts a new device (d4).
  st->on_sync(1, {{"d4", event(play_report::kind::listed, "fd4")}}, {}, sys_time{}, clock.now(), fx);
  EXPECT_EQ(status("d4"), session_status::active);
  // The end: d2 was listed on a page whose part went before it, d3 nowhere.
  fx = {};
  st->on_sync(1, {}, {"fd1", "fd2", "fd4"}, listed_at, clock.now(), fx);
  EXPECT_EQ(status("d1"), session_status::active);
  EXPECT_EQ(status("d2"), session_status::active);
  EXPECT_EQ(status("d4"), session_status::active);
  EXPECT_EQ(status("d3"), session_status::ended);
  EXPECT_EQ(st->find("d3")->reason, end_reason::gone);
  EXPECT_FALSE(fx.writes.empty());  // d3's row
  // A session bound after the listing started is not judged by it.
  link("d5");
  auth("d5", "fd5");
  fx = {};
  st->on_sync(1, {}, {"fd1", "fd2", "fd4"}, listed_at, clock.now(), fx);
  EXPECT_EQ(status("d5"), session_status::active);
  EXPECT_TRUE(fx.writes.empty());
}

TEST_F(FlussonicState, SyncPartsJudgeNoLimitBeforeTheEndSaysWhatIsGone) {
  three_playing_then_limit_lowered_to_two();
  const auto listed_at = clock.now();
  clock.advance(seconds(1));
  // d1 is gone from the streamer; d2 and d3 play on. A part while the
  // listing runs must not kill d3 for d1's slot.
  fx = {};
  st->on_sync(1, {{"d2", event(play_report::kind::listed, "fd2")}, {"d3", event(play_report::kind::listed, "fd3")}},
              {}, sys_time{}, clock.now(), fx);
  EXPECT_TRUE(fx.kills.empty());
  EXPECT_EQ(status("d3"), session_status::active);
  // The end: d1 gone, and then the account holds 2: nothing killed.
  fx = {};
  st->on_sync(1, {}, {"fd2", "fd3"}, listed_at, clock.now(), fx);
  EXPECT_EQ(status("d1"), session_status::ended);
  EXPECT_EQ(status("d2"), session_status::active);
  EXPECT_EQ(status("d3"), session_status::active);
  EXPECT_TRUE(fx.kills.empty());
}

TEST_F(FlussonicState, OverLimitFoundBySyncKillsTheNewest) {
  three_playing_then_limit_lowered_to_two();
  std::vector<std::pair<std::string, play_report>> seen;
  for (auto d : {"d1", "d2", "d3"}) seen.push_back({d, event(play_report::kind::listed, std::string("f") + d)});
  fx = {};
  st->on_sync(1, seen, clock.now(), clock.now(), fx);
  EXPECT_EQ(status("d3"), session_status::killed);
  EXPECT_EQ(st->find("d3")->reason, end_reason::killed_over_limit);
  EXPECT_EQ(status("d1"), session_status::active);
  ASSERT_EQ(fx.kills.size(), 1u);
  EXPECT_EQ(fx.kills[0].session_id, "fd3");
  // Still listed at the next sync: kill pushed again; gone: the kill took effect.
  fx = {};
  st->on_sync(1, seen, clock.now(), clock.now(), fx);
  EXPECT_EQ(fx.kills.size(), 1u);
  clock.advance(seconds(1));
  seen.pop_back();
  st->on_sync(1, seen, clock.now(), clock.now(), fx);
  EXPECT_FALSE(st->find("d3")->flussonic[0].open);
}

TEST_F(FlussonicState, ClearForgetsOldEndedAndEffectiveKillsOnly) {
  link("d1");
  auth("d1", "f1");
  link("d2");
  auth("d2", "f2");
  st->end_session("d1", false, clock.now(), fx);
  st->end_session("d2", true, clock.now(), fx);
  clock.advance(seconds(121));
  auto gone = st->clear(clock.now(), seconds(120));
  EXPECT_EQ(gone, std::vector<std::string>{"d1"}) << "the kill has not taken effect yet";
  st->on_closed_by_streamer("d2", {"f2"}, clock.now(), fx);
  clock.advance(seconds(121));
  EXPECT_TRUE(st->clear(clock.now(), seconds(120)).empty()) << "a killed row outlives its link";
  clock.advance(cfg.link_ttl);
  EXPECT_EQ(st->clear(clock.now(), seconds(120)), std::vector<std::string>{"d2"});
}

TEST_F(FlussonicState, KilledPlayerIsNeverAdoptedIntoTheDevicesNextSession) {
  link("d1");
  auth("d1", "f1");
  auto old_token = st->find("d1")->token;
  st->end_session("d1", true, clock.now(), fx);
  clock.advance(seconds(5));
  link("d1");  // a new session with a new link
  fx = {};
  auto r = event(play_report::kind::updated, "f1");
  r.token = old_token;
  r.token_issued_at = clock.now() - seconds(5);
  st->on_play("d1", r, clock.now(), fx);
  ASSERT_EQ(fx.kills.size(), 1u) << "closed again, not bound";
  EXPECT_EQ(fx.kills[0].session_id, "f1");
  EXPECT_TRUE(st->find("d1")->flussonic.empty());
  // The same once the new session is over, too.
  clock.advance(cfg.pending_ttl + seconds(1));
  fx = {};
  st->on_play("d1", r, clock.now(), fx);
  EXPECT_EQ(fx.kills.size(), 1u);
  EXPECT_EQ(status("d1"), session_status::ended);
  // And the auth backend refuses the old link even after the new session ended.
  auth_request a;
  a.account_id = "acc";
  a.device_id = "d1";
  a.stream = "news";
  a.session_id = "f9";
  a.ip = "1.1.1.1";
  a.token_issued_at = clock.now() - cfg.pending_ttl - seconds(6);
  EXPECT_EQ(st->authorize(a, clock.now(), fx).result, auth_result::deny_stale_token);
}

TEST_F(FlussonicState, ReusedLinkSeenByWebhooksIsClosed) {
  auto token = link("d1").token;
  auto first = event(play_report::kind::started, "f1", "news", "1.1.1.1");
  auto second = event(play_report::kind::started, "f2", "news", "2.2.2.2");
  first.token = second.token = token;  // both play the device's current link
  st->on_play("d1", first, clock.now(), fx);
  st->on_play("d1", second, clock.now(), fx);
  ASSERT_EQ(fx.kills.size(), 1u);
  EXPECT_EQ(fx.kills[0].session_id, "f2");
  EXPECT_EQ(fx.over_limit_attempts, 1);
}

// auth_passes writes over the first n elements of the list it is given
// (the actor keeps one per worker thread) and leaves the rest alone: what
// was there before never shows among the n, and the list never shrinks.
TEST_F(FlussonicState, AuthPassesWriteOverTheGivenList) {
  three_playing();
  std::vector<auth_pass> out(2, auth_pass{"an-earlier-account's-device-id", "an-earlier-flussonic-session-id",
                                          clock.now() - seconds(999)});
  std::size_t n = st->auth_passes(clock.now(), out);  // grows the list
  auto listed = [&] {
    std::vector<std::string> v;
    for (std::size_t i = 0; i < n; ++i) v.push_back(out[i].device_id + "/" + out[i].session_id);
    std::sort(v.begin(), v.end());
    return v;
  };
  ASSERT_EQ(n, 3u);
  EXPECT_EQ(out.size(), 3u);
  EXPECT_EQ(listed(), (std::vector<std::string>{"d1/fd1", "d2/fd2", "d3/fd3"}));
  for (std::size_t i = 0; i < n; ++i)
    EXPECT_EQ(out[i].stale_at, st->find(out[i].device_id)->updated_at + cfg.stale_after) << out[i].device_id;

  st->on_play("d2", event(play_report::kind::closed, "fd2"), clock.now(), fx);
  n = st->auth_passes(clock.now(), out);
  EXPECT_EQ(listed(), (std::vector<std::string>{"d1/fd1", "d3/fd3"}));
  EXPECT_EQ(out.size(), 3u);  // kept, room and all

  // Past stale_after nothing is published.
  clock.advance(cfg.stale_after);
  EXPECT_EQ(st->auth_passes(clock.now(), out), 0u);
}

}  // namespace
