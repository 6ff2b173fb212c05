// A node dies (kill -9) or freezes (SIGSTOP past its lease) while clients
// keep asking: the survivors take its shards over after the lease TTL, no
// account ever exceeds its limit, no acknowledged session is lost, and the
// frozen node's late writes are refused by the epoch fence.
#include <gtest/gtest.h>

#include <algorithm>
#include <thread>

#include "tests/support/cluster.hpp"
#include "tests/support/pg_test.hpp"

using namespace maxsess::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

class ClusterFailover : public cluster_test {
 protected:
  // One account name per shard ("probe<k>"), so that every shard can be asked.
  std::vector<std::string> probe_accounts() {
    std::vector<std::string> out(static_cast<std::size_t>(c->shard_count()));
    std::size_t filled = 0;
    for (int k = 0; filled < out.size(); ++k) {
      auto name = "probe" + std::to_string(k);
      auto& slot = out[static_cast<std::size_t>(c->shard_of(name))];
      if (slot.empty()) {
        slot = name;
        ++filled;
      }
    }
    return out;
  }

  // Asks for a link of every probe account through the serving nodes until
  // each was approved once or `limit` passed; the time each got its first
  // approval (0: never).
  std::vector<time_ns> probe_until_served(const std::vector<std::string>& probes, std::chrono::milliseconds limit) {
    std::vector<time_ns> served(probes.size(), 0);
    std::map<int, std::unique_ptr<http_client>> clients;
    auto deadline = std::chrono::steady_clock::now() + limit;
    unsigned rr = 0;
    while (std::chrono::steady_clock::now() < deadline) {
      auto nodes = c->serving_nodes();
      bool all = true;
      for (std::size_t s = 0; s < probes.size(); ++s) {
        if (served[s] != 0) continue;
        int node = nodes[rr++ % nodes.size()];
        auto& cl = clients[node];
        if (!cl) cl = std::make_unique<http_client>("127.0.0.1", c->http_port(node));
        json body = {{"account_id", probes[s]}, {"device_id", "p"}, {"content", {{"type", "live"}, {"stream", "news"}}}};
        try {
          auto r = cl->post_json("/api/v1/links", body.dump());
          if (r.status == 200) served[s] = steady_now_ns();
          else all = false;
        } catch (const std::exception&) {
          cl.reset();
          all = false;
        }
      }
      if (all) break;
      std::this_thread::sleep_for(20ms);
    }
    return served;
  }
};

double ms_between(time_ns from, time_ns to) { return static_cast<double>(to - from) / 1e6; }

TEST_F(ClusterFailover, KillNineOfAnOwnerMidLoadLosesNothingAndServiceReturns) {
  boot();
  history h;
  auto accounts = load_accounts(h, 2);
  const int victim = 1;
  ASSERT_EQ(c->owner_of(accounts[1], 0), victim);
  const auto owners_before = c->owners(0);
  const auto probes = probe_accounts();
  double takeovers_before = c->metric(0, "maxsess_shard_takeovers_total") + c->metric(2, "maxsess_shard_takeovers_total");

  load_driver load(*c, h, {accounts, 8, 6});
  load.start();
  load.run_for(3s);
  // Clients keep sending to it until it is gone: what is in flight dies
  // with it (excused), and so do connections refused just after.
  load.excuse(victim);
  const time_ns killed_at = steady_now_ns();
  c->kill9(victim);
  load.set_up(victim, false);
  auto served = probe_until_served(probes, 15s);
  load.run_for(2s);
  load.stop();
  std::cout << "[ load     ] " << load.summary() << "\n";

  // Every shard answers again, the dead node's after its lease ran out.
  double worst = 0, best = 1e9;
  int victim_shards = 0;
  for (std::size_t s = 0; s < served.size(); ++s) {
    EXPECT_NE(served[s], 0) << "shard " << s << " (owner before the kill: " << owners_before[s]
                            << ") was not served again within 15 s";
    if (owners_before[s] != c->node_id(victim) || served[s] == 0) continue;
    ++victim_shards;
    worst = std::max(worst, ms_between(killed_at, served[s]));
    best = std::min(best, ms_between(killed_at, served[s]));
  }
  ASSERT_GT(victim_shards, 0);
  auto first = load.first_decision_after({accounts[1]}, killed_at);
  ASSERT_NE(first, 0) << "no decision for " << accounts[1] << " after the kill";
  std::cout << "[ failover ] kill -9 of " << c->node_id(victim) << " (" << victim_shards
            << " shards, lease_ttl 2s): its shards served again after " << best << ".." << worst
            << " ms; first decision for its account " << accounts[1] << " after " << ms_between(killed_at, first)
            << " ms\n";
  EXPECT_LT(ms_between(killed_at, first), 15000);

  EXPECT_EQ(load.error_count(), 0u) << ::testing::PrintToString(load.errors());
  double takeovers_after = c->metric(0, "maxsess_shard_takeovers_total") + c->metric(2, "maxsess_shard_takeovers_total");
  EXPECT_GE(takeovers_after - takeovers_before, victim_shards);
  c->wait_balanced(30s);
  expect_safe(h);
}

