#pragma once
// Time is injected everywhere: actors and storage never read the wall clock
// directly, so expiry (pending_ttl, stale_after, link_ttl) is tested with
// simulated time.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace maxsess {

using sys_time = std::chrono::system_clock::time_point;
using std::chrono::milliseconds;
using std::chrono::seconds;

class clock_source {
 public:
  virtual ~clock_source() = default;
  virtual sys_time now() const = 0;
};

// The real clock, used by the daemon.
class system_clock_source final : public clock_source {
 public:
  sys_time now() const override { return std::chrono::system_clock::now(); }
};

// A clock that moves only when told to; thread-safe so a test may advance it
// while actors read it.
class manual_clock final : public clock_source {
 public:
  explicit manual_clock(sys_time start = sys_time{} + std::chrono::hours(24 * 365 * 56))
      : now_ns_(start.time_since_epoch().count()) {}
  sys_time now() const override {
    return sys_time{sys_time::duration{now_ns_.load()}};
  }
  void advance(sys_time::duration d) { now_ns_ += d.count(); }
  void set(sys_time t) { now_ns_ = t.time_since_epoch().count(); }

 private:
  std::atomic<sys_time::duration::rep> now_ns_;
};

// RFC 3339 UTC with millisecond precision: 2026-11-25T10:24:37.123Z
std::string to_rfc3339(sys_time t);
std::optional<sys_time> parse_rfc3339(const std::string& s);
int64_t to_unix_seconds(sys_time t);
int64_t to_unix_ms(sys_time t);
sys_time from_unix_ms(int64_t ms);

}  // namespace maxsess
