#include "net/http_call.hpp"

#include "net/body_room.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include <chrono>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

namespace maxsess::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

namespace {

// An OpenSSL error is more useful with its reason ("certificate verify
// failed", "wrong version number") than with asio's category text alone.
std::string describe(const beast::error_code& ec) {
  if (ec.category() == asio::error::get_ssl_category()) {
    std::string why = ec.message();
    if (auto reason = ERR_reason_error_string(static_cast<unsigned long>(ec.value())))
      why = reason;
    return "TLS: " + why;
  }
  if (ec == ssl::error::stream_truncated) return "TLS: the peer closed the connection without close_notify";
  return ec.message();
}

// One client context per trust store, shared by every call: loading the
// store parses a few hundred CA certificates, which a sync of many pages
// would otherwise do once per page. OpenSSL takes the store from
// $SSL_CERT_FILE / $SSL_CERT_DIR when it loads it, so they are the key.
// A shared SSL_CTX is safe to use from several threads at once.
std::shared_ptr<ssl::context> client_context(beast::error_code& ec) {
  static std::mutex mutex;
  static std::map<std::string, std::shared_ptr<ssl::context>> by_store;
  auto env = [](const char* name) {
    const char* v = std::getenv(name);
    return std::string(v ? v : "");
  };
  const std::string key = env("SSL_CERT_FILE") + '\n' + env("SSL_CERT_DIR");
  std::lock_guard lock(mutex);
  if (auto i = by_store.find(key); i != by_store.end()) return i->second;
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_client);
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                   ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
  ctx->set_default_verify_paths(ec);
  if (ec) return nullptr;
  by_store.emplace(key, ctx);
  return ctx;
}

http_call_error failure_of(const http_call_options& o, const char* step, const beast::error_code& ec) {
  bool timed_out = ec == beast::error::timeout;
  return http_call_error(step,
                         timed_out ? "timed out after " + std::to_string(o.timeout.count()) + " ms"
                                   : describe(ec),
                         timed_out);
}

void run_once(asio::io_context& ioc) {
  ioc.restart();
  ioc.run();
}

// Numeric addresses as they are; names through the system resolver (its
// own timeouts apply).
std::vector<tcp::endpoint> endpoints_of(const http_call_options& o, asio::io_context& ioc) {
  beast::error_code ec;
  std::vector<tcp::endpoint> endpoints;
  auto port = static_cast<uint16_t>(std::stoul(o.port));
  auto address = asio::ip::make_address(o.host, ec);
  if (!ec) {
    endpoints.emplace_back(address, port);
    return endpoints;
  }
  ec = {};
  tcp::resolver resolver(ioc);
  auto results = resolver.resolve(o.host, o.port, ec);
  if (ec) throw failure_of(o, "resolve", ec);
  for (auto& r : results) endpoints.push_back(r.endpoint());
  if (endpoints.empty()) throw failure_of(o, "resolve", asio::error::host_not_found);
  return endpoints;
}

void connect(const http_call_options& o, asio::io_context& ioc, beast::tcp_stream& stream) {
  auto endpoints = endpoints_of(o, ioc);
  beast::error_code ec;
  stream.expires_after(o.timeout);
  stream.async_connect(endpoints, [&ec](const beast::error_code& e, const tcp::endpoint&) { ec = e; });
  run_once(ioc);
  if (ec) throw failure_of(o, "connect", ec);
}

bhttp::request<bhttp::string_body> request_of(const http_call_options& o) {
  bhttp::request<bhttp::string_body> req{o.method, o.target, 11};
  req.set(bhttp::field::host, o.authority);
  req.set(bhttp::field::user_agent, "maxsess");
  req.set(bhttp::field::accept, "application/json");
  for (auto& [k, v] : o.headers) req.set(k, v);
  if (!o.body.empty()) {
    req.set(bhttp::field::content_type, "application/json");
    req.body() = o.body;
  }
  req.keep_alive(o.keep_alive && !o.tls);
  req.prepare_payload();
  return req;
}

// One request and its answer over an open stream (plain or TLS), each step
// bounded by o.timeout. No throw: the caller decides what a failure means
// (a kept connection the server closed is tried again once).
struct exchanged {
  beast::error_code ec;
  const char* step = "write";
  bhttp::response<bhttp::string_body> res;
};
template <class Stream>
exchanged exchange(asio::io_context& ioc, Stream& s, const bhttp::request<bhttp::string_body>& req,
                   const http_call_options& o) {
  exchanged x;
  beast::get_lowest_layer(s).expires_after(o.timeout);
  bhttp::async_write(s, req, [&x](const beast::error_code& e, std::size_t) { x.ec = e; });
  run_once(ioc);
  if (x.ec) return x;
  x.step = "read";
  beast::flat_buffer buffer;
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(o.body_limit);
  beast::get_lowest_layer(s).expires_after(o.timeout);
  bhttp::async_read_header(s, buffer, parser, [&x](const beast::error_code& e, std::size_t) { x.ec = e; });
  run_once(ioc);
  if (x.ec) return x;
  if (!parser.is_done()) {
    make_room_for_body(buffer, parser, max_read_bytes);  // unknown length (chunked, until close): one full read
    bhttp::async_read(s, buffer, parser, [&x](const beast::error_code& e, std::size_t) { x.ec = e; });
    run_once(ioc);
  }
  if (!x.ec) x.res = parser.release();
  return x;
}

