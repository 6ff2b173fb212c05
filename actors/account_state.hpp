#pragma once
// The decisions for one account (PRODUCT.md §2), as plain state + methods so
// every row of the decision table is unit-tested without messaging and with
// simulated time. The account actor (account_actor.hpp) only wraps this:
// it feeds requests in, persists the writes this produces, and answers.
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "actors/session_table.hpp"
#include "actors/streamer_directory.hpp"
#include "domain/audit.hpp"
#include "domain/clock.hpp"
#include "domain/model.hpp"
#include "domain/token.hpp"
#include "storage/store.hpp"

namespace maxsess::actors {

// playback_session.mode (docs/shadow.md). In shadow every decision is made
// as in enforce, but what enforce would refuse for the limit is approved
// (the session flagged over_limit, never counted) and what it would kill for
// the limit plays on; each is recorded as a shadow_note.
enum class playback_mode { enforce, shadow };
const char* to_string(playback_mode m);

// The mode in force, shared by the runtime and every account: SIGHUP
// switches it while accounts decide (relaxed atomic: it orders nothing else).
class mode_switch {
 public:
  explicit mode_switch(playback_mode m = playback_mode::enforce) : mode_(m) {}
  playback_mode get() const { return mode_.load(std::memory_order_relaxed); }
  void set(playback_mode m) { mode_.store(m, std::memory_order_relaxed); }