// A node frozen (SIGSTOP) past its lease under load: the survivors take its
// shards over while its TCP connections stay open, nothing is decided twice,
// and once it wakes it rejoins and gets its share back.
TEST_F(ClusterFailover, FrozenNodeIsReplacedAndRejoinsWhenItWakes) {
  boot();
  history h;
  auto accounts = load_accounts(h, 2);
  const int victim = 2;
  ASSERT_EQ(c->owner_of(accounts[2], 0), victim);
  load_driver load(*c, h, {accounts, 8, 6});
  load.start();
  load.run_for(2s);
  load.set_up(victim, false);  // the driver's clients do not hang on it
  ASSERT_TRUE(load.wait_idle(victim));
  c->freeze(victim);
  const time_ns frozen_at = steady_now_ns();
  c->wait_settled(20s);  // the frozen node is left out: its shards have serving owners
  const time_ns taken_at = steady_now_ns();
  // A survivor that did not take the shard learns its new owner at its next
  // lease look: give the load a second before asking for the first decision.
  load.run_for(1s);
  const auto first = load.first_decision_after({accounts[2]}, frozen_at);
  c->thaw(victim);
  // Clients come back to it once it is in the cluster again. Right after
  // SIGCONT it still answers from its stale memory until its next lease
  // round (a known product bug: FrozenOwnerWakingUpAfterItsLeaseIsFenced).
  c->wait_balanced(30s);
  load.set_up(victim, true);
  load.run_for(1s);
  load.stop();
  std::cout << "[ load     ] " << load.summary() << "\n";
  std::cout << "[ freeze   ] " << c->node_id(victim) << " frozen: its shards had serving owners after "
            << ms_between(frozen_at, taken_at) << " ms; first decision for its account " << accounts[2]
            << " after " << (first ? ms_between(frozen_at, first) : -1) << " ms\n";
  EXPECT_NE(first, 0);
  EXPECT_EQ(load.error_count(), 0u) << ::testing::PrintToString(load.errors());
  EXPECT_GT(c->metric(victim, "maxsess_lease_losses_total"), 0) << "the woken node must notice it lost its leases";
  expect_safe(h);
}

