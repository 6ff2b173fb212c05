// Issue 8, defects 1, 2, 3 and 7, end to end: the real maxsessd, a real
// PostgreSQL, real HTTP. Hostile input is refused with a 400 naming the
// field, nothing is stored, and no log line or answer shows a URL's
// userinfo.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/daemon.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/pg_test.hpp"

using namespace maxsess;
using namespace maxsess::test;
using nlohmann::json;

namespace {

class Inputs : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!server_dsn()) GTEST_SKIP() << "no test PostgreSQL (set MAXSESS_TEST_PG_DIR or MAXSESS_TEST_DSN)";
    dsn = create_migrated_database("inputs");
    before_start();
    daemon_options o;
    o.dsn = dsn;
    o.extra_yaml = "  webhooks: true\n";
    d = std::make_unique<daemon_process>(o);
    d->start();
    client = std::make_unique<http_client>("127.0.0.1", d->port());
    auto r = put_streamer(1, R"({"host":"s1.example.com","url":"http://s1.example.com:8080"})");
    ASSERT_EQ(r.status, 200) << r.body;
  }
  void TearDown() override {
    if (d && d->running()) {
      EXPECT_EQ(d->stop(), 0) << d->log();
    }
  }
  virtual void before_start() {}

  std::map<std::string, std::string> admin() { return {{"Authorization", "Bearer " + d->admin_token()}}; }
  http_reply put_streamer(int id, const std::string& body) {
    return client->put_json("/api/v1/streamers/" + std::to_string(id), body, admin());
  }
  std::string streamers_table() {
    return query_scalar(dsn,
                        "select coalesce(string_agg(id||'|'||host||'|'||coalesce(url,'')||'|'||"
                        "coalesce(api_url,'')||'|'||coalesce(api_user,'')||'|'||coalesce(api_password,''),"
                        " ',' order by id), '') from streamers");
  }
  std::string sessions_table() {
    return query_scalar(dsn,
                        "select coalesce(string_agg(account_id||'|'||device_id||'|'||status, ',' "
                        "order by account_id, device_id), '') from playback_sessions");
  }
  // A 400 whose JSON error names `field`.
  void expect_400(const http_reply& r, const std::string& field, const std::string& what) {
    ASSERT_EQ(r.status, 400) << what << " -> " << r.body;
    auto j = json::parse(r.body, nullptr, false);
    ASSERT_FALSE(j.is_discarded()) << r.body;
    EXPECT_EQ(j["error"]["code"], "bad_request") << what;
    EXPECT_EQ(j["error"]["field"], field) << what << " -> " << r.body;
    EXPECT_FALSE(j["error"]["message"].get<std::string>().empty());
  }

  std::string dsn;
  std::unique_ptr<daemon_process> d;
  std::unique_ptr<http_client> client;
};