 private:
  std::atomic<playback_mode> mode_;
};

// The playback_session settings the decisions use (from config).
struct decision_settings {
  bool enabled = true;  // feature switch: off = approve everything, count nothing
  // Copies share one switch (the runtime's); never null.
  std::shared_ptr<mode_switch> mode = std::make_shared<mode_switch>();
  int64_t default_max_sessions = 3;
  std::chrono::milliseconds pending_ttl{60000};
  std::chrono::milliseconds stale_after{180000};
  std::chrono::milliseconds link_ttl{600000};
  // How long the progress of a playing session reported by an auth
  // update_session (bytes, duration, last seen) may wait in memory before
  // its row is written; 0 = written before the answer, like every change.
  std::chrono::milliseconds progress_write_delay{1000};
  // This node's id (config node.id): named in every audit event as the
  // node that decided.
  std::string node_id;
};

struct link_request {
  std::string account_id;
  std::string device_id;
  content_ref content;
  int64_t streamer_id = 0;  // 0 = choose
  std::string client_ip;
};

enum class link_result {
  approved,
  denied,           // max_sessions_reached
  unknown_streamer, // requested streamer id not registered (400)
  no_streamer,      // nothing usable (503)
  unavailable,      // could not persist / owner not ready (503)
};

struct link_outcome {
  link_result result = link_result::unavailable;
  std::string message;
  playback_session session;               // approved: the device's session
  std::string url;                        // approved
  std::string token;                      // approved
  sys_time expires_at{};                  // approved: token expiry
  int64_t max_sessions = 0;               // denied (and would_deny)
  std::vector<playback_session> holders;  // denied (and would_deny): sessions holding the slots
  // Shadow mode: approved although enforce would have denied it; the
  // session is flagged over_limit.
  bool would_deny = false;
};

enum class end_result { ended, not_found, unavailable };

// --- what the streamers report (PRODUCT.md §3) ---------------------------------

// GET /flussonic/auth, after the HTTP layer verified the token's signature
// (and its expiry on new_session): the claims name the account and device.
struct auth_request {
  std::string account_id;
  std::string device_id;
  std::string stream;      // Flussonic's `name`
  std::string session_id;  // Flussonic's play session id
  std::string ip;
  bool new_session = true;
  int64_t duration = -1;  // -1: not given
  int64_t bytes = -1;
  sys_time token_issued_at{};  // token expiry - link_ttl (maxsess::issued_at)
};

enum class auth_result {
  allow,
  deny_killed,     // the device session was killed
  deny_reused,     // the token already plays from another address
  deny_limit,      // decided afresh and the account is at its limit
  deny_replaced,   // this Flussonic session was replaced by a newer one
  deny_stale_token,  // the token predates the device's current session
  unavailable,
  // Appended (wire values): an update_session with an expired link for a
  // Flussonic session the device never had; an auth for a device without
  // any session row (no link of ours is known for it: no streamer either).
  deny_expired,
  deny_unknown_session,
};
const char* to_string(auth_result r);

struct auth_outcome {
  auth_result result = auth_result::unavailable;
  // Shadow mode: allow although enforce would have denied it for the limit
  // (max_sessions_reached, or the token playing from a second address).
  bool would_deny = false;
};

// One play session as a webhook event or a sync listing shows it.
struct play_report {
  enum class kind { opened, started, updated, closed, listed } what = kind::updated;
  std::string session_id;
  std::string stream;
  std::string ip;
  std::string token;
  int64_t duration = -1;
  int64_t bytes = -1;
  std::optional<sys_time> at;  // event/updated time as the streamer saw it
  int64_t streamer_id = 0;
  // For our signed tokens: when the link was issued (expiry - link_ttl).
  std::optional<sys_time> token_issued_at;
};

// A Flussonic session to close on its streamer.
struct kill_order {
  int64_t streamer_id = 0;
  std::string account_id;
  std::string device_id;
  std::string session_id;  // empty: close whatever plays with `token`
  std::string token;
};

// Shadow mode: what enforce would have done instead (the audit trail's
// would_deny / would_kill, docs/shadow.md).
struct shadow_note {
  enum class kind { would_deny, would_kill } what = kind::would_deny;
  std::string device_id;
  std::string reason;                // max_sessions_reached | reused
  int64_t max_sessions = 0;
  std::vector<std::string> holders;  // devices holding the counted slots, oldest first
};
const char* to_string(shadow_note::kind k);

struct auth_pass;      // auth_board.hpp
struct progress_note;  // auth_board.hpp

// What the account actor hands back besides rows to write.
struct side_effects {
  std::vector<storage::write_op> writes;
  std::vector<kill_order> kills;
  int over_limit_attempts = 0;
  std::vector<shadow_note> shadow;
};

// What GET /api/v1/accounts/{id} shows.
struct account_view {
  bool found = false;  // settings row or at least one session
  account_settings settings;  // effective (defaults when no row)
  std::vector<playback_session> sessions;  // ordered by device id
};

// Builds the playback URL from the streamer's template. Placeholders:
// {url} {stream} {token} {start} {duration}. Empty template: the default,
// which for timeshift/catchup/npvr with start+duration is
// "{url}/{stream}/index-{start}-{duration}.m3u8?token={token}" and otherwise
// "{url}/{stream}/index.m3u8?token={token}".
std::string build_link_url(const streamer& s, const content_ref& c, const std::string& token);

// What every account of a node decides with: one per node, shared by its
// accounts' states (a copy in each was 128 bytes per account held in
// memory; issue 7's memory bar).
struct account_common {
  decision_settings cfg;
  const link_signer& signer;
  streamer_directory& streamers;
  std::string fence_owner;
};

class account_state {
 public:
  // shard, epoch and fence_owner go with every write: in cluster mode
  // (fence_owner = this node's id) storage applies it only while this node
  // holds the shard's lease at that epoch; empty: single node, no lease.
  // This form holds its own account_common (tests, one account).
  account_state(std::string account_id, int shard, int64_t epoch, decision_settings settings,
                const link_signer& signer, streamer_directory& streamers,
                std::string fence_owner = {});
  // The node's: every account actor's state shares the runtime's.
  account_state(std::string account_id, int shard, int64_t epoch,
                std::shared_ptr<const account_common> common);
  ~account_state();  // gives back this account's streamer load
  account_state(const account_state&) = delete;
  account_state& operator=(const account_state&) = delete;

  // Takes the stored state; expires what expired while nobody watched.
  void load(const storage::account_snapshot& snap, sys_time now, std::vector<storage::write_op>& writes);

