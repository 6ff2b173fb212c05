#pragma once
// What crosses nodes over CAF remoting (cluster mode): wire structs of their
// own, each with a CAF 0.17 `inspect`, registered in one CAF type id block
// (below) and by add_wire_types(). domain/ and the actor-side types stay
// CAF-free; CAF 0.17 cannot inspect std::optional / std::variant, so an
// optional field is a `has_x` flag + value, an enum its integer value, a
// sys_time int64 milliseconds since the Unix epoch.
//
// Conversions live at the edge: to_wire(actor-side value) and from_wire(wire
// value). Where a wire value can be invalid (an enum integer this build does
// not know), from_wire returns std::optional and nullopt means "rejected":
// the receiver answers `unavailable` (or drops a one-way message) instead of
// acting on it. Times from the wire are clamped to what sys_time can hold.
//
// All nodes run the same build (no schema evolution on the wire); the
// handshake (node_hello) still carries protocol_version so a mixed mesh
// refuses to form instead of misreading messages.
//
// Adding a type: a struct + inspect here, a CAF_ADD_TYPE_ID line in the block
// at the end of this file, a populated sample in wire.cpp (it does not compile
// without one), and a round trip in tests/unit/actors/wire_test.cpp.
#include <caf/fwd.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/type_id.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "actors/account_state.hpp"
#include "actors/jobs.hpp"
#include "domain/clock.hpp"
#include "domain/model.hpp"

// CAF 0.17 serializes a field or message element whose type is marked
// CAF_ALLOW_UNSAFE_MESSAGE_TYPE as nothing at all, silently (and a TU that
// sees the mark serializes differently from one that does not). The field
// types the wire structs use must never be marked: this assert fails to
// compile in any TU that also sees such a mark, whichever header comes first
// (before: the assert fails; after: "specialization after instantiation").
namespace maxsess::wire::detail {
template <class... Ts>
inline constexpr bool none_marked_unsafe = !(caf::allowed_unsafe_message_type<Ts>::value || ...);
}  // namespace maxsess::wire::detail
static_assert(maxsess::wire::detail::none_marked_unsafe<bool, int32_t, int64_t, std::string,
                                                        std::vector<int64_t>,
                                                        std::vector<std::string>>,
              "a type the wire structs use is marked CAF_ALLOW_UNSAFE_MESSAGE_TYPE: CAF would "
              "skip it when serializing (remove the mark, e.g. for std::vector<std::string> "
              "in actors/messages.hpp)");

