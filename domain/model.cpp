#include "domain/model.hpp"

#include <cstdint>

namespace maxsess {

namespace {

bool is_alnum(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

bool is_id_char(char c) {
  return is_alnum(c) || c == '.' || c == '_' || c == ':' || c == '@' || c == '-';
}

// A table of (enum value, wire name) pairs: to_string and parse share it so
// the two directions can never disagree.
template <class E>
struct wire_name {
  E value;
  const char* name;
};

template <class E, std::size_t N>
const char* name_of(const wire_name<E> (&table)[N], E v) {
  for (const auto& entry : table)
    if (entry.value == v)
      return entry.name;
  return "unknown";
}

template <class E, std::size_t N>
std::optional<E> value_of(const wire_name<E> (&table)[N], std::string_view s) {
  for (const auto& entry : table)
    if (s == entry.name)
      return entry.value;
  return std::nullopt;
}

constexpr wire_name<session_status> session_status_names[] = {
    {session_status::pending, "pending"},
    {session_status::active, "active"},
    {session_status::ended, "ended"},
    {session_status::killed, "killed"},
};

constexpr wire_name<content_type> content_type_names[] = {
    {content_type::live, "live"},       {content_type::timeshift, "timeshift"},
    {content_type::catchup, "catchup"}, {content_type::npvr, "npvr"},
    {content_type::vod, "vod"},         {content_type::radio, "radio"},
};

constexpr wire_name<end_reason> end_reason_names[] = {
    {end_reason::user, "user"},
    {end_reason::never_started, "never_started"},
    {end_reason::stale, "stale"},
    {end_reason::flussonic_closed, "flussonic_closed"},
    {end_reason::gone, "gone"},
    {end_reason::killed_over_limit, "killed_over_limit"},
    {end_reason::killed_by_operator, "killed_by_operator"},
};

constexpr wire_name<link_mode> link_mode_names[] = {
    {link_mode::auth_backend, "auth_backend"},
    {link_mode::securetoken, "securetoken"},
};

}  // namespace

bool valid_id(std::string_view s) {
  if (s.empty() || s.size() > max_id_length)
    return false;
  if (!is_alnum(s.front()))
    return false;
  for (char c : s)
    if (!is_id_char(c))
      return false;
  return true;
}

bool valid_stream_name(std::string_view s) {
  if (s.empty() || s.size() > max_stream_length)
    return false;
  if (s.front() == '/')
    return false;
  if (s.find("..") != std::string_view::npos)
    return false;
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    // Printable ASCII without the space: 0x21..0x7e. Rules out control
    // characters, DEL and every non-ASCII byte.
    if (u < 0x21 || u > 0x7e)
      return false;
    if (c == '?' || c == '#' || c == '%' || c == '\\')
      return false;
  }
  return true;
}

const char* to_string(session_status s) { return name_of(session_status_names, s); }
std::optional<session_status> parse_session_status(std::string_view s) {
  return value_of(session_status_names, s);
}

const char* to_string(content_type c) { return name_of(content_type_names, c); }
std::optional<content_type> parse_content_type(std::string_view s) {
  return value_of(content_type_names, s);
}

const char* to_string(end_reason r) { return name_of(end_reason_names, r); }
std::optional<end_reason> parse_end_reason(std::string_view s) {
  return value_of(end_reason_names, s);
}

const char* to_string(link_mode m) { return name_of(link_mode_names, m); }
std::optional<link_mode> parse_link_mode(std::string_view s) {
  return value_of(link_mode_names, s);
}

uint64_t fnv1a64(std::string_view text) {
  // Offset basis and prime from the reference definition.
  uint64_t h = 14695981039346656037ULL;
  for (char c : text) {
    h ^= static_cast<unsigned char>(c);
    h *= 1099511628211ULL;
  }
  return h;
}

int shard_of(std::string_view account_id, int shards) {
  if (shards <= 0)
    return 0;
  return static_cast<int>(fnv1a64(account_id) % static_cast<uint64_t>(shards));
}

}  // namespace maxsess