// Defect 1: "e\u0000vil" was answered as such and stored as "e"; a password
// starting with NUL was stored empty.
TEST_F(Inputs, ControlCharactersInStoredStringsAre400AndStoreNothing) {
  const auto table = streamers_table();
  struct bad_case {
    std::string body;
    std::string field;
  };
  std::vector<bad_case> streamer_cases = {
      {R"({"host":"e\u0000vil"})", "host"},
      {R"({"host":"s1.example.com\u0000x"})", "host"},  // would collide with streamer 1
      {R"({"host":"s2.example.com","api_password":"\u0000secret"})", "api_password"},
      {R"({"host":"s2.example.com","api_password":"pw\u007f"})", "api_password"},
      {R"({"host":"s2.example.com","api_user":"ad\u0001min"})", "api_user"},
      {R"({"host":"s2.example.com","url":"http://s2.example.com\u0000.evil"})", "url"},
      {R"({"host":"s2.example.com","api_url":"http://s2.example.com/\u001b[31m"})", "api_url"},
      {R"({"host":"s2.example.com","link_mode":"securetoken","securetoken_secret":"k\u0000"})",
       "securetoken_secret"},
      {R"({"host":"s2.example.com","link_template":"{url}/{stream}?token={token}\n"})", "link_template"},
      {R"({"host":"s2.example.com","link_mode":"auth_backend\u0000"})", "link_mode"},
  };
  for (auto& c : streamer_cases) expect_400(put_streamer(2, c.body), c.field, c.body);
  EXPECT_EQ(streamers_table(), table) << "nothing changed";
  EXPECT_EQ(client->get("/api/v1/streamers/2", admin()).status, 404);

  const auto sessions = sessions_table();
  std::vector<bad_case> link_cases = {
      {R"({"account_id":"acc\u0000","device_id":"d","content":{"type":"live","stream":"s"}})", "account_id"},
      {R"({"account_id":"acc","device_id":"d\u0000x","content":{"type":"live","stream":"s"}})", "device_id"},
      {R"({"account_id":"acc","device_id":"d","content":{"type":"live","stream":"s\u0000"}})", "content.stream"},
      {R"({"account_id":"acc","device_id":"d","content":{"type":"live\u0000","stream":"s"}})", "content.type"},
      // inet_pton reads up to the NUL: the address was accepted and stored.
      {R"({"account_id":"acc","device_id":"d","content":{"type":"live","stream":"s"},"client_ip":"203.0.113.7\u0000junk"})",
       "client_ip"},
  };
  for (auto& c : link_cases) expect_400(client->post_json("/api/v1/links", c.body), c.field, c.body);
  EXPECT_EQ(sessions_table(), sessions);
  expect_400(client->put_json("/api/v1/accounts/acc1", R"({"max_sessions":2,"account_id":"acc1\u0000"})", admin()),
             "account_id", "account id with NUL");
  EXPECT_EQ(query_scalar(dsn, "select count(*) from accounts"), "0");
  EXPECT_EQ(client->get("/healthz").status, 200);
}

// Defect 1 on Flussonic's side: a NUL in a webhook event's id failed the
// group commit (the other account's event in the batch with it) and the
// batch was 503 at every redelivery; a "%00" in an auth check's session_id
// failed the write and the check was allowed as degraded.
TEST_F(Inputs, ControlCharactersFromFlussonicAreMalformedAndHarmNoOtherEvent) {
  auto token = [&](const std::string& account, const std::string& device) {
    json body = {{"account_id", account}, {"device_id", device}, {"content", {{"type", "live"}, {"stream", "news"}}}};
    auto r = client->post_json("/api/v1/links", body.dump());
    EXPECT_EQ(r.status, 200) << r.body;
    return json::parse(r.body).value("token", std::string());
  };
  auto t1 = token("acc1", "tv1"), t2 = token("acc2", "tv2");
  const std::string batch =
      R"([{"event":"play_opened","event_id":1,"id":"sess\u0000x","media":"news","ip":"10.0.0.1","token":")" + t1 +
      R"("},{"event":"play_opened","event_id":2,"id":"good","media":"news","ip":"10.0.0.2","token":")" + t2 + R"("}])";
  for (int delivery = 0; delivery < 2; ++delivery) {
    auto r = client->post_json("/webhook/playback-session/flussonic/s1.example.com", batch);
    ASSERT_EQ(r.status, 200) << r.body;
    auto j = json::parse(r.body);
    EXPECT_EQ(j["malformed"], 1) << r.body;
    EXPECT_EQ(j["accepted"].get<int>() + j["duplicates"].get<int>(), 1) << r.body;
  }
  EXPECT_EQ(sessions_table(), "acc1|tv1|pending,acc2|tv2|active");

  auto auth = client->get("/flussonic/auth?name=news&session_id=a%00b&ip=10.0.0.1&token=" + t1);
  EXPECT_EQ(auth.status, 403) << auth.body;
  EXPECT_EQ(json::parse(auth.body)["reason"], "malformed") << auth.body;
  EXPECT_EQ(sessions_table(), "acc1|tv1|pending,acc2|tv2|active");
  ASSERT_EQ(d->stop(), 0);
  EXPECT_EQ(d->log().find("write not applied"), std::string::npos) << d->log();
}

