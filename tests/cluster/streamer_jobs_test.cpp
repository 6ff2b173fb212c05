// Streamer work in cluster mode (docs/cluster.md, "Streamers"): each
// streamer's sync and kill run on one node at a time, the holder of its
// streamer lease (rendezvous-ranked over the live nodes, listed by
// /api/v1/cluster as `streamers: [{streamer, node, epoch}]`); the periodic
// sync timer polls a streamer only on that node; and a job asked through any
// node (POST /api/v1/jobs/sync, `maxsessd playback-session:sync`) runs once
// per streamer cluster-wide, the streamers leased elsewhere forwarded to
// their node.
//
// Every streamer is a Flussonic emulator (tests/flussonic/flussonic_emu.py)
// of its own, so what maxsess did is counted where it lands: each emulator
// counts the Sessions API requests it answered (`api_requests`, `api_log`).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/cluster.hpp"
#include "tests/support/flussonic_emu.hpp"
#include "tests/support/pg_test.hpp"

using namespace maxsess::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

class ClusterStreamerJobs : public cluster_test {
 protected:
  // The streamers: id k (1..n) is emulator k-1, holding k untracked
  // sessions (so each report's `listed` says which streamer it listed).
  void boot_with_streamers(int n, cluster_options o = {}) {
    if (!python3_available()) GTEST_SKIP() << "python3 is needed for the Flussonic emulator";
    for (int k = 1; k <= n; ++k) {
      flussonic_emulator::options eo;  // no auth backend, no event sink: the API only
      auto e = std::make_unique<flussonic_emulator>(eo);
      e->start();
      e->configure({{"auto_update", false}});
      for (int s = 0; s < k; ++s) {
        auto p = e->play(json{{"name", "news"},
                              {"token", "foreign-" + std::to_string(k) + "-" + std::to_string(s)},
                              {"ip", "10.9.9." + std::to_string(s + 1)},
                              {"auth", false}});
        ASSERT_TRUE(p.value("allowed", false)) << p.dump();
      }
      emus.push_back(std::move(e));
      ids.push_back(k);
    }
    c = std::make_unique<cluster>(std::move(o));
    c->start_all();
    for (int k : ids) {
      auto& e = *emus[static_cast<std::size_t>(k - 1)];
      c->put_streamer(k, {{"host", "s" + std::to_string(k) + ".test"},
                          {"url", e.api_url()},
                          {"api_url", e.api_url()},
                          {"api_user", "flussonic"},
                          {"api_password", "secret"}});
    }
    c->wait_balanced(60s);
    wait_streamers_placed();
  }

  flussonic_emulator& emu(int id) { return *emus[static_cast<std::size_t>(id - 1)]; }