namespace maxsess::wire {

// Checked in the mesh handshake; bump on any change to a wire struct.
// 2: over_limit, would_deny (shadow mode). 3: a play batch sent to an owner
// has had its progress journaled (migration 011), so the owner answers a
// progress-only event from memory: a node that does not journal must never
// send it one. 4: a sync tells an account its part of each page as the
// listing goes and, once it is complete, the ids it listed there
// (sync_request.listed).
inline constexpr int32_t protocol_version = 4;

// --- records -----------------------------------------------------------------

struct content_ref {
  int32_t type = 0;  // maxsess::content_type
  std::string stream;
  bool has_start = false;
  int64_t start = 0;
  bool has_duration = false;
  int64_t duration = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, content_ref& x) {
  return f(caf::meta::type_name("maxsess.wire.content_ref"), x.type, x.stream, x.has_start,
           x.start, x.has_duration, x.duration);
}

struct flussonic_session {
  std::string id;
  std::string ip;
  bool open = true;
  int64_t updated_at_ms = 0;
  std::string stream;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, flussonic_session& x) {
  return f(caf::meta::type_name("maxsess.wire.flussonic_session"), x.id, x.ip, x.open,
           x.updated_at_ms, x.stream);
}

struct playback_session {
  std::string account_id;
  std::string device_id;
  int32_t status = 0;  // maxsess::session_status
  content_ref content;
  int64_t streamer_id = 0;
  std::string client_ip;
  std::vector<flussonic_session> flussonic;
  std::string token;
  int64_t started_at_ms = 0;
  int64_t updated_at_ms = 0;
  bool has_ended_at = false;
  int64_t ended_at_ms = 0;
  int64_t duration_s = 0;
  int64_t bytes = 0;
  bool has_reason = false;
  int32_t reason = 0;  // maxsess::end_reason
  bool exempt = false;
  bool over_limit = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, playback_session& x) {
  return f(caf::meta::type_name("maxsess.wire.playback_session"), x.account_id, x.device_id,
           x.status, x.content, x.streamer_id, x.client_ip, x.flussonic, x.token, x.started_at_ms,
           x.updated_at_ms, x.has_ended_at, x.ended_at_ms, x.duration_s, x.bytes, x.has_reason,
           x.reason, x.exempt, x.over_limit);
}

struct account_settings {
  std::string account_id;
  int64_t max_sessions = 0;
  bool exempt = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, account_settings& x) {
  return f(caf::meta::type_name("maxsess.wire.account_settings"), x.account_id, x.max_sessions,
           x.exempt);
}

struct account_view {
  bool found = false;
  account_settings settings;
  std::vector<playback_session> sessions;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, account_view& x) {
  return f(caf::meta::type_name("maxsess.wire.account_view"), x.found, x.settings, x.sessions);
}

// --- account requests and their answers ---------------------------------------

struct link_request {
  std::string account_id;
  std::string device_id;
  content_ref content;
  int64_t streamer_id = 0;
  std::string client_ip;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, link_request& x) {
  return f(caf::meta::type_name("maxsess.wire.link_request"), x.account_id, x.device_id,
           x.content, x.streamer_id, x.client_ip);
}

struct link_outcome {
  int32_t result = 0;  // actors::link_result
  std::string message;
  playback_session session;
  std::string url;
  std::string token;
  int64_t expires_at_ms = 0;
  int64_t max_sessions = 0;
  std::vector<playback_session> holders;
  bool would_deny = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, link_outcome& x) {
  return f(caf::meta::type_name("maxsess.wire.link_outcome"), x.result, x.message, x.session,
           x.url, x.token, x.expires_at_ms, x.max_sessions, x.holders, x.would_deny);
}

// account_service::end_session's arguments.
struct end_request {
  std::string account_id;
  std::string device_id;
  bool kill = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, end_request& x) {
  return f(caf::meta::type_name("maxsess.wire.end_request"), x.account_id, x.device_id, x.kill);
}

struct end_result {
  int32_t result = 0;  // actors::end_result
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, end_result& x) {
  return f(caf::meta::type_name("maxsess.wire.end_result"), x.result);
}

// The answer to get/put: optional<account_view> (absent = unavailable).
struct account_answer {
  bool available = false;
  account_view view;  // meaningful when available
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, account_answer& x) {
  return f(caf::meta::type_name("maxsess.wire.account_answer"), x.available, x.view);
}

struct auth_request {
  std::string account_id;
  std::string device_id;
  std::string stream;
  std::string session_id;
  std::string ip;
  bool new_session = true;
  int64_t duration = -1;
  int64_t bytes = -1;
  int64_t token_issued_at_ms = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, auth_request& x) {
  return f(caf::meta::type_name("maxsess.wire.auth_request"), x.account_id, x.device_id,
           x.stream, x.session_id, x.ip, x.new_session, x.duration, x.bytes,
           x.token_issued_at_ms);
}

struct auth_outcome {
  int32_t result = 0;  // actors::auth_result
  bool would_deny = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, auth_outcome& x) {
  return f(caf::meta::type_name("maxsess.wire.auth_outcome"), x.result, x.would_deny);
}

// --- what the streamers report -------------------------------------------------

struct play_report {
  int32_t what = 0;  // actors::play_report::kind
  std::string session_id;
  std::string stream;
  std::string ip;
  std::string token;
  int64_t duration = -1;
  int64_t bytes = -1;
  bool has_at = false;
  int64_t at_ms = 0;
  int64_t streamer_id = 0;
  bool has_token_issued_at = false;
  int64_t token_issued_at_ms = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, play_report& x) {
  return f(caf::meta::type_name("maxsess.wire.play_report"), x.what, x.session_id, x.stream, x.ip,
           x.token, x.duration, x.bytes, x.has_at, x.at_ms, x.streamer_id, x.has_token_issued_at,
           x.token_issued_at_ms);
}

// One webhook event for the owner of its account. A webhook batch for one
// owner is a std::vector<play_event>.
struct play_event {
  std::string account_id;
  std::string device_id;
  play_report report;
  int64_t event_id = -1;  // Flussonic's id, for de-duplication by the owner; -1: none
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, play_event& x) {
  return f(caf::meta::type_name("maxsess.wire.play_event"), x.account_id, x.device_id, x.report,
           x.event_id);
}

// One entry of a sync listing: a device's play session.
struct seen_session {
  std::string device_id;
  play_report report;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, seen_session& x) {
  return f(caf::meta::type_name("maxsess.wire.seen_session"), x.device_id, x.report);
}

// A part of a sync of one streamer for one account (account_state::on_sync):
// a page's sessions (listed_at_ms 0), or the ids of every session the
// complete listing showed for it (protocol 4).
struct sync_request {
  std::string account_id;
  int64_t streamer_id = 0;
  std::vector<seen_session> seen;
  std::vector<std::string> listed;
  int64_t listed_at_ms = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, sync_request& x) {
  return f(caf::meta::type_name("maxsess.wire.sync_request"), x.account_id, x.streamer_id, x.seen,
           x.listed, x.listed_at_ms);
}

// What a sync changed in one account.
struct sync_summary {
  int32_t adopted = 0;
  int32_t ended = 0;
  int32_t killed = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, sync_summary& x) {
  return f(caf::meta::type_name("maxsess.wire.sync_summary"), x.adopted, x.ended, x.killed);
}

// The streamer no longer has these sessions (account_state::on_closed_by_streamer).
struct closed_by_streamer {
  std::string account_id;
  std::string device_id;
  std::vector<std::string> session_ids;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, closed_by_streamer& x) {
  return f(caf::meta::type_name("maxsess.wire.closed_by_streamer"), x.account_id, x.device_id,
           x.session_ids);
}

// A clear job tells each account's owner to forget rows untouched for `timeout_ms`.
struct forget_request {
  std::string account_id;
  int64_t timeout_ms = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, forget_request& x) {
  return f(caf::meta::type_name("maxsess.wire.forget_request"), x.account_id, x.timeout_ms);
}

struct kill_order {
  int64_t streamer_id = 0;
  std::string account_id;
  std::string device_id;
  std::string session_id;
  std::string token;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, kill_order& x) {
  return f(caf::meta::type_name("maxsess.wire.kill_order"), x.streamer_id, x.account_id,
           x.device_id, x.session_id, x.token);
}

// --- jobs (forwarded to the node that runs a streamer) ---------------------------

struct job_request {
  int32_t what = 0;  // actors::job_request::kind
  int32_t batch_size = 0;
  std::vector<int64_t> streamer_ids;
  bool has_timeout = false;
  int64_t timeout_ms = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, job_request& x) {
  return f(caf::meta::type_name("maxsess.wire.job_request"), x.what, x.batch_size,
           x.streamer_ids, x.has_timeout, x.timeout_ms);
}

struct streamer_run {
  int64_t streamer_id = 0;
  bool ok = true;
  std::string error;
  int32_t listed = 0;
  int32_t untracked = 0;
  int32_t adopted = 0;
  int32_t ended = 0;
  int32_t killed = 0;
  int32_t closed = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, streamer_run& x) {
  return f(caf::meta::type_name("maxsess.wire.streamer_run"), x.streamer_id, x.ok, x.error,
           x.listed, x.untracked, x.adopted, x.ended, x.killed, x.closed);
}

struct job_report {
  int32_t what = 0;  // actors::job_request::kind
  bool ok = true;
  std::string error;
  std::vector<streamer_run> streamers;
  int64_t cleared = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, job_report& x) {
  return f(caf::meta::type_name("maxsess.wire.job_report"), x.what, x.ok, x.error, x.streamers,
           x.cleared);
}

// --- mesh --------------------------------------------------------------------------

// The first message between two nodes, both ways.
struct node_hello {
  std::string node_id;   // our cluster node name (not CAF's node_id)
  int32_t protocol_version = 0;  // wire::protocol_version of the sender's build
  int32_t shard_count = 0;       // must agree across the mesh
  std::string http_address;      // where this node serves HTTP (redirects, admin)
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, node_hello& x) {
  return f(caf::meta::type_name("maxsess.wire.node_hello"), x.node_id, x.protocol_version,
           x.shard_count, x.http_address);
}

// --- conversions at the edge ---------------------------------------------------------

// sys_time <-> int64 milliseconds since the Unix epoch (sub-millisecond
// precision is dropped: floor). Values beyond what sys_time holds are clamped.
int64_t to_wire_ms(sys_time t);
sys_time from_wire_ms(int64_t ms);

// Enums by their integer value; nullopt: not a value this build knows.
std::optional<content_type> content_type_from_wire(int32_t v);
std::optional<session_status> session_status_from_wire(int32_t v);
std::optional<end_reason> end_reason_from_wire(int32_t v);
std::optional<actors::link_result> link_result_from_wire(int32_t v);
std::optional<actors::end_result> end_result_from_wire(int32_t v);
std::optional<actors::auth_result> auth_result_from_wire(int32_t v);
std::optional<actors::play_report::kind> play_kind_from_wire(int32_t v);
std::optional<actors::job_request::kind> job_kind_from_wire(int32_t v);

wire::content_ref to_wire(const maxsess::content_ref& x);
std::optional<maxsess::content_ref> from_wire(const wire::content_ref& x);

wire::flussonic_session to_wire(const maxsess::flussonic_session& x);
maxsess::flussonic_session from_wire(const wire::flussonic_session& x);

wire::playback_session to_wire(const maxsess::playback_session& x);
std::optional<maxsess::playback_session> from_wire(const wire::playback_session& x);

wire::account_settings to_wire(const maxsess::account_settings& x);
maxsess::account_settings from_wire(const wire::account_settings& x);

wire::account_view to_wire(const actors::account_view& x);
std::optional<actors::account_view> from_wire(const wire::account_view& x);

// get/put answer. from_wire: nullopt = unavailable, also when the view on
// the wire is malformed (the caller answers unavailable either way).
wire::account_answer to_wire(const std::optional<actors::account_view>& x);
std::optional<actors::account_view> from_wire(const wire::account_answer& x);

wire::link_request to_wire(const actors::link_request& x);
std::optional<actors::link_request> from_wire(const wire::link_request& x);

wire::link_outcome to_wire(const actors::link_outcome& x);
std::optional<actors::link_outcome> from_wire(const wire::link_outcome& x);

wire::end_result to_wire(actors::end_result x);
std::optional<actors::end_result> from_wire(const wire::end_result& x);

wire::auth_request to_wire(const actors::auth_request& x);
actors::auth_request from_wire(const wire::auth_request& x);

wire::auth_outcome to_wire(const actors::auth_outcome& x);
std::optional<actors::auth_outcome> from_wire(const wire::auth_outcome& x);

wire::play_report to_wire(const actors::play_report& x);
std::optional<actors::play_report> from_wire(const wire::play_report& x);

// A webhook event: the account and device it belongs to travel with it;
// the receiver takes them from the wire struct and from_wire(ev.report).
wire::play_event to_wire(const std::string& account_id, const std::string& device_id,
                         const actors::play_report& report, int64_t event_id = -1);

// A sync listing: (device, play session) pairs, as account_state::on_sync takes them.
using seen_list = std::vector<std::pair<std::string, actors::play_report>>;
wire::sync_request to_wire(const std::string& account_id, int64_t streamer_id,
                           const seen_list& seen, std::vector<std::string> listed, sys_time listed_at);
// nullopt: at least one entry is malformed (reject the whole sync).
std::optional<seen_list> from_wire(const std::vector<wire::seen_session>& seen);

wire::kill_order to_wire(const actors::kill_order& x);
actors::kill_order from_wire(const wire::kill_order& x);
std::vector<wire::kill_order> to_wire(const std::vector<actors::kill_order>& xs);
std::vector<actors::kill_order> from_wire(const std::vector<wire::kill_order>& xs);

wire::job_request to_wire(const actors::job_request& x);
std::optional<actors::job_request> from_wire(const wire::job_request& x);

wire::streamer_run to_wire(const actors::streamer_run& x);
actors::streamer_run from_wire(const wire::streamer_run& x);

wire::job_report to_wire(const actors::job_report& x);
std::optional<actors::job_report> from_wire(const wire::job_report& x);

// The actor side's sync summary lives with the CAF declarations
// (actors/messages.hpp): any struct with int adopted/ended/killed converts.
template <class Summary>
wire::sync_summary summary_to_wire(const Summary& s) {
  return wire::sync_summary{static_cast<int32_t>(s.adopted), static_cast<int32_t>(s.ended),
                            static_cast<int32_t>(s.killed)};
}
template <class Summary>
Summary summary_from_wire(const wire::sync_summary& w) {
  Summary s;
  s.adopted = w.adopted;
  s.ended = w.ended;
  s.killed = w.killed;
  return s;
}

// --- registration and start-up check (wire.cpp) ------------------------------------

// Registers every type of the maxsess_wire block below with the actor system
// (by the names the block gives them). Call on every node before the
// actor_system is constructed: a type missing here is not a compile error,
// the receiver just gets an empty message.
void add_wire_types(caf::actor_system_config& cfg);

// Serializes and deserializes a populated sample of every type in the block,
// on its own and inside a caf::message (which needs the registration by
// name). Returns the names of the types that failed; empty = ok. The daemon
// runs it at start-up.
std::vector<std::string> wire_self_test(caf::actor_system& sys);

// One message through the binary serializer and back, on `sys`: the element
// types must survive and the message must serialize to the same bytes again.
// Returns "" when it does, else what went wrong (e.g. an unregistered type).
std::string message_round_trip(caf::actor_system& sys, const caf::message& msg);

}  // namespace maxsess::wire

