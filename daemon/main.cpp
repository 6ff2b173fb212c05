// maxsessd: command line and wiring. Every component is built here, in one
// block, and handed its dependencies (no singletons); shutdown runs the same
// wiring backwards.
#include <nlohmann/json.hpp>

#include <csignal>
#include <cstdlib>
#include <iostream>
#include <pthread.h>
#include <sched.h>
#include <string>
#include <thread>
#include <unistd.h>
#include <vector>

#include "actors/runtime.hpp"
#include "cluster/node.hpp"
#include "cluster/startup.hpp"
#include "actors/streamer_registry.hpp"
#include "config/config.hpp"
#include "domain/log.hpp"
#include "net/flussonic_client.hpp"
#include "net/http_api.hpp"
#include "net/http_call.hpp"
#include "net/http_server.hpp"
#include "storage/health.hpp"
#include "storage/store.hpp"

using namespace maxsess;

namespace {

const char* usage = R"(maxsessd — max sessions for IPTV operators

usage:
  maxsessd serve        [--config FILE] [--ini FILE]   run the daemon
  maxsessd migrate      [--config FILE]                create or upgrade the schema
  maxsessd check-config [--config FILE] [--ini FILE]   print every configuration problem

  Jobs, run by the running daemon (cron lines of the middleware carry over):
  maxsessd playback-session:sync  [--batch-size=100] [--streamer-ids=1 --streamer-ids=2]
  maxsessd playback-session:kill  [--streamer-ids=1 --streamer-ids=2]
  maxsessd playback-session:clear [--timeout=120]

FILE defaults to $MAXSESS_CONFIG, then /etc/maxsess/maxsess.yaml.
Environment variables override the file (see docs/config.md).
)";

struct options {
  std::string command;
  std::string config_path;
  std::string ini_path;
  // job commands
  std::optional<int64_t> batch_size;
  std::vector<int64_t> streamer_ids;
  std::optional<int64_t> timeout_s;
};

bool parse_positive(const std::string& text, int64_t& out, bool allow_zero = false) {
  if (text.empty() || text.size() > 12 || text.find_first_not_of("0123456789") != std::string::npos)
    return false;
  out = std::stoll(text);
  return allow_zero || out > 0;
}

// Accepts "--key value" and "--key=value".
bool parse_args(int argc, char** argv, options& out, std::string& error) {
  if (argc < 2) {
    error = "missing command";
    return false;
  }
  out.command = argv[1];
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i];
    std::string key = arg, value;
    bool has_value = false;
    if (auto eq = arg.find('='); eq != std::string::npos) {
      key = arg.substr(0, eq);
      value = arg.substr(eq + 1);
      has_value = true;
    }
    auto take = [&](std::string& dest) {
      if (!has_value) {
        if (i + 1 >= argc) {
          error = key + " needs a value";
          return false;
        }
        value = argv[++i];
      }
      dest = value;
      return true;
    };
    if (key == "--config" || key == "-c") {
      if (!take(out.config_path)) return false;
    } else if (key == "--ini") {
      if (!take(out.ini_path)) return false;
    } else if (key == "--batch-size") {
      std::string v;
      int64_t n = 0;
      if (!take(v)) return false;
      if (!parse_positive(v, n) || n > 10000) {
        error = "--batch-size must be an integer from 1 to 10000";
        return false;
      }
      out.batch_size = n;
    } else if (key == "--streamer-ids") {
      std::string v;
      if (!take(v)) return false;
      // Repeatable, and comma-separated lists are accepted too.
      std::size_t start = 0;
      while (start <= v.size()) {
        auto comma = v.find(',', start);
        auto part = v.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
        int64_t id = 0;
        if (!parse_positive(part, id)) {
          error = "--streamer-ids takes positive integers, got '" + part + "'";
          return false;
        }
        out.streamer_ids.push_back(id);
        if (comma == std::string::npos) break;
        start = comma + 1;
      }
    } else if (key == "--timeout") {
      std::string v;
      int64_t n = 0;
      if (!take(v)) return false;
      if (!parse_positive(v, n, true)) {
        error = "--timeout takes whole seconds (e.g. 120)";
        return false;
      }
      out.timeout_s = n;
    } else {
      error = "unknown option " + key;
      return false;
    }
  }
  if (out.config_path.empty()) {
    const char* env = std::getenv("MAXSESS_CONFIG");
    out.config_path = env && *env ? env : "/etc/maxsess/maxsess.yaml";
  }
  return true;
}

