// Value syntax: durations, host:port, booleans, lists, token secret specs,
// and the playback_session.ini reader.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "config/config.hpp"
#include "config/detail.hpp"

namespace mc = maxsess::config;
using namespace std::chrono_literals;

namespace {

struct duration_case {
  const char* text;
  bool ok;
  mc::duration value;
};

TEST(parse_duration, table) {
  const std::vector<duration_case> cases = {
      {"250ms", true, 250ms},
      {"30s", true, 30s},
      {"5m", true, 5min},
      {"24h", true, 24h},
      {"1h30m", true, 90min},
      {"1h30m15s250ms", true, 1h + 30min + 15s + 250ms},
      {"2m500ms", true, 2min + 500ms},
      {"60", true, 60s},
      {"0", true, 0ms},
      {"0s", true, 0ms},
      {" 45s ", true, 45s},
      {"", false, 0ms},
      {"   ", false, 0ms},
      {"abc", false, 0ms},
      {"-5s", false, 0ms},
      {"-5", false, 0ms},
      {"+5s", false, 0ms},
      {"5", true, 5s},
      {"1.5h", false, 0ms},
      {"5 s", false, 0ms},
      {"5S", false, 0ms},
      {"5d", false, 0ms},
      {"s", false, 0ms},
      {"5sec", false, 0ms},
      {"30s5m", false, 0ms},  // units largest first
      {"1h1h", false, 0ms},   // each unit once
      {"10ms5s", false, 0ms},
      {"99999999999999999999s", false, 0ms},
      {"9999999999999999h", false, 0ms},  // overflows milliseconds
      {"876000h", true, 876000h},         // max_duration: 100 years
      {"876000h1ms", false, 0ms},
      {"3153600000", true, 3153600000s},  // the same as bare seconds
      {"3153600001", false, 0ms},
      // Found by the config_load fuzz target: fits in milliseconds, but
      // 3 × it (the stale_after check) overflowed.
      {"8888888999999990", false, 0ms},
  };
  for (const auto& c : cases) {
    mc::duration d{-1};
    EXPECT_EQ(mc::parse_duration(c.text, d), c.ok) << "'" << c.text << "'";
    if (c.ok) EXPECT_EQ(d.count(), c.value.count()) << "'" << c.text << "'";
    else EXPECT_EQ(d.count(), -1) << "output touched on failure: '" << c.text << "'";
  }
}

TEST(format_duration, shortest_form) {
  const std::vector<std::pair<mc::duration, std::string>> cases = {
      {0ms, "0s"},         {250ms, "250ms"},      {1s, "1s"},         {30s, "30s"},
      {60s, "1m"},         {90s, "90s"},          {5min, "5m"},       {90min, "90m"},
      {1h, "1h"},          {24h, "24h"},          {1500ms, "1500ms"}, {61min, "61m"},
      {100min, "100m"},    {3h + 1s, "3h1s"},     {-5s, "-5s"},       {180s, "3m"},
      {36h, "36h"},        {1h + 1ms, "1h1ms"},
  };
  for (const auto& [d, text] : cases) EXPECT_EQ(mc::format_duration(d), text) << d.count() << "ms";
}

TEST(format_duration, round_trips_through_parse) {
  for (int64_t ms : {0LL, 1LL, 999LL, 1000LL, 1001LL, 59'999LL, 60'000LL, 3'599'999LL,
                     3'600'000LL, 86'400'000LL, 90'061'001LL, 123'456'789'012LL}) {
    const std::string text = mc::format_duration(mc::duration(ms));
    mc::duration back{-1};
    ASSERT_TRUE(mc::parse_duration(text, back)) << text;
    EXPECT_EQ(back.count(), ms) << text;
  }
}

struct host_port_case {
  const char* text;
  bool ok;
  const char* host;
  uint16_t port;
};

TEST(split_host_port, table) {
  const std::vector<host_port_case> cases = {
      {"127.0.0.1:8080", true, "127.0.0.1", 8080},
      {"0.0.0.0:1", true, "0.0.0.0", 1},
      {"localhost:65535", true, "localhost", 65535},
      {"streamer.example.com:443", true, "streamer.example.com", 443},
      {"[::1]:8080", true, "::1", 8080},
      {"[fe80::1%eth0]:9000", true, "fe80::1%eth0", 9000},
      {"[::]:4242", true, "::", 4242},
      {"", false, "", 0},
      {"127.0.0.1", false, "", 0},
      {"127.0.0.1:", false, "", 0},
      {":8080", false, "", 0},
      {"host:0", false, "", 0},
      {"host:65536", false, "", 0},
      {"host:99999999", false, "", 0},
      {"host:80a", false, "", 0},
      {"host:-1", false, "", 0},
      {"host:+80", false, "", 0},
      {"::1:8080", false, "", 0},  // IPv6 needs brackets
      {"[::1]8080", false, "", 0},
      {"[::1]", false, "", 0},
      {"[]:80", false, "", 0},
      {"[127.0.0.1]:80", false, "", 0},
      {"my host:80", false, "", 0},
      {"http://h:80", false, "", 0},
  };
  for (const auto& c : cases) {
    std::string host = "untouched";
    uint16_t port = 7;
    EXPECT_EQ(mc::split_host_port(c.text, host, port), c.ok) << "'" << c.text << "'";
    if (c.ok) {
      EXPECT_EQ(host, c.host) << c.text;
      EXPECT_EQ(port, c.port) << c.text;
    } else {
      EXPECT_EQ(host, "untouched") << c.text;
      EXPECT_EQ(port, 7) << c.text;
    }
  }
}

TEST(parse_bool, accepts_the_usual_spellings) {
  for (const char* t : {"true", "TRUE", "True", "1", "yes", "Yes", "on", "ON", " on "})
    EXPECT_EQ(mc::detail::parse_bool(t), std::optional<bool>(true)) << t;
  for (const char* f : {"false", "FALSE", "0", "no", "NO", "off", "Off"})
    EXPECT_EQ(mc::detail::parse_bool(f), std::optional<bool>(false)) << f;
  for (const char* bad : {"", "maybe", "2", "tru", "y", "n", "enabled"})
    EXPECT_FALSE(mc::detail::parse_bool(bad).has_value()) << bad;
}

TEST(split_list, trims_and_drops_empty_items) {
  EXPECT_EQ(mc::detail::split_list("a:1, b:2,,c:3 ,"),
            (std::vector<std::string>{"a:1", "b:2", "c:3"}));
  EXPECT_TRUE(mc::detail::split_list("").empty());
  EXPECT_TRUE(mc::detail::split_list(" , ").empty());
}

TEST(check_token_secret, accepts_valid_specs) {
  // The same reading as the domain's link_signer::from_spec: entries are
  // trimmed, and a spec without ':' is one bare secret, commas included.
  for (const char* ok : {"dev1:change-me-dev-secret-0123456789", "a:x,b:y", "only-one-secret",
                         "k_1-X:s:with:colons", "0123456789abcdef:s", " a:x , b:y ",
                         " padded ", "bare,secret,with,commas"})
    EXPECT_TRUE(mc::detail::check_token_secret(ok).empty()) << ok;
}

TEST(check_token_secret, rejects_bad_specs_without_quoting_secrets) {
  const std::vector<std::string> bad = {
      "",               // empty
      "k1:",            // empty secret
      ":secret",        // empty kid
      "k1:a,k1:b",      // duplicate kid
      "k1:a,",          // stray comma
      "k1:a,plain",     // second key without kid
      "bad kid:s",      // blank in kid
      "k.1:s",          // dot in kid
      "0123456789abcdefg:s",  // kid too long
      "   ",            // blank
      "a:x,b",          // mixed: second entry without kid
  };
  for (const auto& spec : bad) {
    const auto errors = mc::detail::check_token_secret(spec);
    EXPECT_FALSE(errors.empty()) << "'" << spec << "'";
    for (const auto& e : errors) EXPECT_EQ(e.find("SECRETVALUE"), std::string::npos);
  }
  for (const auto& e : mc::detail::check_token_secret("k1:SECRETVALUE,k1:SECRETVALUE"))
    EXPECT_EQ(e.find("SECRETVALUE"), std::string::npos) << e;
}

TEST(parse_playback_ini, reads_the_flag_in_every_spelling) {
  EXPECT_EQ(mc::detail::parse_playback_ini("playback_session_enabled = false\n")
                .playback_session_enabled,
            std::optional<bool>(false));
  EXPECT_EQ(mc::detail::parse_playback_ini("playback_session_enabled=On").playback_session_enabled,
            std::optional<bool>(true));
  EXPECT_EQ(mc::detail::parse_playback_ini("playback_session_enabled = \"0\"\n")
                .playback_session_enabled,
            std::optional<bool>(false));
  EXPECT_EQ(mc::detail::parse_playback_ini("playback_session_enabled = 'yes' ; comment\n")
                .playback_session_enabled,
            std::optional<bool>(true));
  EXPECT_EQ(mc::detail::parse_playback_ini("playback_session_enabled = no ; comment\r\n")
                .playback_session_enabled,
            std::optional<bool>(false));
  EXPECT_EQ(mc::detail::parse_playback_ini("playback_session_enabled = off # comment\n")
                .playback_session_enabled,
            std::optional<bool>(false));
}

TEST(parse_playback_ini, ignores_comments_sections_and_other_keys) {
  const auto out = mc::detail::parse_playback_ini(
      "\xEF\xBB\xBF; MinistraPRO playback session settings\n"
      "# another comment\n"
      "\n"
      "[playback_session]\n"
      "playback_session_enabled = 1\n"
      "some_other_key = \"whatever ; here\"\n"
      "timeout = 120\n"
      "[other]\n"
      "playback_session_enabled = 0\n");
  EXPECT_TRUE(out.errors.empty());
  EXPECT_EQ(out.playback_session_enabled, std::optional<bool>(false));  // last one wins
  const auto none = mc::detail::parse_playback_ini("; nothing here\n[x]\nother = 1\n");
  EXPECT_TRUE(none.errors.empty());
  EXPECT_FALSE(none.playback_session_enabled.has_value());
}

TEST(parse_playback_ini, reports_bad_lines_with_their_number) {
  const auto out = mc::detail::parse_playback_ini(
      "; ok\n"
      "this line has no equals sign\n"
      "playback_session_enabled = perhaps\n"
      "[broken\n"
      "x = \"unterminated\n");
  ASSERT_EQ(out.errors.size(), 4u);
  EXPECT_EQ(out.errors[0].rfind("line 2:", 0), 0u) << out.errors[0];
  EXPECT_EQ(out.errors[1].rfind("line 3:", 0), 0u) << out.errors[1];
  EXPECT_NE(out.errors[1].find("perhaps"), std::string::npos);
  EXPECT_EQ(out.errors[2].rfind("line 4:", 0), 0u) << out.errors[2];
  EXPECT_EQ(out.errors[3].rfind("line 5:", 0), 0u) << out.errors[3];
  EXPECT_FALSE(out.playback_session_enabled.has_value());
}

}  // namespace
