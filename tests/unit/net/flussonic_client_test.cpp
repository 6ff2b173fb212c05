// The Flussonic Sessions API client against the Python emulator
// (tests/flussonic/flussonic_emu.py) on 127.0.0.1, plus its pure parts
// (URL handling, page parsing). Emulator tests skip without python3.
#include "net/flussonic_client.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "domain/clock.hpp"
#include "tests/support/flussonic_emu.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/tls_cert.hpp"

namespace {

using namespace std::chrono_literals;
using maxsess::from_unix_ms;
using maxsess::streamer;
using maxsess::actors::flussonic_error;
using maxsess::actors::listed_session;
using maxsess::actors::session_page;
using maxsess::net::flussonic_client;
using maxsess::net::flussonic_endpoint_of;
using maxsess::net::parse_session_page;
using maxsess::net::percent_encode;
using maxsess::test::flussonic_emulator;
using steady = std::chrono::steady_clock;

// Runs f, expects flussonic_error, returns its message.
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const flussonic_error& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "not a flussonic_error: " << e.what();
    return {};
  }
  ADD_FAILURE() << "no exception";
  return {};
}

// --- pure parts --------------------------------------------------------------

TEST(FlussonicParseTest, ParsesFieldsAndTimestampsInMsOrSeconds) {
  const auto page = parse_session_page(R"({
    "sessions": [
      {"id": "a", "name": "ch1", "token": "t1", "ip": "10.0.0.1", "user_id": "u1",
       "bytes": 1234, "opened_at": 1700000000000, "updated_at": 1700000090500},
      {"id": "b", "name": "ch2", "user_id": 42, "bytes": null,
       "opened_at": 1700000000, "updated_at": 1700000030},
      {"session_id": "c", "bytes_sent": 77, "duration": 12, "updated_at": null},
      {"name": "no id at all"},
      {"id": "", "session_id": "d"},
      "not an object"
    ],
    "next": 17, "prev": null, "estimated_count": 4})");
  ASSERT_EQ(page.sessions.size(), 4u);
  EXPECT_EQ(page.next, "17");

  const listed_session& a = page.sessions[0];
  EXPECT_EQ(a.id, "a");
  EXPECT_EQ(a.name, "ch1");
  EXPECT_EQ(a.token, "t1");
  EXPECT_EQ(a.ip, "10.0.0.1");
  EXPECT_EQ(a.user_id, "u1");
  EXPECT_EQ(a.bytes, 1234);
  EXPECT_EQ(a.duration, 90);
  ASSERT_TRUE(a.updated_at.has_value());
  EXPECT_EQ(*a.updated_at, from_unix_ms(1700000090500));

  const listed_session& b = page.sessions[1];
  EXPECT_EQ(b.user_id, "42");
  EXPECT_EQ(b.bytes, -1);
  EXPECT_EQ(b.token, "");
  EXPECT_EQ(b.duration, 30);
  ASSERT_TRUE(b.updated_at.has_value());
  EXPECT_EQ(*b.updated_at, from_unix_ms(1700000030000));

  const listed_session& c = page.sessions[2];
  EXPECT_EQ(c.id, "c");
  EXPECT_EQ(c.bytes, 77);
  EXPECT_EQ(c.duration, 12);
  EXPECT_FALSE(c.updated_at.has_value());
  EXPECT_EQ(c.name, "");

  EXPECT_EQ(page.sessions[3].id, "d");
  EXPECT_EQ(page.sessions[3].duration, -1);
}

TEST(FlussonicParseTest, NextCursorForms) {
  EXPECT_EQ(parse_session_page(R"({"sessions": [], "next": null})").next, "");
  EXPECT_EQ(parse_session_page(R"({"sessions": []})").next, "");
  EXPECT_EQ(parse_session_page(R"({"next": ""})").next, "");
  EXPECT_EQ(parse_session_page(R"({"next": "YWZ0ZXI6Mg=="})").next, "YWZ0ZXI6Mg==");
  EXPECT_EQ(parse_session_page(R"({"next": 12345678901234})").next, "12345678901234");
  EXPECT_TRUE(parse_session_page(R"({"sessions": null})").sessions.empty());
  EXPECT_TRUE(parse_session_page("{}").sessions.empty());
}

