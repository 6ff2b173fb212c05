// Boost.Beast HTTP/1.1 server, in the shape of Boost 1.74's advanced_server /
// http_server_async examples (do_x/on_x pairs, a body limit on every parser,
// accept re-armed after an error), with two departures measured on the auth
// path (issue 7, docs/performance.md):
// - one io_context per I/O thread, each connection on one of them (round
//   robin at accept): a connection's handlers never run concurrently without
//   a strand, and the threads share no scheduler or reactor lock;
// - one lazy deadline per connection instead of Beast's timer armed and
//   cancelled around every read and write: each operation only moves a time
//   point, and the connection's watchdog timer, when it fires, closes the
//   connection if that point has passed or sleeps until it.
//
// Lifetimes. Everything that runs inside the io_context refers to the server
// core by plain pointer: the io_context is a member of the core, so none of
// its handlers can outlive it. A session is owned by the handlers waiting on
// it (shared_from_this); while a request waits for its answer, the
// handler-timeout timer's wait keeps the session alive (and the watchdog's
// wait until it is cancelled by the close). The reply_fn given to
// the handler holds only weak pointers (core and session): a handler that
// answers after the server is gone is ignored instead of touching a destroyed
// io_context, and a stored reply_fn never keeps a socket alive past it.
#include "net/http_server.hpp"

#include "net/body_room.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <algorithm>
#include <array>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <vector>

#include "domain/log.hpp"
#include "domain/json_writer.hpp"
#include "domain/thread_name.hpp"

namespace maxsess::net {

namespace {

namespace beast = boost::beast;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using error_code = beast::error_code;
// A connection's executor, named by its concrete type: asio's default
// sockets and timers carry a type-erased any_io_executor, whose copies and
// prefer() calls were ≈ 8 % of the daemon's CPU on the auth path (perf,
// issue 7). One thread runs each io_context, so this executor is also the
// connection's implicit strand.
using executor_t = asio::io_context::executor_type;
using socket_t = tcp::socket::rebind_executor<executor_t>::other;
using timer_t = asio::steady_timer::rebind_executor<executor_t>::other;
using steady = std::chrono::steady_clock;
// Above this, a connection's read buffer shrinks once a request's body is
// read (see read_body() and on_read()).
constexpr std::size_t idle_buffer_bytes = 4096;

constexpr const char* log_component = "http";
// After an error response (400/413) the rest of what the client sent is read
// and thrown away before closing, so that closing with unread input does not
// send a RST that could destroy the response in the client's buffers.
constexpr std::size_t linger_max_bytes = 1024 * 1024;
constexpr std::chrono::milliseconds linger_max_time{2000};
constexpr std::chrono::milliseconds accept_retry_delay{50};

response error_response(http::status status, const std::string& code, const std::string& message,
                        const char* field = nullptr) {
  json_writer w(64 + message.size());
  w.begin_object().key("error").begin_object();
  w.key("code").string(code);
  if (field) w.key("field").string(field);
  w.key("message").string(message);
  w.end_object().end_object();
  return make_json_response(status, w.take());
}

// Errors that are part of normal life: the peer went away, we closed the
// socket ourselves (a deadline passed: the watchdog closes it).
bool expected_error(const error_code& ec) {
  return ec == http::error::end_of_stream || ec == http::error::partial_message ||
         ec == asio::error::operation_aborted ||
         ec == asio::error::eof || ec == asio::error::connection_reset ||
         ec == asio::error::broken_pipe || ec == asio::error::bad_descriptor ||
         ec == asio::error::not_connected || ec == asio::error::connection_aborted;
}

class session;

// Shared by every session of one server. Member order matters: the
// io_context is destroyed before the state its handlers (and the sessions
// they own) may touch while being destroyed.
struct server_core {
  server_core(server_options o, handler_fn h) : opts(std::move(o)), handler(std::move(h)) {}

  void log(log_level level, std::string_view msg, const logger::fields& kv = {}) const {
    if (opts.log != nullptr && opts.log->enabled(level)) opts.log->log(level, log_component, msg, kv);
  }

  // Concurrency hint 1: each io_context is run by exactly one thread.
  static std::vector<std::unique_ptr<asio::io_context>> make_lanes(int threads) {
    std::vector<std::unique_ptr<asio::io_context>> out;
    for (int i = 0; i < std::max(1, threads); ++i) out.push_back(std::make_unique<asio::io_context>(1));
    return out;
  }