  link_outcome request_link(const link_request& req, sys_time now,
                            std::vector<storage::write_op>& writes);
  // The same, and a would_deny shadow note in fx when it applies.
  link_outcome request_link(const link_request& req, sys_time now, side_effects& fx);
  // A denied auth check (what Flussonic asked for), a Flussonic session
  // closed as soon as it was reported (what the streamer reported).
  void record_auth_denial(const playback_session& s, const auth_request& req, std::string reason,
                          sys_time now, std::vector<storage::write_op>& writes);
  void record_play_kill(const std::string& device_id, const play_report& r, std::string reason,
                        sys_time now, std::vector<storage::write_op>& writes);

  // kill=true also orders the streamer to close what plays (fx.kills).
  end_result end_session(const std::string& device_id, bool kill, sys_time now, side_effects& fx);

  // The auth backend's question for one Flussonic session.
  auth_outcome authorize(const auth_request& req, sys_time now, side_effects& fx);

  // The auth hot path (auth_board.hpp). The Flussonic sessions for which
  // authorize() would take its progress-only branch now: every open one of
  // an active session (the first with its id, as authorize finds it) not
  // past stale_after; none when progress_write_delay is 0. Written over
  // the first n elements of `out` (n returned; it grows when needed, and
  // what lies past n is left alone, so its strings keep their room for the
  // next account): the actor publishes after every step (each account told
  // during a sync), and building the list afresh was a tenth of the
  // daemon's CPU in a sync (issue 7).
  std::size_t auth_passes(sys_time now, std::vector<auth_pass>& out) const;
  // The progress of a check allowed from the board, as authorize's
  // progress-only branch records it; false (dropped) when the session no
  // longer plays that Flussonic session (ended, killed, replaced since).
  bool absorb_progress(const progress_note& n, sys_time now);

  // A webhook event for one of this account's devices.
  void on_play(const std::string& device_id, const play_report& r, sys_time now, side_effects& fx);

  // A sync of one streamer, whole or in parts. `seen`: sessions it lists for
  // this account (by device), refreshed or adopted. Once the listing started
  // at `listed_at` is complete, open Flussonic sessions on that streamer that
  // were bound before it and are neither in `seen` nor in `listed` (the ids
  // of what earlier parts of the same listing showed) are gone. A part sent
  // while the listing still runs has listed_at = sys_time{}: nothing was
  // bound before it, so nothing is gone. Once the listing is complete, an
  // account found over its limit has its newest sessions killed. (A clock
  // at the Unix epoch itself would read every end as a part: none runs
  // there.)
  void on_sync(int64_t streamer_id, const std::vector<std::pair<std::string, play_report>>& seen,
               const std::vector<std::string>& listed, sys_time listed_at, sys_time now, side_effects& fx);
  // The whole listing at once.
  void on_sync(int64_t streamer_id, const std::vector<std::pair<std::string, play_report>>& seen,
               sys_time listed_at, sys_time now, side_effects& fx) {
    on_sync(streamer_id, seen, {}, listed_at, now, fx);
  }

  // The streamer no longer has these sessions (a kill took effect).
  void on_closed_by_streamer(const std::string& device_id, const std::vector<std::string>& session_ids,
                             sys_time now, side_effects& fx);

  // Forgets ended rows untouched for `timeout`, and killed rows whose kill
  // took effect (no open Flussonic session left); the caller deletes them
  // from the database. Returns the devices forgotten.
  std::vector<std::string> clear(sys_time now, std::chrono::milliseconds timeout);

  account_view view() const;
  // Every device's status in device order, e.g. to count what a sync
  // changed: written over `out`'s first entries (a reused list's strings
  // keep their room, so a sync step allocates nothing here); returns how
  // many.
  using status_list = std::vector<std::pair<std::string, session_status>>;
  std::size_t statuses(status_list& out) const;
  void put_settings(const account_settings& s, std::vector<storage::write_op>& writes);
  // DELETE /api/v1/accounts/{id}: the subscriber is gone. Every pending or
  // active session is killed as a portal eviction is (killed_by_operator,
  // closed on its streamer, its token refused at the next auth check) and
  // the settings row is deleted (the defaults apply from now on). The
  // session rows stay: a killed row is what refuses its token until the
  // link expired; clear removes them later. not_found when the account
  // had neither settings nor sessions (nothing changes).
  end_result remove_account(sys_time now, side_effects& fx);

