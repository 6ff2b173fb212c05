// The link scenarios of `make bench` (--scenario links): POST /api/v1/links
// against one durable database holding --accounts accounts (1 M in
// make bench) with --devices sessions each (4), set up by SQL (HTTP set-up
// of 1 M accounts would take longer than the whole bench). Figures, one JSON
// line each (--json):
//   links-zipf       closed loop, accounts drawn zipf(s) over all accounts,
//                    a held device asking for another channel: the peak
//   links-zipf-open  the same traffic open loop at half that peak: p99 with
//                    the queueing counted (latency from the intended send time)
//   links-zap        1 000 hot accounts, their devices zapping
//   links-deny       the same accounts, a fifth device: 403, no writes
//   links-cold       a fresh daemon; every request an account never loaded
// The first four share one measured daemon (in that order: the zipf
// warm-up loads what the hot accounts need); the cold one gets its own.
#include <unistd.h>

#include <fstream>
#include <iostream>
#include <random>
#include <stdexcept>
#include <string>

#include "tests/bench/bench_common.hpp"
#include "tests/bench/links.hpp"
#include "tests/support/daemon.hpp"
#include "tests/support/pg_test.hpp"

namespace maxsess::bench {

namespace {

using maxsess::test::query_scalar;

// Accounts a0..a(N-1) (max_sessions = devices) and their devices d0..d(K-1),
// pending on streamer 1. The rows carry shard -1, which no shard owner
// preloads at start (a node taking over N x K live sessions at once is the
// memory scenario's business): each account loads on its first request, as
// after a takeover that preloaded nothing. The table's indexes, primary
// key included, are dropped and rebuilt around the bulk insert (1.5-2.5 x
// faster here than inserting into them row by row, even in key order),
// from their own definitions, so the schema stays the migrations'.
void seed(const std::string& dsn, int accounts, int devices) {
  const auto t0 = clk::now();
  const std::string n = std::to_string(accounts - 1), k = std::to_string(devices - 1);
  query_scalar(dsn, "INSERT INTO streamers (id, host, url) VALUES (1, 's1', 'http://s1')");
  const char* const count_indexes = "SELECT count(*) FROM pg_indexes WHERE tablename = 'playback_sessions'";
  const auto before = query_scalar(dsn, count_indexes);
  query_scalar(dsn,
               "SET maintenance_work_mem = '256MB';"
               "BEGIN;"
               // Every index of the table, the primary key's too, as a drop and a create.
               "CREATE TEMP TABLE bench_indexes ON COMMIT DROP AS"
               "  SELECT 1 AS pass, 'DROP INDEX ' || quote_ident(indexname) AS drop_sql,"
               "         indexdef AS create_sql FROM pg_indexes"
               "  WHERE schemaname = 'public' AND tablename = 'playback_sessions'"
               "  AND indexname NOT IN (SELECT conname FROM pg_constraint"
               "                        WHERE conrelid = 'playback_sessions'::regclass)"
               "  UNION ALL"
               "  SELECT 0, 'ALTER TABLE playback_sessions DROP CONSTRAINT ' || quote_ident(conname),"
               "         'ALTER TABLE playback_sessions ADD CONSTRAINT ' || quote_ident(conname) || ' '"
               "         || pg_get_constraintdef(oid) FROM pg_constraint"
               "  WHERE conrelid = 'playback_sessions'::regclass AND contype IN ('p', 'u');"
               "DO $$ DECLARE r record; BEGIN"
               "  FOR r IN SELECT drop_sql FROM bench_indexes LOOP EXECUTE r.drop_sql; END LOOP; END $$;"
               "INSERT INTO accounts (account_id, max_sessions)"
               "  SELECT 'a' || g, " + std::to_string(devices) + " FROM generate_series(0, " + n + ") g;"
               "INSERT INTO playback_sessions (account_id, device_id, shard, shard_epoch, status,"
               "  content_type, stream, streamer_id, client_ip, started_at, updated_at)"
               "  SELECT 'a' || g, 'd' || d, -1, 0, 'pending', 'live', 'ch0', 1, '203.0.113.7',"
               "  now(), now() FROM generate_series(0, " + n + ") g, generate_series(0, " + k + ") d;"
               "DO $$ DECLARE r record; BEGIN"
               "  FOR r IN SELECT create_sql FROM bench_indexes ORDER BY pass LOOP"
               "    EXECUTE r.create_sql; END LOOP; END $$;"
               "COMMIT;");
  if (const auto after = query_scalar(dsn, count_indexes); after != before)
    throw std::runtime_error("links seed: playback_sessions has " + after + " indexes after the seed, " +
                             before + " before");
  // Vacuumed now (hint bits, visibility map, statistics), not by autovacuum
  // in the middle of a window: 4 M fresh rows cross its insert threshold.
  query_scalar(dsn, "VACUUM (ANALYZE) accounts");
  query_scalar(dsn, "VACUUM (ANALYZE) playback_sessions");
  // The seed's dirty pages go to disk now, not during a window.
  query_scalar(dsn, "CHECKPOINT");
  std::cout << "links: seeded " << accounts << " accounts x " << devices << " sessions by SQL in "
            << fmt(std::chrono::duration<double>(clk::now() - t0).count(), 1) << " s\n";
}

void set_link(loadgen::request& r, const std::string& account, const std::string& device,
              const std::string& stream) {
  r.method = "POST";
  r.target = "/api/v1/links";
  r.headers.emplace_back("Content-Type", "application/json");
  r.body = link_body(account, device, stream);
}

struct daemon_run {
  explicit daemon_run(const options& o, const std::string& dsn) {
    maxsess::test::daemon_options opts;
    opts.dsn = dsn;
    opts.env = daemon_env(o);
    d = std::make_unique<maxsess::test::daemon_process>(opts);
    d->start();
    track_pid(d->pid());
    pid = d->pid();
  }
  int stop() {
    const int rc = d->stop();
    untrack_pid(pid);
    if (rc != 0) {
      auto log = d->log();
      std::cerr << "daemon log tail:\n" << log.substr(log.size() > 3000 ? log.size() - 3000 : 0);
    }
    return rc;
  }
  std::unique_ptr<maxsess::test::daemon_process> d;
  pid_t pid = -1;
};

}  // namespace

int run_links(const options& o, const std::string& server, int ncpu) {
  const int conns = o.connections.front();
  const int devices = o.devices;
  const std::string dsn = maxsess::test::create_migrated_database("bench_links");
  seed(dsn, o.accounts, devices);
  int rc = 0;
  auto finish = [&](const std::string& name, run_result& r, const std::string& note) {
    r.scenario = name;
    print_detail(r, ncpu);
    write_json(o, name, r, note);
    if (r.errors > 0) rc = 1;
  };
  auto plan_for = [&](const daemon_run& d, const std::string& name) {
    load_plan p;
    p.scenario = name;
    p.connections = conns;
    p.seconds = o.seconds;
    p.ports = {d.d->port()};
    p.client_cpus = o.client_pin;
    p.daemons = {d.pid};
    p.warmup_ms = 1000;
    return p;
  };
  const loadgen::zipf_sampler zipf(static_cast<uint64_t>(o.accounts), o.zipf_s);
  // A held device of a zipf-drawn account asks for another channel: approved
  // (the owner replaces the device's session) and written before the answer.
  auto zipf_link = [&](loadgen::request& r, const loadgen::gen_state& g) {
    const uint64_t account = zipf(*g.rng);
    set_link(r, "a" + std::to_string(account), "d" + std::to_string((*g.rng)() % devices),
             "ch" + std::to_string(1 + (*g.rng)() % 50));
  };
  const std::string shape = std::to_string(o.accounts) + " accounts x " + std::to_string(devices) +
                            " devices, zipf s=" + fmt(o.zipf_s, 2);
  {
    daemon_run d(o, dsn);
    // 1. closed-loop peak; a longer warm-up: the hot accounts load first.
    auto p = plan_for(d, "links-zipf");
    p.warmup_ms = 2000;
    run_result peak;
    run_load_with(p, zipf_link, 200, peak);
    finish("links-zipf", peak, shape + ", closed loop");
    if (!o.answer_sample.empty() && !peak.sample_body.empty()) {
      std::ofstream out(o.answer_sample);
      out << peak.sample_body;
    }
    // 2. open loop at half the peak: what a client sees at that load.
    const double rate = std::max(100.0, peak.requests / std::max(peak.elapsed_s, 1e-3) / 2);
    p = plan_for(d, "links-zipf-open");
    p.open_loop = true;
    p.rate = rate;
    // One load thread: at these rates each request costs the client two
    // wake-ups (its send timer, its answer) and a second thread only adds
    // its own (measured against the Beast anchor at 1.4 k req/s: 53 µs of
    // client CPU per request with one thread, 105 with two).
    p.loadgen_threads = 1;
    run_result open;
    run_load_with(p, zipf_link, 200, open);
    finish("links-zipf-open", open, shape + ", open loop at " + fmt(rate, 0) + " req/s (half the peak)");
    // 3. zapping on 1 000 hot accounts (uniform), 4. denials on them.
    const int hot = std::min(1000, o.accounts);
    run_result zap, deny;
    p = plan_for(d, "links-zap");
    run_load_with(p, [&](loadgen::request& r, const loadgen::gen_state& g) {
      set_link(r, "a" + std::to_string((*g.rng)() % hot), "d" + std::to_string((*g.rng)() % devices),
               "ch" + std::to_string(1 + g.seq % 50));
    }, 200, zap);
    finish("links-zap", zap, std::to_string(hot) + " hot accounts, held devices zapping");
    p = plan_for(d, "links-deny");
    run_load_with(p, [&](loadgen::request& r, const loadgen::gen_state& g) {
      set_link(r, "a" + std::to_string((*g.rng)() % hot), "x" + std::to_string(g.seq), "ch1");
    }, 403, deny);
    finish("links-deny", deny, std::to_string(hot) + " hot accounts, each full: a new device is refused");
    if (d.stop() != 0) rc = 1;
  }
  if (g_interrupted) return 1;
  {
    // 5. cold: a fresh daemon; request n asks for account (n * P) mod N, a
    // permutation (P prime, not a factor of N), so no account comes twice
    // while n < N.
    daemon_run d(o, dsn);
    const uint64_t n_accounts = static_cast<uint64_t>(o.accounts);
    const uint64_t stride = n_accounts % 104729 == 0 ? 1 : 104729;
    auto p = plan_for(d, "links-cold");
    run_result cold;
    run_load_with(p, [&](loadgen::request& r, const loadgen::gen_state& g) {
      set_link(r, "a" + std::to_string(g.seq * stride % n_accounts), "d0", "ch" + std::to_string(1 + g.seq % 50));
    }, 200, cold);
    // Requests sent, warm-up included, beyond N would repeat accounts.
    const bool wrapped = cold.requests / std::max(cold.elapsed_s, 1e-3) * (o.seconds + 1) > o.accounts;
    finish("links-cold", cold, "every request an account not loaded before (" + std::to_string(o.accounts) +
                                   " accounts)" + (wrapped ? ", WRAPPED" : ""));
    if (d.stop() != 0) rc = 1;
  }
  drop_database(server, dsn);
  return rc;
}

}  // namespace maxsess::bench
