#pragma once
// The daemon's configuration (PRODUCT.md §5): a plain struct with defaults.
// Loaded from one YAML file, then environment overrides (MAXSESS_*), then an
// optional MinistraPRO-style playback_session.ini whose
// playback_session_enabled is honoured. Every problem is reported with its
// key path and the fix; unknown keys are rejected.
#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace maxsess::config {

using duration = std::chrono::milliseconds;

struct node_section {
  std::string id = "node-1";
  std::string http_listen = "127.0.0.1:8080";  // host:port
  // Beast I/O threads; 0 = one per two usable cores, at least 2 (an auth
  // check playing on is answered on its I/O thread: they bound its rate).
  int http_threads = 0;
  // CAF's scheduler: "stealing" (a queue per worker, idle ones steal) or
  // "sharing" (one queue behind one lock, no idle polling). Stealing was
  // 15-17 % faster on 16 cores and no slower on 2 (docs/performance.md,
  // "Seventeenth round").
  std::string scheduler_policy = "stealing";
  std::size_t http_body_limit = 64 * 1024;     // bytes per request body
  duration http_read_timeout = std::chrono::seconds(30);
  duration request_timeout = std::chrono::seconds(5);  // HTTP -> actor answer
};

struct storage_section {
  std::string dsn;                 // libpq connection string (required)
  int batch_max_rows = 256;        // rows per group commit
  // 0: commit at once; batches form from what queued during the previous
  // commit (measured faster and lower-latency, docs/performance.md).
  duration batch_max_delay = std::chrono::milliseconds(0);
  int read_connections = 2;        // connections for loads (account state, admin)
  // Writer lanes, each a connection + thread committing on its own: one
  // lane's fsync wait overlaps another's work (an account always uses one).
  // 0: write_lanes_for() picks from the cores.
  int write_connections = 0;
  // `serve` retries an unreachable database this long at start-up (with
  // back-off, one log line per try) before it exits 1: PostgreSQL starting
  // after maxsessd at boot is normal, not fatal. 0 = fail at once.
  duration startup_wait = std::chrono::seconds(60);
};

struct security_section {
  // Bearer token(s) of the /api/v1 admin routes, comma-separated for several
  // at once (rotation). This or admin_token_file is required.
  std::string admin_token;
  std::string admin_token_file;            // one token per line; re-read on SIGHUP
  std::vector<std::string> client_tokens;  // with client_tokens_file's: empty = device API open
  std::string client_tokens_file;          // one token per line; re-read on SIGHUP
  std::string token_secret;                // "kid:secret[,kid:secret]" (required, or token_secret_file)
  // The same keys from a file, one per line (read at start): after loading,
  // token_secret holds what the file says.
  std::string token_secret_file;
  // Streamer-side calls that prove no registered streamer: "open" serves
  // them, "registered" refuses them (docs/security.md).
  std::string streamer_calls = "open";
};

struct playback_section {
  bool enabled = true;
  // "enforce" refuses and kills for the limit; "shadow" decides the same way
  // but approves, flags the session over_limit and records would_deny /
  // would_kill instead (docs/shadow.md). Re-read on SIGHUP.
  std::string mode = "enforce";
  std::string ini;  // path of a playback_session.ini (optional)
  int64_t default_max_sessions = 3;
  duration pending_ttl = std::chrono::seconds(60);
  duration stale_after = std::chrono::seconds(180);
  // Progress of a playing session from auth update_session (bytes,
  // duration, last seen) waits up to this long in memory before its row is
  // written (0 = before each answer). Decisions are always written first.
  duration progress_write_delay = std::chrono::seconds(1);
  duration link_ttl = std::chrono::minutes(10);
  duration auth_duration = std::chrono::seconds(30);
  bool webhooks = false;
  duration sync_interval = std::chrono::seconds(60);
  int batch_size = 100;
  // One sync of one streamer stops (and ends nothing) when the streamer lists
  // more sessions than this, or when it has not finished within sync_timeout:
  // a Flussonic API that pages forever must not grow the daemon without bound
  // (docs/flussonic.md, "How a sync runs").
  int64_t sync_max_sessions = 200000;
  duration sync_timeout = std::chrono::seconds(60);
  duration kill_interval = std::chrono::seconds(300);
  duration clear_interval = std::chrono::hours(24);
  duration clear_timeout = std::chrono::seconds(120);
  // Audit events (denials, kills, evictions) older than this are deleted by
  // the clear job; 0 = kept for ever.
  duration events_keep = std::chrono::hours(24 * 30);
  duration idle_passivate = std::chrono::seconds(60);  // account actor with no live session
};

