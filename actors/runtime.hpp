#pragma once
// The actor side of the daemon: the CAF actor system, the account router and
// the gateway that bridges callbacks (HTTP threads) to actor requests. CAF
// stays behind this header (compile time, and one place that knows it).
#include <chrono>
#include <cstdint>
#include <memory>

#include "actors/account_service.hpp"
#include "actors/account_store.hpp"
#include "actors/streamer_directory.hpp"
#include "domain/clock.hpp"
#include "domain/log.hpp"
#include "domain/token.hpp"

namespace maxsess::actors {

struct runtime_options {
  decision_settings decisions;
  std::chrono::milliseconds idle_passivate{60000};
  std::chrono::milliseconds request_timeout{5000};  // gateway -> account actor
  int shards = 256;
  int64_t epoch = 1;  // single node: the local owner's epoch for every shard
  int scheduler_threads = 2;
};

// Dependencies are owned by the caller (main) and must outlive the runtime.
struct runtime_deps {
  const clock_source& clock;
  const link_signer& signer;
  streamer_directory& streamers;
  account_store& store;
  logger& log;
  // Where decided kills go (the streamer side closes them on Flussonic);
  // called from actor threads, must not block. Empty: dropped.
  std::function<void(std::vector<kill_order>)> kills = {};
  // Counts over-limit attempts refused or closed (metrics). May be empty.
  std::function<void(int)> on_over_limit = {};
};

class actor_runtime {
 public:
  actor_runtime(runtime_options opts, runtime_deps deps);
  ~actor_runtime();  // shutdown()

  account_service& accounts();

  // Account actors alive now (for metrics and tests); asks the router.
  std::size_t live_accounts();

  // Stops the router and every account actor after the messages already
  // queued were handled, waits for them (writes in flight are answered by
  // the store, which the caller flushes after this). Idempotent.
  void shutdown();

 private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

}  // namespace maxsess::actors
