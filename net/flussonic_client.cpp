#include "net/flussonic_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <limits>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "domain/clock.hpp"
#include "domain/json_input.hpp"
#include "domain/token.hpp"
#include "domain/validate.hpp"
#include "net/http_call.hpp"

namespace maxsess::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using actors::flussonic_error;
using actors::listed_session;
using actors::session_page;

namespace {

constexpr std::size_t response_body_limit = 32 * 1024 * 1024;
constexpr std::size_t error_excerpt = 200;

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

std::string trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// --- tolerant JSON field access ----------------------------------------------
// A page is parsed by simdjson into this thread's reused parser
// (domain/json_input.hpp: the same strict grammar nlohmann had), and each
// session's members of interest are read off the tape: no DOM of heap
// nodes, no string per key. The SAX reader this replaced (nlohmann's lexer
// building a std::string per token) was a fifth of a sync's daemon CPU
// (issue 7).

using jelement = simdjson::dom::element;
using jtype = simdjson::dom::element_type;

int64_t clamp_double(double d) {
  if (d >= 9.2e18) return std::numeric_limits<int64_t>::max();
  if (d <= -9.2e18) return std::numeric_limits<int64_t>::min();
  return static_cast<int64_t>(std::llround(d));
}

std::optional<int64_t> int_of(const jelement* v) {
  if (!v) return std::nullopt;
  switch (v->type()) {
    case jtype::UINT64: {  // simdjson: only above INT64_MAX
      const uint64_t u = v->get_uint64().value_unsafe();
      return u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())
                 ? std::numeric_limits<int64_t>::max()
                 : static_cast<int64_t>(u);
    }
    case jtype::INT64: return v->get_int64().value_unsafe();
    case jtype::DOUBLE: {
      const double d = v->get_double().value_unsafe();
      if (!std::isfinite(d)) return std::nullopt;
      return clamp_double(d);
    }
    case jtype::STRING: {
      const std::string_view s = v->get_string().value_unsafe();
      int64_t out = 0;
      const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
      if (ec == std::errc() && end == s.data() + s.size() && !s.empty()) return out;
      return std::nullopt;
    }
    default: return std::nullopt;
  }
}

// Strings as they are, numbers as their decimal text (integral floats
// without a fraction); anything else: nullopt.
std::optional<std::string> text_of(const jelement* v) {
  if (!v) return std::nullopt;
  switch (v->type()) {
    case jtype::STRING: return std::string(v->get_string().value_unsafe());
    case jtype::UINT64: return std::to_string(v->get_uint64().value_unsafe());
    case jtype::INT64: return std::to_string(v->get_int64().value_unsafe());
    case jtype::DOUBLE: {
      const double d = v->get_double().value_unsafe();
      if (std::isfinite(d) && d == std::floor(d) && std::fabs(d) < 9e18)
        return std::to_string(static_cast<int64_t>(d));
      return nlohmann::json(d).dump();  // the shortest round-trip form, as before
    }
    default: return std::nullopt;
  }
}

// A timestamp as Unix ms: numbers > 1e12 are ms, other positive numbers
// seconds (fractions kept); RFC 3339 strings and numeric strings accepted.
std::optional<int64_t> unix_ms_of(const jelement* v) {
  if (!v) return std::nullopt;
  double d = 0;
  switch (v->type()) {
    case jtype::INT64: {
      const int64_t i = v->get_int64().value_unsafe();
      if (i <= 0) return std::nullopt;
      return i > 1000000000000LL ? i : i * 1000;
    }
    case jtype::UINT64: d = static_cast<double>(v->get_uint64().value_unsafe()); break;
    case jtype::DOUBLE: d = v->get_double().value_unsafe(); break;
    case jtype::STRING: {
      const std::string_view s = v->get_string().value_unsafe();
      if (auto t = parse_rfc3339(std::string(s))) return to_unix_ms(*t);
      const auto i = int_of(v);
      if (!i) return std::nullopt;
      d = static_cast<double>(*i);
      break;
    }
    default: return std::nullopt;
  }
  if (!std::isfinite(d) || d <= 0) return std::nullopt;
  return clamp_double(d > 1e12 ? d : d * 1000.0);
}

// The session fields a listing uses; every other member is skipped unread.
enum session_key : int { k_id, k_session_id, k_name, k_token, k_ip, k_user_id, k_bytes, k_bytes_sent,
                         k_duration, k_updated_at, k_opened_at, k_created_at, k_count };
constexpr std::string_view session_keys[k_count] = {
    "id", "session_id", "name", "token", "ip", "user_id", "bytes", "bytes_sent",
    "duration", "updated_at", "opened_at", "created_at"};

int session_key_of(std::string_view k) {
  for (int i = 0; i < k_count; ++i)
    if (session_keys[i] == k) return i;
  return -1;
}