// The same freeze with requests waiting in the frozen node's sockets: once
// it wakes, whatever it decides on its stale state must not stick — its
// writes under the old epoch are refused (PRODUCT.md §6 "writes are fenced
// by the epoch").
TEST_F(ClusterFailover, FrozenOwnerWakingUpAfterItsLeaseIsFenced) {
  // Writes are fenced on the lease row (owner and epoch, read FOR SHARE in
  // the write transaction) and every decision checks the node's local
  // lease deadline, so the woken node neither writes nor answers from
  // stale memory. To have a stale write for the fence to refuse, the victim
  // commits its writes late (batch_max_delay, a real setting): a request
  // decided just before the freeze commits only after the takeover.
  const int victim = 2;
  cluster_options o;
  o.node_env[victim]["MAXSESS__STORAGE__BATCH_MAX_DELAY"] = "1500ms";
  boot(o);
  history h;
  auto accounts = load_accounts(h, 2);
  ASSERT_EQ(c->owner_of(accounts[2], 0), victim);
  // An account of the victim without a limit: every request for it is an
  // approval, and every approval writes a new row.
  auto open_account = c->account_owned_by(victim, "open", 0);
  c->put_account(open_account, 0);
  h.set_limit(open_account, 0);
  // An account of the victim with two slots that no load touches.
  auto race = c->account_owned_by(victim, "race", 0);
  c->put_account(race, 2);
  h.set_limit(race, 2);
  // And one with a single slot.
  auto single = c->account_owned_by(victim, "single", 0);
  c->put_account(single, 1);
  h.set_limit(single, 1);
  http_client direct("127.0.0.1", c->http_port(victim));
  // Their actors are in the victim's memory when it freezes; race holds x,
  // single holds a.
  ASSERT_EQ(recorded_link(h, direct, open_account, "warm").status, 200);
  ASSERT_EQ(recorded_link(h, direct, race, "x").status, 200);
  ASSERT_EQ(recorded_link(h, direct, single, "a").status, 200);
  int64_t stale_epoch = -1;
  const auto view = c->status(0);
  for (auto& s : view["shards"])
    if (s["shard"] == c->shard_of(open_account)) stale_epoch = s["epoch"].get<int64_t>();
  ASSERT_GT(stale_epoch, 0);
  const double fenced_before = c->metric(victim, "maxsess_fenced_writes_total");

  load_driver load(*c, h, {accounts, 8, 6});
  load.start();
  load.run_for(2s);
  load.set_up(victim, false);  // the driver's clients do not hang on it
  ASSERT_TRUE(load.wait_idle(victim));
  // Decided now, committed only after the freeze: its write goes to
  // PostgreSQL after the survivors took the shard over, and must be fenced.
  op_result in_flight;
  std::thread writer_thread([&] {
    http_client cl("127.0.0.1", c->http_port(victim));
    in_flight = recorded_link(h, cl, open_account, "inflight");
  });
  std::this_thread::sleep_for(500ms);
  c->freeze(victim);
  const time_ns frozen_at = steady_now_ns();

  // Requests sent straight to the frozen node: they wait in its sockets.
  struct queued_op {
    std::string account, device;
    op_result r;
  };
  std::vector<queued_op> queued = {{open_account, "q0", {}}, {open_account, "q1", {}}, {open_account, "q2", {}},
                                   {race, "z", {}},          {accounts[2], "d1", {}},   {accounts[2], "d3", {}},
                                   {accounts[2], "d5", {}}};
  queued.reserve(queued.size() + 1);  // one more below: no reallocation under the threads
  std::vector<std::thread> senders;
  for (std::size_t k = 0; k < queued.size(); ++k)
    senders.emplace_back([&, k] {
      http_client cl("127.0.0.1", c->http_port(victim));
      queued[k].r = recorded_link(h, cl, queued[k].account, queued[k].device);
    });
  // The survivors take the frozen node's shards over ...
  c->wait_settled(20s);
  const time_ns taken_at = steady_now_ns();
  // ... race's second slot goes to y on a survivor (x still holds the first) ...
  http_client survivor("127.0.0.1", c->http_port(0));
  op_result y;
  ASSERT_TRUE(cluster::eventually([&] { return (y = recorded_link(h, survivor, race, "y")).status == 200; }, 10s))
      << y.status;
  // ... single's slot goes from a to b ...
  op_result end_a, b;
  ASSERT_TRUE(cluster::eventually([&] { return (end_a = recorded_end(h, survivor, single, "a")).status == 204; }, 10s))
      << end_a.status;
  ASSERT_TRUE(cluster::eventually([&] { return (b = recorded_link(h, survivor, single, "b")).status == 200; }, 10s))
      << b.status;
  // ... and b asks the frozen node again (its memory still has a in the slot).
  queued.push_back({single, "b", {}});
  senders.emplace_back([&, k = queued.size() - 1] {
    http_client cl("127.0.0.1", c->http_port(victim));
    queued[k].r = recorded_link(h, cl, queued[k].account, queued[k].device);
  });
  // ... and the load decides for the victim's accounts for a while.
  load.run_for(1500ms);
  c->thaw(victim);
  const time_ns thawed_at = steady_now_ns();
  for (auto& t : senders) t.join();
  writer_thread.join();
  EXPECT_NE(in_flight.status, 200) << "an approval whose write was fenced must not be acknowledged";
  load.set_up(victim, true);
  c->wait_balanced(30s);
  load.run_for(1s);
  load.stop();
  std::cout << "[ load     ] " << load.summary() << "\n";

  std::string answers;
  for (auto& q : queued)
    answers += " " + q.account + "/" + q.device + "=" +
               (q.r.status ? std::to_string(q.r.status) + (q.r.code.empty() ? "" : "/" + q.r.code) : "(" + q.r.error + ")");
  const double fenced = c->metric(victim, "maxsess_fenced_writes_total") - fenced_before;
  std::cout << "[ freeze   ] " << c->node_id(victim) << " frozen " << ms_between(frozen_at, thawed_at)
            << " ms; shards taken over after " << ms_between(frozen_at, taken_at)
            << " ms; queued requests answered:" << answers << "; fenced writes on the woken node: " << fenced << "\n";

  // x and y hold race's two slots from y's approval on: z must not get one.
  EXPECT_NE(queued[3].r.status, 200) << "the woken node approved " << race << "/z over the limit on its stale state";
  // b holds single's slot: it is approved again (or told to retry), never denied.
  EXPECT_NE(queued.back().r.status, 403) << "the woken node denied " << single
                                        << "/b, which holds the slot, from its stale memory";
  // An approval of a fresh device answered after the lease moved must have
  // been written under a newer epoch than the one the frozen node held.
  for (auto& q : queued) {
    if (q.account != open_account || q.r.status != 200) continue;
    auto epoch = query_scalar(c->dsn(), "select shard_epoch from playback_sessions where account_id='" + q.account +
                                            "' and device_id='" + q.device + "'");
    EXPECT_GT(std::stoll(epoch), stale_epoch)
        << q.account << "/" << q.device << " was approved and written under the frozen node's old epoch";
  }
  EXPECT_GE(fenced, 1) << "the woken node's stale writes should have been refused by the epoch fence";
  EXPECT_EQ(load.error_count(), 0u) << ::testing::PrintToString(load.errors());
  expect_safe(h);
}

