#include "net/http_api.hpp"

#include <boost/asio/ip/address.hpp>
#include <nlohmann/json.hpp>

#include "domain/json_input.hpp"
#include "domain/token.hpp"
#include "domain/validate.hpp"
#include "net/flussonic_client.hpp"
#include "domain/json_writer.hpp"
#include "net/status.hpp"

#include <algorithm>
#include <memory>
#include <mutex>

namespace maxsess::net {

// nlohmann stays for the admin answers (streamers, jobs), which are rare;
// the hot paths (links, auth, webhooks, errors) write with json_writer and
// every body is read with json_input (simdjson).
using nlohmann::json;
using actors::link_result;
using jelement = simdjson::dom::element;
using jtype = simdjson::dom::element_type;

namespace {

// --- helpers -------------------------------------------------------------------

// Never throws: input echoed back (a host, an error from a streamer) may hold
// invalid UTF-8, which nlohmann's strict mode would turn into an exception
// on an actor thread.
std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// No '+' for space: Flussonic and our clients percent-encode.
std::string percent_decode(std::string_view s, bool& ok) {
  ok = true;
  if (s.find('%') == std::string_view::npos) return std::string(s);  // the usual case
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {
      int hi = i + 2 < s.size() ? hex_digit(s[i + 1]) : -1;
      int lo = hi >= 0 ? hex_digit(s[i + 2]) : -1;
      if (lo < 0) {
        ok = false;
        return {};
      }
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> parts;
  std::size_t i = 0;
  while (i < path.size()) {
    if (path[i] == '/') {
      ++i;
      continue;
    }
    auto j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    parts.push_back(path.substr(i, j - i));
    i = j;
  }
  return parts;
}

// A request's query parameters, sorted by name, each name once (the last
// value given wins), iterated in name order like the std::map it replaces:
// a flat vector, because the auth backend's ~10 parameters per check as map
// nodes were ≈ 3 % of the daemon's CPU on that path (perf, issue 7).
class query_params {
 public:
  using item = std::pair<std::string, std::string>;
  using const_iterator = std::vector<item>::const_iterator;
  const_iterator begin() const { return items_.begin(); }
  const_iterator end() const { return items_.end(); }
  const_iterator find(std::string_view name) const {
    auto i = std::lower_bound(items_.begin(), items_.end(), name,
                              [](const item& a, std::string_view n) { return a.first < n; });
    return i != items_.end() && i->first == name ? i : items_.end();
  }
  // Adds in arrival order; sorted and de-duplicated by done().
  void add(std::string name, std::string value) { items_.emplace_back(std::move(name), std::move(value)); }
  void done() {
    std::stable_sort(items_.begin(), items_.end(), [](const item& a, const item& b) { return a.first < b.first; });
    // Of equal names, the last given stays (stable: it is the last of its run).
    std::vector<item> out;
    out.reserve(items_.size());
    for (auto& it : items_) {
      if (!out.empty() && out.back().first == it.first)
        out.back() = std::move(it);
      else
        out.push_back(std::move(it));
    }
    items_ = std::move(out);
  }

 private:
  std::vector<item> items_;
};

query_params parse_query(std::string_view q) {
  query_params out;
  std::size_t i = 0;
  while (i <= q.size() && !q.empty()) {
    auto j = q.find('&', i);
    if (j == std::string_view::npos) j = q.size();
    auto kv = q.substr(i, j - i);
    auto eq = kv.find('=');
    bool ok1 = true, ok2 = true;
    auto k = percent_decode(kv.substr(0, eq), ok1);
    auto v = eq == std::string_view::npos ? std::string{} : percent_decode(kv.substr(eq + 1), ok2);
    if (ok1 && ok2 && !k.empty()) out.add(std::move(k), std::move(v));
    if (j == q.size()) break;
    i = j + 1;
  }
  out.done();
  return out;
}

// A path as it may be logged or echoed: the streamer-side paths carry a
// secret after the host (docs/security.md), so everything past the host is
// cut off there.
std::string loggable_path(const std::string& path, bool unknown = false) {
  auto keep_segments = [&](std::size_t n) {
    std::size_t pos = 0;
    for (std::size_t i = 0; i < n; ++i) {
      pos = path.find('/', pos + 1);
      if (pos == std::string::npos) return path;
    }
    return path.substr(0, pos) + "/...";
  };
  if (path.rfind("/webhook/", 0) == 0) return keep_segments(4);
  if (path.rfind("/flussonic/auth/", 0) == 0) return keep_segments(3);
  // An unknown path is not echoed past its first segment either: a
  // secret put in the wrong place (a typo in Flussonic's URL) stays out of
  // the answer.
  if (!unknown) return path.size() > 200 ? path.substr(0, 200) + "..." : path;
  return keep_segments(1);
}

// The one rendering of a session, wherever one is shown (link answers, the
// holders of a 403, GET of an account, the sessions listing): every field of
// PRODUCT.md §1 except the token, which is a playback credential (whoever
// holds it plays as this device until it expires). Keys in sorted order, as
// nlohmann's std::map wrote them (tests/unit/net/http_api_test.cpp compares
// against nlohmann).
void write_session(json_writer& w, const playback_session& s) {
  w.begin_object();
  w.key("account_id").string(s.account_id);
  w.key("bytes").number(s.bytes);
  w.key("client_ip").string(s.client_ip);
  w.key("content").begin_object();
  if (s.content.duration) w.key("duration").number(*s.content.duration);
  if (s.content.start) w.key("start").number(*s.content.start);
  w.key("stream").string(s.content.stream).key("type").string(to_string(s.content.type));
  w.end_object();
  w.key("device_id").string(s.device_id);
  w.key("duration_seconds").number(s.duration_s);
  if (s.reason) w.key("end_reason").string(to_string(*s.reason));
  if (s.ended_at) w.key("ended_at").string(to_rfc3339(*s.ended_at));
  w.key("exempt").boolean(s.exempt);
  // Every Flussonic play session bound to this device session (a device
  // that zaps or reconnects has had several); open until Flussonic closed it.
  w.key("flussonic_sessions").begin_array();
  for (const auto& f : s.flussonic) {
    w.begin_object();
    w.key("id").string(f.id);
    w.key("ip").string(f.ip);
    w.key("open").boolean(f.open);
    w.key("stream").string(f.stream);
    w.key("updated_at").string(to_rfc3339(f.updated_at));
    w.end_object();
  }
  w.end_array();
  // Shadow mode: playing although enforce would have refused or killed it;
  // never counted against the limit (docs/shadow.md).
  w.key("over_limit").boolean(s.over_limit);
  w.key("started_at").string(to_rfc3339(s.started_at));
  w.key("status").string(to_string(s.status));
  w.key("streamer_id").number(s.streamer_id);
  w.key("updated_at").string(to_rfc3339(s.updated_at));
  w.end_object();
}

// The opaque cursor of GET /api/v1/sessions: the last (account, device) of
// a page, base64url(account \0 device). Opaque so the paging key may change
// without breaking clients that only hand it back.
std::string session_cursor(const playback_session& s) {
  std::string key = s.account_id;
  key += '\0';
  key += s.device_id;
  return base64url_encode(key);
}

std::optional<std::pair<std::string, std::string>> parse_session_cursor(std::string_view text) {
  if (text.size() > 4 * (2 * max_id_length + 1) / 3 + 4) return std::nullopt;
  auto key = base64url_decode(text);
  if (!key) return std::nullopt;
  auto nul = key->find('\0');
  if (nul == std::string::npos) return std::nullopt;
  std::pair<std::string, std::string> at{key->substr(0, nul), key->substr(nul + 1)};
  if (!valid_id(at.first) || !valid_id(at.second)) return std::nullopt;
  return at;
}

// An account id prefix: what an account id may start with.
bool valid_id_prefix(std::string_view p) {
  if (p.empty() || p.size() > max_id_length) return false;
  // A prefix of a valid id is valid once it is extended by letters; the
  // first character's rule (letter or digit) is the only one on position.
  std::string probe(p);
  if (probe.size() < max_id_length) probe += 'a';
  return valid_id(probe);
}

json streamer_json(const streamer& s) {
  // Secrets (api_password, securetoken_secret) are never returned, nor the
  // userinfo of a URL stored before PUT refused it.
  return json{{"id", s.id},
              {"host", s.host},
              {"url", redact_userinfo(s.url)},
              {"api_url", redact_userinfo(s.api_url)},
              {"api_user", s.api_user},
              {"api_password_set", !s.api_password.empty()},
              {"api_tls_verify", s.api_tls_verify},
              {"link_mode", to_string(s.mode)},
              {"securetoken_secret_set", !s.securetoken_secret.empty()},
              {"link_template", s.link_template},
              {"capacity", s.capacity},
              {"enabled", s.enabled},
              {"allowed_sources", s.allowed_sources},
              {"access_secrets_set", !s.access_secrets.empty()},
              {"access_secrets_count", s.access_secrets.size()}};
}

std::string account_json(const actors::account_view& v) {
  json_writer w(128 + 256 * v.sessions.size());
  w.begin_object();
  w.key("account_id").string(v.settings.account_id);
  w.key("exempt").boolean(v.settings.exempt);
  w.key("max_sessions").number(v.settings.max_sessions);
  w.key("sessions").begin_array();
  for (auto& s : v.sessions) write_session(w, s);
  w.end_array().end_object();
  return w.take();
}

// A validation failure: the field and what is wrong with it.
struct bad_input {
  std::string field;
  std::string message;
};

// An integer that fits int64 (simdjson gives uint64 only above INT64_MAX,
// and a double for a fraction, an exponent or beyond 64 bits).
std::optional<int64_t> as_int64(const jelement& j) {
  if (j.type() != jtype::INT64) return std::nullopt;
  return j.get_int64().value_unsafe();
}

// Reads an optional/required field of a JSON object with its type checked.
// Bodies with a key given twice never get here (body_object refuses them).
// Every string read here may be stored, so control characters are refused
// for all of them: libpq ends a text parameter at a NUL.
struct reader {
  simdjson::dom::object obj;
  std::string prefix;  // "content." for nested objects
  std::optional<bad_input> error;

  std::optional<jelement> field(const char* name, bool required) {
    if (error) return std::nullopt;
    auto j = json_input::find(obj, name);
    if (!j || j->is_null()) {
      if (required) error = bad_input{prefix + name, std::string("missing required field ") + prefix + name};
      return std::nullopt;
    }
    return j;
  }
  std::optional<std::string> str(const char* name, bool required) {
    auto j = field(name, required);
    if (!j) return std::nullopt;
    if (!j->is_string()) {
      error = bad_input{prefix + name, prefix + name + " must be a string"};
      return std::nullopt;
    }
    auto text = j->get_string().value_unsafe();
    if (has_control_char(text)) {
      error = bad_input{prefix + name,
                        prefix + name + " must not contain control characters (U+0000-U+001F, U+007F)"};
      return std::nullopt;
    }
    return std::string(text);
  }
  std::optional<int64_t> integer(const char* name, bool required, int64_t min) {
    auto j = field(name, required);
    if (!j) return std::nullopt;
    auto v = as_int64(*j);
    if (!v || *v < min) {
      error = bad_input{prefix + name, prefix + name + " must be an integer >= " + std::to_string(min)};
      return std::nullopt;
    }
    return v;
  }
  std::optional<bool> boolean(const char* name, bool required) {
    auto j = field(name, required);
    if (!j) return std::nullopt;
    if (!j->is_bool()) {
      error = bad_input{prefix + name, prefix + name + " must be true or false"};
      return std::nullopt;
    }
    return j->get_bool().value_unsafe();
  }
};

std::optional<bad_input> check_id(const std::string& field, const std::string& value) {
  if (valid_id(value)) return std::nullopt;
  return bad_input{field, field + " must be 1-" + std::to_string(max_id_length) +
                              " characters of A-Z a-z 0-9 . _ : @ -, starting with a letter or digit"};
}

// allowed_sources and access_secrets of a streamer body (docs/security.md).
// Absent or null: none (PUT replaces the whole streamer). A secret is never
// quoted back in a message.
std::optional<bad_input> read_streamer_access(const simdjson::dom::object& body, streamer& s) {
  auto strings = [&](const char* name, std::size_t max, std::vector<std::string>& out) -> std::optional<bad_input> {
    auto j = json_input::find(body, name);
    if (!j || j->is_null()) return std::nullopt;
    const std::string must = std::string(name) + " must be an array of at most " + std::to_string(max) + " strings";
    if (!j->is_array()) return bad_input{name, must};
    simdjson::dom::array list = j->get_array().value_unsafe();
    for (auto item : list) {
      if (!item.is_string() || out.size() == max) return bad_input{name, must};
      out.emplace_back(item.get_string().value_unsafe());
    }
    return std::nullopt;
  };
  if (auto e = strings("allowed_sources", max_allowed_sources, s.allowed_sources)) return e;
  for (std::size_t i = 0; i < s.allowed_sources.size(); ++i) {
    std::string why;
    auto c = parse_cidr(s.allowed_sources[i], &why);
    const std::string field = "allowed_sources[" + std::to_string(i) + "]";
    if (!c) {
      std::string shown;
      for (char ch : s.allowed_sources[i].substr(0, 64))
        shown += (ch >= 0x20 && ch < 0x7f) ? ch : '?';
      return bad_input{field, field + " '" + shown + "' " + why};
    }
  }
  if (auto e = strings("access_secrets", max_access_secrets, s.access_secrets)) return e;
  for (std::size_t i = 0; i < s.access_secrets.size(); ++i) {
    const std::string field = "access_secrets[" + std::to_string(i) + "]";
    if (!valid_access_secret(s.access_secrets[i]))
      return bad_input{field, field + " must be " + std::to_string(min_access_secret) + "-" +
                                  std::to_string(max_access_secret) +
                                  " characters of A-Z a-z 0-9 - _ . ~ (e.g. openssl rand -hex 24)"};
    for (std::size_t k = 0; k < i; ++k)
      if (s.access_secrets[k] == s.access_secrets[i])
        return bad_input{field, field + " repeats an earlier secret"};
  }
  return std::nullopt;
}

bool is_json_content(const request& req) {
  auto ct = std::string(req[http::field::content_type]);
  auto semi = ct.find(';');
  if (semi != std::string::npos) ct = ct.substr(0, semi);
  while (!ct.empty() && ct.back() == ' ') ct.pop_back();
  for (auto& ch : ct) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return ct == "application/json";
}

}  // namespace

response error_response(http::status status, const std::string& code, const std::string& message,
                        const std::string& field) {
  json_writer w(64 + message.size());
  w.begin_object().key("error").begin_object();
  w.key("code").string(code);
  if (!field.empty()) w.key("field").string(field);
  w.key("message").string(message);
  w.end_object().end_object();
  return make_json_response(status, w.take());
}

// One request in flight: what route() needs, and the way to answer.
struct http_api::call : std::enable_shared_from_this<http_api::call> {
  request req;
  std::string remote;
  std::string path;
  query_params query;
  reply_fn reply;
  unsigned version = 11;
  bool keep_alive = true;

