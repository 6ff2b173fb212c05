#pragma once
// maxsess_bench's flow scenarios (issue 7): what a Flussonic streamer and
// the streamer side send besides link requests.
//   auth-new     GET /flussonic/auth new_session, a new Flussonic session each
//   auth-update  GET /flussonic/auth update_session for 2 000 playing sessions
//   webhook      POST batches of 100 play_updated events naming those sessions
//   sync         POST /api/v1/jobs/sync of 100 000 sessions listed by the
//                Flussonic emulator, beside a curl loop over the same pages
//   memory       (VmRSS with 1 000 000 held sessions - VmRSS with none) / 1 M
// One file per family (flows_auth.cpp, flows_webhook.cpp, flows_sync.cpp,
// flows_memory.cpp); flows_common.cpp holds the closed-loop runner they share
// and the JSON lines of --json.
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/bench/bench_common.hpp"

namespace maxsess::bench {

// The --scenario names run_flow() handles.
bool is_flow_scenario(const std::string& name);
// Runs one flow scenario against `server` (maintenance DSN) on a database of
// its own; prints its detail block and, with --json, its JSON lines.
// 0: every answer was the expected one; 1 otherwise.
int run_flow(const options& o, const std::string& server, const std::string& scenario, int ncpu);

// One JSON object per line to json_path() (bench_common.hpp, --json), read
// by the table printer: scenario, metric, value, p50_ms, p99_ms,
// cpu_us_per_op, rss_mib, note (+ fields of a scenario's own).
void append_json_line(const std::string& path, const nlohmann::ordered_json& fields);

namespace flows {

// One request of a closed-loop load: built from the request's sequence
// number, so any load generator can send the same stream of requests.
struct request {
  std::string method = "GET";
  std::string target;
  std::string body;  // sent as application/json when not empty
};

struct load {
  std::string scenario;
  int connections = 64;
  int seconds = 10;
  uint16_t port = 0;
  std::vector<pid_t> daemons;  // whose CPU and memory are counted
  std::function<request(uint64_t n)> make;
  // Whether the answer to request n is the expected one (200 allow, ...);
  // anything else is counted as unexpected and fails the run.
  std::function<bool(uint64_t n, int status, const std::string& body)> ok;
};

// C threads, one keep-alive connection each, back to back for D seconds
// (the request generation is load.make: the project's faster load generator
// can replace this loop without touching the scenarios). Fills the latency,
// status, CPU and memory fields of `res` like bench_common's run_load;
// `unexpected` gets the number of answers `ok` refused.
void run_closed_loop(const load& l, run_result& res, uint64_t& unexpected);

// The daemon's token secret (tests/support/daemon.cpp writes it into every
// config): the bench signs the tokens of rows it inserts with SQL.
extern const char* const token_secret_spec;

// PUT /api/v1/streamers/ID through the admin API; `extra` adds JSON fields.
void put_streamer(uint16_t port, const std::string& admin_token, int id, const std::string& host,
                  const std::string& extra = {});

// VmRSS (KiB) once the process stopped growing: no change over 1 MiB in
// `quiet_ms`, and no statement of its database still running. Throws after
// `limit_s` seconds. `db_busy_s`: when a statement was last seen running
// (seconds into the wait).
long wait_settled(pid_t pid, const std::string& dsn, int quiet_ms, int limit_s,
                  double* db_busy_s = nullptr);

// Runs bulk INSERTs into `table` with its primary key and indexes dropped,
// then builds them again exactly as they were (pg_constraint, pg_indexes):
// one sort per index instead of a million index insertions.
void insert_without_indexes(const std::string& dsn, const std::string& table,
                            const std::vector<std::string>& statements);

// Everything in `s` as a %-escaped query value (RFC 3986 unreserved kept).
std::string query_escape(const std::string& s);

// The database's name in a DSN made by create_migrated_database().
std::string db_name(const std::string& dsn);

// A JSON line with the common fields of a closed-loop run.
nlohmann::ordered_json json_of(const run_result& r, const std::string& metric, double value,
                               double ops, const std::string& note);
void emit(const nlohmann::ordered_json& line);

// A device with an approved link (POST /api/v1/links) and the Flussonic
// session that plays it (flows_auth.cpp).
struct device {
  std::string account, id, stream, token, ip, session_id;
};
constexpr int playing_accounts = 1000;  // x 2 devices: the 2 000 playing sessions
// Registers streamer 1 (host "s1") and asks a link for 2 devices of each of
// `accounts` accounts (8 threads).
std::vector<device> make_links(uint16_t port, const std::string& admin_token, int accounts);
// The query string Flussonic sends to the auth backend (FLUSSONIC.md §1).
std::string auth_target(const device& d, bool fresh, const std::string& session_id,
                        uint64_t request_number, int64_t duration, int64_t bytes);
// new_session for every device (its session_id), expecting 200 allow.
void open_sessions(uint16_t port, const std::vector<device>& devices);
// A Flussonic-like session id (UUID form) from a number.
std::string session_uuid(uint64_t n, int kind);

// The scenarios (flows_*.cpp).
int run_auth(const options& o, const std::string& server, const std::string& scenario, int ncpu);
int run_webhook(const options& o, const std::string& server, int ncpu);
int run_sync(const options& o, const std::string& server);
int run_memory(const options& o, const std::string& server);

}  // namespace flows
}  // namespace maxsess::bench