  // streamer id -> "node/epoch" in node `via`'s view ("" node: not leased).
  std::map<int, std::string> placement_in(int via) {
    std::map<int, std::string> out;
    const auto st = c->status(via);  // alive while iterating it
    for (auto& s : st.at("streamers"))
      out[s["streamer"].get<int>()] = s["node"].get<std::string>() + "/" + std::to_string(s["epoch"].get<int64_t>());
    return out;
  }
  // What is missing for: every serving node sees every streamer leased to a
  // serving node (other than `except`), and they all agree on it.
  std::string not_placed(int except = -1) {
    std::string problems;
    std::map<int, std::string> first;
    bool have_first = false;
    for (int i : c->serving_nodes()) {
      std::map<int, std::string> p;
      try {
        p = placement_in(i);
      } catch (const std::exception& e) {
        problems += std::string(" ") + e.what() + ";";
        continue;
      }
      for (int k : ids) {
        auto it = p.find(k);
        std::string node = it == p.end() ? "" : it->second.substr(0, it->second.find('/'));
        int idx = c->index_of(node);
        if (node.empty() || idx < 0 || idx == except || !c->serving(idx))
          problems += " " + c->node_id(i) + " sees streamer " + std::to_string(k) + " leased to '" + node + "';";
      }
      if (!have_first) {
        first = p;
        have_first = true;
      } else if (p != first) {
        problems += " " + c->node_id(i) + " disagrees: " + describe(p) + " vs " + describe(first) + ";";
      }
    }
    return problems;
  }
  static std::string describe(const std::map<int, std::string>& p) {
    std::string out;
    for (auto& [k, v] : p) out += (out.empty() ? "" : " ") + std::to_string(k) + "->" + v;
    return "{" + out + "}";
  }
  // Waits until every streamer is leased (everyone agreeing) and the
  // placement has not changed for `calm` (a lease a starting node took
  // before the others joined moves to the node that ranks highest).
  void wait_streamers_placed(int except = -1, std::chrono::milliseconds limit = 30s,
                             std::chrono::milliseconds calm = 1500ms) {
    std::string last;
    std::map<int, std::string> seen;
    auto since = std::chrono::steady_clock::now();
    bool ok = cluster::eventually(
        [&] {
          last = not_placed(except);
          if (!last.empty()) {
            seen.clear();
            return false;
          }
          auto now = placement_in(c->serving_nodes().front());
          if (now != seen) {
            seen = now;
            since = std::chrono::steady_clock::now();
            return false;
          }
          return std::chrono::steady_clock::now() - since >= calm;
        },
        limit);
    ASSERT_TRUE(ok) << "streamers not placed after " << limit.count() << " ms:" << last << "\n"
                    << views() << c->log_tails();
  }
  // Every serving node's streamer list and the lease rows, for failure messages.
  std::string views() {
    std::string out;
    for (int i : c->serving_nodes()) {
      try {
        out += c->node_id(i) + " streamers: " + c->status(i)["streamers"].dump() + "\n";
      } catch (const std::exception& e) {
        out += c->node_id(i) + ": " + e.what() + "\n";
      }
    }
    try {
      out += "streamer_leases: " +
             query_scalar(c->dsn(), "select coalesce(json_agg(l)::text, '[]') from streamer_leases l") + "\n";
    } catch (const std::exception& e) {
      out += std::string("streamer_leases: ") + e.what() + "\n";
    }
    return out;
  }
  // The index of the node holding streamer `id` (node `via`'s view).
  int holder(int id, int via) {
    auto p = placement_in(via)[id];
    return c->index_of(p.substr(0, p.find('/')));
  }

  // Sessions API requests each emulator answered so far (streamer id -> n).
  std::map<int, int64_t> api_counts() {
    std::map<int, int64_t> out;
    for (int k : ids) out[k] = emu(k).state()["api_requests"].get<int64_t>();
    return out;
  }
  std::string api_log(int id, std::size_t last = 12) {
    auto log = emu(id).state()["api_log"];
    std::string out;
    std::size_t from = log.size() > last ? log.size() - last : 0;
    for (std::size_t i = from; i < log.size(); ++i) out += "\n    " + log[i].dump();
    return out;
  }
  // Each emulator answered exactly `per_streamer` requests since `before`.
  void expect_api_delta(const std::map<int, int64_t>& before, int64_t per_streamer, const std::string& what) {
    auto now = api_counts();
    for (int k : ids)
      EXPECT_EQ(now[k] - before.at(k), per_streamer)
          << what << ": streamer " << k << " was asked " << now[k] - before.at(k)
          << " times (want " << per_streamer << "); its last API requests:" << api_log(k);
  }

  // A sync report (HTTP body or parsed) lists every streamer exactly once,
  // ok, with the listing of its own emulator.
  void expect_report_covers_all(const json& rep, const std::string& what) {
    ASSERT_TRUE(rep.is_object()) << what << ": " << rep.dump();
    EXPECT_EQ(rep.value("job", ""), "sync") << what << ": " << rep.dump();
    EXPECT_TRUE(rep.value("ok", false)) << what << ": " << rep.dump();
    std::map<int, int> times;
    for (auto& s : rep["streamers"]) {
      int k = s["streamer_id"].get<int>();
      ++times[k];
      EXPECT_TRUE(s.value("ok", false)) << what << ": streamer " << k << ": " << s.dump();
      EXPECT_EQ(s.value("listed", -1), k) << what << ": streamer " << k << " listed another streamer's sessions? "
                                           << s.dump();
      EXPECT_EQ(s.value("untracked", -1), k) << what << ": " << s.dump();
    }
    for (int k : ids) EXPECT_EQ(times[k], 1) << what << ": streamer " << k << " in the report: " << rep.dump();
    EXPECT_EQ(rep["streamers"].size(), ids.size()) << what << ": " << rep.dump();
  }
  json sync_via(int via) {
    auto r = c->request(via, "POST", "/api/v1/jobs/sync", "{}", c->admin());
    EXPECT_EQ(r.status, 200) << r.body;
    return json::parse(r.body, nullptr, false);
  }