struct cluster_section {
  bool enabled = false;
  std::string listen;               // host:port for CAF remoting
  std::vector<std::string> seeds;   // host:port of other nodes
  int shards = 256;
  duration lease_ttl = std::chrono::seconds(4);  // renewed every lease_ttl/4 (docs/cluster.md)
};

struct log_section {
  std::string level = "info";   // debug|info|warn|error
  std::string format = "text";  // text|json
};

struct daemon_config {
  node_section node;
  storage_section storage;
  security_section security;
  playback_section playback_session;
  cluster_section cluster;
  log_section log;
};

// One problem, with the YAML key path ("playback_session.pending_ttl") or the
// environment variable / ini key it came from, and what to do about it.
struct problem {
  std::string path;
  std::string message;
};

struct load_result {
  daemon_config config;
  std::vector<problem> problems;  // empty = valid
  bool ok() const { return problems.empty(); }
};

using environment = std::map<std::string, std::string>;

// Reads the process environment (only MAXSESS_* variables).
environment process_environment();

// Parses YAML text; `source` names it in messages. Applies env overrides,
// the ini file (from `ini_override` if non-empty, else playback_session.ini),
// then validates everything. Never throws.
// load_from_string names the text "<file>" in messages; load_from_file names
// it by its path and resolves a relative playback_session.ini written in the
// file against the file's folder (one from the environment or ini_override
// against the working directory). Afterwards playback_session.ini holds the
// path that was read (empty if none), and log.level / log.format are
// lower-case. Unparseable YAML gives exactly one problem (path = source).
// Docs: docs/config.md.
load_result load_from_string(const std::string& yaml_text, const environment& env,
                             const std::string& ini_override = {});
load_result load_from_file(const std::string& path, const environment& env,
                           const std::string& ini_override = {});

// What node.http_threads comes to for a process that may use `cores` cores
// (taskset, cpusets): 0 = one I/O thread per two cores, at least 2.
int http_threads_for(const node_section& node, int cores);

// What storage.write_connections comes to for a process that may use `cores`
// cores: 0 = one writer lane per two cores, 2 to 8 (on 16 cores 8 lanes took
// durable link decisions from 14 k to 22 k a second, 16 did no better:
// docs/performance.md, "Nineteenth round").
int write_lanes_for(const storage_section& storage, int cores);

// Every bearer token the security section names, in order, duplicates
// dropped: admin_token split on commas, then the lines of admin_token_file;
// client_tokens, then the lines of client_tokens_file. A token file holds one
// token per line; blank lines and lines starting with '#' are skipped,
// blanks around a token ignored. A named file that cannot be read, or holds
// no token (an emptied client file must not open the device API), or a token
// with blanks inside, is a problem (key path, file, line; a token is never
// quoted). The daemon calls this at start and on SIGHUP; load_* report its
// problems too.
struct bearer_tokens {
  std::vector<std::string> admin;
  std::vector<std::string> client;
};
bearer_tokens read_bearer_tokens(const security_section& security, std::vector<problem>* problems);

// "path: message", the form `maxsessd check-config` prints.
std::string to_string(const problem& p);

// The effective configuration as YAML that load_from_string accepts back.
// With redact_secrets, admin_token, client_tokens, token_secret and the
// DSN's password are replaced by REDACTED (for logs and check-config); the
// token files' paths are shown (their contents never are).
std::string to_yaml(const daemon_config& config, bool redact_secrets = true);

// "30s", "5m", "24h", "250ms", "1h30m"; a bare integer means seconds.
// Units h, m, s, ms, largest first, each at most once; no sign, no fraction.
// format_duration gives the shortest form that parse_duration reads back
// ("90m" rather than "1h30m", "0s" for zero).
// At most max_duration (100 years): the daemon adds durations to the time
// of day and multiplies them (stale_after ≥ 3 × auth_duration), and a
// longer one overflowed that arithmetic (UBSan, found by the config_load
// fuzz target: `auth_duration: 8888888999999990`).
inline constexpr duration max_duration{100LL * 365 * 24 * 3'600'000};
bool parse_duration(const std::string& text, duration& out);
std::string format_duration(duration d);

// Splits "host:port" ("[::1]:8080" too). False on a bad port or empty host.
// Port 1-65535 (0 is refused); IPv6 hosts need brackets; outputs are left
// untouched on failure.
bool split_host_port(const std::string& text, std::string& host, uint16_t& port);

}  // namespace maxsess::config