// Defect 2: hosts are DNS names or IP literals with an optional port.
TEST_F(Inputs, StreamerHostsAreDnsNamesOrAddressesWithAnOptionalPort) {
  const auto table = streamers_table();
  std::vector<std::string> bad = {
      R"(evil'\"<>)",
      "a\\nb",
      "caf\u00e9.example.com",  // raw UTF-8 in the JSON text
      std::string(253, 'x'),
      std::string(64, 'a') + ".com",
      std::string(63, 'b') + "." + std::string(63, 'c') + "." + std::string(63, 'd') + "." + std::string(62, 'e'),
      "-a.example.com",
      "a-.example.com",
      "a..example.com",
      "a.example.com.",
      "a_b.example.com",
      "a b",
      "http://a.example.com",
      "a.example.com/path",
      "999.1.1.1",
      "1.2.3",
      "010.0.0.1",
      "a.example.com:0",
      "a.example.com:65536",
      "a.example.com:",
      "a.example.com:08080",
      "a.example.com:80:80",
      "[::1",
      "[::1]8080",
      "[fe80::1%eth0]",
      "[a.example.com]:80",
      "user@a.example.com",
  };
  for (auto& h : bad) {
    json body = {{"host", h}};
    auto text = body.dump(-1, ' ', false, json::error_handler_t::ignore);
    if (h.find("\\") != std::string::npos) text = R"({"host":")" + h + R"("})";  // pre-escaped cases
    expect_400(put_streamer(2, text), "host", text);
  }
  EXPECT_EQ(streamers_table(), table) << "nothing changed";

  std::vector<std::string> good = {
      "s2.example.com",
      "Edge-7.CDN.example.com",
      "localhost",
      std::string(63, 'a') + ".example.com",
      std::string(63, 'b') + "." + std::string(63, 'c') + "." + std::string(63, 'd') + "." + std::string(61, 'e'),
      "203.0.113.7",
      "203.0.113.7:8080",
      "s9.example.com:65535",
      "2001:db8::7",
      "[2001:db8::8]",
      "[2001:db8::9]:8080",
      "[::ffff:192.0.2.1]:80",
  };
  int id = 10;
  for (auto& h : good) {
    json body = {{"host", h}};
    auto r = put_streamer(id, body.dump());
    ASSERT_EQ(r.status, 200) << h << " -> " << r.body;
    EXPECT_EQ(query_scalar(dsn, "select host from streamers where id=" + std::to_string(id)), h);
    ++id;
  }
}