bool load_config(const options& opts, config::daemon_config& cfg) {
  auto res = config::load_from_file(opts.config_path, config::process_environment(), opts.ini_path);
  if (!res.ok()) {
    std::cerr << "maxsessd: " << opts.config_path << ": " << res.problems.size()
              << " configuration problem(s):\n";
    for (auto& p : res.problems) std::cerr << "  " << p.path << ": " << p.message << "\n";
    return false;
  }
  cfg = std::move(res.config);
  return true;
}

int run_migrate(const config::daemon_config& cfg) {
  try {
    auto report = storage::migrate(cfg.storage.dsn);
    for (auto& name : report.applied) std::cout << "applied " << name << "\n";
    std::cout << "schema at version " << report.to_version
              << (report.applied.empty() ? " (already up to date)" : "") << "\n";
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "maxsessd migrate: " << e.what() << "\n";
    return 1;
  }
}

// The cores this process may run on (taskset, cgroup cpusets), not the
// machine's: CAF's scheduler gets one thread per usable core.
int usable_cores() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return CPU_COUNT(&set);
  return static_cast<int>(std::thread::hardware_concurrency());
}

void describe_metrics(metric_registry& m) {
  m.describe_counter("maxsess_link_decisions_total", "Link requests by decision.");
  m.describe_counter("maxsess_auth_decisions_total", "Flussonic auth backend answers by result.");
  m.describe_gauge("maxsess_sessions", "Session rows by status.");
  m.describe_counter("maxsess_webhook_events_total", "Webhook play events routed to accounts, by type.");
  m.describe_counter("maxsess_webhook_events_malformed_total", "Webhook entries skipped as malformed.");
  m.describe_counter("maxsess_webhook_events_duplicate_total", "Webhook events recognised as redelivered.");
  m.describe_counter("maxsess_untracked_sessions_total", "Flussonic sessions without a maxsess token (left alone).");
  m.describe_counter("maxsess_over_limit_attempts_total", "Sessions refused or closed for exceeding the limit.");
  m.describe_counter("maxsess_kills_ordered_total", "Flussonic sessions ordered closed.");
  m.describe_counter("maxsess_kills_pushed_total", "Flussonic sessions closed by an immediate kill push.");
  m.describe_counter("maxsess_streamer_runs_total", "Sync and kill runs per streamer.");
  m.describe_counter("maxsess_streamer_errors_total", "Failed sync and kill runs per streamer.");
  m.describe_counter("maxsess_sync_stopped_total",
                     "Syncs stopped before their listing was complete (nothing ended), by streamer and "
                     "reason: cap (sync_max_sessions), timeout (sync_timeout), repeated_cursor.");
  m.describe_counter("maxsess_clear_runs_total", "Clear runs.");
  m.describe_counter("maxsess_clear_errors_total", "Failed clear runs.");
  m.describe_counter("maxsess_cleared_rows_total", "Session rows deleted by clear.");
  m.describe_counter("maxsess_http_requests_total", "HTTP requests by route group and status code.");
  m.describe_counter("maxsess_fenced_writes_total", "Writes rejected because the shard's lease had moved to another node.");
  m.describe_counter("maxsess_forwarded_requests_total", "Account requests sent to the owning node, by peer.");
  m.describe_counter("maxsess_shard_takeovers_total", "Shard leases taken by this node (start-up, failover, handoff).");
  m.describe_counter("maxsess_lease_renewals_total", "Shard leases renewed.");
  m.describe_counter("maxsess_lease_losses_total", "Shard leases lost, by cause.");
  m.describe_gauge("maxsess_cluster_peers_connected", "Other nodes this node has a connection to.");
  m.describe_histogram("maxsess_http_request_duration_seconds", "HTTP request latency by route group.",
                       {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5});
}

