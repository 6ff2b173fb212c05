#include "domain/repeat_limiter.hpp"

#include <algorithm>

namespace maxsess {

repeat_limiter::verdict repeat_limiter::admit(const std::string& key, const fields& kv, sys_time now) {
  verdict v;
  auto i = windows_.find(key);
  if (i == windows_.end()) {
    windows_[key].start = now;
    v.write = true;
    return v;
  }
  auto& w = i->second;
  if (now < w.start + interval_) {
    ++w.counted;
    w.last = kv;
    auto end = w.start + interval_;
    if (!next_due_ || end < *next_due_) next_due_ = end;
    return v;
  }
  // The interval is over: this line is written, with what was counted.
  v.write = true;
  v.repeated = w.counted;
  v.span = std::chrono::duration_cast<std::chrono::milliseconds>(now - w.start);
  w = window{};
  w.start = now;
  return v;
}

std::vector<repeat_limiter::summary> repeat_limiter::due(sys_time now, bool everything) {
  std::vector<summary> out;
  if (!everything && (!next_due_ || now < *next_due_)) return out;
  next_due_.reset();
  for (auto i = windows_.begin(); i != windows_.end();) {
    auto& w = i->second;
    const bool over = now >= w.start + interval_;
    if (w.counted > 0 && (over || everything)) {
      out.push_back({i->first, w.counted, std::chrono::duration_cast<std::chrono::milliseconds>(now - w.start),
                     std::move(w.last)});
      // A new interval begins: the next line of this kind is counted, so a
      // steady stream stays at one line per interval.
      w = window{};
      w.start = now;
      if (!next_due_ || now + interval_ < *next_due_) next_due_ = now + interval_;
      ++i;
    } else if (over) {
      i = windows_.erase(i);  // quiet for a whole interval: the next line is written at once
    } else {
      if (w.counted > 0 && (!next_due_ || w.start + interval_ < *next_due_)) next_due_ = w.start + interval_;
      ++i;
    }
  }
  return out;
}

std::string repeated_note(int64_t repeated, std::chrono::milliseconds span) {
  // Whole seconds, rounded: "in the last 10 s" for an interval of 10 s.
  auto s = (span.count() + 500) / 1000;
  return "(repeated " + std::to_string(repeated) + (repeated == 1 ? " time" : " times") + " in the last " +
         std::to_string(std::max<int64_t>(s, 1)) + " s)";
}

}  // namespace maxsess
