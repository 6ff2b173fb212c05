#include "domain/audit.hpp"

namespace maxsess {

namespace {

struct kind_name {
  audit_kind kind;
  const char* name;
};
// One table for both directions, so they cannot disagree.
constexpr kind_name audit_kind_names[] = {
    {audit_kind::denied, "denied"},
    {audit_kind::killed, "killed"},
    {audit_kind::evicted, "evicted"},
    {audit_kind::ended_by_admin, "ended_by_admin"},
    {audit_kind::would_deny, "would_deny"},
    {audit_kind::would_kill, "would_kill"},
};

}  // namespace

const char* to_string(audit_kind k) {
  for (const auto& e : audit_kind_names)
    if (e.kind == k) return e.name;
  return "unknown";
}

std::optional<audit_kind> parse_audit_kind(std::string_view s) {
  for (const auto& e : audit_kind_names)
    if (s == e.name) return e.kind;
  return std::nullopt;
}

audit_holder holder_of(const playback_session& s) {
  return {s.device_id, s.status, s.content.stream, s.streamer_id, s.client_ip, s.started_at};
}

}  // namespace maxsess
