#include "domain/log.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <limits>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

namespace maxsess {
namespace {

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    out.push_back(line);
  return out;
}

struct log_fixture : ::testing::Test {
  // 2026-11-25T10:24:37.123Z
  manual_clock clock{from_unix_ms(1795602277123)};
  std::ostringstream out;
};

TEST(parse_log_level, names) {
  EXPECT_EQ(parse_log_level("debug"), log_level::debug);
  EXPECT_EQ(parse_log_level("info"), log_level::info);
  EXPECT_EQ(parse_log_level("warn"), log_level::warn);
  EXPECT_EQ(parse_log_level("warning"), log_level::warn);
  EXPECT_EQ(parse_log_level("error"), log_level::error);
  EXPECT_EQ(parse_log_level("INFO"), log_level::info);
  EXPECT_FALSE(parse_log_level("").has_value());
  EXPECT_FALSE(parse_log_level("verbose").has_value());
  EXPECT_FALSE(parse_log_level("info ").has_value());
}

TEST_F(log_fixture, text_format) {
  logger log(out, log_level::debug, false, clock);
  log.info("account", "session approved", {{"account", "acc-1"}, {"device", "stb 1"}});
  log.error("net", "bind failed");
  log.debug("x", "line1\nline2", {{"empty", ""}});
  auto lines = lines_of(out.str());
  ASSERT_EQ(lines.size(), 3u) << out.str();
  EXPECT_EQ(lines[0],
            "2026-11-25T10:24:37.123Z info  account: session approved account=acc-1 "
            "device=\"stb 1\"");
  EXPECT_EQ(lines[1], "2026-11-25T10:24:37.123Z error net: bind failed");
  EXPECT_EQ(lines[2], "2026-11-25T10:24:37.123Z debug x: line1\\nline2 empty=\"\"");
}

TEST_F(log_fixture, json_lines_parse_as_json) {
  logger log(out, log_level::debug, true, clock);
  log.warn("storage", "query \"slow\"\n\ttook long",
           {{"ms", "1200"}, {"sql", "SELECT '\\x'"}, {"ctl", std::string("a\x01z")},
            {"utf8", "caf\xc3\xa9"}, {"broken", "\xff\xfe"}, {"msg", "shadow"}});
  auto lines = lines_of(out.str());
  ASSERT_EQ(lines.size(), 1u) << out.str();
  auto j = nlohmann::json::parse(lines[0]);  // throws (fails the test) if invalid
  EXPECT_EQ(j["ts"], "2026-11-25T10:24:37.123Z");
  EXPECT_EQ(j["level"], "warn");
  EXPECT_EQ(j["component"], "storage");
  EXPECT_EQ(j["msg"], "query \"slow\"\n\ttook long");
  EXPECT_EQ(j["ms"], "1200");
  EXPECT_EQ(j["sql"], "SELECT '\\x'");
  EXPECT_EQ(j["ctl"], std::string("a\x01z"));
  EXPECT_EQ(j["utf8"], "caf\xc3\xa9");
  EXPECT_EQ(j["broken"], "\xef\xbf\xbd\xef\xbf\xbd");  // U+FFFD each
  EXPECT_EQ(j["field_msg"], "shadow");  // a field never overwrites the message
  // Documented key order: ts, level, component, msg first.
  EXPECT_EQ(lines[0].rfind("{\"ts\":\"2026-11-25T10:24:37.123Z\",\"level\":\"warn\","
                           "\"component\":\"storage\",\"msg\":",
                           0),
            0u)
      << lines[0];
}

TEST_F(log_fixture, filters_by_level) {
  logger log(out, log_level::warn, true, clock);
  EXPECT_FALSE(log.enabled(log_level::debug));
  EXPECT_FALSE(log.enabled(log_level::info));
  EXPECT_TRUE(log.enabled(log_level::warn));
  EXPECT_TRUE(log.enabled(log_level::error));
  log.debug("c", "d");
  log.info("c", "i");
  log.warn("c", "w");
  log.error("c", "e");
  auto lines = lines_of(out.str());
  ASSERT_EQ(lines.size(), 2u) << out.str();
  EXPECT_EQ(nlohmann::json::parse(lines[0])["msg"], "w");
  EXPECT_EQ(nlohmann::json::parse(lines[1])["msg"], "e");
}

// SIGHUP's log.level: the new minimum applies to the next line, both ways.
TEST_F(log_fixture, set_level_changes_the_filter_at_run_time) {
  logger log(out, log_level::info, true, clock);
  log.debug("c", "hidden");
  log.set_level(log_level::debug);
  EXPECT_TRUE(log.enabled(log_level::debug));
  log.debug("c", "shown");
  log.set_level(log_level::error);
  log.warn("c", "hidden too");
  log.error("c", "e");
  auto lines = lines_of(out.str());
  ASSERT_EQ(lines.size(), 2u) << out.str();
  EXPECT_EQ(nlohmann::json::parse(lines[0])["msg"], "shown");
  EXPECT_EQ(nlohmann::json::parse(lines[1])["msg"], "e");
}

TEST_F(log_fixture, uses_the_injected_clock) {
  logger log(out, log_level::info, true, clock);
  log.info("c", "first");
  clock.advance(std::chrono::milliseconds(1500));
  log.info("c", "second");
  auto lines = lines_of(out.str());
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_EQ(nlohmann::json::parse(lines[1])["ts"], "2026-11-25T10:24:38.623Z");
}

TEST_F(log_fixture, concurrent_lines_do_not_interleave) {
  logger log(out, log_level::info, true, clock);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&log, t] {
      for (int i = 0; i < 200; ++i)
        log.info("t" + std::to_string(t), std::string(100, static_cast<char>('a' + t)));
    });
  for (auto& th : threads)
    th.join();
  auto lines = lines_of(out.str());
  ASSERT_EQ(lines.size(), 800u);
  for (const auto& l : lines)
    EXPECT_TRUE(nlohmann::json::accept(l)) << l;
}

