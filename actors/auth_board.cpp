#include "actors/auth_board.hpp"

#include <algorithm>
#include <tuple>

namespace maxsess::actors {

auth_board::auth_board(int shards, std::chrono::milliseconds stale_after)
    : stale_after_(stale_after),
      buckets_(std::make_unique<bucket[]>(static_cast<std::size_t>(std::max(1, shards)))),
      shards_(std::max(1, shards)) {}

auth_board::bucket& auth_board::at(int shard) {
  return buckets_[static_cast<std::size_t>(shard >= 0 && shard < shards_ ? shard : 0)];
}

const auth_board::bucket& auth_board::at(int shard) const {
  return buckets_[static_cast<std::size_t>(shard >= 0 && shard < shards_ ? shard : 0)];
}

bool auth_board::try_allow(int shard, const auth_request& req, sys_time now, std::function<void()>& notify) {
  auto& b = at(shard);
  std::lock_guard lock(b.mutex);
  auto it = b.pages.find(req.account_id);
  if (it == b.pages.end()) return false;
  auto& p = it->second;
  auto pass = std::find_if(p.passes.begin(), p.passes.end(), [&](const auth_pass& x) {
    return x.device_id == req.device_id && x.session_id == req.session_id;
  });
  // Past stale_after the actor ends the session first and decides afresh.
  if (pass == p.passes.end() || now >= pass->stale_at) return false;
  // What the actor's refresh will make of it: last seen now.
  pass->stale_at = std::max(pass->stale_at, now + stale_after_);
  auto note = std::find_if(p.pending.begin(), p.pending.end(), [&](const progress_note& n) {
    return n.device_id == req.device_id && n.session_id == req.session_id;
  });
  if (note == p.pending.end()) {
    p.pending.push_back({req.device_id, req.session_id, req.duration, req.bytes, now});
  } else {
    note->duration = std::max(note->duration, req.duration);
    note->bytes = std::max(note->bytes, req.bytes);
    note->at = std::max(note->at, now);
  }
  if (!p.will_write && !p.told) {
    p.told = true;
    notify = p.notify;
  }
  allowed_.fetch_add(1, std::memory_order_relaxed);
  return true;
}

auth_board::published auth_board::publish(int shard, const std::string& account_id, uint64_t owner,
                                          const auth_pass* passes, std::size_t n, bool will_write,
                                          const std::function<void()>& notify) {
  auto& b = at(shard);
  std::lock_guard lock(b.mutex);
  // One lookup whether the page exists or not: the usual case for an
  // account without playing devices finds nothing and has nothing to put.
  auto it = n == 0 ? b.pages.find(account_id) : b.pages.end();
  if (n == 0 && it == b.pages.end()) return {};
  bool added = false;
  if (n != 0) std::tie(it, added) = b.pages.try_emplace(account_id);
  if (added) {
    it->second.owner = owner;
    it->second.notify = notify;
  } else if (it->second.owner != owner) {
    if (owner < it->second.owner) return {};  // an older actor of the account: not its page
    it->second = page{};
    it->second.owner = owner;
    it->second.notify = notify;
  }
  auto& p = it->second;
  p.passes.assign(passes, passes + n);
  p.will_write = will_write;
  if (p.passes.empty() && p.pending.empty()) {
    b.pages.erase(it);
    return {};
  }
  published out{true, false};
  if (!p.pending.empty() && !p.will_write && !p.told) {
    p.told = true;
    out.take_now = true;
  }
  return out;
}

std::vector<progress_note> auth_board::take(int shard, const std::string& account_id, uint64_t owner) {
  auto& b = at(shard);
  std::lock_guard lock(b.mutex);
  auto it = b.pages.find(account_id);
  if (it == b.pages.end() || it->second.owner != owner) return {};
  it->second.told = false;
  std::vector<progress_note> out;
  out.swap(it->second.pending);
  return out;
}

void auth_board::withdraw(int shard, const std::string& account_id, uint64_t owner) {
  auto& b = at(shard);
  std::lock_guard lock(b.mutex);
  auto it = b.pages.find(account_id);
  if (it != b.pages.end() && it->second.owner == owner) b.pages.erase(it);
}

std::size_t auth_board::pages() const {
  std::size_t n = 0;
  for (int i = 0; i < shards_; ++i) {
    std::lock_guard lock(buckets_[static_cast<std::size_t>(i)].mutex);
    n += buckets_[static_cast<std::size_t>(i)].pages.size();
  }
  return n;
}

uint64_t auth_board::allowed() const { return allowed_.load(std::memory_order_relaxed); }

}  // namespace maxsess::actors
