// The auth board (actors/auth_board.hpp) on its own: what an account
// actor publishes is what the HTTP side may allow, the progress of allowed
// checks waits for the actor, and the actor is told at most once until it
// takes it (or never, while a timed write of its own will take it).
#include <gtest/gtest.h>

#include "actors/auth_board.hpp"

using namespace maxsess;
using namespace maxsess::actors;
using namespace std::chrono_literals;

namespace {

const sys_time t0 = sys_time(std::chrono::seconds(1'800'000'000));

auth_request check(const std::string& account, const std::string& device, const std::string& session,
                   int64_t bytes = -1) {
  auth_request r;
  r.account_id = account;
  r.device_id = device;
  r.session_id = session;
  r.stream = "news";
  r.new_session = false;
  r.bytes = bytes;
  r.duration = bytes;
  return r;
}

struct counter {
  int calls = 0;
  std::function<void()> fn() {
    return [this] { ++calls; };
  }
};

TEST(AuthBoard, AllowsOnlyWhatWasPublished) {
  auth_board b(8, 180s);
  counter told;
  std::function<void()> notify;
  EXPECT_FALSE(b.try_allow(3, check("a1", "d1", "f1"), t0, notify)) << "nothing published";
  auto r = b.publish(3, "a1", 1, {{"d1", "f1", t0 + 180s}}, false, told.fn());
  EXPECT_TRUE(r.page);
  EXPECT_FALSE(r.take_now);
  EXPECT_TRUE(b.try_allow(3, check("a1", "d1", "f1"), t0, notify));
  EXPECT_FALSE(b.try_allow(3, check("a1", "d1", "f2"), t0, notify)) << "another Flussonic session";
  EXPECT_FALSE(b.try_allow(3, check("a1", "d2", "f1"), t0, notify)) << "another device";
  EXPECT_FALSE(b.try_allow(3, check("a2", "d1", "f1"), t0, notify)) << "another account";
  EXPECT_FALSE(b.try_allow(4, check("a1", "d1", "f1"), t0, notify)) << "another shard's page";
  EXPECT_EQ(b.allowed(), 1u);
}

TEST(AuthBoard, StaleSessionsGoToTheActorAndAnAllowedCheckMovesTheDeadline) {
  auth_board b(8, 180s);
  counter told;
  std::function<void()> notify;
  b.publish(0, "a1", 1, {{"d1", "f1", t0 + 10s}}, false, told.fn());
  EXPECT_FALSE(b.try_allow(0, check("a1", "d1", "f1"), t0 + 10s, notify)) << "at stale_at the actor ends it";
  EXPECT_TRUE(b.try_allow(0, check("a1", "d1", "f1"), t0 + 9s, notify));
  // Last seen at t0 + 9 s: stale at t0 + 189 s, as the actor's refresh makes it.
  EXPECT_TRUE(b.try_allow(0, check("a1", "d1", "f1"), t0 + 188s, notify));
  EXPECT_TRUE(b.try_allow(0, check("a1", "d1", "f1"), t0 + 367s, notify));
  EXPECT_FALSE(b.try_allow(0, check("a1", "d1", "f1"), t0 + 548s, notify));
}

TEST(AuthBoard, TheActorIsToldOnceUntilItTakesTheProgress) {
  auth_board b(8, 180s);
  counter told;
  b.publish(0, "a1", 7, {{"d1", "f1", t0 + 180s}, {"d2", "f9", t0 + 180s}}, false, told.fn());
  std::function<void()> notify;
  ASSERT_TRUE(b.try_allow(0, check("a1", "d1", "f1", 100), t0, notify));
  ASSERT_TRUE(notify) << "the first progress tells the actor";
  notify();
  std::function<void()> again;
  ASSERT_TRUE(b.try_allow(0, check("a1", "d1", "f1", 300), t0 + 1s, again));
  ASSERT_TRUE(b.try_allow(0, check("a1", "d2", "f9", 50), t0 + 2s, again));
  EXPECT_FALSE(again) << "told already";
  auto notes = b.take(0, "a1", 7);
  ASSERT_EQ(notes.size(), 2u);
  EXPECT_EQ(notes[0].device_id, "d1");
  EXPECT_EQ(notes[0].bytes, 300) << "the latest progress";
  EXPECT_EQ(notes[0].at, t0 + 1s);
  EXPECT_EQ(notes[1].device_id, "d2");
  EXPECT_EQ(notes[1].session_id, "f9");
  EXPECT_TRUE(b.take(0, "a1", 7).empty()) << "taken once";
  std::function<void()> after;
  ASSERT_TRUE(b.try_allow(0, check("a1", "d1", "f1", 400), t0 + 3s, after));
  EXPECT_TRUE(after) << "taken: the next progress tells it again";
  EXPECT_EQ(told.calls, 1);
}

TEST(AuthBoard, NoMessageWhileTheActorsTimedWriteWillTakeTheProgress) {
  auth_board b(8, 180s);
  counter told;
  b.publish(0, "a1", 1, {{"d1", "f1", t0 + 180s}}, /*will_write=*/true, told.fn());
  std::function<void()> notify;
  ASSERT_TRUE(b.try_allow(0, check("a1", "d1", "f1", 1), t0, notify));
  EXPECT_FALSE(notify);
  // Its write done (nothing waits in the actor any more), the progress that
  // came meanwhile must be taken: publish says so, once.
  auto r = b.publish(0, "a1", 1, {{"d1", "f1", t0 + 180s}}, false, told.fn());
  EXPECT_TRUE(r.take_now);
  auto r2 = b.publish(0, "a1", 1, {{"d1", "f1", t0 + 180s}}, false, told.fn());
  EXPECT_FALSE(r2.take_now) << "already on its way";
  EXPECT_EQ(b.take(0, "a1", 1).size(), 1u);
}

TEST(AuthBoard, WithdrawnOrEmptyPagesAllowNothingAndAreGone) {
  auth_board b(8, 180s);
  counter told;
  std::function<void()> notify;
  b.publish(0, "a1", 1, {{"d1", "f1", t0 + 180s}}, false, told.fn());
  b.withdraw(0, "a1", 1);
  EXPECT_FALSE(b.try_allow(0, check("a1", "d1", "f1"), t0, notify));
  EXPECT_EQ(b.pages(), 0u);
  b.publish(0, "a1", 1, {{"d1", "f1", t0 + 180s}}, false, told.fn());
  auto r = b.publish(0, "a1", 1, {}, false, told.fn());
  EXPECT_FALSE(r.page) << "nothing to publish, nothing waiting";
  EXPECT_EQ(b.pages(), 0u);
  EXPECT_FALSE(b.try_allow(0, check("a1", "d1", "f1"), t0, notify));
}

TEST(AuthBoard, AnOlderActorNeverTouchesItsSuccessorsPage) {
  auth_board b(8, 180s);
  counter told;
  std::function<void()> notify;
  b.publish(0, "a1", 1, {{"d1", "f1", t0 + 180s}}, false, told.fn());
  b.publish(0, "a1", 2, {{"d1", "f2", t0 + 180s}}, false, told.fn());  // the successor
  EXPECT_FALSE(b.try_allow(0, check("a1", "d1", "f1"), t0, notify)) << "the predecessor's pass is gone";
  b.withdraw(0, "a1", 1);
  b.publish(0, "a1", 1, {{"d1", "f1", t0 + 180s}}, false, told.fn());
  EXPECT_TRUE(b.take(0, "a1", 1).empty());
  EXPECT_TRUE(b.try_allow(0, check("a1", "d1", "f2"), t0, notify)) << "the successor's page stands";
  EXPECT_FALSE(b.try_allow(0, check("a1", "d1", "f1"), t0, notify));
}

}  // namespace
