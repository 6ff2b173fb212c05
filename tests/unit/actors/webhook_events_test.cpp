#include <gtest/gtest.h>

#include "actors/webhook_events.hpp"

using namespace maxsess;
using namespace maxsess::actors;

TEST(WebhookEvents, ArrayOfPlayEvents) {
  auto b = parse_webhook_batch(R"([
    {"event":"play_opened","event_id":1,"utc_ms":1764000000000,"id":"s1","media":"news","token":"t","ip":"1.2.3.4"},
    {"event":"play_updated","event_id":2,"id":"s1","media":"news","bytes":1000,"duration":10,"updated_at":1764000010},
    {"event":"play_closed","event_id":3,"id":"s1","media":"news","closed_at":1764000020000,"reason":null},
    {"event":"stream_started","event_id":4}
  ])");
  ASSERT_TRUE(b.json);
  ASSERT_EQ(b.events.size(), 3u);
  EXPECT_EQ(b.ignored, 1);
  EXPECT_EQ(b.malformed, 0);
  EXPECT_EQ(b.events[0].report.what, play_report::kind::opened);
  EXPECT_EQ(b.events[0].report.token, "t");
  EXPECT_EQ(b.events[0].report.ip, "1.2.3.4");
  EXPECT_EQ(*b.events[0].report.at, from_unix_ms(1764000000000));
  EXPECT_EQ(b.events[1].report.bytes, 1000);
  EXPECT_EQ(b.events[1].report.duration, 10);
  EXPECT_EQ(*b.events[1].report.at, from_unix_ms(1764000010000)) << "seconds are seconds";
  EXPECT_EQ(b.events[2].report.what, play_report::kind::closed);
  EXPECT_EQ(*b.events[2].report.at, from_unix_ms(1764000020000)) << "ms are ms";
  EXPECT_EQ(b.events[2].event_id, 3);
}

TEST(WebhookEvents, LegacyShapesAndAliases) {
  auto one = parse_webhook_batch(R"({"event":"session_opened","session_id":"x","name":"ch","bytes_sent":"77","created_at":1764000000})");
  ASSERT_EQ(one.events.size(), 1u);
  EXPECT_EQ(one.events[0].report.what, play_report::kind::opened);
  EXPECT_EQ(one.events[0].report.session_id, "x");
  EXPECT_EQ(one.events[0].report.stream, "ch");
  EXPECT_EQ(one.events[0].report.bytes, 77);
  auto upd = parse_webhook_batch(R"([{"event":"play_update","id":"y","media":null,"token":null,"bytes":null}])");
  ASSERT_EQ(upd.events.size(), 1u);
  EXPECT_EQ(upd.events[0].report.what, play_report::kind::updated);
  EXPECT_EQ(upd.events[0].report.bytes, -1);
  EXPECT_TRUE(upd.events[0].report.token.empty());
  auto closed = parse_webhook_batch(R"([{"event":"session_closed","session_id":"x","deleted_at":1764000000}])");
  ASSERT_EQ(closed.events.size(), 1u);
  EXPECT_EQ(closed.events[0].report.what, play_report::kind::closed);
}

TEST(WebhookEvents, MalformedEntriesAreSkippedAndCounted) {
  auto b = parse_webhook_batch(R"([1, "x", {}, {"event":7}, {"event":"play_closed"}, {"event":"play_closed","id":"ok"}])");
  ASSERT_TRUE(b.json);
  EXPECT_EQ(b.malformed, 5);
  ASSERT_EQ(b.events.size(), 1u);
  EXPECT_EQ(b.events[0].report.session_id, "ok");
}

// Issue 8: a NUL in a stored string failed the group commit of the whole
// batch (other accounts' events included), at every redelivery.
TEST(WebhookEvents, ControlCharactersInStoredStringsMakeTheEventMalformed) {
  auto b = parse_webhook_batch(R"([
    {"event":"play_opened","id":"s\u0000x","media":"news","token":"t","ip":"1.2.3.4"},
    {"event":"play_opened","id":"s2","media":"ne\nws","token":"t","ip":"1.2.3.4"},
    {"event":"play_opened","id":"s3","media":"news","token":"t\u007f","ip":"1.2.3.4"},
    {"event":"play_opened","id":"s4","media":"news","token":"t","ip":"1.2.3.4\u0000"},
    {"event":"session_opened","session_id":"s5\u001b","name":"news"},
    {"event":"play_opened","id":"ok","media":"news","token":"t","ip":"1.2.3.4"}
  ])");
  ASSERT_TRUE(b.json);
  EXPECT_EQ(b.malformed, 5);
  ASSERT_EQ(b.events.size(), 1u);
  EXPECT_EQ(b.events[0].report.session_id, "ok");
}

TEST(WebhookEvents, NotJson) {
  EXPECT_FALSE(parse_webhook_batch("play_closed id=1").json);
  EXPECT_FALSE(parse_webhook_batch("").json);
  EXPECT_TRUE(parse_webhook_batch("[]").json);
}

