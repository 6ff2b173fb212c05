// Security end to end (docs/security.md): bearer tokens from files and the
// environment, several valid at once, rotated by SIGHUP without a restart;
// streamer access rules on real HTTP; and no secret ever in the daemon's
// log, an answer, /metrics or a GET.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <csignal>
#include <fstream>
#include <iterator>
#include <functional>
#include <thread>

#include "tests/support/daemon.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/pg_test.hpp"

using namespace maxsess::test;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds limit = 15s) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (pred()) return true;
    std::this_thread::sleep_for(50ms);
  }
  return pred();
}

// Every secret the tests use; none may ever come out of the daemon.
const std::string admin_1 = "adm1-Secret-5b0c7e";
const std::string admin_2 = "adm2-Secret-91f4aa";
const std::string client_1 = "cli1-Secret-77d2c1";
const std::string client_2 = "cli2-Secret-0e3b9f";
const std::string access_1 = "acc1-Secret-4c9d1e2f";
const std::string access_2 = "acc2-Secret-a8e07b3c";
const std::string api_password = "apipw-Secret-3f7a";
const std::string securetoken = "sectok-Secret-6d1e";
const std::string token_secret = "integration-test-secret";  // the harness's link key

class Security : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!server_dsn()) GTEST_SKIP() << "no test PostgreSQL";
    dsn = create_migrated_database("sec");
    char tmpl[] = "/tmp/maxsess-sec-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir = tmpl;
    admin_file = dir + "/admin_tokens";
    client_file = dir + "/client_tokens";
    write(admin_file, "# admin tokens, one per line\n" + admin_1 + "\n");
    write(client_file, client_1 + "\n");
  }
  void TearDown() override {
    if (d && d->running()) {
      EXPECT_EQ(d->stop(), 0) << d->log();
    }
    if (!dir.empty()) std::system(("rm -rf '" + dir + "'").c_str());
  }
  void boot(const std::string& streamer_calls = "open") {
    daemon_options o;
    o.dsn = dsn;
    o.admin_token = "";  // the admin token comes from the file only
    o.env = {{"MAXSESS_ADMIN_TOKEN_FILE", admin_file},
             {"MAXSESS_CLIENT_TOKENS_FILE", client_file},
             {"MAXSESS__SECURITY__STREAMER_CALLS", streamer_calls}};
    d = std::make_unique<daemon_process>(o);
    d->start();
    client = std::make_unique<http_client>("127.0.0.1", d->port());
  }
  static void write(const std::string& path, const std::string& text) { std::ofstream(path) << text; }
  static std::map<std::string, std::string> bearer(const std::string& t) {
    return {{"Authorization", "Bearer " + t}};
  }
  int admin_status(const std::string& token) { return client->get("/api/v1/streamers", bearer(token)).status; }
  int link_status(const std::optional<std::string>& token) {
    json body = {{"account_id", "acc"}, {"device_id", "dev"}, {"content", {{"type", "live"}, {"stream", "news"}}}};
    return client->post_json("/api/v1/links", body.dump(), token ? bearer(*token) : std::map<std::string, std::string>{})
        .status;
  }
  void hup() { ASSERT_EQ(::kill(d->pid(), SIGHUP), 0); }
  void put_streamer(const std::string& token, const json& body, int expect = 200) {
    auto r = client->put_json("/api/v1/streamers/1", body.dump(), bearer(token));
    ASSERT_EQ(r.status, expect) << r.body;
  }
  // Every secret used, checked against a text that came out of the daemon.
  static void expect_no_secret(const std::string& text, const std::string& what) {
    for (const auto& s : {admin_1, admin_2, client_1, client_2, access_1, access_2, api_password, securetoken,
                          token_secret})
      EXPECT_EQ(text.find(s), std::string::npos)
          << what << " holds a secret (" << s.substr(0, 4) << "...), after: "
          << text.substr(text.find(s) > 80 ? text.find(s) - 80 : 0, 80);
  }

  std::string dsn, dir, admin_file, client_file;
  std::unique_ptr<daemon_process> d;
  std::unique_ptr<http_client> client;
};