// Type ids of the wire types. The atom block in actors/messages.hpp starts at
// first_custom_type_id and takes no ids in CAF 0.17.6 (CAF_ADD_ATOM only
// declares the constant); +100 leaves room for it to grow. In 0.17.6 the ids
// are compile-time only: what crosses the wire is the registered name, which
// add_wire_types takes from this block.
CAF_BEGIN_TYPE_ID_BLOCK(maxsess_wire, caf::first_custom_type_id + 100)
  CAF_ADD_TYPE_ID(maxsess_wire, (maxsess::wire::content_ref))
  CAF_ADD_TYPE_ID(maxsess_wire, (maxsess::wire::flussonic_session))
  CAF_ADD_TYPE_ID(maxsess_wire, (maxsess::wire::playback_session))
  CAF_ADD_TYPE_ID(maxsess_wire, (maxsess::wire::account_settings))
  CAF_ADD_TYPE_ID(maxsess_wire, (maxsess::wire::account_view))
  CAF_ADD_TYPE_ID(maxsess_wire, (maxsess::wire::link_request))
  CAF_ADD_TYPE_ID(maxsess_wire, (maxsess::wire::link_outcome))
  CAF_ADD_TYPE_ID(maxsess_wire, (maxsess::wire::end_request))
  CAF_ADD_TYPE_ID(maxsess_wire, (maxsess::wire::end_result))
  CAF_ADD_TYPE_ID(maxsess_wire, (maxsess::wire::account_answer))
  CAF_ADD_TYPE_ID(maxsess_wire, (maxsess::wire::auth_request))
  CAF_ADD_TYPE_ID(maxsess_wire, (maxsess::wire::auth_outcome))
  CAF_ADD_TYPE_ID(maxsess_wire, (maxsess::wire::play_report))
  CAF_ADD_TYPE_ID(maxsess_wire, (maxsess::wire::play_event))
  CAF_ADD_TYPE_ID(maxsess_wire, (std::vector<maxsess::wire::play_event>))
  CAF_ADD_TYPE_ID(maxsess_wire, (maxsess::wire::seen_session))
  CAF_ADD_TYPE_ID(maxsess_wire, (maxsess::wire::sync_request))
  CAF_ADD_TYPE_ID(maxsess_wire, (maxsess::wire::sync_summary))
  CAF_ADD_TYPE_ID(maxsess_wire, (maxsess::wire::closed_by_streamer))
  CAF_ADD_TYPE_ID(maxsess_wire, (maxsess::wire::forget_request))
  CAF_ADD_TYPE_ID(maxsess_wire, (maxsess::wire::kill_order))
  CAF_ADD_TYPE_ID(maxsess_wire, (std::vector<maxsess::wire::kill_order>))
  CAF_ADD_TYPE_ID(maxsess_wire, (maxsess::wire::job_request))
  CAF_ADD_TYPE_ID(maxsess_wire, (maxsess::wire::streamer_run))
  CAF_ADD_TYPE_ID(maxsess_wire, (maxsess::wire::job_report))
  CAF_ADD_TYPE_ID(maxsess_wire, (maxsess::wire::node_hello))
CAF_END_TYPE_ID_BLOCK(maxsess_wire)
