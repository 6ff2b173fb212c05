// The admin calls support makes, through a node that does not own the
// account: DELETE /api/v1/accounts/{id} is decided by the owner (a message
// of its own crosses nodes), and GET /api/v1/sessions lists every node's
// accounts from PostgreSQL.
#include <gtest/gtest.h>

#include "tests/support/cluster.hpp"
#include "tests/support/pg_test.hpp"

using namespace maxsess::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

class ClusterAdmin : public cluster_test {};

TEST_F(ClusterAdmin, DeleteAccountThroughANonOwnerIsDecidedByTheOwner) {
  cluster_options o;
  o.nodes = 2;
  boot(o);
  const int a = 0, b = 1;
  auto acc = c->account_owned_by(b, "del", a);
  auto other = c->account_owned_by(a, "keep", a);
  c->put_account(acc, 2, a);
  for (auto& [account, device] : std::vector<std::pair<std::string, std::string>>{
           {acc, "tv"}, {acc, "phone"}, {other, "tv"}}) {
    json body = {{"account_id", account}, {"device_id", device}, {"content", {{"type", "live"}, {"stream", "news"}}}};
    auto r = c->request(a, "POST", "/api/v1/links", body.dump());
    ASSERT_EQ(r.status, 200) << r.body;
  }
  const double forwarded = c->metric(a, "maxsess_forwarded_requests_total");

  auto r = c->request(a, "DELETE", "/api/v1/accounts/" + acc, {}, c->admin());
  ASSERT_EQ(r.status, 204) << r.body;
  EXPECT_GT(c->metric(a, "maxsess_forwarded_requests_total"), forwarded) << "A asked the owner, B";
  EXPECT_EQ(query_scalar(c->dsn(), "select count(*) from accounts where account_id='" + acc + "'"), "0");
  EXPECT_EQ(query_scalar(c->dsn(), "select string_agg(status, ',') from playback_sessions where account_id='" +
                                       acc + "'"),
            "killed,killed");
  // The owner's memory agrees (it decides the next link): both devices are
  // refused at their next auth check and the defaults apply.
  auto got = c->request(a, "GET", "/api/v1/accounts/" + acc, {}, c->admin());
  ASSERT_EQ(got.status, 200) << got.body;
  auto j = json::parse(got.body);
  for (auto& s : j["sessions"]) EXPECT_EQ(s["status"], "killed") << s.dump();
  EXPECT_EQ(query_scalar(c->dsn(), "select status from playback_sessions where account_id='" + other + "'"),
            "pending")
      << "another account is untouched";
  EXPECT_EQ(c->request(b, "DELETE", "/api/v1/accounts/never-" + acc, {}, c->admin()).status, 404);

  // The listing through either node shows every account's rows.
  for (int via : {a, b}) {
    auto l = c->request(via, "GET", "/api/v1/sessions?limit=1000", {}, c->admin());
    ASSERT_EQ(l.status, 200) << l.body;
    EXPECT_EQ(json::parse(l.body)["sessions"].size(), 3u) << l.body;
  }
}

}  // namespace