TEST(WebhookEvents, HostileBatchesReadAsBefore) {
  // A key given twice: the last counts. Numbers beyond 64 bits or negative
  // are as if absent; big unsigned ids keep their digits.
  auto b = parse_webhook_batch(R"([
    {"event":"play_closed","id":"first","id":"s1","media":"m","bytes":99999999999999999999999,"duration":18446744073709551615,"closed_at":1764000020},
    {"event":"play_updated","id":18446744073709551615,"bytes":"12","event_id":2.9,"updated_at":-5,"utc_ms":1764000000000}
  ])");
  ASSERT_TRUE(b.json);
  ASSERT_EQ(b.events.size(), 2u);
  EXPECT_EQ(b.events[0].report.session_id, "s1");
  EXPECT_EQ(b.events[0].report.bytes, -1);
  EXPECT_EQ(b.events[0].report.duration, -1);
  EXPECT_EQ(*b.events[0].report.at, from_unix_ms(1764000020000));
  EXPECT_EQ(b.events[1].report.session_id, "18446744073709551615");
  EXPECT_EQ(b.events[1].report.bytes, 12);
  EXPECT_EQ(b.events[1].event_id, 2);
  EXPECT_EQ(*b.events[1].report.at, from_unix_ms(1764000000000)) << "a negative time is skipped";
  // Nested events, scalars and arrays in the list are malformed entries.
  auto m = parse_webhook_batch(R"([[{"event":"play_closed","id":"x"}], null, true, {"event":["play_closed"],"id":"x"}])");
  EXPECT_TRUE(m.json);
  EXPECT_EQ(m.malformed, 4);
  EXPECT_EQ(parse_webhook_batch("5").malformed, 1);
  // Invalid UTF-8 anywhere, a lone surrogate or nesting deeper than 1024:
  // the whole body is not JSON (400, the sink does not resend it forever).
  EXPECT_FALSE(parse_webhook_batch("[{\"event\":\"play_closed\",\"id\":\"\xC3\x28\"}]").json);
  EXPECT_FALSE(parse_webhook_batch(R"([{"event":"play_closed","id":"\ud800"}])").json);
  EXPECT_FALSE(parse_webhook_batch("[" + std::string(2000, '[') + std::string(2000, ']') + "]").json);
  EXPECT_TRUE(parse_webhook_batch("\xEF\xBB\xBF[]").json) << "a byte-order mark is skipped, as nlohmann did";
}

TEST(WebhookEvents, ABatchOfAHundred) {
  std::string body = "[";
  for (int i = 0; i < 100; ++i) {
    if (i) body += ",";
    body += R"({"event":"play_updated","event_id":)" + std::to_string(i) + R"(,"id":"s)" + std::to_string(i) +
            R"(","media":"ch","token":"t","ip":"10.0.0.1","bytes":1000,"duration":60,"updated_at":1764000010,"extra":{"a":[1,2]}})";
  }
  body += "]";
  auto b = parse_webhook_batch(body);
  ASSERT_EQ(b.events.size(), 100u);
  EXPECT_EQ(b.events[99].event_id, 99);
  EXPECT_EQ(b.events[99].report.session_id, "s99");
  EXPECT_EQ(b.events[99].name, "play_updated");
}

// Found by the webhook_batch fuzz target (tests/fuzz/webhook_batch): a
// negative integer came through as itself, so an event id, byte count or
// duration of -7 was neither "not given" (-1) nor a real value, unlike a
// negative float or string, which were already refused.
TEST(WebhookEvents, NegativeNumbersAreNotGiven) {
  auto b = parse_webhook_batch(
      R"([{"event":"play_updated","id":"s","event_id":-7,"bytes":-5,"duration":-3,"updated_at":-1764000000}])");
  ASSERT_EQ(b.events.size(), 1u);
  EXPECT_EQ(b.events[0].event_id, -1);
  EXPECT_EQ(b.events[0].report.bytes, -1);
  EXPECT_EQ(b.events[0].report.duration, -1);
  EXPECT_FALSE(b.events[0].report.at.has_value());
}

// Found by the webhook_batch fuzz target (UBSan: signed overflow): a
// 14-digit millisecond time (year 5138) was taken and overflowed sys_time's
// nanoseconds; a time past 2200 now counts as not given, and the next
// field is read instead.
TEST(WebhookEvents, TimesPastTheRepresentableRangeAreNotGiven) {
  auto b = parse_webhook_batch(
      R"([{"event":"play_opened","id":"s","opened_at":99999999999999},
          {"event":"play_opened","id":"t","utc_ms":9999999999999,"opened_at":1764000000}])");
  ASSERT_EQ(b.events.size(), 2u);
  EXPECT_FALSE(b.events[0].report.at.has_value());
  ASSERT_TRUE(b.events[1].report.at.has_value());
  EXPECT_EQ(*b.events[1].report.at, from_unix_ms(1764000000000));
}