TEST(FlussonicParseTest, NestedMembersAndOtherKeysAreSkippedUnread) {
  // The page is read as it is lexed: whatever nests, only the members of
  // interest of each session object count, and an object where a scalar is
  // expected reads as absent.
  const auto page = parse_session_page(R"({
    "meta": {"sessions": [{"id": "not me"}], "next": "nor me"},
    "prev": [1, [2, {"next": 3}]],
    "sessions": [
      {"id": {"nested": "x"}, "session_id": "a", "reason": {"type": "x", "id": "nope"},
       "token": "t", "tags": ["id", {"id": "z"}], "name": "ch1"},
      [{"id": "in an array"}],
      7, null,
      {"id": "b", "ip": ["10.0.0.1"], "bytes": "55"}
    ],
    "next": "c1"})");
  ASSERT_EQ(page.sessions.size(), 2u);
  EXPECT_EQ(page.sessions[0].id, "a");
  EXPECT_EQ(page.sessions[0].token, "t");
  EXPECT_EQ(page.sessions[0].name, "ch1");
  EXPECT_EQ(page.sessions[1].id, "b");
  EXPECT_EQ(page.sessions[1].ip, "");
  EXPECT_EQ(page.sessions[1].bytes, 55);
  EXPECT_EQ(page.next, "c1");
}

TEST(FlussonicParseTest, RepeatedKeysAndOddNumbersReadAsBefore) {
  // Read off simdjson's tape since issue 7's fourth round; these are the
  // answers the streaming nlohmann reader gave, kept.
  const auto page = parse_session_page(R"({
    "sessions": [{"id": "a", "token": "t1", "token": {"x": 1}, "ip": "1.1.1.1", "ip": null}],
    "next": "first",
    "sessions": [{"id": 7.0, "bytes": 1e3, "user_id": 2.5, "updated_at": 1700000000.5,
                  "opened_at": "1700000000", "name": 18446744073709551616}],
    "next": "second"})");
  ASSERT_EQ(page.sessions.size(), 2u);
  EXPECT_EQ(page.sessions[0].token, "t1");  // an object does not replace a scalar
  EXPECT_EQ(page.sessions[0].ip, "");       // a null does
  EXPECT_EQ(page.sessions[1].id, "7");
  EXPECT_EQ(page.sessions[1].bytes, 1000);
  EXPECT_EQ(page.sessions[1].user_id, "2.5");
  EXPECT_EQ(page.sessions[1].name, "1.8446744073709552e+19");  // beyond 64 bits: a double
  ASSERT_TRUE(page.sessions[1].updated_at.has_value());
  EXPECT_EQ(*page.sessions[1].updated_at, from_unix_ms(1700000000500));
  EXPECT_EQ(page.sessions[1].duration, 0);
  EXPECT_EQ(page.next, "second");
  EXPECT_EQ(parse_session_page(R"({"next": "x", "next": null})").next, "");
  // Nesting beyond the parser's depth is refused with a clear message.
  const std::string deep = "{\"meta\": " + std::string(2000, '[') + std::string(2000, ']') + "}";
  EXPECT_NE(error_of([&] { parse_session_page(deep); }).find("nested deeper than"), std::string::npos);
  EXPECT_NE(error_of([&] { parse_session_page(R"({"next": true})"); }).find("bad \"next\": true"),
            std::string::npos);
}

TEST(FlussonicParseTest, BadJsonAndShapesThrow) {
  EXPECT_THROW(parse_session_page(R"({"sessions": 5})"), flussonic_error);
  EXPECT_THROW(parse_session_page(R"({"next": [1]})"), flussonic_error);
  EXPECT_THROW(parse_session_page(R"("text")"), flussonic_error);
  EXPECT_THROW(parse_session_page(R"({"sessions": []} trailing)"), flussonic_error);
  EXPECT_THROW(parse_session_page(R"({"sessions": [{"id": "a"})"), flussonic_error);
  EXPECT_THROW(parse_session_page("not json"), flussonic_error);
  EXPECT_THROW(parse_session_page(""), flussonic_error);
  EXPECT_THROW(parse_session_page("[]"), flussonic_error);
  EXPECT_THROW(parse_session_page(R"({"sessions": {}})"), flussonic_error);
  EXPECT_THROW(parse_session_page(R"({"next": {"a": 1}})"), flussonic_error);
}

