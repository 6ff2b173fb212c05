#include "domain/validate.hpp"

#include <gtest/gtest.h>

#include <string>

namespace maxsess {
namespace {

using namespace std::string_literals;

TEST(find_control_char, finds_c0_and_del_and_nothing_else) {
  EXPECT_EQ(find_control_char("plain text, with: punctuation/()!"), std::string_view::npos);
  EXPECT_EQ(find_control_char(""), std::string_view::npos);
  EXPECT_EQ(find_control_char("caf\xc3\xa9 \xe2\x82\xac"), std::string_view::npos) << "UTF-8 is not control";
  EXPECT_EQ(find_control_char("e\0vil"s), 1u);
  EXPECT_EQ(find_control_char("\0pw"s), 0u);
  for (int c = 0; c < 0x20; ++c) EXPECT_TRUE(has_control_char("a"s + static_cast<char>(c) + "b")) << c;
  EXPECT_TRUE(has_control_char("pw\x7f"));
  EXPECT_FALSE(has_control_char("~ }"));
}

TEST(valid_streamer_host, dns_names) {
  for (std::string h : {"s1", "localhost", "s1.example.com", "Edge-7.CDN.example.COM", "a-b.c-d", "x1.2y",
                        "1a.example.com", "123.example.com"})
    EXPECT_TRUE(valid_streamer_host(h)) << h;
  EXPECT_TRUE(valid_streamer_host(std::string(63, 'a') + ".com"));
  const std::string max_name =
      std::string(63, 'b') + "." + std::string(63, 'c') + "." + std::string(63, 'd') + "." + std::string(61, 'e');
  ASSERT_EQ(max_name.size(), 253u);
  EXPECT_TRUE(valid_streamer_host(max_name));
  EXPECT_TRUE(valid_streamer_host(max_name + ":8080")) << "the port does not count in the 253";
  EXPECT_FALSE(valid_streamer_host(max_name + "e")) << "254 characters";
  EXPECT_FALSE(valid_streamer_host(std::string(64, 'a') + ".com")) << "a 64-character label";
  EXPECT_FALSE(valid_streamer_host(std::string(253, 'x')));
  for (std::string h : {"", "-a.com", "a-.com", "a..com", ".a.com", "a.com.", "a_b.com", "a b", "a\tb", "a\nb",
                        "evil'\"<>", "caf\xc3\xa9.com", "a/b", "a?b", "a#b", "a%b", "a\\b", "http://a.com",
                        "user@a.com", "*.a.com", "a.com;b", "123", "999.1.1.1", "1.2.3", "1.2.3.4.5"})
    EXPECT_FALSE(valid_streamer_host(h)) << h;
  EXPECT_FALSE(valid_streamer_host("a\0b"s));
}

TEST(valid_streamer_host, ipv4_and_ipv6_literals) {
  for (std::string h : {"0.0.0.0", "127.0.0.1", "203.0.113.7", "255.255.255.255", "2001:db8::7", "::1", "::",
                        "[::1]", "[2001:db8::9]", "[::ffff:192.0.2.1]", "fe80::1:2:3:4"})
    EXPECT_TRUE(valid_streamer_host(h)) << h;
  for (std::string h : {"256.0.0.1", "1.2.3.04", "010.0.0.1", "1.2.3.-4", "1..2.3", "[::1", "[::1]x", "::1]",
                        "[fe80::1%eth0]", "fe80::1%eth0", "[a.com]", "[1.2.3.4]", "[::g]", "1:2:3:4:5:6:7:8:9",
                        "[]", "[]:80"})
    EXPECT_FALSE(valid_streamer_host(h)) << h;
}

TEST(valid_streamer_host, ports) {
  for (std::string h : {"a.com:1", "a.com:80", "a.com:65535", "1.2.3.4:8080", "[::1]:8080", "[2001:db8::1]:1"})
    EXPECT_TRUE(valid_streamer_host(h)) << h;
  for (std::string h : {"a.com:", "a.com:0", "a.com:65536", "a.com:080", "a.com:+80", "a.com:8o", "a.com:80:80",
                        "a.com:123456", "[::1]:", "[::1]:0", "[::1]:99999", ":80"})
    EXPECT_FALSE(valid_streamer_host(h)) << h;
}

TEST(http_url_problem, accepts_plain_http_and_https_urls) {
  for (std::string u : {"http://s1.example.com", "https://s1.example.com:8443/", "http://127.0.0.1:8080",
                        "http://[::1]:8080/flussonic/api/v3", "http://h/some/path?x=1&y=%20#frag"})
    EXPECT_EQ(http_url_problem("api_url", u), std::nullopt) << u;
}

TEST(http_url_problem, refuses_credentials_with_the_fix_and_names_the_field) {
  for (std::string u : {"http://admin:secret@s1.example.com", "http://admin@s1.example.com:8080/x",
                        "https://a:b@[::1]/", "http://@h"}) {
    auto why = http_url_problem("api_url", u);
    ASSERT_TRUE(why) << u;
    EXPECT_EQ(why->rfind("api_url ", 0), 0u) << *why;
    EXPECT_NE(why->find("api_user"), std::string::npos) << *why;
    EXPECT_NE(why->find("api_password"), std::string::npos) << *why;
    EXPECT_EQ(why->find("secret"), std::string::npos) << "never echoes the password";
  }
  // An '@' in the path is not userinfo.
  EXPECT_EQ(http_url_problem("url", "http://h/user@x"), std::nullopt);
}

TEST(http_url_problem, refuses_other_malformed_urls) {
  for (std::string u : {"ftp://h", "h", "//h", "HTTP//h", "http://", "http:///path", "http://h:0", "http://h:99999",
                        "http://a b", "http://h/a b", "http://h/caf\xc3\xa9", "http://h\x7f", "http://evil'\"<>/",
                        "http://-h/", "http://h:80:80/"})
    EXPECT_TRUE(http_url_problem("url", u)) << u;
  auto nul = http_url_problem("url", "http://h\0.evil"s);
  ASSERT_TRUE(nul);
  EXPECT_NE(nul->find("control"), std::string::npos) << *nul;
}

TEST(url_has_userinfo, only_in_the_authority) {
  EXPECT_TRUE(url_has_userinfo("http://u:p@h/"));
  EXPECT_TRUE(url_has_userinfo("http://u@h"));
  EXPECT_FALSE(url_has_userinfo("http://h/u@x"));
  EXPECT_FALSE(url_has_userinfo("http://h?u@x"));
  EXPECT_FALSE(url_has_userinfo("http://h"));
}

TEST(redact_userinfo, hides_every_urls_userinfo_in_free_text) {
  EXPECT_EQ(redact_userinfo("http://admin:secret@h:8080/streamer/api/v3"), "http://***@h:8080/streamer/api/v3");
  EXPECT_EQ(redact_userinfo("credentials in the URL are not supported: http://a:b@h/x, then postgresql://u:pw@db/x"),
            "credentials in the URL are not supported: http://***@h/x, then postgresql://***@db/x");
  EXPECT_EQ(redact_userinfo("user with @ in password http://u:p@ss@h/"), "user with @ in password http://***@h/");
  EXPECT_EQ(redact_userinfo("\"http://u:p@h\""), "\"http://***@h\"");
  EXPECT_EQ(redact_userinfo("http://u:p@[::1]:80 and https://x:y@h2"), "http://***@[::1]:80 and https://***@h2");
}

TEST(redact_userinfo, leaves_text_without_userinfo_alone) {
  for (std::string t : {"", "plain", "http://h/path@x", "http://h?q=a@b", "mail admin@example.com", "a://",
                        "://@", "http://@h", "ends with http://"})
    EXPECT_EQ(redact_userinfo(t), t) << t;
}

}  // namespace
}  // namespace maxsess
