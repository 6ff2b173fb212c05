#include "net/http_call.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

namespace maxsess::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;

http_answer http_call(const http_call_options& o) {
  auto failure = [&](const char* step, const beast::error_code& ec) {
    bool timed_out = ec == beast::error::timeout;
    return http_call_error(step,
                           timed_out ? "timed out after " + std::to_string(o.timeout.count()) + " ms"
                                     : ec.message(),
                           timed_out);
  };
  asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  beast::error_code ec;
  auto run = [&ioc] {
    ioc.restart();
    ioc.run();
  };

  // Numeric addresses as they are; names through the system resolver (its
  // own timeouts apply).
  std::vector<tcp::endpoint> endpoints;
  auto port = static_cast<uint16_t>(std::stoul(o.port));
  auto address = asio::ip::make_address(o.host, ec);
  if (!ec) {
    endpoints.emplace_back(address, port);
  } else {
    ec = {};
    tcp::resolver resolver(ioc);
    auto results = resolver.resolve(o.host, o.port, ec);
    if (ec) throw failure("resolve", ec);
    for (auto& r : results) endpoints.push_back(r.endpoint());
    if (endpoints.empty()) throw failure("resolve", asio::error::host_not_found);
  }

  stream.expires_after(o.timeout);
  stream.async_connect(endpoints, [&ec](const beast::error_code& e, const tcp::endpoint&) { ec = e; });
  run();
  if (ec) throw failure("connect", ec);

  bhttp::request<bhttp::string_body> req{o.method, o.target, 11};
  req.set(bhttp::field::host, o.authority);
  req.set(bhttp::field::user_agent, "maxsess");
  req.set(bhttp::field::accept, "application/json");
  for (auto& [k, v] : o.headers) req.set(k, v);
  if (!o.body.empty()) {
    req.set(bhttp::field::content_type, "application/json");
    req.body() = o.body;
  }
  req.keep_alive(false);
  req.prepare_payload();

  stream.expires_after(o.timeout);
  bhttp::async_write(stream, req, [&ec](const beast::error_code& e, std::size_t) { ec = e; });
  run();
  if (ec) throw failure("write", ec);

  beast::flat_buffer buffer;
  bhttp::response_parser<bhttp::string_body> parser;
  parser.body_limit(o.body_limit);
  stream.expires_after(o.timeout);
  bhttp::async_read(stream, buffer, parser, [&ec](const beast::error_code& e, std::size_t) { ec = e; });
  run();
  if (ec) throw failure("read", ec);

  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  stream.socket().close(ignored);
  auto res = parser.release();
  return http_answer{res.result_int(), std::move(res.body())};
}

}  // namespace maxsess::net
