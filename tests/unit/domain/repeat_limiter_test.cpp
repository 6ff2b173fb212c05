// Repeated log lines (issue 8, defect 5): one line per kind and interval,
// with the count, under simulated time.
#include "domain/repeat_limiter.hpp"

#include <gtest/gtest.h>

#include <sstream>

#include "domain/log.hpp"

namespace maxsess {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

TEST(repeat_limiter, first_is_written_then_counted_then_one_line_with_the_count) {
  manual_clock clock;
  repeat_limiter r(seconds(10));
  EXPECT_TRUE(r.admit("k", {{"account", "a0"}}, clock.now()).write);
  for (int i = 1; i <= 812; ++i) {
    clock.advance(milliseconds(10));
    EXPECT_FALSE(r.admit("k", {{"account", "a" + std::to_string(i)}}, clock.now()).write);
  }
  // Another kind is not held back by this one.
  EXPECT_TRUE(r.admit("other", {}, clock.now()).write);
  EXPECT_TRUE(r.due(clock.now()).empty()) << "the interval is not over";
  clock.set(clock.now() + seconds(10));
  auto d = r.due(clock.now());
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0].key, "k");
  EXPECT_EQ(d[0].repeated, 812);
  ASSERT_EQ(d[0].last.size(), 1u);
  EXPECT_EQ(d[0].last[0].second, "a812") << "the last one's fields";
  EXPECT_EQ(repeated_note(d[0].repeated, seconds(10)), "(repeated 812 times in the last 10 s)");
  // The stream goes on: still counted (one line per interval), not written.
  clock.advance(milliseconds(10));
  EXPECT_FALSE(r.admit("k", {}, clock.now()).write);
  EXPECT_TRUE(r.due(clock.now()).empty());
}

TEST(repeat_limiter, a_line_after_the_interval_carries_the_count) {
  manual_clock clock;
  repeat_limiter r(seconds(10));
  r.admit("k", {}, clock.now());
  clock.advance(seconds(1));
  r.admit("k", {}, clock.now());
  r.admit("k", {}, clock.now());
  clock.advance(seconds(9));
  auto v = r.admit("k", {}, clock.now());  // due() was not asked in between
  EXPECT_TRUE(v.write);
  EXPECT_EQ(v.repeated, 2);
  EXPECT_EQ(v.span, seconds(10));
  EXPECT_TRUE(r.due(clock.now() + seconds(60)).empty()) << "nothing counted since";
}

TEST(repeat_limiter, quiet_kinds_are_forgotten_and_written_at_once_again) {
  manual_clock clock;
  repeat_limiter r(seconds(10));
  r.admit("k", {}, clock.now());
  clock.advance(seconds(11));
  EXPECT_TRUE(r.due(clock.now(), true).empty()) << "nothing counted: no summary";
  EXPECT_TRUE(r.admit("k", {}, clock.now()).write);
  EXPECT_EQ(r.admit("k", {}, clock.now()).write, false);
  auto all = r.due(clock.now(), true);  // an outage ended: everything now
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].repeated, 1);
  EXPECT_EQ(repeated_note(1, milliseconds(1)), "(repeated 1 time in the last 1 s)");
}

TEST(repeat_limiter, logger_writes_one_line_per_interval_and_flushes_on_demand) {
  manual_clock clock{from_unix_ms(1795602277123)};
  std::ostringstream out;
  {
    logger log(out, log_level::info, false, clock, seconds(10));
    for (int i = 0; i < 2391; ++i) {
      log.error_repeated("account", "cannot load account state", {{"account", "a" + std::to_string(i)}});
      clock.advance(milliseconds(6));  // 2 391 lines in ~15 s, as in the outage of issue 8
    }
    auto lines = lines_of(out.str());
    ASSERT_EQ(lines.size(), 2u) << out.str();
    EXPECT_EQ(lines[0], "2026-11-25T10:24:37.123Z error account: cannot load account state account=a0");
    EXPECT_NE(lines[1].find("cannot load account state (repeated 1666 times in the last 10 s)"), std::string::npos)
        << lines[1];
    EXPECT_NE(lines[1].find("repeated=1666"), std::string::npos) << lines[1];
    // Plain lines are never held back, and write what is due.
    clock.advance(seconds(10));
    log.info("main", "database reachable again");
    lines = lines_of(out.str());
    ASSERT_EQ(lines.size(), 4u) << out.str();
    EXPECT_NE(lines[2].find("(repeated 723 times in the last"), std::string::npos) << lines[2];
    EXPECT_NE(lines[3].find("database reachable again"), std::string::npos);
    log.warn_repeated("auth", "account did not answer; allowing a valid token");
    log.warn_repeated("auth", "account did not answer; allowing a valid token");
    log.flush_repeated();
    lines = lines_of(out.str());
    ASSERT_EQ(lines.size(), 6u) << out.str();
    EXPECT_NE(lines[5].find("(repeated 1 time in the last"), std::string::npos) << lines[5];
    log.warn_repeated("auth", "account did not answer; allowing a valid token");
  }
  // The logger's end writes what was still counted.
  auto lines = lines_of(out.str());
  ASSERT_EQ(lines.size(), 7u) << out.str();
  EXPECT_NE(lines[6].find("repeated=1"), std::string::npos) << lines[6];
}

TEST(repeat_limiter, json_lines_carry_the_count_as_a_field) {
  manual_clock clock;
  std::ostringstream out;
  logger log(out, log_level::info, true, clock, seconds(10));
  log.warn_repeated("x", "m");
  log.warn_repeated("x", "m");
  log.warn_repeated("x", "m");
  clock.advance(seconds(10));
  log.warn_repeated("x", "m");
  auto lines = lines_of(out.str());
  ASSERT_EQ(lines.size(), 2u) << out.str();
  EXPECT_NE(lines[1].find("\"msg\":\"m (repeated 2 times in the last 10 s)\""), std::string::npos) << lines[1];
  EXPECT_NE(lines[1].find("\"repeated\":2"), std::string::npos) << "a JSON number: " << lines[1];
}

}  // namespace
}  // namespace maxsess
