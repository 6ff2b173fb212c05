// webhook: Flussonic's event sink (FLUSSONIC.md §2) posting batches of 100
// play_updated events for 2 000 playing sessions (links, then new_session
// each), from several connections (several streamers' sinks). Batch b names
// sessions (100 b .. 100 b + 99) mod 2000 with unique event ids, so every
// event is applied (a row written), none a duplicate. Afterwards every row
// must carry the largest bytes and duration a 200-answered batch reported
// for it (checked with SQL).
#include <atomic>
#include <iostream>
#include <memory>

#include "tests/bench/flows.hpp"
#include "tests/support/daemon.hpp"
#include "tests/support/pg_test.hpp"

namespace maxsess::bench::flows {

using maxsess::test::daemon_options;
using maxsess::test::daemon_process;
using maxsess::test::query_scalar;

namespace {
constexpr int batch_events = 100;
constexpr int webhook_connections = 8;
}  // namespace

int run_webhook(const options& o, const std::string& server, int ncpu) {
  const std::string dsn = maxsess::test::create_migrated_database("bench_webhook");
  daemon_options opts;
  opts.dsn = dsn;
  opts.env = daemon_env(o);
  opts.env["MAXSESS__PLAYBACK_SESSION__WEBHOOKS"] = "true";  // as deployed with an event sink
  daemon_process d(opts);
  d.start();
  track_pid(d.pid());
  const auto devices = make_links(d.port(), d.admin_token(), playing_accounts);
  open_sessions(d.port(), devices);
  const uint64_t n_dev = devices.size();
  const int64_t t0_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
  // The largest pass a 200-answered batch reported per session (the daemon
  // keeps the largest counters whatever order batches arrive in).
  std::unique_ptr<std::atomic<uint64_t>[]> best(new std::atomic<uint64_t>[n_dev]);
  for (uint64_t i = 0; i < n_dev; ++i) best[i] = 0;

  load l;
  l.scenario = "webhook";
  l.connections = webhook_connections;
  l.seconds = o.seconds;
  l.port = d.port();
  l.daemons = {d.pid()};
  l.make = [&devices, n_dev, t0_ms](uint64_t b) {
    request q;
    q.method = "POST";
    q.target = "/webhook/playback-session/flussonic/s1";
    std::string& body = q.body;
    body.reserve(batch_events * 620);
    body += '[';
    const int64_t now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
    for (int j = 0; j < batch_events; ++j) {
      const uint64_t k = b * batch_events + j;
      const auto& dev = devices[k % n_dev];
      const uint64_t pass = k / n_dev + 1;
      if (j) body += ',';
      // The fields Flussonic sends (FLUSSONIC.md §2), times in ms.
      body += "{\"event\":\"play_updated\",\"event_id\":" + std::to_string(1000000 + k) +
              ",\"utc_ms\":" + std::to_string(now_ms) + ",\"id\":\"" + dev.session_id +
              "\",\"media\":\"" + dev.stream + "\",\"user_id\":\"" + dev.account +
              "\",\"user_name\":null,\"token\":\"" + dev.token + "\",\"ip\":\"" + dev.ip +
              "\",\"proto\":\"hls\",\"country\":null,\"user_agent\":\"Mozilla/5.0 (SmartTV) bench\","
              "\"referer\":null,\"query_string\":\"token=" + dev.token +
              "\",\"bytes\":" + std::to_string(pass * 1000000) +
              ",\"duration\":" + std::to_string(pass * 5) + ",\"opened_at\":" + std::to_string(t0_ms) +
              ",\"started_at\":" + std::to_string(t0_ms) + ",\"updated_at\":" + std::to_string(now_ms) +
              ",\"closed_at\":null}";
    }
    body += ']';
    return q;
  };
  l.ok = [&best, n_dev](uint64_t b, int status, const std::string& body) {
    // Applied means accepted: not a duplicate, not untracked, not ignored.
    if (status != 200 || body.find("\"accepted\":" + std::to_string(batch_events)) == std::string::npos)
      return false;
    for (int j = 0; j < batch_events; ++j) {
      const uint64_t k = b * batch_events + j;
      const uint64_t pass = k / n_dev + 1;
      auto& slot = best[k % n_dev];
      uint64_t seen = slot.load();
      while (seen < pass && !slot.compare_exchange_weak(seen, pass)) {
      }
    }
    return true;
  };
  run_result res;
  uint64_t unexpected = 0;
  run_closed_loop(l, res, unexpected);

  // Every row holds what the answered batches reported (an answer comes
  // only once the batch is durable): the rows with the progress journal
  // folded in (migration 011; the daemon still runs and writes its
  // coalesced progress later, which only ever raises counters).
  const auto folded = query_scalar(dsn, "SELECT entries FROM maxsess_fold_progress('0')");
  std::string keys = "{", bytes = "{";
  for (uint64_t i = 0; i < n_dev; ++i) {
    keys += (i ? ",\"" : "\"") + devices[i].account + "/" + devices[i].id + "\"";
    bytes += (i ? "," : "") + std::to_string(best[i].load() * 1000000);
  }
  keys += "}";
  bytes += "}";
  const auto matching = query_scalar(
      dsn, "SELECT count(*) FROM playback_sessions p JOIN unnest('" + keys + "'::text[], '" + bytes +
               "'::bigint[]) AS e(k, b) ON p.account_id || '/' || p.device_id = e.k"
               " WHERE p.bytes = e.b AND p.duration_s = e.b / 200000 AND p.status = 'active'");
  res.rows_before = res.rows_after = count_rows(dsn);
  res.exit_code = d.stop();
  untrack_pid(d.pid());
  print_detail(res, ncpu);
  const double events = static_cast<double>(res.requests) * batch_events;
  const bool applied = std::to_string(n_dev) == matching;
  const bool ok = unexpected == 0 && res.errors == 0 && res.exit_code == 0 && res.requests > 0 && applied;
  std::cout << "webhook      batches of " << batch_events << " play_updated, " << webhook_connections
            << " connections: " << fmt(events / res.elapsed_s, 0) << " events/s, "
            << fmt(res.daemon_cpu_s / std::max(1.0, events) * 1e6, 2)
            << " us daemon CPU/event; batches not answered 200 with every event accepted: " << unexpected
            << "\nverified     " << matching << " of " << n_dev
            << " rows carry the last bytes and duration an answered batch sent (SQL, after folding "
            << folded << " journal entries)\n"
            << "result       " << (ok ? "ok" : "FAILED") << "\n";
  auto line = json_of(res, "events/s", events / res.elapsed_s, events,
                      "batches of 100 play_updated, " + std::to_string(n_dev) + " playing sessions, " +
                          std::to_string(webhook_connections) + " conns, p50/p99 per batch" +
                          (o.fast ? ", NOT durable (--fast)" : ", durable") + "; rows verified " + matching +
                          "/" + std::to_string(n_dev));
  line["ok"] = ok;
  line["batches_per_s"] = std::round(res.requests / res.elapsed_s * 10) / 10;
  emit(line);
  drop_database(server, dsn);
  return ok ? 0 : 1;
}

}  // namespace maxsess::bench::flows