// playback-session:{sync,kill,clear}: asks the running daemon (admin API)
// so in-memory state and the database never disagree.
int run_job(const options& opts, const config::daemon_config& cfg) {
  std::string job = opts.command.substr(std::string("playback-session:").size());
  if (job != "sync" && job != "kill" && job != "clear") {
    std::cerr << "maxsessd: unknown command " << opts.command << "\n\n" << usage;
    return 2;
  }
  nlohmann::json body = nlohmann::json::object();
  if (opts.batch_size) body["batch_size"] = *opts.batch_size;
  if (!opts.streamer_ids.empty()) body["streamer_ids"] = opts.streamer_ids;
  if (opts.timeout_s) body["timeout"] = *opts.timeout_s;

  std::string host;
  uint16_t port = 0;
  config::split_host_port(cfg.node.http_listen, host, port);
  if (host == "0.0.0.0" || host.empty()) host = "127.0.0.1";
  if (host == "::") host = "::1";
  net::http_call_options call;
  call.host = host;
  call.port = std::to_string(port);
  call.authority = cfg.node.http_listen;
  call.method = boost::beast::http::verb::post;
  call.target = "/api/v1/jobs/" + job;
  call.body = body.dump();
  call.headers.emplace_back("Authorization", "Bearer " + cfg.security.admin_token);
  call.timeout = std::chrono::minutes(5);
  net::http_answer answer;
  try {
    answer = net::http_call(call);
  } catch (const std::exception& e) {
    std::cerr << "maxsessd: cannot reach the daemon at " << cfg.node.http_listen << " ("
              << e.what() << "); is `maxsessd serve` running with this configuration?\n";
    return 3;
  }
  auto j = nlohmann::json::parse(answer.body, nullptr, false);
  if (answer.status != 200 || j.is_discarded()) {
    std::cerr << "maxsessd: the daemon answered HTTP " << answer.status << ": " << answer.body << "\n";
    return 1;
  }
  if (job == "clear") {
    if (j.value("ok", false))
      std::cout << "clear: cleared " << j.value("cleared", 0) << " session rows\n";
    else
      std::cout << "clear: FAILED: " << j.value("error", std::string()) << "\n";
  } else {
    for (auto& s : j["streamers"]) {
      std::cout << job << ": streamer " << s.value("streamer_id", 0) << ": ";
      if (!s.value("ok", false)) {
        std::cout << "FAILED: " << s.value("error", std::string()) << "\n";
      } else if (job == "sync") {
        std::cout << "listed " << s.value("listed", 0) << ", adopted " << s.value("adopted", 0)
                  << ", ended " << s.value("ended", 0) << ", killed " << s.value("killed", 0)
                  << ", untracked " << s.value("untracked", 0) << "\n";
      } else {
        std::cout << "closed " << s.value("closed", 0) << " sessions\n";
      }
    }
    if (j["streamers"].empty()) std::cout << job << ": no streamers registered\n";
  }
  return j.value("ok", false) ? 0 : 1;
}

