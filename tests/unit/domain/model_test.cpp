#include "domain/model.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>

namespace maxsess {
namespace {

TEST(valid_id, accepts_the_documented_charset) {
  EXPECT_TRUE(valid_id("a"));
  EXPECT_TRUE(valid_id("7"));
  EXPECT_TRUE(valid_id("acc-42"));
  EXPECT_TRUE(valid_id("00:1A:79:2B:3C:4D"));  // a MAC address as device id
  EXPECT_TRUE(valid_id("user@example.com"));
  EXPECT_TRUE(valid_id("a.b_c:d@e-f"));
  EXPECT_TRUE(valid_id("Z-"));
}

TEST(valid_id, length_bounds) {
  EXPECT_FALSE(valid_id(""));
  EXPECT_TRUE(valid_id(std::string(64, 'x')));
  EXPECT_FALSE(valid_id(std::string(65, 'x')));
  EXPECT_EQ(max_id_length, 64u);
}

TEST(valid_id, first_char_must_be_alnum) {
  for (const char* s : {"-a", ".a", "_a", ":a", "@a"})
    EXPECT_FALSE(valid_id(s)) << s;
}

TEST(valid_id, refuses_other_characters) {
  for (const char* s : {"a b", "a/b", "a?b", "a#b", "a%b", "a+b", "a,b", "a\"b", "a\tb", "a\nb",
                        "a\\b", "a*b", "a=b"})
    EXPECT_FALSE(valid_id(s)) << s;
  EXPECT_FALSE(valid_id(std::string("a\0b", 3)));
  EXPECT_FALSE(valid_id("caf\xc3\xa9"));      // UTF-8 "café"
  EXPECT_FALSE(valid_id("\xd0\xb8\xd0\xb4"));  // Cyrillic, first byte non-ASCII
  EXPECT_FALSE(valid_id("a\x7f"));
}

TEST(valid_stream_name, accepts_flussonic_names) {
  EXPECT_TRUE(valid_stream_name("ch1"));
  EXPECT_TRUE(valid_stream_name("live/ch1"));
  EXPECT_TRUE(valid_stream_name("vod/movies/film.mp4"));
  EXPECT_TRUE(valid_stream_name("a.b"));
  EXPECT_TRUE(valid_stream_name(std::string(256, 's')));
  EXPECT_EQ(max_stream_length, 256u);
}

TEST(valid_stream_name, refuses_unsafe_names) {
  EXPECT_FALSE(valid_stream_name(""));
  EXPECT_FALSE(valid_stream_name(std::string(257, 's')));
  EXPECT_FALSE(valid_stream_name("/abs"));
  EXPECT_FALSE(valid_stream_name("../etc/passwd"));
  EXPECT_FALSE(valid_stream_name("a/../b"));
  EXPECT_FALSE(valid_stream_name("a..b"));
  for (const char* s : {"a b", "a?b", "a#b", "a%2e", "a\\b", "a\tb", "a\nb", "a\x7f", "\x01"})
    EXPECT_FALSE(valid_stream_name(s)) << s;
  EXPECT_FALSE(valid_stream_name(std::string("a\0b", 3)));
  EXPECT_FALSE(valid_stream_name("caf\xc3\xa9"));
}

template <class E, class Parse>
void expect_round_trip(std::initializer_list<std::pair<E, const char*>> cases, Parse parse) {
  std::set<std::string> names;
  for (const auto& [value, name] : cases) {
    EXPECT_STREQ(to_string(value), name);
    auto parsed = parse(name);
    ASSERT_TRUE(parsed.has_value()) << name;
    EXPECT_EQ(*parsed, value) << name;
    names.insert(name);
  }
  EXPECT_EQ(names.size(), cases.size());  // names are distinct
  EXPECT_FALSE(parse("").has_value());
  EXPECT_FALSE(parse("nonsense").has_value());
}

TEST(enums, session_status_round_trip) {
  expect_round_trip<session_status>({{session_status::pending, "pending"},
                                     {session_status::active, "active"},
                                     {session_status::ended, "ended"},
                                     {session_status::killed, "killed"}},
                                    parse_session_status);
  EXPECT_FALSE(parse_session_status("Active").has_value());
  EXPECT_TRUE(holds_slot(session_status::pending));
  EXPECT_TRUE(holds_slot(session_status::active));
  EXPECT_FALSE(holds_slot(session_status::ended));
  EXPECT_FALSE(holds_slot(session_status::killed));
}

TEST(enums, content_type_round_trip) {
  expect_round_trip<content_type>({{content_type::live, "live"},
                                   {content_type::timeshift, "timeshift"},
                                   {content_type::catchup, "catchup"},
                                   {content_type::npvr, "npvr"},
                                   {content_type::vod, "vod"},
                                   {content_type::radio, "radio"}},
                                  parse_content_type);
  EXPECT_FALSE(parse_content_type("multicast").has_value());
  EXPECT_FALSE(is_counted(content_type::radio));
  EXPECT_TRUE(is_counted(content_type::live));
}

TEST(enums, end_reason_round_trip) {
  expect_round_trip<end_reason>({{end_reason::user, "user"},
                                 {end_reason::never_started, "never_started"},
                                 {end_reason::stale, "stale"},
                                 {end_reason::flussonic_closed, "flussonic_closed"},
                                 {end_reason::gone, "gone"},
                                 {end_reason::killed_over_limit, "killed_over_limit"},
                                 {end_reason::killed_by_operator, "killed_by_operator"}},
                                parse_end_reason);
}

TEST(enums, link_mode_round_trip) {
  expect_round_trip<link_mode>(
      {{link_mode::auth_backend, "auth_backend"}, {link_mode::securetoken, "securetoken"}},
      parse_link_mode);
}

// Expected values computed independently (Python):
//   h = 0xcbf29ce484222325; for b in s: h ^= b; h = h * 0x100000001b3 % 2**64
// "a" hashes to 0xaf63dc4c8601ec8c, the published FNV-1a 64 test vector.
TEST(shard_of, known_values) {
  EXPECT_EQ(shard_of("a", 64), static_cast<int>(0xaf63dc4c8601ec8cULL % 64));
  EXPECT_EQ(shard_of("a", 64), 12);
  EXPECT_EQ(shard_of("a", 1024), 140);
  EXPECT_EQ(shard_of("alice", 64), 7);
  EXPECT_EQ(shard_of("alice", 1024), 263);
  EXPECT_EQ(shard_of("account-42", 64), 5);
  EXPECT_EQ(shard_of("account-42", 1024), 645);
  EXPECT_EQ(shard_of("", 1024), 805);  // the offset basis alone
}

TEST(shard_of, in_range_and_degenerate_counts) {
  EXPECT_EQ(shard_of("alice", 0), 0);
  EXPECT_EQ(shard_of("alice", -5), 0);
  EXPECT_EQ(shard_of("alice", 1), 0);
  std::set<int> seen;
  for (int i = 0; i < 2000; ++i) {
    int s = shard_of("acc" + std::to_string(i), 16);
    ASSERT_GE(s, 0);
    ASSERT_LT(s, 16);
    seen.insert(s);
  }
  EXPECT_EQ(seen.size(), 16u);  // spreads over every shard
  // High-bit bytes are hashed as unsigned: stable and in range.
  int hi = shard_of("\xff\xfe", 7);
  EXPECT_GE(hi, 0);
  EXPECT_LT(hi, 7);
  EXPECT_EQ(hi, 4);  // Python: fnv1a64(b"\xff\xfe") % 7
  // Sign-extending the bytes would give 944 here.
  EXPECT_EQ(shard_of("\xff\xfe", 1024), 432);
}

}  // namespace
}  // namespace maxsess
