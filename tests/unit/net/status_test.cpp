// The status page's CAF-free parts: the per-minute ring behind "denials per
// minute", the page's Content-Security-Policy, and the routes GET / and
// GET /api/v1/status (with fake services, no socket). The page in a real
// browser: tests/scripts/status_page_test.sh.
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <sstream>

#include "domain/token.hpp"
#include "net/http_api.hpp"
#include "net/status.hpp"

using namespace maxsess;
using namespace maxsess::net;

namespace {

// 2026-12-01T10:00:00Z, a minute boundary.
const sys_time t0 = sys_time{} + std::chrono::seconds(1'764'583'200);

TEST(MinuteRing, CountsEachMinutesGrowthOldestFirst) {
  minute_ring ring;
  ring.sample(t0 + std::chrono::seconds(5), 2);   // 2 in 10:00
  ring.sample(t0 + std::chrono::seconds(50), 3);  // +1 in 10:00
  ring.sample(t0 + std::chrono::seconds(70), 3);  // nothing in 10:01
  ring.sample(t0 + std::chrono::minutes(3), 10);  // +7 in 10:03
  auto s = ring.last_hour(t0 + std::chrono::minutes(3) + std::chrono::seconds(1));
  ASSERT_EQ(s.counts.size(), 60u);
  EXPECT_EQ(s.first_minute, t0 + std::chrono::minutes(3) - std::chrono::minutes(59));
  EXPECT_EQ(s.counts[59], 7);  // 10:03, the current minute
  EXPECT_EQ(s.counts[58], 0);  // 10:02
  EXPECT_EQ(s.counts[57], 0);  // 10:01
  EXPECT_EQ(s.counts[56], 3);  // 10:00
  EXPECT_EQ(s.total, 10);
}

TEST(MinuteRing, ForgetsWhatIsOlderThanAnHourAndReusesSlots) {
  minute_ring ring;
  ring.sample(t0, 4);                          // 10:00
  ring.sample(t0 + std::chrono::minutes(1), 5);  // 10:01: 1
  // 10:00 is still in the window at 10:59, gone at 11:00.
  EXPECT_EQ(ring.last_hour(t0 + std::chrono::minutes(59)).total, 5);
  EXPECT_EQ(ring.last_hour(t0 + std::chrono::minutes(60)).total, 1);
  // 11:00 uses 10:00's slot: it starts from zero, not from 10:00's 4.
  ring.sample(t0 + std::chrono::minutes(60), 7);
  auto s = ring.last_hour(t0 + std::chrono::minutes(60));
  EXPECT_EQ(s.counts[59], 2);
  EXPECT_EQ(s.counts[58], 0);
  EXPECT_EQ(s.total, 3);
  // Hours later: nothing left.
  EXPECT_EQ(ring.last_hour(t0 + std::chrono::hours(5)).total, 0);
}

TEST(MinuteRing, AClockThatWentBackCountsInTheNewestMinute) {
  minute_ring ring;
  ring.sample(t0 + std::chrono::minutes(5), 1);
  ring.sample(t0 + std::chrono::minutes(2), 4);  // NTP stepped back
  auto s = ring.last_hour(t0 + std::chrono::minutes(2));
  EXPECT_EQ(s.counts[59], 4);  // the newest minute is still 10:05
  EXPECT_EQ(s.total, 4);
}

std::string sha256_b64(const std::string& text) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(text.data(), text.size(), md, &len, EVP_sha256(), nullptr);
  return base64_encode(std::string_view(reinterpret_cast<const char*>(md), len));
}

TEST(StatusPageCsp, AllowsExactlyTheInlineScriptAndStyle) {
  const std::string script = "\nconsole.log(1);\n", style = "body{color:red}";
  auto csp = status_page_csp("<html><style>" + style + "</style><script>" + script + "</script></html>");
  EXPECT_NE(csp.find("script-src 'sha256-" + sha256_b64(script) + "';"), std::string::npos) << csp;
  EXPECT_NE(csp.find("style-src 'sha256-" + sha256_b64(style) + "';"), std::string::npos) << csp;
  for (const char* must : {"default-src 'none'", "connect-src 'self'", "frame-ancestors 'none'",
                           "base-uri 'none'", "form-action 'none'"})
    EXPECT_NE(csp.find(must), std::string::npos) << must << " in " << csp;
  EXPECT_EQ(csp.find("unsafe-inline"), std::string::npos);
  // A page without a script allows none.
  EXPECT_NE(status_page_csp("<p>x</p>").find("script-src 'none'"), std::string::npos);
}

// Fakes the routes under test never call.
struct no_accounts : actors::account_service {
  void request_link(actors::link_request, link_cb) override { ADD_FAILURE(); }
  void end_session(std::string, std::string, bool, end_cb) override { ADD_FAILURE(); }
  void get_account(std::string, view_cb) override { ADD_FAILURE(); }
  void put_account(account_settings, view_cb) override { ADD_FAILURE(); }
  void delete_account(std::string, end_cb) override { ADD_FAILURE(); }
  void authorize(actors::auth_request, auth_cb) override { ADD_FAILURE(); }
};
struct no_streamers : actors::streamer_admin {
  std::vector<streamer> list() override { return {}; }
  std::optional<streamer> get(int64_t) override { return std::nullopt; }
  void put(streamer, done_fn) override { ADD_FAILURE(); }
  void remove(int64_t, done_fn) override { ADD_FAILURE(); }
};
struct no_side : actors::streamer_side {
  void post_events(std::string, std::string, webhook_cb) override { ADD_FAILURE(); }
  void run_job(actors::job_request, job_cb) override { ADD_FAILURE(); }
  void streamers_changed() override {}
};

class StatusRoutes : public ::testing::Test {
 protected:
  response call(http::verb method, const std::string& target, const std::string& token = {}) {
    request req{method, target, 11};
    if (!token.empty()) req.set(http::field::authorization, "Bearer " + token);
    std::optional<response> out;
    api.handle(std::move(req), "127.0.0.1", [&](response r) { out = std::move(r); });
    EXPECT_TRUE(out.has_value());
    return out ? *out : response{};
  }

