#pragma once
// What every actor of a node shares, owned by the runtime and outliving every
// actor. Private to actors/.
#include "actors/auth_board.hpp"
#include "actors/ownership.hpp"
#include "actors/protocol.hpp"
#include "actors/runtime.hpp"
#include "actors/streamer_placement.hpp"

namespace maxsess::actors {

struct context {
  runtime_options opts;
  runtime_deps deps;
  const shard_locator* shards = nullptr;  // set once at start, before any request
  shard_actor nobody;                     // answers unavailable (shards owned by no one)
  caf::actor supervisor;                  // streamer supervisor (kills go there); may be empty
  streamer_placement* placement = nullptr;  // which streamers' timers run here
  // What account actors publish for the auth hot path (auth_board.hpp);
  // set once at start, before any request.
  auth_board* board = nullptr;
  // What every account actor's state shares (account_state.hpp); set once
  // at start, before any account actor is spawned.
  std::shared_ptr<const account_common> accounts;

  // The actor that answers for `account_id` now (never a null handle).
  shard_actor owner_of(const std::string& account_id) const {
    return shards->locate(shard_of(account_id, opts.shards));
  }
};

// Spawned by the runtime (streamers.cpp).
caf::actor spawn_streamer_supervisor(caf::actor_system& sys, const context* ctx);
caf::actor spawn_webhook_actor(caf::actor_system& sys, const context* ctx);

}  // namespace maxsess::actors
