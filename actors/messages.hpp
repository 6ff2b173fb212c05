#pragma once
// CAF declarations shared by the actor translation units (runtime.cpp,
// streamers.cpp). Private to actors/: nothing outside includes CAF.
//
// Message types are local-only today (CAF_ALLOW_UNSAFE_MESSAGE_TYPE); the
// cluster work gives the ones that cross nodes an inspect() and a type id,
// with a round-trip test for each.
#include <caf/all.hpp>

#include <cstdio>

#include "actors/account_service.hpp"
#include "actors/flussonic_api.hpp"
#include "actors/jobs.hpp"
#include "actors/runtime.hpp"

namespace maxsess::actors {

// What a sync changed in one account (for the job report).
struct sync_summary {
  int adopted = 0;
  int ended = 0;
  int killed = 0;
};

using seen_list = std::vector<std::pair<std::string, play_report>>;  // device, session

// Everything an actor needs, owned by the runtime, outliving every actor.
struct context {
  runtime_options opts;
  runtime_deps deps;
  caf::actor router;      // set once at start, before any account actor exists
  caf::actor supervisor;  // streamer supervisor (kills go there); may be empty
};

// Calls a callback that came from outside the actors (HTTP side) so that an
// exception in it cannot take the calling actor down with it.
template <class F, class... Ts>
void call_back(const F& cb, Ts&&... xs) noexcept {
  try {
    cb(std::forward<Ts>(xs)...);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "maxsessd: a reply callback failed: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "maxsessd: a reply callback failed\n");
  }
}

// Spawned by the runtime (streamers.cpp).
caf::actor spawn_streamer_supervisor(caf::actor_system& sys, const context* ctx);
caf::actor spawn_webhook_actor(caf::actor_system& sys, const context* ctx);

}  // namespace maxsess::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(maxsess::actors::link_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(maxsess::actors::link_outcome)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(maxsess::actors::end_result)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::optional<maxsess::actors::account_view>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(maxsess::account_settings)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(maxsess::streamer)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(maxsess::storage::account_snapshot)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(maxsess::storage::write_status)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(maxsess::actors::auth_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(maxsess::actors::auth_outcome)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(maxsess::actors::play_report)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(maxsess::actors::seen_list)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(maxsess::actors::sync_summary)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(maxsess::actors::kill_order)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<maxsess::actors::kill_order>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<std::string>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(maxsess::sys_time)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(maxsess::actors::job_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(maxsess::actors::job_report)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(maxsess::actors::streamer_run)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(maxsess::actors::account_service::link_cb)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(maxsess::actors::account_service::end_cb)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(maxsess::actors::account_service::view_cb)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(maxsess::actors::account_service::auth_cb)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(maxsess::actors::streamer_side::webhook_cb)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(maxsess::actors::streamer_side::job_cb)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::function<void()>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::chrono::milliseconds)

// Atoms, grouped by conversation. Prefixed "ms_" so they never clash with
// CAF's own (atoms are global by text, at most 10 characters).
CAF_BEGIN_TYPE_ID_BLOCK(maxsess, caf::first_custom_type_id)
  // requests to an account (gateway/webhook/streamers -> router -> account actor)
  CAF_ADD_ATOM(maxsess, maxsess::atoms, link_atom, "ms_link")
  CAF_ADD_ATOM(maxsess, maxsess::atoms, end_atom, "ms_end")
  CAF_ADD_ATOM(maxsess, maxsess::atoms, get_atom, "ms_get")
  CAF_ADD_ATOM(maxsess, maxsess::atoms, put_atom, "ms_put")
  CAF_ADD_ATOM(maxsess, maxsess::atoms, auth_atom, "ms_auth")
  CAF_ADD_ATOM(maxsess, maxsess::atoms, play_atom, "ms_play")
  CAF_ADD_ATOM(maxsess, maxsess::atoms, sync_atom, "ms_sync")
  CAF_ADD_ATOM(maxsess, maxsess::atoms, closed_atom, "ms_closed")
  CAF_ADD_ATOM(maxsess, maxsess::atoms, forget_atom, "ms_forget")
  // account actor internals (self-messages)
  CAF_ADD_ATOM(maxsess, maxsess::atoms, loaded_atom, "ms_loaded")
  CAF_ADD_ATOM(maxsess, maxsess::atoms, loadfail_atom, "ms_ldfail")
  CAF_ADD_ATOM(maxsess, maxsess::atoms, written_atom, "ms_written")
  CAF_ADD_ATOM(maxsess, maxsess::atoms, wake_atom, "ms_wake")
  // account actor <-> router
  CAF_ADD_ATOM(maxsess, maxsess::atoms, passivate_atom, "ms_passiv")
  // streamer side
  CAF_ADD_ATOM(maxsess, maxsess::atoms, hook_atom, "ms_hook")
  CAF_ADD_ATOM(maxsess, maxsess::atoms, kills_atom, "ms_kills")
  CAF_ADD_ATOM(maxsess, maxsess::atoms, job_atom, "ms_job")
  CAF_ADD_ATOM(maxsess, maxsess::atoms, refresh_atom, "ms_refresh")
  CAF_ADD_ATOM(maxsess, maxsess::atoms, run_atom, "ms_run")
  CAF_ADD_ATOM(maxsess, maxsess::atoms, tick_atom, "ms_tick")
  CAF_ADD_ATOM(maxsess, maxsess::atoms, done_atom, "ms_done")
  // runtime control
  CAF_ADD_ATOM(maxsess, maxsess::atoms, count_atom, "ms_count")
  CAF_ADD_ATOM(maxsess, maxsess::atoms, stop_atom, "ms_stop")
CAF_END_TYPE_ID_BLOCK(maxsess)
