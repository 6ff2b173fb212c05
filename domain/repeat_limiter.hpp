#pragma once
// Rate limit for log lines whose number follows the traffic — while the
// database is down, every request that fails would write its own line
// (issue 8: 2 391 lines in 15 s). Per kind of line (a key: level, component,
// message), the first is written; the next ones within `interval` are only
// counted, and when the interval is over one line carries the count
// ("… (repeated 812 times in the last 10 s)"). Plain code with injected
// time; the logger calls it under its lock.
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "domain/clock.hpp"
#include "domain/log_value.hpp"

namespace maxsess {

class repeat_limiter {
 public:
  using fields = std::vector<std::pair<std::string, log_value>>;
  explicit repeat_limiter(std::chrono::milliseconds interval) : interval_(interval) {}

  struct summary {
    std::string key;
    int64_t repeated = 0;                 // lines not written
    std::chrono::milliseconds span{};     // over how long
    fields last;                          // the last unwritten line's fields
  };
  // One more line of this kind at `now`: write it (nullopt: only counted).
  // When written after a quiet-counted interval, the count comes with it.
  struct verdict {
    bool write = false;
    int64_t repeated = 0;  // lines counted since the last written one
    std::chrono::milliseconds span{};
  };
  verdict admit(const std::string& key, const fields& kv, sys_time now);

  // Counts whose interval is over at `now` (each then starts a new interval
  // with nothing counted); all of them when `everything` (an outage ended,
  // the daemon stops). Keys quiet for a whole interval are forgotten.
  std::vector<summary> due(sys_time now, bool everything = false);

  std::chrono::milliseconds interval() const { return interval_; }

 private:
  struct window {
    sys_time start{};
    int64_t counted = 0;
    fields last;
  };
  std::chrono::milliseconds interval_;
  std::map<std::string, window> windows_;
  // Earliest time a window with counted lines ends: due() is cheap before it.
  std::optional<sys_time> next_due_;
};

// "(repeated 812 times in the last 10 s)"
std::string repeated_note(int64_t repeated, std::chrono::milliseconds span);

}  // namespace maxsess
