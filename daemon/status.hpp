#pragma once
// GET /api/v1/status (docs/http_api.md): the summary the status page shows
// besides the cluster (GET /api/v1/cluster) and the audit trail. The counts
// come from PostgreSQL through the reader pool (never on an actor or a Beast
// I/O thread); denials per minute from a ring sampled here from the link
// and auth decision counters every few seconds.
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "actors/streamer_directory.hpp"
#include "domain/clock.hpp"
#include "domain/metrics.hpp"
#include "net/status.hpp"
#include "storage/store.hpp"

namespace maxsess {

struct status_options {
  std::string node_id;
  bool cluster = false;
  bool limits_enabled = true;        // playback_session.enabled
  int64_t default_max_sessions = 3;  // for accounts without a row
  int accounts_at_limit = 20;        // how many the page lists
  // playback_session.mode ("enforce" | "shadow") as configured now; empty
  // function: this build has no such key and the field is left out.
  std::function<std::string()> mode = {};
  std::chrono::milliseconds sample_every{std::chrono::seconds(5)};
};

class status_service {
 public:
  status_service(status_options opts, storage::reader_pool& reader, const actors::streamer_directory& streamers,
                 metric_registry& metrics, const clock_source& clock);
  ~status_service();  // stops the sampler
  status_service(const status_service&) = delete;
  status_service& operator=(const status_service&) = delete;

  // The JSON document, through `done` on a reader thread; "" when the
  // database failed.
  void render(std::function<void(std::string)> done);

 private:
  void sample();
  status_options opts_;
  storage::reader_pool& reader_;
  const actors::streamer_directory& streamers_;
  metric_registry& metrics_;
  const clock_source& clock_;
  net::minute_ring denials_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread sampler_;
};

}  // namespace maxsess
