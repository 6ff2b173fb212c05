// memory: bytes of daemon RSS per held session,
//   (VmRSS with 1 000 000 pending sessions held - VmRSS with none) / 1 000 000
// on one database: first a daemon on it empty, then 250 000 accounts x 4
// devices inserted with SQL (rows shaped like approved links: a token of a
// real token's length, a client address, streamer 1) and a second daemon.
// Then the same million again as active sessions, each played by one
// Flussonic session (a UUID, its address and stream, as an auth
// new_session or a play_started leaves it), and a third daemon: issue 7's
// bar is the pending figure; the active one is what a playing subscriber
// costs (docs/capacity.md sizes nodes by it).
// Every daemon runs with playback_session.pending_ttl and stale_after 24h,
// so nothing expires.
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
  double stop_s = 0;  // SIGTERM to exit
};

measured measure_daemon(const options& o, const std::string& dsn, int quiet_ms, const char* status) {
  daemon_options opts;
  opts.dsn = dsn;
  opts.env = daemon_env(o);
  opts.env["MAXSESS__PLAYBACK_SESSION__PENDING_TTL"] = "24h";
  opts.env["MAXSESS__PLAYBACK_SESSION__STALE_AFTER"] = "24h";
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
  if (*status && m.rss_kb > 0 && r.status == 200) {
    const auto sessions = nlohmann::json::parse(r.body).at("sessions");
    std::size_t held = 0;
    for (const auto& x : sessions) held += x.value("status", std::string()) == status;
    if (held != static_cast<std::size_t>(memory_devices))
      throw std::runtime_error("account m" + std::to_string(memory_accounts / 2) + " does not hold " +
                               std::to_string(memory_devices) + " " + status +
                               " sessions: " + r.body.substr(0, 300));
  }
  const auto t_stop = clk::now();
  m.exit_code = d.stop();  // SIGTERM: every shard owner drains its accounts
  m.stop_s = std::chrono::duration<double>(clk::now() - t_stop).count();
  untrack_pid(d.pid());
  return m;
}

// The held million's rows: 250 000 accounts x 4 devices of `status`
// (pending or active), inserted with SQL into an empty sessions table.
double insert_sessions(const std::string& dsn, const std::string& shards, const std::string& status) {
  const auto t0 = clk::now();
  // Tokens of a real one's length (m1.kid.expiry.claims.mac, ~85
  // characters); nothing verifies them here. An active row's Flussonic
  // session: a UUID, the viewer's address and the stream, updated now
  // (storage/rows.cpp's JSON of the `flussonic` column).
  const std::string flussonic =
      status == "active"
          ? "jsonb_build_array(jsonb_build_object('id', md5('f' || s.k || d)::uuid::text, 'ip', '203.0.113.7',"
            " 'open', true, 'stream', 'ch' || ((s.k + d) % 50), 'updated_at_ms',"
            " (extract(epoch FROM now()) * 1000)::bigint))"
          : "'[]'::jsonb";
  insert_without_indexes(dsn, "playback_sessions", {
               "INSERT INTO playback_sessions (account_id, device_id, shard, shard_epoch, status,"
               " content_type, stream, streamer_id, client_ip, token, flussonic, started_at, updated_at)"
               " SELECT 'm' || (s.k - 1), 'd' || d, s.shard, 1, '" + status + "', 'live', 'ch' || ((s.k + d) % 50), 1,"
               " '203.0.113.7', 'm1.t1.1795000000.' || left(md5('c' || s.k || d), 22) || '.' ||"
               " md5('m' || s.k || d) || left(md5(d || 'x' || s.k), 11), " + flussonic + ", now(), now()"
               " FROM unnest('" + shards + "'::int[]) WITH ORDINALITY AS s(shard, k), generate_series(0, " +
                   std::to_string(memory_devices - 1) + ") d"});
  return std::chrono::duration<double>(clk::now() - t0).count();
}

struct held {
  measured m;
  std::string rows;
  double insert_s = 0;
  double per_session = 0;  // bytes
};

held measure_held(const options& o, const std::string& dsn, const std::string& shards, const std::string& status,
                  const measured& empty) {
  held h;
  h.insert_s = insert_sessions(dsn, shards, status);
  h.rows = query_scalar(dsn, "SELECT count(*) FROM playback_sessions WHERE status = '" + status + "'");
  h.m = measure_daemon(o, dsn, 2000, status.c_str());
  h.per_session = (h.m.rss_kb - empty.rss_kb) * 1024.0 / memory_sessions;
  return h;
}

