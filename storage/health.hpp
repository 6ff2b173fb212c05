#pragma once
// Whether the database answers now, for /readyz: a thread of its own sends
// `SELECT 1` every interval over its own connection (never through the
// pools, so a queue of slow loads cannot make a healthy database look down),
// and reports each change once. An answer later than `answer_within` counts
// as down (a server that hangs), and so does a failed connect.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace maxsess::storage {

class db_health {
 public:
  // on_change(ok, error) runs on the probe's thread, once per change.
  db_health(std::string dsn, std::chrono::milliseconds every, std::chrono::milliseconds answer_within,
            std::function<void(bool ok, const std::string& error)> on_change);
  ~db_health();
  db_health(const db_health&) = delete;
  db_health& operator=(const db_health&) = delete;
  bool ok() const { return ok_.load(); }

 private:
  void loop();
  std::string dsn_;
  std::chrono::milliseconds every_;
  std::chrono::milliseconds answer_within_;
  std::function<void(bool, const std::string&)> on_change_;
  std::atomic<bool> ok_{true};
  std::mutex mutex_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace maxsess::storage