  const std::string page = "<html><style>b{}</style><script>let x=1;</script><p>hi</p></html>";
  int status_calls = 0;
  std::string status_answer = R"({"node":"n1"})";
  no_accounts accounts;
  no_streamers streamers;
  no_side side;
  manual_clock clock;
  std::ostringstream log_out;
  logger log{log_out, log_level::debug, false, clock};
  metric_registry metrics;
  link_signer signer = *link_signer::from_spec("k1:status-test");
  http_api api{{"admin-secret", {}},
               {accounts, streamers, side, signer, clock, log, metrics, {}, {}, {}, nullptr, {}, {}, page,
                [this](std::function<void(std::string)> done) {
                  ++status_calls;
                  done(status_answer);
                }}};
};

TEST_F(StatusRoutes, PageNeedsNoTokenAndCarriesItsSecurityHeaders) {
  auto r = call(http::verb::get, "/");
  EXPECT_EQ(r.result(), http::status::ok);
  EXPECT_EQ(r.body(), page);
  EXPECT_EQ(r[http::field::content_type], "text/html; charset=utf-8");
  EXPECT_EQ(r["Content-Security-Policy"], status_page_csp(page));
  EXPECT_EQ(r["X-Frame-Options"], "DENY");
  EXPECT_EQ(r["X-Content-Type-Options"], "nosniff");
  EXPECT_EQ(r["Referrer-Policy"], "no-referrer");
  EXPECT_EQ(r[http::field::cache_control], "no-store");
  // A query string (a bookmarked ?x) is the same page; a POST is not allowed.
  EXPECT_EQ(call(http::verb::get, "/?account=a1").body(), page);
  auto post = call(http::verb::post, "/");
  EXPECT_EQ(post.result(), http::status::method_not_allowed);
  EXPECT_EQ(post[http::field::allow], "GET, HEAD");
  auto head = call(http::verb::head, "/");
  EXPECT_EQ(head.result(), http::status::ok);
  EXPECT_TRUE(head.body().empty());
  EXPECT_EQ(head[http::field::content_length], std::to_string(page.size()));
}

TEST_F(StatusRoutes, StatusNeedsTheAdminToken) {
  auto none = call(http::verb::get, "/api/v1/status");
  EXPECT_EQ(none.result(), http::status::unauthorized);
  EXPECT_EQ(call(http::verb::get, "/api/v1/status", "wrong").result(), http::status::unauthorized);
  EXPECT_EQ(status_calls, 0);
  auto ok = call(http::verb::get, "/api/v1/status", "admin-secret");
  EXPECT_EQ(ok.result(), http::status::ok);
  EXPECT_EQ(ok.body(), status_answer);
  EXPECT_EQ(ok[http::field::content_type], "application/json");
  EXPECT_EQ(call(http::verb::put, "/api/v1/status", "admin-secret").result(), http::status::method_not_allowed);
}

TEST_F(StatusRoutes, NoAnswerFromTheDatabaseIs503) {
  status_answer.clear();
  auto r = call(http::verb::get, "/api/v1/status", "admin-secret");
  EXPECT_EQ(r.result(), http::status::service_unavailable);
  EXPECT_EQ(r[http::field::retry_after], "1");
}

TEST(StatusRoutesOff, WithoutAPageTheRootIsNotFound) {
  no_accounts accounts;
  no_streamers streamers;
  no_side side;
  manual_clock clock;
  std::ostringstream log_out;
  logger log{log_out, log_level::debug, false, clock};
  metric_registry metrics;
  auto signer = *link_signer::from_spec("k1:status-test");
  http_api api{{"admin-secret", {}}, {accounts, streamers, side, signer, clock, log, metrics}};
  for (const char* target : {"/", "/api/v1/status"}) {
    std::optional<response> out;
    request req{http::verb::get, target, 11};
    req.set(http::field::authorization, "Bearer admin-secret");
    api.handle(std::move(req), "127.0.0.1", [&](response r) { out = std::move(r); });
    ASSERT_TRUE(out);
    EXPECT_EQ(out->result(), http::status::not_found) << target;
  }
}

}  // namespace
