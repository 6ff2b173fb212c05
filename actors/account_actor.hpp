#pragma once
// The account actor: one per account in use on the node that owns its
// shard. It owns the account's state (account_state, which decides), loads
// it from storage on start, answers a change only once its rows are durable,
// ends what expires on a timer and passivates when idle (PRODUCT.md §6).
#include <memory>

#include "actors/context.hpp"
#include "actors/wake_schedule.hpp"

namespace maxsess::actors {

struct account_actor_args {
  std::string account_id;
  int shard = 0;
  int64_t epoch = 1;   // the shard owner's lease epoch: every write is fenced by it
  shard_parent parent;  // asked before passivating
  // The parent's schedule of its accounts' deadlines (wake_schedule.hpp).
  std::shared_ptr<shared_wake_schedule> wakes;
  // Loaded by the shard owner at takeover: no load of its own.
  std::optional<storage::account_snapshot> preloaded;
  // The account's previous actor died (an exception) and may have left
  // writes in flight: the first load waits until they were answered
  // (account_store::after_writes), so it cannot miss a row they add.
  bool after_death = false;
};

account_actor spawn_account_actor(caf::actor_system& sys, const context* ctx, account_actor_args args);

}  // namespace maxsess::actors
