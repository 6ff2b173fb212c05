#include "actors/streamer_directory.hpp"

#include <mutex>

namespace maxsess::actors {

uint64_t streamer_directory::version() const {
  std::shared_lock lock(mutex_);
  return version_;
}

bool streamer_directory::replace_all_if(uint64_t version, std::vector<streamer> all) {
  std::unique_lock lock(mutex_);
  if (version != version_) return false;
  streamers_.clear();
  for (auto& s : all) streamers_[s.id] = std::move(s);
  ++version_;
  return true;
}

void streamer_directory::put(streamer s) {
  std::unique_lock lock(mutex_);
  streamers_[s.id] = std::move(s);
  ++version_;
}

bool streamer_directory::remove(int64_t id) {
  std::unique_lock lock(mutex_);
  if (streamers_.erase(id) == 0) return false;
  ++version_;
  return true;
}

std::optional<streamer> streamer_directory::get(int64_t id) const {
  std::shared_lock lock(mutex_);
  auto i = streamers_.find(id);
  if (i == streamers_.end()) return std::nullopt;
  return i->second;
}

std::vector<streamer> streamer_directory::list() const {
  std::shared_lock lock(mutex_);
  std::vector<streamer> out;
  out.reserve(streamers_.size());
  for (auto& kv : streamers_) out.push_back(kv.second);
  return out;
}

std::optional<streamer> streamer_directory::find_by_host(const std::string& host) const {
  std::shared_lock lock(mutex_);
  for (auto& kv : streamers_)
    if (kv.second.host == host) return kv.second;
  return std::nullopt;
}

bool streamer_directory::usable(const streamer& s) const {
  if (!s.enabled || s.url.empty()) return false;
  return s.capacity <= 0 || total(s.id) < s.capacity;
}

streamer_directory::pick_result streamer_directory::pick(int64_t requested) const {
  std::shared_lock lock(mutex_);
  if (requested != 0) {
    auto i = streamers_.find(requested);
    if (i == streamers_.end()) return {std::nullopt, pick_error::unknown};
    if (!usable(i->second)) return {std::nullopt, pick_error::unusable};
    return {i->second, pick_error::none_left};
  }
  const streamer* best = nullptr;
  double best_load = 0;
  for (auto& [id, s] : streamers_) {
    if (!usable(s)) continue;
    double sessions = static_cast<double>(total(id));
    double l = s.capacity > 0 ? sessions / static_cast<double>(s.capacity) : sessions;
    if (best == nullptr || l < best_load) {  // map order: ties keep the lowest id
      best = &s;
      best_load = l;
    }
  }
  if (best == nullptr) return {std::nullopt, pick_error::none_left};
  return {*best, pick_error::none_left};
}

void streamer_directory::add_load(int64_t streamer_id, int64_t delta) {
  if (streamer_id == 0 || delta == 0) return;
  std::unique_lock lock(mutex_);
  auto& n = load_[streamer_id];
  n += delta;
  if (n < 0) n = 0;
}

int64_t streamer_directory::total(int64_t id) const {
  auto mine = load_.find(id);
  auto theirs = others_.find(id);
  return (mine == load_.end() ? 0 : mine->second) + (theirs == others_.end() ? 0 : theirs->second);
}

int64_t streamer_directory::load(int64_t streamer_id) const {
  std::shared_lock lock(mutex_);
  return total(streamer_id);
}

void streamer_directory::set_cluster_load(const std::map<int64_t, int64_t>& in_database) {
  std::unique_lock lock(mutex_);
  others_.clear();
  for (auto& [id, n] : in_database) {
    auto mine = load_.find(id);
    auto theirs = n - (mine == load_.end() ? 0 : mine->second);
    if (theirs > 0) others_[id] = theirs;
  }
}

}  // namespace maxsess::actors
