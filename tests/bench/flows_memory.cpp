// memory: bytes of daemon RSS per held session,
//   (VmRSS with 1 000 000 pending sessions held - VmRSS with none) / 1 000 000
// on one database: first a daemon on it empty, then 250 000 accounts x 4
// devices inserted with SQL (rows shaped like approved links: a token of a
// real token's length, a client address, streamer 1) and a second daemon.
// Both run with playback_session.pending_ttl 24h, so nothing expires.
// Loading: in single-node mode every shard is owned from the start and its
// owner loads the accounts holding live sessions at takeover
// (actors/shard_owner.cpp, load_live), so no request is needed; the bench
// waits until the daemon's RSS stops growing and its database is idle.
#include <iostream>

#include "domain/model.hpp"
#include "tests/bench/flows.hpp"
#include "tests/support/daemon.hpp"
#include "tests/support/pg_test.hpp"

namespace maxsess::bench::flows {

using maxsess::test::daemon_options;
using maxsess::test::daemon_process;
using maxsess::test::http_client;
using maxsess::test::query_scalar;

namespace {

constexpr int memory_accounts = 250000;
constexpr int memory_devices = 4;
constexpr long memory_sessions = static_cast<long>(memory_accounts) * memory_devices;
constexpr int shard_count = 256;  // cluster.shards' default, set explicitly below

struct measured {
  long rss_kb = 0;
  double hwm_mib = 0;
  double settle_s = 0;
  double db_busy_s = 0;  // the takeover loads' statements ran until then (since start)
  int exit_code = 0;
};

measured measure_daemon(const options& o, const std::string& dsn, int quiet_ms) {
  daemon_options opts;
  opts.dsn = dsn;
  opts.env = daemon_env(o);
  opts.env["MAXSESS__PLAYBACK_SESSION__PENDING_TTL"] = "24h";
  opts.env["MAXSESS__CLUSTER__SHARDS"] = std::to_string(shard_count);
  daemon_process d(opts);
  const auto t0 = clk::now();
  d.start();
  track_pid(d.pid());
  measured m;
  const double ready_s = std::chrono::duration<double>(clk::now() - t0).count();
  m.rss_kb = wait_settled(d.pid(), dsn, quiet_ms, 150, &m.db_busy_s);
  m.settle_s = std::chrono::duration<double>(clk::now() - t0).count();
  m.db_busy_s += ready_s;
  m.hwm_mib = kb_to_mib(proc_field(d.pid(), "VmHWM"));
  // Sanity check of the inserted rows: one account reads as its 4 sessions.
  http_client c("127.0.0.1", d.port());
  auto r = c.get("/api/v1/accounts/m" + std::to_string(memory_accounts / 2), admin_headers(d.admin_token()));
  if (m.rss_kb > 0 && r.status == 200 &&
      nlohmann::json::parse(r.body).at("sessions").size() != static_cast<std::size_t>(memory_devices))
    throw std::runtime_error("account m" + std::to_string(memory_accounts / 2) + " does not hold " +
                             std::to_string(memory_devices) + " sessions: " + r.body.substr(0, 300));
  m.exit_code = d.stop();
  untrack_pid(d.pid());
  return m;
}

}  // namespace

int run_memory(const options& o, const std::string& server) {
  const std::string dsn = maxsess::test::create_migrated_database("bench_memory");
  query_scalar(dsn, "INSERT INTO streamers (id, host, url) VALUES (1, 's1', 'http://s1')");
  const auto empty = measure_daemon(o, dsn, 1000);

  const auto t_insert = clk::now();
  std::string shards = "{";
  for (int k = 0; k < memory_accounts; ++k)
    shards += (k ? "," : "") + std::to_string(maxsess::shard_of("m" + std::to_string(k), shard_count));
  shards += "}";
  query_scalar(dsn, "INSERT INTO accounts (account_id, max_sessions) SELECT 'm' || k, " +
                        std::to_string(memory_devices) + " FROM generate_series(0, " +
                        std::to_string(memory_accounts - 1) + ") k");
  // Tokens of a real one's length (m1.kid.expiry.claims.mac, ~85
  // characters); nothing verifies them here.
  insert_without_indexes(dsn, "playback_sessions", {
               "INSERT INTO playback_sessions (account_id, device_id, shard, shard_epoch, status,"
               " content_type, stream, streamer_id, client_ip, token, started_at, updated_at)"
               " SELECT 'm' || (s.k - 1), 'd' || d, s.shard, 1, 'pending', 'live', 'ch' || ((s.k + d) % 50), 1,"
               " '203.0.113.7', 'm1.t1.1795000000.' || left(md5('c' || s.k || d), 22) || '.' ||"
               " md5('m' || s.k || d) || left(md5(d || 'x' || s.k), 11), now(), now()"
               " FROM unnest('" + shards + "'::int[]) WITH ORDINALITY AS s(shard, k), generate_series(0, " +
                   std::to_string(memory_devices - 1) + ") d"});
  const double insert_s = std::chrono::duration<double>(clk::now() - t_insert).count();
  const auto rows = query_scalar(dsn, "SELECT count(*) FROM playback_sessions WHERE status = 'pending'");

  const auto full = measure_daemon(o, dsn, 2000);
  const double per_session = (full.rss_kb - empty.rss_kb) * 1024.0 / memory_sessions;
  const bool ok = rows == std::to_string(memory_sessions) && empty.exit_code == 0 && full.exit_code == 0 &&
                  per_session > 0;
  std::cout << "\n== scenario memory, " << memory_sessions << " pending sessions held (" << memory_accounts
            << " accounts x " << memory_devices << " devices), pending_ttl 24h\n"
            << "empty        VmRSS " << fmt(empty.rss_kb / 1024.0) << " MiB (VmHWM " << fmt(empty.hwm_mib)
            << "), settled " << fmt(empty.settle_s, 1) << " s after start\n"
            << "insert       " << rows << " rows in " << fmt(insert_s, 1) << " s (SQL, generate_series)\n"
            << "held         VmRSS " << fmt(full.rss_kb / 1024.0) << " MiB (VmHWM " << fmt(full.hwm_mib)
            << "), loaded at start by the shard owners: their statements ran until "
            << fmt(full.db_busy_s, 1) << " s, RSS settled " << fmt(full.settle_s, 1) << " s after start\n"
            << "per session  " << fmt(per_session, 0) << " bytes = " << fmt(per_session / 1024, 2)
            << " KiB (target <= 1 KiB, bar 1.5 KiB)\n"
            << "result       " << (ok ? "ok" : "FAILED") << "\n";
  nlohmann::ordered_json line;
  line["scenario"] = "memory";
  line["metric"] = "bytes/session";
  line["value"] = std::round(per_session);
  line["p50_ms"] = nullptr;
  line["p99_ms"] = nullptr;
  line["cpu_us_per_op"] = nullptr;
  line["rss_mib"] = std::round(full.rss_kb / 102.4) / 10;
  line["note"] = "(VmRSS " + fmt(full.rss_kb / 1024.0) + " MiB with " + std::to_string(memory_sessions) +
                 " pending sessions - " + fmt(empty.rss_kb / 1024.0) + " MiB with none) / " +
                 std::to_string(memory_sessions) + " = " + fmt(per_session / 1024, 2) +
                 " KiB; loaded at start (shard owners' takeover load) in " + fmt(full.settle_s, 1) + " s";
  line["ok"] = ok;
  line["kib_per_session"] = std::round(per_session / 1024 * 100) / 100;
  line["rss_empty_mib"] = std::round(empty.rss_kb / 102.4) / 10;
  emit(line);
  drop_database(server, dsn);
  return ok ? 0 : 1;
}

}  // namespace maxsess::bench::flows
