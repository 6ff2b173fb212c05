#include "actors/wake_schedule.hpp"

#include <algorithm>
#include <iterator>

namespace maxsess::actors {

namespace {
bool earlier(const wake_schedule::due_entry& x, const wake_schedule::due_entry& y) { return x.at < y.at; }
}  // namespace

std::optional<sys_time> wake_schedule::arm(sys_time at) {
  if (!armed_.empty() && armed_.front() <= at) return std::nullopt;
  armed_.insert(armed_.begin(), at);  // earlier than every one in flight
  return at;
}

std::optional<sys_time> wake_schedule::add(std::string account_id, sys_time at) {
  buckets_[bucket_of(at)].push_back({std::move(account_id), at});
  ++size_;
  return arm(at);
}

std::vector<wake_schedule::due_entry> wake_schedule::take_due(sys_time fired, sys_time now) {
  if (auto i = std::find(armed_.begin(), armed_.end(), fired); i != armed_.end()) armed_.erase(i);
  std::vector<due_entry> due;
  const auto last = bucket_of(now);
  for (auto b = buckets_.begin(); b != buckets_.end() && b->first <= last;) {
    auto& entries = b->second;
    if (b->first < last) {
      // Every entry of a bucket before now's is due.
      for (auto& e : entries) due.push_back(std::move(e));
      entries.clear();
    } else {
      // now's own bucket: what is due goes, the rest keeps its order.
      auto keep = std::stable_partition(entries.begin(), entries.end(),
                                        [&](const due_entry& e) { return e.at > now; });
      for (auto i = keep; i != entries.end(); ++i) due.push_back(std::move(*i));
      entries.erase(keep, entries.end());
    }
    b = entries.empty() ? buckets_.erase(b) : std::next(b);
  }
  size_ -= due.size();
  // Buckets come in time order; within one, entries in the order added:
  // a stable sort gives earliest first, equal times as added.
  std::stable_sort(due.begin(), due.end(), earlier);
  return due;
}

std::optional<sys_time> wake_schedule::rearm() {
  if (buckets_.empty()) return std::nullopt;
  const auto& first = buckets_.begin()->second;  // never empty: emptied ones are erased
  return arm(std::min_element(first.begin(), first.end(), earlier)->at);
}

}  // namespace maxsess::actors