TEST(FlussonicEndpointTest, BaseUrlAndPrefix) {
  streamer s;
  s.url = "http://s1.example.com/";
  auto ep = flussonic_endpoint_of(s);
  EXPECT_EQ(ep.host, "s1.example.com");
  EXPECT_EQ(ep.port, "80");
  EXPECT_EQ(ep.prefix, "/streamer/api/v3");
  EXPECT_EQ(ep.authority(), "s1.example.com");

  s.api_url = "http://10.1.2.3:8080/flussonic/api/v3/";
  ep = flussonic_endpoint_of(s);
  EXPECT_EQ(ep.host, "10.1.2.3");
  EXPECT_EQ(ep.port, "8080");
  EXPECT_EQ(ep.prefix, "/flussonic/api/v3");
  EXPECT_EQ(ep.authority(), "10.1.2.3:8080");

  s.api_url = "http://[::1]:81/proxy/streamer/api/v3";
  ep = flussonic_endpoint_of(s);
  EXPECT_EQ(ep.host, "::1");
  EXPECT_EQ(ep.prefix, "/proxy/streamer/api/v3");
  EXPECT_EQ(ep.authority(), "[::1]:81");

  s.api_url = "http://h:9000/proxy//";
  EXPECT_EQ(flussonic_endpoint_of(s).prefix, "/proxy/streamer/api/v3");

  s.api_url = "https://s1.example.com";
  ep = flussonic_endpoint_of(s);
  EXPECT_TRUE(ep.tls);
  EXPECT_EQ(ep.port, "443");
  EXPECT_EQ(ep.authority(), "s1.example.com");
  s.api_url = "HTTPS://s1.example.com:8443/";
  ep = flussonic_endpoint_of(s);
  EXPECT_TRUE(ep.tls);
  EXPECT_EQ(ep.authority(), "s1.example.com:8443");
  s.api_url = "http://s1.example.com:443";
  EXPECT_FALSE(flussonic_endpoint_of(s).tls);
  EXPECT_EQ(flussonic_endpoint_of(s).authority(), "s1.example.com:443");
  s.api_url = "ftp://s1.example.com";
  EXPECT_NE(error_of([&] { flussonic_endpoint_of(s); }).find("unsupported URL scheme 'ftp'"),
            std::string::npos);
  s.api_url = "http://h:99999";
  EXPECT_THROW(flussonic_endpoint_of(s), flussonic_error);
  s.api_url.clear();
  s.url.clear();
  EXPECT_THROW(flussonic_endpoint_of(s), flussonic_error);
}

// Issue 8: these messages reach the log and the job answers; a stored
// api_url with user:password@ must not show its userinfo in any of them.
TEST(FlussonicEndpointTest, ErrorsNeverShowAUrlsUserinfo) {
  streamer s;
  for (std::string url : {"http://op:Hunter2@h:8080/x", "https://op:Hunter2@h", "ftp://op:Hunter2@h",
                          "http://op:Hunter2@h:99999", "http://op:Hunter2@[::1"}) {
    s.api_url = url;
    auto e = error_of([&] { flussonic_endpoint_of(s); });
    EXPECT_FALSE(e.empty()) << url;
    EXPECT_EQ(e.find("Hunter2"), std::string::npos) << e;
    EXPECT_EQ(e.find("op:"), std::string::npos) << e;
  }
  s.api_url = "http://op:Hunter2@h:8080/x";
  EXPECT_NE(error_of([&] { flussonic_endpoint_of(s); }).find("http://***@h:8080/x"), std::string::npos);
}

TEST(FlussonicEndpointTest, PercentEncode) {
  EXPECT_EQ(percent_encode("abc-._~XYZ09"), "abc-._~XYZ09");
  EXPECT_EQ(percent_encode("YWZ0ZXI6Mg=="), "YWZ0ZXI6Mg%3D%3D");
  EXPECT_EQ(percent_encode("a/b c+d?"), "a%2Fb%20c%2Bd%3F");
}

// --- against the emulator ----------------------------------------------------

class FlussonicClientTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!maxsess::test::python3_available()) return;
    emu_ = std::make_unique<flussonic_emulator>(flussonic_emulator::options{});
    emu_->start();
  }
  static void TearDownTestSuite() { emu_.reset(); }

  void SetUp() override {
    if (!maxsess::test::python3_available()) GTEST_SKIP() << "python3 not available";
    ASSERT_TRUE(emu_ && emu_->running());
    emu_->reset();
    s_.id = 1;
    s_.host = "emu";
    s_.url = emu_->api_url();
    s_.api_user = emu_->opts().api_user;
    s_.api_password = emu_->opts().api_password;
  }

  std::string open(const std::string& name, const std::string& token, const std::string& ip) {
    const auto r = emu_->play(name, token, ip, /*auth=*/false);
    EXPECT_TRUE(r.at("allowed").get<bool>()) << r.dump();
    return r.at("id").get<std::string>();
  }

  static std::unique_ptr<flussonic_emulator> emu_;
  streamer s_;
  flussonic_client client_{2000ms};
};

std::unique_ptr<flussonic_emulator> FlussonicClientTest::emu_;

TEST_F(FlussonicClientTest, ListsAcrossPages) {
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i)
    ids.push_back(open("ch" + std::to_string(i), "tok" + std::to_string(i),
                       "10.0.0." + std::to_string(i + 1)));
  emu_->update(ids[2]);
  emu_->update(ids[2]);

  std::vector<listed_session> all;
  std::string cursor;
  int pages = 0;
  do {
    const session_page page = client_.list_sessions(s_, 2, cursor);
    ++pages;
    ASSERT_LE(page.sessions.size(), 2u);
    all.insert(all.end(), page.sessions.begin(), page.sessions.end());
    cursor = page.next;
    ASSERT_LT(pages, 10) << "paging does not end";
  } while (!cursor.empty());
  EXPECT_EQ(pages, 3);
  ASSERT_EQ(all.size(), 5u);
  for (int i = 0; i < 5; ++i) {
    const auto& got = all[static_cast<std::size_t>(i)];
    EXPECT_EQ(got.id, ids[static_cast<std::size_t>(i)]);
    EXPECT_EQ(got.name, "ch" + std::to_string(i));
    EXPECT_EQ(got.token, "tok" + std::to_string(i));
    EXPECT_EQ(got.ip, "10.0.0." + std::to_string(i + 1));
    EXPECT_EQ(got.bytes, i == 2 ? 2000000 : 0);
    EXPECT_EQ(got.user_id, "");  // null in the emulator without an auth backend
    EXPECT_GE(got.duration, 0);
    ASSERT_TRUE(got.updated_at.has_value());
    const auto age = std::chrono::system_clock::now() - *got.updated_at;
    EXPECT_LT(std::chrono::abs(age), 60s);  // ms timestamps read as ms
  }
  // The emulator saw three list calls, with the cursor percent-encoded.
  const auto state = emu_->state();
  // (api_log's "status" is filled in after the answer is sent: racy, not checked.)
  std::vector<std::string> paths;
  for (const auto& e : state.at("api_log"))
    if (e.at("method") == "GET") paths.push_back(e.at("path").get<std::string>());
  ASSERT_EQ(paths.size(), 3u);
  EXPECT_EQ(paths[0], "/streamer/api/v3/sessions?limit=2");
  for (std::size_t i = 1; i < 3; ++i) {
    EXPECT_EQ(paths[i].rfind("/streamer/api/v3/sessions?limit=2&cursor=", 0), 0u) << paths[i];
    EXPECT_NE(paths[i].find("%3D"), std::string::npos) << paths[i];  // base64 '=' padding
  }
}

TEST_F(FlussonicClientTest, EmptyListIsOnePage) {
  const auto page = client_.list_sessions(s_, 100, "");
  EXPECT_TRUE(page.sessions.empty());
  EXPECT_EQ(page.next, "");
}

TEST_F(FlussonicClientTest, WrongPasswordIs401) {
  open("ch1", "t", "10.0.0.1");
  s_.api_password = "wrong";
  const auto msg = error_of([&] { client_.list_sessions(s_, 10, ""); });
  EXPECT_NE(msg.find("401"), std::string::npos) << msg;
  s_.api_user.clear();
  s_.api_password.clear();
  const auto msg2 = error_of([&] { client_.close_session(s_, "x"); });
  EXPECT_NE(msg2.find("401"), std::string::npos) << msg2;
}