// One listed session's scalar members of interest. A member that is an
// object or an array counts as absent and leaves an earlier member of the
// same name in place; null counts as absent and replaces it (the last
// scalar of a repeated key wins, as nlohmann read it).
struct session_fields {
  std::optional<jelement> v[k_count];
  const jelement* get(session_key k) const {
    return v[k] && v[k]->type() != jtype::NULL_VALUE ? &*v[k] : nullptr;
  }
};

std::optional<listed_session> session_of(simdjson::dom::object obj) {
  session_fields o;
  for (auto field : obj) {
    const int k = session_key_of(field.key);
    if (k < 0 || field.value.is_object() || field.value.is_array()) continue;
    o.v[k] = field.value;
  }
  listed_session s;
  auto id = text_of(o.get(k_id));
  if (!id || id->empty()) id = text_of(o.get(k_session_id));
  if (!id || id->empty()) return std::nullopt;
  s.id = std::move(*id);
  if (auto v = text_of(o.get(k_name))) s.name = std::move(*v);
  if (auto v = text_of(o.get(k_token))) s.token = std::move(*v);
  if (auto v = text_of(o.get(k_ip))) s.ip = std::move(*v);
  if (auto v = text_of(o.get(k_user_id))) s.user_id = std::move(*v);
  auto bytes = int_of(o.get(k_bytes));
  if (!bytes) bytes = int_of(o.get(k_bytes_sent));
  if (bytes) s.bytes = *bytes;
  const auto updated = unix_ms_of(o.get(k_updated_at));
  if (updated) s.updated_at = from_unix_ms(*updated);
  if (auto d = int_of(o.get(k_duration))) {
    s.duration = *d;
  } else {
    auto opened = unix_ms_of(o.get(k_opened_at));
    if (!opened) opened = unix_ms_of(o.get(k_created_at));
    if (opened && updated) s.duration = std::max<int64_t>(0, (*updated - *opened) / 1000);
  }
  return s;
}
std::string excerpt(const std::string& body) {
  if (body.size() <= error_excerpt) return body;
  return body.substr(0, error_excerpt) + "...";
}

bool ok_status(unsigned status) { return status >= 200 && status < 300; }

}  // namespace

// --- endpoint ----------------------------------------------------------------

std::string flussonic_endpoint::authority() const {
  std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  if (port != (tls ? "443" : "80")) h += ":" + port;
  return h;
}

flussonic_endpoint flussonic_endpoint_of(const streamer& s) {
  const std::string url = trim(!trim(s.api_url).empty() ? s.api_url : s.url);
  if (url.empty())
    throw flussonic_error("streamer " + std::to_string(s.id) + " (" + s.host +
                          ") has no api_url or url");
  // Error messages reach the log and the job answers: never with userinfo.
  const std::string shown = redact_userinfo(url);
  std::string_view rest = url;
  bool tls = false;
  if (const auto p = rest.find("://"); p != std::string_view::npos) {
    const std::string scheme = lower(std::string(rest.substr(0, p)));
    if (scheme != "http" && scheme != "https")
      throw flussonic_error("unsupported URL scheme '" + scheme + "' (http or https): " + shown);
    tls = scheme == "https";
    rest.remove_prefix(p + 3);
  }
  const auto path_at = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, path_at);
  std::string_view path = path_at == std::string_view::npos ? std::string_view{} : rest.substr(path_at);
  if (const auto q = path.find_first_of("?#"); q != std::string_view::npos) path = path.substr(0, q);
  if (authority.find('@') != std::string_view::npos)
    throw flussonic_error("credentials in the URL are not supported (use api_user/api_password): " +
                          shown);

  flussonic_endpoint ep;
  ep.tls = tls;
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {
    const auto close = authority.find(']');
    if (close == std::string_view::npos) throw flussonic_error("bad host in URL: " + shown);
    ep.host = std::string(authority.substr(1, close - 1));
    const auto after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') throw flussonic_error("bad host in URL: " + shown);
      port = after.substr(1);
    }
  } else {
    const auto colon = authority.find(':');
    ep.host = std::string(authority.substr(0, colon));
    if (colon != std::string_view::npos) port = authority.substr(colon + 1);
  }
  if (ep.host.empty()) throw flussonic_error("no host in URL: " + shown);
  if (port.empty()) {
    ep.port = tls ? "443" : "80";
  } else {
    unsigned n = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), n);
    if (ec != std::errc() || end != port.data() + port.size() || n == 0 || n > 65535)
      throw flussonic_error("bad port in URL: " + shown);
    ep.port = std::to_string(n);
  }
  std::string p(path);
  while (!p.empty() && p.back() == '/') p.pop_back();
  if (ends_with(p, "/streamer/api/v3") || ends_with(p, "/flussonic/api/v3"))
    ep.prefix = p;
  else
    ep.prefix = p + "/streamer/api/v3";
  return ep;
}

