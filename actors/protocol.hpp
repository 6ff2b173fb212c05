#pragma once
// The protocol between the HTTP side, the shard owners and the account
// actors, declared once as typed_actor interfaces so that the compiler checks
// that every sender and receiver agree. Private to actors/ (and cluster/):
// nothing on the HTTP side includes CAF.
//
// Who talks to whom:
//   HTTP side --(account_service: one short-lived actor per call)--> shard_actor
//   webhook / streamer actors ---------------------------------------> shard_actor
//   shard_actor (one per shard owned here) --> account_actor (one per account)
// A shard_actor handle may be a local owner or, in cluster mode, a proxy for
// the owner on another node (same interface): callers cannot tell.
//
// The types below are node-local (CAF_ALLOW_UNSAFE_MESSAGE_TYPE); what
// crosses nodes travels as the wire structs of actors/wire.hpp, converted at
// the edge.
#include <caf/all.hpp>

#include <cstdio>
#include <map>
#include <optional>

#include "actors/account_service.hpp"
#include "actors/flussonic_api.hpp"
#include "actors/jobs.hpp"
#include "actors/sync_fanout.hpp"

namespace maxsess::actors {

using account_answer = std::optional<account_view>;  // nullopt: unavailable

// One webhook event for the owner of its account.
struct play_item {
  std::string account_id;
  std::string device_id;
  play_report report;     // report.streamer_id names the streamer
  int64_t event_id = -1;  // Flussonic's event id; -1: none (never de-duplicated)
};
using play_batch = std::vector<play_item>;
// A shard's accounts in play, loaded at takeover (account -> its state).
using live_accounts = std::map<std::string, storage::account_snapshot>;

}  // namespace maxsess::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(maxsess::actors::link_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(maxsess::actors::link_outcome)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(maxsess::actors::end_result)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(maxsess::actors::account_answer)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(maxsess::account_settings)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(maxsess::streamer)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(maxsess::storage::account_snapshot)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(maxsess::storage::write_status)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(maxsess::actors::auth_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(maxsess::actors::auth_outcome)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(maxsess::actors::play_report)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(maxsess::actors::play_batch)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(maxsess::actors::live_accounts)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(maxsess::actors::seen_list)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(maxsess::actors::sync_summary)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(maxsess::actors::kill_order)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<maxsess::actors::kill_order>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(maxsess::sys_time)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(maxsess::actors::job_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(maxsess::actors::job_report)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(maxsess::actors::streamer_run)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(maxsess::actors::streamer_side::webhook_cb)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(maxsess::actors::account_service::link_cb)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(maxsess::actors::account_service::auth_cb)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(maxsess::actors::streamer_side::job_cb)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::function<void()>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::chrono::milliseconds)

// Atoms, grouped by conversation. Prefixed "ms_" so they never clash with
// CAF's own (atoms are global by text, at most 10 characters).
CAF_BEGIN_TYPE_ID_BLOCK(maxsess, caf::first_custom_type_id)
  // requests to an account (anyone -> shard_actor -> account_actor)
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
  // account actor <-> shard owner
  CAF_ADD_ATOM(maxsess, maxsess::atoms, passivate_atom, "ms_passiv")
  CAF_ADD_ATOM(maxsess, maxsess::atoms, drain_atom, "ms_drain")
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
  // requests to an account, appended (DELETE /api/v1/accounts/{id})
  CAF_ADD_ATOM(maxsess, maxsess::atoms, del_atom, "ms_del")
  // account actor internals, appended: take the progress of checks allowed
  // from the auth board (auth_board.hpp)
  CAF_ADD_ATOM(maxsess, maxsess::atoms, progress_atom, "ms_progr")
  // the jobs supervisor's journal tick (migration 011), appended
  CAF_ADD_ATOM(maxsess, maxsess::atoms, fold_atom, "ms_fold")
CAF_END_TYPE_ID_BLOCK(maxsess)

