// net/access: addresses, CIDRs, secrets, bearer token sets and the
// streamer-side access rules of docs/security.md.
#include "net/access.hpp"

#include <gtest/gtest.h>

#include <thread>

using namespace maxsess;
using namespace maxsess::net;

namespace {

bool in(const char* net, const char* addr) {
  auto c = parse_cidr(net);
  auto a = parse_ip(addr);
  EXPECT_TRUE(c.has_value()) << net;
  EXPECT_TRUE(a.has_value()) << addr;
  return c && a && c->contains(*a);
}

TEST(Access, SameSecretComparesWholeValues) {
  EXPECT_TRUE(same_secret("abc", "abc"));
  EXPECT_FALSE(same_secret("abc", "abd"));
  EXPECT_FALSE(same_secret("abc", "abcd"));
  EXPECT_FALSE(same_secret("abcd", "abc"));
  EXPECT_FALSE(same_secret("", "a"));
  EXPECT_TRUE(same_secret("", ""));
  EXPECT_FALSE(same_secret(std::string("a\0b", 3), std::string("a\0c", 3)));
}

TEST(Access, ParsesAddresses) {
  EXPECT_TRUE(parse_ip("10.0.0.1")->v4);
  EXPECT_FALSE(parse_ip("::1")->v4);
  // A v4-mapped peer is its IPv4 address (the HTTP server reports it so too).
  auto mapped = parse_ip("::ffff:192.0.2.7");
  ASSERT_TRUE(mapped);
  EXPECT_TRUE(mapped->v4);
  EXPECT_TRUE(in("192.0.2.0/24", "::ffff:192.0.2.7"));
  for (auto bad : {"", "10.0.0", "10.0.0.256", "010.0.0.1x", "host.example.com", "1.2.3.4 ", "::1::2",
                   "10.0.0.1/8"})
    EXPECT_FALSE(parse_ip(bad)) << bad;
  // A NUL inside (it would end the C string inet_pton reads) is refused.
  EXPECT_FALSE(parse_ip(std::string("10.0.0.1\0junk", 13)));
  EXPECT_FALSE(parse_cidr(std::string("10.0.0.0\0/8", 11)));
}

TEST(Access, CidrMatching) {
  EXPECT_TRUE(in("10.0.0.0/8", "10.255.1.2"));
  EXPECT_FALSE(in("10.0.0.0/8", "11.0.0.1"));
  EXPECT_TRUE(in("192.0.2.7", "192.0.2.7"));
  EXPECT_FALSE(in("192.0.2.7", "192.0.2.8"));
  EXPECT_TRUE(in("0.0.0.0/0", "203.0.113.9"));
  EXPECT_TRUE(in("172.16.0.0/12", "172.31.255.255"));
  EXPECT_FALSE(in("172.16.0.0/12", "172.32.0.0"));
  EXPECT_TRUE(in("2001:db8::/32", "2001:db8:1::5"));
  EXPECT_FALSE(in("2001:db8::/32", "2001:db9::5"));
  EXPECT_TRUE(in("::1", "::1"));
  // Families never match each other.
  EXPECT_FALSE(in("::/0", "10.0.0.1"));
  EXPECT_FALSE(in("0.0.0.0/0", "::1"));
}

TEST(Access, RefusesBadCidrsSaying) {
  std::string why;
  EXPECT_FALSE(parse_cidr("10.0.0.1/8", &why));
  EXPECT_NE(why.find("network address"), std::string::npos) << why;
  EXPECT_FALSE(parse_cidr("10.0.0.0/33", &why));
  EXPECT_NE(why.find("32"), std::string::npos) << why;
  EXPECT_FALSE(parse_cidr("2001:db8::/129", &why));
  for (auto bad : {"", "/8", "10.0.0.0/", "10.0.0.0/-1", "10.0.0.0/8/8", "10.0.0.0/ 8", "x/8", "10.0.0.0/0008"})
    EXPECT_FALSE(parse_cidr(bad)) << bad;
}

TEST(Access, AccessSecretShape) {
  EXPECT_TRUE(valid_access_secret("0123456789abcdef"));
  EXPECT_TRUE(valid_access_secret("A-Z_a.z~0123456789"));
  EXPECT_FALSE(valid_access_secret("short"));
  EXPECT_FALSE(valid_access_secret(std::string(129, 'a')));
  EXPECT_FALSE(valid_access_secret("0123456789abcde/"));
  EXPECT_FALSE(valid_access_secret("0123456789abcde?"));
  EXPECT_FALSE(valid_access_secret("0123456789abcde%"));
  EXPECT_FALSE(valid_access_secret(std::string("0123456789abcde\0", 16)));
}

TEST(Access, TokenGuardAcceptsEveryTokenOfTheSet) {
  token_guard g({{"adm-new", "adm-old"}, {"portal-1", "portal-2"}});
  EXPECT_TRUE(g.admin_ok("adm-new"));
  EXPECT_TRUE(g.admin_ok("adm-old"));
  EXPECT_FALSE(g.admin_ok("adm"));
  EXPECT_FALSE(g.admin_ok(""));
  EXPECT_FALSE(g.admin_ok("portal-1"));  // client tokens are not admin tokens
  EXPECT_TRUE(g.client_ok("portal-2"));
  EXPECT_FALSE(g.client_ok("adm-new"));  // nor the other way round
  EXPECT_FALSE(g.client_ok(""));
}

TEST(Access, NoClientTokenMeansTheDeviceApiIsOpenButNoAdminTokenMeansClosed) {
  token_guard g({{}, {}});
  EXPECT_TRUE(g.client_ok(""));
  EXPECT_FALSE(g.admin_ok(""));
}

TEST(Access, ReplaceSwapsTheWholeSet) {
  token_guard g({{"a1"}, {"c1"}});
  g.replace({{"a2"}, {"c2", "c3"}});
  EXPECT_FALSE(g.admin_ok("a1"));
  EXPECT_TRUE(g.admin_ok("a2"));
  EXPECT_FALSE(g.client_ok("c1"));
  EXPECT_TRUE(g.client_ok("c3"));
  EXPECT_EQ(g.admin_count(), 1u);
  EXPECT_EQ(g.client_count(), 2u);
}

// Readers on other threads while the set is swapped: every check sees one
// whole set. Both sets hold "common"; a reader that ever found it missing
// saw a set half built or freed.
TEST(Access, ReadersSeeWholeSnapshotsWhileReplaced) {
  token_guard g({{"x0", "common"}, {"y0", "common"}});
  std::atomic<bool> stop{false};
  std::atomic<int> torn{0};
  std::atomic<long> checks{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t)
    readers.emplace_back([&] {
      while (!stop) {
        if (!g.admin_ok("common") || !g.client_ok("common")) ++torn;
        ++checks;
      }
    });
  // Swap while the readers really run (on a loaded machine they may start
  // after 2000 swaps are over): at least 2000 swaps and 1000 checks.
  for (int i = 0; i < 2000 || checks.load() < 1000; ++i) {
    const std::string n = std::to_string(i % 2);
    g.replace({{"x" + n, "common"}, {"y" + n, "common"}});
    if (i >= 2000) std::this_thread::yield();
  }
  stop = true;
  for (auto& r : readers) r.join();
  EXPECT_EQ(torn.load(), 0);
  EXPECT_GT(checks.load(), 0);
}

streamer make(int64_t id, std::string host, std::vector<std::string> sources,
              std::vector<std::string> secrets) {
  streamer s;
  s.id = id;
  s.host = std::move(host);
  s.allowed_sources = std::move(sources);
  s.access_secrets = std::move(secrets);
  return s;
}

const std::string secret_a = "secret-a-0123456789";
const std::string secret_b = "secret-b-0123456789";

std::vector<streamer> fleet() {
  return {make(1, "open.example.com", {}, {}),
          make(2, "listed.example.com", {"10.1.0.0/16"}, {}),
          make(3, "secret.example.com", {}, {secret_a, secret_b}),
          make(4, "both.example.com", {"10.4.0.0/16"}, {secret_a})};
}

access_verdict check(const streamer_access& a, const char* remote, std::optional<std::string_view> host,
                     std::optional<std::string_view> secret = std::nullopt) {
  return a.check({remote, host, secret});
}

TEST(Access, NamedStreamerChecks) {
  for (auto policy : {streamer_calls::open, streamer_calls::registered}) {
    streamer_access a(policy);
    a.replace(fleet());
    EXPECT_EQ(check(a, "10.9.9.9", "nobody.example.com").refusal, access_refusal::unknown_streamer);
    // allow-list
    EXPECT_TRUE(check(a, "10.1.2.3", "listed.example.com").ok());
    EXPECT_EQ(check(a, "10.2.2.3", "listed.example.com").refusal, access_refusal::source_not_allowed);
    EXPECT_EQ(check(a, "10.1.2.3", "listed.example.com").streamer_id, 2);
    // secrets: either of two (rotation), none or a wrong one refused
    EXPECT_TRUE(check(a, "203.0.113.1", "secret.example.com", secret_a).ok());
    EXPECT_TRUE(check(a, "203.0.113.1", "secret.example.com", secret_b).ok());
    EXPECT_EQ(check(a, "203.0.113.1", "secret.example.com").refusal, access_refusal::bad_secret);
    EXPECT_EQ(check(a, "203.0.113.1", "secret.example.com", "secret-c-0123456789").refusal,
              access_refusal::bad_secret);
    EXPECT_EQ(check(a, "203.0.113.1", "secret.example.com", "").refusal, access_refusal::bad_secret);
    // both: both must hold
    EXPECT_TRUE(check(a, "10.4.0.1", "both.example.com", secret_a).ok());
    EXPECT_EQ(check(a, "10.5.0.1", "both.example.com", secret_a).refusal, access_refusal::source_not_allowed);
    EXPECT_EQ(check(a, "10.4.0.1", "both.example.com", secret_b).refusal, access_refusal::bad_secret);
    // Another streamer's secret is not this one's.
    EXPECT_EQ(check(a, "10.1.2.3", "listed.example.com", secret_a).refusal, access_refusal::none);
  }
}

TEST(Access, StreamerWithoutChecksDependsOnPolicy) {
  streamer_access open(streamer_calls::open), registered(streamer_calls::registered);
  open.replace(fleet());
  registered.replace(fleet());
  EXPECT_TRUE(check(open, "198.51.100.1", "open.example.com").ok());
  // A secret sent to a streamer that has none is ignored (change Flussonic's
  // URL first, then the streamer, with nothing refused in between).
  EXPECT_TRUE(check(open, "198.51.100.1", "open.example.com", secret_a).ok());
  EXPECT_EQ(check(registered, "198.51.100.1", "open.example.com").refusal, access_refusal::unverified_streamer);
}

TEST(Access, UnnamedCallsAreMatchedByAddressOrPolicy) {
  streamer_access open(streamer_calls::open), registered(streamer_calls::registered);
  open.replace(fleet());
  registered.replace(fleet());
  // From a listed streamer's address: identified, under both policies.
  EXPECT_EQ(check(registered, "10.1.200.1", std::nullopt).streamer_id, 2);
  EXPECT_TRUE(check(registered, "10.1.200.1", std::nullopt).ok());
  // A streamer that needs a secret is never identified by address alone.
  EXPECT_EQ(check(registered, "10.4.0.1", std::nullopt).refusal, access_refusal::unregistered_source);
  // Anyone else: served when open (as before this feature), refused when registered.
  EXPECT_TRUE(check(open, "198.51.100.1", std::nullopt).ok());
  EXPECT_EQ(check(open, "198.51.100.1", std::nullopt).streamer_id, 0);
  EXPECT_EQ(check(registered, "198.51.100.1", std::nullopt).refusal, access_refusal::unregistered_source);
  EXPECT_EQ(check(registered, "not-an-address", std::nullopt).refusal, access_refusal::unregistered_source);
}

TEST(Access, ReplaceFollowsTheRegistry) {
  streamer_access a(streamer_calls::registered);
  EXPECT_EQ(check(a, "10.1.0.1", "listed.example.com").refusal, access_refusal::unknown_streamer);
  a.replace(fleet());
  EXPECT_TRUE(check(a, "10.1.0.1", "listed.example.com").ok());
  a.replace({make(2, "listed.example.com", {"10.2.0.0/16"}, {})});
  EXPECT_EQ(check(a, "10.1.0.1", "listed.example.com").refusal, access_refusal::source_not_allowed);
  a.replace({});
  EXPECT_EQ(check(a, "10.2.0.1", "listed.example.com").refusal, access_refusal::unknown_streamer);
}

// A stored source that does not parse (the API never stores one) matches
// nothing: the streamer stays restricted rather than becoming open.
TEST(Access, UnparsableSourceFailsClosed) {
  streamer_access a(streamer_calls::open);
  a.replace({make(7, "odd.example.com", {"not-a-cidr"}, {})});
  EXPECT_EQ(check(a, "10.0.0.1", "odd.example.com").refusal, access_refusal::source_not_allowed);
}

TEST(Access, PolicyNames) {
  EXPECT_EQ(parse_streamer_calls("open"), streamer_calls::open);
  EXPECT_EQ(parse_streamer_calls("registered"), streamer_calls::registered);
  EXPECT_FALSE(parse_streamer_calls("Open"));
  EXPECT_FALSE(parse_streamer_calls(""));
  EXPECT_STREQ(to_string(access_refusal::bad_secret), "bad_secret");
}

TEST(Access, LogGateLetsOneLinePerIntervalWithTheCount) {
  log_gate gate(std::chrono::seconds(10));
  const auto t0 = std::chrono::steady_clock::time_point(std::chrono::hours(1));
  uint64_t suppressed = 99;
  EXPECT_TRUE(gate.should_log(t0, suppressed));
  EXPECT_EQ(suppressed, 0u);
  EXPECT_FALSE(gate.should_log(t0 + std::chrono::seconds(1), suppressed));
  EXPECT_FALSE(gate.should_log(t0 + std::chrono::seconds(9), suppressed));
  EXPECT_TRUE(gate.should_log(t0 + std::chrono::seconds(10), suppressed));
  EXPECT_EQ(suppressed, 2u);
}

}  // namespace
