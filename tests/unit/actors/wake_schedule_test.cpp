// The shard owner's schedule of its account actors' deadlines
// (actors/wake_schedule.hpp): a timer only for what comes before every timer
// in flight, the due entries earliest first, a re-arm for what is left.
#include "actors/wake_schedule.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace maxsess::actors {
namespace {

using namespace std::chrono_literals;

const sys_time t0{std::chrono::seconds(1'700'000'000)};

TEST(WakeSchedule, ArmsATimerOnlyForADeadlineBeforeEveryTimerInFlight) {
  wake_schedule w;
  EXPECT_EQ(w.add("a1", t0 + 10s), t0 + 10s) << "nothing in flight";
  EXPECT_EQ(w.add("a2", t0 + 20s), std::nullopt) << "the 10 s timer comes first";
  EXPECT_EQ(w.add("a3", t0 + 10s), std::nullopt) << "the 10 s timer covers it";
  EXPECT_EQ(w.add("a4", t0 + 5s), t0 + 5s) << "before every timer in flight";
  EXPECT_EQ(w.size(), 4u);
  EXPECT_EQ(w.timers_in_flight(), 2u);
}

TEST(WakeSchedule, TakesTheDueEntriesEarliestFirstAndLeavesTheRest) {
  wake_schedule w;
  w.add("a1", t0 + 5s);
  w.add("a2", t0 + 7s);
  w.add("a3", t0 + 9s);
  w.add("a2", t0 + 5s);  // a second deadline of the same account
  auto due = w.take_due(t0 + 5s, t0 + 7s);
  ASSERT_EQ(due.size(), 3u);
  EXPECT_EQ(due[0].at, t0 + 5s);
  EXPECT_EQ(due[1].at, t0 + 5s);
  EXPECT_EQ(due[2].account_id, "a2");
  EXPECT_EQ(due[2].at, t0 + 7s);
  EXPECT_EQ(w.size(), 1u);
  // The 7 s timer was never armed (5 s covered it); the 5 s one fired: none
  // is in flight, so what is left needs one.
  EXPECT_EQ(w.timers_in_flight(), 0u);
  EXPECT_EQ(w.rearm(), t0 + 9s);
  EXPECT_EQ(w.rearm(), std::nullopt) << "now one is in flight for it";
}

// Deadlines come in any order (a cold account's from its sessions' past
// updates): they come out in time order, equal times in the order added.
TEST(WakeSchedule, DeadlinesAddedOutOfOrderComeOutInTimeOrderSameTimesAsAdded) {
  wake_schedule w;
  w.add("late", t0 + 9s);
  w.add("early", t0 + 2s);
  w.add("same1", t0 + 5s);
  w.add("last", t0 + 12s);
  w.add("same2", t0 + 5s);
  w.add("middle", t0 + 7s);
  w.add("same3", t0 + 5s);
  auto due = w.take_due(t0 + 2s, t0 + 12s);
  std::vector<std::string> order;
  for (auto& d : due) order.push_back(d.account_id);
  EXPECT_EQ(order, (std::vector<std::string>{"early", "same1", "same2", "same3", "middle", "late", "last"}));
  for (std::size_t i = 1; i < due.size(); ++i) EXPECT_LE(due[i - 1].at, due[i].at);
  EXPECT_EQ(w.size(), 0u);
}

// The entries are bucketed by ~8 ms of their time: within now's own bucket
// only those at or before now are due; the rest stay, and the earliest of
// them is what a timer is armed for next.
TEST(WakeSchedule, WithinOneBucketOnlyWhatIsDueAtNowIsTaken) {
  wake_schedule w;
  w.add("c", t0 + 5s + 2ms);
  w.add("b", t0 + 5s + 3ms);
  w.add("a", t0 + 5s + 1ms);
  auto due = w.take_due(t0 + 5s + 1ms, t0 + 5s + 2ms);
  ASSERT_EQ(due.size(), 2u);
  EXPECT_EQ(due[0].account_id, "a");
  EXPECT_EQ(due[1].account_id, "c");
  EXPECT_EQ(w.size(), 1u);
  // The 2 ms timer is still in flight (armed for c) and covers b; when it
  // fires it finds nothing due, and b then gets a timer of its own.
  EXPECT_EQ(w.rearm(), std::nullopt);
  EXPECT_TRUE(w.take_due(t0 + 5s + 2ms, t0 + 5s + 2ms).empty());
  EXPECT_EQ(w.rearm(), t0 + 5s + 3ms);
  due = w.take_due(t0 + 5s + 3ms, t0 + 5s + 3ms);
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].account_id, "b");
  EXPECT_EQ(w.size(), 0u);
  EXPECT_EQ(w.rearm(), std::nullopt);
}

// Many deadlines spread over minutes, added in a scrambled order, come out
// in time order over successive timers, none lost and none twice.
TEST(WakeSchedule, ManyScrambledDeadlinesComeOutInTimeOrderOverSuccessiveTimers) {
  wake_schedule w;
  std::vector<sys_time> times;
  for (int i = 0; i < 5000; ++i)
    times.push_back(t0 + std::chrono::milliseconds((static_cast<int64_t>(i) * 7919) % 120000));
  for (std::size_t i = 0; i < times.size(); ++i) w.add("a" + std::to_string(i), times[i]);
  EXPECT_EQ(w.size(), times.size());
  std::vector<sys_time> seen;
  for (auto now = t0; now <= t0 + 121s; now += 777ms) {
    for (auto& d : w.take_due(now, now)) {
      EXPECT_LE(d.at, now);
      seen.push_back(d.at);
    }
  }
  std::sort(times.begin(), times.end());
  EXPECT_EQ(seen, times);
  EXPECT_EQ(w.size(), 0u);
}

// What is left is armed for its earliest entry, not for the first one added
// to the earliest bucket.
TEST(WakeSchedule, RearmIsForTheEarliestEntryLeftNotTheFirstAdded) {
  wake_schedule w;
  w.add("b", t0 + 5s + 3ms);
  w.add("a", t0 + 5s + 1ms);
  EXPECT_TRUE(w.take_due(t0 + 5s + 1ms, t0 + 5s).empty()) << "the 1 ms timer fired early";
  EXPECT_EQ(w.timers_in_flight(), 1u) << "the 3 ms one is still in flight";
  EXPECT_EQ(w.rearm(), t0 + 5s + 1ms) << "a comes before the 3 ms timer";
}

// Many entries of equal times in one bucket that is only partly due: the
// due ones come out earliest first and, within a time, as added; the rest
// stay in the order added.
TEST(WakeSchedule, APartlyDueBucketKeepsTheOrderAddedWithinEachTime) {
  wake_schedule w;
  // t0 + 5 s + 1..3 ms lie in one bucket (4.1-6.1 ms into it).
  for (int i = 0; i < 30; ++i) {
    w.add("late" + std::to_string(i), t0 + 5s + 3ms);
    w.add("early" + std::to_string(i), t0 + 5s + 1ms);
    w.add("mid" + std::to_string(i), t0 + 5s + 2ms);
  }
  auto due = w.take_due(t0 + 5s + 1ms, t0 + 5s + 2ms);
  ASSERT_EQ(due.size(), 60u);
  for (int i = 0; i < 30; ++i) {
    EXPECT_EQ(due[static_cast<std::size_t>(i)].account_id, "early" + std::to_string(i));
    EXPECT_EQ(due[static_cast<std::size_t>(30 + i)].account_id, "mid" + std::to_string(i));
  }
  due = w.take_due(t0 + 5s + 3ms, t0 + 5s + 3ms);
  ASSERT_EQ(due.size(), 30u);
  for (int i = 0; i < 30; ++i) EXPECT_EQ(due[static_cast<std::size_t>(i)].account_id, "late" + std::to_string(i));
  EXPECT_EQ(w.size(), 0u);
}

// Deadlines on either side of a bucket's edge, and before the epoch, keep
// their time order.
TEST(WakeSchedule, BucketEdgesAndTimesBeforeTheEpochKeepTimeOrder) {
  wake_schedule w;
  const sys_time edge{std::chrono::nanoseconds(int64_t{1} << 33)};  // a multiple of 2^23 ns
  w.add("after", edge);
  w.add("before", edge - std::chrono::nanoseconds(1));
  w.add("negative", sys_time{} - 1s);
  auto due = w.take_due(edge, edge - std::chrono::nanoseconds(1));
  ASSERT_EQ(due.size(), 2u);
  EXPECT_EQ(due[0].account_id, "negative");
  EXPECT_EQ(due[1].account_id, "before");
  due = w.take_due(edge, edge);
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].account_id, "after");
}