namespace maxsess::actors {

using namespace maxsess::atoms;

// One account's requests. Answers: see account_service (unavailable when
// the state could not be loaded or the write did not land).
using account_actor = caf::typed_actor<
    caf::replies_to<link_atom, link_request>::with<link_outcome>,
    caf::replies_to<end_atom, std::string /*device*/, bool /*kill*/>::with<end_result>,
    caf::replies_to<get_atom>::with<account_answer>,
    caf::replies_to<put_atom, account_settings>::with<account_answer>,
    // the subscriber is gone: kill its live sessions, delete its settings
    // (ended: done; not_found: neither settings nor sessions)
    caf::replies_to<del_atom>::with<end_result>,
    caf::replies_to<auth_atom, auth_request>::with<auth_outcome>,
    // a webhook batch's events for this account, in the order they came
    // (true: every one applied and durable)
    caf::replies_to<play_atom, play_batch>::with<bool>,
    // a sync of one streamer, in parts (account_state::on_sync): a page's
    // sessions for this account while the listing runs (listed_at =
    // sys_time{}: nothing is gone yet), then, once it is complete, the ids
    // of every session it listed here and when it started
    caf::replies_to<sync_atom, int64_t /*streamer*/, seen_list, string_list /*listed ids*/,
                    sys_time /*listed_at*/>::with<sync_summary>,
    // the streamer closed these Flussonic sessions of a device (a pushed kill)
    caf::replies_to<closed_atom, std::string /*device*/, string_list /*ids*/>::with<bool>,
    // rows untouched for `timeout` were deleted by the clear job
    caf::replies_to<forget_atom, std::chrono::milliseconds /*timeout*/>::with<bool>,
    // the shard is leaving this node: finish what is in flight (writes land
    // or are fenced), answer anything new `unavailable`, then quit
    caf::reacts_to<drain_atom>,
    // a deadline it asked its shard owner to wake it at (shard_parent) has
    // come: the time it asked for
    caf::reacts_to<wake_atom, sys_time::rep>,
    // The hot requests from this node's HTTP side, answered through the
    // callback instead of a response (see local_shard_actor).
    caf::reacts_to<link_atom, link_request, account_service::link_cb>,
    caf::reacts_to<auth_atom, auth_request, account_service::auth_cb>>;

// The owner of one shard's accounts: the same requests, addressed by account
// (link, put and auth requests carry the account id inside).
using shard_actor = caf::typed_actor<
    caf::replies_to<link_atom, link_request>::with<link_outcome>,
    caf::replies_to<end_atom, std::string /*account*/, std::string /*device*/, bool>::with<end_result>,
    caf::replies_to<get_atom, std::string /*account*/>::with<account_answer>,
    caf::replies_to<put_atom, account_settings>::with<account_answer>,
    caf::replies_to<del_atom, std::string /*account*/>::with<end_result>,
    caf::replies_to<auth_atom, auth_request>::with<auth_outcome>,
    // a webhook batch's events for this shard's accounts; the answer comes
    // once every event is durable: >= 0 = how many were already applied
    // (redelivered), < 0 = not all durable (the sink must resend)
    caf::replies_to<play_atom, play_batch>::with<int32_t>,
    caf::replies_to<sync_atom, std::string /*account*/, int64_t, seen_list, string_list, sys_time>::with<sync_summary>,
    caf::replies_to<closed_atom, std::string /*account*/, std::string, string_list>::with<bool>,
    // only accounts in memory need to hear of cleared rows
    caf::replies_to<forget_atom, std::string /*account*/, std::chrono::milliseconds>::with<bool>>;

inline link_outcome unavailable_link(std::string why) {
  link_outcome o;
  o.result = link_result::unavailable;
  o.message = std::move(why);
  return o;
}

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

}  // namespace maxsess::actors

namespace maxsess::actors {

// Where a streamer's jobs run when that is another node (cluster mode): the
// peer standing for that node. The report covers the streamers asked; kills
// decided elsewhere are pushed there too (one way: the kill run retries).
using job_actor = caf::typed_actor<caf::replies_to<job_atom, job_request>::with<job_report>,
                                   caf::reacts_to<kills_atom, std::vector<kill_order>>>;

// What an account actor asks of the shard owner that spawned it: may I go?
// (granted only when the owner forwarded nothing the actor has not seen).
// And its timer for the deadlines of its accounts (wake_schedule.hpp),
// which an account actor arms when its deadline is the earliest.
using shard_parent = caf::typed_actor<caf::replies_to<passivate_atom, uint64_t /*handled*/>::with<bool>,
                                      caf::reacts_to<tick_atom, sys_time::rep /*armed for*/>>;

// A shard owner as the node that runs it sees it: the requests, its account
// actors' questions, and control.
using local_shard_actor = shard_actor::extend<
    caf::replies_to<passivate_atom, uint64_t>::with<bool>,
    caf::reacts_to<tick_atom, sys_time::rep>,  // its timer for its accounts' deadlines
    caf::replies_to<count_atom>::with<uint64_t>,  // account actors alive
    // hand the shard off: refuse new requests, let every account actor
    // finish, answer true once none is left (the lease may then go), quit
    caf::replies_to<drain_atom>::with<bool>,
    caf::reacts_to<loaded_atom, live_accounts>,   // the takeover load (its own)
    caf::reacts_to<stop_atom>,                    // stop every account actor, then itself
    // Link and auth requests from this node's HTTP side when the owner is
    // local: the account actor calls the callback with its answer (it posts
    // to the connection). No asking actor per request, no CAF request
    // timeout (the HTTP server's per-request deadline is the backstop), one
    // hop less each way. Remote owners get the request/response form.
    caf::reacts_to<link_atom, link_request, account_service::link_cb>,
    caf::reacts_to<auth_atom, auth_request, account_service::auth_cb>>;

}  // namespace maxsess::actors
