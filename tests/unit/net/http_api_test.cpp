// Routes as a function of the request, with fake services: no socket.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <iterator>
#include <random>
#include <sstream>

#include "net/http_api.hpp"

using namespace maxsess;
using namespace maxsess::net;
using nlohmann::json;

namespace {

struct fake_accounts : actors::account_service {
  std::vector<actors::link_request> links;
  actors::link_outcome next;
  std::vector<std::tuple<std::string, std::string, bool>> ends;
  actors::end_result next_end = actors::end_result::ended;
  std::optional<actors::account_view> next_view;
  std::vector<account_settings> puts;

  void request_link(actors::link_request req, link_cb done) override {
    links.push_back(req);
    done(next);
  }
  void end_session(std::string a, std::string d, bool kill, end_cb done) override {
    ends.emplace_back(a, d, kill);
    done(next_end);
  }
  void get_account(std::string, view_cb done) override { done(next_view); }
  std::vector<std::string> deletes;
  actors::end_result next_delete = actors::end_result::ended;
  void delete_account(std::string a, end_cb done) override {
    deletes.push_back(a);
    done(next_delete);
  }
  actors::auth_outcome next_auth{actors::auth_result::allow};
  std::vector<actors::auth_request> auths;
  void authorize(actors::auth_request req, auth_cb done) override {
    auths.push_back(req);
    done(next_auth);
  }
  void put_account(account_settings s, view_cb done) override {
    puts.push_back(s);
    actors::account_view v;
    v.found = true;
    v.settings = s;
    done(v);
  }
};

struct fake_streamers : actors::streamer_admin {
  std::map<int64_t, streamer> all;
  std::vector<streamer> list() override {
    std::vector<streamer> out;
    for (auto& kv : all) out.push_back(kv.second);
    return out;
  }
  std::optional<streamer> get(int64_t id) override {
    auto i = all.find(id);
    if (i == all.end()) return std::nullopt;
    return i->second;
  }
  void put(streamer s, done_fn done) override {
    all[s.id] = s;
    done(actors::admin_status::ok, {});
  }
  void remove(int64_t id, done_fn done) override {
    done(all.erase(id) ? actors::admin_status::ok : actors::admin_status::not_found, {});
  }
};

struct fake_streamer_side : actors::streamer_side {
  std::vector<std::pair<std::string, std::string>> posts;
  actors::webhook_result next_hook;
  std::vector<actors::job_request> jobs;
  void post_events(std::string host, std::string body, webhook_cb done) override {
    posts.emplace_back(host, body);
    done(next_hook);
  }
  void run_job(actors::job_request req, job_cb done) override {
    jobs.push_back(req);
    actors::job_report rep;
    rep.what = req.what;
    done(rep);
  }
  void streamers_changed() override {}
};

class Api : public ::testing::Test {
 protected:
  response call(http::verb method, const std::string& target, const std::string& body = {},
                const std::string& auth = {}, const std::string& ctype = "application/json") {
    request req{method, target, 11};
    if (!body.empty()) {
      req.set(http::field::content_type, ctype);
      req.body() = body;
      req.prepare_payload();
    }
    if (!auth.empty()) req.set(http::field::authorization, "Bearer " + auth);
    std::optional<response> out;
    api.handle(std::move(req), "127.0.0.1", [&](response r) { out = std::move(r); });
    EXPECT_TRUE(out.has_value()) << "answered synchronously by the fakes";
    return out ? *out : response{};
  }
  static json body(const response& r) { return json::parse(r.body(), nullptr, false); }