std::string percent_encode(std::string_view s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += ch;
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

std::string basic_authorization(const std::string& user, const std::string& password) {
  if (user.empty() && password.empty()) return {};
  return "Basic " + base64_encode(user + ":" + password);
}

// --- parsing -----------------------------------------------------------------

session_page parse_session_page(const std::string& body) {
  jelement root;
  switch (json_input::parse(body, root)) {
    case json_input::parse_status::ok: break;
    case json_input::parse_status::too_deep:
      throw flussonic_error("sessions answer is not JSON (nested deeper than " +
                            std::to_string(json_input::max_depth) + " levels): " + excerpt(body));
    case json_input::parse_status::invalid:
      throw flussonic_error("sessions answer is not JSON: " + excerpt(body));
  }
  if (!root.is_object()) throw flussonic_error("sessions answer is not a JSON object: " + excerpt(body));
  auto shape = [&body](const std::string& why) {
    return flussonic_error("sessions answer: " + why + ": " + excerpt(body));
  };
  session_page page;
  // In document order: a repeated "sessions" adds its elements too, a
  // repeated "next" replaces (what the streaming reader before did).
  const simdjson::dom::object top = root.get_object().value_unsafe();
  for (auto member : top) {
    const jelement v = member.value;
    if (member.key == "sessions") {
      if (v.is_null()) continue;
      if (!v.is_array()) throw shape("\"sessions\" is not an array");
      simdjson::dom::array list = v.get_array().value_unsafe();
      page.sessions.reserve(page.sessions.size() + list.size());
      for (auto item : list) {  // an element that is not an object is skipped
        simdjson::dom::object obj;
        if (item.get_object().get(obj) != simdjson::SUCCESS) continue;
        if (auto s = session_of(obj)) page.sessions.push_back(std::move(*s));
      }
    } else if (member.key == "next") {
      if (v.is_null()) {
        page.next.clear();
        continue;
      }
      if (v.is_object() || v.is_array()) throw shape("bad \"next\"");
      auto text = text_of(&v);
      if (!text) throw shape("bad \"next\": " + std::string(simdjson::minify(v)));
      page.next = std::move(*text);
    }
  }
  return page;
}

// --- client ------------------------------------------------------------------

flussonic_client::flussonic_client(std::chrono::milliseconds timeout) : timeout_(timeout) {}

flussonic_client::answer flussonic_client::call(const streamer& s, method m,
                                                const std::string& path) {
  const flussonic_endpoint ep = flussonic_endpoint_of(s);
  http_call_options o;
  o.host = ep.host;
  o.port = ep.port;
  o.authority = ep.authority();
  o.method = m == method::get ? bhttp::verb::get : bhttp::verb::delete_;
  o.target = ep.prefix + path;
  o.timeout = timeout_;
  o.body_limit = response_body_limit;
  o.tls = ep.tls;
  o.tls_verify = s.api_tls_verify;
  // A sync's pages and a kill run's DELETEs come back to back from the
  // streamer's own worker thread: one connection for them (issue 7: a
  // connection per page was 15 % of the daemon's sync CPU).
  o.keep_alive = true;
  if (auto auth = basic_authorization(s.api_user, s.api_password); !auth.empty())
    o.headers.emplace_back("Authorization", auth);
  try {
    auto a = http_call(o);
    return answer{a.status, std::move(a.body)};
  } catch (const http_call_error& e) {
    std::string msg = "flussonic " + ep.authority() + ": " + e.step + " failed (" +
                      std::string(bhttp::to_string(o.method)) + " " + o.target + "): ";
    throw flussonic_error(msg + (std::string(e.what()).substr(e.step.size() + 9)));
  }
}

session_page flussonic_client::list_sessions(const streamer& s, int limit,
                                             const std::string& cursor) {
  std::string path = "/sessions?limit=" + std::to_string(limit > 0 ? limit : 100);
  if (!cursor.empty()) path += "&cursor=" + percent_encode(cursor);
  const auto a = call(s, method::get, path);
  if (!ok_status(a.status))
    throw flussonic_error("flussonic " + flussonic_endpoint_of(s).authority() + ": GET sessions: HTTP " +
                          std::to_string(a.status) + ": " + excerpt(a.body));
  try {
    return parse_session_page(a.body);
  } catch (const flussonic_error& e) {
    throw flussonic_error("flussonic " + flussonic_endpoint_of(s).authority() + ": " + e.what());
  }
}

bool flussonic_client::close_session(const streamer& s, const std::string& id) {
  if (id.empty()) throw flussonic_error("close_session: empty session id");
  const auto a = call(s, method::del, "/sessions/" + percent_encode(id));
  if (a.status == 200 || a.status == 204 || a.status == 404) return true;
  throw flussonic_error("flussonic " + flussonic_endpoint_of(s).authority() + ": DELETE session " +
                        id + ": HTTP " + std::to_string(a.status) + ": " + excerpt(a.body));
}

}  // namespace maxsess::net