  void request_started() { in_flight.fetch_add(1); }
  void request_done() {
    if (in_flight.fetch_sub(1) == 1) {
      std::lock_guard<std::mutex> lk(drain_mutex);
      drain_cv.notify_all();
    }
  }

  void do_accept();
  void on_accept(error_code ec, socket_t socket);
  void register_session(const std::shared_ptr<session>& s);
  std::vector<std::shared_ptr<session>> live_sessions();

  server_options opts;
  handler_fn handler;
  std::weak_ptr<server_core> self;  // handed to reply_fns

  std::atomic<bool> stopping{false};
  std::atomic<uint64_t> in_flight{0};
  std::atomic<uint64_t> accepted{0};
  std::mutex drain_mutex;
  std::condition_variable drain_cv;

  std::mutex sessions_mutex;
  std::vector<std::weak_ptr<session>> sessions;
  std::size_t prune_at = 64;

  std::mutex life_mutex;  // start/stop
  bool started = false;
  bool stopped = false;
  std::atomic<uint16_t> port{0};

  // One per I/O thread; the acceptor runs on the first.
  std::vector<std::unique_ptr<asio::io_context>> iocs = make_lanes(opts.threads);
  std::vector<asio::executor_work_guard<executor_t>> work;
  std::size_t next_lane = 0;  // round robin of accepted connections (acceptor's thread only)
  tcp::acceptor acceptor{iocs.front()->get_executor()};
  asio::steady_timer accept_retry{acceptor.get_executor()};
  std::vector<std::thread> threads;
};

// One connection. Every member is touched only on the thread of its
// io_context (or, after the I/O threads were joined, by stop()).
class session : public std::enable_shared_from_this<session> {
 public:
  session(socket_t&& socket, server_core& server)
      : socket_(std::move(socket)),
        server_(server),
        timer_(socket_.get_executor()),
        watchdog_(socket_.get_executor()) {
    error_code ec;
    auto ep = socket_.remote_endpoint(ec);
    if (!ec) {
      auto addr = ep.address();
      if (addr.is_v6() && addr.to_v6().is_v4_mapped())
        addr = asio::ip::make_address_v4(asio::ip::v4_mapped, addr.to_v6());
      remote_ = addr.to_string();
    }
  }

  void run() {
    asio::dispatch(socket_.get_executor(),
                   beast::bind_front_handler(&session::do_read, shared_from_this()));
  }

  // From stop(): close the connection now unless a request is being handled
  // or its answer written.
  void stop_if_idle() {
    asio::post(socket_.get_executor(), [self = shared_from_this()] {
      if (self->state_ == state::reading || self->state_ == state::lingering) self->do_close();
    });
  }

  // From stop(), after the I/O threads were joined: nothing else runs.
  void force_close() { do_close(); }

 private:
  enum class state { reading, handling, writing, lingering, closed };

  struct reply_slot {
    std::atomic<bool> done{false};
  };

  void do_read() {
    if (state_ == state::closed) return;
    if (server_.stopping) return do_close();
    state_ = state::reading;
    parser_.emplace();
    parser_->body_limit(server_.opts.body_limit);
    io_deadline(server_.opts.read_timeout);
    http::async_read_header(socket_, buffer_, *parser_,
                            beast::bind_front_handler(&session::on_read_header, shared_from_this()));
  }

  // The header alone first, to answer "Expect: 100-continue" (curl sends it
  // for larger bodies and otherwise waits a second before sending them).
  void on_read_header(error_code ec, std::size_t n) {
    if (state_ == state::closed) return;
    if (ec || parser_->is_done()) return on_read(ec, n);
    if (parser_->get().version() >= 11 &&
        beast::iequals(parser_->get()[http::field::expect], "100-continue")) {
      continue_.emplace(http::status::continue_, 11);
      io_deadline(server_.opts.write_timeout);
      return http::async_write(socket_, *continue_,
                               beast::bind_front_handler(&session::on_continue_written,
                                                         shared_from_this()));
    }
    read_body();
  }