int run_serve(const config::daemon_config& cfg) {
  // Block the stop signals in every thread started from here on; the main
  // thread waits for them with sigwait.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  system_clock_source clock;
  logger log(std::cerr, parse_log_level(cfg.log.level).value_or(log_level::info),
             cfg.log.format == "json", clock);

  std::string why;
  auto signer = link_signer::from_spec(cfg.security.token_secret, &why);
  if (!signer) {
    log.error("main", "security.token_secret is invalid", {{"why", why}});
    return 2;
  }

  // The schema must be the one this build knows; `migrate` makes it so.
  actors::streamer_directory streamers;
  try {
    int have = storage::current_schema_version(cfg.storage.dsn);
    int want = storage::latest_schema_version();
    if (have != want) {
      log.error("main", have < want ? "database schema is older than this build: run `maxsessd migrate`"
                                    : "database schema is newer than this build: upgrade maxsessd",
                {{"schema_version", std::to_string(have)}, {"expected", std::to_string(want)}});
      return 1;
    }
    storage::session_store db(cfg.storage.dsn);
    streamers.replace_all(db.list_streamers());
  } catch (const std::exception& e) {
    log.error("main", "cannot use the database", {{"error", e.what()}});
    return 1;
  }

  // Cluster mode (docs/cluster.md): the database's cluster shape must be
  // ours; single-node mode refuses a cluster's database.
  cluster::node_options cl;
  if (cfg.cluster.enabled) {
    cl.node_id = cfg.node.id;
    cl.http_address = cfg.node.http_listen;
    config::split_host_port(cfg.cluster.listen, cl.listen_host, cl.listen_port);
    cl.seeds = cfg.cluster.seeds;
    cl.shards = cfg.cluster.shards;
    cl.timing = cluster::timing_for(cfg.cluster.lease_ttl);
    cl.dsn = cfg.storage.dsn;
    cl.request_timeout = cfg.node.request_timeout;
    if (auto why = cluster::join_cluster(cl); !why.empty()) {
      log.error("main", "cannot join the cluster", {{"why", why}});
      return 1;
    }
  } else if (auto why = cluster::check_single_node(cfg.storage.dsn); !why.empty()) {
    log.error("main", "refusing to start", {{"why", why}});
    return 1;
  }
  // A database that cannot answer SELECT 1 within request_timeout cannot
  // answer a request in time either: not ready.
  storage::db_health db_health(cfg.storage.dsn, std::chrono::seconds(1), cfg.node.request_timeout,
                               [&log](bool ok, const std::string& error) {
                                 if (ok)
                                   log.info("main", "database reachable again");
                                 else
                                   log.error("main", "database unreachable", {{"error", error}});
                               });

  metric_registry metrics;
  describe_metrics(metrics);
  storage::reader_pool reader(cfg.storage.dsn, cfg.storage.read_connections);
  // Cluster mode: a writer stalled inside a transaction (frozen node) must
  // not hold its lease-row locks past the point its lease can expire.
  storage::batch_writer writer(cfg.storage.dsn, cfg.storage.batch_max_rows,
                               cfg.storage.batch_max_delay,
                               cfg.cluster.enabled ? cfg.cluster.lease_ttl / 2 : std::chrono::milliseconds(0),
                               cfg.storage.write_connections);
  actors::pg_account_store store(reader, writer);
  net::flussonic_client flussonic(std::chrono::seconds(5));

  actors::runtime_options rt_opts;
  const auto& ps = cfg.playback_session;
  rt_opts.decisions.enabled = ps.enabled;
  rt_opts.decisions.default_max_sessions = ps.default_max_sessions;
  rt_opts.decisions.pending_ttl = ps.pending_ttl;
  rt_opts.decisions.stale_after = ps.stale_after;
  rt_opts.decisions.progress_write_delay = ps.progress_write_delay;
  rt_opts.decisions.link_ttl = ps.link_ttl;
  rt_opts.idle_passivate = ps.idle_passivate;
  rt_opts.request_timeout = cfg.node.request_timeout;
  rt_opts.shards = cfg.cluster.shards;
  rt_opts.scheduler_threads = std::max(2, usable_cores());
  rt_opts.webhooks = ps.webhooks;
  rt_opts.sync_interval = ps.sync_interval;
  rt_opts.batch_size = ps.batch_size;
  rt_opts.sync_max_sessions = ps.sync_max_sessions;
  rt_opts.sync_timeout = ps.sync_timeout;
  // A job waits for its streamers' runs, which stop themselves at
  // sync_timeout; the job gives up a little later, never first.
  rt_opts.job_timeout = std::max(rt_opts.job_timeout, ps.sync_timeout + std::chrono::seconds(15));
  rt_opts.kill_interval = ps.kill_interval;
  rt_opts.clear_interval = ps.clear_interval;
  rt_opts.clear_timeout = ps.clear_timeout;
  // Fenced writes reach the cluster node, which exists after the runtime;
  // no shard is owned (so nothing is written) before it is set.
  cluster::node* cluster_node = nullptr;
  if (cfg.cluster.enabled) {
    rt_opts.cluster = true;
    rt_opts.node_id = cfg.node.id;
    rt_opts.configure = cluster::configure_caf;
    rt_opts.on_fenced = [&cluster_node](int shard, int64_t epoch) {
      if (cluster_node) cluster_node->fenced(shard, epoch);
    };
  }
  actors::actor_runtime runtime(
      rt_opts, {clock, *signer, streamers, store, log, metrics, &reader, &flussonic});
  actors::streamer_registry registry(streamers, reader,
                                     [&runtime] { runtime.streamers().streamers_changed(); });
  std::unique_ptr<cluster::node> node;
  if (cfg.cluster.enabled) {
    // Other nodes' streamer changes reach this one within a lease round.
    cl.each_round = [&registry] { registry.reload(); };
    node = std::make_unique<cluster::node>(cl, runtime.hooks(), log, metrics);
    cluster_node = node.get();
    try {
      node->start();
    } catch (const std::exception& e) {
      log.error("main", "cannot start the cluster node", {{"error", e.what()}});
      node.reset();
      runtime.shutdown();
      return 1;
    }
  }

  net::api_options api_opts{cfg.security.admin_token, cfg.security.client_tokens, ps.link_ttl,
                            ps.auth_duration};
  // Gauges read at scrape time: sessions by status (the database is the
  // whole truth across nodes) and account actors alive here.
  auto scrape = [&reader, &metrics](std::function<void(std::string)> done) {
    reader.post(
        [&metrics, done](storage::session_store& db) {
          for (auto status : {"pending", "active", "ended", "killed"})
            metrics.set("maxsess_sessions", {{"status", status}}, 0);
          for (auto& [status, n] : db.count_by_status())
            metrics.set("maxsess_sessions", {{"status", status}}, static_cast<double>(n));
          done({});
        },
        [done](const std::string&) { done({}); });
  };
  auto ready_check = [&db_health, &node] { return db_health.ok() && (!node || node->in_cluster()); };
  std::function<void(std::function<void(std::string)>)> cluster_status =
      [&node, &cfg](std::function<void(std::string)> done) {
        if (node) return node->status(std::move(done));
        done(nlohmann::json{{"node", cfg.node.id}, {"enabled", false}}.dump());
      };
  net::http_api api(api_opts, {runtime.accounts(), registry, runtime.streamers(), *signer, clock,
                               log, metrics, scrape, ready_check, cluster_status});

  net::server_options http_opts;
  uint16_t port = 0;
  config::split_host_port(cfg.node.http_listen, http_opts.host, port);
  http_opts.port = port;
  http_opts.threads = cfg.node.http_threads;
  http_opts.body_limit = cfg.node.http_body_limit;
  http_opts.read_timeout = cfg.node.http_read_timeout;
  // The server's own timeout per request. Link and auth requests to a local
  // owner have no other (they skip CAF's request timeout, see
  // actors/protocol.hpp): request_timeout + 1 s answers 503 when a write
  // hangs. Elsewhere it sits above the actors' own timeout, so their
  // "unavailable" answer normally wins. Jobs (sync/kill on every streamer)
  // take longer than one account request.
  http_opts.handler_timeout = cfg.node.request_timeout + std::chrono::seconds(1);
  http_opts.handler_timeout_for = [account = http_opts.handler_timeout,
                                   job = rt_opts.job_timeout + std::chrono::seconds(5)](const net::request& r) {
    return r.target().starts_with("/api/v1/jobs") ? job : account;
  };
  net::http_server server(http_opts, [&api](net::request req, std::string remote, net::reply_fn reply) {
    api.handle(std::move(req), std::move(remote), std::move(reply));
  });
  try {
    server.start();
  } catch (const std::exception& e) {
    log.error("main", "cannot listen", {{"address", cfg.node.http_listen}, {"error", e.what()}});
    runtime.shutdown();
    return 1;
  }

  api.set_ready(true);
  log.info("main", "ready",
           {{"node", cfg.node.id},
            {"cluster", cfg.cluster.enabled ? cfg.cluster.listen : "off"},
            {"http", http_opts.host + ":" + std::to_string(server.bound_port())},
            {"streamers", std::to_string(streamers.list().size())},
            {"playback_session.enabled", ps.enabled ? "true" : "false"}});

  int sig = 0;
  sigwait(&stop_signals, &sig);
  log.info("main", "stopping", {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"}});

  // A second signal or a stuck step must not keep the process forever.
  std::thread([] {
    std::this_thread::sleep_for(std::chrono::seconds(30));
    std::cerr << "maxsessd: shutdown took over 30 s, exiting\n";
    _exit(1);
  }).detach();

  api.set_ready(false);
  // Hand every shard to the other nodes first (drain, flush, release), so
  // they take over at once rather than after the lease TTL; requests that
  // still arrive here are forwarded to the new owners meanwhile.
  if (node) node->leave(cl.timing.ttl * 2);
  runtime.streamers().stop_jobs();        // a running sync stops at its next page, its job answers
  server.stop(std::chrono::seconds(10));  // stop accepting, answer in-flight requests
  if (node) node->stop();
  runtime.shutdown();                     // actors done: no new writes after this
  writer.flush_and_stop();                // every acknowledged row is committed
  reader.stop();
  auto st = writer.get_stats();
  log.info("main", "stopped", {{"commits", std::to_string(st.commits)}, {"rows", std::to_string(st.ops)}});
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  options opts;
  std::string error;
  if (argc >= 2 && (std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h" ||
                    std::string(argv[1]) == "help")) {
    std::cout << usage;
    return 0;
  }
  if (!parse_args(argc, argv, opts, error)) {
    std::cerr << "maxsessd: " << error << "\n\n" << usage;
    return 2;
  }
  config::daemon_config cfg;
  if (opts.command == "check-config") {
    if (!load_config(opts, cfg)) return 1;
    std::cout << opts.config_path << ": configuration OK\n";
    return 0;
  }
  if (opts.command == "migrate") {
    if (!load_config(opts, cfg)) return 2;
    return run_migrate(cfg);
  }
  if (opts.command.rfind("playback-session:", 0) == 0) {
    if (!load_config(opts, cfg)) return 2;
    return run_job(opts, cfg);
  }
  if (opts.command == "serve") {
    if (!load_config(opts, cfg)) return 2;
    return run_serve(cfg);
  }
  std::cerr << "maxsessd: unknown command " << opts.command << "\n\n" << usage;
  return 2;
}
