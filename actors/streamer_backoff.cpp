#include "actors/streamer_backoff.hpp"

#include <algorithm>

namespace maxsess::actors {

std::chrono::milliseconds streamer_backoff::delay_after(int failures) {
  if (failures <= 0) return std::chrono::milliseconds(0);
  auto d = first_delay;
  // Doubling stops at the cap (and long before any overflow).
  for (int i = 1; i < failures && d < max_delay; ++i) d *= 2;
  return std::min(d, max_delay);
}

streamer_backoff::failure streamer_backoff::failed(const std::string& error, sys_time now) {
  failure f;
  f.failures = ++failures_;
  f.delay = delay_after(failures_);
  f.worth_a_line = failures_ == 1 || error != last_error_;
  retry_at_ = now + f.delay;
  last_error_ = error;
  return f;
}

bool streamer_backoff::answered() {
  bool recovered = failures_ > 0;
  failures_ = 0;
  retry_at_ = sys_time{};
  last_error_.clear();
  return recovered;
}

sys_time streamer_backoff::next_attempt(sys_time next_tick, std::chrono::milliseconds every) const {
  if (next_tick >= retry_at_ || every.count() <= 0) return next_tick;
  // Ticks due before retry_at are skipped: the first at or after it.
  auto behind = retry_at_ - next_tick;
  auto ticks = (behind + every - sys_time::duration(1)) / every;
  return next_tick + ticks * every;
}

}  // namespace maxsess::actors