  // The body's first bytes come at Beast's own size (a client that
  // announces a body and sends nothing pins no room for it), then the rest
  // gets room (body_room.hpp) and arrives in a few reads.
  void read_body() {
    if (buffer_.size() > 0) return read_body_rest();
    http::async_read_some(socket_, buffer_, *parser_,
                          beast::bind_front_handler(&session::on_body_started, shared_from_this()));
  }

  void on_body_started(error_code ec, std::size_t n) {
    if (state_ == state::closed) return;
    if (ec || parser_->is_done()) return on_read(ec, n);
    read_body_rest();
  }

  void read_body_rest() {
    make_room_for_body(buffer_, *parser_, 0);  // chunked bodies announce nothing: Beast's own sizes
    http::async_read(socket_, buffer_, *parser_,
                     beast::bind_front_handler(&session::on_read, shared_from_this()));
  }

  void on_continue_written(error_code ec, std::size_t) {
    continue_.reset();
    if (state_ == state::closed) return;
    if (ec) {
      if (!expected_error(ec))
        server_.log(log_level::warn, "write failed", {{"remote", remote_}, {"error", ec.message()}});
      return do_close();
    }
    io_deadline(server_.opts.read_timeout);
    read_body();
  }

  void on_read(error_code ec, std::size_t) {
    if (state_ == state::closed) return;
    if (ec == http::error::end_of_stream) return do_close();  // the client closed
    if (ec == http::error::body_limit) {
      return write_error(error_response(
          http::status::payload_too_large, "payload_too_large",
          "request body exceeds " + std::to_string(server_.opts.body_limit) + " bytes"));
    }
    if (ec && ec != http::error::partial_message &&
        ec.category() == http::make_error_code(http::error::bad_target).category()) {
      server_.log(log_level::debug, "malformed request",
                  {{"remote", remote_}, {"error", ec.message()}});
      return write_error(
          error_response(http::status::bad_request, "bad_request", "malformed HTTP request"));
    }
    if (ec) {
      if (!expected_error(ec))
        server_.log(log_level::warn, "read failed", {{"remote", remote_}, {"error", ec.message()}});
      return do_close();
    }
    // RFC 9112 §3.2: 400 for an HTTP/1.1 request without Host, and for any
    // request with more than one (HTTP/1.0 never required it).
    const auto& head = parser_->get();
    const auto hosts = head.count(http::field::host);
    if (hosts > 1 || (hosts == 0 && head.version() >= 11)) {
      return write_error(error_response(http::status::bad_request, "bad_request",
                                        hosts > 1 ? "more than one Host header"
                                                  : "an HTTP/1.1 request needs a Host header",
                                        "Host"));
    }
    // The body is in the request now: a connection keeps no body-sized
    // buffer while the request is handled and between requests (many idle
    // keep-alive connections must stay small). What was read ahead of the
    // next request stays; a large read-ahead is left as it is rather than
    // copied again for each small request it holds.
    if (buffer_.capacity() > idle_buffer_bytes && buffer_.size() <= idle_buffer_bytes)
      buffer_.shrink_to_fit();
    start_request(parser_->release());
  }

  void start_request(request req) {
    keep_alive_ = req.keep_alive();
    version_ = req.version();
    head_ = req.method() == http::verb::head;
    state_ = state::handling;
    no_io_deadline();  // the handler's own deadline (timer_) covers this state
    counted_ = true;
    server_.request_started();

    auto slot = std::make_shared<reply_slot>();
    const auto deadline = server_.opts.handler_timeout_for ? server_.opts.handler_timeout_for(req)
                                                           : server_.opts.handler_timeout;

    // dispatch, not post: a handler that answers at once (on this thread,
    // inside the call below) has its answer written right away, instead of
    // queued behind a wake-up of another I/O thread. An answer from another
    // thread (an actor) is still posted to the connection's io_context.
    reply_fn reply = [core = server_.self, weak = weak_from_this(), slot](response res) {
      if (slot->done.exchange(true)) return;  // second call, or the 503 went first
      auto server = core.lock();               // keeps the io_context alive while posting
      if (!server) return;
      auto self = weak.lock();
      if (!self) return;
      asio::dispatch(self->socket_.get_executor(), [self, res = std::move(res)]() mutable {
        self->on_reply(std::move(res));
      });
    };

    try {
      server_.handler(std::move(req), remote_, reply);
    } catch (const std::exception& e) {
      server_.log(log_level::error, "handler threw", {{"remote", remote_}, {"error", e.what()}});
      reply(error_response(http::status::internal_server_error, "internal", "internal error"));
    } catch (...) {
      server_.log(log_level::error, "handler threw", {{"remote", remote_}});
      reply(error_response(http::status::internal_server_error, "internal", "internal error"));
    }
    // The handler deadline only for a request still waiting for its answer
    // (no timer armed and cancelled for the ones answered above). An answer
    // given meanwhile from another thread is on its way to this thread.
    if (slot->done.load()) return;
    timer_.expires_after(deadline);
    timer_.async_wait([self = shared_from_this(), slot](error_code ec) {
      self->on_handler_timeout(ec, slot);
    });
  }

