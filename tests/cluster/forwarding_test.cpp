// "A request reaching any node is answered correctly" (PRODUCT.md §6): an
// account owned by node B, served through A and C — links, denials, the
// admin API, the Flussonic auth backend and webhooks, and ends.
#include <gtest/gtest.h>

#include "tests/support/cluster.hpp"
#include "tests/support/pg_test.hpp"

using namespace maxsess::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

class ClusterForwarding : public cluster_test {
 protected:
  http_reply link(int via, const std::string& account, const std::string& device) {
    json body = {{"account_id", account}, {"device_id", device}, {"content", {{"type", "live"}, {"stream", "news"}}}};
    return c->request(via, "POST", "/api/v1/links", body.dump());
  }
  json account(int via, const std::string& id) {
    auto r = c->request(via, "GET", "/api/v1/accounts/" + id, {}, c->admin());
    EXPECT_EQ(r.status, 200) << r.body;
    return json::parse(r.body, nullptr, false);
  }
  std::string status_of(int via, const std::string& id, const std::string& device) {
    auto j = account(via, id);
    if (!j.is_object()) return "";
    for (auto& s : j["sessions"])
      if (s["device_id"] == device) return s["status"];
    return "";
  }
};

TEST_F(ClusterForwarding, EveryKindOfRequestReachesTheOwnerThroughAnyNode) {
  boot();
  const int a = 0, b = 1, cc = 2;
  auto acc = c->account_owned_by(b, "fwd", a);
  ASSERT_EQ(c->owner_of(acc, cc), b) << "every node agrees on the owner";
  const double forwarded_a = c->metric(a, "maxsess_forwarded_requests_total");
  const double forwarded_c = c->metric(cc, "maxsess_forwarded_requests_total");

  // Admin PUT through C, link through A: the owner decides.
  c->put_account(acc, 1, cc);
  auto l = link(a, acc, "tv");
  ASSERT_EQ(l.status, 200) << l.body;
  auto lj = json::parse(l.body);
  EXPECT_EQ(lj["decision"], "approved");
  EXPECT_EQ(lj["session"]["status"], "pending");
  const std::string token = lj["token"];
  EXPECT_EQ(lj["url"].get<std::string>(), "http://s1.test:8080/news/index.m3u8?token=" + token);
  // The limit holds across nodes: a second device through C is denied,
  // naming the device that holds the slot.
  auto d = link(cc, acc, "phone");
  ASSERT_EQ(d.status, 403) << d.body;
  auto e = json::parse(d.body)["error"];
  EXPECT_EQ(e["code"], "max_sessions_reached");
  ASSERT_EQ(e["sessions"].size(), 1u);
  EXPECT_EQ(e["sessions"][0]["device_id"], "tv");
  // The same device is approved again through C (zapping).
  EXPECT_EQ(link(cc, acc, "tv").status, 200);

  // GET through a non-owner shows what the owner holds.
  auto got = account(cc, acc);
  EXPECT_EQ(got["account_id"], acc);
  EXPECT_EQ(got["max_sessions"], 1);
  ASSERT_EQ(got["sessions"].size(), 1u);
  EXPECT_EQ(got["sessions"][0]["device_id"], "tv");

  // Flussonic's auth backend asks a non-owner: allowed, bound to the account.
  auto auth = c->request(a, "GET", "/flussonic/auth?request_type=new_session&name=news&session_id=f-1&ip=10.0.0.1&token=" + token);
  EXPECT_EQ(auth.status, 200) << auth.body;
  EXPECT_EQ(auth.headers["x-userid"], acc);
  // A deny through a non-owner is a deny, not an "unavailable" that the
  // auth route turns into an allow: the same token from another address
  // (one token, one Flussonic session) through C.
  auto reuse = c->request(cc, "GET", "/flussonic/auth?request_type=new_session&name=news&session_id=f-2&ip=10.0.0.2&token=" + token);
  EXPECT_EQ(reuse.status, 403) << reuse.body;

  // A webhook batch posted to a non-owner reaches the owner: the session
  // becomes active (visible through yet another node and in the database).
  json batch = json::array({{{"event", "play_started"}, {"event_id", 9001}, {"id", "f-1"}, {"media", "news"},
                             {"token", token}, {"ip", "10.0.0.1"}, {"bytes", 1000}, {"duration", 3}}});
  auto w = c->request(cc, "POST", "/webhook/playback-session/flussonic/s1.test", batch.dump());
  ASSERT_EQ(w.status, 200) << w.body;
  EXPECT_EQ(json::parse(w.body)["accepted"], 1) << w.body;
  EXPECT_TRUE(cluster::eventually([&] { return status_of(a, acc, "tv") == "active"; }, 10s))
      << "status through " << c->node_id(a) << ": " << status_of(a, acc, "tv");
  EXPECT_EQ(query_scalar(c->dsn(), "select status from playback_sessions where account_id='" + acc + "' and device_id='tv'"),
            "active");

  // Ending through a non-owner frees the slot for the other device.
  EXPECT_EQ(c->request(cc, "DELETE", "/api/v1/accounts/" + acc + "/devices/tv/session").status, 204);
  EXPECT_EQ(status_of(a, acc, "tv"), "ended");
  EXPECT_EQ(link(a, acc, "phone").status, 200);
  EXPECT_EQ(c->request(a, "DELETE", "/api/v1/accounts/" + acc + "/devices/nobody/session").status, 404);

  // A and C forwarded; B (the owner) answered from its own actors.
  EXPECT_GT(c->metric(a, "maxsess_forwarded_requests_total"), forwarded_a);
  EXPECT_GT(c->metric(cc, "maxsess_forwarded_requests_total"), forwarded_c);
  EXPECT_GT(c->metrics(a)["maxsess_forwarded_requests_total{peer=\"" + c->node_id(b) + "\"}"], 0)
      << "A's forwards went to the owner";
  EXPECT_EQ(c->metric(a, "maxsess_cluster_peers_connected"), 2);
}

}  // namespace