  // pending past pending_ttl -> ended (never_started); active without update
  // for stale_after -> ended (stale). Returns how many sessions changed.
  // Also writes the progress that waited progress_write_delay.
  int expire(sys_time now, std::vector<storage::write_op>& writes);
  // Writes every progress waiting in memory now (the shard leaves the node).
  void flush_progress(std::vector<storage::write_op>& writes);
  bool progress_pending() const { return !progress_.empty(); }

  // When expire() next has something to do (nullopt: nothing live).
  std::optional<sys_time> next_deadline() const;
  bool has_live_sessions() const;

  int64_t max_sessions() const;
  // Sessions that hold a counted slot (pending/active, not radio, not
  // exempt, not over_limit).
  std::vector<const playback_session*> slot_holders(const std::string& except_device = {}) const;

  const std::string& account_id() const { return account_id_; }
  int shard() const { return shard_; }
  int64_t epoch() const { return epoch_; }
  const playback_session* find(const std::string& device_id) const;

 private:
  bool counts(const playback_session& s) const;
  bool shadow() const { return cfg().mode->get() == playback_mode::shadow; }
  const decision_settings& cfg() const { return common_->cfg; }
  shadow_note note(shadow_note::kind k, const std::string& device_id, const char* reason) const;
  // Shadow mode: the note in fx.shadow and its audit event (would_deny /
  // would_kill) in fx.writes, beside the rows of the decision; returns the
  // event for the caller to name what was asked for or reported.
  audit_event& record_shadow(shadow_note::kind k, const std::string& device_id, const char* reason,
                             const playback_session* subject, sys_time now, side_effects& fx);
  void end(playback_session& s, session_status st, end_reason why, sys_time now);
  void persist(const playback_session& s, std::vector<storage::write_op>& writes);
  // progress_ as a set: true when the device was not in it / was in it.
  bool mark_progress(const std::string& device_id);
  bool unmark_progress(const std::string& device_id);
  playback_session& start_session(const std::string& device_id, const std::string& stream,
                                  content_type type, sys_time now);
  void kill_over_limit(sys_time now, side_effects& fx);
  // on_sync's "gone": bound before listed_at, open, listed neither in `seen`
  // nor in `listed_before`.
  void end_unlisted(int64_t streamer_id, const std::vector<std::pair<std::string, play_report>>& seen,
                    const std::vector<std::string>& listed_before, sys_time listed_at, sys_time now,
                    side_effects& fx);
  void kill_session(playback_session& s, end_reason why, sys_time now, side_effects& fx);
  bool at_limit_without(const std::string& device_id) const;
  // True when it changed something (else nothing needs writing).
  bool refresh(playback_session& s, const play_report& r, sys_time now);
  bool from_an_earlier_link(const playback_session& s, const play_report& r) const;
  // The audit trail (domain/audit.hpp): appends an event of `kind` about
  // `device_id` to `writes`, with this account's id, `now`, this node, the
  // limit and the sessions holding the slots now (except `device_id`'s);
  // it is written with the decision's rows, fenced like them. `subject`
  // (optional) fills stream, streamer and client ip.
  void record_event(audit_kind kind, const std::string& device_id, std::string reason,
                    const playback_session* subject, sys_time now,
                    std::vector<storage::write_op>& writes);

  std::string account_id_;
  int shard_;
  int64_t epoch_;
  std::shared_ptr<const account_common> common_;
  std::optional<account_settings> settings_;
  session_table sessions_;  // by device id
  // Devices whose progress (update_session) is newer in memory than in the
  // database, and when it must be written at the latest (expire() does).
  // A vector, not a std::set: an account has a handful of devices, and the
  // set's header took account_state out of its size class (issue 7's memory
  // bar; see the static_assert in account_state.cpp).
  std::vector<std::string> progress_;
  std::optional<sys_time> progress_due_;
};

}  // namespace maxsess::actors