  void on_handler_timeout(error_code ec, const std::shared_ptr<reply_slot>& slot) {
    if (ec == asio::error::operation_aborted) return;  // answered, or closing
    if (state_ != state::handling) return;
    if (slot->done.exchange(true)) return;  // the reply is already queued for this thread
    server_.log(log_level::warn, "handler did not answer in time", {{"remote", remote_}});
    // Nothing came from inside the daemon in time (a database that hangs,
    // say): like every 503 of the API, it tells the client when to retry.
    auto res = error_response(http::status::service_unavailable, "unavailable", "no answer in time");
    res.set(http::field::retry_after, "1");
    write_response(std::move(res));
  }

  void on_reply(response res) {
    if (state_ != state::handling) return;
    timer_.cancel();
    write_response(std::move(res));
  }

  // An answer to a request that was read (normal, 500, 503).
  void write_response(response res) {
    const bool handler_close =
        http::token_list{res[http::field::connection]}.exists("close");
    res.version(version_);
    res.keep_alive(keep_alive_ && !handler_close && !server_.stopping);
    const auto code = res.result_int();
    if ((code >= 100 && code < 200) || code == 204 || code == 304) res.body().clear();
    res.prepare_payload();
    if (head_) res.body().clear();  // keeps the Content-Length of the GET answer
    const auto next = res.keep_alive() ? after_write::read : after_write::close;
    start_write(std::move(res), next);
  }

  // An answer to something that did not parse (400, 413): then close.
  void write_error(response res) {
    keep_alive_ = false;
    res.version(11);
    res.keep_alive(false);
    res.prepare_payload();
    start_write(std::move(res), after_write::linger);
  }

  enum class after_write { read, close, linger };

  void start_write(response res, after_write next) {
    state_ = state::writing;
    res_.emplace(std::move(res));
    io_deadline(server_.opts.write_timeout);
    http::async_write(socket_, *res_,
                      beast::bind_front_handler(&session::on_write, shared_from_this(), next));
  }

  void on_write(after_write next, error_code ec, std::size_t) {
    res_.reset();
    if (counted_) {
      counted_ = false;
      server_.request_done();
    }
    if (state_ == state::closed) return;
    if (ec) {
      if (!expected_error(ec))
        server_.log(log_level::warn, "write failed", {{"remote", remote_}, {"error", ec.message()}});
      return do_close();
    }
    switch (next) {
      case after_write::read: return do_read();  // do_read closes when stopping
      case after_write::close: return do_close();
      case after_write::linger: return do_linger();
    }
  }

  void do_linger() {
    state_ = state::lingering;
    error_code ec;
    socket_.shutdown(tcp::socket::shutdown_send, ec);
    if (ec || server_.stopping) return do_close();
    io_deadline(std::min<std::chrono::milliseconds>(server_.opts.read_timeout, linger_max_time));
    do_discard();
  }

  void do_discard() {
    if (!discard_) discard_ = std::make_unique<std::array<char, 4096>>();
    socket_.async_read_some(asio::buffer(*discard_),
                            [self = shared_from_this()](error_code ec, std::size_t n) {
                              if (self->state_ != state::lingering) return;
                              self->discarded_ += n;
                              if (ec || self->discarded_ > linger_max_bytes) return self->do_close();
                              self->do_discard();
                            });
  }

  void do_close() {
    if (state_ == state::closed) return;
    state_ = state::closed;
    timer_.cancel();
    watchdog_.cancel();
    error_code ec;
    socket_.shutdown(tcp::socket::shutdown_both, ec);
    socket_.close(ec);  // pending operations complete with operation_aborted
  }