// Issue 8: a failed sync logged a stored api_url with its user:password.
TEST_F(log_fixture, never_prints_a_urls_userinfo_in_either_format) {
  for (bool json : {false, true}) {
    out.str({});
    logger log(out, log_level::debug, json, clock);
    log.warn("streamer", "sync of http://op:Msg5ecret@h/x failed",
             {{"error", "credentials in the URL are not supported: http://admin:Hunter2@s1:8080/streamer/api/v3"},
              {"dsn", "postgresql://maxsess:DbPa55@db:5432/maxsess"},
              {"plain", "http://s1:8080/streamer/api/v3"}});
    const auto text = out.str();
    for (const char* secret : {"Msg5ecret", "Hunter2", "DbPa55", "admin:", "op:"})
      EXPECT_EQ(text.find(secret), std::string::npos) << secret << " in " << text;
    EXPECT_NE(text.find("http://***@h/x"), std::string::npos) << text;
    EXPECT_NE(text.find("http://***@s1:8080/streamer/api/v3"), std::string::npos) << text;
    EXPECT_NE(text.find("postgresql://***@db:5432/maxsess"), std::string::npos) << text;
    EXPECT_NE(text.find("http://s1:8080/streamer/api/v3"), std::string::npos) << "no userinfo, unchanged";
  }
}

