// A streamer whose API is served over https (as real fleets do), through the
// daemon: PUT accepts the https api_url, a sync against a certificate the
// daemon does not trust fails with the reason and sends nothing, the
// per-streamer switch turns the check off, and a URL the client could never
// call is refused at PUT with the field named.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/daemon.hpp"
#include "tests/support/flussonic_emu.hpp"
#include "tests/support/http_client.hpp"
#include "tests/support/pg_test.hpp"
#include "tests/support/tls_cert.hpp"

using namespace maxsess::test;
using nlohmann::json;

TEST(FlussonicHttps, SyncOverHttpsChecksTheCertificateUnlessTurnedOff) {
  if (!server_dsn()) GTEST_SKIP() << "no test PostgreSQL";
  if (!python3_available()) GTEST_SKIP() << "python3 is needed for the Flussonic emulator";
  if (!openssl_available()) GTEST_SKIP() << "openssl is needed for a test certificate";
  tls_cert cert("IP:127.0.0.1");
  flussonic_emulator::options eo;
  eo.tls_cert = cert.cert;
  eo.tls_key = cert.key;
  flussonic_emulator emu(eo);
  emu.start();
  ASSERT_TRUE(emu.play("news", "not-a-maxsess-token", "10.0.0.1", false).at("allowed").get<bool>());

  daemon_options o;
  o.dsn = create_migrated_database("https");
  o.env["SSL_CERT_FILE"] = "/nonexistent";  // whatever the machine trusts, not this certificate
  daemon_process d(o);
  d.start();
  http_client c("127.0.0.1", d.port());
  std::map<std::string, std::string> admin{{"Authorization", "Bearer " + d.admin_token()}};
  json s = {{"host", "s1.test"}, {"url", emu.api_url()}, {"api_url", emu.tls_api_url()},
            {"api_user", "flussonic"}, {"api_password", "secret"}};
  auto r = c.put_json("/api/v1/streamers/1", s.dump(), admin);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(json::parse(r.body).at("api_tls_verify").get<bool>()) << r.body;

  auto sync = [&] {
    auto a = c.post_json("/api/v1/jobs/sync", "{}", admin);
    EXPECT_EQ(a.status, 200) << a.body;
    return json::parse(a.body).at("streamers").at(0);
  };
  auto failed = sync();
  EXPECT_FALSE(failed.at("ok").get<bool>()) << failed;
  auto error = failed.value("error", "");
  EXPECT_NE(error.find("certificate verify failed"), std::string::npos) << error;
  EXPECT_EQ(emu.state().at("api_requests").get<int>(), 0) << "a request went out before the check";
  auto metrics = c.get("/metrics").body;
  EXPECT_NE(metrics.find("maxsess_streamer_api_up{streamer=\"1\"} 0\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("maxsess_streamer_last_error_timestamp_seconds{streamer=\"1\"} 1"), std::string::npos);
  EXPECT_EQ(metrics.find("maxsess_streamer_last_sync_timestamp_seconds{streamer=\"1\"}"), std::string::npos);
  EXPECT_NE(metrics.find("maxsess_streamer_sessions{streamer=\"1\",status=\"active\"} 0\n"), std::string::npos)
      << metrics;

  s["api_tls_verify"] = false;
  r = c.put_json("/api/v1/streamers/1", s.dump(), admin);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_FALSE(json::parse(c.get("/api/v1/streamers/1", admin).body).at("api_tls_verify").get<bool>());
  auto ok = sync();
  EXPECT_TRUE(ok.at("ok").get<bool>()) << ok;
  EXPECT_EQ(ok.at("listed").get<int>(), 1) << ok;
  EXPECT_GE(emu.state().at("api_requests").get<int>(), 1);
  metrics = c.get("/metrics").body;
  EXPECT_NE(metrics.find("maxsess_streamer_api_up{streamer=\"1\"} 1\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("maxsess_streamer_last_sync_timestamp_seconds{streamer=\"1\"} 1"), std::string::npos)
      << metrics;

  // Refused at PUT, not at the first sync; nothing changes.
  for (auto [field, value] : {std::pair{"api_url", "ftp://127.0.0.1/"}, {"api_url", "https://127.0.0.1:99999"},
                              {"url", "https://[::1/"}}) {
    json bad = s;
    bad["api_url"] = "";
    bad[field] = value;
    r = c.put_json("/api/v1/streamers/1", bad.dump(), admin);
    EXPECT_EQ(r.status, 400) << value << ": " << r.body;
    EXPECT_EQ(json::parse(r.body)["error"]["field"], field) << r.body;
  }
  EXPECT_EQ(json::parse(c.get("/api/v1/streamers/1", admin).body).at("api_url"), emu.tls_api_url());
  EXPECT_EQ(d.stop(), 0) << d.log();
}