TEST_F(Security, TokensFromFilesRotateOnSighupWithoutARestart) {
  boot();
  const pid_t pid = d->pid();
  EXPECT_EQ(admin_status(admin_1), 200);
  EXPECT_EQ(admin_status(admin_2), 401);
  EXPECT_EQ(admin_status(""), 401);
  ASSERT_EQ(client->put_json("/api/v1/streamers/1", R"({"host":"s1.test","url":"http://s1.test"})",
                             bearer(admin_1)).status, 200);
  EXPECT_EQ(link_status(std::nullopt), 401);
  EXPECT_EQ(link_status(admin_1), 401);  // an admin token is not a client token
  EXPECT_EQ(link_status(client_1), 200);

  // Rotation, step 1: the new token joins the old one.
  write(admin_file, admin_2 + "\n" + admin_1 + "\n");
  write(client_file, client_2 + "\n" + client_1 + "\n");
  hup();
  ASSERT_TRUE(eventually([&] { return admin_status(admin_2) == 200; })) << d->log();
  EXPECT_EQ(admin_status(admin_1), 200);
  EXPECT_EQ(link_status(client_2), 200);
  EXPECT_EQ(link_status(client_1), 200);

  // Step 2: the old one leaves.
  write(admin_file, admin_2 + "\n");
  write(client_file, client_2 + "\n");
  hup();
  ASSERT_TRUE(eventually([&] { return admin_status(admin_1) == 401; })) << d->log();
  EXPECT_EQ(admin_status(admin_2), 200);
  EXPECT_EQ(link_status(client_1), 401);
  EXPECT_EQ(link_status(client_2), 200);

  // A broken reload changes nothing: an emptied client file must not open
  // the device API, and the tokens in use stay.
  write(client_file, "# emptied by mistake\n");
  hup();
  ASSERT_TRUE(eventually([&] { return d->log().find("configuration not reloaded") != std::string::npos; }))
      << d->log();
  EXPECT_EQ(link_status(std::nullopt), 401);
  EXPECT_EQ(link_status(client_2), 200);
  EXPECT_EQ(admin_status(admin_2), 200);

  // A changed key that is read at start only is named, not applied.
  write(client_file, client_2 + "\n");
  {
    std::string cfg;
    std::ifstream in(d->config_path());
    cfg.assign(std::istreambuf_iterator<char>(in), {});
    const std::string from = "default_max_sessions: 3";
    auto at = cfg.find(from);
    ASSERT_NE(at, std::string::npos) << cfg;
    cfg.replace(at, from.size(), "default_max_sessions: 4");
    write(d->config_path(), cfg);
  }
  hup();
  ASSERT_TRUE(eventually([&] { return d->log().find("take effect only after a restart") != std::string::npos; }))
      << d->log();
  EXPECT_NE(d->log().find("playback_session.default_max_sessions"), std::string::npos);

  EXPECT_EQ(d->pid(), pid) << "no restart";
  EXPECT_NE(d->log().find("SIGHUP: configuration reloaded"), std::string::npos);
  expect_no_secret(d->log(), "the daemon's log");
}

