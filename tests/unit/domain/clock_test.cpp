#include "domain/clock.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <ctime>
#include <limits>
#include <random>
#include <string>

namespace maxsess {
namespace {

using std::chrono::hours;

// 2026-11-25T10:24:37.123Z is 1795602277123 ms after the epoch
// (Python: datetime(2026,11,25,10,24,37,123000,tzinfo=utc).timestamp()).
constexpr int64_t example_ms = 1795602277123;

TEST(rfc3339, formats_utc_with_milliseconds) {
  EXPECT_EQ(to_rfc3339(from_unix_ms(example_ms)), "2026-11-25T10:24:37.123Z");
  EXPECT_EQ(to_rfc3339(from_unix_ms(0)), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(to_rfc3339(from_unix_ms(951782400000)), "2000-02-29T00:00:00.000Z");
  EXPECT_EQ(to_rfc3339(from_unix_ms(-1)), "1969-12-31T23:59:59.999Z");
}

// The digits are written by hand (no snprintf): the same bytes as the
// format they replace, over all of sys_time's range and the edges of the fields.
TEST(rfc3339, formats_as_the_printf_format_did) {
  auto reference = [](int64_t ms) {
    const int64_t secs = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
    const auto tt = static_cast<std::time_t>(secs);
    std::tm tm{};
    gmtime_r(&tt, &tm);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms - secs * 1000));
    return std::string(buf);
  };
  std::mt19937_64 rng(7);
  // All of sys_time's range (nanoseconds in 64 bits: 1677-09-21 .. 2262-04-11).
  constexpr int64_t edge_ms = std::numeric_limits<int64_t>::max() / 1000000 - 1;
  std::uniform_int_distribution<int64_t> any(-edge_ms, edge_ms);
  for (int i = 0; i < 20000; ++i) {
    const int64_t ms = any(rng);
    ASSERT_EQ(to_rfc3339(from_unix_ms(ms)), reference(ms)) << ms;
  }
  for (int64_t ms : {-edge_ms, edge_ms, int64_t{999}, int64_t{59999}, int64_t{86399999}, int64_t{-86400001}})
    EXPECT_EQ(to_rfc3339(from_unix_ms(ms)), reference(ms)) << ms;
}

TEST(rfc3339, truncates_below_milliseconds) {
  auto t = from_unix_ms(example_ms) + std::chrono::microseconds(999);
  EXPECT_EQ(to_rfc3339(t), "2026-11-25T10:24:37.123Z");
}

TEST(rfc3339, parses_what_it_formats) {
  for (int64_t ms : {int64_t{0}, example_ms, int64_t{951782400000}, int64_t{4102444799999},
                     int64_t{-1}, int64_t{1}}) {
    auto text = to_rfc3339(from_unix_ms(ms));
    auto parsed = parse_rfc3339(text);
    ASSERT_TRUE(parsed.has_value()) << text;
    EXPECT_EQ(to_unix_ms(*parsed), ms) << text;
  }
}

TEST(rfc3339, parses_variants) {
  auto at = [](const char* s) {
    auto t = parse_rfc3339(s);
    return t ? to_unix_ms(*t) : INT64_MIN;
  };
  EXPECT_EQ(at("2026-11-25T10:24:37Z"), example_ms - 123);
  EXPECT_EQ(at("2026-11-25T10:24:37.123Z"), example_ms);
  EXPECT_EQ(at("2026-11-25T10:24:37.1Z"), example_ms - 23);
  EXPECT_EQ(at("2026-11-25T10:24:37.123456789Z"), example_ms);
  EXPECT_EQ(at("2026-11-25t10:24:37.123z"), example_ms);
  EXPECT_EQ(at("2026-11-25T12:24:37.123+02:00"), example_ms);
  EXPECT_EQ(at("2026-11-25T05:54:37.123-04:30"), example_ms);
  EXPECT_EQ(at("2026-11-25T10:24:37.123+00:00"), example_ms);
  EXPECT_EQ(at("2026-11-25T00:24:37.123-10:00"), example_ms);
  EXPECT_EQ(at("2026-11-26T00:24:37.123+14:00"), example_ms);
  auto ns = parse_rfc3339("2026-11-25T10:24:37.123456789Z");
  ASSERT_TRUE(ns);
  EXPECT_EQ(ns->time_since_epoch().count() % 1000000000,
            std::chrono::duration_cast<sys_time::duration>(std::chrono::nanoseconds(123456789))
                .count());
}

TEST(rfc3339, refuses_garbage) {
  for (const char* s :
       {"", "2026-11-25", "2026-11-25T10:24:37", "2026-11-25 10:24:37Z", "2026-11-25T10:24Z",
        "2026-13-01T00:00:00Z", "2026-00-01T00:00:00Z", "2026-02-29T00:00:00Z",
        "2026-04-31T00:00:00Z", "2026-11-25T24:00:00Z", "2026-11-25T10:60:00Z",
        "2026-11-25T10:24:37.Z", "2026-11-25T10:24:37+0200", "2026-11-25T10:24:37+02",
        "2026-11-25T10:24:37ZZ", "2026-11-25T10:24:37Z ", " 2026-11-25T10:24:37Z",
        "26-11-25T10:24:37Z", "2026-1-25T10:24:37Z", "abcd-ef-ghTij:kl:mnZ"})
    EXPECT_FALSE(parse_rfc3339(s).has_value()) << s;
  EXPECT_TRUE(parse_rfc3339("2024-02-29T00:00:00Z").has_value());  // leap year
}

TEST(unix_time, conversions) {
  auto t = from_unix_ms(example_ms);
  EXPECT_EQ(to_unix_ms(t), example_ms);
  EXPECT_EQ(to_unix_seconds(t), example_ms / 1000);
  EXPECT_EQ(to_unix_seconds(from_unix_ms(-1)), -1);  // floors, not truncates
  EXPECT_EQ(to_unix_ms(sys_time{}), 0);
}

TEST(manual_clock, moves_only_when_told) {
  manual_clock clock(from_unix_ms(1000));
  EXPECT_EQ(to_unix_ms(clock.now()), 1000);
  clock.advance(std::chrono::seconds(5));
  EXPECT_EQ(to_unix_ms(clock.now()), 6000);
  clock.set(from_unix_ms(example_ms));
  EXPECT_EQ(to_rfc3339(clock.now()), "2026-11-25T10:24:37.123Z");
  manual_clock default_start;
  EXPECT_GT(to_unix_seconds(default_start.now()), 0);
}

// Found by the webhook_batch fuzz target (UBSan): milliseconds beyond the
// year 2262 overflowed sys_time's int64 nanoseconds (a far-future time
// came out before 1970). Now they saturate.
TEST(unix_ms, saturates_instead_of_overflowing) {
  const auto far = from_unix_ms(std::numeric_limits<int64_t>::max());
  EXPECT_GT(far, from_unix_ms(example_ms));
  EXPECT_EQ(far, from_unix_ms(99999999999999999));
  EXPECT_LT(from_unix_ms(std::numeric_limits<int64_t>::min()), from_unix_ms(-1));
  EXPECT_EQ(to_unix_ms(from_unix_ms(9'000'000'000'000)), 9'000'000'000'000);  // 2255: still exact
}

}  // namespace
}  // namespace maxsess
