#pragma once
// One streamer's failure state (docs/flussonic.md, "Kill and clear"): how
// many real calls to its Flussonic API failed in a row, and when the timers
// may call it again. Plain code with injected time, unit-tested; the
// streamer actor owns one and feeds it the outcome of every run that really
// called the API — a run that had nothing to ask (a kill run with no killed
// session) or failed before calling (the database) changes nothing, so the
// state never flaps between "backing off" and "answers again".
#include <chrono>
#include <string>

#include "domain/clock.hpp"

namespace maxsess::actors {

class streamer_backoff {
 public:
  // The delay after the n-th failure in a row: 1 s, 2 s, 4 s, … at most 5 min.
  static constexpr std::chrono::milliseconds first_delay{1000};
  static constexpr std::chrono::milliseconds max_delay{300000};
  static std::chrono::milliseconds delay_after(int failures);

  struct failure {
    int failures = 0;                   // in a row, this one included
    std::chrono::milliseconds delay{};  // no timer calls before now + delay
    bool worth_a_line = false;          // the first failure, or another error than the last
  };
  // A real API call failed at `now`.
  failure failed(const std::string& error, sys_time now);
  // A real API call answered. True when that ends a run of failures (worth
  // one "answers again" line).
  bool answered();

  // Whether a timer may call the API now (jobs asked for explicitly always run).
  bool may_call(sys_time now) const { return now >= retry_at_; }
  int failures() const { return failures_; }
  sys_time retry_at() const { return retry_at_; }

  // A timer that ticks every `every`, next at `next_tick`: the first of its
  // ticks that may_call lets through — when that job really calls again.
  sys_time next_attempt(sys_time next_tick, std::chrono::milliseconds every) const;

 private:
  int failures_ = 0;
  sys_time retry_at_{};
  std::string last_error_;
};

}  // namespace maxsess::actors