  // The read or write about to start must end within `limit`. Only a time
  // point moves; the watchdog is armed when none waits or when it would
  // fire too late (a write deadline shorter than the read deadline before
  // it): once per deadline period on a busy connection, not twice per
  // request.
  void io_deadline(std::chrono::milliseconds limit) {
    io_deadline_ = steady::now() + limit;
    if (!watchdog_armed_ || io_deadline_ < watchdog_at_) arm_watchdog();
  }
  void no_io_deadline() { io_deadline_ = steady::time_point::max(); }

  // expires_at() cancels a wait still pending; that handler sees
  // operation_aborted and leaves the state to the new wait.
  void arm_watchdog() {
    watchdog_armed_ = true;
    watchdog_at_ = io_deadline_;
    watchdog_.expires_at(watchdog_at_);
    watchdog_.async_wait([self = shared_from_this()](error_code ec) { self->on_watchdog(ec); });
  }

  void on_watchdog(error_code ec) {
    if (ec == asio::error::operation_aborted || state_ == state::closed) return;
    watchdog_armed_ = false;
    if (io_deadline_ == steady::time_point::max()) return;  // no I/O waits; the next one re-arms
    if (steady::now() < io_deadline_) return arm_watchdog();  // moved on since: sleep until then
    // The read or write did not finish in time (a stalled client, an idle
    // keep-alive connection): close, its operation completes as aborted.
    do_close();
  }

  socket_t socket_;
  server_core& server_;
  timer_t timer_;     // handler_timeout of the request in flight
  timer_t watchdog_;  // the read/write deadline, see io_deadline()
  steady::time_point io_deadline_ = steady::time_point::max();
  steady::time_point watchdog_at_{};  // when the armed watchdog fires
  bool watchdog_armed_ = false;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<response> res_;
  std::unique_ptr<std::array<char, 4096>> discard_;
  std::size_t discarded_ = 0;
  std::string remote_;
  state state_ = state::reading;
  bool keep_alive_ = false;
  unsigned version_ = 11;
  bool head_ = false;
  std::optional<http::response<http::empty_body>> continue_;
  bool counted_ = false;  // a request counted in in_flight awaits its answer being written
};

void server_core::do_accept() {
  auto& lane = *iocs[next_lane++ % iocs.size()];
  acceptor.async_accept(lane, [this](error_code ec, socket_t socket) { on_accept(ec, std::move(socket)); });
}

void server_core::on_accept(error_code ec, socket_t socket) {
  if (stopping || !acceptor.is_open()) return;
  if (ec) {
    // Re-arm even after an error (EMFILE, ECONNABORTED...), a little later so
    // that a persistent error does not spin.
    log(log_level::warn, "accept failed", {{"error", ec.message()}});
    accept_retry.expires_after(accept_retry_delay);
    accept_retry.async_wait([this](error_code e) {
      if (!e && !stopping) do_accept();
    });
    return;
  }
  accepted.fetch_add(1);
  auto s = std::make_shared<session>(std::move(socket), *this);
  register_session(s);
  s->run();
  do_accept();
}

void server_core::register_session(const std::shared_ptr<session>& s) {
  std::lock_guard<std::mutex> lk(sessions_mutex);
  if (sessions.size() >= prune_at) {
    sessions.erase(std::remove_if(sessions.begin(), sessions.end(),
                                  [](const std::weak_ptr<session>& w) { return w.expired(); }),
                   sessions.end());
    prune_at = std::max<std::size_t>(64, sessions.size() * 2);
  }
  sessions.push_back(s);
}

std::vector<std::shared_ptr<session>> server_core::live_sessions() {
  std::lock_guard<std::mutex> lk(sessions_mutex);
  std::vector<std::shared_ptr<session>> out;
  out.reserve(sessions.size());
  for (auto& w : sessions)
    if (auto s = w.lock()) out.push_back(std::move(s));
  return out;
}

}  // namespace

struct http_server::impl : server_core {
  using server_core::server_core;
};

http_server::http_server(server_options opts, handler_fn handler)
    : impl_(std::make_shared<impl>(std::move(opts), std::move(handler))) {
  impl_->self = impl_;
}

http_server::~http_server() { stop(); }

void http_server::start() {
  auto& s = *impl_;
  std::lock_guard<std::mutex> lk(s.life_mutex);
  if (s.started || s.stopped) throw std::runtime_error("http server: start() called twice");

  const std::string where = s.opts.host + ":" + std::to_string(s.opts.port);
  error_code ec;
  tcp::endpoint endpoint;
  auto addr = asio::ip::make_address(s.opts.host, ec);
  if (!ec) {
    endpoint = tcp::endpoint(addr, s.opts.port);
  } else {
    tcp::resolver resolver(*s.iocs.front());
    auto results = resolver.resolve(s.opts.host, std::to_string(s.opts.port), ec);
    if (ec || results.empty())
      throw std::runtime_error("http server: bad listen address '" + s.opts.host +
                               "': " + (ec ? ec.message() : std::string("no address")));
    endpoint = *results.begin();
  }

  auto fail = [&](const char* what) {
    error_code ignored;
    s.acceptor.close(ignored);
    throw std::runtime_error("http server: cannot " + std::string(what) + " " + where + ": " +
                             ec.message());
  };
  s.acceptor.open(endpoint.protocol(), ec);
  if (ec) fail("open a socket for");
  s.acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (ec) fail("set SO_REUSEADDR on");
  s.acceptor.bind(endpoint, ec);
  if (ec) fail("bind");
  s.acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) fail("listen on");
  s.port = s.acceptor.local_endpoint(ec).port();