  fake_accounts accounts;
  fake_streamers streamers;
  fake_streamer_side side;
  manual_clock clock;
  std::ostringstream log_out;
  logger log{log_out, log_level::debug, false, clock};
  metric_registry metrics;
  link_signer signer = *link_signer::from_spec("k1:api-test");
  http_api api{{"admin-secret", {}}, {accounts, streamers, side, signer, clock, log, metrics}};
};

TEST_F(Api, ApprovedLinkHasTheContractShape) {
  accounts.next.result = actors::link_result::approved;
  accounts.next.url = "http://s/news/index.m3u8?token=T";
  accounts.next.token = "T";
  accounts.next.expires_at = clock.now();
  accounts.next.session.device_id = "d1";
  accounts.next.session.content.stream = "news";
  auto r = call(http::verb::post, "/api/v1/links",
                R"({"account_id":"a1","device_id":"d1","content":{"type":"catchup","stream":"news","start":100,"duration":60},"streamer_id":3,"client_ip":"10.1.2.3"})");
  ASSERT_EQ(r.result(), http::status::ok) << r.body();
  auto j = body(r);
  EXPECT_EQ(j["decision"], "approved");
  EXPECT_EQ(j["url"], "http://s/news/index.m3u8?token=T");
  EXPECT_EQ(j["token"], "T");
  EXPECT_EQ(j["expires_at"], to_rfc3339(clock.now()));
  for (auto key : {"device_id", "status", "content", "streamer_id", "started_at", "updated_at"})
    EXPECT_TRUE(j["session"].contains(key)) << key;
  EXPECT_FALSE(j["session"].contains("ended_at"));
  ASSERT_EQ(accounts.links.size(), 1u);
  auto& lr = accounts.links[0];
  EXPECT_EQ(lr.content.type, content_type::catchup);
  EXPECT_EQ(lr.content.start, 100);
  EXPECT_EQ(lr.content.duration, 60);
  EXPECT_EQ(lr.streamer_id, 3);
  EXPECT_EQ(lr.client_ip, "10.1.2.3");
  EXPECT_EQ(r[http::field::content_type], "application/json");
}

TEST_F(Api, DeniedLinkListsHolders) {
  accounts.next.result = actors::link_result::denied;
  accounts.next.message = "You have reached the maximum number of playback sessions";
  accounts.next.max_sessions = 2;
  playback_session h;
  h.device_id = "tv";
  h.status = session_status::active;
  accounts.next.holders = {h, h};
  auto r = call(http::verb::post, "/api/v1/links",
                R"({"account_id":"a1","device_id":"d3","content":{"type":"live","stream":"x"}})");
  ASSERT_EQ(r.result(), http::status::forbidden);
  auto e = body(r)["error"];
  EXPECT_EQ(e["code"], "max_sessions_reached");
  EXPECT_EQ(e["max_sessions"], 2);
  EXPECT_EQ(e["sessions"].size(), 2u);
  EXPECT_EQ(e["sessions"][0]["status"], "active");
}

// Shadow mode (docs/shadow.md): an approval that enforce would have denied
// is a 200 like any approval, its session flagged, and counted apart.
TEST_F(Api, ShadowApprovalIsA200WithTheFlagCountedAsWouldDeny) {
  accounts.next.result = actors::link_result::approved;
  accounts.next.would_deny = true;
  accounts.next.session.device_id = "d1";
  accounts.next.session.over_limit = true;
  accounts.next.url = "http://s/news/index.m3u8?token=T";
  accounts.next.token = "T";
  auto r = call(http::verb::post, "/api/v1/links",
                R"({"account_id":"a1","device_id":"d1","content":{"type":"live","stream":"news"}})");
  ASSERT_EQ(r.result(), http::status::ok) << r.body();
  EXPECT_EQ(body(r)["decision"], "approved");
  EXPECT_EQ(body(r)["session"]["over_limit"], true);
  auto m = call(http::verb::get, "/metrics").body();
  EXPECT_NE(m.find("maxsess_link_decisions_total{result=\"would_deny\"} 1"), std::string::npos) << m;
  EXPECT_EQ(m.find("maxsess_link_decisions_total{result=\"approved\"}"), std::string::npos) << m;
}

TEST_F(Api, OutcomesMapToStatusCodes) {
  const std::string ok_body = R"({"account_id":"a","device_id":"d","content":{"type":"live","stream":"x"}})";
  accounts.next.result = actors::link_result::no_streamer;
  auto r = call(http::verb::post, "/api/v1/links", ok_body);
  EXPECT_EQ(r.result(), http::status::service_unavailable);
  EXPECT_EQ(body(r)["error"]["code"], "no_streamer");
  accounts.next.result = actors::link_result::unavailable;
  r = call(http::verb::post, "/api/v1/links", ok_body);
  EXPECT_EQ(r.result(), http::status::service_unavailable);
  EXPECT_EQ(body(r)["error"]["code"], "unavailable");
  EXPECT_EQ(r[http::field::retry_after], "1");
  accounts.next.result = actors::link_result::unknown_streamer;
  r = call(http::verb::post, "/api/v1/links", ok_body);
  EXPECT_EQ(r.result(), http::status::bad_request);
  EXPECT_EQ(body(r)["error"]["field"], "streamer_id");
}

TEST_F(Api, BadLinkInputNeverReachesTheAccounts) {
  for (auto b : {"", "nope", "null", R"({"account_id":"a"})",
                 R"({"account_id":"a b","device_id":"d","content":{"type":"live","stream":"x"}})",
                 R"({"account_id":"a","device_id":"d","content":{"type":"live","stream":"x","start":"1"}})"}) {
    auto r = call(http::verb::post, "/api/v1/links", b);
    EXPECT_TRUE(r.result() == http::status::bad_request || r.result() == http::status::unsupported_media_type)
        << b << " -> " << r.result_int();
    EXPECT_FALSE(body(r).is_discarded());
  }
  EXPECT_TRUE(accounts.links.empty());
}

TEST_F(Api, EndSession) {
  auto r = call(http::verb::delete_, "/api/v1/accounts/a1/devices/d%3A1/session?kill=true");
  EXPECT_EQ(r.result(), http::status::no_content);
  ASSERT_EQ(accounts.ends.size(), 1u);
  EXPECT_EQ(std::get<1>(accounts.ends[0]), "d:1") << "path segments are percent-decoded";
  EXPECT_TRUE(std::get<2>(accounts.ends[0]));
  accounts.next_end = actors::end_result::not_found;
  EXPECT_EQ(call(http::verb::delete_, "/api/v1/accounts/a1/devices/d2/session").result(), http::status::not_found);
  EXPECT_FALSE(std::get<2>(accounts.ends[1]));
}

TEST_F(Api, ClientTokensWhenConfigured) {
  http_api guarded{{"admin-secret", {"portal-1"}}, {accounts, streamers, side, signer, clock, log, metrics}};
  request req{http::verb::delete_, "/api/v1/accounts/a/devices/d/session", 11};
  std::optional<response> out;
  guarded.handle(req, "x", [&](response r) { out = std::move(r); });
  EXPECT_EQ(out->result(), http::status::unauthorized);
  req.set(http::field::authorization, "Bearer portal-1");
  guarded.handle(req, "x", [&](response r) { out = std::move(r); });
  EXPECT_EQ(out->result(), http::status::no_content);
}

TEST_F(Api, AdminNeedsBearer) {
  EXPECT_EQ(call(http::verb::get, "/api/v1/accounts/a1").result(), http::status::unauthorized);
  EXPECT_EQ(call(http::verb::get, "/api/v1/accounts/a1", {}, "admin-secre").result(), http::status::unauthorized);
  EXPECT_EQ(call(http::verb::get, "/api/v1/streamers", {}, "wrong").result(), http::status::unauthorized);
  accounts.next_view = actors::account_view{};
  EXPECT_EQ(call(http::verb::get, "/api/v1/accounts/a1", {}, "admin-secret").result(), http::status::not_found);
  accounts.next_view = std::nullopt;
  EXPECT_EQ(call(http::verb::get, "/api/v1/accounts/a1", {}, "admin-secret").result(), http::status::service_unavailable);
}

TEST_F(Api, StreamerPasswordIsNeverReturned) {
  auto r = call(http::verb::put, "/api/v1/streamers/4",
                R"({"host":"h:8080","url":"http://h:8080","api_password":"pw","link_mode":"securetoken","securetoken_secret":"ss"})",
                "admin-secret");
  ASSERT_EQ(r.result(), http::status::ok) << r.body();
  EXPECT_EQ(r.body().find("\"pw\""), std::string::npos);
  EXPECT_EQ(r.body().find("\"ss\""), std::string::npos);
  EXPECT_EQ(streamers.all[4].api_password, "pw");
  EXPECT_EQ(streamers.all[4].mode, link_mode::securetoken);
  auto g = call(http::verb::get, "/api/v1/streamers/4", {}, "admin-secret");
  EXPECT_EQ(body(g)["api_password_set"], true);
  EXPECT_FALSE(body(g).contains("api_password"));
  EXPECT_EQ(call(http::verb::put, "/api/v1/streamers/4", R"({"host":"h","id":5})", "admin-secret").result(),
            http::status::bad_request);
  EXPECT_EQ(call(http::verb::put, "/api/v1/streamers/abc", R"({"host":"h"})", "admin-secret").result(),
            http::status::bad_request);
}

// Issue 8, defects 1-3 and 7 at the route level (the integration tests
// check the same against PostgreSQL).
TEST_F(Api, StreamerBodiesWithControlCharactersBadHostsCredentialsOrRepeatsAre400) {
  struct bad_case {
    std::string body;
    std::string field;
  };
  std::vector<bad_case> cases = {
      {R"({"host":"e\u0000vil"})", "host"},
      {R"({"host":"h","api_password":"\u0000pw"})", "api_password"},
      {R"({"host":"h","api_user":"a\u007f"})", "api_user"},
      {R"({"host":"h","securetoken_secret":"s\u001f","link_mode":"securetoken"})", "securetoken_secret"},
      {R"({"host":"h","link_template":"{token}\r\n"})", "link_template"},
      {R"({"host":"h","url":"http://h\u0000x"})", "url"},
      {R"({"host":"evil'\"<>"})", "host"},
      {R"({"host":"a\nb"})", "host"},
      {R"({"host":"h\u00e9"})", "host"},
      {R"({"host":")" + std::string(253, 'x') + R"("})", "host"},
      {R"({"host":"h:70000"})", "host"},
      {R"({"host":"h","api_url":"http://admin:pw@h:8080"})", "api_url"},
      {R"({"host":"h","url":"http://admin:pw@h:8080"})", "url"},
      {R"({"host":"h","api_url":"http://h:8080/a b"})", "api_url"},
      {R"({"host":"h","host":"h2"})", "host"},
  };
  for (auto& c : cases) {
    auto r = call(http::verb::put, "/api/v1/streamers/4", c.body, "admin-secret");
    EXPECT_EQ(r.result(), http::status::bad_request) << c.body << " -> " << r.body();
    EXPECT_EQ(body(r)["error"]["field"], c.field) << c.body << " -> " << r.body();
  }
  EXPECT_TRUE(streamers.all.empty());
  auto creds = call(http::verb::put, "/api/v1/streamers/4", R"({"host":"h","api_url":"http://admin:pw@h:8080"})",
                    "admin-secret");
  EXPECT_NE(body(creds)["error"]["message"].get<std::string>().find("api_user"), std::string::npos) << creds.body();
  // A streamer stored before the check keeps its userinfo out of GET.
  streamers.all[5].id = 5;
  streamers.all[5].host = "h5";
  streamers.all[5].api_url = "http://admin:Hunter2@h5:8080/x";
  auto g = call(http::verb::get, "/api/v1/streamers/5", {}, "admin-secret");
  EXPECT_EQ(body(g)["api_url"], "http://***@h5:8080/x") << g.body();
  // Every other string of an admin or link body refuses control characters too.
  auto link = call(http::verb::post, "/api/v1/links",
                   R"({"account_id":"a","device_id":"d","content":{"type":"live","stream":"s"},"client_ip":"1.2.3.4\u0000x"})");
  EXPECT_EQ(body(link)["error"]["field"], "client_ip") << link.body();
  auto acc = call(http::verb::put, "/api/v1/accounts/a1", R"({"max_sessions":1,"max_sessions":2})", "admin-secret");
  EXPECT_EQ(body(acc)["error"]["field"], "max_sessions") << acc.body();
  auto job = call(http::verb::post, "/api/v1/jobs/sync", R"({"timeout":1,"timeout":2})", "admin-secret");
  EXPECT_EQ(body(job)["error"]["field"], "timeout") << job.body();
  EXPECT_TRUE(accounts.links.empty());
  EXPECT_TRUE(accounts.puts.empty());
  EXPECT_TRUE(side.jobs.empty());
}

TEST_F(Api, HealthAndReadiness) {
  EXPECT_EQ(call(http::verb::get, "/healthz").result(), http::status::ok);
  EXPECT_EQ(call(http::verb::get, "/readyz").result(), http::status::service_unavailable);
  api.set_ready(true);
  EXPECT_EQ(call(http::verb::get, "/readyz").result(), http::status::ok);
  EXPECT_EQ(call(http::verb::post, "/healthz", "{}").result(), http::status::method_not_allowed);
  EXPECT_EQ(call(http::verb::get, "/api/v2/links").result(), http::status::not_found);
}

TEST_F(Api, FlussonicAuthAllowsWithUserIdAndDuration) {
  auto token = signer.sign("acc1", "tv1", "news", clock.now() + std::chrono::minutes(10));
  for (auto path : {"/flussonic/auth", "/server/api/chk_flussonic_tmp_link.php",
                    "/stalker_portal/server/api/chk_flussonic_tmp_link.php"}) {
    auto r = call(http::verb::get, std::string(path) + "?name=news&ip=1.2.3.4&request_type=new_session&session_id=s1&token=" + token);
    ASSERT_EQ(r.result(), http::status::ok) << path;
    EXPECT_EQ(r["X-UserId"], "acc1");
    EXPECT_EQ(r["X-AuthDuration"], "30");
    EXPECT_TRUE(r["X-Max-Sessions"].empty());
    EXPECT_TRUE(r["X-Unique"].empty());
  }
  ASSERT_EQ(accounts.auths.size(), 3u);
  EXPECT_EQ(accounts.auths[0].device_id, "tv1");
  EXPECT_EQ(accounts.auths[0].session_id, "s1");
  EXPECT_EQ(accounts.auths[0].ip, "1.2.3.4");
  EXPECT_TRUE(accounts.auths[0].new_session);
}

// The query string as the auth backend reads it: any order, percent-decoded
// names and values, a repeated name counts with its last value, a name
// without a value is empty (query_params in net/http_api.cpp).
TEST_F(Api, FlussonicAuthQueryInAnyOrderLastRepeatWins) {
  auto token = signer.sign("acc1", "tv1", "news", clock.now() + std::chrono::minutes(10));
  auto r = call(http::verb::get, "/flussonic/auth?token=" + token +
                                     "&session_id=first&ip=1.2.3.4&%6eame=news&session_id=s%2D2"
                                     "&bytes=5&duration&request_type=update_session&bytes=7");
  ASSERT_EQ(r.result(), http::status::ok) << r.body();
  ASSERT_EQ(accounts.auths.size(), 1u);
  EXPECT_EQ(accounts.auths[0].session_id, "s-2");
  EXPECT_EQ(accounts.auths[0].ip, "1.2.3.4");
  EXPECT_EQ(accounts.auths[0].bytes, 7);
  EXPECT_EQ(accounts.auths[0].duration, -1) << "given without a value";
  EXPECT_FALSE(accounts.auths[0].new_session);
  // The last `name` is the one checked against the token's stream.
  EXPECT_EQ(call(http::verb::get, "/flussonic/auth?name=news&session_id=s&name=sports&token=" + token).result(),
            http::status::forbidden);
}

TEST_F(Api, FlussonicAuthRefusals) {
  auto token = signer.sign("acc1", "tv1", "news", clock.now() + std::chrono::minutes(10));
  EXPECT_EQ(call(http::verb::get, "/flussonic/auth?name=news&session_id=s").result(), http::status::forbidden);
  EXPECT_EQ(call(http::verb::get, "/flussonic/auth?name=news&session_id=s&token=garbage").result(), http::status::forbidden);
  EXPECT_EQ(call(http::verb::get, "/flussonic/auth?name=sports&session_id=s&token=" + token).result(), http::status::forbidden)
      << "a token is bound to its stream";
  auto tampered = token;
  tampered[tampered.size() - 2] = tampered[tampered.size() - 2] == 'A' ? 'B' : 'A';
  EXPECT_EQ(call(http::verb::get, "/flussonic/auth?name=news&session_id=s&token=" + tampered).result(), http::status::forbidden);
  // Without `name` the stream binding could not be checked (issue 8).
  auto no_name = call(http::verb::get, "/flussonic/auth?session_id=s&token=" + token);
  EXPECT_EQ(no_name.result(), http::status::forbidden);
  EXPECT_NE(no_name.body().find("no_name"), std::string::npos) << no_name.body();
  EXPECT_EQ(call(http::verb::get, "/flussonic/auth?name=&session_id=s&token=" + token).result(), http::status::forbidden);
  EXPECT_TRUE(accounts.auths.empty()) << "bad tokens never reach an account";
  // Expired: refused on new_session, decided by the session on update_session.
  auto old = signer.sign("acc1", "tv1", "news", clock.now() - std::chrono::seconds(1));
  EXPECT_EQ(call(http::verb::get, "/flussonic/auth?name=news&session_id=s&request_type=new_session&token=" + old).result(), http::status::forbidden);
  EXPECT_EQ(call(http::verb::get, "/flussonic/auth?name=news&session_id=s&request_type=update_session&token=" + old).result(), http::status::ok);
  accounts.next_auth.result = actors::auth_result::deny_killed;
  EXPECT_EQ(call(http::verb::get, "/flussonic/auth?name=news&session_id=s&token=" + token).result(), http::status::forbidden);
  accounts.next_auth.result = actors::auth_result::unavailable;
  EXPECT_EQ(call(http::verb::get, "/flussonic/auth?name=news&session_id=s&token=" + token).result(), http::status::ok)
      << "degraded: a valid token is never answered 5xx";
}

// Issue 8: a "%00" in a stored auth parameter failed the account's write,
// and the check was then allowed as degraded.
TEST_F(Api, FlussonicAuthRefusesControlCharactersInStoredParameters) {
  auto token = signer.sign("acc1", "tv1", "news", clock.now() + std::chrono::minutes(10));
  for (std::string q : {"session_id=a%00b&ip=1.2.3.4", "session_id=s&ip=1.2.3.4%00", "session_id=s%0A&ip=1.2.3.4",
                        "ip=1.2.3.4%7F"}) {
    auto r = call(http::verb::get, "/flussonic/auth?name=news&" + q + "&token=" + token);
    EXPECT_EQ(r.result(), http::status::forbidden) << q;
    EXPECT_EQ(body(r)["reason"], "malformed") << q << " -> " << r.body();
  }
  EXPECT_TRUE(accounts.auths.empty()) << "never reaches the account";
  EXPECT_EQ(call(http::verb::get, "/flussonic/auth?name=news&session_id=s&ip=1.2.3.4&token=" + token).result(),
            http::status::ok);
}

TEST_F(Api, WebhookStatuses) {
  EXPECT_EQ(call(http::verb::post, "/webhook/playback-session/flussonic/s1.example.com", "[]").result(), http::status::ok);
  ASSERT_EQ(side.posts.size(), 1u);
  EXPECT_EQ(side.posts[0].first, "s1.example.com");
  side.next_hook.result = actors::webhook_result::status::unknown_host;
  EXPECT_EQ(call(http::verb::post, "/webhook/playback-session/flussonic/nope", "[]").result(), http::status::not_found);
  side.next_hook.result = actors::webhook_result::status::not_json;
  EXPECT_EQ(call(http::verb::post, "/webhook/playback-session/flussonic/s1", "x").result(), http::status::bad_request);
}

TEST_F(Api, InvalidUtf8EchoedBackNeverThrows) {
  side.next_hook.result = actors::webhook_result::status::unknown_host;
  auto r = call(http::verb::post, "/webhook/playback-session/flussonic/%C3%28", "[]");
  EXPECT_EQ(r.result(), http::status::not_found);
  EXPECT_FALSE(body(r).is_discarded()) << "valid JSON, the bad byte replaced";
  auto p = call(http::verb::get, "/nope/%FF%FE");
  EXPECT_EQ(p.result(), http::status::not_found);
}

TEST_F(Api, JobsNeedAdminAndValidateOptions) {
  EXPECT_EQ(call(http::verb::post, "/api/v1/jobs/sync", "{}").result(), http::status::unauthorized);
  auto r = call(http::verb::post, "/api/v1/jobs/sync", R"({"batch_size":50,"streamer_ids":[1,2]})", "admin-secret");
  ASSERT_EQ(r.result(), http::status::ok) << r.body();
  EXPECT_EQ(body(r)["job"], "sync");
  ASSERT_EQ(side.jobs.size(), 1u);
  EXPECT_EQ(side.jobs[0].batch_size, 50);
  EXPECT_EQ(side.jobs[0].streamer_ids, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(call(http::verb::post, "/api/v1/jobs/sync", R"({"streamer_ids":[0]})", "admin-secret").result(), http::status::bad_request);
  EXPECT_EQ(call(http::verb::post, "/api/v1/jobs/sync", R"({"batch_size":0})", "admin-secret").result(), http::status::bad_request);
  EXPECT_EQ(call(http::verb::post, "/api/v1/jobs/clear", R"({"timeout":9223372036854775807})", "admin-secret").result(),
            http::status::bad_request) << "no overflow into 'clear everything'";
  EXPECT_EQ(call(http::verb::post, "/api/v1/jobs/explode", "{}", "admin-secret").result(), http::status::not_found);
  EXPECT_EQ(body(call(http::verb::post, "/api/v1/jobs/clear", R"({"timeout":10})", "admin-secret"))["job"], "clear");
  EXPECT_EQ(side.jobs.back().timeout, std::chrono::milliseconds(10000));
}

TEST_F(Api, MetricsAreTextFormat) {
  call(http::verb::get, "/healthz");
  auto r = call(http::verb::get, "/metrics");
  ASSERT_EQ(r.result(), http::status::ok);
  EXPECT_EQ(r[http::field::content_type], "text/plain; version=0.0.4");
  EXPECT_NE(r.body().find("maxsess_http_requests_total{route=\"other\",code=\"200\"} 1"), std::string::npos) << r.body();
}

// maxsess_ready says what /readyz would answer at the scrape (the
// MaxsessNodeNotReady alert, docs/monitoring.md): 0 while starting, then
// the ready check's answer.
TEST_F(Api, ReadyGaugeFollowsReadiness) {
  bool db_ok = true;
  api_deps deps{accounts, streamers, side, signer, clock, log, metrics};
  deps.ready_check = [&db_ok] { return db_ok; };
  http_api checked{{"admin-secret", {}}, deps};
  auto ready_gauge = [&] {
    std::optional<response> out;
    checked.handle(request{http::verb::get, "/metrics", 11}, "127.0.0.1", [&](response r) { out = std::move(r); });
    EXPECT_TRUE(out.has_value());
    const std::string body = out ? out->body() : "";
    for (const char* v : {"0", "1"})
      if (body.find(std::string("\nmaxsess_ready ") + v + "\n") != std::string::npos) return std::string(v);
    return std::string("absent");
  };
  EXPECT_EQ(ready_gauge(), "0") << "start-up not finished";
  checked.set_ready(true);
  EXPECT_EQ(ready_gauge(), "1");
  db_ok = false;
  EXPECT_EQ(ready_gauge(), "0") << "the ready check fails (database down)";
  db_ok = true;
  EXPECT_EQ(ready_gauge(), "1");
  checked.set_ready(false);
  EXPECT_EQ(ready_gauge(), "0") << "shutting down";
}

TEST_F(Api, DeleteAccountIsAdminAndMapsOutcomes) {
  EXPECT_EQ(call(http::verb::delete_, "/api/v1/accounts/a1").result(), http::status::unauthorized);
  EXPECT_TRUE(accounts.deletes.empty());
  auto r = call(http::verb::delete_, "/api/v1/accounts/a%3A1", {}, "admin-secret");
  EXPECT_EQ(r.result(), http::status::no_content) << r.body();
  ASSERT_EQ(accounts.deletes.size(), 1u);
  EXPECT_EQ(accounts.deletes[0], "a:1");
  accounts.next_delete = actors::end_result::not_found;
  r = call(http::verb::delete_, "/api/v1/accounts/a2", {}, "admin-secret");
  EXPECT_EQ(r.result(), http::status::not_found);
  EXPECT_EQ(body(r)["error"]["code"], "not_found");
  accounts.next_delete = actors::end_result::unavailable;
  r = call(http::verb::delete_, "/api/v1/accounts/a2", {}, "admin-secret");
  EXPECT_EQ(r.result(), http::status::service_unavailable);
  EXPECT_EQ(r[http::field::retry_after], "1");
  r = call(http::verb::delete_, "/api/v1/accounts/-bad", {}, "admin-secret");
  EXPECT_EQ(r.result(), http::status::bad_request);
  EXPECT_EQ(body(r)["error"]["field"], "account_id");
  EXPECT_EQ(accounts.deletes.size(), 3u) << "a bad id never reaches the accounts";
  r = call(http::verb::post, "/api/v1/accounts/a1", "{}", "admin-secret");
  EXPECT_EQ(r.result(), http::status::method_not_allowed);
  EXPECT_EQ(r[http::field::allow], "GET, PUT, DELETE");
}

// GET /api/v1/sessions with a fake reader: what reaches it, what is refused.
class Sessions : public Api {
 protected:
  Sessions() {
    api_deps deps{accounts, streamers, side, signer, clock, log, metrics};
    deps.list_sessions = [this](storage::session_query q,
                                std::function<void(std::optional<storage::session_page>)> done) {
      queries.push_back(q);
      done(next_page);
    };
    listing = std::make_unique<http_api>(api_options{"admin-secret", {}}, deps);
  }
  response get(const std::string& target, const std::string& auth = "admin-secret") {
    request req{http::verb::get, target, 11};
    if (!auth.empty()) req.set(http::field::authorization, "Bearer " + auth);
    std::optional<response> out;
    listing->handle(req, "127.0.0.1", [&](response r) { out = std::move(r); });
    EXPECT_TRUE(out.has_value());
    return out ? *out : response{};
  }
  static playback_session row(std::string account, std::string device) {
    playback_session s;
    s.account_id = std::move(account);
    s.device_id = std::move(device);
    s.token = "never-shown";
    return s;
  }
  std::vector<storage::session_query> queries;
  std::optional<storage::session_page> next_page = storage::session_page{};
  std::unique_ptr<http_api> listing;
};

TEST_F(Sessions, DefaultsFiltersAndAdminToken) {
  EXPECT_EQ(get("/api/v1/sessions", "").result(), http::status::unauthorized);
  EXPECT_EQ(get("/api/v1/sessions", "wrong").result(), http::status::unauthorized);
  EXPECT_TRUE(queries.empty());
  auto r = get("/api/v1/sessions");
  ASSERT_EQ(r.result(), http::status::ok) << r.body();
  EXPECT_EQ(body(r), json::parse(R"({"sessions":[]})"));
  ASSERT_EQ(queries.size(), 1u);
  EXPECT_FALSE(queries[0].status);
  EXPECT_FALSE(queries[0].streamer_id);
  EXPECT_EQ(queries[0].account_id_prefix, "");
  EXPECT_FALSE(queries[0].after);
  EXPECT_EQ(queries[0].limit, storage::default_session_page);
  r = get("/api/v1/sessions?status=killed&streamer_id=12&account_id_prefix=acc%3A1&limit=1000");
  ASSERT_EQ(r.result(), http::status::ok) << r.body();
  ASSERT_EQ(queries.size(), 2u);
  EXPECT_EQ(queries[1].status, session_status::killed);
  EXPECT_EQ(queries[1].streamer_id, 12);
  EXPECT_EQ(queries[1].account_id_prefix, "acc:1");
  EXPECT_EQ(queries[1].limit, 1000);
  // Empty values are the same as no parameter (a portal's form sends all).
  r = get("/api/v1/sessions?status=&streamer_id=&cursor=&limit=&account_id_prefix=");
  ASSERT_EQ(r.result(), http::status::ok) << r.body();
  EXPECT_FALSE(queries.back().status);
  EXPECT_EQ(queries.back().limit, storage::default_session_page);
}

TEST_F(Sessions, BadParametersAre400NamingTheParameterAndReadNothing) {
  const std::string bad_id_cursor = base64url_encode(std::string("-bad\0d1", 7));
  const std::string no_separator = base64url_encode("acc1");
  const std::pair<std::string, std::string> cases[] = {
      {"status=running", "status"},          {"status=Active", "status"},
      {"streamer_id=abc", "streamer_id"},    {"streamer_id=0", "streamer_id"},
      {"streamer_id=-1", "streamer_id"},     {"streamer_id=1234567890123456789", "streamer_id"},
      {"limit=0", "limit"},                  {"limit=1001", "limit"},
      {"limit=ten", "limit"},                {"limit=-5", "limit"},
      {"cursor=%2A%2A", "cursor"},           {"cursor=not*base64", "cursor"},
      {"cursor=" + bad_id_cursor, "cursor"}, {"cursor=" + no_separator, "cursor"},
      {"account_id_prefix=-a", "account_id_prefix"},
      {"account_id_prefix=a%20b", "account_id_prefix"},
      {"account_id_prefix=" + std::string(65, 'a'), "account_id_prefix"},
      {"streamer=1", "streamer"},
  };
  for (auto& [query, field] : cases) {
    auto r = get("/api/v1/sessions?" + query);
    EXPECT_EQ(r.result(), http::status::bad_request) << query;
    EXPECT_EQ(body(r)["error"]["code"], "bad_request") << query;
    EXPECT_EQ(body(r)["error"]["field"], field) << query << " -> " << r.body();
  }
  EXPECT_TRUE(queries.empty()) << "a refused listing must not read the database";
  EXPECT_EQ(get("/api/v1/sessions?account_id_prefix=" + std::string(64, 'a')).result(), http::status::ok);
}

// Arbitrary query strings (a fixed seed, so a failure repeats): every answer
// is 200 or a 400 naming a parameter, and only a 200 reached the reader.
TEST_F(Sessions, ArbitraryQueriesAreAnsweredNeverCrash) {
  const std::string names[] = {"status", "streamer_id", "account_id_prefix", "limit", "cursor", "x", ""};
  static const char raw[] = "azAZ09-._:@%=&+/*\x00\x7f\xc3\xa9 ";
  const std::string alphabet(raw, sizeof raw - 1);  // the NUL too
  std::mt19937 rng(20261201);
  auto pick = [&](std::size_t n) { return static_cast<std::size_t>(rng() % n); };
  for (int i = 0; i < 3000; ++i) {
    std::string q;
    for (std::size_t k = 0, n = pick(4); k < n; ++k) {
      if (k) q += '&';
      q += names[pick(std::size(names))] + "=";
      for (std::size_t j = 0, len = pick(12); j < len; ++j) q += alphabet[pick(alphabet.size())];
    }
    const auto before = queries.size();
    auto r = get("/api/v1/sessions?" + q);
    auto j = body(r);
    ASSERT_FALSE(j.is_discarded()) << q;
    if (r.result() == http::status::ok) {
      EXPECT_EQ(queries.size(), before + 1) << q;
    } else {
      ASSERT_EQ(r.result(), http::status::bad_request) << q << " -> " << r.body();
      EXPECT_TRUE(j["error"].contains("field")) << q;
      EXPECT_EQ(queries.size(), before) << q;
    }
  }
}

TEST_F(Sessions, PagesHandTheirCursorBackAndHideTokens) {
  next_page->sessions = {row("acc1", "tv"), row("acc2", "box:1")};
  next_page->more = true;
  auto r = get("/api/v1/sessions?limit=2");
  ASSERT_EQ(r.result(), http::status::ok) << r.body();
  auto j = body(r);
  ASSERT_EQ(j["sessions"].size(), 2u);
  EXPECT_EQ(j["sessions"][1]["account_id"], "acc2");
  EXPECT_EQ(r.body().find("never-shown"), std::string::npos) << "a token is a playback credential";
  ASSERT_TRUE(j.contains("next"));
  r = get("/api/v1/sessions?limit=2&cursor=" + j["next"].get<std::string>());
  ASSERT_EQ(r.result(), http::status::ok) << r.body();
  ASSERT_EQ(queries.size(), 2u);
  ASSERT_TRUE(queries[1].after);
  EXPECT_EQ(queries[1].after->first, "acc2");
  EXPECT_EQ(queries[1].after->second, "box:1");
  next_page->more = false;
  j = body(get("/api/v1/sessions?limit=2"));
  EXPECT_FALSE(j.contains("next")) << "the last page has no next";
  next_page.reset();
  r = get("/api/v1/sessions");
  EXPECT_EQ(r.result(), http::status::service_unavailable);
  request post{http::verb::post, "/api/v1/sessions", 11};
  post.set(http::field::authorization, "Bearer admin-secret");
  std::optional<response> out;
  listing->handle(post, "x", [&](response res) { out = std::move(res); });
  EXPECT_EQ(out->result(), http::status::method_not_allowed);
  // A daemon without a reader (the plain fixture) has no such route.
  EXPECT_EQ(call(http::verb::get, "/api/v1/sessions", {}, "admin-secret").result(), http::status::not_found);
}

}  // namespace

namespace {
// The answers as the nlohmann-based code rendered them (its std::map sorted
// the keys): the writer must give the same bytes.
json oracle_session(const playback_session& s) {
  json content = {{"type", to_string(s.content.type)}, {"stream", s.content.stream}};
  if (s.content.start) content["start"] = *s.content.start;
  if (s.content.duration) content["duration"] = *s.content.duration;
  json flussonic = json::array();
  for (auto& f : s.flussonic)
    flussonic.push_back({{"id", f.id}, {"ip", f.ip}, {"open", f.open}, {"stream", f.stream},
                         {"updated_at", to_rfc3339(f.updated_at)}});
  json j = {{"account_id", s.account_id},
            {"device_id", s.device_id},
            {"status", to_string(s.status)},
            {"content", std::move(content)},
            {"streamer_id", s.streamer_id},
            {"client_ip", s.client_ip},
            {"flussonic_sessions", std::move(flussonic)},
            {"started_at", to_rfc3339(s.started_at)},
            {"updated_at", to_rfc3339(s.updated_at)},
            {"duration_seconds", s.duration_s},
            {"bytes", s.bytes},
            {"exempt", s.exempt}};
  if (s.ended_at) j["ended_at"] = to_rfc3339(*s.ended_at);
  if (s.reason) j["end_reason"] = to_string(*s.reason);
  j["over_limit"] = s.over_limit;
  return j;
}
std::string oracle_dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }
}  // namespace

TEST_F(Api, LinkAnswersAreTheBytesNlohmannWrote) {
  playback_session full;
  full.device_id = "tv-\"1\"";
  full.status = session_status::ended;
  full.content = {content_type::catchup, "caf\xC3\xA9/\xFF", 1764000000, 3600};
  full.streamer_id = 42;
  full.started_at = clock.now();
  full.updated_at = clock.now() + std::chrono::seconds(5);
  full.ended_at = clock.now() + std::chrono::seconds(9);
  full.reason = end_reason::killed_by_operator;
  full.account_id = "acc-\xC3\xA9";
  full.client_ip = "2001:db8::7";
  full.flussonic = {{"f-1", "203.0.113.9", false, clock.now(), "news"},
                    {"f-\"2\"", "203.0.113.9", true, clock.now() + std::chrono::seconds(3), "caf\xC3\xA9"}};
  full.duration_s = 7200;
  full.bytes = int64_t{1} << 40;
  full.exempt = true;
  full.token = "secret-token";
  full.over_limit = true;
  playback_session bare;
  bare.device_id = "d2";
  accounts.next.result = actors::link_result::approved;
  accounts.next.url = "http://s/news/index.m3u8?token=T&x=\x01\t";
  accounts.next.token = "T";
  accounts.next.expires_at = clock.now();
  const std::string req = R"({"account_id":"a1","device_id":"d1","content":{"type":"live","stream":"x"}})";
  for (auto* s : {&full, &bare}) {
    accounts.next.session = *s;
    auto r = call(http::verb::post, "/api/v1/links", req);
    EXPECT_EQ(r.body(), oracle_dump(json{{"decision", "approved"},
                                         {"url", accounts.next.url},
                                         {"token", "T"},
                                         {"expires_at", to_rfc3339(clock.now())},
                                         {"session", oracle_session(*s)}}));
  }
  accounts.next.result = actors::link_result::denied;
  accounts.next.message = "You have reached the maximum number of playback sessions";
  accounts.next.max_sessions = 2;
  accounts.next.holders = {full, bare};
  auto r = call(http::verb::post, "/api/v1/links", req);
  EXPECT_EQ(r.body(), oracle_dump(json{{"error",
                                        {{"code", "max_sessions_reached"},
                                         {"message", accounts.next.message},
                                         {"max_sessions", 2},
                                         {"sessions", {oracle_session(full), oracle_session(bare)}}}}}));
  r = call(http::verb::post, "/api/v1/links", R"({"device_id":"d"})");
  EXPECT_EQ(r.body(), oracle_dump(json{{"error",
                                        {{"code", "bad_request"},
                                         {"message", "missing required field account_id"},
                                         {"field", "account_id"}}}}));
}

TEST_F(Api, HostileLinkBodiesAreAnsweredAsBefore) {
  accounts.next.result = actors::link_result::approved;
  const std::string deep = std::string(2000, '[') + std::string(2000, ']');
  struct bad_case {
    std::string body;
    std::string field;
  };
  std::vector<bad_case> cases = {
      // A key given twice is refused, named (issue 8; nlohmann took the last).
      {R"({"account_id":"a","account_id":7,"device_id":"d","content":{"type":"live","stream":"s"}})", "account_id"},
      {R"({"account_id":"a","device_id":"d","content":{"type":"live","stream":"s"},"content":null})", "content"},
      // Beyond 64 bits: a number but not an integer, named by its field.
      {R"({"account_id":"a","device_id":"d","content":{"type":"live","stream":"s"},"streamer_id":18446744073709551616})", "streamer_id"},
      {R"({"account_id":"a","device_id":"d","content":{"type":"live","stream":"s"},"streamer_id":9223372036854775808})", "streamer_id"},
      {R"({"account_id":"a","device_id":"d","content":{"type":"live","stream":"s","start":-99999999999999999999}})", "content.start"},
      {R"({"account_id":"a","device_id":"d","content":{"type":"live","stream":"s","duration":1.5}})", "content.duration"},
      {R"({"account_id":"a","device_id":"d","content":{"type":"live","stream":"s"},"streamer_id":1e2})", "streamer_id"},
      {R"({"account_id":"a","device_id":"d","content":{"type":"live","stream":"s"},"streamer_id":true})", "streamer_id"},
      {R"({"account_id":"a","device_id":"d","content":[1]})", "content"},
      {R"({"account_id":"a","device_id":"d","content":{"type":7,"stream":"s"}})", "content.type"},
      {R"({"account_id":"a\u0000b","device_id":"d","content":{"type":"live","stream":"s"}})", "account_id"},
      // Not JSON at all / not an object: the body.
      {"{\"account_id\":\"\xC3\x28\",\"device_id\":\"d\",\"content\":{\"type\":\"live\",\"stream\":\"s\"}}", "body"},
      {R"({"account_id":"\udc00","device_id":"d","content":{"type":"live","stream":"s"}})", "body"},
      {R"({"account_id":"a","device_id":"d","content":{"type":"live","stream":"s"},"x":1e400})", "body"},
      {R"({"account_id":"a","device_id":"d","content":{"type":"live","stream":"s"}} x)", "body"},
      {R"({"account_id":"a","device_id":"d","content":{"type":"live","stream":"s"},})", "body"},
      {R"("account_id")", "body"},
      // Deeper than json_input::max_depth (nlohmann had no limit): refused.
      {R"({"account_id":"a","device_id":"d","content":{"type":"live","stream":"s"},"x":)" + deep + "}", "body"},
  };
  for (auto& c : cases) {
    auto r = call(http::verb::post, "/api/v1/links", c.body);
    EXPECT_EQ(r.result(), http::status::bad_request) << c.body << " -> " << r.body();
    EXPECT_EQ(body(r)["error"]["field"], c.field) << c.body << " -> " << r.body();
  }
  EXPECT_TRUE(accounts.links.empty());
  // Refused even where the last value would be valid.
  auto dup = call(http::verb::post, "/api/v1/links",
                  R"({"account_id":7,"account_id":"a","device_id":"d","content":{"type":"vod","stream":"s","start":0,"start":5}})");
  EXPECT_EQ(dup.result(), http::status::bad_request) << dup.body();
  EXPECT_EQ(body(dup)["error"]["field"], "account_id");
  dup = call(http::verb::post, "/api/v1/links",
             R"({"account_id":"a","device_id":"d","content":{"type":"vod","stream":"s","start":0,"start":5}})");
  EXPECT_EQ(body(dup)["error"]["field"], "content.start") << dup.body();
  EXPECT_TRUE(accounts.links.empty());
  // Accepted: a BOM, unknown fields of any shape.
  auto r = call(http::verb::post, "/api/v1/links",
                "\xEF\xBB\xBF" R"({"account_id":"a","device_id":"d",)"
                R"("content":{"type":"vod","stream":"s","start":5},"extra":{"n":[1,{"m":99999999999999999999999}]}})");
  ASSERT_EQ(r.result(), http::status::ok) << r.body();
  ASSERT_EQ(accounts.links.size(), 1u);
  EXPECT_EQ(accounts.links[0].account_id, "a");
  EXPECT_EQ(accounts.links[0].content.type, content_type::vod);
  EXPECT_EQ(accounts.links[0].content.start, 5);
}

TEST_F(Api, AuthAndWebhookAnswersAreTheBytesNlohmannWrote) {
  auto token = signer.sign("acc1", "tv1", "news", clock.now() + std::chrono::minutes(10));
  accounts.next_auth.result = actors::auth_result::allow;
  auto r = call(http::verb::get, "/flussonic/auth?name=news&session_id=s&token=" + token);
  EXPECT_EQ(r.body(), R"({"result":"allow"})");
  accounts.next_auth.result = actors::auth_result::deny_killed;
  r = call(http::verb::get, "/flussonic/auth?name=news&session_id=s&token=" + token);
  EXPECT_EQ(r.body(), oracle_dump(json{{"result", "deny"}, {"reason", to_string(actors::auth_result::deny_killed)}}));
  r = call(http::verb::get, "/flussonic/auth?name=news&session_id=s");
  EXPECT_EQ(r.body(), oracle_dump(json{{"result", "deny"}, {"reason", "no_token"}}));
  side.next_hook = {};
  side.next_hook.events = 7;
  side.next_hook.duplicates = 1;
  side.next_hook.malformed = 2;
  side.next_hook.ignored = 3;
  side.next_hook.untracked = 4;
  r = call(http::verb::post, "/webhook/playback-session/flussonic/s1", "[]");
  EXPECT_EQ(r.body(), oracle_dump(json{{"accepted", 7}, {"duplicates", 1}, {"malformed", 2}, {"ignored", 3}, {"untracked", 4}}));
}

TEST_F(Api, QueryStringsArePercentDecoded) {
  auto token = signer.sign("acc1", "tv1", "news", clock.now() + std::chrono::minutes(10));
  accounts.next_auth.result = actors::auth_result::allow;
  auto r = call(http::verb::get, "/flussonic/auth?na%6De=n%65w%73&ip=1.2.3.4&session_id=a%2Fb&token=" + token);
  ASSERT_EQ(r.result(), http::status::ok) << r.body();
  ASSERT_EQ(accounts.auths.size(), 1u);
  EXPECT_EQ(accounts.auths[0].session_id, "a/b");
  // A pair with bad escapes is dropped whole: here the token, so no_token.
  for (auto bad : {"%zz", "%4", "%", "x%g1"}) {
    r = call(http::verb::get, std::string("/flussonic/auth?name=news&session_id=s&token=") + bad);
    EXPECT_EQ(body(r)["reason"], "no_token") << bad;
  }
  r = call(http::verb::get, "/flussonic/auth?name=news&session_id=s&token=" + token + "&token=%zz");
  EXPECT_EQ(r.result(), http::status::ok) << "the bad second token is dropped, the first one counts";
}

namespace {

// The audit trail's routes with a fake reader: what the query becomes, and
// how a page is rendered.
class EventsApi : public Api {
 protected:
  EventsApi() {
    deps_events = [this](storage::event_query q, api_deps::events_cb done) {
      queries.push_back(q);
      done(next_page);
    };
  }
  std::vector<storage::event_query> queries;
  std::optional<storage::event_page> next_page = storage::event_page{};
  std::function<void(storage::event_query, api_deps::events_cb)> deps_events;
  http_api events_api{{"admin-secret", {}},
                      {accounts, streamers, side, signer, clock, log, metrics, {}, {}, {}, nullptr, {},
                       [this](storage::event_query q, api_deps::events_cb done) { deps_events(q, done); }}};

  response get(const std::string& target) {
    request req{http::verb::get, target, 11};
    req.set(http::field::authorization, "Bearer admin-secret");
    std::optional<response> out;
    events_api.handle(std::move(req), "127.0.0.1", [&](response r) { out = std::move(r); });
    EXPECT_TRUE(out.has_value());
    return out ? *out : response{};
  }
};

TEST_F(EventsApi, SinceInEitherFormLimitAndAfterBecomeTheQuery) {
  ASSERT_EQ(get("/api/v1/accounts/acc1/events?since=2025-11-25T12:24:37.5%2B02:00&limit=7&after=42").result(),
            http::status::ok);
  ASSERT_EQ(get("/api/v1/events?since=1764066277").result(), http::status::ok);
  ASSERT_EQ(get("/api/v1/events").result(), http::status::ok);
  ASSERT_EQ(queries.size(), 3u);
  EXPECT_EQ(queries[0].account_id, "acc1");
  ASSERT_TRUE(queries[0].since.has_value());
  EXPECT_EQ(to_unix_ms(*queries[0].since), 1764066277500);  // 10:24:37.5 UTC
  EXPECT_EQ(queries[0].limit, 7);
  EXPECT_EQ(queries[0].after_id, 42);
  EXPECT_EQ(queries[1].account_id, "");
  EXPECT_EQ(to_unix_ms(*queries[1].since), 1764066277000);
  EXPECT_EQ(queries[1].limit, 100) << "the default";
  EXPECT_FALSE(queries[2].since.has_value()) << "the newest";
}

TEST_F(EventsApi, APageIsRenderedWithItsHoldersAndTheNextCursor) {
  audit_event e;
  e.id = 17;
  e.account_id = "acc1";
  e.device_id = "tablet";
  e.at = from_unix_ms(1764066277123);
  e.kind = audit_kind::denied;
  e.reason = "max_sessions_reached";
  e.node = "n1";
  e.max_sessions = 1;
  e.stream = "news";
  e.client_ip = "192.0.2.1";
  e.holders.push_back({"tv", session_status::active, "sports", 3, "192.0.2.2", from_unix_ms(1764066000000)});
  next_page->events.push_back(e);
  next_page->more = true;
  auto r = get("/api/v1/accounts/acc1/events?since=0&limit=1");
  ASSERT_EQ(r.result(), http::status::ok) << r.body();
  auto j = body(r);
  EXPECT_EQ(j["account_id"], "acc1");
  EXPECT_EQ(j["more"], true);
  EXPECT_EQ(j["next"], "/api/v1/accounts/acc1/events?since=2025-11-25T10:24:37.123Z&after=17&limit=1");
  ASSERT_EQ(j["events"].size(), 1u);
  auto ev = j["events"][0];
  EXPECT_EQ(ev["id"], 17);
  EXPECT_EQ(ev["at"], "2025-11-25T10:24:37.123Z");
  EXPECT_EQ(ev["kind"], "denied");
  EXPECT_EQ(ev["node"], "n1");
  EXPECT_EQ(ev["holders"][0]["device_id"], "tv");
  EXPECT_EQ(ev["holders"][0]["status"], "active");
  EXPECT_EQ(ev["holders"][0]["streamer_id"], 3);
  EXPECT_EQ(ev["holders"][0]["started_at"], "2025-11-25T10:20:00.000Z");

  next_page = std::nullopt;  // the database did not answer
  auto down = get("/api/v1/events");
  EXPECT_EQ(down.result(), http::status::service_unavailable);
  EXPECT_EQ(down[http::field::retry_after], "1");
}

TEST_F(Api, EventsWithoutAReaderAre503AndBadInputStill400) {
  EXPECT_EQ(call(http::verb::get, "/api/v1/events", {}, "admin-secret").result(),
            http::status::service_unavailable);
  auto bad = call(http::verb::get, "/api/v1/events?limit=5000", {}, "admin-secret");
  EXPECT_EQ(bad.result(), http::status::bad_request);
  EXPECT_EQ(body(bad)["error"]["field"], "limit");
}

}  // namespace