void print_held(const held& h, const std::string& status) {
  std::cout << "insert       " << h.rows << " " << status << " rows in " << fmt(h.insert_s, 1)
            << " s (SQL, generate_series)\n"
            << "held         VmRSS " << fmt(h.m.rss_kb / 1024.0) << " MiB (VmHWM " << fmt(h.m.hwm_mib)
            << "), loaded at start by the shard owners: their statements ran until " << fmt(h.m.db_busy_s, 1)
            << " s, RSS settled " << fmt(h.m.settle_s, 1) << " s after start; stopped (SIGTERM) in "
            << fmt(h.m.stop_s, 1) << " s\n"
            << "per session  " << fmt(h.per_session, 0) << " bytes = " << fmt(h.per_session / 1024, 2) << " KiB";
}

nlohmann::ordered_json held_line(const char* scenario, const held& h, const measured& empty,
                                 const std::string& what) {
  nlohmann::ordered_json line;
  line["scenario"] = scenario;
  line["metric"] = "bytes/session";
  line["value"] = std::round(h.per_session);
  line["p50_ms"] = nullptr;
  line["p99_ms"] = nullptr;
  line["cpu_us_per_op"] = nullptr;
  line["rss_mib"] = std::round(h.m.rss_kb / 102.4) / 10;
  line["note"] = "(VmRSS " + fmt(h.m.rss_kb / 1024.0) + " MiB with " + std::to_string(memory_sessions) + " " +
                 what + " - " + fmt(empty.rss_kb / 1024.0) + " MiB with none) / " +
                 std::to_string(memory_sessions) + " = " + fmt(h.per_session / 1024, 2) +
                 " KiB; loaded at start (shard owners' takeover load) in " + fmt(h.m.settle_s, 1) + " s";
  line["kib_per_session"] = std::round(h.per_session / 1024 * 100) / 100;
  line["rss_empty_mib"] = std::round(empty.rss_kb / 102.4) / 10;
  return line;
}

}  // namespace

int run_memory(const options& o, const std::string& server) {
  const std::string dsn = maxsess::test::create_migrated_database("bench_memory");
  query_scalar(dsn, "INSERT INTO streamers (id, host, url) VALUES (1, 's1', 'http://s1')");
  const auto empty = measure_daemon(o, dsn, 1000, "");

  std::string shards = "{";
  for (int k = 0; k < memory_accounts; ++k)
    shards += (k ? "," : "") + std::to_string(maxsess::shard_of("m" + std::to_string(k), shard_count));
  shards += "}";
  query_scalar(dsn, "INSERT INTO accounts (account_id, max_sessions) SELECT 'm' || k, " +
                        std::to_string(memory_devices) + " FROM generate_series(0, " +
                        std::to_string(memory_accounts - 1) + ") k");
  const auto pending = measure_held(o, dsn, shards, "pending", empty);
  query_scalar(dsn, "TRUNCATE playback_sessions");
  const auto active = measure_held(o, dsn, shards, "active", empty);

  const auto good = [&empty](const held& h) {
    return empty.exit_code == 0 && h.rows == std::to_string(memory_sessions) && h.m.exit_code == 0 &&
           h.per_session > 0;
  };
  const bool ok = good(pending) && good(active);
  std::cout << "\n== scenario memory, " << memory_sessions << " held sessions (" << memory_accounts
            << " accounts x " << memory_devices << " devices), pending_ttl and stale_after 24h\n"
            << "empty        VmRSS " << fmt(empty.rss_kb / 1024.0) << " MiB (VmHWM " << fmt(empty.hwm_mib)
            << "), settled " << fmt(empty.settle_s, 1) << " s after start\n";
  print_held(pending, "pending");
  std::cout << " (target <= 1 KiB, bar 1.5 KiB)\n";
  print_held(active, "active");
  std::cout << " (each played by one Flussonic session; no bar: docs/capacity.md's memory line)\n"
            << "result       " << (ok ? "ok" : "FAILED") << "\n";
  auto line = held_line("memory", pending, empty, "pending sessions");
  line["ok"] = good(pending);
  emit(line);
  auto line_active = held_line("memory-active", active, empty, "active sessions, one Flussonic session each");
  line_active["ok"] = good(active);
  emit(line_active);
  drop_database(server, dsn);
  return ok ? 0 : 1;
}

}  // namespace maxsess::bench::flows
