#pragma once
// The audit trail (issue 9, PRODUCT.md `GET /api/v1/accounts/{id}/events`):
// "why was subscriber X refused an hour ago?". One audit_event per decision
// that refused or stopped playback: who (account, device), when, what
// (kind, reason), which devices held the slots then, which node decided.
//
// How an event is produced and stored (the interface other parts build on):
//  - account_state (actors/, CAF-free) decides; for each such decision it
//    appends storage::write_op::of(storage::event_insert{event, shard,
//    epoch, owner}) to the same `writes` vector as the session rows of that
//    decision (account_state::record_event does it). The account actor
//    submits them together, so the batch writer commits the event in the
//    same transaction (group commit) as the rows: a kill and its record
//    land together or not at all.
//  - Fencing is that of the other writes: in cluster mode the insert
//    applies only while this node holds the shard's lease at that epoch (a
//    node that lost the lease records nothing); single node: no lease check.
//  - A decision whose event could not be written is answered like any
//    decision whose rows could not be written (503, retry): every link
//    denial answered 403 is on record. Except auth backend refusals that
//    change no state: answered from memory at once (the database may be
//    down; FLUSSONIC.md), the event written behind them and, if that
//    fails, counted lost (the account is not reloaded: nothing changed).
//  - After the commit the account actor logs one `info` line per event and
//    counts it in maxsess_audit_events_total{kind}.
//  - Events are never updated; the clear job deletes those older than
//    playback_session.events_keep.
//
// Kinds and who produces them:
//   denied          a link request or a fresh auth check refused for the limit
//   killed          a session killed for the limit (sync found the account
//                   over it; a webhook's session refused adoption)
//   evicted         the portal's DELETE .../session?kill=true
//   ended_by_admin  an administrator ended sessions (e.g. DELETE account)
//   would_deny      shadow mode: approved, but enforce would have denied
//   would_kill      shadow mode: left alone, but enforce would have killed
// No CAF here; storage and net render these.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "domain/clock.hpp"
#include "domain/model.hpp"

namespace maxsess {

enum class audit_kind { denied, killed, evicted, ended_by_admin, would_deny, would_kill };
const char* to_string(audit_kind k);
std::optional<audit_kind> parse_audit_kind(std::string_view s);
// Every kind, in declaration order (metrics show a zero sample for each).
inline constexpr audit_kind all_audit_kinds[] = {
    audit_kind::denied,         audit_kind::killed,     audit_kind::evicted,
    audit_kind::ended_by_admin, audit_kind::would_deny, audit_kind::would_kill,
};

// A session that held one of the account's slots when the decision was made.
struct audit_holder {
  std::string device_id;
  session_status status = session_status::active;
  std::string stream;
  int64_t streamer_id = 0;
  std::string client_ip;
  sys_time started_at{};
};
audit_holder holder_of(const playback_session& s);

struct audit_event {
  // Assigned by the database when written (0 before): with `at` the order
  // and paging key of the events API.
  int64_t id = 0;
  std::string account_id;
  std::string device_id;  // the device refused / whose session was stopped
  sys_time at{};          // when the deciding node decided (its clock)
  audit_kind kind = audit_kind::denied;
  // Machine-readable why: max_sessions_reached (denied, would_deny),
  // killed_over_limit, killed_by_operator, ... (end_reason wire names where
  // a session ended).
  std::string reason;
  std::string node;           // node.id of the node that decided
  int64_t max_sessions = 0;   // the account's limit then (0 = unlimited)
  std::string stream;         // what the device asked for / played
  int64_t streamer_id = 0;    // 0 = none chosen / unknown
  std::string client_ip;
  // The sessions holding the slots then, oldest first (for a kill: the ones
  // that were kept).
  std::vector<audit_holder> holders;
};

}  // namespace maxsess
