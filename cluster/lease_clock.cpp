#include "cluster/lease_clock.hpp"

#include <algorithm>
#include <stdexcept>

namespace maxsess::cluster {

lease_clock::lease_clock(lease_timing timing) : timing_(timing) {
  if (timing_.safety_margin.count() < 0 || timing_.renew_every.count() <= 0 ||
      timing_.renew_every >= timing_.ttl - timing_.safety_margin)
    throw std::invalid_argument(
        "lease timing: need 0 <= safety_margin and 0 < renew_every < ttl - safety_margin");
}

sys_time lease_clock::deadline_for(sys_time sent_at) const {
  return sent_at + timing_.ttl - timing_.safety_margin;
}

bool lease_clock::on_acquired(shard_epoch l, sys_time sent_at, sys_time now) {
  const auto deadline = deadline_for(sent_at);
  if (deadline <= now)
    return false;
  leases_[l.shard] = lease{l.epoch, deadline, false};
  return true;
}

std::vector<int> lease_clock::on_renewed(const std::vector<shard_epoch>& renewed, sys_time sent_at,
                                         sys_time now) {
  std::vector<int> dropped;
  for (const auto& r : renewed) {
    auto it = leases_.find(r.shard);
    if (it == leases_.end() || it->second.epoch != r.epoch)
      continue;
    if (it->second.deadline <= now) {
      dropped.push_back(r.shard);
      leases_.erase(it);
      continue;
    }
    // max: answers to two renews may arrive out of order.
    it->second.deadline = std::max(it->second.deadline, deadline_for(sent_at));
  }
  std::sort(dropped.begin(), dropped.end());
  return dropped;
}

void lease_clock::on_renew_sent(sys_time now) { last_renew_sent_ = now; }

void lease_clock::on_lost(const std::vector<int>& shards) {
  for (int s : shards)
    leases_.erase(s);
}

void lease_clock::begin_release(int shard) {
  if (auto it = leases_.find(shard); it != leases_.end())
    it->second.releasing = true;
}

void lease_clock::on_released(int shard) { leases_.erase(shard); }

std::vector<int> lease_clock::expired_now(sys_time now) {
  std::vector<int> out;
  for (auto it = leases_.begin(); it != leases_.end();) {
    if (it->second.deadline <= now) {
      out.push_back(it->first);
      it = leases_.erase(it);
    } else {
      ++it;
    }
  }
  return out;
}

bool lease_clock::renew_due(sys_time now) const {
  if (leases_.empty())
    return false;
  return !last_renew_sent_ || now >= *last_renew_sent_ + timing_.renew_every;
}

std::vector<shard_epoch> lease_clock::to_renew() const {
  std::vector<shard_epoch> out;
  out.reserve(leases_.size());
  for (const auto& [shard, l] : leases_)
    out.push_back({shard, l.epoch});
  return out;
}

bool lease_clock::serving(int shard, sys_time now) const {
  auto it = leases_.find(shard);
  return it != leases_.end() && !it->second.releasing && now < it->second.deadline;
}

std::optional<int64_t> lease_clock::epoch_of(int shard) const {
  auto it = leases_.find(shard);
  if (it == leases_.end())
    return std::nullopt;
  return it->second.epoch;
}

std::optional<sys_time> lease_clock::deadline_of(int shard) const {
  auto it = leases_.find(shard);
  if (it == leases_.end())
    return std::nullopt;
  return it->second.deadline;
}

std::optional<sys_time> lease_clock::next_deadline() const {
  std::optional<sys_time> out;
  for (const auto& [shard, l] : leases_)
    if (!out || l.deadline < *out)
      out = l.deadline;
  return out;
}

std::vector<int> lease_clock::held() const {
  std::vector<int> out;
  out.reserve(leases_.size());
  for (const auto& [shard, l] : leases_)
    out.push_back(shard);
  return out;
}

}  // namespace maxsess::cluster
