#include "actors/shard_table.hpp"

#include <mutex>

namespace maxsess::actors {

shard_table::shard_table(int shards, shard_actor nobody)
    : nobody_(nobody),
      routes_(static_cast<size_t>(shards), nobody),
      local_(static_cast<size_t>(shards)),
      until_ns_(new std::atomic<int64_t>[static_cast<size_t>(shards)]) {
  for (int i = 0; i < shards; ++i) until_ns_[static_cast<size_t>(i)] = std::numeric_limits<int64_t>::max();
}

bool shard_table::serving(int shard, sys_time now) const {
  return now.time_since_epoch().count() < until_ns_[static_cast<size_t>(shard)].load(std::memory_order_relaxed);
}

void shard_table::serve_until(int shard, sys_time deadline) {
  until_ns_[static_cast<size_t>(shard)].store(deadline.time_since_epoch().count(), std::memory_order_relaxed);
}

shard_actor shard_table::locate(int shard) const {
  std::shared_lock lock(mutex_);
  return routes_[static_cast<size_t>(shard)];
}

local_shard_actor shard_table::locate_local(int shard) const {
  std::shared_lock lock(mutex_);
  return local_[static_cast<size_t>(shard)];
}

void shard_table::route(int shard, shard_actor to) {
  std::unique_lock lock(mutex_);
  routes_[static_cast<size_t>(shard)] = std::move(to);
  local_[static_cast<size_t>(shard)] = local_shard_actor{};
}

void shard_table::route_local(int shard, local_shard_actor owner) {
  std::unique_lock lock(mutex_);
  routes_[static_cast<size_t>(shard)] = owner;
  local_[static_cast<size_t>(shard)] = std::move(owner);
}

void shard_table::route_to_nobody(int shard) { route(shard, nobody_); }

namespace {

shard_actor::behavior_type nobody_fn(shard_actor::pointer) {
  return {
      [](link_atom, link_request&) { return unavailable_link("this shard has no owner right now; retry"); },
      [](end_atom, std::string&, std::string&, bool) { return end_result::unavailable; },
      [](get_atom, std::string&) { return account_answer{}; },
      [](put_atom, account_settings&) { return account_answer{}; },
      [](del_atom, std::string&) { return end_result::unavailable; },
      [](auth_atom, auth_request&) { return auth_outcome{auth_result::unavailable}; },
      [](play_atom, play_batch&) { return int32_t{-1}; },
      [](sync_atom, std::string&, int64_t, seen_list&, string_list&, sys_time) {
        // The caller counts an error for this account; the next sync retries.
        return caf::result<sync_summary>(caf::make_error(caf::sec::request_receiver_down));
      },
      [](closed_atom, std::string&, std::string&, string_list&) { return false; },
      [](forget_atom, std::string&, std::chrono::milliseconds) { return false; },
  };
}

}  // namespace

shard_actor spawn_nobody(caf::actor_system& sys) { return sys.spawn(nobody_fn); }

}  // namespace maxsess::actors
