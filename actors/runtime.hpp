#pragma once
// The actor side of the daemon: the CAF actor system, one owner actor per
// shard and the account_service the HTTP threads call with callbacks. CAF
// stays behind this header (compile time, and one place that knows it).
#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <memory>

#include "actors/account_service.hpp"
#include "actors/account_store.hpp"
#include "actors/flussonic_api.hpp"
#include "actors/jobs.hpp"
#include "actors/streamer_directory.hpp"
#include "domain/clock.hpp"
#include "domain/log.hpp"
#include "domain/metrics.hpp"
#include "domain/token.hpp"

namespace caf {
class actor_system_config;
}

namespace maxsess::actors {

struct runtime_hooks;

struct runtime_options {
  decision_settings decisions;
  std::chrono::milliseconds idle_passivate{60000};
  std::chrono::milliseconds request_timeout{5000};  // HTTP call -> its answer
  int shards = 256;
  int64_t epoch = 1;  // single node: the local owner's epoch for every shard
  int scheduler_threads = 2;
  std::string scheduler_policy = "stealing";  // CAF's: "stealing" or "sharing"

  // The streamer side (PRODUCT.md §3).
  bool webhooks = false;  // true: no periodic sync
  std::chrono::milliseconds sync_interval{60000};
  int batch_size = 100;
  // playback_session.sync_max_sessions / sync_timeout (main sets them from
  // the config; 0: no cap / no deadline).
  int64_t sync_max_sessions = 0;
  std::chrono::milliseconds sync_timeout{0};
  std::chrono::milliseconds kill_interval{300000};
  std::chrono::milliseconds clear_interval{86400000};
  std::chrono::milliseconds clear_timeout{120000};
  // Audit events older than this go with each clear run (main sets
  // playback_session.events_keep; 0 = kept for ever).
  std::chrono::milliseconds events_keep{0};
  std::chrono::milliseconds job_timeout{120000};  // one sync/kill run of one streamer
  bool timers = true;  // periodic sync/kill/clear (tests may run jobs by hand only)

  // Cluster mode: no shard is owned until cluster/ takes its lease (then
  // `epoch` per shard comes from the lease). `on_fenced` is called (on an
  // actor thread) when a write was rejected because the shard's lease moved.
  bool cluster = false;
  std::string node_id;
  std::function<void(int shard, int64_t epoch)> on_fenced;
  // Adjusts CAF's configuration before the actor system starts (cluster:
  // the middleman; tests: the deterministic scheduler).
  std::function<void(caf::actor_system_config&)> configure;
};

// Dependencies are owned by the caller (main) and must outlive the runtime.
struct runtime_deps {
  const clock_source& clock;
  const link_signer& signer;
  streamer_directory& streamers;
  account_store& store;
  logger& log;
  metric_registry& metrics;
  // The streamer side needs both; without them (unit tests) there are no
  // streamer actors and jobs report an error.
  storage::reader_pool* db = nullptr;
  flussonic_api* flussonic = nullptr;
  // A critical actor died of an exception (critical.hpp), on its thread:
  // the daemon exits for its supervisor to restart it. Empty (unit tests):
  // the death is only logged.
  std::function<void(const std::string& reason)> on_fatal = nullptr;
};

class actor_runtime {
 public:
  actor_runtime(runtime_options opts, runtime_deps deps);
  ~actor_runtime();  // shutdown()

  account_service& accounts();
  streamer_side& streamers();

  // For cluster/ (see runtime_hooks.hpp): the actor system, the shard table,
  // and how a shard comes to be owned here or stops being owned.
  runtime_hooks& hooks();

  // Account actors alive now (for metrics and tests); asks every shard owner.
  std::size_t live_accounts();
  // Auth checks allowed from what account actors published, without a
  // message to them (auth_board.hpp), since start.
  uint64_t auth_checks_from_board() const;

  // Stops the shard owners and every account actor after the messages already
  // queued were handled, waits for them (writes in flight are answered by
  // the store, which the caller flushes after this). Idempotent.
  void shutdown();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace maxsess::actors