TEST_F(FlussonicClientTest, CloseSessionDeletesIt) {
  const auto a = open("ch1", "ta", "10.0.0.1");
  const auto b = open("ch1", "tb", "10.0.0.2");
  EXPECT_TRUE(client_.close_session(s_, a));

  const auto state = emu_->state();
  ASSERT_EQ(state.at("deleted").size(), 1u);
  EXPECT_EQ(state.at("deleted")[0], a);
  for (const auto& s : state.at("sessions")) {
    if (s.at("id") == a) {
      EXPECT_FALSE(s.at("open").get<bool>());
      EXPECT_EQ(s.at("close_reason").at("type"), "api_delete");
    }
  }
  const auto page = client_.list_sessions(s_, 100, "");
  ASSERT_EQ(page.sessions.size(), 1u);
  EXPECT_EQ(page.sessions[0].id, b);

  // Closing it again, or an id the server never had: 404 = gone.
  EXPECT_TRUE(client_.close_session(s_, a));
  EXPECT_TRUE(client_.close_session(s_, "no-such-session"));
  EXPECT_TRUE(client_.close_session(s_, "odd id/with?chars"));
  EXPECT_EQ(emu_->state().at("deleted").size(), 1u);
}

TEST_F(FlussonicClientTest, FlussonicApiPrefixWorks) {
  const auto id = open("ch1", "t", "10.0.0.1");
  s_.url = "http://unused.invalid";
  s_.api_url = emu_->api_url() + "/flussonic/api/v3/";
  const auto page = client_.list_sessions(s_, 10, "");
  ASSERT_EQ(page.sessions.size(), 1u);
  EXPECT_EQ(page.sessions[0].id, id);
  EXPECT_TRUE(client_.close_session(s_, id));
  bool seen = false;
  const auto log = emu_->state().at("api_log");
  for (const auto& e : log) {
    const auto path = e.at("path").get<std::string>();
    EXPECT_EQ(path.rfind("/flussonic/api/v3/sessions", 0), 0u) << path;
    if (e.at("method") == "DELETE") seen = true;
  }
  EXPECT_TRUE(seen) << log.dump();
  EXPECT_EQ(emu_->state().at("deleted").size(), 1u);
}

TEST_F(FlussonicClientTest, SlowAnswerTimesOut) {
  emu_->configure({{"api_delay_ms", 2000}});
  flussonic_client fast(300ms);
  const auto t0 = steady::now();
  const auto msg = error_of([&] { fast.list_sessions(s_, 10, ""); });
  const auto took = steady::now() - t0;
  EXPECT_LT(took, 5s);
  EXPECT_GE(took, 250ms);
  EXPECT_NE(msg.find("timed out"), std::string::npos) << msg;
  EXPECT_NE(msg.find("127.0.0.1"), std::string::npos) << msg;
  EXPECT_NE(msg.find("read"), std::string::npos) << msg;

  const auto t1 = steady::now();
  EXPECT_THROW(fast.close_session(s_, "x"), flussonic_error);
  EXPECT_LT(steady::now() - t1, 5s);
}

TEST_F(FlussonicClientTest, ServerErrorThrows) {
  emu_->configure({{"api_fail", true}});
  const auto msg = error_of([&] { client_.list_sessions(s_, 10, ""); });
  EXPECT_NE(msg.find("500"), std::string::npos) << msg;
  EXPECT_NE(msg.find("emulated failure"), std::string::npos) << msg;  // the body excerpt
  const auto msg2 = error_of([&] { client_.close_session(s_, "x"); });
  EXPECT_NE(msg2.find("500"), std::string::npos) << msg2;

  emu_->configure({{"api_fail", 503}});
  const auto msg3 = error_of([&] { client_.list_sessions(s_, 10, ""); });
  EXPECT_NE(msg3.find("503"), std::string::npos) << msg3;
}

// Needs no emulator, but lives with the socket tests.
TEST(FlussonicClientNoServerTest, ConnectionRefused) {
  streamer s;
  s.host = "down";
  s.url = "http://127.0.0.1:" + std::to_string(maxsess::test::free_port());
  flussonic_client client(1000ms);
  const auto t0 = steady::now();
  const auto msg = error_of([&] { client.list_sessions(s, 10, ""); });
  EXPECT_LT(steady::now() - t0, 5s);
  EXPECT_NE(msg.find("connect"), std::string::npos) << msg;
  EXPECT_NE(msg.find("127.0.0.1"), std::string::npos) << msg;
  EXPECT_THROW(client.close_session(s, "x"), flussonic_error);
}

}  // namespace

