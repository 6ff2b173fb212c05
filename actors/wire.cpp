#include "actors/wire.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>
#include <caf/make_message.hpp>
#include <caf/message.hpp>

#include <algorithm>
#include <chrono>
#include <exception>
#include <utility>

namespace maxsess::wire {

// --- time ------------------------------------------------------------------------

namespace {
using std::chrono::milliseconds;
// The millisecond range sys_time can hold without overflowing its own
// (nanosecond) representation.
constexpr int64_t min_ms = std::chrono::ceil<milliseconds>(sys_time::min().time_since_epoch()).count();
constexpr int64_t max_ms = std::chrono::floor<milliseconds>(sys_time::max().time_since_epoch()).count();
}  // namespace

int64_t to_wire_ms(sys_time t) {
  return std::chrono::floor<milliseconds>(t.time_since_epoch()).count();
}

sys_time from_wire_ms(int64_t ms) {
  ms = std::clamp(ms, min_ms, max_ms);
  return sys_time{std::chrono::duration_cast<sys_time::duration>(milliseconds(ms))};
}

namespace {
std::optional<sys_time> opt_time(bool has, int64_t ms) {
  if (!has) return std::nullopt;
  return from_wire_ms(ms);
}
}  // namespace

// --- enums --------------------------------------------------------------------------
// Each switch names every enumerator and has no default: -Wswitch (-Wall,
// -Werror in CI) fails the build when an enum gains a value not handled here.
// The casts are defined for any int: scoped enums have int as fixed
// underlying type.

std::optional<content_type> content_type_from_wire(int32_t v) {
  const auto e = static_cast<content_type>(v);
  switch (e) {
    case content_type::live:
    case content_type::timeshift:
    case content_type::catchup:
    case content_type::npvr:
    case content_type::vod:
    case content_type::radio:
      return e;
  }
  return std::nullopt;
}

std::optional<session_status> session_status_from_wire(int32_t v) {
  const auto e = static_cast<session_status>(v);
  switch (e) {
    case session_status::pending:
    case session_status::active:
    case session_status::ended:
    case session_status::killed:
      return e;
  }
  return std::nullopt;
}

std::optional<end_reason> end_reason_from_wire(int32_t v) {
  const auto e = static_cast<end_reason>(v);
  switch (e) {
    case end_reason::user:
    case end_reason::never_started:
    case end_reason::stale:
    case end_reason::flussonic_closed:
    case end_reason::gone:
    case end_reason::killed_over_limit:
    case end_reason::killed_by_operator:
      return e;
  }
  return std::nullopt;
}

std::optional<actors::link_result> link_result_from_wire(int32_t v) {
  using actors::link_result;
  const auto e = static_cast<link_result>(v);
  switch (e) {
    case link_result::approved:
    case link_result::denied:
    case link_result::unknown_streamer:
    case link_result::no_streamer:
    case link_result::unavailable:
      return e;
  }
  return std::nullopt;
}

std::optional<actors::end_result> end_result_from_wire(int32_t v) {
  using R = actors::end_result;
  const auto e = static_cast<R>(v);
  switch (e) {
    case R::ended:
    case R::not_found:
    case R::unavailable:
      return e;
  }
  return std::nullopt;
}

std::optional<actors::auth_result> auth_result_from_wire(int32_t v) {
  using actors::auth_result;
  const auto e = static_cast<auth_result>(v);
  switch (e) {
    case auth_result::allow:
    case auth_result::deny_killed:
    case auth_result::deny_reused:
    case auth_result::deny_limit:
    case auth_result::deny_replaced:
    case auth_result::deny_stale_token:
    case auth_result::unavailable:
    case auth_result::deny_expired:
    case auth_result::deny_unknown_session:
      return e;
  }
  return std::nullopt;
}

std::optional<actors::play_report::kind> play_kind_from_wire(int32_t v) {
  using K = actors::play_report::kind;
  const auto e = static_cast<K>(v);
  switch (e) {
    case K::opened:
    case K::started:
    case K::updated:
    case K::closed:
    case K::listed:
      return e;
  }
  return std::nullopt;
}

std::optional<actors::job_request::kind> job_kind_from_wire(int32_t v) {
  using K = actors::job_request::kind;
  const auto e = static_cast<K>(v);
  switch (e) {
    case K::sync:
    case K::kill:
    case K::clear:
      return e;
  }
  return std::nullopt;
}

namespace {
template <class E>
int32_t enum_to_wire(E e) {
  return static_cast<int32_t>(e);
}
}  // namespace

// --- records ------------------------------------------------------------------------

wire::content_ref to_wire(const maxsess::content_ref& x) {
  wire::content_ref w;
  w.type = enum_to_wire(x.type);
  w.stream = x.stream;
  w.has_start = x.start.has_value();
  w.start = x.start.value_or(0);
  w.has_duration = x.duration.has_value();
  w.duration = x.duration.value_or(0);
  return w;
}

std::optional<maxsess::content_ref> from_wire(const wire::content_ref& w) {
  auto type = content_type_from_wire(w.type);
  if (!type) return std::nullopt;
  maxsess::content_ref x;
  x.type = *type;
  x.stream = w.stream;
  if (w.has_start) x.start = w.start;
  if (w.has_duration) x.duration = w.duration;
  return x;
}

wire::flussonic_session to_wire(const maxsess::flussonic_session& x) {
  return wire::flussonic_session{x.id, x.ip, x.open, to_wire_ms(x.updated_at), x.stream};
}

maxsess::flussonic_session from_wire(const wire::flussonic_session& w) {
  return maxsess::flussonic_session{w.id, w.ip, w.open, from_wire_ms(w.updated_at_ms), w.stream};
}

wire::playback_session to_wire(const maxsess::playback_session& x) {
  wire::playback_session w;
  w.account_id = x.account_id;
  w.device_id = x.device_id;
  w.status = enum_to_wire(x.status);
  w.content = to_wire(x.content);
  w.streamer_id = x.streamer_id;
  w.client_ip = x.client_ip;
  w.flussonic.reserve(x.flussonic.size());
  for (auto& f : x.flussonic) w.flussonic.push_back(to_wire(f));
  w.token = x.token;
  w.started_at_ms = to_wire_ms(x.started_at);
  w.updated_at_ms = to_wire_ms(x.updated_at);
  w.has_ended_at = x.ended_at.has_value();
  w.ended_at_ms = x.ended_at ? to_wire_ms(*x.ended_at) : 0;
  w.duration_s = x.duration_s;
  w.bytes = x.bytes;
  w.has_reason = x.reason.has_value();
  w.reason = x.reason ? enum_to_wire(*x.reason) : 0;
  w.exempt = x.exempt;
  w.over_limit = x.over_limit;
  return w;
}

std::optional<maxsess::playback_session> from_wire(const wire::playback_session& w) {
  auto status = session_status_from_wire(w.status);
  auto content = from_wire(w.content);
  if (!status || !content) return std::nullopt;
  maxsess::playback_session x;
  if (w.has_reason) {
    auto reason = end_reason_from_wire(w.reason);
    if (!reason) return std::nullopt;
    x.reason = *reason;
  }
  x.account_id = w.account_id;
  x.device_id = w.device_id;
  x.status = *status;
  x.content = std::move(*content);
  x.streamer_id = w.streamer_id;
  x.client_ip = w.client_ip;
  x.flussonic.reserve(w.flussonic.size());
  for (auto& f : w.flussonic) x.flussonic.push_back(from_wire(f));
  x.token = w.token;
  x.started_at = from_wire_ms(w.started_at_ms);
  x.updated_at = from_wire_ms(w.updated_at_ms);
  x.ended_at = opt_time(w.has_ended_at, w.ended_at_ms);
  x.duration_s = w.duration_s;
  x.bytes = w.bytes;
  x.exempt = w.exempt;
  x.over_limit = w.over_limit;
  return x;
}

namespace {
std::vector<wire::playback_session> sessions_to_wire(const std::vector<maxsess::playback_session>& xs) {
  std::vector<wire::playback_session> out;
  out.reserve(xs.size());
  for (auto& x : xs) out.push_back(to_wire(x));
  return out;
}

std::optional<std::vector<maxsess::playback_session>> sessions_from_wire(
    const std::vector<wire::playback_session>& ws) {
  std::vector<maxsess::playback_session> out;
  out.reserve(ws.size());
  for (auto& w : ws) {
    auto x = from_wire(w);
    if (!x) return std::nullopt;
    out.push_back(std::move(*x));
  }
  return out;
}
}  // namespace

wire::account_settings to_wire(const maxsess::account_settings& x) {
  return wire::account_settings{x.account_id, x.max_sessions, x.exempt};
}

maxsess::account_settings from_wire(const wire::account_settings& w) {
  return maxsess::account_settings{w.account_id, w.max_sessions, w.exempt};
}

wire::account_view to_wire(const actors::account_view& x) {
  return wire::account_view{x.found, to_wire(x.settings), sessions_to_wire(x.sessions)};
}

std::optional<actors::account_view> from_wire(const wire::account_view& w) {
  auto sessions = sessions_from_wire(w.sessions);
  if (!sessions) return std::nullopt;
  actors::account_view x;
  x.found = w.found;
  x.settings = from_wire(w.settings);
  x.sessions = std::move(*sessions);
  return x;
}

wire::account_answer to_wire(const std::optional<actors::account_view>& x) {
  wire::account_answer w;
  w.available = x.has_value();
  if (x) w.view = to_wire(*x);
  return w;
}

std::optional<actors::account_view> from_wire(const wire::account_answer& w) {
  if (!w.available) return std::nullopt;
  return from_wire(w.view);
}

// --- account requests and answers -----------------------------------------------------

wire::link_request to_wire(const actors::link_request& x) {
  return wire::link_request{x.account_id, x.device_id, to_wire(x.content), x.streamer_id,
                            x.client_ip};
}

std::optional<actors::link_request> from_wire(const wire::link_request& w) {
  auto content = from_wire(w.content);
  if (!content) return std::nullopt;
  return actors::link_request{w.account_id, w.device_id, std::move(*content), w.streamer_id,
                              w.client_ip};
}

wire::link_outcome to_wire(const actors::link_outcome& x) {
  wire::link_outcome w;
  w.result = enum_to_wire(x.result);
  w.message = x.message;
  w.session = to_wire(x.session);
  w.url = x.url;
  w.token = x.token;
  w.expires_at_ms = to_wire_ms(x.expires_at);
  w.max_sessions = x.max_sessions;
  w.holders = sessions_to_wire(x.holders);
  w.would_deny = x.would_deny;
  return w;
}

std::optional<actors::link_outcome> from_wire(const wire::link_outcome& w) {
  auto result = link_result_from_wire(w.result);
  auto session = from_wire(w.session);
  auto holders = sessions_from_wire(w.holders);
  if (!result || !session || !holders) return std::nullopt;
  actors::link_outcome x;
  x.result = *result;
  x.message = w.message;
  x.session = std::move(*session);
  x.url = w.url;
  x.token = w.token;
  x.expires_at = from_wire_ms(w.expires_at_ms);
  x.max_sessions = w.max_sessions;
  x.holders = std::move(*holders);
  x.would_deny = w.would_deny;
  return x;
}

wire::end_result to_wire(actors::end_result x) { return wire::end_result{enum_to_wire(x)}; }

std::optional<actors::end_result> from_wire(const wire::end_result& w) {
  return end_result_from_wire(w.result);
}

wire::auth_request to_wire(const actors::auth_request& x) {
  return wire::auth_request{x.account_id, x.device_id, x.stream,   x.session_id,
                            x.ip,         x.new_session, x.duration, x.bytes,
                            to_wire_ms(x.token_issued_at)};
}

actors::auth_request from_wire(const wire::auth_request& w) {
  return actors::auth_request{w.account_id, w.device_id,  w.stream,   w.session_id,
                              w.ip,         w.new_session, w.duration, w.bytes,
                              from_wire_ms(w.token_issued_at_ms)};
}

wire::auth_outcome to_wire(const actors::auth_outcome& x) {
  return wire::auth_outcome{enum_to_wire(x.result), x.would_deny};
}

std::optional<actors::auth_outcome> from_wire(const wire::auth_outcome& w) {
  auto r = auth_result_from_wire(w.result);
  if (!r) return std::nullopt;
  return actors::auth_outcome{*r, w.would_deny};
}

// --- streamer reports ------------------------------------------------------------------

wire::play_report to_wire(const actors::play_report& x) {
  wire::play_report w;
  w.what = enum_to_wire(x.what);
  w.session_id = x.session_id;
  w.stream = x.stream;
  w.ip = x.ip;
  w.token = x.token;
  w.duration = x.duration;
  w.bytes = x.bytes;
  w.has_at = x.at.has_value();
  w.at_ms = x.at ? to_wire_ms(*x.at) : 0;
  w.streamer_id = x.streamer_id;
  w.has_token_issued_at = x.token_issued_at.has_value();
  w.token_issued_at_ms = x.token_issued_at ? to_wire_ms(*x.token_issued_at) : 0;
  return w;
}

std::optional<actors::play_report> from_wire(const wire::play_report& w) {
  auto what = play_kind_from_wire(w.what);
  if (!what) return std::nullopt;
  actors::play_report x;
  x.what = *what;
  x.session_id = w.session_id;
  x.stream = w.stream;
  x.ip = w.ip;
  x.token = w.token;
  x.duration = w.duration;
  x.bytes = w.bytes;
  x.at = opt_time(w.has_at, w.at_ms);
  x.streamer_id = w.streamer_id;
  x.token_issued_at = opt_time(w.has_token_issued_at, w.token_issued_at_ms);
  return x;
}

wire::play_event to_wire(const std::string& account_id, const std::string& device_id,
                         const actors::play_report& report, int64_t event_id) {
  return wire::play_event{account_id, device_id, to_wire(report), event_id};
}

wire::sync_request to_wire(const std::string& account_id, int64_t streamer_id,
                           const seen_list& seen, std::vector<std::string> listed, sys_time listed_at) {
  wire::sync_request w;
  w.account_id = account_id;
  w.streamer_id = streamer_id;
  w.seen.reserve(seen.size());
  for (auto& [device, report] : seen) w.seen.push_back(wire::seen_session{device, to_wire(report)});
  w.listed = std::move(listed);
  w.listed_at_ms = to_wire_ms(listed_at);
  return w;
}

std::optional<seen_list> from_wire(const std::vector<wire::seen_session>& seen) {
  seen_list out;
  out.reserve(seen.size());
  for (auto& s : seen) {
    auto r = from_wire(s.report);
    if (!r) return std::nullopt;
    out.emplace_back(s.device_id, std::move(*r));
  }
  return out;
}

wire::kill_order to_wire(const actors::kill_order& x) {
  return wire::kill_order{x.streamer_id, x.account_id, x.device_id, x.session_id, x.token};
}

actors::kill_order from_wire(const wire::kill_order& w) {
  return actors::kill_order{w.streamer_id, w.account_id, w.device_id, w.session_id, w.token};
}

std::vector<wire::kill_order> to_wire(const std::vector<actors::kill_order>& xs) {
  std::vector<wire::kill_order> out;
  out.reserve(xs.size());
  for (auto& x : xs) out.push_back(to_wire(x));
  return out;
}

std::vector<actors::kill_order> from_wire(const std::vector<wire::kill_order>& ws) {
  std::vector<actors::kill_order> out;
  out.reserve(ws.size());
  for (auto& w : ws) out.push_back(from_wire(w));
  return out;
}

// --- jobs ----------------------------------------------------------------------------------

wire::job_request to_wire(const actors::job_request& x) {
  wire::job_request w;
  w.what = enum_to_wire(x.what);
  w.batch_size = x.batch_size;
  w.streamer_ids = x.streamer_ids;
  w.has_timeout = x.timeout.has_value();
  w.timeout_ms = x.timeout ? x.timeout->count() : 0;
  return w;
}

std::optional<actors::job_request> from_wire(const wire::job_request& w) {
  auto what = job_kind_from_wire(w.what);
  if (!what) return std::nullopt;
  actors::job_request x;
  x.what = *what;
  x.batch_size = w.batch_size;
  x.streamer_ids = w.streamer_ids;
  if (w.has_timeout) x.timeout = std::chrono::milliseconds(w.timeout_ms);
  return x;
}

wire::streamer_run to_wire(const actors::streamer_run& x) {
  return wire::streamer_run{x.streamer_id, x.ok,      x.error,  x.listed, x.untracked,
                            x.adopted,     x.ended,   x.killed, x.closed};
}

actors::streamer_run from_wire(const wire::streamer_run& w) {
  return actors::streamer_run{w.streamer_id, w.ok,    w.error,  w.listed, w.untracked,
                              w.adopted,     w.ended, w.killed, w.closed};
}

wire::job_report to_wire(const actors::job_report& x) {
  wire::job_report w;
  w.what = enum_to_wire(x.what);
  w.ok = x.ok;
  w.error = x.error;
  w.streamers.reserve(x.streamers.size());
  for (auto& s : x.streamers) w.streamers.push_back(to_wire(s));
  w.cleared = x.cleared;
  return w;
}

std::optional<actors::job_report> from_wire(const wire::job_report& w) {
  auto what = job_kind_from_wire(w.what);
  if (!what) return std::nullopt;
  actors::job_report x;
  x.what = *what;
  x.ok = w.ok;
  x.error = w.error;
  x.streamers.reserve(w.streamers.size());
  for (auto& s : w.streamers) x.streamers.push_back(from_wire(s));
  x.cleared = w.cleared;
  return x;
}

// --- registration ---------------------------------------------------------------------------

using block = caf::id_block::maxsess_wire;

void add_wire_types(caf::actor_system_config& cfg) { cfg.add_message_types<block>(); }

// --- self test --------------------------------------------------------------------------------
// A populated sample of every type in the block: every field off its
// default, vectors with more than one element, optional fields present.

namespace {

template <class T>
struct tag {};

wire::content_ref sample(tag<wire::content_ref>) {
  return wire::content_ref{3, "sample/stream", true, 1767225600, true, 3600};
}

wire::flussonic_session sample(tag<wire::flussonic_session>) {
  return wire::flussonic_session{"6f1c2a9e-0000-4000-8000-000000000001", "192.0.2.7", false,
                                 1767225600123, "sample/stream"};
}

wire::playback_session sample(tag<wire::playback_session>) {
  wire::playback_session w;
  w.account_id = "acc-1";
  w.device_id = "dev-1";
  w.status = 3;
  w.content = sample(tag<wire::content_ref>{});
  w.streamer_id = 7;
  w.client_ip = "198.51.100.9";
  w.flussonic = {sample(tag<wire::flussonic_session>{}), sample(tag<wire::flussonic_session>{})};
  w.flussonic[1].id = "6f1c2a9e-0000-4000-8000-000000000002";
  w.flussonic[1].open = true;
  w.token = "token.sig";
  w.started_at_ms = 1767225600001;
  w.updated_at_ms = 1767225600002;
  w.has_ended_at = true;
  w.ended_at_ms = 1767225600003;
  w.duration_s = 42;
  w.bytes = 1234567;
  w.has_reason = true;
  w.reason = 6;
  w.exempt = true;
  w.over_limit = true;
  return w;
}

wire::account_settings sample(tag<wire::account_settings>) {
  return wire::account_settings{"acc-1", 5, true};
}

wire::account_view sample(tag<wire::account_view>) {
  return wire::account_view{true, sample(tag<wire::account_settings>{}),
                            {sample(tag<wire::playback_session>{}),
                             sample(tag<wire::playback_session>{})}};
}

wire::link_request sample(tag<wire::link_request>) {
  return wire::link_request{"acc-1", "dev-1", sample(tag<wire::content_ref>{}), 7, "198.51.100.9"};
}

wire::link_outcome sample(tag<wire::link_outcome>) {
  wire::link_outcome w;
  w.result = 1;
  w.message = "max_sessions_reached";
  w.session = sample(tag<wire::playback_session>{});
  w.url = "http://s1/sample/stream/index.m3u8?token=token.sig";
  w.token = "token.sig";
  w.expires_at_ms = 1767226200000;
  w.max_sessions = 3;
  w.holders = {sample(tag<wire::playback_session>{}), sample(tag<wire::playback_session>{})};
  w.would_deny = true;
  return w;
}

wire::end_request sample(tag<wire::end_request>) { return wire::end_request{"acc-1", "dev-1", true}; }

wire::end_result sample(tag<wire::end_result>) { return wire::end_result{2}; }

wire::account_answer sample(tag<wire::account_answer>) {
  return wire::account_answer{true, sample(tag<wire::account_view>{})};
}

wire::auth_request sample(tag<wire::auth_request>) {
  return wire::auth_request{"acc-1", "dev-1", "sample/stream", "sess-1", "192.0.2.7",
                            false,   17,      4096,            1767225600000};
}

wire::auth_outcome sample(tag<wire::auth_outcome>) { return wire::auth_outcome{5, true}; }

wire::play_report sample(tag<wire::play_report>) {
  wire::play_report w;
  w.what = 4;
  w.session_id = "sess-1";
  w.stream = "sample/stream";
  w.ip = "192.0.2.7";
  w.token = "token.sig";
  w.duration = 17;
  w.bytes = 4096;
  w.has_at = true;
  w.at_ms = 1767225600500;
  w.streamer_id = 7;
  w.has_token_issued_at = true;
  w.token_issued_at_ms = 1767225600000;
  return w;
}

wire::play_event sample(tag<wire::play_event>) {
  return wire::play_event{"acc-1", "dev-1", sample(tag<wire::play_report>{}), 4711};
}

std::vector<wire::play_event> sample(tag<std::vector<wire::play_event>>) {
  auto a = sample(tag<wire::play_event>{});
  auto b = a;
  b.device_id = "dev-2";
  b.report.what = 0;
  return {a, b};
}

wire::seen_session sample(tag<wire::seen_session>) {
  return wire::seen_session{"dev-1", sample(tag<wire::play_report>{})};
}

wire::sync_request sample(tag<wire::sync_request>) {
  return wire::sync_request{"acc-1", 7,
                            {sample(tag<wire::seen_session>{}), sample(tag<wire::seen_session>{})},
                            {"sess-1", "sess-2"},
                            1767225601000};
}

wire::sync_summary sample(tag<wire::sync_summary>) { return wire::sync_summary{1, 2, 3}; }

wire::closed_by_streamer sample(tag<wire::closed_by_streamer>) {
  return wire::closed_by_streamer{"acc-1", "dev-1", {"sess-1", "sess-2"}};
}

wire::forget_request sample(tag<wire::forget_request>) {
  return wire::forget_request{"acc-1", 86400000};
}

wire::kill_order sample(tag<wire::kill_order>) {
  return wire::kill_order{7, "acc-1", "dev-1", "sess-1", "token.sig"};
}

std::vector<wire::kill_order> sample(tag<std::vector<wire::kill_order>>) {
  auto a = sample(tag<wire::kill_order>{});
  auto b = a;
  b.session_id.clear();
  return {a, b};
}

wire::job_request sample(tag<wire::job_request>) {
  return wire::job_request{2, 500, {7, 8, 9}, true, 3600000};
}

wire::streamer_run sample(tag<wire::streamer_run>) {
  return wire::streamer_run{7, false, "listing failed", 1, 2, 3, 4, 5, 6};
}

wire::job_report sample(tag<wire::job_report>) {
  return wire::job_report{1, false, "one streamer failed",
                          {sample(tag<wire::streamer_run>{}), sample(tag<wire::streamer_run>{})},
                          12};
}

wire::node_hello sample(tag<wire::node_hello>) {
  return wire::node_hello{"node-a", protocol_version, 64, "10.0.0.1:8080"};
}

// Serializes x on its own; false when CAF reports an error.
template <class T>
bool to_bytes(caf::actor_system& sys, T& x, std::vector<char>& out) {
  caf::binary_serializer sink(sys, out);
  return !sink(x);
}

template <class T>
bool check_one(caf::actor_system& sys) {
  try {
    T x = sample(tag<T>{});
    std::vector<char> a;
    if (!to_bytes(sys, x, a)) return false;
    T y;
    caf::binary_deserializer source(sys, a);
    if (source(y) || source.remaining() != 0) return false;
    std::vector<char> b;
    if (!to_bytes(sys, y, b) || a != b) return false;
    return message_round_trip(sys, caf::make_message(std::move(x))).empty();
  } catch (const std::exception&) {
    return false;
  }
}

template <caf::type_id_t... Is>
void check_block(caf::actor_system& sys, std::vector<std::string>& failed,
                 std::integer_sequence<caf::type_id_t, Is...>) {
  auto one = [&](bool ok, const char* name) {
    if (!ok) failed.emplace_back(name);
  };
  (one(check_one<typename caf::type_by_id<block::begin + Is>::type>(sys),
       caf::type_name_by_id<block::begin + Is>::value),
   ...);
}

}  // namespace

std::vector<std::string> wire_self_test(caf::actor_system& sys) {
  std::vector<std::string> failed;
  check_block(sys, failed, std::make_integer_sequence<caf::type_id_t, block::end - block::begin>{});
  return failed;
}

std::string message_round_trip(caf::actor_system& sys, const caf::message& msg) {
  try {
    caf::message in = msg;
    std::vector<char> a;
    {
      caf::binary_serializer sink(sys, a);
      if (auto err = sink(in)) return "serialize: " + sys.render(err);
    }
    caf::message out;
    {
      caf::binary_deserializer source(sys, a);
      if (auto err = source(out)) return "deserialize: " + sys.render(err);
      if (source.remaining() != 0) return "deserialize: trailing bytes";
    }
    if (out.size() != in.size()) return "the element count changed";
    for (size_t i = 0; i < in.size(); ++i) {
      auto t1 = in.type(i);
      auto t2 = out.type(i);
      const bool same_rtti = t1.second == nullptr || t2.second == nullptr
                                 ? t1.second == t2.second
                                 : *t1.second == *t2.second;
      if (t1.first != t2.first || !same_rtti)
        return "element " + std::to_string(i) + " changed its type";
    }
    std::vector<char> b;
    {
      caf::binary_serializer sink(sys, b);
      if (auto err = sink(out)) return "serialize again: " + sys.render(err);
    }
    if (a != b) return "the message serializes differently after a round trip";
    return {};
  } catch (const std::exception& e) {
    return std::string("exception: ") + e.what();
  }
}

}  // namespace maxsess::wire
