#pragma once
// The Flussonic Sessions HTTP API client (FLUSSONIC.md §3) behind
// actors::flussonic_api, on Boost.Beast. Every call opens its own
// connection (no pooling), sends "Connection: close", and is bounded by the
// timeout: connect, write and read each get `timeout` (Beast timeouts only
// apply to asynchronous operations, so the calls run async operations on a
// private io_context and block until they finish). Host names are resolved
// with the system resolver (its own timeouts); numeric addresses skip it.
//
// http only for now: an https:// URL throws flussonic_error.
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "actors/flussonic_api.hpp"
#include "domain/model.hpp"

namespace maxsess::net {

// Where a streamer's Sessions API lives.
struct flussonic_endpoint {
  std::string host;    // "s1.example.com", "127.0.0.1", "::1" (no brackets)
  std::string port;    // "80" ("443" for https) when the URL has none
  bool tls = false;    // https
  std::string prefix;  // "/streamer/api/v3" or "/some/path/flussonic/api/v3"
  std::string authority() const;  // Host header: "host[:port]", IPv6 bracketed
};

// From streamer.api_url if set, else streamer.url: trailing '/' stripped;
// `/streamer/api/v3` is appended unless the path already ends with
// `/streamer/api/v3` or `/flussonic/api/v3`. A URL without a scheme is taken
// as http; https is TLS with the certificate checked unless the streamer's
// api_tls_verify is false. Throws flussonic_error for other schemes, an
// empty URL, credentials in the URL or a bad host or port.
flussonic_endpoint flussonic_endpoint_of(const streamer& s);

// RFC 3986: unreserved characters stay, every other byte becomes %XX.
std::string percent_encode(std::string_view s);

// "Basic base64(user:pass)"; empty when both are empty.
std::string basic_authorization(const std::string& user, const std::string& password);

// Parses one GET /sessions answer, tolerantly: "sessions" missing/null →
// empty; "next" string, number (its decimal text) or null/missing/"" (last
// page). Per session: id (else "session_id"; entries with neither are
// skipped), name, token, ip, user_id (string or number), bytes (else
// "bytes_sent"), duration (seconds; else (updated_at - opened_at) when both
// are there; opened_at falls back to "created_at"), updated_at (numbers
// > 1e12 are ms, else seconds; RFC 3339 strings accepted). Missing/null
// fields keep their defaults. Throws flussonic_error on bad JSON or when the
// answer (or "sessions") has the wrong shape.
actors::session_page parse_session_page(const std::string& body);

class flussonic_client final : public actors::flussonic_api {
 public:
  explicit flussonic_client(std::chrono::milliseconds timeout = std::chrono::seconds(5));

  // GET {base}/sessions?limit=N[&cursor=C]
  actors::session_page list_sessions(const streamer& s, int limit,
                                     const std::string& cursor) override;
  // DELETE {base}/sessions/{id}: true on 200/204, and on 404 (already gone).
  bool close_session(const streamer& s, const std::string& id) override;

  std::chrono::milliseconds timeout() const { return timeout_; }

 private:
  struct answer {
    unsigned status = 0;
    std::string body;
  };
  enum class method { get, del };
  // One request to {prefix}{path}; throws flussonic_error on I/O failures
  // and timeouts (never on an HTTP status).
  answer call(const streamer& s, method m, const std::string& path);

  std::chrono::milliseconds timeout_;
};

}  // namespace maxsess::net
