#pragma once
// One HTTP/1.1 request on its own connection, from a thread that may block
// (a streamer's worker, the CLI). Connect, write and read are each bounded
// by `timeout`: Beast timeouts apply to asynchronous operations only, so the
// call runs them on a private io_context and waits. With `tls` the request
// goes over TLS (OpenSSL): SNI, and unless `tls_verify` is false the peer's
// certificate chain is checked against the system's trust store (or
// $SSL_CERT_FILE / $SSL_CERT_DIR) and its name against `host`.
#include <boost/beast/http/verb.hpp>

#include <chrono>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace maxsess::net {

struct http_answer {
  unsigned status = 0;
  std::string body;
};

struct http_call_error : std::runtime_error {
  http_call_error(std::string step, std::string what, bool timed_out)
      : std::runtime_error(step + " failed: " + what), step(std::move(step)), timed_out(timed_out) {}
  std::string step;  // "resolve", "connect", "tls handshake", "write", "read"
  bool timed_out;
};

struct http_call_options {
  std::string host;       // name or numeric address (IPv6 without brackets)
  std::string port;       // "80"
  std::string authority;  // Host header
  boost::beast::http::verb method = boost::beast::http::verb::get;
  std::string target;     // "/path?query"
  std::string body;       // sent with Content-Type: application/json when not empty
  std::vector<std::pair<std::string, std::string>> headers;
  std::chrono::milliseconds timeout{5000};
  std::size_t body_limit = 32 * 1024 * 1024;
  bool tls = false;
  bool tls_verify = true;  // only with tls: false accepts any certificate (documented as unsafe)
  // Plain HTTP only: keep the connection for the calling thread's next call
  // to the same server within a few seconds (a sync's pages, a kill run's
  // DELETEs), instead of a connection per call. A kept connection the
  // server closed meanwhile is replaced once, transparently.
  bool keep_alive = false;
};

// Throws http_call_error on I/O failures and timeouts, never on a status.
http_answer http_call(const http_call_options& o);

}  // namespace maxsess::net