// PRODUCT.md §3: "A batch is answered 2xx only once its effects are durable;
// when they cannot be (database down, owner moving) the answer is 5xx so
// Flussonic resends."
TEST_F(ClusterFailover, WebhookForADeadOwnersAccountIsResentOrApplied) {
  // The batch is answered 2xx only once the owners made the events durable;
  // while the account has no owner the answer is 5xx and the resend applies.
  boot();
  const int victim = 1;
  auto account = c->account_owned_by(victim, "wh", 0);
  auto l = c->request(0, "POST", "/api/v1/links",
                      json{{"account_id", account}, {"device_id", "tv"}, {"content", {{"type", "live"}, {"stream", "news"}}}}.dump());
  ASSERT_EQ(l.status, 200) << l.body;
  std::string token = json::parse(l.body)["token"];

  c->kill9(victim);
  // Flussonic's event sink posts to a survivor while nobody owns the account,
  // and posts the batch again until it is answered 2xx.
  json batch = json::array({{{"event", "play_opened"}, {"event_id", 7001}, {"id", "f-1"}, {"media", "news"},
                             {"token", token}, {"ip", "10.0.0.1"}}});
  std::vector<int> answers;
  bool accepted = cluster::eventually(
      [&] {
        auto r = c->request(0, "POST", "/webhook/playback-session/flussonic/s1.test", batch.dump());
        answers.push_back(r.status);
        return r.status / 100 == 2;
      },
      20s);
  ASSERT_TRUE(accepted) << ::testing::PrintToString(answers);
  std::cout << "[ webhook  ] answers while the owner was dead: " << ::testing::PrintToString(answers) << "\n";
  std::string status;
  bool active = cluster::eventually(
      [&] {
        auto g = c->request(0, "GET", "/api/v1/accounts/" + account, {}, c->admin());
        if (g.status != 200) return false;
        status = json::parse(g.body)["sessions"][0]["status"];
        return status == "active";
      },
      15s);
  EXPECT_TRUE(active) << "the batch was answered " << answers.back() << " but the session stayed " << status;
}