TEST_F(Security, StreamerAccessRulesOnRealHttp) {
  boot("registered");
  // Registered policy: a streamer with neither check cannot be verified.
  put_streamer(admin_1, {{"host", "s1.test"}, {"url", "http://s1.test"}});
  auto w = client->post_json("/webhook/playback-session/flussonic/s1.test", "[]");
  EXPECT_EQ(w.status, 403) << w.body;
  EXPECT_NE(w.body.find("unverified_streamer"), std::string::npos) << w.body;
  EXPECT_EQ(client->get("/flussonic/auth?name=news&token=x").status, 403);

  // Secrets: either of two while one rotates; a wrong one refused.
  put_streamer(admin_1, {{"host", "s1.test"}, {"url", "http://s1.test"}, {"access_secrets", {access_1, access_2}}});
  EXPECT_EQ(client->post_json("/webhook/playback-session/flussonic/s1.test/" + access_1, "[]").status, 200);
  EXPECT_EQ(client->post_json("/webhook/playback-session/flussonic/s1.test/" + access_2, "[]").status, 200);
  auto bad = client->post_json("/webhook/playback-session/flussonic/s1.test/wrong-secret-0123456", "[]");
  EXPECT_EQ(bad.status, 403);
  EXPECT_NE(bad.body.find("bad_secret"), std::string::npos) << bad.body;
  EXPECT_EQ(client->post_json("/webhook/playback-session/flussonic/s1.test", "[]").status, 403);
  // The auth backend at /flussonic/auth/{host}/{secret}: past the access
  // check, a bad link token is the token's refusal, not the caller's.
  auto a = client->get("/flussonic/auth/s1.test/" + access_1 + "?name=news&token=junk&request_type=new_session");
  EXPECT_EQ(a.status, 403);
  EXPECT_NE(a.body.find("token_"), std::string::npos) << a.body;
  auto a2 = client->get("/flussonic/auth/s1.test/" + access_2.substr(1) + "?name=news&token=junk");
  EXPECT_EQ(a2.status, 403);
  EXPECT_NE(a2.body.find("bad_secret"), std::string::npos) << a2.body;
  EXPECT_NE(client->get("/flussonic/auth/nobody.test?name=news&token=junk").body.find("unknown_streamer"),
            std::string::npos);
  // The webhook's unknown host stays 404.
  EXPECT_EQ(client->post_json("/webhook/playback-session/flussonic/nobody.test/" + access_1, "[]").status, 404);

  // Allow-list: the daemon sees 127.0.0.1.
  put_streamer(admin_1, {{"host", "s1.test"}, {"url", "http://s1.test"}, {"allowed_sources", {"10.99.0.0/16"}}});
  auto src = client->post_json("/webhook/playback-session/flussonic/s1.test", "[]");
  EXPECT_EQ(src.status, 403);
  EXPECT_NE(src.body.find("source_not_allowed"), std::string::npos) << src.body;
  put_streamer(admin_1, {{"host", "s1.test"}, {"url", "http://s1.test"}, {"allowed_sources", {"127.0.0.0/8", "::1"}}});
  EXPECT_EQ(client->post_json("/webhook/playback-session/flussonic/s1.test", "[]").status, 200);
  // Identified by its address, the bare and the middleware's old auth paths work too.
  EXPECT_NE(client->get("/flussonic/auth?name=news&token=junk").body.find("token_"), std::string::npos);
  EXPECT_NE(client->get("/server/api/chk_flussonic_tmp_link.php?name=news&token=junk").body.find("token_"),
            std::string::npos);

  // Bad streamer bodies: 400 naming the field, nothing changed.
  for (auto& [body, field] : std::vector<std::pair<json, std::string>>{
           {{{"host", "s1.test"}, {"allowed_sources", {"10.0.0.1/8"}}}, "allowed_sources[0]"},
           {{{"host", "s1.test"}, {"allowed_sources", "10.0.0.0/8"}}, "allowed_sources"},
           {{{"host", "s1.test"}, {"allowed_sources", {std::string("10.0.0.1\0junk", 13)}}}, "allowed_sources[0]"},
           {{{"host", "s1.test"}, {"allowed_sources", {"10.0.0.0/8", 7}}}, "allowed_sources"},
           {{{"host", "s1.test"}, {"access_secrets", {"short"}}}, "access_secrets[0]"},
           {{{"host", "s1.test"}, {"access_secrets", {access_1, access_1}}}, "access_secrets[1]"},
           {{{"host", "s1.test"}, {"access_secrets", {access_1 + "/x"}}}, "access_secrets[0]"}}) {
    auto r = client->put_json("/api/v1/streamers/1", body.dump(), bearer(admin_1));
    EXPECT_EQ(r.status, 400) << body.dump();
    EXPECT_EQ(json::parse(r.body)["error"]["field"], field) << r.body;
    expect_no_secret(r.body, "a 400 answer");
  }
  EXPECT_EQ(client->post_json("/webhook/playback-session/flussonic/s1.test", "[]").status, 200);

  // The metric counts refusals by endpoint and reason.
  auto m = client->get("/metrics").body;
  EXPECT_NE(m.find("maxsess_streamer_calls_refused_total{endpoint=\"webhook\",reason=\"bad_secret\"}"),
            std::string::npos) << m;
}