// The connection a thread keeps for keep_alive calls (plain HTTP): one per
// thread, so one per streamer worker, used by nothing else. It is kept only
// while the server says keep-alive and only for keep_idle: a sync's pages
// come back to back, the next sync a minute later opens a new one.
struct kept_connection {
  asio::io_context ioc;
  std::unique_ptr<beast::tcp_stream> stream;
  std::string key;  // host and port
  std::chrono::steady_clock::time_point last_used;

  void drop() {
    if (stream) {
      beast::error_code ignored;
      stream->socket().shutdown(tcp::socket::shutdown_both, ignored);
      stream->socket().close(ignored);
      stream.reset();
    }
    key.clear();
  }
};
constexpr std::chrono::seconds keep_idle{5};

// The server closed a kept connection before answering (its keep-alive
// timeout ran out while it sat idle): nothing of the answer arrived, so
// the request goes again on a new connection.
bool closed_before_answering(const beast::error_code& ec) {
  return ec == bhttp::error::end_of_stream || ec == asio::error::eof ||
         ec == asio::error::connection_reset || ec == asio::error::broken_pipe;
}

http_answer kept_call(const http_call_options& o) {
  static thread_local kept_connection kept;
  auto& k = kept;
  const std::string key = o.host + '\n' + o.port;
  const auto now = std::chrono::steady_clock::now();
  if (k.stream && (k.key != key || now - k.last_used >= keep_idle)) k.drop();
  auto req = request_of(o);
  for (bool reused = k.stream != nullptr;; reused = false) {
    if (!k.stream) {
      k.stream = std::make_unique<beast::tcp_stream>(k.ioc);
      try {
        connect(o, k.ioc, *k.stream);
      } catch (...) {
        k.drop();
        throw;
      }
      k.key = key;
    }
    auto x = exchange(k.ioc, *k.stream, req, o);
    if (x.ec) {
      k.drop();
      if (reused && closed_before_answering(x.ec)) continue;  // once: `reused` is false from now on
      throw failure_of(o, x.step, x.ec);
    }
    auto& res = x.res;
    if (res.keep_alive()) {
      k.last_used = std::chrono::steady_clock::now();
    } else {
      k.drop();
    }
    return http_answer{res.result_int(), std::move(res.body())};
  }
}

}  // namespace

http_answer http_call(const http_call_options& o) {
  if (o.keep_alive && !o.tls) return kept_call(o);
  auto failure = [&](const char* step, const beast::error_code& ec) { return failure_of(o, step, ec); };
  asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  beast::error_code ec;
  auto run = [&ioc] { run_once(ioc); };
  connect(o, ioc, stream);
  auto req = request_of(o);

  // The same exchange over a plain or a TLS stream.
  auto call = [&](auto& s) {
    auto x = exchange(ioc, s, req, o);
    if (x.ec) throw failure(x.step, x.ec);
    return http_answer{x.res.result_int(), std::move(x.res.body())};
  };

  if (!o.tls) {
    auto answer = call(stream);
    beast::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    stream.socket().close(ignored);
    return answer;
  }

  auto ctx = client_context(ec);
  if (!ctx) throw failure("tls handshake", ec);
  beast::ssl_stream<beast::tcp_stream> tls(std::move(stream), *ctx);
  if (o.tls_verify) {
    tls.set_verify_mode(ssl::verify_peer);
  } else {
    tls.set_verify_mode(ssl::verify_none);
  }
  asio::ip::make_address(o.host, ec);
  const bool literal = !ec;
  // The name check inside OpenSSL's chain verification (not a callback), so
  // a mismatch is reported as such ("hostname mismatch", "IP address
  // mismatch"): DNS names and IP literals against the certificate's SANs.
  if (o.tls_verify) {
    X509_VERIFY_PARAM* param = SSL_get0_param(tls.native_handle());
    int set = literal ? X509_VERIFY_PARAM_set1_ip_asc(param, o.host.c_str())
                      : X509_VERIFY_PARAM_set1_host(param, o.host.c_str(), 0);
    if (set != 1) throw http_call_error("tls handshake", "TLS: cannot check the name " + o.host, false);
  }
  // SNI: servers with several certificates pick by name (never for literals).
  if (!literal) {
    ec = {};
    if (!SSL_set_tlsext_host_name(tls.native_handle(), o.host.c_str()))
      throw failure("tls handshake", beast::error_code(static_cast<int>(::ERR_get_error()),
                                                       asio::error::get_ssl_category()));
  }
  ec = {};
  beast::get_lowest_layer(tls).expires_after(o.timeout);
  tls.async_handshake(ssl::stream_base::client, [&ec](const beast::error_code& e) { ec = e; });
  run();
  if (ec) {
    // "certificate verify failed" says little; OpenSSL kept the reason.
    long verify = SSL_get_verify_result(tls.native_handle());
    if (o.tls_verify && verify != X509_V_OK)
      throw http_call_error("tls handshake",
                            std::string("TLS: certificate verify failed: ") +
                                X509_verify_cert_error_string(verify) +
                                " (api_tls_verify: false skips the check; docs/flussonic.md)",
                            false);
    throw failure("tls handshake", ec);
  }
  auto answer = call(tls);
  // close_notify, briefly: the answer is complete, a peer that does not
  // reply in time (or just closes) changes nothing.
  beast::get_lowest_layer(tls).expires_after(std::chrono::milliseconds(500));
  tls.async_shutdown([](const beast::error_code&) {});
  run();
  return answer;
}

}  // namespace maxsess::net
