// The sync's fan-out (actors/sync_fanout.hpp) without actors: what each
// account is told and when, the end riding on a queued part, the window,
// the deadline during the parts and during the ends, a listing that stops
// or throws after parts went, failed answers, and the backstop that gives
// up on answers that never come. Time is injected; answers are given by the
// test in the order it chooses.
#include "actors/sync_fanout.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <map>
#include <optional>

namespace maxsess::actors {
namespace {

using clock = sync_fanout::clock;
using std::chrono::seconds;

const sys_time listed_at = sys_time{} + std::chrono::hours(24 * 365 * 50);
const clock::time_point t0 = clock::time_point{} + seconds(1000);

std::pair<std::string, seen_list> group(const std::string& account, std::vector<std::string> ids) {
  seen_list seen;
  for (auto& id : ids) {
    play_report r;
    r.what = play_report::kind::listed;
    r.session_id = id;
    seen.emplace_back("dev-" + id, r);
  }
  return {account, std::move(seen)};
}

listing_outcome complete(int listed, int pages) {
  listing_outcome l;
  l.listed = listed;
  l.pages = pages;
  return l;
}

std::vector<std::string> ids_of(const seen_list& seen) {
  std::vector<std::string> out;
  for (auto& [device, r] : seen) out.push_back(r.session_id);
  return out;
}

struct harness {
  explicit harness(std::size_t window, clock::time_point deadline = clock::time_point::max())
      : fan(7, listed_at, t0, deadline, window,
            sync_fanout::hooks{[this](sync_fanout&, sync_message m) { sent.push_back(std::move(m)); },
                               [this](const sync_fanout&, listing_end why, const std::string& error) {
                                 stops.emplace_back(why, error);
                               },
                               [this](const sync_fanout&) { ++finishes; }}) {}
  // Answers the oldest unanswered message.
  sync_message answer(sync_summary s = {}, clock::time_point now = t0) {
    if (sent.empty()) {
      ADD_FAILURE() << "nothing to answer";
      return {};
    }
    auto m = std::move(sent.front());
    sent.pop_front();
    fan.answered(s, now);
    return m;
  }
  std::deque<sync_message> sent;  // unanswered, oldest first
  std::vector<std::pair<listing_end, std::string>> stops;
  int finishes = 0;
  sync_fanout fan;
};

TEST(SyncFanout, PartsGoAsPagesComeAndEachAccountGetsOneEndWithEverythingListedForIt) {
  harness h(100);
  h.fan.page({group("a", {"s1", "s2"}), group("b", {"s3"})}, t0);
  ASSERT_EQ(h.sent.size(), 2u) << "a page's parts go before the listing is complete";
  EXPECT_EQ(h.sent[0].account, "a");
  EXPECT_EQ(ids_of(h.sent[0].seen), (std::vector<std::string>{"s1", "s2"}));
  EXPECT_EQ(h.sent[0].listed_at, sys_time{}) << "a part ends nothing";
  EXPECT_TRUE(h.sent[0].listed.empty());
  h.answer();
  h.answer();
  h.fan.page({group("a", {"s4"})}, t0);
  ASSERT_EQ(h.sent.size(), 1u);
  h.answer();
  EXPECT_EQ(h.finishes, 0) << "the listing is not complete yet";
  h.fan.listed(complete(4, 2), 3, {"a", "gone"}, t0);
  ASSERT_EQ(h.sent.size(), 3u) << "one end per listed or believing account";
  std::sort(h.sent.begin(), h.sent.end(), [](auto& x, auto& y) { return x.account < y.account; });
  EXPECT_EQ(h.sent[0].account, "a");
  EXPECT_EQ(h.sent[0].listed, (std::vector<std::string>{"s1", "s2", "s4"}));
  EXPECT_EQ(h.sent[0].listed_at, listed_at);
  EXPECT_TRUE(h.sent[0].seen.empty());
  EXPECT_EQ(h.sent[1].account, "b");
  EXPECT_EQ(h.sent[1].listed, (std::vector<std::string>{"s3"}));
  EXPECT_EQ(h.sent[2].account, "gone") << "a believer the streamer lists nothing for is told: all it had is gone";
  EXPECT_TRUE(h.sent[2].listed.empty());
  EXPECT_EQ(h.sent[2].listed_at, listed_at);
  h.answer({1, 0, 0});
  h.answer({0, 2, 1});
  EXPECT_EQ(h.finishes, 0);
  h.answer();
  EXPECT_EQ(h.finishes, 1);
  EXPECT_TRUE(h.fan.run().ok);
  EXPECT_EQ(h.fan.run().streamer_id, 7);
  EXPECT_EQ(h.fan.run().listed, 4);
  EXPECT_EQ(h.fan.run().untracked, 3);
  EXPECT_EQ(h.fan.run().adopted, 1);
  EXPECT_EQ(h.fan.run().ended, 2);
  EXPECT_EQ(h.fan.run().killed, 1);
  EXPECT_EQ(h.fan.accounts(), 3u);
  EXPECT_EQ(h.fan.pages(), 2);
  EXPECT_EQ(h.fan.api(), api_calls::answered);
  EXPECT_TRUE(h.stops.empty());
}

TEST(SyncFanout, TheWindowHoldsPartsBackAndAnEndRidesOnTheAccountsQueuedLastPart) {
  harness h(1);
  h.fan.page({group("a", {"s1"}), group("b", {"s2"})}, t0);
  h.fan.page({group("c", {"s3"}), group("b", {"s4"})}, t0);
  ASSERT_EQ(h.sent.size(), 1u) << "window 1: one message unanswered at a time";
  h.fan.listed(complete(4, 2), 0, {}, t0);
  // Queued: b (s2), c (s3), b (s4). b's and c's ends ride on their last
  // parts; a's part went already, so a gets an end of its own.
  std::vector<sync_message> order;
  while (!h.sent.empty()) {
    ASSERT_EQ(h.sent.size(), 1u);
    order.push_back(h.answer());
  }
  ASSERT_EQ(order.size(), 5u) << "4 parts and one end: the others rode";
  EXPECT_EQ(order[0].account, "a");
  EXPECT_EQ(order[0].listed_at, sys_time{});
  EXPECT_EQ(order[1].account, "b");
  EXPECT_EQ(order[1].listed_at, sys_time{}) << "b's first part is not its last";
  EXPECT_EQ(order[2].account, "c");
  EXPECT_EQ(order[2].listed_at, listed_at) << "c's end rides on its only part";
  EXPECT_EQ(ids_of(order[2].seen), (std::vector<std::string>{"s3"}));
  EXPECT_EQ(order[2].listed, (std::vector<std::string>{"s3"}));
  EXPECT_EQ(order[3].account, "b");
  EXPECT_EQ(order[3].listed_at, listed_at);
  EXPECT_EQ(ids_of(order[3].seen), (std::vector<std::string>{"s4"}));
  EXPECT_EQ(order[3].listed, (std::vector<std::string>{"s2", "s4"}));
  EXPECT_EQ(order[4].account, "a");
  EXPECT_TRUE(order[4].seen.empty());
  EXPECT_EQ(order[4].listed, (std::vector<std::string>{"s1"}));
  EXPECT_EQ(h.finishes, 1);
}

TEST(SyncFanout, ASessionListedAgainIsToldOnce) {
  harness h(100);
  h.fan.page({group("a", {"s1", "s2"})}, t0);
  h.fan.page({group("a", {"s2"}), group("b", {"s1"})}, t0);  // repeated ids, whoever they now name
  ASSERT_EQ(h.sent.size(), 1u) << "a page of nothing new sends nothing";
  h.fan.listed(complete(5, 2), 0, {}, t0);
  h.answer();
  ASSERT_EQ(h.sent.size(), 1u);
  EXPECT_EQ(h.sent[0].account, "a");
  EXPECT_EQ(h.sent[0].listed, (std::vector<std::string>{"s1", "s2"}));
  h.answer();
  EXPECT_EQ(h.finishes, 1);
}

TEST(SyncFanout, AnIdRepeatedInItsOwnPageOrAThousandPagesLaterIsToldOnce) {
  harness h(100000);
  h.fan.page({group("a", {"s1", "s1", "s2"})}, t0);
  ASSERT_EQ(h.sent.size(), 1u);
  EXPECT_EQ(ids_of(h.sent[0].seen), (std::vector<std::string>{"s1", "s2"}));
  // Many accounts, then every page again (an API repeating itself up to the
  // cap): the repeats send nothing, and each end lists its own ids once.
  for (int round = 0; round < 2; ++round)
    for (int k = 0; k < 1000; ++k)
      h.fan.page({group("acc" + std::to_string(k), {"x" + std::to_string(k), "y" + std::to_string(k)})}, t0);
  ASSERT_EQ(h.sent.size(), 1001u);
  h.fan.listed(complete(4003, 2001), 0, {}, t0);
  std::map<std::string, std::vector<std::string>> ends;
  while (!h.sent.empty()) {
    auto m = h.answer();
    if (m.listed_at != sys_time{}) ends[m.account] = m.listed;
  }
  ASSERT_EQ(ends.size(), 1001u);
  EXPECT_EQ(ends["a"], (std::vector<std::string>{"s1", "s2"}));
  EXPECT_EQ(ends["acc7"], (std::vector<std::string>{"x7", "y7"}));
  EXPECT_EQ(h.finishes, 1);
  EXPECT_TRUE(h.fan.run().ok);
}

TEST(SyncFanout, AnIncompleteListingEndsNothingAndFinishesOnceThePartsAnswered) {
  for (auto end : {listing_end::capped, listing_end::repeated_cursor, listing_end::timed_out}) {
    harness h(100);
    h.fan.page({group("a", {"s1"})}, t0);
    listing_outcome l = complete(1, 1);
    l.end = end;
    l.error = "the streamer misbehaves";
    h.fan.listed(l, 0, {"a", "b"}, t0);
    ASSERT_EQ(h.sent.size(), 1u) << "no end: " << to_string(end);
    EXPECT_EQ(h.finishes, 0) << "the part in flight is waited for";
    h.answer();
    EXPECT_EQ(h.finishes, 1);
    EXPECT_FALSE(h.fan.run().ok);
    EXPECT_EQ(h.fan.run().error, "sync stopped: the streamer misbehaves");
    EXPECT_EQ(h.fan.api(), api_calls::failed) << "the API is backed off";
    ASSERT_EQ(h.stops.size(), 1u);
    EXPECT_EQ(h.stops[0].first, end);
  }
}

TEST(SyncFanout, AListingStoppedByShutdownIsNotTheStreamersFault) {
  harness h(100);
  listing_outcome l;
  l.end = listing_end::stopped;
  l.error = "stopped";
  h.fan.listed(l, 0, {"a"}, t0);
  EXPECT_TRUE(h.sent.empty());
  EXPECT_EQ(h.finishes, 1);
  EXPECT_FALSE(h.fan.run().ok);
  EXPECT_EQ(h.fan.api(), api_calls::none) << "no page came: the API was not called";
  EXPECT_TRUE(h.stops.empty());
}

TEST(SyncFanout, AListingThatThrowsAfterSomePartsEndsNothing) {
  harness h(1);
  h.fan.page({group("a", {"s1"}), group("b", {"s2"})}, t0);
  h.fan.listing_failed("page 3: connection refused", true, t0);
  ASSERT_EQ(h.sent.size(), 1u);
  h.answer();
  EXPECT_TRUE(h.sent.empty()) << "the queued part is dropped with the run";
  EXPECT_EQ(h.finishes, 1);
  EXPECT_FALSE(h.fan.run().ok);
  EXPECT_EQ(h.fan.run().error, "page 3: connection refused");
  EXPECT_EQ(h.fan.api(), api_calls::failed);

  harness db(100);
  db.fan.listing_failed("database: no connection", false, t0);
  EXPECT_EQ(db.finishes, 1);
  EXPECT_EQ(db.fan.api(), api_calls::none) << "a database failure does not back the streamer off";
}

TEST(SyncFanout, TheDeadlineDuringThePartsEndsNothing) {
  const auto deadline = t0 + seconds(60);
  harness h(1, deadline);
  h.fan.page({group("a", {"s1"}), group("b", {"s2"})}, t0);
  h.answer({}, deadline);  // the deadline has passed: b's part stays unsent
  EXPECT_TRUE(h.sent.empty());
  EXPECT_EQ(h.finishes, 0) << "the listing's outcome is still to come";
  h.fan.listed(complete(2, 1), 0, {}, deadline);
  EXPECT_TRUE(h.sent.empty()) << "no end after the deadline";
  EXPECT_EQ(h.finishes, 1);
  EXPECT_FALSE(h.fan.run().ok);
  ASSERT_EQ(h.stops.size(), 1u);
  EXPECT_EQ(h.stops[0].first, listing_end::timed_out);
  EXPECT_NE(h.stops[0].second.find("nothing was ended"), std::string::npos) << h.stops[0].second;
}

TEST(SyncFanout, TheDeadlineDuringTheEndsSaysHowManyAccountsWereTold) {
  const auto deadline = t0 + seconds(60);
  harness h(1, deadline);
  h.fan.listed(complete(0, 1), 0, {"a", "b", "c"}, t0);
  ASSERT_EQ(h.sent.size(), 1u);
  h.answer({}, deadline);
  EXPECT_TRUE(h.sent.empty());
  EXPECT_EQ(h.finishes, 1);
  EXPECT_FALSE(h.fan.run().ok);
  ASSERT_EQ(h.stops.size(), 1u);
  EXPECT_NE(h.stops[0].second.find("1 of 3 accounts"), std::string::npos) << h.stops[0].second;
}

TEST(SyncFanout, AFailedAnswerFailsTheRunButTheOthersStillGo) {
  harness h(1);
  h.fan.listed(complete(0, 1), 0, {"a", "b"}, t0);
  ASSERT_EQ(h.sent.size(), 1u);
  h.sent.pop_front();
  h.fan.failed("request_receiver_down", t0);
  ASSERT_EQ(h.sent.size(), 1u) << "the next account is still told";
  h.answer();
  EXPECT_EQ(h.finishes, 1);
  EXPECT_FALSE(h.fan.run().ok);
  EXPECT_EQ(h.fan.run().error, "an account did not answer: request_receiver_down");
}

TEST(SyncFanout, TheBackstopGivesUpOnAnswersThatNeverComeOnceTheListingIsOver) {
  const auto deadline = t0 + seconds(60);
  harness h(100, deadline);
  h.fan.page({group("a", {"s1"}), group("b", {"s2"})}, t0);
  ASSERT_EQ(h.sent.size(), 2u);
  EXPECT_TRUE(h.fan.backstop(t0 + seconds(5))) << "the listing still runs: ask again later";
  EXPECT_EQ(h.finishes, 0);
  h.fan.listed(complete(2, 1), 0, {}, t0 + seconds(6));
  ASSERT_EQ(h.sent.size(), 4u) << "both ends went (the parts had gone)";
  h.answer();
  h.answer();
  h.answer();  // a's part, b's part, one end; the other end never answers
  EXPECT_EQ(h.finishes, 0);
  EXPECT_FALSE(h.fan.backstop(deadline + seconds(10)));
  EXPECT_EQ(h.finishes, 1);
  EXPECT_FALSE(h.fan.run().ok);
  EXPECT_EQ(h.fan.run().error, "no answer from 1 of the accounts told, 10 s after playback_session.sync_timeout");
  EXPECT_TRUE(h.stops.empty());
  // The late answer finds the run over: no second finish.
  h.answer({}, deadline + seconds(30));
  EXPECT_EQ(h.finishes, 1);
  EXPECT_FALSE(h.fan.backstop(deadline + seconds(40)));
  EXPECT_EQ(h.finishes, 1);
}

TEST(SyncFanout, TheBackstopKeepsTheFirstError) {
  const auto deadline = t0 + seconds(60);
  harness h(2, deadline);
  h.fan.page({group("a", {"s1"}), group("b", {"s2"})}, t0);
  h.fan.page({group("c", {"s3"})}, t0);
  h.fan.listed(complete(3, 2), 0, {}, t0 + seconds(1));
  ASSERT_EQ(h.sent.size(), 2u) << "the window is full: c waits";
  h.answer({}, deadline);  // a answers after the deadline: nothing more goes
  ASSERT_EQ(h.stops.size(), 1u);
  EXPECT_EQ(h.finishes, 0) << "b's part is still unanswered";
  const auto first = h.fan.run().error;
  EXPECT_NE(first.find("0 of 3 accounts"), std::string::npos) << first;
  EXPECT_FALSE(h.fan.backstop(deadline + seconds(10)));
  EXPECT_EQ(h.finishes, 1);
  EXPECT_EQ(h.fan.run().error, first) << "the cause stays, not the missing answer it led to";
}

TEST(SyncFanout, AnAnswerGivenAtOnceIsCountedAndTheRunFinishesOnce) {
  // A sender that answers inside send() (no real one does: CAF enqueues)
  // must still leave the fan-out consistent.
  int finishes = 0;
  int sends = 0;
  sync_fanout f(7, listed_at, t0, clock::time_point::max(), 1,
                sync_fanout::hooks{[&](sync_fanout& fan, sync_message) {
                                     ++sends;
                                     fan.answered({1, 0, 0}, t0);
                                   },
                                   {}, [&](const sync_fanout&) { ++finishes; }});
  f.page({group("a", {"s1"}), group("b", {"s2"})}, t0);
  EXPECT_EQ(sends, 2);
  EXPECT_EQ(finishes, 0);
  f.listed(complete(2, 1), 0, {"c"}, t0);
  EXPECT_EQ(sends, 5) << "two ends and the believer's";
  EXPECT_EQ(finishes, 1);
  EXPECT_EQ(f.in_flight(), 0u);
  EXPECT_EQ(f.run().adopted, 5);
}

TEST(SyncFanout, NothingMissingTheBackstopChangesNothing) {
  harness h(100, t0 + seconds(60));
  h.fan.listed(complete(0, 0), 0, {}, t0);
  EXPECT_EQ(h.finishes, 1) << "nothing listed, nobody believing: done at once";
  EXPECT_TRUE(h.fan.run().ok);
  EXPECT_FALSE(h.fan.backstop(t0 + seconds(70)));
  EXPECT_TRUE(h.fan.run().ok);
  EXPECT_EQ(h.finishes, 1);
}

}  // namespace
}  // namespace maxsess::actors