// CAF 0.17 cannot cancel a timer: one armed for a deadline that came later
// still fires; it finds nothing due and, with an earlier timer still in
// flight, arms nothing.
TEST(WakeSchedule, ATimerThatFindsNothingDueArmsNothingWhileAnEarlierOneIsInFlight) {
  wake_schedule w;
  ASSERT_EQ(w.add("a1", t0 + 10s), t0 + 10s);
  ASSERT_EQ(w.add("a2", t0 + 3s), t0 + 3s);
  auto due = w.take_due(t0 + 3s, t0 + 3s);
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].account_id, "a2");
  EXPECT_EQ(w.rearm(), std::nullopt) << "the 10 s timer is still in flight";
  due = w.take_due(t0 + 10s, t0 + 10s);
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].account_id, "a1");
  EXPECT_EQ(w.rearm(), std::nullopt) << "nothing left";
  EXPECT_EQ(w.timers_in_flight(), 0u);
}

// A clock that reads a little early when the timer fires: the entry is not
// yet due, and a timer is armed for it again (not lost).
TEST(WakeSchedule, AnEntryNotYetDueWhenItsTimerFiresGetsATimerAgain) {
  wake_schedule w;
  ASSERT_EQ(w.add("a1", t0 + 10s), t0 + 10s);
  EXPECT_TRUE(w.take_due(t0 + 10s, t0 + 9s).empty());
  EXPECT_EQ(w.rearm(), t0 + 10s);
  auto due = w.take_due(t0 + 10s, t0 + 10s);
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(w.size(), 0u);
}

}  // namespace
}  // namespace maxsess::actors
