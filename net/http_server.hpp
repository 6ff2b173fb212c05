#pragma once
// Boost.Beast HTTP/1.1 server. The session only does I/O; what to answer is
// decided by a handler (a function of the request) that answers through a
// callback, possibly later and from another thread (an actor's reply). The
// I/O threads never block: the callback posts the response back to the
// connection's I/O thread.
//
// Keep-alive, a read deadline before every read, a write deadline, a body
// limit on every parser (413 with a JSON error when exceeded), 400 on a
// request that does not parse. Graceful stop: stop accepting, let in-flight
// requests be answered (up to a deadline), then close.
#include <boost/beast/http.hpp>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace maxsess {
class logger;
}

namespace maxsess::net {

namespace http = boost::beast::http;
using request = http::request<http::string_body>;
using response = http::response<http::string_body>;

// Called exactly once per request, from any thread. A second call is ignored;
// a call after handler_timeout (503 already sent) or after the server is gone
// is dropped. The server sets version and keep-alive from the request and
// calls prepare_payload(); a handler may force a close with "Connection: close".
using reply_fn = std::function<void(response)>;
// The request is handed over by value; the handler answers through reply.
// `remote` is the peer address ("127.0.0.1").
using handler_fn = std::function<void(request req, std::string remote, reply_fn reply)>;

struct server_options {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;  // 0 = any free port (see bound_port())
  int threads = 2;
  std::size_t body_limit = 64 * 1024;
  std::chrono::milliseconds read_timeout{30000};   // idle keep-alive / slow client
  std::chrono::milliseconds write_timeout{30000};
  std::chrono::milliseconds handler_timeout{10000};  // no reply by then -> 503
  // Optional: the deadline of one request instead (e.g. short for account
  // requests, long for jobs).
  std::function<std::chrono::milliseconds(const request&)> handler_timeout_for;
  // Optional: unexpected I/O errors (not the expected close/timeout ones) are
  // logged here at debug/warn; must outlive the server.
  maxsess::logger* log = nullptr;
};

class http_server {
 public:
  http_server(server_options opts, handler_fn handler);
  ~http_server();  // stop(), join

  // Binds and listens; throws std::runtime_error with a clear message on
  // failure (address in use, bad address).
  void start();
  uint16_t bound_port() const;

  // Stops accepting; waits up to `drain` for in-flight requests to be
  // answered and written; closes idle connections; joins the I/O threads.
  void stop(std::chrono::milliseconds drain = std::chrono::milliseconds(5000));

  uint64_t requests_in_flight() const;
  // Connections accepted since start() (tests use it to see keep-alive).
  uint64_t connections_accepted() const;

 private:
  struct impl;
  std::shared_ptr<impl> impl_;
};

// Helpers for handlers.
response make_json_response(http::status status, std::string body, unsigned version = 11,
                            bool keep_alive = true);

}  // namespace maxsess::net
