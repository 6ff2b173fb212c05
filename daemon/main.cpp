// maxsessd: command line and wiring. Every component is built here, in one
// block, and handed its dependencies (no singletons); shutdown runs the same
// wiring backwards.
#include <nlohmann/json.hpp>

#include <atomic>
#include <csignal>
#include <cstdlib>
#include <iostream>
#include <mutex>
#include <pthread.h>
#include <sstream>
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
#include "daemon/cli.hpp"
#include "daemon/sd_notify.hpp"
#include "daemon/status.hpp"
#include "daemon/version.hpp"
#include "domain/audit.hpp"
#include "domain/log.hpp"
#include "net/flussonic_client.hpp"
#include "net/http_api.hpp"
#include "net/http_call.hpp"
#include "net/http_server.hpp"
#include "net/status_page.hpp"
#include "storage/health.hpp"
#include "storage/store.hpp"

using namespace maxsess;

namespace {

using cli::options;

bool load_config(const options& opts, config::daemon_config& cfg) {
  auto res = config::load_from_file(opts.config_path, config::process_environment(), opts.ini_path);
  if (!res.ok()) {
    std::cerr << "maxsessd: " << opts.config_path << ": " << res.problems.size()
              << " configuration problem(s):\n";
    bool unreadable = false;
    for (auto& p : res.problems) {
      std::cerr << "  " << p.path << ": " << p.message << "\n";
      unreadable |= p.message.rfind("cannot read the configuration file", 0) == 0;
    }
    if (unreadable) std::cerr << "maxsessd: " << cli::config_hint(opts) << "\n";
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
  m.describe_counter("maxsess_streamer_calls_refused_total",
                     "Auth backend and webhook calls refused by the streamer access rules, by endpoint and reason (docs/security.md).");
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
  m.describe_counter("maxsess_cleared_events_total", "Audit events deleted by clear (playback_session.events_keep).");
  m.describe_counter("maxsess_progress_journal_folded_total",
                     "Progress journal entries (webhook progress of active sessions) folded into the session "
                     "rows and deleted.");
  m.describe_counter("maxsess_progress_journal_repaired_rows_total",
                     "Session rows the journal fold had to update: their owner had not written that progress "
                     "(it died, or its write failed).");
  m.describe_counter("maxsess_progress_journal_errors_total", "Failed journal folds (tried again 2 s later).");
  m.describe_counter("maxsess_http_requests_total", "HTTP requests by route group and status code.");
  m.describe_counter("maxsess_fenced_writes_total", "Writes rejected because the shard's lease had moved to another node.");
  m.describe_counter("maxsess_forwarded_requests_total", "Account requests sent to the owning node, by peer.");
  m.describe_counter("maxsess_shard_takeovers_total", "Shard leases taken by this node (start-up, failover, handoff).");
  m.describe_counter("maxsess_lease_renewals_total", "Shard leases renewed.");
  m.describe_counter("maxsess_lease_losses_total", "Shard leases lost, by cause.");
  m.describe_gauge("maxsess_cluster_peers_connected", "Other nodes this node has a connection to.");
  m.describe_gauge("maxsess_shards_owned", "Account shards this node holds the lease of (cluster mode).");
  m.describe_gauge("maxsess_ready", "1 while GET /readyz answers 200 (serving, database up, in the cluster), else 0.");
  m.describe_gauge("maxsess_start_time_seconds", "Unix time this maxsessd started serving.");
  m.describe_gauge("maxsess_build_info", "Always 1; the version and git commit of this maxsessd.");
  m.set("maxsess_build_info", {{"version", build_version()}, {"commit", build_commit()}}, 1);
  m.describe_gauge("maxsess_streamer_api_up",
                   "1 when the streamer's last Flussonic API call (sync, kill) answered, 0 when it failed.");
  m.describe_gauge("maxsess_streamer_last_sync_timestamp_seconds",
                   "Unix time of the streamer's last complete sync run on this node.");
  m.describe_gauge("maxsess_streamer_last_error_timestamp_seconds",
                   "Unix time of the streamer's last failed Flussonic API call on this node.");
  m.describe_gauge("maxsess_playback_mode",
                   "1 for the playback_session.mode in force on this node (enforce or shadow), 0 for the other.");
  m.describe_counter("maxsess_shadow_decisions_total",
                     "Shadow mode: what enforce would have done instead, by decision (would_deny, would_kill) "
                     "and reason (max_sessions_reached, reused).");
  m.describe_gauge("maxsess_database_up",
                   "1 while PostgreSQL answers this node's health check (every second), else 0.");
  // Counters without labels show 0 from the start (increase() alerts need a
  // sample before the first increment); labelled ones appear with their label.
  for (const char* name :
       {"maxsess_webhook_events_malformed_total", "maxsess_webhook_events_duplicate_total",
        "maxsess_over_limit_attempts_total", "maxsess_kills_ordered_total", "maxsess_kills_pushed_total",
        "maxsess_clear_runs_total", "maxsess_clear_errors_total", "maxsess_cleared_rows_total",
        "maxsess_cleared_events_total", "maxsess_progress_journal_folded_total",
        "maxsess_progress_journal_repaired_rows_total", "maxsess_progress_journal_errors_total",
        "maxsess_fenced_writes_total", "maxsess_shard_takeovers_total", "maxsess_lease_renewals_total"})
    m.zero(name);
  // Labelled, but with a fixed set of labels: every kind shows 0 from the
  // start like the counters above.
  m.describe_counter("maxsess_audit_events_total",
                     "Audit events recorded (denials, kills, evictions...), by kind (docs/http_api.md).");
  for (auto kind : all_audit_kinds) m.zero("maxsess_audit_events_total", {{"kind", to_string(kind)}});
  m.describe_counter("maxsess_audit_events_lost_total",
                     "Audit events of auth refusals not recorded: the refusal was answered from memory "
                     "while the database could not take the event.");
  m.zero("maxsess_audit_events_lost_total");
  m.describe_histogram("maxsess_http_request_duration_seconds", "HTTP request latency by route group.",
                       {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5});
}

// playback-session:{sync,kill,clear}: asks the running daemon (admin API)
// so in-memory state and the database never disagree.
int run_job(const options& opts, const config::daemon_config& cfg) {
  std::string job = opts.command.substr(std::string("playback-session:").size());
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
  // The first admin token (admin_token, then admin_token_file's lines).
  const auto tokens = config::read_bearer_tokens(cfg.security, nullptr);
  if (tokens.admin.empty()) {
    std::cerr << "maxsessd: no admin token to call the daemon with (security.admin_token or "
                 "security.admin_token_file)\n";
    return cli::usage_error;
  }
  call.headers.emplace_back("Authorization", "Bearer " + tokens.admin.front());
  call.timeout = std::chrono::minutes(5);
  net::http_answer answer;
  try {
    answer = net::http_call(call);
  } catch (const std::exception& e) {
    std::cerr << "maxsessd: cannot reach the daemon at " << cfg.node.http_listen << " ("
              << e.what() << "); is `maxsessd serve` running with this configuration?\n";
    return cli::unreachable;
  }
  auto j = nlohmann::json::parse(answer.body, nullptr, false);
  if (answer.status == 401 || answer.status == 403) {
    // The job uses the admin token of *this* process's configuration: a
    // cron line does not have the daemon's environment (docs/cli.md).
    std::cerr << "maxsessd: the daemon refused the admin token (HTTP " << answer.status
              << "); give this command the daemon's token: security.admin_token_file (or "
                 "security.admin_token) in the file given by --config, or MAXSESS_ADMIN_TOKEN in "
                 "the cron line's environment\n";
    return cli::unreachable;
  }
  if (answer.status != 200 || j.is_discarded()) {
    std::cerr << "maxsessd: the daemon answered HTTP " << answer.status << ": " << answer.body << "\n";
    return cli::unreachable;
  }
  if (job == "clear") {
    if (j.value("ok", false))
      std::cout << "clear: cleared " << j.value("cleared", 0) << " session rows, "
                << j.value("cleared_events", 0) << " audit events\n";
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
  return j.value("ok", false) ? cli::ok : cli::failed;
}

// At boot PostgreSQL may come up after maxsessd: retry a connection failure
// for storage.startup_wait (back-off 1 s doubling to 10 s, one line per try)
// instead of exiting at once into systemd's restart loop. Any other failure
// (wrong schema) is reported by the caller right after.
// SIGTERM/SIGINT (blocked, as in the whole of serve) end the wait at once.
enum class db_wait { ready, gave_up, stopped };
db_wait wait_for_database(const config::daemon_config& cfg, logger& log, const sigset_t& stop_signals) {
  const auto give_up = std::chrono::steady_clock::now() + cfg.storage.startup_wait;
  auto pause = std::chrono::seconds(1);
  for (int attempt = 1;; ++attempt) {
    try {
      storage::current_schema_version(cfg.storage.dsn);
      if (attempt > 1) log.info("main", "database reachable", {{"attempts", attempt}});
      return db_wait::ready;
    } catch (const std::exception& e) {
      auto now = std::chrono::steady_clock::now();
      if (now + pause > give_up) {
        log.error("main", "cannot reach the database, giving up",
                  {{"error", e.what()},
                   {"waited", std::to_string(std::chrono::duration_cast<std::chrono::seconds>(
                                                 cfg.storage.startup_wait).count()) + "s"},
                   {"setting", "storage.startup_wait"}});
        return db_wait::gave_up;
      }
      log.warn("main", "cannot reach the database yet, retrying",
               {{"error", e.what()}, {"attempt", attempt},
                {"retry_in", std::to_string(pause.count()) + "s"}});
      // `systemctl status maxsessd` shows why it is not ready yet.
      sd_notify("STATUS=waiting for the database (attempt " + std::to_string(attempt) + ")");
      timespec ts{static_cast<time_t>(pause.count()), 0};
      // SIGHUP (in the same set) only cuts this pause short.
      if (int sig = sigtimedwait(&stop_signals, nullptr, &ts); sig == SIGTERM || sig == SIGINT) {
        log.info("main", "stopped while waiting for the database");
        return db_wait::stopped;
      }
      pause = std::min(pause * 2, std::chrono::seconds(10));
    }
  }
}

actors::playback_mode mode_of(const config::daemon_config& cfg) {
  // Validated by the config loader: enforce or shadow.
  return cfg.playback_session.mode == "shadow" ? actors::playback_mode::shadow : actors::playback_mode::enforce;
}

void show_mode(metric_registry& m, actors::playback_mode mode) {
  for (auto each : {actors::playback_mode::enforce, actors::playback_mode::shadow})
    m.set("maxsess_playback_mode", {{"mode", actors::to_string(each)}}, each == mode ? 1 : 0);
}

// What SIGHUP changes in the running daemon (docs/config.md, "Reload").
struct reload_targets {
  net::token_guard& tokens;
  logger& log;
  actors::streamer_registry& registry;
  actors::mode_switch& mode;
  metric_registry& metrics;
};

// The keys SIGHUP applies; every other changed key is named as needing a
// restart.
bool reloadable(const std::string& key) {
  return key == "security.admin_token" || key == "security.admin_token_file" ||
         key == "security.client_tokens" || key == "security.client_tokens_file" || key == "log.level" ||
         key == "playback_session.mode";
}

// SIGHUP: reads the configuration again (file, environment, token files)
// on the main thread, off every actor and I/O thread, and applies what can
// change without a restart: the bearer tokens (swapped in whole), log.level,
// playback_session.mode (each account's next decision uses it), and the
// streamers (the table is re-read at once, as an admin change on another
// node would be within a lease round). A configuration with problems
// changes nothing. Other changed keys need a restart and are named (values
// never: they may be secrets).
void reload_config(const options& opts, const config::daemon_config& running, reload_targets t) {
  auto& log = t.log;
  auto res = config::load_from_file(opts.config_path, config::process_environment(), opts.ini_path);
  std::vector<config::problem> problems = res.problems;
  config::bearer_tokens next;
  if (problems.empty()) next = config::read_bearer_tokens(res.config.security, &problems);
  if (!problems.empty()) {
    for (auto& p : problems) log.error("main", "SIGHUP: configuration problem", {{"problem", config::to_string(p)}});
    log.error("main", "SIGHUP: configuration not reloaded; the tokens in use stay",
              {{"problems", problems.size()}});
    return;
  }
  t.tokens.replace(net::token_lists{std::move(next.admin), std::move(next.client)});
  // Validated by load_from_file: the name always parses.
  t.log.set_level(parse_log_level(res.config.log.level).value_or(log_level::info));
  const auto was = t.mode.get(), mode = mode_of(res.config);
  t.mode.set(mode);
  show_mode(t.metrics, mode);
  if (mode != was)
    log.warn("main", "SIGHUP: playback mode switched",
             {{"from", actors::to_string(was)}, {"to", actors::to_string(mode)}});
  auto lines = [](const config::daemon_config& c) {
    std::vector<std::string> out;
    std::string section, line;
    std::istringstream in(config::to_yaml(c, false));
    while (std::getline(in, line)) {
      if (!line.empty() && line[0] != ' ') section = line.substr(0, line.size() - 1);
      else out.push_back(section + "." + line.substr(2));
    }
    return out;
  };
  const auto before = lines(running), after = lines(res.config);
  std::string restart;
  for (std::size_t i = 0; i < before.size() && i < after.size(); ++i) {
    if (before[i] == after[i]) continue;
    auto key = before[i].substr(0, before[i].find(':'));
    if (!reloadable(key)) restart += (restart.empty() ? "" : ", ") + key;
  }
  log.info("main", "SIGHUP: configuration reloaded",
           {{"admin_tokens", t.tokens.admin_count()},
            {"client_tokens", t.tokens.client_count()},
            {"log.level", res.config.log.level},
            {"playback_session.mode", actors::to_string(mode)}});
  if (!restart.empty())
    log.warn("main", "SIGHUP: these changed keys take effect only after a restart", {{"keys", restart}});
  t.registry.reload([&log](bool changed, std::size_t count, const std::string& error) {
    if (!error.empty())
      log.error("main", "SIGHUP: cannot re-read the streamers; the ones in use stay", {{"error", error}});
    else
      log.info("main", "SIGHUP: streamers re-read",
               {{"streamers", std::to_string(count)}, {"changed", changed ? "true" : "false"}});
  });
}

int run_serve(const options& opts, const config::daemon_config& cfg) {
  // Block the stop and reload signals in every thread started from here on;
  // the main thread waits for them with sigwait.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  system_clock_source clock;
  // Under systemd with StandardError=journal, lines carry journald
  // priorities and no timestamp of ours (docs/install.md, "Logs").
  logger log(std::cerr, parse_log_level(cfg.log.level).value_or(log_level::info),
             cfg.log.format == "json", clock, logger::default_repeat_every, stderr_is_journal());

  std::string why;
  auto signer = link_signer::from_spec(cfg.security.token_secret, &why);
  if (!signer) {
    log.error("main", "security.token_secret is invalid", {{"why", why}});
    return 2;
  }

  // Who may call the streamer side: rebuilt whenever the streamers change.
  net::streamer_access access(
      net::parse_streamer_calls(cfg.security.streamer_calls).value_or(net::streamer_calls::registered));
  auto tokens = [&cfg] {
    auto t = config::read_bearer_tokens(cfg.security, nullptr);
    return std::make_shared<net::token_guard>(net::token_lists{std::move(t.admin), std::move(t.client)});
  }();

  // The schema must be the one this build knows; `migrate` makes it so.
  actors::streamer_directory streamers;
  switch (wait_for_database(cfg, log, stop_signals)) {
    case db_wait::ready: break;
    case db_wait::gave_up: return cli::failed;
    case db_wait::stopped: return cli::ok;
  }
  try {
    int have = storage::current_schema_version(cfg.storage.dsn);
    int want = storage::latest_schema_version();
    if (have != want) {
      log.error("main", have < want ? "database schema is older than this build: run `maxsessd migrate`"
                                    : "database schema is newer than this build: upgrade maxsessd",
                {{"schema_version", have}, {"expected", want}});
      return 1;
    }
    storage::session_store db(cfg.storage.dsn);
    streamers.replace_all_if(streamers.version(), db.list_streamers());  // nothing else runs yet
    access.replace(streamers.list());
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
  metric_registry metrics;
  describe_metrics(metrics);
  // A restart shows as a new value: changes() counts restarts (the
  // MaxsessNodeRestarting alert, docs/monitoring.md), time() - it is uptime.
  metrics.set("maxsess_start_time_seconds", {}, static_cast<double>(to_unix_ms(clock.now())) / 1000.0);
  metrics.set("maxsess_database_up", {}, 1);  // start-up just used it
  // A database that cannot answer SELECT 1 within request_timeout cannot
  // answer a request in time either: not ready.
  storage::db_health db_health(cfg.storage.dsn, std::chrono::seconds(1), cfg.node.request_timeout,
                               [&log, &metrics](bool ok, const std::string& error) {
                                 metrics.set("maxsess_database_up", {}, ok ? 1 : 0);
                                 // The outage's start and end, once each; what
                                 // failed meanwhile was counted (log_repeated),
                                 // and those counts come first.
                                 if (ok) {
                                   log.flush_repeated();
                                   log.info("main", "database reachable again");
                                 }
                                 else
                                   log.error("main", "database unreachable", {{"error", error}});
                               });

  storage::reader_pool reader(cfg.storage.dsn, cfg.storage.read_connections);
  // Cluster mode: a writer stalled inside a transaction (frozen node) must
  // not hold its lease-row locks past the point its lease can expire.
  const int write_lanes = config::write_lanes_for(cfg.storage, usable_cores());
  storage::batch_writer writer(cfg.storage.dsn, cfg.storage.batch_max_rows,
                               cfg.storage.batch_max_delay,
                               cfg.cluster.enabled ? cfg.cluster.lease_ttl / 2 : std::chrono::milliseconds(0),
                               write_lanes);
  actors::pg_account_store store(reader, writer);
  net::flussonic_client flussonic(std::chrono::seconds(5));

  actors::runtime_options rt_opts;
  const auto& ps = cfg.playback_session;
  rt_opts.decisions.enabled = ps.enabled;
  rt_opts.decisions.node_id = cfg.node.id;  // named in every audit event
  // Shared with every account; SIGHUP switches it (reload_config).
  const auto mode = rt_opts.decisions.mode;
  mode->set(mode_of(cfg));
  show_mode(metrics, mode->get());
  rt_opts.decisions.default_max_sessions = ps.default_max_sessions;
  rt_opts.decisions.pending_ttl = ps.pending_ttl;
  rt_opts.decisions.stale_after = ps.stale_after;
  rt_opts.decisions.progress_write_delay = ps.progress_write_delay;
  rt_opts.decisions.link_ttl = ps.link_ttl;
  rt_opts.decisions.node_id = cfg.node.id;
  rt_opts.idle_passivate = ps.idle_passivate;
  rt_opts.request_timeout = cfg.node.request_timeout;
  rt_opts.shards = cfg.cluster.shards;
  rt_opts.scheduler_threads = std::max(2, usable_cores());
  rt_opts.scheduler_policy = cfg.node.scheduler_policy;
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
  rt_opts.events_keep = ps.events_keep;
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
  // A critical actor died of an exception (actors/critical.hpp; logged
  // already): exit as kill -9 would, for systemd to restart the daemon
  // (Restart=on-failure) and the shards to be taken over from PostgreSQL.
  // Not a graceful stop: it would have to drain the dead actor's work (a
  // dead owner's accounts still run, owned by no one) with code whose state
  // is unknown, while the crash's recovery is the one the fault tests prove.
  auto exit_on_fatal = [](std::string reason) {
    for (auto& c : reason)
      if (c == '\n' || c == '\r') c = ' ';  // one line of sd_notify's state
    sd_notify("STATUS=exiting: " + reason);
    std::cerr.flush();
    _exit(cli::failed);
  };
  actors::actor_runtime runtime(
      rt_opts, {clock, *signer, streamers, store, log, metrics, &reader, &flussonic, exit_on_fatal});
  // Changes land from several reader threads: one at a time, so the last
  // access list stored is built from the newest directory (two unserialized
  // calls could store an older list last: a streamer just PUT refused).
  std::mutex access_update;
  actors::streamer_registry registry(streamers, reader, [&runtime, &access, &streamers, &access_update] {
    {
      std::lock_guard lock(access_update);
      access.replace(streamers.list());
    }
    runtime.streamers().streamers_changed();
  });
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

  net::api_options api_opts;
  api_opts.tokens = tokens;
  api_opts.link_ttl = ps.link_ttl;
  api_opts.auth_duration = ps.auth_duration;
  // Gauges read at scrape time: sessions by status (the database is the
  // whole truth across nodes) and account actors alive here.
  auto scrape = [&reader, &metrics, &streamers](std::function<void(std::string)> done) {
    reader.post(
        [&metrics, &streamers, done](storage::session_store& db) {
          for (auto status : {"pending", "active", "ended", "killed"})
            metrics.set("maxsess_sessions", {{"status", status}}, 0);
          for (auto& [status, n] : db.count_by_status())
            metrics.set("maxsess_sessions", {{"status", status}}, static_cast<double>(n));
          // Live sessions per registered streamer, rendered fresh each scrape
          // (a deleted streamer's series goes with it; 0 for an idle one).
          auto live = db.count_live_by_streamer();
          std::string extra =
              "# HELP maxsess_streamer_sessions Pending and active sessions placed on each registered "
              "streamer.\n# TYPE maxsess_streamer_sessions gauge\n";
          for (const auto& s : streamers.list())
            for (const char* status : {"pending", "active"}) {
              auto i = live.find({s.id, status});
              extra += "maxsess_streamer_sessions{streamer=\"" + std::to_string(s.id) + "\",status=\"" +
                       status + "\"} " + std::to_string(i == live.end() ? 0 : i->second) + "\n";
            }
          done(std::move(extra));
        },
        [done](const std::string&) { done({}); });
  };
  auto ready_check = [&db_health, &node] { return db_health.ok() && (!node || node->in_cluster()); };
  // "mode": this node's playback_session.mode (every node should have the
  // same; docs/shadow.md, "In a cluster").
  std::function<void(std::function<void(std::string)>)> cluster_status =
      [&node, &cfg, mode](std::function<void(std::string)> done) {
        if (!node) {
          return done(nlohmann::json{{"node", cfg.node.id}, {"enabled", false}, {"mode", actors::to_string(mode->get())}}
                          .dump());
        }
        node->status([mode, done = std::move(done)](std::string text) {
          if (text.empty()) return done(std::move(text));  // no answer in time: 503
          auto j = nlohmann::json::parse(text, nullptr, false);
          if (!j.is_object()) return done(std::move(text));
          j["mode"] = actors::to_string(mode->get());
          done(j.dump());
        });
      };
  net::api_deps api_deps{runtime.accounts(), registry, runtime.streamers(), *signer, clock,
                         log, metrics, scrape, ready_check, cluster_status, &access};
  // GET /api/v1/sessions reads the committed rows on the reader pool: across
  // accounts (and nodes), never through the account actors.
  api_deps.list_sessions = [&reader](storage::session_query q,
                                     std::function<void(std::optional<storage::session_page>)> done) {
    reader.post([q = std::move(q), done](storage::session_store& db) { done(db.list_sessions(q)); },
                [done](const std::string&) { done(std::nullopt); });
  };
  // The audit trail is read on the reader pool too: any node answers from
  // the database, which holds every node's events.
  api_deps.read_events = [&reader](storage::event_query q, net::api_deps::events_cb done) {
    reader.post(
        [q = std::move(q), done](storage::session_store& db) {
          std::optional<storage::event_page> page = db.list_events(q);
          done(std::move(page));
        },
        [done](const std::string&) { done(std::nullopt); });
  };
  // The status page's summary (GET /api/v1/status), with the mode in force
  // now (SIGHUP may switch it).
  status_options st_opts;
  st_opts.mode = [mode] { return std::string(actors::to_string(mode->get())); };
  st_opts.node_id = cfg.node.id;
  st_opts.cluster = cfg.cluster.enabled;
  st_opts.limits_enabled = ps.enabled;
  st_opts.default_max_sessions = ps.default_max_sessions;
  status_service status(st_opts, reader, streamers, metrics, clock);
  api_deps.status_page = net::status_page_html();
  api_deps.status = [&status](std::function<void(std::string)> done) { status.render(std::move(done)); };
  net::http_api api(api_opts, api_deps);

  net::server_options http_opts;
  uint16_t port = 0;
  config::split_host_port(cfg.node.http_listen, http_opts.host, port);
  http_opts.port = port;
  http_opts.threads = config::http_threads_for(cfg.node, usable_cores());
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
            {"http_threads", http_opts.threads},
            {"write_lanes", write_lanes},
            {"scheduler", rt_opts.scheduler_policy + " x" + std::to_string(rt_opts.scheduler_threads)},
            {"streamers", streamers.list().size()},
            {"playback_session.enabled", ps.enabled ? "true" : "false"},
            {"playback_session.mode", actors::to_string(mode->get())},
            {"security.streamer_calls", cfg.security.streamer_calls},
            {"admin_tokens", tokens->admin_count()},
            {"client_tokens", tokens->client_count()}});
  // Type=notify: systemd counts the unit started (and starts what is
  // ordered after it) only now that the HTTP server listens.
  if (auto err = sd_notify("READY=1\nSTATUS=ready, HTTP on " + http_opts.host + ":" +
                           std::to_string(server.bound_port()));
      !err.empty())
    log.warn("main", "cannot tell systemd that the daemon is ready", {{"error", err}});

  int sig = 0;
  for (;;) {
    sigwait(&stop_signals, &sig);
    if (sig != SIGHUP) break;
    reload_config(opts, cfg, {*tokens, log, registry, *mode, metrics});
  }
  log.info("main", "stopping", {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"}});
  sd_notify("STOPPING=1\nSTATUS=stopping");

  // A second signal or a stuck step must not keep the process forever; the
  // line names the step it was stuck in (once seen only under ASan and CI
  // load, in Defects.BackoffDoesNotFlapAndLogsTheRealRetry, with no clue
  // which step it was).
  static std::atomic<const char*> step{"leaving the cluster"};
  std::thread([] {
    std::this_thread::sleep_for(std::chrono::seconds(30));
    std::cerr << "maxsessd: shutdown took over 30 s (stuck " << step.load() << "), exiting\n";
    _exit(1);
  }).detach();

  api.set_ready(false);
  // Hand every shard to the other nodes first (drain, flush, release), so
  // they take over at once rather than after the lease TTL; requests that
  // still arrive here are forwarded to the new owners meanwhile.
  if (node) node->leave(cl.timing.ttl * 2);
  step = "stopping the streamer jobs";
  runtime.streamers().stop_jobs();        // a running sync stops at its next page, its job answers
  step = "draining the HTTP server";
  server.stop(std::chrono::seconds(10));  // stop accepting, answer in-flight requests
  step = "stopping the cluster node";
  if (node) node->stop();
  step = "stopping the actors";
  runtime.shutdown();                     // actors done: no new writes after this
  step = "flushing the writer";
  writer.flush_and_stop();                // every acknowledged row is committed
  step = "stopping the readers";
  reader.stop();
  auto st = writer.get_stats();
  log.info("main", "stopped", {{"commits", st.commits}, {"rows", st.ops}});
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  options opts;
  if (auto rc = cli::parse(argc, argv, std::getenv("MAXSESS_CONFIG"), opts, std::cout, std::cerr))
    return *rc;
  config::daemon_config cfg;
  if (opts.command == "check-config") {
    // Its answer is the list of problems: 1 when there are any (like nginx -t).
    if (!load_config(opts, cfg)) return cli::failed;
    std::cout << opts.config_path << ": configuration OK\n";
    return cli::ok;
  }
  if (!load_config(opts, cfg)) return cli::usage_error;
  if (opts.command == "migrate") return run_migrate(cfg);
  if (opts.command == "serve") return run_serve(opts, cfg);
  return run_job(opts, cfg);
}