TEST_F(ClusterFailover, AcknowledgedWebhookProgressSurvivesItsOwnersKillNine) {
  // A batch's progress is journaled by the node that received it before the
  // owner (another node) applies it from memory (migration 011). The owner
  // dies before its coalesced row write: the node that takes the shard over
  // folds the journal before it loads, and serves the progress.
  cluster_options o;
  o.env["MAXSESS__PLAYBACK_SESSION__WEBHOOKS"] = "true";
  o.env["MAXSESS__PLAYBACK_SESSION__PROGRESS_WRITE_DELAY"] = "1h";  // never before the kill
  o.env["MAXSESS__PLAYBACK_SESSION__STALE_AFTER"] = "2h";
  boot(o);
  const int victim = 1;
  auto account = c->account_owned_by(victim, "whp", 0);
  auto l = c->request(0, "POST", "/api/v1/links",
                      json{{"account_id", account}, {"device_id", "tv"}, {"content", {{"type", "live"}, {"stream", "news"}}}}.dump());
  ASSERT_EQ(l.status, 200) << l.body;
  std::string token = json::parse(l.body)["token"];
  auto post = [&](const char* event, int64_t id, int64_t bytes) {
    json batch = json::array({{{"event", event}, {"event_id", id}, {"id", "f-1"}, {"media", "news"},
                               {"token", token}, {"ip", "10.0.0.1"}, {"bytes", bytes}}});
    return c->request(0, "POST", "/webhook/playback-session/flussonic/s1.test", batch.dump()).status;
  };
  ASSERT_EQ(post("play_started", 8001, 0), 200);  // binds: the owner writes the row
  ASSERT_EQ(post("play_updated", 8002, 7'000'000), 200);
  const std::string row = "SELECT bytes || '/' || status FROM playback_sessions WHERE account_id = '" + account + "'";
  ASSERT_EQ(query_scalar(c->dsn(), row), "0/active") << "the row was written before the kill: not a test of it";

  c->kill9(victim);
  std::string seen;
  bool served = cluster::eventually(
      [&] {
        auto g = c->request(0, "GET", "/api/v1/accounts/" + account, {}, c->admin());
        if (g.status != 200) return false;
        auto s = json::parse(g.body)["sessions"];
        if (s.empty()) return false;
        seen = s[0].dump();
        return s[0].value("bytes", int64_t{0}) == 7'000'000 && s[0].value("status", "") == "active";
      },
      20s);
  EXPECT_TRUE(served) << "the new owner serves " << seen << "\n" << c->log_tails();
  EXPECT_EQ(query_scalar(c->dsn(), row), "7000000/active");
}

}  // namespace
