// One streamer's failure state (issue 8, defect 4): changed only by real
// API calls, and the next attempt it announces is the one the timers make.
#include <gtest/gtest.h>

#include "actors/streamer_backoff.hpp"

using namespace maxsess;
using namespace maxsess::actors;
using std::chrono::milliseconds;
using std::chrono::seconds;

namespace {

TEST(StreamerBackoff, DelaysDoubleFromOneSecondUpToFiveMinutes) {
  EXPECT_EQ(streamer_backoff::delay_after(0), milliseconds(0));
  EXPECT_EQ(streamer_backoff::delay_after(1), seconds(1));
  EXPECT_EQ(streamer_backoff::delay_after(2), seconds(2));
  EXPECT_EQ(streamer_backoff::delay_after(3), seconds(4));
  EXPECT_EQ(streamer_backoff::delay_after(9), seconds(256));
  EXPECT_EQ(streamer_backoff::delay_after(10), seconds(300));
  EXPECT_EQ(streamer_backoff::delay_after(1000000), seconds(300));
}

TEST(StreamerBackoff, OneLinePerStreakOrChangeOfError) {
  manual_clock clock;
  streamer_backoff b;
  EXPECT_TRUE(b.may_call(clock.now()));
  auto f = b.failed("timed out", clock.now());
  EXPECT_EQ(f.failures, 1);
  EXPECT_EQ(f.delay, seconds(1));
  EXPECT_TRUE(f.worth_a_line);
  EXPECT_FALSE(b.may_call(clock.now()));
  clock.advance(seconds(1));
  EXPECT_TRUE(b.may_call(clock.now()));
  f = b.failed("timed out", clock.now());
  EXPECT_EQ(f.failures, 2);
  EXPECT_EQ(f.delay, seconds(2));
  EXPECT_FALSE(f.worth_a_line) << "same error: no new line";
  f = b.failed("HTTP 500", clock.now());
  EXPECT_TRUE(f.worth_a_line) << "another error: one line";
  EXPECT_EQ(b.retry_at(), clock.now() + seconds(4));
  EXPECT_TRUE(b.answered()) << "the streak ends: one line";
  EXPECT_FALSE(b.answered()) << "already answering: no line";
  EXPECT_EQ(b.failures(), 0);
  EXPECT_TRUE(b.may_call(clock.now()));
}

// The flap of issue 8: a kill run with nothing to do answered "ok" and reset
// the state, so every failing sync was a "first" failure again. Such a run
// never reaches the state; only calls do.
TEST(StreamerBackoff, NothingButCallsChangesTheState) {
  manual_clock clock;
  streamer_backoff b;
  b.failed("connection refused", clock.now());
  clock.advance(seconds(1));
  // (a kill run with no killed session: no call, nothing fed in)
  auto f = b.failed("connection refused", clock.now());
  EXPECT_EQ(f.failures, 2);
  EXPECT_FALSE(f.worth_a_line);
  EXPECT_EQ(f.delay, seconds(2));
}

TEST(StreamerBackoff, NextAttemptIsTheFirstTickTheBackoffLetsThrough) {
  manual_clock clock;
  streamer_backoff b;
  const auto every = seconds(60);
  auto next_tick = clock.now() + seconds(60);
  // Nothing failed: the next tick.
  EXPECT_EQ(b.next_attempt(next_tick, every), next_tick);
  // A 1 s back-off on a 60 s timer: the next attempt is the tick, 60 s away
  // (not "retry_in=1s").
  b.failed("x", clock.now());
  EXPECT_EQ(b.next_attempt(next_tick, every), next_tick);
  // A back-off past several ticks: the first tick at or after it.
  for (int i = 0; i < 7; ++i) b.failed("x", clock.now());  // 8 in a row: 128 s
  EXPECT_EQ(b.retry_at(), clock.now() + seconds(128));
  EXPECT_EQ(b.next_attempt(next_tick, every), clock.now() + seconds(180));
  // A tick exactly at retry_at is let through (may_call: now >= retry_at).
  EXPECT_EQ(b.next_attempt(clock.now() + seconds(8), every), clock.now() + seconds(128));
  EXPECT_TRUE(b.may_call(clock.now() + seconds(128)));
  // A short timer: within one period of retry_at.
  auto t = b.next_attempt(clock.now() + milliseconds(300), seconds(1));
  EXPECT_GE(t, b.retry_at());
  EXPECT_LT(t, b.retry_at() + seconds(1));
}

}  // namespace
