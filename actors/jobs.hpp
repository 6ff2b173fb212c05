#pragma once
// The streamer side as the HTTP API sees it: webhook batches in, jobs
// (sync / kill / clear, PRODUCT.md §3) run on request. Callbacks run later
// on an actor thread, exactly once.
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace maxsess::actors {

struct webhook_result {
  // unavailable: not every event could be made durable (storage down, an
  // owner moving): answered 5xx so that the sink resends the batch.
  enum class status { accepted, unknown_host, not_json, unavailable } result = status::accepted;
  int events = 0;      // play events routed to accounts
  int duplicates = 0;  // event ids seen recently (redelivered batches)
  int malformed = 0;   // entries skipped
  int ignored = 0;     // other event types
  int untracked = 0;   // no maxsess token: cannot be tied to an account
};

struct job_request {
  enum class kind { sync, kill, clear } what = kind::sync;
  int batch_size = 0;                   // sync: 0 = playback_session.batch_size
  std::vector<int64_t> streamer_ids;    // sync/kill: empty = every registered streamer (disabled
                                        // ones too: sessions may still play there)
  std::optional<std::chrono::milliseconds> timeout;  // clear: default clear_timeout
  // Set by the node entry for a job another node forwarded: run the listed
  // streamers here, never forward again (not on the wire).
  bool here_only = false;
};
const char* to_string(job_request::kind k);

// What one streamer's run did.
struct streamer_run {
  int64_t streamer_id = 0;
  bool ok = true;
  std::string error;
  int listed = 0;     // sync: sessions the streamer listed
  int untracked = 0;  // sync: listed without a maxsess token
  int adopted = 0;    // sync: unknown sessions with our token, now tracked
  int ended = 0;      // sync: sessions gone from the streamer
  int killed = 0;     // sync: sessions killed because the account was over its limit
  int closed = 0;     // kill: Flussonic sessions closed on the streamer
};

struct job_report {
  job_request::kind what = job_request::kind::sync;
  bool ok = true;
  std::string error;
  std::vector<streamer_run> streamers;  // sync / kill
  int64_t cleared = 0;                  // clear: rows deleted
  int64_t cleared_events = 0;           // clear: audit events deleted (events_keep)
};

class streamer_side {
 public:
  using webhook_cb = std::function<void(webhook_result)>;
  using job_cb = std::function<void(job_report)>;
  virtual ~streamer_side() = default;
  // A POST to /webhook/playback-session/flussonic/{host}.
  virtual void post_events(std::string host, std::string body, webhook_cb done) = 0;
  virtual void run_job(job_request req, job_cb done) = 0;
  // The registered streamers changed (admin API): start/stop streamer actors.
  virtual void streamers_changed() = 0;
  // Shutdown begins: running syncs and kills stop at their next page or
  // close (answering "stopped"), so in-flight job requests are answered
  // before the HTTP server's drain ends; no job runs afterwards.
  virtual void stop_jobs() {}
};

}  // namespace maxsess::actors