// Defect 3: credentials in api_url are refused (the message says where they
// go instead); url is checked the same way (the API falls back to it).
TEST_F(Inputs, CredentialsInUrlsAre400WithTheFix) {
  const auto table = streamers_table();
  for (auto field : {"api_url", "url"}) {
    json body = {{"host", "s2.example.com"}, {field, "http://admin:s3cret@s2.example.com:8080"}};
    auto r = put_streamer(2, body.dump());
    expect_400(r, field, body.dump());
    auto msg = json::parse(r.body)["error"]["message"].get<std::string>();
    EXPECT_NE(msg.find("api_user"), std::string::npos) << msg;
    EXPECT_NE(msg.find("api_password"), std::string::npos) << msg;
    EXPECT_EQ(msg.find("s3cret"), std::string::npos) << "the answer does not echo the secret";
  }
  // Other malformed URLs are refused too, before any sync trips on them.
  for (auto u : {"ftp://s2.example.com", "http://", "http://s2 .example.com", "http://s2.example.com/a b",
                 "http://s2.example.com:99999/"}) {
    json body = {{"host", "s2.example.com"}, {"api_url", u}};
    expect_400(put_streamer(2, body.dump()), "api_url", u);
  }
  EXPECT_EQ(streamers_table(), table);
  auto ok = put_streamer(2, R"({"host":"s2.example.com","api_url":"http://[::1]:1/flussonic/api/v3","api_user":"admin","api_password":"pw"})");
  EXPECT_EQ(ok.status, 200) << ok.body;
}

// A streamer row written before the check (credentials in api_url): syncs
// fail on it, and neither the log nor the job answer nor GET shows them.
class LegacyCredentials : public Inputs {
 protected:
  void before_start() override {
    query_scalar(dsn,
                 "insert into streamers (id, host, url, api_url) values (7, 's7.example.com', "
                 "'http://s7.example.com', 'http://operator:Hunter2Secret@127.0.0.1:1/streamer/api/v3') "
                 "returning id");
  }
};

TEST_F(LegacyCredentials, NoLogLineOrAnswerShowsTheUserinfo) {
  auto job = client->post_json("/api/v1/jobs/sync", R"({"streamer_ids":[7]})", admin());
  ASSERT_EQ(job.status, 200) << job.body;
  auto j = json::parse(job.body);
  ASSERT_EQ(j["streamers"].size(), 1u) << job.body;
  EXPECT_FALSE(j["streamers"][0]["ok"].get<bool>()) << job.body;
  EXPECT_EQ(job.body.find("Hunter2Secret"), std::string::npos) << job.body;
  EXPECT_NE(job.body.find("***@127.0.0.1"), std::string::npos) << job.body;

  auto get = client->get("/api/v1/streamers/7", admin());
  ASSERT_EQ(get.status, 200);
  EXPECT_EQ(get.body.find("Hunter2Secret"), std::string::npos) << get.body;
  auto list = client->get("/api/v1/streamers", admin());
  EXPECT_EQ(list.body.find("Hunter2Secret"), std::string::npos) << list.body;

  ASSERT_EQ(d->stop(), 0);
  auto log = d->log();
  EXPECT_NE(log.find("backing off"), std::string::npos) << "the failed sync was logged:\n" << log;
  EXPECT_EQ(log.find("Hunter2Secret"), std::string::npos) << log;
  EXPECT_EQ(log.find("operator:"), std::string::npos) << log;
}

// Defect 7a: RFC 9112 §3.2 — an HTTP/1.1 request without Host (or with two)
// is 400; HTTP/1.0 has no Host requirement and is served.
TEST_F(Inputs, Http11WithoutHostIs400AndHttp10IsServed) {
  auto no_host = raw_exchange("127.0.0.1", d->port(), "GET /healthz HTTP/1.1\r\n\r\n");
  EXPECT_EQ(no_host.rfind("HTTP/1.1 400", 0), 0u) << no_host;
  EXPECT_NE(no_host.find("\"field\":\"Host\""), std::string::npos) << no_host;

  auto two_hosts = raw_exchange("127.0.0.1", d->port(), "GET /healthz HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n");
  EXPECT_EQ(two_hosts.rfind("HTTP/1.1 400", 0), 0u) << two_hosts;

  // A link without Host records nothing.
  const std::string body = R"({"account_id":"acc","device_id":"d","content":{"type":"live","stream":"s"}})";
  auto link = raw_exchange("127.0.0.1", d->port(),
                           "POST /api/v1/links HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: " +
                               std::to_string(body.size()) + "\r\n\r\n" + body);
  EXPECT_EQ(link.rfind("HTTP/1.1 400", 0), 0u) << link;
  EXPECT_EQ(sessions_table(), "");

  auto old = raw_exchange("127.0.0.1", d->port(), "GET /healthz HTTP/1.0\r\n\r\n");
  EXPECT_EQ(old.rfind("HTTP/1.0 200", 0), 0u) << old;
  auto with_host = raw_exchange("127.0.0.1", d->port(), "GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(with_host.rfind("HTTP/1.1 200", 0), 0u) << with_host;
}

// Defect 7b: a repeated key used to take its last value silently.
TEST_F(Inputs, DuplicateKeysInLinkAndAdminBodiesAre400NamingTheKey) {
  const auto table = streamers_table();
  const auto sessions = sessions_table();
  expect_400(client->post_json("/api/v1/links",
                               R"({"account_id":"a1","device_id":"d","account_id":"a2","content":{"type":"live","stream":"s"}})"),
             "account_id", "link: account_id twice");
  expect_400(client->post_json("/api/v1/links",
                               R"({"account_id":"a1","device_id":"d","content":{"type":"live","stream":"s","stream":"t"}})"),
             "content.stream", "link: content.stream twice");
  expect_400(client->post_json("/api/v1/links",
                               R"({"account_id":"a1","device_id":"d","content":{"type":"live","stream":"s"},"x":[{"k":1,"k":2}]})"),
             "x[0].k", "link: a key twice in an ignored field");
  EXPECT_EQ(sessions_table(), sessions);

  expect_400(put_streamer(2, R"({"host":"s2.example.com","host":"s3.example.com"})"), "host", "streamer: host twice");
  expect_400(put_streamer(1, R"({"host":"s1.example.com","api_password":"a","api_password":"b"})"), "api_password",
             "streamer: api_password twice");
  EXPECT_EQ(streamers_table(), table);

  expect_400(client->put_json("/api/v1/accounts/acc1", R"({"max_sessions":1,"max_sessions":5})", admin()),
             "max_sessions", "account: max_sessions twice");
  EXPECT_EQ(query_scalar(dsn, "select count(*) from accounts"), "0");
  expect_400(client->post_json("/api/v1/jobs/sync", R"({"batch_size":1,"batch_size":2})", admin()), "batch_size",
             "job: batch_size twice");

  // The same bodies without the repeat are fine.
  EXPECT_EQ(client->post_json("/api/v1/links",
                              R"({"account_id":"a1","device_id":"d","content":{"type":"live","stream":"s"}})")
                .status,
            200);
}

}  // namespace