  void send(response r) {
    r.version(version);
    r.keep_alive(keep_alive);
    reply(std::move(r));
  }
  void json_ok(http::status st, const json& body) { send(make_json_response(st, dump(body))); }
  void json_text(http::status st, std::string body) { send(make_json_response(st, std::move(body))); }
  void fail(http::status st, const std::string& code, const std::string& msg,
            const std::string& field = {}) {
    send(error_response(st, code, msg, field));
  }
  void bad(const bad_input& b) { fail(http::status::bad_request, "bad_request", b.message, b.field); }
  void unavailable(const std::string& msg) {
    auto r = error_response(http::status::service_unavailable, "unavailable", msg);
    r.set(http::field::retry_after, "1");
    send(std::move(r));
  }
  // The parsed JSON body object, or nullopt after answering 4xx. It lives
  // in this thread's parser: read it before anything else parses here.
  std::optional<simdjson::dom::object> body_object() {
    if (!is_json_content(req)) {
      fail(http::status::unsupported_media_type, "unsupported_media_type",
           "send the body as JSON with Content-Type: application/json", "Content-Type");
      return std::nullopt;
    }
    jelement j;
    switch (json_input::parse(req.body(), j)) {
      case json_input::parse_status::ok: break;
      case json_input::parse_status::too_deep:
        fail(http::status::bad_request, "bad_request",
             "the body nests arrays/objects deeper than " + std::to_string(json_input::max_depth), "body");
        return std::nullopt;
      case json_input::parse_status::invalid:
        fail(http::status::bad_request, "bad_request", "the body is not valid JSON", "body");
        return std::nullopt;
    }
    if (!j.is_object()) {
      fail(http::status::bad_request, "bad_request", "the body must be a JSON object", "body");
      return std::nullopt;
    }
    // A repeated key is ambiguous (parsers differ on which value wins), so
    // it is refused rather than read as its last value.
    if (auto dup = json_input::duplicate_key(j)) {
      fail(http::status::bad_request, "bad_request", "the key \"" + *dup + "\" appears more than once", *dup);
      return std::nullopt;
    }
    return j.get_object().value_unsafe();
  }
};

http_api::http_api(api_options opts, api_deps deps)
    : opts_(std::move(opts)),
      deps_(deps),
      tokens_(opts_.tokens ? opts_.tokens
                           : std::make_shared<token_guard>(token_lists{
                                 opts_.admin_token.empty() ? std::vector<std::string>{}
                                                           : std::vector<std::string>{opts_.admin_token},
                                 opts_.client_tokens})),
      status_page_csp_(deps_.status_page.empty() ? std::string{} : status_page_csp(deps_.status_page)),
      request_metrics_(std::make_shared<request_metrics>(deps_.metrics)) {}

namespace {
// A few route groups for the latency histogram (bounded label values).
constexpr const char* route_groups[] = {"links", "session", "webhook", "auth", "admin", "other"};
constexpr std::size_t route_group_count = sizeof route_groups / sizeof route_groups[0];
constexpr std::size_t status_codes = 600;  // 100..599; the counters' key is group * 600 + code

std::size_t route_group(const std::string& path) {
  if (path == "/api/v1/links") return 0;
  if (path.rfind("/api/v1/accounts/", 0) == 0 && path.find("/devices/") != std::string::npos) return 1;
  if (path.rfind("/webhook/", 0) == 0) return 2;
  if (path.find("auth") != std::string::npos || path.find("chk_flussonic") != std::string::npos) return 3;
  if (path.rfind("/api/v1/", 0) == 0) return 4;
  return 5;
}
}  // namespace

// Every request's latency and count, and the auth backend's allow: series
// resolved on first use, then updated without the registry's lock or a
// label string (they were a global mutex between the I/O threads and a few
// allocations per request).
struct http_api::request_metrics {
  explicit request_metrics(metric_registry& m)
      : registry(m),
        requests(m, "maxsess_http_requests_total", route_group_count * status_codes, [](std::size_t k) {
          return metric_registry::labels{{"route", route_groups[k / status_codes]},
                                         {"code", std::to_string(k % status_codes)}};
        }) {}
  void observe(std::size_t group, double secs) {
    std::call_once(latency_once[group], [&] {
      latency[group] = registry.histogram("maxsess_http_request_duration_seconds", {{"route", route_groups[group]}});
    });
    latency[group].observe(secs);
  }
  // Link decisions by result (link_result's order, then would_deny): every
  // link request counted one, through the registry's lock (issue 7).
  static constexpr const char* link_results[] = {"approved", "denied", "unknown_streamer", "no_streamer",
                                                 "unavailable", "would_deny"};
  static constexpr std::size_t would_deny_key = 5;
  static_assert(static_cast<std::size_t>(link_result::unavailable) + 1 == would_deny_key &&
                    std::size(link_results) == would_deny_key + 1,
                "link_results follows link_result, then would_deny");
  void auth_allowed() {
    std::call_once(allow_once, [&] { allow = registry.counter("maxsess_auth_decisions_total", {{"result", "allow"}}); });
    allow.inc();
  }
  metric_registry& registry;
  lazy_counters requests;
  lazy_counters links{registry, "maxsess_link_decisions_total", std::size(link_results),
                      [](std::size_t k) { return metric_registry::labels{{"result", link_results[k]}}; }};
  std::once_flag latency_once[route_group_count];
  metric_registry::histogram_ref latency[route_group_count];
  std::once_flag allow_once;
  metric_registry::counter_ref allow;
};

void http_api::handle(request req, std::string remote, reply_fn reply) {
  auto c = std::make_shared<call>();
  c->version = req.version();
  c->keep_alive = req.keep_alive();
  c->remote = std::move(remote);
  auto target = std::string(req.target());
  auto q = target.find('?');
  c->path = target.substr(0, q);
  // Latency is a measurement, not a decision: the steady clock is fine here.
  auto started = std::chrono::steady_clock::now();
  c->reply = [reply = std::move(reply), started, group = route_group(c->path),
              metrics = request_metrics_.get()](response r) {
    auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    metrics->observe(group, secs);
    metrics->requests.inc(group * status_codes + r.result_int());
    reply(std::move(r));
  };
  if (q != std::string::npos) c->query = parse_query(std::string_view(target).substr(q + 1));
  c->req = std::move(req);
  try {
    route(*c);
  } catch (const std::exception& e) {
    // A bug, not bad input: answer, log, keep serving.
    deps_.log.error("http", "handler failed", {{"path", loggable_path(c->path)}, {"error", e.what()}});
    c->fail(http::status::internal_server_error, "internal", "internal error");
  }
}

void http_api::route(call& c) {
  auto method = c.req.method();
  auto parts = split_path(c.path);
  for (auto& p : parts) {
    bool ok = true;
    p = percent_decode(p, ok);
    if (!ok) return c.fail(http::status::bad_request, "bad_request", "bad percent-encoding in path", "path");
  }
  auto method_not_allowed = [&](const char* allow) {
    auto r = error_response(http::status::method_not_allowed, "method_not_allowed",
                            std::string("allowed: ") + allow);
    r.set(http::field::allow, allow);
    c.send(std::move(r));
  };
  auto bearer = [&]() -> std::string {
    auto h = std::string(c.req[http::field::authorization]);
    const std::string prefix = "Bearer ";
    return h.compare(0, prefix.size(), prefix) == 0 ? h.substr(prefix.size()) : std::string{};
  };
  auto admin_ok = [&]() {
    if (tokens_->admin_ok(bearer())) return true;
    c.fail(http::status::unauthorized, "unauthorized", "admin bearer token missing or wrong");
    return false;
  };
  auto client_ok = [&]() {
    if (tokens_->client_ok(bearer())) return true;
    c.fail(http::status::unauthorized, "unauthorized", "client bearer token missing or wrong");
    return false;
  };

  if (parts.size() == 1 && (parts[0] == "healthz" || parts[0] == "readyz")) {
    if (method != http::verb::get && method != http::verb::head) return method_not_allowed("GET, HEAD");
    if (parts[0] == "healthz") return c.json_ok(http::status::ok, {{"status", "ok"}});
    if (!ready_) return c.fail(http::status::service_unavailable, "not_ready", "starting or stopping");
    if (deps_.ready_check && !deps_.ready_check())
      return c.fail(http::status::service_unavailable, "not_ready",
                    "the database is unreachable or the node is not in its cluster");
    return c.json_ok(http::status::ok, {{"status", "ready"}});
  }
  // Flussonic's auth backend, also at the middleware's old paths so
  // configurations pointing there need no edit (PRODUCT.md §4).
  // /flussonic/auth/{host}[/{secret}] names the calling streamer (and
  // carries its secret) for the access rules of docs/security.md.
  const bool auth_named = (parts.size() == 3 || parts.size() == 4) && parts[0] == "flussonic" &&
                          parts[1] == "auth";
  if (c.path == "/flussonic/auth" || c.path == "/server/api/chk_flussonic_tmp_link.php" ||
      c.path == "/stalker_portal/server/api/chk_flussonic_tmp_link.php" || auth_named) {
    if (method != http::verb::get && method != http::verb::post && method != http::verb::head)
      return method_not_allowed("GET, POST, HEAD");
    std::optional<std::string> host, secret;
    if (auth_named) host = parts[2];
    if (auth_named && parts.size() == 4) secret = parts[3];
    if (!streamer_call_allowed(c, true, host, secret)) return;
    return flussonic_auth(c);
  }
  if ((parts.size() == 4 || parts.size() == 5) && parts[0] == "webhook" &&
      parts[1] == "playback-session" && parts[2] == "flussonic") {
    if (method != http::verb::post) return method_not_allowed("POST");
    std::optional<std::string> secret;
    if (parts.size() == 5) secret = parts[4];
    if (!streamer_call_allowed(c, false, parts[3], secret)) return;
    return webhook(c, parts[3]);
  }
  if (parts.empty() && !deps_.status_page.empty()) {
    if (method != http::verb::get && method != http::verb::head) return method_not_allowed("GET, HEAD");
    return status_page(c);
  }
  if (parts.size() == 1 && parts[0] == "metrics") {
    if (method != http::verb::get) return method_not_allowed("GET");
    return metrics(c);
  }
  if (parts.size() >= 2 && parts[0] == "api" && parts[1] == "v1") {
    if (parts.size() == 4 && parts[2] == "jobs") {
      if (method != http::verb::post) return method_not_allowed("POST");
      if (!admin_ok()) return;
      return job(c, parts[3]);
    }
    // /api/v1/links
    if (parts.size() == 3 && parts[2] == "links") {
      if (method != http::verb::post) return method_not_allowed("POST");
      if (!client_ok()) return;
      return post_link(c);
    }
    // /api/v1/accounts/{a}/devices/{d}/session
    if (parts.size() == 7 && parts[2] == "accounts" && parts[4] == "devices" &&
        parts[6] == "session") {
      if (method != http::verb::delete_) return method_not_allowed("DELETE");
      if (!client_ok()) return;
      return delete_session(c, parts[3], parts[5]);
    }
    // The audit trail: /api/v1/accounts/{a}/events, /api/v1/events
    if (parts.size() == 5 && parts[2] == "accounts" && parts[4] == "events") {
      if (method != http::verb::get) return method_not_allowed("GET");
      if (!admin_ok()) return;
      return events(c, parts[3]);
    }
    if (parts.size() == 3 && parts[2] == "events") {
      if (method != http::verb::get) return method_not_allowed("GET");
      if (!admin_ok()) return;
      return events(c, {});
    }
    if (parts.size() == 4 && parts[2] == "accounts") {
      if (method != http::verb::get && method != http::verb::put && method != http::verb::delete_)
        return method_not_allowed("GET, PUT, DELETE");
      if (!admin_ok()) return;
      return account_admin(c, parts[3]);
    }
    if (parts.size() == 3 && parts[2] == "sessions" && deps_.list_sessions) {
      if (method != http::verb::get) return method_not_allowed("GET");
      if (!admin_ok()) return;
      return sessions_admin(c);
    }
    if (parts.size() == 3 && parts[2] == "cluster" && deps_.cluster_status) {
      if (method != http::verb::get) return method_not_allowed("GET");
      if (!admin_ok()) return;
      return cluster(c);
    }
    if (parts.size() == 3 && parts[2] == "status" && deps_.status) {
      if (method != http::verb::get) return method_not_allowed("GET");
      if (!admin_ok()) return;
      return status(c);
    }
    if (parts.size() == 3 && parts[2] == "streamers") {
      if (method != http::verb::get) return method_not_allowed("GET");
      if (!admin_ok()) return;
      return streamer_admin_list(c);
    }
    if (parts.size() == 4 && parts[2] == "streamers") {
      if (method != http::verb::get && method != http::verb::put && method != http::verb::delete_)
        return method_not_allowed("GET, PUT, DELETE");
      if (!admin_ok()) return;
      return streamer_admin_one(c, parts[3]);
    }
  }
  c.fail(http::status::not_found, "not_found", "no such endpoint: " + loggable_path(c.path, true));
}

void http_api::post_link(call& c) {
  auto body = c.body_object();
  if (!body) return;
  reader r{*body, "", std::nullopt};
  actors::link_request lr;
  auto account = r.str("account_id", true);
  auto device = r.str("device_id", true);
  auto content = r.field("content", true);
  if (r.error) return c.bad(*r.error);
  if (auto e = check_id("account_id", *account)) return c.bad(*e);
  if (auto e = check_id("device_id", *device)) return c.bad(*e);
  if (!content->is_object()) return c.bad({"content", "content must be an object {\"type\", \"stream\"}"});
  reader rc{content->get_object().value_unsafe(), "content.", std::nullopt};
  auto type = rc.str("type", true);
  auto stream = rc.str("stream", true);
  auto start = rc.integer("start", false, 0);
  auto duration = rc.integer("duration", false, 0);
  if (rc.error) return c.bad(*rc.error);
  auto streamer_id = r.integer("streamer_id", false, 0);
  auto client_ip = r.str("client_ip", false);
  if (r.error) return c.bad(*r.error);
  auto ct = parse_content_type(*type);
  if (!ct) {
    if (*type == "multicast")
      return c.fail(http::status::bad_request, "unsupported_content",
                    "multicast content is not handled by maxsess", "content.type");
    return c.bad({"content.type",
                  "content.type must be one of live, timeshift, catchup, npvr, vod, radio"});
  }
  if (!valid_stream_name(*stream))
    return c.bad({"content.stream", "content.stream must be 1-" + std::to_string(max_stream_length) +
                                        " printable characters without spaces, '?', '#', '%'"});
  if (client_ip) {
    boost::system::error_code ec;
    boost::asio::ip::make_address(*client_ip, ec);
    if (ec) return c.bad({"client_ip", "client_ip must be an IPv4 or IPv6 address"});
  }
  lr.account_id = *account;
  lr.device_id = *device;
  lr.content.type = *ct;
  lr.content.stream = *stream;
  lr.content.start = start;
  lr.content.duration = duration;
  lr.streamer_id = streamer_id.value_or(0);
  lr.client_ip = client_ip.value_or("");

  auto keep = c.shared_from_this();
  deps_.accounts.request_link(std::move(lr), [keep, metrics = request_metrics_.get()](actors::link_outcome o) {
    // Shadow mode: approved, but counted as what enforce would have answered.
    metrics->links.inc(o.would_deny ? request_metrics::would_deny_key : static_cast<std::size_t>(o.result));
    switch (o.result) {
      case link_result::approved: {
        json_writer w(384 + o.url.size() + o.token.size());
        w.begin_object();
        w.key("decision").string("approved");
        w.key("expires_at").string(to_rfc3339(o.expires_at));
        w.key("session");
        write_session(w, o.session);
        w.key("token").string(o.token);
        w.key("url").string(o.url);
        w.end_object();
        return keep->json_text(http::status::ok, w.take());
      }
      case link_result::denied: {
        json_writer w(160 + 256 * o.holders.size());
        w.begin_object().key("error").begin_object();
        w.key("code").string("max_sessions_reached");
        w.key("max_sessions").number(o.max_sessions);
        w.key("message").string(o.message);
        w.key("sessions").begin_array();
        for (auto& s : o.holders) write_session(w, s);
        w.end_array().end_object().end_object();
        return keep->json_text(http::status::forbidden, w.take());
      }
      case link_result::unknown_streamer:
        return keep->fail(http::status::bad_request, "bad_request", o.message, "streamer_id");
      case link_result::no_streamer:
        return keep->fail(http::status::service_unavailable, "no_streamer", o.message);
      case link_result::unavailable:
        return keep->unavailable(o.message);
    }
  });
}

void http_api::delete_session(call& c, const std::string& account, const std::string& device) {
  if (auto e = check_id("account_id", account)) return c.bad(*e);
  if (auto e = check_id("device_id", device)) return c.bad(*e);
  bool kill = false;
  if (auto k = c.query.find("kill"); k != c.query.end()) {
    if (k->second == "true" || k->second == "1")
      kill = true;
    else if (k->second != "false" && k->second != "0")
      return c.bad({"kill", "kill must be true or false"});
  }
  auto keep = c.shared_from_this();
  deps_.accounts.end_session(account, device, kill, [keep](actors::end_result r) {
    switch (r) {
      case actors::end_result::ended: {
        response res{http::status::no_content, keep->version};
        return keep->send(std::move(res));
      }
      case actors::end_result::not_found:
        return keep->fail(http::status::not_found, "not_found", "the device has no session");
      case actors::end_result::unavailable:
        return keep->unavailable("could not end the session; retry");
    }
  });
}

void http_api::account_admin(call& c, const std::string& account) {
  if (auto e = check_id("account_id", account)) return c.bad(*e);
  if (c.req.method() == http::verb::delete_) {
    // Decided by the account's owner (any node in cluster mode), like ?kill=true.
    auto keep = c.shared_from_this();
    return deps_.accounts.delete_account(account, [keep](actors::end_result r) {
      switch (r) {
        case actors::end_result::ended: {
          response res{http::status::no_content, keep->version};
          return keep->send(std::move(res));
        }
        case actors::end_result::not_found:
          return keep->fail(http::status::not_found, "not_found", "account has neither settings nor sessions");
        case actors::end_result::unavailable:
          return keep->unavailable("could not delete the account; retry");
      }
    });
  }
  if (c.req.method() == http::verb::get) {
    auto keep = c.shared_from_this();
    return deps_.accounts.get_account(account, [keep](std::optional<actors::account_view> v) {
      if (!v) return keep->unavailable("account state unavailable; retry");
      if (!v->found)
        return keep->fail(http::status::not_found, "not_found",
                          "account has neither settings nor sessions");
      keep->json_text(http::status::ok, account_json(*v));
    });
  }
  auto body = c.body_object();
  if (!body) return;
  reader r{*body, "", std::nullopt};
  auto max = r.integer("max_sessions", true, 0);
  auto exempt = r.boolean("exempt", false);
  if (r.error) return c.bad(*r.error);
  if (auto id = json_input::find(*body, "account_id");
      id && !(id->is_string() && id->get_string().value_unsafe() == account))
    return c.bad({"account_id", "account_id in the body must match the path"});
  auto keep = c.shared_from_this();
  deps_.accounts.put_account({account, *max, exempt.value_or(false)},
                             [keep](std::optional<actors::account_view> v) {
                               if (!v) return keep->unavailable("could not save the account; retry");
                               keep->json_text(http::status::ok, account_json(*v));
                             });
}

void http_api::sessions_admin(call& c) {
  storage::session_query q;
  // An empty value is the same as leaving the parameter out (a portal's
  // form sends every field); an unknown parameter is refused rather than
  // ignored, so a typo cannot silently widen the listing.
  for (const auto& [name, value] : c.query) {
    if (value.empty()) continue;
    if (name == "status") {
      q.status = parse_session_status(value);
      if (!q.status) return c.bad({"status", "status must be one of pending, active, ended, killed"});
    } else if (name == "streamer_id") {
      bool digits = value.size() <= 18 && value.find_first_not_of("0123456789") == std::string::npos;
      int64_t id = digits ? std::stoll(value) : 0;
      if (id <= 0) return c.bad({"streamer_id", "streamer_id must be a positive integer"});
      q.streamer_id = id;
    } else if (name == "account_id_prefix") {
      if (!valid_id_prefix(value))
        return c.bad({"account_id_prefix", "account_id_prefix must be 1-" + std::to_string(max_id_length) +
                                               " characters of A-Z a-z 0-9 . _ : @ -, starting with a "
                                               "letter or digit"});
      q.account_id_prefix = value;
    } else if (name == "limit") {
      bool digits = value.size() <= 4 && value.find_first_not_of("0123456789") == std::string::npos;
      int n = digits ? std::stoi(value) : 0;
      if (n < 1 || n > storage::max_session_page)
        return c.bad({"limit", "limit must be an integer from 1 to " + std::to_string(storage::max_session_page)});
      q.limit = n;
    } else if (name == "cursor") {
      q.after = parse_session_cursor(value);
      if (!q.after) return c.bad({"cursor", "cursor is not one this API handed out (pass `next` as is)"});
    } else {
      return c.bad({name, "unknown parameter " + name.substr(0, 64) +
                              " (status, streamer_id, account_id_prefix, limit, cursor)"});
    }
  }
  auto keep = c.shared_from_this();
  deps_.list_sessions(std::move(q), [keep](std::optional<storage::session_page> page) {
    if (!page) return keep->unavailable("could not read the sessions; retry");
    json_writer w(64 + 512 * page->sessions.size());
    w.begin_object();
    if (page->more && !page->sessions.empty()) w.key("next").string(session_cursor(page->sessions.back()));
    w.key("sessions").begin_array();
    for (const auto& s : page->sessions) write_session(w, s);
    w.end_array().end_object();
    keep->json_text(http::status::ok, w.take());
  });
}

void http_api::streamer_admin_list(call& c) {
  json all = json::array();
  for (auto& s : deps_.streamers.list()) all.push_back(streamer_json(s));
  c.json_ok(http::status::ok, {{"streamers", std::move(all)}});
}

void http_api::streamer_admin_one(call& c, const std::string& id_text) {
  int64_t id = 0;
  bool numeric = !id_text.empty() && id_text.size() <= 18 &&
                 id_text.find_first_not_of("0123456789") == std::string::npos;
  if (numeric) id = std::stoll(id_text);
  if (id <= 0) return c.bad({"id", "streamer id must be a positive integer"});
  auto method = c.req.method();
  if (method == http::verb::get) {
    auto s = deps_.streamers.get(id);
    if (!s) return c.fail(http::status::not_found, "not_found", "streamer is not registered");
    return c.json_ok(http::status::ok, streamer_json(*s));
  }
  auto keep = c.shared_from_this();
  if (method == http::verb::delete_) {
    return deps_.streamers.remove(id, [keep](actors::admin_status st, std::string msg) {
      if (st == actors::admin_status::ok) {
        response res{http::status::no_content, keep->version};
        return keep->send(std::move(res));
      }
      if (st == actors::admin_status::not_found)
        return keep->fail(http::status::not_found, "not_found", msg);
      keep->unavailable("could not delete the streamer: " + msg);
    });
  }
  auto body = keep->body_object();
  if (!body) return;
  reader r{*body, "", std::nullopt};
  streamer s;
  s.id = id;
  auto body_id = r.integer("id", false, 1);
  auto host = r.str("host", true);
  auto url = r.str("url", false);
  auto api_url = r.str("api_url", false);
  auto api_user = r.str("api_user", false);
  auto api_password = r.str("api_password", false);
  auto mode = r.str("link_mode", false);
  auto secret = r.str("securetoken_secret", false);
  auto tmpl = r.str("link_template", false);
  auto capacity = r.integer("capacity", false, 0);
  auto enabled = r.boolean("enabled", false);
  auto tls_verify = r.boolean("api_tls_verify", false);
  if (r.error) return keep->bad(*r.error);
  if (body_id && *body_id != id) return keep->bad({"id", "id in the body must match the path"});
  if (!valid_streamer_host(*host))
    return keep->bad({"host", "host must be a DNS name, an IPv4 address or an IPv6 address, with an "
                              "optional :port (IPv6 in brackets then), no scheme, no path"});
  if (url && !url->empty())
    if (auto why = http_url_problem("url", *url)) return keep->bad({"url", *why});
  if (api_url && !api_url->empty())
    if (auto why = http_url_problem("api_url", *api_url)) return keep->bad({"api_url", *why});
  s.host = *host;
  s.url = url.value_or("");
  s.api_url = api_url.value_or("");
  s.api_user = api_user.value_or("");
  s.api_password = api_password.value_or("");
  s.api_tls_verify = tls_verify.value_or(true);
  // The URL sync and kill will call must parse now, not fail at the first
  // sync (scheme, host, port).
  if (!s.api_url.empty() || !s.url.empty()) {
    try {
      flussonic_endpoint_of(s);
    } catch (const actors::flussonic_error& e) {
      return keep->bad({s.api_url.empty() ? "url" : "api_url", e.what()});
    }
  }
  if (mode) {
    auto m = parse_link_mode(*mode);
    if (!m) return keep->bad({"link_mode", "link_mode must be auth_backend or securetoken"});
    s.mode = *m;
  }
  s.securetoken_secret = secret.value_or("");
  if (s.mode == link_mode::securetoken && s.securetoken_secret.empty())
    return keep->bad({"securetoken_secret", "securetoken mode needs securetoken_secret"});
  s.link_template = tmpl.value_or("");
  if (!s.link_template.empty() && s.link_template.find("{token}") == std::string::npos)
    return keep->bad({"link_template", "link_template must contain {token}"});
  s.capacity = capacity.value_or(0);
  s.enabled = enabled.value_or(true);
  if (auto e = read_streamer_access(*body, s)) return keep->bad(*e);
  deps_.streamers.put(s, [keep, s](actors::admin_status st, std::string msg) {
    if (st == actors::admin_status::ok) return keep->json_ok(http::status::ok, streamer_json(s));
    if (st == actors::admin_status::conflict)
      return keep->fail(http::status::conflict, "conflict", msg, "host");
    keep->unavailable("could not save the streamer: " + msg);
  });
}

}  // namespace maxsess::net

namespace maxsess::net {

namespace {
std::string auth_deny_json(std::string_view why) {
  json_writer w(48 + why.size());
  w.begin_object().key("reason").string(why).key("result").string("deny").end_object();
  return w.take();
}
}  // namespace

bool http_api::streamer_call_allowed(call& c, bool auth, const std::optional<std::string>& host,
                                     const std::optional<std::string>& secret) {
  if (!deps_.access) return true;
  streamer_call call{c.remote, std::nullopt, std::nullopt};
  if (host) call.host = *host;
  if (secret) call.secret = *secret;
  const auto verdict = deps_.access->check(call);
  if (verdict.ok()) return true;
  const std::string reason = to_string(verdict.refusal);
  const char* endpoint = auth ? "auth" : "webhook";
  deps_.metrics.inc("maxsess_streamer_calls_refused_total", {{"endpoint", endpoint}, {"reason", reason}});
  // A flood of refused calls (a scanner, a misconfigured streamer) logs one
  // line per interval with a count, and never the path (it may hold a secret).
  uint64_t suppressed = 0;
  if (refused_log_.should_log(std::chrono::steady_clock::now(), suppressed))
    deps_.log.warn("access", "refused a streamer-side call",
                   {{"endpoint", endpoint},
                    {"reason", reason},
                    {"remote", c.remote},
                    {"host", host.value_or("")},
                    {"refused_unlogged_since_last", suppressed}});
  if (auth) {
    deps_.metrics.inc("maxsess_auth_decisions_total", {{"result", reason}});
    c.send(make_json_response(http::status::forbidden, auth_deny_json(reason)));
    return false;
  }
  // The webhook's unknown host stays 404 (PRODUCT.md §3); other refusals
  // are 403, and Flussonic keeps the events until the operator fixes it.
  if (verdict.refusal == access_refusal::unknown_streamer)
    c.fail(http::status::not_found, "not_found", "no streamer is registered with host " + *host, "host");
  else
    c.fail(http::status::forbidden, "forbidden",
           "this call is not accepted as streamer " + *host + " (" + reason +
               "; see allowed_sources and access_secrets of the streamer, docs/security.md)");
  return false;
}

void http_api::flussonic_auth(call& c) {
  auto get = [&](const char* k) {
    auto i = c.query.find(k);
    return i == c.query.end() ? std::string{} : i->second;
  };
  auto deny = [this, &c](const std::string& why) {
    deps_.metrics.inc("maxsess_auth_decisions_total", {{"result", why}});
    c.send(make_json_response(http::status::forbidden, auth_deny_json(why)));
  };
  auto token = get("token");
  auto name = get("name");
  bool fresh = get("request_type") != "update_session";
  if (token.empty()) return deny("no_token");
  auto now = deps_.clock.now();
  // The expiry (link_ttl) counts on new_session only: a long film is never
  // cut off because its link is old (PRODUCT.md §3).
  auto v = deps_.signer.verify(token, now, fresh);
  if (auto* e = std::get_if<token_error>(&v)) return deny(std::string("token_") + to_string(*e));
  auto& claims = std::get<token_claims>(v);
  // Flussonic always sends `name`; a call without it would skip the stream
  // binding, so it is refused like any other stream (docs/flussonic.md).
  if (name.empty()) return deny("no_name");
  if (name != claims.stream) return deny("other_stream");
  auto number = [&](const char* k) -> int64_t {
    auto t = get(k);
    if (t.empty() || t.size() > 18 || t.find_first_not_of("0123456789") != std::string::npos) return -1;
    return std::stoll(t);
  };
  actors::auth_request req;
  req.account_id = claims.account_id;
  req.device_id = claims.device_id;
  req.stream = claims.stream;
  req.session_id = get("session_id");
  if (req.session_id.empty()) req.session_id = "ip:" + get("ip");  // tolerate servers that omit it
  req.ip = get("ip");
  // Both are stored: a control character ("%00") would fail the account's
  // write, and the check would then be allowed as "account did not answer".
  if (has_control_char(req.session_id) || has_control_char(req.ip)) return deny("malformed");
  req.new_session = fresh;
  req.duration = number("duration");
  req.bytes = number("bytes");
  req.token_issued_at = issued_at(claims, opts_.link_ttl);
  auto keep = c.shared_from_this();
  auto account = claims.account_id;
  deps_.accounts.authorize(std::move(req), [this, keep, account](actors::auth_outcome o) {
    auto result = to_string(o.result);
    if (o.result != actors::auth_result::allow && o.result != actors::auth_result::unavailable) {
      deps_.metrics.inc("maxsess_auth_decisions_total", {{"result", result}});
      return keep->send(make_json_response(http::status::forbidden, auth_deny_json(result)));
    }
    // Degraded (no answer in time): a valid token plays rather than 5xx
    // (FLUSSONIC.md §1); sync, webhooks and the next check catch up.
    if (o.result == actors::auth_result::unavailable)
      deps_.log.warn_repeated("auth", "account did not answer; allowing a valid token", {{"account", account}});
    // Shadow mode: allowed, counted as what enforce would have answered.
    if (o.result == actors::auth_result::allow && !o.would_deny)
      request_metrics_->auth_allowed();  // the bulk of auth traffic
    else
      deps_.metrics.inc("maxsess_auth_decisions_total", {{"result", o.would_deny ? "would_deny" : result}});
    auto r = make_json_response(http::status::ok, R"({"result":"allow"})");
    r.set("X-UserId", account);
    r.set("X-AuthDuration",
          std::to_string(std::chrono::duration_cast<std::chrono::seconds>(opts_.auth_duration).count()));
    keep->send(std::move(r));
  });
}

void http_api::webhook(call& c, const std::string& host) {
  auto keep = c.shared_from_this();
  deps_.streamer_side.post_events(host, std::move(c.req.body()), [keep, host](actors::webhook_result r) {
    using st = actors::webhook_result::status;
    if (r.result == st::unknown_host)
      return keep->fail(http::status::not_found, "not_found", "no streamer is registered with host " + host, "host");
    if (r.result == st::not_json)
      return keep->fail(http::status::bad_request, "bad_request", "the body is not JSON", "body");
    if (r.result == st::unavailable)
      return keep->unavailable("not every event could be recorded; send the batch again");
    json_writer w(96);
    w.begin_object();
    w.key("accepted").number(r.events);
    w.key("duplicates").number(r.duplicates);
    w.key("ignored").number(r.ignored);
    w.key("malformed").number(r.malformed);
    w.key("untracked").number(r.untracked);
    w.end_object();
    keep->json_text(http::status::ok, w.take());
  });
}

void http_api::job(call& c, const std::string& kind) {
  actors::job_request req;
  if (kind == "sync") req.what = actors::job_request::kind::sync;
  else if (kind == "kill") req.what = actors::job_request::kind::kill;
  else if (kind == "clear") req.what = actors::job_request::kind::clear;
  else return c.fail(http::status::not_found, "not_found", "jobs are sync, kill and clear");
  if (!c.req.body().empty()) {
    auto body = c.body_object();
    if (!body) return;
    reader r{*body, "", std::nullopt};
    auto batch = r.integer("batch_size", false, 1);
    auto timeout = r.integer("timeout", false, 0);
    auto ids = r.field("streamer_ids", false);
    if (r.error) return c.bad(*r.error);
    if (batch && *batch > 10000) return c.bad({"batch_size", "batch_size must be 1..10000"});
    if (timeout && *timeout > 10LL * 365 * 24 * 3600)
      return c.bad({"timeout", "timeout must be seconds, at most 10 years"});
    req.batch_size = static_cast<int>(batch.value_or(0));
    if (timeout) req.timeout = std::chrono::seconds(*timeout);
    if (ids) {
      if (!ids->is_array()) return c.bad({"streamer_ids", "streamer_ids must be an array of positive integers"});
      simdjson::dom::array list = ids->get_array().value_unsafe();
      for (auto id : list) {
        auto v = as_int64(id);
        if (!v || *v <= 0) return c.bad({"streamer_ids", "streamer_ids must be an array of positive integers"});
        req.streamer_ids.push_back(*v);
      }
    }
  }
  auto keep = c.shared_from_this();
  deps_.streamer_side.run_job(std::move(req), [keep](actors::job_report rep) {
    json streamers = json::array();
    for (auto& s : rep.streamers) {
      json j = {{"streamer_id", s.streamer_id}, {"ok", s.ok}};
      if (!s.ok) j["error"] = s.error;
      if (rep.what == actors::job_request::kind::sync) {
        j["listed"] = s.listed;
        j["untracked"] = s.untracked;
        j["adopted"] = s.adopted;
        j["ended"] = s.ended;
        j["killed"] = s.killed;
      } else {
        j["closed"] = s.closed;
      }
      streamers.push_back(std::move(j));
    }
    json out = {{"job", actors::to_string(rep.what)}, {"ok", rep.ok}};
    if (!rep.error.empty()) out["error"] = rep.error;
    if (rep.what == actors::job_request::kind::clear) {
      out["cleared"] = rep.cleared;
      out["cleared_events"] = rep.cleared_events;
    } else
      out["streamers"] = std::move(streamers);
    keep->json_ok(http::status::ok, out);
  });
}

namespace {

// The audit API's page size (docs/http_api.md "Audit events").
constexpr int64_t events_default_limit = 100;
constexpr int64_t events_max_limit = 1000;

// A query parameter holding a non-negative decimal integer of at most 18
// digits (no sign, no spaces): nullopt otherwise.
std::optional<int64_t> query_count(const std::string& v) {
  if (v.empty() || v.size() > 18 || v.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  return std::stoll(v);
}

json event_json(const audit_event& e) {
  json holders = json::array();
  for (auto& h : e.holders)
    holders.push_back({{"device_id", h.device_id},
                       {"status", to_string(h.status)},
                       {"stream", h.stream},
                       {"streamer_id", h.streamer_id},
                       {"client_ip", h.client_ip},
                       {"started_at", to_rfc3339(h.started_at)}});
  return json{{"id", e.id},
              {"at", to_rfc3339(e.at)},
              {"account_id", e.account_id},
              {"device_id", e.device_id},
              {"kind", to_string(e.kind)},
              {"reason", e.reason},
              {"node", e.node},
              {"max_sessions", e.max_sessions},
              {"stream", e.stream},
              {"streamer_id", e.streamer_id},
              {"client_ip", e.client_ip},
              {"holders", std::move(holders)}};
}

}  // namespace

void http_api::events(call& c, const std::string& account) {
  if (!account.empty())
    if (auto e = check_id("account_id", account)) return c.bad(*e);
  storage::event_query q;
  q.account_id = account;
  q.limit = static_cast<int>(events_default_limit);
  if (auto it = c.query.find("since"); it != c.query.end()) {
    // RFC 3339, or Unix seconds (what `date +%s` gives a support script).
    if (auto secs = query_count(it->second); secs && *secs <= 253402300799)  // until 9999
      q.since = from_unix_ms(*secs * 1000);
    else
      q.since = parse_rfc3339(it->second);
    if (!q.since)
      return c.bad({"since", "since must be an RFC 3339 time (2026-11-25T10:24:37Z) or Unix seconds"});
  }
  if (auto it = c.query.find("limit"); it != c.query.end()) {
    auto n = query_count(it->second);
    if (!n || *n < 1 || *n > events_max_limit)
      return c.bad({"limit", "limit must be an integer from 1 to " + std::to_string(events_max_limit)});
    q.limit = static_cast<int>(*n);
  }
  if (auto it = c.query.find("after"); it != c.query.end()) {
    auto n = query_count(it->second);
    if (!n) return c.bad({"after", "after must be an event id (a non-negative integer)"});
    if (!q.since) return c.bad({"after", "after continues from since: give both (see next)"});
    q.after_id = *n;
  }
  if (!deps_.read_events) return c.unavailable("the audit trail is not available");
  auto keep = c.shared_from_this();
  std::string base = account.empty() ? "/api/v1/events" : "/api/v1/accounts/" + account + "/events";
  const int limit = q.limit;
  deps_.read_events(std::move(q), [keep, base = std::move(base), account,
                                   limit](std::optional<storage::event_page> page) {
    if (!page) return keep->unavailable("the database did not answer; retry");
    json list = json::array();
    for (auto& e : page->events) list.push_back(event_json(e));
    json out = {{"events", std::move(list)}, {"more", page->more}};
    if (!account.empty()) out["account_id"] = account;
    // The cursor after the last event shown: the next page now, or what
    // came since on a later poll. No events: the caller's own query is it.
    if (!page->events.empty()) {
      const auto& last = page->events.back();
      out["next"] = base + "?since=" + to_rfc3339(last.at) + "&after=" + std::to_string(last.id) +
                    "&limit=" + std::to_string(limit);
    } else {
      out["next"] = nullptr;
    }
    keep->json_ok(http::status::ok, out);
  });
}

void http_api::metrics(call& c) {
  auto keep = c.shared_from_this();
  // What /readyz would answer now, for alerts on a node that is scraped
  // (up == 1) but out of service.
  deps_.metrics.set("maxsess_ready", {}, ready_ && (!deps_.ready_check || deps_.ready_check()) ? 1 : 0);
  auto render = [this, keep](std::string extra) {
    auto r = make_json_response(http::status::ok, deps_.metrics.render(extra));
    r.set(http::field::content_type, "text/plain; version=0.0.4");
    keep->send(std::move(r));
  };
  if (deps_.scrape)
    deps_.scrape(render);
  else
    render({});
}

void http_api::cluster(call& c) {
  auto keep = c.shared_from_this();
  deps_.cluster_status([keep](std::string json_text) {
    if (json_text.empty())
      return keep->unavailable("the cluster status did not answer in time; retry");
    keep->send(make_json_response(http::status::ok, std::move(json_text)));
  });
}

// The page holds no data and needs no token: its script asks the admin API
// with the token the operator gives it. The headers keep it from being
// framed, sniffed or cached, and let only its own inline script run.
void http_api::status_page(call& c) {
  response r{http::status::ok, c.version};
  r.set(http::field::content_type, "text/html; charset=utf-8");
  r.set("Content-Security-Policy", status_page_csp_);
  r.set("X-Frame-Options", "DENY");
  r.set("X-Content-Type-Options", "nosniff");
  r.set("Referrer-Policy", "no-referrer");
  r.set(http::field::cache_control, "no-store");
  r.body() = deps_.status_page;
  r.prepare_payload();
  if (c.req.method() == http::verb::head) r.body().clear();  // Content-Length stays the page's
  c.send(std::move(r));
}

void http_api::status(call& c) {
  auto keep = c.shared_from_this();
  deps_.status([keep](std::string json_text) {
    if (json_text.empty()) return keep->unavailable("the status did not answer in time (database?); retry");
    keep->send(make_json_response(http::status::ok, std::move(json_text)));
  });
}

}  // namespace maxsess::net