// Issue 9: JSON logs keep numbers as numbers. A field given as an integer
// is a JSON number (signed and unsigned, up to the type's limits); one
// given as text stays a string even when it reads like a number.
TEST_F(log_fixture, json_writes_integers_bare_and_text_as_strings) {
  logger log(out, log_level::debug, true, clock);
  const std::size_t count = 3;
  log.info("c", "m",
           {{"count", count}, {"shard", 7}, {"delta", -12}, {"big", std::numeric_limits<uint64_t>::max()},
            {"low", std::numeric_limits<int64_t>::min()}, {"as_text", "42"}, {"name", std::string("acc-1")}});
  auto lines = lines_of(out.str());
  ASSERT_EQ(lines.size(), 1u) << out.str();
  EXPECT_NE(lines[0].find(R"("count":3,"shard":7,"delta":-12,"big":18446744073709551615,)"
                          R"("low":-9223372036854775808,"as_text":"42","name":"acc-1")"),
            std::string::npos)
      << lines[0];
  auto j = nlohmann::json::parse(lines[0]);
  EXPECT_TRUE(j["count"].is_number_unsigned());
  EXPECT_TRUE(j["delta"].is_number_integer());
  EXPECT_EQ(j["big"].get<uint64_t>(), std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(j["low"].get<int64_t>(), std::numeric_limits<int64_t>::min());
  EXPECT_TRUE(j["as_text"].is_string());
}

// The text format writes an integer as std::to_string did at the call sites.
TEST_F(log_fixture, text_writes_integers_as_before) {
  logger log(out, log_level::debug, false, clock);
  log.info("c", "m", {{"count", std::size_t{3}}, {"delta", -12}, {"as_text", "42"}});
  EXPECT_EQ(out.str(), "2026-11-25T10:24:37.123Z info  c: m count=3 delta=-12 as_text=42\n");
}

// The repeated-line count is a number too, in both places it is written.
TEST_F(log_fixture, repeated_count_is_a_number) {
  logger log(out, log_level::debug, true, clock, std::chrono::seconds(10));
  for (int i = 0; i < 3; ++i) log.warn_repeated("db", "down", {{"attempt", i}});
  log.flush_repeated();
  auto lines = lines_of(out.str());
  ASSERT_EQ(lines.size(), 2u) << out.str();
  auto j = nlohmann::json::parse(lines[1]);
  EXPECT_EQ(j["repeated"], 2);
  EXPECT_EQ(j["attempt"], 2) << "the last one's fields";
}

log_value value_of(log_value v) { return v; }

TEST(log_value, text_and_integers) {
  EXPECT_FALSE(value_of("x").is_integer());
  EXPECT_FALSE(value_of(std::string("12")).is_integer());
  EXPECT_EQ(value_of(std::string("12")).text(), "12");
  EXPECT_TRUE(value_of(12).is_integer());
  EXPECT_TRUE(value_of(12).is_signed());
  EXPECT_EQ(value_of(12).as_signed(), 12);
  EXPECT_FALSE(value_of(12u).is_signed());
  EXPECT_EQ(value_of(12u).as_unsigned(), 12u);
  EXPECT_EQ(value_of(int64_t{-5}).text(), "-5");
  EXPECT_NE(value_of(12), value_of("12")) << "a number and its text are different values";
}

// Under systemd with StandardError=journal: a priority prefix journald
// turns into the line's priority, and no timestamp of ours.
TEST_F(log_fixture, journal_lines_carry_the_priority_and_no_timestamp) {
  logger log(out, log_level::debug, false, clock, std::chrono::seconds(10), true);
  log.debug("c", "d", {{"n", 1}});
  log.info("account", "session approved", {{"account", "acc-1"}});
  log.warn("c", "w");
  log.error("net", "bind failed");
  auto lines = lines_of(out.str());
  ASSERT_EQ(lines.size(), 4u) << out.str();
  EXPECT_EQ(lines[0], "<7>debug c: d n=1");
  EXPECT_EQ(lines[1], "<6>info  account: session approved account=acc-1");
  EXPECT_EQ(lines[2], "<4>warn  c: w");
  EXPECT_EQ(lines[3], "<3>error net: bind failed");
}

// JSON to the journal: the prefix, then the documented object (with ts).
TEST_F(log_fixture, journal_json_lines_carry_the_priority) {
  logger log(out, log_level::debug, true, clock, std::chrono::seconds(10), true);
  log.warn("c", "w", {{"n", 2}});
  auto lines = lines_of(out.str());
  ASSERT_EQ(lines.size(), 1u) << out.str();
  ASSERT_EQ(lines[0].rfind("<4>{", 0), 0u) << lines[0];
  auto j = nlohmann::json::parse(lines[0].substr(3));
  EXPECT_EQ(j["ts"], "2026-11-25T10:24:37.123Z");
  EXPECT_EQ(j["n"], 2);
}

TEST(journal_stream, matches_only_the_descriptor_it_names) {
  char path[] = "/tmp/maxsess-journal-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  unlink(path);
  struct stat st {};
  ASSERT_EQ(fstat(fd, &st), 0);
  const std::string mine = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
  EXPECT_TRUE(is_journal_stream(mine.c_str(), fd));
  EXPECT_FALSE(is_journal_stream(nullptr, fd)) << "unset: not the journal";
  EXPECT_FALSE(is_journal_stream("", fd));
  const std::string other_inode = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino + 1);
  EXPECT_FALSE(is_journal_stream(other_inode.c_str(), fd)) << "inherited, but stderr went elsewhere";
  EXPECT_FALSE(is_journal_stream((mine + "x").c_str(), fd)) << "trailing junk";
  EXPECT_FALSE(is_journal_stream(std::to_string(st.st_dev).c_str(), fd)) << "no inode";
  close(fd);
  EXPECT_FALSE(is_journal_stream(mine.c_str(), fd)) << "closed descriptor";
}

}  // namespace
}  // namespace maxsess
