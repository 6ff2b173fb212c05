#pragma once
// What maxsess_bench's single-node matrix (bench.cpp) and its cluster modes
// (cluster.cpp) share: the options, the safety net (watchdog, tracked
// processes), /proc accounting, the set-up of a database, and the
// closed-loop load itself. docs/performance.md describes the tool.
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "tests/bench/loadgen.hpp"
#include "tests/support/http_client.hpp"

namespace maxsess::bench {

using clk = std::chrono::steady_clock;
using test::http_client;
using test::http_reply;

struct options {
  std::vector<std::string> scenarios{"new"};
  std::vector<int> connections{8};
  int seconds = 10;
  int accounts = 1000;
  int devices = 2;
  std::string dsn;
  bool fast = false;
  int http_threads = -1;  // -1: the daemon's own setting
  bool debug_log = false;
  std::map<std::string, std::string> daemon_env;
  // cluster modes (cluster.cpp)
  bool cluster_compare = false;
  int nodes = 3;                        // --nodes: cluster size for the cluster modes
  int failover_kills = 0;               // --failover N
  int failover_freezes = 0;             // --freeze N
  int probe_timeout_ms = 1000;          // --probe-timeout-ms
  int probe_gap_ms = 20;                // --probe-gap-ms
  int failover_load = 0;                // --failover-load: writing threads during the rounds
  std::string lease_ttl;                // --lease-ttl (MAXSESS__CLUSTER__LEASE_TTL), "" = default
  std::vector<std::vector<int>> pin;    // --pin: CPUs per node, node i gets pin[i]
  std::vector<int> client_pin;          // --client-pin: CPUs of the load threads
  std::vector<int> pg_pin;              // --pg-pin: CPUs of PostgreSQL (same machine)
  std::string log_dir;                  // --log-dir: keep the cluster nodes' logs there
  // make bench (scripts/bench.sh)
  double zipf_s = 1.0;                  // --zipf-s: links suite's account popularity
  std::string answer_sample;            // --answer-sample: write one link answer's body there
  bool sync_curl = true;                // --no-curl: the sync without its curl loop anchor
  bool scenarios_given = false;
};

options parse(int argc, char** argv);

// --json FILE ("" = none): every measured figure appends one JSON line there
// (loadgen::figure's shape). A process-wide setting rather than an option
// field so that every scenario family writes to the same file the same way.
std::string& json_path();
// --loadgen-threads N (default 1): the load generator's event-loop threads
// for every window that does not set its own (load_plan::loadgen_threads).
int& loadgen_threads();
extern const char* const usage_text;

// ---------------------------------------------------------------- safety net

extern std::atomic<bool> g_interrupted;
extern std::string g_pg_dir;   // private server's state folder, if any
extern pid_t g_postmaster;     // PostgreSQL's postmaster when on this machine, else -1

// Processes the watchdog SIGKILLs (after SIGCONT) when the run overstays its
// budget or on ^C.
void track_pid(pid_t pid);
void untrack_pid(pid_t pid);
// Starts the watchdog thread; stop_watchdog() ends it.
void start_watchdog(clk::time_point deadline);
void stop_watchdog();

std::string shell_quote(const std::string& s);
void stop_private_pg();

// ------------------------------------------------------------------ CPUs

// "0-3", "0-3+8-9" (+ or , between ranges) -> {0,1,2,3,...}; throws on junk.
std::vector<int> parse_cpu_list(const std::string& s);
// The taskset -c form: "0,1,2,3".
std::string cpu_list_text(const std::vector<int>& cpus);
void pin_this_thread(const std::vector<int>& cpus);  // no-op when empty
// sched_setaffinity on every thread of `pid`; false when one failed (a
// process or thread that is gone meanwhile does not count).
bool pin_process(pid_t pid, const std::vector<int>& cpus);
// The postmaster and every process whose parent it is.
std::vector<pid_t> pg_processes();

// ------------------------------------------------------------------ /proc

std::string proc_field(pid_t pid, const std::string& key);  // /proc/PID/status, kB
double kb_to_mib(const std::string& kb);
double proc_cpu_seconds(pid_t pid, double* sys = nullptr);  // utime+stime, s
double pg_cpu_seconds();                                     // -1: not on this machine
pid_t read_postmaster_pid(const std::string& pg_dir);
pid_t postmaster_of(const std::string& server_dsn);  // via SHOW data_directory; -1 when unknown
struct cpu_sample {
  unsigned long long busy = 0, total = 0;
};
cpu_sample system_cpu();
double self_cpu_seconds();
// /proc/PID/stat's state letter ('R', 'S', 'T', 'Z', …); 0 when there is no such process.
char proc_state(pid_t pid);

// ------------------------------------------------------------- the load

std::string link_body(const std::string& account, const std::string& device,
                      const std::string& stream);

struct run_result {
  std::string scenario;
  std::string label;  // cluster modes: which set-up ("1 node, cluster off", …)
  int connections = 0;
  int nodes = 1;
  double elapsed_s = 0;
  uint64_t requests = 0;
  std::map<int, uint64_t> statuses;
  uint64_t errors = 0;
  uint64_t unexpected = 0;  // answers the plan's check (or expected status) refused
  uint64_t late = 0;  // open loop: requests of the window unanswered at its end (in the percentiles)
  std::string first_error, first_unexpected;
  std::string sample_body;  // the first 2xx answer's body
  double p50 = 0, p90 = 0, p99 = 0, max = 0, mean = 0;  // ms
  double hwm_mib = 0, rss_mib = 0;                       // summed over the daemons
  double daemon_cpu_s = 0, daemon_sys_s = 0, client_cpu_s = 0, pg_cpu_s = -1;
  double system_busy_s = 0;  // CPU-seconds used by everything on the machine
  double system_busy = 0;    // the same as a fraction of all cores
  std::string loadavg;       // /proc/loadavg before the window
  long long rows_before = 0, rows_after = 0;
  long long commits = -1, rows_written = -1;
  long long wal_syncs = -1;
  long long forwarded = -1;  // cluster: maxsess_forwarded_requests_total, window delta
  int exit_code = 0;
};

struct load_plan {
  std::string scenario;  // new | zap | deny
  int connections = 8;
  int seconds = 10;
  int accounts = 1000;
  int devices = 2;
  std::string device_tag;         // new/deny: makes device ids unique per window
  std::vector<uint16_t> ports;    // client thread t talks to ports[t % size]
  std::vector<int> client_cpus;   // empty: load threads not pinned
  std::vector<pid_t> daemons;     // whose CPU and memory are counted
  int loadgen_threads = 0;        // event-loop threads driving the connections; 0: loadgen_threads()
  bool open_loop = false;         // fixed rate (below), latency from the intended send time
  double rate = 0;                // open loop: requests/s over all connections
  int warmup_ms = 0;              // load before the window, not recorded
  // When set, judges every answer of the window (request sequence number,
  // status, body) instead of the expected status; res.unexpected counts
  // the ones it refused.
  std::function<bool(uint64_t seq, int status, std::string_view body)> check;
};

// C keep-alive connections driven by the loadgen (closed loop unless
// plan.open_loop) for D seconds; fills the latency, status, CPU and memory
// fields of `res` (not rows, commits, WAL). The requests of plan.scenario
// (new, cold, zap, deny).
void run_load(const load_plan& plan, run_result& res);
// The same with the caller's requests; `expected`: the status every answer should have.
void run_load_with(const load_plan& plan, const loadgen::request_fn& make, int expected,
                   run_result& res);
// One JSON line of the bench's contract (loadgen::figure) for a window:
// value req/s, daemon CPU per request, daemon RSS; the note says the rest.
void write_json(const options& o, const std::string& scenario, const run_result& r,
                const std::string& note = "");

std::map<std::string, std::string> admin_headers(const std::string& token);
void expect(const http_reply& r, int status, const std::string& what);

// Runs fn(client, i) for i in [0, n) on `threads` threads; thread t talks to
// ports[t % size]. Throws the first failure.
void parallel_for(const std::vector<uint16_t>& ports, int n, int threads,
                  const std::function<void(http_client&, int)>& fn);

// The set-up daemon of a scenario (single node, cluster off): streamer 1,
// the accounts' limits, the sessions the scenario starts from; SIGTERM.
void set_up_database(const options& o, const std::string& dsn, const std::string& scenario);
// GET /api/v1/accounts/aK for every account (loads the actors; reads only).
void warm_accounts(const options& o, const std::vector<uint16_t>& ports, const std::string& token);

// Environment of every measured maxsessd (log level, pending_ttl,
// --daemon-env, --http-threads).
std::map<std::string, std::string> daemon_env(const options& o);

long long count_rows(const std::string& dsn);
long long wal_syncs(const std::string& server);
int parse_log_counter(const std::string& log, const std::string& key);
void drop_database(const std::string& server, const std::string& dsn);

std::string fmt(double v, int prec = 1);
double other_cpu(const run_result& r);  // machine busy minus client, daemons, PostgreSQL
// The per-run block printed after each window.
void print_detail(const run_result& r, int ncpu);
std::string statuses_text(const run_result& r);

}  // namespace maxsess::bench
