#include "actors/shard_table.hpp"

#include <mutex>

namespace maxsess::actors {

shard_table::shard_table(int shards, shard_actor nobody)
    : nobody_(nobody), routes_(static_cast<size_t>(shards), nobody) {}

shard_actor shard_table::locate(int shard) const {
  std::shared_lock lock(mutex_);
  return routes_[static_cast<size_t>(shard)];
}

void shard_table::route(int shard, shard_actor to) {
  std::unique_lock lock(mutex_);
  routes_[static_cast<size_t>(shard)] = std::move(to);
}

void shard_table::route_to_nobody(int shard) { route(shard, nobody_); }

namespace {

shard_actor::behavior_type nobody_fn(shard_actor::pointer) {
  return {
      [](link_atom, link_request&) { return unavailable_link("this shard has no owner right now; retry"); },
      [](end_atom, std::string&, std::string&, bool) { return end_result::unavailable; },
      [](get_atom, std::string&) { return account_answer{}; },
      [](put_atom, account_settings&) { return account_answer{}; },
      [](auth_atom, auth_request&) { return auth_outcome{auth_result::unavailable}; },
      [](play_atom, play_batch&) { return int32_t{-1}; },
      [](sync_atom, std::string&, int64_t, seen_list&, sys_time) {
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