  s.started = true;
  for (auto& ioc : s.iocs) s.work.push_back(asio::make_work_guard(*ioc));
  asio::post(s.acceptor.get_executor(), [core = &s] { core->do_accept(); });
  s.threads.reserve(s.iocs.size());
  for (auto& ioc : s.iocs) {
    s.threads.emplace_back([core = &s, ioc = ioc.get(), i = s.threads.size()] {
      name_this_thread("http-io-" + std::to_string(i));
      for (;;) {
        try {
          ioc->run();
          return;
        } catch (const std::exception& e) {
          core->log(log_level::error, "exception on an I/O thread", {{"error", e.what()}});
        }
      }
    });
  }
}

uint16_t http_server::bound_port() const { return impl_->port; }

void http_server::stop(std::chrono::milliseconds drain) {
  auto& s = *impl_;
  std::lock_guard<std::mutex> lk(s.life_mutex);
  if (s.stopped) return;
  for (auto& t : s.threads) {
    if (t.get_id() == std::this_thread::get_id())
      throw std::logic_error("http_server::stop() called from one of its I/O threads");
  }
  s.stopped = true;
  s.stopping = true;
  if (!s.started) return;

  // Stop accepting; close idle connections. Sessions that start a read from
  // now on see `stopping` and close instead.
  asio::post(s.acceptor.get_executor(), [core = &s] {
    error_code ec;
    core->acceptor.close(ec);
    core->accept_retry.cancel();
  });
  for (auto& session : s.live_sessions()) session->stop_if_idle();

  // Let in-flight requests be answered and written.
  {
    std::unique_lock<std::mutex> dl(s.drain_mutex);
    s.drain_cv.wait_for(dl, drain, [&] { return s.in_flight.load() == 0; });
  }
  if (s.in_flight.load() != 0) {
    s.log(log_level::warn, "stopping with requests still unanswered",
          {{"requests", s.in_flight.load()}});
  }

  s.work.clear();
  for (auto& ioc : s.iocs) ioc->stop();
  for (auto& t : s.threads) t.join();
  s.threads.clear();

  // Nothing runs on the io_context any more: close what is left right here
  // (the posted acceptor close may not have run before ioc.stop()). Pending
  // handlers, and the sessions they own, go with the io_context.
  error_code ec;
  s.acceptor.close(ec);
  for (auto& session : s.live_sessions()) session->force_close();
}

uint64_t http_server::requests_in_flight() const { return impl_->in_flight.load(); }

uint64_t http_server::connections_accepted() const { return impl_->accepted.load(); }

response make_json_response(http::status status, std::string body, unsigned version,
                            bool keep_alive) {
  response res{status, version};
  res.set(http::field::content_type, "application/json");
  res.keep_alive(keep_alive);
  res.body() = std::move(body);
  res.prepare_payload();
  return res;
}

}  // namespace maxsess::net
