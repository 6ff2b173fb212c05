// Synchronous test client over Beast. Every operation is started
// asynchronously on a private io_context and run to completion, so that
// beast::tcp_stream's deadlines (10 s) apply; the caller just blocks.
#include "tests/support/http_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <chrono>
#include <limits>
#include <stdexcept>

namespace maxsess::test {

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using error_code = beast::error_code;

constexpr std::chrono::seconds op_timeout{10};

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Starts one asynchronous operation through `start(handler)` and runs the
// io_context until it completes; returns its error code.
template <class Start>
error_code run_op(asio::io_context& ioc, Start&& start) {
  error_code result = asio::error::would_block;
  start([&result](error_code ec, auto&&...) { result = ec; });
  ioc.restart();
  ioc.run();
  return result;
}

tcp::resolver::results_type resolve(asio::io_context& ioc, const std::string& host,
                                    uint16_t port) {
  tcp::resolver resolver(ioc);
  error_code ec;
  auto results = resolver.resolve(host, std::to_string(port), ec);
  if (ec) throw std::runtime_error("http_client: cannot resolve " + host + ": " + ec.message());
  return results;
}

void connect(asio::io_context& ioc, beast::tcp_stream& stream, const std::string& host,
             uint16_t port, std::chrono::milliseconds timeout) {
  auto results = resolve(ioc, host, port);
  stream.expires_after(timeout);
  auto ec = run_op(ioc, [&](auto handler) { stream.async_connect(results, handler); });
  if (ec) {
    throw std::runtime_error("http_client: cannot connect to " + host + ":" +
                             std::to_string(port) + ": " + ec.message());
  }
}

http_reply to_reply(http::response<http::string_body> res) {
  http_reply out;
  out.status = static_cast<int>(res.result_int());
  out.keep_alive = res.keep_alive();
  for (const auto& field : res) {
    auto name = lower(std::string(field.name_string()));
    auto value = std::string(field.value());
    auto [it, inserted] = out.headers.emplace(name, value);
    if (!inserted) it->second += ", " + value;
  }
  out.body = std::move(res.body());
  return out;
}

}  // namespace

struct http_client::impl {
  impl(std::string h, uint16_t p) : host(std::move(h)), port(p) {}

  void close() {
    error_code ec;
    stream.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream.close();
    buffer.consume(buffer.size());
    connected = false;
  }

  std::string host;
  uint16_t port;
  asio::io_context ioc;
  beast::tcp_stream stream{ioc};
  beast::flat_buffer buffer;
  bool connected = false;
};

http_client::http_client(std::string host, uint16_t port)
    : impl_(std::make_unique<impl>(std::move(host), port)) {}

http_client::~http_client() {
  if (impl_->connected) impl_->close();
}

http_reply http_client::request(const std::string& method, const std::string& target,
                                const std::string& body,
                                const std::map<std::string, std::string>& headers) {
  auto& c = *impl_;
  http::request<http::string_body> req;
  const auto verb = http::string_to_verb(method);
  if (verb == http::verb::unknown)
    req.method_string(method);
  else
    req.method(verb);
  req.target(target);
  req.version(11);
  req.set(http::field::host, c.host + ":" + std::to_string(c.port));
  req.set(http::field::user_agent, "maxsess-test");
  for (const auto& [name, value] : headers) req.set(name, value);
  req.body() = body;
  if (!body.empty() || verb == http::verb::post || verb == http::verb::put ||
      verb == http::verb::patch)
    req.prepare_payload();

  for (int attempt = 0;; ++attempt) {
    const bool fresh = !c.connected;
    if (!c.connected) {
      connect(c.ioc, c.stream, c.host, c.port, op_timeout);
      c.connected = true;
    }

    c.stream.expires_after(op_timeout);
    const auto write_ec =
        run_op(c.ioc, [&](auto handler) { http::async_write(c.stream, req, handler); });

    // Read even when the write failed: a server may answer early and close
    // (413 on a body over its limit) while the body is still being sent.
    http::response_parser<http::string_body> parser;
    parser.body_limit(std::numeric_limits<std::uint64_t>::max());
    if (verb == http::verb::head) parser.skip(true);
    c.stream.expires_after(op_timeout);
    auto ec = run_op(c.ioc,
                     [&](auto handler) { http::async_read(c.stream, c.buffer, parser, handler); });
    if (!ec) {
      auto res = parser.release();
      // An early answer to half a request only counts when it closes.
      if (!write_ec || !res.keep_alive()) {
        auto out = to_reply(std::move(res));
        if (!out.keep_alive) c.close();
        return out;
      }
    }
    if (write_ec) ec = write_ec;

    c.close();
    // A keep-alive connection the server closed meanwhile: nothing of the
    // answer was read, so sending again once on a new connection is safe.
    const bool stale = !fresh && attempt == 0 &&
                       (ec == http::error::end_of_stream || ec == asio::error::eof ||
                        ec == asio::error::connection_reset || ec == asio::error::broken_pipe);
    if (stale) continue;
    throw std::runtime_error("http_client: " + method + " " + target + ": " + ec.message());
  }
}

http_reply http_client::post_json(const std::string& target, const std::string& body,
                                  const std::map<std::string, std::string>& h) {
  auto headers = h;
  headers.emplace("Content-Type", "application/json");
  return request("POST", target, body, headers);
}

http_reply http_client::put_json(const std::string& target, const std::string& body,
                                 const std::map<std::string, std::string>& h) {
  auto headers = h;
  headers.emplace("Content-Type", "application/json");
  return request("PUT", target, body, headers);
}

std::string raw_exchange(const std::string& host, uint16_t port, const std::string& bytes,
                         int timeout_ms) {
  asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  const auto timeout = std::chrono::milliseconds(timeout_ms);
  connect(ioc, stream, host, port, timeout);

  const auto deadline = std::chrono::steady_clock::now() + timeout;
  stream.expires_at(deadline);
  // A write error (the server closed early) still leaves its answer to read.
  run_op(ioc, [&](auto handler) { asio::async_write(stream, asio::buffer(bytes), handler); });

  error_code ec;

  std::string out;
  char buf[4096];
  while (!ec) {
    std::size_t n = 0;
    stream.expires_at(deadline);
    ec = asio::error::would_block;
    stream.async_read_some(asio::buffer(buf), [&](error_code e, std::size_t got) {
      ec = e;
      n = got;
    });
    ioc.restart();
    ioc.run();
    out.append(buf, n);
  }
  error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  stream.close();
  return out;
}

uint16_t free_port() {
  asio::io_context ioc;
  tcp::acceptor acceptor(ioc, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  return acceptor.local_endpoint().port();
}

}  // namespace maxsess::test