  // maxsess_streamer_runs_total{streamer=k,run=sync} on node i.
  double sync_runs(int i, int id) {
    double sum = 0;
    const std::string s = "streamer=\"" + std::to_string(id) + "\"";
    for (auto& [key, v] : c->metrics(i))
      if (key.rfind("maxsess_streamer_runs_total{", 0) == 0 && key.find(s) != std::string::npos &&
          key.find("run=\"sync\"") != std::string::npos)
        sum += v;
    return sum;
  }
  std::map<std::pair<int, int>, double> all_sync_runs() {
    std::map<std::pair<int, int>, double> out;
    for (int i : c->serving_nodes())
      for (int k : ids) out[{i, k}] = sync_runs(i, k);
    return out;
  }

  // POST /api/v1/jobs/sync through node `via`: the report covers every
  // streamer once, each emulator was listed once, and each streamer's sync
  // ran on the holder of its lease and on no other node.
  void sync_once_everywhere(int via, const std::string& what) {
    auto before = api_counts();
    auto runs = all_sync_runs();
    auto rep = sync_via(via);
    expect_report_covers_all(rep, what);
    expect_api_delta(before, 1, what);
    auto after = all_sync_runs();
    for (int k : ids) {
      int h = holder(k, via);
      for (int i : c->serving_nodes()) {
        const double d = after[std::make_pair(i, k)] - runs[std::make_pair(i, k)];
        EXPECT_EQ(d, i == h ? 1 : 0) << what << ": sync runs of streamer " << k << " on " << c->node_id(i)
                                     << " (lease holder " << (h < 0 ? "none" : c->node_id(h)) << ")";
      }
    }
  }

  void print_placement(const std::string& when) {
    std::cout << "[ streamers] " << when << ": " << describe(placement_in(c->serving_nodes().front())) << "\n";
  }

  void TearDown() override {
    cluster_test::TearDown();
    emus.clear();
  }

  std::vector<std::unique_ptr<flussonic_emulator>> emus;
  std::vector<int> ids;
};

// A sync job asked through each node in turn (HTTP, then the CLI) lists
// each streamer exactly once, on the node that holds its lease.
TEST_F(ClusterStreamerJobs, SyncThroughAnyNodeRunsOncePerStreamer) {
  boot_with_streamers(3);  // webhooks on (the harness's default): no periodic sync
  if (IsSkipped() || HasFatalFailure()) return;
  print_placement("placed");
  std::set<int> holders;
  for (int k : ids) holders.insert(holder(k, 0));
  std::cout << "[ streamers] " << holders.size() << " distinct lease holders\n";
  for (int via = 0; via < c->size(); ++via) {
    SCOPED_TRACE("via " + c->node_id(via));
    sync_once_everywhere(via, "POST /api/v1/jobs/sync through " + c->node_id(via));
  }
  // The operator's command, run on each node's configuration.
  for (int via = 0; via < c->size(); ++via) {
    const std::string what = "maxsessd playback-session:sync on " + c->node_id(via);
    auto before = api_counts();
    std::string out;
    int rc = c->run_command("playback-session:sync", c->env_of(via), out);
    EXPECT_EQ(rc, 0) << what << ":\n" << out;
    for (int k : ids) {
      const std::string line = "sync: streamer " + std::to_string(k) + ": listed " + std::to_string(k) + ",";
      auto first = out.find(line);
      EXPECT_NE(first, std::string::npos) << what << " did not print '" << line << "':\n" << out;
      if (first != std::string::npos) {
        EXPECT_EQ(out.find(line, first + 1), std::string::npos) << what << " printed streamer " << k << " twice:\n"
                                                                 << out;
      }
    }
    expect_api_delta(before, 1, what);
  }
  // Only some streamers, asked through a node that holds none of them (when
  // there is one): still once each, and the others are left alone.
  const int only = ids.back();
  int via = -1;
  for (int i = 0; i < c->size() && via < 0; ++i)
    if (holder(only, i) != i) via = i;
  ASSERT_GE(via, 0);
  auto before = api_counts();
  auto r = c->request(via, "POST", "/api/v1/jobs/sync", json{{"streamer_ids", {only}}}.dump(), c->admin());
  ASSERT_EQ(r.status, 200) << r.body;
  auto rep = json::parse(r.body);
  EXPECT_TRUE(rep.value("ok", false)) << rep.dump();
  ASSERT_EQ(rep["streamers"].size(), 1u) << rep.dump();
  EXPECT_EQ(rep["streamers"][0]["streamer_id"], only);
  EXPECT_EQ(rep["streamers"][0]["listed"], only);
  auto now = api_counts();
  for (int k : ids)
    EXPECT_EQ(now[k] - before[k], k == only ? 1 : 0) << "streamer_ids [" << only << "] through " << c->node_id(via)
                                                     << ": streamer " << k << api_log(k);
}

