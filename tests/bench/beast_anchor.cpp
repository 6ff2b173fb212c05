// maxsess_beast_anchor: the ceiling of maxsess's own HTTP stack (issue 7).
// A bare Boost.Beast server that reads each request (body included) and
// answers the same bytes as a maxsess link answer straight from its I/O
// thread: no actors, no JSON, no database. `make bench` measures it beside
// maxsessd with the same client, so "maxsess / beast" says what the work
// behind the socket costs and "beast / nginx" what the stack itself does.
//
//   maxsess_beast_anchor [--port P] [--threads N] [--body-file F]
// Prints "listening on PORT" once it accepts; SIGTERM/SIGINT stop it.
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <csignal>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

// One keep-alive connection: read a request, write the fixed answer, again.
class session : public std::enable_shared_from_this<session> {
 public:
  session(tcp::socket s, std::shared_ptr<const std::string> body)
      : stream_(std::move(s)), body_(std::move(body)) {}
  void start() { read(); }

 private:
  void read() {
    req_ = {};
    http::async_read(stream_, buf_, req_, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec) return self->close();
      self->answer();
    });
  }

  void answer() {
    res_ = {};
    res_.version(req_.version());
    res_.result(http::status::ok);
    res_.set(http::field::content_type, "application/json");
    res_.keep_alive(req_.keep_alive());
    res_.body() = *body_;
    res_.prepare_payload();
    http::async_write(stream_, res_, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec || !self->res_.keep_alive()) return self->close();
      self->read();
    });
  }

  void close() {
    beast::error_code ignored;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buf_;
  http::request<http::string_body> req_;
  http::response<http::string_body> res_;
  std::shared_ptr<const std::string> body_;
};

void accept(tcp::acceptor& a, std::shared_ptr<const std::string> body) {
  a.async_accept([&a, body](beast::error_code ec, tcp::socket s) {
    if (!ec) {
      s.set_option(tcp::no_delay(true));
      std::make_shared<session>(std::move(s), body)->start();
    }
    if (a.is_open()) accept(a, body);
  });
}

}  // namespace

int main(int argc, char** argv) {
  unsigned short port = 0;
  int threads = 1;
  auto body = std::make_shared<std::string>(
      R"({"decision":"allow","url":"http://s1/ch1/index.m3u8?token=0123456789abcdef"})");
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (i + 1 >= argc && a != "-h" && a != "--help") {
      std::cerr << "maxsess_beast_anchor: " << a << " needs a value\n";
      return 2;
    }
    if (a == "--port") {
      port = static_cast<unsigned short>(std::stoi(argv[++i]));
    } else if (a == "--threads") {
      threads = std::max(1, std::stoi(argv[++i]));
    } else if (a == "--body-file") {
      std::ifstream in(argv[++i]);
      if (!in) {
        std::cerr << "maxsess_beast_anchor: cannot read " << argv[i] << "\n";
        return 2;
      }
      body->assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    } else {
      std::cout << "usage: maxsess_beast_anchor [--port P] [--threads N] [--body-file F]\n";
      return a == "-h" || a == "--help" ? 0 : 2;
    }
  }
  asio::io_context io(threads);
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  asio::signal_set stop(io, SIGINT, SIGTERM);
  stop.async_wait([&](beast::error_code, int) { io.stop(); });
  accept(acceptor, body);
  std::cout << "listening on " << acceptor.local_endpoint().port() << std::endl;
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back([&io] { io.run(); });
  io.run();
  for (auto& t : pool) t.join();
  return 0;
}
