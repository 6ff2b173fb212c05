// What the flow scenarios share: the dispatch, the closed-loop runner (a
// request generator per scenario), --json lines, waiting for a daemon to
// settle. See flows.hpp.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <thread>

#include "tests/bench/flows.hpp"
#include "tests/support/pg_test.hpp"

namespace maxsess::bench {

using maxsess::test::http_client;
using maxsess::test::query_scalar;

bool is_flow_scenario(const std::string& name) {
  return name == "auth-new" || name == "auth-update" || name == "webhook" || name == "sync" ||
         name == "memory";
}

int run_flow(const options& o, const std::string& server, const std::string& scenario, int ncpu) {
  try {
    if (scenario == "auth-new" || scenario == "auth-update") return flows::run_auth(o, server, scenario, ncpu);
    if (scenario == "webhook") return flows::run_webhook(o, server, ncpu);
    if (scenario == "sync") return flows::run_sync(o, server);
    if (scenario == "memory") return flows::run_memory(o, server);
  } catch (const std::exception& e) {
    // One scenario failing (a set-up step, a daemon that did not start)
    // does not stop the others; the run still fails.
    // Its daemons were killed by their destructors on the way out.
    std::cout << "\n== scenario " << scenario << " FAILED: " << e.what() << "\n";
    flows::emit({{"scenario", scenario}, {"metric", "error"}, {"value", nullptr}, {"ok", false},
                 {"note", e.what()}});
    return 1;
  }
  throw std::invalid_argument("not a flow scenario: " + scenario);
}

void append_json_line(const std::string& path, const nlohmann::ordered_json& fields) {
  if (path.empty()) return;
  std::ofstream out(path, std::ios::app);
  if (!out) throw std::runtime_error("--json: cannot append to " + path);
  out << fields.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
}

namespace flows {

const char* const token_secret_spec = "t1:integration-test-secret";

void emit(const nlohmann::ordered_json& line) { append_json_line(json_path(), line); }

nlohmann::ordered_json json_of(const run_result& r, const std::string& metric, double value,
                               double ops, const std::string& note) {
  // d decimal places: round(v * 10^d) / 10^d is the double nearest the
  // decimal, which the JSON shows as written (18.83, not 18.830000000000002).
  auto round = [](double v, int d) {
    const double p = std::pow(10.0, d);
    return std::round(v * p) / p;
  };
  nlohmann::ordered_json j;
  j["scenario"] = r.scenario;
  j["metric"] = metric;
  j["value"] = round(value, 1);
  j["p50_ms"] = round(r.p50, 2);
  j["p99_ms"] = round(r.p99, 2);
  j["cpu_us_per_op"] = ops > 0 ? round(r.daemon_cpu_s / ops * 1e6, 1) : 0.0;
  j["rss_mib"] = round(r.rss_mib, 1);
  // The share of the cores processes outside the measurement took (the
  // table's "others' CPU" column, as bench_common's write_json says it).
  const double ncpu = static_cast<double>(sysconf(_SC_NPROCESSORS_ONLN));
  j["note"] = r.elapsed_s > 0 ? note + "; others " +
                                    fmt(std::max(0.0, other_cpu(r)) / r.elapsed_s / ncpu * 100, 0) +
                                    "% of the cores"
                              : note;
  return j;
}

void run_closed_loop(const load& l, run_result& res, uint64_t& unexpected) {
  // Through the loadgen (bench_common's run_load_with): the thread per
  // connection this loop had cost ~40 µs of client CPU per request, a
  // quarter of these 2 cores at the auth rates.
  load_plan p;
  p.scenario = l.scenario;
  p.connections = l.connections;
  p.seconds = l.seconds;
  p.ports = {l.port};
  p.daemons = l.daemons;
  p.check = [&l](uint64_t n, int status, std::string_view body) {
    return l.ok(n, status, std::string(body));
  };
  run_load_with(
      p,
      [&l](loadgen::request& r, const loadgen::gen_state& g) {
        request q = l.make(g.seq);
        r.method = std::move(q.method);
        r.target = std::move(q.target);
        if (!q.body.empty()) r.headers.emplace_back("Content-Type", "application/json");
        r.body = std::move(q.body);
      },
      200, res);
  unexpected = res.unexpected;
}

void put_streamer(uint16_t port, const std::string& admin_token, int id, const std::string& host,
                  const std::string& extra) {
  http_client admin("127.0.0.1", port);
  const std::string body = "{\"host\":\"" + host + "\",\"url\":\"http://" + host + "\"" +
                           (extra.empty() ? "" : "," + extra) + "}";
  expect(admin.put_json("/api/v1/streamers/" + std::to_string(id), body, admin_headers(admin_token)),
         200, "PUT /api/v1/streamers/" + std::to_string(id));
}

std::string db_name(const std::string& dsn) {
  auto at = dsn.rfind("dbname=");
  if (at == std::string::npos) throw std::runtime_error("no dbname in " + dsn);
  auto name = dsn.substr(at + 7);
  return name.substr(0, name.find(' '));
}

long wait_settled(pid_t pid, const std::string& dsn, int quiet_ms, int limit_s, double* db_busy_s) {
  const auto begin = clk::now();
  const auto deadline = begin + std::chrono::seconds(limit_s);
  const std::string busy_sql =
      "SELECT count(*) FROM pg_stat_activity WHERE datname = '" + db_name(dsn) +
      "' AND state = 'active' AND pid <> pg_backend_pid()";
  long last = -1;
  auto quiet_since = clk::now();
  while (clk::now() < deadline && !g_interrupted) {
    const auto kb = proc_field(pid, "VmRSS");
    if (kb.empty()) throw std::runtime_error("the daemon exited while loading");
    const long rss = std::stol(kb);
    const bool db_busy = query_scalar(dsn, busy_sql) != "0";
    if (db_busy && db_busy_s) *db_busy_s = std::chrono::duration<double>(clk::now() - begin).count();
    if (last < 0 || std::labs(rss - last) > 1024 || db_busy) {
      quiet_since = clk::now();
      last = rss;
    } else if (clk::now() - quiet_since >= std::chrono::milliseconds(quiet_ms)) {
      return rss;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  throw std::runtime_error("the daemon did not settle within " + std::to_string(limit_s) + " s");
}

void insert_without_indexes(const std::string& dsn, const std::string& table,
                            const std::vector<std::string>& statements) {
  // Its primary key and indexes as created, to build again afterwards.
  const std::string rel = "'" + table + "'::regclass";
  const auto pkey = query_scalar(dsn, "SELECT conname FROM pg_constraint WHERE conrelid = " + rel + " AND contype = 'p'");
  const auto pkey_def = query_scalar(
      dsn, "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = " + rel + " AND contype = 'p'");
  const std::string others = "tablename = '" + table + "' AND indexname NOT IN (SELECT conname FROM pg_constraint"
                             " WHERE conrelid = " + rel + ")";
  const auto defs = query_scalar(dsn, "SELECT string_agg(indexdef, ';') FROM pg_indexes WHERE " + others);
  const auto names = query_scalar(dsn, "SELECT string_agg(quote_ident(indexname), ',') FROM pg_indexes WHERE " + others);
  if (!names.empty()) query_scalar(dsn, "DROP INDEX " + names);
  if (!pkey.empty()) query_scalar(dsn, "ALTER TABLE " + table + " DROP CONSTRAINT " + pkey);
  for (const auto& sql : statements) query_scalar(dsn, sql);
  // One session, so that the SET applies to the builds.
  query_scalar(dsn, "SET maintenance_work_mem = '256MB';" +
                        (pkey.empty() ? "" : "ALTER TABLE " + table + " ADD CONSTRAINT " + pkey + " " + pkey_def + ";") +
                        defs);
  query_scalar(dsn, "ANALYZE " + table);
}

std::string query_escape(const std::string& s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

}  // namespace flows
}  // namespace maxsess::bench