// Without webhooks every streamer is polled every sync_interval, by the
// holder of its lease only: three nodes polling would ask each emulator
// about three times as often.
TEST_F(ClusterStreamerJobs, PeriodicSyncPollsEachStreamerFromOneNode) {
  cluster_options o;
  o.env["MAXSESS__PLAYBACK_SESSION__WEBHOOKS"] = "false";
  o.env["MAXSESS__PLAYBACK_SESSION__SYNC_INTERVAL"] = "1s";
  boot_with_streamers(2, o);
  if (IsSkipped() || HasFatalFailure()) return;
  print_placement("placed");
  const auto placed = placement_in(0);
  auto before = api_counts();
  auto runs = all_sync_runs();
  const auto window = 6s;  // a bounded measuring run
  const auto t0 = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(window);
  auto now = api_counts();
  auto after = all_sync_runs();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_EQ(placement_in(0), placed) << "a streamer lease moved during the window; nothing to measure";
  const double one_poller = seconds / 1.0;  // sync_interval 1s
  for (int k : ids) {
    auto n = now[k] - before[k];
    std::cout << "[ streamers] streamer " << k << ": " << n << " Sessions API requests in " << seconds
              << " s (one poller: ~" << one_poller << ")\n";
    EXPECT_GE(n, 2) << "streamer " << k << " is not polled periodically at all" << api_log(k);
    EXPECT_LT(static_cast<double>(n), 2 * one_poller)
        << "streamer " << k << " is polled by more than one node" << api_log(k, 30);
    int h = holder(k, 0);
    for (int i : c->serving_nodes()) {
      double d = after[std::make_pair(i, k)] - runs[std::make_pair(i, k)];
      if (i == h)
        EXPECT_GE(d, 2) << "the lease holder " << c->node_id(h) << " does not sync streamer " << k;
      else
        EXPECT_EQ(d, 0) << c->node_id(i) << " synced streamer " << k << " whose lease " << c->node_id(h) << " holds";
    }
  }
}

// kill -9 of a node holding streamer leases: the survivors take its
// streamers over, and a job through a survivor still covers every streamer
// once.
TEST_F(ClusterStreamerJobs, StreamerLeaseMovesAfterKill9AndJobsStillCoverEveryStreamer) {
  cluster_options o;
  o.lease_ttl = "2s";
  boot_with_streamers(3, o);
  if (IsSkipped() || HasFatalFailure()) return;
  print_placement("placed");
  // The node holding the most streamers.
  std::map<int, int> held;
  for (int k : ids) ++held[holder(k, 0)];
  int victim = held.begin()->first;
  for (auto& [i, n] : held)
    if (n > held[victim]) victim = i;
  std::set<int> moved;
  for (int k : ids)
    if (holder(k, 0) == victim) moved.insert(k);
  std::cout << "[ streamers] killing " << c->node_id(victim) << ", holder of " << moved.size() << " streamers\n";

  const auto t0 = std::chrono::steady_clock::now();
  c->kill9(victim);
  std::string last;
  bool ok = cluster::eventually([&] { return (last = not_placed(victim)).empty(); }, 15s);
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(ok) << "the killed node's streamers were not taken over within 15 s:" << last << "\n"
                  << c->log_tails();
  std::cout << "[ streamers] taken over in " << took << " s\n";
  print_placement("after the kill");
  for (int k : moved) EXPECT_NE(holder(k, c->serving_nodes().front()), victim);
  // Let the survivors' placement settle (the new holders' leases are in
  // every view), then a job through each survivor.
  wait_streamers_placed(victim);
  if (HasFatalFailure()) return;
  for (int via : c->serving_nodes()) {
    SCOPED_TRACE("via " + c->node_id(via));
    sync_once_everywhere(via, "POST /api/v1/jobs/sync through survivor " + c->node_id(via));
  }
}

}  // namespace