// --- https (real fleets serve the API over TLS) --------------------------------

// The emulator serves the same API over https with a self-signed certificate
// for IP:127.0.0.1. The check is on by default: the chain must lead to a
// trusted certificate ($SSL_CERT_FILE here, the system store in production)
// and the name must match; api_tls_verify=false skips both.
class FlussonicHttpsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!maxsess::test::python3_available()) GTEST_SKIP() << "python3 not available";
    if (!maxsess::test::openssl_available()) GTEST_SKIP() << "openssl not available";
    cert_ = std::make_unique<maxsess::test::tls_cert>("IP:127.0.0.1");
    flussonic_emulator::options o;
    o.tls_cert = cert_->cert;
    o.tls_key = cert_->key;
    emu_ = std::make_unique<flussonic_emulator>(o);
    emu_->start();
    ASSERT_TRUE(emu_->play("ch1", "tok1", "10.0.0.1", false).at("allowed").get<bool>());
    s_.id = 1;
    s_.host = "emu";
    s_.url = emu_->api_url();
    s_.api_url = emu_->tls_api_url();
    s_.api_user = o.api_user;
    s_.api_password = o.api_password;
    unsetenv("SSL_CERT_FILE");
  }
  void TearDown() override { unsetenv("SSL_CERT_FILE"); }

  std::unique_ptr<maxsess::test::tls_cert> cert_;
  std::unique_ptr<flussonic_emulator> emu_;
  streamer s_;
  flussonic_client client_{3000ms};
};

TEST_F(FlussonicHttpsTest, AnUntrustedCertificateIsRefusedByDefault) {
  auto error = error_of([&] { client_.list_sessions(s_, 10, ""); });
  EXPECT_NE(error.find("certificate verify failed"), std::string::npos) << error;
  EXPECT_NE(error.find("self-signed"), std::string::npos) << error;
  EXPECT_NE(error.find("api_tls_verify"), std::string::npos) << "the way out is named: " << error;
  EXPECT_EQ(emu_->state().at("api_requests").get<int>(), 0) << "a request went out before the check";
}

TEST_F(FlussonicHttpsTest, ATrustedCertificateWorksAndItsNameIsChecked) {
  setenv("SSL_CERT_FILE", cert_->cert.c_str(), 1);
  auto page = client_.list_sessions(s_, 10, "");
  ASSERT_EQ(page.sessions.size(), 1u);
  EXPECT_EQ(page.sessions[0].token, "tok1");
  // The same server under a name its certificate does not carry.
  s_.api_url = "https://localhost:" + std::to_string(emu_->opts().tls_port);
  auto error = error_of([&] { client_.list_sessions(s_, 10, ""); });
  EXPECT_NE(error.find("certificate verify failed"), std::string::npos) << error;
  EXPECT_NE(error.find("hostname mismatch"), std::string::npos) << error;
}

TEST_F(FlussonicHttpsTest, VerificationOffAcceptsAnyCertificate) {
  s_.api_tls_verify = false;
  auto page = client_.list_sessions(s_, 10, "");
  ASSERT_EQ(page.sessions.size(), 1u);
  EXPECT_TRUE(client_.close_session(s_, page.sessions[0].id));
  EXPECT_FALSE(emu_->state().at("sessions")[0].at("open").get<bool>());
}

TEST_F(FlussonicHttpsTest, PlainHttpToTheTlsPortFailsClearly) {
  s_.api_url = "http://127.0.0.1:" + std::to_string(emu_->opts().tls_port);
  EXPECT_THROW(client_.list_sessions(s_, 10, ""), flussonic_error);
  s_.api_url = "https://127.0.0.1:" + std::to_string(emu_->port());  // TLS to the plain port
  s_.api_tls_verify = false;
  auto error = error_of([&] { client_.list_sessions(s_, 10, ""); });
  EXPECT_NE(error.find("tls handshake"), std::string::npos) << error;
}
