#include "storage/rows.hpp"

#include <cerrno>
#include <cstdlib>

#include <nlohmann/json.hpp>

#include "domain/json_writer.hpp"

namespace maxsess::storage::detail {

bool is_null(const PGresult* r, int row, int col) { return PQgetisnull(r, row, col) != 0; }

std::string get_text(const PGresult* r, int row, int col) {
  return std::string(PQgetvalue(r, row, col), static_cast<std::size_t>(PQgetlength(r, row, col)));
}

int64_t get_int(const PGresult* r, int row, int col) {
  const char* s = PQgetvalue(r, row, col);
  errno = 0;
  char* end = nullptr;
  long long v = std::strtoll(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0')
    throw storage_error(std::string("bad integer in column ") + PQfname(r, col) + ": '" + s + "'");
  return static_cast<int64_t>(v);
}

std::optional<int64_t> get_opt_int(const PGresult* r, int row, int col) {
  if (is_null(r, row, col))
    return std::nullopt;
  return get_int(r, row, col);
}

bool get_bool(const PGresult* r, int row, int col) {
  return PQgetvalue(r, row, col)[0] == 't';
}

// Written straight into one string (domain/json_writer.hpp), not through a
// nlohmann tree: this runs for every session row a write group carries
// (issue 7: the tree was 7 % of a sync's daemon CPU). Keys in the sorted
// order nlohmann wrote, so the text did not change.
std::string flussonic_to_json(const std::vector<flussonic_session>& list) {
  json_writer w(2 + list.size() * 128);
  w.begin_array();
  for (const auto& f : list)
    w.begin_object()
        .key("id").string(f.id)
        .key("ip").string(f.ip)
        .key("open").boolean(f.open)
        .key("stream").string(f.stream)
        .key("updated_at_ms").number(to_unix_ms(f.updated_at))
        .end_object();
  w.end_array();
  return w.take();
}

std::vector<flussonic_session> flussonic_from_json(const std::string& text) {
  std::vector<flussonic_session> out;
  try {
    auto arr = nlohmann::json::parse(text);
    if (!arr.is_array())
      throw storage_error("column flussonic is not a JSON array");
    for (const auto& e : arr) {
      flussonic_session f;
      f.id = e.value("id", std::string());
      f.ip = e.value("ip", std::string());
      f.open = e.value("open", true);
      f.updated_at = from_unix_ms(e.value("updated_at_ms", int64_t{0}));
      f.stream = e.value("stream", std::string());
      out.push_back(std::move(f));
    }
  } catch (const nlohmann::json::exception& e) {
    throw storage_error(std::string("bad JSON in column flussonic: ") + e.what());
  }
  return out;
}

std::string holders_to_json(const std::vector<audit_holder>& list) {
  json_writer w(2 + list.size() * 160);
  w.begin_array();
  for (const auto& h : list)
    w.begin_object()
        .key("client_ip").string(h.client_ip)
        .key("device_id").string(h.device_id)
        .key("started_at_ms").number(to_unix_ms(h.started_at))
        .key("status").string(to_string(h.status))
        .key("stream").string(h.stream)
        .key("streamer_id").number(h.streamer_id)
        .end_object();
  w.end_array();
  return w.take();
}

std::vector<audit_holder> holders_from_json(const std::string& text) {
  std::vector<audit_holder> out;
  try {
    auto arr = nlohmann::json::parse(text);
    if (!arr.is_array())
      throw storage_error("column holders is not a JSON array");
    for (const auto& e : arr) {
      audit_holder h;
      h.device_id = e.value("device_id", std::string());
      auto status = e.value("status", std::string());
      h.status = parse_or_throw(parse_session_status(status), "holders.status", status);
      h.stream = e.value("stream", std::string());
      h.streamer_id = e.value("streamer_id", int64_t{0});
      h.client_ip = e.value("client_ip", std::string());
      h.started_at = from_unix_ms(e.value("started_at_ms", int64_t{0}));
      out.push_back(std::move(h));
    }
  } catch (const nlohmann::json::exception& e) {
    throw storage_error(std::string("bad JSON in column holders: ") + e.what());
  }
  return out;
}

audit_event event_from_row(const PGresult* r, int row) {
  audit_event e;
  e.id = get_int(r, row, 0);
  e.account_id = get_text(r, row, 1);
  e.device_id = get_text(r, row, 2);
  e.at = from_unix_ms(get_int(r, row, 3));
  auto kind = get_text(r, row, 4);
  e.kind = parse_or_throw(parse_audit_kind(kind), "kind", kind);
  e.reason = get_text(r, row, 5);
  e.node = get_text(r, row, 6);
  e.max_sessions = get_int(r, row, 7);
  e.stream = get_text(r, row, 8);
  e.streamer_id = get_int(r, row, 9);
  e.client_ip = get_text(r, row, 10);
  e.holders = holders_from_json(get_text(r, row, 11));
  return e;
}

playback_session session_from_row(const PGresult* r, int row) {
  playback_session s;
  s.account_id = get_text(r, row, 0);
  s.device_id = get_text(r, row, 1);
  auto status = get_text(r, row, 2);
  s.status = parse_or_throw(parse_session_status(status), "status", status);
  auto type = get_text(r, row, 3);
  s.content.type = parse_or_throw(parse_content_type(type), "content_type", type);
  s.content.stream = get_text(r, row, 4);
  s.content.start = get_opt_int(r, row, 5);
  s.content.duration = get_opt_int(r, row, 6);
  s.streamer_id = get_int(r, row, 7);
  s.client_ip = get_text(r, row, 8);
  s.flussonic = flussonic_from_json(get_text(r, row, 9));
  s.token = get_text(r, row, 10);
  s.started_at = from_unix_ms(get_int(r, row, 11));
  s.updated_at = from_unix_ms(get_int(r, row, 12));
  if (auto ended = get_opt_int(r, row, 13))
    s.ended_at = from_unix_ms(*ended);
  s.duration_s = get_int(r, row, 14);
  s.bytes = get_int(r, row, 15);
  if (!is_null(r, row, 16)) {
    auto reason = get_text(r, row, 16);
    s.reason = parse_or_throw(parse_end_reason(reason), "end_reason", reason);
  }
  s.exempt = get_bool(r, row, 17);
  s.over_limit = get_bool(r, row, 18);
  return s;
}

// allowed_sources and access_secrets are stored one item per line (no item
// holds a line break: the API checks them).
static std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start < text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    if (end > start) out.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

streamer streamer_from_row(const PGresult* r, int row) {
  streamer s;
  s.id = get_int(r, row, 0);
  s.host = get_text(r, row, 1);
  s.url = get_text(r, row, 2);
  s.api_url = get_text(r, row, 3);
  s.api_user = get_text(r, row, 4);
  s.api_password = get_text(r, row, 5);
  auto mode = get_text(r, row, 6);
  s.mode = parse_or_throw(parse_link_mode(mode), "link_mode", mode);
  s.securetoken_secret = get_text(r, row, 7);
  s.link_template = get_text(r, row, 8);
  s.capacity = get_int(r, row, 9);
  s.enabled = get_bool(r, row, 10);
  s.allowed_sources = split_lines(get_text(r, row, 11));
  s.access_secrets = split_lines(get_text(r, row, 12));
  s.api_tls_verify = get_bool(r, row, 13);
  return s;
}

}  // namespace maxsess::storage::detail