// Every secret in play — admin/client tokens (two generations), streamer
// access secrets, api_password, securetoken_secret, the link key — used in
// right and wrong ways, then looked for in everything the daemon let out.
TEST_F(Security, NoSecretInLogsMetricsAnswersOrGets) {
  boot("open");
  std::string answers;
  auto keep = [&](const http_reply& r) { answers += r.body + "\n"; };
  json s = {{"host", "s1.test"},
            {"url", "http://s1.test"},
            {"api_url", "http://127.0.0.1:1"},  // nothing listens: syncs fail and log it
            {"api_user", "flussonic"},
            {"api_password", api_password},
            {"link_mode", "securetoken"},
            {"securetoken_secret", securetoken},
            {"access_secrets", {access_1, access_2}}};
  auto put = client->put_json("/api/v1/streamers/1", s.dump(), bearer(admin_1));
  ASSERT_EQ(put.status, 200) << put.body;
  keep(put);
  auto pj = json::parse(put.body);
  EXPECT_EQ(pj["access_secrets_set"], true);
  EXPECT_EQ(pj["access_secrets_count"], 2);
  EXPECT_EQ(pj.count("access_secrets"), 0u);
  keep(client->get("/api/v1/streamers/1", bearer(admin_1)));
  keep(client->get("/api/v1/streamers", bearer(admin_1)));
  // Wrong and right tokens, secrets in paths that fail in every way.
  keep(client->get("/api/v1/streamers", bearer(client_1)));
  keep(client->get("/api/v1/streamers", bearer(admin_1 + "x")));
  keep(client->post_json("/api/v1/links", "{}", bearer(admin_1)));
  keep(client->post_json("/webhook/playback-session/flussonic/s1.test/" + access_1, "not json"));
  keep(client->post_json("/webhook/playback-session/flussonic/s1.test/" + client_1 + "-wrong", "[]"));
  keep(client->post_json("/webhook/playback-session/flussonic/s1.test/" + access_2 + "/extra", "[]"));
  keep(client->get("/webhook/playback-session/flussonic/s1.test/" + access_1));
  keep(client->get("/flussonic/auth/s1.test/" + access_2 + "/more?token=" + admin_2));
  keep(client->get("/flussonic/auth/s1.test/" + admin_2 + "?name=x&token=" + client_2));
  keep(client->get("/flussonic/auth/nobody/" + access_1 + "?name=x&token=y"));
  keep(client->get("/nothing/" + access_1));
  keep(client->get("/api/v1/" + admin_1, bearer(admin_1)));
  json link = {{"account_id", "acc"}, {"device_id", "dev"}, {"content", {{"type", "live"}, {"stream", "news"}}}};
  keep(client->post_json("/api/v1/links", link.dump(), bearer(client_1)));
  keep(client->post_json("/api/v1/jobs/sync", "{}", bearer(admin_1)));
  // A reload with a broken file, and one that works.
  write(admin_file, admin_2 + " " + admin_1 + "\n");
  hup();
  ASSERT_TRUE(eventually([&] { return d->log().find("configuration not reloaded") != std::string::npos; }))
      << d->log();
  write(admin_file, admin_2 + "\n");
  hup();
  ASSERT_TRUE(eventually([&] { return admin_status(admin_2) == 200; }));
  keep(client->get("/api/v1/cluster", bearer(admin_2)));
  auto metrics = client->get("/metrics");
  ASSERT_EQ(metrics.status, 200);
  std::string out, job_out;
  EXPECT_EQ(d->run_command("check-config", out), 0) << out;
  // The job commands call the daemon with the first admin token, here the
  // file's (there is no inline one).
  EXPECT_EQ(d->run_command("playback-session:clear", job_out), 0) << job_out;
  out += job_out;

  EXPECT_EQ(d->stop(), 0);
  const std::string log = d->log();
  ASSERT_NE(log.find("refused a streamer-side call"), std::string::npos) << log;  // refusals were logged
  expect_no_secret(log, "the daemon's log");
  expect_no_secret(metrics.body, "/metrics");
  expect_no_secret(answers, "the answers");
  expect_no_secret(out, "check-config's output");
}

}  // namespace
